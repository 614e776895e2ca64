//! Turns a verified GitHub delivery into what is worth remembering (pure, no I/O).
//!
//! [`interpret`] reads the event name (the `X-GitHub-Event` header) and the parsed body and
//! answers one [`Outcome`]: a `ping`, a delivery that is deliberately not stored (with the reason),
//! or one [`Memory`]. Stored events and actions:
//!
//! | event | actions | kind |
//! |---|---|---|
//! | `pull_request` | `opened`, `ready_for_review` | `pull_request_opened` |
//! | | `reopened` | `pull_request_reopened` |
//! | | `closed` (merged) | `pull_request_merged` |
//! | | `closed` (not merged) | `pull_request_closed` |
//! | `pull_request_review` | `submitted` (not a `commented` review without a body) | `pull_request_review` |
//! | `issues` | `opened`, `closed`, `reopened` | `issue_opened`, `issue_closed`, `issue_reopened` |
//! | `issue_comment` | `created` | `issue_comment` |
//! | `push` | branch pushes with commits | `push` |
//! | `release` | `published` | `release_published` |
//! | `workflow_run` | `completed` with conclusion `failure`, `timed_out` or `startup_failure` | `workflow_run_failed` |
//!
//! Everything else is [`Outcome::Ignored`], notably:
//! - `release` `released`: GitHub sends it together with `published` for every full release, so
//!   storing both would remember each release twice (a prerelease later promoted to a release is
//!   thus not remembered again);
//! - pushes that delete a ref, carry no commits, or push a tag (`refs/tags/...`): the release
//!   events describe tags better than a bare tag push;
//! - successful, cancelled or skipped workflow runs.
//!
//! Bodies (PR, issue, comment, review, release notes) are cut to [`BODY_CHARS`] characters with
//! `…`, carriage returns are removed, and the whole content never exceeds
//! [`Limits::max_content_bytes`]. Times are converted to UTC.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use rae_core::event::{push_tag, InvalidField, Limits};
use rae_core::text::{clip_bytes, clip_chars};

/// Characters kept of a free-text body (PR description, comment, release notes, ...).
pub const BODY_CHARS: usize = 1000;
/// Commits listed in a push memory; the rest are counted.
pub const LISTED_COMMITS: usize = 20;
/// Characters kept of a title, a commit subject or another one-line value.
const LINE_CHARS: usize = 300;
/// Characters kept of a string attribute.
const ATTRIBUTE_CHARS: usize = 200;
/// Characters of an event name or action quoted in an ignore reason.
const NAME_CHARS: usize = 64;
/// Conclusions of a completed workflow run that are remembered.
const FAILED_CONCLUSIONS: &[&str] = &["failure", "timed_out", "startup_failure"];

/// One GitHub delivery: the `X-GitHub-Event` header and the parsed JSON body.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub event: &'a str,
    pub payload: &'a Value,
}

/// What to do with a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The hook was just created; answer it, store nothing.
    Ping { zen: Option<String> },
    /// A valid delivery that is not worth a memory.
    Ignored { reason: String },
    /// Something to remember.
    Memory(Memory),
}

/// The source-specific part of an event built from a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    /// `pull_request_opened`, `pull_request_merged`, `issue_comment`, `push`, ...
    pub kind: String,
    /// What a person would want to remember, within [`Limits::max_content_bytes`].
    pub content: String,
    /// `sender.login`.
    pub actor: Option<String>,
    /// The page of the PR, issue, comment, review, release or run; the compare view for a push.
    pub url: Option<String>,
    /// `repository.full_name`.
    pub repository: Option<String>,
    /// `organization.login`, else `repository.owner.login`.
    pub organization: Option<String>,
    /// `github`, a kind tag (`pr`, `issue`, `review`, `comment`, `push`, `release`, `ci`), state
    /// tags (`merged`, `failed`, `prerelease`) and label names, within the tag limits.
    pub tags: Vec<String>,
    /// Small facts: repository, number, action, state, refs, shas, counts, labels, ...
    pub attributes: Map<String, Value>,
    /// When it happened, from the payload's own timestamps, in UTC.
    pub occurred_at: Option<OffsetDateTime>,
}

/// Decides what `delivery` means.
///
/// # Errors
/// [`InvalidField`] naming the JSON path of a required field that is missing or has the wrong
/// type (`body`, `action`, `pull_request.number`, `commits[2].id`, ...). Events and actions that
/// are not stored are `Ok(Outcome::Ignored)` without looking at their other fields.
pub fn interpret(delivery: &Delivery<'_>, limits: &Limits) -> Result<Outcome, InvalidField> {
    let payload = delivery.payload;
    if !payload.is_object() {
        return Err(InvalidField::new("body", "must be a JSON object"));
    }
    let ctx = Context::new(payload, limits);
    match delivery.event {
        "ping" => Ok(Outcome::Ping {
            zen: text(payload, &["zen"]).map(|z| clip_chars(z, LINE_CHARS).into_owned()),
        }),
        "pull_request" => pull_request(&ctx, action(payload)?),
        "pull_request_review" => pull_request_review(&ctx, action(payload)?),
        "issues" => issues(&ctx, action(payload)?),
        "issue_comment" => issue_comment(&ctx, action(payload)?),
        "push" => push(&ctx),
        "release" => release(&ctx, action(payload)?),
        "workflow_run" => workflow_run(&ctx, action(payload)?),
        other => Ok(ignored(format!(
            "event {} is not stored",
            clip_chars(other, NAME_CHARS)
        ))),
    }
}

/// What every memory of one delivery shares.
struct Context<'v> {
    payload: &'v Value,
    limits: &'v Limits,
    actor: Option<&'v str>,
    repository: Option<&'v str>,
    organization: Option<&'v str>,
}

impl<'v> Context<'v> {
    fn new(payload: &'v Value, limits: &'v Limits) -> Self {
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
    fn in_repo(&self) -> String {
        self.repository
            .map(|r| format!(" in {}", clip_chars(r, LINE_CHARS)))
            .unwrap_or_default()
    }

    /// The sender's login, or `someone`.
    fn who(&self) -> &'v str {
        self.actor.unwrap_or("someone")
    }

    fn finish(&self, draft: Draft) -> Outcome {
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
        })
    }
}

/// One memory before the limits are applied.
struct Draft<'v> {
    kind: &'static str,
    kind_tag: &'static str,
    content: String,
    url: Option<&'v str>,
    occurred_at: Option<OffsetDateTime>,
    /// Tags after `github` and the kind tag: state tags, then labels.
    tags: Vec<String>,
    attributes: Map<String, Value>,
}

fn pull_request(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if !matches!(
        action,
        "opened" | "ready_for_review" | "reopened" | "closed"
    ) {
        return Ok(ignored_action("pull_request", action));
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
    }))
}

fn pull_request_review(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
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
    if let Some(id) = review.get("id").and_then(Value::as_u64) {
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
    }))
}

fn issues(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    let kind = match action {
        "opened" => "issue_opened",
        "closed" => "issue_closed",
        "reopened" => "issue_reopened",
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

    let mut attributes = Map::new();
    attributes.insert("number".into(), number.into());
    attributes.insert("action".into(), short(action));
    put_text(&mut attributes, "state", text(issue, &["state"]));
    put_text(&mut attributes, "state_reason", state_reason);
    put_text(&mut attributes, "author", Some(author));
    put_labels(&mut attributes, &labels);
    Ok(ctx.finish(Draft {
        kind,
        kind_tag: "issue",
        content,
        url: text(issue, &["html_url"]),
        occurred_at,
        tags: labels,
        attributes,
    }))
}

fn issue_comment(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if action != "created" {
        return Ok(ignored_action("issue_comment", action));
    }
    let issue = object_at(ctx.payload, "issue", "issue")?;
    let number = number_at(issue, "number", "issue.number")?;
    let comment = object_at(ctx.payload, "comment", "comment")?;
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
    if let Some(id) = comment.get("id").and_then(Value::as_u64) {
        attributes.insert("comment_id".into(), id.into());
    }
    Ok(ctx.finish(Draft {
        kind: "issue_comment",
        kind_tag: "comment",
        content,
        url: text(comment, &["html_url"]).or_else(|| text(issue, &["html_url"])),
        occurred_at: time_at(comment, &["created_at", "updated_at"]),
        tags: vec![(if on_pr { "pr" } else { "issue" }).to_owned()],
        attributes,
    }))
}

/// A branch push with commits becomes one memory listing them. Deletions, pushes without
/// commits and tag pushes are ignored.
fn push(ctx: &Context<'_>) -> Result<Outcome, InvalidField> {
    let payload = ctx.payload;
    let git_ref = string_at(payload, "ref", "ref")?;
    if flag(payload, "deleted") {
        return Ok(ignored(format!(
            "push deleting {} is not stored",
            clip_chars(git_ref, LINE_CHARS)
        )));
    }
    if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        return Ok(ignored(format!(
            "push of tag {} is not stored (release events are)",
            clip_chars(tag, LINE_CHARS)
        )));
    }
    let commits = match payload.get("commits") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(commits)) => commits.as_slice(),
        Some(_) => return Err(InvalidField::new("commits", "must be an array")),
    };
    if commits.is_empty() {
        return Ok(ignored(format!(
            "push to {} without commits is not stored",
            clip_chars(git_ref, LINE_CHARS)
        )));
    }
    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
    let forced = flag(payload, "forced");
    let created = flag(payload, "created");
    let pusher = ctx.actor.or_else(|| text(payload, &["pusher", "name"]));
    let count = commits.len();
    let mut content = format!(
        "{} {} {count} commit{} to {}branch {}{}:",
        pusher.unwrap_or("someone"),
        if forced { "force-pushed" } else { "pushed" },
        if count == 1 { "" } else { "s" },
        if created { "new " } else { "" },
        clip_chars(branch, LINE_CHARS),
        ctx.in_repo()
    );
    for (i, commit) in commits.iter().enumerate().take(LISTED_COMMITS) {
        let field = |name: &str| format!("commits[{i}].{name}");
        if !commit.is_object() {
            return Err(InvalidField::new(
                format!("commits[{i}]"),
                "must be an object",
            ));
        }
        let id = string_at(commit, "id", &field("id"))?;
        let subject = text(commit, &["message"])
            .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
            .map(|l| clip_chars(l, LINE_CHARS))
            .unwrap_or_default();
        let author = text(commit, &["author", "username"])
            .or_else(|| text(commit, &["author", "name"]))
            .map(|a| format!(" ({})", clip_chars(a, NAME_CHARS)))
            .unwrap_or_default();
        content.push_str(&format!("\n- {} {subject}{author}", short_sha(id)));
    }
    if count > LISTED_COMMITS {
        content.push_str(&format!("\n… and {} more", count - LISTED_COMMITS));
    }
    let head_sha = text(payload, &["after"]);
    let occurred_at = payload
        .get("head_commit")
        .and_then(|c| time_at(c, &["timestamp"]))
        .or_else(|| commits.last().and_then(|c| time_at(c, &["timestamp"])));

    let mut attributes = Map::new();
    put_text(&mut attributes, "ref", Some(git_ref));
    put_text(&mut attributes, "branch", Some(branch));
    put_text(&mut attributes, "before", text(payload, &["before"]));
    put_text(&mut attributes, "head_sha", head_sha);
    attributes.insert("commits".into(), count.into());
    attributes.insert("forced".into(), forced.into());
    attributes.insert("created".into(), created.into());
    put_text(
        &mut attributes,
        "pusher",
        text(payload, &["pusher", "name"]),
    );
    Ok(ctx.finish(Draft {
        kind: "push",
        kind_tag: "push",
        content,
        url: text(payload, &["compare"]),
        occurred_at,
        tags: Vec::new(),
        attributes,
    }))
}

fn release(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if action == "released" {
        return Ok(ignored(
            "release released is not stored (the same release's published is)",
        ));
    }
    if action != "published" {
        return Ok(ignored_action("release", action));
    }
    let release = object_at(ctx.payload, "release", "release")?;
    let tag_name = string_at(release, "tag_name", "release.tag_name")?;
    let name = text(release, &["name"]).filter(|n| *n != tag_name);
    let prerelease = flag(release, "prerelease");
    let author = text(release, &["author", "login"]).unwrap_or(ctx.who());
    let label = match name {
        Some(name) => format!(
            "\"{}\" ({})",
            clip_chars(one_line(name), LINE_CHARS),
            clip_chars(tag_name, LINE_CHARS)
        ),
        None => clip_chars(tag_name, LINE_CHARS).into_owned(),
    };
    let mut content = format!(
        "Release {label} published by {author}{}{}",
        ctx.in_repo(),
        if prerelease { " as a prerelease" } else { "" }
    );
    push_body(&mut content, text(release, &["body"]));

    let mut attributes = Map::new();
    attributes.insert("action".into(), short(action));
    put_text(&mut attributes, "tag_name", Some(tag_name));
    put_text(&mut attributes, "name", name);
    attributes.insert("prerelease".into(), prerelease.into());
    put_text(
        &mut attributes,
        "target_commitish",
        text(release, &["target_commitish"]),
    );
    put_text(&mut attributes, "author", Some(author));
    let tags = if prerelease {
        vec!["prerelease".to_owned()]
    } else {
        Vec::new()
    };
    Ok(ctx.finish(Draft {
        kind: "release_published",
        kind_tag: "release",
        content,
        url: text(release, &["html_url"]),
        occurred_at: time_at(release, &["published_at", "created_at"]),
        tags,
        attributes,
    }))
}

fn workflow_run(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if action != "completed" {
        return Ok(ignored_action("workflow_run", action));
    }
    let run = object_at(ctx.payload, "workflow_run", "workflow_run")?;
    let conclusion = string_at(run, "conclusion", "workflow_run.conclusion")?;
    if !FAILED_CONCLUSIONS.contains(&conclusion) {
        return Ok(ignored(format!(
            "workflow_run completed with conclusion {} is not stored",
            clip_chars(conclusion, NAME_CHARS)
        )));
    }
    let outcome = match conclusion {
        "timed_out" => "timed out",
        "startup_failure" => "failed to start",
        _ => "failed",
    };
    let workflow = text(ctx.payload, &["workflow", "name"])
        .or_else(|| text(run, &["name"]))
        .unwrap_or("workflow");
    let branch = text(run, &["head_branch"]);
    let triggered_by = text(run, &["triggering_actor", "login"])
        .or_else(|| text(run, &["actor", "login"]))
        .or(ctx.actor);
    let event = text(run, &["event"]);
    let run_number = run.get("run_number").and_then(Value::as_u64);
    let head_sha = text(run, &["head_sha"]).or_else(|| text(run, &["head_commit", "id"]));
    let url = text(run, &["html_url"]);

    let mut content = format!(
        "Workflow \"{}\" {outcome}{}{}",
        clip_chars(one_line(workflow), LINE_CHARS),
        branch
            .map(|b| format!(" on {}", clip_chars(b, LINE_CHARS)))
            .unwrap_or_default(),
        ctx.in_repo()
    );
    let mut details = Vec::new();
    if let Some(n) = run_number {
        details.push(format!("run #{n}"));
    }
    if let Some(who) = triggered_by {
        details.push(format!("triggered by {}", clip_chars(who, NAME_CHARS)));
    }
    if let Some(event) = event {
        details.push(format!("on {}", clip_chars(event, NAME_CHARS)));
    }
    if !details.is_empty() {
        content.push_str(&format!(" ({})", details.join(", ")));
    }
    content.push('.');
    let subject = text(run, &["head_commit", "message"])
        .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()));
    match (head_sha, subject) {
        (Some(sha), Some(subject)) => content.push_str(&format!(
            "\nHead commit {}: {}",
            short_sha(sha),
            clip_chars(subject, LINE_CHARS)
        )),
        (None, Some(subject)) => content.push_str(&format!(
            "\nHead commit: {}",
            clip_chars(subject, LINE_CHARS)
        )),
        (Some(sha), None) => content.push_str(&format!("\nHead commit {}.", short_sha(sha))),
        (None, None) => {}
    }
    if let Some(url) = url {
        content.push_str(&format!("\nRun: {}", clip_chars(url, LINE_CHARS)));
    }

    let mut attributes = Map::new();
    attributes.insert("action".into(), short(action));
    put_text(&mut attributes, "workflow", Some(workflow));
    attributes.insert("conclusion".into(), short(conclusion));
    put_text(&mut attributes, "branch", branch);
    put_text(&mut attributes, "head_sha", head_sha);
    put_text(&mut attributes, "event", event);
    put_text(&mut attributes, "triggered_by", triggered_by);
    for key in ["id", "run_number", "run_attempt"] {
        if let Some(n) = run.get(key).and_then(Value::as_u64) {
            let name = if key == "id" { "run_id" } else { key };
            attributes.insert(name.into(), n.into());
        }
    }
    let pull_requests: Vec<Value> = run
        .get("pull_requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|pr| pr.get("number").and_then(Value::as_u64))
        .take(10)
        .map(Value::from)
        .collect();
    if !pull_requests.is_empty() {
        attributes.insert("pull_requests".into(), Value::Array(pull_requests));
    }
    Ok(ctx.finish(Draft {
        kind: "workflow_run_failed",
        kind_tag: "ci",
        content,
        url,
        occurred_at: time_at(run, &["updated_at", "run_started_at", "created_at"]),
        tags: vec!["failed".to_owned()],
        attributes,
    }))
}

fn ignored(reason: impl Into<String>) -> Outcome {
    Outcome::Ignored {
        reason: reason.into(),
    }
}

fn ignored_action(event: &str, action: &str) -> Outcome {
    ignored(format!(
        "{event} action {} is not stored",
        clip_chars(action, NAME_CHARS)
    ))
}

/// The payload's `action`.
fn action(payload: &Value) -> Result<&str, InvalidField> {
    string_at(payload, "action", "action")
}

/// `parent[key]` when it is an object; `field` names it in the error.
fn object_at<'v>(parent: &'v Value, key: &str, field: &str) -> Result<&'v Value, InvalidField> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(InvalidField::new(field, "missing")),
        Some(v) if v.is_object() => Ok(v),
        Some(_) => Err(InvalidField::new(field, "must be an object")),
    }
}

/// `parent[key]` when it is a non-negative integer.
fn number_at(parent: &Value, key: &str, field: &str) -> Result<u64, InvalidField> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(InvalidField::new(field, "missing")),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| InvalidField::new(field, "must be a non-negative integer")),
    }
}

/// `parent[key]` when it is a non-blank string.
fn string_at<'v>(parent: &'v Value, key: &str, field: &str) -> Result<&'v str, InvalidField> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(InvalidField::new(field, "missing")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(InvalidField::new(field, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(s.trim()),
        Some(_) => Err(InvalidField::new(field, "must be a string")),
    }
}

/// The string at `path` below `value`, trimmed, when present and not blank. Any other shape
/// (missing key, null, array, number) is `None`.
fn text<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `value[key]` is `true`.
fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool) == Some(true)
}

/// The first parseable RFC 3339 time among `keys` of `value`, in UTC.
fn time_at(value: &Value, keys: &[&str]) -> Option<OffsetDateTime> {
    keys.iter()
        .filter_map(|key| value.get(*key)?.as_str())
        .find_map(|s| OffsetDateTime::parse(s.trim(), &Rfc3339).ok())
        .map(|t| t.to_offset(UtcOffset::UTC))
}

/// The one-line `title` of a PR or an issue, or `(no title)`.
fn title_of(value: &Value) -> String {
    text(value, &["title"]).map_or_else(
        || "(no title)".to_owned(),
        |t| clip_chars(one_line(t), LINE_CHARS).into_owned(),
    )
}

/// The first non-blank line of `s`.
fn one_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The first 7 characters of a commit id.
fn short_sha(id: &str) -> String {
    id.chars().take(7).collect()
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

/// Names of `value.labels[*].name` that can be tags, at most `limits.max_tags`.
fn label_names(value: &Value, limits: &Limits) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for label in value
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = text(label, &["name"]) else {
            continue;
        };
        if names.len() >= limits.max_tags {
            break;
        }
        if name.chars().count() <= limits.max_tag_chars
            && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
        {
            names.push(name.to_owned());
        }
    }
    names
}

/// Appends `Labels: a, b.` when there are labels.
fn push_labels_line(content: &mut String, labels: &[String]) {
    if !labels.is_empty() {
        content.push_str(&format!("\nLabels: {}.", labels.join(", ")));
    }
}

/// Appends a blank line and the cleaned, cut `body` when it has text.
fn push_body(content: &mut String, body: Option<&str>) {
    let Some(body) = body else { return };
    let cleaned = body.replace("\r\n", "\n").replace('\r', "");
    let cleaned = cleaned.trim();
    if !cleaned.is_empty() {
        content.push_str("\n\n");
        content.push_str(&clip_chars(cleaned, BODY_CHARS));
    }
}

/// A string attribute, cut to [`ATTRIBUTE_CHARS`].
fn short(s: &str) -> Value {
    Value::String(clip_chars(s, ATTRIBUTE_CHARS).into_owned())
}

fn put_text(attributes: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        attributes.insert(key.to_owned(), short(value));
    }
}

fn put_labels(attributes: &mut Map<String, Value>, labels: &[String]) {
    if !labels.is_empty() {
        let labels = labels.iter().map(|l| short(l)).collect();
        attributes.insert("labels".into(), Value::Array(labels));
    }
}

/// Drops the largest attributes until the map is at most `max_bytes` as JSON.
fn fit_attributes(attributes: &mut Map<String, Value>, max_bytes: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::event::Event;

    macro_rules! fixture {
        ($name:literal) => {
            (
                $name,
                include_str!(concat!("../../../../tests/fixtures/github/", $name)),
            )
        };
    }

    /// Every fixture, as (file name, body).
    const FIXTURES: &[(&str, &str)] = &[
        fixture!("ping.json"),
        fixture!("pull_request.opened.json"),
        fixture!("pull_request.closed_merged.json"),
        fixture!("pull_request.closed_unmerged.json"),
        fixture!("pull_request.reopened.json"),
        fixture!("pull_request.labeled.json"),
        fixture!("pull_request_review.submitted.json"),
        fixture!("issues.opened.json"),
        fixture!("issues.closed.json"),
        fixture!("issue_comment.created.json"),
        fixture!("push.json"),
        fixture!("push.branch_deleted.json"),
        fixture!("release.published.json"),
        fixture!("workflow_run.completed_failure.json"),
        fixture!("workflow_run.completed_success.json"),
        fixture!("star.created.json"),
    ];

    /// The event name of a fixture: its file name up to the first `.`.
    fn event_of(file: &str) -> &str {
        file.split('.').next().unwrap_or(file)
    }

    fn payload(file: &str) -> Value {
        let (_, body) = FIXTURES
            .iter()
            .find(|(name, _)| *name == file)
            .unwrap_or_else(|| panic!("no fixture {file}"));
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    fn run_with(event: &str, payload: &Value, limits: &Limits) -> Result<Outcome, InvalidField> {
        interpret(&Delivery { event, payload }, limits)
    }

    fn run(event: &str, payload: &Value) -> Result<Outcome, InvalidField> {
        run_with(event, payload, &Limits::default())
    }

    fn outcome(file: &str) -> Outcome {
        run(event_of(file), &payload(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// The memory of a fixture, checked to make a valid event.
    fn memory(file: &str) -> Memory {
        match outcome(file) {
            Outcome::Memory(memory) => {
                assert_valid(&memory, &Limits::default());
                memory
            }
            other => panic!("{file}: expected a memory, got {other:?}"),
        }
    }

    fn reason(file: &str) -> String {
        match outcome(file) {
            Outcome::Ignored { reason } => reason,
            other => panic!("{file}: expected ignored, got {other:?}"),
        }
    }

    fn assert_valid(memory: &Memory, limits: &Limits) {
        let mut event: Event = rae_core::event::sample();
        event.source = rae_core::event::Source::Github;
        event.kind = memory.kind.clone();
        event.content = memory.content.clone();
        event.tags = memory.tags.clone();
        event.actor = memory.actor.clone();
        event.url = memory.url.clone();
        event.attributes = memory.attributes.clone();
        event.validate(limits).unwrap();
        assert!(!memory.content.contains('\r'), "{:?}", memory.content);
    }

    fn at(rfc3339: &str) -> Option<OffsetDateTime> {
        Some(OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap())
    }

    #[test]
    fn ping_answers_with_zen() {
        assert_eq!(
            outcome("ping.json"),
            Outcome::Ping {
                zen: Some("Anything added dilutes everything else.".into())
            }
        );
        assert_eq!(
            run("ping", &serde_json::json!({})).unwrap(),
            Outcome::Ping { zen: None }
        );
    }

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

        p["action"] = "edited".into();
        assert_eq!(
            run("issue_comment", &p).unwrap(),
            ignored("issue_comment action edited is not stored")
        );
    }

    #[test]
    fn push_lists_commits() {
        let m = memory("push.json");
        assert_eq!(m.kind, "push");
        assert_eq!(
            m.content,
            "Codertocat pushed 3 commits to branch master in Codertocat/Hello-World:\n\
             - a10867b Fix spelling of 'commit' in README (Codertocat)\n\
             - 0d1a26e Add contributing guide (octocat)\n\
             - e7c2f1b Merge pull request #2 from Codertocat/changes (Codertocat)"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World/compare/6113728f27ae...e7c2f1b9a4d3")
        );
        assert_eq!(m.tags, ["github", "push"]);
        assert_eq!(m.organization.as_deref(), Some("Codertocat"));
        assert_eq!(m.attributes["branch"], "master");
        assert_eq!(m.attributes["ref"], "refs/heads/master");
        assert_eq!(m.attributes["commits"], 3);
        assert_eq!(
            m.attributes["head_sha"],
            "e7c2f1b9a4d35c8f6a0b2e9d1c47f3a8b5e6d902"
        );
        assert_eq!(m.attributes["forced"], false);
        // 15:24:12-07:00, in UTC.
        assert_eq!(m.occurred_at, at("2019-05-15T22:24:12Z"));
        assert_eq!(m.occurred_at.map(|t| t.offset()), Some(UtcOffset::UTC));
    }

    #[test]
    fn forced_and_long_pushes() {
        let mut p = payload("push.json");
        p["forced"] = true.into();
        let one = p["commits"][0].clone();
        p["commits"] = Value::Array(vec![one; 25]);
        let Outcome::Memory(m) = run("push", &p).unwrap() else {
            panic!()
        };
        assert!(m
            .content
            .starts_with("Codertocat force-pushed 25 commits to branch master"));
        assert_eq!(m.content.matches("\n- a10867b ").count(), LISTED_COMMITS);
        assert!(m.content.ends_with("\n… and 5 more"), "{}", m.content);
        assert_eq!(m.attributes["commits"], 25);
        assert_eq!(m.attributes["forced"], true);
    }

    #[test]
    fn pushes_without_commits_deletions_and_tags_are_ignored() {
        assert_eq!(
            reason("push.branch_deleted.json"),
            "push deleting refs/heads/changes is not stored"
        );
        let mut p = payload("push.json");
        p["commits"] = serde_json::json!([]);
        assert_eq!(
            run("push", &p).unwrap(),
            ignored("push to refs/heads/master without commits is not stored")
        );
        let mut p = payload("push.json");
        p["ref"] = "refs/tags/v1.0.0".into();
        assert_eq!(
            run("push", &p).unwrap(),
            ignored("push of tag v1.0.0 is not stored (release events are)")
        );
    }

    #[test]
    fn release_published() {
        let m = memory("release.published.json");
        assert_eq!(m.kind, "release_published");
        assert_eq!(
            m.content,
            "Release \"Hello-World 0.0.1\" (0.0.1) published by Codertocat in \
             Codertocat/Hello-World\n\n## What's Changed\n\
             * Update the README with new information by @Codertocat in \
             https://github.com/Codertocat/Hello-World/pull/2\n\n\
             **Full Changelog**: https://github.com/Codertocat/Hello-World/commits/0.0.1"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World/releases/tag/0.0.1")
        );
        assert_eq!(m.tags, ["github", "release"]);
        assert_eq!(m.attributes["tag_name"], "0.0.1");
        assert_eq!(m.attributes["prerelease"], false);
        assert_eq!(m.occurred_at, at("2019-05-15T15:20:53Z"));
    }

    #[test]
    fn prereleases_are_noted_and_released_is_not_stored_twice() {
        let mut p = payload("release.published.json");
        p["release"]["prerelease"] = true.into();
        p["release"]["name"] = "".into();
        p["release"]["body"] = Value::Null;
        let Outcome::Memory(m) = run("release", &p).unwrap() else {
            panic!()
        };
        assert_eq!(
            m.content,
            "Release 0.0.1 published by Codertocat in Codertocat/Hello-World as a prerelease"
        );
        assert_eq!(m.tags, ["github", "release", "prerelease"]);

        p["action"] = "released".into();
        assert!(matches!(
            run("release", &p).unwrap(),
            Outcome::Ignored { .. }
        ));
        p["action"] = "created".into();
        assert_eq!(
            run("release", &p).unwrap(),
            ignored("release action created is not stored")
        );
    }

    #[test]
    fn failed_workflow_runs() {
        let m = memory("workflow_run.completed_failure.json");
        assert_eq!(m.kind, "workflow_run_failed");
        assert_eq!(
            m.content,
            "Workflow \"test\" failed on master in octo-org/octo-repo \
             (run #163, triggered by Codertocat, on push).\n\
             Head commit 3484a3f: build(test): check workflow run event payload\n\
             Run: https://github.com/octo-org/octo-repo/actions/runs/289782451"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/octo-org/octo-repo/actions/runs/289782451")
        );
        assert_eq!(m.tags, ["github", "ci", "failed"]);
        assert_eq!(m.organization.as_deref(), Some("octo-org"));
        assert_eq!(m.attributes["workflow"], "test");
        assert_eq!(m.attributes["conclusion"], "failure");
        assert_eq!(m.attributes["branch"], "master");
        assert_eq!(m.attributes["run_number"], 163);
        assert_eq!(m.attributes["run_id"], 289782451);
        assert_eq!(m.occurred_at, at("2020-10-05T16:33:49Z"));

        let mut p = payload("workflow_run.completed_failure.json");
        p["workflow_run"]["conclusion"] = "timed_out".into();
        let Outcome::Memory(m) = run("workflow_run", &p).unwrap() else {
            panic!()
        };
        assert!(m
            .content
            .starts_with("Workflow \"test\" timed out on master"));
        assert_eq!(m.kind, "workflow_run_failed");
    }

    #[test]
    fn other_workflow_runs_are_ignored() {
        assert_eq!(
            reason("workflow_run.completed_success.json"),
            "workflow_run completed with conclusion success is not stored"
        );
        let mut p = payload("workflow_run.completed_failure.json");
        p["action"] = "requested".into();
        assert_eq!(
            run("workflow_run", &p).unwrap(),
            ignored("workflow_run action requested is not stored")
        );
    }

    #[test]
    fn unhandled_events_are_ignored() {
        assert_eq!(reason("star.created.json"), "event star is not stored");
    }

    #[test]
    fn every_fixture_is_understood() {
        for (file, _) in FIXTURES {
            let result = outcome(file);
            if let Outcome::Memory(m) = &result {
                assert_valid(m, &Limits::default());
                assert!(m.occurred_at.is_some(), "{file}");
                assert!(m.url.is_some(), "{file}");
                assert_eq!(m.actor.as_deref().map(str::is_empty), Some(false));
            }
        }
    }

    #[test]
    fn long_bodies_are_cut_and_carriage_returns_removed() {
        let mut p = payload("issues.opened.json");
        p["issue"]["body"] = format!("line one\r\nline two\r\n{}", "é".repeat(5000)).into();
        let Outcome::Memory(m) = run("issues", &p).unwrap() else {
            panic!()
        };
        assert!(!m.content.contains('\r'));
        let body = m.content.split("\n\n").nth(1).unwrap();
        assert!(body.starts_with("line one\nline two\n"));
        assert_eq!(body.chars().count(), BODY_CHARS);
        assert!(body.ends_with('…'));
    }

    #[test]
    fn limits_are_kept() {
        let limits = Limits {
            max_content_bytes: 50,
            max_tags: 3,
            max_tag_chars: 10,
            max_attributes_bytes: 200,
        };
        let mut p = payload("issues.opened.json");
        p["issue"]["labels"] = serde_json::json!([
            {"name": "a-label-much-longer-than-ten"},
            {"name": "bug"},
            {"name": "BUG"},
            {"name": "ui"},
            {"name": "perf"},
            {"name": null},
            "not an object"
        ]);
        let Outcome::Memory(m) = run_with("issues", &p, &limits).unwrap() else {
            panic!()
        };
        assert!(m.content.len() <= 50, "{}", m.content.len());
        assert!(m.content.ends_with('…'));
        assert_eq!(m.tags, ["github", "issue", "bug"]);
        assert!(serde_json::to_vec(&m.attributes).unwrap().len() <= 100);
        assert_valid(&m, &limits);
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let field = |event: &str, payload: Value| run(event, &payload).unwrap_err().field;
        use serde_json::json;
        assert_eq!(field("pull_request", json!([])), "body");
        assert_eq!(field("ping", Value::Null), "body");
        assert_eq!(field("star", json!("x")), "body");
        assert_eq!(field("pull_request", json!({})), "action");
        assert_eq!(field("issues", json!({"action": 5})), "action");
        assert_eq!(
            field("pull_request", json!({"action": "opened"})),
            "pull_request"
        );
        assert_eq!(
            field(
                "pull_request",
                json!({"action": "opened", "pull_request": []})
            ),
            "pull_request"
        );
        assert_eq!(
            field(
                "pull_request",
                json!({"action": "closed", "pull_request": {"title": "x"}})
            ),
            "pull_request.number"
        );
        assert_eq!(
            field(
                "pull_request",
                json!({"action": "closed", "pull_request": {"number": "2"}})
            ),
            "pull_request.number"
        );
        assert_eq!(
            field(
                "pull_request_review",
                json!({"action": "submitted", "review": {}})
            ),
            "review.state"
        );
        assert_eq!(
            field(
                "pull_request_review",
                json!({"action": "submitted", "review": {"state": "approved"}})
            ),
            "pull_request"
        );
        assert_eq!(
            field(
                "issues",
                json!({"action": "opened", "issue": {"number": -1}})
            ),
            "issue.number"
        );
        assert_eq!(
            field(
                "issue_comment",
                json!({"action": "created", "issue": {"number": 1}, "comment": null})
            ),
            "comment"
        );
        assert_eq!(field("push", json!({})), "ref");
        assert_eq!(
            field("push", json!({"ref": "refs/heads/x", "commits": {}})),
            "commits"
        );
        assert_eq!(
            field(
                "push",
                json!({"ref": "refs/heads/x", "commits": [{"id": "abc"}, 5]})
            ),
            "commits[1]"
        );
        assert_eq!(
            field(
                "push",
                json!({"ref": "refs/heads/x", "commits": [{"message": "m"}]})
            ),
            "commits[0].id"
        );
        assert_eq!(
            field(
                "release",
                json!({"action": "published", "release": {"name": "x"}})
            ),
            "release.tag_name"
        );
        assert_eq!(
            field(
                "workflow_run",
                json!({"action": "completed", "workflow_run": {}})
            ),
            "workflow_run.conclusion"
        );
    }

    #[test]
    fn minimal_payloads_still_make_memories() {
        let p = serde_json::json!({"action": "opened", "issue": {"number": 7}});
        let Outcome::Memory(m) = run("issues", &p).unwrap() else {
            panic!()
        };
        assert_eq!(m.content, "Issue #7 opened by someone: \"(no title)\"");
        assert_eq!(m.tags, ["github", "issue"]);
        assert_eq!(m.actor, None);
        assert_eq!(m.occurred_at, None);
        assert_valid(&m, &Limits::default());
    }

    /// Every value of every fixture replaced in turn by null, an array, an object, a string and a
    /// number: never a panic, always an answer.
    #[test]
    fn no_shape_of_json_panics() {
        fn paths(value: &Value, here: Vec<String>, out: &mut Vec<Vec<String>>) {
            out.push(here.clone());
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        let mut next = here.clone();
                        next.push(k.clone());
                        paths(v, next, out);
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        let mut next = here.clone();
                        next.push(i.to_string());
                        paths(v, next, out);
                    }
                }
                _ => {}
            }
        }
        fn slot<'v>(value: &'v mut Value, path: &[String]) -> &'v mut Value {
            path.iter().fold(value, |v, key| match v {
                Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
                other => &mut other[key.as_str()],
            })
        }
        let replacements = [
            Value::Null,
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!(""),
            serde_json::json!("x\u{1F600}\r"),
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(true),
        ];
        let limits = Limits {
            max_content_bytes: 40,
            ..Limits::default()
        };
        for (file, _) in FIXTURES {
            let original = payload(file);
            let mut all = Vec::new();
            paths(&original, Vec::new(), &mut all);
            for path in &all {
                for replacement in &replacements {
                    let mut p = original.clone();
                    *slot(&mut p, path) = replacement.clone();
                    for event in [event_of(file), "push", "pull_request"] {
                        if let Ok(Outcome::Memory(m)) = run_with(event, &p, &limits) {
                            assert!(m.content.len() <= 40, "{file} {path:?}");
                        }
                    }
                }
            }
        }
    }
}
