//! The writer against a failing RAE: retries, Retry-After, outages, and nothing lost.

use std::time::Duration;

use serde_json::json;

use rae_core::subjects::DLQ_STREAM;

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
async fn a_stored_event_is_recorded_with_rae_memory_id() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let id = pipeline.accept("recorded with its memory").await;
    let records = pipeline.bus().memory_records().await.expect("records");
    wait_for("the memory record", Duration::from_secs(10), || async {
        records.get(&id).await.expect("get").is_some()
    })
    .await;
    let record = records.get(&id).await.expect("get").expect("record");
    let stored = rae.stored();
    assert_eq!(
        Some(record.memory_id.as_str()),
        stored[0].memory_id.as_deref()
    );
    assert_eq!(record.event_id, id);
    assert_eq!(record.source, "webhook");
    assert!(record.deletable(), "{record:?}");
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
                    .stream(rae_core::subjects::ENRICHED_STREAM)
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
    let letters = rae_core::dead_letter::list(pipeline.bus(), &Default::default(), 10)
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

#[tokio::test]
async fn an_event_jetstream_gives_up_on_becomes_a_dead_letter() {
    use futures::StreamExt;
    use rae_consumers::advisories::watch_max_deliveries;
    use rae_core::dead_letter::{self, Filter, Stage};

    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    // Only the ingress runs: a stand-in consumer with max_deliver 2 plays a stage that keeps
    // failing (or crashing) on the event, so JetStream gives up on it.
    let roles = rae_pipeline::app::Roles {
        ingress: true,
        enricher: false,
        writer: false,
        git_watch: false,
    };
    let mut pipeline = Pipeline::start_roles(&test_config(&nats, &rae, ""), roles).await;
    let bus = pipeline.bus().clone();
    let consumer = bus
        .durable_consumer(
            rae_core::subjects::EVENTS_STREAM,
            "flaky-stage",
            rae_core::subjects::EVENTS_ALL,
            Duration::from_secs(30),
            10,
            2,
        )
        .await
        .unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn(watch_max_deliveries(
        bus.clone(),
        rae_core::subjects::EVENTS_STREAM,
        "flaky-stage",
        Stage::Enrich,
        token.clone(),
    ));
    let id = pipeline.accept("nobody can handle me").await;

    // Fail every delivery until the dead letter appears (a deadline, not a sleep).
    let mut messages = consumer.messages().await.unwrap();
    let mut deliveries = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while stream_messages(&bus, rae_core::subjects::DLQ_STREAM).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "JetStream never gave up"
        );
        let next = tokio::time::timeout(Duration::from_millis(200), messages.next()).await;
        if let Ok(Some(Ok(message))) = next {
            deliveries += 1;
            message
                .ack_with(async_nats::jetstream::AckKind::Nak(None))
                .await
                .unwrap();
        }
    }
    assert_eq!(deliveries, 2);
    let letter = dead_letter::list(&bus, &Filter::default(), 10)
        .await
        .unwrap()
        .remove(0)
        .letter;
    assert_eq!(letter.reason, "max_deliveries");
    assert_eq!(letter.stage, Stage::Enrich);
    assert_eq!(letter.attempts, 2);
    assert_eq!(letter.event_id(), id);
    assert!(
        letter.error.contains("gave up after 2 deliveries"),
        "{}",
        letter.error
    );
    token.cancel();
    watcher.await.unwrap();
    pipeline.shutdown().await;
}
