//! `rae-pipeline`: one binary that runs any role of the pipeline, or all of them (`up`), and the
//! operator commands (setup, check-config, send, dlq).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use time::OffsetDateTime;

use rae_core::bus::Bus;
use rae_core::config::{Config, Source};
use rae_core::dead_letter::{self, Filter, Stage};
use rae_core::event::{self, Event, Route, Source as EventSource};
use rae_core::subjects;
use rae_core::telemetry::{self, LogFormat};
use rae_pipeline::app::{self, Roles};
use rae_pipeline::local_nats;

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
    /// Run every role (ingress, enricher, writer, and the git watcher when a git integration is
    /// enabled) in one process; starts a local nats-server when none answers at NATS_URL and
    /// one is installed.
    Up(RunArgs),
    /// Run only the HTTP ingress.
    Ingress(RunArgs),
    /// Run only the enricher (RAE_EVENTS -> RAE_ENRICHED).
    Enricher(RunArgs),
    /// Run only the RAE writer (RAE_ENRICHED -> RAE).
    Writer(RunArgs),
    /// Serve MCP on stdin/stdout for an AI assistant (Claude Desktop, Cline, Cursor): tools
    /// store_memory (into the pipeline), query_memories, query_graph, generate_reflection (from
    /// RAE). Logs go to stderr.
    Mcp(McpArgs),
    /// Run only the git watcher: commits and changes in local repositories become events.
    /// With --repo it watches those repositories; without, the config's git integrations.
    GitWatch(GitWatchArgs),
    /// Run only the email intake: the SMTP listener and IMAP pollers of the enabled email
    /// integrations (`up` runs them too). Flags configure the `email` integration without a file.
    Mail(MailArgs),
    /// Create or update the streams and key-value buckets, then exit.
    Setup,
    /// Load and validate the config, print it with secrets redacted, then exit.
    CheckConfig,
    /// Publish one test event into the pipeline.
    Send(SendArgs),
    /// Inspect, replay and purge dead letters.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Watch events flow: one line per event as it passes (live, from now on).
    Tail(TailArgs),
    /// Run stored events (RAE_EVENTS) again through enrichment and writing, e.g. for a new RAE
    /// or new rules. Needs the enricher and writer running (`up`).
    Backfill(BackfillArgs),
    /// API keys of POST /api/v1/memories: hash a key for `api_keys[].sha256`, or make one.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Args)]
struct TailArgs {
    /// Subject tokens after the stage's prefix: `acme` (a tenant), `acme.github`,
    /// `*.slack.message`, ... Default: everything.
    filter: Option<String>,
    /// Which flow to watch.
    #[arg(long, value_enum, default_value = "events")]
    stage: TailStage,
    /// Print each message's JSON on one line instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TailStage {
    /// Events as producers publish them (rae.events.>).
    Events,
    /// Enriched events on their way to RAE (rae.enriched.>).
    Enriched,
    /// Dead letters (rae.dlq.>).
    Dlq,
    /// Audit records of the ingress (rae.audit.>).
    Audit,
}

#[derive(Args)]
struct BackfillArgs {
    /// Events received at or after this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    since: OffsetDateTime,
    /// Events received before this RFC 3339 time (default: up to now).
    #[arg(long, value_parser = parse_time)]
    until: Option<OffsetDateTime>,
    /// Only events of this source (webhook, api, github, slack, email, git, mcp).
    #[arg(long)]
    source: Option<String>,
    /// Only events of this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// At most this many events.
    #[arg(long)]
    limit: Option<usize>,
    /// List what would be run again, change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print the SHA-256 of a key, the value of `api_keys[].sha256`. Reads the key from stdin
    /// when it is not given, so it stays out of the shell history.
    Hash {
        /// The key.
        key: Option<String>,
    },
    /// Print a new random key and its SHA-256.
    Generate,
}

#[derive(Args)]
struct RunArgs {
    /// Directory for generated state: the default webhook secret, a local nats-server's store.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// Seconds to finish in-flight work after SIGINT/SIGTERM before exiting anyway.
    #[arg(long, default_value_t = 30)]
    grace_secs: u64,
}

#[derive(Args)]
struct MailArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Address of the SMTP listener of the `email` integration (e.g. 0.0.0.0:2525).
    #[arg(long)]
    smtp_listen: Option<String>,
    /// Recipients to accept (`memories@example.com`, which takes `memories+<tenant>@...` too,
    /// or `@example.com`); several allowed.
    #[arg(long, num_args = 1..)]
    accept: Vec<String>,
}

#[derive(Args)]
struct McpArgs {
    /// Tenant alias or RAE tenant id of the memories (default: RAE_TENANT_ID when set, else
    /// ingress.default_tenant).
    #[arg(long, env = "RAE_PIPELINE_TENANT")]
    tenant: Option<String>,
    /// Project used when a tool call names none (default: the tenant's project, else
    /// ingress.default_project).
    #[arg(long, env = "RAE_PROJECT")]
    project: Option<String>,
}

#[derive(Args)]
struct GitWatchArgs {
    /// A repository to watch (its work tree or a bare repository); repeat for several.
    #[arg(long = "repo", value_name = "PATH")]
    repos: Vec<PathBuf>,
    /// Paths that get their own file_change events, comma separated globs ("*.py,*.ts,*.md").
    #[arg(long, value_name = "GLOBS", requires = "repos")]
    watch_patterns: Option<String>,
    /// A branch to watch (repeat or comma separate); default: the branch HEAD is on.
    #[arg(long, value_delimiter = ',', requires = "repos")]
    branch: Vec<String>,
    /// Tenant alias or RAE tenant id of the events (default: ingress.default_tenant).
    #[arg(long, requires = "repos")]
    tenant: Option<String>,
    /// Project of the events.
    #[arg(long, requires = "repos")]
    project: Option<String>,
    /// Also report settled uncommitted edits of matching paths.
    #[arg(long, requires = "repos")]
    working_tree: bool,
    /// How often to look at the repositories, in milliseconds (default 2000).
    #[arg(long, requires = "repos")]
    poll_interval_ms: Option<u64>,
    /// Commits stored when a branch is first seen (default 10).
    #[arg(long, requires = "repos")]
    initial_commits: Option<usize>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct SendArgs {
    /// The memory text.
    #[arg(long)]
    content: String,
    #[arg(long)]
    importance: Option<f64>,
    /// Comma-separated tags.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Tenant alias or RAE tenant id (default: ingress.default_tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// Project (default: ingress.default_project).
    #[arg(long)]
    project: Option<String>,
    /// Event kind.
    #[arg(long, default_value = "note")]
    kind: String,
}

#[derive(Args, Clone)]
struct FilterArgs {
    /// Only this stage.
    #[arg(long, value_enum)]
    stage: Option<Stage>,
    /// Only this reason (invalid_event, rae_rejected, retries_exhausted, ...).
    #[arg(long)]
    reason: Option<String>,
    /// Only this event source (webhook, api, ...).
    #[arg(long)]
    source: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Only dead letters that failed at or after this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    since: Option<OffsetDateTime>,
    /// Only dead letters that failed before this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    until: Option<OffsetDateTime>,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters: id, stage, reason, attempts, subject, content preview.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter in full (JSON).
    Show {
        /// DLQ sequence (the id `dlq list` shows) or event id.
        id: String,
    },
    /// Put dead letters back into their stage's input; each is removed once the republish is acked.
    Replay {
        /// One dead letter: DLQ sequence or event id.
        #[arg(long, conflicts_with = "all")]
        id: Option<String>,
        /// Every dead letter (combine with the filters to narrow).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filter: FilterArgs,
        /// Say what would be replayed, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// At most this many.
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
    },
    /// Delete dead letters for good.
    Purge {
        #[arg(long, conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long)]
        dry_run: bool,
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
    },
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

fn main() -> ExitCode {
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
        Err(Failure::Usage(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
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
        return keys(command);
    }
    let config = load_config(&cli.config)?;
    match cli.command {
        Command::Up(args) => run_roles(&config, Roles::ALL, &args, true).await,
        Command::Mail(args) => {
            let config = mail_config(config, &args)?;
            run_roles(
                &config,
                Roles {
                    ingress: false,
                    enricher: false,
                    writer: false,
                    git_watch: false,
                },
                &args.run,
                false,
            )
            .await
        }
        Command::Ingress(args) => {
            run_roles(
                &config,
                Roles {
                    ingress: true,
                    enricher: false,
                    writer: false,
                    git_watch: false,
                },
                &args,
                false,
            )
            .await
        }
        Command::Enricher(args) => {
            run_roles(
                &config,
                Roles {
                    ingress: false,
                    enricher: true,
                    writer: false,
                    git_watch: false,
                },
                &args,
                false,
            )
            .await
        }
        Command::Writer(args) => {
            run_roles(
                &config,
                Roles {
                    ingress: false,
                    enricher: false,
                    writer: true,
                    git_watch: false,
                },
                &args,
                false,
            )
            .await
        }
        Command::Mcp(args) => mcp(&config, args).await,
        Command::GitWatch(args) => {
            let config = git_watch_config(config, &args)?;
            let roles = Roles {
                ingress: false,
                enricher: false,
                writer: false,
                git_watch: true,
            };
            run_roles(&config, roles, &args.run, false).await
        }
        Command::Setup => {
            let bus = connect(&config).await?;
            bus.setup().await.context("setup")?;
            println!(
                "streams {}, {}, {}, {} and buckets {}, {} are ready on {}",
                subjects::EVENTS_STREAM,
                subjects::ENRICHED_STREAM,
                subjects::DLQ_STREAM,
                subjects::AUDIT_STREAM,
                subjects::STATE_BUCKET,
                subjects::DEDUPE_BUCKET,
                config.nats.url
            );
            Ok(())
        }
        Command::CheckConfig => {
            print!("{}", config.redacted_yaml().context("check-config")?);
            eprintln!("config is valid");
            Ok(())
        }
        Command::Send(args) => send(&config, args).await,
        Command::Dlq(command) => dlq(&config, command).await,
        Command::Keys(_) => Ok(()),
        Command::Backfill(args) => backfill(&config, args).await,
        Command::Tail(args) => tail(&config, args).await,
    }
}

/// The config `git-watch` runs: with `--repo`, one `git` integration of those repositories (on
/// the settings of the config's first git integration, if any) instead of the config's.
fn git_watch_config(mut config: Config, args: &GitWatchArgs) -> Result<Config, Failure> {
    use rae_core::config::{
        GitConfig, GitRepositoryConfig, IntegrationConfig, IntegrationKind, IntegrationSettings,
        GIT_ID,
    };
    use rae_git_watch::scan;
    if args.repos.is_empty() {
        if config
            .integrations_of(IntegrationKind::Git)
            .next()
            .is_none()
        {
            return Err(Failure::Usage(anyhow::anyhow!(
                "nothing to watch: pass --repo PATH or enable a git integration in the config"
            )));
        }
        return Ok(config);
    }
    let mut problems = Vec::new();
    for path in &args.repos {
        if let Err(e) = scan::open(path) {
            problems.push(format!("--repo {}: {e}", path.display()));
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Usage(anyhow::anyhow!("{}", problems.join("\n"))));
    }
    let mut settings: GitConfig = config
        .settings_of::<GitConfig>()
        .next()
        .map(|(_, settings)| settings.clone())
        .unwrap_or_default();
    settings.repositories = args
        .repos
        .iter()
        .map(|path| GitRepositoryConfig {
            path: path.clone(),
            tenant: args.tenant.clone(),
            project: args.project.clone(),
            ..GitRepositoryConfig::default()
        })
        .collect();
    if !args.branch.is_empty() {
        settings.branches = args.branch.clone();
    }
    if let Some(patterns) = &args.watch_patterns {
        settings.watch_patterns = vec![patterns.clone()];
    }
    settings.working_tree |= args.working_tree;
    if let Some(ms) = args.poll_interval_ms {
        settings.poll_interval_ms = ms;
    }
    if let Some(n) = args.initial_commits {
        settings.initial_commits = n;
    }
    config
        .integrations
        .retain(|i| i.kind() != IntegrationKind::Git);
    config.integrations.push(IntegrationConfig {
        id: GIT_ID.into(),
        name: Some("Git watcher".into()),
        enabled: true,
        settings: IntegrationSettings::Git(settings),
    });
    let problems = config.validate();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        return Err(Failure::Usage(anyhow::anyhow!(
            "invalid git-watch options ({} problem(s)):\n{}",
            problems.len(),
            list.join("\n")
        )));
    }
    Ok(config)
}

async fn connect(config: &Config) -> Result<Bus, Failure> {
    let mut nats = config.nats.clone();
    nats.connect_timeout_secs = nats.connect_timeout_secs.min(5);
    Ok(Bus::connect(&nats, "rae-pipeline-cli")
        .await
        .context("connect to NATS")?)
}

async fn run_roles(
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
    let options = app::Options {
        data_dir: args.data_dir.clone(),
        serve_metrics: true,
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
        let mut running = app::start(config, roles, &options).await.context("start")?;
        if mail {
            running.start_mail(config).await.context("start mail")?;
        }
        wait_for_signal().await;
        tracing::info!(
            grace_secs = args.grace_secs,
            "shutting down: finishing in-flight work"
        );
        running
            .shutdown(Duration::from_secs(args.grace_secs))
            .await
            .map_err(anyhow::Error::msg)
    }
    .await;
    if let Some(local) = local {
        local.stop().await;
    }
    Ok(result?)
}

/// The config with the `mail` flags applied to the `email` integration (created when absent).
fn mail_config(mut config: Config, args: &MailArgs) -> Result<Config, Failure> {
    use rae_core::config::{
        EmailConfig, IntegrationConfig, IntegrationKind, IntegrationSettings, SmtpConfig, EMAIL_ID,
    };
    if args.smtp_listen.is_some() || !args.accept.is_empty() {
        if config.integrations.iter().all(|i| i.id != EMAIL_ID) {
            config.integrations.push(IntegrationConfig {
                id: EMAIL_ID.into(),
                name: None,
                enabled: true,
                settings: IntegrationSettings::default_of(IntegrationKind::Email),
            });
        }
        let email = config
            .integrations
            .iter_mut()
            .find(|i| i.id == EMAIL_ID)
            .and_then(|i| i.settings_as_mut::<EmailConfig>())
            .ok_or_else(|| {
                Failure::Usage(anyhow::anyhow!(
                    "integration {EMAIL_ID} is not of kind email: --smtp-listen and --accept configure an email integration"
                ))
            })?;
        let smtp = email.smtp.get_or_insert_with(SmtpConfig::default);
        if let Some(listen) = &args.smtp_listen {
            smtp.listen = listen.clone();
        }
        if !args.accept.is_empty() {
            smtp.accept = args.accept.clone();
        }
    }
    let problems = config.validate();
    if !problems.is_empty() {
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("  {}: {}", p.path, p.message))
            .collect();
        return Err(Failure::Usage(anyhow::anyhow!(
            "invalid mail settings:\n{}",
            text.join("\n")
        )));
    }
    if config
        .integrations_of(rae_core::config::IntegrationKind::Email)
        .next()
        .is_none()
    {
        return Err(Failure::Usage(anyhow::anyhow!(
            "no email integration: configure one or pass --smtp-listen and --accept"
        )));
    }
    Ok(config)
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

async fn mcp(config: &Config, args: McpArgs) -> Result<(), Failure> {
    use rae_mcp::McpServer;
    // RAE_TENANT_ID is the seed's name for the tenant an assistant works in.
    let tenant = args
        .tenant
        .or_else(|| std::env::var("RAE_TENANT_ID").ok())
        .filter(|t| !t.trim().is_empty());
    let server = McpServer::build(config, tenant, args.project)
        .map_err(|e| Failure::Usage(anyhow::Error::new(e).context("mcp")))?;
    tracing::info!(
        tenant = server.tenant(),
        project = server.project(),
        nats = %config.nats.url,
        rae = %config.rae.base_url,
        "mcp server on stdio"
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let signalled = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signalled.cancel();
    });
    server
        .serve(tokio::io::stdin(), tokio::io::stdout(), shutdown)
        .await
        .context("mcp")?;
    Ok(())
}

async fn send(config: &Config, args: SendArgs) -> Result<(), Failure> {
    let now = OffsetDateTime::now_utc();
    let limits = config.limits.limits();
    let tenant = args
        .tenant
        .unwrap_or_else(|| config.ingress.default_tenant.clone());
    let project = args
        .project
        .unwrap_or_else(|| config.ingress.default_project.clone());
    let route = Route {
        tenant: &tenant,
        project: &project,
        source: EventSource::Api,
        integration: "cli",
    };
    let mut event = Event::builder(route, event::new_id(), args.kind, args.content)
        .importance(args.importance)
        .occurred_at(now)
        .received_at(now)
        .actor(std::env::var("USER").ok())
        .build();
    event::validate_tags(&args.tags, &limits).map_err(|e| Failure::Usage(e.into()))?;
    for tag in &args.tags {
        event::push_tag(&mut event.tags, tag, &limits);
    }
    event
        .validate(&limits)
        .map_err(|e| Failure::Usage(e.into()))?;
    let bus = connect(config).await?;
    bus.setup().await.context("setup")?;
    let published = bus
        .publisher()
        .publish_new(&event)
        .await
        .context("publish")?;
    println!(
        "{}",
        serde_json::json!({"id": event.id, "subject": published.subject, "sequence": published.sequence})
    );
    Ok(())
}

fn filter_of(args: FilterArgs, id: Option<String>) -> Filter {
    Filter {
        id,
        stage: args.stage,
        reason: args.reason,
        source: args.source,
        tenant: args.tenant,
        since: args.since,
        until: args.until,
    }
}

fn is_narrowed(f: &Filter) -> bool {
    f.id.is_some()
        || f.stage.is_some()
        || f.reason.is_some()
        || f.source.is_some()
        || f.tenant.is_some()
        || f.since.is_some()
        || f.until.is_some()
}

async fn dlq(config: &Config, command: DlqCommand) -> Result<(), Failure> {
    let bus = connect(config).await?;
    match command {
        DlqCommand::List {
            filter,
            limit,
            json,
        } => {
            let entries = dead_letter::list(&bus, &filter_of(filter, None), limit)
                .await
                .context("read RAE_DLQ")?;
            if json {
                for entry in &entries {
                    println!("{}", serde_json::to_string(entry).unwrap_or_default());
                }
            } else if entries.is_empty() {
                println!("no dead letters");
            } else {
                println!(
                    "{:<8} {:<7} {:<18} {:>8}  {:<40} CONTENT",
                    "ID", "STAGE", "REASON", "ATTEMPTS", "SUBJECT"
                );
                for e in &entries {
                    println!(
                        "{:<8} {:<7} {:<18} {:>8}  {:<40} {}",
                        e.sequence,
                        e.letter.stage.as_str(),
                        e.letter.reason,
                        e.letter.attempts,
                        e.letter.subject,
                        e.letter.preview(60)
                    );
                }
            }
            Ok(())
        }
        DlqCommand::Show { id } => {
            let filter = Filter {
                id: Some(id.clone()),
                ..Filter::default()
            };
            let entries = dead_letter::list(&bus, &filter, 1)
                .await
                .context("read RAE_DLQ")?;
            let entry = entries.first().ok_or_else(|| {
                Failure::Usage(anyhow::anyhow!(
                    "no dead letter with id {id}; see `rae-pipeline dlq list`"
                ))
            })?;
            println!(
                "{}",
                serde_json::to_string_pretty(entry).unwrap_or_default()
            );
            Ok(())
        }
        DlqCommand::Replay {
            id,
            all,
            filter,
            dry_run,
            limit,
        }
        | DlqCommand::Purge {
            id,
            all,
            filter,
            dry_run,
            limit,
        } if !all && id.is_none() && !is_narrowed(&filter_of(filter.clone(), None)) => {
            let _ = (dry_run, limit);
            Err(Failure::Usage(anyhow::anyhow!(
                "say which dead letters: --id ID, --reason R (or another filter), or --all"
            )))
        }
        DlqCommand::Replay {
            id,
            filter,
            dry_run,
            limit,
            ..
        } => {
            let entries = dead_letter::list(&bus, &filter_of(filter, id), limit)
                .await
                .context("read RAE_DLQ")?;
            let mut done = 0usize;
            for entry in &entries {
                let target = entry.letter.stage.input_subject(
                    entry.letter.tenant(),
                    entry.letter.source(),
                    entry.letter.kind(),
                );
                if dry_run {
                    println!(
                        "would replay {} ({}) to {target}",
                        entry.sequence, entry.letter.reason
                    );
                    continue;
                }
                dead_letter::replay(&bus, entry)
                    .await
                    .with_context(|| format!("replay dead letter {}", entry.sequence))?;
                done += 1;
                println!(
                    "replayed {} ({}) to {target}",
                    entry.sequence, entry.letter.reason
                );
            }
            if dry_run {
                println!("{} dead letter(s) would be replayed", entries.len());
            } else {
                println!("{done} dead letter(s) replayed");
            }
            Ok(())
        }
        DlqCommand::Purge {
            id,
            filter,
            dry_run,
            limit,
            ..
        } => {
            let entries = dead_letter::list(&bus, &filter_of(filter, id), limit)
                .await
                .context("read RAE_DLQ")?;
            for entry in &entries {
                if dry_run {
                    println!("would purge {} ({})", entry.sequence, entry.letter.reason);
                } else {
                    dead_letter::delete(&bus, entry.sequence)
                        .await
                        .with_context(|| format!("purge dead letter {}", entry.sequence))?;
                }
            }
            println!(
                "{} dead letter(s) {}",
                entries.len(),
                if dry_run { "would be purged" } else { "purged" }
            );
            Ok(())
        }
    }
}

fn keys(command: KeysCommand) -> Result<(), Failure> {
    use rae_ingress::auth;
    match command {
        KeysCommand::Hash { key } => {
            let key = match key {
                Some(key) => key,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("cannot read the key from stdin")
                        .map_err(Failure::Runtime)?;
                    line
                }
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(Failure::Usage(anyhow::anyhow!(
                    "no key given: pass it as an argument or on stdin"
                )));
            }
            println!("{}", auth::hash_key(key));
        }
        KeysCommand::Generate => {
            let key = auth::generate_key();
            println!("key:    {key}");
            println!("sha256: {}", auth::hash_key(&key));
            eprintln!("Give the key to the caller and put only the sha256 into api_keys[].sha256.");
        }
    }
    Ok(())
}

async fn backfill(config: &Config, args: BackfillArgs) -> Result<(), Failure> {
    use rae_pipeline::backfill;
    if let Some(source) = &args.source {
        if source.parse::<EventSource>().is_err() {
            return Err(Failure::Usage(anyhow::anyhow!(
                "--source must be one of {}",
                EventSource::names()
            )));
        }
    }
    if args.until.is_some_and(|until| until <= args.since) {
        return Err(Failure::Usage(anyhow::anyhow!(
            "--until must be after --since"
        )));
    }
    let bus = connect(config).await?;
    let selection = backfill::Selection {
        since: args.since,
        until: args.until,
        source: args.source,
        tenant: args.tenant,
        limit: args.limit,
        dry_run: args.dry_run,
    };
    let verb = if args.dry_run {
        "would run again"
    } else {
        "run again"
    };
    let report = backfill::run(&bus, &selection, |e| {
        println!("{verb}: {} {}/{} {}", e.id, e.source, e.kind, e.tenant);
    })
    .await
    .context("backfill")?;
    println!(
        "{} event(s) {verb} ({} read in the time range{})",
        report.matched,
        report.read,
        if report.unreadable > 0 {
            format!(", {} unreadable skipped", report.unreadable)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// The subject `tail` subscribes to.
fn tail_subject(stage: TailStage, filter: Option<&str>) -> Result<String, String> {
    let prefix = match stage {
        TailStage::Events => "rae.events",
        TailStage::Enriched => "rae.enriched",
        TailStage::Dlq => "rae.dlq",
        TailStage::Audit => "rae.audit",
    };
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(format!("{prefix}.>"));
    };
    let tokens: Vec<&str> = filter.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        let wildcard = *token == "*" || (*token == ">" && i == tokens.len() - 1);
        let plain = !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !wildcard && !plain {
            return Err(format!(
                "filter {filter:?}: each token is lowercase letters, digits, _ or -, or * (any), or a final >"
            ));
        }
    }
    if tokens.last() == Some(&">") {
        Ok(format!("{prefix}.{filter}"))
    } else {
        Ok(format!("{prefix}.{filter}.>"))
    }
}

async fn tail(config: &Config, args: TailArgs) -> Result<(), Failure> {
    use futures::StreamExt;
    let subject = tail_subject(args.stage, args.filter.as_deref())
        .map_err(|e| Failure::Usage(anyhow::anyhow!(e)))?;
    let bus = connect(config).await?;
    let mut messages = bus
        .client
        .subscribe(subject.clone())
        .await
        .context("subscribe")?;
    eprintln!("watching {subject} (Ctrl-C to stop)");
    loop {
        let message = tokio::select! {
            m = messages.next() => match m { Some(m) => m, None => break },
            _ = tokio::signal::ctrl_c() => break,
        };
        if args.json {
            println!("{}", String::from_utf8_lossy(&message.payload));
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_slice(&message.payload).unwrap_or(serde_json::Value::Null);
        let now = OffsetDateTime::now_utc();
        let clock = format!(
            "{:02}:{:02}:{:02}.{:03}",
            now.hour(),
            now.minute(),
            now.second(),
            now.millisecond()
        );
        let line = match args.stage {
            TailStage::Dlq => format!(
                "{} {} {}",
                value["reason"].as_str().unwrap_or("?"),
                value["event"]["id"].as_str().unwrap_or("?"),
                value["error"].as_str().unwrap_or("")
            ),
            TailStage::Audit => format!(
                "{} {} key={} tenant={}",
                value["outcome"].as_str().unwrap_or("?"),
                value["reason"].as_str().unwrap_or("-"),
                value["key_id"].as_str().unwrap_or("-"),
                value["tenant"].as_str().unwrap_or("-")
            ),
            TailStage::Events | TailStage::Enriched => {
                let importance = value["importance"]
                    .as_f64()
                    .map_or("-".to_owned(), |i| format!("{i:.2}"));
                let content: String = value["content"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(80)
                    .collect();
                format!(
                    "{} {importance} {content}",
                    value["id"].as_str().unwrap_or("?")
                )
            }
        };
        println!("{clock} {} {line}", message.subject);
    }
    Ok(())
}
