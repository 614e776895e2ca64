//! `mapping test`: prints the event a payload would become through a webhook integration's
//! `mapping`, publishing nothing, so a mapping can be written and tried without a sender.

use std::path::PathBuf;

use anyhow::Context as _;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use clap::{Args, Subcommand};
use time::OffsetDateTime;

use rae_core::config::{Config, Secret};
use rae_ingress::webhook::{self, mapped};

use super::Failure;

#[derive(Subcommand)]
pub(super) enum MappingCommand {
    /// Print the event PAYLOAD would become through the integration's mapping (nothing is
    /// published). Exit 0 with the event as JSON (or `skipped` when skip_if holds), 1 when the
    /// mapping fails on the payload (the body would be dead-lettered), 2 for bad usage or config.
    Test(TestArgs),
}

#[derive(Args)]
pub(super) struct TestArgs {
    /// The webhook integration whose mapping to apply.
    #[arg(long)]
    integration: String,
    /// A file with the JSON body a sender would post (`-` for stdin).
    #[arg(long)]
    payload: PathBuf,
    /// A request header the templates see as `headers['name']`, as `Name: value`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
}

pub(super) fn run(config: &Config, command: MappingCommand) -> Result<(), Failure> {
    let MappingCommand::Test(args) = command;
    let usage = |e: anyhow::Error| Failure::Usage(e);
    // Secrets play no part here; the default integration may have none configured.
    let registry = webhook::Registry::build(config, Some(Secret::new("unused-for-mapping-test")))
        .context("build the webhook integrations")
        .map_err(usage)?;
    let hook = registry.get(&args.integration).ok_or_else(|| {
        usage(anyhow::anyhow!(
            "no enabled webhook integration {:?} in the config",
            args.integration
        ))
    })?;
    let mapping = hook.mapping.as_ref().ok_or_else(|| {
        usage(anyhow::anyhow!(
            "integration {:?} has no mapping: add a `mapping` block to its config",
            args.integration
        ))
    })?;
    let body = if args.payload.as_os_str() == "-" {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut text).context("read stdin")?;
        text
    } else {
        std::fs::read(&args.payload)
            .with_context(|| format!("read {}", args.payload.display()))
            .map_err(usage)?
    };
    let value = mapped::parse(&body)
        .with_context(|| {
            format!(
                "{} is not a body the webhook accepts",
                args.payload.display()
            )
        })
        .map_err(usage)?;
    let mut headers = HeaderMap::new();
    for header in &args.headers {
        let (name, value) = header.split_once(':').ok_or_else(|| {
            usage(anyhow::anyhow!(
                "--header {header:?} must look like `Name: value`"
            ))
        })?;
        let name = HeaderName::try_from(name.trim())
            .map_err(|e| usage(anyhow::anyhow!("--header {header:?}: {e}")))?;
        let value = HeaderValue::try_from(value.trim())
            .map_err(|e| usage(anyhow::anyhow!("--header {header:?}: {e}")))?;
        headers.append(name, value);
    }
    let limits = config.limits.limits();
    let interpreted = mapped::interpret(
        hook.route(),
        mapping,
        &value,
        &mapped::template_headers(&headers),
        None,
        &limits,
        OffsetDateTime::now_utc(),
    )
    .context("the mapping fails on this payload; the ingress would dead-letter it")?;
    match interpreted {
        mapped::Interpreted::Skipped => println!("skipped: skip_if holds for this payload"),
        mapped::Interpreted::Event { event, .. } => println!(
            "{}",
            serde_json::to_string_pretty(&event).context("print the event")?
        ),
    }
    Ok(())
}
