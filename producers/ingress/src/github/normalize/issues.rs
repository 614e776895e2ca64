//! `issues` (opened, closed, reopened; edited replaces the opening's text; deleted forgets) and `issue_comment` (created, on an
//! issue or a PR; edited replaces, deleted forgets) deliveries.

use serde_json::{Map, Value};

use rae_core::event::InvalidField;
use rae_core::text::clip_chars;

use super::draft::{push_body, push_labels_line, put_labels, put_text, short, Context, Draft};
use super::fields::{label_names, number_at, object_at, text, time_at, title_of};
use super::{ignored, ignored_action, Outcome, NAME_CHARS};
use rae_core::forget;

pub(super) fn issues(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if action == "deleted" {
        // The issue and everything said on it: its URL covers its comments' URLs.
        let issue = object_at(ctx.payload, "issue", "issue")?;
        let number = number_at(issue, "number", "issue.number")?;
        let content = format!("Issue #{number} deleted by {}{}", ctx.who(), ctx.in_repo());
        return Ok(forget(ctx, content, text(issue, &["html_url"]), number));
    }
    let kind = match action {
        "opened" => "issue_opened",
        "closed" => "issue_closed",
        "reopened" => "issue_reopened",
        "edited" if text_changed(ctx.payload) => "issue_edited",
        "edited" => {
            return Ok(ignored(
                "issues edited without a title or description change",
            ))
        }
        _ => return Ok(ignored_action("issues", action)),
    };
    let issue = object_at(ctx.payload, "issue", "issue")?;
    let number = number_at(issue, "number", "issue.number")?;
    let title = title_of(issue);
    let author = text(issue, &["user", "login"]).unwrap_or(ctx.who());
    let state_reason = text(issue, &["state_reason"]);
    let repo = ctx.in_repo();
    let labels = label_names(issue, ctx.limits);
    let (mut content, occurred_at) = match action {
        "opened" => (
            format!("Issue #{number} opened by {author}{repo}: \"{title}\""),
            time_at(issue, &["created_at", "updated_at"]),
        ),
        "edited" => (
            format!("Issue #{number} edited by {}{repo}: \"{title}\"", ctx.who()),
            time_at(issue, &["updated_at"]),
        ),
        "closed" => (
            format!(
                "Issue #{number} closed{} by {}{repo}: \"{title}\"",
                state_reason.map(closed_as).unwrap_or_default(),
                ctx.who()
            ),
            time_at(issue, &["closed_at", "updated_at"]),
        ),
        _ => (
            format!(
                "Issue #{number} reopened by {}{repo}: \"{title}\"",
                ctx.who()
            ),
            time_at(issue, &["updated_at"]),
        ),
    };
    push_labels_line(&mut content, &labels);
    push_body(&mut content, text(issue, &["body"]));
    // An issue opens once; it may close and reopen many times, each at its own time.
    let key = match action {
        "opened" => ctx.key(format_args!("issue {number} opened")),
        "edited" => occurred_at
            .and_then(|t| ctx.key(format_args!("issue {number} edited {}", t.unix_timestamp()))),
        "closed" => occurred_at
            .and_then(|t| ctx.key(format_args!("issue {number} closed {}", t.unix_timestamp()))),
        _ => occurred_at.and_then(|t| {
            ctx.key(format_args!(
                "issue {number} reopened {}",
                t.unix_timestamp()
            ))
        }),
    };

    let mut attributes = Map::new();
    attributes.insert("number".into(), number.into());
    attributes.insert("action".into(), short(action));
    put_text(&mut attributes, "state", text(issue, &["state"]));
    put_text(&mut attributes, "state_reason", state_reason);
    put_text(&mut attributes, "author", Some(author));
    put_labels(&mut attributes, &labels);
    if matches!(action, "opened" | "edited") {
        // The issue's text as it is now: an edit replaces the opening and earlier edits.
        if let Some(item) = ctx.text_item(format_args!("issue {number}")) {
            forget::mark_version(&mut attributes, &item, action == "edited");
        }
    }
    Ok(ctx.finish(Draft {
        kind,
        kind_tag: "issue",
        content,
        url: text(issue, &["html_url"]),
        occurred_at,
        tags: labels,
        attributes,
        key,
    }))
}

pub(super) fn issue_comment(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if !["created", "edited", "deleted"].contains(&action) {
        return Ok(ignored_action("issue_comment", action));
    }
    let issue = object_at(ctx.payload, "issue", "issue")?;
    let number = number_at(issue, "number", "issue.number")?;
    let comment = object_at(ctx.payload, "comment", "comment")?;
    let comment_url = text(comment, &["html_url"]);
    if action == "deleted" {
        let content = format!(
            "A comment on #{number} deleted by {}{}",
            ctx.who(),
            ctx.in_repo()
        );
        // Without the comment's own URL there is nothing precise to forget.
        return match comment_url {
            Some(url) => Ok(forget(ctx, content, Some(url), number)),
            None => Ok(ignored("issue_comment deleted without comment.html_url")),
        };
    }
    let on_pr = issue.get("pull_request").is_some_and(Value::is_object);
    let commenter = text(comment, &["user", "login"]).unwrap_or(ctx.who());
    let mut content = format!(
        "{commenter} commented on {} #{number}{}: \"{}\"",
        if on_pr { "PR" } else { "issue" },
        ctx.in_repo(),
        title_of(issue)
    );
    push_body(&mut content, text(comment, &["body"]));

    let mut attributes = Map::new();
    attributes.insert("number".into(), number.into());
    attributes.insert("action".into(), short(action));
    attributes.insert(
        "on".into(),
        short(if on_pr { "pull_request" } else { "issue" }),
    );
    put_text(&mut attributes, "commenter", Some(commenter));
    let comment_id = comment.get("id").and_then(Value::as_u64);
    if let Some(id) = comment_id {
        attributes.insert("comment_id".into(), id.into());
    }
    if let (true, Some(url)) = (action == "edited", comment_url) {
        // The edited text replaces the memory of every earlier version of the comment.
        let selector = forget::Selector::new(forget::By::Url, url);
        attributes.insert(forget::ATTRIBUTE.into(), forget::to_value(&selector));
    }
    Ok(ctx.finish(Draft {
        kind: "issue_comment",
        kind_tag: "comment",
        content,
        url: comment_url.or_else(|| text(issue, &["html_url"])),
        occurred_at: time_at(comment, &["created_at", "updated_at"]),
        tags: vec![(if on_pr { "pr" } else { "issue" }).to_owned()],
        attributes,
        // An edit is a new version of the comment, at its own time.
        key: match action {
            "edited" => comment_id
                .zip(time_at(comment, &["updated_at"]))
                .and_then(|(id, t)| {
                    ctx.key(format_args!("comment {id} edited {}", t.unix_timestamp()))
                }),
            _ => comment_id.and_then(|id| ctx.key(format_args!("comment {id}"))),
        },
    }))
}

/// A delivery that forgets what was stored of `url` (an event of kind [`forget::KIND`]).
fn forget(ctx: &Context<'_>, content: String, url: Option<&str>, number: u64) -> Outcome {
    let Some(url) = url else {
        return ignored("deletion without html_url");
    };
    let mut attributes = Map::new();
    attributes.insert("number".into(), number.into());
    attributes.insert("action".into(), short("deleted"));
    let selector = forget::Selector::new(forget::By::Url, url);
    attributes.insert(forget::ATTRIBUTE.into(), forget::to_value(&selector));
    ctx.finish(Draft {
        kind: forget::KIND,
        kind_tag: "deleted",
        content,
        url: Some(url),
        occurred_at: None,
        tags: Vec::new(),
        attributes,
        // Forgetting is keyed by its delivery.
        key: None,
    })
}

/// Whether an `edited` delivery changed the title or the description (its `changes`), not
/// only, say, a milestone.
pub(super) fn text_changed(payload: &Value) -> bool {
    payload
        .get("changes")
        .is_some_and(|c| c.get("title").is_some() || c.get("body").is_some())
}

/// `Closed as ...` wording of an issue's `state_reason`.
fn closed_as(reason: &str) -> String {
    match reason {
        "completed" => " as completed".to_owned(),
        "not_planned" => " as not planned".to_owned(),
        "duplicate" => " as a duplicate".to_owned(),
        other => format!(" as {}", clip_chars(&other.replace('_', " "), NAME_CHARS)),
    }
}

#[cfg(test)]
mod tests {
    use crate::github::normalize::test_support::*;
    use crate::github::normalize::{ignored, Outcome};

    #[test]
    fn issue_opened_with_labels() {
        let m = memory("issues.opened.json");
        assert_eq!(m.kind, "issue_opened");
        assert_eq!(
            m.content,
            "Issue #1 opened by Codertocat in Codertocat/Hello-World: \
             \"Spelling error in the README file\"\nLabels: bug, good first issue.\n\n\
             It looks like you accidently spelled 'commit' with two 't's."
        );
        assert_eq!(m.tags, ["github", "issue", "bug", "good first issue"]);
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World/issues/1")
        );
        assert_eq!(
            m.attributes["labels"],
            serde_json::json!(["bug", "good first issue"])
        );
        assert_eq!(m.attributes["state"], "open");
        assert_eq!(m.occurred_at, at("2019-05-15T15:20:18Z"));
    }

    #[test]
    fn issue_closed_with_reason() {
        let m = memory("issues.closed.json");
        assert_eq!(m.kind, "issue_closed");
        assert!(
            m.content.starts_with(
                "Issue #1 closed as completed by Codertocat in Codertocat/Hello-World: "
            ),
            "{}",
            m.content
        );
        assert_eq!(m.attributes["state_reason"], "completed");
        assert_eq!(m.attributes["state"], "closed");
        assert_eq!(m.occurred_at, at("2019-05-15T15:22:05Z"));

        let mut p = payload("issues.closed.json");
        p["issue"]["state_reason"] = "not_planned".into();
        let Outcome::Memory(m) = run("issues", &p).unwrap() else {
            panic!()
        };
        assert!(m.content.starts_with("Issue #1 closed as not planned by"));

        p["action"] = "reopened".into();
        let Outcome::Memory(m) = run("issues", &p).unwrap() else {
            panic!()
        };
        assert_eq!(m.kind, "issue_reopened");
        assert!(m.content.starts_with("Issue #1 reopened by Codertocat"));

        p["action"] = "labeled".into();
        assert_eq!(
            run("issues", &p).unwrap(),
            ignored("issues action labeled is not stored")
        );
    }

    #[test]
    fn issue_comment_created() {
        let m = memory("issue_comment.created.json");
        assert_eq!(m.kind, "issue_comment");
        assert_eq!(
            m.content,
            "Codertocat commented on issue #1 in Codertocat/Hello-World: \
             \"Spelling error in the README file\"\n\n\
             You are totally right! I'll get this fixed right away."
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400")
        );
        assert_eq!(m.tags, ["github", "comment", "issue"]);
        assert_eq!(m.attributes["on"], "issue");
        assert_eq!(m.attributes["comment_id"], 492700400);
        assert_eq!(m.occurred_at, at("2019-05-15T15:20:21Z"));
    }

    #[test]
    fn a_comment_on_a_pull_request_says_so() {
        let mut p = payload("issue_comment.created.json");
        p["issue"]["pull_request"] = serde_json::json!({
            "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1",
            "html_url": "https://github.com/Codertocat/Hello-World/pull/1",
            "merged_at": null
        });
        let Outcome::Memory(m) = run("issue_comment", &p).unwrap() else {
            panic!()
        };
        assert!(m.content.starts_with("Codertocat commented on PR #1 in"));
        assert_eq!(m.tags, ["github", "comment", "pr"]);
        assert_eq!(m.attributes["on"], "pull_request");

        p["action"] = "pinned".into();
        assert_eq!(
            run("issue_comment", &p).unwrap(),
            ignored("issue_comment action pinned is not stored")
        );
    }

    #[test]
    fn an_edited_issue_or_pr_replaces_the_memories_of_its_text() {
        let item = "github codertocat/hello-world issue 1 text";
        let opened = memory("issues.opened.json");
        assert_eq!(opened.attributes["item"], item);
        assert!(opened.attributes.get("forget").is_none());
        let closed = memory("issues.closed.json");
        assert!(closed.attributes.get("item").is_none(), "a closing stays");

        let mut p = payload("issues.opened.json");
        p["action"] = "edited".into();
        p["changes"] = serde_json::json!({"body": {"from": "old"}});
        p["issue"]["body"] = "New text.".into();
        let Outcome::Memory(edited) = run("issues", &p).unwrap() else {
            panic!()
        };
        assert_eq!(edited.kind, "issue_edited");
        assert!(
            edited
                .content
                .starts_with("Issue #1 edited by Codertocat in Codertocat/Hello-World: "),
            "{}",
            edited.content
        );
        assert!(edited.content.ends_with("New text."), "{}", edited.content);
        assert_eq!(edited.attributes["item"], item);
        assert_eq!(
            edited.attributes["forget"],
            serde_json::json!({"by": "item", "value": item})
        );
        // Only a title or description change is a new version of the text.
        p["changes"] = serde_json::json!({"milestone": {"from": null}});
        assert!(matches!(
            run("issues", &p).unwrap(),
            Outcome::Ignored { .. }
        ));

        let mut pr = payload("pull_request.opened.json");
        let pr_item = "github codertocat/hello-world pr 2 text";
        let Outcome::Memory(opened) = run("pull_request", &pr).unwrap() else {
            panic!()
        };
        assert_eq!(opened.attributes["item"], pr_item);
        pr["action"] = "edited".into();
        pr["changes"] = serde_json::json!({"title": {"from": "Update the README"}});
        let Outcome::Memory(edited) = run("pull_request", &pr).unwrap() else {
            panic!()
        };
        assert_eq!(edited.kind, "pull_request_edited");
        assert_eq!(edited.attributes["forget"]["value"], pr_item);
    }

    #[test]
    fn an_edited_comment_replaces_and_a_deleted_one_is_forgotten() {
        let mut p = payload("issue_comment.created.json");
        let url = p["comment"]["html_url"].as_str().unwrap().to_owned();
        p["action"] = "edited".into();
        let Outcome::Memory(edited) = run("issue_comment", &p).unwrap() else {
            panic!()
        };
        assert_eq!(edited.kind, "issue_comment");
        assert_eq!(edited.url.as_deref(), Some(url.as_str()));
        assert_eq!(
            edited.attributes["forget"],
            serde_json::json!({"by": "url", "value": url})
        );
        p["action"] = "deleted".into();
        let Outcome::Memory(deleted) = run("issue_comment", &p).unwrap() else {
            panic!()
        };
        assert_eq!(deleted.kind, "forget");
        assert_eq!(
            deleted.attributes["forget"],
            serde_json::json!({"by": "url", "value": url})
        );
        let mut issue = payload("issues.opened.json");
        issue["action"] = "deleted".into();
        let Outcome::Memory(gone) = run("issues", &issue).unwrap() else {
            panic!()
        };
        assert_eq!(gone.kind, "forget");
        assert_eq!(
            gone.attributes["forget"]["value"],
            "https://github.com/Codertocat/Hello-World/issues/1"
        );
        assert!(
            gone.content.starts_with("Issue #1 deleted by Codertocat"),
            "{}",
            gone.content
        );
    }
}
