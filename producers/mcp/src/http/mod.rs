//! MCP over Streamable HTTP at `/mcp`, the transport of MCP revisions 2025-03-26 and later
//! (sessions from an `initialize` handshake, answers as JSON or server-sent events), and
//! 2026-07-28's requests without a session. The protocol is the official SDK's
//! (`StreamableHttpService`); in front of it [`gate`] authenticates the ingress's API keys,
//! picks the tenant, applies the keys' rate limits, bounds bodies and sessions, and audits
//! refusals; [`sessions`] holds the session slots.
//!
//! The `rae-pipeline` binary mounts [`router`] on the ingress when `mcp.http.enabled` is set,
//! so `/mcp` shares its listener, connection limits and header timeout.

pub mod gate;
pub mod refused;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use rae_core::api_keys::KeyRing;
use rae_core::audit::Auditor;
use rae_core::bus::Bus;
use rae_core::config::Config;
use rae_core::rate_limit::RateLimiter;

use crate::{BuildError, McpServer};
use gate::{session_of, Gate};
use sessions::{SessionSlots, TrackedSessions};

/// Where the transport is served.
pub const PATH: &str = "/mcp";

/// What `/mcp` shares with the ingress: its API keys, their rate limits, the budget of body
/// bytes held at once, the audit queue.
pub struct Access {
    pub keys: Arc<KeyRing>,
    pub limiter: Arc<RateLimiter>,
    pub body_budget: Arc<Semaphore>,
    pub auditor: Auditor,
}

/// The `/mcp` route. Stores are published on `bus`; every session ends when `shutdown` is
/// cancelled, so the ingress's graceful shutdown does not wait for open event streams.
///
/// # Errors
/// [`BuildError::Rae`] for an unusable RAE client.
pub fn router(
    config: &Config,
    bus: Bus,
    access: Access,
    shutdown: CancellationToken,
) -> Result<Router, BuildError> {
    let settings = &config.mcp.http;
    let server = McpServer::for_http(config, bus, access.auditor.clone())?;
    let slots = SessionSlots::new(settings.max_sessions, settings.max_sessions_per_key);
    let mut local = LocalSessionManager::default();
    local.session_config.keep_alive = Some(Duration::from_secs(settings.session_idle_secs));
    let sessions = TrackedSessions::new(local, Arc::clone(&slots));
    let max_body_bytes = server.max_message_bytes();
    let transport = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_max_request_body_bytes(max_body_bytes)
        .with_cancellation_token(shutdown);
    let service =
        StreamableHttpService::new(move || Ok(server.clone()), Arc::new(sessions), transport);
    let endpoint = Endpoint {
        gate: Arc::new(Gate {
            config: Arc::new(config.clone()),
            keys: access.keys,
            limiter: access.limiter,
            body_budget: access.body_budget,
            auditor: access.auditor,
            slots,
            max_body_bytes,
            body_timeout: Duration::from_millis(config.ingress.request_timeout_ms),
        }),
        service,
        retry_after_secs: config.ingress.retry_after_secs,
    };
    Ok(Router::new()
        .route(PATH, any(mcp_route))
        .with_state(endpoint))
}

#[derive(Clone)]
struct Endpoint {
    gate: Arc<Gate>,
    service: StreamableHttpService<McpServer, TrackedSessions>,
    retry_after_secs: u64,
}

/// `GET`, `POST` and `DELETE /mcp`: the gate, then the SDK; a new session's slot becomes the
/// session the SDK answered with.
async fn mcp_route(State(endpoint): State<Endpoint>, request: Request) -> Response {
    let admitted = match endpoint.gate.admit(request).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(endpoint.retry_after_secs),
    };
    let response = endpoint.service.handle(admitted.request).await;
    // The SDK has parsed the body by now: its bytes go back to the budget.
    drop(admitted.body_budget);
    if let (Some(reservation), Some(session)) =
        (admitted.reservation, session_of(response.headers()))
    {
        reservation.bind(session);
    }
    response.into_response()
}
