//! `tail`: watches events flow, one line per message of a stage's subjects (live, from the
//! moment it subscribed), until Ctrl-C. The subject and the line are the core's
//! ([`rae_core::tail`]), shared with the console's live tail.

use anyhow::Context as _;
use clap::Args;
use time::OffsetDateTime;

use rae_core::config::Config;
use rae_core::tail::{self, Flow};

use super::{connect, Failure};

#[derive(Args)]
pub(super) struct TailArgs {
    /// Subject tokens after the stage's prefix: `acme` (a tenant), `acme.github`,
    /// `*.slack.message`, ... Default: everything.
    filter: Option<String>,
    /// Which flow to watch.
    #[arg(long, value_enum, default_value = "events")]
    stage: Flow,
    /// Print each message's JSON on one line instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Subscribes to the subject of `args` and prints each message until Ctrl-C.
pub(super) async fn run(config: &Config, args: TailArgs) -> Result<(), Failure> {
    use futures::StreamExt;
    let subject = tail::subject(args.stage, args.filter.as_deref())
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
        let now = OffsetDateTime::now_utc();
        let clock = format!(
            "{:02}:{:02}:{:02}.{:03}",
            now.hour(),
            now.minute(),
            now.second(),
            now.millisecond()
        );
        let line = tail::line(args.stage, &message.payload);
        println!("{clock} {} {line}", message.subject);
    }
    Ok(())
}
