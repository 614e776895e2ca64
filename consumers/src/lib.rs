//! Consumers: durable pull consumers with explicit acks that move events from one stream to the
//! next stage (the enricher) or into RAE (the writer).
//!
//! Both share [`pull_loop`]: it fetches only as many messages as it has free workers, so
//! concurrency is bounded and nothing sits in a client buffer while its ack timer runs; on
//! shutdown it stops fetching, hands back (naks) what arrived too late, and waits for the work
//! in flight.

pub mod advisories;
pub mod enricher;
pub mod rae_writer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{AckKind, Message};
use futures::StreamExt;
use rae_core::bus::{Bus, BusError};
use rae_core::dead_letter::{DeadLetter, Reason, Stage};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long one pull request waits for messages before a new one is sent.
const PULL_EXPIRES: Duration = Duration::from_secs(2);

/// Decides how many messages the loop may take now; the writer's breaker waits here.
pub trait Gate: Send + Sync {
    /// Waits until work may be taken and returns the most messages to take (at least 1).
    fn admit(&self, max: usize) -> impl Future<Output = usize> + Send;
    /// Told when a pull request came back empty, so a reserved probe slot can be released.
    fn idle(&self) {}
}

/// A gate that is always open.
pub struct Open;

impl Gate for Open {
    async fn admit(&self, max: usize) -> usize {
        max
    }
}

/// How a stage's durable consumer is set up (from its config section).
#[derive(Debug, Clone, Copy)]
pub struct StageSettings {
    pub ack_wait: Duration,
    pub concurrency: usize,
    /// JetStream's `max_deliver` backstop; 0 is unlimited.
    pub max_deliveries: u64,
}

/// Creates (or updates) the durable pull consumer of `stage` on its input stream.
///
/// # Errors
/// [`BusError`] when the server refuses the consumer.
pub async fn stage_consumer(
    bus: &Bus,
    stage: Stage,
    settings: StageSettings,
) -> Result<PullConsumer, BusError> {
    bus.durable_consumer(
        stage.input_stream(),
        stage.consumer(),
        stage.input_filter(),
        settings.ack_wait,
        // Room for the messages in flight plus those waiting for their retry delay.
        i64::try_from(settings.concurrency.saturating_mul(4)).unwrap_or(i64::MAX),
        settings.max_deliveries,
    )
    .await
}

/// Runs `stage`: the pull loop over `consumer` and, beside it, the watcher that turns JetStream's
/// `MAX_DELIVERIES` advisories into dead letters; returns when both have stopped after `token`.
pub async fn run_stage<G, H, F>(
    bus: &Bus,
    stage: Stage,
    consumer: PullConsumer,
    concurrency: usize,
    gate: Arc<G>,
    handle: H,
    token: CancellationToken,
) where
    G: Gate + 'static,
    H: Fn(Message) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let watcher = advisories::watch_max_deliveries(
        bus.clone(),
        stage.input_stream(),
        stage.consumer(),
        stage,
        token.clone(),
    );
    let pulling = pull_loop(
        stage.component(),
        consumer,
        concurrency,
        gate,
        handle,
        token,
    );
    tokio::join!(watcher, pulling);
}

/// Pulls from `consumer` and runs `handle` for each message, at most `concurrency` at once,
/// until `token` is cancelled; then waits for every handler in flight.
pub async fn pull_loop<G, H, F>(
    name: &'static str,
    consumer: PullConsumer,
    concurrency: usize,
    gate: Arc<G>,
    handle: H,
    token: CancellationToken,
) where
    G: Gate + 'static,
    H: Fn(Message) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let workers = Arc::new(Semaphore::new(concurrency));
    let tracker = TaskTracker::new();
    'fetching: loop {
        // A worker first, then the gate: the breaker may have opened while we waited for one.
        let first = tokio::select! {
            biased;
            _ = token.cancelled() => break,
            permit = workers.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
        };
        let allowed = tokio::select! {
            biased;
            _ = token.cancelled() => break,
            n = gate.admit(concurrency) => n.max(1),
        };
        let mut permits = vec![first];
        while permits.len() < allowed {
            match workers.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let batch = consumer
            .batch()
            .max_messages(permits.len())
            .expires(PULL_EXPIRES)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(component = name, error = %err, "pull request failed, retrying");
                gate.idle();
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        let mut received = 0usize;
        loop {
            let next = tokio::select! {
                biased;
                _ = token.cancelled() => {
                    // Messages of this pull that still arrive go back at once, so another
                    // replica (or the next start) takes them without waiting for ack_wait.
                    hand_back(&mut batch).await;
                    break 'fetching;
                }
                next = batch.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    received += 1;
                    let permit = permits.pop();
                    let handle = handle.clone();
                    // The handler's future is large (a RAE call, KV reads and writes):
                    // boxed, the task moves a pointer instead of copying it on each move.
                    tracker.spawn(async move {
                        Box::pin(handle(message)).await;
                        drop(permit);
                    });
                }
                Some(Err(err)) => {
                    tracing::debug!(component = name, error = %err, "pull batch ended");
                    break;
                }
                None => break,
            }
        }
        if received == 0 {
            gate.idle();
            // A pull that ended early with nothing (a 409 from the server, say) must not
            // turn into a tight loop.
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
    tracker.close();
    tracker.wait().await;
    tracing::info!(component = name, "consumer stopped");
}

async fn hand_back(batch: &mut async_nats::jetstream::consumer::pull::Batch) {
    // The pull stays open on the server until it expires; whatever it still delivers is
    // handed back so it is redelivered at once rather than after ack_wait.
    let deadline = tokio::time::sleep(PULL_EXPIRES);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            next = batch.next() => match next {
                Some(Ok(message)) => { let _ = message.ack_with(AckKind::Nak(None)).await; }
                _ => break,
            },
        }
    }
}

/// Delivery attempt of a message (1 for the first delivery).
pub fn attempt(message: &Message) -> u64 {
    message
        .info()
        .map(|i| i.delivered.max(1) as u64)
        .unwrap_or(1)
}

/// Stream sequence of a message, for stable derived ids.
pub fn stream_sequence(message: &Message) -> u64 {
    message.info().map(|i| i.stream_sequence).unwrap_or(0)
}

/// Stores `letter` in `RAE_DLQ`, then acks the original; if the dead letter is not stored the
/// original is naked so it comes back (nothing is acked before the next stage has it).
pub async fn dead_letter(
    publisher: &rae_core::bus::Publisher,
    message: &Message,
    stage: Stage,
    reason: Reason,
    error: &str,
) {
    let letter = DeadLetter::new(
        stage,
        reason,
        error,
        attempt(message),
        &message.subject,
        &message.payload,
    )
    .with_history_of(message.headers.as_ref());
    let msg_id = format!("dlq:{}:{}", stage.as_str(), stream_sequence(message));
    match letter.publish(publisher, &msg_id).await {
        Ok(_) => {
            rae_core::telemetry::EventDeadLettered {
                event_id: letter.event_id(),
                stage,
                reason,
                error: &letter.error,
                attempts: letter.attempts,
            }
            .emit();
            if let Err(err) = message.ack().await {
                tracing::warn!(event_id = letter.event_id(), error = %err, "ack after dead-lettering failed");
            }
        }
        Err(err) => {
            tracing::warn!(event_id = letter.event_id(), error = %err, "dead letter not stored, retrying");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
        }
    }
}

/// The event in `message`, or `None` after dead-lettering it as `invalid_event` (not JSON, not
/// `event.v1`, or breaking a limit): one pure check shared by every stage.
pub async fn read_event(
    publisher: &rae_core::bus::Publisher,
    message: &Message,
    stage: rae_core::dead_letter::Stage,
    limits: &rae_core::event::Limits,
) -> Option<rae_core::event::Event> {
    let error = match serde_json::from_slice::<rae_core::event::Event>(&message.payload) {
        Ok(event) => match event.validate(limits) {
            Ok(()) => return Some(event),
            Err(e) => e.to_string(),
        },
        Err(e) => format!("not an event.v1 payload: {e}"),
    };
    dead_letter(publisher, message, stage, Reason::InvalidEvent, &error).await;
    None
}
