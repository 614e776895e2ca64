//! The HTTP ingress: one axum router for every push integration, health routes, body-size
//! limits, request timeouts, rate limits and JSON errors. Each route answers 2xx only after the
//! JetStream ack of its event, and every decision is audited and counted in one place,
//! `answer::finish`.
//!
//! The crate holds the HTTP producers the ingress serves, since they share its state and error
//! type: `webhook` (generic signed webhooks), `memories` (the memories API), `github`, `slack` and
//! `admin` (dead-letter routes). `state` is the shared state, `answer` the common road of a
//! request, `routes` the handlers.

pub mod admin;
mod answer;
pub mod auth;
mod error;
#[cfg(test)]
mod fuzz;
pub mod github;
pub mod listener;
pub mod memories;
mod routes;
pub mod slack;
mod state;
pub mod verified;
pub mod webhook;

use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use answer::{require_content_type, Answer, Caller};
pub use error::ApiError;
pub use rae_core::rate_limit;
pub use state::{BuildError, IngressShared, IngressState};

use routes::*;

/// Integration id of `POST /api/v1/memories`, in audit records, metrics and health.
pub const API_INTEGRATION: &str = "api";

/// Integration id of the dead-letter routes in audit records and metrics.
pub const DLQ_INTEGRATION: &str = "dlq";

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
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// The OpenAPI description of the ingress (`contracts/openapi.json`, checked against the
/// routes' real answers by the contract tests).
pub const OPENAPI: &str = include_str!("../../../contracts/openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// Serves the router, with `extra` routes beside it (routes of other producers the binary
/// mounts, such as MCP's `/mcp`; `Router::new()` for none), until `token` is cancelled, then
/// finishes in-flight requests.
///
/// # Errors
/// The server's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: IngressState,
    extra: Router,
    token: CancellationToken,
) -> std::io::Result<()> {
    let limits = listener::ConnectionLimits {
        max_connections: state.config.ingress.max_connections,
        header_timeout: Duration::from_millis(state.config.ingress.header_timeout_ms),
        retry_after_secs: state.retry_after_secs,
    };
    listener::serve(listener, router(state).merge(extra), limits, token).await
}
