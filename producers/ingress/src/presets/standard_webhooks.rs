//! Standard Webhooks (the specification many SaaS senders follow): `webhook-id`,
//! `webhook-timestamp` (unix seconds) and `webhook-signature`, a space-separated list of
//! `v1,<base64 HMAC-SHA256>` entries over `<id>.<timestamp>.<body>`, keyed with the base64 bytes
//! of a `whsec_` secret. Any listed signature by any active secret passes (senders list several
//! during their own rotation); a timestamp outside the tolerance is refused. `webhook-id` is the
//! delivery id: a retry carries it again and is stored once.
//!
//! Without a `mapping`, the payload's conventional `type`, `timestamp` and `data` make the
//! memory.

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::Value;

use super::{header, text, time_of, Delivery, Memory, Normalized};
use crate::verified::Verified;
use rae_core::config::{standard_webhooks_key, Secret};
use rae_core::event::InvalidField;
use rae_core::signature;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Longest `webhook-id` kept as a delivery id.
const MAX_ID: usize = 256;
/// Most signatures one header may list.
const MAX_SIGNATURES: usize = 16;

/// Checks a Standard Webhooks delivery.
///
/// # Errors
/// The message for the 401: which header is missing or malformed, a stale timestamp, or no
/// signature matching an active secret.
pub fn verify<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
    secrets: &[Secret],
    now: i64,
    tolerance_secs: u64,
) -> Result<Delivery<'b>, String> {
    let keys: Vec<Vec<u8>> = secrets
        .iter()
        .filter_map(|s| standard_webhooks_key(s.expose()))
        .collect();
    if keys.is_empty() {
        return Err("the integration has no active secret".into());
    }
    let missing = |name: &str| format!("missing {name} header (Standard Webhooks)");
    let id = header(headers, ID_HEADER).ok_or_else(|| missing("webhook-id"))?;
    if id.is_empty() || id.len() > MAX_ID {
        return Err(format!("webhook-id must be 1 to {MAX_ID} characters"));
    }
    let timestamp =
        header(headers, TIMESTAMP_HEADER).ok_or_else(|| missing("webhook-timestamp"))?;
    let timestamp = signature::check_timestamp(timestamp, now, tolerance_secs)
        .map_err(|e| format!("webhook-timestamp is {e}"))?;
    let listed = header(headers, SIGNATURE_HEADER).ok_or_else(|| missing("webhook-signature"))?;
    let signatures: Vec<Vec<u8>> = listed
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .take(MAX_SIGNATURES)
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .collect();
    if signatures.is_empty() {
        return Err("webhook-signature must list v1,<base64> signatures".into());
    }
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    // Every listed signature is checked against every key, whatever matches first.
    let signed = signatures.iter().fold(false, |found, expected| {
        found | signature::any_key_signs(&keys, &parts, expected)
    });
    if !signed {
        return Err("webhook-signature does not match any active secret".into());
    }
    Ok(Delivery {
        body: Verified::new(body),
        id: Some(id.to_owned()),
    })
}

/// `v1,<base64>` for `body`: what a sender puts in `webhook-signature`.
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = standard_webhooks_key(secret).unwrap_or_default();
    let mac = signature::hmac_sha256(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

/// The memory of a payload in the specification's conventional shape: `type` (`invoice.paid`)
/// is the kind, `timestamp` the time, and `data` the facts.
///
/// # Errors
/// [`InvalidField`] on `type` when the payload has none: give the integration a `mapping`.
pub fn normalize(payload: &Value) -> Result<Normalized, InvalidField> {
    let Some(kind) = text(payload, "/type") else {
        return Err(InvalidField::new(
            "type",
            "missing: a Standard Webhooks payload without `type` needs a `mapping` on the integration",
        ));
    };
    let data = payload.get("data").unwrap_or(&Value::Null);
    let what = ["name", "title", "summary", "description", "email", "id"]
        .iter()
        .find_map(|field| data.get(*field).and_then(Value::as_str));
    let mut content = match what {
        Some(what) => format!("{kind}: {what}"),
        None => kind.to_owned(),
    };
    if let Some(status) = data.get("status").and_then(Value::as_str) {
        content.push_str(&format!(" ({status})"));
    }
    let mut attributes = serde_json::Map::new();
    attributes.insert("event_type".into(), Value::String(kind.to_owned()));
    if let Some(id) = data.get("id").and_then(Value::as_str) {
        attributes.insert("object_id".into(), Value::String(id.to_owned()));
    }
    let kind: String = kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    Ok(Normalized::Memories(vec![Memory {
        kind,
        content,
        occurred_at: payload.get("timestamp").and_then(time_of),
        attributes,
        ..Memory::default()
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::test_support::fixture;
    use axum::http::HeaderValue;

    /// The test vector published with the Standard Webhooks specification.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(id: &str, ts: &str, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ID_HEADER, HeaderValue::from_str(id).unwrap());
        h.insert(TIMESTAMP_HEADER, HeaderValue::from_str(ts).unwrap());
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        h
    }

    fn check(
        h: &HeaderMap,
        body: &[u8],
        secrets: &[&str],
        now: i64,
    ) -> Result<Option<String>, String> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        verify(h, body, &secrets, now, 300).map(|d| d.id)
    }

    #[test]
    fn the_specifications_test_vector() {
        assert_eq!(
            sign(SPEC_SECRET, SPEC_ID, &SPEC_TS.to_string(), SPEC_BODY),
            SPEC_SIGNATURE
        );
        let h = headers(SPEC_ID, &SPEC_TS.to_string(), SPEC_SIGNATURE);
        assert_eq!(
            check(&h, SPEC_BODY, &[SPEC_SECRET], SPEC_TS),
            Ok(Some(SPEC_ID.into()))
        );
    }

    #[test]
    fn several_signatures_and_secrets_any_may_match() {
        let ts = SPEC_TS.to_string();
        let listed = format!("v1,bm90LWl0 v2,abc {SPEC_SIGNATURE}");
        let h = headers(SPEC_ID, &ts, &listed);
        let other = "whsec_c2Vjb25kLXNlY3JldC1rZXk=";
        assert!(check(&h, SPEC_BODY, &[other, SPEC_SECRET], SPEC_TS).is_ok());
        assert!(check(&h, SPEC_BODY, &[other], SPEC_TS)
            .unwrap_err()
            .contains("does not match"));
    }

    #[test]
    fn tampering_staleness_and_missing_headers_are_refused() {
        let ts = SPEC_TS.to_string();
        let h = headers(SPEC_ID, &ts, SPEC_SIGNATURE);
        assert!(check(&h, br#"{"test": 2432232315}"#, &[SPEC_SECRET], SPEC_TS).is_err());
        // Another id or timestamp is tampering too: both are signed.
        let h2 = headers("msg_other", &ts, SPEC_SIGNATURE);
        assert!(check(&h2, SPEC_BODY, &[SPEC_SECRET], SPEC_TS).is_err());
        let stale = check(&h, SPEC_BODY, &[SPEC_SECRET], SPEC_TS + 301).unwrap_err();
        assert!(stale.contains("webhook-timestamp"), "{stale}");
        let future = check(&h, SPEC_BODY, &[SPEC_SECRET], SPEC_TS - 301).unwrap_err();
        assert!(future.contains("webhook-timestamp"), "{future}");
        let mut partial = h.clone();
        partial.remove(SIGNATURE_HEADER);
        assert_eq!(
            check(&partial, SPEC_BODY, &[SPEC_SECRET], SPEC_TS),
            Err("missing webhook-signature header (Standard Webhooks)".into())
        );
        let malformed = headers(SPEC_ID, &ts, "sha256=abc");
        assert!(check(&malformed, SPEC_BODY, &[SPEC_SECRET], SPEC_TS)
            .unwrap_err()
            .contains("v1,"));
    }

    #[test]
    fn the_conventional_payload_becomes_a_memory() {
        let Normalized::Memories(memories) =
            normalize(&fixture("standard_webhooks", "invoice.paid")).unwrap()
        else {
            panic!("ignored")
        };
        let memory = &memories[0];
        assert_eq!(memory.kind, "invoice_paid");
        assert_eq!(
            memory.content,
            "invoice.paid: in_1MtHbELkdIwHu7ixl4OzzPMv (paid)"
        );
        assert_eq!(memory.occurred_at.map(|t| t.year()), Some(2022));
        assert_eq!(memory.key, "", "the webhook-id header is the key");
        assert_eq!(
            normalize(&serde_json::json!({"data": {}}))
                .unwrap_err()
                .field,
            "type"
        );
    }
}
