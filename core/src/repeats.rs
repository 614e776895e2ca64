//! Repeats (`rae_repeats`): with `enrich.drop_repeats`, an event that says again what an event
//! of the same sender said within `nats.repeat_window_secs` is not stored again (fifty
//! identical CI failure notices are one memory, not fifty).
//!
//! Two events repeat each other when they have the same tenant, project, source, kind, actor and
//! conversation (`session_id`) and the same content once [`normalize`]d: case and whitespace folded, numbers and hex ids
//! (build numbers, shas, times) masked. The enricher records each event's key with its id
//! ([`Repeats::first`]); a later event with the same key and another id is a repeat of the
//! first, counted in `rae_pipeline_repeats_total{source}` and logged with the first one's id.
//! The same event coming back (a redelivery) finds its own id and is not a repeat.

use async_nats::jetstream::kv;
use bytes::Bytes;
use sha2::Digest;

use crate::event::Event;

/// Handle to the `rae_repeats` bucket; cheap to clone.
#[derive(Clone)]
pub struct Repeats {
    store: kv::Store,
}

impl Repeats {
    pub(crate) fn new(store: kv::Store) -> Self {
        Repeats { store }
    }

    /// The id of the earlier event `event` repeats, or `None` when it is the first of its kind
    /// in the window (now recorded as such) or the bucket cannot be used (then it is stored:
    /// a possible repeat is better than a lost event).
    pub async fn first(&self, event: &Event) -> Option<String> {
        let key = key(event);
        let id = Bytes::from(event.id.clone().into_bytes());
        match self.store.create(&key, id).await {
            Ok(_) => None,
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                match self.store.get(&key).await {
                    Ok(Some(first)) if first.as_ref() != event.id.as_bytes() => {
                        Some(String::from_utf8_lossy(&first).into_owned())
                    }
                    // Its own record (a redelivery), or gone since.
                    Ok(_) => None,
                    Err(err) => {
                        tracing::warn!(event_id = %event.id, error = %err, "repeat check failed; storing the event");
                        None
                    }
                }
            }
            Err(err) => {
                tracing::warn!(event_id = %event.id, error = %err, "repeat check failed; storing the event");
                None
            }
        }
    }
}

/// The bucket key of what `event` says: a digest of its sender and its normalized content.
pub fn key(event: &Event) -> String {
    let mut digest = sha2::Sha256::new();
    for part in [
        event.tenant.as_str(),
        event.project.as_str(),
        event.source.as_str(),
        event.kind.as_str(),
        event.actor.as_deref().unwrap_or(""),
        // Said again in another thread or on another issue, it is news there.
        event
            .attributes
            .get(crate::event::SESSION_ID)
            .and_then(serde_json::Value::as_str)
            .unwrap_or(""),
    ] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    digest.update(normalize(&event.content).as_bytes());
    hex::encode(&digest.finalize()[..16])
}

/// `content` as repeats compare it: lowercase, whitespace collapsed to one space, and every
/// number or hex id (a run of digits, or of hex digits with a digit among them, 7 or more long)
/// replaced by `#`.
pub fn normalize(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    for word in content.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        let lower = word.to_lowercase();
        let mut rest = lower.as_str();
        while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
            out.push_str(&rest[..start]);
            let run = &rest[start..];
            let end = run
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(run.len());
            let token = &run[..end];
            let digits = token.bytes().all(|b| b.is_ascii_digit());
            let hex_id = token.len() >= 7
                && token.bytes().all(|b| b.is_ascii_hexdigit())
                && token.bytes().any(|b| b.is_ascii_digit());
            out.push_str(if digits || hex_id { "#" } else { token });
            rest = &run[end..];
        }
        out.push_str(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_numbers_shas_and_spacing_do_not_make_a_notice_new() {
        assert_eq!(
            normalize("CI  failed on main: build 1234 (sha 9fceb02d0ae5)"),
            normalize("ci failed on main:\nbuild 1235 (sha 1a2b3c4d5e6f)")
        );
        assert_eq!(normalize("Build 42 FAILED"), "build # failed");
    }

    #[test]
    fn different_words_are_different_content() {
        assert_ne!(
            normalize("deploy of api failed"),
            normalize("deploy of web failed")
        );
        // A word is not an id: `deadbeef` has no digit, `cafe` is short.
        assert_eq!(normalize("deadbeef cafe"), "deadbeef cafe");
    }

    #[test]
    fn the_sender_is_part_of_the_key() {
        let mut a = crate::event::sample();
        a.content = "Fix typo".into();
        let mut b = a.clone();
        b.id = "other".into();
        assert_eq!(key(&a), key(&b));
        b.actor = Some("bob".into());
        assert_ne!(key(&a), key(&b));
        let mut c = a.clone();
        c.project = "other".into();
        assert_ne!(key(&a), key(&c));
    }
}
