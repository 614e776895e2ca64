//! Events JetStream gave up on: when an event reaches its consumer's `max_deliver`, the server
//! stops delivering it and publishes a `MAX_DELIVERIES` advisory. This watcher turns each
//! advisory into a dead letter `max_deliveries` with the original event, so nothing is dropped
//! silently. Advisories are core NATS messages: the watcher runs beside the consumer it
//! watches (the server sends them while that consumer has pulls outstanding). Several replicas
//! may all see one advisory; the dead letter's message id (`dlq:<stage>:<sequence>`, the same a
//! stage uses) stores it once.

use futures::StreamExt;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use rae_core::bus::Bus;
use rae_core::dead_letter::{DeadLetter, Reason, Stage};

/// The fields of `io.nats.jetstream.advisory.v1.max_deliver` we use.
#[derive(Debug, Deserialize)]
struct Advisory {
    stream: String,
    consumer: String,
    stream_seq: u64,
    deliveries: u64,
}

/// The advisory subject of one consumer.
pub fn subject(stream: &str, consumer: &str) -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}")
}

/// Watches `consumer` on `stream` until `token` is cancelled.
pub async fn watch_max_deliveries(
    bus: Bus,
    stream: &'static str,
    consumer: &'static str,
    stage: Stage,
    token: CancellationToken,
) {
    let mut advisories = match bus.client.subscribe(subject(stream, consumer)).await {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, consumer, "cannot watch MAX_DELIVERIES advisories");
            return;
        }
    };
    let publisher = bus.publisher();
    loop {
        let message = tokio::select! {
            _ = token.cancelled() => break,
            m = advisories.next() => match m { Some(m) => m, None => break },
        };
        let advisory: Advisory = match serde_json::from_slice(&message.payload) {
            Ok(a) => a,
            Err(err) => {
                tracing::warn!(error = %err, "unreadable MAX_DELIVERIES advisory");
                continue;
            }
        };
        let original = match bus.stream(&advisory.stream).await {
            Ok(s) => s.get_raw_message(advisory.stream_seq).await.ok(),
            Err(_) => None,
        };
        let error = format!(
            "JetStream gave up after {} deliveries (consumer {}, max_deliver reached)",
            advisory.deliveries, advisory.consumer
        );
        let letter = match &original {
            Some(m) => DeadLetter::new(
                stage,
                Reason::MaxDeliveries,
                &error,
                advisory.deliveries,
                &m.subject,
                &m.payload,
            )
            .with_history_of(Some(&m.headers)),
            None => {
                tracing::error!(sequence = advisory.stream_seq, stream = %advisory.stream, "event given up on is no longer in its stream");
                DeadLetter::new(
                    stage,
                    Reason::MaxDeliveries,
                    &format!("{error}; the event was no longer in {}", advisory.stream),
                    advisory.deliveries,
                    &format!("{}#{}", advisory.stream, advisory.stream_seq),
                    b"",
                )
            }
        };
        let msg_id = format!("dlq:{}:{}", stage.as_str(), advisory.stream_seq);
        match letter.publish(&publisher, &msg_id).await {
            Ok(stored) if !stored.duplicate => rae_core::telemetry::EventDeadLettered {
                event_id: letter.event_id(),
                stage,
                reason: Reason::MaxDeliveries,
                error: &letter.error,
                attempts: letter.attempts,
            }
            .emit(),
            Ok(_) => {}
            Err(err) => {
                // The advisory is not repeated: say loudly which event is only in its stream.
                tracing::error!(event_id = letter.event_id(), error = %err, sequence = advisory.stream_seq, stream = %advisory.stream, "dead letter for an event JetStream gave up on was not stored; it stays in its stream");
            }
        }
    }
}
