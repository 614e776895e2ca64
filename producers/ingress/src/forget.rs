//! `POST /api/v1/forget`: an erasure request over HTTP, for keys with the `memories:forget`
//! scope; the same as `rae-pipeline forget` (see [`rae_core::forget`]).
//!
//! Body: `{"by": "event"|"url"|"actor"|"session", "value": "...", "source"?: "slack",
//! "dry_run"?: false}`; the tenant is the request's (`X-Tenant-ID`, or the key's only tenant).
//! Answers 202 with the forget event's id and the memories it deletes, or 200 on a dry run.

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{Answer, ApiError, Caller, IngressState};
use rae_core::config::Scope;
use rae_core::event::{Route, Source};
use rae_core::forget::{self, By, Selector, SubmitError};

/// The longest `value` taken (a URL, an actor, an event id).
const MAX_VALUE_BYTES: usize = 2048;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    by: By,
    value: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadRequest {
        field: Some(field.into()),
        message: format!("{field}: {message}"),
    }
}

/// `POST /api/v1/forget`.
///
/// # Errors
/// 401/403 for the key or tenant, 400 for a bad body, 503 when the memory record cannot be
/// read or the forget is not acked.
pub async fn forget(
    state: &IngressState,
    headers: &HeaderMap,
    body: &[u8],
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let key = state
        .keys
        .authenticate(headers, OffsetDateTime::now_utc())?;
    caller.key_id = Some(key.id.clone());
    key.require(Scope::MemoriesForget)?;
    state.admit(crate::rate_limit::Budget::Key(&key.id))?;
    let tenant = key.tenant_of(headers, &state.config)?;
    caller.tenant = Some(tenant.clone());
    key.allow(Scope::MemoriesForget, &tenant)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: Request = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        ApiError::BadRequest {
            message: format!("{field}: {}", e.inner()),
            field: Some(field),
        }
    })?;
    if request.value.trim().is_empty() {
        return Err(bad("value", "must not be empty"));
    }
    if request.value.len() > MAX_VALUE_BYTES {
        return Err(bad(
            "value",
            &format!("must be at most {MAX_VALUE_BYTES} bytes"),
        ));
    }
    let selector = Selector {
        source: request.source,
        ..Selector::new(request.by, request.value)
    };
    let project = state.config.project_for(&tenant, None).to_owned();
    let route = Route {
        tenant: &tenant,
        project: &project,
        source: Source::Api,
        integration: "forget",
    };
    let why = format!("erasure request by key {}", key.id);
    let submitted = forget::submit(
        &state.bus,
        route,
        &selector,
        &why,
        request.dry_run,
        &state.limits,
    )
    .await
    .map_err(|err| match err {
        SubmitError::Invalid(invalid) => bad("value", &invalid.message),
        other => {
            tracing::warn!(error = %rae_core::telemetry::error_chain(&other), "forget not taken");
            ApiError::Unavailable {
                retry_after_secs: state.retry_after_secs,
            }
        }
    })?;
    let status = if request.dry_run {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut answer = Answer::reply(
        status,
        json!({
            "id": submitted.event_id,
            "status": if request.dry_run { "dry_run" } else { "accepted" },
            "memories": submitted.memories,
            "events": submitted.events,
        }),
    );
    if !request.dry_run {
        answer.outcome = rae_core::audit::Outcome::Accepted;
        answer.event_id = submitted.event_id;
    }
    answer.reason = Some(format!("forget by {}", selector.by.as_str()));
    Ok(answer)
}
