//! Wires the roles into one process. [`build`] does every step that can fail (connect to NATS,
//! create the streams, bind the listeners, build the writer, enricher, watchers, ingress state
//! (with MCP's `/mcp` when `mcp.http.enabled`) and email intake) before anything runs;
//! [`Built::spawn`] then starts every role under one [`Supervisor`] and cannot fail, so a
//! failed start leaves no task behind.
//!
//! [`Running::run_until`] waits for the shutdown signal *and* for the first role that ends: a
//! role that ends before shutdown was asked (an error, an early return, a panic) stops the
//! others and is returned as the failure. Shutdown goes in order: stop taking work, finish
//! what is in flight (the roles, then the work their handlers spawned), drain the audit queue,
//! drain the NATS client; past the grace period it names what it abandoned.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use rae_consumers::{enricher::Enricher, rae_writer::Writer};
use rae_core::audit::Auditor;
use rae_core::bus::{Bus, BusError};
use rae_core::config::{Config, Secret, DEFAULT_WEBHOOK_ID};
use rae_core::telemetry;
use rae_git_watch as git_watch;
use rae_ingress::{self as ingress, webhook};

use crate::supervisor::{error_chain, RoleFailure, RoleResult, Supervisor};

/// Which roles this process runs.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub ingress: bool,
    pub enricher: bool,
    pub writer: bool,
    /// The git watcher, for each enabled git integration (none configured: nothing runs).
    pub git_watch: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        ingress: true,
        enricher: true,
        writer: true,
        git_watch: true,
    };
}

/// How this process runs (not what the pipeline is: that is the config).
#[derive(Debug, Clone)]
pub struct Options {
    /// Where generated state lives (the default webhook secret, a local nats-server's store).
    pub data_dir: PathBuf,
    /// Serve `/metrics` on `ingress.metrics_listen` (off in tests that run many pipelines).
    pub serve_metrics: bool,
}

/// Why the pipeline could not start: one variant per start step, nothing running.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no connection to NATS")]
    Connect(#[source] BusError),
    #[error("cannot set up the streams and buckets")]
    Setup(#[source] BusError),
    /// A listener could not be bound.
    #[error("cannot start {role}{}", listen_hint(role))]
    Listen {
        /// `ingress` or `metrics`.
        role: &'static str,
        addr: String,
        #[source]
        source: telemetry::BindError,
    },
    #[error("cannot build the writer")]
    Writer(#[source] rae_consumers::rae_writer::BuildError),
    #[error("cannot build the enricher")]
    Enricher(#[source] rae_consumers::enricher::BuildError),
    #[error("cannot start the periodic import (sync_interval_secs) of integration {integration}")]
    Sync {
        integration: String,
        #[source]
        source: rae_ingress::import::ImportError,
    },
    #[error("cannot build the git watcher of integration {integration}")]
    GitWatch {
        integration: String,
        #[source]
        source: git_watch::BuildError,
    },
    #[error("cannot keep the generated webhook secret in {}: make --data-dir writable or set RAE_WEBHOOK_SECRET", .path.display())]
    WebhookSecret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the webhook integrations")]
    Webhooks(#[source] webhook::BuildError),
    #[error("cannot build the ingress")]
    Ingress(#[source] ingress::BuildError),
    #[error("cannot build the MCP server of /mcp")]
    Mcp(#[source] rae_mcp::BuildError),
    #[error("cannot build the console")]
    Console(#[source] rae_console::BuildError),
    #[error("cannot build email integration {integration}")]
    Email {
        integration: String,
        #[source]
        source: rae_email::BuildError,
    },
}

/// What to do when a listener's address is taken.
fn listen_hint(role: &str) -> &'static str {
    match role {
        "metrics" => {
            " (another process on this host serves metrics there? give each its own with \
             --metrics-listen ADDR, or --metrics-listen off)"
        }
        "console" => " (another process listens there? set console.listen)",
        _ => " (another process listens there? set ingress.listen or RAE_PIPELINE_LISTEN)",
    }
}

/// Why the shutdown was not clean.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    /// Work was still in flight when the grace period ended.
    #[error("shutdown grace of {grace_secs}s passed with work in flight in: {} (unacked messages will be redelivered)", .abandoned.join(", "))]
    GraceExceeded {
        grace_secs: u64,
        /// Roles and other work that had not finished.
        abandoned: Vec<String>,
    },
    /// A role failed or panicked while finishing its work.
    #[error("a role failed while shutting down")]
    RoleFailed(#[source] RoleFailure),
}

/// Why [`Running::run_until`] ended with a failure.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A role ended before shutdown was asked; the others were shut down.
    #[error(transparent)]
    Role(#[from] RoleFailure),
    /// The signal came, but the shutdown was not clean.
    #[error(transparent)]
    Shutdown(#[from] ShutdownError),
}

/// A role built and ready to run: its name and its (not yet polled) task.
type Ready = (String, BoxFuture<'static, RoleResult>);

/// The pipeline with everything that can fail done and nothing running yet, but the audit
/// queue (stopped again when this is dropped). [`Built::spawn`] runs it.
pub struct Built {
    supervisor: Supervisor,
    roles: Vec<Ready>,
    /// The audit publisher stops after the ingress, so decisions made during the drain are kept.
    audit: Option<(DropGuard, JoinHandle<()>)>,
    ingress_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    /// The console's own address (`console.listen`), when it has one.
    console_addr: Option<SocketAddr>,
    smtp_addrs: Vec<SocketAddr>,
    bus: Bus,
}

/// A running pipeline.
pub struct Running {
    supervisor: Supervisor,
    audit: Option<(DropGuard, JoinHandle<()>)>,
    ingress_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    console_addr: Option<SocketAddr>,
    /// Addresses of the SMTP listeners of the mail role.
    smtp_addrs: Vec<SocketAddr>,
    bus: Bus,
    /// A running pipeline dropped without [`Running::shutdown`] still stops its roles.
    _stop_on_drop: DropGuard,
}

/// Builds and starts `roles` on `config`: [`build`], then [`Built::spawn`].
///
/// # Errors
/// [`StartError`] for an unreachable NATS, a taken port or an unusable integration.
pub async fn start(
    config: &Config,
    roles: Roles,
    options: &Options,
) -> Result<Running, StartError> {
    Ok(build(config, roles, options).await?.spawn())
}

/// Does every start step of `roles` that can fail, and runs nothing but the audit queue.
///
/// # Errors
/// [`StartError`] for an unreachable NATS, a taken port or an unusable integration.
pub async fn build(config: &Config, roles: Roles, options: &Options) -> Result<Built, StartError> {
    let bus = Bus::connect(&config.nats, "rae-pipeline")
        .await
        .map_err(StartError::Connect)?;
    bus.setup().await.map_err(StartError::Setup)?;
    let supervisor = Supervisor::new(CancellationToken::new());
    let token = supervisor.token().clone();
    let mut built = Built {
        supervisor,
        roles: Vec::new(),
        audit: None,
        ingress_addr: None,
        metrics_addr: None,
        console_addr: None,
        smtp_addrs: Vec::new(),
        bus: bus.clone(),
    };

    if options.serve_metrics {
        let handle = telemetry::metrics_handle();
        let addr = &config.ingress.metrics_listen;
        let listener =
            telemetry::bind(addr, "metrics")
                .await
                .map_err(|source| StartError::Listen {
                    role: "metrics",
                    addr: addr.clone(),
                    source,
                })?;
        built.metrics_addr = listener.local_addr().ok();
        let t = token.clone();
        built.add("metrics", async move {
            telemetry::serve_metrics(listener, handle, t).await?;
            Ok(())
        });
        let (b, t) = (bus.clone(), token.clone());
        built.add("gauges", async move {
            refresh_gauges(b, t).await;
            Ok(())
        });
    }

    let mut rae_health = None;
    if roles.writer {
        let writer = Writer::build(config, &bus)
            .await
            .map_err(StartError::Writer)?;
        rae_health = Some(writer.rae_health());
        let t = token.child_token();
        built.add("writer", async move {
            writer.run(t).await;
            Ok(())
        });
    }
    if roles.enricher {
        let enricher = Enricher::build(config, &bus)
            .await
            .map_err(StartError::Enricher)?;
        let t = token.child_token();
        built.add("enricher", async move {
            enricher.run(t).await;
            Ok(())
        });
    }
    if roles.git_watch {
        for (integration, settings) in config.settings_of::<rae_core::config::GitConfig>() {
            let watcher = git_watch::GitWatcher::build(config, &integration.id, settings, &bus)
                .await
                .map_err(|source| StartError::GitWatch {
                    integration: integration.id.clone(),
                    source,
                })?;
            let t = token.child_token();
            built.add(&format!("git-watch:{}", integration.id), async move {
                watcher.run(t).await;
                Ok(())
            });
        }
    }
    if roles.ingress {
        // Periodic imports of repositories and channels without webhooks run beside the
        // ingress that would have received their deliveries.
        let syncs = ingress::import::periodic(config, &bus, &token)
            .await
            .map_err(|(integration, source)| StartError::Sync {
                integration,
                source,
            })?;
        for sync in syncs {
            built.add(&sync.name, async move {
                sync.run.await;
                Ok(())
            });
        }
    }
    if roles.ingress {
        let addr = &config.ingress.listen;
        let listener = telemetry::bind(addr, "the ingress")
            .await
            .map_err(|source| StartError::Listen {
                role: "ingress",
                addr: addr.clone(),
                source,
            })?;
        let needs_fallback = config
            .integration(DEFAULT_WEBHOOK_ID)
            .and_then(|i| i.settings_as::<rae_core::config::WebhookConfig>())
            .is_some_and(|w| w.secrets.is_empty());
        let fallback = if needs_fallback {
            Some(default_webhook_secret(&options.data_dir)?)
        } else {
            None
        };
        let registry = webhook::Registry::build(config, fallback).map_err(StartError::Webhooks)?;
        // Started last of the ingress steps; stopped again by the guard if a later one fails.
        let audit_token = CancellationToken::new();
        let (auditor, audit_task) = Auditor::start(bus.publisher(), audit_token.clone());
        built.audit = Some((audit_token.drop_guard(), audit_task));
        let mut state = ingress::IngressState::new(config, bus.clone(), registry, auditor.clone())
            .await
            .map_err(StartError::Ingress)?
            .with_tasks(built.supervisor.tracker().clone());
        if let Some(health) = rae_health {
            state = state.with_rae_health(health);
        }
        let mcp = if config.mcp.http.enabled {
            let access = rae_mcp::http::Access {
                keys: state.keys.clone(),
                limiter: state.limiter.clone(),
                body_budget: state.body_budget(),
                auditor,
            };
            rae_mcp::http::router(config, bus.clone(), access, token.clone())
                .map_err(StartError::Mcp)?
        } else {
            axum::Router::new()
        };
        let mut extra = mcp;
        if config.console.enabled {
            let access = rae_console::Access {
                keys: state.keys.clone(),
                auditor: state.auditor(),
                activity: state.activity(),
                rae_health: state.rae_health(),
            };
            let console = rae_console::router(config, bus.clone(), access, token.clone())
                .map_err(StartError::Console)?;
            match &config.console.listen {
                None => extra = extra.merge(console),
                Some(addr) => {
                    let own = telemetry::bind(addr, "the console")
                        .await
                        .map_err(|source| StartError::Listen {
                            role: "console",
                            addr: addr.clone(),
                            source,
                        })?;
                    built.console_addr = own.local_addr().ok();
                    let limits = ingress::listener::ConnectionLimits {
                        max_connections: config.ingress.max_connections,
                        header_timeout: Duration::from_millis(config.ingress.header_timeout_ms),
                        retry_after_secs: config.ingress.retry_after_secs,
                    };
                    let t = token.clone();
                    built.add("console", async move {
                        ingress::listener::serve(own, console, limits, t).await?;
                        Ok(())
                    });
                }
            }
        }
        built.ingress_addr = listener.local_addr().ok();
        let t = token.clone();
        built.add("ingress", async move {
            ingress::serve(listener, state, extra, t).await?;
            Ok(())
        });
    }
    Ok(built)
}

/// Builds the mail role of every enabled email integration: listeners bound, pollers ready.
async fn build_mail(
    config: &Config,
    bus: &Bus,
    supervisor: &Supervisor,
) -> Result<(Vec<Ready>, Vec<SocketAddr>), StartError> {
    use rae_core::config::EmailConfig;
    use rae_email::Email;
    let mut roles: Vec<Ready> = Vec::new();
    let mut addrs = Vec::new();
    for (integration, settings) in config.settings_of::<EmailConfig>() {
        let email = Email::build(config, &integration.id, settings, bus, supervisor.tracker())
            .await
            .map_err(|source| StartError::Email {
                integration: integration.id.clone(),
                source,
            })?;
        addrs.extend(email.smtp_addr());
        let t = supervisor.token().child_token();
        roles.push((
            format!("mail:{}", integration.id),
            Box::pin(async move {
                email.run(t).await;
                Ok(())
            }),
        ));
    }
    Ok((roles, addrs))
}

impl Built {
    fn add<F>(&mut self, name: &str, role: F)
    where
        F: Future<Output = RoleResult> + Send + 'static,
    {
        self.roles.push((name.to_owned(), Box::pin(role)));
    }

    /// Adds the mail role: the SMTP listener and IMAP pollers of every enabled email
    /// integration. `up` adds it when one is enabled, `mail` always.
    ///
    /// # Errors
    /// [`StartError`] for a taken address, an unreadable certificate or bad settings.
    pub async fn with_mail(mut self, config: &Config) -> Result<Built, StartError> {
        let (roles, addrs) = build_mail(config, &self.bus, &self.supervisor).await?;
        self.roles.extend(roles);
        self.smtp_addrs.extend(addrs);
        Ok(self)
    }

    /// Starts every role built.
    pub fn spawn(self) -> Running {
        let mut supervisor = self.supervisor;
        for (name, role) in self.roles {
            supervisor.spawn(name, role);
        }
        tracing::info!(
            roles = ?supervisor.roles(),
            ingress = self.ingress_addr.map(tracing::field::display),
            metrics = self.metrics_addr.map(tracing::field::display),
            "rae-pipeline running"
        );
        let stop_on_drop = supervisor.token().clone().drop_guard();
        Running {
            supervisor,
            audit: self.audit,
            ingress_addr: self.ingress_addr,
            metrics_addr: self.metrics_addr,
            console_addr: self.console_addr,
            smtp_addrs: self.smtp_addrs,
            bus: self.bus,
            _stop_on_drop: stop_on_drop,
        }
    }
}

impl Running {
    /// Address the ingress listens on, when it runs.
    pub fn ingress_addr(&self) -> Option<SocketAddr> {
        self.ingress_addr
    }

    /// The console's own address, when `console.listen` gives it one (else it is under
    /// `/console` on the ingress's address).
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console_addr
    }

    /// Address of `/metrics`, when served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Starts the mail role on a running pipeline: every email integration is built first,
    /// then all are spawned, so a failure starts none. (The CLI uses [`Built::with_mail`].)
    ///
    /// # Errors
    /// [`StartError`] for a taken address, an unreadable certificate or bad settings.
    pub async fn start_mail(&mut self, config: &Config) -> Result<(), StartError> {
        let (roles, addrs) = build_mail(config, &self.bus, &self.supervisor).await?;
        for (name, role) in roles {
            self.supervisor.spawn(name, role);
        }
        self.smtp_addrs.extend(addrs);
        Ok(())
    }

    /// Address of the first SMTP listener, when one runs.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp_addrs.first().copied()
    }

    /// The token that stops everything.
    pub fn token(&self) -> CancellationToken {
        self.supervisor.token().clone()
    }

    /// The NATS connection the roles share.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Runs `role` under supervision as the role `name`, like the roles the pipeline started:
    /// it must return only after [`Running::token`] was cancelled, with its work finished.
    pub fn spawn<F>(&mut self, name: &str, role: F)
    where
        F: Future<Output = RoleResult> + Send + 'static,
    {
        self.supervisor.spawn(name, role);
    }

    /// Runs until `shutdown` resolves (SIGINT/SIGTERM in the CLI) or a role ends, whichever
    /// comes first, then shuts down within `grace`.
    ///
    /// # Errors
    /// [`RunError::Role`] naming the role that ended before `shutdown` and why (the others are
    /// shut down first); [`RunError::Shutdown`] when the shutdown itself was not clean.
    pub async fn run_until<F>(mut self, shutdown: F, grace: Duration) -> Result<(), RunError>
    where
        F: Future<Output = ()>,
    {
        let failure = tokio::select! {
            () = shutdown => None,
            failure = self.supervisor.first_ended() => Some(failure),
        };
        match &failure {
            None => tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: finishing in-flight work"
            ),
            Some(failure) => tracing::error!(
                role = failure.role(),
                error = %error_chain(failure),
                grace_secs = grace.as_secs(),
                "a role ended before shutdown was asked: shutting down the others"
            ),
        }
        let stopped = self.shutdown(grace).await;
        match (failure, stopped) {
            (None, stopped) => Ok(stopped?),
            (Some(failure), Ok(())) => Err(failure.into()),
            (Some(failure), Err(err)) => {
                tracing::warn!(error = %error_chain(&err), "the shutdown after the failure was not clean");
                Err(failure.into())
            }
        }
    }

    /// Stops taking work, waits up to `grace` for the work in flight (the roles, then what
    /// their handlers spawned), drains the audit queue, then drains NATS.
    ///
    /// # Errors
    /// [`ShutdownError::GraceExceeded`] naming what had not finished within `grace` (unacked
    /// messages are redelivered by JetStream); [`ShutdownError::RoleFailed`] when a role
    /// failed or panicked while finishing.
    pub async fn shutdown(mut self, grace: Duration) -> Result<(), ShutdownError> {
        let deadline = tokio::time::Instant::now() + grace;
        let stopped = self.supervisor.stop(deadline).await;
        let mut failures = stopped.failures;
        let mut abandoned = stopped.abandoned;
        if let Some((guard, audit)) = self.audit {
            // Cancelling its token makes the audit queue publish what it holds, then end.
            drop(guard);
            match tokio::time::timeout_at(deadline, audit).await {
                Ok(Ok(())) => {}
                Ok(Err(join)) => failures.extend(RoleFailure::of("audit", Err(join))),
                Err(_) => abandoned.push("the audit queue".to_owned()),
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.bus.client.drain()).await;
        for failure in &failures {
            tracing::error!(role = failure.role(), error = %error_chain(failure), "role failed while shutting down");
        }
        if !abandoned.is_empty() {
            return Err(ShutdownError::GraceExceeded {
                grace_secs: grace.as_secs(),
                abandoned,
            });
        }
        if let Some(failure) = failures.into_iter().next() {
            return Err(ShutdownError::RoleFailed(failure));
        }
        tracing::info!("rae-pipeline stopped");
        Ok(())
    }
}

/// The default `memory` webhook's secret when none is configured: generated once and kept in
/// `<data_dir>/webhook-secret`, so a fresh install is never open to unauthenticated writes.
///
/// # Errors
/// [`StartError::WebhookSecret`] naming the directory or file that could not be written.
pub fn default_webhook_secret(data_dir: &Path) -> Result<Secret, StartError> {
    let path = data_dir.join("webhook-secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let secret = text.trim();
        if !secret.is_empty() {
            return Ok(Secret::new(secret));
        }
    }
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::WebhookSecret {
        path: data_dir.to_owned(),
        source,
    })?;
    let secret = hex::encode(rand::random::<[u8; 24]>());
    write_private(&path, &secret).map_err(|source| StartError::WebhookSecret {
        path: path.clone(),
        source,
    })?;
    tracing::warn!(
        path = %path.display(),
        "no webhook secret configured (RAE_WEBHOOK_SECRET): generated one; send it as X-Webhook-Secret"
    );
    Ok(Secret::new(secret))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)?
        .write_all(format!("{text}\n").as_bytes())
}

/// Keeps the DLQ depth and consumer pending gauges current.
async fn refresh_gauges(bus: Bus, token: CancellationToken) {
    use rae_core::subjects;
    use rae_core::telemetry::names;
    loop {
        if let Ok(depth) = rae_core::dead_letter::depth(&bus).await {
            metrics::gauge!(names::DLQ_MESSAGES).set(depth as f64);
        }
        for (stream, consumer) in [
            (subjects::EVENTS_STREAM, subjects::ENRICHER_CONSUMER),
            (subjects::ENRICHED_STREAM, subjects::WRITER_CONSUMER),
        ] {
            if let Ok(s) = bus.stream(stream).await {
                if let Ok(info) = s.consumer_info(consumer).await {
                    metrics::gauge!(names::CONSUMER_PENDING, "consumer" => consumer)
                        .set(info.num_pending as f64);
                }
            }
        }
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
