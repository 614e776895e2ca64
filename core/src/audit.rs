//! Audit records: every accept or reject decision of the ingress, written to
//! `RAE_AUDIT` as `rae.audit.<integration>.<outcome>`, never with secrets or bodies.
//!
//! Records go through a bounded queue to one background publisher, so auditing adds no round
//! trip to a request; when the queue is full the record is dropped, counted and logged (at most
//! once a second). The publisher keeps up to [`IN_FLIGHT`] publishes awaiting their acks at
//! once: one at a time it stored about 9k records a second, fewer than the ingress takes
//! requests (`docs/benchmarks.md`). Records are therefore stored about, not exactly, in the order
//! of their decisions; each carries its time `at`.
//!
//! Refusals are folded ([`Refusals`]): within a window of [`REFUSAL_WINDOW`], the first refusal
//! of one caller for one reason (and operation, where a route serves several) is stored at once
//! and the rest are counted into one summary record (`repeated`), so a flood of bad requests
//! costs a record per window, not one each.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bus::Publisher;
use crate::subjects;

const QUEUE: usize = 10_000;

/// Audit publishes awaiting their JetStream ack at once.
pub const IN_FLIGHT: usize = 256;

/// What was decided about a request: a closed set, the last token of its audit subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stored now.
    Accepted,
    /// Stored before (a redelivery, a repeated idempotency key).
    Duplicate,
    /// Authentic input that is not stored (an unhandled GitHub event, ...).
    Ignored,
    /// Answered without storing anything (a ping, a challenge, a search).
    Answered,
    /// Refused.
    Rejected,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Answered => "answered",
            Outcome::Rejected => "rejected",
        }
    }
}

/// One decision of the ingress about one request, one MCP call over HTTP, an erasure request
/// of the `forget` command, or an event the enricher did not pass on (operation `enrich`: a
/// repeat, personal data dropped) (or, with `repeated`, a summary of refusals folded into one
/// record). Never holds a key, a secret or a
/// body.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Record {
    /// When it was decided.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    /// The integration id the request went to (`memory`, `github`, `slack`, `api` for the
    /// memories API, `dlq` for the dead-letter routes, `mcp` for MCP over HTTP, ...).
    pub integration: String,
    /// What was asked, where a route serves several things: the MCP method and its tool,
    /// resource or prompt (`tools/call store_memory`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub outcome: Outcome,
    /// Error code of a rejection (`unauthorized`, `bad_request`, ...) or why input was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The tenant the request was for, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The id (from the config, never the key) of the API key the caller presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The id of the event stored (or found stored before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// On a summary of folded refusals: how many more like the one stored at `at` came, the
    /// last at `until`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeated: Option<u64>,
    /// On a summary of folded refusals: when the last of them came.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option",
        default
    )]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub until: Option<OffsetDateTime>,
}

/// Stores one record now and waits for its ack: for a decision outside the ingress (the
/// `forget` command), where no [`Auditor`] runs.
///
/// # Errors
/// [`crate::bus::PublishError`] when JetStream does not acknowledge it.
pub async fn store(publisher: &Publisher, record: &Record) -> Result<(), crate::bus::PublishError> {
    let subject = subjects::audit(&record.integration, record.outcome.as_str());
    let payload = Bytes::from(serde_json::to_vec(record).unwrap_or_default());
    let id = crate::event::new_id();
    publisher
        .publish(&subject, HeaderMap::new(), &id, payload)
        .await
        .map(|_| ())
}

/// How long refusals of one caller for one reason are folded into one summary.
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(10);
/// Callers folded at once; past it a refusal is stored on its own, as before folding.
const FOLDED_CALLERS: usize = 1_000;

/// Who was refused for what: the record without its time.
type RefusalKey = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Refusals of the current window, by caller and reason.
#[derive(Default)]
pub struct Refusals {
    groups: HashMap<RefusalKey, (Record, u64)>,
}

impl Refusals {
    /// The record to store now, if any: every record that is not a refusal, and the first
    /// refusal of its caller and reason in this window; later ones are only counted.
    pub fn admit(&mut self, record: Record) -> Option<Record> {
        if record.outcome != Outcome::Rejected {
            return Some(record);
        }
        let key = (
            record.integration.clone(),
            record.operation.clone(),
            record.reason.clone(),
            record.tenant.clone(),
            record.key_id.clone(),
        );
        if let Some((first, count)) = self.groups.get_mut(&key) {
            first.until = Some(record.at);
            *count += 1;
            return None;
        }
        if self.groups.len() < FOLDED_CALLERS {
            self.groups.insert(key, (record.clone(), 0));
        }
        Some(record)
    }

    /// Ends the window: one summary per caller and reason refused again after its first record.
    pub fn flush(&mut self) -> Vec<Record> {
        self.groups
            .drain()
            .filter(|(_, (_, count))| *count > 0)
            .map(|(_, (mut first, count))| {
                first.repeated = Some(count);
                first
            })
            .collect()
    }
}

/// Handle to the audit queue; cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    queue: mpsc::Sender<Record>,
    /// Unix second of the last "queue full" warning, so a flood logs once a second.
    full_warning: Arc<crate::telemetry::OncePerSecond>,
}

impl Auditor {
    /// Starts the background publisher; it drains the queue after `token` is cancelled.
    pub fn start(
        publisher: Publisher,
        token: CancellationToken,
    ) -> (Auditor, tokio::task::JoinHandle<()>) {
        let (queue, mut rx) = mpsc::channel::<Record>(QUEUE);
        let store = move |record: Record| {
            let publisher = publisher.clone();
            async move {
                if let Err(err) = store(&publisher, &record).await {
                    tracing::warn!(error = %err, integration = %record.integration, "audit record not stored");
                }
            }
        };
        let task = tokio::spawn(async move {
            let mut in_flight = FuturesUnordered::new();
            let mut refusals = Refusals::default();
            let mut window = tokio::time::interval(REFUSAL_WINDOW);
            window.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // After cancellation the queue is closed but still hands out what it holds.
            let (mut open, mut stopping) = (true, false);
            loop {
                tokio::select! {
                    biased;
                    _ = token.cancelled(), if !stopping => {
                        stopping = true;
                        rx.close();
                    }
                    Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                    _ = window.tick(), if open => {
                        in_flight.extend(refusals.flush().into_iter().map(&store));
                    }
                    record = rx.recv(), if open && in_flight.len() < IN_FLIGHT => match record {
                        Some(record) => in_flight.extend(refusals.admit(record).map(&store)),
                        None => {
                            open = false;
                            in_flight.extend(refusals.flush().into_iter().map(&store));
                        }
                    },
                    else => break,
                }
                if !open && in_flight.is_empty() {
                    break;
                }
            }
        });
        (
            Auditor {
                queue,
                full_warning: Arc::default(),
            },
            task,
        )
    }

    /// Queues a record without waiting.
    pub fn record(&self, record: Record) {
        if self.queue.try_send(record).is_err() {
            metrics::counter!(crate::telemetry::names::AUDIT_DROPPED).increment(1);
            self.full_warning.run(|| {
                tracing::warn!("audit queue full, records dropped (rae_pipeline_audit_dropped_total counts them)");
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(key_id: &str, at: i64) -> Record {
        Record {
            at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
            integration: "api".into(),
            operation: None,
            outcome: Outcome::Rejected,
            reason: Some("unauthorized".into()),
            tenant: None,
            key_id: Some(key_id.into()),
            event_id: None,
            repeated: None,
            until: None,
        }
    }

    #[test]
    fn refusals_of_one_caller_fold_into_one_summary_per_window() {
        let mut refusals = Refusals::default();
        assert!(refusals.admit(refusal("a", 1)).is_some());
        for at in 2..=50 {
            assert!(refusals.admit(refusal("a", at)).is_none());
        }
        assert!(refusals.admit(refusal("b", 3)).is_some());
        let accepted = Record {
            outcome: Outcome::Accepted,
            ..refusal("a", 4)
        };
        assert!(refusals.admit(accepted.clone()).is_some());
        assert!(refusals.admit(accepted).is_some());
        let summaries = refusals.flush();
        assert_eq!(summaries.len(), 1, "only a was refused again");
        assert_eq!(summaries[0].key_id.as_deref(), Some("a"));
        assert_eq!(summaries[0].repeated, Some(49));
        assert_eq!(summaries[0].at.unix_timestamp(), 1);
        assert_eq!(summaries[0].until.unwrap().unix_timestamp(), 50);
        // A new window stores the first refusal again.
        assert!(refusals.admit(refusal("a", 60)).is_some());
    }
}
