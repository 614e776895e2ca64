//! Webhooks with a `mapping`: any JSON body becomes an event through the integration's
//! compiled templates ([`rae_core::mapping`]). [`interpret`] is pure (the ingress and
//! `rae-pipeline mapping test` share it); [`accept`] publishes its event, or dead-letters the
//! body with the reason when the mapping fails on it, so nothing authentic is lost and the
//! sender is never answered 5xx for a mapping's fault.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use rae_core::dead_letter::{DeadLetter, Reason, Stage};
use rae_core::event::{self, Event, InvalidField, Limits, Route};
use rae_core::mapping::{Mapping, MappingError, Outcome};
use rae_core::{subjects, telemetry};

use super::{publish, verify};
use crate::{Answer, ApiError, IngressState};

/// Headers that carry credentials: never shown to a template, so no mapping can copy a secret
/// into a memory.
const HIDDEN_HEADERS: [&str; 4] = [
    verify::SECRET_HEADER,
    verify::SIGNATURE_HEADER,
    "authorization",
    "cookie",
];

/// The kind a dead letter's subject names for a body that has no event.
const UNMAPPED_KIND: &str = "unmapped";

/// What a mapped body becomes.
#[derive(Debug, Clone)]
pub enum Interpreted {
    /// The event, and whether its id derives from a sender's key (then it is deduplicated).
    Event { event: Box<Event>, keyed: bool },
    /// `skip_if` held.
    Skipped,
}

/// The request headers a template sees, as `headers['x-name']`.
pub fn template_headers(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .iter()
        .filter(|(name, _)| !HIDDEN_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), json!(value.to_str().ok()?))))
        .collect()
}

/// Parses a mapped webhook's body: any JSON value.
///
/// # Errors
/// [`InvalidField`] on `body` when it is not JSON: that, a sender can fix.
pub fn parse(body: &[u8]) -> Result<Value, InvalidField> {
    serde_json::from_slice(body)
        .map_err(|e| InvalidField::new("body", format!("not valid JSON ({e})")))
}

/// The event `mapping` makes of `body` for an integration's `route`, received at `now`; `replay_key` (the
/// verified signature) identifies it when the mapping gives no `idempotency_key`.
///
/// # Errors
/// [`MappingError`] naming the mapping's field that failed, or the event's field the mapping
/// filled with something the event schema refuses.
pub fn interpret(
    route: Route<'_>,
    mapping: &Mapping,
    body: &Value,
    headers: &Map<String, Value>,
    replay_key: Option<String>,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Interpreted, MappingError> {
    let mapped = match mapping.apply(body, headers)? {
        Outcome::Skipped => return Ok(Interpreted::Skipped),
        Outcome::Event(mapped) => *mapped,
    };
    let key = mapped.idempotency_key.or(replay_key);
    let id = match &key {
        Some(key) if key.len() > 256 => {
            return Err(invalid(InvalidField::new(
                "idempotency_key",
                "must be at most 256 characters",
            )))
        }
        Some(key) => event::scoped_id(&route, key),
        None => event::new_id(),
    };
    let kind = mapped.kind.unwrap_or_else(|| "note".to_owned());
    event::validate_tags(&mapped.tags, limits).map_err(invalid)?;
    let event = Event::builder(route, id, kind, mapped.content)
        .importance(mapped.importance)
        .tags(mapped.tags)
        .actor(mapped.actor)
        .url(mapped.url)
        .occurred_at(mapped.occurred_at.unwrap_or(now))
        .received_at(now)
        .validated(limits)
        .map_err(invalid)?;
    Ok(Interpreted::Event {
        event: Box::new(event),
        keyed: key.is_some(),
    })
}

/// An event field the mapping filled badly, as a mapping failure of that field.
fn invalid(err: InvalidField) -> MappingError {
    MappingError {
        message: format!("the event refuses it: {}", err.message),
        field: err.field,
    }
}

/// Maps and publishes one verified body; a mapping failure is dead-lettered with its reason
/// and answered 202 `dead_lettered`.
///
/// # Errors
/// 400 when the body is not JSON; 503 when JetStream cannot take the event or dead letter.
pub async fn accept(
    route: Route<'_>,
    mapping: &Mapping,
    headers: &HeaderMap,
    body: &[u8],
    replay_key: Option<String>,
    state: &IngressState,
) -> Result<Answer, ApiError> {
    let now = OffsetDateTime::now_utc();
    let value = parse(body)?;
    let visible = template_headers(headers);
    match interpret(
        route,
        mapping,
        &value,
        &visible,
        replay_key.clone(),
        &state.limits,
        now,
    ) {
        Ok(Interpreted::Skipped) => Ok(Answer::ignored("skip_if matched")),
        Ok(Interpreted::Event { event, keyed }) => {
            let accepted = publish(&event, keyed, &state.context()).await?;
            Ok(Answer::accepted(&accepted))
        }
        Err(err) => dead_letter(route, value, replay_key, &err, state).await,
    }
}

/// Stores the body in `RAE_DLQ` (stage `ingress`, reason `mapping_failed`) and answers 202.
async fn dead_letter(
    route: Route<'_>,
    body: Value,
    replay_key: Option<String>,
    err: &MappingError,
    state: &IngressState,
) -> Result<Answer, ApiError> {
    // A redelivery of the same signed body is the same dead letter, not a second one.
    let id = match &replay_key {
        Some(key) => event::scoped_id(&route, key),
        None => event::new_id(),
    };
    let original = json!({
        "id": id,
        "tenant": route.tenant,
        "project": route.project,
        "source": route.source.as_str(),
        "integration": route.integration,
        "kind": UNMAPPED_KIND,
        "payload": body,
    });
    let subject = subjects::event(route.tenant, route.source.as_str(), UNMAPPED_KIND);
    let error = err.to_string();
    let letter = DeadLetter::new(
        Stage::Ingress,
        Reason::MappingFailed,
        &error,
        1,
        &subject,
        &serde_json::to_vec(&original).unwrap_or_default(),
    );
    let stored = letter
        .publish(&state.publisher, &format!("{id}:mapping"))
        .await
        .map_err(|e| ApiError::from_publish(&e, state.retry_after_secs))?;
    if !stored.duplicate {
        telemetry::EventDeadLettered {
            event_id: &id,
            stage: Stage::Ingress,
            reason: Reason::MappingFailed,
            error: &error,
            attempts: 1,
        }
        .emit();
    }
    let mut answer = Answer::reply(
        StatusCode::ACCEPTED,
        json!({
            "id": id,
            "status": "dead_lettered",
            "reason": Reason::MappingFailed.as_str(),
            "message": error,
        }),
    );
    answer.outcome = rae_core::audit::Outcome::Accepted;
    answer.event_id = Some(id);
    answer.reason = Some(Reason::MappingFailed.as_str().to_owned());
    Ok(answer)
}
