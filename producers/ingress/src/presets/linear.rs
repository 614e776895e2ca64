//! Linear webhooks (*Settings → API → Webhooks*): `Linear-Signature` is the hex HMAC-SHA256 of
//! the raw body keyed with the webhook's signing secret, and the body's `webhookTimestamp`
//! (milliseconds since the epoch, inside the signed body) must be within the tolerance of the
//! server clock, Linear's replay protection (its SDK falls back to the `Linear-Timestamp` header
//! for a body without one). `Linear-Delivery` is the delivery id; `Linear-Event` names the
//! entity type, which the body's `type` repeats.
//!
//! Issues (created, updated, removed), comments (created, edited), projects (created, updated)
//! and project updates (posted) become memories; every other type (reactions, labels, cycles,
//! documents...) is acknowledged and ignored. An update says what changed from `updatedFrom`
//! (the previous values of the changed fields): a status (Linear sends the previous `stateId`,
//! not its name, so the memory names the new status), the assignee, the priority (from and to),
//! the title; a project's status, health, lead and target date. An update that changes nothing
//! of that (`updatedAt`, sort orders, subscribers) is ignored. The memories of one issue share
//! the `session_id` `linear:<issue id>` (its comments included), those of a project
//! `linear:<project id>` (its updates included); an issue moved to a completed status records
//! how long it was open.

use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{
    check_body_hmac, delivery_id, forgetting_session, header, human_duration, text, time_of,
    Delivery, Memory, Normalized,
};
use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::event::{InvalidField, SESSION_ID};
use rae_core::forget;
use rae_core::signature;
use rae_core::text::clip_chars;

pub const SIGNATURE_HEADER: &str = "linear-signature";
pub const DELIVERY_HEADER: &str = "linear-delivery";
/// Unsigned: only for a body without `webhookTimestamp`, as Linear's SDK does.
pub const TIMESTAMP_HEADER: &str = "linear-timestamp";

/// Most characters of a description or a comment copied into a memory.
const BODY_CHARS: usize = 1000;
/// Most characters of a title.
const TITLE_CHARS: usize = 300;
/// Most characters of a name (a person, a team, a status, an identifier).
const NAME_CHARS: usize = 64;
/// Most labels kept as tags.
const MAX_LABELS: usize = 10;
/// Most changed field names kept in the metadata.
const MAX_CHANGED: usize = 20;
/// Most characters of an id kept (Linear's are UUIDs).
const ID_CHARS: usize = 64;

/// Checks a Linear delivery: its signature, then its `webhookTimestamp`.
///
/// # Errors
/// The message for the 401.
pub fn verify<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
    secrets: &[Secret],
    now: i64,
    tolerance_secs: u64,
) -> Result<Delivery<'b>, String> {
    check_body_hmac(headers, body, secrets, "Linear-Signature", "", "")?;
    let sent_ms = webhook_timestamp(body)
        .or_else(|| header(headers, TIMESTAMP_HEADER).and_then(|t| t.parse().ok()))
        .ok_or("Linear-Signature matches, but the body has no webhookTimestamp")?;
    if now.saturating_mul(1000).abs_diff(sent_ms) > tolerance_secs.saturating_mul(1000) {
        return Err(format!(
            "Linear-Signature matches, but the body's webhookTimestamp is more than {tolerance_secs}s away from the server clock"
        ));
    }
    Ok(Delivery {
        body: Verified::new(body),
        id: delivery_id(headers, &[DELIVERY_HEADER]),
    })
}

/// The body's `webhookTimestamp` in milliseconds, when it has one.
fn webhook_timestamp(body: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Stamp {
        #[serde(rename = "webhookTimestamp")]
        webhook_timestamp: Option<Value>,
    }
    let stamp = serde_json::from_slice::<Stamp>(body)
        .ok()?
        .webhook_timestamp?;
    stamp.as_i64().or_else(|| {
        // A JSON float (the schema says `Float`): whole milliseconds are enough.
        #[allow(clippy::cast_possible_truncation)]
        stamp.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)
    })
}

/// The hex HMAC-SHA256 of `body`: what Linear sends in `Linear-Signature`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    signature::sign_hex("", secret, &[body])
}

/// One delivery's envelope.
struct Envelope<'v> {
    /// The entity as it is now.
    data: &'v Value,
    /// Previous values of the fields an update changed.
    from: Option<&'v Map<String, Value>>,
    action: &'v str,
    /// `Issue.update`.
    event_type: String,
    /// Who did it (`actor.name`), or `Someone`.
    who: String,
    actor: Option<&'v str>,
    url: Option<&'v str>,
    occurred_at: Option<OffsetDateTime>,
}

/// The memory of one Linear webhook, or why it is ignored.
///
/// # Errors
/// [`InvalidField`] when the body lacks `type` or `action`, or a handled type lacks its `data`
/// or `data.id`.
pub fn normalize(payload: &Value) -> Result<Normalized, InvalidField> {
    let entity = text(payload, "/type")
        .ok_or_else(|| InvalidField::new("type", "missing: not a Linear webhook"))?;
    let action = text(payload, "/action").ok_or_else(|| InvalidField::new("action", "missing"))?;
    let handled = matches!(
        (entity, action),
        ("Issue", "create" | "update" | "remove")
            | ("Comment", "create" | "update")
            | ("Project", "create" | "update")
            | ("ProjectUpdate", "create")
    );
    if !handled {
        return Ok(Normalized::Ignored(format!(
            "Linear {} {} is not stored",
            clip_chars(entity, NAME_CHARS),
            clip_chars(action, NAME_CHARS)
        )));
    }
    let data = payload
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| InvalidField::new("data", "missing or not an object"))?;
    let actor = text(payload, "/actor/name").or_else(|| text(payload, "/actor/service"));
    let envelope = Envelope {
        data,
        from: payload.get("updatedFrom").and_then(Value::as_object),
        action,
        event_type: format!("{entity}.{action}"),
        who: actor.map_or_else(|| "Someone".to_owned(), name_of),
        actor,
        url: text(payload, "/url").or_else(|| text(data, "/url")),
        occurred_at: payload.get("createdAt").and_then(time_of),
    };
    match entity {
        "Issue" => issue(&envelope),
        "Comment" => comment(&envelope),
        "Project" => project(&envelope),
        _ => project_update(&envelope),
    }
}

/// An issue created, updated or removed.
fn issue(e: &Envelope<'_>) -> Result<Normalized, InvalidField> {
    let data = e.data;
    let id = text(data, "/id").ok_or_else(|| InvalidField::new("data.id", "missing"))?;
    let id = clip_chars(id, ID_CHARS);
    let name = text(data, "/identifier").map_or_else(|| "an issue".to_owned(), name_of);
    let title = text(data, "/title").map(title_of);
    let team = text(data, "/team/name").map(name_of);
    let in_team = team
        .as_ref()
        .map(|t| format!(" in {t}"))
        .unwrap_or_default();
    let priority = priority_now(data);
    let state = text(data, "/state/name").map(name_of);
    let assignee = text(data, "/assignee/name").map(name_of);
    let labels = labels_of(data);

    let mut attributes = Map::new();
    attributes.insert(SESSION_ID.into(), json!(format!("linear:{id}")));
    attributes.insert("issue_id".into(), json!(id));
    put(
        &mut attributes,
        "identifier",
        text(data, "/identifier").map(name_of),
    );
    put(&mut attributes, "team", team.clone());
    put(&mut attributes, "state", state.clone());
    put(
        &mut attributes,
        "state_type",
        text(data, "/state/type").map(name_of),
    );
    put(&mut attributes, "priority", priority.map(str::to_owned));
    put(&mut attributes, "assignee", assignee.clone());
    if !labels.is_empty() {
        attributes.insert("labels".into(), json!(labels));
    }

    let mut tags = vec!["issue".to_owned()];
    tags.extend(priority.map(|p| format!("priority-{}", p.to_lowercase())));
    tags.extend(labels.iter().cloned());

    let (kind, key, mut content) = match e.action {
        "create" => {
            let mut details = Vec::new();
            details.extend(priority.map(|p| format!("priority {p}")));
            details.extend(assignee.as_ref().map(|a| format!("assigned to {a}")));
            let mut content = format!("{} created {name}{in_team}", e.who);
            push_title(&mut content, title.as_deref());
            if !details.is_empty() {
                content.push_str(&format!(" ({})", details.join(", ")));
            }
            if !labels.is_empty() {
                content.push_str(&format!("\nLabels: {}.", labels.join(", ")));
            }
            push_body(&mut content, text(data, "/description"));
            (
                "linear_issue_created",
                format!("issue:{id}:create"),
                content,
            )
        }
        "remove" => {
            let mut content = format!("{} deleted {name}{in_team}", e.who);
            push_title(&mut content, title.as_deref());
            (
                "linear_issue_removed",
                format!("issue:{id}:remove"),
                content,
            )
        }
        _ => {
            let Some(from) = e.from else {
                return Ok(Normalized::Ignored(
                    "Linear Issue update without updatedFrom: nothing to say what changed".into(),
                ));
            };
            let mut changes = Vec::new();
            let mut kind = "linear_issue_updated";
            if from.contains_key("stateId") {
                let state = state.clone().unwrap_or_else(|| "another status".to_owned());
                let mut after = format!(" to {state}");
                if text(data, "/state/type") == Some("completed") {
                    kind = "linear_issue_completed";
                    let opened = data.get("createdAt").and_then(time_of);
                    let closed = data.get("completedAt").and_then(time_of).or(e.occurred_at);
                    if let Some(open) = opened
                        .zip(closed)
                        .map(|(opened, closed)| closed - opened)
                        .filter(|d| !d.is_negative())
                    {
                        attributes.insert("duration_secs".into(), json!(open.whole_seconds()));
                        after.push_str(&format!(" after {}", human_duration(open)));
                    }
                }
                changes.push(("moved".to_owned(), after));
            }
            if from.contains_key("assigneeId") {
                changes.push(match &assignee {
                    Some(assignee) => ("assigned".to_owned(), format!(" to {assignee}")),
                    None => ("unassigned".to_owned(), String::new()),
                });
            }
            if from.contains_key("priority") {
                let before = from.get("priority").and_then(priority_label);
                let now = priority.unwrap_or("No priority");
                let after = match before {
                    Some(before) => format!(" from {before} to {now}"),
                    None => format!(" to {now}"),
                };
                changes.push(("changed the priority of".to_owned(), after));
            }
            if let Some(before) = from.get("title").and_then(Value::as_str) {
                changes.push((
                    "renamed".to_owned(),
                    format!(" (was \"{}\")", title_of(before)),
                ));
            }
            if changes.is_empty() {
                return Ok(Normalized::Ignored(format!(
                    "Linear Issue update changed nothing worth remembering ({})",
                    changed_fields(from).join(", ")
                )));
            }
            attributes.insert("changed".into(), json!(changed_fields(from)));
            let mut content = format!("{} {}", e.who, sentence(&changes, &name));
            push_title(&mut content, title.as_deref());
            let version = text(data, "/updatedAt").unwrap_or("");
            (kind, format!("issue:{id}:update:{version}"), content)
        }
    };
    content.truncate(content.trim_end().len());
    attributes.insert("event_type".into(), json!(e.event_type));
    let made = memory(e, kind, key, content, tags, attributes);
    Ok(match (e.action, made) {
        // Deleted at the source: its memories are forgotten.
        ("remove", Normalized::Memories(memories)) => {
            Normalized::Memories(memories.into_iter().map(forgetting_session).collect())
        }
        (_, made) => made,
    })
}

/// A comment created or edited (on an issue, or on a project update).
fn comment(e: &Envelope<'_>) -> Result<Normalized, InvalidField> {
    let data = e.data;
    let id = text(data, "/id").ok_or_else(|| InvalidField::new("data.id", "missing"))?;
    let id = clip_chars(id, ID_CHARS);
    if e.action == "update" && e.from.is_some_and(|from| !from.contains_key("body")) {
        return Ok(Normalized::Ignored(
            "Linear Comment update did not change its text".into(),
        ));
    }
    let who = if e.actor.is_some() {
        e.who.clone()
    } else {
        text(data, "/user/name").map_or_else(|| e.who.clone(), name_of)
    };
    let issue_id = text(data, "/issueId")
        .or_else(|| text(data, "/issue/id"))
        .map(|i| clip_chars(i, ID_CHARS).into_owned());
    let project_id =
        text(data, "/projectUpdate/project/id").map(|i| clip_chars(i, ID_CHARS).into_owned());
    let (on, title) = match (text(data, "/issue/identifier"), &issue_id) {
        (Some(identifier), _) => (
            name_of(identifier),
            text(data, "/issue/title").map(title_of),
        ),
        (None, Some(_)) => ("an issue".to_owned(), None),
        (None, None) => match text(data, "/projectUpdate/project/name") {
            Some(project) => (format!("an update of project {}", name_of(project)), None),
            None => ("a Linear thread".to_owned(), None),
        },
    };
    let mut content = match e.action {
        "create" => format!("{who} commented on {on}"),
        _ => format!("{who} edited a comment on {on}"),
    };
    push_title(&mut content, title.as_deref());
    push_body(&mut content, text(data, "/body"));

    let mut attributes = Map::new();
    let session = issue_id
        .as_ref()
        .or(project_id.as_ref())
        .map_or_else(|| format!("linear:comment:{id}"), |s| format!("linear:{s}"));
    attributes.insert(SESSION_ID.into(), json!(session));
    attributes.insert("comment_id".into(), json!(id));
    // An edited comment replaces the memory of every earlier version of it.
    forget::mark_version(
        &mut attributes,
        &format!("linear comment {id}"),
        e.action == "update",
    );
    put(&mut attributes, "issue_id", issue_id.clone());
    put(
        &mut attributes,
        "identifier",
        text(data, "/issue/identifier").map(name_of),
    );
    attributes.insert("event_type".into(), json!(e.event_type));
    let key = match e.action {
        "create" => format!("comment:{id}:create"),
        _ => format!(
            "comment:{id}:update:{}",
            text(data, "/editedAt")
                .or_else(|| text(data, "/updatedAt"))
                .unwrap_or("")
        ),
    };
    let kind = match e.action {
        "create" => "linear_comment_created",
        _ => "linear_comment_updated",
    };
    Ok(memory(
        e,
        kind,
        key,
        content,
        vec!["comment".into()],
        attributes,
    ))
}

/// A project created or updated (its status, health, lead, target date, name).
fn project(e: &Envelope<'_>) -> Result<Normalized, InvalidField> {
    let data = e.data;
    let id = text(data, "/id").ok_or_else(|| InvalidField::new("data.id", "missing"))?;
    let id = clip_chars(id, ID_CHARS);
    let name = format!(
        "project {}",
        text(data, "/name").map_or_else(|| "(no name)".to_owned(), title_of)
    );
    let status = text(data, "/status/name").map(name_of);
    let health = text(data, "/health").map(health_of);
    let lead = text(data, "/lead/name").map(name_of);
    let target = text(data, "/targetDate").map(name_of);

    let mut attributes = Map::new();
    attributes.insert(SESSION_ID.into(), json!(format!("linear:{id}")));
    attributes.insert("project_id".into(), json!(id));
    put(&mut attributes, "status", status.clone());
    put(&mut attributes, "health", health.clone());
    put(&mut attributes, "lead", lead.clone());
    put(&mut attributes, "target_date", target.clone());
    attributes.insert("event_type".into(), json!(e.event_type));
    let mut tags = vec!["project".to_owned()];
    tags.extend(
        health
            .as_deref()
            .filter(|h| *h != "on track")
            .map(|h| h.replace(' ', "-")),
    );

    let (kind, key, content) = if e.action == "create" {
        let mut details = Vec::new();
        details.extend(status.as_ref().map(|s| format!("status {s}")));
        details.extend(lead.as_ref().map(|l| format!("lead {l}")));
        details.extend(target.as_ref().map(|t| format!("target {t}")));
        let mut content = format!("{} created {name}", e.who);
        if !details.is_empty() {
            content.push_str(&format!(" ({})", details.join(", ")));
        }
        push_body(&mut content, text(data, "/description"));
        (
            "linear_project_created",
            format!("project:{id}:create"),
            content,
        )
    } else {
        let Some(from) = e.from else {
            return Ok(Normalized::Ignored(
                "Linear Project update without updatedFrom: nothing to say what changed".into(),
            ));
        };
        let mut changes = Vec::new();
        if from.contains_key("statusId") {
            let status = status
                .clone()
                .unwrap_or_else(|| "another status".to_owned());
            changes.push(("moved".to_owned(), format!(" to {status}")));
        }
        if from.contains_key("health") {
            let now = health.clone().unwrap_or_else(|| "no health".to_owned());
            let after = match text_in(from, "health") {
                Some(before) => format!(" from {} to {now}", health_of(before)),
                None => format!(" to {now}"),
            };
            changes.push(("changed the health of".to_owned(), after));
        }
        if from.contains_key("leadId") {
            changes.push(match &lead {
                Some(lead) => (format!("made {lead} the lead of"), String::new()),
                None => ("removed the lead of".to_owned(), String::new()),
            });
        }
        if from.contains_key("targetDate") {
            let now = target.clone().unwrap_or_else(|| "none".to_owned());
            let after = match text_in(from, "targetDate") {
                Some(before) => format!(" from {} to {now}", name_of(before)),
                None => format!(" to {now}"),
            };
            changes.push(("moved the target date of".to_owned(), after));
        }
        if let Some(before) = text_in(from, "name") {
            changes.push((
                "renamed".to_owned(),
                format!(" (was \"{}\")", title_of(before)),
            ));
        }
        if changes.is_empty() {
            return Ok(Normalized::Ignored(format!(
                "Linear Project update changed nothing worth remembering ({})",
                changed_fields(from).join(", ")
            )));
        }
        attributes.insert("changed".into(), json!(changed_fields(from)));
        let version = text(data, "/updatedAt").unwrap_or("");
        (
            "linear_project_updated",
            format!("project:{id}:update:{version}"),
            format!("{} {}", e.who, sentence(&changes, &name)),
        )
    };
    Ok(memory(e, kind, key, content, tags, attributes))
}

/// A project update posted: its health and text.
fn project_update(e: &Envelope<'_>) -> Result<Normalized, InvalidField> {
    let data = e.data;
    let id = text(data, "/id").ok_or_else(|| InvalidField::new("data.id", "missing"))?;
    let id = clip_chars(id, ID_CHARS);
    let project = text(data, "/project/name").map_or_else(|| "(no name)".to_owned(), title_of);
    let health = text(data, "/health").map(health_of);
    let who = if e.actor.is_some() {
        e.who.clone()
    } else {
        text(data, "/user/name").map_or_else(|| e.who.clone(), name_of)
    };
    let mut content = format!("{who} posted an update on project {project}");
    if let Some(health) = &health {
        content.push_str(&format!(" ({health})"));
    }
    push_body(&mut content, text(data, "/body"));
    let project_id = text(data, "/projectId")
        .or_else(|| text(data, "/project/id"))
        .map(|i| clip_chars(i, ID_CHARS).into_owned());
    let mut attributes = Map::new();
    let session = project_id.as_deref().unwrap_or(&id);
    attributes.insert(SESSION_ID.into(), json!(format!("linear:{session}")));
    attributes.insert("project_update_id".into(), json!(id));
    put(&mut attributes, "project_id", project_id.clone());
    put(&mut attributes, "health", health.clone());
    attributes.insert("event_type".into(), json!(e.event_type));
    let mut tags = vec!["project-update".to_owned()];
    tags.extend(
        health
            .as_deref()
            .filter(|h| *h != "on track")
            .map(|h| h.replace(' ', "-")),
    );
    Ok(memory(
        e,
        "linear_project_update_posted",
        format!("project_update:{id}:create"),
        content,
        tags,
        attributes,
    ))
}

fn memory(
    e: &Envelope<'_>,
    kind: &str,
    key: String,
    content: String,
    tags: Vec<String>,
    attributes: Map<String, Value>,
) -> Normalized {
    Normalized::Memories(vec![Memory {
        key,
        kind: kind.to_owned(),
        content,
        tags,
        actor: e.actor.map(name_of),
        url: e.url.map(str::to_owned),
        occurred_at: e.occurred_at,
        attributes,
    }])
}

/// `moved ENG-1 to Done, assigned it to Bo and renamed it (was "x")`: the first change names
/// the subject, the others say `it`.
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

/// Linear's priority names: 0 is no priority.
fn priority_label(value: &Value) -> Option<&'static str> {
    // The schema says `Float`; Linear sends whole numbers.
    #[allow(clippy::cast_possible_truncation)]
    let priority = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.round() as i64)
    })?;
    match priority {
        1 => Some("Urgent"),
        2 => Some("High"),
        3 => Some("Medium"),
        4 => Some("Low"),
        _ => None,
    }
}

/// The issue's priority now, `None` for no priority.
fn priority_now(data: &Value) -> Option<&'static str> {
    data.get("priority").and_then(priority_label)
}

/// `onTrack` → `on track`.
fn health_of(health: &str) -> String {
    match health {
        "onTrack" => "on track".to_owned(),
        "atRisk" => "at risk".to_owned(),
        "offTrack" => "off track".to_owned(),
        other => name_of(other),
    }
}

/// The names of the issue's labels that can be tags.
fn labels_of(data: &Value) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for label in data
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if names.len() >= MAX_LABELS {
            break;
        }
        if let Some(name) = text(label, "/name").filter(|n| n.chars().count() <= NAME_CHARS) {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// The fields an update changed, without the bookkeeping ones.
fn changed_fields(from: &Map<String, Value>) -> Vec<String> {
    from.keys()
        .filter(|k| k.as_str() != "updatedAt")
        .take(MAX_CHANGED)
        .map(|k| name_of(k))
        .collect()
}

/// A non-blank string field of `from`.
fn text_in<'v>(from: &'v Map<String, Value>, field: &str) -> Option<&'v str> {
    from.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn name_of(name: &str) -> String {
    clip_chars(name.trim(), NAME_CHARS).into_owned()
}

/// The first non-blank line of a title, cut.
fn title_of(title: &str) -> String {
    let line = title
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    clip_chars(line, TITLE_CHARS).into_owned()
}

fn push_title(content: &mut String, title: Option<&str>) {
    if let Some(title) = title.filter(|t| !t.is_empty()) {
        content.push_str(": ");
        content.push_str(title);
    }
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
    use crate::presets::test_support::{fixture, only};
    use axum::http::HeaderValue;

    fn memory(name: &str) -> Memory {
        only(normalize(&fixture("linear", name)), name)
    }

    fn ignored(name: &str) -> String {
        match normalize(&fixture("linear", name)).unwrap() {
            Normalized::Ignored(reason) => reason,
            Normalized::Memories(m) => panic!("{name} stored: {m:?}"),
        }
    }

    const ISSUE: &str = "linear:539068e2-ae88-4d09-bd75-22eb4a59612f";

    #[test]
    fn an_issue_from_creation_to_done() {
        let created = memory("Issue.create");
        assert_eq!(created.kind, "linear_issue_created");
        let first = created.content.lines().next().unwrap();
        assert_eq!(
            first,
            "Ana Lima created ENG-123 in Engineering: Checkout fails for EU cards (priority Urgent)"
        );
        assert!(
            created.content.contains("\nLabels: Bug.\n"),
            "{}",
            created.content
        );
        assert!(
            created.content.contains("declined at checkout"),
            "{}",
            created.content
        );
        assert_eq!(created.actor.as_deref(), Some("Ana Lima"));
        assert_eq!(
            created.url.as_deref(),
            Some("https://linear.app/acme/issue/ENG-123/checkout-fails-for-eu-cards")
        );
        assert_eq!(
            created.key,
            "issue:539068e2-ae88-4d09-bd75-22eb4a59612f:create"
        );
        assert_eq!(created.tags, ["issue", "priority-urgent", "Bug"]);
        assert_eq!(
            created.occurred_at.map(|t| t.unix_timestamp()),
            Some(1_763_992_992)
        );

        let assigned = memory("Issue.update.assigned");
        assert_eq!(assigned.kind, "linear_issue_updated");
        assert_eq!(
            assigned.content,
            "Ana Lima moved ENG-123 to In Progress and assigned it to Bo Chen: Checkout fails for EU cards"
        );
        assert_eq!(assigned.attributes["assignee"], "Bo Chen");

        let priority = memory("Issue.update.priority");
        assert_eq!(
            priority.content,
            "Ana Lima changed the priority of ENG-123 from Urgent to High: Checkout fails for EU cards"
        );

        let done = memory("Issue.update.completed");
        assert_eq!(done.kind, "linear_issue_completed");
        assert_eq!(
            done.content,
            "Ana Lima moved ENG-123 to Done after 2d 3h: Checkout fails for EU cards"
        );
        assert_eq!(done.attributes["duration_secs"], 184_732);
        assert_eq!(done.attributes["state"], "Done");
        assert_eq!(
            done.key,
            "issue:539068e2-ae88-4d09-bd75-22eb4a59612f:update:2025-11-26T17:22:05.404Z"
        );

        let removed = memory("Issue.remove");
        assert_eq!(removed.kind, "forget");
        assert_eq!(
            removed.attributes["forget"],
            json!({"by": "session", "value": ISSUE})
        );
        assert_eq!(
            removed.content,
            "Ana Lima deleted ENG-123 in Engineering: Checkout fails for EU cards"
        );
        for m in [&created, &assigned, &priority, &done, &removed] {
            assert_eq!(m.attributes[SESSION_ID], ISSUE, "{}", m.content);
        }
    }

    #[test]
    fn comments_join_their_issue() {
        let comment = memory("Comment.create");
        assert_eq!(comment.kind, "linear_comment_created");
        assert!(
            comment.content.starts_with(
                "Bo Chen commented on ENG-123: Checkout fails for EU cards\n\nFound it: the new 3-D Secure flow"
            ),
            "{}",
            comment.content
        );
        assert_eq!(comment.attributes[SESSION_ID], ISSUE);
        assert_eq!(comment.actor.as_deref(), Some("Bo Chen"));
        let edited = memory("Comment.update");
        assert_eq!(edited.kind, "linear_comment_updated");
        assert!(
            edited.content.starts_with(
                "Bo Chen edited a comment on ENG-123: Checkout fails for EU cards\n\n"
            ),
            "{}",
            edited.content
        );
        assert!(edited.content.ends_with("EU cards go through again."));
        assert_ne!(edited.key, comment.key);
        // The edit replaces the memory of the comment's earlier text.
        assert_eq!(comment.attributes["item"], edited.attributes["item"]);
        assert!(comment.attributes.get("forget").is_none());
        assert_eq!(
            edited.attributes["forget"],
            json!({"by": "item", "value": edited.attributes["item"]})
        );
        // A long comment is cut.
        let mut long = fixture("linear", "Comment.create");
        long["data"]["body"] = json!("word ".repeat(2000));
        let Normalized::Memories(m) = normalize(&long).unwrap() else {
            panic!("ignored")
        };
        assert!(
            m[0].content.chars().count() < 1100,
            "{}",
            m[0].content.len()
        );
        assert!(m[0].content.ends_with('…'));
    }

    #[test]
    fn projects_and_their_updates() {
        let project = memory("Project.update");
        assert_eq!(project.kind, "linear_project_updated");
        assert_eq!(
            project.content,
            "Ana Lima changed the health of project Checkout v2 from on track to at risk and moved the target date of it from 2025-12-05 to 2025-12-19"
        );
        assert_eq!(project.tags, ["project", "at-risk"]);
        let posted = memory("ProjectUpdate.create");
        assert_eq!(posted.kind, "linear_project_update_posted");
        assert!(
            posted.content.starts_with(
                "Ana Lima posted an update on project Checkout v2 (at risk)\n\nEU card declines"
            ),
            "{}",
            posted.content
        );
        let session = "linear:7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d";
        assert_eq!(project.attributes[SESSION_ID], session);
        assert_eq!(posted.attributes[SESSION_ID], session);
    }

    #[test]
    fn what_is_not_worth_remembering_is_ignored() {
        let reason = ignored("Issue.update.sort_order");
        assert!(reason.contains("sortOrder"), "{reason}");
        assert_eq!(
            ignored("Reaction.create"),
            "Linear Reaction create is not stored"
        );
        let mut only_resolved = fixture("linear", "Comment.update");
        only_resolved["updatedFrom"] = json!({"updatedAt": "x", "resolvedAt": null});
        assert!(matches!(
            normalize(&only_resolved).unwrap(),
            Normalized::Ignored(_)
        ));
        assert_eq!(normalize(&json!({})).unwrap_err().field, "type");
        let no_data = json!({"type": "Issue", "action": "create"});
        assert_eq!(normalize(&no_data).unwrap_err().field, "data");
        // Types not handled need no data.
        let sla = json!({"type": "IssueSLA", "action": "breached", "issueData": {}});
        assert!(matches!(normalize(&sla).unwrap(), Normalized::Ignored(_)));
    }

    #[test]
    fn signatures_and_the_timestamp() {
        let now = 1_764_000_000;
        let body = format!(
            r#"{{"type":"Issue","webhookTimestamp":{}}}"#,
            now * 1000 + 250
        );
        let body = body.as_bytes();
        let secrets = [
            Secret::new("lin_wh_old_secret_0001"),
            Secret::new("lin_wh_new_secret_0002"),
        ];
        let check = |value: &str, body: &[u8], now: i64| {
            let mut h = HeaderMap::new();
            h.insert(SIGNATURE_HEADER, HeaderValue::from_str(value).unwrap());
            h.insert(DELIVERY_HEADER, HeaderValue::from_static("234d1a4e-b617"));
            verify(&h, body, &secrets, now, 60).map(|d| d.id)
        };
        assert_eq!(
            check(&sign("lin_wh_new_secret_0002", body), body, now),
            Ok(Some("234d1a4e-b617".into()))
        );
        assert!(check(&sign("lin_wh_old_secret_0001", body), body, now).is_ok());
        assert!(check(&sign("another", body), body, now)
            .unwrap_err()
            .contains("Linear-Signature does not match"));
        assert!(check("sha256=00", body, now)
            .unwrap_err()
            .contains("64 hex digits"));
        // A minute and more later the same delivery is a replay.
        let replayed = check(&sign("lin_wh_new_secret_0002", body), body, now + 61).unwrap_err();
        assert!(replayed.contains("webhookTimestamp"), "{replayed}");
        assert!(replayed.contains("Linear-Signature"), "{replayed}");
        assert!(check(&sign("lin_wh_new_secret_0002", body), body, now - 59).is_ok());
        // No timestamp in the body: Linear-Timestamp, as Linear's SDK reads it.
        let bare = br#"{"type":"Issue"}"#;
        let signed = sign("lin_wh_new_secret_0002", bare);
        assert!(check(&signed, bare, now)
            .unwrap_err()
            .contains("no webhookTimestamp"));
        let mut h = HeaderMap::new();
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signed).unwrap());
        h.insert(TIMESTAMP_HEADER, HeaderValue::from_static("1764000001000"));
        assert!(verify(&h, bare, &secrets, now, 60).is_ok());
        assert!(verify(&HeaderMap::new(), bare, &secrets, now, 60)
            .unwrap_err()
            .contains("missing Linear-Signature"));
        assert!(verify(&h, bare, &[], now, 60).is_err());
    }

    #[test]
    fn a_float_timestamp_reads_as_milliseconds() {
        assert_eq!(
            webhook_timestamp(br#"{"webhookTimestamp": 1764000000250.0}"#),
            Some(1_764_000_000_250)
        );
        assert_eq!(webhook_timestamp(br#"{"webhookTimestamp": "soon"}"#), None);
        assert_eq!(webhook_timestamp(b"not json"), None);
    }
}
