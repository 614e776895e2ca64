//! The RAE writer: reads `rae.enriched.>` from `RAE_ENRICHED` and stores each event in RAE.
//! Acks only after RAE accepted the event; retries transient failures with
//! exponential backoff and full jitter (raised to `Retry-After`, capped); dead-letters other 4xx
//! answers at once with RAE's body; and stops pulling while RAE is down (see [`breaker`]).

pub mod breaker;
pub mod classify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{AckKind, Message};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate as consumers;
use rae_core::bus::{Bus, BusError, Publisher};
use rae_core::config::{Config, WriterConfig};
use rae_core::dead_letter::{Reason, Stage};
use rae_core::event::Event;
use rae_core::event::Limits;
use rae_core::forget::{self, Selector};
use rae_core::journal::{Begun, WriteJournal};
use rae_core::memory_record::{MemoryRecord, MemoryRecords};
use rae_core::rae::Deleted;
use rae_core::rae::{Lookup, RaeClient, RaeError, Stored};
use rae_core::telemetry::{EventRetried, MemoryForgotten, RaeWrite, WriteReconciled};

use breaker::Breaker;
use classify::Outcome;

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Client(#[from] rae_core::rae::ClientError),
}

/// A ready writer.
pub struct Writer {
    consumer: async_nats::jetstream::consumer::PullConsumer,
    shared: Arc<Shared>,
}

struct Shared {
    rae: RaeClient,
    publisher: Publisher,
    breaker: Arc<Breaker>,
    config: WriterConfig,
    limits: Limits,
    journal: WriteJournal,
    records: MemoryRecords,
}

impl Writer {
    /// RAE's health as the writer sees it.
    pub fn rae_health(&self) -> rae_core::rae::RaeHealth {
        self.shared.breaker.health()
    }

    /// Creates (or updates) the durable consumer and the RAE client.
    ///
    /// # Errors
    /// [`BuildError`] when the consumer or the HTTP client cannot be made.
    pub async fn build(config: &Config, bus: &Bus) -> Result<Writer, BuildError> {
        let settings = consumers::StageSettings {
            ack_wait: Duration::from_secs(config.writer.ack_wait_secs),
            concurrency: config.writer.concurrency,
            max_deliveries: config.writer.max_deliveries,
        };
        let consumer = consumers::stage_consumer(bus, Stage::Write, settings).await?;
        let rae = RaeClient::new(&config.rae, &config.tenants).map_err(BuildError::Client)?;
        Ok(Writer {
            consumer,
            shared: Arc::new(Shared {
                rae,
                publisher: bus.publisher(),
                breaker: Arc::new(Breaker::new(
                    &config.writer,
                    Duration::from_millis(config.rae.timeout_ms) + Duration::from_secs(3),
                )),
                config: config.writer.clone(),
                limits: config.limits.limits(),
                journal: bus.write_journal().await?,
                records: bus.memory_records().await?,
            }),
        })
    }

    /// Runs until `token` is cancelled, then finishes the writes in flight.
    pub async fn run(self, token: CancellationToken) {
        let bus = self.shared.publisher.bus().clone();
        let probing = watch_health(
            self.shared.rae.clone(),
            self.shared.breaker.health(),
            token.clone(),
        );
        let shared = self.shared;
        let gate = shared.breaker.clone();
        let concurrency = shared.config.concurrency;
        let handle = move |message: Message| {
            let shared = shared.clone();
            async move { shared.handle(message).await }
        };
        let writing = consumers::run_stage(
            &bus,
            Stage::Write,
            self.consumer,
            concurrency,
            gate,
            handle,
            token,
        );
        tokio::join!(writing, probing);
    }
}

/// A 4xx that says RAE has no list route for us (not a retryable or settings failure).
fn cannot_list(status: u16) -> bool {
    (400..500).contains(&status) && ![401, 403, 404, 408, 429].contains(&status)
}

/// How often RAE's health route is checked while it answers, and while it does not.
const HEALTH_EVERY: Duration = Duration::from_secs(30);
const HEALTH_RETRY: Duration = Duration::from_secs(2);

/// Checks RAE's health route at start and then periodically, so `/api/v1/integrations/health`
/// knows RAE's state before the first write and an unreachable RAE is said at start, naming
/// the URL and the error. Each change is logged once.
async fn watch_health(rae: RaeClient, health: rae_core::rae::RaeHealth, token: CancellationToken) {
    let mut last: Option<bool> = None;
    loop {
        let outcome = tokio::select! {
            biased;
            () = token.cancelled() => return,
            outcome = rae.check_health() => outcome,
        };
        let reachable = outcome.is_ok();
        match (&outcome, last) {
            (Err(error), Some(true) | None) => {
                tracing::warn!(url = %rae.health_url(), error = %error, "RAE is not reachable");
            }
            (Ok(()), Some(false)) => {
                tracing::info!(url = %rae.health_url(), "RAE is reachable again");
            }
            _ => {}
        }
        last = Some(reachable);
        health.checked(outcome);
        let wait = if reachable {
            HEALTH_EVERY
        } else {
            HEALTH_RETRY
        };
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// What the journal and, when needed, RAE said about a message before writing it.
enum Settle {
    /// Write it.
    Write,
    /// Stored before: acked without writing.
    Done,
    /// Not settled now (the journal is unavailable): naked for later.
    Later,
    /// RAE could not be asked whether an earlier write of it is there: handled like a failed
    /// write (retried, breaker).
    LookupFailed(rae_core::rae::RaeError),
}

impl Shared {
    /// Settles a message whose earlier write may have reached RAE: by the journal's memory id,
    /// else by looking for the event in RAE; acks what is stored already.
    async fn settle(&self, message: &Message, msg_id: &str, event: &Event) -> Settle {
        let reconciled = |outcome| {
            WriteReconciled {
                event_id: &event.id,
                outcome,
            }
            .emit();
        };
        match self.journal.begin(msg_id).await {
            Ok(Begun::First) => return Settle::Write,
            Ok(Begun::Stored(_)) => reconciled("journal"),
            Ok(Begun::Unfinished) => match self.rae.find_event(event).await {
                Ok(Lookup::Found(memory)) => {
                    // The earlier write worked: as good a sign of a working RAE as a write.
                    self.breaker.success();
                    reconciled("found");
                    tokio::join!(
                        self.journal.stored(msg_id, &memory),
                        self.record(event, &memory)
                    );
                }
                Ok(Lookup::Absent) => {
                    reconciled("absent");
                    return Settle::Write;
                }
                Ok(Lookup::Undecided) => {
                    reconciled("undecided");
                    return Settle::Write;
                }
                // A RAE without the list route cannot settle it; RAE down is a failed write.
                Err(err) if err.status().is_some_and(cannot_list) => {
                    reconciled("undecided");
                    return Settle::Write;
                }
                Err(err) => return Settle::LookupFailed(err),
            },
            Err(err) => {
                tracing::warn!(event_id = %event.id, error = %err, "write journal unavailable; retrying later");
                let later = Duration::from_millis(self.config.backoff_max_ms);
                let _ = message.ack_with(AckKind::Nak(Some(later))).await;
                return Settle::Later;
            }
        }
        if let Err(err) = message.ack().await {
            tracing::warn!(event_id = %event.id, error = %err, "ack of an already stored event failed");
        }
        Settle::Done
    }

    /// Records which memory `event` became, for the event trace and forgetting. A failure is
    /// only logged: the memory is stored, and an unrecorded one can still be found in RAE by
    /// its `metadata.event_id`.
    async fn record(&self, event: &Event, memory: &str) {
        if let Err(err) = self.records.record(&MemoryRecord::of(event, memory)).await {
            tracing::warn!(event_id = %event.id, error = %err, "memory record not written");
        }
    }

    /// What a failed write or forget leads to: a dead letter at once for a refusal, else a
    /// retry after the delay, or a dead letter once the attempts are spent while RAE works for
    /// other events. `msg_id` is the journal's key of a write (none for a forget); `answered`
    /// says RAE answered with a status (so it did not store the event).
    async fn failed(
        &self,
        message: &Message,
        event: &Event,
        msg_id: Option<&str>,
        answered: bool,
        outcome: Outcome,
        started: Instant,
    ) {
        let attempt = consumers::attempt(message);
        match outcome {
            Outcome::Done { .. } => {}
            Outcome::Reject { reason, error } => {
                self.breaker.success();
                RaeWrite {
                    event_id: &event.id,
                    outcome: "rejected",
                    elapsed: started.elapsed(),
                    end_to_end: None,
                }
                .emit();
                consumers::dead_letter(&self.publisher, message, Stage::Write, reason, &error)
                    .await;
            }
            Outcome::Retry {
                reason,
                delay,
                pause,
                error,
            } => {
                self.breaker.failure(reason, pause, &error);
                // RAE answered, so it did not store it: the next attempt needs no lookup.
                // After a timeout or a cut connection the outcome stays unknown.
                if let (true, Some(msg_id)) = (answered, msg_id) {
                    self.journal.forget(msg_id).await;
                }
                RaeWrite {
                    event_id: &event.id,
                    outcome: "retry",
                    elapsed: started.elapsed(),
                    end_to_end: None,
                }
                .emit();
                // Only failures while RAE works for other events count towards the limit; during
                // an outage (breaker open) events wait however long it takes.
                if attempt >= self.config.max_attempts && !self.breaker.is_open() {
                    return consumers::dead_letter(
                        &self.publisher,
                        message,
                        Stage::Write,
                        Reason::RetriesExhausted,
                        &error,
                    )
                    .await;
                }
                EventRetried {
                    event_id: &event.id,
                    stage: Stage::Write,
                    reason,
                    delay,
                }
                .emit();
                tracing::debug!(event_id = %event.id, error = %error, "rae write failed");
                let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
            }
        }
    }

    /// Deletes from RAE the memories `selector` names in the event's tenant, but the event's
    /// own, and marks each record forgotten at once, so a retry deletes nothing twice.
    async fn forget(&self, event: &Event, selector: &Selector) -> Result<usize, ForgetError> {
        let records = self
            .records
            .find(&event.tenant, selector)
            .await
            .map_err(ForgetError::Record)?;
        let mut deleted = 0;
        for record in records
            .iter()
            .filter(|r| r.deletable() && r.event_id != event.id)
        {
            let outcome = match self.rae.delete(&record.tenant, &record.memory_id).await {
                Ok(Deleted::Deleted) => "deleted",
                Ok(Deleted::Absent) => "absent",
                Err(err) => return Err(ForgetError::Rae(err)),
            };
            self.records
                .forgotten(&record.event_id)
                .await
                .map_err(ForgetError::Record)?;
            MemoryForgotten {
                by: &event.id,
                event_id: &record.event_id,
                memory_id: &record.memory_id,
                source: &record.source,
                outcome,
            }
            .emit();
            deleted += 1;
        }
        Ok(deleted)
    }

    async fn handle(&self, message: Message) {
        let attempt = consumers::attempt(&message);
        let Some(event) =
            consumers::read_event(&self.publisher, &message, Stage::Write, &self.limits).await
        else {
            return;
        };
        let started = Instant::now();
        // A forget, or an edit replacing what it names: the deletes come first, so an edit
        // whose store then fails leaves no stale memory behind, and its retry deletes nothing
        // again.
        if let Some(selector) = forget::selector(&event) {
            match self.forget(&event, &selector).await {
                Ok(count) if forget::only_forgets(&event) => {
                    tracing::info!(event_id = %event.id, selector = %selector.describe(), count, "forget done");
                    if let Err(err) = message.ack().await {
                        tracing::warn!(event_id = %event.id, error = %err, "ack of a forget failed; its redelivery finds the memories forgotten");
                    }
                    return;
                }
                Ok(_) => {}
                Err(ForgetError::Record(err)) => {
                    tracing::warn!(event_id = %event.id, error = %err, "memory record unavailable; retrying the forget later");
                    let later = Duration::from_millis(self.config.backoff_max_ms);
                    let _ = message.ack_with(AckKind::Nak(Some(later))).await;
                    return;
                }
                Err(ForgetError::Rae(err)) => {
                    let answered = err.status().is_some();
                    let outcome =
                        classify::classify(&Err(err), attempt, &self.config, rand::random::<f64>());
                    return self
                        .failed(&message, &event, None, answered, outcome, started)
                        .await;
                }
            }
        }
        // The journal's key: the message id, so a backfill or replay (a new id) writes again.
        let msg_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(rae_core::headers::MSG_ID))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|| event.id.clone());
        let result = match self.settle(&message, &msg_id, &event).await {
            Settle::Write => self.rae.store(&event).await,
            Settle::Done | Settle::Later => return,
            Settle::LookupFailed(err) => Err(err),
        };
        let outcome = classify::classify(&result, attempt, &self.config, rand::random::<f64>());
        match outcome {
            Outcome::Done { duplicate } => {
                self.breaker.success();
                let memory = match &result {
                    Ok(Stored::Memory(id)) => id.as_str(),
                    _ => "duplicate",
                };
                let end_to_end = (OffsetDateTime::now_utc() - event.received_at)
                    .try_into()
                    .ok();
                RaeWrite {
                    event_id: &event.id,
                    outcome: if duplicate { "duplicate" } else { "stored" },
                    elapsed: started.elapsed(),
                    end_to_end,
                }
                .emit();
                // Both at once: a redelivery (the ack lost) finds the memory id; a crash before
                // either leaves "started", which a redelivery settles by asking RAE.
                let (acked, (), ()) = tokio::join!(
                    message.ack(),
                    self.journal.stored(&msg_id, memory),
                    self.record(&event, memory)
                );
                if let Err(err) = acked {
                    tracing::warn!(event_id = %event.id, error = %err, "ack after store failed; the journal keeps RAE from seeing the event again");
                }
            }
            failure => {
                let answered = result.as_ref().err().and_then(RaeError::status).is_some();
                self.failed(&message, &event, Some(&msg_id), answered, failure, started)
                    .await
            }
        }
    }
}

/// Why a forget did not finish.
enum ForgetError {
    /// The memory record could not be read or marked: retried later.
    Record(BusError),
    /// RAE did not delete a memory: retried or dead-lettered like a write.
    Rae(RaeError),
}
