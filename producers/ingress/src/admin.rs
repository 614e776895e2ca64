//! Dead-letter operations over HTTP for keys with the `dlq:admin` scope: the same list, show,
//! replay and purge as `rae-pipeline dlq`, limited to the tenants the key may use.
//!
//! - `GET /api/v1/dlq?stage=&reason=&source=&tenant=&since=&until=&limit=`
//! - `GET /api/v1/dlq/{id}` (DLQ sequence or event id)
//! - `POST /api/v1/dlq/replay` and `POST /api/v1/dlq/purge` with
//!   `{id?, all?, stage?, reason?, source?, tenant?, since?, until?, limit?, dry_run?}`

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{auth::ApiKey, Answer, ApiError, Caller, IngressState};
use rae_core::config::Scope;
pub use rae_core::dead_letter::Operation;
use rae_core::dead_letter::{self, Entry, Filter, Stage};

/// Most dead letters one request lists or touches.
const MAX_LIMIT: usize = 10_000;

/// Filters of a request, as query parameters or a JSON body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    stage: Option<Stage>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    dry_run: bool,
}

impl Selection {
    fn filter(&self) -> Filter {
        Filter {
            id: self.id.clone(),
            stage: self.stage,
            reason: self.reason.clone(),
            source: self.source.clone(),
            tenant: self.tenant.clone(),
            since: self.since,
            until: self.until,
        }
    }

    fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.limit.unwrap_or(default) {
            0 => Err(bad("limit", "must be at least 1")),
            n if n > MAX_LIMIT => Err(bad("limit", &format!("must be at most {MAX_LIMIT}"))),
            n => Ok(n),
        }
    }
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadRequest {
        field: Some(field.into()),
        message: format!("{field}: {message}"),
    }
}

/// The caller's key, with `dlq:admin`.
fn admin<'s>(
    state: &'s IngressState,
    headers: &HeaderMap,
    caller: &mut Caller,
) -> Result<&'s ApiKey, ApiError> {
    let key = state
        .keys
        .authenticate(headers, OffsetDateTime::now_utc())?;
    caller.key_id = Some(key.id.clone());
    key.require(Scope::DlqAdmin)?;
    state.admit(crate::rate_limit::Budget::Key(&key.id))?;
    Ok(key)
}

/// The dead letters selected and visible to `key`.
async fn select(
    state: &IngressState,
    key: &ApiKey,
    selection: &Selection,
    limit: usize,
) -> Result<Vec<Entry>, ApiError> {
    if let Some(tenant) = &selection.tenant {
        key.allow_tenant(tenant)?;
    }
    let entries = dead_letter::list(&state.bus, &selection.filter(), MAX_LIMIT)
        .await
        .map_err(|e| {
            tracing::warn!(error = %rae_core::telemetry::error_chain(&e), "RAE_DLQ not readable");
            ApiError::Unavailable {
                retry_after_secs: state.retry_after_secs,
            }
        })?;
    Ok(entries
        .into_iter()
        .filter(|e| key.allows_tenant(e.letter.tenant()))
        .take(limit)
        .collect())
}

/// `GET /api/v1/dlq`.
///
/// # Errors
/// 401/403 for the key, 400 for a bad filter, 503 when the DLQ cannot be read.
pub async fn list(
    state: &IngressState,
    headers: &HeaderMap,
    selection: Selection,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let key = admin(state, headers, caller)?;
    let limit = selection.limit(100)?;
    let entries = select(state, key, &selection, limit).await?;
    Ok(Answer::reply(
        StatusCode::OK,
        json!({"count": entries.len(), "dead_letters": entries}),
    ))
}

/// `GET /api/v1/dlq/{id}`.
///
/// # Errors
/// 404 when there is no such dead letter (or the key may not see it).
pub async fn show(
    state: &IngressState,
    headers: &HeaderMap,
    id: String,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let key = admin(state, headers, caller)?;
    let selection = Selection {
        id: Some(id.clone()),
        ..Selection::default()
    };
    let entry = select(state, key, &selection, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("no dead letter with id {id}")))?;
    Ok(Answer::reply(StatusCode::OK, json!(entry)))
}

/// `POST /api/v1/dlq/replay` and `/purge`.
///
/// # Errors
/// 400 for a selection that names nothing (say `all: true` for everything), 503 when a replay
/// or deletion is not acked (those done so far are listed in the log and gone from the DLQ).
pub async fn operate(
    state: &IngressState,
    headers: &HeaderMap,
    body: &[u8],
    operation: Operation,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let key = admin(state, headers, caller)?;
    let selection: Selection = if body.iter().all(u8::is_ascii_whitespace) {
        Selection::default()
    } else {
        let mut de = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            ApiError::BadRequest {
                message: format!("{field}: {}", e.inner()),
                field: Some(field),
            }
        })?
    };
    if !selection.all && !selection.filter().is_narrowed() {
        return Err(bad(
            "body",
            "say which dead letters: id, a filter (stage, reason, source, tenant, since, until), or all: true",
        ));
    }
    let limit = selection.limit(MAX_LIMIT)?;
    let entries = select(state, key, &selection, limit).await?;
    let ids: Vec<u64> = entries.iter().map(|e| e.sequence).collect();
    let verb = operation.done();
    if selection.dry_run {
        return Ok(Answer::reply(
            StatusCode::OK,
            json!({"dry_run": true, "count": ids.len(), "ids": ids}),
        ));
    }
    let unavailable = |e: rae_core::bus::PublishError| {
        tracing::warn!(error = %e, "dead-letter operation failed");
        ApiError::Unavailable {
            retry_after_secs: state.retry_after_secs,
        }
    };
    for entry in &entries {
        operation
            .apply(&state.bus, entry)
            .await
            .map_err(unavailable)?;
    }
    tracing::info!(key_id = %key.id, count = ids.len(), "dead letters {verb}");
    let mut answer = Answer::reply(StatusCode::OK, json!({verb: ids.len(), "ids": ids}));
    answer.reason = Some(format!("{verb} {}", ids.len()));
    Ok(answer)
}
