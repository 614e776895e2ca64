//! Backfill: runs stored events again through enrichment and writing (a new RAE, new rules).
//!
//! Reads `RAE_EVENTS` from `since` with an ordered consumer, up to the last message that was
//! there when the backfill started (so it never reads its own republished copies), and
//! republishes each matching event to its own subject with message id
//! `<event id>:backfill:<run id>`: the enricher takes it like a new event.

use std::time::Duration;

use async_nats::jetstream::consumer;
use futures::StreamExt;
use time::OffsetDateTime;

use rae_core::bus::{Bus, BusError, PublishError};
use rae_core::event::Event;
use rae_core::subjects;

/// Which stored events to run again.
#[derive(Debug, Clone)]
pub struct Selection {
    pub since: OffsetDateTime,
    pub until: Option<OffsetDateTime>,
    pub source: Option<String>,
    pub tenant: Option<String>,
    pub limit: Option<usize>,
    pub dry_run: bool,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Events read in the time range.
    pub read: usize,
    /// Events that matched and were republished (or would be, on a dry run).
    pub matched: usize,
    /// Messages that were not readable events (skipped).
    pub unreadable: usize,
}

/// Why a backfill stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("republishing event {id} failed after {done} were republished: {source}")]
    Publish {
        id: String,
        done: usize,
        #[source]
        source: PublishError,
    },
}

/// Runs the backfill; `on_event` is told of each matching event (for progress output).
///
/// # Errors
/// [`BackfillError`] when `RAE_EVENTS` cannot be read or a republish is not acked; what was
/// republished before stays republished.
pub async fn run(
    bus: &Bus,
    selection: &Selection,
    mut on_event: impl FnMut(&Event),
) -> Result<Report, BackfillError> {
    let stream = bus.stream(subjects::EVENTS_STREAM).await?;
    let info = stream
        .get_info()
        .await
        .map_err(|e| BusError::jetstream("RAE_EVENTS info", e))?;
    let last = info.state.last_sequence;
    let mut report = Report::default();
    if info.state.messages == 0 {
        return Ok(report);
    }
    let reader = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartTime {
                start_time: selection.since,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| BusError::jetstream("ordered consumer", e))?;
    let mut messages = reader
        .messages()
        .await
        .map_err(|e| BusError::jetstream("ordered consumer messages", e))?;
    let run_id = rae_core::event::new_id();
    let publisher = bus.publisher();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), messages.next()).await;
        let Ok(Some(Ok(message))) = next else { break };
        let Ok(info) = message.info() else { break };
        let (sequence, pending, published) = (info.stream_sequence, info.pending, info.published);
        if sequence > last || selection.until.is_some_and(|until| published >= until) {
            break;
        }
        report.read += 1;
        match serde_json::from_slice::<Event>(&message.payload) {
            Ok(event) if matches(&event, selection) => {
                report.matched += 1;
                on_event(&event);
                if !selection.dry_run {
                    let msg_id = format!("{}:backfill:{run_id}", event.id);
                    publisher
                        .publish_event(&message.subject, &event, &msg_id)
                        .await
                        .map_err(|source| BackfillError::Publish {
                            id: event.id.clone(),
                            done: report.matched - 1,
                            source,
                        })?;
                }
            }
            Ok(_) => {}
            Err(_) => report.unreadable += 1,
        }
        if pending == 0 || sequence >= last || selection.limit.is_some_and(|l| report.matched >= l)
        {
            break;
        }
    }
    Ok(report)
}

fn matches(event: &Event, selection: &Selection) -> bool {
    selection
        .source
        .as_deref()
        .is_none_or(|s| s == event.source.as_str())
        && selection
            .tenant
            .as_deref()
            .is_none_or(|t| t == event.tenant)
}
