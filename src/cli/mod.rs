//! The command line: the clap schema of `rae-pipeline` (global options and one subcommand per
//! file in this directory), the exit-code mapping of [`Failure`], and the dispatch from a parsed
//! command to its module's `run`.
//!
//! Each command's module owns its clap arguments, its run function and its output; what they
//! share (loading the config, connecting to NATS, waiting for SIGINT/SIGTERM, parsing times)
//! lives here. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.

mod backfill;
mod check_config;
mod dlq;
mod forget;
mod git_watch;
mod import;
mod keys;
mod mail;
mod mapping;
mod mcp;
mod send;
mod setup;
mod tail;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use time::OffsetDateTime;

use rae_core::bus::Bus;
use rae_core::config::{Config, Source};
use rae_core::telemetry::{self, LogFormat};
use rae_pipeline::supervisor::error_chain;

#[derive(Parser)]
#[command(name = "rae-pipeline", version, about = "Feeds RAE memories from webhooks and other sources through NATS JetStream", long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.\n\
Environment: NATS_URL, NATS_REPLICAS, RAE_BASE_URL, RAE_API_KEY, RAE_TENANT_ID, RAE_WEBHOOK_SECRET,\n\
GITHUB_WEBHOOK_SECRET, SLACK_SIGNING_SECRET, RAE_PIPELINE_LISTEN, RAE_PIPELINE_METRICS_LISTEN\n\
override the config; RAE_PIPELINE_TENANT and RAE_PROJECT set the tenant and project of `mcp`;\n\
RUST_LOG sets log levels (every crate of rae-pipeline logs under a target that starts with `rae`,\nso RUST_LOG=info,rae=debug shows its debug lines)."
)]
struct Cli {
    /// Config file (YAML). Default: ./integrations.yaml when present, else embedded defaults.
    #[arg(long, global = true, env = "RAE_PIPELINE_CONFIG")]
    config: Option<PathBuf>,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role (ingress, enricher, writer, and the git watcher and email intake when a
    /// git or email integration is enabled) in one process; starts a local nats-server when none
    /// answers at NATS_URL and one is installed.
    Up(up::RunArgs),
    /// Run only the HTTP ingress (with MCP at /mcp when mcp.http.enabled).
    Ingress(up::RunArgs),
    /// Run only the enricher (RAE_EVENTS -> RAE_ENRICHED).
    Enricher(up::RunArgs),
    /// Run only the RAE writer (RAE_ENRICHED -> RAE).
    Writer(up::RunArgs),
    /// Serve MCP on stdin/stdout for an AI assistant (Claude Desktop, Claude Code, Cline, Cursor,
    /// VS Code): memory tools (stores go into the pipeline, searches to RAE), resources and
    /// prompts. Logs go to stderr. (Over HTTP the ingress serves /mcp when mcp.http.enabled.)
    Mcp(mcp::McpArgs),
    /// Run only the git watcher: commits and changes in local repositories become events.
    /// With --repo it watches those repositories; without, the config's git integrations.
    GitWatch(git_watch::GitWatchArgs),
    /// Run only the email intake: the SMTP listener and IMAP pollers of the enabled email
    /// integrations (`up` runs them too). Flags configure the `email` integration without a file.
    Mail(mail::MailArgs),
    /// Create or update the streams and key-value buckets, then exit.
    Setup,
    /// Load and validate the config, print it with secrets redacted, then exit.
    CheckConfig,
    /// Publish one test event into the pipeline.
    Send(send::SendArgs),
    /// Inspect, replay and purge dead letters.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Watch events flow: one line per event as it passes (live, from now on).
    Tail(tail::TailArgs),
    /// Run stored events (RAE_EVENTS) again through enrichment and writing, e.g. for a new RAE
    /// or new rules. Needs the enricher and writer running (`up`).
    Backfill(backfill::BackfillArgs),
    /// Import history from GitHub or Slack (and, as webhooks would have, store it once): a new team starts
    /// with its past. Publishes into the pipeline; `up` stores it in RAE.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Forget memories (an erasure request): delete from RAE those of one event, URL, actor or
    /// conversation, as the memory record knows them. Needs the writer running (`up`).
    Forget(forget::ForgetArgs),
    /// API keys of POST /api/v1/memories: hash a key for `api_keys[].sha256`, or make one.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Webhook mappings and provider presets: see what a payload becomes, without sending it.
    #[command(subcommand)]
    Mapping(mapping::MappingCommand),
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time like 2026-11-24T10:30:00Z: {e}"))
}

/// A failure and the exit code it maps to.
enum Failure {
    /// Bad usage or config: exit 2.
    Usage(anyhow::Error),
    /// Anything at run time: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

/// Parses the command line, runs the command and maps its outcome to the exit code.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging(cli.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // `mcp` may still have a blocking read of stdin in flight, which nothing can cancel; the
    // work is done, so do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The whole chain, as `{:#}` prints it, but a cause that its parent's message already
        // ends with is said once.
        Err(Failure::Usage(e)) => {
            eprintln!("error: {}", error_chain(e.as_ref()));
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {}", error_chain(e.as_ref()));
            ExitCode::from(1)
        }
    }
}

fn load_config(path: &Option<PathBuf>) -> Result<Config, Failure> {
    let source = match path {
        Some(p) => Source::File(p.clone()),
        None => Source::Default,
    };
    Config::load_from_env(&source).map_err(|e| Failure::Usage(e.into()))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Keys(command) = cli.command {
        // Needs no config: a key is hashed before the config that will hold it exists.
        return keys::run(command);
    }
    let config = load_config(&cli.config)?;
    match cli.command {
        Command::Up(args) => up::up(&config, &args).await,
        Command::Mail(args) => mail::run(config, &args).await,
        Command::Ingress(args) => up::ingress(&config, &args).await,
        Command::Enricher(args) => up::enricher(&config, &args).await,
        Command::Writer(args) => up::writer(&config, &args).await,
        Command::Mcp(args) => mcp::run(&config, args).await,
        Command::GitWatch(args) => git_watch::run(config, &args).await,
        Command::Setup => setup::run(&config).await,
        Command::CheckConfig => check_config::run(&config),
        Command::Send(args) => send::run(&config, args).await,
        Command::Dlq(command) => dlq::run(&config, command).await,
        Command::Keys(_) => Ok(()),
        Command::Backfill(args) => backfill::run(&config, args).await,
        Command::Tail(args) => tail::run(&config, args).await,
        Command::Import(command) => import::run(&config, command).await,
        Command::Forget(args) => forget::run(&config, args).await,
        Command::Mapping(command) => mapping::run(&config, command),
    }
}

async fn connect(config: &Config) -> Result<Bus, Failure> {
    let mut nats = config.nats.clone();
    nats.connect_timeout_secs = nats.connect_timeout_secs.min(5);
    Ok(Bus::connect(&nats, "rae-pipeline-cli")
        .await
        .context("connect to NATS")?)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
