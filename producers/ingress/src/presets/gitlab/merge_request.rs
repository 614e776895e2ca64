//! `merge_request`: opened, reopened, closed, merged, approved, updated.

use serde_json::{json, Map, Value};

use super::{
    actor, changes_of, ignored, iid_of, labels, link, object_attributes, push_labels, push_text,
    put, time_at, title_of, who, Project, LINE_CHARS, NAME_CHARS,
};
use crate::presets::{text, Memory, Normalized};
use rae_core::event::{InvalidField, HUMAN_LABEL, SESSION_ID};
use rae_core::text::clip_chars;

/// `merge_request`: opened, reopened, closed, merged, approved, updated.
pub(super) fn merge_request(
    payload: &Value,
    project: &Project<'_>,
) -> Result<Normalized, InvalidField> {
    let mr = object_attributes(payload)?;
    let action = text(mr, "/action").unwrap_or("");
    let handled = [
        "open",
        "reopen",
        "close",
        "merge",
        "update",
        "approval",
        "approved",
        "unapproval",
        "unapproved",
    ];
    if !handled.contains(&action) {
        return Ok(ignored(format!(
            "GitLab merge request action {} is not stored",
            clip_chars(action, NAME_CHARS)
        )));
    }
    let iid = iid_of(mr, "object_attributes.iid")?;
    let actor = actor(payload);
    let who = who(actor);
    let title = title_of(mr);
    let reference = format!("!{iid}");
    let place = project.place();
    let draft = mr.get("draft").and_then(Value::as_bool) == Some(true);
    let branches = match (text(mr, "/target_branch"), text(mr, "/source_branch")) {
        (Some(target), Some(source)) => format!(
            " ({} ← {})",
            clip_chars(target, LINE_CHARS),
            clip_chars(source, LINE_CHARS)
        ),
        _ => String::new(),
    };
    let labels = labels(payload.get("labels").or_else(|| mr.get("labels")));
    let updated_at = time_at(mr, "/updated_at");
    // Opening and merging happen once; the rest may repeat, each at its own time.
    let at = |what: &str| {
        updated_at
            .map(|t| project.key(format_args!("mr {iid} {what} {}", t.unix_timestamp())))
            .unwrap_or_default()
    };
    let (kind, mut content, key, occurred_at) = match action {
        "open" => (
            "merge_request_opened",
            format!(
                "{who} opened {}{reference}{place}: {title}{branches}",
                if draft { "draft " } else { "" }
            ),
            project.key(format_args!("mr {iid} open")),
            time_at(mr, "/created_at").or(updated_at),
        ),
        "reopen" => (
            "merge_request_reopened",
            format!("{who} reopened {reference}{place}: {title}{branches}"),
            at("reopen"),
            updated_at,
        ),
        "close" => (
            "merge_request_closed",
            format!("{who} closed {reference}{place} without merging: {title}{branches}"),
            at("close"),
            updated_at,
        ),
        "merge" => (
            "merge_request_merged",
            format!("{who} merged {reference}{place}: {title}{branches}"),
            project.key(format_args!("mr {iid} merge")),
            updated_at,
        ),
        // Approvals leave the MR's times as they were: the delivery id is the key.
        "approval" => (
            "merge_request_approved",
            format!("{who} approved {reference}{place}: {title}"),
            String::new(),
            None,
        ),
        "approved" => (
            "merge_request_approved",
            format!(
                "{reference}{place} is approved by all required approvers: {title} (last approval by {who})"
            ),
            String::new(),
            None,
        ),
        "unapproval" => (
            "merge_request_unapproved",
            format!("{who} withdrew their approval of {reference}{place}: {title}"),
            String::new(),
            None,
        ),
        "unapproved" => (
            "merge_request_unapproved",
            match text(mr, "/system_action") {
                // Not "no longer approved": the enricher would read a decision in "approved".
                Some(reason) if reason.contains("reset_on_push") => {
                    format!("{reference}{place} lost its approvals to new commits: {title}")
                }
                _ => format!("{reference}{place} lost its approval: {title}"),
            },
            String::new(),
            None,
        ),
        _ => {
            let mut changes = Vec::new();
            if text(mr, "/oldrev").is_some() {
                changes.push("pushed new commits".to_owned());
            }
            changes.extend(changes_of(
                payload,
                &[
                    "title",
                    "description",
                    "draft",
                    "labels",
                    "target_branch",
                    "assignees",
                    "reviewers",
                    "milestone_id",
                ],
            ));
            if changes.is_empty() {
                return Ok(ignored(
                    "GitLab merge request update without a visible change is not stored",
                ));
            }
            (
                "merge_request_updated",
                format!(
                    "{who} updated {reference}{place}: {title} ({})",
                    changes.join("; ")
                ),
                at("update"),
                updated_at,
            )
        }
    };
    if matches!(action, "open" | "merge" | "reopen" | "close") {
        push_labels(&mut content, &labels);
    }
    if matches!(action, "open" | "merge") {
        push_text(&mut content, text(mr, "/description"));
    }

    let mut attributes = Map::new();
    if let Some(session) = project.session(&reference) {
        attributes.insert(SESSION_ID.into(), json!(session));
        attributes.insert(
            HUMAN_LABEL.into(),
            json!(format!(
                "{}{reference}: {title}",
                project.path().unwrap_or_default()
            )),
        );
    }
    put(&mut attributes, "project", project.path());
    attributes.insert("iid".into(), json!(iid));
    put(&mut attributes, "action", Some(action));
    put(&mut attributes, "state", text(mr, "/state"));
    put(&mut attributes, "source_branch", text(mr, "/source_branch"));
    put(&mut attributes, "target_branch", text(mr, "/target_branch"));
    put(&mut attributes, "last_commit", text(mr, "/last_commit/id"));
    attributes.insert("draft".into(), json!(draft));
    if !labels.is_empty() {
        attributes.insert("labels".into(), json!(labels));
    }
    let mut tags = vec!["merge-request".to_owned()];
    if action == "merge" {
        tags.push("merged".to_owned());
    }
    tags.extend(project.tag());
    tags.extend(labels);
    Ok(Normalized::Memories(vec![Memory {
        key,
        kind: kind.into(),
        content,
        tags,
        actor: actor.map(str::to_owned),
        url: link(mr, "/url").map(str::to_owned),
        occurred_at,
        attributes,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::gitlab::testing::*;
    use crate::presets::gitlab::{normalize, TEXT_CHARS};
    use serde_json::json;

    #[test]
    fn a_merge_request_from_open_to_merged() {
        let opened = memory("merge_request.open");
        assert_eq!(opened.kind, "merge_request_opened");
        assert_eq!(
            opened.content,
            "Administrator opened !1 in gitlabhq/gitlab-test: MS-Viewport (master ← ms-viewport)\n\
             Labels: API."
        );
        assert_eq!(opened.actor.as_deref(), Some("Administrator"));
        assert_eq!(
            opened.url.as_deref(),
            Some("http://example.com/diaspora/merge_requests/1")
        );
        assert_eq!(
            opened.tags,
            ["merge-request", "gitlabhq/gitlab-test", "API"]
        );
        assert_eq!(opened.key, "project 1 mr 1 open");
        assert_eq!(opened.occurred_at, at("2013-12-03T17:23:34Z"));
        assert_eq!(
            opened.attributes[HUMAN_LABEL],
            "gitlabhq/gitlab-test!1: MS-Viewport"
        );

        let merged = memory("merge_request.merge");
        assert_eq!(merged.kind, "merge_request_merged");
        assert_eq!(
            merged.content,
            "Administrator merged !1 in gitlabhq/gitlab-test: MS-Viewport (master ← ms-viewport)\n\
             Labels: API."
        );
        assert_eq!(merged.key, "project 1 mr 1 merge");
        assert_eq!(
            merged.tags,
            ["merge-request", "merged", "gitlabhq/gitlab-test", "API"]
        );
        assert_eq!(merged.occurred_at, at("2013-12-04T09:12:01Z"));

        let updated = memory("merge_request.update");
        assert_eq!(updated.kind, "merge_request_updated");
        assert_eq!(
            updated.content,
            "Administrator updated !1 in gitlabhq/gitlab-test: MS-Viewport \
             (marked as ready; labels +Platform -API)"
        );
        assert_eq!(
            updated.key,
            format!(
                "project 1 mr 1 update {}",
                at("2013-12-03T18:02:10Z").unwrap().unix_timestamp()
            )
        );
        for m in [&opened, &merged, &updated] {
            assert_eq!(m.attributes[SESSION_ID], "gitlab:gitlabhq/gitlab-test!1");
        }
    }

    #[test]
    fn merge_request_updates_approvals_and_closing() {
        let mut p = fixture("gitlab", "merge_request.update");
        p["object_attributes"]["oldrev"] = json!("95790bf891e76fee5e1747ab589903a6a1f80f22");
        p["changes"] = json!({"updated_at": {"previous": "a", "current": "b"}});
        assert_eq!(
            memory_of(&p).content,
            "Administrator updated !1 in gitlabhq/gitlab-test: MS-Viewport (pushed new commits)"
        );
        // An update nobody would read about (threads resolved, time tracking).
        p["object_attributes"]
            .as_object_mut()
            .unwrap()
            .remove("oldrev");
        assert_eq!(
            reason_of(&p),
            "GitLab merge request update without a visible change is not stored"
        );

        let mut p = fixture("gitlab", "merge_request.open");
        p["object_attributes"]["action"] = json!("approval");
        let approval = memory_of(&p);
        assert_eq!(approval.kind, "merge_request_approved");
        assert_eq!(
            approval.content,
            "Administrator approved !1 in gitlabhq/gitlab-test: MS-Viewport"
        );
        assert_eq!(approval.key, "", "the delivery id is the key");
        p["object_attributes"]["action"] = json!("approved");
        assert_eq!(
            memory_of(&p).content,
            "!1 in gitlabhq/gitlab-test is approved by all required approvers: MS-Viewport \
             (last approval by Administrator)"
        );
        p["object_attributes"]["action"] = json!("unapproved");
        p["object_attributes"]["system"] = json!(true);
        p["object_attributes"]["system_action"] = json!("approvals_reset_on_push");
        let reset = memory_of(&p);
        assert_eq!(reset.kind, "merge_request_unapproved");
        assert!(
            reset
                .content
                .starts_with("!1 in gitlabhq/gitlab-test lost its approvals to new commits: "),
            "{}",
            reset.content
        );

        p["object_attributes"]["action"] = json!("close");
        let closed = memory_of(&p);
        assert_eq!(closed.kind, "merge_request_closed");
        assert!(
            closed.content.starts_with(
                "Administrator closed !1 in gitlabhq/gitlab-test without merging: MS-Viewport"
            ),
            "{}",
            closed.content
        );
        p["object_attributes"]["action"] = json!("something_new");
        assert_eq!(
            reason_of(&p),
            "GitLab merge request action something_new is not stored"
        );
        p["object_attributes"]["action"] = json!("open");
        p["object_attributes"]
            .as_object_mut()
            .unwrap()
            .remove("iid");
        assert_eq!(normalize(&p).unwrap_err().field, "object_attributes.iid");
    }

    #[test]
    fn a_long_description_is_cut() {
        let mut p = fixture("gitlab", "merge_request.open");
        p["object_attributes"]["description"] = json!("word ".repeat(5_000));
        let m = memory_of(&p);
        let description = m.content.split("\n\n").nth(1).unwrap();
        assert_eq!(description.chars().count(), TEXT_CHARS);
        assert!(description.ends_with('…'));
    }
}
