//! The `mapping` block of a `webhook` integration: how any JSON body becomes an event, written
//! as minijinja templates and expressions (compiled by [`crate::mapping::Mapping`]).

use serde::{Deserialize, Serialize};

use super::Problem;

/// How a generic webhook turns a JSON body of any shape into an event. Every field but
/// `importance` and `skip_if` is a template (`{{ body.issue.key }}`) rendered with `body` (the
/// parsed JSON) and `headers` (request headers, lowercase names); an optional field that
/// renders empty is left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// The memory text (required; an empty rendering is a mapping failure).
    pub content: String,
    /// One template per tag; tags that render empty are dropped.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A number 0..=1, or an expression giving one (`0.9 if body.priority == "P1" else 0.5`).
    #[serde(default)]
    pub importance: Option<Importance>,
    /// Who did it.
    #[serde(default)]
    pub actor: Option<String>,
    /// A link back to the thing in the sender's UI.
    #[serde(default)]
    pub url: Option<String>,
    /// When it happened: RFC 3339 or unix seconds (default: when it was received).
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// The sender's id of this event; a repeat with the same key is stored once.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// What happened (`note` when absent or empty): the subject's last token, and the key of
    /// the enricher's base importance.
    #[serde(default)]
    pub kind: Option<String>,
    /// An expression; when true the body is answered `ignored` and nothing is stored.
    #[serde(default)]
    pub skip_if: Option<String>,
}

/// A fixed importance or an expression computing one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Importance {
    Fixed(f64),
    Expression(String),
}

impl MappingConfig {
    /// What is wrong with the mapping: every template and expression that does not compile,
    /// naming its field and the line in it. Paths are relative to the mapping.
    pub fn problems(&self) -> Vec<Problem> {
        match crate::mapping::Mapping::compile(self) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }
}
