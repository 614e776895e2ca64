//! Wires the roles into one process: connects to NATS, creates the streams, starts the chosen
//! roles (ingress, enricher, writer, git watcher) under one cancellation token, and shuts them
//! down in order: stop taking work, finish what is in flight, drain the NATS client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use rae_consumers::{enricher::Enricher, rae_writer::Writer};
use rae_core::audit::Auditor;
use rae_core::bus::Bus;
use rae_core::config::{Config, Secret, DEFAULT_WEBHOOK_ID};
use rae_core::telemetry;
use rae_git_watch as git_watch;
use rae_ingress::{self as ingress, webhook};

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

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bus(#[from] rae_core::bus::BusError),
    #[error("{0}")]
    Listen(String),
    #[error("{0}")]
    Build(String),
}

/// A running pipeline.
pub struct Running {
    token: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    /// The audit publisher stops after the ingress, so decisions made during the drain are kept.
    audit: Option<(CancellationToken, JoinHandle<()>)>,
    ingress_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    /// Addresses of the SMTP listeners started by [`Running::start_mail`].
    smtp_addrs: Vec<SocketAddr>,
    bus: Bus,
}

/// Starts `roles` on `config`.
///
/// # Errors
/// [`StartError`] for an unreachable NATS, a taken port or an unusable integration.
pub async fn start(
    config: &Config,
    roles: Roles,
    options: &Options,
) -> Result<Running, StartError> {
    let bus = Bus::connect(&config.nats, "rae-pipeline").await?;
    bus.setup().await?;
    let token = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut running = Running {
        token: token.clone(),
        tasks: Vec::new(),
        audit: None,
        ingress_addr: None,
        metrics_addr: None,
        smtp_addrs: Vec::new(),
        bus: bus.clone(),
    };

    if options.serve_metrics {
        let handle = telemetry::metrics_handle();
        let listener = telemetry::bind(&config.ingress.metrics_listen, "metrics")
            .await
            .map_err(StartError::Listen)?;
        running.metrics_addr = listener.local_addr().ok();
        let t = token.clone();
        tasks.push((
            "metrics",
            tokio::spawn(async move {
                if let Err(err) = telemetry::serve_metrics(listener, handle, t).await {
                    tracing::error!(error = %err, "metrics listener failed");
                }
            }),
        ));
        let b = bus.clone();
        let t = token.clone();
        tasks.push(("gauges", tokio::spawn(refresh_gauges(b, t))));
    }

    let mut rae_health = None;
    if roles.writer {
        let writer = Writer::build(config, &bus)
            .await
            .map_err(|e| StartError::Build(e.to_string()))?;
        rae_health = Some(writer.rae_health());
        tasks.push(("writer", tokio::spawn(writer.run(token.child_token()))));
    }
    if roles.enricher {
        let enricher = Enricher::build(config, &bus)
            .await
            .map_err(|e| StartError::Build(e.to_string()))?;
        tasks.push(("enricher", tokio::spawn(enricher.run(token.child_token()))));
    }
    if roles.git_watch {
        let watchers = git_watch::GitWatcher::build_all(config, &bus)
            .await
            .map_err(|e| StartError::Build(e.to_string()))?;
        for watcher in watchers {
            tasks.push(("git-watch", tokio::spawn(watcher.run(token.child_token()))));
        }
    }
    if roles.ingress {
        let needs_fallback = config
            .integration(DEFAULT_WEBHOOK_ID)
            .and_then(|i| i.settings_as::<rae_core::config::WebhookConfig>())
            .is_some_and(|w| w.secrets.is_empty());
        let fallback = if needs_fallback {
            Some(default_webhook_secret(&options.data_dir).map_err(StartError::Build)?)
        } else {
            None
        };
        let registry = webhook::Registry::build(config, fallback)
            .map_err(|e| StartError::Build(e.to_string()))?;
        let audit_token = CancellationToken::new();
        let (auditor, audit_task) = Auditor::start(bus.publisher(), audit_token.clone());
        running.audit = Some((audit_token, audit_task));
        let mut state = ingress::IngressState::new(config, bus.clone(), registry, auditor)
            .await
            .map_err(|e| StartError::Build(e.to_string()))?;
        if let Some(health) = rae_health {
            state = state.with_rae_health(health);
        }
        let listener = telemetry::bind(&config.ingress.listen, "the ingress")
            .await
            .map_err(StartError::Listen)?;
        running.ingress_addr = listener.local_addr().ok();
        let t = token.clone();
        tasks.push((
            "ingress",
            tokio::spawn(async move {
                if let Err(err) = ingress::serve(listener, state, t).await {
                    tracing::error!(error = %err, "ingress failed");
                }
            }),
        ));
    }
    running.tasks = tasks;
    tracing::info!(
        ingress = ?running.ingress_addr,
        metrics = ?running.metrics_addr,
        nats = %config.nats.url,
        rae = %config.rae.base_url,
        "rae-pipeline running"
    );
    Ok(running)
}

impl Running {
    /// Address the ingress listens on, when it runs.
    pub fn ingress_addr(&self) -> Option<SocketAddr> {
        self.ingress_addr
    }

    /// Address of `/metrics`, when served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Starts the mail role: the SMTP listener and IMAP pollers of every enabled email
    /// integration (DESIGN §7). `up` calls it when one is enabled, `mail` always.
    ///
    /// # Errors
    /// [`StartError::Build`] for a taken address, an unreadable certificate or bad settings.
    pub async fn start_mail(&mut self, config: &Config) -> Result<(), StartError> {
        use rae_core::config::EmailConfig;
        use rae_email::Email;
        for (integration, settings) in config.settings_of::<EmailConfig>() {
            let email = Email::build(config, &integration.id, settings, &self.bus)
                .await
                .map_err(|e| StartError::Build(e.to_string()))?;
            self.smtp_addrs.extend(email.smtp_addr());
            self.tasks
                .push(("mail", tokio::spawn(email.run(self.token.child_token()))));
        }
        Ok(())
    }

    /// Address of the first SMTP listener, when one runs.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp_addrs.first().copied()
    }

    /// The token that stops everything.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// The NATS connection the roles share.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Stops taking work, waits up to `grace` for the work in flight, then drains NATS.
    ///
    /// # Errors
    /// The names of the roles that had not finished within `grace`; their unacked messages
    /// are redelivered by JetStream.
    pub async fn shutdown(self, grace: Duration) -> Result<(), String> {
        self.token.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        let mut abandoned = Vec::new();
        for (name, task) in self.tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abandoned.push(name);
            }
        }
        if let Some((audit_token, audit)) = self.audit {
            audit_token.cancel();
            let _ = tokio::time::timeout_at(deadline, audit).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.bus.client.drain()).await;
        if abandoned.is_empty() {
            tracing::info!("rae-pipeline stopped");
            Ok(())
        } else {
            Err(format!(
                "shutdown grace of {}s passed with work in flight in: {} (unacked messages will be redelivered)",
                grace.as_secs(),
                abandoned.join(", ")
            ))
        }
    }
}

/// The default `memory` webhook's secret when none is configured: generated once and kept in
/// `<data_dir>/webhook-secret`, so a fresh install is never open to unauthenticated writes.
///
/// # Errors
/// A message naming the file that could not be read or written.
pub fn default_webhook_secret(data_dir: &Path) -> Result<Secret, String> {
    let path = data_dir.join("webhook-secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let secret = text.trim();
        if !secret.is_empty() {
            return Ok(Secret::new(secret));
        }
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let secret = hex::encode(rand::random::<[u8; 24]>());
    write_private(&path, &secret).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
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
