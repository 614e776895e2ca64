//! `api_keys`: the keys of `POST /api/v1/memories` and the other key-authenticated routes,
//! with their scopes, tenants and expiry.

use serde::{Deserialize, Serialize};

use super::{Context, Problem, Secret};

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "memories:write")]
    MemoriesWrite,
    #[serde(rename = "memories:read")]
    MemoriesRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "dlq:admin")]
    DlqAdmin,
    #[serde(rename = "memories:forget")]
    MemoriesForget,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MemoriesWrite => "memories:write",
            Scope::MemoriesRead => "memories:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::DlqAdmin => "dlq:admin",
            Scope::MemoriesForget => "memories:forget",
        }
    }
}

/// One API key. The key itself is never stored: `sha256` is the hex SHA-256 of it (print it
/// with `rae-pipeline keys hash`), or `key` reads it from the environment (`key: ${MY_KEY}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Names the key in audit records, logs and rate limits.
    pub id: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub key: Option<Secret>,
    pub scopes: Vec<Scope>,
    /// Tenants the key may write to or read from; `"*"` allows every configured tenant.
    pub tenants: Vec<String>,
    /// The key is refused after this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_after: Option<time::OffsetDateTime>,
}

impl ApiKeyConfig {
    /// The key's SHA-256 digest, from `sha256` or by hashing `key`.
    pub fn digest(&self) -> Option<[u8; 32]> {
        if let Some(key) = &self.key {
            return Some(key_digest(key.expose()));
        }
        let hex_text = self.sha256.as_deref()?;
        let hex_text = hex_text.strip_prefix("sha256:").unwrap_or(hex_text);
        hex::decode(hex_text.trim()).ok()?.try_into().ok()
    }
}

/// SHA-256 of an API key, as configured in `api_keys[].sha256`.
pub fn key_digest(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// The message for a key's tenant that does not resolve.
const TENANT_LIST_MESSAGE: &str =
    "must be \"*\", a UUID, default-tenant, or an alias listed under tenants";

/// Problems of the key list, paths relative to `api_keys`: each key's, and ids or keys used
/// twice.
pub(crate) fn keys_problems(keys: &[ApiKeyConfig], ctx: &Context) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut bad = |path: String, message: &str| problems.push(Problem::new(path, message));
    let mut key_ids = Vec::new();
    let mut digests = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let path = format!("[{i}]");
        if key.id.is_empty() || crate::subjects::token(&key.id) != key.id {
            bad(
                format!("{path}.id"),
                "must be lowercase letters, digits, _ or -",
            );
        }
        if key_ids.contains(&&key.id) {
            bad(format!("{path}.id"), "is used by another key");
        }
        key_ids.push(&key.id);
        match (
            &key.sha256,
            &key.key,
            key.key.as_ref().and_then(Secret::weakness),
        ) {
            (Some(_), Some(_), _) => bad(path.clone(), "set sha256 or key, not both"),
            (None, None, _) => bad(
                format!("{path}.sha256"),
                "is required (print it with `rae-pipeline keys hash`), or set key",
            ),
            (None, Some(_), Some(weakness)) => bad(format!("{path}.key"), &weakness),
            _ => match key.digest() {
                None => bad(format!("{path}.sha256"), "must be 64 hex digits"),
                Some(digest) if digests.contains(&digest) => {
                    bad(path.clone(), "has the same key as another entry")
                }
                Some(digest) => digests.push(digest),
            },
        }
        if key.scopes.is_empty() {
            bad(format!("{path}.scopes"), "must name at least one scope");
        }
        if key.tenants.is_empty() {
            bad(
                format!("{path}.tenants"),
                "must name at least one tenant, or \"*\"",
            );
        }
        for (j, tenant) in key.tenants.iter().enumerate() {
            if tenant != "*" && !ctx.tenant_resolves(tenant) {
                bad(format!("{path}.tenants[{j}]"), TENANT_LIST_MESSAGE);
            }
        }
    }
    problems
}
