//! The HTTP ingress (DESIGN §6): one axum router for every push integration, health routes,
//! body-size limits, request timeouts, rate limits and JSON errors. Each route answers 2xx only
//! after the JetStream ack of its event, and every decision is audited and counted in one place,
//! [`finish`].

pub mod admin;
pub mod auth;
mod error;
pub mod github;
pub mod memories;
pub mod rate_limit;
pub mod slack;
pub mod verified;
pub mod webhook;

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

use rae_core::audit::{self, Auditor};
use rae_core::bus::{Bus, Dedupe, Publisher};
use rae_core::config::Config;
use rae_core::event::Limits;
use rae_core::rae::{ClientError, RaeClient};

/// Integration id of `POST /api/v1/memories`, in audit records, metrics and health.
pub const API_INTEGRATION: &str = "api";

/// Integration id of the dead-letter routes in audit records and metrics.
pub const DLQ_INTEGRATION: &str = "dlq";

/// Last activity and error of one integration, for `/api/v1/integrations/health`.
#[derive(Debug, Clone, Default)]
struct Activity {
    last_activity: Option<OffsetDateTime>,
    last_error: Option<(OffsetDateTime, String)>,
}

/// Everything a request handler needs. A cheap handle: axum clones the state for every request,
/// so the fields live behind one `Arc` and are read through `Deref` (cloning them one by one,
/// the config and the NATS and HTTP clients, took about a tenth of the ingress' CPU in
/// `docs/benchmarks.md`).
#[derive(Clone)]
pub struct IngressState(Arc<IngressShared>);

impl std::ops::Deref for IngressState {
    type Target = IngressShared;

    fn deref(&self) -> &IngressShared {
        &self.0
    }
}

/// The fields of [`IngressState`].
#[derive(Clone)]
pub struct IngressShared {
    pub config: Arc<Config>,
    pub bus: Bus,
    pub publisher: Publisher,
    pub dedupe: Dedupe,
    pub webhooks: Arc<webhook::Registry>,
    pub github: Arc<github::Registry>,
    pub slack: Arc<slack::Registry>,
    pub keys: Arc<auth::KeyRing>,
    pub limiter: Arc<rate_limit::RateLimiter>,
    /// For `/rae query` and `POST /api/v1/memories/query`.
    pub rae: RaeClient,
    /// For Slack `response_url` answers.
    pub outbound: reqwest::Client,
    pub limits: Limits,
    max_body_bytes: usize,
    request_timeout: Duration,
    pub tolerance_secs: u64,
    pub retry_after_secs: u64,
    auditor: Auditor,
    activity: Arc<Mutex<HashMap<String, Activity>>>,
    /// RAE's health from the writer, when it runs in this process.
    rae_health: Option<rae_core::rae::RaeHealth>,
}

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
    /// `accepted`, `duplicate`, `ignored` or `answered`.
    pub outcome: &'static str,
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
                "duplicate"
            } else {
                "accepted"
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
            outcome: "ignored",
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
            outcome: "answered",
            event_id: None,
            reason: None,
            retry_after_secs: None,
        }
    }
}

/// Why the ingress could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Bus(#[from] rae_core::bus::BusError),
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl IngressState {
    /// # Errors
    /// [`BuildError`] when the dedupe bucket is missing (run `setup`) or an HTTP client cannot
    /// be made.
    pub async fn new(
        config: &Config,
        bus: Bus,
        webhooks: webhook::Registry,
        auditor: Auditor,
    ) -> Result<IngressState, BuildError> {
        let dedupe = bus.dedupe().await?;
        let rae = RaeClient::new(&config.rae, &config.tenants)?;
        let outbound = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| ClientError {
                purpose: "Slack replies",
                source,
            })?;
        Ok(IngressState(Arc::new(IngressShared {
            config: Arc::new(config.clone()),
            publisher: bus.publisher(),
            bus,
            dedupe,
            webhooks: Arc::new(webhooks),
            github: Arc::new(github::Registry::build(config)),
            slack: Arc::new(slack::Registry::build(config)),
            keys: Arc::new(auth::KeyRing::from_config(config)),
            limiter: Arc::new(rate_limit::RateLimiter::new(&config.ingress.rate_limit)),
            rae,
            outbound,
            limits: config.limits.limits(),
            max_body_bytes: config.ingress.max_body_bytes,
            request_timeout: Duration::from_millis(config.ingress.request_timeout_ms),
            tolerance_secs: config.ingress.timestamp_tolerance_secs,
            retry_after_secs: config.ingress.retry_after_secs,
            auditor,
            activity: Arc::new(Mutex::new(HashMap::new())),
            rae_health: None,
        })))
    }

    /// Reports RAE's health (from the writer's breaker) in `/api/v1/integrations/health`.
    pub fn with_rae_health(mut self, health: rae_core::rae::RaeHealth) -> IngressState {
        Arc::make_mut(&mut self.0).rae_health = Some(health);
        self
    }

    /// The publishing context producers share.
    pub fn context(&self) -> webhook::Context<'_> {
        webhook::Context {
            publisher: &self.publisher,
            dedupe: &self.dedupe,
            limits: &self.limits,
            tolerance_secs: self.tolerance_secs,
            retry_after_secs: self.retry_after_secs,
        }
    }

    /// Takes one request from `caller`'s rate-limit budget (`key:<id>` or
    /// `integration:<id>`).
    ///
    /// # Errors
    /// 429 with the seconds until the next request is allowed.
    pub fn admit(&self, caller: &str) -> Result<(), ApiError> {
        self.limiter
            .take(caller, Instant::now())
            .map_err(|wait| ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
    }

    fn note(&self, integration: &str, result: &Result<Answer, ApiError>) {
        let mut activity = rae_core::sync::lock(&self.activity);
        let entry = activity.entry(integration.to_owned()).or_default();
        let now = OffsetDateTime::now_utc();
        match result {
            Ok(_) => entry.last_activity = Some(now),
            Err(e @ (ApiError::Unavailable { .. } | ApiError::Internal)) => {
                entry.last_error = Some((now, format!("event store unavailable ({})", e.code())))
            }
            // Only the class: this route is public, RAE's answers may echo other callers' input.
            Err(ApiError::Upstream(_)) => {
                entry.last_error = Some((now, "RAE could not answer".into()))
            }
            Err(ApiError::TooManyRequests { .. }) => {
                entry.last_error = Some((now, "rate limit".into()))
            }
            Err(_) => {}
        }
    }

    /// Ids of the integrations `/api/v1/integrations/health` reports.
    fn integration_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .webhooks
            .ids()
            .chain(self.github.ids())
            .chain(self.slack.ids())
            .map(str::to_owned)
            .collect();
        if !self.keys.is_empty() {
            ids.push(API_INTEGRATION.to_owned());
        }
        ids.sort();
        ids
    }
}

/// The ingress routes; tests call it without a socket.
pub fn router(state: IngressState) -> Router {
    Router::new()
        .route("/api/v1/webhooks/{integration}", post(webhook_route))
        .route("/api/v1/memories", post(memories_route))
        .route("/api/v1/memories/query", post(memories_query_route))
        .route(
            "/api/v1/integrations/{integration}/webhook",
            post(github_route),
        )
        .route(
            "/api/v1/integrations/{integration}/events",
            post(slack_events_route),
        )
        .route(
            "/api/v1/integrations/{integration}/commands",
            post(slack_commands_route),
        )
        .route("/api/v1/integrations/health", get(integrations_health))
        .route("/api/v1/dlq", get(dlq_list_route))
        .route("/api/v1/dlq/replay", post(dlq_replay_route))
        .route("/api/v1/dlq/purge", post(dlq_purge_route))
        .route("/api/v1/dlq/{id}", get(dlq_show_route))
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

/// Refuses a body whose declared type is not one of `accepted` (a missing type is allowed).
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
    if accepted.contains(&essence.as_str()) {
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
async fn respond(
    state: &IngressState,
    integration: &str,
    mut caller: Caller,
    headers: &HeaderMap,
    body: Body,
    handler: impl AsyncFnOnce(&[u8], &mut Caller) -> Result<Answer, ApiError>,
) -> Response {
    let started = Instant::now();
    let result = match read_body(body, headers, state).await {
        Ok(body) => handler(&body, &mut caller).await,
        Err(err) => Err(err),
    };
    finish(state, integration, &caller, result, started)
}

fn no_integration(kind: &str, id: &str) -> Response {
    ApiError::NotFound(format!("no enabled {kind} integration {id:?}")).into_response()
}

async fn webhook_route(
    State(state): State<IngressState>,
    Path(integration): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(hook) = state.webhooks.get(&integration) else {
        return no_integration("webhook", &integration);
    };
    let caller = Caller {
        tenant: Some(hook.tenant.clone()),
        key_id: None,
    };
    respond(
        &state,
        &hook.id,
        caller,
        &headers,
        body,
        async |body, caller| webhook::accept(hook, &headers, body, &state, caller).await,
    )
    .await
}

async fn memories_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        &state,
        API_INTEGRATION,
        Caller::default(),
        &headers,
        body,
        async |body, caller| memories::store(&state, &headers, body, caller).await,
    )
    .await
}

async fn memories_query_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        &state,
        API_INTEGRATION,
        Caller::default(),
        &headers,
        body,
        async |body, caller| memories::query(&state, &headers, body, caller).await,
    )
    .await
}

async fn github_route(
    State(state): State<IngressState>,
    Path(integration): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(hook) = state.github.get(&integration) else {
        return no_integration("GitHub", &integration);
    };
    respond(
        &state,
        &hook.id,
        Caller::default(),
        &headers,
        body,
        async |body, caller| github::accept(hook, &headers, body, &state, caller).await,
    )
    .await
}

async fn slack_events_route(
    State(state): State<IngressState>,
    Path(integration): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(app) = state.slack.get(&integration) else {
        return no_integration("Slack", &integration);
    };
    respond(
        &state,
        &app.id,
        Caller::default(),
        &headers,
        body,
        async |body, caller| slack::accept_event(app, &headers, body, &state, caller).await,
    )
    .await
}

async fn slack_commands_route(
    State(state): State<IngressState>,
    Path(integration): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(app) = state.slack.get(&integration) else {
        return no_integration("Slack", &integration);
    };
    respond(
        &state,
        &app.id,
        Caller::default(),
        &headers,
        body,
        async |body, caller| slack::accept_command(app, &headers, body, &state, caller).await,
    )
    .await
}

async fn dlq_list_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<admin::Selection>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let started = Instant::now();
    let mut caller = Caller::default();
    let result = match query {
        Ok(axum::extract::Query(selection)) => {
            admin::list(&state, &headers, selection, &mut caller).await
        }
        Err(rejection) => Err(ApiError::BadRequest {
            field: None,
            message: rejection.body_text(),
        }),
    };
    finish(&state, DLQ_INTEGRATION, &caller, result, started)
}

async fn dlq_show_route(
    State(state): State<IngressState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let mut caller = Caller::default();
    let result = admin::show(&state, &headers, id, &mut caller).await;
    finish(&state, DLQ_INTEGRATION, &caller, result, started)
}

async fn dlq_operation(
    state: IngressState,
    headers: HeaderMap,
    body: Body,
    operation: admin::Operation,
) -> Response {
    respond(
        &state,
        DLQ_INTEGRATION,
        Caller::default(),
        &headers,
        body,
        async |body, caller| admin::operate(&state, &headers, body, operation, caller).await,
    )
    .await
}

async fn dlq_replay_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    dlq_operation(state, headers, body, admin::Operation::Replay).await
}

async fn dlq_purge_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    dlq_operation(state, headers, body, admin::Operation::Purge).await
}

/// Answers, audits and counts one request.
fn finish(
    state: &IngressState,
    integration: &str,
    caller: &Caller,
    result: Result<Answer, ApiError>,
    started: Instant,
) -> Response {
    state.note(integration, &result);
    let (status, outcome, reason, event_id) = match &result {
        Ok(a) => (
            if a.outcome == "ignored" {
                "ignored"
            } else {
                "success"
            },
            a.outcome,
            a.reason.clone(),
            a.event_id.clone(),
        ),
        Err(e) => (e.code(), "rejected", Some(e.code().to_owned()), None),
    };
    state.auditor.record(audit::Record {
        at: OffsetDateTime::now_utc(),
        integration: integration.to_owned(),
        outcome,
        reason,
        tenant: caller.tenant.clone(),
        key_id: caller.key_id.clone(),
        event_id,
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
                tracing::info!(integration, key_id = ?caller.key_id, reason = %err, "request refused");
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
    let activity = rae_core::sync::lock(&state.activity).clone();
    let fmt = |t: &OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    };
    let recent = |t: &OffsetDateTime| OffsetDateTime::now_utc() - *t < time::Duration::minutes(5);
    let mut out = serde_json::Map::new();
    for id in state.integration_ids() {
        let a = activity.get(&id).cloned().unwrap_or_default();
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
            id,
            json!({"status": status, "last_activity": a.last_activity.as_ref().and_then(fmt), "error": error}),
        );
    }
    if let Some(health) = &state.rae_health {
        let (status, last, error) = health.report();
        out.insert(
            "rae".into(),
            json!({"status": status, "last_activity": last.as_ref().and_then(fmt), "error": error}),
        );
    }
    Json(Value::Object(out))
}
