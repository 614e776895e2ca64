//! Dead letters: what a stage could not deliver, with the reason, kept browsable in
//! `RAE_DLQ`, and the operations on them (list, replay, purge) behind `rae-pipeline dlq`.

use async_nats::jetstream::consumer;
use async_nats::HeaderMap;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::bus::{header_value, Bus, BusError, PublishError, Publisher, Stored};
use crate::reader::StreamReader;
use crate::text::clip_chars;
use crate::{headers, subjects};

/// The stage that gave up on an event; its input subject is where a replay goes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Enrich,
    Write,
    // The ingress, for a body its integration's `mapping` could not turn into an event. Not
    // replayable: fix the mapping (`rae-pipeline mapping test`) and have the sender deliver
    // again. (A plain comment: a doc comment would make the schema's enum a `oneOf`.)
    Ingress,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Enrich => "enrich",
            Stage::Write => "write",
            Stage::Ingress => "ingress",
        }
    }

    /// The reasons this stage dead-letters an event for.
    pub const fn dead_letter_reasons(self) -> &'static [Reason] {
        match self {
            Stage::Enrich => &[Reason::InvalidEvent, Reason::MaxDeliveries],
            Stage::Write => &[
                Reason::InvalidEvent,
                Reason::RaeRejected,
                Reason::RetriesExhausted,
                Reason::MaxDeliveries,
            ],
            Stage::Ingress => &[Reason::MappingFailed],
        }
    }

    /// The stream the stage reads.
    pub const fn input_stream(self) -> &'static str {
        match self {
            Stage::Enrich | Stage::Ingress => subjects::EVENTS_STREAM,
            Stage::Write => subjects::ENRICHED_STREAM,
        }
    }

    /// The subjects of its input stream that the stage takes.
    pub const fn input_filter(self) -> &'static str {
        match self {
            Stage::Enrich | Stage::Ingress => subjects::EVENTS_ALL,
            Stage::Write => subjects::ENRICHED_ALL,
        }
    }

    /// The name of the stage's durable consumer, shared by all its replicas (the ingress has
    /// none: it publishes to the events stream, named here as its input).
    pub const fn consumer(self) -> &'static str {
        match self {
            Stage::Enrich | Stage::Ingress => subjects::ENRICHER_CONSUMER,
            Stage::Write => subjects::WRITER_CONSUMER,
        }
    }

    /// The component that runs the stage, its `component` log field.
    pub const fn component(self) -> &'static str {
        match self {
            Stage::Enrich => "enricher",
            Stage::Write => "rae_writer",
            Stage::Ingress => "ingress",
        }
    }

    /// The subject the stage reads, for an event of this tenant, source and kind.
    pub fn input_subject(self, tenant: &str, source: &str, kind: &str) -> String {
        match self {
            Stage::Enrich | Stage::Ingress => subjects::event(tenant, source, kind),
            Stage::Write => subjects::enriched(tenant, source, kind),
        }
    }
}

/// Why a stage failed an attempt at an event, or gave it up: a closed set, the `reason` label
/// of the retry and dead-letter metrics and the `Rae-Dlq-Reason` of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The event is not `event.v1` JSON or breaks a limit (dead letter at once).
    InvalidEvent,
    /// The enricher could not publish the enriched event (retried).
    PublishFailed,
    /// RAE could not be reached (retried).
    RaeUnreachable,
    /// RAE did not answer in time (retried).
    RaeTimeout,
    /// RAE answered 429 (retried after its `Retry-After`).
    RaeThrottled,
    /// RAE answered 408 or 5xx (retried).
    RaeUnavailable,
    /// RAE answered a redirect, 401, 403 or 404: our settings are wrong (retried until fixed).
    RaeMisconfigured,
    /// RAE refused the event for good (other 4xx; dead letter at once with its answer).
    RaeRejected,
    /// Retried `writer.max_attempts` times while RAE accepted other events.
    RetriesExhausted,
    /// JetStream gave up after the consumer's `max_deliver`.
    MaxDeliveries,
    /// A webhook integration's `mapping` failed on a body (dead letter at once, at the ingress).
    MappingFailed,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidEvent => "invalid_event",
            Reason::PublishFailed => "publish_failed",
            Reason::RaeUnreachable => "rae_unreachable",
            Reason::RaeTimeout => "rae_timeout",
            Reason::RaeThrottled => "rae_throttled",
            Reason::RaeUnavailable => "rae_unavailable",
            Reason::RaeMisconfigured => "rae_misconfigured",
            Reason::RaeRejected => "rae_rejected",
            Reason::RetriesExhausted => "retries_exhausted",
            Reason::MaxDeliveries => "max_deliveries",
            Reason::MappingFailed => "mapping_failed",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dead letter as stored in `RAE_DLQ`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    pub stage: Stage,
    /// Reason code: `invalid_event`, `rae_rejected`, `retries_exhausted`, ...
    pub reason: String,
    /// The last error, as the failing side said it.
    pub error: String,
    pub attempts: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub first_failed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub last_failed_at: OffsetDateTime,
    /// The subject the original was read from.
    pub subject: String,
    /// The original payload: the event JSON, or a string when it was not JSON.
    pub event: Value,
    /// Earlier failures of the same event, when it failed again after a replay; oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<PastFailure>,
}

/// One earlier dead letter of an event that was replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PastFailure {
    pub stage: Stage,
    pub reason: String,
    pub error: String,
    pub attempts: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub failed_at: OffsetDateTime,
    /// Its sequence in `RAE_DLQ` (deleted by the replay).
    pub dlq_sequence: u64,
}

/// Most earlier failures carried along; older ones are dropped.
const MAX_HISTORY: usize = 10;

/// Longest error text kept in a history entry.
const MAX_HISTORY_ERROR: usize = 300;

impl DeadLetter {
    /// Builds a dead letter for `payload`, read from `subject`, that failed now.
    pub fn new(
        stage: Stage,
        reason: Reason,
        error: &str,
        attempts: u64,
        subject: &str,
        payload: &[u8],
    ) -> DeadLetter {
        let now = OffsetDateTime::now_utc();
        let event = serde_json::from_slice(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
        DeadLetter {
            stage,
            reason: reason.as_str().to_owned(),
            error: error.to_owned(),
            attempts,
            first_failed_at: now,
            last_failed_at: now,
            subject: subject.to_owned(),
            event,
            history: Vec::new(),
        }
    }

    /// Takes the history a replayed message carries (its [`headers::DLQ_HISTORY`] header).
    pub fn with_history_of(mut self, message_headers: Option<&HeaderMap>) -> DeadLetter {
        if let Some(text) = message_headers
            .and_then(|h| h.get(headers::DLQ_HISTORY))
            .map(|v| v.as_str())
        {
            match serde_json::from_str::<Vec<PastFailure>>(text) {
                Ok(history) => self.history = history,
                Err(err) => tracing::warn!(error = %err, "unreadable dead-letter history dropped"),
            }
        }
        self
    }

    /// The history a replay of this dead letter (stored at `sequence`) carries.
    pub fn history_for_replay(&self, sequence: u64) -> Vec<PastFailure> {
        let error = clip_chars(&self.error, MAX_HISTORY_ERROR).into_owned();
        let mut history = self.history.clone();
        history.push(PastFailure {
            stage: self.stage,
            reason: self.reason.clone(),
            error,
            attempts: self.attempts,
            failed_at: self.last_failed_at,
            dlq_sequence: sequence,
        });
        let excess = history.len().saturating_sub(MAX_HISTORY);
        history.drain(..excess);
        history
    }

    fn field(&self, name: &str) -> &str {
        self.event.get(name).and_then(Value::as_str).unwrap_or("")
    }

    pub fn event_id(&self) -> &str {
        self.field("id")
    }
    pub fn tenant(&self) -> &str {
        self.field("tenant")
    }
    pub fn source(&self) -> &str {
        self.field("source")
    }
    pub fn kind(&self) -> &str {
        self.field("kind")
    }

    /// The first characters of the content, on one line.
    pub fn preview(&self, chars: usize) -> String {
        let text = match &self.event {
            Value::String(s) => s.as_str(),
            other => other.get("content").and_then(Value::as_str).unwrap_or(""),
        };
        let one_line: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        clip_chars(&one_line, chars).into_owned()
    }

    /// Stores the dead letter and awaits the ack; `msg_id` keeps a redelivered original from
    /// being dead-lettered twice.
    ///
    /// # Errors
    /// [`PublishError`] when JetStream does not take it; the caller must not ack the original.
    pub async fn publish(
        &self,
        publisher: &Publisher,
        msg_id: &str,
    ) -> Result<Stored, PublishError> {
        let subject = subjects::dead_letter(self.stage.as_str(), self.tenant(), self.source());
        let mut headers = HeaderMap::new();
        headers.insert(headers::TENANT, header_value(self.tenant()));
        headers.insert(headers::SOURCE, header_value(self.source()));
        headers.insert(headers::DLQ_STAGE, self.stage.as_str());
        headers.insert(headers::DLQ_REASON, header_value(&self.reason));
        headers.insert(headers::DLQ_ATTEMPTS, self.attempts.to_string().as_str());
        let payload = Bytes::from(serde_json::to_vec(self).unwrap_or_default());
        publisher.publish(&subject, headers, msg_id, payload).await
    }
}

/// Which dead letters an operation applies to; all given conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A DLQ sequence number or an event id.
    pub id: Option<String>,
    pub stage: Option<Stage>,
    pub reason: Option<String>,
    pub source: Option<String>,
    pub tenant: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

impl Filter {
    /// True when the filter names something, so it does not select every dead letter. `replay`
    /// and `purge` refuse an empty filter unless asked for everything.
    pub fn is_narrowed(&self) -> bool {
        self.id.is_some()
            || self.stage.is_some()
            || self.reason.is_some()
            || self.source.is_some()
            || self.tenant.is_some()
            || self.since.is_some()
            || self.until.is_some()
    }

    pub fn matches(&self, sequence: u64, letter: &DeadLetter) -> bool {
        let id_ok = self
            .id
            .as_deref()
            .is_none_or(|id| id == sequence.to_string() || id == letter.event_id());
        id_ok
            && self.stage.is_none_or(|s| s == letter.stage)
            && self.reason.as_deref().is_none_or(|r| r == letter.reason)
            && self.source.as_deref().is_none_or(|s| s == letter.source())
            && self.tenant.as_deref().is_none_or(|t| t == letter.tenant())
            && self.since.is_none_or(|t| letter.last_failed_at >= t)
            && self.until.is_none_or(|t| letter.last_failed_at < t)
    }
}

impl Filter {
    /// The subjects of `RAE_DLQ` that can hold a match (`rae.dlq.<stage>.<tenant>.<source>`
    /// with `*` for what the filter leaves open), so the server skips the others.
    pub fn subject(&self) -> String {
        let token = |value: Option<&str>| value.map_or("*".to_owned(), subjects::token);
        format!(
            "rae.dlq.{}.{}.{}",
            token(self.stage.map(Stage::as_str)),
            token(self.tenant.as_deref()),
            token(self.source.as_deref())
        )
    }
}

/// A dead letter and its sequence in `RAE_DLQ` (its id for `dlq show/replay/purge`).
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub sequence: u64,
    #[serde(flatten)]
    pub letter: DeadLetter,
}

/// Reads the dead letters matching `filter`, oldest first, at most `limit`.
///
/// # Errors
/// [`BusError`] when the stream cannot be read.
pub async fn list(bus: &Bus, filter: &Filter, limit: usize) -> Result<Vec<Entry>, BusError> {
    let page = scan(bus, &Scan::new(filter, limit)).await?;
    Ok(page.entries)
}

/// What [`scan`] reads: the dead letters matching `filter` stored after sequence `after` and
/// at or before `up_to`, that `visible` lets through (an API key's tenants), at most `limit`.
pub struct Scan<'a> {
    pub filter: &'a Filter,
    /// Start after this sequence (0: from the first).
    pub after: u64,
    /// Stop after this sequence: a replay confirmed after a dry run touches only what the dry
    /// run counted, not what failed since.
    pub up_to: Option<u64>,
    pub limit: usize,
    pub visible: &'a (dyn Fn(&DeadLetter) -> bool + Sync),
}

impl<'a> Scan<'a> {
    /// Every dead letter matching `filter`, at most `limit`.
    pub fn new(filter: &'a Filter, limit: usize) -> Scan<'a> {
        Scan {
            filter,
            after: 0,
            up_to: None,
            limit,
            visible: &|_| true,
        }
    }
}

/// One page of dead letters, oldest first.
#[derive(Debug, Default)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Set when more match after the last entry: the `after` of the next page.
    pub next: Option<u64>,
}

/// Reads one page of dead letters: the server filters by subject (stage, tenant, source), the
/// rest of the filter is checked here. Reads one match past `limit` to know whether there is a
/// next page.
///
/// # Errors
/// [`BusError`] when the stream cannot be read.
pub async fn scan(bus: &Bus, scan: &Scan<'_>) -> Result<Page, BusError> {
    let mut page = Page::default();
    if scan.limit == 0 {
        return Ok(page);
    }
    let start = match scan.after {
        0 => consumer::DeliverPolicy::All,
        after => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: after.saturating_add(1),
        },
    };
    let Some(mut reader) =
        StreamReader::open_filtered(bus, subjects::DLQ_STREAM, start, &scan.filter.subject())
            .await?
    else {
        return Ok(page);
    };
    while let Some(message) = reader.next().await {
        let Ok(info) = message.info() else { break };
        let sequence = info.stream_sequence;
        if scan.up_to.is_some_and(|last| sequence > last) {
            break;
        }
        // The reason is in a header: a dead letter of another reason is skipped unparsed.
        let reason = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::DLQ_REASON))
            .map(|v| v.as_str());
        if let (Some(wanted), Some(reason)) = (&scan.filter.reason, reason) {
            if wanted != reason {
                continue;
            }
        }
        match serde_json::from_slice::<DeadLetter>(&message.payload) {
            Ok(letter) if scan.filter.matches(sequence, &letter) && (scan.visible)(&letter) => {
                if page.entries.len() == scan.limit {
                    page.next = page.entries.last().map(|e| e.sequence);
                    break;
                }
                page.entries.push(Entry { sequence, letter });
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(sequence, error = %err, "unreadable dead letter skipped"),
        }
    }
    Ok(page)
}

/// One dead letter by its sequence in `RAE_DLQ`; `None` when there is none (or the message
/// there is not a dead letter).
///
/// # Errors
/// [`BusError`] when the stream cannot be read.
pub async fn get(bus: &Bus, sequence: u64) -> Result<Option<Entry>, BusError> {
    use async_nats::jetstream::stream::RawMessageErrorKind;
    let stream = bus.stream(subjects::DLQ_STREAM).await?;
    match stream.get_raw_message(sequence).await {
        Ok(message) => Ok(serde_json::from_slice::<DeadLetter>(&message.payload)
            .ok()
            .map(|letter| Entry { sequence, letter })),
        Err(err) if err.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
        Err(err) => Err(BusError::jetstream(format!("dead letter {sequence}"), err)),
    }
}

/// The last sequence of `RAE_DLQ` now: a dry run's bound, so the action it confirms touches
/// only dead letters the dry run could count.
///
/// # Errors
/// [`BusError`] when the stream cannot be read.
pub async fn last_sequence(bus: &Bus) -> Result<u64, BusError> {
    let stream = bus.stream(subjects::DLQ_STREAM).await?;
    let info = stream
        .get_info()
        .await
        .map_err(|e| BusError::jetstream("RAE_DLQ info", e))?;
    Ok(info.state.last_sequence)
}

/// What to do with chosen dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Replay,
    Purge,
}

impl Operation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Replay => "replay",
            Operation::Purge => "purge",
        }
    }

    /// The past tense, for answers and logs (`replayed`, `purged`).
    pub const fn done(self) -> &'static str {
        match self {
            Operation::Replay => "replayed",
            Operation::Purge => "purged",
        }
    }

    /// Replays or purges one dead letter.
    ///
    /// # Errors
    /// [`PublishError`] when the republish or the deletion was not acked.
    pub async fn apply(self, bus: &Bus, entry: &Entry) -> Result<(), PublishError> {
        match self {
            Operation::Replay => replay(bus, entry).await.map(|_| ()),
            Operation::Purge => delete(bus, entry.sequence).await,
        }
    }
}

/// Puts a dead letter back on its stage's input subject, then deletes it from `RAE_DLQ`.
///
/// The republish gets a fresh `Nats-Msg-Id` (JetStream would drop a reuse of the event id as a
/// duplicate); the dead letter is deleted only after the republish is acked, so a failure in
/// between leaves it in place to replay again.
///
/// # Errors
/// [`PublishError`] when the republish is not acked, or the deletion failed.
pub async fn replay(bus: &Bus, entry: &Entry) -> Result<Stored, PublishError> {
    let letter = &entry.letter;
    if letter.stage == Stage::Ingress {
        return Err(PublishError::Refused {
            subject: subjects::DLQ_STREAM.to_owned(),
            message: format!(
                "dead letter {} is a body its webhook mapping could not map: fix the mapping (try it with `rae-pipeline mapping test`), then have the sender deliver it again, and purge this one",
                entry.sequence
            ),
        });
    }
    let subject = letter
        .stage
        .input_subject(letter.tenant(), letter.source(), letter.kind());
    let mut headers = HeaderMap::new();
    headers.insert(headers::SCHEMA, headers::SCHEMA_V1);
    headers.insert(headers::TENANT, header_value(letter.tenant()));
    headers.insert(headers::SOURCE, header_value(letter.source()));
    let history =
        serde_json::to_string(&letter.history_for_replay(entry.sequence)).unwrap_or_default();
    headers.insert(headers::DLQ_HISTORY, header_value(&history));
    let payload = match &letter.event {
        Value::String(raw) => Bytes::from(raw.clone().into_bytes()),
        event => Bytes::from(serde_json::to_vec(event).unwrap_or_default()),
    };
    let msg_id = format!("{}:replay:{}", letter.event_id(), entry.sequence);
    let stored = bus
        .publisher()
        .publish(&subject, headers, &msg_id, payload)
        .await?;
    delete(bus, entry.sequence).await?;
    Ok(stored)
}

/// Deletes one dead letter by sequence.
///
/// # Errors
/// [`PublishError::Refused`] when the stream refused the deletion.
pub async fn delete(bus: &Bus, sequence: u64) -> Result<(), PublishError> {
    let refused = |message: String| PublishError::Refused {
        subject: subjects::DLQ_STREAM.to_owned(),
        message,
    };
    let stream = bus
        .stream(subjects::DLQ_STREAM)
        .await
        .map_err(|e| refused(e.to_string()))?;
    stream
        .delete_message(sequence)
        .await
        .map(|_| ())
        .map_err(|e| refused(format!("cannot delete dead letter {sequence}: {e}")))
}

/// Number of dead letters in `RAE_DLQ` (the `rae_pipeline_dlq_messages` gauge).
///
/// # Errors
/// [`BusError`] when the stream cannot be read.
pub async fn depth(bus: &Bus) -> Result<u64, BusError> {
    let stream = bus.stream(subjects::DLQ_STREAM).await?;
    let info = stream
        .get_info()
        .await
        .map_err(|e| BusError::jetstream("RAE_DLQ info", e))?;
    Ok(info.state.messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_json_payload_is_kept_as_text() {
        let letter = DeadLetter::new(
            Stage::Enrich,
            Reason::InvalidEvent,
            "not json",
            1,
            "rae.events.x.y.z",
            b"{oops",
        );
        assert_eq!(letter.event, Value::String("{oops".into()));
        assert_eq!(letter.preview(3), "{o…");
    }

    #[test]
    fn filters_combine() {
        let payload =
            br#"{"id":"e1","tenant":"t","source":"webhook","kind":"note","content":"hello"}"#;
        let letter = DeadLetter::new(Stage::Write, Reason::RaeRejected, "422", 1, "s", payload);
        let all = Filter::default();
        assert!(all.matches(7, &letter));
        let by_id = Filter {
            id: Some("e1".into()),
            ..Filter::default()
        };
        assert!(by_id.matches(7, &letter));
        let by_seq = Filter {
            id: Some("7".into()),
            ..Filter::default()
        };
        assert!(by_seq.matches(7, &letter));
        let other_reason = Filter {
            reason: Some("invalid_event".into()),
            ..Filter::default()
        };
        assert!(!other_reason.matches(7, &letter));
        let stage = Filter {
            stage: Some(Stage::Enrich),
            ..Filter::default()
        };
        assert!(!stage.matches(7, &letter));
    }

    #[test]
    fn the_subject_narrows_what_the_filter_names() {
        assert_eq!(Filter::default().subject(), "rae.dlq.*.*.*");
        let filter = Filter {
            stage: Some(Stage::Write),
            tenant: Some("Acme Corp".into()),
            ..Filter::default()
        };
        assert_eq!(filter.subject(), "rae.dlq.write.acme_corp.*");
    }
}
