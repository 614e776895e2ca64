//! The HTTP ingress (DESIGN §6): one axum router for every push integration, health routes,
//! body-size limits, request timeouts and JSON errors. Each route answers 2xx only after the
//! JetStream ack of its event.

mod error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

use crate::audit::{self, Auditor};
use crate::bus::{Bus, Dedupe};
use crate::config::Config;
use crate::event::Limits;
use crate::producers::webhook;

/// Last activity and error of one integration, for `/api/v1/integrations/health`.
#[derive(Debug, Clone, Default)]
struct Activity {
    last_activity: Option<OffsetDateTime>,
    last_error: Option<(OffsetDateTime, String)>,
}

/// Everything a request handler needs; cloned per request (all fields are shared).
#[derive(Clone)]
pub struct IngressState {
    bus: Bus,
    dedupe: Dedupe,
    webhooks: Arc<webhook::Registry>,
    limits: Limits,
    max_body_bytes: usize,
    request_timeout: Duration,
    tolerance_secs: u64,
    retry_after_secs: u64,
    auditor: Auditor,
    activity: Arc<Mutex<HashMap<String, Activity>>>,
}

impl IngressState {
    /// # Errors
    /// A message when the dedupe bucket is missing (run `setup`).
    pub async fn new(
        config: &Config,
        bus: Bus,
        webhooks: webhook::Registry,
        auditor: Auditor,
    ) -> Result<IngressState, String> {
        let dedupe = bus.dedupe().await.map_err(|e| e.to_string())?;
        Ok(IngressState {
            bus,
            dedupe,
            webhooks: Arc::new(webhooks),
            limits: config.limits.limits(),
            max_body_bytes: config.ingress.max_body_bytes,
            request_timeout: Duration::from_millis(config.ingress.request_timeout_ms),
            tolerance_secs: config.ingress.timestamp_tolerance_secs,
            retry_after_secs: config.ingress.retry_after_secs,
            auditor,
            activity: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    fn note(&self, integration: &str, result: &Result<webhook::Accepted, ApiError>) {
        let Ok(mut activity) = self.activity.lock() else {
            return;
        };
        let entry = activity.entry(integration.to_owned()).or_default();
        let now = OffsetDateTime::now_utc();
        match result {
            Ok(_) => entry.last_activity = Some(now),
            Err(ApiError::Unavailable { .. } | ApiError::Internal) => {
                entry.last_error = Some((now, "event store unavailable".into()))
            }
            Err(_) => {}
        }
    }
}

/// The ingress routes; tests call it without a socket.
pub fn router(state: IngressState) -> Router {
    Router::new()
        .route("/api/v1/webhooks/{integration}", post(webhook_route))
        .route("/api/v1/integrations/health", get(integrations_health))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// Serves the router until `token` is cancelled, then finishes in-flight requests.
///
/// # Errors
/// The server's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: IngressState,
    token: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(token.cancelled_owned())
        .await
}

/// Reads the body up to the limit and within the request timeout.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    state: &IngressState,
) -> Result<bytes::Bytes, ApiError> {
    let limit = state.max_body_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    match tokio::time::timeout(state.request_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::PayloadTooLarge { limit }),
        Err(_) => Err(ApiError::RequestTimeout(
            state.request_timeout.as_millis() as u64
        )),
    }
}

async fn webhook_route(
    State(state): State<IngressState>,
    Path(integration): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let Some(hook) = state.webhooks.get(&integration) else {
        return ApiError::NotFound(format!("no enabled webhook integration {integration:?}"))
            .into_response();
    };
    let result = async {
        let body = read_body(body, &headers, &state).await?;
        let ctx = webhook::Context {
            publisher: &state.bus.publisher(),
            dedupe: &state.dedupe,
            limits: &state.limits,
            tolerance_secs: state.tolerance_secs,
            retry_after_secs: state.retry_after_secs,
        };
        webhook::accept(hook, &headers, &body, &ctx).await
    }
    .await;
    state.note(&hook.id, &result);
    finish(&state, &hook.id, &hook.tenant, result, started)
}

/// Answers, audits and counts one request.
fn finish(
    state: &IngressState,
    integration: &str,
    tenant: &str,
    result: Result<webhook::Accepted, ApiError>,
    started: Instant,
) -> Response {
    let (status, outcome, reason, event_id) = match &result {
        Ok(a) => (
            "success",
            if a.duplicate { "duplicate" } else { "accepted" },
            None,
            Some(a.id.clone()),
        ),
        Err(e) => (e.code(), "rejected", Some(e.code()), None),
    };
    state.auditor.record(audit::Record {
        at: OffsetDateTime::now_utc(),
        integration: integration.to_owned(),
        outcome,
        reason,
        tenant: Some(tenant.to_owned()),
        key_id: None,
        event_id,
    });
    crate::telemetry::IntegrationRequest {
        integration,
        status,
        latency: started.elapsed(),
    }
    .emit();
    match result {
        Ok(accepted) => (
            StatusCode::ACCEPTED,
            Json(json!({"id": accepted.id, "status": "accepted", "duplicate": accepted.duplicate})),
        )
            .into_response(),
        Err(err) => {
            if matches!(err, ApiError::Unauthorized(_)) {
                tracing::info!(integration, reason = %err, "webhook refused");
            }
            err.into_response()
        }
    }
}

async fn readyz(State(state): State<IngressState>) -> Response {
    let connected = state.bus.is_connected();
    let streams = connected && state.bus.streams_present().await;
    let body = json!({"status": if streams { "ready" } else { "not_ready" }, "nats_connected": connected, "streams_present": streams});
    let status = if streams {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn integrations_health(State(state): State<IngressState>) -> Json<Value> {
    let connected = state.bus.is_connected();
    let activity = state.activity.lock().map(|a| a.clone()).unwrap_or_default();
    let fmt = |t: &OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    };
    let recent = |t: &OffsetDateTime| OffsetDateTime::now_utc() - *t < time::Duration::minutes(5);
    let mut out = serde_json::Map::new();
    for id in state.webhooks.ids() {
        let a = activity.get(id).cloned().unwrap_or_default();
        let recent_error = a
            .last_error
            .as_ref()
            .filter(|(at, _)| recent(at) && a.last_activity.is_none_or(|ok| ok < *at));
        let (status, error) = if !connected {
            ("down", Some("NATS is not connected".to_owned()))
        } else if let Some((_, e)) = recent_error {
            ("degraded", Some(e.clone()))
        } else {
            ("healthy", None)
        };
        out.insert(
            id.to_owned(),
            json!({"status": status, "last_activity": a.last_activity.as_ref().and_then(fmt), "error": error}),
        );
    }
    Json(Value::Object(out))
}
