//! API keys: `Authorization: Bearer <key>` checked against SHA-256 digests from
//! config, then the key's scopes and tenants. Several keys may be active at once, so a key is
//! rotated by adding the new one, moving senders, and removing the old one.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use time::OffsetDateTime;

use crate::ApiError;
use rae_core::config::{key_digest, Config, Scope};

/// A configured key, found by the digest of what the caller sent.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    scopes: Vec<Scope>,
    /// `None` allows every configured tenant (`"*"`).
    tenants: Option<Vec<String>>,
    not_after: Option<OffsetDateTime>,
}

/// Every configured key, by SHA-256 digest. Keys are random and long, so looking up the digest
/// reveals nothing a timing attack could use.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: HashMap<[u8; 32], ApiKey>,
}

impl KeyRing {
    pub fn from_config(config: &Config) -> KeyRing {
        // "*" means every *configured* tenant, not any RAE tenant id a caller names.
        let mut configured: Vec<String> = config.tenants.keys().cloned().collect();
        for t in [&config.rae.tenant_id, &config.ingress.default_tenant] {
            if !configured.contains(t) {
                configured.push(t.clone());
            }
        }
        let keys = config
            .api_keys
            .iter()
            .filter_map(|k| {
                // A tenant named by its RAE id is the same tenant as its alias.
                let tenants = if k.tenants.iter().any(|t| t == "*") {
                    Some(configured.clone())
                } else {
                    Some(
                        k.tenants
                            .iter()
                            .map(|t| config.tenant_alias(t).to_owned())
                            .collect(),
                    )
                };
                Some((
                    k.digest()?,
                    ApiKey {
                        id: k.id.clone(),
                        scopes: k.scopes.clone(),
                        tenants,
                        not_after: k.not_after,
                    },
                ))
            })
            .collect();
        KeyRing { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key of an `Authorization: Bearer <key>` header.
    ///
    /// # Errors
    /// 401 for a missing, malformed, unknown or expired key.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        now: OffsetDateTime,
    ) -> Result<&ApiKey, ApiError> {
        let presented = bearer(headers).ok_or_else(|| {
            ApiError::Unauthorized(
                "missing credentials: send Authorization: Bearer <api key>".into(),
            )
        })?;
        let key = self
            .keys
            .get(&key_digest(presented))
            .ok_or_else(|| ApiError::Unauthorized("API key is not valid".into()))?;
        if key.not_after.is_some_and(|end| now > end) {
            return Err(ApiError::Unauthorized(format!(
                "API key {} has expired",
                key.id
            )));
        }
        Ok(key)
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl ApiKey {
    /// Checks that the key has `scope` for `tenant`.
    ///
    /// # Errors
    /// 403 naming the missing scope or the tenant.
    pub fn allow(&self, scope: Scope, tenant: &str) -> Result<(), ApiError> {
        if !self.scopes.contains(&scope) {
            return Err(ApiError::Forbidden(format!(
                "API key {} lacks the scope {}",
                self.id,
                scope.as_str()
            )));
        }
        if let Some(tenants) = &self.tenants {
            if !tenants.iter().any(|t| t == tenant) {
                return Err(ApiError::Forbidden(format!(
                    "API key {} may not use tenant {tenant}",
                    self.id
                )));
            }
        }
        Ok(())
    }

    /// True when the key may act for `tenant` at all.
    pub fn allows_tenant(&self, tenant: &str) -> bool {
        self.tenants
            .as_ref()
            .is_none_or(|tenants| tenants.iter().any(|t| t == tenant))
    }

    /// Checks that the key has `scope`, whatever the tenant.
    ///
    /// # Errors
    /// 403 naming the missing scope.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "API key {} lacks the scope {}",
                self.id,
                scope.as_str()
            )))
        }
    }

    /// The tenant of a request without `X-Tenant-ID`: the key's only tenant, when it has one.
    pub fn only_tenant(&self) -> Option<&str> {
        match self.tenants.as_deref() {
            Some([only]) => Some(only),
            _ => None,
        }
    }
}

/// What `rae-pipeline keys hash` prints for a key: the value of `api_keys[].sha256`.
pub fn hash_key(key: &str) -> String {
    hex::encode(key_digest(key))
}

/// A new random key, `rpk_` and 43 URL-safe characters (256 bits).
pub fn generate_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes: [u8; 43] = rand::random();
    let body: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b % 64)] as char)
        .collect();
    format!("rpk_{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::config::Source;

    fn ring(yaml: &str) -> KeyRing {
        let config = Config::load(&Source::Text(yaml.into()), &|_| None).unwrap();
        KeyRing::from_config(&config)
    }

    fn with_bearer(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {key}").parse().unwrap(),
        );
        headers
    }

    const KEYS: &str = r#"
tenants:
  acme: { rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f }
api_keys:
  - id: writer
    key: "writer-key-0123456789"
    scopes: ["memories:write"]
    tenants: [acme]
  - id: old
    sha256: "sha256:HASH"
    scopes: ["memories:write", "memories:read"]
    tenants: ["*"]
    not_after: 2020-01-01T00:00:00Z
"#;

    fn keys() -> KeyRing {
        ring(&KEYS.replace("HASH", &hash_key("old-key-0123456789")))
    }

    #[test]
    fn keys_are_found_by_digest_and_checked() {
        let ring = keys();
        let now = OffsetDateTime::now_utc();
        let key = ring
            .authenticate(&with_bearer("writer-key-0123456789"), now)
            .unwrap();
        assert_eq!(key.id, "writer");
        assert_eq!(key.only_tenant(), Some("acme"));
        key.allow(Scope::MemoriesWrite, "acme").unwrap();
        let err = key.allow(Scope::MemoriesRead, "acme").unwrap_err();
        assert_eq!(
            err.to_string(),
            "API key writer lacks the scope memories:read"
        );
        let err = key.allow(Scope::MemoriesWrite, "other").unwrap_err();
        assert_eq!(err.status(), 403);
    }

    #[test]
    fn unknown_missing_and_expired_keys_are_401() {
        let ring = keys();
        let now = OffsetDateTime::now_utc();
        for headers in [HeaderMap::new(), with_bearer("nope-nope-nope-nope")] {
            assert_eq!(ring.authenticate(&headers, now).unwrap_err().status(), 401);
        }
        let err = ring
            .authenticate(&with_bearer("old-key-0123456789"), now)
            .unwrap_err();
        assert_eq!(err.to_string(), "API key old has expired");
        let before = time::macros::datetime!(2019-12-31 00:00 UTC);
        assert_eq!(
            ring.authenticate(&with_bearer("old-key-0123456789"), before)
                .unwrap()
                .id,
            "old"
        );
    }

    #[test]
    fn generated_keys_are_long_and_distinct() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), 47);
        assert_eq!(hash_key(&a).len(), 64);
    }
}
