//! MCP resources and prompts, pure and without I/O: the project's reflection, guidelines and
//! recent activity, what RAE is asked for each, and the text an assistant reads.
//!
//! `rae://project/{reflection,guidelines,recent}` are those of RAE's own MCP server, about the
//! server's project; `rae://projects/{project}/...` (resource templates) name another project.
//! The prompts `project-guidelines` and `recent-context` insert the same text as a user message,
//! for a given project and topic.
//!
//! Every read is a search (`POST /v2/memories/query`), never a reflection run: reading a
//! resource must not make RAE's LLM write new memories. The reflection resource shows the
//! reflective layer, which `generate_reflection` (and the enricher's reflections) fill.

use serde_json::{json, Value};

use rae_core::event::InvalidField;

/// Memories a resource or prompt shows.
pub const K: u32 = 10;
/// Longest `topic` of a prompt (characters).
pub const MAX_TOPIC_CHARS: usize = 200;
/// Characters of one memory shown in a resource.
const MEMORY_CHARS: usize = 1_000;

/// The prompt that inserts the project's guidelines.
pub const GUIDELINES_PROMPT: &str = "project-guidelines";
/// The prompt that inserts recent activity.
pub const RECENT_PROMPT: &str = "recent-context";
/// Every prompt name, in the order `prompts/list` gives them.
pub const PROMPTS: [&str; 2] = [GUIDELINES_PROMPT, RECENT_PROMPT];

/// What a resource shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Reflection,
    Guidelines,
    Recent,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Reflection, Kind::Guidelines, Kind::Recent];

    /// The last segment of its URIs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Reflection => "reflection",
            Kind::Guidelines => "guidelines",
            Kind::Recent => "recent",
        }
    }

    /// The resource's URI for the server's project.
    pub fn uri(self) -> String {
        format!("rae://project/{}", self.as_str())
    }

    /// The resource template naming the project.
    pub fn uri_template(self) -> String {
        format!("rae://projects/{{project}}/{}", self.as_str())
    }

    /// The resource's programmatic name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Reflection => "project-reflection",
            Kind::Guidelines => "project-guidelines",
            Kind::Recent => "project-recent",
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            Kind::Reflection => "Project reflection",
            Kind::Guidelines => "Project guidelines",
            Kind::Recent => "Recent activity",
        }
    }

    pub const fn description(self) -> &'static str {
        match self {
            Kind::Reflection => {
                "Insights and lessons about the project from RAE's reflective layer: patterns, \
                 recurring problems and key decisions."
            }
            Kind::Guidelines => {
                "Coding guidelines and project conventions remembered in RAE (semantic and \
                 long-term layers)."
            }
            Kind::Recent => {
                "What happened in the project lately (commits, decisions, notes), newest first."
            }
        }
    }

    /// What RAE is searched for, before a topic.
    const fn query(self) -> &'static str {
        match self {
            Kind::Reflection => "insights lessons patterns reflections about the project",
            Kind::Guidelines => "coding guidelines project conventions best practices",
            Kind::Recent => "recent activities changes updates decisions",
        }
    }

    const fn layers(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::Reflection => Some(&["reflective"]),
            Kind::Guidelines => Some(&["semantic", "ltm"]),
            Kind::Recent => None,
        }
    }

    fn heading(self, project: &str) -> String {
        match self {
            Kind::Reflection => format!("# Reflection on project {project}"),
            Kind::Guidelines => format!("# Guidelines of project {project}"),
            Kind::Recent => format!("# Recent activity in project {project}"),
        }
    }

    fn empty(self) -> &'static str {
        match self {
            Kind::Reflection => {
                "No reflections yet: the generate_reflection tool asks RAE to write them."
            }
            Kind::Guidelines => {
                "No guidelines remembered yet: store them with store_memory in the semantic \
                 layer, tagged \"guideline\"."
            }
            Kind::Recent => "Nothing remembered yet.",
        }
    }
}

/// A resource URI read: which kind, and the project it names (`None`: the server's).
///
/// # Errors
/// [`InvalidField`] `uri` for a URI that is none of this server's; `project` for a project
/// that is empty, too long or not valid percent-encoded UTF-8.
pub fn parse_uri(uri: &str) -> Result<(Kind, Option<String>), InvalidField> {
    let unknown = || {
        InvalidField::new(
            "uri",
            format!(
                "{uri:?} is not a resource of this server: read rae://project/<kind> or \
                 rae://projects/<project>/<kind>, <kind> one of reflection, guidelines, recent"
            ),
        )
    };
    let kind_of = |segment: &str| {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == segment)
            .ok_or_else(unknown)
    };
    if let Some(kind) = uri.strip_prefix("rae://project/") {
        return Ok((kind_of(kind)?, None));
    }
    let rest = uri.strip_prefix("rae://projects/").ok_or_else(unknown)?;
    let (project, kind) = rest.rsplit_once('/').ok_or_else(unknown)?;
    let kind = kind_of(kind)?;
    let project = percent_decode(project)
        .filter(|p| !p.trim().is_empty() && p.chars().count() <= 256 && !p.contains('/'))
        .ok_or_else(|| {
            InvalidField::new(
                "project",
                "must be 1 to 256 characters, percent-encoded in the URI",
            )
        })?;
    Ok((kind, Some(project)))
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A prompt's arguments: optional `project` and `topic`, as strings.
///
/// # Errors
/// [`InvalidField`] for an unknown argument, or a project or topic that is empty or too long.
pub fn prompt_arguments(
    arguments: Option<&serde_json::Map<String, Value>>,
) -> Result<(Option<String>, Option<String>), InvalidField> {
    let (mut project, mut topic) = (None, None);
    for (name, value) in arguments.into_iter().flatten() {
        let text = match value {
            // Clients send unset optional arguments as empty strings or null.
            Value::Null => continue,
            Value::String(s) if s.trim().is_empty() => continue,
            Value::String(s) => s.trim().to_owned(),
            _ => return Err(InvalidField::new(name.as_str(), "must be a string")),
        };
        match name.as_str() {
            "project" if text.chars().count() <= 256 => project = Some(text),
            "project" => return Err(InvalidField::new("project", "must be 1 to 256 characters")),
            "topic" if text.chars().count() <= MAX_TOPIC_CHARS => topic = Some(text),
            "topic" => {
                return Err(InvalidField::new(
                    "topic",
                    format!("must be 1 to {MAX_TOPIC_CHARS} characters"),
                ))
            }
            other => {
                return Err(InvalidField::new(
                    other,
                    "unknown argument: the prompts take project and topic",
                ))
            }
        }
    }
    Ok((project, topic))
}

/// RAE's search body for `kind` in `project`, narrowed to `topic` when given.
pub fn query_body(kind: Kind, project: &str, topic: Option<&str>) -> Value {
    let query = match topic {
        Some(topic) => format!("{topic}: {}", kind.query()),
        None => kind.query().to_owned(),
    };
    let mut body = json!({"query": query, "project": project, "k": K});
    if let Some(layers) = kind.layers() {
        body["layers"] = json!(layers);
    }
    body
}

/// The text of `kind` from RAE's search answer: a heading, then one item per memory (recent
/// activity newest first), or a line saying there is nothing yet and how to add it.
pub fn render(kind: Kind, project: &str, topic: Option<&str>, answer: &Value) -> String {
    let mut results: Vec<&Value> = answer["results"]
        .as_array()
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    if kind == Kind::Recent {
        // RFC 3339 times in one offset sort as text; memories without one go last.
        results.sort_by(|a, b| {
            let time = |v: &Value| v["timestamp"].as_str().unwrap_or("").to_owned();
            time(b).cmp(&time(a))
        });
    }
    let mut text = kind.heading(project);
    if let Some(topic) = topic {
        text.push_str(&format!(" (topic: {topic})"));
    }
    text.push_str("\n\n");
    if results.is_empty() {
        text.push_str(kind.empty());
        text.push('\n');
        return text;
    }
    for (i, memory) in results.iter().enumerate() {
        let content = memory["content"].as_str().unwrap_or("").trim();
        let clipped = rae_core::text::clip_chars(content, MEMORY_CHARS);
        let mut facts = Vec::new();
        if let Some(at) = memory["timestamp"].as_str() {
            facts.push(at.to_owned());
        }
        if let Some(layer) = memory["layer"].as_str() {
            facts.push(layer.to_owned());
        }
        if let Some(importance) = memory["importance"].as_f64() {
            facts.push(format!("importance {importance:.2}"));
        }
        let tags: Vec<&str> = memory["tags"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !tags.is_empty() {
            facts.push(format!("tags {}", tags.join(", ")));
        }
        text.push_str(&format!("{}. {clipped}", i + 1));
        if !facts.is_empty() {
            text.push_str(&format!(" ({})", facts.join("; ")));
        }
        text.push('\n');
    }
    text
}

/// The resource kind a prompt inserts.
pub fn prompt_kind(name: &str) -> Option<Kind> {
    match name {
        GUIDELINES_PROMPT => Some(Kind::Guidelines),
        RECENT_PROMPT => Some(Kind::Recent),
        _ => None,
    }
}

/// What a prompt tells the assistant before the memories.
pub fn prompt_preamble(kind: Kind) -> &'static str {
    match kind {
        Kind::Guidelines => {
            "Follow these project guidelines from long-term memory (RAE) in this task; say so \
             when a request conflicts with one."
        }
        _ => {
            "Here is what happened recently in this project, from long-term memory (RAE). Use \
             it as context for this task."
        }
    }
}

/// The description of a prompt.
pub fn prompt_description(kind: Kind) -> &'static str {
    match kind {
        Kind::Guidelines => {
            "Insert the project's guidelines and conventions from RAE memory at the start of \
             a task."
        }
        _ => "Insert recent project activity from RAE memory at the start of a task.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_a_kind_and_maybe_a_project() {
        assert_eq!(
            parse_uri("rae://project/reflection").unwrap(),
            (Kind::Reflection, None)
        );
        assert_eq!(
            parse_uri("rae://projects/my%20shop/recent").unwrap(),
            (Kind::Recent, Some("my shop".into()))
        );
        for kind in Kind::ALL {
            assert_eq!(parse_uri(&kind.uri()).unwrap(), (kind, None));
            let uri = kind.uri_template().replace("{project}", "web");
            assert_eq!(parse_uri(&uri).unwrap(), (kind, Some("web".into())));
        }
        assert_eq!(parse_uri("rae://project/other").unwrap_err().field, "uri");
        assert_eq!(parse_uri("file:///etc/passwd").unwrap_err().field, "uri");
        assert_eq!(
            parse_uri("rae://projects/%zz/recent").unwrap_err().field,
            "project"
        );
        assert_eq!(
            parse_uri("rae://projects//recent").unwrap_err().field,
            "project"
        );
        assert_eq!(
            parse_uri("rae://projects/a/b/recent").unwrap_err().field,
            "project"
        );
    }

    #[test]
    fn bodies_search_the_right_layers() {
        assert_eq!(
            query_body(Kind::Guidelines, "web", Some("testing")),
            json!({"query": "testing: coding guidelines project conventions best practices",
                "project": "web", "k": 10, "layers": ["semantic", "ltm"]})
        );
        assert_eq!(
            query_body(Kind::Reflection, "web", None)["layers"],
            json!(["reflective"])
        );
        assert!(query_body(Kind::Recent, "web", None)
            .get("layers")
            .is_none());
    }

    #[test]
    fn recent_activity_is_newest_first_and_empty_answers_say_what_to_do() {
        let answer = json!({"results": [
            {"content": "old", "timestamp": "2026-11-01T00:00:00Z", "layer": "episodic"},
            {"content": "new", "timestamp": "2026-11-24T10:30:00Z", "tags": ["db"],
                "importance": 0.8},
        ]});
        let text = render(Kind::Recent, "web", None, &answer);
        assert!(
            text.starts_with("# Recent activity in project web\n\n1. new ("),
            "{text}"
        );
        assert!(text.contains("importance 0.80; tags db"), "{text}");
        assert!(
            text.contains("\n2. old (2026-11-01T00:00:00Z; episodic)"),
            "{text}"
        );
        let text = render(Kind::Reflection, "web", Some("db"), &json!({"results": []}));
        assert!(text.contains("(topic: db)") && text.contains("generate_reflection"));
    }

    #[test]
    fn prompt_arguments_are_optional_strings() {
        let args = |v: Value| prompt_arguments(v.as_object());
        assert_eq!(args(json!({})).unwrap(), (None, None));
        assert_eq!(
            args(json!({"project": "web", "topic": " db "})).unwrap(),
            (Some("web".into()), Some("db".into()))
        );
        assert_eq!(args(json!({"project": ""})).unwrap(), (None, None));
        assert_eq!(args(json!({"colour": "red"})).unwrap_err().field, "colour");
        assert_eq!(args(json!({"topic": 3})).unwrap_err().field, "topic");
        assert_eq!(
            args(json!({"topic": "x".repeat(201)})).unwrap_err().field,
            "topic"
        );
    }
}
