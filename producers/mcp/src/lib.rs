//! MCP: an MCP server through which AI assistants (Claude Desktop, Claude Code, Cline, Cursor,
//! VS Code, ...) store and recall memories, on stdio (`rae-pipeline mcp`) or over Streamable
//! HTTP at `/mcp` on the ingress ([`http`]).
//!
//! `store_memory` (and `save_memory`, its name in RAE's own MCP server) is a producer like any
//! other: the call becomes one `mcp` event, published through the core publisher and
//! acknowledged by JetStream before the tool answers, so the memory is enriched, retried and
//! dead-lettered by the pipeline's own consumers (run by `up` elsewhere). `query_memories`,
//! `search_memory`, `get_related_context`, `query_graph` and `generate_reflection` are answered
//! from RAE's HTTP API; `pipeline_status` from RAE's health route and NATS. Failures the
//! assistant can act on (bad arguments, NATS or RAE unreachable, RAE refusing) are tool errors
//! with a message, never protocol errors. The resources and prompts (the project's reflection,
//! guidelines and recent activity) are RAE searches rendered as Markdown.
//!
//! Each request is answered for a [`caller::Caller`]: on stdio the local user, with the tenant
//! and project of the command line; over HTTP the holder of the request's API key, whose scopes
//! decide which tools are listed and callable.
//!
//! The protocol itself (handshake, revision negotiation, `ping`, notifications, JSON-RPC
//! errors, the HTTP transport's sessions) is the official Rust SDK's (`rmcp`); [`stdio`] frames
//! it and answers input that is not JSON; [`http`] puts the API key check, rate limits and
//! session bounds in front of it; [`tools`] holds the schemas and what each call becomes, and
//! [`resources`] the resources and prompts, without I/O; `calls` does what each tool does,
//! `handler` answers the MCP methods; [`status`] reads the pipeline's state. On stdio nothing but
//! protocol is written to stdout: logs go to stderr.

mod answer;
pub mod caller;
mod calls;
mod handler;
pub mod http;
pub mod resources;
pub use rae_core::status;
pub mod stdio;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{Tool, ToolAnnotations};
use rmcp::ServiceExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use rae_core::audit::Auditor;
use rae_core::bus::{Bus, BusError, PublishError};
use rae_core::config::{Config, NatsConfig};
use rae_core::event::Limits;
use rae_core::rae::RaeClient;

use caller::Caller;

/// Integration id and label of the MCP server.
pub const INTEGRATION: &str = "mcp";

/// Longest wait for NATS when a store needs a connection: an assistant waits for the answer.
const CONNECT_BUDGET_SECS: u64 = 5;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("tenant {0:?} is not configured: use a RAE tenant id (a UUID or default-tenant) or an alias listed under tenants")]
    Tenant(String),
    #[error("project must be 1 to 256 characters")]
    Project,
    #[error(transparent)]
    Rae(#[from] rae_core::rae::ClientError),
}

/// Why the server stopped other than by its client leaving or a signal.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("MCP handshake failed: {0}")]
    Handshake(String),
    #[error("cannot write to stdout: {0}")]
    Output(#[source] std::io::Error),
}

/// Why a memory was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("{0}")]
    Connect(#[from] BusError),
    #[error("{0} (is the pipeline's nats-server running? NATS_URL names it)")]
    Publish(#[from] PublishError),
    #[error("NATS did not answer within {0} s (is nats-server running at {1}?)")]
    Timeout(u64, String),
}

/// Largest JSON-RPC message accepted: a whole memory, JSON-escaped, fits; never less than the
/// ingress's body limit.
fn max_message_bytes(config: &Config) -> usize {
    config
        .ingress
        .max_body_bytes
        .max(config.limits.max_content_bytes.saturating_mul(6) + 64 * 1024)
}

/// The MCP server: cheap to clone; one per process on stdio, one for every `/mcp` session.
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Limits,
    /// Largest JSON-RPC message accepted.
    max_message_bytes: usize,
    rae: RaeClient,
    nats: NatsLink,
    /// `mcp.admin_tools`: `dlq_list` and `dlq_replay` are offered (over HTTP to keys with
    /// `dlq:admin`).
    admin_tools: bool,
    /// The one caller of a local (stdio) server; `None` over HTTP, where each request's API key
    /// names its caller.
    local: Option<Arc<Caller>>,
    /// Where calls are audited: over HTTP, with the key's id. A local server has no audit.
    auditor: Option<Auditor>,
}

impl Inner {
    /// Every tool the configuration offers, `project` named as the default.
    fn tools(&self, project: &str) -> Vec<Tool> {
        tools::specs(&self.limits, project, self.admin_tools)
            .into_iter()
            .map(|spec| {
                Tool::new(spec.name, spec.description, spec.input_schema)
                    .with_title(spec.title)
                    .with_raw_output_schema(Arc::new(spec.output_schema))
                    .with_annotations(
                        ToolAnnotations::with_title(spec.title)
                            .read_only(spec.read_only)
                            .destructive(false)
                            .idempotent(spec.read_only)
                            .open_world(false),
                    )
            })
            .collect()
    }
}

/// The NATS connection, made on first need and kept (the client reconnects by itself).
struct NatsLink {
    config: NatsConfig,
    bus: OnceCell<Bus>,
}

impl NatsLink {
    /// The connected bus with its streams in place, connecting first when needed.
    async fn bus(&self) -> Result<&Bus, BusError> {
        self.bus
            .get_or_try_init(|| async {
                let bus = Bus::connect(&self.config, "rae-pipeline-mcp").await?;
                // Idempotent, and lets a memory wait in JetStream even before `up` has run.
                bus.setup().await?;
                tracing::info!(url = %self.config.url, "mcp connected to nats");
                Ok(bus)
            })
            .await
    }
}

impl McpServer {
    /// Builds the server for `tenant` (default: `ingress.default_tenant`) and `project` (default:
    /// the tenant's project, then `ingress.default_project`). Connects to nothing yet.
    ///
    /// # Errors
    /// [`BuildError`] for a tenant that does not resolve, a bad project or an unusable RAE
    /// client.
    pub fn build(
        config: &Config,
        tenant: Option<String>,
        project: Option<String>,
    ) -> Result<McpServer, BuildError> {
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (tenant, project) =
            config.destination(given(&tenant).as_deref(), given(&project).as_deref());
        if tenant.len() > 128 || !config.tenant_resolves(&tenant) {
            return Err(BuildError::Tenant(tenant));
        }
        if project.chars().count() > 256 {
            return Err(BuildError::Project);
        }
        let local = Caller::local(tenant, project);
        McpServer::new(config, Some(local), None, None)
    }

    /// Builds the server of `/mcp` (see [`http::router`]): each request is answered for the
    /// holder of its API key and audited on `auditor`; stores are published on `bus`, the
    /// ingress's connection.
    ///
    /// # Errors
    /// [`BuildError::Rae`] for an unusable RAE client.
    pub fn for_http(config: &Config, bus: Bus, auditor: Auditor) -> Result<McpServer, BuildError> {
        McpServer::new(config, None, Some(bus), Some(auditor))
    }

    fn new(
        config: &Config,
        local: Option<Caller>,
        bus: Option<Bus>,
        auditor: Option<Auditor>,
    ) -> Result<McpServer, BuildError> {
        let rae = RaeClient::new(&config.rae, &config.tenants).map_err(BuildError::Rae)?;
        let mut nats = config.nats.clone();
        nats.connect_timeout_secs = nats.connect_timeout_secs.min(CONNECT_BUDGET_SECS);
        Ok(McpServer {
            inner: Arc::new(Inner {
                limits: config.limits.limits(),
                max_message_bytes: max_message_bytes(config),
                rae,
                nats: NatsLink {
                    config: nats,
                    bus: OnceCell::new_with(bus),
                },
                admin_tools: config.mcp.admin_tools,
                local: local.map(Arc::new),
                auditor,
            }),
        })
    }

    /// The caller of a local server: its tenant and project. `None` for the server of `/mcp`.
    pub fn local_caller(&self) -> Option<&Caller> {
        self.inner.local.as_deref()
    }

    /// Largest JSON-RPC message (one line on stdio, one request body over HTTP) accepted.
    pub fn max_message_bytes(&self) -> usize {
        self.inner.max_message_bytes
    }

    /// Serves one MCP session on `input`/`output` (stdin/stdout) until the client closes its
    /// input or `shutdown` is cancelled. NATS is connected on the first store, so the searches
    /// work, and the server starts, while NATS is down.
    ///
    /// # Errors
    /// [`ServeError`] when the handshake fails or the output cannot be written.
    pub async fn serve<R, W>(
        self,
        input: R,
        output: W,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let framed = stdio::frame(input, output, self.inner.max_message_bytes);
        let session = self
            .serve_with_ct(
                (framed.server_input, framed.server_output),
                shutdown.child_token(),
            )
            .await;
        let outcome = match session {
            Ok(running) => {
                let quit = tokio::select! {
                    quit = running.waiting() => quit.ok(),
                    () = shutdown.cancelled() => None,
                };
                tracing::debug!(?quit, "mcp session ended");
                Ok(())
            }
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_))
            | Err(rmcp::service::ServerInitializeError::Cancelled) => Ok(()),
            Err(err) => Err(ServeError::Handshake(err.to_string())),
        };
        framed.reader.abort();
        // The SDK's output is closed now; the writer finishes what it has.
        match tokio::time::timeout(Duration::from_secs(5), framed.writer).await {
            Ok(Ok(Err(err))) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(ServeError::Output(err));
            }
            _ => {}
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::config::Source;

    fn config(yaml: &str) -> Config {
        Config::load(&Source::Text(yaml.into()), &|_| None).unwrap()
    }

    fn destination(server: &McpServer) -> (&str, &str) {
        let caller = server.local_caller().expect("a local server");
        (&caller.tenant, &caller.project)
    }

    #[test]
    fn tenant_and_project_come_from_flags_then_config() {
        let server = McpServer::build(&config(""), None, None).unwrap();
        assert_eq!(destination(&server), ("default-tenant", "default"));
        let yaml = "tenants:\n  acme:\n    rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f\n    project: backend\n";
        let server = McpServer::build(&config(yaml), Some("acme".into()), None).unwrap();
        assert_eq!(destination(&server), ("acme", "backend"));
        let server =
            McpServer::build(&config(yaml), Some("acme".into()), Some("web".into())).unwrap();
        assert_eq!(destination(&server).1, "web");
        let err = McpServer::build(&config(yaml), Some("nobody".into()), None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("nobody"), "{err}");
        assert!(McpServer::build(&config(""), None, Some("p".repeat(257))).is_err());
    }
}
