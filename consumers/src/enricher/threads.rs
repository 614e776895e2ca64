//! Thread digests (`enrich.thread_digest`): when a conversation (a Slack thread, a mail thread,
//! the comments of one issue; events sharing a `session_id`) goes quiet, one more event sums
//! it up, so an agent recalls the whole thread as one memory beside its messages.
//!
//! The enricher notes each event of a conversation in the `rae_threads` bucket (count,
//! participants, first and last words, when). A sweep every few seconds publishes a
//! `thread_digest` event for each thread quiet for `quiet_secs` with at least `min_messages`
//! new messages since its last digest. The digest's id derives from the thread and its count,
//! and the thread's record is updated by compare-and-set, so several enrichers, or a sweep
//! after a crash, publish one digest per thread state. The digest goes through the enricher
//! like any event: the rules rank it, and the LLM, when enabled, refines it.

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use rae_core::bus::{Bus, Dedupe, Publisher};
use rae_core::config::ThreadDigestConfig;
use rae_core::event::{self, Event, Layer, Route, SESSION_ID};
use rae_core::text::clip_chars;

/// The kind of a digest event.
pub const KIND: &str = "thread_digest";
/// Participants named in a digest.
const PARTICIPANTS: usize = 8;
/// Characters kept of the first and the last message.
const QUOTE_CHARS: usize = 300;
/// Compare-and-set attempts of one update before it is given up (logged).
const CAS_ATTEMPTS: usize = 5;

/// What is known of one conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Thread {
    tenant: String,
    project: String,
    source: event::Source,
    integration: String,
    session_id: String,
    #[serde(with = "time::serde::rfc3339")]
    first_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_at: OffsetDateTime,
    count: u64,
    participants: Vec<String>,
    first: String,
    last: String,
    /// `count` when the last digest was made.
    digested: u64,
}

/// Notes events and sweeps quiet threads.
#[derive(Clone)]
pub struct Threads {
    store: kv::Store,
    config: ThreadDigestConfig,
}

impl Threads {
    /// # Errors
    /// When the `rae_threads` bucket does not exist (run `setup`).
    pub async fn new(
        bus: &Bus,
        config: ThreadDigestConfig,
    ) -> Result<Threads, rae_core::bus::BusError> {
        Ok(Threads {
            store: bus.threads().await?,
            config,
        })
    }

    /// Notes `event` in its thread, if it is part of one (and not itself a digest or a
    /// forget). A failure is only logged: a digest is a summary, not the record.
    pub async fn note(&self, event: &Event) {
        let Some(session) = event.attributes.get(SESSION_ID).and_then(|v| v.as_str()) else {
            return;
        };
        if event.kind == KIND || rae_core::forget::only_forgets(event) {
            return;
        }
        let key = key(&event.tenant, session);
        for _ in 0..CAS_ATTEMPTS {
            let entry = match self.store.entry(&key).await {
                Ok(entry) => entry.filter(|e| e.operation == kv::Operation::Put),
                Err(err) => {
                    tracing::warn!(event_id = %event.id, error = %err, "thread not noted");
                    return;
                }
            };
            let mut thread = entry
                .as_ref()
                .and_then(|e| serde_json::from_slice::<Thread>(&e.value).ok())
                .unwrap_or_else(|| Thread {
                    tenant: event.tenant.clone(),
                    project: event.project.clone(),
                    source: event.source,
                    integration: event.integration.clone(),
                    session_id: session.to_owned(),
                    first_at: event.occurred_at,
                    last_at: event.occurred_at,
                    count: 0,
                    participants: Vec::new(),
                    first: clip_chars(&event.content, QUOTE_CHARS).into_owned(),
                    last: String::new(),
                    digested: 0,
                });
            thread.count += 1;
            thread.last_at = thread.last_at.max(OffsetDateTime::now_utc());
            thread.last = clip_chars(&event.content, QUOTE_CHARS).into_owned();
            if let Some(actor) = &event.actor {
                if !thread.participants.contains(actor) && thread.participants.len() < PARTICIPANTS
                {
                    thread.participants.push(actor.clone());
                }
            }
            let value = Bytes::from(serde_json::to_vec(&thread).expect("a thread serializes"));
            let written = match &entry {
                Some(entry) => self.store.update(&key, value, entry.revision).await.is_ok(),
                None => self.store.create(&key, value).await.is_ok(),
            };
            if written {
                return;
            }
        }
        tracing::warn!(event_id = %event.id, "thread not noted: too many concurrent updates");
    }

    /// Sweeps quiet threads until `token` is cancelled.
    pub async fn run(self, publisher: Publisher, dedupe: Dedupe, token: CancellationToken) {
        let quiet = Duration::from_secs(self.config.quiet_secs);
        let every = (quiet / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            tokio::select! {
                biased;
                () = token.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(err) = self.sweep(&publisher, &dedupe, quiet).await {
                tracing::warn!(error = %err, "thread digest sweep failed; trying again");
            }
        }
    }

    async fn sweep(
        &self,
        publisher: &Publisher,
        dedupe: &Dedupe,
        quiet: Duration,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut keys = self.store.keys().await?;
        let now = OffsetDateTime::now_utc();
        while let Some(key) = keys.next().await {
            let key = key?;
            let Some(entry) = self.store.entry(&key).await? else {
                continue;
            };
            let Ok(mut thread) = serde_json::from_slice::<Thread>(&entry.value) else {
                continue;
            };
            let fresh = thread.count.saturating_sub(thread.digested);
            let is_quiet = now - thread.last_at >= quiet;
            if !is_quiet || fresh < self.config.min_messages {
                continue;
            }
            let digest = digest_event(&thread);
            publisher.publish_new_once(&digest, dedupe).await?;
            tracing::info!(event_id = %digest.id, session_id = %thread.session_id, messages = thread.count, "thread digest published");
            thread.digested = thread.count;
            let value = Bytes::from(serde_json::to_vec(&thread)?);
            // A thread that moved on in between is digested again later, with its new count.
            let _ = self.store.update(&key, value, entry.revision).await;
        }
        Ok(())
    }
}

/// The bucket key of a thread: a digest of tenant and session.
fn key(tenant: &str, session: &str) -> String {
    let mut digest = sha2::Sha256::new();
    digest.update(tenant.as_bytes());
    digest.update([0]);
    digest.update(session.as_bytes());
    hex::encode(&digest.finalize()[..16])
}

/// The digest event of `thread` as it stands (pure).
fn digest_event(thread: &Thread) -> Event {
    let who = if thread.participants.is_empty() {
        String::new()
    } else {
        format!(" from {}", thread.participants.join(", "))
    };
    let minutes = (thread.last_at - thread.first_at).whole_minutes().max(0);
    let content = format!(
        "Thread digest ({source}, {count} messages{who}, over {minutes} min): it began \"{first}\" and ended \"{last}\"",
        source = thread.source.as_str(),
        count = thread.count,
        first = thread.first,
        last = thread.last,
    );
    let route = Route {
        tenant: &thread.tenant,
        project: &thread.project,
        source: thread.source,
        integration: &thread.integration,
    };
    let id = event::derived_id(
        &format!("{}/digest", thread.integration),
        &format!("{}\n{}\n{}", thread.tenant, thread.session_id, thread.count),
    );
    let mut attributes = serde_json::Map::new();
    attributes.insert(SESSION_ID.into(), thread.session_id.clone().into());
    attributes.insert("messages".into(), thread.count.into());
    attributes.insert("participants".into(), thread.participants.clone().into());
    event::Event::builder(route, id, KIND, content)
        .layer(Layer::Semantic)
        .occurred_at(thread.last_at)
        .attributes(attributes)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_names_the_thread_its_people_and_its_ends() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let thread = Thread {
            tenant: "acme".into(),
            project: "p".into(),
            source: event::Source::Slack,
            integration: "slack".into(),
            session_id: "slack:T1:C1:1.2".into(),
            first_at: at,
            last_at: at + time::Duration::minutes(42),
            count: 5,
            participants: vec!["U1".into(), "U2".into()],
            first: "Should we move the API to Postgres?".into(),
            last: "Agreed, Postgres it is.".into(),
            digested: 0,
        };
        let digest = digest_event(&thread);
        assert_eq!(digest.kind, KIND);
        assert_eq!(
            digest.content,
            "Thread digest (slack, 5 messages from U1, U2, over 42 min): it began \"Should we move the API to Postgres?\" and ended \"Agreed, Postgres it is.\""
        );
        assert_eq!(digest.attributes[SESSION_ID], "slack:T1:C1:1.2");
        // The same thread state is the same event; a later state another.
        assert_eq!(digest.id, digest_event(&thread).id);
        let later = Thread { count: 6, ..thread };
        assert_ne!(digest.id, digest_event(&later).id);
    }
}
