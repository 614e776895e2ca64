//! GitHub webhook authentication over the raw body bytes, before anything is parsed.
//!
//! GitHub signs every delivery with the hook's secret: `X-Hub-Signature-256: sha256=<hex>`, the
//! HMAC-SHA256 of the raw body. Any of the integration's active secrets may match (rotation), and
//! the comparison is constant time. The legacy SHA-1 `X-Hub-Signature` header is not accepted.

pub use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::signature;

/// The signature of the body, `sha256=<64 hex digits>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The event name (`pull_request`, `push`, `ping`, ...).
pub const EVENT_HEADER: &str = "x-github-event";
/// GitHub's unique id of one delivery (kept on redelivery).
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// Why a delivery was not authenticated. Messages name the header, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 must look like sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match any active secret")]
    BadSignature,
    #[error("the integration has no active secret")]
    NoSecrets,
}

/// Checks the `X-Hub-Signature-256` value `signature` of `body` against `secrets`.
///
/// # Errors
/// [`VerifyError::NoSecrets`] when `secrets` is empty, [`VerifyError::Missing`] without a
/// header, [`VerifyError::Malformed`] when it is not `sha256=<64 hex digits>`, and
/// [`VerifyError::BadSignature`] when no secret produces it.
pub fn verify<'a>(
    header: Option<&str>,
    body: &'a [u8],
    secrets: &[Secret],
) -> Result<Verified<'a>, VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecrets);
    }
    let header = header.ok_or(VerifyError::Missing)?;
    let expected = signature::parse_hex_digest(header, "sha256=").ok_or(VerifyError::Malformed)?;
    if signature::any_secret_signs(secrets, &[body], &expected) {
        Ok(Verified::new(body))
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// `sha256=<hex>` of `body` under `secret`: the header value GitHub sends.
pub fn sign(secret: &str, body: &[u8]) -> String {
    signature::sign_hex("sha256=", secret, &[body])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`verify`] without the verified body, for comparing outcomes.
    fn verified(header: Option<&str>, body: &[u8], secrets: &[Secret]) -> Result<(), VerifyError> {
        verify(header, body, secrets).map(|_| ())
    }

    /// The test values of GitHub's "Validating webhook deliveries" documentation.
    const DOC_SECRET: &str = "It's a Secret to Everybody";
    const DOC_PAYLOAD: &[u8] = b"Hello, World!";
    const DOC_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    const BODY: &[u8] = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;

    fn secrets() -> Vec<Secret> {
        vec![Secret::new("old-secret-1"), Secret::new("new-secret-2")]
    }

    #[test]
    fn githubs_documented_vector() {
        assert_eq!(sign(DOC_SECRET, DOC_PAYLOAD), DOC_SIGNATURE);
        assert_eq!(
            verified(Some(DOC_SIGNATURE), DOC_PAYLOAD, &[Secret::new(DOC_SECRET)]),
            Ok(())
        );
        // Hex digits in upper case and surrounding blanks are accepted.
        let upper = format!(" sha256={} ", DOC_SIGNATURE[7..].to_uppercase());
        assert_eq!(
            verified(Some(&upper), DOC_PAYLOAD, &[Secret::new(DOC_SECRET)]),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_fails() {
        assert_eq!(
            verified(
                Some(DOC_SIGNATURE),
                b"Hello, World?",
                &[Secret::new(DOC_SECRET)]
            ),
            Err(VerifyError::BadSignature)
        );
        let signature = sign("new-secret-2", BODY);
        let mut tampered = BODY.to_vec();
        tampered.push(b' ');
        assert_eq!(
            verified(Some(&signature), &tampered, &secrets()),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_wrong_secret_fails() {
        assert_eq!(
            verified(Some(&sign("retired-secret", BODY)), BODY, &secrets()),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn old_and_new_secrets_both_pass_during_rotation() {
        assert_eq!(
            verified(Some(&sign("old-secret-1", BODY)), BODY, &secrets()),
            Ok(())
        );
        assert_eq!(
            verified(Some(&sign("new-secret-2", BODY)), BODY, &secrets()),
            Ok(())
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        assert_eq!(verified(None, BODY, &secrets()), Err(VerifyError::Missing));
        let valid_hex = &DOC_SIGNATURE[7..];
        for bad in [
            "",
            valid_hex,
            "sha1=0123456789abcdef0123456789abcdef01234567",
            "sha256=",
            "sha256=zz",
            "sha256=757107ea",
            &format!("sha256={valid_hex}00"),
            &format!("sha256={}g", &valid_hex[1..]),
            &format!("SHA256={valid_hex}"),
        ] {
            assert_eq!(
                verified(Some(bad), BODY, &secrets()),
                Err(VerifyError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn no_secrets_is_its_own_error() {
        assert_eq!(
            verified(Some(DOC_SIGNATURE), DOC_PAYLOAD, &[]),
            Err(VerifyError::NoSecrets)
        );
        assert_eq!(
            verified(None, DOC_PAYLOAD, &[]),
            Err(VerifyError::NoSecrets)
        );
    }

    #[test]
    fn messages_name_the_header_and_never_a_secret() {
        for error in [
            VerifyError::Missing,
            VerifyError::Malformed,
            VerifyError::BadSignature,
        ] {
            let message = error.to_string();
            assert!(message.contains("X-Hub-Signature-256"), "{message}");
            assert!(!message.contains("secret-"), "{message}");
        }
        assert!(!VerifyError::NoSecrets.to_string().contains("secret-"));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn secrets() -> Vec<Secret> {
        vec![Secret::new("old-secret-1"), Secret::new("new-secret-2")]
    }

    proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn a_signed_body_always_verifies_and_one_changed_byte_never_does(
            body in prop::collection::vec(any::<u8>(), 1..512),
            secret in prop::sample::select(vec!["old-secret-1", "new-secret-2"]),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let signature = sign(secret, &body);
            prop_assert!(verify(Some(&signature), &body, &secrets()).is_ok());
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(
                verify(Some(&signature), &tampered, &secrets()).map(|_| ()),
                Err(VerifyError::BadSignature)
            );
        }

        #[test]
        fn arbitrary_headers_get_their_documented_error(
            header in proptest::option::of(prop_oneof![".{0,80}", "sha256=[0-9a-fA-F]{64}", "sha1=[0-9a-f]{40}"]),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let result = verify(header.as_deref(), &body, &secrets()).map(|_| ());
            match header.as_deref() {
                None => prop_assert_eq!(result, Err(VerifyError::Missing)),
                Some(h) if signature::parse_hex_digest(h, "sha256=").is_none() => {
                    prop_assert_eq!(result, Err(VerifyError::Malformed));
                }
                Some(_) => prop_assert_eq!(result, Err(VerifyError::BadSignature)),
            }
        }
    }
}
