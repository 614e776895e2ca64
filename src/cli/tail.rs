//! `tail`: watches events flow, one line per message of a stage's subjects (live, from the
//! moment it subscribed), until Ctrl-C.

use anyhow::Context as _;
use clap::Args;
use time::OffsetDateTime;

use rae_core::config::Config;

use super::{connect, Failure};

#[derive(Args)]
pub(super) struct TailArgs {
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

/// Subscribes to the subject of `args` and prints each message until Ctrl-C.
pub(super) async fn run(config: &Config, args: TailArgs) -> Result<(), Failure> {
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
