//! Dead letters: a refused event is kept with RAE's answer and can be replayed after a fix.

use std::time::Duration;

use serde_json::json;

use rae_core::dead_letter::{self, Filter};
use rae_core::subjects::DLQ_STREAM;

use crate::harness::*;

#[tokio::test]
async fn rae_422_is_one_dead_letter_and_replay_stores_it_after_the_fix() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let refusal = json!({"error": {"code": "validation_error", "message": "project is archived", "details": []}});
    rae.script([Reply::Status(422, refusal)]);
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let id = pipeline.accept("refused at first").await;

    let bus = pipeline.bus().clone();
    wait_for("a dead letter", Duration::from_secs(10), || {
        let bus = bus.clone();
        async move { stream_messages(&bus, DLQ_STREAM).await == 1 }
    })
    .await;
    let entries = dead_letter::list(&bus, &Filter::default(), 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let letter = &entries[0].letter;
    assert_eq!(letter.stage.as_str(), "write");
    assert_eq!(letter.reason, "rae_rejected");
    assert_eq!(letter.attempts, 1);
    assert!(
        letter.error.contains("422") && letter.error.contains("project is archived"),
        "{}",
        letter.error
    );
    assert_eq!(letter.event_id(), id);
    assert_eq!(letter.preview(60), "refused at first");
    assert!(
        letter
            .subject
            .starts_with("rae.enriched.default-tenant.webhook."),
        "{}",
        letter.subject
    );
    assert_eq!(rae.requests().len(), 1, "a 422 is not retried");

    // RAE is fixed (it now answers 200 by default); replay by reason.
    let filter = Filter {
        reason: Some("rae_rejected".into()),
        ..Filter::default()
    };
    for entry in dead_letter::list(&bus, &filter, 10).await.unwrap() {
        dead_letter::replay(&bus, &entry).await.unwrap();
    }
    wait_for(
        "the replayed memory in RAE",
        Duration::from_secs(10),
        || async { rae.stored_event_ids().get(&id) == Some(&1) },
    )
    .await;
    assert_eq!(stream_messages(&bus, DLQ_STREAM).await, 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_replayed_event_that_fails_again_returns_to_the_dlq() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.set_default(Reply::Status(400, json!({"error": {"code": "bad"}})));
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    pipeline.accept("refused twice").await;
    let bus = pipeline.bus().clone();
    wait_for("a dead letter", Duration::from_secs(10), || async {
        stream_messages(&bus, DLQ_STREAM).await == 1
    })
    .await;
    let entry = dead_letter::list(&bus, &Filter::default(), 10)
        .await
        .unwrap()
        .remove(0);
    dead_letter::replay(&bus, &entry).await.unwrap();
    wait_for(
        "the event to fail again",
        Duration::from_secs(10),
        || async { rae.requests().len() == 2 },
    )
    .await;
    wait_for(
        "it to be back in the DLQ",
        Duration::from_secs(10),
        || async {
            let entries = dead_letter::list(&bus, &Filter::default(), 10)
                .await
                .unwrap();
            entries.len() == 1 && entries[0].sequence != entry.sequence
        },
    )
    .await;
    // It comes back with the failure before the replay in its history.
    let again = dead_letter::list(&bus, &Filter::default(), 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.letter.history.len(), 1, "{:?}", again.letter);
    let past = &again.letter.history[0];
    assert_eq!(past.dlq_sequence, entry.sequence);
    assert_eq!(past.reason, "rae_rejected");
    assert_eq!(past.attempts, entry.letter.attempts);
    assert!(past.error.contains("400"), "{past:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn dlq_admin_keys_list_show_replay_and_purge_over_http() {
    use rae_ingress::auth::hash_key;
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let refusal = json!({"error": {"code": "validation_error"}});
    rae.script([
        Reply::Status(422, refusal.clone()),
        Reply::Status(422, refusal),
    ]);
    let yaml = format!(
        r#"tenants:
  acme: {{ rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f }}
api_keys:
  - {{ id: ops, sha256: "{ops}", scopes: ["dlq:admin"], tenants: ["*"] }}
  - {{ id: acme-ops, sha256: "{acme}", scopes: ["dlq:admin"], tenants: [acme] }}
  - {{ id: writer, sha256: "{writer}", scopes: ["memories:write"], tenants: ["*"] }}
"#,
        ops = hash_key("rpk_ops_key_0000000000001"),
        acme = hash_key("rpk_acme_ops_key_00000002"),
        writer = hash_key("rpk_writer_key_0000000003"),
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml)).await;
    let first = pipeline.accept("first refused").await;
    let second = pipeline.accept("second refused").await;
    let bus = pipeline.bus().clone();
    wait_for("two dead letters", Duration::from_secs(10), || async {
        stream_messages(&bus, DLQ_STREAM).await == 2
    })
    .await;
    let get = |path: &str, key: &str| {
        let request = pipeline
            .http
            .get(format!("{}{path}", pipeline.base))
            .bearer_auth(key);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    const OPS: &str = "Bearer rpk_ops_key_0000000000001";

    let (status, listed) = get(
        "/api/v1/dlq?reason=rae_rejected&stage=write",
        "rpk_ops_key_0000000000001",
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["count"], 2);
    let seq = listed["dead_letters"][0]["sequence"].as_u64().unwrap();
    assert_eq!(listed["dead_letters"][0]["event"]["id"], first.as_str());
    let (status, shown) = get(
        &format!("/api/v1/dlq/{second}"),
        "rpk_ops_key_0000000000001",
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["reason"], "rae_rejected");
    let (status, _) = get("/api/v1/dlq/999999", "rpk_ops_key_0000000000001").await;
    assert_eq!(status, 404);

    // Scope and tenant: a writer key is refused; a key for another tenant sees nothing.
    let (status, answer) = get("/api/v1/dlq", "rpk_writer_key_0000000003").await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = get("/api/v1/dlq", "rpk_acme_ops_key_00000002").await;
    assert_eq!(status, 200);
    assert_eq!(answer["count"], 0);
    let (status, _) = get(
        "/api/v1/dlq?tenant=default-tenant",
        "rpk_acme_ops_key_00000002",
    )
    .await;
    assert_eq!(status, 403);

    // Replay and purge need a selection; dry runs change nothing.
    let (status, answer, _) = pipeline
        .post("/api/v1/dlq/replay", "{}", &[("authorization", OPS)])
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/dlq/purge",
            r#"{"all": true, "dry_run": true}"#,
            &[("authorization", OPS)],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["count"], 2);
    assert_eq!(stream_messages(&bus, DLQ_STREAM).await, 2);

    let body = json!({"id": second}).to_string();
    let (status, answer, _) = pipeline
        .post("/api/v1/dlq/purge", &body, &[("authorization", OPS)])
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["purged"], 1);
    let body = json!({"id": seq.to_string()}).to_string();
    let (status, answer, _) = pipeline
        .post("/api/v1/dlq/replay", &body, &[("authorization", OPS)])
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["replayed"], 1);
    wait_for(
        "the replayed memory in RAE",
        Duration::from_secs(10),
        || async { rae.stored_event_ids().get(&first) == Some(&1) },
    )
    .await;
    assert_eq!(stream_messages(&bus, DLQ_STREAM).await, 0);
    assert!(
        !rae.stored_event_ids().contains_key(&second),
        "purged, not stored"
    );
    pipeline.shutdown().await;
}
