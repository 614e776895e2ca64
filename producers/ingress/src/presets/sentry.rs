//! Sentry integration platform webhooks (an internal or public integration with a webhook URL):
//! `Sentry-Hook-Signature` is the bare lowercase hex HMAC-SHA256 of the raw body keyed with the
//! integration's client secret. `Sentry-Hook-Timestamp` is not signed, so it proves nothing and
//! is not checked; `Request-ID` is the delivery id, but Sentry draws a new one for every send,
//! retries included (its tasks retry up to 3 times, 5 minutes apart), so every memory is keyed
//! by the payload's own ids instead.
//!
//! The resource (`Sentry-Hook-Resource`) is read from the body's shape: `data.issue` (issue
//! created, resolved, assigned, ignored/archived, unresolved), `data.error` (error created),
//! `data.event` with `data.triggered_rule` (an issue alert rule fired), `data.metric_alert`
//! (critical, warning, resolved), `data.comment_id` (a comment on an issue); installations,
//! Seer runs and build artifacts are acknowledged and ignored. The memories of one issue (its
//! creation, errors, alerts, comments, assignment, resolution) share the `session_id`
//! `sentry:<issue id>`; a metric alert's `sentry:metric_alert:<id>`.

use axum::http::HeaderMap;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{
    check_body_hmac, delivery_id, human_duration, text, time_of, Delivery, Memory, Normalized,
};
use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::event::{InvalidField, SESSION_ID};
use rae_core::signature;
use rae_core::text::clip_chars;

pub const SIGNATURE_HEADER: &str = "sentry-hook-signature";
pub const REQUEST_ID_HEADER: &str = "request-id";

/// Most characters of an issue's title or an event's message copied into a memory.
const MAX_TITLE: usize = 300;
/// Most characters of a culprit (a function or transaction name).
const MAX_CULPRIT: usize = 200;
/// Most characters of a name (a person, a project, an alert rule, an id).
const MAX_NAME: usize = 120;
/// Most characters of a comment.
const MAX_COMMENT: usize = 2000;
/// Most characters of a metric alert's description.
const MAX_DESCRIPTION: usize = 600;
/// Most projects named for one metric alert.
const MAX_PROJECTS: usize = 5;

/// Checks a Sentry delivery.
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
        "Sentry-Hook-Signature",
        "",
        " (is the webhook from a Sentry integration?)",
    )?;
    Ok(Delivery {
        body: Verified::new(body),
        id: delivery_id(headers, &[REQUEST_ID_HEADER]),
    })
}

/// The bare hex digest Sentry sends in `Sentry-Hook-Signature`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    signature::sign_hex("", secret, &[body])
}

/// The memory of one delivery, a resolution's duration measured to `now`.
///
/// # Errors
/// [`InvalidField`] when the body is not a Sentry webhook (no `data` object or `action`) or
/// lacks the id of what it is about.
///
/// `now` is when the delivery arrived: Sentry's payload has no time of a resolution, as it is
/// sent as it happens, so the arrival stands for it (a retry comes later, and is a duplicate
/// of the first one stored).
pub fn normalize(payload: &Value, now: OffsetDateTime) -> Result<Normalized, InvalidField> {
    let data = payload
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| InvalidField::new("data", "missing: not a Sentry integration webhook"))?;
    let action = text(payload, "/action").ok_or_else(|| InvalidField::new("action", "missing"))?;
    let action = one_line(action, 40);
    let actor = Actor::of(payload);
    let object = |key: &str| data.get(key).filter(|v| v.is_object());
    let present = |key: &str| data.get(key).is_some_and(|v| !v.is_null());
    if object("installation").is_some() {
        return Ok(ignored("installation", &action));
    }
    if let Some(alert) = object("metric_alert") {
        return metric_alert(data, alert, &action, now);
    }
    if let Some(event) = object("event").filter(|_| present("triggered_rule")) {
        return event_alert(data, event, &action);
    }
    if let Some(error) = object("error") {
        return error_created(error, &action);
    }
    if let Some(issue) = object("issue") {
        return issue_changed(data, issue, &action, &actor, now);
    }
    if present("comment_id") {
        return comment(data, &action, &actor);
    }
    if present("run_id") && present("group_id") {
        return Ok(ignored("seer", &action));
    }
    if present("buildId") {
        return Ok(ignored("preprod_artifact", &action));
    }
    Ok(Normalized::Ignored(format!(
        "a Sentry webhook ({action}) this preset does not store"
    )))
}

fn ignored(resource: &str, action: &str) -> Normalized {
    Normalized::Ignored(format!("Sentry {resource}.{action} is not stored"))
}

/// Who triggered the webhook: a user, or an integration; not Sentry itself.
struct Actor {
    name: Option<String>,
    /// The actor's id (`sentry` when Sentry acted), part of the keys of issue changes.
    id: String,
}

impl Actor {
    fn of(payload: &Value) -> Actor {
        let actor = payload.get("actor").unwrap_or(&Value::Null);
        let id = id_of(actor.get("id")).unwrap_or_else(|| "sentry".into());
        let name = text(actor, "/name")
            .filter(|_| id != "sentry")
            .map(|n| one_line(n, MAX_NAME));
        Actor { name, id }
    }
}

/// An id that is a string or a number, as text.
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(one_line(s, MAX_NAME)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `text` on one line (runs of blanks and line breaks become one space), at most `max_chars`.
fn one_line(text: &str, max_chars: usize) -> String {
    let mut line = String::new();
    let mut chars = 0;
    for word in text.split_whitespace() {
        if chars > max_chars {
            break;
        }
        if !line.is_empty() {
            line.push(' ');
            chars += 1;
        }
        line.push_str(word);
        chars += word.chars().count();
    }
    clip_chars(&line, max_chars).into_owned()
}

/// A field's text on one line, capped.
fn field(value: &Value, pointer: &str, max_chars: usize) -> Option<String> {
    text(value, pointer).map(|t| one_line(t, max_chars))
}

/// What an issue or event is: its title, else its exception (`type: value`) or message.
fn title_of(value: &Value) -> Option<String> {
    field(value, "/title", MAX_TITLE)
        .or_else(|| {
            match (
                text(value, "/metadata/type"),
                text(value, "/metadata/value"),
            ) {
                (Some(kind), Some(message)) => {
                    Some(one_line(&format!("{kind}: {message}"), MAX_TITLE))
                }
                (kind, message) => kind.or(message).map(|t| one_line(t, MAX_TITLE)),
            }
        })
        .or_else(|| field(value, "/message", MAX_TITLE))
}

/// ` (level error, culprit app/views.py in get)`, or nothing.
fn details(value: &Value) -> String {
    let mut details = Vec::new();
    if let Some(level) = field(value, "/level", 20) {
        details.push(format!("level {level}"));
    }
    if let Some(culprit) = field(value, "/culprit", MAX_CULPRIT) {
        details.push(format!("culprit {culprit}"));
    }
    if details.is_empty() {
        String::new()
    } else {
        format!(" ({})", details.join(", "))
    }
}

/// The `level-<level>` tag, when the level is a plain word.
fn level_tag(value: &Value) -> Vec<String> {
    text(value, "/level")
        .filter(|l| l.len() <= 16 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|l| format!("level-{}", l.to_ascii_lowercase()))
        .into_iter()
        .collect()
}

/// The project slug in an event's API URL (`.../api/0/projects/<org>/<project>/events/<id>/`).
fn project_of_event(event: &Value) -> Option<String> {
    let url = text(event, "/url")?;
    let (_, rest) = url.split_once("/projects/")?;
    let mut parts = rest.split('/');
    let _org = parts.next()?;
    parts
        .next()
        .filter(|p| !p.is_empty())
        .map(|p| one_line(p, MAX_NAME))
}

/// An event's environment: its field, else its `environment` tag.
fn environment_of(event: &Value) -> Option<String> {
    field(event, "/environment", MAX_NAME).or_else(|| {
        event
            .get("tags")?
            .as_array()?
            .iter()
            .take(200)
            .find(|tag| tag.get(0).and_then(Value::as_str) == Some("environment"))
            .and_then(|tag| tag.get(1))
            .and_then(Value::as_str)
            .map(|e| one_line(e, MAX_NAME))
            .filter(|e| !e.is_empty())
    })
}

/// ` in front-end (production)`, ` in front-end`, or nothing.
fn place(project: Option<&str>, environment: Option<&str>) -> String {
    match (project, environment) {
        (Some(p), Some(e)) => format!(" in {p} ({e})"),
        (Some(p), None) => format!(" in {p}"),
        (None, Some(e)) => format!(" in {e}"),
        (None, None) => String::new(),
    }
}

fn insert(attributes: &mut Map<String, Value>, name: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        attributes.insert(name.into(), value.into());
    }
}

fn one(memory: Memory) -> Result<Normalized, InvalidField> {
    Ok(Normalized::Memories(vec![memory]))
}

/// An issue created or changing state (`Sentry-Hook-Resource: issue`).
fn issue_changed(
    data: &Value,
    issue: &Value,
    action: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Normalized, InvalidField> {
    let change = match action {
        "created" | "resolved" | "assigned" | "unresolved" => action,
        // Sentry renamed "ignored" to "archived"; older integrations still get "ignored".
        "ignored" | "archived" => "archived",
        _ => return Ok(ignored("issue", action)),
    };
    let id = id_of(issue.get("id")).ok_or_else(|| InvalidField::new("data.issue.id", "missing"))?;
    let short_id = field(issue, "/shortId", MAX_NAME);
    let name = format!("Sentry issue {}", short_id.as_deref().unwrap_or(&id));
    let project =
        field(issue, "/project/slug", MAX_NAME).or_else(|| field(issue, "/project/name", MAX_NAME));
    let at = place(project.as_deref(), None);
    let title = title_of(issue)
        .map(|t| format!(": {t}"))
        .unwrap_or_default();
    let substatus = field(issue, "/substatus", 40);
    let who = actor.name.as_deref();
    let mut attributes = Map::new();
    let mut extra = String::new();
    let content = match change {
        "created" => format!("{name} created{at}{title}{}", details(issue)),
        "resolved" => {
            let duration = issue
                .get("firstSeen")
                .and_then(time_of)
                .map(|first| now - first)
                .filter(|d| !d.is_negative());
            let after = match duration {
                Some(duration) => {
                    attributes.insert("duration_secs".into(), json!(duration.whole_seconds()));
                    format!(" after {}", human_duration(duration))
                }
                None => String::new(),
            };
            let resolution = field(data, "/resolution_type", 40);
            extra = resolution.clone().unwrap_or_default();
            insert(&mut attributes, "resolution_type", resolution.clone());
            let how = if let Some(release) = field(issue, "/statusDetails/inRelease", MAX_NAME) {
                format!(" (in release {release})")
            } else if issue.pointer("/statusDetails/inNextRelease") == Some(&json!(true))
                || resolution.as_deref() == Some("in_next_release")
            {
                " (in the next release)".to_owned()
            } else if let Some(commit) = field(issue, "/statusDetails/inCommit/id", 40) {
                format!(" (in commit {})", clip_chars(&commit, 12))
            } else {
                String::new()
            };
            match who {
                Some(who) => format!("{who} resolved {name}{at}{after}{title}{how}"),
                None => format!("{name} resolved{at}{after}{title}{how}"),
            }
        }
        "assigned" => {
            let assignee = data.get("assignee").filter(|a| a.is_object());
            let assignee_name = assignee
                .and_then(|a| field(a, "/name", MAX_NAME))
                .or_else(|| field(issue, "/assignedTo/name", MAX_NAME));
            let is_team = assignee.and_then(|a| text(a, "/type")) == Some("team")
                || text(issue, "/assignedTo/type") == Some("team");
            extra = format!(
                "{}:{}",
                if is_team { "team" } else { "user" },
                assignee
                    .and_then(|a| id_of(a.get("id")))
                    .or_else(|| id_of(issue.pointer("/assignedTo/id")))
                    .unwrap_or_default()
            );
            insert(&mut attributes, "assignee", assignee_name.clone());
            let to = match (assignee_name, is_team) {
                (Some(n), true) => format!(" to team {n}"),
                (Some(n), false) => format!(" to {n}"),
                (None, _) => String::new(),
            };
            match who {
                Some(who) => format!("{who} assigned {name}{at}{to}{title}"),
                None => format!("{name}{at} was assigned{to}{title}"),
            }
        }
        "archived" => {
            extra = substatus.clone().unwrap_or_default();
            let until = match substatus.as_deref() {
                Some("archived_until_escalating") => " until it escalates",
                Some("archived_forever") => " forever",
                Some("archived_until_condition_met") => " until a condition is met",
                _ => "",
            };
            match who {
                Some(who) => format!("{who} archived {name}{at}{until}{title}"),
                None => format!("{name}{at} was archived{until}{title}"),
            }
        }
        _ => {
            extra = substatus.clone().unwrap_or_default();
            match (substatus.as_deref(), who) {
                (Some("regressed"), _) => format!("{name} regressed{at}{title}"),
                (Some("escalating"), _) => format!("{name} is escalating{at}{title}"),
                (_, Some(who)) => format!("{who} unresolved {name}{at}{title}"),
                (_, None) => format!("{name} unresolved{at}{title}"),
            }
        }
    };
    // One creation per issue; a later change is keyed by what it was and the issue's state, so
    // Sentry's retry (a new Request-ID, the same payload) is stored once.
    let key = match change {
        "created" => format!("issue:{id}:created"),
        _ => format!(
            "issue:{id}:{change}:{}:{}:{extra}",
            text(issue, "/lastSeen")
                .map(|s| one_line(s, 40))
                .unwrap_or_default(),
            actor.id
        ),
    };
    attributes.insert(SESSION_ID.into(), json!(format!("sentry:{id}")));
    attributes.insert("resource".into(), json!("issue"));
    attributes.insert("action".into(), json!(action));
    attributes.insert("issue_id".into(), json!(id));
    insert(&mut attributes, "short_id", short_id);
    insert(&mut attributes, "project", project);
    insert(&mut attributes, "level", field(issue, "/level", 20));
    insert(&mut attributes, "status", field(issue, "/status", 40));
    insert(&mut attributes, "substatus", substatus);
    insert(
        &mut attributes,
        "first_seen",
        field(issue, "/firstSeen", 40),
    );
    insert(&mut attributes, "last_seen", field(issue, "/lastSeen", 40));
    insert(&mut attributes, "count", field(issue, "/count", 20));
    let url = field(issue, "/web_url", 2000).or_else(|| field(issue, "/permalink", 2000));
    let occurred_at = match change {
        "created" => issue.get("firstSeen").and_then(time_of),
        // Sentry's payload has no time of the change: it arrived as it happened.
        _ => None,
    };
    one(Memory {
        key,
        kind: format!("sentry_issue_{change}"),
        content,
        tags: level_tag(issue),
        actor: actor.name.clone(),
        url,
        occurred_at,
        attributes,
    })
}

/// The attributes and place of an error event or the event of an issue alert.
fn event_facts(event: &Value, resource: &str, action: &str) -> (Map<String, Value>, String) {
    let issue_id = id_of(event.get("issue_id"));
    let project = project_of_event(event);
    let environment = environment_of(event);
    let at = place(project.as_deref(), environment.as_deref());
    let mut attributes = Map::new();
    if let Some(issue_id) = &issue_id {
        attributes.insert(SESSION_ID.into(), json!(format!("sentry:{issue_id}")));
    }
    attributes.insert("resource".into(), json!(resource));
    attributes.insert("action".into(), json!(action));
    insert(&mut attributes, "issue_id", issue_id);
    insert(
        &mut attributes,
        "event_id",
        field(event, "/event_id", MAX_NAME),
    );
    insert(&mut attributes, "project", project);
    insert(&mut attributes, "environment", environment);
    insert(&mut attributes, "level", field(event, "/level", 20));
    insert(
        &mut attributes,
        "release",
        field(event, "/release", MAX_NAME),
    );
    (attributes, at)
}

/// An error event (`Sentry-Hook-Resource: error`).
fn error_created(error: &Value, action: &str) -> Result<Normalized, InvalidField> {
    if action != "created" {
        return Ok(ignored("error", action));
    }
    let event_id = field(error, "/event_id", MAX_NAME)
        .ok_or_else(|| InvalidField::new("data.error.event_id", "missing"))?;
    let (attributes, at) = event_facts(error, "error", action);
    let title = title_of(error)
        .map(|t| format!(": {t}"))
        .unwrap_or_default();
    one(Memory {
        key: format!("error:{event_id}"),
        kind: "sentry_error".into(),
        content: format!("Sentry error{at}{title}{}", details(error)),
        tags: level_tag(error),
        actor: None,
        url: field(error, "/web_url", 2000),
        occurred_at: error.get("datetime").and_then(time_of),
        attributes,
    })
}

/// An issue alert rule fired (`Sentry-Hook-Resource: event_alert`).
fn event_alert(data: &Value, event: &Value, action: &str) -> Result<Normalized, InvalidField> {
    if action != "triggered" {
        return Ok(ignored("event_alert", action));
    }
    let event_id = field(event, "/event_id", MAX_NAME)
        .ok_or_else(|| InvalidField::new("data.event.event_id", "missing"))?;
    let rule = field(data, "/triggered_rule", MAX_NAME).unwrap_or_else(|| "(unnamed)".into());
    let (mut attributes, at) = event_facts(event, "event_alert", action);
    attributes.insert("rule".into(), json!(rule));
    let title = title_of(event)
        .map(|t| format!(": {t}"))
        .unwrap_or_default();
    one(Memory {
        // One alert per rule and event: Sentry's retry of it is stored once.
        key: format!("event_alert:{event_id}:{rule}"),
        kind: "sentry_alert_triggered".into(),
        content: format!(
            "Sentry alert rule '{rule}' triggered{at}{title}{}",
            details(event)
        ),
        tags: level_tag(event),
        actor: None,
        url: field(event, "/web_url", 2000),
        occurred_at: event.get("datetime").and_then(time_of),
        attributes,
    })
}

/// A metric alert changed state (`Sentry-Hook-Resource: metric_alert`).
fn metric_alert(
    data: &Value,
    alert: &Value,
    action: &str,
    now: OffsetDateTime,
) -> Result<Normalized, InvalidField> {
    if !matches!(action, "critical" | "warning" | "resolved") {
        return Ok(ignored("metric_alert", action));
    }
    let id = id_of(alert.get("id"))
        .ok_or_else(|| InvalidField::new("data.metric_alert.id", "missing"))?;
    let rule = field(alert, "/alert_rule/name", MAX_NAME)
        .or_else(|| field(data, "/description_title", MAX_NAME))
        .or_else(|| field(alert, "/title", MAX_NAME))
        .unwrap_or_else(|| format!("#{id}"));
    let projects: Vec<String> = alert
        .get("projects")
        .or_else(|| alert.pointer("/alert_rule/projects"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .take(MAX_PROJECTS)
                .map(|p| one_line(p, MAX_NAME))
                .collect()
        })
        .unwrap_or_default();
    let environment = field(alert, "/alert_rule/environment", MAX_NAME);
    let joined = (!projects.is_empty()).then(|| projects.join(", "));
    let at = place(joined.as_deref(), environment.as_deref());
    // Sentry's description is a few lines ("1000 events in the last 10 minutes", "Filter: ...").
    let description = text(data, "/description_text")
        .map(|d| {
            let lines: Vec<String> = d
                .lines()
                .take(20)
                .map(|l| one_line(l, MAX_DESCRIPTION))
                .filter(|l| !l.is_empty())
                .collect();
            one_line(&lines.join("; "), MAX_DESCRIPTION)
        })
        .filter(|d| !d.is_empty());
    let mut attributes = Map::new();
    let closed = alert.get("date_closed").and_then(time_of);
    let content = if action == "resolved" {
        let duration = alert
            .get("date_started")
            .and_then(time_of)
            .map(|started| closed.unwrap_or(now) - started)
            .filter(|d| !d.is_negative());
        let after = match duration {
            Some(duration) => {
                attributes.insert("duration_secs".into(), json!(duration.whole_seconds()));
                format!(" after {}", human_duration(duration))
            }
            None => String::new(),
        };
        format!("Sentry metric alert '{rule}' resolved{at}{after}")
    } else {
        format!("Sentry metric alert '{rule}' {action}{at}")
    };
    let content = match &description {
        Some(description) => format!("{content}: {description}"),
        None => content,
    };
    attributes.insert(
        SESSION_ID.into(),
        json!(format!("sentry:metric_alert:{id}")),
    );
    attributes.insert("resource".into(), json!("metric_alert"));
    attributes.insert("action".into(), json!(action));
    attributes.insert("metric_alert_id".into(), json!(id));
    attributes.insert("rule".into(), json!(rule));
    if !projects.is_empty() {
        attributes.insert("projects".into(), json!(projects));
    }
    insert(&mut attributes, "environment", environment);
    insert(
        &mut attributes,
        "aggregate",
        field(alert, "/alert_rule/aggregate", MAX_NAME),
    );
    insert(
        &mut attributes,
        "query",
        field(alert, "/alert_rule/query", MAX_DESCRIPTION),
    );
    one(Memory {
        // A state of one alert, with the value that crossed the threshold: a retry is stored
        // once; the alert going critical again later (another value) is stored again.
        key: format!(
            "metric_alert:{id}:{action}:{}",
            description
                .as_deref()
                .map(|d| clip_chars(d, 200))
                .unwrap_or_default()
        ),
        kind: format!("sentry_metric_alert_{action}"),
        content,
        tags: Vec::new(),
        actor: None,
        url: field(data, "/web_url", 2000),
        occurred_at: if action == "resolved" { closed } else { None },
        attributes,
    })
}

/// A comment on an issue (`Sentry-Hook-Resource: comment`); only new comments are stored.
fn comment(data: &Value, action: &str, actor: &Actor) -> Result<Normalized, InvalidField> {
    if action != "created" {
        return Ok(ignored("comment", action));
    }
    let comment_id = id_of(data.get("comment_id"))
        .ok_or_else(|| InvalidField::new("data.comment_id", "missing"))?;
    let issue_id = id_of(data.get("issue_id"));
    let project = field(data, "/project_slug", MAX_NAME);
    let at = place(project.as_deref(), None);
    let issue = issue_id.as_deref().unwrap_or("?");
    let body = text(data, "/comment")
        .map(|c| format!(": {}", clip_chars(c, MAX_COMMENT)))
        .unwrap_or_default();
    let content = match actor.name.as_deref() {
        Some(who) => format!("{who} commented on Sentry issue {issue}{at}{body}"),
        None => format!("A comment on Sentry issue {issue}{at}{body}"),
    };
    let mut attributes = Map::new();
    if let Some(issue_id) = &issue_id {
        attributes.insert(SESSION_ID.into(), json!(format!("sentry:{issue_id}")));
    }
    attributes.insert("resource".into(), json!("comment"));
    attributes.insert("action".into(), json!(action));
    attributes.insert("comment_id".into(), json!(comment_id));
    insert(&mut attributes, "issue_id", issue_id);
    insert(&mut attributes, "project", project);
    one(Memory {
        key: format!("comment:{comment_id}:created"),
        kind: "sentry_issue_comment".into(),
        content,
        tags: Vec::new(),
        actor: actor.name.clone(),
        url: None,
        occurred_at: data.get("timestamp").and_then(time_of),
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::test_support::{fixture, only};
    use axum::http::HeaderValue;

    /// 2019-08-22T23:58:38Z: three days and three hours after the fixtures' issue was first seen.
    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_566_518_318).unwrap()
    }

    fn memory(name: &str) -> Memory {
        memory_at(name, now())
    }

    fn memory_at(name: &str, now: OffsetDateTime) -> Memory {
        only(normalize(&fixture("sentry", name), now), name)
    }

    #[test]
    fn an_issue_from_creation_to_resolution() {
        let created = memory("issue.created");
        assert_eq!(created.kind, "sentry_issue_created");
        assert_eq!(
            created.content,
            "Sentry issue FRONT-END-9 created in front-end: ReferenceError: blooopy is not defined (level error, culprit ?(runner))"
        );
        assert_eq!(created.key, "issue:1170820242:created");
        assert_eq!(
            created.url.as_deref(),
            Some("https://sentry.io/organizations/test-org/issues/1170820242/")
        );
        // Sentry acted: no actor.
        assert_eq!(created.actor, None);
        assert_eq!(created.tags, ["level-error"]);
        assert_eq!(
            created.occurred_at,
            Some(time::macros::datetime!(2019-08-19 20:58:37.391 UTC))
        );

        let assigned = memory("issue.assigned");
        assert_eq!(assigned.kind, "sentry_issue_assigned");
        assert_eq!(
            assigned.content,
            "Ana Lima assigned Sentry issue FRONT-END-9 in front-end to Hemanth V. Alluri: ReferenceError: blooopy is not defined"
        );
        assert_eq!(assigned.actor.as_deref(), Some("Ana Lima"));

        let resolved = memory("issue.resolved");
        assert_eq!(resolved.kind, "sentry_issue_resolved");
        assert_eq!(
            resolved.content,
            "Ana Lima resolved Sentry issue FRONT-END-9 in front-end after 3d 3h: ReferenceError: blooopy is not defined (in the next release)"
        );
        assert_eq!(resolved.attributes["duration_secs"], 270_000);
        assert_eq!(resolved.attributes["resolution_type"], "in_next_release");
        assert_eq!(resolved.occurred_at, None, "the time it arrived");

        let archived = memory("issue.ignored");
        assert_eq!(archived.kind, "sentry_issue_archived");
        assert_eq!(
            archived.content,
            "Ana Lima archived Sentry issue FRONT-END-9 in front-end until it escalates: ReferenceError: blooopy is not defined"
        );
        let regressed = memory("issue.unresolved");
        assert_eq!(regressed.kind, "sentry_issue_unresolved");
        assert_eq!(
            regressed.content,
            "Sentry issue FRONT-END-9 regressed in front-end: ReferenceError: blooopy is not defined"
        );

        // One conversation: the issue's memories, and the error events grouped into it.
        let error = memory("error.created");
        for m in [
            &created, &assigned, &resolved, &archived, &regressed, &error,
        ] {
            assert_eq!(m.attributes[SESSION_ID], "sentry:1170820242", "{}", m.kind);
        }
        // Each change has its own key, stable across Sentry's retries (a new Request-ID).
        let keys: std::collections::HashSet<_> =
            [&created, &assigned, &resolved, &archived, &regressed]
                .iter()
                .map(|m| m.key.clone())
                .collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        assert_eq!(memory("issue.resolved").key, resolved.key);
    }

    #[test]
    fn sentry_renamed_ignored_to_archived() {
        let mut payload = fixture("sentry", "issue.ignored");
        payload["action"] = json!("archived");
        let Normalized::Memories(m) = normalize(&payload, now()).unwrap() else {
            panic!("ignored");
        };
        assert_eq!(m[0].kind, "sentry_issue_archived");
    }

    #[test]
    fn errors_and_alerts_name_the_project_from_the_event_url() {
        let error = memory("error.created");
        assert_eq!(error.kind, "sentry_error");
        assert_eq!(
            error.content,
            "Sentry error in front-end: ReferenceError: blooopy is not defined (level error, culprit ?(runner))"
        );
        assert_eq!(error.key, "error:bb78c1407cea4519aa397afc059c793d");
        assert_eq!(
            error.url.as_deref(),
            Some("https://sentry.io/organizations/test-org/issues/1170820242/events/bb78c1407cea4519aa397afc059c793d/")
        );

        let alert = memory("event_alert.triggered");
        assert_eq!(alert.kind, "sentry_alert_triggered");
        assert_eq!(
            alert.content,
            "Sentry alert rule 'Very Important Alert Rule!' triggered in front-end: ReferenceError: heck is not defined (level error, culprit ?(<anonymous>))"
        );
        assert_eq!(alert.attributes[SESSION_ID], "sentry:1117540176");
        assert_eq!(
            alert.key,
            "event_alert:e4874d664c3540c1a32eab185f12c5ab:Very Important Alert Rule!"
        );
        assert_eq!(alert.attributes["rule"], "Very Important Alert Rule!");

        // An environment tag names where it happened; no stack trace is copied.
        let mut payload = fixture("sentry", "error.created");
        payload["data"]["error"]["tags"]
            .as_array_mut()
            .unwrap()
            .push(json!(["environment", "production"]));
        let Normalized::Memories(m) = normalize(&payload, now()).unwrap() else {
            panic!("ignored");
        };
        assert!(
            m[0].content
                .starts_with("Sentry error in front-end (production): "),
            "{}",
            m[0].content
        );
        assert!(!m[0].content.contains("runner-4.1.7"));
    }

    #[test]
    fn metric_alerts_critical_warning_resolved() {
        let critical = memory("metric_alert.critical");
        assert_eq!(critical.kind, "sentry_metric_alert_critical");
        assert_eq!(
            critical.content,
            "Sentry metric alert 'Too many errors' critical in bar: 1214 events in the last 10 minutes; Filter: level:error"
        );
        assert_eq!(
            critical.url.as_deref(),
            Some("https://sentry.io/organizations/baz/alerts/1/")
        );
        let warning = memory("metric_alert.warning");
        assert_eq!(warning.kind, "sentry_metric_alert_warning");
        let at = time::macros::datetime!(2020-09-13 12:38:52 UTC);
        let resolved = memory_at("metric_alert.resolved", at);
        assert_eq!(
            resolved.content,
            "Sentry metric alert 'Too many errors' resolved in bar after 12m 12s: 1000 events in the last 10 minutes; Filter: level:error"
        );
        assert_eq!(resolved.attributes["duration_secs"], 732);
        for m in [&critical, &warning, &resolved] {
            assert_eq!(m.attributes[SESSION_ID], "sentry:metric_alert:4");
        }
        assert_ne!(critical.key, warning.key);
        // When Sentry says when it closed, that is the end.
        let mut payload = fixture("sentry", "metric_alert.resolved");
        payload["data"]["metric_alert"]["date_closed"] = json!("2020-09-13T12:31:40.000000Z");
        let Normalized::Memories(m) = normalize(&payload, at).unwrap() else {
            panic!("ignored");
        };
        assert!(m[0].content.contains(" after 5m 0s: "), "{}", m[0].content);
    }

    #[test]
    fn comments_are_stored_when_created() {
        let comment = memory("comment.created");
        assert_eq!(comment.kind, "sentry_issue_comment");
        assert_eq!(
            comment.content,
            "colleen commented on Sentry issue 100 in sentry: adding a comment"
        );
        assert_eq!(comment.attributes[SESSION_ID], "sentry:100");
        assert_eq!(comment.key, "comment:1234:created");
        let mut updated = fixture("sentry", "comment.created");
        updated["action"] = json!("updated");
        assert!(matches!(
            normalize(&updated, now()).unwrap(),
            Normalized::Ignored(_)
        ));
    }

    #[test]
    fn installations_and_other_resources_are_ignored() {
        for name in ["installation.created", "seer.root_cause_started"] {
            match normalize(&fixture("sentry", name), now()).unwrap() {
                Normalized::Ignored(reason) => assert!(reason.contains("not stored"), "{reason}"),
                Normalized::Memories(m) => panic!("{name}: {m:?}"),
            }
        }
        assert_eq!(normalize(&json!({}), now()).unwrap_err().field, "data");
        assert_eq!(
            normalize(&json!({"data": {"issue": {}}}), now())
                .unwrap_err()
                .field,
            "action"
        );
        assert_eq!(
            normalize(&json!({"action": "created", "data": {"issue": {}}}), now())
                .unwrap_err()
                .field,
            "data.issue.id"
        );
    }

    #[test]
    fn long_messages_are_capped_to_one_line() {
        let mut payload = fixture("sentry", "issue.created");
        let long = format!("ValueError: {}\n  at frame\n", "x".repeat(10_000));
        payload["data"]["issue"]["title"] = json!(long);
        payload["data"]["issue"]["culprit"] = json!("y".repeat(5_000));
        let Normalized::Memories(m) = normalize(&payload, now()).unwrap() else {
            panic!("ignored");
        };
        assert!(m[0].content.chars().count() < 700, "{}", m[0].content.len());
        assert!(!m[0].content.contains('\n'));
        assert_eq!(one_line(" a \n\t b  ", 10), "a b");
    }

    #[test]
    fn signatures() {
        let body = br#"{"action":"created","data":{}}"#;
        let secrets = [
            Secret::new("old-client-secret-1"),
            Secret::new("new-client-secret-2"),
        ];
        let check = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(SIGNATURE_HEADER, HeaderValue::from_str(value).unwrap());
            h.insert(REQUEST_ID_HEADER, HeaderValue::from_static("4a5b6c"));
            verify(&h, body, &secrets, 0, 300).map(|d| d.id)
        };
        let signed = sign("new-client-secret-2", body);
        assert_eq!(signed.len(), 64);
        assert_eq!(check(&signed), Ok(Some("4a5b6c".into())));
        assert_eq!(
            check(&sign("old-client-secret-1", body).to_uppercase()),
            Ok(Some("4a5b6c".into()))
        );
        assert!(check(&sign("retired", body))
            .unwrap_err()
            .contains("does not match"));
        assert!(check("sha256=00").unwrap_err().contains("64 hex digits"));
        let tampered = sign("new-client-secret-2", br#"{"action":"created","data":{} }"#);
        assert!(check(&tampered).is_err());
        let missing = verify(&HeaderMap::new(), body, &secrets, 0, 300).unwrap_err();
        assert!(
            missing.contains("missing Sentry-Hook-Signature"),
            "{missing}"
        );
        assert!(verify(&HeaderMap::new(), body, &[], 0, 300).is_err());
    }
}
