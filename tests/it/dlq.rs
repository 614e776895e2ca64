//! Dead letters: a refused event is kept with RAE's answer and can be replayed after a fix.

use std::time::Duration;

use serde_json::json;

use rae_pipeline::dead_letter::{self, Filter};
use rae_pipeline::subjects::DLQ_STREAM;

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
