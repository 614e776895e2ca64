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

pub use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::signature::{self, TimestampError};

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
    #[error("X-Webhook-Timestamp is {0}")]
    Timestamp(#[from] TimestampError),
    #[error("signature does not match any active secret")]
    BadSignature,
    #[error("secret does not match any active secret")]
    BadSecret,
    #[error("the integration has no active secret")]
    NoSecrets,
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
        let expected = signature::parse_hex_digest(signature, "sha256=")
            .ok_or(VerifyError::MalformedSignature)?;
        let signed = match credentials.timestamp {
            Some(ts) => {
                let ts = signature::check_timestamp(ts, now, tolerance_secs)?;
                signature::any_secret_signs(secrets, &[ts.as_bytes(), b".", body], &expected)
            }
            None => signature::any_secret_signs(secrets, &[body], &expected),
        };
        return if signed {
            Ok(Verified::new(body))
        } else {
            Err(VerifyError::BadSignature)
        };
    }
    if let Some(given) = credentials.secret {
        return if signature::any_secret_equals(secrets, given) {
            Ok(Verified::new(body))
        } else {
            Err(VerifyError::BadSecret)
        };
    }
    Err(VerifyError::Missing)
}

/// `sha256=<hex>` of `body` (with `<ts>.` in front when given): what a sender computes.
pub fn sign(secret: &str, timestamp: Option<&str>, body: &[u8]) -> String {
    match timestamp {
        Some(ts) => signature::sign_hex("sha256=", secret, &[ts.as_bytes(), b".", body]),
        None => signature::sign_hex("sha256=", secret, &[body]),
    }
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
                Err(VerifyError::Timestamp(TimestampError::Stale {
                    tolerance_secs: 300,
                }))
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
            Err(VerifyError::Timestamp(TimestampError::Malformed))
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
