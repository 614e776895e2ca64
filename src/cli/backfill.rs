//! `backfill`: runs events stored in `RAE_EVENTS` again through enrichment and writing (see
//! [`rae_pipeline::backfill`]), printing each event it republishes and a summary.

use anyhow::Context as _;
use clap::Args;
use time::OffsetDateTime;

use rae_core::config::Config;
use rae_core::event;

use super::{connect, parse_time, Failure};

#[derive(Args)]
pub(super) struct BackfillArgs {
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

/// Checks the selection of `args`, then republishes what matches (or lists it on `--dry-run`).
pub(super) async fn run(config: &Config, args: BackfillArgs) -> Result<(), Failure> {
    use rae_pipeline::backfill;
    if let Some(source) = &args.source {
        if source.parse::<event::Source>().is_err() {
            return Err(Failure::Usage(anyhow::anyhow!(
                "--source must be one of {}",
                event::Source::names()
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
