//! Webhook authentication over the raw body bytes, before anything is parsed.
//!
//! Three ways in, any of the integration's active secrets may match (rotation):
//! - `X-Webhook-Secret: <secret>` (the seed's pattern);
//! - `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>`;
//! - the same with `X-Webhook-Timestamp: <unix seconds>`, where the HMAC covers
//!   `<ts>.<body>` and a timestamp outside the tolerance is refused (replay protection).
//!
//! Comparisons are constant time. Only [`verify`] makes a [`Verified`] body, so unverified input
//! cannot reach the normalizer by type.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use rae_core::config::Secret;

pub const SECRET_HEADER: &str = "x-webhook-secret";
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-webhook-timestamp";

/// Why a request was not authenticated. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing credentials: send X-Webhook-Secret or X-Webhook-Signature")]
    Missing,
    #[error("X-Webhook-Signature must look like sha256=<64 hex digits>")]
    MalformedSignature,
    #[error("X-Webhook-Timestamp must be unix seconds")]
    MalformedTimestamp,
    #[error("X-Webhook-Timestamp is more than {tolerance_secs}s away from the server clock")]
    StaleTimestamp { tolerance_secs: u64 },
    #[error("signature does not match any active secret")]
    BadSignature,
    #[error("secret does not match any active secret")]
    BadSecret,
    #[error("the integration has no active secret")]
    NoSecrets,
}

/// A body whose sender proved knowledge of a secret.
#[derive(Debug)]
pub struct Verified<'a> {
    body: &'a [u8],
}

impl<'a> Verified<'a> {
    /// A body whose sender authenticated with an API key instead of a webhook secret.
    pub(crate) fn by_api_key(body: &'a [u8]) -> Verified<'a> {
        Verified { body }
    }

    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// The authentication headers of a request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    pub secret: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub timestamp: Option<&'a str>,
}

/// Checks `credentials` against `secrets` for `body`, at unix time `now`.
///
/// # Errors
/// [`VerifyError`] saying which check failed.
pub fn verify<'a>(
    credentials: Credentials<'_>,
    body: &'a [u8],
    secrets: &[Secret],
    tolerance_secs: u64,
    now: i64,
) -> Result<Verified<'a>, VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecrets);
    }
    if let Some(signature) = credentials.signature {
        let expected = signature
            .trim()
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h).ok())
            .filter(|d| d.len() == 32)
            .ok_or(VerifyError::MalformedSignature)?;
        let timestamp = match credentials.timestamp {
            Some(ts) => {
                let at: i64 = ts
                    .trim()
                    .parse()
                    .map_err(|_| VerifyError::MalformedTimestamp)?;
                if now.abs_diff(at) > tolerance_secs {
                    return Err(VerifyError::StaleTimestamp { tolerance_secs });
                }
                Some(ts.trim())
            }
            None => None,
        };
        let matched = secrets.iter().any(|secret| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                return false;
            };
            if let Some(ts) = timestamp {
                mac.update(ts.as_bytes());
                mac.update(b".");
            }
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        });
        return if matched {
            Ok(Verified { body })
        } else {
            Err(VerifyError::BadSignature)
        };
    }
    if let Some(given) = credentials.secret {
        // Comparing digests keeps the time independent of where the strings differ and of
        // their lengths.
        let given = Sha256::digest(given.as_bytes());
        let matched = secrets.iter().fold(false, |found, s| {
            found | constant_time_eq(&given, &Sha256::digest(s.expose().as_bytes()))
        });
        return if matched {
            Ok(Verified { body })
        } else {
            Err(VerifyError::BadSecret)
        };
    }
    Err(VerifyError::Missing)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `sha256=<hex>` of `body` (with `<ts>.` in front when given): what a sender computes.
pub fn sign(secret: &str, timestamp: Option<&str>, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    if let Some(ts) = timestamp {
        mac.update(ts.as_bytes());
        mac.update(b".");
    }
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000;
    const BODY: &[u8] = br#"{"content":"hello"}"#;

    fn secrets() -> Vec<Secret> {
        vec![Secret::new("old-secret-1"), Secret::new("new-secret-2")]
    }

    fn with_signature(signature: &str, timestamp: Option<&str>) -> Result<(), VerifyError> {
        let credentials = Credentials {
            signature: Some(signature),
            timestamp,
            ..Credentials::default()
        };
        verify(credentials, BODY, &secrets(), 300, NOW).map(|_| ())
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231 style vector.
        assert_eq!(
            sign("key", None, b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn any_active_secret_signs() {
        assert_eq!(
            with_signature(&sign("old-secret-1", None, BODY), None),
            Ok(())
        );
        assert_eq!(
            with_signature(&sign("new-secret-2", None, BODY), None),
            Ok(())
        );
        assert_eq!(
            with_signature(&sign("retired-secret", None, BODY), None),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tampered_body_fails() {
        let signature = sign("new-secret-2", None, br#"{"content":"hellO"}"#);
        assert_eq!(
            with_signature(&signature, None),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn timestamped_signatures_cover_the_timestamp() {
        let ts = NOW.to_string();
        assert_eq!(
            with_signature(&sign("new-secret-2", Some(&ts), BODY), Some(&ts)),
            Ok(())
        );
        // A signature over the body alone does not pass with a timestamp header.
        assert_eq!(
            with_signature(&sign("new-secret-2", None, BODY), Some(&ts)),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        for at in [NOW - 301, NOW + 301] {
            let ts = at.to_string();
            assert_eq!(
                with_signature(&sign("new-secret-2", Some(&ts), BODY), Some(&ts)),
                Err(VerifyError::StaleTimestamp {
                    tolerance_secs: 300
                })
            );
        }
        let ts = (NOW - 299).to_string();
        assert_eq!(
            with_signature(&sign("new-secret-2", Some(&ts), BODY), Some(&ts)),
            Ok(())
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        assert_eq!(
            with_signature("md5=abc", None),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            with_signature("sha256=zz", None),
            Err(VerifyError::MalformedSignature)
        );
        let sig = sign("new-secret-2", None, BODY);
        assert_eq!(
            with_signature(&sig, Some("yesterday")),
            Err(VerifyError::MalformedTimestamp)
        );
    }

    #[test]
    fn plain_secrets() {
        let check = |secret: Option<&str>| {
            let credentials = Credentials {
                secret,
                ..Credentials::default()
            };
            verify(credentials, BODY, &secrets(), 300, NOW).map(|_| ())
        };
        assert_eq!(check(Some("old-secret-1")), Ok(()));
        assert_eq!(check(Some("new-secret-2")), Ok(()));
        assert_eq!(check(Some("new-secret-")), Err(VerifyError::BadSecret));
        assert_eq!(check(None), Err(VerifyError::Missing));
    }
}
