//! API keys: the key ring and its checks are the core's ([`rae_core::api_keys`], shared with the
//! MCP server's `/mcp`); here they meet the ingress's [`ApiError`], and `rae-pipeline keys`
//! finds its helpers.

use rae_core::api_keys::{KeyError, Refusal};
use rae_core::config::key_digest;

pub use rae_core::api_keys::{bearer, ApiKey, KeyRing};

use crate::ApiError;

impl From<KeyError> for ApiError {
    fn from(err: KeyError) -> ApiError {
        match err.refusal() {
            Refusal::Unauthenticated => ApiError::Unauthorized(err.to_string()),
            Refusal::Forbidden => ApiError::Forbidden(err.to_string()),
            Refusal::BadTenant => ApiError::BadRequest {
                field: Some("X-Tenant-ID".into()),
                message: err.to_string(),
            },
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
    use axum::http::{header, HeaderMap};
    use rae_core::config::{Config, Source};
    use time::OffsetDateTime;

    #[test]
    fn key_refusals_are_401_403_and_400() {
        let config = Config::load(
            &Source::Text(
                "tenants:\n  acme: { rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f }\napi_keys:\n  - id: writer\n    key: writer-key-0123456789\n    scopes: [\"memories:write\"]\n    tenants: [\"*\"]\n"
                    .into(),
            ),
            &|_| None,
        )
        .unwrap();
        let ring = KeyRing::from_config(&config);
        let now = OffsetDateTime::now_utc();
        let err = ApiError::from(ring.authenticate(&HeaderMap::new(), now).unwrap_err());
        assert_eq!(err.status(), 401);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            "Bearer writer-key-0123456789".parse().unwrap(),
        );
        let key = ring.authenticate(&headers, now).unwrap();
        let err = ApiError::from(key.require(rae_core::config::Scope::DlqAdmin).unwrap_err());
        assert_eq!(err.status(), 403);
        assert_eq!(err.to_string(), "API key writer lacks the scope dlq:admin");
        let err = ApiError::from(key.tenant_of(&headers, &config).unwrap_err());
        assert_eq!(err.status(), 400);
        assert_eq!(err.code(), "bad_request");
    }

    #[test]
    fn generated_keys_are_long_and_distinct() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), 47);
        assert_eq!(hash_key(&a).len(), 64);
    }
}
