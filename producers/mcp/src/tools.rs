//! The four MCP tools, pure and without I/O: their input schemas, their arguments, and what a
//! call becomes (an event for the pipeline, or the JSON body of a RAE request).
//!
//! The schemas are written by hand from the same limits the arguments are checked against, so
//! what an assistant is told (`maxLength`, `enum`, `minimum`) is exactly what is accepted, and
//! every property of a schema is a field of its argument type (a test checks both ways).

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use rae_core::event::{self, Event, InvalidField, Layer, Limits, Route, Source};

/// Stores a memory through the pipeline.
pub const STORE_MEMORY: &str = "store_memory";
/// Searches memories in RAE.
pub const QUERY_MEMORIES: &str = "query_memories";
/// GraphRAG search in RAE.
pub const QUERY_GRAPH: &str = "query_graph";
/// Asks RAE for reflections on a project's memories.
pub const GENERATE_REFLECTION: &str = "generate_reflection";

/// Every tool name, in the order `tools/list` gives them.
pub const NAMES: [&str; 4] = [
    STORE_MEMORY,
    QUERY_MEMORIES,
    QUERY_GRAPH,
    GENERATE_REFLECTION,
];

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

/// One tool as `tools/list` describes it.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Map<String, Value>,
    /// True when the tool only reads (MCP's `readOnlyHint`).
    pub read_only: bool,
}

/// The tools, their schemas derived from `limits`; `project` is named as the default.
pub fn specs(limits: &Limits, project: &str) -> Vec<ToolSpec> {
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
    vec![
        ToolSpec {
            name: STORE_MEMORY,
            title: "Store a memory",
            description: "Store a memory in RAE: a decision, fact, preference or lesson worth \
                recalling later. It goes through the rae-pipeline (scored, tagged, retried until \
                RAE has it), so it is searchable within moments; the answer is the event id."
                .into(),
            input_schema: object(
                json!({
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
                            the assistant's or tool's name; default: mcp).",
                    },
                }),
                &["content"],
            ),
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
            read_only: false,
        },
    ]
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
            "since": "2026-11-24T10:30:00Z",
        });
        for spec in specs(&Limits::default(), "default") {
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
            specs(&Limits::default(), "p")
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>(),
            NAMES
        );
    }
}
