//! The writer's journal (`rae_writes`): for each message it writes to RAE, "a write started"
//! before the request and "stored as memory X" after the answer.
//!
//! RAE has no idempotency key, so a write whose answer never arrived (the writer killed, the
//! connection cut, the ack lost) leaves an outcome nobody knows. The journal turns that into a
//! question asked only then: a message that comes back finds either its memory id (acked
//! without writing again) or a started write with no outcome, which the writer looks up in RAE
//! before writing again. Entries are keyed by the message's `Nats-Msg-Id`, so a backfill or a
//! dead-letter replay (a new message id) writes again on purpose.

use async_nats::jetstream::kv;
use bytes::Bytes;
use sha2::Digest;

use crate::bus::PublishError;

/// What the journal knew when a write began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// No earlier attempt: write.
    First,
    /// An earlier attempt started and its outcome is unknown: look in RAE first.
    Unfinished,
    /// Stored before, as this memory id (`duplicate` when RAE called it a repeat).
    Stored(String),
}

const STARTED: &str = "started";
const STORED: &str = "stored ";

/// Handle to the `rae_writes` bucket; cheap to clone.
#[derive(Clone)]
pub struct WriteJournal {
    store: kv::Store,
}

impl WriteJournal {
    pub(crate) fn new(store: kv::Store) -> Self {
        WriteJournal { store }
    }

    /// A bucket key for a message id (ids may hold characters keys may not).
    fn key(msg_id: &str) -> String {
        hex::encode(&sha2::Sha256::digest(msg_id.as_bytes())[..16])
    }

    /// Records that a write of `msg_id` starts, and says what an earlier attempt left.
    ///
    /// # Errors
    /// [`PublishError::Unavailable`] when the bucket cannot be read or written: the caller
    /// retries later rather than writing without a record.
    pub async fn begin(&self, msg_id: &str) -> Result<Begun, PublishError> {
        let key = Self::key(msg_id);
        match self
            .store
            .create(&key, Bytes::from_static(STARTED.as_bytes()))
            .await
        {
            Ok(_) => return Ok(Begun::First),
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(_) => return Err(PublishError::Unavailable),
        }
        let value = self
            .store
            .get(&key)
            .await
            .map_err(|_| PublishError::Unavailable)?;
        let text = value.as_deref().map(String::from_utf8_lossy);
        match text.as_deref().and_then(|t| t.strip_prefix(STORED)) {
            Some(memory) => Ok(Begun::Stored(memory.to_owned())),
            // Started before with no outcome (or gone between the two calls): ask RAE.
            None => Ok(Begun::Unfinished),
        }
    }

    /// Records that `msg_id` is stored in RAE as `memory`. A failure here can only make a
    /// later redelivery ask RAE again, never lose or repeat a write, so it is only logged.
    pub async fn stored(&self, msg_id: &str, memory: &str) {
        let value = Bytes::from(format!("{STORED}{memory}"));
        if let Err(err) = self.store.put(Self::key(msg_id), value).await {
            tracing::warn!(msg_id, error = %err, "write journal not updated; a redelivery will look the memory up in RAE");
        }
    }

    /// Forgets the started write of `msg_id`: RAE answered it with an error, so it stored
    /// nothing and the next attempt needs no lookup. A failure here only costs that lookup.
    pub async fn forget(&self, msg_id: &str) {
        if let Err(err) = self.store.delete(Self::key(msg_id)).await {
            tracing::debug!(msg_id, error = %err, "write journal entry not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_valid_bucket_keys_whatever_the_message_id() {
        let key = WriteJournal::key("0193a:backfill:run 1/ü");
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(key, WriteJournal::key("0193a"));
    }
}
