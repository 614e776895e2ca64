//! Where one event went: accepted into `RAE_EVENTS` (and the ingress's audit record of it, with
//! the key), enriched into `RAE_ENRICHED` (rules and reasons), dead-lettered (why), and the
//! memory id RAE gave it. The console's event trace shows it.
//!
//! JetStream has no index by event id, so the streams are read with bounds: from the time the
//! id carries (a UUIDv7) or that a caller knows, less a margin, else the newest
//! [`SCAN_BOUND`] messages; at most [`SCAN_BOUND`] messages of each stream, matched by their
//! `Nats-Msg-Id` header without parsing the payloads. An event older than the bound is
//! reported as not found, with what was read.

use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::Message;
use serde_json::Value;
use time::OffsetDateTime;

use crate::bus::{Bus, BusError};
use crate::dead_letter::{self, Entry, Filter, Scan};
use crate::reader::StreamReader;
use crate::subjects;

/// Most messages read of one stream for one trace.
pub const SCAN_BOUND: u64 = 100_000;

/// How long before a known time a read starts (clocks and queues differ a little).
const MARGIN: Duration = Duration::from_secs(120);

/// One message found for the event.
#[derive(Debug, Clone)]
pub struct Found {
    pub stream: &'static str,
    pub sequence: u64,
    pub subject: String,
    /// Its `Nats-Msg-Id`.
    pub msg_id: String,
    /// When JetStream stored it.
    pub stored_at: OffsetDateTime,
    /// The payload as JSON (`null` when it is not JSON).
    pub payload: Value,
}

/// What the streams say about one event.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub id: String,
    /// The event as a producer published it.
    pub accepted: Option<Found>,
    /// The ingress's audit record of accepting it (HTTP producers only).
    pub audit: Option<Found>,
    /// The event as the enricher published it.
    pub enriched: Option<Found>,
    /// Its dead letters now in `RAE_DLQ`.
    pub dead_letters: Vec<Entry>,
    /// Messages read, for the page to say how far it looked.
    pub read: u64,
}

/// The time a UUIDv7 id was made.
pub fn id_time(id: &str) -> Option<OffsetDateTime> {
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    if uuid.get_version_num() != 7 {
        return None;
    }
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?)
        .ok()
        .map(|t| t + Duration::from_nanos(u64::from(nanos)))
}

/// Where a read of `stream` starts: `near` less a margin, else the newest [`SCAN_BOUND`].
async fn start(
    bus: &Bus,
    stream: &str,
    near: Option<OffsetDateTime>,
) -> Result<DeliverPolicy, BusError> {
    if let Some(t) = near {
        return Ok(DeliverPolicy::ByStartTime {
            start_time: t - MARGIN,
        });
    }
    let info = bus
        .stream(stream)
        .await?
        .get_info()
        .await
        .map_err(|e| BusError::jetstream(format!("{stream} info"), e))?;
    let first = info
        .state
        .last_sequence
        .saturating_sub(SCAN_BOUND - 1)
        .max(1);
    Ok(DeliverPolicy::ByStartSequence {
        start_sequence: first,
    })
}

/// The first message of `stream` (on `subject`) from `from` that `wanted` picks, reading at
/// most [`SCAN_BOUND`]; adds what it read to `read`.
async fn first(
    bus: &Bus,
    stream: &'static str,
    subject: &str,
    from: DeliverPolicy,
    read: &mut u64,
    wanted: impl Fn(&Message) -> bool,
) -> Result<Option<Found>, BusError> {
    let Some(mut reader) = StreamReader::open_filtered(bus, stream, from, subject).await? else {
        return Ok(None);
    };
    let mut count = 0;
    while let Some(message) = reader.next().await {
        count += 1;
        if wanted(&message) {
            *read += count;
            let Ok(info) = message.info() else {
                return Ok(None);
            };
            return Ok(Some(Found {
                stream,
                sequence: info.stream_sequence,
                subject: message.subject.to_string(),
                msg_id: msg_id(&message).unwrap_or_default().to_owned(),
                stored_at: info.published,
                payload: serde_json::from_slice(&message.payload).unwrap_or(Value::Null),
            }));
        }
        if count >= SCAN_BOUND {
            break;
        }
    }
    *read += count;
    Ok(None)
}

fn msg_id(message: &Message) -> Option<&str> {
    message
        .headers
        .as_ref()?
        .get(crate::headers::MSG_ID)
        .map(|v| v.as_str())
}

/// True for the event's own message id, or one a stage or a replay derived from it
/// (`<id>:<sequence>`, `<id>:replay:<sequence>`, `<id>:backfill:<run>`).
fn is_of(msg_id: &str, id: &str) -> bool {
    msg_id
        .strip_prefix(id)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

/// Finds where event `id` went. `tenant` narrows the reads to one tenant's subjects (a key's
/// only tenant); `near` is a time the caller knows the event was near (else the id's own, for
/// a UUIDv7).
///
/// # Errors
/// [`BusError`] when a stream cannot be read.
pub async fn find(
    bus: &Bus,
    id: &str,
    tenant: Option<&str>,
    near: Option<OffsetDateTime>,
) -> Result<Trace, BusError> {
    let mut trace = Trace {
        id: id.to_owned(),
        ..Trace::default()
    };
    let filter = Filter {
        id: Some(id.to_owned()),
        tenant: tenant.map(str::to_owned),
        ..Filter::default()
    };
    trace.dead_letters = dead_letter::scan(bus, &Scan::new(&filter, 20))
        .await?
        .entries;
    let near = near.or_else(|| id_time(id)).or_else(|| {
        trace
            .dead_letters
            .first()
            .and_then(|e| received_at(&e.letter.event))
    });
    let tenant_subject = |prefix: &str| match tenant {
        Some(t) => format!("{prefix}.{}.>", subjects::token(t)),
        None => format!("{prefix}.>"),
    };
    let from = start(bus, subjects::EVENTS_STREAM, near).await?;
    trace.accepted = first(
        bus,
        subjects::EVENTS_STREAM,
        &tenant_subject("rae.events"),
        from,
        &mut trace.read,
        |m| msg_id(m) == Some(id),
    )
    .await?;
    let Some(accepted) = &trace.accepted else {
        return Ok(trace);
    };
    let since = Some(accepted.stored_at);
    let from = start(bus, subjects::ENRICHED_STREAM, since).await?;
    trace.enriched = first(
        bus,
        subjects::ENRICHED_STREAM,
        &tenant_subject("rae.enriched"),
        from,
        &mut trace.read,
        |m| msg_id(m).is_some_and(|m| is_of(m, id)),
    )
    .await?;
    if let Some(integration) = accepted.payload["integration"].as_str() {
        let subject = format!("rae.audit.{}.*", subjects::token(integration));
        let from = start(bus, subjects::AUDIT_STREAM, since).await?;
        let needle = id.as_bytes();
        trace.audit = first(
            bus,
            subjects::AUDIT_STREAM,
            &subject,
            from,
            &mut trace.read,
            |m| {
                m.payload.windows(needle.len()).any(|w| w == needle)
                    && serde_json::from_slice::<Value>(&m.payload)
                        .is_ok_and(|r| r["event_id"].as_str() == Some(id))
            },
        )
        .await?;
    }
    Ok(trace)
}

fn received_at(event: &Value) -> Option<OffsetDateTime> {
    let text = event["received_at"].as_str()?;
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// An event found by what it points at.
#[derive(Debug, Clone)]
pub struct Match {
    pub id: String,
    pub kind: String,
    pub tenant: String,
    pub received_at: String,
}

/// The events among the newest [`SCAN_BOUND`] of `RAE_EVENTS` (of `tenant`, when given) whose
/// `url` is `url`, newest first, at most `limit`.
///
/// # Errors
/// [`BusError`] when the stream cannot be read.
pub async fn by_url(
    bus: &Bus,
    url: &str,
    tenant: Option<&str>,
    limit: usize,
) -> Result<Vec<Match>, BusError> {
    let subject = match tenant {
        Some(t) => format!("rae.events.{}.>", subjects::token(t)),
        None => subjects::EVENTS_ALL.to_owned(),
    };
    let from = start(bus, subjects::EVENTS_STREAM, None).await?;
    let mut found = Vec::new();
    let Some(mut reader) =
        StreamReader::open_filtered(bus, subjects::EVENTS_STREAM, from, &subject).await?
    else {
        return Ok(found);
    };
    let needle = url.as_bytes();
    let mut count = 0;
    while let Some(message) = reader.next().await {
        count += 1;
        if !needle.is_empty() && message.payload.windows(needle.len()).any(|w| w == needle) {
            if let Ok(event) = serde_json::from_slice::<Value>(&message.payload) {
                if event["url"].as_str() == Some(url) {
                    let text = |k: &str| event[k].as_str().unwrap_or("").to_owned();
                    found.push(Match {
                        id: text("id"),
                        kind: text("kind"),
                        tenant: text("tenant"),
                        received_at: text("received_at"),
                    });
                }
            }
        }
        if count >= SCAN_BOUND {
            break;
        }
    }
    found.reverse();
    found.truncate(limit);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_of_an_event_are_its_own_and_derived_ones() {
        assert!(is_of("e1", "e1"));
        assert!(is_of("e1:42", "e1"));
        assert!(is_of("e1:replay:7", "e1"));
        assert!(!is_of("e12", "e1"));
        assert!(!is_of("x", "e1"));
    }

    #[test]
    fn a_uuid_v7_says_when_it_was_made() {
        let id = crate::event::new_id();
        let made = id_time(&id).unwrap();
        assert!((OffsetDateTime::now_utc() - made).whole_seconds().abs() < 5);
        assert_eq!(id_time(&crate::event::derived_id("memory", "k")), None);
        assert_eq!(id_time("not an id"), None);
    }
}
