//! `issue` and `work_item` (tasks, incidents, epics, ...): opened, closed, reopened, updated.

use serde_json::{json, Map, Value};

use super::{
    actor, changes_of, ignored, iid_of, labels, link, object_attributes, push_labels, push_text,
    put, time_at, title_of, who, Project, NAME_CHARS,
};
use crate::presets::{text, Memory, Normalized};
use rae_core::event::{InvalidField, HUMAN_LABEL, SESSION_ID};
use rae_core::text::clip_chars;

/// `issue` and `work_item` (tasks, incidents, epics, ...): opened, closed, reopened, updated.
pub(super) fn issue(
    payload: &Value,
    project: &Project<'_>,
    kind: &str,
) -> Result<Normalized, InvalidField> {
    let item = object_attributes(payload)?;
    let action = text(item, "/action").unwrap_or("");
    if !["open", "close", "reopen", "update"].contains(&action) {
        return Ok(ignored(format!(
            "GitLab {kind} action {} is not stored",
            clip_chars(action, NAME_CHARS)
        )));
    }
    let iid = iid_of(item, "object_attributes.iid")?;
    let item_type = text(item, "/type").unwrap_or(if kind == "issue" {
        "Issue"
    } else {
        "Work item"
    });
    let noun = clip_chars(item_type, NAME_CHARS).to_lowercase();
    // Epics are `&` in GitLab's references, everything else `#`.
    let reference = if noun == "epic" {
        format!("&{iid}")
    } else {
        format!("#{iid}")
    };
    let actor = actor(payload);
    let who = who(actor);
    let title = title_of(item);
    let place = project.place();
    let labels = labels(payload.get("labels").or_else(|| item.get("labels")));
    let updated_at = time_at(item, "/updated_at");
    // The item's global id (a group's epic has no project to scope its iid), else its iid.
    let ident = item
        .get("id")
        .and_then(Value::as_u64)
        .map_or_else(|| format!("iid {iid}"), |id| id.to_string());
    let at = |what: &str| {
        updated_at
            .map(|t| project.key(format_args!("{kind} {ident} {what} {}", t.unix_timestamp())))
            .unwrap_or_default()
    };
    let (what, mut content, key, occurred_at) = match action {
        "open" => (
            "opened",
            format!("{who} opened {noun} {reference}{place}: {title}"),
            project.key(format_args!("{kind} {ident} open")),
            time_at(item, "/created_at").or(updated_at),
        ),
        "close" => (
            "closed",
            format!("{who} closed {noun} {reference}{place}: {title}"),
            at("close"),
            updated_at,
        ),
        "reopen" => (
            "reopened",
            format!("{who} reopened {noun} {reference}{place}: {title}"),
            at("reopen"),
            updated_at,
        ),
        _ => {
            let changes = changes_of(
                payload,
                &[
                    "title",
                    "description",
                    "labels",
                    "assignees",
                    "milestone_id",
                    "due_date",
                    "confidential",
                ],
            );
            if changes.is_empty() {
                return Ok(ignored(format!(
                    "GitLab {kind} update without a visible change is not stored"
                )));
            }
            (
                "updated",
                format!(
                    "{who} updated {noun} {reference}{place}: {title} ({})",
                    changes.join("; ")
                ),
                at("update"),
                updated_at,
            )
        }
    };
    if action == "open" {
        if noun == "incident" {
            if let Some(severity) = text(item, "/severity").filter(|s| *s != "unknown") {
                content.push_str(&format!(" (severity {})", clip_chars(severity, NAME_CHARS)));
            }
        }
        push_labels(&mut content, &labels);
        push_text(&mut content, text(item, "/description"));
    }

    let mut attributes = Map::new();
    let session = match project.session(&reference) {
        Some(session) => Some(session),
        None => item
            .get("id")
            .and_then(Value::as_u64)
            .map(|id| format!("gitlab:{kind}:{id}")),
    };
    if let Some(session) = session {
        attributes.insert(SESSION_ID.into(), json!(session));
    }
    attributes.insert(
        HUMAN_LABEL.into(),
        json!(format!(
            "{}{reference}: {title}",
            project.path().unwrap_or_default()
        )),
    );
    put(&mut attributes, "project", project.path());
    attributes.insert("iid".into(), json!(iid));
    put(&mut attributes, "type", Some(item_type));
    put(&mut attributes, "action", Some(action));
    put(&mut attributes, "state", text(item, "/state"));
    put(&mut attributes, "severity", text(item, "/severity"));
    if !labels.is_empty() {
        attributes.insert("labels".into(), json!(labels));
    }
    let mut tags = vec![if noun == "issue" {
        "issue".to_owned()
    } else {
        noun.replace(' ', "-")
    }];
    if item.get("confidential").and_then(Value::as_bool) == Some(true) {
        tags.push("confidential".to_owned());
    }
    tags.extend(project.tag());
    tags.extend(labels);
    Ok(Normalized::Memories(vec![Memory {
        key,
        kind: format!("{kind}_{what}"),
        content,
        tags,
        actor: actor.map(str::to_owned),
        url: link(item, "/url").map(str::to_owned),
        occurred_at,
        attributes,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::gitlab::testing::*;
    use serde_json::json;

    #[test]
    fn issues_and_work_items() {
        let opened = memory("issue.open");
        assert_eq!(opened.kind, "issue_opened");
        assert_eq!(
            opened.content,
            "Administrator opened issue #23 in gitlabhq/gitlab-test: New API: create/update/delete file\n\
             Labels: API.\n\n\
             Create new API for manipulations with repository"
        );
        assert_eq!(
            opened.attributes[SESSION_ID],
            "gitlab:gitlabhq/gitlab-test#23"
        );
        assert_eq!(
            opened.url.as_deref(),
            Some("http://example.com/diaspora/issues/23")
        );
        assert_eq!(opened.tags, ["issue", "gitlabhq/gitlab-test", "API"]);
        assert_eq!(opened.key, "project 1 issue 301 open");

        let mut p = fixture("gitlab", "issue.open");
        p["object_attributes"]["action"] = json!("close");
        let closed = memory_of(&p);
        assert_eq!(closed.kind, "issue_closed");
        assert_eq!(
            closed.content,
            "Administrator closed issue #23 in gitlabhq/gitlab-test: New API: create/update/delete file"
        );
        assert_ne!(closed.key, opened.key);

        // The docs' sample carries a label change: an update says it.
        p["object_attributes"]["action"] = json!("update");
        let updated = memory_of(&p);
        assert_eq!(updated.kind, "issue_updated");
        assert!(
            updated.content.ends_with("(labels +Platform -API)"),
            "{}",
            updated.content
        );

        // Tasks, incidents and epics come as work items.
        let mut p = fixture("gitlab", "issue.open");
        p["object_kind"] = json!("work_item");
        p["object_attributes"]["type"] = json!("Incident");
        let incident = memory_of(&p);
        assert_eq!(incident.kind, "work_item_opened");
        assert!(
            incident.content.starts_with(
                "Administrator opened incident #23 in gitlabhq/gitlab-test: New API: create/update/delete file (severity high)"
            ),
            "{}",
            incident.content
        );
        assert_eq!(incident.tags[0], "incident");
        p["object_attributes"]["type"] = json!("Epic");
        p.as_object_mut().unwrap().remove("project");
        let epic = memory_of(&p);
        assert!(
            epic.content.starts_with("Administrator opened epic &23: "),
            "{}",
            epic.content
        );
        assert_eq!(epic.attributes[SESSION_ID], "gitlab:work_item:301");
    }
}
