//! `contracts/openapi.json` against what the ingress really answers: every documented route
//! exists, and the answers of the memories API and the generic webhook (accepted, duplicate,
//! batch with a refused item, no key, missing scope, unknown field, wrong content type, too
//! large) have a documented status and match its documented body schema.

use serde_json::{json, Value};

use crate::contracts::{contracts_dir, violations};
use crate::harness::*;

const WRITER: &str = "rpk_openapi_writer_key_for_tests";
const READER: &str = "rpk_openapi_reader_key_for_tests";

/// A request (path, body, headers) and the status it must get.
type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>, u16);

fn openapi() -> Value {
    let path = contracts_dir().join("openapi.json");
    let text = std::fs::read_to_string(&path).expect("contracts/openapi.json");
    serde_json::from_str(&text).expect("contracts/openapi.json is JSON")
}

/// Checks that `operation` documents `status` and that `body` matches its JSON schema.
fn check(openapi: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let response = &openapi["paths"][path][method]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which contracts/openapi.json does not document: {body}"
    );
    let Some(schema) = response
        .pointer("/content/application~1json/schema")
        .cloned()
    else {
        return;
    };
    // The operation's schema, with the document's components so its `$ref`s resolve.
    let mut root = schema;
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["components"] = openapi["components"].clone();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: bad schema: {e}"));
    let problems = violations(&validator, body);
    assert!(
        problems.is_empty(),
        "{method} {path} {status} answered a body contracts/openapi.json does not describe:\n\
         {problems}\n{body:#}"
    );
}

#[tokio::test]
async fn the_openapi_description_matches_what_the_routes_answer() {
    let openapi = openapi();
    assert_eq!(openapi["openapi"], "3.1.0");
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let keys = format!(
        r#"
api_keys:
  - {{ id: writer, key: "{WRITER}", scopes: ["memories:write"], tenants: ["*"] }}
  - {{ id: reader, key: "{READER}", scopes: ["memories:read"], tenants: ["*"] }}
"#
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &keys)).await;

    // The ingress serves the same description at /openapi.json.
    let served: Value = pipeline
        .http
        .get(format!("{}/openapi.json", pipeline.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        served, openapi,
        "GET /openapi.json differs from contracts/openapi.json"
    );

    // Every documented route exists: none answers 404 or 405 for its method.
    let paths = openapi["paths"].as_object().unwrap();
    for (path, operations) in paths {
        let url = format!(
            "{}{}",
            pipeline.base,
            path.replace("{integration}", "memory")
        );
        for method in operations.as_object().unwrap().keys() {
            let request = match method.as_str() {
                "get" => pipeline.http.get(&url),
                "post" => pipeline.http.post(&url).body("{}"),
                other => panic!("{path}: method {other} not tried"),
            };
            let status = request.send().await.unwrap().status().as_u16();
            assert!(
                status != 404 && status != 405,
                "{method} {path} is documented but answers {status}"
            );
        }
    }

    let memories = "/api/v1/memories";
    let writer = format!("Bearer {WRITER}");
    let reader = format!("Bearer {READER}");
    let json_type = ("content-type", "application/json");
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
    let cases: Vec<Case> = vec![
        (
            memories,
            full.clone(),
            vec![("authorization", writer.as_str()), json_type],
            202,
        ),
        // The same idempotency key again: a duplicate, still 202.
        (
            memories,
            full.clone(),
            vec![("authorization", writer.as_str()), json_type],
            202,
        ),
        (
            memories,
            json!({"memories": [{"content": "one"}, {"content": ""}]}),
            vec![("authorization", writer.as_str()), json_type],
            207,
        ),
        (
            memories,
            json!({"memories": [{"content": "two"}]}),
            vec![("authorization", writer.as_str()), json_type],
            202,
        ),
        (
            memories,
            json!({"memories": [{"content": " "}]}),
            vec![("authorization", writer.as_str()), json_type],
            400,
        ),
        (memories, json!({"content": "no key"}), vec![json_type], 401),
        (
            memories,
            json!({"content": "read-only key"}),
            vec![("authorization", reader.as_str()), json_type],
            403,
        ),
        (
            memories,
            json!({"content": "typo", "importnace": 1}),
            vec![("authorization", writer.as_str()), json_type],
            400,
        ),
        (
            memories,
            json!({"content": "xml?"}),
            vec![
                ("authorization", writer.as_str()),
                ("content-type", "text/xml"),
            ],
            415,
        ),
        (
            "/api/v1/webhooks/memory",
            full.clone(),
            vec![("x-webhook-secret", SECRET)],
            202,
        ),
        (
            "/api/v1/webhooks/memory",
            json!({"content": "forged"}),
            vec![("x-webhook-secret", "wrong")],
            401,
        ),
    ];
    for (path, body, headers, expected) in cases {
        let (status, answer, _) = pipeline.post(path, &body.to_string(), &headers).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        let template = if path.starts_with("/api/v1/webhooks/") {
            "/api/v1/webhooks/{integration}"
        } else {
            path
        };
        check(&openapi, template, "post", status, &answer);
    }

    // Over the body limit (1 MiB by default).
    let big = json!({"content": "x".repeat(1024 * 1024 + 1)}).to_string();
    let (status, answer, _) = pipeline
        .post(
            memories,
            &big,
            &[("authorization", writer.as_str()), json_type],
        )
        .await;
    assert_eq!(status, 413, "{answer}");
    check(&openapi, memories, "post", status, &answer);

    let (status, body) = get(&format!("{}/healthz", pipeline.base)).await.unwrap();
    check(
        &openapi,
        "/healthz",
        "get",
        status,
        &serde_json::from_str(&body).unwrap(),
    );
    pipeline.shutdown().await;
}
