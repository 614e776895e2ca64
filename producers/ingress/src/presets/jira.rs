//! Jira Cloud admin webhooks (*Settings → System → WebHooks*) saved with a secret: Jira then
//! sends `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with that secret
//! (the WebSub `method=signature` form). `X-Atlassian-Webhook-Identifier` is the delivery id,
//! the same across Jira's retries (`X-Atlassian-Webhook-Retry` counts them), so a retry is
//! stored once. A webhook without a secret sends no signature and is refused.
//!
//! Events by `webhookEvent`: `jira:issue_created`, `jira:issue_updated` (what changed, from
//! `changelog.items`: a `status` item is a transition "moved OPS-7 from To Do to In Progress",
//! the assignee, the priority, the resolution, the summary; an update that changes nothing of
//! that, such as a rank or a description edit, is ignored), `jira:issue_deleted`,
//! `comment_created` and `comment_updated` (their text, whether a plain or wiki string or an
//! Atlassian Document Format object). Other events (sprints, worklogs, projects...) are
//! acknowledged and ignored. Jira also announces a comment as a `jira:issue_updated` of type
//! `issue_commented`: it makes the same memory with the same key as the `comment_created`, so a
//! webhook sending both stores the comment once. Every memory of one issue shares the
//! `session_id` `jira:<issue key>`; a resolution records how long the issue was open.

use axum::http::HeaderMap;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{
    check_body_hmac, delivery_id, forgetting_session, human_duration, text, Delivery, Memory,
    Normalized,
};
use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::event::{InvalidField, SESSION_ID};
use rae_core::forget;
use rae_core::signature;
use rae_core::text::clip_chars;

pub const SIGNATURE_HEADER: &str = "x-hub-signature";
pub const DELIVERY_HEADER: &str = "x-atlassian-webhook-identifier";

/// Most characters of a description or a comment copied into a memory.
const BODY_CHARS: usize = 1000;
/// Most characters of a summary.
const TITLE_CHARS: usize = 300;
/// Most characters of a name (a person, a project, a status, an issue key).
const NAME_CHARS: usize = 64;
/// Most characters of an id.
const ID_CHARS: usize = 64;
/// Most characters of the site's base URL.
const SITE_CHARS: usize = 200;
/// Most changelog items read.
const MAX_ITEMS: usize = 50;
/// Most labels kept as tags.
const MAX_LABELS: usize = 10;
/// Deepest Atlassian Document Format nesting read.
const ADF_MAX_DEPTH: usize = 32;
/// Most Atlassian Document Format nodes read.
const ADF_MAX_NODES: usize = 5000;

/// Checks a Jira delivery's `X-Hub-Signature`.
///
/// # Errors
/// The message for the 401.
pub fn verify<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
    secrets: &[Secret],
    _now: i64,
    _tolerance_secs: u64,
) -> Result<Delivery<'b>, String> {
    check_body_hmac(
        headers,
        body,
        secrets,
        "X-Hub-Signature",
        "sha256=",
        " (give the Jira webhook a secret)",
    )?;
    Ok(Delivery {
        body: Verified::new(body),
        id: delivery_id(headers, &[DELIVERY_HEADER]),
    })
}

/// `sha256=<hex>`: what Jira sends in `X-Hub-Signature`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    signature::sign_hex("sha256=", secret, &[body])
}

/// The issue a delivery is about.
struct Issue {
    id: Option<String>,
    /// `OPS-7`, else `issue <id>`.
    name: String,
    summary: Option<String>,
    /// `(Bug, Highest)`.
    details: String,
    /// ` in Operations`.
    in_project: String,
    url: Option<String>,
    attributes: Map<String, Value>,
    tags: Vec<String>,
}

impl Issue {
    fn of(issue: &Value) -> Result<Issue, InvalidField> {
        let id = issue
            .get("id")
            .and_then(|id| {
                id.as_str()
                    .map(str::to_owned)
                    .or_else(|| id.as_u64().map(|n| n.to_string()))
            })
            .map(|id| clip_chars(id.trim(), ID_CHARS).into_owned())
            .filter(|id| !id.is_empty());
        let key = text(issue, "/key").map(name_of);
        let name = match (&key, &id) {
            (Some(key), _) => key.clone(),
            (None, Some(id)) => format!("issue {id}"),
            (None, None) => return Err(InvalidField::new("issue.key", "missing, and no issue.id")),
        };
        let fields = issue.get("fields").unwrap_or(&Value::Null);
        let issue_type = name_at(fields, "issuetype");
        let priority = name_at(fields, "priority");
        let project = name_at(fields, "project");
        let details: Vec<&str> = [issue_type.as_deref(), priority.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let details = if details.is_empty() {
            String::new()
        } else {
            format!(" ({})", details.join(", "))
        };
        let labels = labels_of(fields);
        let session = format!("jira:{}", key.as_deref().or(id.as_deref()).unwrap_or(""));

        let mut attributes = Map::new();
        attributes.insert(SESSION_ID.into(), json!(session));
        put(&mut attributes, "issue_id", id.clone());
        put(&mut attributes, "issue_key", key.clone());
        put(&mut attributes, "issue_type", issue_type.clone());
        put(&mut attributes, "priority", priority.clone());
        put(&mut attributes, "project", project.clone());
        put(
            &mut attributes,
            "project_key",
            text(fields, "/project/key").map(name_of),
        );
        put(&mut attributes, "status", name_at(fields, "status"));
        put(
            &mut attributes,
            "assignee",
            text(fields, "/assignee/displayName").map(name_of),
        );
        if !labels.is_empty() {
            attributes.insert("labels".into(), json!(labels));
        }
        let mut tags = Vec::new();
        tags.extend(issue_type.map(|t| t.to_lowercase()));
        tags.extend(priority.map(|p| format!("priority-{}", p.to_lowercase())));
        tags.extend(labels);
        Ok(Issue {
            url: key.as_deref().and_then(|key| browse_url(issue, key)),
            id,
            name,
            summary: text(fields, "/summary").map(title_of),
            details,
            in_project: project.map(|p| format!(" in {p}")).unwrap_or_default(),
            attributes,
            tags,
        })
    }

    /// `OPS-7: Checkout fails for EU cards` after `content`.
    fn push_summary(&self, content: &mut String) {
        if let Some(summary) = &self.summary {
            content.push_str(": ");
            content.push_str(summary);
        }
    }
}

/// What one delivery shares with its memories.
struct Context<'v> {
    payload: &'v Value,
    event: &'v str,
    /// Who did it (`user.displayName`), or `Someone`.
    who: String,
    occurred_at: Option<OffsetDateTime>,
}

/// The memories of one Jira webhook, or why it is ignored.
///
/// # Errors
/// [`InvalidField`] when the body lacks `webhookEvent`, or a handled event lacks its `issue`
/// (or a comment event its `comment`).
pub fn normalize(payload: &Value) -> Result<Normalized, InvalidField> {
    let event = text(payload, "/webhookEvent")
        .ok_or_else(|| InvalidField::new("webhookEvent", "missing: not a Jira webhook"))?;
    let handled = [
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
    ];
    if !handled.contains(&event) {
        return Ok(Normalized::Ignored(format!(
            "Jira event {} is not stored",
            clip_chars(event, NAME_CHARS)
        )));
    }
    let issue = payload
        .get("issue")
        .filter(|i| i.is_object())
        .ok_or_else(|| InvalidField::new("issue", "missing or not an object"))?;
    let issue = Issue::of(issue)?;
    let ctx = Context {
        payload,
        event,
        who: text(payload, "/user/displayName").map_or_else(|| "Someone".to_owned(), name_of),
        occurred_at: payload
            .get("timestamp")
            .and_then(Value::as_i64)
            .and_then(|ms| {
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
            }),
    };
    match event {
        "jira:issue_created" => Ok(created(&ctx, issue)),
        "jira:issue_deleted" => Ok(deleted(&ctx, issue)),
        "jira:issue_updated" => updated(&ctx, issue),
        _ => {
            let comment = payload
                .get("comment")
                .filter(|c| c.is_object())
                .ok_or_else(|| InvalidField::new("comment", "missing or not an object"))?;
            let edited = event == "comment_updated";
            Ok(Normalized::Memories(vec![comment_memory(
                &ctx, &issue, comment, edited,
            )]))
        }
    }
}

fn created(ctx: &Context<'_>, issue: Issue) -> Normalized {
    let mut content = format!(
        "{} created {}{}{}",
        ctx.who, issue.name, issue.details, issue.in_project
    );
    issue.push_summary(&mut content);
    if let Some(labels) = issue.attributes.get("labels").and_then(Value::as_array) {
        let labels: Vec<&str> = labels.iter().filter_map(Value::as_str).collect();
        content.push_str(&format!("\nLabels: {}.", labels.join(", ")));
    }
    let fields = ctx.payload.pointer("/issue/fields").unwrap_or(&Value::Null);
    push_body(
        &mut content,
        fields.get("description").map(text_of).as_deref(),
    );
    let key = match &issue.id {
        Some(id) => format!("issue:{id}:created"),
        None => String::new(),
    };
    let mut tags = vec!["issue".to_owned()];
    tags.extend(issue.tags.iter().cloned());
    Normalized::Memories(vec![memory(
        ctx,
        &issue,
        "jira_issue_created",
        key,
        content,
        tags,
    )])
}

fn deleted(ctx: &Context<'_>, issue: Issue) -> Normalized {
    let mut content = format!(
        "{} deleted {}{}{}",
        ctx.who, issue.name, issue.details, issue.in_project
    );
    issue.push_summary(&mut content);
    let key = match &issue.id {
        Some(id) => format!("issue:{id}:deleted"),
        None => String::new(),
    };
    let mut tags = vec!["issue".to_owned()];
    tags.extend(issue.tags.iter().cloned());
    // Deleted at the source: its memories are forgotten.
    Normalized::Memories(vec![forgetting_session(memory(
        ctx,
        &issue,
        "jira_issue_deleted",
        key,
        content,
        tags,
    ))])
}

/// One changelog item: `(from, to)` display strings.
type Change<'v> = (Option<&'v str>, Option<&'v str>);

fn updated(ctx: &Context<'_>, mut issue: Issue) -> Result<Normalized, InvalidField> {
    let items: Vec<&Value> = ctx
        .payload
        .pointer("/changelog/items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_ITEMS)
        .collect();
    let change = |field: &str| -> Option<Change<'_>> {
        items
            .iter()
            .find(|item| {
                text(item, "/field").is_some_and(|f| f.eq_ignore_ascii_case(field))
                    || text(item, "/fieldId") == Some(field)
            })
            .map(|item| (text(item, "/fromString"), text(item, "/toString")))
    };
    let mut memories = Vec::new();
    let fields = ctx.payload.pointer("/issue/fields").unwrap_or(&Value::Null);

    let mut changes: Vec<(String, String)> = Vec::new();
    let status = change("status");
    let resolution = change("resolution");
    let done = text(fields, "/status/statusCategory/key") == Some("done");
    let resolved = (status.is_some() && done) || resolution.is_some_and(|(_, to)| to.is_some());
    let mut open_for = None;
    if resolved {
        let opened = fields.get("created").and_then(jira_time);
        let closed = fields
            .get("resolutiondate")
            .and_then(jira_time)
            .or(ctx.occurred_at);
        open_for = opened
            .zip(closed)
            .map(|(opened, closed)| closed - opened)
            .filter(|d| !d.is_negative());
    }
    let after = open_for
        .map(|d| format!(" after {}", human_duration(d)))
        .unwrap_or_default();
    if let Some((from, to)) = status {
        let to = to.map_or_else(|| "another status".to_owned(), name_of);
        let from = from
            .map(|f| format!(" from {}", name_of(f)))
            .unwrap_or_default();
        changes.push(("moved".into(), format!("{from} to {to}{after}")));
    }
    if let Some((_, to)) = resolution {
        let same_as_status = status.and_then(|(_, s)| s).is_some_and(|s| Some(s) == to);
        match to {
            Some(_) if same_as_status => {}
            Some(to) if status.is_some() => {
                changes.push(("resolved".into(), format!(" as {}", name_of(to))))
            }
            Some(to) => changes.push(("resolved".into(), format!(" as {}{after}", name_of(to)))),
            None => changes.push(("cleared the resolution of".into(), String::new())),
        }
    }
    if let Some((_, to)) = change("assignee") {
        changes.push(match to {
            Some(to) => ("assigned".into(), format!(" to {}", name_of(to))),
            None => ("unassigned".into(), String::new()),
        });
    }
    if let Some((from, to)) = change("priority") {
        let to = to.map_or_else(|| "none".to_owned(), name_of);
        let from = from
            .map(|f| format!(" from {}", name_of(f)))
            .unwrap_or_default();
        changes.push(("changed the priority of".into(), format!("{from} to {to}")));
    }
    if let Some((Some(from), _)) = change("summary") {
        changes.push(("renamed".into(), format!(" (was \"{}\")", title_of(from))));
    }
    if !changes.is_empty() {
        let mut content = format!("{} {}", ctx.who, sentence(&changes, &issue.name));
        issue.push_summary(&mut content);
        if let Some(open_for) = open_for {
            issue
                .attributes
                .insert("duration_secs".into(), json!(open_for.whole_seconds()));
        }
        let changed: Vec<String> = items
            .iter()
            .filter_map(|item| text(item, "/field"))
            .take(MAX_LABELS)
            .map(name_of)
            .collect();
        issue.attributes.insert("changed".into(), json!(changed));
        let key = changelog_id(ctx.payload)
            .map(|id| format!("changelog:{id}"))
            .unwrap_or_default();
        let kind = if resolved {
            "jira_issue_resolved"
        } else {
            "jira_issue_updated"
        };
        let mut tags = vec!["issue".to_owned()];
        tags.extend(issue.tags.iter().cloned());
        memories.push(memory(ctx, &issue, kind, key, content, tags));
    }
    // A comment announced as an issue update: the same memory as its comment event.
    let event_type = text(ctx.payload, "/issue_event_type_name");
    if let (Some(comment), Some("issue_commented" | "issue_comment_edited")) = (
        ctx.payload.get("comment").filter(|c| c.is_object()),
        event_type,
    ) {
        let edited = event_type == Some("issue_comment_edited");
        memories.push(comment_memory(ctx, &issue, comment, edited));
    }
    if memories.is_empty() {
        let fields: Vec<String> = items
            .iter()
            .filter_map(|item| text(item, "/field"))
            .take(MAX_LABELS)
            .map(name_of)
            .collect();
        return Ok(Normalized::Ignored(format!(
            "Jira issue update changed nothing worth remembering ({})",
            if fields.is_empty() {
                "no changelog".to_owned()
            } else {
                fields.join(", ")
            }
        )));
    }
    Ok(Normalized::Memories(memories))
}

/// A comment created or edited, from a comment event or an issue update announcing it.
fn comment_memory(ctx: &Context<'_>, issue: &Issue, comment: &Value, edited: bool) -> Memory {
    let id = comment
        .get("id")
        .and_then(|id| {
            id.as_str()
                .map(str::to_owned)
                .or_else(|| id.as_u64().map(|n| n.to_string()))
        })
        .map(|id| clip_chars(id.trim(), ID_CHARS).into_owned())
        .filter(|id| !id.is_empty());
    let author = if edited {
        text(comment, "/updateAuthor/displayName").or_else(|| text(comment, "/author/displayName"))
    } else {
        text(comment, "/author/displayName")
    }
    .map_or_else(|| ctx.who.clone(), name_of);
    let mut content = if edited {
        format!("{author} edited a comment on {}", issue.name)
    } else {
        format!("{author} commented on {}", issue.name)
    };
    issue.push_summary(&mut content);
    push_body(&mut content, comment.get("body").map(text_of).as_deref());
    let key = match (&id, edited) {
        (Some(id), false) => format!("comment:{id}:created"),
        (Some(id), true) => format!(
            "comment:{id}:updated:{}",
            text(comment, "/updated").map(name_of).unwrap_or_default()
        ),
        (None, _) => String::new(),
    };
    let mut attributes = issue.attributes.clone();
    if let Some(id) = &id {
        // An edited comment replaces the memory of every earlier version of it.
        forget::mark_version(&mut attributes, &format!("jira comment {id}"), edited);
    }
    put(&mut attributes, "comment_id", id.clone());
    attributes.insert("event_type".into(), json!(ctx.event));
    let url = match (&issue.url, &id) {
        (Some(url), Some(id)) => Some(format!("{url}?focusedCommentId={id}")),
        (url, _) => url.clone(),
    };
    Memory {
        key,
        kind: if edited {
            "jira_comment_updated"
        } else {
            "jira_comment_created"
        }
        .to_owned(),
        content,
        tags: vec!["comment".into()],
        actor: Some(author),
        url,
        occurred_at: ctx.occurred_at,
        attributes,
    }
}

fn memory(
    ctx: &Context<'_>,
    issue: &Issue,
    kind: &str,
    key: String,
    content: String,
    tags: Vec<String>,
) -> Memory {
    let mut attributes = issue.attributes.clone();
    attributes.insert("event_type".into(), json!(ctx.event));
    Memory {
        key,
        kind: kind.to_owned(),
        content,
        tags,
        actor: text(ctx.payload, "/user/displayName").map(name_of),
        url: issue.url.clone(),
        occurred_at: ctx.occurred_at,
        attributes,
    }
}

/// `moved OPS-7 from To Do to Done, assigned it to Bo and ...`: the first change names the
/// subject, the others say `it`.
fn sentence(changes: &[(String, String)], subject: &str) -> String {
    let phrases: Vec<String> = changes
        .iter()
        .enumerate()
        .map(|(i, (verb, after))| {
            let subject = if i == 0 { subject } else { "it" };
            format!("{verb} {subject}{after}")
        })
        .collect();
    match phrases.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The changelog's id (a string or a number).
fn changelog_id(payload: &Value) -> Option<String> {
    let id = payload.pointer("/changelog/id")?;
    let id = id
        .as_str()
        .map(str::to_owned)
        .or_else(|| id.as_u64().map(|n| n.to_string()))?;
    let id = clip_chars(id.trim(), ID_CHARS).into_owned();
    (!id.is_empty()).then_some(id)
}

/// `<site>/browse/<key>`, the site taken from the issue's REST `self` URL.
fn browse_url(issue: &Value, key: &str) -> Option<String> {
    let self_url = text(issue, "/self")?;
    let (site, _) = self_url.split_once("/rest/")?;
    let web = site.starts_with("https://") || site.starts_with("http://");
    (web && site.len() <= SITE_CHARS && !site.contains(char::is_whitespace))
        .then(|| format!("{site}/browse/{key}"))
}

/// The `name` of an object field (`priority: {name: "Highest"}`), or the field itself when it
/// is a string (older payloads).
fn name_at(fields: &Value, field: &str) -> Option<String> {
    let value = fields.get(field)?;
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or_else(|| text(value, "/name"))
        .map(name_of)
}

/// The issue's labels that can be tags.
fn labels_of(fields: &Value) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for label in fields
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if names.len() >= MAX_LABELS {
            break;
        }
        if let Some(name) = label
            .as_str()
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.chars().count() <= NAME_CHARS)
        {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// A Jira time: `2025-11-24T14:03:12.511+0000` (or RFC 3339).
fn jira_time(value: &Value) -> Option<OffsetDateTime> {
    let text = value.as_str()?.trim();
    let jira = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, jira))
        .ok()
}

/// The text of a description or a comment body: a string as it is, an Atlassian Document
/// Format object as its text (paragraphs on their own lines, list items with `- `).
fn text_of(body: &Value) -> String {
    match body {
        Value::String(s) => s.clone(),
        Value::Object(_) => {
            let mut out = String::new();
            let mut budget = ADF_MAX_NODES;
            adf(body, 0, &mut out, &mut budget);
            out
        }
        _ => String::new(),
    }
}

/// Appends the text of one ADF node and its children, within the depth, node and size limits.
fn adf(node: &Value, depth: usize, out: &mut String, budget: &mut usize) {
    if depth > ADF_MAX_DEPTH || *budget == 0 || out.len() > BODY_CHARS * 4 {
        return;
    }
    *budget -= 1;
    let kind = text(node, "/type").unwrap_or("");
    match kind {
        "text" => out.push_str(node.get("text").and_then(Value::as_str).unwrap_or("")),
        "hardBreak" => out.push('\n'),
        "mention" | "emoji" => out.push_str(
            text(node, "/attrs/text")
                .or_else(|| text(node, "/attrs/shortName"))
                .unwrap_or(""),
        ),
        "inlineCard" | "blockCard" => out.push_str(text(node, "/attrs/url").unwrap_or("")),
        "listItem" => {
            end_line(out);
            out.push_str("- ");
        }
        _ => {}
    }
    for child in node
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        adf(child, depth + 1, out, budget);
    }
    let block = [
        "paragraph",
        "heading",
        "codeBlock",
        "blockquote",
        "listItem",
        "tableRow",
        "panel",
        "rule",
    ];
    if block.contains(&kind) {
        end_line(out);
    }
}

fn end_line(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn name_of(name: &str) -> String {
    clip_chars(name.trim(), NAME_CHARS).into_owned()
}

/// The first non-blank line of a summary, cut.
fn title_of(title: &str) -> String {
    let line = title
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    clip_chars(line, TITLE_CHARS).into_owned()
}

/// Appends a blank line and the cut `body` when it has text.
fn push_body(content: &mut String, body: Option<&str>) {
    let Some(body) = body else { return };
    let cleaned = body.replace("\r\n", "\n").replace('\r', "");
    let cleaned = cleaned.trim();
    if !cleaned.is_empty() {
        content.push_str("\n\n");
        content.push_str(&clip_chars(cleaned, BODY_CHARS));
    }
}

fn put(attributes: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        attributes.insert(key.to_owned(), Value::String(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::test_support::{fixture, stored};
    use axum::http::HeaderValue;

    fn memories(name: &str) -> Vec<Memory> {
        stored(normalize(&fixture("jira", name)), name)
    }

    fn memory(name: &str) -> Memory {
        let mut m = memories(name);
        assert_eq!(m.len(), 1, "{name}: {m:?}");
        m.remove(0)
    }

    #[test]
    fn an_issue_from_creation_to_resolution() {
        let created = memory("jira.issue_created");
        assert_eq!(created.kind, "jira_issue_created");
        assert_eq!(
            created.content.lines().next().unwrap(),
            "Ana Lima created OPS-7 (Bug, Highest) in Operations: Checkout fails for EU cards"
        );
        assert!(
            created.content.contains("\nLabels: checkout, payments.\n"),
            "{}",
            created.content
        );
        assert!(
            created.content.contains("declined at checkout"),
            "{}",
            created.content
        );
        assert!(!created.content.contains('\r'));
        assert_eq!(
            created.url.as_deref(),
            Some("https://acme.atlassian.net/browse/OPS-7")
        );
        assert_eq!(created.actor.as_deref(), Some("Ana Lima"));
        assert_eq!(created.key, "issue:10042:created");
        assert_eq!(
            created.tags,
            ["issue", "bug", "priority-highest", "checkout", "payments"]
        );
        assert_eq!(
            created.occurred_at.map(|t| t.unix_timestamp()),
            Some(1_763_992_992)
        );

        let assigned = memory("jira.issue_updated.assigned");
        assert_eq!(assigned.kind, "jira_issue_updated");
        assert_eq!(
            assigned.content,
            "Ana Lima moved OPS-7 from To Do to In Progress and assigned it to Bo Chen: Checkout fails for EU cards"
        );
        assert_eq!(assigned.key, "changelog:10317");

        let priority = memory("jira.issue_updated.priority");
        assert_eq!(
            priority.content,
            "Ana Lima changed the priority of OPS-7 from Highest to High: Checkout fails for EU cards"
        );

        let resolved = memory("jira.issue_updated.resolved");
        assert_eq!(resolved.kind, "jira_issue_resolved");
        assert_eq!(
            resolved.content,
            "Bo Chen moved OPS-7 from In Progress to Done after 2d 3h: Checkout fails for EU cards"
        );
        assert_eq!(resolved.attributes["duration_secs"], 184_732);
        assert_eq!(resolved.actor.as_deref(), Some("Bo Chen"));

        let deleted = memory("jira.issue_deleted");
        assert_eq!(deleted.kind, "forget");
        assert_eq!(
            deleted.attributes["forget"],
            json!({"by": "session", "value": "jira:OPS-7"})
        );
        assert_eq!(
            deleted.content,
            "Ana Lima deleted OPS-7 (Bug, Highest) in Operations: Checkout fails for EU cards"
        );
        for m in [&created, &assigned, &priority, &resolved, &deleted] {
            assert_eq!(m.attributes[SESSION_ID], "jira:OPS-7", "{}", m.content);
        }
    }

    #[test]
    fn a_resolution_other_than_the_status_is_said() {
        let mut payload = fixture("jira", "jira.issue_updated.resolved");
        payload["changelog"]["items"][0]["toString"] = json!("Won't Do");
        let Normalized::Memories(m) = normalize(&payload).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(
            m[0].content,
            "Bo Chen moved OPS-7 from In Progress to Done after 2d 3h and resolved it as Won't Do: Checkout fails for EU cards"
        );
    }

    #[test]
    fn comments_plain_or_adf_join_their_issue() {
        let comment = memory("comment_created");
        assert_eq!(comment.kind, "jira_comment_created");
        assert_eq!(
            comment.content,
            "Bo Chen commented on OPS-7: Checkout fails for EU cards\n\nFound it: the new 3-D Secure flow sends the card's country as {{EU}}, which the processor rejects. Rolling back the checkout service now."
        );
        assert_eq!(
            comment.url.as_deref(),
            Some("https://acme.atlassian.net/browse/OPS-7?focusedCommentId=10088")
        );
        assert_eq!(comment.actor.as_deref(), Some("Bo Chen"));
        assert_eq!(comment.attributes[SESSION_ID], "jira:OPS-7");

        // Jira announces the comment as an issue update too: the same memory, the same key.
        let announced = memory("jira.issue_updated.commented");
        assert_eq!(announced.key, comment.key);
        assert_eq!(announced.content, comment.content);
        assert_eq!(announced.kind, comment.kind);

        let edited = memory("comment_updated");
        assert_eq!(edited.kind, "jira_comment_updated");
        assert_eq!(
            edited.content,
            "Bo Chen edited a comment on OPS-7: Checkout fails for EU cards\n\n\
             Found it: the new 3-D Secure flow sends the card's country as EU, which the processor rejects.\n\
             @Ana Lima rolled back the checkout service; EU cards go through again.\n\
             - fix the country code\n\
             - add an EU card to the smoke test"
        );
        assert_ne!(edited.key, comment.key);
        // The edit replaces the memory of the comment's earlier text.
        assert_eq!(comment.attributes["item"], edited.attributes["item"]);
        assert!(comment.attributes.get("forget").is_none());
        assert_eq!(
            edited.attributes["forget"],
            json!({"by": "item", "value": edited.attributes["item"]})
        );
        // A long comment is cut.
        let mut long = fixture("jira", "comment_created");
        long["comment"]["body"] = json!("word ".repeat(2000));
        let Normalized::Memories(m) = normalize(&long).unwrap() else {
            panic!("ignored")
        };
        assert!(m[0].content.chars().count() < 1100);
        assert!(m[0].content.ends_with('…'));
    }

    #[test]
    fn what_is_not_worth_remembering_is_ignored() {
        let Normalized::Ignored(reason) =
            normalize(&fixture("jira", "jira.issue_updated.rank")).unwrap()
        else {
            panic!("stored")
        };
        assert!(reason.contains("Rank"), "{reason}");
        assert_eq!(
            normalize(&fixture("jira", "sprint_started")).unwrap(),
            Normalized::Ignored("Jira event sprint_started is not stored".into())
        );
        assert_eq!(normalize(&json!({})).unwrap_err().field, "webhookEvent");
        let no_issue = json!({"webhookEvent": "jira:issue_created"});
        assert_eq!(normalize(&no_issue).unwrap_err().field, "issue");
        let no_comment = json!({"webhookEvent": "comment_created", "issue": {"key": "OPS-7"}});
        assert_eq!(normalize(&no_comment).unwrap_err().field, "comment");
    }

    #[test]
    fn older_and_sparse_payloads() {
        // The shape of Atlassian's documented example: a priority as a string, a numeric
        // changelog id, an issue `self` under /rest/api/2/issue/.
        let payload = json!({
            "id": 2, "timestamp": 1_525_698_237_764_i64, "webhookEvent": "jira:issue_updated",
            "issue": {"id": "99291", "self": "https://jira.atlassian.com/rest/api/2/issue/99291",
                      "key": "JRA-20002", "fields": {"summary": "I feel the need for speed",
                      "created": "2009-12-16T23:46:10.612-0600", "priority": "Minor"}},
            "user": {"name": "brollins", "displayName": "Bryan Rollins [Atlassian]"},
            "changelog": {"id": 10124, "items": [
                {"toString": "A new summary.", "to": null, "fromString": "What is going on here?????",
                 "from": null, "fieldtype": "jira", "field": "summary"},
                {"toString": "New Feature", "to": "2", "fromString": "Improvement", "from": "4",
                 "fieldtype": "jira", "field": "issuetype"}]}
        });
        let Normalized::Memories(m) = normalize(&payload).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(
            m[0].content,
            "Bryan Rollins [Atlassian] renamed JRA-20002 (was \"What is going on here?????\"): I feel the need for speed"
        );
        assert_eq!(m[0].key, "changelog:10124");
        assert_eq!(
            m[0].url.as_deref(),
            Some("https://jira.atlassian.com/browse/JRA-20002")
        );
        assert_eq!(m[0].attributes["priority"], "Minor");
        // No key: the id names the issue and its session; no URL is guessed.
        let bare = json!({"webhookEvent": "jira:issue_deleted", "issue": {"id": 10042}});
        let Normalized::Memories(m) = normalize(&bare).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(m[0].content, "Someone deleted issue 10042");
        assert_eq!(m[0].attributes[SESSION_ID], "jira:10042");
        assert_eq!(m[0].url, None);
        assert_eq!(
            jira_time(&json!("2009-12-16T23:46:10.612-0600")).map(|t| t.unix_timestamp()),
            Some(1_261_028_770)
        );
    }

    #[test]
    fn adf_is_read_within_its_limits() {
        let mut deep = json!({"type": "text", "text": "deepest"});
        for _ in 0..100 {
            deep = json!({"type": "paragraph", "content": [deep]});
        }
        assert_eq!(text_of(&deep), "");
        let wide =
            json!({"type": "doc", "content": vec![json!({"type": "text", "text": "ab"}); 10_000]});
        assert!(text_of(&wide).len() <= BODY_CHARS * 4 + 2);
        assert_eq!(text_of(&json!(42)), "");
    }

    #[test]
    fn signatures() {
        let body = br#"{"webhookEvent":"jira:issue_created"}"#;
        let secrets = [
            Secret::new("jira-old-secret-01"),
            Secret::new("jira-new-secret-02"),
        ];
        let check = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(SIGNATURE_HEADER, HeaderValue::from_str(value).unwrap());
            h.insert(
                DELIVERY_HEADER,
                HeaderValue::from_static("b7e1c7a2-4f0e-4c55"),
            );
            verify(&h, body, &secrets, 0, 300).map(|d| d.id)
        };
        assert_eq!(
            check(&sign("jira-new-secret-02", body)),
            Ok(Some("b7e1c7a2-4f0e-4c55".into()))
        );
        assert!(check(&sign("jira-old-secret-01", body)).is_ok());
        assert!(check(&sign("another", body))
            .unwrap_err()
            .contains("does not match"));
        let bare_hex = sign("jira-new-secret-02", body).replace("sha256=", "");
        assert!(check(&bare_hex).unwrap_err().contains("sha256="));
        assert!(check(&sign("jira-new-secret-02", b"{}")).is_err());
        assert!(verify(&HeaderMap::new(), body, &secrets, 0, 300)
            .unwrap_err()
            .contains("missing X-Hub-Signature"));
    }
}
