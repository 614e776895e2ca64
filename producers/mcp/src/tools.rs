//! The MCP tools, pure and without I/O: their input and output schemas, their arguments, and
//! what a call becomes (an event for the pipeline, or the JSON body of a RAE request).
//!
//! The schemas are written by hand from the same limits the arguments are checked against, so
//! what an assistant is told (`maxLength`, `enum`, `minimum`) is exactly what is accepted, and
//! every property of a schema is a field of its argument type (a test checks both ways).
//!
//! `save_memory`, `search_memory` and `get_related_context` are the tools of RAE's own MCP
//! server (its `integrations/mcp`), with its argument names (`source`, `human_label`, `top_k`,
//! `include_count`), so prompts written for that server keep working here; they become the
//! same event or RAE request as the native tools.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use rae_core::dead_letter::{Entry, Filter, Stage};
use rae_core::event::{self, Event, InvalidField, Layer, Limits, Route, Source};

/// Stores a memory through the pipeline.
pub const STORE_MEMORY: &str = "store_memory";
/// Searches memories in RAE.
pub const QUERY_MEMORIES: &str = "query_memories";
/// GraphRAG search in RAE.
pub const QUERY_GRAPH: &str = "query_graph";
/// Asks RAE for reflections on a project's memories.
pub const GENERATE_REFLECTION: &str = "generate_reflection";
/// RAE's server's name for [`STORE_MEMORY`].
pub const SAVE_MEMORY: &str = "save_memory";
/// RAE's server's name for [`QUERY_MEMORIES`], with `top_k`.
pub const SEARCH_MEMORY: &str = "search_memory";
/// Memories about one file.
pub const GET_RELATED_CONTEXT: &str = "get_related_context";
/// RAE reachability, consumer lag and dead letters.
pub const PIPELINE_STATUS: &str = "pipeline_status";
/// The tenant's dead letters (an administration tool, `mcp.admin_tools`).
pub const DLQ_LIST: &str = "dlq_list";
/// Puts a dead letter back on its stage's input (an administration tool, `mcp.admin_tools`).
pub const DLQ_REPLAY: &str = "dlq_replay";

/// Every tool name, in the order `tools/list` gives them.
pub const NAMES: [&str; 8] = [
    STORE_MEMORY,
    QUERY_MEMORIES,
    QUERY_GRAPH,
    GENERATE_REFLECTION,
    SAVE_MEMORY,
    SEARCH_MEMORY,
    GET_RELATED_CONTEXT,
    PIPELINE_STATUS,
];

/// The administration tools, listed after [`NAMES`] when `mcp.admin_tools` is set.
pub const ADMIN_NAMES: [&str; 2] = [DLQ_LIST, DLQ_REPLAY];

/// Most dead letters `dlq_list` returns.
pub const MAX_DLQ_LIST: u32 = 100;
/// Characters of a dead letter's content shown by `dlq_list`.
const DLQ_PREVIEW_CHARS: usize = 200;
/// Characters of a dead letter's last error shown by `dlq_list`.
const DLQ_ERROR_CHARS: usize = 500;

/// Longest search text RAE accepts (characters).
pub const MAX_QUERY_CHARS: usize = 1024;
/// Most results of `query_memories` (RAE's limit for `k`).
pub const MAX_K: u32 = 100;
/// Most vector matches a graph search starts from.
pub const MAX_GRAPH_K: u32 = 50;
/// Deepest graph traversal RAE allows.
pub const MAX_GRAPH_DEPTH: u32 = 5;
/// Reflection types RAE knows.
pub const REFLECTION_TYPES: &[&str] = &["insight", "analysis", "pattern", "meta", "synthesis"];
/// Longest project name an event may carry.
const MAX_PROJECT_CHARS: usize = 256;
/// Longest `source` (the memory's origin as RAE shows it).
const MAX_SOURCE_CHARS: usize = 128;
/// Longest `human_label` (RAE's readable name for a memory).
pub const MAX_LABEL_CHARS: usize = 256;
/// Longest `file_path` of `get_related_context`.
pub const MAX_PATH_CHARS: usize = 1024;

/// One tool as `tools/list` describes it.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Map<String, Value>,
    /// JSON Schema of the `structuredContent` of a successful call (an object schema); clients
    /// such as the official Python SDK check results against it.
    pub output_schema: Map<String, Value>,
    /// True when the tool only reads (MCP's `readOnlyHint`).
    pub read_only: bool,
}

/// The tools, their schemas derived from `limits`; `project` is named as the default. `admin`
/// adds the administration tools.
pub fn specs(limits: &Limits, project: &str, admin: bool) -> Vec<ToolSpec> {
    let mut specs = memory_specs(limits, project);
    if admin {
        specs.extend(admin_specs());
    }
    specs
}

/// The administration tools: the dead letters of the server's tenant.
fn admin_specs() -> Vec<ToolSpec> {
    let letter = json!({
        "type": "object",
        "properties": {
            "sequence": {"type": "integer", "description": "Its id in the dead-letter stream."},
            "event_id": {"type": "string"},
            "stage": {"type": "string", "enum": ["enrich", "write", "ingress"]},
            "reason": {"type": "string"},
            "error": {"type": "string"},
            "attempts": {"type": "integer"},
            "last_failed_at": {"type": "string"},
            "source": {"type": "string"},
            "kind": {"type": "string"},
            "preview": {"type": "string"},
        },
        "required": ["sequence", "event_id", "stage", "reason", "error", "attempts"],
    });
    vec![
        ToolSpec {
            name: DLQ_LIST,
            title: "List dead letters",
            description: "List the events the pipeline gave up on (dead letters) for this \
                tenant, oldest first, with the stage, the reason and the last error. Replay one \
                with dlq_replay once its cause is fixed."
                .into(),
            input_schema: object(
                json!({
                    "stage": {
                        "type": "string",
                        "enum": ["enrich", "write", "ingress"],
                        "description": "Only dead letters of this stage.",
                    },
                    "reason": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 64,
                        "description": "Only this reason, such as rae_rejected or invalid_event.",
                    },
                    "source": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 64,
                        "description": "Only events of this source, such as webhook or mcp.",
                    },
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_DLQ_LIST,
                        "default": 20,
                        "description": "Most dead letters returned.",
                    },
                }),
                &[],
            ),
            output_schema: output(
                json!({
                    "dead_letters": {"type": "array", "items": letter},
                    "count": {"type": "integer"},
                    "tenant": {"type": "string"},
                }),
                &["dead_letters", "count", "tenant"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: DLQ_REPLAY,
            title: "Replay a dead letter",
            description: "Put one dead letter of this tenant back on its stage's input, so the \
                pipeline tries it again, and remove it from the dead letters. Fix the cause \
                first (dlq_list shows it): an event that fails again is dead-lettered again."
                .into(),
            input_schema: object(
                json!({
                    "id": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 128,
                        "description": "The dead letter's sequence or its event id, as dlq_list \
                            shows them.",
                    },
                }),
                &["id"],
            ),
            output_schema: output(
                json!({
                    "replayed": {"type": "integer"},
                    "sequence": {"type": "integer"},
                    "event_id": {"type": "string"},
                    "subject": {"type": "string", "description": "Where it was put back."},
                }),
                &["replayed", "sequence", "event_id", "subject"],
            ),
            read_only: false,
        },
    ]
}

/// The memory tools (always offered).
fn memory_specs(limits: &Limits, project: &str) -> Vec<ToolSpec> {
    let project_property = |what: &str| {
        json!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_PROJECT_CHARS,
            "description": format!("RAE project {what} (default: {project})."),
        })
    };
    let query_property = |what: &str| {
        json!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_QUERY_CHARS,
            "description": what,
        })
    };
    let store_properties = json!({
        "content": {
            "type": "string",
            "minLength": 1,
            "maxLength": limits.max_content_bytes,
            "description": format!(
                "The memory text, self-contained (at most {} bytes of UTF-8).",
                limits.max_content_bytes
            ),
        },
        "importance": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "How much it matters, 0 to 1; scored by the pipeline's \
                rules when omitted.",
        },
        "tags": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": limits.max_tag_chars},
            "maxItems": limits.max_tags,
            "description": "Short labels to find it by, such as \"decision\" or \"db\".",
        },
        "layer": {
            "type": "string",
            "enum": Layer::ALL,
            "default": "episodic",
            "description": "Memory layer: episodic (what happened), working, semantic \
                (facts), ltm (long-term) or reflective (an insight or lesson).",
        },
        "project": project_property("to store it in"),
        "source": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SOURCE_CHARS,
            "description": "Where the memory comes from, as RAE shows it (such as \
                the assistant's or tool's name, a file path or URL; default: mcp).",
        },
        "human_label": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_LABEL_CHARS,
            "description": "A readable label for the memory, such as \"Fix: auth bug\".",
        },
    });
    let stored_output = output(
        json!({
            "id": {"type": "string", "description": "The event id (a UUID)."},
            "status": {"type": "string", "enum": ["accepted"]},
            "duplicate": {"type": "boolean", "description": "JetStream already had this event."},
            "tenant": {"type": "string"},
            "project": {"type": "string"},
            "layer": {"type": "string", "enum": Layer::ALL},
            "subject": {"type": "string", "description": "The NATS subject it was published on."},
            "message": {"type": "string"},
        }),
        &[
            "id",
            "status",
            "duplicate",
            "tenant",
            "project",
            "layer",
            "subject",
            "message",
        ],
    );
    let search_output = output(
        json!({
            "results": {
                "type": "array",
                "items": {"type": "object"},
                "description": "RAE's matches, best first: id, content, score, layer, \
                    importance, timestamp, tags, metadata.",
            },
            "total_count": {"type": "integer"},
        }),
        &[],
    );
    let rae_answer = |what: &str| {
        let mut schema = Map::new();
        schema.insert("type".into(), json!("object"));
        schema.insert("description".into(), json!(what));
        schema
    };
    vec![
        ToolSpec {
            name: STORE_MEMORY,
            title: "Store a memory",
            description: "Store a memory in RAE: a decision, fact, preference or lesson worth \
                recalling later. It goes through the rae-pipeline (scored, tagged, retried until \
                RAE has it), so it is searchable within moments; the answer is the event id."
                .into(),
            input_schema: object(store_properties.clone(), &["content"]),
            output_schema: stored_output.clone(),
            read_only: false,
        },
        ToolSpec {
            name: QUERY_MEMORIES,
            title: "Search memories",
            description: "Search RAE's memories by meaning and get the best matches with their \
                score, layer, importance, tags and time."
                .into(),
            input_schema: object(
                json!({
                    "query": query_property("What to look for, in natural language."),
                    "k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_K,
                        "default": 10,
                        "description": "How many memories to return.",
                    },
                    "project": project_property("to search"),
                    "layers": {
                        "type": "array",
                        "items": {"type": "string", "enum": Layer::ALL},
                        "uniqueItems": true,
                        "minItems": 1,
                        "description": "Only memories of these layers (default: all).",
                    },
                }),
                &["query"],
            ),
            output_schema: search_output.clone(),
            read_only: true,
        },
        ToolSpec {
            name: QUERY_GRAPH,
            title: "Search the knowledge graph",
            description: "GraphRAG search: find memories by meaning, then follow RAE's knowledge \
                graph from them to related entities and relations. Use it for how things \
                connect (dependencies, who decided what, what relates to what)."
                .into(),
            input_schema: object(
                json!({
                    "query": query_property("What to look for, in natural language."),
                    "project": project_property("to search"),
                    "k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_GRAPH_K,
                        "default": 5,
                        "description": "How many best-matching memories the traversal starts from.",
                    },
                    "depth": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_GRAPH_DEPTH,
                        "default": 2,
                        "description": "How many relations deep to follow the graph.",
                    },
                }),
                &["query"],
            ),
            output_schema: rae_answer(
                "RAE's hybrid search answer: the matches and what the graph traversal found.",
            ),
            read_only: true,
        },
        ToolSpec {
            name: GENERATE_REFLECTION,
            title: "Generate a reflection",
            description: "Ask RAE to reflect on a project's memories: it groups related \
                memories and writes insights about them (stored in RAE's reflective layer), \
                and answers with the reflection and statistics."
                .into(),
            input_schema: object(
                json!({
                    "project": project_property("to reflect on"),
                    "reflection_type": {
                        "type": "string",
                        "enum": REFLECTION_TYPES,
                        "description": "The kind of reflection wanted (default: RAE chooses).",
                    },
                    "max_memories": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 1000,
                        "default": 50,
                        "description": "How many recent memories to consider.",
                    },
                    "min_cluster_size": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 50,
                        "default": 3,
                        "description": "Fewest related memories that make an insight.",
                    },
                    "since": {
                        "type": "string",
                        "format": "date-time",
                        "description": "Only memories after this RFC 3339 time, such as \
                            2026-11-24T00:00:00Z.",
                    },
                }),
                &[],
            ),
            output_schema: rae_answer("RAE's answer: the reflection and its statistics."),
            read_only: false,
        },
        ToolSpec {
            name: SAVE_MEMORY,
            title: "Save a memory",
            description: "Store a memory in RAE for later retrieval: important information, \
                decisions, code patterns or any context worth preserving. The same as \
                store_memory, under the name and arguments of RAE's own MCP server."
                .into(),
            input_schema: object(store_properties, &["content"]),
            output_schema: stored_output,
            read_only: false,
        },
        ToolSpec {
            name: SEARCH_MEMORY,
            title: "Search memory",
            description: "Search RAE memory for relevant information: context, similar \
                patterns, past decisions and solutions. The same as query_memories, under the \
                name and arguments of RAE's own MCP server."
                .into(),
            input_schema: object(
                json!({
                    "query": query_property("What you are looking for, in natural language."),
                    "top_k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_K,
                        "default": 5,
                        "description": "How many results to return.",
                    },
                    "project": project_property("to search"),
                }),
                &["query"],
            ),
            output_schema: search_output,
            read_only: true,
        },
        ToolSpec {
            name: GET_RELATED_CONTEXT,
            title: "Context of a file",
            description: "Memories about one file or module: the commits and uncommitted \
                edits that touched it (recorded by the git watcher), decisions and issues that \
                mention it. Memories naming the file come first."
                .into(),
            input_schema: object(
                json!({
                    "file_path": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_PATH_CHARS,
                        "description": "Path of the file, relative to its repository (as git \
                            shows it) or absolute.",
                    },
                    "k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_K,
                        "default": 10,
                        "description": "How many memories to return.",
                    },
                    "include_count": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_K,
                        "description": "RAE's server's name for k (give one of the two).",
                    },
                    "project": project_property("to search"),
                }),
                &["file_path"],
            ),
            output_schema: output(
                json!({
                    "file_path": {"type": "string", "description": "The path as searched."},
                    "project": {"type": "string"},
                    "results": {
                        "type": "array",
                        "items": {"type": "object"},
                        "description": "RAE's matches; those naming the file first.",
                    },
                    "mentioning": {
                        "type": "integer",
                        "description": "How many of the results name the file.",
                    },
                }),
                &["file_path", "project", "results", "mentioning"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: PIPELINE_STATUS,
            title: "Pipeline status",
            description: "Whether memories flow: RAE reachable, NATS reachable, how many \
                events wait for the enricher and writer consumers, and the dead letters \
                (events the pipeline gave up on) by reason."
                .into(),
            input_schema: object(json!({}), &[]),
            output_schema: output(
                json!({
                    "healthy": {
                        "type": "boolean",
                        "description": "RAE and NATS reachable and both consumers present.",
                    },
                    "rae": reachability(),
                    "nats": reachability(),
                    "consumers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "stream": {"type": "string"},
                                "pending": {
                                    "type": "integer",
                                    "description": "Events not yet delivered to it (its lag).",
                                },
                                "ack_pending": {
                                    "type": "integer",
                                    "description": "Events delivered and not yet acknowledged.",
                                },
                                "error": {"type": "string"},
                            },
                            "required": ["name", "stream"],
                        },
                    },
                    "dead_letters": {
                        "type": "object",
                        "properties": {
                            "total": {"type": "integer"},
                            "by_reason": {
                                "type": "object",
                                "additionalProperties": {"type": "integer"},
                            },
                            "counted": {
                                "type": "integer",
                                "description": "How many were read to count by reason.",
                            },
                            "tenant": {
                                "type": "string",
                                "description": "Set when only this tenant's dead letters are \
                                    counted (over HTTP, the API key's tenant).",
                            },
                        },
                        "required": ["total", "by_reason", "counted"],
                    },
                }),
                &["healthy", "rae", "nats"],
            ),
            read_only: true,
        },
    ]
}

/// Output schema of a service's reachability in `pipeline_status`.
fn reachability() -> Value {
    json!({
        "type": "object",
        "properties": {
            "reachable": {"type": "boolean"},
            "url": {"type": "string"},
            "error": {"type": "string"},
        },
        "required": ["reachable", "url"],
    })
}

/// An output schema: like [`object`], but results may carry more than is described.
fn output(properties: Value, required: &[&str]) -> Map<String, Value> {
    let mut schema = object(properties, required);
    schema.remove("additionalProperties");
    schema
}

fn object(properties: Value, required: &[&str]) -> Map<String, Value> {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), properties);
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema.insert("additionalProperties".into(), json!(false));
    schema
}

/// Arguments of `store_memory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreArgs {
    pub content: String,
    #[serde(default)]
    pub importance: Option<f64>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub human_label: Option<String>,
}

/// Arguments of `query_memories`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    pub query: String,
    #[serde(default)]
    pub k: Option<u32>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub layers: Option<Vec<String>>,
}

/// Arguments of `query_graph`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphArgs {
    pub query: String,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub k: Option<u32>,
    #[serde(default)]
    pub depth: Option<u32>,
}

/// Arguments of `generate_reflection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReflectionArgs {
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub reflection_type: Option<String>,
    #[serde(default)]
    pub max_memories: Option<u32>,
    #[serde(default)]
    pub min_cluster_size: Option<u32>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
}

/// Arguments of `search_memory` (RAE's server's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    pub query: String,
    #[serde(default)]
    pub top_k: Option<u32>,
    #[serde(default)]
    pub project: Option<String>,
}

/// Arguments of `get_related_context`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelatedArgs {
    pub file_path: String,
    #[serde(default)]
    pub k: Option<u32>,
    /// RAE's server's name for `k`.
    #[serde(default)]
    pub include_count: Option<u32>,
    #[serde(default)]
    pub project: Option<String>,
}

/// Arguments of `dlq_list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqListArgs {
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Arguments of `dlq_replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqReplayArgs {
    pub id: String,
}

/// The dead letters a `dlq_list` call reads: always only `tenant`'s; and how many at most.
///
/// # Errors
/// [`InvalidField`] for an unknown stage, an empty reason or source, or `limit` out of range.
pub fn dlq_list_filter(args: DlqListArgs, tenant: &str) -> Result<(Filter, usize), InvalidField> {
    let stage = match args.stage.as_deref() {
        None => None,
        Some("enrich") => Some(Stage::Enrich),
        Some("write") => Some(Stage::Write),
        Some("ingress") => Some(Stage::Ingress),
        Some(_) => {
            return Err(InvalidField::new(
                "stage",
                "must be enrich, write or ingress",
            ))
        }
    };
    let named = |field: &str, value: Option<String>| match value {
        Some(v) if v.trim().is_empty() || v.chars().count() > 64 => Err(InvalidField::new(
            field,
            "must be 1 to 64 characters, or left out",
        )),
        other => Ok(other),
    };
    let limit = in_range("limit", args.limit.unwrap_or(20), 1, MAX_DLQ_LIST)?;
    let filter = Filter {
        stage,
        reason: named("reason", args.reason)?,
        source: named("source", args.source)?,
        tenant: Some(tenant.to_owned()),
        ..Filter::default()
    };
    Ok((filter, limit as usize))
}

/// The one dead letter a `dlq_replay` call names, only among `tenant`'s.
///
/// # Errors
/// [`InvalidField`] `id` when it is empty or too long.
pub fn dlq_replay_filter(args: DlqReplayArgs, tenant: &str) -> Result<Filter, InvalidField> {
    let id = args.id.trim();
    if id.is_empty() || id.chars().count() > 128 {
        return Err(InvalidField::new("id", "must be 1 to 128 characters"));
    }
    Ok(Filter {
        id: Some(id.to_owned()),
        tenant: Some(tenant.to_owned()),
        ..Filter::default()
    })
}

/// A dead letter as `dlq_list` shows it: what failed and why, without the whole event.
pub fn dlq_entry(entry: &Entry) -> Value {
    let letter = &entry.letter;
    let last_failed_at = letter
        .last_failed_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json!({
        "sequence": entry.sequence,
        "event_id": letter.event_id(),
        "stage": letter.stage.as_str(),
        "reason": letter.reason,
        "error": rae_core::text::clip_chars(&letter.error, DLQ_ERROR_CHARS),
        "attempts": letter.attempts,
        "last_failed_at": last_failed_at,
        "source": letter.source(),
        "kind": letter.kind(),
        "preview": letter.preview(DLQ_PREVIEW_CHARS),
    })
}

/// Arguments of `pipeline_status`: none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {}

/// Reads a tool's arguments, naming the offending field.
///
/// # Errors
/// [`InvalidField`] for a missing or unknown field or a value of the wrong type.
pub fn parse<T: DeserializeOwned>(arguments: Map<String, Value>) -> Result<T, InvalidField> {
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = quoted_after(&message, "missing field `")
            .or_else(|| quoted_after(&message, "unknown field `"))
            .unwrap_or(path);
        let message = match message.split_once(" at line ") {
            // serde_json appends a position that means nothing in a tool call.
            Some((text, _)) => text.to_owned(),
            None => message,
        };
        InvalidField::new(field, message)
    })
}

fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_owned())
}

/// Where a stored memory goes and who stores it.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub tenant: &'a str,
    /// Project when the call names none.
    pub project: &'a str,
    /// The MCP client's name from its handshake (`claude-ai`, `cline`), as the event's actor.
    pub client: Option<&'a str>,
}

/// The event a `store_memory` call becomes: source and integration `mcp`, kind `note`, or
/// `reflection` for the reflective layer (as Slack's `/rae reflect`).
///
/// # Errors
/// [`InvalidField`] naming the argument that breaks the event schema or a limit.
pub fn store_event(
    args: StoreArgs,
    origin: &Origin<'_>,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Event, InvalidField> {
    event::validate_content(&args.content, limits)?;
    if let Some(importance) = args.importance {
        event::validate_importance(importance)?;
    }
    let given_tags = args.tags.unwrap_or_default();
    event::validate_tags(&given_tags, limits)?;
    let mut tags = Vec::with_capacity(given_tags.len());
    for tag in &given_tags {
        event::push_tag(&mut tags, tag, limits);
    }
    let layer = match args.layer {
        Some(layer) => layer.parse::<Layer>()?,
        None => Layer::default(),
    };
    let project = project_or(args.project, origin.project)?;
    let mut attributes = Map::new();
    if let Some(source) = args.source {
        let chars = source.trim().chars().count();
        if chars == 0 || chars > MAX_SOURCE_CHARS {
            return Err(InvalidField::new(
                "source",
                format!("must be 1 to {MAX_SOURCE_CHARS} characters"),
            ));
        }
        attributes.insert("origin".into(), Value::String(source));
    }
    if let Some(label) = args.human_label {
        let chars = label.trim().chars().count();
        if chars == 0 || chars > MAX_LABEL_CHARS {
            return Err(InvalidField::new(
                "human_label",
                format!("must be 1 to {MAX_LABEL_CHARS} characters"),
            ));
        }
        // The RAE writer sends it as the memory's `human_label`.
        attributes.insert("human_label".into(), Value::String(label));
    }
    let kind = if layer == Layer::Reflective {
        "reflection"
    } else {
        "note"
    };
    let route = Route {
        tenant: origin.tenant,
        project: &project,
        source: Source::Mcp,
        integration: "mcp",
    };
    let actor = origin
        .client
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.chars().take(MAX_SOURCE_CHARS).collect());
    Event::builder(route, event::new_id(), kind, args.content)
        .importance(args.importance)
        .tags(tags)
        .layer(layer)
        .occurred_at(now)
        .received_at(now)
        .actor(actor)
        .attributes(attributes)
        .validated(limits)
}

/// RAE's search body `{query, project, k, layers?}` for a `query_memories` call.
///
/// # Errors
/// [`InvalidField`] for an empty or too long query, `k` out of range or an unknown layer.
pub fn query_body(args: QueryArgs, default_project: &str) -> Result<Value, InvalidField> {
    let query = query_text(args.query)?;
    let k = in_range("k", args.k.unwrap_or(10), 1, MAX_K)?;
    let project = project_or(args.project, default_project)?;
    let mut body = json!({"query": query, "project": project, "k": k});
    if let Some(layers) = args.layers {
        if layers.is_empty() {
            return Err(InvalidField::new(
                "layers",
                "must name at least one layer, or be left out for all",
            ));
        }
        for (i, layer) in layers.iter().enumerate() {
            layer
                .parse::<Layer>()
                .map_err(|e| InvalidField::new(format!("layers[{i}]"), e.message))?;
        }
        body["layers"] = json!(layers);
    }
    Ok(body)
}

/// RAE's search body for a `search_memory` call: `top_k` is `k` (default 5, as RAE's server).
///
/// # Errors
/// [`InvalidField`] for an empty or too long query or `top_k` out of range.
pub fn search_body(args: SearchArgs, default_project: &str) -> Result<Value, InvalidField> {
    let top_k = in_range("top_k", args.top_k.unwrap_or(5), 1, MAX_K)?;
    query_body(
        QueryArgs {
            query: args.query,
            k: Some(top_k),
            project: args.project,
            layers: None,
        },
        default_project,
    )
}

/// The file a `get_related_context` call is about, and where to look.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    /// The path with `\\` as `/` and without a leading `./`.
    pub file_path: String,
    pub project: String,
}

/// What a `get_related_context` call asks RAE: a search for the path itself, which the git
/// watcher's memories of a file name in their text (and in `metadata.attributes`).
///
/// # Errors
/// [`InvalidField`] for an empty or too long path, both `k` and `include_count`, or a count
/// out of range.
pub fn related_body(
    args: RelatedArgs,
    default_project: &str,
) -> Result<(Related, Value), InvalidField> {
    let normalized = args.file_path.trim().replace('\\', "/");
    let file_path = normalized.trim_start_matches("./").to_owned();
    let chars = file_path.chars().count();
    if chars == 0 || chars > MAX_PATH_CHARS {
        return Err(InvalidField::new(
            "file_path",
            format!("must be 1 to {MAX_PATH_CHARS} characters"),
        ));
    }
    let k = match (args.k, args.include_count) {
        (Some(_), Some(_)) => {
            return Err(InvalidField::new(
                "include_count",
                "is another name for k: give one of the two",
            ))
        }
        (Some(k), None) => in_range("k", k, 1, MAX_K)?,
        (None, Some(count)) => in_range("include_count", count, 1, MAX_K)?,
        (None, None) => 10,
    };
    let project = project_or(args.project, default_project)?;
    let query: String = file_path.chars().take(MAX_QUERY_CHARS).collect();
    let body = json!({"query": query, "project": project, "k": k});
    Ok((Related { file_path, project }, body))
}

/// The answer of `get_related_context` from RAE's search answer: the results that name the file
/// first (in RAE's order), then the rest.
pub fn related_answer(related: &Related, answer: Value) -> Value {
    let results = match answer.get("results") {
        Some(Value::Array(results)) => results.clone(),
        _ => Vec::new(),
    };
    let (mut naming, others): (Vec<Value>, Vec<Value>) = results
        .into_iter()
        .partition(|result| names_file(result, &related.file_path));
    let mentioning = naming.len();
    naming.extend(others);
    json!({
        "file_path": related.file_path,
        "project": related.project,
        "results": naming,
        "mentioning": mentioning,
    })
}

/// True when a RAE search result is about `path`: a path in its `metadata.attributes` (the git
/// watcher's `path`, `old_path` and `files[].path`) is the same file, or its text names it.
pub fn names_file(result: &Value, path: &str) -> bool {
    // Repository-relative paths match absolute ones that end in them, and the other way round.
    let same = |recorded: &str| {
        !recorded.is_empty()
            && (recorded == path
                || path.ends_with(&format!("/{recorded}"))
                || recorded.ends_with(&format!("/{path}")))
    };
    let attributes = &result["metadata"]["attributes"];
    let recorded = [&attributes["path"], &attributes["old_path"]]
        .into_iter()
        .chain(
            attributes["files"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|file| [&file["path"], &file["old_path"]]),
        )
        .filter_map(Value::as_str);
    for recorded in recorded {
        if same(recorded) {
            return true;
        }
    }
    result["content"]
        .as_str()
        .is_some_and(|content| content.contains(path))
}

/// The body of a GraphRAG search for a `query_graph` call.
///
/// RAE's deployments name the same things differently: the hybrid search route
/// (`/v2/search/hybrid`) reads `tenant_id`, `project`, `k`, `graph_max_depth` and
/// `enable_graph_search`; the dedicated graph route (`/v2/graph/query`, `/v1/graph/query`)
/// reads `project` or `project_id`, `top_k_vector` and `graph_depth`. RAE ignores fields it does
/// not know, so the body carries both spellings and `rae.graph_path` alone picks the route.
///
/// # Errors
/// [`InvalidField`] for an empty or too long query or `k` or `depth` out of range.
pub fn graph_body(
    args: GraphArgs,
    default_project: &str,
    rae_tenant_id: &str,
    reranking: bool,
) -> Result<Value, InvalidField> {
    let query = query_text(args.query)?;
    let k = in_range("k", args.k.unwrap_or(5), 1, MAX_GRAPH_K)?;
    let depth = in_range("depth", args.depth.unwrap_or(2), 1, MAX_GRAPH_DEPTH)?;
    let project = project_or(args.project, default_project)?;
    Ok(json!({
        "query": query,
        "tenant_id": rae_tenant_id,
        "project": project,
        "project_id": project,
        "k": k,
        "top_k_vector": k,
        "enable_graph_search": true,
        "enable_reranking": reranking,
        "graph_max_depth": depth,
        "graph_depth": depth,
        "traversal_strategy": "bfs",
    }))
}

/// RAE's reflection request `{tenant_id, project, reflection_type?, max_memories,
/// min_cluster_size, since?}` for a `generate_reflection` call.
///
/// # Errors
/// [`InvalidField`] for an unknown reflection type or a count out of range.
pub fn reflection_body(
    args: ReflectionArgs,
    default_project: &str,
    rae_tenant_id: &str,
) -> Result<Value, InvalidField> {
    let project = project_or(args.project, default_project)?;
    let max_memories = in_range("max_memories", args.max_memories.unwrap_or(50), 1, 1000)?;
    let min_cluster_size = in_range(
        "min_cluster_size",
        args.min_cluster_size.unwrap_or(3),
        1,
        50,
    )?;
    let mut body = json!({
        "tenant_id": rae_tenant_id,
        "project": project,
        "max_memories": max_memories,
        "min_cluster_size": min_cluster_size,
    });
    if let Some(kind) = args.reflection_type {
        if !REFLECTION_TYPES.contains(&kind.as_str()) {
            return Err(InvalidField::new(
                "reflection_type",
                format!("must be one of {}", REFLECTION_TYPES.join(", ")),
            ));
        }
        body["reflection_type"] = json!(kind);
    }
    if let Some(since) = args.since {
        let text = since
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| InvalidField::new("since", e.to_string()))?;
        body["since"] = json!(text);
    }
    Ok(body)
}

fn query_text(query: String) -> Result<String, InvalidField> {
    let chars = query.trim().chars().count();
    if chars == 0 || query.chars().count() > MAX_QUERY_CHARS {
        return Err(InvalidField::new(
            "query",
            format!("must be 1 to {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(query)
}

fn in_range(field: &str, value: u32, min: u32, max: u32) -> Result<u32, InvalidField> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(InvalidField::new(field, format!("must be {min} to {max}")))
    }
}

fn project_or(given: Option<String>, default: &str) -> Result<String, InvalidField> {
    match given {
        None => Ok(default.to_owned()),
        Some(p) if p.trim().is_empty() || p.chars().count() > MAX_PROJECT_CHARS => {
            Err(InvalidField::new(
                "project",
                format!("must be 1 to {MAX_PROJECT_CHARS} characters"),
            ))
        }
        Some(p) => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    const ORIGIN: Origin<'static> = Origin {
        tenant: "default-tenant",
        project: "default",
        client: Some("claude-ai"),
    };

    fn store(value: Value) -> Result<Event, InvalidField> {
        let parsed: StoreArgs = parse(args(value))?;
        store_event(
            parsed,
            &ORIGIN,
            &Limits::default(),
            OffsetDateTime::now_utc(),
        )
    }

    #[test]
    fn a_full_store_call_becomes_one_mcp_event() {
        let event = store(json!({
            "content": "Team decided to use PostgreSQL",
            "importance": 0.8,
            "tags": ["decision", "db", "Decision"],
            "layer": "semantic",
            "project": "backend",
            "source": "claude-desktop",
        }))
        .unwrap();
        assert_eq!(
            (
                event.source.as_str(),
                event.integration.as_str(),
                event.kind.as_str()
            ),
            ("mcp", "mcp", "note")
        );
        assert_eq!(event.tenant, "default-tenant");
        assert_eq!(event.project, "backend");
        assert_eq!(event.importance, Some(0.8));
        assert_eq!(event.tags, ["decision", "db"]);
        assert_eq!(event.layer, Layer::Semantic);
        assert_eq!(event.attributes["origin"], "claude-desktop");
        assert_eq!(event.actor.as_deref(), Some("claude-ai"));
    }

    #[test]
    fn defaults_and_the_reflective_layer() {
        let event = store(json!({"content": "x"})).unwrap();
        assert_eq!(
            (event.layer.as_str(), event.project.as_str()),
            ("episodic", "default")
        );
        assert!(event.attributes.is_empty() && event.importance.is_none());
        let event = store(json!({"content": "lesson", "layer": "reflective"})).unwrap();
        assert_eq!(event.kind, "reflection");
    }

    #[test]
    fn bad_store_arguments_name_their_field() {
        let field = |value: Value| store(value).unwrap_err().field;
        assert_eq!(field(json!({})), "content");
        assert_eq!(field(json!({"content": "  "})), "content");
        assert_eq!(
            field(json!({"content": "x".repeat(64 * 1024 + 1)})),
            "content"
        );
        assert_eq!(field(json!({"content": 42})), "content");
        assert_eq!(
            field(json!({"content": "x", "importance": 1.5})),
            "importance"
        );
        assert_eq!(
            field(json!({"content": "x", "importance": "high"})),
            "importance"
        );
        assert_eq!(
            field(json!({"content": "x", "tags": vec!["a"; 33]})),
            "tags"
        );
        assert_eq!(
            field(json!({"content": "x", "tags": ["ok", ""]})),
            "tags[1]"
        );
        assert_eq!(field(json!({"content": "x", "layer": "deep"})), "layer");
        assert_eq!(field(json!({"content": "x", "project": ""})), "project");
        assert_eq!(field(json!({"content": "x", "source": ""})), "source");
        assert_eq!(field(json!({"content": "x", "colour": "red"})), "colour");
        let err = store(json!({"content": "x", "colour": "red"})).unwrap_err();
        assert!(err.message.contains("expected one of"), "{err}");
        let err = store(json!({"content": "x", "importance": "high"})).unwrap_err();
        assert!(!err.message.contains("line"), "{err}");
    }

    #[test]
    fn query_bodies_follow_raes_contract() {
        let q: QueryArgs = parse(args(json!({"query": "db?", "layers": ["semantic"]}))).unwrap();
        assert_eq!(
            query_body(q, "default").unwrap(),
            json!({"query": "db?", "project": "default", "k": 10, "layers": ["semantic"]})
        );
        let bad = |value: Value| {
            let q: QueryArgs = parse(args(value)).unwrap();
            query_body(q, "default").unwrap_err().field
        };
        assert_eq!(bad(json!({"query": " "})), "query");
        assert_eq!(bad(json!({"query": "x".repeat(1025)})), "query");
        assert_eq!(bad(json!({"query": "x", "k": 0})), "k");
        assert_eq!(bad(json!({"query": "x", "k": 101})), "k");
        assert_eq!(bad(json!({"query": "x", "layers": []})), "layers");
        assert_eq!(
            bad(json!({"query": "x", "layers": ["ltm", "deep"]})),
            "layers[1]"
        );
        let err = parse::<QueryArgs>(args(json!({"query": "x", "k": -1}))).unwrap_err();
        assert_eq!(err.field, "k");
    }

    #[test]
    fn graph_and_reflection_bodies() {
        let g: GraphArgs = parse(args(json!({"query": "deps", "depth": 3}))).unwrap();
        let body = graph_body(g, "default", "default-tenant", false).unwrap();
        assert_eq!(body["enable_reranking"], false);
        assert_eq!(body["k"], 5);
        assert_eq!(body["top_k_vector"], 5);
        assert_eq!(body["graph_max_depth"], 3);
        assert_eq!(body["graph_depth"], 3);
        assert_eq!(body["tenant_id"], "default-tenant");
        assert_eq!(body["project_id"], "default");
        let g: GraphArgs = parse(args(json!({"query": "deps", "depth": 6}))).unwrap();
        assert_eq!(graph_body(g, "p", "t", false).unwrap_err().field, "depth");

        let r: ReflectionArgs = parse(args(json!({
            "project": "backend",
            "reflection_type": "pattern",
            "since": "2026-11-24T10:30:00+01:00",
        })))
        .unwrap();
        assert_eq!(
            reflection_body(r, "default", "default-tenant").unwrap(),
            json!({
                "tenant_id": "default-tenant",
                "project": "backend",
                "reflection_type": "pattern",
                "max_memories": 50,
                "min_cluster_size": 3,
                "since": "2026-11-24T10:30:00+01:00",
            })
        );
        let r: ReflectionArgs = parse(args(json!({"reflection_type": "vibes"}))).unwrap();
        assert_eq!(
            reflection_body(r, "p", "t").unwrap_err().field,
            "reflection_type"
        );
        let err = parse::<ReflectionArgs>(args(json!({"since": "yesterday"}))).unwrap_err();
        assert_eq!(err.field, "since");
    }

    /// Every schema property is an accepted argument, every argument is in the schema, and the
    /// required lists agree with what parsing demands.
    #[test]
    fn schemas_and_argument_types_agree() {
        let samples: Value = json!({
            "content": "x", "importance": 0.5, "tags": ["t"], "layer": "ltm", "project": "p",
            "source": "s", "query": "q", "k": 3, "layers": ["ltm"], "depth": 2,
            "reflection_type": "insight", "max_memories": 10, "min_cluster_size": 2,
            "since": "2026-11-24T10:30:00Z", "human_label": "Fix: auth", "top_k": 5,
            "file_path": "src/db.rs", "include_count": 3, "stage": "write",
            "reason": "rae_rejected", "limit": 5, "id": "42",
        });
        for spec in specs(&Limits::default(), "default", true) {
            assert_eq!(spec.output_schema["type"], "object", "{}", spec.name);
            assert_eq!(spec.input_schema["type"], "object");
            assert_eq!(spec.input_schema["additionalProperties"], false);
            let properties = spec.input_schema["properties"].as_object().unwrap();
            let mut all = Map::new();
            for name in properties.keys() {
                all.insert(name.clone(), samples[name].clone());
            }
            let accepted = |a: Map<String, Value>| match spec.name {
                STORE_MEMORY => parse::<StoreArgs>(a).map(drop),
                QUERY_MEMORIES => parse::<QueryArgs>(a).map(drop),
                QUERY_GRAPH => parse::<GraphArgs>(a).map(drop),
                GENERATE_REFLECTION => parse::<ReflectionArgs>(a).map(drop),
                SAVE_MEMORY => parse::<StoreArgs>(a).map(drop),
                SEARCH_MEMORY => parse::<SearchArgs>(a).map(drop),
                GET_RELATED_CONTEXT => parse::<RelatedArgs>(a).map(drop),
                PIPELINE_STATUS => parse::<StatusArgs>(a).map(drop),
                DLQ_LIST => parse::<DlqListArgs>(a).map(drop),
                DLQ_REPLAY => parse::<DlqReplayArgs>(a).map(drop),
                other => panic!("no argument type for {other}"),
            };
            accepted(all.clone()).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            let required: Vec<&str> = spec.input_schema.get("required").map_or(vec![], |r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect()
            });
            for name in properties.keys() {
                let mut without = all.clone();
                without.remove(name);
                assert_eq!(
                    accepted(without).is_err(),
                    required.contains(&name.as_str()),
                    "{}: {name}",
                    spec.name
                );
            }
            let mut extra = all.clone();
            extra.insert("unexpected".into(), json!(1));
            assert!(accepted(extra).is_err(), "{}", spec.name);
        }
        assert_eq!(
            specs(&Limits::default(), "p", false)
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>(),
            NAMES
        );
        let all: Vec<&str> = NAMES.iter().chain(&ADMIN_NAMES).copied().collect();
        assert_eq!(
            specs(&Limits::default(), "p", true)
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>(),
            all
        );
    }

    #[test]
    fn raes_own_argument_names_are_accepted() {
        let event = store(json!({
            "content": "Fixed the login race",
            "source": "src/auth.rs",
            "human_label": "Fix: auth bug",
        }))
        .unwrap();
        assert_eq!(event.attributes["origin"], "src/auth.rs");
        assert_eq!(event.attributes["human_label"], "Fix: auth bug");
        assert_eq!(
            store(json!({"content": "x", "human_label": " "}))
                .unwrap_err()
                .field,
            "human_label"
        );

        let search =
            |value: Value| parse::<SearchArgs>(args(value)).and_then(|a| search_body(a, "default"));
        assert_eq!(
            search(json!({"query": "auth", "top_k": 3, "project": "web"})).unwrap(),
            json!({"query": "auth", "project": "web", "k": 3})
        );
        assert_eq!(search(json!({"query": "auth"})).unwrap()["k"], 5);
        assert_eq!(
            search(json!({"query": "x", "top_k": 0})).unwrap_err().field,
            "top_k"
        );
        assert_eq!(
            search(json!({"query": "x", "k": 3})).unwrap_err().field,
            "k"
        );
    }

    #[test]
    fn related_context_searches_the_path_and_puts_memories_naming_it_first() {
        let related = |value: Value| {
            parse::<RelatedArgs>(args(value)).and_then(|a| related_body(a, "default"))
        };
        let (file, body) = related(json!({"file_path": "./src\\db.rs"})).unwrap();
        assert_eq!(file.file_path, "src/db.rs");
        assert_eq!(
            body,
            json!({"query": "src/db.rs", "project": "default", "k": 10})
        );
        let (_, body) = related(json!({"file_path": "a.rs", "include_count": 4})).unwrap();
        assert_eq!(body["k"], 4);
        let field = |value: Value| related(value).unwrap_err().field;
        assert_eq!(field(json!({"file_path": " "})), "file_path");
        assert_eq!(field(json!({"file_path": "a", "k": 0})), "k");
        assert_eq!(
            field(json!({"file_path": "a", "k": 2, "include_count": 2})),
            "include_count"
        );

        let file = Related {
            file_path: "/home/me/shop/src/db.rs".into(),
            project: "shop".into(),
        };
        let answer = json!({"results": [
            {"id": "other", "content": "Unrelated note"},
            {"id": "commit", "content": "Commit abc in shop",
                "metadata": {"attributes": {"files": [{"path": "src/db.rs"}]}}},
            {"id": "moved", "content": "moved",
                "metadata": {"attributes": {"path": "src/store.rs", "old_path": "src/db.rs"}}},
            {"id": "text", "content": "see /home/me/shop/src/db.rs line 4"},
            {"id": "suffix", "content": "x", "metadata": {"attributes": {"path": "db.rs"}}},
        ], "total_count": 5});
        let out = related_answer(&file, answer);
        let ids: Vec<&str> = out["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["commit", "moved", "text", "suffix", "other"]);
        assert_eq!(out["mentioning"], 4);
        assert_eq!(out["project"], "shop");
        // A path that only shares a suffix of its name is another file.
        assert!(!names_file(
            &json!({"metadata": {"attributes": {"path": "b.rs"}}}),
            "src/db.rs"
        ));
        assert_eq!(related_answer(&file, json!(null))["results"], json!([]));
    }

    #[test]
    fn dead_letter_tools_see_only_their_tenant() {
        let list = |value: Value| {
            parse::<DlqListArgs>(args(value)).and_then(|a| dlq_list_filter(a, "acme"))
        };
        let (filter, limit) = list(json!({"stage": "write", "reason": "rae_rejected"})).unwrap();
        assert_eq!(limit, 20);
        assert_eq!(filter.tenant.as_deref(), Some("acme"));
        assert_eq!(filter.stage, Some(Stage::Write));
        assert_eq!(filter.reason.as_deref(), Some("rae_rejected"));
        assert_eq!(list(json!({"stage": "store"})).unwrap_err().field, "stage");
        assert_eq!(list(json!({"limit": 101})).unwrap_err().field, "limit");
        assert_eq!(list(json!({"source": " "})).unwrap_err().field, "source");

        let replay = |value: Value| {
            parse::<DlqReplayArgs>(args(value)).and_then(|a| dlq_replay_filter(a, "acme"))
        };
        let filter = replay(json!({"id": " 42 "})).unwrap();
        assert_eq!(
            (filter.id.as_deref(), filter.tenant.as_deref()),
            (Some("42"), Some("acme"))
        );
        assert!(filter.is_narrowed());
        assert_eq!(replay(json!({"id": ""})).unwrap_err().field, "id");
        assert_eq!(replay(json!({})).unwrap_err().field, "id");
    }
}
