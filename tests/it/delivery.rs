//! The writer against a failing RAE: retries, Retry-After, outages, and nothing lost.

use std::time::Duration;

use serde_json::json;

use rae_pipeline::subjects::DLQ_STREAM;

use crate::harness::*;

#[tokio::test]
async fn rae_500_twice_then_200_stores_exactly_once() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.script([
        Reply::Status(500, json!({"detail": "boom"})),
        Reply::Status(503, json!({"detail": "busy"})),
    ]);
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let id = pipeline.accept("retried until stored").await;
    wait_for(
        "the memory to be stored",
        Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let requests = rae.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(rae.stored_event_ids().get(&id), Some(&1));
    assert_eq!(stream_messages(pipeline.bus(), DLQ_STREAM).await, 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn rae_429_retry_after_is_honoured() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.script([Reply::TooMany(1)]);
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    pipeline.accept("throttled once").await;
    wait_for(
        "the memory to be stored",
        Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let requests = rae.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at.duration_since(requests[0].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn an_outage_of_rae_produces_no_dead_letters_and_loses_nothing() {
    let nats = NatsServer::start();
    let mut rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    rae.stop().await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            pipeline
                .accept(&format!("written during the outage {i}"))
                .await,
        );
    }
    // Long enough for every event to fail many times over were it not for the breaker.
    let bus = pipeline.bus().clone();
    wait_for(
        "the breaker to hold events back",
        Duration::from_secs(10),
        || {
            let bus = bus.clone();
            async move {
                let stream = bus
                    .stream(rae_pipeline::subjects::ENRICHED_STREAM)
                    .await
                    .unwrap();
                stream.get_info().await.unwrap().state.messages == 30
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // the outage lasts a while (not a sync point)
    assert_eq!(stream_messages(pipeline.bus(), DLQ_STREAM).await, 0);

    rae.restart().await;
    wait_for(
        "every event to reach RAE",
        Duration::from_secs(20),
        || async { rae.stored_event_ids().len() == 30 },
    )
    .await;
    let stored = rae.stored_event_ids();
    for id in &ids {
        assert_eq!(stored.get(id), Some(&1), "event {id}");
    }
    assert_eq!(stream_messages(pipeline.bus(), DLQ_STREAM).await, 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_poison_event_is_one_dead_letter_and_the_rest_flow() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let publisher = pipeline.bus().publisher();
    publisher
        .publish(
            "rae.events.default-tenant.webhook.note",
            Default::default(),
            "poison-1",
            "{not an event".into(),
        )
        .await
        .unwrap();
    let id = pipeline.accept("healthy neighbour").await;
    wait_for(
        "the neighbour to be stored",
        Duration::from_secs(10),
        || async { rae.stored_event_ids().contains_key(&id) },
    )
    .await;
    let bus = pipeline.bus().clone();
    wait_for("one dead letter", Duration::from_secs(10), || {
        let bus = bus.clone();
        async move { stream_messages(&bus, DLQ_STREAM).await == 1 }
    })
    .await;
    let letters = rae_pipeline::dead_letter::list(pipeline.bus(), &Default::default(), 10)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].letter.reason, "invalid_event");
    assert_eq!(letters[0].letter.stage.as_str(), "enrich");
    assert!(
        letters[0].letter.error.contains("not an event.v1 payload"),
        "{}",
        letters[0].letter.error
    );
    assert_eq!(letters[0].letter.event, json!("{not an event"));
    pipeline.shutdown().await;
}
