//! MCP: an MCP server on stdio through which AI assistants (Claude Desktop, Cline,
//! Cursor, ...) store and recall memories.
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
//! The protocol itself (handshake, revision negotiation, `ping`, notifications, JSON-RPC
//! errors) is the official Rust SDK's (`rmcp`); [`stdio`] frames it and answers input that is
//! not JSON; [`tools`] holds the schemas and what each call becomes, and [`resources`] the
//! resources and prompts, without I/O; [`status`] reads the pipeline's state. Nothing but
//! protocol is written to stdout: logs go to stderr.

pub mod resources;
pub mod status;
pub mod stdio;
pub mod tools;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use rae_core::bus::{Bus, BusError, PublishError};
use rae_core::config::{Config, NatsConfig};
use rae_core::dead_letter;
use rae_core::event::{Event, InvalidField, Limits};
use rae_core::rae::{RaeClient, RaeError};
use rae_core::telemetry::error_chain;

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
enum StoreError {
    #[error("{0}")]
    Connect(#[from] BusError),
    #[error("{0} (is the pipeline's nats-server running? NATS_URL names it)")]
    Publish(#[from] PublishError),
    #[error("NATS did not answer within {0} s (is nats-server running at {1}?)")]
    Timeout(u64, String),
}

/// The MCP server: cheap to clone, one per process.
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

struct Inner {
    tenant: String,
    project: String,
    limits: Limits,
    /// Largest JSON-RPC message accepted.
    max_message_bytes: usize,
    rae: RaeClient,
    nats: NatsLink,
    tools: Vec<Tool>,
    /// `mcp.admin_tools`: `dlq_list` and `dlq_replay` are offered.
    admin_tools: bool,
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
        let rae = RaeClient::new(&config.rae, &config.tenants).map_err(BuildError::Rae)?;
        let mut nats = config.nats.clone();
        nats.connect_timeout_secs = nats.connect_timeout_secs.min(CONNECT_BUDGET_SECS);
        let limits = config.limits.limits();
        let admin_tools = config.mcp.admin_tools;
        let tools = tools::specs(&limits, &project, admin_tools)
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
            .collect();
        Ok(McpServer {
            inner: Arc::new(Inner {
                tenant,
                project,
                limits,
                // A whole memory, JSON-escaped, fits; never less than the HTTP body limit.
                max_message_bytes: config
                    .ingress
                    .max_body_bytes
                    .max(config.limits.max_content_bytes.saturating_mul(6) + 64 * 1024),
                rae,
                nats: NatsLink {
                    config: nats,
                    bus: OnceCell::new(),
                },
                tools,
                admin_tools,
            }),
        })
    }

    /// The tenant memories are stored for and searched in.
    pub fn tenant(&self) -> &str {
        &self.inner.tenant
    }

    /// The project used when a call names none.
    pub fn project(&self) -> &str {
        &self.inner.project
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

    async fn store_memory(&self, arguments: Map<String, Value>, client: Option<String>) -> Answer {
        let args = match tools::parse(arguments) {
            Ok(args) => args,
            Err(e) => return Answer::invalid(e),
        };
        let origin = tools::Origin {
            tenant: &self.inner.tenant,
            project: &self.inner.project,
            client: client.as_deref(),
        };
        let event = match tools::store_event(
            args,
            &origin,
            &self.inner.limits,
            OffsetDateTime::now_utc(),
        ) {
            Ok(event) => event,
            Err(e) => return Answer::invalid(e),
        };
        match self.publish(&event).await {
            Ok((subject, duplicate)) => Answer::ok(json!({
                "id": event.id,
                "status": "accepted",
                "duplicate": duplicate,
                "tenant": event.tenant,
                "project": event.project,
                "layer": event.layer,
                "subject": subject,
                "message": "stored in the pipeline: it is enriched and written to RAE within moments",
            })),
            Err(err) => Answer::error(
                "unavailable",
                format!("memory not stored: {}", error_chain(&err)),
            ),
        }
    }

    /// Publishes `event` and awaits the JetStream ack, within bounded time.
    async fn publish(&self, event: &Event) -> Result<(String, bool), StoreError> {
        let nats = &self.inner.nats;
        let budget = Duration::from_secs(nats.config.connect_timeout_secs + 5)
            + Duration::from_millis(nats.config.publish_timeout_ms);
        let url = nats.config.url.clone();
        let publishing = async {
            let bus = nats.bus().await?;
            Ok::<_, StoreError>(bus.publisher().publish_new(event).await?)
        };
        let published = tokio::time::timeout(budget, publishing)
            .await
            .map_err(|_| StoreError::Timeout(budget.as_secs(), url))??;
        Ok((published.subject, published.duplicate))
    }

    async fn query_memories(&self, arguments: Map<String, Value>) -> Answer {
        let body = match tools::parse(arguments)
            .and_then(|args| tools::query_body(args, &self.inner.project))
        {
            Ok(body) => body,
            Err(e) => return Answer::invalid(e),
        };
        let answer = self.inner.rae.query(&self.inner.tenant, &body).await;
        Answer::from_rae("search", answer)
    }

    async fn search_memory(&self, arguments: Map<String, Value>) -> Answer {
        let body = match tools::parse(arguments)
            .and_then(|args| tools::search_body(args, &self.inner.project))
        {
            Ok(body) => body,
            Err(e) => return Answer::invalid(e),
        };
        let answer = self.inner.rae.query(&self.inner.tenant, &body).await;
        Answer::from_rae("search", answer)
    }

    async fn get_related_context(&self, arguments: Map<String, Value>) -> Answer {
        let (related, body) = match tools::parse(arguments)
            .and_then(|args| tools::related_body(args, &self.inner.project))
        {
            Ok(parts) => parts,
            Err(e) => return Answer::invalid(e),
        };
        let answer = self.inner.rae.query(&self.inner.tenant, &body).await;
        Answer::from_rae(
            "related context",
            answer.map(|answer| tools::related_answer(&related, answer)),
        )
    }

    async fn pipeline_status(&self, arguments: Map<String, Value>) -> Answer {
        if let Err(e) = tools::parse::<tools::StatusArgs>(arguments) {
            return Answer::invalid(e);
        }
        let url = status::without_credentials(&self.inner.nats.config.url);
        // RAE is asked while NATS is connected and read: neither waits for the other.
        let rae = status::rae(&self.inner.rae);
        let pipeline = async {
            match self.bus().await {
                Ok(bus) => {
                    let consumers = status::consumers(bus).await;
                    let dead = match status::dead_letters(bus).await {
                        Ok(dead) => dead,
                        Err(error) => {
                            json!({"total": 0, "by_reason": {}, "counted": 0, "error": error})
                        }
                    };
                    (
                        json!({"reachable": true, "url": url}),
                        consumers,
                        Some(dead),
                    )
                }
                Err(error) => (
                    json!({"reachable": false, "url": url, "error": error}),
                    Vec::new(),
                    None,
                ),
            }
        };
        let (rae, (nats, consumers, dead)) = tokio::join!(rae, pipeline);
        Answer::ok(status::answer(rae, nats, consumers, dead))
    }

    /// The text of a resource or prompt: RAE searched for `kind` in `project` (default: the
    /// server's).
    async fn context_text(
        &self,
        kind: resources::Kind,
        project: Option<String>,
        topic: Option<&str>,
    ) -> Result<String, RaeError> {
        let project = project.unwrap_or_else(|| self.inner.project.clone());
        let body = resources::query_body(kind, &project, topic);
        let answer = self.inner.rae.query(&self.inner.tenant, &body).await?;
        Ok(resources::render(kind, &project, topic, &answer))
    }

    /// The connected bus, within the time an assistant waits.
    async fn bus(&self) -> Result<&Bus, String> {
        let nats = &self.inner.nats;
        let budget = Duration::from_secs(nats.config.connect_timeout_secs + 5);
        match tokio::time::timeout(budget, nats.bus()).await {
            Ok(Ok(bus)) => Ok(bus),
            Ok(Err(err)) => Err(error_chain(&err)),
            Err(_) => Err(format!(
                "NATS did not answer within {} s (is nats-server running at {}? NATS_URL names it)",
                budget.as_secs(),
                nats.config.url
            )),
        }
    }

    async fn dlq_list(&self, arguments: Map<String, Value>) -> Answer {
        let tenant = &self.inner.tenant;
        let (filter, limit) =
            match tools::parse(arguments).and_then(|args| tools::dlq_list_filter(args, tenant)) {
                Ok(parts) => parts,
                Err(e) => return Answer::invalid(e),
            };
        let listed = match self.bus().await {
            Ok(bus) => dead_letter::list(bus, &filter, limit)
                .await
                .map_err(|e| error_chain(&e)),
            Err(error) => Err(error),
        };
        match listed {
            Ok(entries) => Answer::ok(json!({
                "dead_letters": entries.iter().map(tools::dlq_entry).collect::<Vec<_>>(),
                "count": entries.len(),
                "tenant": tenant,
            })),
            Err(error) => Answer::error("unavailable", format!("dead letters not read: {error}")),
        }
    }

    async fn dlq_replay(&self, arguments: Map<String, Value>) -> Answer {
        let tenant = &self.inner.tenant;
        let filter =
            match tools::parse(arguments).and_then(|args| tools::dlq_replay_filter(args, tenant)) {
                Ok(filter) => filter,
                Err(e) => return Answer::invalid(e),
            };
        let id = filter.id.clone().unwrap_or_default();
        let bus = match self.bus().await {
            Ok(bus) => bus,
            Err(error) => {
                return Answer::error("unavailable", format!("nothing replayed: {error}"))
            }
        };
        let entry = match dead_letter::list(bus, &filter, 1).await {
            Ok(entries) => entries.into_iter().next(),
            Err(err) => {
                return Answer::error(
                    "unavailable",
                    format!("nothing replayed: {}", error_chain(&err)),
                )
            }
        };
        let Some(entry) = entry else {
            return Answer::error(
                "bad_request",
                format!(
                    "no dead letter {id:?} of tenant {tenant}: dlq_list shows the sequences and \
                     event ids there are"
                ),
            );
        };
        let letter = &entry.letter;
        let subject = letter
            .stage
            .input_subject(letter.tenant(), letter.source(), letter.kind());
        match dead_letter::replay(bus, &entry).await {
            Ok(_) => Answer::ok(json!({
                "replayed": 1,
                "sequence": entry.sequence,
                "event_id": letter.event_id(),
                "subject": subject,
            })),
            Err(err) => Answer::error(
                "unavailable",
                format!(
                    "dead letter {} not replayed: {} (it stays in the dead letters: try again)",
                    entry.sequence,
                    error_chain(&err)
                ),
            ),
        }
    }

    async fn query_graph(&self, arguments: Map<String, Value>) -> Answer {
        let rae = &self.inner.rae;
        let tenant_id = rae.body_tenant_id(&self.inner.tenant);
        let body = match tools::parse(arguments).and_then(|args| {
            tools::graph_body(args, &self.inner.project, &tenant_id, rae.graph_reranking())
        }) {
            Ok(body) => body,
            Err(e) => return Answer::invalid(e),
        };
        let answer = self.inner.rae.query_graph(&self.inner.tenant, &body).await;
        Answer::from_rae("graph search", answer)
    }

    async fn generate_reflection(&self, arguments: Map<String, Value>) -> Answer {
        let tenant_id = self.inner.rae.body_tenant_id(&self.inner.tenant);
        let body = match tools::parse(arguments)
            .and_then(|args| tools::reflection_body(args, &self.inner.project, &tenant_id))
        {
            Ok(body) => body,
            Err(e) => return Answer::invalid(e),
        };
        let answer = self
            .inner
            .rae
            .generate_reflection(&self.inner.tenant, &body)
            .await;
        Answer::from_rae("reflection", answer)
    }
}

/// A tool's outcome and its label for `rae_integration_requests_total`.
struct Answer {
    result: CallToolResult,
    /// `success` or an error code: `bad_request`, `unavailable`, `upstream`.
    status: &'static str,
}

impl Answer {
    fn ok(value: Value) -> Answer {
        // RAE may answer 2xx without a JSON object; a tool's structured result must be one.
        let value = match value {
            Value::Object(_) => value,
            Value::Null => json!({}),
            other => json!({ "result": other }),
        };
        Answer {
            result: CallToolResult::structured(value),
            status: "success",
        }
    }

    fn error(status: &'static str, message: String) -> Answer {
        Answer {
            result: CallToolResult::error(vec![ContentBlock::text(message)]),
            status,
        }
    }

    fn invalid(e: InvalidField) -> Answer {
        Answer::error(
            "bad_request",
            format!("invalid arguments: {e} (the tool's input schema lists what is accepted)"),
        )
    }

    /// RAE's answer, or a tool error saying why there is none.
    fn from_rae(what: &str, answer: Result<Value, RaeError>) -> Answer {
        match answer {
            Ok(value) => Answer::ok(value),
            Err(err) => Answer::error("upstream", rae_failure(what, &err)),
        }
    }
}

/// MIME type of the resources' text.
const MARKDOWN: &str = "text/markdown";

/// Logs a resource read or prompt and records it like a tool call.
fn log_request(what: &'static str, kind: &'static str, ok: bool, started: Instant) {
    let elapsed = started.elapsed();
    let status = if ok { "success" } else { "upstream" };
    tracing::info!(
        what,
        kind,
        status,
        elapsed_ms = elapsed.as_millis() as u64,
        "mcp read"
    );
    rae_core::telemetry::IntegrationRequest {
        integration: INTEGRATION,
        status,
        latency: elapsed,
    }
    .emit();
}

/// What an assistant (and its user) should read when RAE cannot answer.
fn rae_failure(what: &str, err: &RaeError) -> String {
    match err {
        RaeError::Connect { .. } | RaeError::Timeout { .. } => {
            format!("{what} failed: RAE is unavailable: {err} (is RAE running? RAE_BASE_URL names it)")
        }
        RaeError::Status { status, body, .. } if *status == 401 || *status == 403 => format!(
            "{what} failed: RAE refused the credentials ({status}): {body} (check RAE_API_KEY and the tenant)"
        ),
        RaeError::Status { status, body, .. } if *status == 404 || *status == 405 => format!(
            "{what} failed: RAE has no such route ({status}): {body} (this RAE may serve it at another path: see rae.*_path in the configuration)"
        ),
        RaeError::Status { status, body, .. } if *status >= 500 || *status == 429 || *status == 408 => {
            format!("{what} failed: RAE could not answer now ({status}): {body}; try again later")
        }
        RaeError::Status { status, body, .. } => {
            format!("{what} failed: RAE refused the request ({status}): {body}")
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_prompts()
                .enable_resources()
                .enable_tools()
                .build(),
        )
        .with_server_info(
            Implementation::new("rae-pipeline", env!("CARGO_PKG_VERSION"))
                .with_title("RAE memory (rae-pipeline)"),
        )
        .with_instructions(format!(
            "Long-term memory in RAE for tenant {} (project {} unless a call names another). \
                 Search with query_memories (or query_graph for how things relate) before \
                 answering from memory; store decisions, facts and lessons worth keeping with \
                 store_memory; generate_reflection asks RAE for insights across a project's \
                 memories; get_related_context gives what is remembered about a file; \
                 pipeline_status says whether stored memories reach RAE. The resources \
                 rae://project/guidelines, rae://project/reflection and rae://project/recent \
                 (and the prompts project-guidelines and recent-context) load project context \
                 at the start of a task.",
            self.inner.tenant, self.inner.project
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.inner.tools.clone()))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let project = &self.inner.project;
        Ok(ListResourcesResult::with_all_items(
            resources::Kind::ALL
                .into_iter()
                .map(|kind| {
                    Resource::new(kind.uri(), kind.name())
                        .with_title(kind.title())
                        .with_description(format!("{} Project: {project}.", kind.description()))
                        .with_mime_type(MARKDOWN)
                })
                .collect(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::Kind::ALL
                .into_iter()
                .map(|kind| {
                    ResourceTemplate::new(kind.uri_template(), kind.name())
                        .with_title(format!("{} of a project", kind.title()))
                        .with_description(format!(
                            "{} {{project}} is a RAE project name, percent-encoded.",
                            kind.description()
                        ))
                        .with_mime_type(MARKDOWN)
                })
                .collect(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let started = Instant::now();
        let uri = request.uri;
        let (kind, project) = match resources::parse_uri(&uri) {
            Ok(parsed) => parsed,
            Err(e) if e.field == "uri" => {
                return Err(ErrorData::resource_not_found(
                    e.message,
                    Some(json!({"uri": uri})),
                ))
            }
            Err(e) => return Err(ErrorData::invalid_params(e.to_string(), None)),
        };
        let text = self.context_text(kind, project, None).await;
        log_request("resource", kind.as_str(), text.is_ok(), started);
        match text {
            Ok(text) => Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, uri).with_mime_type(MARKDOWN)
            ])
            .into()),
            Err(err) => Err(ErrorData::internal_error(
                rae_failure(&format!("reading {uri}"), &err),
                None,
            )),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let project = &self.inner.project;
        Ok(ListPromptsResult::with_all_items(
            resources::PROMPTS
                .into_iter()
                .filter_map(|name| Some((name, resources::prompt_kind(name)?)))
                .map(|(name, kind)| {
                    Prompt::new(
                        name,
                        Some(resources::prompt_description(kind)),
                        Some(vec![
                            PromptArgument::new("project")
                                .with_description(format!("RAE project (default: {project})."))
                                .with_required(false),
                            PromptArgument::new("topic")
                                .with_description(
                                    "What the task is about, to pick the memories that matter.",
                                )
                                .with_required(false),
                        ]),
                    )
                    .with_title(kind.title())
                })
                .collect(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let started = Instant::now();
        let Some(kind) = resources::prompt_kind(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown prompt {:?}: the prompts are {}",
                    request.name,
                    resources::PROMPTS.join(", ")
                ),
                None,
            ));
        };
        let (project, topic) = resources::prompt_arguments(request.arguments.as_ref())
            .map_err(|e| ErrorData::invalid_params(format!("invalid arguments: {e}"), None))?;
        let text = self.context_text(kind, project, topic.as_deref()).await;
        log_request("prompt", kind.as_str(), text.is_ok(), started);
        match text {
            Ok(text) => Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!("{}\n\n{text}", resources::prompt_preamble(kind)),
            )])
            .with_description(resources::prompt_description(kind))
            .into()),
            Err(err) => Err(ErrorData::internal_error(
                rae_failure(&format!("prompt {}", request.name), &err),
                None,
            )),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let arguments = request.arguments.unwrap_or_default();
        let tool = request.name.as_ref();
        let answer = match tool {
            tools::STORE_MEMORY | tools::SAVE_MEMORY => {
                let client = context.client_info().map(|info| info.name);
                self.store_memory(arguments, client).await
            }
            tools::QUERY_MEMORIES => self.query_memories(arguments).await,
            tools::QUERY_GRAPH => self.query_graph(arguments).await,
            tools::GENERATE_REFLECTION => self.generate_reflection(arguments).await,
            tools::SEARCH_MEMORY => self.search_memory(arguments).await,
            tools::GET_RELATED_CONTEXT => self.get_related_context(arguments).await,
            tools::PIPELINE_STATUS => self.pipeline_status(arguments).await,
            tools::DLQ_LIST if self.inner.admin_tools => self.dlq_list(arguments).await,
            tools::DLQ_REPLAY if self.inner.admin_tools => self.dlq_replay(arguments).await,
            tools::DLQ_LIST | tools::DLQ_REPLAY => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "tool {tool:?} is not offered: the dead-letter tools need mcp.admin_tools \
                         set to true in the pipeline's configuration"
                    ),
                    None,
                ));
            }
            other => {
                // Not a tool of this server: a protocol error, as MCP defines it.
                let offered: Vec<&str> = self.inner.tools.iter().map(|t| t.name.as_ref()).collect();
                return Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool {other:?}: the tools are {}",
                        offered.join(", ")
                    ),
                    None,
                ));
            }
        };
        let elapsed = started.elapsed();
        tracing::info!(
            tool,
            status = answer.status,
            elapsed_ms = elapsed.as_millis() as u64,
            "mcp tool call"
        );
        rae_core::telemetry::IntegrationRequest {
            integration: INTEGRATION,
            status: answer.status,
            latency: elapsed,
        }
        .emit();
        Ok(answer.result.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::config::Source;

    fn config(yaml: &str) -> Config {
        Config::load(&Source::Text(yaml.into()), &|_| None).unwrap()
    }

    #[test]
    fn tenant_and_project_come_from_flags_then_config() {
        let server = McpServer::build(&config(""), None, None).unwrap();
        assert_eq!(
            (server.tenant(), server.project()),
            ("default-tenant", "default")
        );
        let yaml = "tenants:\n  acme:\n    rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f\n    project: backend\n";
        let server = McpServer::build(&config(yaml), Some("acme".into()), None).unwrap();
        assert_eq!((server.tenant(), server.project()), ("acme", "backend"));
        let server =
            McpServer::build(&config(yaml), Some("acme".into()), Some("web".into())).unwrap();
        assert_eq!(server.project(), "web");
        let err = McpServer::build(&config(yaml), Some("nobody".into()), None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("nobody"), "{err}");
        assert!(McpServer::build(&config(""), None, Some("p".repeat(257))).is_err());
    }

    #[test]
    fn rae_failures_say_what_to_do() {
        let down = RaeError::Connect {
            url: "http://127.0.0.1:1/v2/memories/query".into(),
            message: "connection refused".into(),
        };
        let text = rae_failure("search", &down);
        assert!(
            text.contains("RAE is unavailable") && text.contains("RAE_BASE_URL"),
            "{text}"
        );
        let refused = RaeError::Status {
            status: 422,
            method: "POST",
            url: "http://rae.internal:8000/v2/memories/query".into(),
            body: "{\"error\":{\"code\":\"validation\"}}".into(),
            retry_after: None,
        };
        let text = rae_failure("search", &refused);
        assert!(
            text.contains("refused the request (422)") && text.contains("validation"),
            "{text}"
        );
    }

    #[test]
    fn non_object_rae_answers_become_objects() {
        let answer = Answer::ok(json!([1, 2]));
        assert_eq!(
            answer.result.structured_content,
            Some(json!({"result": [1, 2]}))
        );
        assert_eq!(answer.result.is_error, Some(false));
    }
}
