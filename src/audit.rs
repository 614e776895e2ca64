//! Audit records (DESIGN §6, §9): every accept or reject decision of the ingress, written to
//! `RAE_AUDIT` as `rae.audit.<integration>.<outcome>`, never with secrets or bodies.
//!
//! Records go through a bounded queue to one background publisher, so auditing adds no round
//! trip to a request; when the queue is full the record is dropped, counted and logged.

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bus::Publisher;
use crate::subjects;

const QUEUE: usize = 10_000;

/// One decision.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub integration: String,
    /// `accepted`, `duplicate`, `ignored`, `answered` or `rejected`.
    pub outcome: &'static str,
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
}

impl Auditor {
    /// Starts the background publisher; it drains the queue after `token` is cancelled.
    pub fn start(
        publisher: Publisher,
        token: CancellationToken,
    ) -> (Auditor, tokio::task::JoinHandle<()>) {
        let (queue, mut rx) = mpsc::channel::<Record>(QUEUE);
        let task = tokio::spawn(async move {
            loop {
                let record = tokio::select! {
                    biased;
                    r = rx.recv() => r,
                    _ = token.cancelled() => { rx.close(); rx.recv().await }
                };
                let Some(record) = record else { break };
                let subject = subjects::audit(&record.integration, record.outcome);
                let payload = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
                let id = crate::event::new_id();
                if let Err(err) = publisher
                    .publish(&subject, HeaderMap::new(), &id, payload)
                    .await
                {
                    tracing::warn!(error = %err, integration = %record.integration, "audit record not stored");
                }
            }
        });
        (Auditor { queue }, task)
    }

    /// Queues a record without waiting.
    pub fn record(&self, record: Record) {
        if self.queue.try_send(record).is_err() {
            metrics::counter!(crate::telemetry::names::AUDIT_DROPPED).increment(1);
            tracing::warn!("audit queue full, record dropped");
        }
    }
}
