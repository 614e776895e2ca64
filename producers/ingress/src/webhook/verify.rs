//! Webhook authentication over the raw body bytes, before anything is parsed.
//!
//! Three ways in, any of the integration's active secrets may match (rotation):
//! - `X-Webhook-Secret: <secret>` (the seed's pattern);
//! - `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>`;
//! - the same with `X-Webhook-Timestamp: <unix seconds>`, where the HMAC covers
//!   `<ts>.<body>` and a timestamp outside the tolerance is refused (replay protection).
//!
//! Comparisons are constant time. Only [`verify`] makes a [`Verified`] body, so unverified input
//! cannot reach the normalizer by type. A signature that verified is returned with the body:
//! the handler makes it the event's idempotency key, so a replayed request is a duplicate and
//! never a second event. An integration with `require_timestamp` refuses body-only signatures.

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
    #[error("X-Webhook-Timestamp is required with X-Webhook-Signature by this integration: sign `<unix seconds>.<body>` and send the seconds in X-Webhook-Timestamp")]
    TimestampRequired,
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

/// What a webhook checks a request against: its active secrets and signing rules.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub secrets: &'a [Secret],
    /// How far `X-Webhook-Timestamp` may be from `now`.
    pub tolerance_secs: u64,
    /// Refuse signatures without a timestamp.
    pub require_timestamp: bool,
}

/// An authenticated body, with the signature that proved it when one did.
#[derive(Debug, Clone)]
pub struct Authenticated<'a> {
    pub body: Verified<'a>,
    /// `sha256=<hex>` in lower case, with the timestamp it covers: the same request sent
    /// again carries the same value.
    pub signature: Option<String>,
}

/// Checks `credentials` against `policy` for `body`, at unix time `now`.
///
/// # Errors
/// [`VerifyError`] saying which check failed.
pub fn verify<'a>(
    credentials: Credentials<'_>,
    body: &'a [u8],
    policy: Policy<'_>,
    now: i64,
) -> Result<Authenticated<'a>, VerifyError> {
    let secrets = policy.secrets;
    if secrets.is_empty() {
        return Err(VerifyError::NoSecrets);
    }
    if let Some(signature) = credentials.signature {
        let expected = signature::parse_hex_digest(signature, "sha256=")
            .ok_or(VerifyError::MalformedSignature)?;
        let (signed, timestamp) = match credentials.timestamp {
            Some(ts) => {
                let ts = signature::check_timestamp(ts, now, policy.tolerance_secs)?;
                let signed =
                    signature::any_secret_signs(secrets, &[ts.as_bytes(), b".", body], &expected);
                (signed, Some(ts))
            }
            None if policy.require_timestamp => return Err(VerifyError::TimestampRequired),
            None => (
                signature::any_secret_signs(secrets, &[body], &expected),
                None,
            ),
        };
        if !signed {
            return Err(VerifyError::BadSignature);
        }
        let hex = hex::encode(expected);
        return Ok(Authenticated {
            body: Verified::new(body),
            signature: Some(match timestamp {
                Some(ts) => format!("{ts}.sha256={hex}"),
                None => format!("sha256={hex}"),
            }),
        });
    }
    if let Some(given) = credentials.secret {
        return if signature::any_secret_equals(secrets, given) {
            Ok(Authenticated {
                body: Verified::new(body),
                signature: None,
            })
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

    pub(super) const NOW: i64 = 1_764_000_000;
    const BODY: &[u8] = br#"{"content":"hello"}"#;

    pub(super) fn secrets() -> Vec<Secret> {
        vec![Secret::new("old-secret-1"), Secret::new("new-secret-2")]
    }

    fn policy(secrets: &[Secret], require_timestamp: bool) -> Policy<'_> {
        Policy {
            secrets,
            tolerance_secs: 300,
            require_timestamp,
        }
    }

    fn with_signature(signature: &str, timestamp: Option<&str>) -> Result<(), VerifyError> {
        let credentials = Credentials {
            signature: Some(signature),
            timestamp,
            ..Credentials::default()
        };
        verify(credentials, BODY, policy(&secrets(), false), NOW).map(|_| ())
    }

    #[test]
    fn a_signature_is_returned_as_the_replay_key_and_can_be_required_with_a_timestamp() {
        let secrets = secrets();
        let ts = NOW.to_string();
        let signature = sign("new-secret-2", Some(&ts), BODY);
        let credentials = Credentials {
            signature: Some(&signature),
            timestamp: Some(&ts),
            ..Credentials::default()
        };
        let accepted = verify(credentials, BODY, policy(&secrets, true), NOW).unwrap();
        assert_eq!(accepted.signature, Some(format!("{ts}.{signature}")));

        let body_only = sign("new-secret-2", None, BODY);
        let credentials = Credentials {
            signature: Some(&body_only),
            ..Credentials::default()
        };
        assert_eq!(
            verify(credentials, BODY, policy(&secrets, true), NOW).map(|_| ()),
            Err(VerifyError::TimestampRequired)
        );
        let accepted = verify(credentials, BODY, policy(&secrets, false), NOW).unwrap();
        assert_eq!(accepted.signature, Some(body_only));

        let plain = Credentials {
            secret: Some("new-secret-2"),
            ..Credentials::default()
        };
        let accepted = verify(plain, BODY, policy(&secrets, true), NOW).unwrap();
        assert_eq!(accepted.signature, None);
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
            verify(credentials, BODY, policy(&secrets(), false), NOW).map(|_| ())
        };
        assert_eq!(check(Some("old-secret-1")), Ok(()));
        assert_eq!(check(Some("new-secret-2")), Ok(()));
        assert_eq!(check(Some("new-secret-")), Err(VerifyError::BadSecret));
        assert_eq!(check(None), Err(VerifyError::Missing));
    }
}

#[cfg(test)]
mod proptests {
    use super::tests::{secrets, NOW};
    use super::*;
    use proptest::prelude::*;

    const TOLERANCE: u64 = 300;

    fn check(
        secret: Option<&str>,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        require_timestamp: bool,
    ) -> Result<Option<String>, VerifyError> {
        let credentials = Credentials {
            secret,
            signature,
            timestamp,
        };
        let policy = Policy {
            secrets: &secrets(),
            tolerance_secs: TOLERANCE,
            require_timestamp,
        };
        verify(credentials, body, policy, NOW).map(|a| a.signature)
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 1..512)
    }

    proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn a_signed_body_always_verifies(
            body in body(),
            secret in prop::sample::select(vec!["old-secret-1", "new-secret-2"]),
            skew in -(TOLERANCE as i64)..=(TOLERANCE as i64),
            timestamped in any::<bool>(),
        ) {
            let ts = (NOW + skew).to_string();
            let ts = timestamped.then_some(ts.as_str());
            let signature = sign(secret, ts, &body);
            let replay_key = check(None, Some(&signature), ts, &body, timestamped)?;
            let expected = match ts {
                Some(ts) => format!("{ts}.{signature}"),
                None => signature.clone(),
            };
            prop_assert_eq!(replay_key, Some(expected));
        }

        #[test]
        fn one_changed_byte_never_verifies(
            body in body(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            timestamped in any::<bool>(),
        ) {
            let ts = NOW.to_string();
            let ts = timestamped.then_some(ts.as_str());
            let signature = sign("new-secret-2", ts, &body);
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(
                check(None, Some(&signature), ts, &tampered, false),
                Err(VerifyError::BadSignature)
            );
            // Another timestamp within the tolerance is tampering too.
            if timestamped {
                let other = (NOW - 1).to_string();
                prop_assert_eq!(check(None, Some(&signature), Some(&other), &body, false), Err(VerifyError::BadSignature));
                prop_assert_eq!(check(None, Some(&signature), None, &body, false), Err(VerifyError::BadSignature));
            }
        }

        #[test]
        fn arbitrary_headers_get_their_documented_error(
            secret in proptest::option::of(".{0,40}"),
            signature in proptest::option::of(prop_oneof![".{0,80}", "sha256=[0-9a-fA-F]{64}"]),
            timestamp in proptest::option::of(prop_oneof![".{0,20}", "-?[0-9]{1,12}"]),
            body in prop::collection::vec(any::<u8>(), 0..64),
            require_timestamp in any::<bool>(),
        ) {
            let result = check(secret.as_deref(), signature.as_deref(), timestamp.as_deref(), &body, require_timestamp);
            match (&signature, result) {
                (Some(sig), Err(VerifyError::MalformedSignature)) => {
                    prop_assert!(rae_core::signature::parse_hex_digest(sig, "sha256=").is_none());
                }
                (Some(sig), result) => {
                    prop_assert!(rae_core::signature::parse_hex_digest(sig, "sha256=").is_some());
                    match (timestamp.as_deref().map(str::trim), result) {
                        (Some(ts), Err(VerifyError::Timestamp(TimestampError::Malformed))) => {
                            prop_assert!(ts.parse::<i64>().is_err());
                        }
                        (Some(ts), Err(VerifyError::Timestamp(TimestampError::Stale { .. }))) => {
                            let at: i64 = ts.parse().map_err(|_| TestCaseError::fail("stale but not a number"))?;
                            prop_assert!(at.abs_diff(NOW) > TOLERANCE);
                        }
                        (None, Err(VerifyError::TimestampRequired)) => prop_assert!(require_timestamp),
                        // Random digests sign nothing.
                        (_, other) => prop_assert_eq!(other, Err(VerifyError::BadSignature)),
                    }
                }
                (None, result) => match secret.as_deref() {
                    Some("old-secret-1" | "new-secret-2") => prop_assert_eq!(result, Ok(None)),
                    Some(_) => prop_assert_eq!(result, Err(VerifyError::BadSecret)),
                    None => prop_assert_eq!(result, Err(VerifyError::Missing)),
                },
            }
        }
    }
}
