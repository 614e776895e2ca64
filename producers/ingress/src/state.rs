//! The ingress state every handler reads: config, the NATS publisher and dedupe bucket, the
//! integration registries, API keys, rate limits, the RAE client, and the activity shown by
//! `/api/v1/integrations/health`; built once at start by [`IngressState::new`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use rae_core::audit::Auditor;
use rae_core::bus::{Bus, Dedupe, Publisher};
use rae_core::config::Config;
use rae_core::event::Limits;
use rae_core::rae::{ClientError, RaeClient};

use crate::{auth, github, presets, rate_limit, slack, webhook, Answer, ApiError, API_INTEGRATION};

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
    /// Provider presets (every integration kind in `Provider::ALL`).
    pub presets: Arc<presets::Registry>,
    pub keys: Arc<auth::KeyRing>,
    pub limiter: Arc<rate_limit::RateLimiter>,
    /// For `/rae query` and `POST /api/v1/memories/query`.
    pub rae: RaeClient,
    /// For Slack `response_url` answers.
    pub outbound: reqwest::Client,
    pub limits: Limits,
    pub(crate) max_body_bytes: usize,
    /// Bytes of request bodies that may be held at once (`ingress.max_inflight_body_bytes`).
    pub(crate) body_budget: Arc<tokio::sync::Semaphore>,
    pub(crate) request_timeout: Duration,
    pub tolerance_secs: u64,
    pub retry_after_secs: u64,
    pub(crate) auditor: Auditor,
    /// Requests, errors and last activity per integration (`/api/v1/integrations/health`,
    /// the console's overview).
    pub(crate) activity: rae_core::activity::Activity,
    /// RAE's health from the writer, when it runs in this process.
    pub(crate) rae_health: Option<rae_core::rae::RaeHealth>,
    /// Where handlers spawn work that outlives their request (Slack follow-ups), so the
    /// shutdown waits for it; see [`IngressState::with_tasks`].
    pub(crate) tasks: tokio_util::task::TaskTracker,
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
            presets: Arc::new(presets::Registry::build(config)),
            keys: Arc::new(auth::KeyRing::from_config(config)),
            limiter: Arc::new(rate_limit::RateLimiter::new(&config.ingress.rate_limit)),
            rae,
            outbound,
            limits: config.limits.limits(),
            max_body_bytes: config.ingress.max_body_bytes,
            body_budget: Arc::new(tokio::sync::Semaphore::new(
                config.ingress.max_inflight_body_bytes,
            )),
            request_timeout: Duration::from_millis(config.ingress.request_timeout_ms),
            tolerance_secs: config.ingress.timestamp_tolerance_secs,
            retry_after_secs: config.ingress.retry_after_secs,
            auditor,
            activity: rae_core::activity::Activity::default(),
            rae_health: None,
            tasks: tokio_util::task::TaskTracker::new(),
        })))
    }

    /// Spawns the work handlers leave behind (Slack follow-ups) into `tasks`, the process's
    /// tracker, so the shutdown waits for it within the grace period.
    pub fn with_tasks(mut self, tasks: tokio_util::task::TaskTracker) -> IngressState {
        Arc::make_mut(&mut self.0).tasks = tasks;
        self
    }

    /// Reports RAE's health (from the writer's breaker) in `/api/v1/integrations/health`.
    pub fn with_rae_health(mut self, health: rae_core::rae::RaeHealth) -> IngressState {
        Arc::make_mut(&mut self.0).rae_health = Some(health);
        self
    }

    /// The audit queue, for routes the binary mounts beside the ingress's (the console).
    pub fn auditor(&self) -> Auditor {
        self.auditor.clone()
    }

    /// RAE's health from the writer, when it runs in this process.
    pub fn rae_health(&self) -> Option<rae_core::rae::RaeHealth> {
        self.rae_health.clone()
    }

    /// The budget of request body bytes held at once (`ingress.max_inflight_body_bytes`), for
    /// routes the binary mounts beside the ingress's (MCP's `/mcp`) to share.
    pub fn body_budget(&self) -> Arc<tokio::sync::Semaphore> {
        Arc::clone(&self.body_budget)
    }

    /// The publishing context producers share.
    pub fn context(&self) -> webhook::Context<'_> {
        webhook::Context {
            publisher: &self.publisher,
            dedupe: &self.dedupe,
            retry_after_secs: self.retry_after_secs,
        }
    }

    /// Takes one request from `caller`'s rate-limit budget (an API key's or an integration's).
    ///
    /// # Errors
    /// 429 with the seconds until the next request is allowed.
    pub fn admit(&self, caller: rate_limit::Budget<'_>) -> Result<(), ApiError> {
        self.limiter
            .take(caller, Instant::now())
            .map_err(|wait| ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
    }

    pub(crate) fn note(&self, integration: &str, result: &Result<Answer, ApiError>) {
        let now = OffsetDateTime::now_utc();
        let shown = match result {
            Ok(_) => None,
            Err(e @ (ApiError::Unavailable { .. } | ApiError::Internal)) => {
                Some(format!("event store unavailable ({})", e.code()))
            }
            // Only the class: this route is public, RAE's answers may echo other callers' input.
            Err(ApiError::Upstream(_)) => Some("RAE could not answer".into()),
            Err(ApiError::TooManyRequests { .. }) => Some("rate limit".into()),
            Err(_) => None,
        };
        self.activity.note(integration, now, result.is_ok(), shown);
    }

    /// Requests, errors and last activity per integration, for routes the binary mounts
    /// beside the ingress's (the console's overview).
    pub fn activity(&self) -> rae_core::activity::Activity {
        self.activity.clone()
    }

    /// Ids of the integrations `/api/v1/integrations/health` reports.
    pub(crate) fn integration_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .webhooks
            .ids()
            .chain(self.github.ids())
            .chain(self.slack.ids())
            .chain(self.presets.ids())
            .map(str::to_owned)
            .collect();
        if !self.keys.is_empty() {
            ids.push(API_INTEGRATION.to_owned());
        }
        ids.sort();
        ids
    }
}
