//! GitHub App authentication: the app's RS256 JSON Web Token, signed with its private key
//! (ring, already the pipeline's TLS crypto), which GitHub exchanges for an installation
//! access token (`POST /app/installations/{id}/access_tokens`, valid one hour).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::json;

/// How far back `iat` is set, for clocks that run a little ahead of GitHub's.
const CLOCK_DRIFT_SECS: i64 = 60;
/// The token's lifetime after `iat`: GitHub refuses more than 10 minutes.
const LIFETIME_SECS: i64 = 9 * 60;

/// A GitHub App's private key.
pub struct AppKey(RsaKeyPair);

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(<redacted>)")
    }
}

impl AppKey {
    /// Reads a PEM key: PKCS#1 (`BEGIN RSA PRIVATE KEY`, what GitHub downloads) or PKCS#8
    /// (`BEGIN PRIVATE KEY`).
    ///
    /// # Errors
    /// What is wrong with it, without its content.
    pub fn from_pem(pem: &str) -> Result<AppKey, String> {
        let (label, der) = pem_block(pem)?;
        let pair = match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            other => return Err(format!("a {other} block is not an RSA private key")),
        }
        .map_err(|e| format!("not a usable RSA private key ({e})"))?;
        Ok(AppKey(pair))
    }

    /// The app's token at `now` (Unix seconds): `{iat, exp, iss}` signed RS256.
    ///
    /// # Errors
    /// When signing fails (it does not for a key that loaded).
    pub fn jwt(&self, app_id: u64, now: i64) -> Result<String, String> {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
        let claims = URL_SAFE_NO_PAD.encode(
            json!({
                "iat": now - CLOCK_DRIFT_SECS,
                "exp": now - CLOCK_DRIFT_SECS + LIFETIME_SECS,
                "iss": app_id.to_string(),
            })
            .to_string(),
        );
        let message = format!("{header}.{claims}");
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "cannot sign the app token".to_owned())?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// The label and bytes of the first PEM block.
fn pem_block(pem: &str) -> Result<(String, Vec<u8>), String> {
    let begin = pem
        .find("-----BEGIN ")
        .ok_or("no PEM block (-----BEGIN ...-----)")?;
    let rest = &pem[begin + 11..];
    let label_end = rest.find("-----").ok_or("a PEM block without its label")?;
    let label = rest[..label_end].to_owned();
    let body = &rest[label_end + 5..];
    let end = body
        .find(&format!("-----END {label}-----"))
        .ok_or_else(|| format!("the {label} block has no END line"))?;
    let b64: String = body[..end].split_whitespace().collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|e| format!("the {label} block is not base64 ({e})"))?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    const KEY: &str = include_str!("../../../../../tests/fixtures/github/app/test-app-key.pem");

    #[test]
    fn the_token_is_rs256_with_the_documented_claims() {
        let key = AppKey::from_pem(KEY).unwrap();
        let token = key.jwt(12345, 1_700_000_000).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "12345");
        assert_eq!(claims["iat"], 1_700_000_000 - 60);
        assert_eq!(claims["exp"], 1_700_000_000 - 60 + 540);
        let public = key.0.public().as_ref().to_vec();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .expect("signature verifies with the app's public key");
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        assert!(AppKey::from_pem("hello")
            .unwrap_err()
            .contains("no PEM block"));
        assert!(
            AppKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .unwrap_err()
                .contains("not an RSA private key")
        );
        assert!(AppKey::from_pem(
            "-----BEGIN RSA PRIVATE KEY-----\n!!\n-----END RSA PRIVATE KEY-----"
        )
        .unwrap_err()
        .contains("not base64"));
        assert!(AppKey::from_pem(
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
        )
        .unwrap_err()
        .contains("not a usable RSA private key"));
    }
}
