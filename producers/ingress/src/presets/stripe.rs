//! Stripe webhooks: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, the
//! HMAC-SHA256 of `<t>.<raw body>` keyed with the endpoint's signing secret (`whsec_...`, used
//! as written), several `v1` entries while Stripe rolls a secret; a `t` outside the tolerance
//! is refused. The event's `id` (`evt_...`) is the delivery id.
//!
//! Payments, invoices, disputes, refunds, subscriptions and checkouts say what happened to how
//! much for whom; other event types make a short memory naming the type and object.

use axum::http::HeaderMap;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{header, text, Delivery, Memory, Normalized};
use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::event::{InvalidField, SESSION_ID};
use rae_core::signature;

pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// Most `v1` entries one header may carry.
const MAX_SIGNATURES: usize = 16;

/// Checks a Stripe delivery.
///
/// # Errors
/// The message for the 401.
pub fn verify<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
    secrets: &[Secret],
    now: i64,
    tolerance_secs: u64,
) -> Result<Delivery<'b>, String> {
    if secrets.is_empty() {
        return Err("the integration has no active secret".into());
    }
    let value = header(headers, SIGNATURE_HEADER).ok_or("missing Stripe-Signature header")?;
    let mut timestamp = None;
    let mut digests = Vec::new();
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", _)) if digests.len() < MAX_SIGNATURES => {
                digests.extend(signature::parse_hex_digest(part.trim(), "v1="));
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("Stripe-Signature must carry t=<unix seconds>")?;
    let timestamp = signature::check_timestamp(timestamp, now, tolerance_secs)
        .map_err(|e| format!("Stripe-Signature's t is {e}"))?;
    if digests.is_empty() {
        return Err("Stripe-Signature must carry v1=<64 hex digits>".into());
    }
    let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", body];
    let signed = digests.iter().fold(false, |found, expected| {
        found | signature::any_secret_signs(secrets, &parts, expected)
    });
    if !signed {
        return Err("Stripe-Signature does not match any active secret".into());
    }
    Ok(Delivery {
        body: Verified::new(body),
        id: None,
    })
}

/// `t=<ts>,v1=<hex>`: what Stripe sends.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let v1 = signature::sign_hex("v1=", secret, &[timestamp.as_bytes(), b".", body]);
    format!("t={timestamp},{v1}")
}

/// Stripe's zero-decimal currencies: their amounts are whole units.
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// `20.00 USD` (or `500 JPY`) of an amount in the currency's minor unit.
fn money(object: &Value, field: &str) -> Option<String> {
    let amount = object.get(field)?.as_i64()?;
    let currency = text(object, "/currency").unwrap_or("").to_uppercase();
    let shown = if ZERO_DECIMAL.contains(&currency.as_str()) {
        format!("{amount} {currency}")
    } else {
        format!("{}.{:02} {currency}", amount / 100, (amount % 100).abs())
    };
    Some(shown.trim().to_owned())
}

/// The memory of one Stripe event.
///
/// # Errors
/// [`InvalidField`] when the event lacks `id` or `type`.
pub fn normalize(payload: &Value) -> Result<Normalized, InvalidField> {
    let id = text(payload, "/id")
        .ok_or_else(|| InvalidField::new("id", "missing: not a Stripe event"))?;
    let event_type = text(payload, "/type").ok_or_else(|| InvalidField::new("type", "missing"))?;
    let object = payload.pointer("/data/object").unwrap_or(&Value::Null);
    let object_id = text(object, "/id").unwrap_or("unknown");
    let customer = text(object, "/customer_email")
        .or_else(|| text(object, "/receipt_email"))
        .or_else(|| text(object, "/customer_details/email"))
        .or_else(|| text(object, "/customer"));
    let for_whom = customer.map(|c| format!(" for {c}")).unwrap_or_default();
    let content = match event_type {
        "payment_intent.succeeded" => format!(
            "Payment {object_id} of {} succeeded{for_whom}",
            money(object, "amount").unwrap_or_default()
        ),
        "payment_intent.payment_failed" => {
            let why = text(object, "/last_payment_error/message")
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            format!(
                "Payment {object_id} of {} failed{for_whom}{why}",
                money(object, "amount").unwrap_or_default()
            )
        }
        "invoice.paid" | "invoice.payment_succeeded" => format!(
            "Invoice {object_id} of {} paid{for_whom}",
            money(object, "amount_paid").unwrap_or_default()
        ),
        "invoice.payment_failed" => format!(
            "Invoice {object_id} of {} failed to be paid{for_whom} (attempt {})",
            money(object, "amount_due").unwrap_or_default(),
            object
                .get("attempt_count")
                .and_then(Value::as_u64)
                .unwrap_or(1)
        ),
        "charge.refunded" => format!(
            "Charge {object_id} refunded: {} of {}{for_whom}",
            money(object, "amount_refunded").unwrap_or_default(),
            money(object, "amount").unwrap_or_default()
        ),
        "charge.dispute.created" => format!(
            "Dispute {object_id} opened on charge {} for {}: reason {}",
            text(object, "/charge").unwrap_or("unknown"),
            money(object, "amount").unwrap_or_default(),
            text(object, "/reason").unwrap_or("unknown")
        ),
        "customer.subscription.created" | "customer.subscription.deleted" => format!(
            "Subscription {object_id}{for_whom} {}",
            if event_type.ends_with("created") {
                "started"
            } else {
                "canceled"
            }
        ),
        "checkout.session.completed" => format!(
            "Checkout {object_id} completed: {}{for_whom}",
            money(object, "amount_total").unwrap_or_default()
        ),
        other => format!("Stripe {other}: {object_id}"),
    };
    let mut attributes = Map::new();
    attributes.insert("event_type".into(), json!(event_type));
    attributes.insert("object_id".into(), json!(object_id));
    if let Some(livemode) = payload.get("livemode").and_then(Value::as_bool) {
        attributes.insert("livemode".into(), json!(livemode));
    }
    // A charge's dispute and refunds are one story; so are an invoice's attempts.
    let thread = text(object, "/charge")
        .or_else(|| text(object, "/payment_intent"))
        .or_else(|| text(object, "/subscription"))
        .unwrap_or(object_id);
    attributes.insert(SESSION_ID.into(), json!(format!("stripe:{thread}")));
    let kind: String = event_type
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let occurred_at = payload
        .get("created")
        .and_then(Value::as_i64)
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
    let url = format!(
        "https://dashboard.stripe.com/{}events/{id}",
        if payload.get("livemode").and_then(Value::as_bool) == Some(false) {
            "test/"
        } else {
            ""
        }
    );
    Ok(Normalized::Memories(vec![Memory {
        key: id.to_owned(),
        kind,
        content,
        tags: Vec::new(),
        actor: customer.map(str::to_owned),
        url: Some(url),
        occurred_at,
        attributes,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::test_support::{fixture, only};
    use axum::http::HeaderValue;

    fn memory(name: &str) -> Memory {
        only(normalize(&fixture("stripe", name)), name)
    }

    #[test]
    fn payments_disputes_and_invoices_say_what_happened_to_how_much() {
        let failed = memory("payment_intent.payment_failed");
        assert_eq!(failed.kind, "payment_intent_payment_failed");
        assert_eq!(
            failed.content,
            "Payment pi_3MtwBwLkdIwHu7ix28a3tqPa of 20.00 USD failed for jenny.rosen@example.com: Your card was declined."
        );
        assert_eq!(failed.key, "evt_1NG8Du2eZvKYlo2CUI79vXWy");
        assert_eq!(
            failed.attributes[SESSION_ID],
            "stripe:pi_3MtwBwLkdIwHu7ix28a3tqPa"
        );
        let dispute = memory("charge.dispute.created");
        assert_eq!(
            dispute.content,
            "Dispute dp_1MtJUT2eZvKYlo2CNaw2HvEv opened on charge ch_1AZtxr2eZvKYlo2CJDX8whov for 10.00 USD: reason fraudulent"
        );
        assert_eq!(
            dispute.attributes[SESSION_ID],
            "stripe:ch_1AZtxr2eZvKYlo2CJDX8whov"
        );
        assert_eq!(
            dispute.url.as_deref(),
            Some("https://dashboard.stripe.com/test/events/evt_1MtJUT2eZvKYlo2CsgBqa3bm")
        );
    }

    #[test]
    fn zero_decimal_currencies_are_whole_units() {
        let yen = json!({"amount": 500, "currency": "jpy"});
        assert_eq!(money(&yen, "amount").as_deref(), Some("500 JPY"));
        let euro = json!({"amount": 1999, "currency": "eur"});
        assert_eq!(money(&euro, "amount").as_deref(), Some("19.99 EUR"));
    }

    #[test]
    fn signatures_with_timestamp_and_rolled_secrets() {
        let body = br#"{"id":"evt_1"}"#;
        let secrets = [
            Secret::new("whsec_old_0000000001"),
            Secret::new("whsec_new_0000000002"),
        ];
        let now = 1_700_000_000;
        let check = |value: &str, now: i64| {
            let mut h = HeaderMap::new();
            h.insert(SIGNATURE_HEADER, HeaderValue::from_str(value).unwrap());
            verify(&h, body, &secrets, now, 300).map(|_| ())
        };
        let ts = now.to_string();
        assert_eq!(check(&sign("whsec_new_0000000002", &ts, body), now), Ok(()));
        let rolled = format!(
            "{},{}",
            sign("whsec_gone_000000003", &ts, body),
            sign("whsec_old_0000000001", &ts, body)
                .split_once(',')
                .unwrap()
                .1
        );
        assert_eq!(check(&rolled, now), Ok(()));
        assert!(check(&sign("whsec_gone_000000003", &ts, body), now)
            .unwrap_err()
            .contains("does not match"));
        assert!(check(&sign("whsec_new_0000000002", &ts, body), now + 301)
            .unwrap_err()
            .contains("t is"));
        // The timestamp is signed: another t with the same v1 fails.
        let moved = sign("whsec_new_0000000002", &ts, body).replace(&ts, &(now + 1).to_string());
        assert!(check(&moved, now).is_err());
        assert!(check("v1=00", now).unwrap_err().contains("t="));
    }
}
