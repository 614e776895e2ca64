//! `up`, `ingress`, `enricher` and `writer`: run the roles of the pipeline in this process until
//! SIGINT/SIGTERM, then shut them down in order within `--grace-secs`. `up` runs them all and
//! starts a local nats-server when none answers; `mail` and `git-watch` run through
//! [`run_roles`] too.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use rae_core::config::Config;
use rae_pipeline::app::{self, Roles};
use rae_pipeline::local_nats;

use super::{wait_for_signal, Failure};

#[derive(Args)]
pub(super) struct RunArgs {
    /// Directory for generated state: the default webhook secret, and (for `up`) the store of
    /// the nats-server it starts.
    #[arg(long, default_value = "./data")]
    pub(super) data_dir: PathBuf,
    /// Seconds to finish in-flight work after SIGINT/SIGTERM (or after a role failed) before
    /// exiting anyway.
    #[arg(long, default_value_t = 30)]
    pub(super) grace_secs: u64,
    /// Address of this process's `/metrics` listener, or `off` (default: ingress.metrics_listen,
    /// 0.0.0.0:9464, or RAE_PIPELINE_METRICS_LISTEN). Give each process on one host its own.
    #[arg(long, value_name = "ADDR|off")]
    pub(super) metrics_listen: Option<String>,
}

/// `up`: every role, and a local nats-server when none answers.
pub(super) async fn up(config: &Config, args: &RunArgs) -> Result<(), Failure> {
    run_roles(config, Roles::ALL, args, true).await
}

/// `ingress`: only the HTTP ingress.
pub(super) async fn ingress(config: &Config, args: &RunArgs) -> Result<(), Failure> {
    run_roles(
        config,
        Roles {
            ingress: true,
            enricher: false,
            writer: false,
            git_watch: false,
        },
        args,
        false,
    )
    .await
}

/// `enricher`: only the enricher.
pub(super) async fn enricher(config: &Config, args: &RunArgs) -> Result<(), Failure> {
    run_roles(
        config,
        Roles {
            ingress: false,
            enricher: true,
            writer: false,
            git_watch: false,
        },
        args,
        false,
    )
    .await
}

/// `writer`: only the RAE writer.
pub(super) async fn writer(config: &Config, args: &RunArgs) -> Result<(), Failure> {
    run_roles(
        config,
        Roles {
            ingress: false,
            enricher: false,
            writer: true,
            git_watch: false,
        },
        args,
        false,
    )
    .await
}

/// Runs `roles` (and mail, for `mail` and for `up` with an email integration) until a signal or
/// until one of them ends, which is a runtime failure (exit 1) naming the role.
pub(super) async fn run_roles(
    config: &Config,
    roles: Roles,
    args: &RunArgs,
    start_nats: bool,
) -> Result<(), Failure> {
    let local = if start_nats {
        local_nats::ensure(&config.nats.url, &args.data_dir)
            .await
            .map_err(|e| Failure::Usage(e.into()))?
    } else {
        None
    };
    let mut config = config.clone();
    let serve_metrics = match args.metrics_listen.as_deref() {
        Some("off") => false,
        Some(addr) => {
            config.ingress.metrics_listen = addr.to_owned();
            true
        }
        None => true,
    };
    let config = &config;
    let options = app::Options {
        data_dir: args.data_dir.clone(),
        serve_metrics,
    };
    // The `mail` command runs no other role; `up` (the only caller that starts NATS) runs
    // mail when an email integration is enabled.
    let mail = !(roles.ingress || roles.enricher || roles.writer || roles.git_watch)
        || (start_nats
            && config
                .integrations_of(rae_core::config::IntegrationKind::Email)
                .next()
                .is_some());
    let result = async {
        let mut built = app::build(config, roles, &options).await.context("start")?;
        if mail {
            built = built.with_mail(config).await.context("start mail")?;
        }
        let mut running = built.spawn();
        if let Some(local) = &local {
            // The nats-server `up` started is one of its roles: when it dies, so does `up`.
            let token = running.token();
            let exited = local.exited();
            running.spawn("nats-server", async move {
                tokio::select! {
                    biased;
                    () = token.cancelled() => Ok(()),
                    exited = exited => Err(exited.into()),
                }
            });
        }
        running
            .run_until(wait_for_signal(), Duration::from_secs(args.grace_secs))
            .await
            .map_err(anyhow::Error::new)
    }
    .await;
    if let Some(local) = local {
        local.stop().await;
    }
    Ok(result?)
}
