//! The enricher: reads `rae.events.>` from `RAE_EVENTS`, applies the rules of [`rules`] and
//! publishes the enriched event to `rae.enriched.<tenant>.<source>.<kind>`. It acks the input
//! only after the enriched event is acked by JetStream; an unreadable event becomes one dead
//! letter `invalid_event`.

pub mod llm;
pub mod personal;
#[cfg(test)]
mod ranking;
pub mod rules;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tokio_util::sync::CancellationToken;

use crate as consumers;
use rae_core::bus::{Bus, BusError, Publisher};
use rae_core::config::Config;
use rae_core::dead_letter::{Reason, Stage};
use rae_core::event::Limits;
use rae_core::subjects;
use rae_core::telemetry::{names, EventRetried};

/// A ready enricher.
pub struct Enricher {
    consumer: async_nats::jetstream::consumer::PullConsumer,
    shared: Arc<Shared>,
    concurrency: usize,
}

struct Shared {
    publisher: Publisher,
    rules: rules::Rules,
    llm: Option<llm::Llm>,
    limits: Limits,
    personal_data: personal::Policy,
    /// With `enrich.drop_repeats`: where repeats are recognized.
    repeats: Option<rae_core::repeats::Repeats>,
    /// `enrich.repeat_distance`.
    repeat_distance: u32,
}

/// Why the enricher could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Consumer(#[from] BusError),
    #[error(transparent)]
    Rule(#[from] rules::RuleError),
    #[error(transparent)]
    Llm(#[from] rae_core::rae::ClientError),
}

impl Enricher {
    /// Creates (or updates) the durable consumer.
    ///
    /// # Errors
    /// [`BuildError`] when the consumer cannot be created, a rule does not compile or the LLM
    /// client cannot be made.
    pub async fn build(config: &Config, bus: &Bus) -> Result<Enricher, BuildError> {
        let settings = consumers::StageSettings {
            ack_wait: Duration::from_secs(config.enrich.ack_wait_secs),
            concurrency: config.enrich.concurrency,
            max_deliveries: config.enrich.max_deliveries,
        };
        let consumer = consumers::stage_consumer(bus, Stage::Enrich, settings).await?;
        Ok(Enricher {
            consumer,
            shared: Arc::new(Shared {
                publisher: bus.publisher(),
                rules: rules::Rules::new(&config.enrich)?,
                llm: if config.enrich.llm.enabled {
                    Some(llm::Llm::new(&config.enrich.llm)?)
                } else {
                    None
                },
                limits: config.limits.limits(),
                personal_data: personal::Policy::new(&config.enrich),
                repeats: if config.enrich.drop_repeats {
                    Some(bus.repeats().await?)
                } else {
                    None
                },
                repeat_distance: config.enrich.repeat_distance,
            }),
            concurrency: config.enrich.concurrency,
        })
    }

    /// Runs until `token` is cancelled, then finishes the events in flight.
    pub async fn run(self, token: CancellationToken) {
        let bus = self.shared.publisher.bus().clone();
        let shared = self.shared;
        let handle = move |message: Message| {
            let shared = shared.clone();
            async move { shared.handle(message).await }
        };
        consumers::run_stage(
            &bus,
            Stage::Enrich,
            self.consumer,
            self.concurrency,
            Arc::new(consumers::Open),
            handle,
            token,
        )
        .await;
    }
}

impl Shared {
    /// The event judged by the rules, the personal-data policy and the LLM; `None` when it is
    /// not to be stored (acked here).
    async fn refine(
        &self,
        event: rae_core::event::Event,
        message: &Message,
    ) -> Option<rae_core::event::Event> {
        let mut enriched = self.rules.enrich(event, &self.limits);
        // Before the LLM, which would otherwise read what the policy removes.
        if !self.personal_data.apply(&mut enriched, &self.limits) {
            tracing::info!(event_id = %enriched.id, "personal data in the event: not stored (enrich.personal_data: drop)");
            self.audit_dropped(
                &enriched,
                "personal data (enrich.personal_data: drop)".into(),
            )
            .await;
            if let Err(err) = message.ack().await {
                tracing::warn!(event_id = %enriched.id, error = %err, "ack of a dropped event failed; it will be redelivered and dropped again");
            }
            return None;
        }
        // Before the LLM: a repeat is not worth a model call.
        if let Some(repeats) = &self.repeats {
            if let Some(first) = repeats.first(&enriched, self.repeat_distance).await {
                tracing::info!(event_id = %enriched.id, first = %first, "a repeat of an event stored within nats.repeat_window_secs: not stored (enrich.drop_repeats)");
                metrics::counter!(names::REPEATS, "source" => enriched.source.as_str())
                    .increment(1);
                self.audit_dropped(&enriched, format!("repeat of event {first}"))
                    .await;
                if let Err(err) = message.ack().await {
                    tracing::warn!(event_id = %enriched.id, error = %err, "ack of a repeat failed; it will be redelivered and found again");
                }
                return None;
            }
        }
        if let Some(llm) = &self.llm {
            llm.refine(&mut enriched, &self.limits).await;
        }
        Some(enriched)
    }

    /// Records in the audit stream (`rae.audit.<integration>.ignored`, seen by `tail --stage
    /// audit`) that the enricher did not pass `event` on, and why. A failure is only logged.
    async fn audit_dropped(&self, event: &rae_core::event::Event, reason: String) {
        let record = rae_core::audit::Record {
            at: time::OffsetDateTime::now_utc(),
            integration: event.integration.clone(),
            operation: Some("enrich".into()),
            outcome: rae_core::audit::Outcome::Ignored,
            reason: Some(reason),
            tenant: Some(event.tenant.clone()),
            key_id: None,
            event_id: Some(event.id.clone()),
            repeated: None,
            until: None,
        };
        if let Err(err) = rae_core::audit::store(&self.publisher, &record).await {
            tracing::warn!(event_id = %event.id, error = %err, "audit record of a dropped event not stored");
        }
    }

    async fn handle(&self, message: Message) {
        let sequence = consumers::stream_sequence(&message);
        let Some(event) =
            consumers::read_event(&self.publisher, &message, Stage::Enrich, &self.limits).await
        else {
            return;
        };
        // A forget passes as it is: nothing in it is stored, so nothing is judged, redacted or
        // dropped as a repeat.
        let enriched = if rae_core::forget::only_forgets(&event) {
            event
        } else {
            match self.refine(event, &message).await {
                Some(enriched) => enriched,
                None => return,
            }
        };
        let subject =
            subjects::enriched(&enriched.tenant, enriched.source.as_str(), &enriched.kind);
        // The id is stable across redeliveries of this input message, and new for a replayed
        // or backfilled copy of the same event.
        let msg_id = format!("{}:{}", enriched.id, sequence);
        // A replayed event keeps its failure history into the next stage.
        let mut carried = async_nats::HeaderMap::new();
        if let Some(history) = message
            .headers
            .as_ref()
            .and_then(|h| h.get(rae_core::headers::DLQ_HISTORY))
        {
            carried.insert(rae_core::headers::DLQ_HISTORY, history.clone());
        }
        match self
            .publisher
            .publish_event_with(&subject, &enriched, &msg_id, carried)
            .await
        {
            Ok(_) => {
                metrics::counter!(names::EVENTS_ENRICHED).increment(1);
                if let Err(err) = message.ack().await {
                    tracing::warn!(event_id = %enriched.id, error = %err, "ack failed; the event will be redelivered and deduplicated");
                }
            }
            Err(err) => {
                let delay = Duration::from_secs(1);
                EventRetried {
                    event_id: &enriched.id,
                    stage: Stage::Enrich,
                    reason: Reason::PublishFailed,
                    delay,
                }
                .emit();
                tracing::warn!(event_id = %enriched.id, error = %err, "enriched event not stored");
                let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
            }
        }
    }
}
