//! PagerDuty webhooks v3 (webhook subscriptions): `X-PagerDuty-Signature` lists one or more
//! `v1=<hex HMAC-SHA256 of the raw body>` keyed with the subscription's secret (several while
//! PagerDuty rotates it). The envelope's `event.id` is the delivery id.
//!
//! Incident events become memories (`incident_triggered`, `incident_acknowledged`,
//! `incident_resolved`, `incident_reopened`, `incident_escalated`, `incident_reassigned`,
//! `incident_annotated`, `incident_priority_updated`); every memory of one incident shares the
//! `session_id` `pagerduty:<incident id>`, and a resolution records how long the incident was
//! open. Other event types (`pagey.ping`, services) are acknowledged and ignored.

use axum::http::HeaderMap;
use serde_json::{json, Map, Value};

use super::{header, human_duration, text, time_of, Delivery, Memory, Normalized};
use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::event::{InvalidField, SESSION_ID};
use rae_core::signature;

pub const SIGNATURE_HEADER: &str = "x-pagerduty-signature";

/// Most signatures one header may list.
const MAX_SIGNATURES: usize = 16;

/// Checks a PagerDuty v3 delivery.
///
/// # Errors
/// The message for the 401.
pub fn verify<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
    secrets: &[Secret],
    _now: i64,
    _tolerance_secs: u64,
) -> Result<Delivery<'b>, String> {
    if secrets.is_empty() {
        return Err("the integration has no active secret".into());
    }
    let listed = header(headers, SIGNATURE_HEADER).ok_or("missing X-PagerDuty-Signature header")?;
    let digests: Vec<[u8; signature::DIGEST_LEN]> = listed
        .split(',')
        .take(MAX_SIGNATURES)
        .filter_map(|entry| signature::parse_hex_digest(entry, "v1="))
        .collect();
    if digests.is_empty() {
        return Err("X-PagerDuty-Signature must list v1=<64 hex digits>".into());
    }
    let signed = digests.iter().fold(false, |found, expected| {
        found | signature::any_secret_signs(secrets, &[body], expected)
    });
    if !signed {
        return Err("X-PagerDuty-Signature does not match any active secret".into());
    }
    Ok(Delivery {
        body: Verified::new(body),
        id: None,
    })
}

/// `v1=<hex>`: what PagerDuty sends.
pub fn sign(secret: &str, body: &[u8]) -> String {
    signature::sign_hex("v1=", secret, &[body])
}

/// The memory of one v3 event.
///
/// # Errors
/// [`InvalidField`] when the envelope lacks `event.id` or `event.event_type`.
pub fn normalize(payload: &Value) -> Result<Normalized, InvalidField> {
    let event = payload
        .get("event")
        .ok_or_else(|| InvalidField::new("event", "missing: not a PagerDuty v3 webhook"))?;
    let id = text(event, "/id").ok_or_else(|| InvalidField::new("event.id", "missing"))?;
    let event_type = text(event, "/event_type")
        .ok_or_else(|| InvalidField::new("event.event_type", "missing"))?;
    let Some(action) = event_type.strip_prefix("incident.") else {
        return Ok(Normalized::Ignored(format!(
            "PagerDuty event {event_type} is not stored"
        )));
    };
    let handled = [
        "triggered",
        "acknowledged",
        "resolved",
        "reopened",
        "escalated",
        "reassigned",
        "annotated",
        "priority_updated",
    ];
    if !handled.contains(&action) {
        return Ok(Normalized::Ignored(format!(
            "PagerDuty event {event_type} is not stored"
        )));
    }
    let data = event.get("data").unwrap_or(&Value::Null);
    // An annotation's data is the note; its incident is a reference inside it.
    let incident = if action == "annotated" {
        data.get("incident").unwrap_or(&Value::Null)
    } else {
        data
    };
    let incident_id = text(incident, "/id").unwrap_or("unknown");
    let number = incident
        .get("number")
        .and_then(Value::as_u64)
        .map(|n| format!("#{n}"));
    let title = text(incident, "/title").or_else(|| text(incident, "/summary"));
    let service = text(incident, "/service/summary");
    let agent = text(event, "/agent/summary");
    let occurred_at = event.get("occurred_at").and_then(time_of);

    let name = match &number {
        Some(number) => format!("PagerDuty incident {number}"),
        None => "a PagerDuty incident".to_owned(),
    };
    let on = service.map(|s| format!(" on {s}")).unwrap_or_default();
    let mut attributes = Map::new();
    attributes.insert(SESSION_ID.into(), json!(format!("pagerduty:{incident_id}")));
    attributes.insert("incident_id".into(), json!(incident_id));
    attributes.insert("event_type".into(), json!(event_type));
    for (field, pointer) in [
        ("incident_number", "/number"),
        ("status", "/status"),
        ("urgency", "/urgency"),
        ("priority", "/priority/summary"),
        ("service", "/service/summary"),
    ] {
        if let Some(value) = incident.pointer(pointer).filter(|v| !v.is_null()) {
            attributes.insert(field.into(), value.clone());
        }
    }
    let mut content = match (action, agent) {
        ("triggered", _) => format!("{name} triggered{on}"),
        ("resolved", _) => {
            let duration = incident
                .get("created_at")
                .and_then(time_of)
                .zip(occurred_at)
                .map(|(opened, closed)| closed - opened)
                .filter(|d| !d.is_negative());
            let by = agent.map(|a| format!(" by {a}")).unwrap_or_default();
            match duration {
                Some(duration) => {
                    attributes.insert("duration_secs".into(), json!(duration.whole_seconds()));
                    format!("{name} resolved{by}{on} after {}", human_duration(duration))
                }
                None => format!("{name} resolved{by}{on}"),
            }
        }
        ("annotated", Some(agent)) => format!("{agent} added a note to {name}{on}"),
        ("annotated", None) => format!("A note was added to {name}{on}"),
        ("priority_updated", _) => format!("{name}{on} changed priority"),
        (action, Some(agent)) => format!("{agent} {action} {name}{on}"),
        (action, None) => format!("{name} {action}{on}"),
    };
    if let Some(title) = title {
        content.push_str(&format!(": {title}"));
    }
    let mut details = Vec::new();
    if let Some(urgency) = text(incident, "/urgency") {
        details.push(format!("urgency {urgency}"));
    }
    if let Some(priority) = text(incident, "/priority/summary") {
        details.push(format!("priority {priority}"));
    }
    if action == "triggered" && !details.is_empty() {
        content.push_str(&format!(" ({})", details.join(", ")));
    }
    if action == "annotated" {
        if let Some(note) = text(data, "/content") {
            content.push_str(&format!("\n\n{note}"));
        }
    }
    // No `incident` tag: the enricher's incident rules already see the word in the content,
    // and a tag on top would lift an acknowledgement to the triggering's importance.
    let tags: Vec<String> = text(incident, "/urgency")
        .map(|urgency| format!("urgency-{urgency}"))
        .into_iter()
        .collect();
    Ok(Normalized::Memories(vec![Memory {
        key: id.to_owned(),
        kind: format!("incident_{action}"),
        content,
        tags,
        actor: agent.map(str::to_owned),
        url: text(incident, "/html_url").map(str::to_owned),
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
        only(normalize(&fixture("pagerduty", name)), name)
    }

    #[test]
    fn an_incident_from_trigger_to_resolution() {
        let triggered = memory("incident.triggered");
        assert_eq!(triggered.kind, "incident_triggered");
        assert_eq!(
            triggered.content,
            "PagerDuty incident #1234 triggered on My Mail Service: The server is on fire. (urgency high, priority P1)"
        );
        assert_eq!(triggered.key, "5ac64822-4adc-4fda-ade0-410becf0de4f");
        assert_eq!(
            triggered.url.as_deref(),
            Some("https://subdomain.pagerduty.com/incidents/PT4KHLK")
        );
        let acknowledged = memory("incident.acknowledged");
        assert_eq!(
            acknowledged.content,
            "Earline Greenholt acknowledged PagerDuty incident #1234 on My Mail Service: The server is on fire."
        );
        let resolved = memory("incident.resolved");
        assert_eq!(
            resolved.content,
            "PagerDuty incident #1234 resolved by Earline Greenholt on My Mail Service after 42m 10s: The server is on fire."
        );
        assert_eq!(resolved.attributes["duration_secs"], 2530);
        // One conversation: every memory of the incident has its session.
        for m in [&triggered, &acknowledged, &resolved] {
            assert_eq!(m.attributes[SESSION_ID], "pagerduty:PT4KHLK");
        }
        let note = memory("incident.annotated");
        assert_eq!(note.attributes[SESSION_ID], "pagerduty:PT4KHLK");
        assert!(
            note.content.ends_with("Rolled back the mail relay config."),
            "{}",
            note.content
        );
    }

    #[test]
    fn pings_and_other_events_are_ignored() {
        assert!(matches!(
            normalize(&fixture("pagerduty", "pagey.ping")).unwrap(),
            Normalized::Ignored(_)
        ));
        assert_eq!(normalize(&json!({})).unwrap_err().field, "event");
    }

    #[test]
    fn signatures() {
        let body = br#"{"event":{}}"#;
        let secrets = [
            Secret::new("old-pd-secret-1"),
            Secret::new("new-pd-secret-2"),
        ];
        let check = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(SIGNATURE_HEADER, HeaderValue::from_str(value).unwrap());
            verify(&h, body, &secrets, 0, 300).map(|_| ())
        };
        assert_eq!(check(&sign("new-pd-secret-2", body)), Ok(()));
        // PagerDuty lists several during its rotation; any may match.
        let listed = format!(
            "{},{}",
            sign("retired", body),
            sign("old-pd-secret-1", body)
        );
        assert_eq!(check(&listed), Ok(()));
        assert!(check(&sign("retired", body))
            .unwrap_err()
            .contains("does not match"));
        assert!(check("sha256=00").unwrap_err().contains("v1="));
        let tampered = sign("new-pd-secret-2", br#"{"event":{} }"#);
        assert!(check(&tampered).is_err());
        assert!(verify(&HeaderMap::new(), body, &secrets, 0, 300)
            .unwrap_err()
            .contains("missing"));
    }
}
