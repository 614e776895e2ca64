//! The MCP methods: the handshake, the listings, and each call answered for its [`Caller`]
//! (the local user, or over HTTP the holder of the request's API key), logged, counted and,
//! over HTTP, audited with the key's id.

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, Implementation, InitializeRequestParams, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::json;
use time::OffsetDateTime;

use rae_core::audit::{Outcome, Record};

use crate::answer::{rae_failure, Answer};
use crate::caller::{Caller, Denied};
use crate::{resources, tools, McpServer, INTEGRATION};

/// MIME type of the resources' text.
const MARKDOWN: &str = "text/markdown";

/// What the assistant is told about the server at the handshake.
fn instructions(caller: Option<&Caller>) -> String {
    let whose = match caller {
        Some(caller) => format!(
            "for tenant {} (project {} unless a call names another)",
            caller.tenant, caller.project
        ),
        None => "for the tenant of your API key (its project unless a call names another)".into(),
    };
    format!(
        "Long-term memory in RAE {whose}. Search with query_memories (or query_graph for how \
         things relate) before answering from memory; store decisions, facts and lessons worth \
         keeping with store_memory; generate_reflection asks RAE for insights across a \
         project's memories; get_related_context gives what is remembered about a file; \
         pipeline_status says whether stored memories reach RAE. The resources \
         rae://project/guidelines, rae://project/reflection and rae://project/recent (and the \
         prompts project-guidelines and recent-context) load project context at the start of a \
         task. Tools an API key's scopes do not allow are not listed."
    )
}

/// A refusal of a call the caller may not make: a JSON-RPC `-32602`, as for a tool that is
/// not offered.
fn denied(denied: &Denied) -> ErrorData {
    ErrorData::invalid_params(denied.to_string(), None)
}

impl McpServer {
    /// The caller of a request: the local user, or the one the HTTP gate found for the
    /// request's API key.
    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Arc<Caller>, ErrorData> {
        if let Some(local) = &self.inner.local {
            return Ok(local.clone());
        }
        context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Arc<Caller>>())
            .cloned()
            .ok_or_else(|| {
                ErrorData::internal_error(
                    "request without an API key's caller: /mcp answers only through its key check",
                    None,
                )
            })
    }

    /// The tools `caller` may call, as `tools/list` gives them.
    fn tools_for(&self, caller: &Caller) -> Vec<rmcp::model::Tool> {
        self.inner
            .tools(&caller.project)
            .into_iter()
            .filter(|tool| {
                caller
                    .may_call(tool.name.as_ref(), self.inner.admin_tools)
                    .is_ok()
            })
            .collect()
    }

    /// Logs, counts and (over HTTP) audits one call, resource read or prompt.
    fn record(
        &self,
        caller: &Caller,
        operation: String,
        status: &'static str,
        outcome: Outcome,
        event_id: Option<String>,
        started: Instant,
    ) {
        let elapsed = started.elapsed();
        tracing::info!(
            operation,
            status,
            key_id = caller.key_id.as_deref(),
            tenant = %caller.tenant,
            elapsed_ms = elapsed.as_millis() as u64,
            "mcp call"
        );
        rae_core::telemetry::IntegrationRequest {
            integration: INTEGRATION,
            status,
            latency: elapsed,
        }
        .emit();
        if let Some(auditor) = &self.inner.auditor {
            auditor.record(Record {
                at: OffsetDateTime::now_utc(),
                integration: INTEGRATION.to_owned(),
                operation: Some(operation),
                outcome,
                reason: (outcome == Outcome::Rejected).then(|| status.to_owned()),
                tenant: Some(caller.tenant.clone()),
                key_id: caller.key_id.clone(),
                event_id,
                repeated: None,
                until: None,
            });
        }
    }

    /// Records a refused request and turns it into its JSON-RPC error.
    fn refuse(
        &self,
        caller: &Caller,
        operation: String,
        refusal: &Denied,
        started: Instant,
    ) -> ErrorData {
        self.record(
            caller,
            operation,
            "forbidden",
            Outcome::Rejected,
            None,
            started,
        );
        denied(refusal)
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
        .with_instructions(instructions(self.inner.local.as_deref()))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        let mut result = self.negotiate_initialize(&request)?;
        if let Ok(caller) = self.caller(&context) {
            result.instructions = Some(instructions(Some(&caller)));
        }
        Ok(result)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context)?;
        Ok(ListToolsResult::with_all_items(self.tools_for(&caller)))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller(&context)?;
        if caller.may_read("resources").is_err() {
            return Ok(ListResourcesResult::with_all_items(Vec::new()));
        }
        let project = &caller.project;
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
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let caller = self.caller(&context)?;
        if caller.may_read("resource templates").is_err() {
            return Ok(ListResourceTemplatesResult::with_all_items(Vec::new()));
        }
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
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let started = Instant::now();
        let caller = self.caller(&context)?;
        let uri = request.uri;
        let operation = format!("resources/read {uri}");
        if let Err(refusal) = caller.may_read(&format!("resource {uri}")) {
            return Err(self.refuse(&caller, operation, &refusal, started));
        }
        let (kind, project) = match resources::parse_uri(&uri) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.record(
                    &caller,
                    operation,
                    "bad_request",
                    Outcome::Rejected,
                    None,
                    started,
                );
                return Err(if e.field == "uri" {
                    ErrorData::resource_not_found(e.message, Some(json!({"uri": uri})))
                } else {
                    ErrorData::invalid_params(e.to_string(), None)
                });
            }
        };
        let text = self.context_text(&caller, kind, project, None).await;
        let (status, outcome) = match &text {
            Ok(_) => ("success", Outcome::Answered),
            Err(_) => ("upstream", Outcome::Rejected),
        };
        self.record(&caller, operation, status, outcome, None, started);
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
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let caller = self.caller(&context)?;
        if caller.may_read("prompts").is_err() {
            return Ok(ListPromptsResult::with_all_items(Vec::new()));
        }
        let project = &caller.project;
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
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let started = Instant::now();
        let caller = self.caller(&context)?;
        let operation = format!("prompts/get {}", request.name);
        if let Err(refusal) = caller.may_read(&format!("prompt {:?}", request.name)) {
            return Err(self.refuse(&caller, operation, &refusal, started));
        }
        let Some(kind) = resources::prompt_kind(&request.name) else {
            self.record(
                &caller,
                operation,
                "bad_request",
                Outcome::Rejected,
                None,
                started,
            );
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown prompt {:?}: the prompts are {}",
                    request.name,
                    resources::PROMPTS.join(", ")
                ),
                None,
            ));
        };
        let (project, topic) = match resources::prompt_arguments(request.arguments.as_ref()) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.record(
                    &caller,
                    operation,
                    "bad_request",
                    Outcome::Rejected,
                    None,
                    started,
                );
                return Err(ErrorData::invalid_params(
                    format!("invalid arguments: {e}"),
                    None,
                ));
            }
        };
        let text = self
            .context_text(&caller, kind, project, topic.as_deref())
            .await;
        let (status, outcome) = match &text {
            Ok(_) => ("success", Outcome::Answered),
            Err(_) => ("upstream", Outcome::Rejected),
        };
        self.record(&caller, operation, status, outcome, None, started);
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
        let caller = self.caller(&context)?;
        let arguments = request.arguments.unwrap_or_default();
        let tool = request.name.as_ref();
        let operation = format!("tools/call {tool}");
        if let Err(refusal) = caller.may_call(tool, self.inner.admin_tools) {
            return Err(self.refuse(&caller, operation, &refusal, started));
        }
        let answer: Answer = match tool {
            tools::STORE_MEMORY | tools::SAVE_MEMORY => {
                let client = context.client_info().map(|info| info.name);
                self.store_memory(&caller, arguments, client).await
            }
            tools::QUERY_MEMORIES => self.query_memories(&caller, arguments).await,
            tools::QUERY_GRAPH => self.query_graph(&caller, arguments).await,
            tools::GENERATE_REFLECTION => self.generate_reflection(&caller, arguments).await,
            tools::SEARCH_MEMORY => self.search_memory(&caller, arguments).await,
            tools::GET_RELATED_CONTEXT => self.get_related_context(&caller, arguments).await,
            tools::PIPELINE_STATUS => self.pipeline_status(&caller, arguments).await,
            tools::DLQ_LIST => self.dlq_list(&caller, arguments).await,
            tools::DLQ_REPLAY => self.dlq_replay(&caller, arguments).await,
            other => {
                // Not a tool of this server: a protocol error, as MCP defines it.
                let offered: Vec<String> = self
                    .tools_for(&caller)
                    .into_iter()
                    .map(|t| t.name.into_owned())
                    .collect();
                self.record(
                    &caller,
                    operation,
                    "bad_request",
                    Outcome::Rejected,
                    None,
                    started,
                );
                return Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool {other:?}: the tools are {}",
                        offered.join(", ")
                    ),
                    None,
                ));
            }
        };
        self.record(
            &caller,
            operation,
            answer.status,
            answer.outcome,
            answer.event_id,
            started,
        );
        Ok(answer.result.into())
    }
}
