//! `send`: publishes one test event (source `api`, integration `cli`) into the pipeline and
//! prints its id, subject and stream sequence as JSON.

use anyhow::Context as _;
use clap::Args;
use time::OffsetDateTime;

use rae_core::config::Config;
use rae_core::event::{self, Event, Route, Source};

use super::{connect, Failure};

#[derive(Args)]
pub(super) struct SendArgs {
    /// The memory text.
    #[arg(long)]
    content: String,
    /// Importance from 0 to 1 (default: the enricher's rules decide).
    #[arg(long)]
    importance: Option<f64>,
    /// Comma-separated tags.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Tenant alias or RAE tenant id (default: ingress.default_tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// Project (default: the tenant's `project`, else ingress.default_project).
    #[arg(long)]
    project: Option<String>,
    /// Event kind.
    #[arg(long, default_value = "note")]
    kind: String,
}

/// Validates the event of `args`, publishes it and awaits the ack.
pub(super) async fn run(config: &Config, args: SendArgs) -> Result<(), Failure> {
    let now = OffsetDateTime::now_utc();
    let limits = config.limits.limits();
    let (tenant, project) = config.destination(args.tenant.as_deref(), args.project.as_deref());
    let route = Route {
        tenant: &tenant,
        project: &project,
        source: Source::Api,
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
