//! `note`: a comment, created or edited, on an MR, an issue, a commit or a snippet.

use serde_json::{json, Map, Value};

use super::{
    actor, ignored, iid_of, link, object_attributes, one_line, push_text, put, short_sha, time_at,
    title_of, who, Project, NAME_CHARS,
};
use crate::presets::{text, Memory, Normalized};
use rae_core::event::{InvalidField, HUMAN_LABEL, SESSION_ID};
use rae_core::forget;
use rae_core::text::clip_chars;

/// `note`: a comment, created or edited, on an MR, an issue, a commit or a snippet.
pub(super) fn note(payload: &Value, project: &Project<'_>) -> Result<Normalized, InvalidField> {
    let note = object_attributes(payload)?;
    if note.get("system").and_then(Value::as_bool) == Some(true) {
        return Ok(ignored("GitLab system notes are not stored"));
    }
    let id = note
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| InvalidField::new("object_attributes.id", "missing or not a number"))?;
    let action = text(note, "/action").unwrap_or("create");
    if !["create", "update"].contains(&action) {
        return Ok(ignored(format!(
            "GitLab note action {} is not stored",
            clip_chars(action, NAME_CHARS)
        )));
    }
    let noteable = text(note, "/noteable_type").unwrap_or("");
    let place = project.place();
    // What the comment is on, the memory's kind, and the conversation it joins.
    let (on, kind, session, label) = match noteable {
        "MergeRequest" => {
            let mr = payload.get("merge_request").unwrap_or(&Value::Null);
            let iid = iid_of(mr, "merge_request.iid")?;
            let reference = format!("!{iid}");
            let title = title_of(mr);
            (
                format!("{reference}{place}: {title}"),
                "merge_request_comment",
                project.session(&reference),
                Some(format!(
                    "{}{reference}: {title}",
                    project.path().unwrap_or_default()
                )),
            )
        }
        "Issue" => {
            let issue = payload.get("issue").unwrap_or(&Value::Null);
            let iid = iid_of(issue, "issue.iid")?;
            let reference = format!("#{iid}");
            let title = title_of(issue);
            (
                format!("issue {reference}{place}: {title}"),
                "issue_comment",
                project.session(&reference),
                Some(format!(
                    "{}{reference}: {title}",
                    project.path().unwrap_or_default()
                )),
            )
        }
        "Commit" => {
            let sha = text(payload, "/commit/id")
                .or_else(|| text(note, "/commit_id"))
                .map(short_sha)
                .unwrap_or_default();
            let subject = text(payload, "/commit/message")
                .map(|m| format!(": {}", one_line(m)))
                .unwrap_or_default();
            (
                format!("commit {sha}{place}{subject}"),
                "commit_comment",
                None,
                None,
            )
        }
        "Snippet" => {
            let snippet = payload.get("snippet").unwrap_or(&Value::Null);
            let reference = snippet
                .get("id")
                .and_then(Value::as_u64)
                .map(|id| format!(" ${id}"))
                .unwrap_or_default();
            (
                format!("snippet{reference}{place}: {}", title_of(snippet)),
                "snippet_comment",
                None,
                None,
            )
        }
        other => {
            return Ok(ignored(format!(
                "GitLab comments on {} are not stored",
                clip_chars(
                    if other.is_empty() {
                        "unknown items"
                    } else {
                        other
                    },
                    NAME_CHARS
                )
            )))
        }
    };
    let actor = actor(payload);
    let edited = action == "update";
    let mut content = format!(
        "{} {} {on}",
        who(actor),
        if edited {
            "edited a comment on"
        } else {
            "commented on"
        }
    );
    push_text(&mut content, text(note, "/note"));
    let url = link(note, "/url");
    let mut attributes = Map::new();
    if let Some(session) = session {
        attributes.insert(SESSION_ID.into(), json!(session));
    }
    if let Some(label) = label {
        attributes.insert(HUMAN_LABEL.into(), json!(label));
    }
    put(&mut attributes, "project", project.path());
    attributes.insert("note_id".into(), json!(id));
    put(&mut attributes, "noteable_type", Some(noteable));
    put(&mut attributes, "action", Some(action));
    if let (true, Some(url)) = (edited, url) {
        // The edited text replaces the memory of every earlier version of the comment.
        let selector = forget::Selector::new(forget::By::Url, url);
        attributes.insert(forget::ATTRIBUTE.into(), forget::to_value(&selector));
    }
    let mut tags = vec!["comment".to_owned()];
    if note.get("internal").and_then(Value::as_bool) == Some(true) {
        tags.push("internal".to_owned());
    }
    if text(payload, "/event_type") == Some("confidential_note") {
        tags.push("confidential".to_owned());
    }
    tags.extend(project.tag());
    let (key, occurred_at) = if edited {
        let at = time_at(note, "/updated_at");
        (
            at.map(|t| project.key(format_args!("note {id} edited {}", t.unix_timestamp())))
                .unwrap_or_default(),
            at,
        )
    } else {
        (
            project.key(format_args!("note {id}")),
            time_at(note, "/created_at"),
        )
    };
    Ok(Normalized::Memories(vec![Memory {
        key,
        kind: kind.into(),
        content,
        tags,
        actor: actor.map(str::to_owned),
        url: url.map(str::to_owned),
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
    fn comments_join_their_merge_request_or_issue() {
        let on_mr = memory("note.merge_request");
        assert_eq!(on_mr.kind, "merge_request_comment");
        assert_eq!(
            on_mr.content,
            "Administrator commented on !1 in gitlab-org/gitlab-test: Tempora et eos debitis quae laborum et.\n\n\
             This MR needs work."
        );
        assert_eq!(
            on_mr.attributes[SESSION_ID],
            "gitlab:gitlab-org/gitlab-test!1"
        );
        assert_eq!(
            on_mr.url.as_deref(),
            Some("http://example.com/gitlab-org/gitlab-test/merge_requests/1#note_1244")
        );
        assert_eq!(on_mr.key, "project 5 note 1244");
        assert_eq!(on_mr.occurred_at, at("2015-05-17T18:21:36Z"));

        let on_issue = memory("note.issue");
        assert_eq!(on_issue.kind, "issue_comment");
        assert_eq!(
            on_issue.content,
            "Administrator commented on issue #17 in gitlab-org/gitlab-test: test\n\nHello world"
        );
        assert_eq!(
            on_issue.attributes[SESSION_ID],
            "gitlab:gitlab-org/gitlab-test#17"
        );

        let on_commit = memory("note.commit");
        assert_eq!(on_commit.kind, "commit_comment");
        assert_eq!(
            on_commit.content,
            "Administrator commented on commit cfe32cf6 in gitlabhq/gitlab-test: Add submodule\n\n\
             This is a commit comment. How does this work?"
        );
        assert!(!on_commit.attributes.contains_key(SESSION_ID));

        let on_snippet = memory("note.snippet");
        assert_eq!(on_snippet.kind, "snippet_comment");
        assert_eq!(
            on_snippet.content,
            "Administrator commented on snippet $53 in gitlab-org/gitlab-test: test\n\n\
             Is this snippet doing what it's supposed to be doing?"
        );

        // An edit replaces the comment's earlier memory.
        let mut p = fixture("gitlab", "note.merge_request");
        p["object_attributes"]["action"] = json!("update");
        p["object_attributes"]["updated_at"] = json!("2015-05-17 18:30:00 UTC");
        p["object_attributes"]["note"] = json!("This MR needs work on the tests.");
        let edited = memory_of(&p);
        assert!(edited
            .content
            .starts_with("Administrator edited a comment on !1 in gitlab-org/gitlab-test"));
        assert_ne!(edited.key, on_mr.key);
        assert!(edited.attributes.contains_key(forget::ATTRIBUTE));

        p["object_attributes"]["system"] = json!(true);
        assert_eq!(reason_of(&p), "GitLab system notes are not stored");
    }
}
