//! Page cursors in the `rae_state` bucket: for each page an importer finished, its `ETag` (to
//! ask again with `If-None-Match`) and the link to the page after it (so a `304 Not Modified`,
//! which carries no body, still leads on). One key per page,
//! `import.<scope>.<sha256 of the page URL>`, written only after every event of the page was
//! acknowledged.

use async_nats::jetstream::kv;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use time::OffsetDateTime;

use rae_core::bus::Bus;
use rae_core::subjects;

use super::ImportError;

/// What is stored for a finished page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The page's `ETag`, when the API sent one.
    #[serde(default)]
    pub etag: Option<String>,
    /// The next page's URL (or a provider cursor); `None` on the last page.
    #[serde(default)]
    pub next: Option<String>,
    /// What an importer needs from the page when it is not read again (a repository's name).
    #[serde(default)]
    pub data: Value,
    /// The page's URL, for people reading the bucket.
    #[serde(default)]
    pub url: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub done_at: Option<OffsetDateTime>,
}

/// The page cursors of one scope (`github.<integration>`, `slack.<integration>`).
#[derive(Clone)]
pub struct PageCursors {
    store: kv::Store,
    scope: String,
}

impl PageCursors {
    /// # Errors
    /// [`ImportError::Cursor`] when `rae_state` does not exist.
    pub async fn open(bus: &Bus, scope: &str) -> Result<PageCursors, ImportError> {
        let store = bus
            .js
            .get_key_value(subjects::STATE_BUCKET)
            .await
            .map_err(|e| ImportError::Cursor {
                bucket: subjects::STATE_BUCKET.to_owned(),
                message: e.to_string(),
            })?;
        Ok(PageCursors {
            store,
            scope: scope.to_owned(),
        })
    }

    /// The bucket key of a page.
    pub fn key(&self, url: &str) -> String {
        key(&self.scope, url)
    }

    /// The stored cursor of `url`; `None` for a page never finished. An unreadable value counts
    /// as never finished, so a damaged entry costs one page read again.
    ///
    /// # Errors
    /// [`ImportError::Cursor`] when the bucket cannot be read.
    pub async fn get(&self, url: &str) -> Result<Option<Page>, ImportError> {
        let entry = self
            .store
            .get(self.key(url))
            .await
            .map_err(|e| self.error(e))?;
        Ok(entry.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Stores the cursor of a finished page.
    ///
    /// # Errors
    /// [`ImportError::Cursor`] when the bucket cannot be written.
    pub async fn put(&self, url: &str, page: &Page) -> Result<(), ImportError> {
        let mut page = page.clone();
        page.url = url.to_owned();
        page.done_at = Some(OffsetDateTime::now_utc());
        let bytes = serde_json::to_vec(&page).unwrap_or_default();
        self.store
            .put(self.key(url), Bytes::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    fn error(&self, err: impl std::fmt::Display) -> ImportError {
        ImportError::Cursor {
            bucket: subjects::STATE_BUCKET.to_owned(),
            message: err.to_string(),
        }
    }
}

/// `import.<scope>.<hex>`: scope tokens keep `[a-z0-9_-]`, the URL is hashed (it holds `?`, `/`).
fn key(scope: &str, url: &str) -> String {
    let scope: String = scope
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    let digest = sha2::Sha256::digest(url.as_bytes());
    format!("import.{scope}.{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_valid_bucket_keys_and_differ_per_page_and_scope() {
        let a = key(
            "github.github",
            "https://api.github.com/repos/a/b/issues?page=1",
        );
        let b = key(
            "github.github",
            "https://api.github.com/repos/a/b/issues?page=2",
        );
        let c = key(
            "github.other id",
            "https://api.github.com/repos/a/b/issues?page=1",
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(c.starts_with("import.github.other_id."), "{c}");
        for k in [a, b, c] {
            assert!(k
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)));
        }
    }
}
