//! HMAC-SHA256 signatures as webhook senders make them, checked in constant time.
//!
//! Every signed route (generic webhooks, GitHub, Slack) shares these pieces and differs only in
//! the header shapes and in what the MAC covers: the raw body, `<ts>.<body>` or
//! `v0:<ts>:<body>`. So the MAC is computed over a list of byte parts, every active secret is
//! tried whatever the outcome (the time taken does not tell which secret matched), and the
//! timestamp check is one function with one tolerance rule.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// Length of an HMAC-SHA256 digest in bytes.
pub const DIGEST_LEN: usize = 32;

/// The HMAC-SHA256 of the concatenated `parts` keyed with `secret`.
pub fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `<prefix><hex digest>` of `parts` under `secret`: the header value a sender computes
/// (`sha256=...` for GitHub and generic webhooks, `v0=...` for Slack).
pub fn sign_hex(prefix: &str, secret: &str, parts: &[&[u8]]) -> String {
    format!(
        "{prefix}{}",
        hex::encode(hmac_sha256(secret.as_bytes(), parts))
    )
}

/// The digest of a `<prefix><64 hex digits>` header value (surrounding blanks allowed, hex in
/// either case), or `None` when it is not one.
pub fn parse_hex_digest(header: &str, prefix: &str) -> Option<[u8; DIGEST_LEN]> {
    let digits = header.trim().strip_prefix(prefix)?;
    let bytes = hex::decode(digits).ok()?;
    bytes.try_into().ok()
}

/// True when one of `secrets` signs `parts` with `expected`. Every secret is tried and each
/// comparison is constant time.
pub fn any_secret_signs(secrets: &[Secret], parts: &[&[u8]], expected: &[u8; DIGEST_LEN]) -> bool {
    secrets.iter().fold(false, |found, secret| {
        found | constant_time_eq(&hmac_sha256(secret.expose().as_bytes(), parts), expected)
    })
}

/// True when one of `keys` (raw key bytes, such as a decoded `whsec_` secret) signs `parts`
/// with `expected`. Every key is tried and each comparison is constant time.
pub fn any_key_signs(keys: &[Vec<u8>], parts: &[&[u8]], expected: &[u8]) -> bool {
    keys.iter().fold(false, |found, key| {
        found | constant_time_eq(&hmac_sha256(key, parts), expected)
    })
}

/// True when `given` equals one of `secrets`. Digests are compared, so the time taken depends
/// neither on where the strings differ nor on their lengths.
pub fn any_secret_equals(secrets: &[Secret], given: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    secrets.iter().fold(false, |found, secret| {
        found | constant_time_eq(&given, &Sha256::digest(secret.expose().as_bytes()))
    })
}

/// Why a signed timestamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("not unix seconds")]
    Malformed,
    #[error("more than {tolerance_secs}s away from the server clock")]
    Stale { tolerance_secs: u64 },
}

/// The trimmed timestamp `text` when it is unix seconds within `tolerance_secs` of `now`, in
/// either direction (replay protection).
///
/// # Errors
/// [`TimestampError::Malformed`] when it is not a number, [`TimestampError::Stale`] when it is
/// too far from `now`.
pub fn check_timestamp(text: &str, now: i64, tolerance_secs: u64) -> Result<&str, TimestampError> {
    let text = text.trim();
    let at: i64 = text.parse().map_err(|_| TimestampError::Malformed)?;
    if now.abs_diff(at) > tolerance_secs {
        return Err(TimestampError::Stale { tolerance_secs });
    }
    Ok(text)
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_style_vector() {
        assert_eq!(
            sign_hex(
                "sha256=",
                "key",
                &[b"The quick brown fox jumps over the lazy dog"]
            ),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn parts_are_concatenated() {
        assert_eq!(
            hmac_sha256(b"k", &[b"12", b".", b"body"]),
            hmac_sha256(b"k", &[b"12.body"])
        );
    }

    #[test]
    fn digests_parse_only_with_their_prefix_and_length() {
        let hex64 = "ab".repeat(32);
        assert!(parse_hex_digest(&format!(" sha256={hex64} "), "sha256=").is_some());
        assert!(parse_hex_digest(&format!("sha256={}", hex64.to_uppercase()), "sha256=").is_some());
        assert!(parse_hex_digest(&hex64, "sha256=").is_none());
        assert!(parse_hex_digest(&format!("sha256={hex64}00"), "sha256=").is_none());
        assert!(parse_hex_digest("sha256=zz", "sha256=").is_none());
        assert!(parse_hex_digest(&format!("v0={hex64}"), "sha256=").is_none());
    }

    #[test]
    fn every_secret_is_tried() {
        let secrets = [Secret::new("old"), Secret::new("new")];
        let signed_by_new = hmac_sha256(b"new", &[b"body"]);
        assert!(any_secret_signs(&secrets, &[b"body"], &signed_by_new));
        assert!(!any_secret_signs(&secrets, &[b"bodY"], &signed_by_new));
        assert!(!any_secret_signs(&[], &[b"body"], &signed_by_new));
        assert!(any_secret_equals(&secrets, "old"));
        assert!(!any_secret_equals(&secrets, "ol"));
    }

    #[test]
    fn timestamps_within_the_tolerance_either_way() {
        assert_eq!(check_timestamp(" 1000 ", 1000, 300), Ok("1000"));
        assert_eq!(check_timestamp("700", 1000, 300), Ok("700"));
        assert_eq!(check_timestamp("1300", 1000, 300), Ok("1300"));
        assert_eq!(
            check_timestamp("699", 1000, 300),
            Err(TimestampError::Stale {
                tolerance_secs: 300
            })
        );
        assert_eq!(
            check_timestamp("1301", 1000, 300),
            Err(TimestampError::Stale {
                tolerance_secs: 300
            })
        );
        assert_eq!(
            check_timestamp("1e3", 1000, 300),
            Err(TimestampError::Malformed)
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(512)))]

        #[test]
        fn digest_parsing_never_panics_and_reads_only_whole_digests(header in ".{0,80}") {
            if let Some(digest) = parse_hex_digest(&header, "sha256=") {
                let digits = header.trim().strip_prefix("sha256=").unwrap_or_default();
                prop_assert_eq!(digits.to_ascii_lowercase(), hex::encode(digest));
            }
        }

        #[test]
        fn digests_of_any_hex_parse(digest in any::<[u8; DIGEST_LEN]>(), upper in any::<bool>()) {
            let digits = hex::encode(digest);
            let digits = if upper { digits.to_uppercase() } else { digits };
            prop_assert_eq!(parse_hex_digest(&format!(" v0={digits}\t"), "v0="), Some(digest));
            prop_assert_eq!(parse_hex_digest(&format!("v0={}", &digits[1..]), "v0="), None);
        }

        #[test]
        fn timestamps_never_panic(text in ".{0,40}", now in any::<i64>(), tolerance in any::<u64>()) {
            match check_timestamp(&text, now, tolerance) {
                Ok(kept) => {
                    let at: i64 = kept.parse().map_err(|_| TestCaseError::fail("kept a non-number"))?;
                    prop_assert!(now.abs_diff(at) <= tolerance);
                }
                Err(TimestampError::Malformed) => prop_assert!(text.trim().parse::<i64>().is_err()),
                Err(TimestampError::Stale { tolerance_secs }) => prop_assert_eq!(tolerance_secs, tolerance),
            }
        }

        #[test]
        fn timestamps_are_judged_by_distance(at in any::<i64>(), now in any::<i64>(), tolerance in 0u64..100_000) {
            let (text, digits) = (format!(" {at} "), at.to_string());
            let result = check_timestamp(&text, now, tolerance);
            if now.abs_diff(at) <= tolerance {
                prop_assert_eq!(result, Ok(digits.as_str()));
            } else {
                prop_assert_eq!(result, Err(TimestampError::Stale { tolerance_secs: tolerance }));
            }
        }

        #[test]
        fn a_signed_body_verifies_and_one_changed_byte_never_does(
            secret in ".{1,40}",
            body in proptest::collection::vec(any::<u8>(), 1..512),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let header = sign_hex("sha256=", &secret, &[&body]);
            let expected = parse_hex_digest(&header, "sha256=").ok_or_else(|| TestCaseError::fail("unparsable"))?;
            let secrets = [Secret::new(secret.as_str())];
            prop_assert!(any_secret_signs(&secrets, &[&body], &expected));
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert!(!any_secret_signs(&secrets, &[&tampered], &expected));
        }

        #[test]
        fn constant_time_eq_is_equality(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(constant_time_eq(&a, &b), a == b);
            prop_assert!(constant_time_eq(&a, &a.clone()));
        }
    }
}
