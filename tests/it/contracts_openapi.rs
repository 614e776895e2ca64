//! `contracts/openapi.json` against the code and against what the ingress really answers.
//!
//! The description is written by hand, so three checks keep it true: it documents exactly the
//! (method, path) pairs of the ingress's route table (`rae_ingress::route_table`, the one list
//! the router is built from), in both directions; every error code the ingress can answer is in
//! its `Error` schema; and against the running pipeline, with GitHub, Slack, API keys and a dead
//! letter, every route answers a success and an error (health routes: a success, and readiness
//! without NATS) whose status is documented, whose body matches the documented schema and which
//! carries `Retry-After` where documented. Paths it does not list answer 404, methods it does
//! not list 405, both with the documented error body.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use rae_ingress::ApiError;

use crate::contracts::{contracts_dir, violations};
use crate::harness::*;

const WRITER: &str = "rpk_openapi_writer_key_for_tests";
const READER: &str = "rpk_openapi_reader_key_for_tests";
const OPS: &str = "rpk_openapi_dlq_admin_key_for_tests";
/// A `dlq:admin` key used only to run into the rate limit.
const HASTY: &str = "rpk_openapi_hasty_key_for_tests_01";
const ERASER: &str = "rpk_openapi_eraser_key_for_tests_1";
const GITHUB_SECRET: &str = "openapi-github-secret";
const SLACK_SECRET: &str = "openapi-slack-signing-secret";
/// The rate limit's burst in this test: every caller but `HASTY` stays well below it.
const BURST: u32 = 30;

/// Operations with no error a test can provoke without breaking the process: a success only.
const SUCCESS_ONLY: &[&str] = &[
    "GET /healthz",
    "GET /openapi.json",
    "GET /api/v1/integrations/health",
];

fn openapi() -> Value {
    let path = contracts_dir().join("openapi.json");
    let text = std::fs::read_to_string(&path).expect("contracts/openapi.json");
    serde_json::from_str(&text).expect("contracts/openapi.json is JSON")
}

/// `"POST /api/v1/memories"`.
fn operation(method: &str, path: &str) -> String {
    format!("{} {path}", method.to_ascii_uppercase())
}

/// Every (method, path) the description documents.
fn documented(openapi: &Value) -> BTreeSet<String> {
    let paths = openapi["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|k| HTTP_METHODS.contains(&k.as_str()))
                .map(move |method| operation(method, path))
        })
        .collect()
}

/// The operation keys of an OpenAPI path item.
const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every (method, path) the ingress serves.
fn served() -> BTreeSet<String> {
    rae_ingress::route_table()
        .into_iter()
        .map(|(method, path)| operation(method.as_str(), path))
        .collect()
}

#[test]
fn the_description_documents_exactly_the_routes_the_ingress_serves() {
    let openapi = openapi();
    assert_eq!(openapi["openapi"], "3.1.0");
    let documented = documented(&openapi);
    let served = served();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "contracts/openapi.json and the ingress's route table (producers/ingress/src/table.rs) \
         differ.\nServed but not documented: {undocumented:?}\nDocumented but not served: \
         {missing:?}"
    );
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let spec = &openapi["paths"][path][method.to_ascii_lowercase()];
        assert!(
            spec["security"].is_array(),
            "{op}: say which credentials it takes (`security`, `[]` for none)"
        );
        let responses = spec["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{op}: no success documented"
        );
    }
    let mut refs = Vec::new();
    collect_refs(&openapi, &mut refs);
    for reference in refs {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference}: only references inside the document"));
        assert!(
            openapi.pointer(pointer).is_some(),
            "contracts/openapi.json: {reference} leads nowhere"
        );
    }
}

/// Every `$ref` in `value`.
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                out.push(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// One of each error the ingress answers with. The match makes a new variant a compile error
/// here, so it cannot be left out of the description.
fn every_error() -> Vec<ApiError> {
    let errors = vec![
        ApiError::BadRequest {
            field: Some("content".into()),
            message: "empty".into(),
        },
        ApiError::Unauthorized("no key".into()),
        ApiError::Forbidden("no scope".into()),
        ApiError::NotFound("no route".into()),
        ApiError::MethodNotAllowed,
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::HeadersTooLarge {
            max_headers: 1,
            max_bytes: 1,
        },
        ApiError::RequestTimeout(1),
        ApiError::UnsupportedMediaType("xml".into()),
        ApiError::TooManyRequests {
            retry_after_secs: 1,
        },
        ApiError::Upstream("down".into()),
        ApiError::Unavailable {
            retry_after_secs: 1,
        },
        ApiError::Internal,
    ];
    for error in &errors {
        match error {
            ApiError::BadRequest { .. }
            | ApiError::Unauthorized(_)
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::MethodNotAllowed
            | ApiError::PayloadTooLarge { .. }
            | ApiError::HeadersTooLarge { .. }
            | ApiError::RequestTimeout(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::TooManyRequests { .. }
            | ApiError::Upstream(_)
            | ApiError::Unavailable { .. }
            | ApiError::Internal => {}
        }
    }
    errors
}

#[test]
fn every_error_code_is_in_the_error_schema() {
    let openapi = openapi();
    let codes = &openapi["components"]["schemas"]["Error"]["properties"]["error"]["enum"];
    let codes: BTreeSet<&str> = codes
        .as_array()
        .expect("Error.error is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let answered: BTreeSet<&str> = every_error().iter().map(ApiError::code).collect();
    assert_eq!(
        answered, codes,
        "the error codes of ApiError and of the Error schema in contracts/openapi.json differ"
    );
}

/// What the ingress answered.
struct Answer {
    status: u16,
    body: Value,
    headers: HeaderMap,
}

/// One request and the status it must get.
struct Case {
    method: &'static str,
    path: String,
    body: String,
    headers: Vec<(String, String)>,
    status: u16,
}

impl Case {
    fn new(method: &'static str, path: impl Into<String>, status: u16) -> Case {
        Case {
            method,
            path: path.into(),
            body: String::new(),
            headers: Vec::new(),
            status,
        }
    }

    fn body(mut self, body: impl Into<String>) -> Case {
        self.body = body.into();
        self
    }

    /// Sets header `name`, replacing an earlier value.
    fn header(mut self, name: &str, value: impl Into<String>) -> Case {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn json(self, body: &Value) -> Case {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    fn key(self, key: &str) -> Case {
        self.header("authorization", format!("Bearer {key}"))
    }

    /// A delivery as GitHub sends it, signed with `secret`.
    fn github(event: &str, delivery: &str, body: &str, secret: &str, status: u16) -> Case {
        let signature = rae_ingress::github::verify::sign(secret, body.as_bytes());
        Case::new("POST", "/api/v1/integrations/github/webhook", status)
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", signature)
            .body(body)
    }

    /// A Slack request to `route` (`events`, `commands`), signed with `secret` at unix time `at`.
    fn slack(route: &str, content_type: &str, body: &str, secret: &str, at: i64) -> Case {
        let ts = at.to_string();
        let signature = rae_ingress::slack::verify::sign(secret, &ts, body.as_bytes());
        Case::new("POST", format!("/api/v1/integrations/slack/{route}"), 200)
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body)
    }

    fn status(mut self, status: u16) -> Case {
        self.status = status;
        self
    }
}

/// Sends one request to the pipeline.
async fn send(pipeline: &Pipeline, case: &Case) -> Answer {
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
    let mut request = pipeline
        .http
        .request(method, format!("{}{}", pipeline.base, case.path));
    for (name, value) in &case.headers {
        request = request.header(name, value);
    }
    if !case.body.is_empty() {
        request = request.body(case.body.clone());
    }
    let response = request.send().await.expect("the ingress answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        body,
        headers,
    }
}

/// The documented path that `path` (with real segments, maybe a query) is an instance of.
fn template_of(openapi: &Value, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let matches = |template: &str| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
    };
    let paths = openapi["paths"].as_object().unwrap();
    // A literal path wins over a template (`/api/v1/dlq/replay` over `/api/v1/dlq/{id}`).
    paths
        .keys()
        .filter(|t| matches(t))
        .min_by_key(|t| t.matches('{').count())
        .cloned()
}

/// Follows a `$ref` to `#/components/...`.
fn resolve<'a>(openapi: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => openapi
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} leads nowhere")),
        None => value,
    }
}

/// Checks that the description documents `answer` to `method path`: its status, its body's
/// schema, its JSON content type and its documented `Retry-After`. Answers the operation.
fn check(openapi: &Value, method: &str, path: &str, answer: &Answer) -> String {
    let template = template_of(openapi, path)
        .unwrap_or_else(|| panic!("{method} {path}: no documented path matches"));
    let op = operation(method, &template);
    let (status, body) = (answer.status, &answer.body);
    let documented =
        &openapi["paths"][&template][method.to_ascii_lowercase()]["responses"][status.to_string()];
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which contracts/openapi.json does not document for \
         {op}: {body}"
    );
    let response = resolve(openapi, documented);
    if let Some(schema) = response
        .pointer("/content/application~1json/schema")
        .cloned()
    {
        let content_type = answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{method} {path} {status}: documented as JSON, answered Content-Type {content_type:?}"
        );
        // The operation's schema, with the document's components so its `$ref`s resolve.
        let mut root = schema;
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        root["components"] = openapi["components"].clone();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{op} {status}: bad schema: {e}"));
        let problems = violations(&validator, body);
        assert!(
            problems.is_empty(),
            "{method} {path} {status} answered a body contracts/openapi.json does not describe:\n\
             {problems}\n{body:#}"
        );
    }
    if response["headers"].get("Retry-After").is_some() {
        let retry_after = answer
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert!(
            retry_after.is_some(),
            "{method} {path} {status}: documented with Retry-After (seconds), answered without"
        );
    }
    op
}

/// Which operations got a checked success and a checked error.
#[derive(Default)]
struct Coverage(BTreeMap<String, (bool, bool)>);

impl Coverage {
    fn note(&mut self, op: String, status: u16) {
        let entry = self.0.entry(op).or_default();
        if status < 400 {
            entry.0 = true;
        } else {
            entry.1 = true;
        }
    }

    fn assert_complete(&self, documented: &BTreeSet<String>) {
        for op in documented {
            let (success, error) = self.0.get(op).copied().unwrap_or_default();
            assert!(success, "{op}: no success answer was checked");
            assert!(
                error || SUCCESS_ONLY.contains(&op.as_str()),
                "{op}: no error answer was checked"
            );
        }
    }
}

/// Runs `cases` in order, checking each answer; answers the last body.
async fn run(
    pipeline: &Pipeline,
    openapi: &Value,
    coverage: &mut Coverage,
    cases: Vec<Case>,
) -> Value {
    let mut last = Value::Null;
    for case in cases {
        let answer = send(pipeline, &case).await;
        assert_eq!(
            answer.status, case.status,
            "{} {}: {}",
            case.method, case.path, answer.body
        );
        let op = check(openapi, case.method, &case.path, &answer);
        coverage.note(op, answer.status);
        last = answer.body;
    }
    last
}

fn fixture(kind: &str, name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/{kind}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A slash command form as Slack sends it.
fn command_form(text: &str) -> String {
    serde_urlencoded::to_string([
        ("team_id", "T0001"),
        ("channel_id", "C0000CMD"),
        ("channel_name", "test"),
        ("user_id", "U2147483697"),
        ("user_name", "steve"),
        ("command", "/rae"),
        ("text", text),
        (
            "trigger_id",
            &format!("{}.1.{}", now(), uuid::Uuid::new_v4()),
        ),
    ])
    .unwrap()
}

fn config_yaml() -> String {
    format!(
        r#"  - id: github
    config:
      secrets: ["{GITHUB_SECRET}"]
  - id: slack
    config:
      signing_secrets: ["{SLACK_SECRET}"]
      auto_store_channels: ["C123ABC456"]
api_keys:
  - {{ id: writer, key: "{WRITER}", scopes: ["memories:write"], tenants: ["*"] }}
  - {{ id: reader, key: "{READER}", scopes: ["memories:read"], tenants: ["*"] }}
  - {{ id: ops, key: "{OPS}", scopes: ["dlq:admin"], tenants: ["*"] }}
  - {{ id: hasty, key: "{HASTY}", scopes: ["dlq:admin"], tenants: ["*"] }}
  - {{ id: eraser, key: "{ERASER}", scopes: ["memories:forget"], tenants: ["default-tenant"] }}
"#
    )
}

/// The memories API and the generic webhook.
fn memory_cases() -> Vec<Case> {
    let memories = "/api/v1/memories";
    // Every documented field of a memory, as the request body schema allows.
    let full = json!({
        "content": "Team decided to use PostgreSQL",
        "source": "my_app",
        "importance": 0.8,
        "tags": ["decision", "db"],
        "project": "default",
        "layer": "semantic",
        "kind": "decision",
        "metadata": {"meeting": "arch-sync"},
        "occurred_at": "2026-11-24T10:30:00Z",
        "idempotency_key": "openapi-1"
    });
    let post = |status| Case::new("POST", memories, status);
    vec![
        post(202).key(WRITER).json(&full),
        // The same idempotency key again: a duplicate, still 202.
        post(202).key(WRITER).json(&full),
        post(207)
            .key(WRITER)
            .json(&json!({"memories": [{"content": "one"}, {"content": ""}]})),
        post(202)
            .key(WRITER)
            .json(&json!({"memories": [{"content": "two"}]})),
        post(400)
            .key(WRITER)
            .json(&json!({"memories": [{"content": " "}]})),
        post(401).json(&json!({"content": "no key"})),
        post(403)
            .key(READER)
            .json(&json!({"content": "read-only key"})),
        post(400)
            .key(WRITER)
            .json(&json!({"content": "typo", "importnace": 1})),
        post(415)
            .key(WRITER)
            .header("content-type", "text/xml")
            .body(json!({"content": "xml?"}).to_string()),
        // Over the body limit (1 MiB by default).
        post(413)
            .key(WRITER)
            .json(&json!({"content": "x".repeat(1024 * 1024 + 1)})),
        Case::new("POST", "/api/v1/memories/query", 200)
            .key(READER)
            .json(&json!({"query": "Which database?", "k": 3})),
        Case::new("POST", "/api/v1/memories/query", 403)
            .key(WRITER)
            .json(&json!({"query": "Which database?"})),
        Case::new("POST", "/api/v1/webhooks/memory", 202)
            .header("x-webhook-secret", SECRET)
            .json(&full),
        Case::new("POST", "/api/v1/webhooks/memory", 401)
            .header("x-webhook-secret", "wrong")
            .json(&json!({"content": "forged"})),
        Case::new("POST", "/api/v1/webhooks/nope", 404)
            .header("x-webhook-secret", SECRET)
            .json(&json!({"content": "lost"})),
    ]
}

/// GitHub deliveries: a ping, an ignored event, a stored one, and refusals.
fn github_cases() -> Vec<Case> {
    let pull_request = fixture("github", "pull_request.opened.json");
    let delivery = uuid::Uuid::new_v4().to_string();
    vec![
        Case::github(
            "ping",
            "d-ping",
            &fixture("github", "ping.json"),
            GITHUB_SECRET,
            200,
        ),
        Case::github(
            "star",
            "d-star",
            &fixture("github", "star.created.json"),
            GITHUB_SECRET,
            200,
        ),
        Case::github("pull_request", &delivery, &pull_request, GITHUB_SECRET, 202),
        Case::github("pull_request", &delivery, &pull_request, "forged", 401),
        Case::github("", "d-no-event", "{}", GITHUB_SECRET, 400),
        Case::github("push", "d-text", "{}", GITHUB_SECRET, 415)
            .header("content-type", "text/plain"),
    ]
}

/// Slack events and slash commands: the challenge, a stored message, commands, refusals.
fn slack_cases() -> Vec<Case> {
    let json_type = "application/json";
    let form = "application/x-www-form-urlencoded";
    let message = fixture("slack", "event_callback.message.json");
    vec![
        Case::slack(
            "events",
            json_type,
            &fixture("slack", "url_verification.json"),
            SLACK_SECRET,
            now(),
        ),
        Case::slack("events", json_type, &message, SLACK_SECRET, now()),
        Case::slack(
            "events",
            json_type,
            &fixture("slack", "event_callback.bot_message.json"),
            SLACK_SECRET,
            now(),
        ),
        Case::slack("events", json_type, &message, "forged", now()).status(401),
        // Signed an hour ago: outside the replay window.
        Case::slack("events", json_type, &message, SLACK_SECRET, now() - 3600).status(401),
        Case::slack("events", "text/plain", &message, SLACK_SECRET, now()).status(415),
        Case::slack("commands", form, &command_form("help"), SLACK_SECRET, now()),
        Case::slack(
            "commands",
            form,
            &command_form("store The staging database moves on Friday"),
            SLACK_SECRET,
            now(),
        ),
        Case::slack("commands", form, &command_form("help"), "forged", now()).status(401),
        Case::slack("commands", form, "team_id=T1", SLACK_SECRET, now()).status(400),
    ]
}

/// The dead-letter routes, with the dead letter `sequence` present.
fn dlq_cases(sequence: u64) -> Vec<Case> {
    let list = "/api/v1/dlq";
    vec![
        Case::new("GET", format!("{list}?stage=write&limit=10"), 200).key(OPS),
        Case::new("GET", list, 401),
        Case::new("GET", list, 403).key(WRITER),
        Case::new("GET", format!("{list}?colour=red"), 400).key(OPS),
        Case::new("GET", format!("{list}?tenant=not-configured"), 403).key(OPS),
        Case::new("GET", format!("{list}/{sequence}"), 200).key(OPS),
        Case::new("GET", format!("{list}/999999"), 404).key(OPS),
        Case::new("GET", format!("{list}/{sequence}"), 401),
        Case::new("POST", "/api/v1/dlq/replay", 200)
            .key(OPS)
            .json(&json!({"all": true, "dry_run": true})),
        Case::new("POST", "/api/v1/dlq/replay", 400)
            .key(OPS)
            .json(&json!({})),
        Case::new("POST", "/api/v1/dlq/purge", 400)
            .key(OPS)
            .json(&json!({"colour": "red"})),
        Case::new("POST", "/api/v1/dlq/purge", 401).json(&json!({"all": true})),
        Case::new("POST", "/api/v1/dlq/purge", 200)
            .key(OPS)
            .json(&json!({"id": sequence.to_string()})),
    ]
}

/// The erasure route.
fn forget_cases() -> Vec<Case> {
    let path = "/api/v1/forget";
    vec![
        Case::new("POST", path, 200)
            .key(ERASER)
            .json(&json!({"by": "actor", "value": "ana", "dry_run": true})),
        Case::new("POST", path, 202)
            .key(ERASER)
            .json(&json!({"by": "url", "value": "https://example.com/a"})),
        Case::new("POST", path, 400)
            .key(ERASER)
            .json(&json!({"by": "colour", "value": "red"})),
        Case::new("POST", path, 400)
            .key(ERASER)
            .json(&json!({"by": "actor", "value": " "})),
        Case::new("POST", path, 401).json(&json!({"by": "actor", "value": "ana"})),
        Case::new("POST", path, 403)
            .key(WRITER)
            .json(&json!({"by": "actor", "value": "ana"})),
    ]
}

/// Health routes and this description.
fn health_cases() -> Vec<Case> {
    [
        "/healthz",
        "/readyz",
        "/api/v1/integrations/health",
        "/openapi.json",
    ]
    .into_iter()
    .map(|path| Case::new("GET", path, 200))
    .collect()
}

#[tokio::test]
async fn the_openapi_description_matches_what_the_routes_answer() {
    let openapi = openapi();
    let mut nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, &config_yaml());
    config.ingress.rate_limit.per_second = 0.01;
    config.ingress.rate_limit.burst = BURST;
    let mut pipeline = Pipeline::start(&config).await;
    let mut coverage = Coverage::default();

    // The ingress serves the same description at /openapi.json.
    let served = send(&pipeline, &Case::new("GET", "/openapi.json", 200)).await;
    assert_eq!(
        served.body, openapi,
        "GET /openapi.json differs from contracts/openapi.json"
    );

    for cases in [
        memory_cases(),
        github_cases(),
        slack_cases(),
        health_cases(),
        forget_cases(),
    ] {
        run(&pipeline, &openapi, &mut coverage, cases).await;
    }

    // A dead letter to list, show and purge: RAE refuses the next event for good.
    rae.script([Reply::Status(
        422,
        json!({"error": {"code": "validation_error", "message": "project is archived"}}),
    )]);
    pipeline.accept("refused by RAE").await;
    let bus = pipeline.bus().clone();
    wait_for("a dead letter", Duration::from_secs(10), || {
        let bus = bus.clone();
        async move { stream_messages(&bus, rae_core::subjects::DLQ_STREAM).await == 1 }
    })
    .await;
    let listed = run(
        &pipeline,
        &openapi,
        &mut coverage,
        vec![Case::new("GET", "/api/v1/dlq", 200).key(OPS)],
    )
    .await;
    assert_eq!(listed["count"], 1, "{listed}");
    let sequence = listed["dead_letters"][0]["sequence"].as_u64().unwrap();
    run(&pipeline, &openapi, &mut coverage, dlq_cases(sequence)).await;

    // Past the burst, a key is told to wait.
    let mut limited = None;
    for _ in 0..=BURST {
        let answer = send(&pipeline, &Case::new("GET", "/api/v1/dlq", 200).key(HASTY)).await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the rate limit answers 429 past the burst");
    coverage.note(check(&openapi, "GET", "/api/v1/dlq", &limited), 429);

    // What is not in the description: an unknown path is a 404, an undocumented method a 405.
    let answer = send(&pipeline, &Case::new("GET", "/api/v1/nothing-here", 404)).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.body["error"], "not_found");
    let documented = documented(&openapi);
    for path in openapi["paths"].as_object().unwrap().keys() {
        let concrete = path.replace("{integration}", "memory").replace("{id}", "1");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if documented.contains(&operation(method, path)) {
                continue;
            }
            let answer = send(&pipeline, &Case::new(method, concrete.clone(), 405)).await;
            assert_eq!(
                (answer.status, &answer.body["error"]),
                (405, &json!("method_not_allowed")),
                "{method} {path} is not documented but answers {} {}",
                answer.status,
                answer.body
            );
        }
    }

    // Without NATS the ingress is not ready.
    nats.stop();
    let unready = Case::new("GET", "/readyz", 503);
    wait_for("readiness to fail", Duration::from_secs(20), || async {
        send(&pipeline, &unready).await.status == 503
    })
    .await;
    run(&pipeline, &openapi, &mut coverage, vec![unready]).await;
    nats.restart();

    coverage.assert_complete(&documented);
    pipeline.shutdown().await;
}
