//! `forget`: an erasure request. Deletes from RAE the memories of one event, of a URL, of an
//! actor or of a conversation, found in the memory record (see [`rae_core::forget`]); the
//! writer carries it out, retrying like a write, and each memory is deleted once.

use anyhow::Context as _;
use clap::Args;

use rae_core::config::Config;
use rae_core::event::{Route, Source};
use rae_core::forget::{self, By, Selector};

use super::{connect, Failure};

#[derive(Args)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(false))]
pub(super) struct ForgetArgs {
    /// The memory of this event id.
    #[arg(long, group = "what")]
    event: Option<String>,
    /// The memories of this URL (a URL without `#fragment` also covers its fragments: an
    /// issue's URL covers its comments).
    #[arg(long, group = "what")]
    url: Option<String>,
    /// The memories of this actor (as events name them: a GitHub login, a Slack user id, a
    /// mail address).
    #[arg(long, group = "what")]
    actor: Option<String>,
    /// The memories of this conversation (`session_id`: a Slack thread, a mail thread, an issue).
    #[arg(long, group = "what")]
    session: Option<String>,
    /// Only memories of this source (slack, github, email, ...).
    #[arg(long)]
    source: Option<String>,
    /// Tenant alias or RAE tenant id (default: ingress.default_tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// Say what would be forgotten, change nothing.
    #[arg(long)]
    dry_run: bool,
}

impl ForgetArgs {
    fn selector(&self) -> Selector {
        let (by, value) = match (&self.event, &self.url, &self.actor, &self.session) {
            (Some(v), ..) => (By::Event, v),
            (_, Some(v), ..) => (By::Url, v),
            (_, _, Some(v), _) => (By::Actor, v),
            (.., Some(v)) => (By::Session, v),
            // clap's required group guarantees one.
            _ => unreachable!("clap requires one of --event, --url, --actor, --session"),
        };
        Selector {
            source: self.source.clone(),
            ..Selector::new(by, value.clone())
        }
    }
}

/// Finds the memories and, unless `--dry-run`, publishes the forget.
pub(super) async fn run(config: &Config, args: ForgetArgs) -> Result<(), Failure> {
    let selector = args.selector();
    if selector.value.trim().is_empty() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "--{} must not be empty",
            selector.by.as_str()
        )));
    }
    let (tenant, project) = config.destination(args.tenant.as_deref(), None);
    let route = Route {
        tenant: &tenant,
        project: &project,
        source: Source::Api,
        integration: "cli",
    };
    let bus = connect(config).await?;
    bus.setup().await.context("setup")?;
    let user = std::env::var("USER").unwrap_or_else(|_| "an operator".into());
    let why = format!("erasure request by {user} (rae-pipeline forget)");
    let submitted = forget::submit(
        &bus,
        route,
        &selector,
        &why,
        args.dry_run,
        &config.limits.limits(),
    )
    .await
    .context("forget")?;
    let verb = if args.dry_run {
        "would forget"
    } else {
        "forgetting"
    };
    println!(
        "{verb} {} memor{} of {} in tenant {tenant}",
        submitted.memories,
        if submitted.memories == 1 { "y" } else { "ies" },
        selector.describe()
    );
    for event in &submitted.events {
        println!("  event {event}");
    }
    if let Some(id) = &submitted.event_id {
        let record = rae_core::audit::Record {
            at: time::OffsetDateTime::now_utc(),
            integration: "forget".into(),
            operation: Some(format!("forget by {} (cli, {user})", selector.by.as_str())),
            outcome: rae_core::audit::Outcome::Accepted,
            reason: None,
            tenant: Some(tenant.clone()),
            key_id: None,
            event_id: Some(id.clone()),
            repeated: None,
            until: None,
        };
        rae_core::audit::store(&bus.publisher(), &record)
            .await
            .context("audit record of the forget")?;
        println!("forget event {id} published: the writer deletes them from RAE (see `rae-pipeline tail`)");
    }
    Ok(())
}
