//! API keys: `Authorization: Bearer <key>` checked against SHA-256 digests from config, then
//! the key's scopes and tenants. Several keys may be active at once, so a key is rotated by
//! adding the new one, moving senders, and removing the old one.
//!
//! Every key-authenticated HTTP route checks keys here: the ingress's routes and the MCP
//! server's `/mcp`. The failures are [`KeyError`]s; each route answers them in its own shape.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use time::OffsetDateTime;

use crate::config::{key_digest, Config, Scope};

/// Header naming the tenant of a request made with a key that may use several.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// Why a key may not make a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("missing credentials: send Authorization: Bearer <api key>")]
    Missing,
    #[error("API key is not valid")]
    Unknown,
    #[error("API key {0} has expired")]
    Expired(String),
    #[error("API key {key} lacks the scope {}", .scope.as_str())]
    MissingScope { key: String, scope: Scope },
    #[error("API key {key} may not use tenant {tenant}")]
    Tenant { key: String, tenant: String },
    #[error("tenant {0} is not configured (add it under tenants)")]
    TenantNotConfigured(String),
    #[error("X-Tenant-ID must be a tenant id of 1 to 128 characters, without control characters")]
    BadTenantHeader,
    #[error("X-Tenant-ID is required: this key may use more than one tenant")]
    TenantRequired,
}

/// What kind of refusal a [`KeyError`] is, for the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no key, or not a valid one.
    Unauthenticated,
    /// 403: a valid key that may not do this.
    Forbidden,
    /// 400: the request does not say which tenant (the `X-Tenant-ID` header).
    BadTenant,
}

impl KeyError {
    pub fn refusal(&self) -> Refusal {
        match self {
            KeyError::Missing | KeyError::Unknown | KeyError::Expired(_) => {
                Refusal::Unauthenticated
            }
            KeyError::MissingScope { .. }
            | KeyError::Tenant { .. }
            | KeyError::TenantNotConfigured(_) => Refusal::Forbidden,
            KeyError::BadTenantHeader | KeyError::TenantRequired => Refusal::BadTenant,
        }
    }
}

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
    /// [`KeyError::Missing`], [`KeyError::Unknown`] or [`KeyError::Expired`].
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        now: OffsetDateTime,
    ) -> Result<&ApiKey, KeyError> {
        let presented = bearer(headers).ok_or(KeyError::Missing)?;
        self.find(presented, now)
    }

    /// The key `presented` is (sent another way than a bearer header: the console's sign-in
    /// form), if it is configured and not expired.
    ///
    /// # Errors
    /// [`KeyError::Missing`] for an empty key, [`KeyError::Unknown`] or [`KeyError::Expired`].
    pub fn find(&self, presented: &str, now: OffsetDateTime) -> Result<&ApiKey, KeyError> {
        let presented = presented.trim();
        if presented.is_empty() {
            return Err(KeyError::Missing);
        }
        let key = self
            .keys
            .get(&key_digest(presented))
            .ok_or(KeyError::Unknown)?;
        key.check_expiry(now)?;
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
    /// [`KeyError::MissingScope`] or [`KeyError::Tenant`].
    pub fn allow(&self, scope: Scope, tenant: &str) -> Result<(), KeyError> {
        self.require(scope)?;
        self.allow_tenant(tenant)
    }

    /// Checks that the key may act for `tenant` at all.
    ///
    /// # Errors
    /// [`KeyError::Tenant`].
    pub fn allow_tenant(&self, tenant: &str) -> Result<(), KeyError> {
        if self.allows_tenant(tenant) {
            Ok(())
        } else {
            Err(KeyError::Tenant {
                key: self.id.clone(),
                tenant: tenant.to_owned(),
            })
        }
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
    /// [`KeyError::MissingScope`].
    pub fn require(&self, scope: Scope) -> Result<(), KeyError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(KeyError::MissingScope {
                key: self.id.clone(),
                scope,
            })
        }
    }

    /// The tenants the key may use, as aliases; `None` for every tenant.
    pub fn tenants(&self) -> Option<&[String]> {
        self.tenants.as_deref()
    }

    /// Checks that the key has not expired at `now` (a console session checks this on every
    /// request, so a key past its `not_after` loses its sessions too).
    ///
    /// # Errors
    /// [`KeyError::Expired`].
    pub fn check_expiry(&self, now: OffsetDateTime) -> Result<(), KeyError> {
        if self.not_after.is_some_and(|end| now > end) {
            Err(KeyError::Expired(self.id.clone()))
        } else {
            Ok(())
        }
    }

    /// True when the key has `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// The key's scopes, as configured.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The tenant of a request without `X-Tenant-ID`: the key's only tenant, when it has one.
    pub fn only_tenant(&self) -> Option<&str> {
        match self.tenants.as_deref() {
            Some([only]) => Some(only),
            _ => None,
        }
    }

    /// The tenant a request acts for, as its alias under `tenants` when it has one: the
    /// `X-Tenant-ID` header, else the key's only tenant. Whether the key may use it is
    /// [`ApiKey::allow`]'s question.
    ///
    /// # Errors
    /// [`KeyError::BadTenantHeader`] for an empty, long or control-character header,
    /// [`KeyError::TenantRequired`] without one when the key may use several tenants.
    pub fn tenant_of(&self, headers: &HeaderMap, config: &Config) -> Result<String, KeyError> {
        let tenant = match headers.get(TENANT_HEADER) {
            Some(value) => value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 128 && !t.contains(char::is_control))
                .ok_or(KeyError::BadTenantHeader)?,
            None => self.only_tenant().ok_or(KeyError::TenantRequired)?,
        };
        // One identity per tenant: its RAE id names the same tenant as its alias.
        Ok(config.tenant_alias(tenant).to_owned())
    }
}

/// Checks that events of `tenant` have somewhere to go: a RAE tenant id or an alias under
/// `tenants` (a key's `"*"` never reaches an unconfigured tenant).
///
/// # Errors
/// [`KeyError::TenantNotConfigured`].
pub fn configured(config: &Config, tenant: &str) -> Result<(), KeyError> {
    if config.tenant_resolves(tenant) {
        Ok(())
    } else {
        Err(KeyError::TenantNotConfigured(tenant.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn config(yaml: &str) -> Config {
        Config::load(&Source::Text(yaml.into()), &|_| None).unwrap()
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

    fn keys_config() -> Config {
        config(&KEYS.replace("HASH", &hex::encode(key_digest("old-key-0123456789"))))
    }

    #[test]
    fn keys_are_found_by_digest_and_checked() {
        let ring = KeyRing::from_config(&keys_config());
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
        assert_eq!(err.refusal(), Refusal::Forbidden);
        assert_eq!(err.to_string(), "API key writer may not use tenant other");
    }

    #[test]
    fn unknown_missing_and_expired_keys_are_unauthenticated() {
        let ring = KeyRing::from_config(&keys_config());
        let now = OffsetDateTime::now_utc();
        for headers in [HeaderMap::new(), with_bearer("nope-nope-nope-nope")] {
            assert_eq!(
                ring.authenticate(&headers, now).unwrap_err().refusal(),
                Refusal::Unauthenticated
            );
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
    fn the_tenant_is_the_header_or_the_keys_only_one_as_its_alias() {
        let config = keys_config();
        let ring = KeyRing::from_config(&config);
        let before = time::macros::datetime!(2019-12-31 00:00 UTC);
        let writer = ring
            .authenticate(&with_bearer("writer-key-0123456789"), before)
            .unwrap();
        assert_eq!(
            writer.tenant_of(&HeaderMap::new(), &config).unwrap(),
            "acme"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            TENANT_HEADER,
            "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f".parse().unwrap(),
        );
        assert_eq!(writer.tenant_of(&headers, &config).unwrap(), "acme");
        headers.insert(TENANT_HEADER, " ".parse().unwrap());
        assert_eq!(
            writer.tenant_of(&headers, &config),
            Err(KeyError::BadTenantHeader)
        );
        let any = ring
            .authenticate(&with_bearer("old-key-0123456789"), before)
            .unwrap();
        assert_eq!(
            any.tenant_of(&HeaderMap::new(), &config),
            Err(KeyError::TenantRequired)
        );
        assert!(configured(&config, "acme").is_ok());
        assert_eq!(
            configured(&config, "nobody").unwrap_err().to_string(),
            "tenant nobody is not configured (add it under tenants)"
        );
    }
}
