//! `POST /api/v1/memories` and `/api/v1/memories/query` as an API client sees them: keys,
//! scopes, tenants, batches, rate limits, and what reached NATS, RAE and the audit stream.

use std::time::Duration;

use serde_json::{json, Value};

use rae_core::subjects::AUDIT_STREAM;
use rae_ingress::auth::hash_key;

use crate::harness::*;

const ACME: &str = "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f";
const WRITER_KEY: &str = "rpk_writer_key_for_tests_0001";
const NEW_WRITER_KEY: &str = "rpk_writer_key_for_tests_0002";
const READER_KEY: &str = "rpk_reader_key_for_tests_0003";
const EXPIRED_KEY: &str = "rpk_expired_key_for_tests_004";

fn keys_yaml() -> String {
    format!(
        r#"
tenants:
  acme:
    rae_tenant_id: {ACME}
    api_key: acme-rae-key
    project: acme-project
  other:
    rae_tenant_id: 11111111-2222-3333-4444-555555555555
api_keys:
  - id: writer-old
    sha256: "{old}"
    scopes: ["memories:write"]
    tenants: [acme]
  - id: writer-new
    sha256: "sha256:{new}"
    scopes: ["memories:write"]
    tenants: [acme]
  - id: reader
    key: "{READER_KEY}"
    scopes: ["memories:read"]
    tenants: ["*"]
  - id: expired
    sha256: "{expired}"
    scopes: ["memories:write"]
    tenants: ["*"]
    not_after: 2021-01-01T00:00:00Z
"#,
        old = hash_key(WRITER_KEY),
        new = hash_key(NEW_WRITER_KEY),
        expired = hash_key(EXPIRED_KEY),
    )
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

async fn post_memories(
    pipeline: &Pipeline,
    key: &str,
    tenant: Option<&str>,
    body: &Value,
) -> (u16, Value, axum::http::HeaderMap) {
    let auth = bearer(key);
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(t) = tenant {
        headers.push(("x-tenant-id", t));
    }
    pipeline
        .post("/api/v1/memories", &body.to_string(), &headers)
        .await
}

#[tokio::test]
async fn the_seed_api_example_reaches_rae_for_the_keys_tenant() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &keys_yaml())).await;

    let memory = json!({"content": "Important event", "source": "my_app", "importance": 0.8});
    let (status, answer, _) = post_memories(&pipeline, WRITER_KEY, Some("acme"), &memory).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "accepted");
    let id = answer["id"].as_str().unwrap().to_owned();

    let events = events_with_id(pipeline.bus(), &id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["source"], "api");
    assert_eq!(events[0]["tenant"], "acme");
    assert_eq!(events[0]["project"], "acme-project");

    wait_for("RAE to store it", Duration::from_secs(10), || async {
        !rae.stored().is_empty()
    })
    .await;
    let stored = &rae.stored()[0];
    assert_eq!(stored.headers["x-tenant-id"], ACME);
    assert_eq!(stored.headers["x-api-key"], "acme-rae-key");
    assert_eq!(stored.body["source"], "my_app");
    assert_eq!(stored.body["metadata"]["event_id"], json!(id));

    // The key has one tenant: X-Tenant-ID may be left out; the rotated key works as well.
    let (status, answer, _) = post_memories(&pipeline, NEW_WRITER_KEY, None, &memory).await;
    assert_eq!(status, 202, "{answer}");
    pipeline.shutdown().await;
}

/// A tenant named by its RAE id is the same tenant as its alias: a key bound to acme's UUID
/// writes as acme, with acme's own RAE key, and X-Tenant-ID may name either.
#[tokio::test]
async fn a_tenant_named_by_its_rae_id_is_its_alias() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml = format!(
        "{}  - {{ id: by-uuid, key: \"rpk_uuid_bound_key_for_tests_05\", scopes: [\"memories:write\"], tenants: [\"{ACME}\"] }}\n",
        keys_yaml()
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml)).await;
    let memory = json!({"content": "written through the tenant's RAE id"});
    for (key, tenant) in [
        ("rpk_uuid_bound_key_for_tests_05", None),
        ("rpk_uuid_bound_key_for_tests_05", Some("acme")),
        (WRITER_KEY, Some(ACME)),
    ] {
        let (status, answer, _) = post_memories(&pipeline, key, tenant, &memory).await;
        assert_eq!(status, 202, "{tenant:?}: {answer}");
        let id = answer["id"].as_str().unwrap().to_owned();
        assert_eq!(
            events_with_id(pipeline.bus(), &id).await[0]["tenant"],
            "acme"
        );
        wait_for("RAE to store it", Duration::from_secs(10), || async {
            rae.stored_event_ids().contains_key(&id)
        })
        .await;
        let stored = rae.stored();
        let stored = stored
            .iter()
            .find(|m| m.body["metadata"]["event_id"] == json!(id))
            .unwrap();
        assert_eq!(stored.headers["x-tenant-id"], ACME);
        assert_eq!(stored.headers["x-api-key"], "acme-rae-key", "{tenant:?}");
    }
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_batch_answers_each_item_and_stores_the_valid_ones() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &keys_yaml())).await;

    let batch = json!({"memories": [
        {"content": "first", "tags": ["a"]},
        {"content": ""},
        {"content": "third", "idempotency_key": "k-3"},
    ]});
    let (status, answer, _) = post_memories(&pipeline, WRITER_KEY, Some("acme"), &batch).await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["rejected"], 1);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "accepted");
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(results[1]["field"], "memories[1].content");
    assert_eq!(results[2]["duplicate"], false);

    // Implausible times and control characters in a project are refused per item, by path.
    let odd = json!({"memories": [
        {"content": "ancient", "occurred_at": "0000-01-01T00:00:00Z"},
        {"content": "far future", "occurred_at": "9999-12-31T23:59:59Z"},
        {"content": "bell", "project": "acme\u{7}"},
    ]});
    let (status, answer, _) = post_memories(&pipeline, WRITER_KEY, Some("acme"), &odd).await;
    assert_eq!(status, 400, "{answer}");
    let fields: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "memories[0].occurred_at",
            "memories[1].occurred_at",
            "memories[2].project"
        ],
        "{answer}"
    );

    // All valid: 202; the keyed item again is a duplicate.
    let again = json!({"memories": [{"content": "third", "idempotency_key": "k-3"}, {"content": "fourth"}]});
    let (status, answer, _) = post_memories(&pipeline, WRITER_KEY, Some("acme"), &again).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["results"][0]["duplicate"], true);
    assert_eq!(answer["results"][0]["id"], results[2]["id"]);

    wait_for("three memories in RAE", Duration::from_secs(10), || async {
        rae.stored().len() == 3
    })
    .await;

    // Over the batch limit: one clear 400, nothing stored.
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"content": format!("m{i}")}))
        .collect();
    let (status, answer, _) = post_memories(
        &pipeline,
        WRITER_KEY,
        Some("acme"),
        &json!({"memories": many}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "memories");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn keys_scopes_and_tenants_are_enforced_and_audited() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &keys_yaml())).await;
    let memory = json!({"content": "x"});

    let cases: [(&str, Option<&str>, u16, &str); 6] = [
        ("not-a-key-at-all-000000", Some("acme"), 401, "unauthorized"),
        (EXPIRED_KEY, Some("acme"), 401, "unauthorized"),
        (READER_KEY, Some("acme"), 403, "forbidden"),
        (WRITER_KEY, Some("other"), 403, "forbidden"),
        (WRITER_KEY, Some("nowhere"), 403, "forbidden"),
        (WRITER_KEY, Some("acme"), 202, ""),
    ];
    for (key, tenant, expected, code) in cases {
        let (status, answer, _) = post_memories(&pipeline, key, tenant, &memory).await;
        assert_eq!(status, expected, "{key} {tenant:?}: {answer}");
        if !code.is_empty() {
            assert_eq!(answer["error"], code);
            assert!(answer["message"].as_str().unwrap().len() > 5);
        }
    }
    let (status, answer, _) = pipeline
        .post("/api/v1/memories", &memory.to_string(), &[])
        .await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("Bearer"));
    let auth = bearer(WRITER_KEY);
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/memories",
            "content=x",
            &[("authorization", &auth), ("content-type", "text/plain")],
        )
        .await;
    assert_eq!(status, 415, "{answer}");

    // Every decision is in RAE_AUDIT with the key id and tenant, never a key or a body (the
    // two refusals without a key are one caller's: the second is folded into a later summary).
    wait_for("audit records", Duration::from_secs(10), || async {
        stream_json(pipeline.bus(), AUDIT_STREAM).await.len() >= 7
    })
    .await;
    let records = stream_json(pipeline.bus(), AUDIT_STREAM).await;
    let text = serde_json::to_string(&records).unwrap();
    for secret in [WRITER_KEY, READER_KEY, EXPIRED_KEY, "\"x\""] {
        assert!(!text.contains(secret), "audit leaks {secret}: {text}");
    }
    let refused = records
        .iter()
        .find(|r| r["key_id"] == "reader")
        .expect("the reader's refusal is audited");
    assert_eq!(refused["outcome"], "rejected");
    assert_eq!(refused["reason"], "forbidden");
    assert_eq!(refused["tenant"], "acme");
    assert!(records.iter().any(|r| r["key_id"] == "writer-old"
        && r["outcome"] == "accepted"
        && r["event_id"].is_string()));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, &keys_yaml());
    config.ingress.rate_limit.per_second = 0.2;
    config.ingress.rate_limit.burst = 2;
    let mut pipeline = Pipeline::start(&config).await;
    let memory = json!({"content": "x"});
    for _ in 0..2 {
        let (status, answer, _) = post_memories(&pipeline, WRITER_KEY, Some("acme"), &memory).await;
        assert_eq!(status, 202, "{answer}");
    }
    let (status, answer, headers) =
        post_memories(&pipeline, WRITER_KEY, Some("acme"), &memory).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"], "rate_limited");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry), "Retry-After {retry}");
    // Another key has its own budget.
    let (status, _, _) = post_memories(&pipeline, NEW_WRITER_KEY, Some("acme"), &memory).await;
    assert_eq!(status, 202);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_read_key_queries_rae_for_its_tenant() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.set_query_answer(
        Duration::ZERO,
        json!({"results": [{"id": "m1", "content": "We use PostgreSQL", "score": 0.93}], "total_count": 1}),
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &keys_yaml())).await;
    let auth = bearer(READER_KEY);
    let body = json!({"query": "What database are we using?", "k": 3}).to_string();
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/memories/query",
            &body,
            &[("authorization", &auth), ("x-tenant-id", "acme")],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["content"], "We use PostgreSQL");
    let asked = &rae.requests_to("/v2/memories/query")[0];
    assert_eq!(asked.headers["x-tenant-id"], ACME);
    assert_eq!(asked.body["k"], 3);
    assert_eq!(asked.body["project"], "acme-project");

    // The writer key may not read; a bad k names the field.
    let auth = bearer(WRITER_KEY);
    let (status, _, _) = pipeline
        .post("/api/v1/memories/query", &body, &[("authorization", &auth)])
        .await;
    assert_eq!(status, 403);
    let auth = bearer(READER_KEY);
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/memories/query",
            &json!({"query": "x", "k": 0}).to_string(),
            &[("authorization", &auth), ("x-tenant-id", "acme")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(answer["field"], "k");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_search_while_rae_is_down_answers_502_without_raes_address() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, &keys_yaml());
    // Nothing listens there: the connection is refused.
    let internal = format!("http://127.0.0.1:{}", free_port());
    config.rae.base_url = internal.clone();
    let mut pipeline = Pipeline::start(&config).await;
    let auth = bearer(READER_KEY);
    let body = json!({"query": "What database are we using?"}).to_string();
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/memories/query",
            &body,
            &[("authorization", &auth), ("x-tenant-id", "acme")],
        )
        .await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["error"], "rae_unavailable");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("RAE is unreachable"), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert!(!answer.to_string().contains(&internal), "{answer}");
    pipeline.shutdown().await;
}
