//! Declarative mappings: a generic webhook's `mapping` block ([`MappingConfig`]) compiled once
//! into minijinja templates and expressions, then applied to each JSON body (pure, no I/O).
//!
//! Templates see `body` (the parsed JSON) and `headers` (the request's headers, lowercase
//! names). Compiling happens at config load, so a template that does not parse stops the
//! process with the field and line named; applying can still fail on a body (an attribute of a
//! missing value, an importance that is not a number, an empty content), and that failure names
//! the field too, so the ingress can dead-letter the body with a reason a user can act on.
//! Each rendering is bounded by minijinja's fuel, so a template cannot loop for long.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::{MappingConfig, MappingImportance, Problem};

/// The work one template or expression may do (minijinja instructions; about 64 bytes of
/// output each), far more than any mapping needs and far less than a slow request.
const FUEL: u64 = 200_000;

/// A compiled mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    env: Environment<'static>,
    /// Template names in `env`, in the order of [`MappingConfig`]'s fields.
    tags: usize,
    has: Has,
    importance: Option<MappingImportance>,
    skip_if: Option<String>,
}

/// Which optional templates the mapping has.
#[derive(Debug, Clone, Copy, Default)]
struct Has {
    actor: bool,
    url: bool,
    occurred_at: bool,
    idempotency_key: bool,
    kind: bool,
}

/// What a mapping made of one body: the event's fields, before the event's own checks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapped {
    pub content: String,
    pub tags: Vec<String>,
    pub importance: Option<f64>,
    pub actor: Option<String>,
    pub url: Option<String>,
    pub occurred_at: Option<OffsetDateTime>,
    pub idempotency_key: Option<String>,
    pub kind: Option<String>,
}

/// The result of applying a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Event(Box<Mapped>),
    /// `skip_if` was true.
    Skipped,
}

/// Why a mapping failed on a body: the field of the mapping and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping.{field}: {message}")]
pub struct MappingError {
    /// The field of the `mapping` block (`content`, `tags[1]`, `importance`).
    pub field: String,
    pub message: String,
}

impl MappingError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> MappingError {
        MappingError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A minijinja error as `line N: <what>`, without the template name (the field says it).
fn describe(err: &minijinja::Error) -> String {
    let what = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    match err.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_fuel(Some(FUEL));
    // Nothing is HTML: what a template renders is stored as written.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

impl Mapping {
    /// Compiles every template and expression of `config`.
    ///
    /// # Errors
    /// Every field that does not compile, paths relative to the mapping (`.content`,
    /// `.tags[1]`), messages starting with the line in the field.
    pub fn compile(config: &MappingConfig) -> Result<Mapping, Vec<Problem>> {
        let mut env = environment();
        let mut problems = Vec::new();
        let add = |env: &mut Environment<'static>,
                   problems: &mut Vec<Problem>,
                   name: String,
                   source: &str| {
            if let Err(err) = env.add_template_owned(name.clone(), source.to_owned()) {
                problems.push(Problem::new(format!(".{name}"), describe(&err)));
            }
        };
        add(&mut env, &mut problems, "content".into(), &config.content);
        for (i, tag) in config.tags.iter().enumerate() {
            add(&mut env, &mut problems, format!("tags[{i}]"), tag);
        }
        let optional = [
            ("actor", &config.actor),
            ("url", &config.url),
            ("occurred_at", &config.occurred_at),
            ("idempotency_key", &config.idempotency_key),
            ("kind", &config.kind),
        ];
        for (name, source) in optional {
            if let Some(source) = source {
                add(&mut env, &mut problems, name.into(), source);
            }
        }
        let check_expression = |problems: &mut Vec<Problem>, field: &str, source: &str| {
            if source.trim().is_empty() {
                problems.push(Problem::new(format!(".{field}"), "must not be empty"));
            } else if let Err(err) = env.compile_expression(source) {
                problems.push(Problem::new(format!(".{field}"), describe(&err)));
            }
        };
        match &config.importance {
            Some(MappingImportance::Expression(source)) => {
                check_expression(&mut problems, "importance", source)
            }
            Some(MappingImportance::Fixed(value)) if !(0.0..=1.0).contains(value) => {
                problems.push(Problem::new(".importance", "must be within 0..=1"))
            }
            _ => {}
        }
        if let Some(source) = &config.skip_if {
            check_expression(&mut problems, "skip_if", source);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Mapping {
            env,
            tags: config.tags.len(),
            has: Has {
                actor: config.actor.is_some(),
                url: config.url.is_some(),
                occurred_at: config.occurred_at.is_some(),
                idempotency_key: config.idempotency_key.is_some(),
                kind: config.kind.is_some(),
            },
            importance: config.importance.clone(),
            skip_if: config.skip_if.clone(),
        })
    }

    /// Applies the mapping to `body`, with the request's `headers` (lowercase names).
    ///
    /// # Errors
    /// [`MappingError`] naming the field that failed on this body.
    pub fn apply(
        &self,
        body: &Value,
        headers: &Map<String, Value>,
    ) -> Result<Outcome, MappingError> {
        let ctx = minijinja::context! { body => Serde(body), headers => Serde(headers) };
        if let Some(source) = &self.skip_if {
            if self.eval("skip_if", source, &ctx)?.is_true() {
                return Ok(Outcome::Skipped);
            }
        }
        let content = self.render("content", &ctx)?;
        if crate::event::is_blank(&content) {
            return Err(MappingError::new("content", "rendered empty for this body"));
        }
        let mut tags = Vec::new();
        for i in 0..self.tags {
            let tag = self.render(&format!("tags[{i}]"), &ctx)?;
            let tag = tag.trim();
            if !tag.is_empty() {
                tags.push(tag.to_owned());
            }
        }
        let optional = |has: bool, name: &str| -> Result<Option<String>, MappingError> {
            if !has {
                return Ok(None);
            }
            let text = self.render(name, &ctx)?;
            let text = text.trim();
            Ok((!text.is_empty()).then(|| text.to_owned()))
        };
        let importance = match &self.importance {
            None => None,
            Some(MappingImportance::Fixed(value)) => Some(*value),
            Some(MappingImportance::Expression(source)) => {
                let value = self.eval("importance", source, &ctx)?;
                if value.is_none() || value.is_undefined() {
                    None
                } else {
                    let number = f64::try_from(value.clone()).map_err(|_| {
                        MappingError::new("importance", format!("{value:?} is not a number"))
                    })?;
                    if !(0.0..=1.0).contains(&number) {
                        return Err(MappingError::new(
                            "importance",
                            format!("{number} is not within 0..=1"),
                        ));
                    }
                    Some(number)
                }
            }
        };
        let occurred_at = optional(self.has.occurred_at, "occurred_at")?
            .map(|text| parse_time(&text))
            .transpose()?;
        Ok(Outcome::Event(Box::new(Mapped {
            content,
            tags,
            importance,
            actor: optional(self.has.actor, "actor")?,
            url: optional(self.has.url, "url")?,
            occurred_at,
            idempotency_key: optional(self.has.idempotency_key, "idempotency_key")?,
            kind: optional(self.has.kind, "kind")?,
        })))
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, MappingError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|err| MappingError::new(name, describe(&err)))?;
        template
            .render(ctx)
            .map_err(|err| MappingError::new(name, describe(&err)))
    }

    fn eval(
        &self,
        name: &str,
        source: &str,
        ctx: &minijinja::Value,
    ) -> Result<minijinja::Value, MappingError> {
        self.env
            .compile_expression(source)
            .and_then(|expression| expression.eval(ctx))
            .map_err(|err| MappingError::new(name, describe(&err)))
    }
}

/// RFC 3339 text or unix seconds (as Stripe, Slack and others send them).
fn parse_time(text: &str) -> Result<OffsetDateTime, MappingError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let seconds = text
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
        .ok_or_else(|| {
            MappingError::new(
                "occurred_at",
                format!("{text:?} is neither RFC 3339 nor unix seconds"),
            )
        })?;
    OffsetDateTime::from_unix_timestamp(seconds as i64)
        .map_err(|_| MappingError::new("occurred_at", format!("{text:?} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(yaml: &str) -> MappingConfig {
        yaml_serde::from_str(yaml).unwrap()
    }

    fn apply(yaml: &str, body: Value) -> Result<Outcome, MappingError> {
        Mapping::compile(&config(yaml))
            .unwrap()
            .apply(&body, &Map::new())
    }

    fn mapped(yaml: &str, body: Value) -> Mapped {
        match apply(yaml, body).unwrap() {
            Outcome::Event(mapped) => *mapped,
            Outcome::Skipped => panic!("skipped"),
        }
    }

    const JIRA: &str = r#"
content: "{{ body.user.displayName }} {{ body.webhookEvent | replace('jira:issue_', '') }} {{ body.issue.key }}: {{ body.issue.fields.summary }}"
tags: ["jira", "{{ body.issue.fields.priority.name | lower }}", "{{ body.missing }}"]
importance: "0.9 if body.issue.fields.priority.name == 'Highest' else 0.4"
actor: "{{ body.user.displayName }}"
url: "https://acme.atlassian.net/browse/{{ body.issue.key }}"
occurred_at: "{{ body.timestamp // 1000 }}"
idempotency_key: "{{ body.issue.id }}-{{ body.timestamp }}"
kind: "issue_{{ body.webhookEvent | replace('jira:issue_', '') }}"
skip_if: "body.issue.fields.project.key == 'SANDBOX'"
"#;

    fn jira(project: &str) -> Value {
        json!({
            "timestamp": 1_764_000_000_000u64,
            "webhookEvent": "jira:issue_created",
            "user": {"displayName": "Ana Lima"},
            "issue": {"id": "10002", "key": "OPS-7", "fields": {
                "summary": "Checkout fails for EU cards",
                "priority": {"name": "Highest"},
                "project": {"key": project}
            }}
        })
    }

    #[test]
    fn every_field_is_rendered_from_the_body() {
        let out = mapped(JIRA, jira("OPS"));
        assert_eq!(
            out.content,
            "Ana Lima created OPS-7: Checkout fails for EU cards"
        );
        assert_eq!(out.tags, ["jira", "highest"]);
        assert_eq!(out.importance, Some(0.9));
        assert_eq!(out.actor.as_deref(), Some("Ana Lima"));
        assert_eq!(
            out.url.as_deref(),
            Some("https://acme.atlassian.net/browse/OPS-7")
        );
        assert_eq!(
            out.occurred_at.map(|t| t.unix_timestamp()),
            Some(1_764_000_000)
        );
        assert_eq!(out.idempotency_key.as_deref(), Some("10002-1764000000000"));
        assert_eq!(out.kind.as_deref(), Some("issue_created"));
        assert_eq!(apply(JIRA, jira("SANDBOX")), Ok(Outcome::Skipped));
    }

    #[test]
    fn headers_are_available() {
        let mapping = Mapping::compile(&config("content: \"{{ headers['x-event'] }}\"")).unwrap();
        let mut headers = Map::new();
        headers.insert("x-event".into(), json!("build"));
        let Outcome::Event(out) = mapping.apply(&json!({}), &headers).unwrap() else {
            panic!("skipped")
        };
        assert_eq!(out.content, "build");
    }

    #[test]
    fn compile_errors_name_the_field_and_line() {
        let bad = config(
            "content: \"line one\\n{{ body.x \"\ntags: [\"ok\", \"{% if %}\"]\nimportance: \"1 +\"\nskip_if: \"\"\n",
        );
        let problems = Mapping::compile(&bad).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, [".content", ".tags[1]", ".importance", ".skip_if"]);
        assert!(
            problems[0].message.starts_with("line 2: syntax error"),
            "{problems:?}"
        );
        assert!(
            problems[1].message.starts_with("line 1: syntax error"),
            "{problems:?}"
        );
        let fixed = config("content: x\nimportance: 1.5\n");
        assert_eq!(Mapping::compile(&fixed).unwrap_err()[0].path, ".importance");
    }

    #[test]
    fn runtime_failures_name_the_field() {
        let err = apply("content: \"{{ body.a.b.c }}\"", json!({})).unwrap_err();
        assert_eq!(err.field, "content");
        assert!(err.message.contains("undefined"), "{err}");
        let err = apply("content: \"{{ body.a }}\"", json!({})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mapping.content: rendered empty for this body"
        );
        let err = apply("content: x\nimportance: \"body.p\"", json!({"p": "high"})).unwrap_err();
        assert_eq!(err.field, "importance");
        let err = apply("content: x\nimportance: \"body.p\"", json!({"p": 7})).unwrap_err();
        assert!(err.message.contains("0..=1"), "{err}");
        let err = apply(
            "content: x\noccurred_at: \"{{ body.t }}\"",
            json!({"t": "soon"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "occurred_at");
        assert_eq!(
            mapped(
                "content: x\noccurred_at: \"{{ body.t }}\"",
                json!({"t": "2025-01-02T03:04:05Z"})
            )
            .occurred_at
            .map(|t| t.year()),
            Some(2025)
        );
    }

    /// The cookbook's mappings (docs/mappings.md) load and compile as written.
    #[test]
    fn the_cookbook_compiles() {
        #[derive(serde::Deserialize)]
        struct Block {
            mapping: MappingConfig,
        }
        let docs = include_str!("../../docs/mappings.md");
        let blocks: Vec<&str> = docs
            .split("```yaml\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .filter(|block| block.starts_with("mapping:"))
            .collect();
        assert_eq!(blocks.len(), 3);
        for block in blocks {
            let parsed: Block = yaml_serde::from_str(block).unwrap();
            assert!(Mapping::compile(&parsed.mapping).is_ok(), "{block}");
        }
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let err = apply(
            "content: \"{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}\"",
            json!({}),
        )
        .unwrap_err();
        assert_eq!(err.field, "content");
        assert!(err.message.contains("fuel"), "{err}");
    }
}
