//! Branch cursors in the `rae_state` bucket: one key per integration, repository and branch,
//! `git.<integration>.<repository>.<branch>`, holding the commits whose history is done.
//!
//! The poll loop stores a cursor only after JetStream acknowledged every event before it, so
//! a restart never misses a commit; at most the events of one step are published again, with
//! the same ids.

use async_nats::jetstream::kv;
use bytes::Bytes;
use git2::Oid;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use rae_core::bus::Bus;
use rae_core::subjects;

/// Why a cursor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error("key-value bucket {bucket} is not available: {message} (run `rae-pipeline setup`)")]
    Bucket { bucket: String, message: String },
    #[error("cannot read cursor {key}: {message}")]
    Read { key: String, message: String },
    #[error("cannot store cursor {key}: {message}")]
    Write { key: String, message: String },
}

/// What is stored under a cursor key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// Commits (hex) whose history is done.
    pub commits: Vec<String>,
    /// For people reading the bucket.
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub branch: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

/// The cursors of one integration.
#[derive(Clone)]
pub struct Cursors {
    store: kv::Store,
    integration: String,
}

impl Cursors {
    /// # Errors
    /// [`CursorError::Bucket`] when `rae_state` does not exist.
    pub async fn open(bus: &Bus, integration: &str) -> Result<Cursors, CursorError> {
        let store = bus
            .js
            .get_key_value(subjects::STATE_BUCKET)
            .await
            .map_err(|e| CursorError::Bucket {
                bucket: subjects::STATE_BUCKET.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Cursors {
            store,
            integration: integration.to_owned(),
        })
    }

    /// The key of a repository's branch.
    pub fn key(&self, repository: &str, branch: &str) -> String {
        format!(
            "git.{}.{}.{}",
            key_token(&self.integration),
            key_token(repository),
            key_token(branch)
        )
    }

    /// The stored cursor; `None` for a branch never seen. An unreadable value counts as never
    /// seen (logged), so a damaged entry costs `initial_commits` events, not a stuck watcher.
    ///
    /// # Errors
    /// [`CursorError::Read`] when NATS does not answer.
    pub async fn load(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Option<Vec<Oid>>, CursorError> {
        let key = self.key(repository, branch);
        let value = self
            .store
            .get(key.clone())
            .await
            .map_err(|e| CursorError::Read {
                key: key.clone(),
                message: e.to_string(),
            })?;
        let Some(value) = value else {
            return Ok(None);
        };
        let parsed = serde_json::from_slice::<Stored>(&value).ok().and_then(|s| {
            s.commits
                .iter()
                .map(|c| Oid::from_str(c).ok())
                .collect::<Option<Vec<Oid>>>()
                .filter(|c| !c.is_empty())
        });
        if parsed.is_none() {
            tracing::warn!(key, "unreadable git cursor, treating the branch as new");
        }
        Ok(parsed)
    }

    /// Stores a cursor.
    ///
    /// # Errors
    /// [`CursorError::Write`] when NATS does not take it.
    pub async fn save(
        &self,
        repository: &str,
        branch: &str,
        commits: &[Oid],
    ) -> Result<(), CursorError> {
        let key = self.key(repository, branch);
        let stored = Stored {
            commits: commits.iter().map(Oid::to_string).collect(),
            repository: repository.to_owned(),
            branch: branch.to_owned(),
            updated_at: Some(OffsetDateTime::now_utc()),
        };
        let payload = serde_json::to_vec(&stored).unwrap_or_default();
        self.store
            .put(key.clone(), Bytes::from(payload))
            .await
            .map(|_| ())
            .map_err(|e| CursorError::Write {
                key,
                message: e.to_string(),
            })
    }
}

/// A KV key token: the text itself when it is made of `[A-Za-z0-9_-]`, else a readable part
/// and a hash of the text, so distinct names never share a key (`feature/x` and `feature_x`).
pub fn key_token(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if safe {
        return text.to_owned();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let readable: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{readable}={}", hex::encode(&digest[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tokens_are_valid_and_distinct() {
        assert_eq!(key_token("main"), "main");
        assert_eq!(key_token("release-1_2"), "release-1_2");
        let a = key_token("feature/x");
        let b = key_token("feature_x");
        let c = key_token("feature.x");
        assert!(a.starts_with("feature_x="), "{a}");
        assert_ne!(a, b);
        assert_ne!(a, c);
        for token in [a, c, key_token("ünï code"), key_token("")] {
            assert!(
                token
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_-=".contains(ch)),
                "{token}"
            );
        }
    }
}
