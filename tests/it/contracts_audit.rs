//! The audit contract (`contracts/audit.v1.schema.json`, docs/contracts.md): every record the
//! pipeline publishes on `rae.audit.<integration>.<outcome>` for its decisions (accepted,
//! duplicate, ignored, answered, rejected, and the summary of folded refusals) matches the
//! schema, sits on the subject its payload names, and never carries a key, a secret or a body.

use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use serde_json::{json, Value};

use rae_core::subjects;

use crate::contracts::{validator, violations, AUDIT_SCHEMA};
use crate::harness::*;

const KEY: &str = "rpk_audit_contract_key_for_tests";
const GITHUB_SECRET: &str = "audit-github-secret";
const CONTENT: &str = "Audit contract: the body never reaches the audit trail";

/// Every message of `RAE_AUDIT`, with its subject.
async fn audit_messages(bus: &rae_core::bus::Bus) -> Vec<StreamMessage> {
    let stream = bus.stream(subjects::AUDIT_STREAM).await.expect("RAE_AUDIT");
    let last = stream.get_info().await.expect("info").state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(message) = stream.get_raw_message(seq).await {
            out.push(message);
        }
    }
    out
}

fn payload(message: &StreamMessage) -> Value {
    serde_json::from_slice(&message.payload)
        .unwrap_or_else(|e| panic!("{}: payload is not JSON: {e}", message.subject))
}

/// POSTs a GitHub delivery of `event` signed with the test secret; answers the status.
async fn github(pipeline: &Pipeline, event: &str, fixture: &str) -> u16 {
    let path = format!(
        "{}/tests/fixtures/github/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read_to_string(&path).unwrap();
    let signature = rae_ingress::github::verify::sign(GITHUB_SECRET, body.as_bytes());
    let delivery = uuid::Uuid::new_v4().to_string();
    let (status, _, _) = pipeline
        .post(
            "/api/v1/integrations/github/webhook",
            &body,
            &[
                ("content-type", "application/json"),
                ("x-github-event", event),
                ("x-github-delivery", &delivery),
                ("x-hub-signature-256", &signature),
            ],
        )
        .await;
    status
}

#[tokio::test]
async fn every_audit_record_matches_its_schema() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml = format!(
        r#"  - id: github
    config:
      secrets: ["{GITHUB_SECRET}"]
api_keys:
  - {{ id: audited, key: "{KEY}", scopes: ["memories:write", "memories:read"], tenants: ["*"] }}
"#
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml)).await;
    let auth = format!("Bearer {KEY}");
    let api = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];

    // accepted, then duplicate: the same idempotency key twice through the memories API.
    let memory = json!({"content": CONTENT, "idempotency_key": "audit-1"}).to_string();
    for duplicate in [false, true] {
        let (status, answer, _) = pipeline.post("/api/v1/memories", &memory, &api).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["duplicate"], duplicate);
    }
    // answered: a search, and GitHub's ping; ignored: a GitHub event that is not stored.
    let query = json!({"query": "Which database?"}).to_string();
    let (status, answer, _) = pipeline.post("/api/v1/memories/query", &query, &api).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(github(&pipeline, "ping", "ping.json").await, 200);
    assert_eq!(github(&pipeline, "star", "star.created.json").await, 200);
    // rejected, three times by the same caller for the same reason: one record now, and one
    // summary (`repeated`) when the refusal window closes.
    for _ in 0..3 {
        let (status, _, _) = pipeline
            .post_webhook(
                &json!({"content": CONTENT}).to_string(),
                &[("x-webhook-secret", "not-the-secret")],
            )
            .await;
        assert_eq!(status, 401);
    }

    let bus = pipeline.bus().clone();
    let window = rae_core::audit::REFUSAL_WINDOW + Duration::from_secs(10);
    wait_for("the summary of the folded refusals", window, || {
        let bus = bus.clone();
        async move {
            audit_messages(&bus)
                .await
                .iter()
                .any(|m| payload(m).get("repeated").is_some())
        }
    })
    .await;

    let schema = validator(AUDIT_SCHEMA);
    let messages = audit_messages(&bus).await;
    let mut outcomes = Vec::new();
    for message in &messages {
        let record = payload(message);
        let problems = violations(&schema, &record);
        assert!(
            problems.is_empty(),
            "{} breaks the audit schema:\n{problems}\n{record:#}",
            message.subject
        );
        let field = |name: &str| record[name].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            message.subject.as_str(),
            subjects::audit(&field("integration"), &field("outcome")),
            "an audit record's subject names its integration and outcome"
        );
        let text = String::from_utf8_lossy(&message.payload);
        for secret in [KEY, GITHUB_SECRET, SECRET, "not-the-secret", CONTENT] {
            assert!(
                !text.contains(secret),
                "{}: an audit record holds a key, secret or body: {text}",
                message.subject
            );
        }
        outcomes.push((field("integration"), field("outcome")));
    }
    for expected in [
        ("api", "accepted"),
        ("api", "duplicate"),
        ("api", "answered"),
        ("github", "answered"),
        ("github", "ignored"),
        ("memory", "rejected"),
    ] {
        assert!(
            outcomes
                .iter()
                .any(|(i, o)| (i.as_str(), o.as_str()) == expected),
            "no audit record {expected:?} among {outcomes:?}"
        );
    }

    // The API records name the key by its id, and the stored event.
    let accepted = messages
        .iter()
        .map(payload)
        .find(|r| r["integration"] == "api" && r["outcome"] == "accepted")
        .unwrap();
    assert_eq!(accepted["key_id"], "audited");
    assert!(accepted["event_id"].is_string(), "{accepted:#}");
    // The summary repeats the first refusal's record with how many more came, and until when.
    // (A window may close between two refusals: then two are stored on their own and the
    // summary counts one.)
    let refusals: Vec<Value> = messages
        .iter()
        .map(payload)
        .filter(|r| r["integration"] == "memory" && r["outcome"] == "rejected")
        .collect();
    let counted: u64 = refusals
        .iter()
        .map(|r| r["repeated"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(
        counted, 3,
        "three refusals, stored or counted: {refusals:#?}"
    );
    let summary = refusals
        .iter()
        .find(|r| r.get("repeated").is_some())
        .unwrap();
    assert_eq!(summary["reason"], "unauthorized");
    assert!(summary["until"].is_string(), "{summary:#}");
    pipeline.shutdown().await;
}
