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
//!
//! Nearly the same counts too (`enrich.repeat_distance`, default 4): content of at least
//! [`SIMILAR_MIN_WORDS`] words gets a 64-bit similarity hash ([`simhash`] over its words, with
//! identifiers such as `test-api`, `src/main.rs` or `v1.2` masked as well), and an event whose
//! hash is within that many bits of a recent one of the same sender and conversation is its
//! repeat (a CI notice naming another failing job, a status mail with a line changed). The hash is split into [`BANDS`] bytes, each kept under
//! its own key, so any hash within 7 bits shares a byte with the earlier one and is found by
//! direct lookups, however many events the window holds.

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

    /// The id of the earlier event `event` repeats, or nearly repeats (its similarity hash
    /// within `max_distance` bits; 0 for exact repeats only), or `None` when it is the first of
    /// its kind in the window (now recorded as such) or the bucket cannot be used (then it is
    /// stored: a possible repeat is better than a lost event).
    pub async fn first(&self, event: &Event, max_distance: u32) -> Option<String> {
        if let Some(first) = self.exact(event).await {
            return Some(first);
        }
        if max_distance == 0 {
            return None;
        }
        let hash = simhash(&template(&normalize(&event.content)))?;
        self.similar(event, hash, max_distance).await
    }

    /// The earlier event whose similarity hash is within `max_distance` of `hash`, if any;
    /// else records this one's under each of its bands.
    async fn similar(&self, event: &Event, hash: u64, max_distance: u32) -> Option<String> {
        let scope = sender(event);
        let keys: Vec<String> = (0..BANDS)
            .map(|band| format!("n.{scope}.{band}.{:02x}", (hash >> (band * 8)) & 0xff))
            .collect();
        let found = futures::future::join_all(keys.iter().map(|k| self.store.get(k))).await;
        for entry in found.into_iter().flatten().flatten() {
            let text = String::from_utf8_lossy(&entry);
            let Some((id, other)) = text.split_once(' ') else {
                continue;
            };
            let Ok(other) = u64::from_str_radix(other, 16) else {
                continue;
            };
            if id != event.id && (hash ^ other).count_ones() <= max_distance {
                return Some(id.to_owned());
            }
        }
        let value = Bytes::from(format!("{} {hash:016x}", event.id));
        let puts = keys.into_iter().map(|k| self.store.put(k, value.clone()));
        for put in futures::future::join_all(puts).await {
            if let Err(err) = put {
                tracing::warn!(event_id = %event.id, error = %err, "similarity record not written");
                break;
            }
        }
        None
    }

    /// The exact repeat check: the earlier event with the same normalized content.
    async fn exact(&self, event: &Event) -> Option<String> {
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

/// Bytes of a similarity hash kept under their own keys: hashes within `BANDS - 1` bits share
/// at least one.
pub const BANDS: u32 = 8;
/// The largest `enrich.repeat_distance` that [`BANDS`] always finds.
pub const MAX_DISTANCE: u32 = BANDS - 1;
/// Content with fewer words is compared exactly only: in a short message one word is the news.
pub const SIMILAR_MIN_WORDS: usize = 8;

/// [`normalize`]d text with identifiers masked too: a word with `-`, `_`, `/`, `.` or `:`
/// between letters or digits (`test-api`, `src/main.rs`, `v1.2`, `db:migrate`) becomes `§`, so
/// notices that differ only in which job, file or version they name are the same template.
pub fn template(normalized: &str) -> String {
    normalized
        .split(' ')
        .map(|word| {
            let inner = word.trim_matches(|c: char| !c.is_alphanumeric());
            let joined = inner.contains(['-', '_', '/', '.', ':'])
                && inner.chars().any(char::is_alphanumeric);
            if joined {
                "§"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 64-bit similarity hash (SimHash) of text over its words, or `None` for text of fewer
/// than [`SIMILAR_MIN_WORDS`] words. Texts that share most words have hashes a few bits apart.
pub fn simhash(text: &str) -> Option<u64> {
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() < SIMILAR_MIN_WORDS {
        return None;
    }
    let mut weights = [0i32; 64];
    for word in words {
        let feature = fnv1a(word.as_bytes(), FNV_OFFSET);
        for (bit, weight) in weights.iter_mut().enumerate() {
            *weight += if feature >> bit & 1 == 1 { 1 } else { -1 };
        }
    }
    Some(
        weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0)
            .fold(0u64, |hash, (bit, _)| hash | 1 << bit),
    )
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, continuing from `state`: a hash that stays the same across builds, as stored
/// hashes must.
fn fnv1a(bytes: &[u8], state: u64) -> u64 {
    bytes.iter().fold(state, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A digest of who said it where: tenant, project, source, kind, actor and conversation.
fn sender(event: &Event) -> String {
    hex::encode(&sender_digest(event).finalize()[..12])
}

fn sender_digest(event: &Event) -> sha2::Sha256 {
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
    digest
}

/// The bucket key of what `event` says: a digest of its sender and its normalized content.
pub fn key(event: &Event) -> String {
    let mut digest = sender_digest(event);
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
    fn near_repeats_have_near_hashes_and_different_notices_do_not() {
        let hash = |text: &str| simhash(&template(&normalize(text))).unwrap();
        let distance = |x: &str, y: &str| (hash(x) ^ hash(y)).count_ones();
        // Another job and file named: the same template.
        assert_eq!(
            distance(
                "CI failed on main: the job test-api failed at step cargo test in src/api.rs, see the logs for details",
                "CI failed on main: the job test-web failed at step cargo test in src/web.rs, see the logs for details"
            ),
            0
        );
        // A longer status note with one word changed: a few bits.
        let status = "Nightly backup report: all databases were copied to the offsite store, \
                      the largest took forty minutes, checksums match, retention pruned the old \
                      copies and nothing needs attention from the team this morning";
        let near = distance(status, &status.replace("forty", "fifty"));
        assert!(near <= 4, "near repeats: {near}");
        let other = "Release notes: the new search page ships with faster imports, a fix for \
                     the login loop on Safari and a redesigned settings screen for admins";
        assert!(
            distance(status, other) > MAX_DISTANCE,
            "different: {}",
            distance(status, other)
        );
        assert_eq!(
            simhash(&normalize("deploy of api failed")),
            None,
            "short: exact only"
        );
        assert_eq!(template("see src/main.rs (v1.2) now"), "see § § now");
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
