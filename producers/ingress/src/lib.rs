//! The HTTP ingress: one axum router for every push integration, health routes, body-size
//! limits, request timeouts, rate limits and JSON errors. Each route answers 2xx only after the
//! JetStream ack of its event, and every decision is audited and counted in one place,
//! `answer::finish`.
//!
//! The crate holds the HTTP producers the ingress serves, since they share its state and error
//! type: `webhook` (generic signed webhooks), `memories` (the memories API), `github`, `slack` and
//! `admin` (dead-letter routes). `state` is the shared state, `answer` the common road of a
//! request, `routes` the handlers, `table` the one list of routes the router is built from.

pub mod admin;
mod answer;
pub mod auth;
mod error;
pub mod forget;
#[cfg(test)]
mod fuzz;
pub mod github;
pub mod header_limits;
pub mod import;
pub mod listener;
pub mod memories;
pub mod presets;
mod routes;
pub mod slack;
mod state;
mod table;
pub mod verified;
pub mod webhook;

use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;

pub use answer::{require_content_type, Answer, Caller};
pub use error::ApiError;
pub use rae_core::rate_limit;
pub use state::{BuildError, IngressShared, IngressState};
pub use table::route_table;

/// Integration id of `POST /api/v1/memories`, in audit records, metrics and health.
pub const API_INTEGRATION: &str = "api";

/// Integration id of the dead-letter routes in audit records and metrics.
pub const DLQ_INTEGRATION: &str = "dlq";
/// The integration id of `POST /api/v1/forget` in audit records and metrics.
pub const FORGET_INTEGRATION: &str = "forget";

/// The ingress routes, built from [`route_table`]'s table alone; tests call it without a
/// socket. Anything else is a JSON 404 (unknown path) or 405 (known path, other method).
pub fn router(state: IngressState) -> Router {
    table::table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(header_limits::check))
        .with_state(state)
}

/// The OpenAPI description of the ingress (`contracts/openapi.json`, checked against the
/// route table and the routes' real answers by the contract tests).
pub const OPENAPI: &str = include_str!("../../../contracts/openapi.json");

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
    // The header limits hold for the extra routes too (a layer covers the routes before it).
    let extra = extra.layer(axum::middleware::from_fn(header_limits::check));
    listener::serve(listener, router(state).merge(extra), limits, token).await
}
