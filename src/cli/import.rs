//! `import`: a new team starts with its past. `import github` reads repositories' history
//! from the GitHub REST API, `import slack` channels' messages and threads from Slack's Web API,
//! and both publish the events their live producers would have made (same memories, same event
//! ids, so nothing is stored twice); a killed import resumes where it stopped, a re-run asks
//! only what changed. Progress goes to stderr (a
//! line on a terminal, log lines elsewhere); the counts to stdout as JSON at the end.

use std::io::IsTerminal as _;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use tokio_util::sync::CancellationToken;

use rae_core::config::{Config, Secret};
use rae_ingress::github::import::{self as github, Kind};
use rae_ingress::import::{ImportError, Progress, Summary};
use rae_ingress::slack::import as slack;

use super::{connect, wait_for_signal, Failure};

#[derive(Subcommand)]
pub(super) enum ImportCommand {
    /// Import GitHub history (issues, pull requests, comments, reviews, releases) through the
    /// REST API, authenticated as the integration's GitHub App (app_id, private_key_path), its
    /// token, or --token.
    Github(GithubArgs),
    /// Import Slack channels' messages and thread replies through the Web API, with the
    /// integration's bot_token or --token.
    Slack(SlackArgs),
}

#[derive(Args)]
pub(super) struct SlackArgs {
    /// Channel ids to import (C0123ABCD; several after one flag, repeated, or comma separated).
    #[arg(long = "channel", value_name = "ID", num_args = 1.., value_delimiter = ',', required = true)]
    channels: Vec<String>,
    /// Only messages at or after this date (2024-01-31) or time (2024-01-31T12:00:00Z).
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    since: Option<OffsetDateTime>,
    /// Print the events (JSON lines on stdout) instead of publishing them; needs no NATS and
    /// neither reads nor writes cursors.
    #[arg(long)]
    dry_run: bool,
    /// The slack integration whose routing and bot_token are used (default: the only enabled one).
    #[arg(long)]
    integration: Option<String>,
    /// A bot token used instead of the integration's bot_token.
    #[arg(long, env = "SLACK_BOT_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Args)]
pub(super) struct GithubArgs {
    /// Repositories to import, owner/name (several after one flag, repeated, or comma separated).
    #[arg(long = "repo", value_name = "OWNER/NAME", num_args = 1.., value_delimiter = ',', required_unless_present = "orgs")]
    repos: Vec<String>,
    /// Organizations whose every repository is imported.
    #[arg(long = "org", value_name = "ORG", num_args = 1.., value_delimiter = ',')]
    orgs: Vec<String>,
    /// Only what happened at or after this date (2024-01-31) or time (2024-01-31T12:00:00Z).
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    since: Option<OffsetDateTime>,
    /// What to import, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pulls,issues,comments,reviews,releases"
    )]
    kinds: Vec<Kind>,
    /// Print the events (JSON lines on stdout) instead of publishing them; needs no NATS and
    /// neither reads nor writes cursors.
    #[arg(long)]
    dry_run: bool,
    /// The github integration whose routing (tenants, project) and credentials are used
    /// (default: the only enabled one).
    #[arg(long)]
    integration: Option<String>,
    /// A token used instead of the integration's credentials.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// `2024-01-31` (midnight UTC) or an RFC 3339 time.
fn parse_since(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(time);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| "expected a date like 2024-01-31 or a time like 2024-01-31T12:00:00Z".into())
}

pub(super) async fn run(config: &Config, command: ImportCommand) -> Result<(), Failure> {
    match command {
        ImportCommand::Github(args) => run_github(config, args).await,
        ImportCommand::Slack(args) => run_slack(config, args).await,
    }
}

async fn run_slack(config: &Config, args: SlackArgs) -> Result<(), Failure> {
    for channel in &args.channels {
        let ok = !channel.is_empty() && channel.chars().all(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err(Failure::Usage(anyhow::anyhow!(
                "--channel {channel:?} must be a channel id like C0123ABCD (see the channel's details in Slack)"
            )));
        }
    }
    slack::integration(config, args.integration.as_deref()).map_err(usage)?;
    let bus = if args.dry_run {
        None
    } else {
        let bus = connect(config).await?;
        bus.setup().await.context("setup")?;
        Some(bus)
    };
    let progress = Arc::new(Progress::new("slack", std::io::stderr().is_terminal()));
    let cancel = CancellationToken::new();
    let importer = slack::Importer::build(
        config,
        args.integration.as_deref(),
        args.token.map(Secret::new),
        bus.as_ref(),
        progress.clone(),
        cancel.clone(),
    )
    .await
    .map_err(usage_or_runtime)?;
    let options = slack::Options {
        channels: args.channels,
        since: args.since,
        dry_run: args.dry_run,
    };
    drive(bus, &progress, cancel, importer.run(&options)).await
}

async fn run_github(config: &Config, args: GithubArgs) -> Result<(), Failure> {
    for repo in &args.repos {
        let ok = repo
            .split_once('/')
            .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'));
        if !ok {
            return Err(Failure::Usage(anyhow::anyhow!(
                "--repo {repo:?} must look like owner/name"
            )));
        }
    }
    let (_, settings) = github::integration(config, args.integration.as_deref()).map_err(usage)?;
    let credentials = github::credentials(settings, args.token.map(Secret::new)).map_err(usage)?;
    let bus = if args.dry_run {
        None
    } else {
        let bus = connect(config).await?;
        bus.setup().await.context("setup")?;
        Some(bus)
    };
    let progress = Arc::new(Progress::new("github", std::io::stderr().is_terminal()));
    let cancel = CancellationToken::new();
    let importer = github::Importer::build(
        config,
        args.integration.as_deref(),
        credentials,
        bus.as_ref(),
        progress.clone(),
        cancel.clone(),
    )
    .await
    .map_err(usage_or_runtime)?;
    let options = github::Options {
        repositories: args.repos,
        organizations: args.orgs,
        since: args.since,
        kinds: args.kinds,
        dry_run: args.dry_run,
    };
    drive(bus, &progress, cancel, importer.run(&options)).await
}

/// Runs `import` until it ends or Ctrl-C stops it at its next request (what was published
/// stays, the page being read is read again next time), prints the counts and drains the
/// connection.
async fn drive(
    bus: Option<rae_core::bus::Bus>,
    progress: &Progress,
    cancel: CancellationToken,
    import: impl std::future::Future<Output = Result<Summary, ImportError>>,
) -> Result<(), Failure> {
    let signal = tokio::spawn(async move {
        wait_for_signal().await;
        cancel.cancel();
    });
    let result = import.await;
    signal.abort();
    progress.finish();
    finish(result, &progress.summary())?;
    if let Some(bus) = bus {
        let _ = bus.client.drain().await;
    }
    Ok(())
}

/// Prints the counts; an error after them.
fn finish(result: Result<Summary, ImportError>, summary: &Summary) -> Result<(), Failure> {
    match result {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
            Ok(())
        }
        Err(err) => {
            println!("{}", serde_json::to_string(summary).unwrap_or_default());
            Err(usage_or_runtime(err))
        }
    }
}

fn usage(err: ImportError) -> Failure {
    Failure::Usage(err.into())
}

fn usage_or_runtime(err: ImportError) -> Failure {
    if err.is_usage() {
        Failure::Usage(err.into())
    } else {
        Failure::Runtime(err.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_time() {
        assert_eq!(
            parse_since("2024-01-31").unwrap(),
            time::macros::datetime!(2024-01-31 0:00 UTC)
        );
        assert_eq!(
            parse_since("2024-01-31T12:00:00+02:00").unwrap(),
            time::macros::datetime!(2024-01-31 10:00 UTC)
        );
        assert!(parse_since("yesterday").unwrap_err().contains("2024-01-31"));
    }
}
