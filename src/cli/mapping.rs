//! `mapping test`: prints the event a payload would become through a webhook integration's
//! `mapping`, or through a provider preset's normalizer, publishing nothing, so a mapping can
//! be written and tried, and a provider's payload previewed, without a sender.

use std::path::PathBuf;

use anyhow::Context as _;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use clap::{Args, Subcommand};
use time::OffsetDateTime;

use rae_core::config::{Config, Secret};
use rae_core::event::Route;
use rae_core::mapping::Mapping;
use rae_ingress::presets;
use rae_ingress::webhook::{self, mapped};

use super::Failure;

#[derive(Subcommand)]
pub(super) enum MappingCommand {
    /// Print the event PAYLOAD would become through the integration's mapping, or through
    /// its provider preset (gitlab, sentry, ...); nothing is published. Exit 0 with the event
    /// as JSON (a preset's several as a JSON array; `skipped` when skip_if holds, `ignored:
    /// <why>` for a type the preset does not store), 1 when the mapping or preset fails on the
    /// payload (the body would be dead-lettered or refused), 2 for bad usage or config.
    Test(TestArgs),
}

#[derive(Args)]
pub(super) struct TestArgs {
    /// The webhook integration whose mapping to apply, or a provider preset integration.
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
    let now = OffsetDateTime::now_utc();
    let mapped = |route: Route<'_>, mapping: &Mapping| -> Result<(), Failure> {
        let interpreted = mapped::interpret(
            route,
            mapping,
            &value,
            &mapped::template_headers(&headers),
            None,
            &limits,
            now,
        )
        .context("the mapping fails on this payload; the ingress would dead-letter it")?;
        match interpreted {
            mapped::Interpreted::Skipped => println!("skipped: skip_if holds for this payload"),
            mapped::Interpreted::Event { event, .. } => print_json(&event)?,
        }
        Ok(())
    };
    // Secrets play no part here; the default integration may have none configured.
    let webhooks = webhook::Registry::build(config, Some(Secret::new("unused-for-mapping-test")))
        .context("build the webhook integrations")
        .map_err(usage)?;
    if let Some(hook) = webhooks.get(&args.integration) {
        let mapping = hook.mapping.as_ref().ok_or_else(|| {
            usage(anyhow::anyhow!(
                "integration {:?} has no mapping: add a `mapping` block to its config",
                args.integration
            ))
        })?;
        return mapped(hook.route(), mapping);
    }
    let presets = presets::Registry::build(config);
    let preset = presets.get(&args.integration).ok_or_else(|| {
        usage(anyhow::anyhow!(
            "no enabled webhook or provider preset integration {:?} in the config",
            args.integration
        ))
    })?;
    if let Some(mapping) = preset.mapping() {
        return mapped(preset.route(), mapping);
    }
    // A provider preset: its own normalizer, as the ingress runs it after the signature check.
    let made = preset
        .events(&value, None, &limits, now)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "the {} preset cannot read this payload; the ingress would answer 400",
                preset.provider.as_str()
            )
        })?;
    match made {
        presets::Made::Ignored(reason) => println!("ignored: {reason}"),
        presets::Made::Events(events) => match events.as_slice() {
            [event] => print_json(event)?,
            events => print_json(&events)?,
        },
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("print the event")?
    );
    Ok(())
}
