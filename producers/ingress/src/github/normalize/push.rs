//! `push` deliveries: a branch push with commits lists them; deletions, pushes without commits
//! and tag pushes are ignored.

use serde_json::{Map, Value};

use rae_core::event::InvalidField;
use rae_core::text::clip_chars;

use super::draft::{put_text, Context, Draft};
use super::fields::{flag, short_sha, string_at, text, time_at};
use super::{ignored, Outcome, LINE_CHARS, LISTED_COMMITS, NAME_CHARS};

/// A branch push with commits becomes one memory listing them. Deletions, pushes without
/// commits and tag pushes are ignored.
pub(super) fn push(ctx: &Context<'_>) -> Result<Outcome, InvalidField> {
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
        key: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::normalize::test_support::*;
    use crate::github::normalize::{ignored, Outcome};
    use time::UtcOffset;

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
}
