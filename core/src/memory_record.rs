//! The memory record (`rae_memories`): which RAE memory each event became.
//!
//! The writer records every event it stores ([`MemoryRecords::record`]): the event id, RAE's
//! memory id and the facts an operator or an erasure request looks an event up by (its URL, its
//! actor, its conversation). The console's event trace reads it by event id; forgetting (a
//! deletion at the source, `rae-pipeline forget`, the admin route) finds the memories to delete
//! by event id, URL, actor or conversation, and marks each record forgotten so nothing is
//! deleted twice. Records live as long as events (`nats.events_max_age_days`).
//!
//! Layout: `e.<event>` holds the record as JSON; `u.<digest>.<event>`, `a.<digest>.<event>`,
//! `s.<digest>.<event>` and `i.<digest>.<event>` are empty index keys for the URL, the actor,
//! the conversation and the source's item (the digest covers the tenant too), so a lookup reads only the matching keys, filtered by the
//! server, however many records the bucket holds.

use std::time::Duration;

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use time::OffsetDateTime;

use crate::bus::BusError;
use crate::event::{Event, ITEM, SESSION_ID};
use crate::subjects;

/// What the writer knows about one stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    pub event_id: String,
    /// RAE's memory id (`duplicate` when RAE called the write a repeat of recent content).
    pub memory_id: String,
    pub tenant: String,
    pub project: String,
    pub source: String,
    pub integration: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The source's own name of what the memory is about (attribute `item`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub written_at: OffsetDateTime,
    /// When the memory was deleted from RAE (a forget), if it was.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub forgotten_at: Option<OffsetDateTime>,
}

impl MemoryRecord {
    /// The record of `event`, stored in RAE as `memory_id` now.
    pub fn of(event: &Event, memory_id: &str) -> MemoryRecord {
        MemoryRecord {
            event_id: event.id.clone(),
            memory_id: memory_id.to_owned(),
            tenant: event.tenant.clone(),
            project: event.project.clone(),
            source: event.source.as_str().to_owned(),
            integration: event.integration.clone(),
            kind: event.kind.clone(),
            url: event.url.clone(),
            actor: event.actor.clone(),
            session_id: attribute(event, SESSION_ID),
            item: attribute(event, ITEM),
            written_at: OffsetDateTime::now_utc(),
            forgotten_at: None,
        }
    }

    /// Whether RAE holds a memory for it that can be deleted: stored under an id, not
    /// forgotten.
    pub fn deletable(&self) -> bool {
        self.forgotten_at.is_none() && self.memory_id != "duplicate" && self.memory_id != "None"
    }
}

/// The string attribute `name` of `event`.
fn attribute(event: &Event, name: &str) -> Option<String> {
    event
        .attributes
        .get(name)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// How a forget or a lookup names the records it means: by what, the value, and optionally
/// only those of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    pub by: By,
    pub value: String,
    /// Only records of this source (`slack`, `github`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What a [`Selector`] matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// One event id.
    Event,
    /// Every event with this URL, and, for a URL without a fragment, every event whose URL is
    /// this one with a fragment (a GitHub issue and its comments).
    Url,
    /// Every event of this actor.
    Actor,
    /// Every event of this conversation (`session_id`).
    Session,
    /// Every version of this thing at the source (attribute `item`: a Slack message).
    Item,
}

impl By {
    pub const fn as_str(self) -> &'static str {
        match self {
            By::Event => "event",
            By::Url => "url",
            By::Actor => "actor",
            By::Session => "session",
            By::Item => "item",
        }
    }
}

impl Selector {
    /// Records `by` `value`, of any source.
    pub fn new(by: By, value: impl Into<String>) -> Selector {
        Selector {
            by,
            value: value.into(),
            source: None,
        }
    }

    /// How it reads in a log line or an answer: `url https://...`, `actor ana (slack)`.
    pub fn describe(&self) -> String {
        match &self.source {
            Some(source) => format!("{} {} ({source})", self.by.as_str(), self.value),
            None => format!("{} {}", self.by.as_str(), self.value),
        }
    }

    /// Whether `record` is one it names (in any tenant: the caller checks that).
    pub fn matches(&self, record: &MemoryRecord) -> bool {
        let value = self.value.as_str();
        let by = match self.by {
            By::Event => record.event_id == value,
            By::Url => record.url.as_deref().is_some_and(|u| {
                u == value || u.split_once('#').is_some_and(|(page, _)| page == value)
            }),
            By::Actor => record.actor.as_deref() == Some(value),
            By::Session => record.session_id.as_deref() == Some(value),
            By::Item => record.item.as_deref() == Some(value),
        };
        by && self.source.as_deref().is_none_or(|s| s == record.source)
    }
}

/// How long a lookup waits for the next index key before it takes the index as read.
const IDLE: Duration = Duration::from_secs(5);
/// The most records one lookup returns; an erasure larger than this is done in rounds.
pub const MAX_MATCHES: usize = 10_000;

/// Handle to the `rae_memories` bucket; cheap to clone.
#[derive(Clone)]
pub struct MemoryRecords {
    store: kv::Store,
    js: async_nats::jetstream::Context,
}

impl MemoryRecords {
    pub(crate) fn new(store: kv::Store, js: async_nats::jetstream::Context) -> Self {
        MemoryRecords { store, js }
    }

    /// The record of `event_id`, if it was stored.
    ///
    /// # Errors
    /// [`BusError::JetStream`] when the bucket cannot be read.
    pub async fn get(&self, event_id: &str) -> Result<Option<MemoryRecord>, BusError> {
        let value = self
            .store
            .get(format!("e.{}", token(event_id)))
            .await
            .map_err(|e| BusError::jetstream(format!("{} get", subjects::MEMORIES_BUCKET), e))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Records `record` (and its index keys), replacing an earlier record of the same event.
    ///
    /// # Errors
    /// [`BusError::JetStream`] when the bucket cannot be written.
    pub async fn record(&self, record: &MemoryRecord) -> Result<(), BusError> {
        let event = token(&record.event_id);
        let json = serde_json::to_vec(record).expect("a record serializes");
        let mut keys = vec![(format!("e.{event}"), Bytes::from(json))];
        for (prefix, value) in [
            ("u", record.url.as_deref()),
            ("a", record.actor.as_deref()),
            ("s", record.session_id.as_deref()),
            ("i", record.item.as_deref()),
        ] {
            if let Some(value) = value {
                let digest = index_digest(&record.tenant, value);
                keys.push((format!("{prefix}.{digest}.{event}"), Bytes::new()));
            }
        }
        // A URL with a fragment is also found by the URL without it (an issue's comments by the
        // issue's URL).
        if let Some((page, _)) = record.url.as_deref().and_then(|u| u.split_once('#')) {
            let digest = index_digest(&record.tenant, page);
            keys.push((format!("u.{digest}.{event}"), Bytes::new()));
        }
        let puts = keys
            .into_iter()
            .map(|(key, value)| self.store.put(key, value));
        for put in futures::future::join_all(puts).await {
            put.map_err(|e| BusError::jetstream(format!("{} put", subjects::MEMORIES_BUCKET), e))?;
        }
        Ok(())
    }

    /// Marks the record of `event_id` forgotten now. A record that is gone is left alone.
    ///
    /// # Errors
    /// [`BusError::JetStream`] when the bucket cannot be read or written.
    pub async fn forgotten(&self, event_id: &str) -> Result<(), BusError> {
        let Some(mut record) = self.get(event_id).await? else {
            return Ok(());
        };
        record.forgotten_at = Some(OffsetDateTime::now_utc());
        let json = serde_json::to_vec(&record).expect("a record serializes");
        self.store
            .put(format!("e.{}", token(event_id)), Bytes::from(json))
            .await
            .map_err(|e| BusError::jetstream(format!("{} put", subjects::MEMORIES_BUCKET), e))?;
        Ok(())
    }

    /// The records `selector` names for `tenant` (at most [`MAX_MATCHES`]), forgotten ones
    /// included (the caller decides what to do with them).
    ///
    /// # Errors
    /// [`BusError::JetStream`] when the bucket cannot be read.
    pub async fn find(
        &self,
        tenant: &str,
        selector: &Selector,
    ) -> Result<Vec<MemoryRecord>, BusError> {
        let prefix = match selector.by {
            By::Event => {
                let found = self.get(&selector.value).await?;
                return Ok(found
                    .into_iter()
                    .filter(|r| r.tenant == tenant && selector.matches(r))
                    .collect());
            }
            By::Url => "u",
            By::Actor => "a",
            By::Session => "s",
            By::Item => "i",
        };
        let digest = index_digest(tenant, &selector.value);
        let mut records = Vec::new();
        for event in self.index(&format!("{prefix}.{digest}")).await? {
            // The digest is 128 bits; the record itself is checked anyway.
            if let Some(record) = self.get(&event).await? {
                if record.tenant == tenant && selector.matches(&record) {
                    records.push(record);
                }
            }
        }
        Ok(records)
    }

    /// The event tokens of the index keys under `prefix` (`u.<digest>`), read from the
    /// bucket's stream with the server filtering by subject.
    async fn index(&self, prefix: &str) -> Result<Vec<String>, BusError> {
        let stream_name = format!("KV_{}", subjects::MEMORIES_BUCKET);
        let subject_prefix = format!("$KV.{}.{prefix}.", subjects::MEMORIES_BUCKET);
        let stream = self
            .js
            .get_stream(&stream_name)
            .await
            .map_err(|e| BusError::jetstream(format!("stream {stream_name}"), e))?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: format!("{subject_prefix}*"),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::jetstream(format!("ordered consumer on {stream_name}"), e))?;
        let pending = consumer.cached_info().num_pending as usize;
        let mut events = Vec::with_capacity(pending.min(MAX_MATCHES));
        if pending == 0 {
            return Ok(events);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| BusError::jetstream(format!("messages of {stream_name}"), e))?;
        while events.len() < pending.min(MAX_MATCHES) {
            let Ok(Some(Ok(message))) = tokio::time::timeout(IDLE, messages.next()).await else {
                break;
            };
            if let Some(event) = message.subject.as_str().strip_prefix(&subject_prefix) {
                events.push(event.to_owned());
            }
            if message.info().is_ok_and(|i| i.pending == 0) {
                break;
            }
        }
        Ok(events)
    }
}

/// A key token for an event id: the id itself when it is key-safe (UUIDs are), else a digest.
fn token(event_id: &str) -> String {
    let safe = !event_id.is_empty()
        && event_id.len() <= 64
        && event_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe {
        event_id.to_owned()
    } else {
        format!(
            "x{}",
            hex::encode(&sha2::Sha256::digest(event_id.as_bytes())[..16])
        )
    }
}

/// The index key token of `value` within `tenant`.
fn index_digest(tenant: &str, value: &str) -> String {
    let mut digest = sha2::Sha256::new();
    digest.update(tenant.as_bytes());
    digest.update([0]);
    digest.update(value.as_bytes());
    hex::encode(&digest.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_become_key_tokens() {
        assert_eq!(
            token("0192f3a4-1b2c-7d3e-8f40-123456789abc"),
            "0192f3a4-1b2c-7d3e-8f40-123456789abc"
        );
        let odd = token("a.b c");
        assert!(odd.starts_with('x') && odd.len() == 33, "{odd}");
        assert_ne!(token("a.b c"), token("a.b d"));
    }

    #[test]
    fn index_digests_separate_tenants() {
        assert_ne!(index_digest("acme", "x"), index_digest("other", "x"));
        assert_ne!(index_digest("ac", "mex"), index_digest("acm", "ex"));
    }

    #[test]
    fn selectors_read_as_json() {
        let s: Selector = serde_json::from_str(r#"{"by":"url","value":"https://x/1"}"#).unwrap();
        assert_eq!(s, Selector::new(By::Url, "https://x/1"));
        assert_eq!(s.describe(), "url https://x/1");
    }

    #[test]
    fn records_without_a_memory_are_not_deletable() {
        let mut record = MemoryRecord {
            event_id: "e".into(),
            memory_id: "m1".into(),
            tenant: "t".into(),
            project: "p".into(),
            source: "slack".into(),
            integration: "i".into(),
            kind: "message".into(),
            url: None,
            actor: None,
            session_id: None,
            item: None,
            written_at: OffsetDateTime::UNIX_EPOCH,
            forgotten_at: None,
        };
        assert!(record.deletable());
        record.url = Some("https://github.com/o/r/issues/7#issuecomment-1".into());
        assert!(Selector::new(By::Url, "https://github.com/o/r/issues/7").matches(&record));
        assert!(!Selector::new(By::Url, "https://github.com/o/r/issues/70").matches(&record));
        let mut only_github = Selector::new(By::Event, "e");
        assert!(only_github.matches(&record));
        only_github.source = Some("github".into());
        assert!(!only_github.matches(&record), "the record is slack's");
        record.memory_id = "duplicate".into();
        assert!(!record.deletable());
        record.memory_id = "m1".into();
        record.forgotten_at = Some(OffsetDateTime::UNIX_EPOCH);
        assert!(!record.deletable());
    }
}
