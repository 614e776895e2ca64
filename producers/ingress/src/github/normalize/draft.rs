//! Assembles one [`Memory`] from a family's [`Draft`]: the parts every memory of a delivery
//! shares ([`Context`]: sender, repository, organization), the tags and attributes in their
//! limits, and the helpers that write content lines and attributes.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use rae_core::event::{push_tag, Limits};
use rae_core::text::{clip_bytes, clip_chars};

use super::fields::text;
use super::{Memory, Outcome, ATTRIBUTE_CHARS, BODY_CHARS, LINE_CHARS};

/// What every memory of one delivery shares.
pub(super) struct Context<'v> {
    pub(super) payload: &'v Value,
    pub(super) limits: &'v Limits,
    pub(super) actor: Option<&'v str>,
    pub(super) repository: Option<&'v str>,
    pub(super) organization: Option<&'v str>,
}

impl<'v> Context<'v> {
    pub(super) fn new(payload: &'v Value, limits: &'v Limits) -> Self {
        Context {
            payload,
            limits,
            actor: text(payload, &["sender", "login"]),
            repository: text(payload, &["repository", "full_name"]),
            organization: text(payload, &["organization", "login"])
                .or_else(|| text(payload, &["repository", "owner", "login"])),
        }
    }

    /// ` in owner/repo`, or nothing when the repository is unknown.
    pub(super) fn in_repo(&self) -> String {
        self.repository
            .map(|r| format!(" in {}", clip_chars(r, LINE_CHARS)))
            .unwrap_or_default()
    }

    /// The sender's login, or `someone`.
    pub(super) fn who(&self) -> &'v str {
        self.actor.unwrap_or("someone")
    }

    /// The key of an item and its state in this repository: `owner/repo <what>`, lowercased
    /// repository, or `None` when the repository is unknown.
    pub(super) fn key(&self, what: impl std::fmt::Display) -> Option<String> {
        self.repository
            .map(|r| format!("{} {what}", r.to_ascii_lowercase()))
    }

    /// The item of an issue's or a PR's own text (its opening and each edit of its title or
    /// description): an edit forgets the memories of this item before its own is stored, so
    /// RAE keeps the text as it is now, not every version of it.
    pub(super) fn text_item(&self, what: impl std::fmt::Display) -> Option<String> {
        self.key(format_args!("{what} text"))
            .map(|key| format!("github {key}"))
    }

    pub(super) fn finish(&self, draft: Draft) -> Outcome {
        let limits = self.limits;
        let mut tags = Vec::new();
        for tag in ["github", draft.kind_tag]
            .into_iter()
            .chain(draft.tags.iter().map(String::as_str))
        {
            push_tag(&mut tags, tag, limits);
        }
        let mut attributes = Map::new();
        if let Some(repository) = self.repository {
            attributes.insert("repository".into(), short(repository));
        }
        attributes.extend(draft.attributes);
        // The conversation's readable name (RAE's human_label): the or PR's title.
        if let (Some(repo), Some(number)) = (
            self.repository,
            attributes.get("number").and_then(Value::as_u64),
        ) {
            let title = ["issue", "pull_request"]
                .iter()
                .find_map(|item| self.payload.get(*item)?.get("title")?.as_str())
                .map(|t| clip_chars(t.lines().next().unwrap_or("").trim(), 200).into_owned())
                .filter(|t| !t.is_empty());
            let label = match title {
                Some(title) => format!("{repo}#{number}: {title}"),
                None => format!("{repo}#{number}"),
            };
            attributes.insert(rae_core::event::HUMAN_LABEL.into(), label.into());
        }
        fit_attributes(&mut attributes, limits.max_attributes_bytes / 2);
        Outcome::Memory(Memory {
            kind: draft.kind.to_owned(),
            content: clip_bytes(&draft.content.replace('\r', ""), limits.max_content_bytes)
                .into_owned(),
            actor: self.actor.map(str::to_owned),
            url: draft.url.map(str::to_owned),
            repository: self.repository.map(str::to_owned),
            organization: self.organization.map(str::to_owned),
            tags,
            attributes,
            occurred_at: draft.occurred_at,
            key: draft.key,
        })
    }
}

/// One memory before the limits are applied.
pub(super) struct Draft<'v> {
    pub(super) kind: &'static str,
    pub(super) kind_tag: &'static str,
    pub(super) content: String,
    pub(super) url: Option<&'v str>,
    pub(super) occurred_at: Option<OffsetDateTime>,
    /// Tags after `github` and the kind tag: state tags, then labels.
    pub(super) tags: Vec<String>,
    pub(super) attributes: Map<String, Value>,
    /// [`Memory::key`].
    pub(super) key: Option<String>,
}

/// Appends `Labels: a, b.` when there are labels.
pub(super) fn push_labels_line(content: &mut String, labels: &[String]) {
    if !labels.is_empty() {
        content.push_str(&format!("\nLabels: {}.", labels.join(", ")));
    }
}

/// Appends a blank line and the cleaned, cut `body` when it has text.
pub(super) fn push_body(content: &mut String, body: Option<&str>) {
    let Some(body) = body else { return };
    let cleaned = body.replace("\r\n", "\n").replace('\r', "");
    let cleaned = cleaned.trim();
    if !cleaned.is_empty() {
        content.push_str("\n\n");
        content.push_str(&clip_chars(cleaned, BODY_CHARS));
    }
}

/// A string attribute, cut to [`ATTRIBUTE_CHARS`].
pub(super) fn short(s: &str) -> Value {
    Value::String(clip_chars(s, ATTRIBUTE_CHARS).into_owned())
}

pub(super) fn put_text(attributes: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        attributes.insert(key.to_owned(), short(value));
    }
}

pub(super) fn put_labels(attributes: &mut Map<String, Value>, labels: &[String]) {
    if !labels.is_empty() {
        let labels = labels.iter().map(|l| short(l)).collect();
        attributes.insert("labels".into(), Value::Array(labels));
    }
}

/// Drops the largest attributes until the map is at most `max_bytes` as JSON.
pub(super) fn fit_attributes(attributes: &mut Map<String, Value>, max_bytes: usize) {
    let size = |v: &Value| serde_json::to_vec(v).map_or(0, |b| b.len());
    while !attributes.is_empty()
        && serde_json::to_vec(&*attributes).map_or(0, |b| b.len()) > max_bytes
    {
        let largest = attributes
            .iter()
            .max_by_key(|(k, v)| k.len() + size(v))
            .map(|(k, _)| k.clone());
        match largest {
            Some(key) => {
                attributes.remove(&key);
            }
            None => break,
        }
    }
}
