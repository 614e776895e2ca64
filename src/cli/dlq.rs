//! `dlq list|show|replay|purge`: inspects, replays and purges the dead letters in `RAE_DLQ`
//! (see [`rae_core::dead_letter`]), narrowed by stage, reason, source, tenant and time.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use time::OffsetDateTime;

use rae_core::config::Config;
use rae_core::dead_letter::{self, Filter, Stage};

use super::{connect, parse_time, Failure};

#[derive(Args, Clone)]
pub(super) struct FilterArgs {
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
pub(super) enum DlqCommand {
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

/// Runs a `dlq` subcommand.
pub(super) async fn run(config: &Config, command: DlqCommand) -> Result<(), Failure> {
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
