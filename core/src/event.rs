//! The normalized event `event.v1` (DESIGN §4) that every producer publishes and every consumer
//! reads, with its validation and limits.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// Sources of events, a closed set (DESIGN §3).
pub const SOURCES: &[&str] = &["webhook", "api", "github", "slack", "email", "git", "mcp"];

/// Memory layers RAE knows.
pub const LAYERS: &[&str] = &["episodic", "working", "semantic", "ltm", "reflective"];

/// Namespace for ids derived from provider ids (UUIDv5), so redelivered input gets the same id.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_5b0e_5a43_4c7e_9a57_8d1b_2c3e_4f50);

/// One normalized event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUIDv7, or a UUIDv5 derived from a provider id (stable across redelivery).
    pub id: String,
    /// RAE tenant id (UUID) or an alias from the `tenants` config section.
    pub tenant: String,
    /// RAE project the memory belongs to.
    pub project: String,
    /// One of [`SOURCES`].
    pub source: String,
    /// Id of the integration that produced the event.
    pub integration: String,
    /// What happened inside the source (`note`, `commit`, `pull_request_opened`, ...).
    pub kind: String,
    /// The memory text.
    pub content: String,
    /// 0.0..=1.0; the enricher fills it when absent.
    pub importance: Option<f64>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub layer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Source-specific facts, small.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// Set by the enricher: which rules applied and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<Enrichment>,
}

/// Why an enriched event got its importance and tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub rules: Vec<String>,
    pub reasons: Vec<String>,
}

/// Size limits of an event, from config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_content_bytes: usize,
    pub max_tags: usize,
    pub max_tag_chars: usize,
    pub max_attributes_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content_bytes: 64 * 1024,
            max_tags: 32,
            max_tag_chars: 64,
            max_attributes_bytes: 16 * 1024,
        }
    }
}

/// A field of an event that breaks the schema or a limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    /// The field's name as the sender wrote it (`content`, `tags[3]`, ...).
    pub field: String,
    pub message: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A new time-ordered event id (UUIDv7).
pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// A stable event id derived from a provider's own id, so a redelivery maps to the same event.
pub fn derived_id(integration: &str, provider_id: &str) -> String {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{integration}\n{provider_id}").as_bytes(),
    )
    .to_string()
}

impl Event {
    /// Checks the schema rules and limits, naming the first offending field.
    ///
    /// # Errors
    /// [`InvalidField`] for an empty or oversized content, an importance outside 0..=1, too many
    /// or too long tags, an unknown source or layer, or oversized attributes.
    pub fn validate(&self, limits: &Limits) -> Result<(), InvalidField> {
        if self.id.is_empty() || self.id.len() > 128 {
            return Err(InvalidField::new("id", "must be 1 to 128 characters"));
        }
        if self.tenant.trim().is_empty() || self.tenant.len() > 128 {
            return Err(InvalidField::new("tenant", "must be 1 to 128 characters"));
        }
        if self.project.trim().is_empty() || self.project.len() > 256 {
            return Err(InvalidField::new("project", "must be 1 to 256 characters"));
        }
        if !SOURCES.contains(&self.source.as_str()) {
            return Err(InvalidField::new(
                "source",
                format!("must be one of {}", SOURCES.join(", ")),
            ));
        }
        if self.kind.is_empty() || self.kind.len() > 64 {
            return Err(InvalidField::new("kind", "must be 1 to 64 characters"));
        }
        validate_content(&self.content, limits)?;
        if let Some(importance) = self.importance {
            validate_importance(importance)?;
        }
        validate_tags(&self.tags, limits)?;
        validate_layer(&self.layer)?;
        let attributes_len = serde_json::to_vec(&self.attributes).map_or(0, |v| v.len());
        if attributes_len > limits.max_attributes_bytes {
            return Err(InvalidField::new(
                "metadata",
                format!(
                    "must be at most {} bytes as JSON",
                    limits.max_attributes_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The event as JSON bytes, the payload of its NATS message.
    pub fn to_payload(&self) -> Vec<u8> {
        // Serializing this struct cannot fail: every map key is a string.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Content must be non-blank and within the byte limit.
///
/// # Errors
/// [`InvalidField`] on `content`.
pub fn validate_content(content: &str, limits: &Limits) -> Result<(), InvalidField> {
    if content.trim().is_empty() {
        return Err(InvalidField::new("content", "must not be empty"));
    }
    if content.len() > limits.max_content_bytes {
        return Err(InvalidField::new(
            "content",
            format!("must be at most {} bytes", limits.max_content_bytes),
        ));
    }
    Ok(())
}

/// Importance must be a finite number in 0..=1.
///
/// # Errors
/// [`InvalidField`] on `importance`.
pub fn validate_importance(importance: f64) -> Result<(), InvalidField> {
    if !(0.0..=1.0).contains(&importance) {
        return Err(InvalidField::new("importance", "must be between 0 and 1"));
    }
    Ok(())
}

/// At most `max_tags` non-empty tags of at most `max_tag_chars` characters.
///
/// # Errors
/// [`InvalidField`] on `tags` or `tags[i]`.
pub fn validate_tags(tags: &[String], limits: &Limits) -> Result<(), InvalidField> {
    if tags.len() > limits.max_tags {
        return Err(InvalidField::new(
            "tags",
            format!("must have at most {} tags", limits.max_tags),
        ));
    }
    for (i, tag) in tags.iter().enumerate() {
        if tag.trim().is_empty() || tag.chars().count() > limits.max_tag_chars {
            return Err(InvalidField::new(
                format!("tags[{i}]"),
                format!("must be 1 to {} characters", limits.max_tag_chars),
            ));
        }
    }
    Ok(())
}

/// The layer must be one RAE knows.
///
/// # Errors
/// [`InvalidField`] on `layer`.
pub fn validate_layer(layer: &str) -> Result<(), InvalidField> {
    if !LAYERS.contains(&layer) {
        return Err(InvalidField::new(
            "layer",
            format!("must be one of {}", LAYERS.join(", ")),
        ));
    }
    Ok(())
}

/// Adds `tag` unless an equal tag (ignoring case) is present or the limit is reached.
pub fn push_tag(tags: &mut Vec<String>, tag: &str, limits: &Limits) {
    let tag = tag.trim();
    if tag.is_empty()
        || tag.chars().count() > limits.max_tag_chars
        || tags.len() >= limits.max_tags
        || tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    {
        return;
    }
    tags.push(tag.to_owned());
}

#[doc(hidden)]
pub fn sample() -> Event {
    let now = OffsetDateTime::now_utc();
    Event {
        id: new_id(),
        tenant: "default-tenant".into(),
        project: "default".into(),
        source: "webhook".into(),
        integration: "memory".into(),
        kind: "note".into(),
        content: "Team decided to use PostgreSQL".into(),
        importance: None,
        tags: vec![],
        layer: "episodic".into(),
        occurred_at: now,
        received_at: now,
        actor: None,
        url: None,
        attributes: Map::new(),
        enrichment: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_event_is_valid_and_round_trips() {
        let event = sample();
        event.validate(&Limits::default()).unwrap();
        let back: Event = serde_json::from_slice(&event.to_payload()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn each_limit_names_its_field() {
        let limits = Limits::default();
        let check = |f: &dyn Fn(&mut Event)| {
            let mut e = sample();
            f(&mut e);
            e.validate(&limits).unwrap_err().field
        };
        assert_eq!(check(&|e| e.content = "  ".into()), "content");
        assert_eq!(check(&|e| e.content = "x".repeat(64 * 1024 + 1)), "content");
        assert_eq!(check(&|e| e.importance = Some(1.5)), "importance");
        assert_eq!(check(&|e| e.importance = Some(f64::NAN)), "importance");
        assert_eq!(check(&|e| e.tags = vec!["a".into(); 33]), "tags");
        assert_eq!(
            check(&|e| e.tags = vec!["ok".into(), "x".repeat(65)]),
            "tags[1]"
        );
        assert_eq!(check(&|e| e.source = "fax".into()), "source");
        assert_eq!(check(&|e| e.layer = "deep".into()), "layer");
    }

    #[test]
    fn derived_ids_are_stable_and_distinct_per_integration() {
        assert_eq!(derived_id("memory", "k1"), derived_id("memory", "k1"));
        assert_ne!(derived_id("memory", "k1"), derived_id("other", "k1"));
    }

    #[test]
    fn push_tag_dedupes_ignoring_case() {
        let mut tags = vec!["Decision".to_owned()];
        push_tag(&mut tags, "decision", &Limits::default());
        push_tag(&mut tags, "db", &Limits::default());
        assert_eq!(tags, ["Decision", "db"]);
    }
}
