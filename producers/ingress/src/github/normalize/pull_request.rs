//! `pull_request` (opened, ready for review, reopened, merged, closed; edited replaces the
//! opening's text) and
//! `pull_request_review` (submitted) deliveries.

use serde_json::{Map, Value};

use rae_core::event::InvalidField;
use rae_core::text::clip_chars;

use super::draft::{push_body, push_labels_line, put_labels, put_text, short, Context, Draft};
use super::fields::{flag, label_names, number_at, object_at, string_at, text, time_at, title_of};
use super::{ignored, ignored_action, Outcome, LINE_CHARS, NAME_CHARS};

pub(super) fn pull_request(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if !matches!(
        action,
        "opened" | "ready_for_review" | "reopened" | "closed" | "edited"
    ) {
        return Ok(ignored_action("pull_request", action));
    }
    if action == "edited" && !super::issues::text_changed(ctx.payload) {
        return Ok(ignored(
            "pull_request edited without a title or description change",
        ));
    }
    let pr = object_at(ctx.payload, "pull_request", "pull_request")?;
    let number = number_at(pr, "number", "pull_request.number")?;
    let title = title_of(pr);
    let author = text(pr, &["user", "login"]).unwrap_or(ctx.who());
    let head = text(pr, &["head", "ref"]);
    let base = text(pr, &["base", "ref"]);
    let draft = flag(pr, "draft");
    let merged = action == "closed" && (flag(pr, "merged") || text(pr, &["merged_at"]).is_some());
    let repo = ctx.in_repo();
    let labels = label_names(pr, ctx.limits);

    let (kind, mut content, occurred_at) = match action {
        "opened" => (
            "pull_request_opened",
            format!(
                "{} #{number} opened by {author}{repo}: \"{title}\"",
                if draft { "Draft PR" } else { "PR" }
            ),
            time_at(pr, &["created_at", "updated_at"]),
        ),
        "ready_for_review" => (
            "pull_request_opened",
            format!(
                "PR #{number} marked ready for review by {}{repo}: \"{title}\"",
                ctx.who()
            ),
            time_at(pr, &["updated_at", "created_at"]),
        ),
        "edited" => (
            "pull_request_edited",
            format!("PR #{number} edited by {}{repo}: \"{title}\"", ctx.who()),
            time_at(pr, &["updated_at"]),
        ),
        "reopened" => (
            "pull_request_reopened",
            format!("PR #{number} reopened by {}{repo}: \"{title}\"", ctx.who()),
            time_at(pr, &["updated_at"]),
        ),
        _ if merged => (
            "pull_request_merged",
            format!(
                "PR #{number} merged by {}{}{repo}: \"{title}\"",
                text(pr, &["merged_by", "login"]).unwrap_or(ctx.who()),
                base.map(|b| format!(" into {}", clip_chars(b, LINE_CHARS)))
                    .unwrap_or_default(),
            ),
            time_at(pr, &["merged_at", "closed_at", "updated_at"]),
        ),
        _ => (
            "pull_request_closed",
            format!(
                "PR #{number} closed without merging by {}{repo}: \"{title}\"",
                ctx.who()
            ),
            time_at(pr, &["closed_at", "updated_at"]),
        ),
    };
    match (head, base) {
        (Some(head), Some(base)) if !merged => content.push_str(&format!(
            "\nBranch {} into {}, opened by {author}.",
            clip_chars(head, LINE_CHARS),
            clip_chars(base, LINE_CHARS)
        )),
        (Some(head), _) => content.push_str(&format!(
            "\nBranch {}, opened by {author}.",
            clip_chars(head, LINE_CHARS)
        )),
        _ => content.push_str(&format!("\nOpened by {author}.")),
    }
    push_labels_line(&mut content, &labels);
    push_body(&mut content, text(pr, &["body"]));
    // Opened and merged happen once; the rest may repeat, each at its own time.
    let at = |what: &str| {
        occurred_at.and_then(|t| ctx.key(format_args!("pr {number} {what} {}", t.unix_timestamp())))
    };
    let key = match action {
        "opened" => ctx.key(format_args!("pr {number} opened")),
        _ if merged => ctx.key(format_args!("pr {number} merged")),
        "ready_for_review" => at("ready"),
        "reopened" => at("reopened"),
        "edited" => at("edited"),
        _ => at("closed"),
    };

    let mut attributes = Map::new();
    attributes.insert("number".into(), number.into());
    attributes.insert("action".into(), short(action));
    put_text(&mut attributes, "state", text(pr, &["state"]));
    put_text(&mut attributes, "author", Some(author));
    put_text(&mut attributes, "head_ref", head);
    put_text(&mut attributes, "base_ref", base);
    put_text(&mut attributes, "head_sha", text(pr, &["head", "sha"]));
    attributes.insert("draft".into(), draft.into());
    attributes.insert("merged".into(), merged.into());
    if merged {
        put_text(
            &mut attributes,
            "merge_commit_sha",
            text(pr, &["merge_commit_sha"]),
        );
    }
    put_labels(&mut attributes, &labels);
    if matches!(action, "opened" | "ready_for_review" | "edited") {
        // The PR's text as it is now: an edit replaces the opening and earlier edits.
        if let Some(item) = ctx.text_item(format_args!("pr {number}")) {
            rae_core::forget::mark_version(&mut attributes, &item, action == "edited");
        }
    }

    let mut tags = Vec::new();
    if merged {
        tags.push("merged".to_owned());
    }
    tags.extend(labels);
    Ok(ctx.finish(Draft {
        kind,
        kind_tag: "pr",
        content,
        url: text(pr, &["html_url"]),
        occurred_at,
        tags,
        attributes,
        key,
    }))
}

pub(super) fn pull_request_review(
    ctx: &Context<'_>,
    action: &str,
) -> Result<Outcome, InvalidField> {
    if action != "submitted" {
        return Ok(ignored_action("pull_request_review", action));
    }
    let review = object_at(ctx.payload, "review", "review")?;
    let state = string_at(review, "state", "review.state")?.to_ascii_lowercase();
    let body = text(review, &["body"]);
    if state == "commented" && body.is_none() {
        return Ok(ignored(
            "pull_request_review commented without a body is not stored",
        ));
    }
    let pr = object_at(ctx.payload, "pull_request", "pull_request")?;
    let number = number_at(pr, "number", "pull_request.number")?;
    let title = title_of(pr);
    let reviewer = text(review, &["user", "login"]).unwrap_or(ctx.who());
    let repo = ctx.in_repo();
    let mut content = match state.as_str() {
        "approved" => format!("{reviewer} approved PR #{number}{repo}: \"{title}\""),
        "changes_requested" => {
            format!("{reviewer} requested changes on PR #{number}{repo}: \"{title}\"")
        }
        "commented" => format!("{reviewer} reviewed PR #{number}{repo} with comments: \"{title}\""),
        other => format!(
            "{reviewer} reviewed PR #{number}{repo} ({}): \"{title}\"",
            clip_chars(other, NAME_CHARS)
        ),
    };
    push_body(&mut content, body);

    let mut attributes = Map::new();
    attributes.insert("number".into(), number.into());
    attributes.insert("action".into(), short(action));
    attributes.insert("review_state".into(), short(&state));
    put_text(&mut attributes, "reviewer", Some(reviewer));
    put_text(&mut attributes, "head_sha", text(review, &["commit_id"]));
    let review_id = review.get("id").and_then(Value::as_u64);
    if let Some(id) = review_id {
        attributes.insert("review_id".into(), id.into());
    }
    Ok(ctx.finish(Draft {
        kind: "pull_request_review",
        kind_tag: "review",
        content,
        url: text(review, &["html_url"]).or_else(|| text(pr, &["html_url"])),
        occurred_at: time_at(review, &["submitted_at"]).or_else(|| time_at(pr, &["updated_at"])),
        tags: Vec::new(),
        attributes,
        key: review_id.and_then(|id| ctx.key(format_args!("review {id}"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::normalize::test_support::*;
    use crate::github::normalize::{ignored, Outcome};

    #[test]
    fn pull_request_opened() {
        let m = memory("pull_request.opened.json");
        assert_eq!(m.kind, "pull_request_opened");
        assert!(
            m.content.starts_with(
                "PR #2 opened by Codertocat in Codertocat/Hello-World: \
                 \"Update the README with new information.\"\n\
                 Branch changes into master, opened by Codertocat.\nLabels: bug.\n\n\
                 This is a pretty simple change that we need to pull into master.\n\nFixes #1"
            ),
            "{}",
            m.content
        );
        assert_eq!(m.actor.as_deref(), Some("Codertocat"));
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World/pull/2")
        );
        assert_eq!(m.repository.as_deref(), Some("Codertocat/Hello-World"));
        assert_eq!(m.organization.as_deref(), Some("Octocoders"));
        assert_eq!(m.tags, ["github", "pr", "bug"]);
        assert_eq!(m.attributes["number"], 2);
        assert_eq!(m.attributes["action"], "opened");
        assert_eq!(m.attributes["state"], "open");
        assert_eq!(m.attributes["head_ref"], "changes");
        assert_eq!(m.attributes["base_ref"], "master");
        assert_eq!(
            m.attributes["head_sha"],
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
        );
        assert_eq!(m.attributes["merged"], false);
        assert_eq!(m.attributes["labels"], serde_json::json!(["bug"]));
        assert_eq!(m.attributes["repository"], "Codertocat/Hello-World");
        assert_eq!(m.occurred_at, at("2019-05-15T15:20:33Z"));
    }

    #[test]
    fn pull_request_merged() {
        let m = memory("pull_request.closed_merged.json");
        assert_eq!(m.kind, "pull_request_merged");
        assert!(
            m.content.starts_with(
                "PR #2 merged by Codertocat into master in Codertocat/Hello-World: \
                 \"Update the README with new information.\"\n\
                 Branch changes, opened by Codertocat."
            ),
            "{}",
            m.content
        );
        assert_eq!(m.tags, ["github", "pr", "merged", "bug"]);
        assert_eq!(m.attributes["merged"], true);
        assert_eq!(
            m.attributes["merge_commit_sha"],
            "c4295bd74fb0f4fda03689c3df3f2803b658fd85"
        );
        assert_eq!(m.occurred_at, at("2019-05-15T15:21:18Z"));
    }

    #[test]
    fn pull_request_closed_without_merge() {
        let m = memory("pull_request.closed_unmerged.json");
        assert_eq!(m.kind, "pull_request_closed");
        assert!(
            m.content.starts_with(
                "PR #2 closed without merging by Codertocat in Codertocat/Hello-World"
            ),
            "{}",
            m.content
        );
        assert_eq!(m.tags, ["github", "pr", "bug"]);
        assert_eq!(m.attributes["merged"], false);
        assert!(!m.attributes.contains_key("merge_commit_sha"));
    }

    #[test]
    fn pull_request_reopened() {
        let m = memory("pull_request.reopened.json");
        assert_eq!(m.kind, "pull_request_reopened");
        assert!(
            m.content
                .starts_with("PR #2 reopened by Codertocat in Codertocat/Hello-World: "),
            "{}",
            m.content
        );
        assert_eq!(m.attributes["action"], "reopened");
    }

    #[test]
    fn other_pull_request_actions_are_ignored() {
        assert_eq!(
            reason("pull_request.labeled.json"),
            "pull_request action labeled is not stored"
        );
        // No other field is needed to ignore an action.
        let sync = serde_json::json!({"action": "synchronize"});
        assert!(matches!(
            run("pull_request", &sync).unwrap(),
            Outcome::Ignored { .. }
        ));
    }

    #[test]
    fn ready_for_review_counts_as_opened_and_drafts_are_noted() {
        let mut p = payload("pull_request.opened.json");
        p["action"] = "ready_for_review".into();
        let Outcome::Memory(m) = run("pull_request", &p).unwrap() else {
            panic!()
        };
        assert_eq!(m.kind, "pull_request_opened");
        assert!(m
            .content
            .starts_with("PR #2 marked ready for review by Codertocat"));

        let mut p = payload("pull_request.opened.json");
        p["pull_request"]["draft"] = true.into();
        let Outcome::Memory(m) = run("pull_request", &p).unwrap() else {
            panic!()
        };
        assert!(
            m.content.starts_with("Draft PR #2 opened by"),
            "{}",
            m.content
        );
        assert_eq!(m.attributes["draft"], true);
    }

    #[test]
    fn pull_request_review_submitted() {
        let m = memory("pull_request_review.submitted.json");
        assert_eq!(m.kind, "pull_request_review");
        assert_eq!(
            m.content,
            "octocat approved PR #2 in Codertocat/Hello-World: \
             \"Update the README with new information.\"\n\n\
             Looks good to me.\n\nOne nit: the README still says \"comitted\" further down."
        );
        assert_eq!(m.actor.as_deref(), Some("octocat"));
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World/pull/2#pullrequestreview-237895671")
        );
        assert_eq!(m.tags, ["github", "review"]);
        assert_eq!(m.attributes["review_state"], "approved");
        assert_eq!(m.attributes["reviewer"], "octocat");
        assert_eq!(m.attributes["number"], 2);
        assert_eq!(m.occurred_at, at("2019-05-15T15:20:38Z"));
    }

    #[test]
    fn review_states_are_worded_and_empty_comment_reviews_ignored() {
        let mut p = payload("pull_request_review.submitted.json");
        p["review"]["state"] = "CHANGES_REQUESTED".into();
        let Outcome::Memory(m) = run("pull_request_review", &p).unwrap() else {
            panic!()
        };
        assert!(m.content.starts_with("octocat requested changes on PR #2"));
        assert_eq!(m.attributes["review_state"], "changes_requested");

        p["review"]["state"] = "commented".into();
        let Outcome::Memory(m) = run("pull_request_review", &p).unwrap() else {
            panic!()
        };
        assert!(m
            .content
            .starts_with("octocat reviewed PR #2 in Codertocat/Hello-World with comments"));

        p["review"]["body"] = Value::Null;
        assert_eq!(
            run("pull_request_review", &p).unwrap(),
            ignored("pull_request_review commented without a body is not stored")
        );
        p["action"] = "dismissed".into();
        assert_eq!(
            run("pull_request_review", &p).unwrap(),
            ignored("pull_request_review action dismissed is not stored")
        );
    }
}
