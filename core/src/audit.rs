//! Audit records: every accept or reject decision of the ingress, written to
//! `RAE_AUDIT` as `rae.audit.<integration>.<outcome>`, never with secrets or bodies.
//!
//! Records go through a bounded queue to one background publisher, so auditing adds no round
//! trip to a request; when the queue is full the record is dropped, counted and logged (at most
//! once a second). The publisher keeps up to [`IN_FLIGHT`] publishes awaiting their acks at
//! once: one at a time it stored about 9k records a second, fewer than the ingress takes
//! requests (`docs/benchmarks.md`). Records are therefore stored about, not exactly, in the order
//! of their decisions; each carries its time `at`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// One decision.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub integration: String,
    pub outcome: Outcome,
    /// Error code of a rejection (`unauthorized`, `bad_request`, ...) or why input was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// Handle to the audit queue; cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    queue: mpsc::Sender<Record>,
    /// Unix second of the last "queue full" warning, so a flood logs once a second.
    last_warning: Arc<AtomicU64>,
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
                let subject = subjects::audit(&record.integration, record.outcome.as_str());
                let payload = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
                let id = crate::event::new_id();
                if let Err(err) = publisher
                    .publish(&subject, HeaderMap::new(), &id, payload)
                    .await
                {
                    tracing::warn!(error = %err, integration = %record.integration, "audit record not stored");
                }
            }
        };
        let task = tokio::spawn(async move {
            let mut in_flight = FuturesUnordered::new();
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
                    record = rx.recv(), if open && in_flight.len() < IN_FLIGHT => match record {
                        Some(record) => in_flight.push(store(record)),
                        None => open = false,
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
                last_warning: Arc::new(AtomicU64::new(0)),
            },
            task,
        )
    }

    /// Queues a record without waiting.
    pub fn record(&self, record: Record) {
        if self.queue.try_send(record).is_err() {
            metrics::counter!(crate::telemetry::names::AUDIT_DROPPED).increment(1);
            let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
            if self.last_warning.swap(now, Ordering::Relaxed) != now {
                tracing::warn!("audit queue full, records dropped (rae_pipeline_audit_dropped_total counts them)");
            }
        }
    }
}
