//! Slack request signing (version `v0`), checked over the raw body bytes before anything is
//! parsed.
//!
//! Slack sends `X-Slack-Request-Timestamp: <unix seconds>` and
//! `X-Slack-Signature: v0=<hex HMAC-SHA256>`, where the HMAC, keyed with the app's signing
//! secret, covers the basestring `v0:<timestamp>:<body>`. Any of the integration's active
//! secrets may match (rotation); every secret is tried, so the time taken does not tell which one
//! matched. A timestamp further than the tolerance from the server clock, in either direction, is
//! refused (replay protection).
//!
//! Slack redelivers an event it got no timely 2xx for, with `X-Slack-Retry-Num` and
//! `X-Slack-Retry-Reason`; those are not signed and only informative.

pub use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::signature::{self, TimestampError};

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const RETRY_NUM_HEADER: &str = "x-slack-retry-num";
pub const RETRY_REASON_HEADER: &str = "x-slack-retry-reason";

/// The only signature version Slack uses so far.
const VERSION: &str = "v0";
/// What a signature header starts with.
const PREFIX: &str = "v0=";

/// Why a Slack request was not authenticated. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing credentials: send X-Slack-Signature and X-Slack-Request-Timestamp")]
    Missing,
    #[error("X-Slack-Signature must look like v0=<64 hex digits>")]
    MalformedSignature,
    #[error("X-Slack-Request-Timestamp is {0}")]
    Timestamp(#[from] TimestampError),
    #[error("signature does not match any active signing secret")]
    BadSignature,
    #[error("the integration has no active signing secret")]
    NoSecrets,
}

/// Checks Slack's `signature` and `timestamp` headers against `secrets` for `body`, at unix time
/// `now`.
///
/// # Errors
/// [`VerifyError`] saying which check failed: no secrets configured, a missing header, a header
/// that does not parse, a timestamp outside `tolerance_secs`, or no secret that signs the body.
pub fn verify<'a>(
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &'a [u8],
    secrets: &[Secret],
    tolerance_secs: u64,
    now: i64,
) -> Result<Verified<'a>, VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecrets);
    }
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(VerifyError::Missing);
    };
    let expected =
        signature::parse_hex_digest(signature, PREFIX).ok_or(VerifyError::MalformedSignature)?;
    let timestamp = signature::check_timestamp(timestamp, now, tolerance_secs)?;
    if signature::any_secret_signs(secrets, &basestring(timestamp, body), &expected) {
        Ok(Verified::new(body))
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// The parts of Slack's basestring `v0:<timestamp>:<body>`, which the HMAC covers.
fn basestring<'a>(timestamp: &'a str, body: &'a [u8]) -> [&'a [u8]; 5] {
    [VERSION.as_bytes(), b":", timestamp.as_bytes(), b":", body]
}

/// `v0=<hex>` for `body` sent at `timestamp`: what Slack computes (for tests and local tools).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    signature::sign_hex(PREFIX, secret, &basestring(timestamp, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`verify`] without the verified body, for comparing outcomes.
    fn verified(
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        secrets: &[Secret],
        tolerance_secs: u64,
        now: i64,
    ) -> Result<(), VerifyError> {
        verify(signature, timestamp, body, secrets, tolerance_secs, now).map(|_| ())
    }

    // Slack's worked example from "Verifying requests from Slack"
    // (https://api.slack.com/authentication/verifying-requests-from-slack).
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: &str = "1531420618";
    const DOC_NOW: i64 = 1_531_420_618;
    const DOC_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn doc_secrets() -> Vec<Secret> {
        vec![Secret::new(DOC_SECRET)]
    }

    fn check(signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        verified(
            Some(signature),
            Some(timestamp),
            body,
            &doc_secrets(),
            300,
            now,
        )
    }

    #[test]
    fn slack_documented_example_verifies() {
        assert_eq!(sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY), DOC_SIGNATURE);
        assert_eq!(
            check(DOC_SIGNATURE, DOC_TIMESTAMP, DOC_BODY, DOC_NOW),
            Ok(())
        );
        // Upper-case hex and surrounding whitespace are the same signature.
        let upper = format!("v0={}", DOC_SIGNATURE[3..].to_uppercase());
        assert_eq!(
            check(&format!(" {upper} "), DOC_TIMESTAMP, DOC_BODY, DOC_NOW),
            Ok(())
        );
    }

    #[test]
    fn tampered_requests_fail() {
        let mut body = DOC_BODY.to_vec();
        body[6] ^= 1;
        assert_eq!(
            check(DOC_SIGNATURE, DOC_TIMESTAMP, &body, DOC_NOW),
            Err(VerifyError::BadSignature)
        );
        // The timestamp is signed too: shifting it (within the tolerance) breaks the signature.
        assert_eq!(
            check(DOC_SIGNATURE, "1531420619", DOC_BODY, DOC_NOW),
            Err(VerifyError::BadSignature)
        );
        let mut signature = DOC_SIGNATURE.to_owned();
        signature.replace_range(5..6, "0");
        assert_eq!(
            check(&signature, DOC_TIMESTAMP, DOC_BODY, DOC_NOW),
            Err(VerifyError::BadSignature)
        );
        let wrong_secret = vec![Secret::new("8f742231b10e8888abcd99yyyzzz85a6")];
        assert_eq!(
            verified(
                Some(DOC_SIGNATURE),
                Some(DOC_TIMESTAMP),
                DOC_BODY,
                &wrong_secret,
                300,
                DOC_NOW
            ),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let stale = Err(VerifyError::Timestamp(TimestampError::Stale {
            tolerance_secs: 300,
        }));
        assert_eq!(
            check(DOC_SIGNATURE, DOC_TIMESTAMP, DOC_BODY, DOC_NOW + 301),
            stale
        );
        assert_eq!(
            check(DOC_SIGNATURE, DOC_TIMESTAMP, DOC_BODY, DOC_NOW - 301),
            stale
        );
        assert_eq!(
            check(DOC_SIGNATURE, DOC_TIMESTAMP, DOC_BODY, DOC_NOW + 300),
            Ok(())
        );
        assert_eq!(
            check(DOC_SIGNATURE, DOC_TIMESTAMP, DOC_BODY, DOC_NOW - 300),
            Ok(())
        );
        // Extreme values neither overflow nor pass.
        assert_eq!(
            check(DOC_SIGNATURE, &i64::MIN.to_string(), DOC_BODY, i64::MAX),
            stale
        );
    }

    #[test]
    fn any_active_secret_signs() {
        let secrets = vec![Secret::new("old-secret"), Secret::new(DOC_SECRET)];
        let with = |secret: &str| {
            let signature = sign(secret, DOC_TIMESTAMP, DOC_BODY);
            verified(
                Some(&signature),
                Some(DOC_TIMESTAMP),
                DOC_BODY,
                &secrets,
                300,
                DOC_NOW,
            )
        };
        assert_eq!(with("old-secret"), Ok(()));
        assert_eq!(with(DOC_SECRET), Ok(()));
        assert_eq!(with("retired-secret"), Err(VerifyError::BadSignature));
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let secrets = doc_secrets();
        let run = |signature: Option<&str>, timestamp: Option<&str>| {
            verified(signature, timestamp, DOC_BODY, &secrets, 300, DOC_NOW)
        };
        assert_eq!(run(None, Some(DOC_TIMESTAMP)), Err(VerifyError::Missing));
        assert_eq!(run(Some(DOC_SIGNATURE), None), Err(VerifyError::Missing));
        assert_eq!(run(None, None), Err(VerifyError::Missing));
        for bad in [
            "",
            "v0=",
            "v0=zz",
            "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "sha256=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v0=a2114d57b48eac39",
            "v0=é",
        ] {
            assert_eq!(
                run(Some(bad), Some(DOC_TIMESTAMP)),
                Err(VerifyError::MalformedSignature),
                "{bad:?}"
            );
        }
        for bad in ["", "yesterday", "1531420618.5", "99999999999999999999"] {
            assert_eq!(
                run(Some(DOC_SIGNATURE), Some(bad)),
                Err(VerifyError::Timestamp(TimestampError::Malformed)),
                "{bad:?}"
            );
        }
        assert_eq!(
            verified(
                Some(DOC_SIGNATURE),
                Some(DOC_TIMESTAMP),
                DOC_BODY,
                &[],
                300,
                DOC_NOW
            ),
            Err(VerifyError::NoSecrets)
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_764_000_000;
    const TOLERANCE: u64 = 300;

    fn secrets() -> Vec<Secret> {
        vec![Secret::new("old-secret-1"), Secret::new("new-secret-2")]
    }

    fn check(
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        verify(signature, timestamp, body, &secrets(), TOLERANCE, NOW).map(|_| ())
    }

    proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn a_signed_body_always_verifies_and_one_changed_byte_never_does(
            body in prop::collection::vec(any::<u8>(), 1..512),
            secret in prop::sample::select(vec!["old-secret-1", "new-secret-2"]),
            skew in -(TOLERANCE as i64)..=(TOLERANCE as i64),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let ts = (NOW + skew).to_string();
            let signature = sign(secret, &ts, &body);
            prop_assert_eq!(check(Some(&signature), Some(&ts), &body), Ok(()));
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(check(Some(&signature), Some(&ts), &tampered), Err(VerifyError::BadSignature));
            // Another timestamp within the tolerance is tampering too.
            let other = (NOW + skew + if skew > 0 { -1 } else { 1 }).to_string();
            prop_assert_eq!(check(Some(&signature), Some(&other), &body), Err(VerifyError::BadSignature));
        }

        #[test]
        fn arbitrary_headers_get_their_documented_error(
            signature in proptest::option::of(prop_oneof![".{0,80}", "v0=[0-9a-fA-F]{64}"]),
            timestamp in proptest::option::of(prop_oneof![".{0,20}", "-?[0-9]{1,12}"]),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let result = check(signature.as_deref(), timestamp.as_deref(), &body);
            let (Some(sig), Some(ts)) = (signature.as_deref(), timestamp.as_deref()) else {
                prop_assert_eq!(result, Err(VerifyError::Missing));
                return Ok(());
            };
            if signature::parse_hex_digest(sig, PREFIX).is_none() {
                prop_assert_eq!(result, Err(VerifyError::MalformedSignature));
            } else {
                match ts.trim().parse::<i64>() {
                    Err(_) => prop_assert_eq!(result, Err(VerifyError::Timestamp(TimestampError::Malformed))),
                    Ok(at) if at.abs_diff(NOW) > TOLERANCE => prop_assert_eq!(
                        result,
                        Err(VerifyError::Timestamp(TimestampError::Stale { tolerance_secs: TOLERANCE }))
                    ),
                    Ok(_) => prop_assert_eq!(result, Err(VerifyError::BadSignature)),
                }
            }
        }
    }
}
