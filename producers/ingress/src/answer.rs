//! What a handler hands back and how every route answers: the [`Answer`] of a handled request,
//! the [`Caller`] it found out about, reading the body under the limit and timeout, and
//! [`finish`], the one place that answers, audits and counts.

use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use time::OffsetDateTime;

use rae_core::audit::{self, Outcome};

use crate::{webhook, ApiError, IngressState};

/// Who made a request, as far as the handler found out: for audit records.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub tenant: Option<String>,
    pub key_id: Option<String>,
}

/// A successful answer: its HTTP status and body, and what it means for the audit trail.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub outcome: Outcome,
    pub event_id: Option<String>,
    pub reason: Option<String>,
    /// Sent as `Retry-After` (a 503 batch answer).
    pub retry_after_secs: Option<u64>,
}

impl Answer {
    /// `202 {"id", "status": "accepted", "duplicate"}` for a stored event.
    pub fn accepted(accepted: &webhook::Accepted) -> Answer {
        Answer {
            status: StatusCode::ACCEPTED,
            body: json!({"id": accepted.id, "status": "accepted", "duplicate": accepted.duplicate}),
            outcome: if accepted.duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Accepted
            },
            event_id: Some(accepted.id.clone()),
            reason: None,
            retry_after_secs: None,
        }
    }

    /// `200 {"status": "ignored", "reason"}` for authentic input that is not stored.
    pub fn ignored(reason: impl Into<String>) -> Answer {
        let reason = reason.into();
        Answer {
            status: StatusCode::OK,
            body: json!({"status": "ignored", "reason": reason}),
            outcome: Outcome::Ignored,
            event_id: None,
            reason: Some(reason),
            retry_after_secs: None,
        }
    }

    /// Any other answer (a ping, a challenge, a slash command's reply).
    pub fn reply(status: StatusCode, body: Value) -> Answer {
        Answer {
            status,
            body,
            outcome: Outcome::Answered,
            event_id: None,
            reason: None,
            retry_after_secs: None,
        }
    }
}

/// Reads the body up to the limit and within the request timeout, holding its share of
/// `ingress.max_inflight_body_bytes` (returned with it); 503 when the budget is spent.
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    state: &IngressState,
) -> Result<(bytes::Bytes, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let limit = state.max_body_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    // A body of unknown length may grow to the limit.
    let share = u32::try_from(declared.unwrap_or(limit).max(1)).unwrap_or(u32::MAX);
    let Ok(budget) = state.body_budget.clone().try_acquire_many_owned(share) else {
        return Err(ApiError::Unavailable {
            retry_after_secs: state.retry_after_secs,
        });
    };
    match tokio::time::timeout(state.request_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok((bytes, budget)),
        Ok(Err(err)) if over_limit(&err) => Err(ApiError::PayloadTooLarge { limit }),
        // Bad chunked encoding, a body shorter than its Content-Length, a connection cut off.
        Ok(Err(err)) => Err(ApiError::BadRequest {
            field: Some("body".into()),
            message: format!(
                "the request body could not be read: {}",
                rae_core::telemetry::error_chain(&err)
            ),
        }),
        Err(_) => Err(ApiError::RequestTimeout(
            state.request_timeout.as_millis() as u64
        )),
    }
}

/// True when reading a body stopped at the size limit, not at a malformed body.
fn over_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Refuses a body whose declared type is not one of `accepted` (a missing type is allowed).
/// Where `application/json` is accepted, so is any `application/<name>+json` (RFC 6839), as
/// CloudEvents and other JSON formats declare themselves.
///
/// # Errors
/// 415 naming the accepted types.
pub fn require_content_type(headers: &HeaderMap, accepted: &[&str]) -> Result<(), ApiError> {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json_suffix = essence.starts_with("application/") && essence.ends_with("+json");
    if accepted.contains(&essence.as_str())
        || (json_suffix && accepted.contains(&"application/json"))
    {
        Ok(())
    } else {
        let hint = if accepted.contains(&"application/json") {
            " (curl sends form data unless told -H 'Content-Type: application/json')"
        } else {
            ""
        };
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be {}, not {essence}{hint}",
            accepted.join(" or ")
        )))
    }
}

/// The common road of a route: read the body under the limit and timeout, let `handler` decide,
/// then answer, audit and count in [`finish`].
pub(crate) async fn respond(
    state: &IngressState,
    integration: &str,
    caller: Caller,
    headers: &HeaderMap,
    body: Body,
    handler: impl AsyncFnOnce(&[u8], &mut Caller) -> Result<Answer, ApiError>,
) -> Response {
    let check = |_: &mut Caller| Ok(());
    let handler = async |(), body: &[u8], caller: &mut Caller| handler(body, caller).await;
    respond_checked(state, integration, caller, headers, body, check, handler).await
}

/// [`respond`] with a `check` of the headers alone before the body is read: what can be
/// refused without the body (no or unknown credentials, a wrong type) costs no body bytes.
/// What `check` finds (an authorized tenant) goes to `handler`.
pub(crate) async fn respond_checked<T>(
    state: &IngressState,
    integration: &str,
    mut caller: Caller,
    headers: &HeaderMap,
    body: Body,
    check: impl FnOnce(&mut Caller) -> Result<T, ApiError>,
    handler: impl AsyncFnOnce(T, &[u8], &mut Caller) -> Result<Answer, ApiError>,
) -> Response {
    let started = Instant::now();
    let result = match check(&mut caller) {
        Ok(checked) => match read_body(body, headers, state).await {
            // The budget is held until the answer: the bytes live that long.
            Ok((body, _budget)) => handler(checked, &body, &mut caller).await,
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    finish(state, integration, &caller, result, started)
}

/// Answers, audits and counts one request.
pub(crate) fn finish(
    state: &IngressState,
    integration: &str,
    caller: &Caller,
    result: Result<Answer, ApiError>,
    started: Instant,
) -> Response {
    state.note(integration, &result);
    let (status, outcome, reason, event_id) = match &result {
        Ok(a) => (
            if a.outcome == Outcome::Ignored {
                "ignored"
            } else {
                "success"
            },
            a.outcome,
            a.reason.clone(),
            a.event_id.clone(),
        ),
        Err(e) => (e.code(), Outcome::Rejected, Some(e.code().to_owned()), None),
    };
    state.auditor.record(audit::Record {
        at: OffsetDateTime::now_utc(),
        integration: integration.to_owned(),
        operation: None,
        outcome,
        reason,
        tenant: caller.tenant.clone(),
        key_id: caller.key_id.clone(),
        event_id,
        repeated: None,
        until: None,
    });
    rae_core::telemetry::IntegrationRequest {
        integration,
        status,
        latency: started.elapsed(),
    }
    .emit();
    match result {
        Ok(answer) => {
            let mut response = (answer.status, Json(answer.body)).into_response();
            if let Some(secs) = answer.retry_after_secs {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            response
        }
        Err(err) => {
            if matches!(err, ApiError::Unauthorized(_) | ApiError::Forbidden(_)) {
                tracing::info!(integration, key_id = caller.key_id.as_deref(), reason = %err, "request refused");
            }
            err.into_response()
        }
    }
}
