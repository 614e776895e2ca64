//! `dlq list|show|replay|purge`: inspects, replays and purges the dead letters in `RAE_DLQ`
//! (see [`rae_core::dead_letter`]), narrowed by stage, reason, source, tenant and time.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use time::OffsetDateTime;

use rae_core::bus::Bus;
use rae_core::config::Config;
use rae_core::dead_letter::{self, Filter, Stage};

use super::{connect, parse_time, Failure};

/// The filter flags of `list`, `replay` and `purge`: clap's face of the core [`Filter`], which
/// they become through the one `From` below (the id of `replay`/`purge` is set on top of it).
#[derive(Args)]
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
        /// A JSON array of the dead letters (`[]` when there are none) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter in full (JSON).
    Show {
        /// DLQ sequence (the id `dlq list` shows) or event id.
        id: String,
    },
    /// Put dead letters back into their stage's input; each is removed once the republish is acked.
    Replay(Selection),
    /// Delete dead letters for good.
    Purge(Selection),
}

impl From<FilterArgs> for Filter {
    fn from(args: FilterArgs) -> Filter {
        Filter {
            id: None,
            stage: args.stage,
            reason: args.reason,
            source: args.source,
            tenant: args.tenant,
            since: args.since,
            until: args.until,
        }
    }
}

/// Which dead letters `replay` or `purge` acts on, and how.
#[derive(Args)]
pub(super) struct Selection {
    /// One dead letter: DLQ sequence or event id.
    #[arg(long, conflicts_with = "all")]
    id: Option<String>,
    /// Every dead letter (combine with the filters to narrow).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Say what would be done, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// At most this many.
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
}

impl Selection {
    /// The dead letters chosen, read from `RAE_DLQ` (at most `--limit`).
    async fn entries(self, bus: &Bus) -> Result<Vec<dead_letter::Entry>, Failure> {
        let filter = selection(self.id, self.all, self.filter)?;
        let entries = dead_letter::list(bus, &filter, self.limit)
            .await
            .context("read RAE_DLQ")?;
        Ok(entries)
    }
}

/// The dead letters `replay` or `purge` touches: `--id` and the filter flags, or every one with
/// `--all`. Without any of them the command is refused rather than taken to mean "all".
fn selection(id: Option<String>, all: bool, filter: FilterArgs) -> Result<Filter, Failure> {
    let filter = Filter {
        id,
        ..Filter::from(filter)
    };
    if all || filter.is_narrowed() {
        Ok(filter)
    } else {
        Err(Failure::Usage(anyhow::anyhow!(
            "say which dead letters: --id ID, --reason R (or another filter), or --all"
        )))
    }
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
            let entries = dead_letter::list(&bus, &filter.into(), limit)
                .await
                .context("read RAE_DLQ")?;
            if json {
                let array = serde_json::to_string(&entries).context("write JSON")?;
                println!("{array}");
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
        DlqCommand::Replay(chosen) => {
            let dry_run = chosen.dry_run;
            let entries = chosen.entries(&bus).await?;
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
        DlqCommand::Purge(chosen) => {
            let dry_run = chosen.dry_run;
            let entries = chosen.entries(&bus).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(reason: Option<&str>) -> FilterArgs {
        FilterArgs {
            stage: None,
            reason: reason.map(str::to_owned),
            source: None,
            tenant: None,
            since: None,
            until: None,
        }
    }

    #[test]
    fn replay_and_purge_need_an_id_a_filter_or_all() {
        assert!(matches!(
            selection(None, false, flags(None)),
            Err(Failure::Usage(_))
        ));
        let chosen = |id: Option<&str>, all, reason| match selection(
            id.map(str::to_owned),
            all,
            flags(reason),
        ) {
            Ok(filter) => filter,
            Err(_) => panic!("refused: id {id:?}, all {all}, reason {reason:?}"),
        };
        let everything = chosen(None, true, None);
        assert!(everything.id.is_none() && everything.reason.is_none());
        let one = chosen(Some("12"), false, None);
        assert_eq!(one.id.as_deref(), Some("12"));
        let by_reason = chosen(None, false, Some("rae_rejected"));
        assert_eq!(by_reason.reason.as_deref(), Some("rae_rejected"));
        assert!(by_reason.id.is_none());
    }
}
