//! Prometheus Alertmanager's webhook receiver and Grafana alerting's webhook contact point
//! (same payload: a group of alerts with `status`, `labels`, `annotations`, `startsAt`,
//! `endsAt`, `fingerprint`). Neither signs its body: each sends an `Authorization` header,
//! `Bearer <token>` (`http_config.authorization.credentials` in Alertmanager, the contact
//! point's "Authorization Header" in Grafana) or `Basic` (`basic_auth`, any username), checked
//! against the integration's secrets in constant time.
//!
//! One memory per alert of the group. An alert's firing and its resolution share the
//! `session_id` `alert:<fingerprint>:<startsAt>`, and the resolution records how long it fired.
//! The id derives from fingerprint, status and start, so Alertmanager's repeated notifications
//! of a still-firing alert (every `repeat_interval`) are stored once.

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{header, human_duration, text, time_of, Delivery, Memory, Normalized};
use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::event::{InvalidField, SESSION_ID};
use rae_core::signature;

/// Most alerts of one group made into memories; Alertmanager truncates groups itself
/// (`max_alerts`) and says so in `truncatedAlerts`.
const MAX_ALERTS: usize = 100;

/// Checks the `Authorization` header: a bearer token or a basic-auth password that is one of
/// the integration's secrets.
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
    let value = header(headers, "authorization").ok_or(
        "missing Authorization header: configure the receiver with a bearer token or basic auth whose password is the integration's secret",
    )?;
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    let given = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => credentials.trim().to_owned(),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or("Authorization: Basic must be base64 of user:password")?;
            let (_, password) = decoded
                .split_once(':')
                .ok_or("Authorization: Basic must be base64 of user:password")?;
            password.to_owned()
        }
        _ => return Err("Authorization must be Bearer or Basic".into()),
    };
    if signature::any_secret_equals(secrets, &given) {
        Ok(Delivery {
            body: Verified::new(body),
            id: None,
        })
    } else {
        Err("Authorization does not match any active secret".into())
    }
}

/// One memory per alert of the group.
///
/// # Errors
/// [`InvalidField`] on `alerts` when the payload has no list of alerts.
pub fn normalize(payload: &Value) -> Result<Normalized, InvalidField> {
    let alerts = payload
        .get("alerts")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            InvalidField::new("alerts", "missing: not an Alertmanager or Grafana payload")
        })?;
    let receiver = text(payload, "/receiver");
    let memories: Vec<Memory> = alerts
        .iter()
        .take(MAX_ALERTS)
        .filter_map(|alert| memory(alert, receiver))
        .collect();
    if memories.is_empty() {
        return Ok(Normalized::Ignored("the group has no alerts".into()));
    }
    Ok(Normalized::Memories(memories))
}

fn memory(alert: &Value, receiver: Option<&str>) -> Option<Memory> {
    let status = text(alert, "/status")?;
    let labels = alert.get("labels").cloned().unwrap_or_else(|| json!({}));
    let name = text(&labels, "/alertname").unwrap_or("unnamed alert");
    let starts = text(alert, "/startsAt").unwrap_or("");
    let fingerprint = match text(alert, "/fingerprint") {
        Some(f) => f.to_owned(),
        // Old Alertmanagers send none: the labels identify the alert.
        None => hex::encode(&Sha256::digest(labels.to_string().as_bytes())[..8]),
    };
    let severity = text(&labels, "/severity");
    let target = ["instance", "service", "job", "pod", "namespace"]
        .iter()
        .find_map(|label| text(&labels, &format!("/{label}")));
    let summary = text(alert, "/annotations/summary")
        .or_else(|| text(alert, "/annotations/description"))
        .or_else(|| text(alert, "/annotations/message"));
    let started = alert.get("startsAt").and_then(time_of);
    let ended = alert.get("endsAt").and_then(time_of);
    let mut attributes = Map::new();
    attributes.insert(
        SESSION_ID.into(),
        json!(format!("alert:{fingerprint}:{starts}")),
    );
    attributes.insert("fingerprint".into(), json!(fingerprint));
    attributes.insert("status".into(), json!(status));
    attributes.insert("labels".into(), labels.clone());
    if let Some(receiver) = receiver {
        attributes.insert("receiver".into(), json!(receiver));
    }
    let on = target.map(|t| format!(" on {t}")).unwrap_or_default();
    let (kind, mut content, occurred_at) = if status == "resolved" {
        let duration = started
            .zip(ended)
            .map(|(s, e)| e - s)
            .filter(|d| !d.is_negative());
        let after = match duration {
            Some(duration) => {
                attributes.insert("duration_secs".into(), json!(duration.whole_seconds()));
                format!(" after {}", human_duration(duration))
            }
            None => String::new(),
        };
        (
            "alert_resolved",
            format!("Alert {name} resolved{on}{after}"),
            ended.or(started),
        )
    } else {
        let severity = severity.map(|s| format!(" ({s})")).unwrap_or_default();
        (
            "alert_firing",
            format!("Alert {name} firing{severity}{on}"),
            started,
        )
    };
    if let Some(summary) = summary {
        content.push_str(&format!(": {summary}"));
    }
    let mut tags = vec!["alert".to_owned(), name.to_owned()];
    tags.extend(severity.map(str::to_owned));
    let url = text(alert, "/panelURL")
        .or_else(|| text(alert, "/dashboardURL"))
        .or_else(|| text(alert, "/generatorURL"))
        .map(str::to_owned);
    Some(Memory {
        key: format!("{fingerprint}:{status}:{starts}"),
        kind: kind.to_owned(),
        content,
        tags,
        actor: None,
        url,
        occurred_at,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::test_support::{fixture, stored};
    use axum::http::HeaderValue;

    fn memories(provider: &str, name: &str) -> Vec<Memory> {
        stored(normalize(&fixture(provider, name)), name)
    }

    #[test]
    fn one_memory_per_alert_and_the_resolution_linked_to_its_firing() {
        let firing = memories("alertmanager", "firing");
        assert_eq!(firing.len(), 2);
        assert_eq!(firing[0].kind, "alert_firing");
        assert_eq!(
            firing[0].content,
            "Alert HighErrorRate firing (critical) on api-1:9090: Error rate above 5% for 10 minutes"
        );
        let resolved = memories("alertmanager", "resolved");
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].kind, "alert_resolved");
        assert_eq!(
            resolved[0].content,
            "Alert HighErrorRate resolved on api-1:9090 after 42m 10s: Error rate above 5% for 10 minutes"
        );
        assert_eq!(resolved[0].attributes["duration_secs"], 2530);
        assert_eq!(
            resolved[0].attributes[SESSION_ID],
            firing[0].attributes[SESSION_ID]
        );
        assert_ne!(resolved[0].key, firing[0].key);
        assert_ne!(firing[0].key, firing[1].key);
    }

    #[test]
    fn grafana_sends_the_same_shape() {
        let alerts = memories("grafana", "firing");
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, "alert_firing");
        assert!(
            alerts[0]
                .content
                .starts_with("Alert DiskFull firing (warning) on db-2"),
            "{}",
            alerts[0].content
        );
        assert_eq!(
            alerts[0].url.as_deref(),
            Some("https://grafana.example.com/d/abc/disks?viewPanel=3")
        );
        assert_eq!(normalize(&json!({})).unwrap_err().field, "alerts");
    }

    #[test]
    fn bearer_and_basic_credentials() {
        let secrets = [Secret::new("am-token-000000001")];
        let check = |value: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(value) = value {
                h.insert("authorization", HeaderValue::from_str(value).unwrap());
            }
            verify(&h, b"{}", &secrets, 0, 300).map(|_| ())
        };
        assert_eq!(check(Some("Bearer am-token-000000001")), Ok(()));
        let basic =
            base64::engine::general_purpose::STANDARD.encode("alertmanager:am-token-000000001");
        assert_eq!(check(Some(&format!("Basic {basic}"))), Ok(()));
        assert!(check(Some("Bearer am-token-00000000"))
            .unwrap_err()
            .contains("does not match"));
        assert!(check(Some("Basic !!")).unwrap_err().contains("base64"));
        assert!(check(Some("Token x"))
            .unwrap_err()
            .contains("Bearer or Basic"));
        assert!(check(None).unwrap_err().contains("missing Authorization"));
    }
}
