//! `mcp`: serves MCP on stdin/stdout for an AI assistant until stdin closes or a signal comes;
//! logs go to stderr.

use anyhow::Context as _;
use clap::Args;

use rae_core::config::Config;

use super::{wait_for_signal, Failure};

#[derive(Args)]
pub(super) struct McpArgs {
    /// Tenant alias or RAE tenant id of the memories (default: RAE_TENANT_ID when set, else
    /// ingress.default_tenant).
    #[arg(long, env = "RAE_PIPELINE_TENANT")]
    tenant: Option<String>,
    /// Project used when a tool call names none (default: the tenant's project, else
    /// ingress.default_project).
    #[arg(long, env = "RAE_PROJECT")]
    project: Option<String>,
}

/// Serves MCP with the tenant and project of `args`.
pub(super) async fn run(config: &Config, args: McpArgs) -> Result<(), Failure> {
    use rae_mcp::McpServer;
    // RAE_TENANT_ID is the seed's name for the tenant an assistant works in.
    let tenant = args
        .tenant
        .or_else(|| std::env::var("RAE_TENANT_ID").ok())
        .filter(|t| !t.trim().is_empty());
    let server = McpServer::build(config, tenant, args.project)
        .map_err(|e| Failure::Usage(anyhow::Error::new(e).context("mcp")))?;
    let caller = server
        .local_caller()
        .expect("a local server has its caller");
    tracing::info!(
        tenant = %caller.tenant,
        project = %caller.project,
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
