//! Provider presets: `POST /api/v1/integrations/{id}/webhook` for integrations of kind
//! `standard_webhooks`, `pagerduty`, `alertmanager`, `grafana`, `stripe`, `gitlab`, `sentry`,
//! `linear` and `jira` (GitHub's integrations answer the same route).
//!
//! A preset is one module: its documented signature or auth check (`verify`, over the raw
//! bytes, before anything is parsed) and its pure normalizer (`normalize`, tested on the
//! provider's sample payloads in `tests/fixtures/<provider>/`), registered in [`spec`]. The
//! plumbing (reading the body, rate limits, turning each [`Memory`] into an event with an id
//! derived from the provider's delivery or alert id, publishing through the one publish path
//! with its dedupe, answering) is shared here, so a new provider adds no handler code.

pub mod alertmanager;
pub mod gitlab;
pub mod jira;
pub mod linear;
pub mod pagerduty;
pub mod sentry;
pub mod standard_webhooks;
pub mod stripe;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::rate_limit::Budget;
use crate::verified::Verified;
use crate::webhook::{self, mapped};
use crate::{require_content_type, Answer, ApiError, Caller, IngressState};
use rae_core::config::{Config, Provider, Secret};
use rae_core::event::{self, Event, InvalidField, Limits, Route, Source};
use rae_core::forget;
use rae_core::mapping::Mapping;

/// What a provider's `verify` proved: the body, and the provider's id of this delivery when its
/// headers carry one.
#[derive(Debug, Clone)]
pub struct Delivery<'b> {
    pub body: Verified<'b>,
    pub id: Option<String>,
}

/// One memory a delivery makes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Memory {
    /// The provider's stable id of what happened (an event id, an alert's fingerprint, status
    /// and start): the event id derives from it, so a redelivery is stored once. Empty: the
    /// delivery's id (its header) is the key.
    pub key: String,
    pub kind: String,
    pub content: String,
    pub tags: Vec<String>,
    pub actor: Option<String>,
    pub url: Option<String>,
    pub occurred_at: Option<OffsetDateTime>,
    /// Facts kept in the memory's metadata; `session_id` links the memories of one incident or
    /// alert.
    pub attributes: Map<String, Value>,
}

/// What a delivery is.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    Memories(Vec<Memory>),
    /// Authentic, but not worth a memory (a ping, an event type not handled).
    Ignored(String),
}

/// Checks a delivery's signature or credentials: `(headers, body, secrets, now, tolerance)`.
type VerifyFn =
    for<'b> fn(&HeaderMap, &'b [u8], &[Secret], i64, u64) -> Result<Delivery<'b>, String>;
/// Turns a verified JSON payload into memories; the time is when the delivery arrived (for a
/// provider whose payload lacks the time of what it reports, such as Sentry's resolutions).
type NormalizeFn = fn(&Value, OffsetDateTime) -> Result<Normalized, InvalidField>;

/// A provider's two pure halves.
pub struct Spec {
    pub verify: VerifyFn,
    pub normalize: NormalizeFn,
}

/// The preset of `provider`.
pub fn spec(provider: Provider) -> Spec {
    match provider {
        Provider::StandardWebhooks => Spec {
            verify: standard_webhooks::verify,
            normalize: |payload, _| standard_webhooks::normalize(payload),
        },
        Provider::Pagerduty => Spec {
            verify: pagerduty::verify,
            normalize: |payload, _| pagerduty::normalize(payload),
        },
        Provider::Alertmanager | Provider::Grafana => Spec {
            verify: alertmanager::verify,
            normalize: |payload, _| alertmanager::normalize(payload),
        },
        Provider::Stripe => Spec {
            verify: stripe::verify,
            normalize: |payload, _| stripe::normalize(payload),
        },
        Provider::Gitlab => Spec {
            verify: gitlab::verify,
            normalize: |payload, _| gitlab::normalize(payload),
        },
        Provider::Sentry => Spec {
            verify: sentry::verify,
            normalize: sentry::normalize,
        },
        Provider::Linear => Spec {
            verify: linear::verify,
            normalize: |payload, _| linear::normalize(payload),
        },
        Provider::Jira => Spec {
            verify: jira::verify,
            normalize: |payload, _| jira::normalize(payload),
        },
    }
}

/// One preset integration ready to take deliveries.
#[derive(Debug, Clone)]
pub struct Preset {
    pub id: String,
    pub provider: Provider,
    secrets: Vec<Secret>,
    tenant: String,
    project: String,
    mapping: Option<Arc<Mapping>>,
    /// `timestamp_tolerance_secs` of the integration, when it has its own.
    tolerance_secs: Option<u64>,
}

/// What one verified payload makes, before anything is published.
#[derive(Debug)]
pub enum Made {
    Events(Vec<Event>),
    /// Authentic, but not stored: why.
    Ignored(String),
}

impl Preset {
    /// Where its events go.
    pub fn route(&self) -> Route<'_> {
        Route {
            integration: &self.id,
            source: Source::Webhook,
            tenant: &self.tenant,
            project: &self.project,
        }
    }

    /// The `mapping` of a `standard_webhooks` integration that has one (it replaces the
    /// normalizer).
    pub fn mapping(&self) -> Option<&Mapping> {
        self.mapping.as_deref()
    }

    /// The validated events the provider's normalizer makes of a verified payload, each with
    /// its id derived from the provider's id of what happened (else `delivery`). Nothing is
    /// published: the ingress publishes them, `mapping test` prints them.
    ///
    /// # Errors
    /// [`InvalidField`] for a payload the normalizer cannot read or an event over the limits.
    pub fn events(
        &self,
        payload: &Value,
        delivery: Option<&str>,
        limits: &Limits,
        now: OffsetDateTime,
    ) -> Result<Made, InvalidField> {
        let memories = match (spec(self.provider).normalize)(payload, now)? {
            Normalized::Ignored(reason) => return Ok(Made::Ignored(reason)),
            Normalized::Memories(memories) => memories,
        };
        let events = memories
            .into_iter()
            .map(|memory| {
                event_of(memory, self.route(), self.provider, delivery, now).validated(limits)
            })
            .collect::<Result<_, _>>()?;
        Ok(Made::Events(events))
    }
}

/// The enabled preset integrations, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    presets: HashMap<String, Preset>,
}

impl Registry {
    /// The registry of a validated config (a mapping that does not compile was refused at
    /// load; one that somehow does not is left out with an error logged).
    pub fn build(config: &Config) -> Registry {
        let presets = config
            .integrations
            .iter()
            .filter(|i| i.enabled)
            .filter_map(|integration| {
                let rae_core::config::IntegrationSettings::Preset(settings) =
                    &integration.settings
                else {
                    return None;
                };
                let (tenant, project) =
                    config.destination(settings.tenant.as_deref(), settings.project.as_deref());
                let mapping = match settings.mapping.as_ref().map(Mapping::compile) {
                    None => None,
                    Some(Ok(mapping)) => Some(Arc::new(mapping)),
                    Some(Err(problems)) => {
                        tracing::error!(integration = %integration.id, problems = ?problems, "mapping does not compile");
                        return None;
                    }
                };
                let preset = Preset {
                    id: integration.id.clone(),
                    provider: settings.provider,
                    secrets: settings.secrets.clone(),
                    tenant,
                    project,
                    mapping,
                    tolerance_secs: settings.timestamp_tolerance_secs,
                };
                Some((integration.id.clone(), preset))
            })
            .collect();
        Registry { presets }
    }

    pub fn get(&self, id: &str) -> Option<&Preset> {
        self.presets.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.presets.keys().map(String::as_str)
    }
}

/// Verifies, normalizes and publishes one delivery.
///
/// # Errors
/// [`ApiError`]: 401 (signature or credentials), 400 (not JSON, a payload the preset cannot
/// read), 415, 429, 503.
pub async fn accept(
    preset: &Preset,
    headers: &HeaderMap,
    body: &[u8],
    state: &IngressState,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    require_content_type(headers, &["application/json"])?;
    let now = OffsetDateTime::now_utc();
    let spec = spec(preset.provider);
    let delivery = (spec.verify)(
        headers,
        body,
        &preset.secrets,
        now.unix_timestamp(),
        preset.tolerance_secs.unwrap_or(state.tolerance_secs),
    )
    .map_err(ApiError::Unauthorized)?;
    state.admit(Budget::Integration(&preset.id))?;
    caller.tenant = Some(preset.tenant.clone());
    if let Some(mapping) = &preset.mapping {
        let body = delivery.body.body();
        return mapped::accept(preset.route(), mapping, headers, body, delivery.id, state).await;
    }
    let payload: Value = serde_json::from_slice(delivery.body.body())
        .map_err(|e| InvalidField::new("body", format!("not valid JSON ({e})")))?;
    let events = match preset.events(&payload, delivery.id.as_deref(), &state.limits, now)? {
        Made::Ignored(reason) => return Ok(Answer::ignored(reason)),
        Made::Events(events) => events,
    };
    let mut accepted = Vec::with_capacity(events.len());
    for event in &events {
        accepted.push(webhook::publish(event, true, &state.context()).await?);
    }
    Ok(match accepted.as_slice() {
        [one] => Answer::accepted(one),
        many => {
            let mut answer = Answer::reply(
                StatusCode::ACCEPTED,
                json!({
                    "status": "accepted",
                    "ids": many.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
                    "duplicate": many.iter().all(|a| a.duplicate),
                }),
            );
            answer.outcome = if many.iter().all(|a| a.duplicate) {
                rae_core::audit::Outcome::Duplicate
            } else {
                rae_core::audit::Outcome::Accepted
            };
            answer
        }
    })
}

/// The event of one memory (not yet validated).
fn event_of(
    memory: Memory,
    route: Route<'_>,
    provider: Provider,
    delivery: Option<&str>,
    now: OffsetDateTime,
) -> event::EventBuilder {
    let mut attributes = memory.attributes;
    attributes.insert("provider".into(), json!(provider.as_str()));
    if let Some(delivery) = delivery {
        attributes.insert("delivery".into(), json!(delivery));
    }
    let key = match (memory.key.as_str(), delivery) {
        ("", Some(delivery)) => delivery,
        (key, _) => key,
    };
    let id = if key.is_empty() {
        event::new_id()
    } else {
        event::scoped_id(&route, key)
    };
    let mut tags = vec![provider.as_str().replace('_', "-")];
    tags.extend(memory.tags);
    Event::builder(route, id, memory.kind, memory.content)
        .tags(tags)
        .actor(memory.actor)
        .url(memory.url)
        .occurred_at(memory.occurred_at.unwrap_or(now))
        .received_at(now)
        .attributes(attributes)
}

/// Makes `memory` (an item deleted at the source) forget everything stored of its conversation
/// (`session_id`: the item, its updates and comments): kind `forget`, which the writer applies
/// and stores nothing for, as for a GitHub issue deleted. Without a `session_id` it stays a
/// memory of the deletion.
pub(crate) fn forgetting_session(mut memory: Memory) -> Memory {
    let session = memory
        .attributes
        .get(rae_core::event::SESSION_ID)
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(session) = session {
        let selector = forget::Selector::new(forget::By::Session, session);
        memory
            .attributes
            .insert(forget::ATTRIBUTE.into(), forget::to_value(&selector));
        memory.kind = forget::KIND.to_owned();
    }
    memory
}

/// Longest delivery id kept from a header.
pub(crate) const MAX_DELIVERY_ID: usize = 256;

/// The check most providers document: header `name` holds `prefix` followed by the hex
/// HMAC-SHA256 of the raw body, keyed with one of the integration's secrets. `name` is the
/// header as the provider spells it (the 401 names it); `missing` says what to do when the
/// header is absent.
///
/// # Errors
/// The message for the 401.
pub(crate) fn check_body_hmac(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[Secret],
    name: &str,
    prefix: &str,
    missing: &str,
) -> Result<(), String> {
    if secrets.is_empty() {
        return Err("the integration has no active secret".into());
    }
    let value = header(headers, name).ok_or_else(|| format!("missing {name} header{missing}"))?;
    let expected = rae_core::signature::parse_hex_digest(value, prefix).ok_or_else(|| {
        format!("{name} must be {prefix}<64 hex digits> (the HMAC-SHA256 of the body)")
    })?;
    if rae_core::signature::any_secret_signs(secrets, &[body], &expected) {
        Ok(())
    } else {
        Err(format!("{name} does not match any active secret"))
    }
}

/// The first of `names` present with a non-empty value of at most [`MAX_DELIVERY_ID`] bytes:
/// the provider's id of this delivery.
pub(crate) fn delivery_id(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| header(headers, name))
        .find(|id| !id.is_empty() && id.len() <= MAX_DELIVERY_ID)
        .map(str::to_owned)
}

/// A header's value as text, when present and readable.
pub(crate) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// An RFC 3339 time of a payload field, when it is one.
pub(crate) fn time_of(value: &Value) -> Option<OffsetDateTime> {
    let text = value.as_str()?;
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// A duration as people say it: `42s`, `3m 12s`, `2h 5m`, `3d 4h`.
pub(crate) fn human_duration(duration: time::Duration) -> String {
    let secs = duration.whole_seconds().max(0);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// The text of a string field, when present and not blank.
pub(crate) fn text<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::Value;

    use super::{Memory, Normalized};
    use rae_core::event::InvalidField;

    /// The memories a normalizer made of `what`; the test fails when it refused or ignored it.
    pub fn stored(made: Result<Normalized, InvalidField>, what: &str) -> Vec<Memory> {
        match made {
            Ok(Normalized::Memories(memories)) => memories,
            Ok(Normalized::Ignored(reason)) => panic!("{what} ignored: {reason}"),
            Err(invalid) => panic!("{what} refused: {invalid}"),
        }
    }

    /// The one memory a normalizer made of `what`.
    pub fn only(made: Result<Normalized, InvalidField>, what: &str) -> Memory {
        let mut memories = stored(made, what);
        assert_eq!(memories.len(), 1, "{what}: {memories:?}");
        memories.remove(0)
    }

    /// A sample payload from `tests/fixtures/<provider>/<name>.json`.
    pub fn fixture(provider: &str, name: &str) -> Value {
        let path = format!(
            "{}/../../tests/fixtures/{provider}/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_say_them() {
        let d = time::Duration::seconds;
        assert_eq!(human_duration(d(42)), "42s");
        assert_eq!(human_duration(d(192)), "3m 12s");
        assert_eq!(human_duration(d(7_500)), "2h 5m");
        assert_eq!(human_duration(d(273_600)), "3d 4h");
        assert_eq!(human_duration(d(-5)), "0s");
    }
}
