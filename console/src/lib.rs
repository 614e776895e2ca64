//! The operator console: server-rendered pages under `/console` to look at the pipeline,
//! trace an event and replay or purge dead letters, with a little plain JavaScript (select
//! all, live refresh, the live tail). Templates (askama) are compiled into the binary and the
//! stylesheet and script are embedded, so building needs no Node toolchain.
//!
//! Signing in takes an API key with `console:read` ([`session`]); replay and purge take
//! `dlq:admin` as well. The session cookie is `HttpOnly`, `SameSite=Strict` (and `Secure` with
//! `console.secure_cookie`); every form posts the session's CSRF token; everything shown is
//! limited to the key's tenants; every sign-in, sign-out and action is audited with the key's
//! id (`integration: console`).
//!
//! The binary mounts [`router`] beside the ingress's routes, or serves it on its own address
//! (`console.listen`). Data comes from the core: dead letters ([`rae_core::dead_letter`]),
//! the event trace ([`rae_core::trace`]), the pipeline's status ([`rae_core::status`]) and the
//! live tail's filters ([`rae_core::tail`]).

mod dead_letters;
mod overview;
mod pages;
pub mod session;
mod signin;
mod tail;
mod trace;
mod web;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;

use rae_core::activity::Activity;
use rae_core::api_keys::KeyRing;
use rae_core::audit::Auditor;
use rae_core::bus::Bus;
use rae_core::config::Config;
use rae_core::rae::{ClientError, RaeClient, RaeHealth};

/// Where the console's pages live, on the ingress's listener or its own.
pub const PREFIX: &str = "/console";

/// The page a signed-in operator lands on.
pub(crate) const HOME: &str = "/console/overview";

/// Integration id of the console in audit records.
pub const INTEGRATION: &str = "console";

/// What the console shares with the ingress it runs beside.
pub struct Access {
    pub keys: Arc<KeyRing>,
    pub auditor: Auditor,
    /// Requests, errors and last activity per integration, from the ingress.
    pub activity: Activity,
    /// RAE's health from the writer's breaker, when the writer runs in this process.
    pub rae_health: Option<RaeHealth>,
}

/// Why the console could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The state every console handler reads; cheap to clone.
#[derive(Clone)]
pub(crate) struct Console(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) bus: Bus,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) auditor: Auditor,
    pub(crate) activity: Activity,
    pub(crate) rae_health: Option<RaeHealth>,
    pub(crate) rae: RaeClient,
    pub(crate) sessions: Mutex<session::Sessions>,
    /// Live tail streams open at once (`console.max_tails`).
    pub(crate) tails: Arc<tokio::sync::Semaphore>,
    /// Ends every live tail at shutdown, so the listener's graceful drain does not wait on them.
    pub(crate) token: CancellationToken,
}

impl std::ops::Deref for Console {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The console's routes, all under [`PREFIX`]; `token` ends the live tails at shutdown.
///
/// # Errors
/// [`BuildError`] when RAE's HTTP client cannot be made.
pub fn router(
    config: &Config,
    bus: Bus,
    access: Access,
    token: CancellationToken,
) -> Result<Router, BuildError> {
    let c = &config.console;
    let limits = session::Limits {
        max_sessions: c.max_sessions,
        max_per_key: c.max_sessions_per_key,
        idle: Duration::from_secs(c.session_idle_secs),
        max_age: Duration::from_secs(c.session_max_secs),
    };
    let state = Console(Arc::new(Shared {
        config: Arc::new(config.clone()),
        rae: RaeClient::new(&config.rae, &config.tenants)?,
        bus,
        keys: access.keys,
        auditor: access.auditor,
        activity: access.activity,
        rae_health: access.rae_health,
        sessions: Mutex::new(session::Sessions::new(limits)),
        tails: Arc::new(tokio::sync::Semaphore::new(c.max_tails)),
        token,
    }));
    let router = Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/sign-in", get(signin::form).post(signin::sign_in))
        .route("/console/sign-out", post(signin::sign_out))
        .route("/console/overview", get(overview::page))
        .route("/console/overview/status", get(overview::status))
        .route("/console/dead-letters", get(dead_letters::list))
        .route("/console/dead-letters/confirm", post(dead_letters::confirm))
        .route("/console/dead-letters/apply", post(dead_letters::apply))
        .route("/console/dead-letters/{sequence}", get(dead_letters::show))
        .route("/console/trace", get(trace::page))
        .route("/console/tail", get(tail::page))
        .route("/console/tail/events", get(tail::events))
        .route("/console/assets/console.css", get(pages::stylesheet))
        .route("/console/assets/console.js", get(pages::script))
        .route(
            "/console/{*rest}",
            get(pages::not_found).post(pages::not_found),
        )
        .layer(axum::extract::DefaultBodyLimit::max(web::MAX_FORM_BYTES))
        .layer(axum::middleware::map_response(web::security_headers))
        .with_state(state);
    Ok(router)
}
