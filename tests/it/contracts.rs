//! The published contracts (`contracts/*.schema.json`, docs/contracts.md): the JSON Schemas are
//! generated from rae-core's Rust types and must match the checked-in files (so must the
//! components of `contracts/openapi.json` that describe those types), and every message the
//! pipeline publishes on `rae.events.>`, `rae.enriched.>`, `rae.dlq.>` and `rae.audit.>` must
//! validate against them, with the headers and subject the contract promises.
//!
//! Refresh the checked-in schemas after changing a type with
//! `UPDATE_CONTRACTS=1 cargo test -j 1 --test it contracts::` (then review the diff against the
//! versioning policy in docs/contracts.md).

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Value};

use rae_core::audit::Record;
use rae_core::dead_letter::DeadLetter;
use rae_core::event::Event;
use rae_core::{headers, subjects};

use crate::harness::*;

/// The environment variable that makes the schema test write the files instead of comparing.
const UPDATE: &str = "UPDATE_CONTRACTS";

/// File names under `contracts/`.
pub const EVENT_SCHEMA: &str = "event.v1.schema.json";
pub const ENRICHED_SCHEMA: &str = "enriched.v1.schema.json";
pub const DEAD_LETTER_SCHEMA: &str = "dead-letter.v1.schema.json";
pub const AUDIT_SCHEMA: &str = "audit.v1.schema.json";
pub const OPENAPI: &str = "openapi.json";

const GENERATED_BY: &str = "Generated from rae-core's Rust types by tests/it/contracts.rs; do not \
     edit. Refresh with `UPDATE_CONTRACTS=1 cargo test -j 1 --test it contracts::`.";

/// The `contracts/` folder of the repository.
pub fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts")
}

/// The schema of `T` as the pipeline serializes it (JSON Schema 2020-12): a field the pipeline
/// always writes is `required`, so a consumer may rely on it.
fn schema_of<T: JsonSchema>(title: &str, description: &str) -> Value {
    let schema = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut schema = schema.to_value();
    schema["title"] = json!(title);
    schema["description"] = json!(description);
    schema["$comment"] = json!(GENERATED_BY);
    schema
}

/// Every contract, by file name, as generated from the current code.
pub fn generated() -> Vec<(&'static str, Value)> {
    let event = schema_of::<Event>(
        "event.v1",
        "A normalized event, the payload of every message on `rae.events.<tenant>.<source>.<kind>` \
         (header `Rae-Schema: event.v1`). Consumers must ignore fields they do not know.",
    );
    // An enriched event is the same `event.v1` object; the enricher always sets `importance`
    // and `enrichment`, so the schema of `rae.enriched.>` requires them.
    let mut enriched = event.clone();
    enriched["title"] = json!("event.v1 (enriched)");
    enriched["description"] = json!(
        "An enriched event, the payload of every message on \
         `rae.enriched.<tenant>.<source>.<kind>` (header `Rae-Schema: event.v1`): an event.v1 \
         whose `importance` is set and whose `enrichment` says which rules applied and why."
    );
    enriched["properties"]["importance"] = json!({
        "description": "0.0..=1.0, set by the enricher (the sender's value when it gave one).",
        "type": "number",
        "format": "double",
        "minimum": 0.0,
        "maximum": 1.0
    });
    enriched["properties"]["enrichment"] = json!({
        "description": "Which enrichment rules applied and why.",
        "$ref": "#/$defs/Enrichment"
    });
    if let Some(required) = enriched["required"].as_array_mut() {
        for field in ["importance", "enrichment"] {
            if !required.iter().any(|r| r == field) {
                required.push(json!(field));
            }
        }
    }
    let dead_letter = schema_of::<DeadLetter>(
        "dead-letter.v1",
        "A dead letter, the payload of every message on `rae.dlq.<stage>.<tenant>.<source>` \
         (headers `Rae-Dlq-Stage`, `Rae-Dlq-Reason`, `Rae-Dlq-Attempts`): what a stage gave up \
         on, why, and the original payload in `event`. Consumers must ignore fields they do not \
         know.",
    );
    let audit = schema_of::<Record>(
        "audit.v1",
        "An audit record, the payload of every message on `rae.audit.<integration>.<outcome>` \
         (stream `RAE_AUDIT`): one decision of the ingress about one request, or with `repeated` \
         a summary of refusals of one caller for one reason. Consumers must ignore fields they \
         do not know.",
    );
    vec![
        (EVENT_SCHEMA, event),
        (ENRICHED_SCHEMA, enriched),
        (DEAD_LETTER_SCHEMA, dead_letter),
        (AUDIT_SCHEMA, audit),
    ]
}

/// The Rust types the ingress answers with that are also bus contracts (a dead letter, in the
/// DLQ routes' answers), as entries of `components/schemas` of `contracts/openapi.json`.
fn openapi_components() -> serde_json::Map<String, Value> {
    let mut settings = SchemaSettings::draft2020_12().for_serialize();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();
    generator.subschema_for::<DeadLetter>();
    let mut definitions = generator.take_definitions(true);
    for schema in definitions.values_mut() {
        schema["$comment"] = json!(GENERATED_BY);
    }
    definitions
}

/// `openapi` with its generated components replaced by the current code's.
fn with_generated_components(mut openapi: Value) -> Value {
    for (name, schema) in openapi_components() {
        openapi["components"]["schemas"][name] = schema;
    }
    openapi
}

/// The checked-in schema `name`, parsed.
pub fn checked_in(name: &str) -> Value {
    let path = contracts_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; create it with `{UPDATE}=1 cargo test -j 1 --test it contracts::`",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A validator for the checked-in schema `name`, checking `format` too (`date-time`, ...).
pub fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&checked_in(name))
        .unwrap_or_else(|e| panic!("{name} is not a valid JSON Schema: {e}"))
}

/// Every way `instance` breaks the schema, one per line (empty when valid).
pub fn violations(validator: &jsonschema::Validator, instance: &Value) -> String {
    validator
        .iter_errors(instance)
        .map(|e| format!("  at `{}`: {e}", e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_checked_in_schemas_match_the_rust_types() {
    let update = std::env::var_os(UPDATE).is_some_and(|v| !v.is_empty() && v != "0");
    let dir = contracts_dir();
    let mut stale = Vec::new();
    for (name, schema) in generated() {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, text).unwrap();
            continue;
        }
        // Compared as JSON values, so key order (serde_json's `preserve_order`) cannot matter.
        let current = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        if current.as_ref() != Some(&schema) {
            stale.push(format!("contracts/{name}"));
        }
    }
    // contracts/openapi.json is written by hand, except the components of the types above.
    let path = dir.join(OPENAPI);
    let openapi = checked_in(OPENAPI);
    let expected = with_generated_components(openapi.clone());
    if update {
        let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    } else if openapi != expected {
        stale.push(format!("contracts/{OPENAPI} (its generated components)"));
    }
    assert!(
        stale.is_empty(),
        "the checked-in JSON Schemas differ from the Rust types: {}.\nRun \
         `{UPDATE}=1 cargo test -j 1 --test it contracts::` to refresh them, and check the \
         change against the versioning policy in docs/contracts.md",
        stale.join(", ")
    );
    // Each is a valid JSON Schema.
    for (name, _) in generated() {
        validator(name);
    }
}

#[test]
fn the_schemas_refuse_what_breaks_the_contract() {
    let events = validator(EVENT_SCHEMA);
    let enriched = validator(ENRICHED_SCHEMA);
    let sample: Value = serde_json::from_slice(&rae_core::event::sample().to_payload()).unwrap();
    assert_eq!(violations(&events, &sample), "");
    // A raw event is not an enriched one: no importance, no enrichment.
    assert!(!enriched.is_valid(&sample));

    let broken = |field: &str, value: Value| {
        let mut event = sample.clone();
        event[field] = value;
        event
    };
    for (field, value) in [
        ("source", json!("fax")),
        ("layer", json!("deep")),
        ("importance", json!(1.5)),
        ("occurred_at", json!("yesterday")),
        ("tags", json!("not-a-list")),
        ("attributes", json!([])),
    ] {
        assert!(
            !events.is_valid(&broken(field, value.clone())),
            "{field} = {value} passed"
        );
    }
    let mut missing = sample.clone();
    missing.as_object_mut().unwrap().remove("content");
    assert!(!events.is_valid(&missing));
    // Fields a later minor release adds are allowed: consumers ignore what they do not know.
    assert!(events.is_valid(&broken("added_later", json!({"x": 1}))));
}

/// Every message of `stream`, with subject and headers.
async fn messages(bus: &rae_core::bus::Bus, stream: &str) -> Vec<StreamMessage> {
    let stream = bus.stream(stream).await.expect("stream");
    let last = stream.get_info().await.expect("info").state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(message) = stream.get_raw_message(seq).await {
            out.push(message);
        }
    }
    out
}

fn header<'a>(message: &'a StreamMessage, name: &str) -> &'a str {
    message
        .headers
        .get(name)
        .map(|v| v.as_str())
        .unwrap_or_else(|| panic!("{}: no {name} header", message.subject))
}

fn payload(message: &StreamMessage) -> Value {
    serde_json::from_slice(&message.payload)
        .unwrap_or_else(|e| panic!("{}: payload is not JSON: {e}", message.subject))
}

/// Checks an event message (raw or enriched) against `schema`, its headers and its subject.
fn check_event(
    schema: &jsonschema::Validator,
    message: &StreamMessage,
    subject: fn(&str, &str, &str) -> String,
) -> Value {
    let event = payload(message);
    let problems = violations(schema, &event);
    assert!(
        problems.is_empty(),
        "{} breaks its schema:\n{problems}\n{event:#}",
        message.subject
    );
    let str_of = |field: &str| event[field].as_str().unwrap_or_default();
    assert_eq!(
        message.subject.as_str(),
        subject(str_of("tenant"), str_of("source"), str_of("kind"))
    );
    assert_eq!(header(message, headers::SCHEMA), headers::SCHEMA_V1);
    assert_eq!(header(message, headers::TENANT), str_of("tenant"));
    assert_eq!(header(message, headers::SOURCE), str_of("source"));
    assert!(
        header(message, headers::MSG_ID).starts_with(str_of("id")),
        "{}: Nats-Msg-Id is derived from the event id",
        message.subject
    );
    event
}

#[tokio::test]
async fn every_published_message_matches_its_schema() {
    const KEY: &str = "rpk_contracts_key_for_tests_001";
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let keys = format!(
        r#"
api_keys:
  - id: contracts
    key: "{KEY}"
    scopes: ["memories:write"]
    tenants: ["*"]
"#
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &keys)).await;

    // A webhook with every optional field.
    let webhook = json!({
        "content": "Incident: checkout is down, rolled back deploy 42 #incident",
        "source": "pagerduty",
        "importance": 0.9,
        "tags": ["Ops", "checkout"],
        "project": "shop",
        "layer": "working",
        "metadata": {"service": "checkout", "severity": 1},
        "occurred_at": "2026-11-24T10:30:00Z",
        "idempotency_key": "contracts-1"
    });
    let (status, answer, _) = pipeline
        .post_webhook(&webhook.to_string(), &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 202, "{answer}");
    wait_for("the webhook in RAE", Duration::from_secs(10), || async {
        rae.stored().len() == 1
    })
    .await;

    // A memories-API item, with nothing but content.
    let auth = format!("Bearer {KEY}");
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/memories",
            &json!({"content": "Team decided to use PostgreSQL"}).to_string(),
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    wait_for("the API item in RAE", Duration::from_secs(10), || async {
        rae.stored().len() == 2
    })
    .await;

    // RAE refuses the next one for good: a dead letter of stage `write`.
    rae.script([Reply::Status(
        422,
        json!({"error": {"code": "validation_error", "message": "project is archived", "details": []}}),
    )]);
    pipeline.accept("refused by RAE").await;
    let bus = pipeline.bus().clone();
    wait_for("a dead letter", Duration::from_secs(10), || {
        let bus = bus.clone();
        async move { stream_messages(&bus, subjects::DLQ_STREAM).await == 1 }
    })
    .await;

    let events = messages(&bus, subjects::EVENTS_STREAM).await;
    let enriched = messages(&bus, subjects::ENRICHED_STREAM).await;
    let letters = messages(&bus, subjects::DLQ_STREAM).await;
    assert_eq!(events.len(), 3, "three events published");
    assert_eq!(enriched.len(), 3, "three events enriched");
    assert_eq!(letters.len(), 1);

    let event_schema = validator(EVENT_SCHEMA);
    let enriched_schema = validator(ENRICHED_SCHEMA);
    let letter_schema = validator(DEAD_LETTER_SCHEMA);
    let sources: Vec<Value> = events
        .iter()
        .map(|m| check_event(&event_schema, m, subjects::event)["source"].clone())
        .collect();
    assert_eq!(sources, [json!("webhook"), json!("api"), json!("webhook")]);
    for message in &enriched {
        let event = check_event(&enriched_schema, message, subjects::enriched);
        assert!(
            !event["enrichment"]["rules"].as_array().unwrap().is_empty(),
            "{event:#}"
        );
    }

    let message = &letters[0];
    let letter = payload(message);
    let problems = violations(&letter_schema, &letter);
    assert!(
        problems.is_empty(),
        "the dead letter breaks its schema:\n{problems}\n{letter:#}"
    );
    // The original inside is an enriched event, and still matches that schema.
    assert_eq!(violations(&enriched_schema, &letter["event"]), "");
    assert_eq!(letter["stage"], "write");
    assert_eq!(letter["reason"], "rae_rejected");
    assert_eq!(
        message.subject.as_str(),
        subjects::dead_letter("write", "default-tenant", "webhook")
    );
    assert_eq!(header(message, headers::DLQ_STAGE), "write");
    assert_eq!(header(message, headers::DLQ_REASON), "rae_rejected");
    assert_eq!(header(message, headers::DLQ_ATTEMPTS), "1");
    assert_eq!(header(message, headers::TENANT), "default-tenant");
    assert_eq!(header(message, headers::SOURCE), "webhook");
    // The Rust type reads what the schema describes.
    serde_json::from_value::<DeadLetter>(letter).expect("a dead letter reads back");
    pipeline.shutdown().await;
}
