//! `push` (a branch push with commits lists them) and `tag_push` (a tag pushed or deleted).

use serde_json::{json, Map, Value};

use super::{
    actor, ignored, one_line, put, sha_at, short_sha, time_at, who, Project, LINE_CHARS,
    LISTED_COMMITS, NAME_CHARS,
};
use crate::presets::{text, Memory, Normalized};
use rae_core::event::InvalidField;
use rae_core::text::clip_chars;

/// `push`: a branch push with commits lists them.
pub(super) fn push(payload: &Value, project: &Project<'_>) -> Result<Normalized, InvalidField> {
    let git_ref = text(payload, "/ref").ok_or_else(|| InvalidField::new("ref", "missing"))?;
    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
    let branch = clip_chars(branch, LINE_CHARS);
    let before = sha_at(payload, "/before");
    let after = sha_at(payload, "/after");
    if is_zero_sha(after) {
        return Ok(ignored(format!(
            "GitLab push deleting branch {branch} is not stored"
        )));
    }
    let commits: &[Value] = payload
        .get("commits")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let total = payload
        .get("total_commits_count")
        .and_then(Value::as_u64)
        .unwrap_or(commits.len() as u64)
        .max(commits.len() as u64);
    if total == 0 {
        return Ok(ignored(format!(
            "GitLab push to {branch} without commits is not stored"
        )));
    }
    let actor = actor(payload);
    let created = is_zero_sha(before);
    let mut content = format!(
        "{} pushed {total} commit{} to {}{branch}{}:",
        who(actor),
        if total == 1 { "" } else { "s" },
        if created { "new branch " } else { "" },
        project.place()
    );
    let listed: Vec<&Value> = commits.iter().take(LISTED_COMMITS).collect();
    for commit in &listed {
        let id = text(commit, "/id").map(short_sha).unwrap_or_default();
        let subject = text(commit, "/title")
            .or_else(|| text(commit, "/message"))
            .map(one_line)
            .unwrap_or_default();
        let author = text(commit, "/author/name")
            .map(|a| format!(" ({})", clip_chars(a, NAME_CHARS)))
            .unwrap_or_default();
        content.push_str(&format!("\n- {id} {subject}{author}"));
    }
    let unlisted = total.saturating_sub(listed.len() as u64);
    if unlisted > 0 {
        content.push_str(&format!("\n… and {unlisted} more"));
    }
    // The head commit's time, else the newest listed.
    let occurred_at = listed
        .iter()
        .find(|c| text(c, "/id") == Some(after))
        .or_else(|| listed.last())
        .and_then(|c| time_at(c, "/timestamp"));
    let url = project.web_url.map(|web| {
        if created || before.is_empty() {
            format!("{web}/-/commits/{branch}")
        } else {
            format!("{web}/-/compare/{before}...{after}")
        }
    });
    let mut attributes = Map::new();
    put(&mut attributes, "project", project.path());
    put(&mut attributes, "ref", Some(git_ref));
    put(&mut attributes, "branch", Some(branch.as_ref()));
    put(&mut attributes, "before", Some(before));
    put(&mut attributes, "after", Some(after));
    attributes.insert("commits".into(), json!(total));
    attributes.insert("created".into(), json!(created));
    let mut tags = vec!["push".to_owned()];
    tags.extend(project.tag());
    Ok(Normalized::Memories(vec![Memory {
        key: project.key(format_args!(
            "push {} {before}..{after}",
            clip_chars(git_ref, LINE_CHARS)
        )),
        kind: "push".into(),
        content,
        tags,
        actor: actor.map(str::to_owned),
        url,
        occurred_at,
        attributes,
    }]))
}

fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// `tag_push`: a tag pushed or deleted.
pub(super) fn tag_push(payload: &Value, project: &Project<'_>) -> Result<Normalized, InvalidField> {
    let git_ref = text(payload, "/ref").ok_or_else(|| InvalidField::new("ref", "missing"))?;
    let tag = clip_chars(
        git_ref.strip_prefix("refs/tags/").unwrap_or(git_ref),
        LINE_CHARS,
    );
    let before = sha_at(payload, "/before");
    let after = sha_at(payload, "/after");
    let actor = actor(payload);
    let deleted = is_zero_sha(after);
    let mut content = if deleted {
        format!("{} deleted tag {tag}{}", who(actor), project.place())
    } else {
        let at = text(payload, "/checkout_sha")
            .or(Some(after).filter(|a| !a.is_empty()))
            .map(|sha| format!(" at {}", short_sha(sha)))
            .unwrap_or_default();
        format!("{} pushed tag {tag}{at}{}", who(actor), project.place())
    };
    if let (false, Some(message)) = (deleted, text(payload, "/message")) {
        content.push_str(&format!(": {}", one_line(message)));
    }
    let url = match (deleted, project.web_url) {
        (false, Some(web)) => Some(format!("{web}/-/tags/{tag}")),
        _ => None,
    };
    let mut attributes = Map::new();
    put(&mut attributes, "project", project.path());
    put(&mut attributes, "ref", Some(git_ref));
    put(&mut attributes, "tag", Some(tag.as_ref()));
    put(&mut attributes, "after", Some(after));
    attributes.insert("deleted".into(), json!(deleted));
    let mut tags = vec!["tag".to_owned()];
    tags.extend(project.tag());
    Ok(Normalized::Memories(vec![Memory {
        key: project.key(format_args!(
            "tag_push {} {before}..{after}",
            clip_chars(git_ref, LINE_CHARS)
        )),
        kind: "tag_push".into(),
        content,
        tags,
        actor: actor.map(str::to_owned),
        url,
        occurred_at: None,
        attributes,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::gitlab::testing::*;
    use serde_json::json;

    #[test]
    fn a_push_lists_its_commits_and_counts_the_rest() {
        let m = memory("push");
        assert_eq!(m.kind, "push");
        assert_eq!(
            m.content,
            "John Smith pushed 4 commits to master in mike/diaspora:\n\
             - b6568db1 Update Catalan translation to e38cb41. (Jordi Mallach)\n\
             - da156088 fixed readme (GitLab dev user)\n\
             … and 2 more"
        );
        assert_eq!(m.actor.as_deref(), Some("John Smith"));
        assert_eq!(
            m.url.as_deref(),
            Some("http://example.com/mike/diaspora/-/compare/95790bf891e76fee5e1747ab589903a6a1f80f22...da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
        );
        assert_eq!(m.tags, ["push", "mike/diaspora"]);
        assert_eq!(m.occurred_at, at("2012-01-03T21:36:29Z"));
        assert_eq!(
            m.key,
            "project 15 push refs/heads/master 95790bf891e76fee5e1747ab589903a6a1f80f22..da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
        );
        assert_eq!(m.attributes["commits"], 4);

        // GitLab sends at most 20 commits; a forged payload with more lists 20 all the same.
        let mut p = fixture("gitlab", "push");
        let one = p["commits"][0].clone();
        p["commits"] = Value::Array(vec![one; 25]);
        p["total_commits_count"] = json!(30);
        let m = memory_of(&p);
        assert_eq!(m.content.matches("\n- ").count(), LISTED_COMMITS);
        assert!(m.content.ends_with("\n… and 10 more"), "{}", m.content);

        let mut deleted = fixture("gitlab", "push");
        deleted["after"] = json!("0000000000000000000000000000000000000000");
        assert_eq!(
            reason_of(&deleted),
            "GitLab push deleting branch master is not stored"
        );
        let mut empty = fixture("gitlab", "push");
        empty["commits"] = json!([]);
        empty["total_commits_count"] = json!(0);
        assert_eq!(
            reason_of(&empty),
            "GitLab push to master without commits is not stored"
        );
    }

    #[test]
    fn a_tag_push() {
        let m = memory("tag_push");
        assert_eq!(m.kind, "tag_push");
        assert_eq!(
            m.content,
            "John Smith pushed tag v1.0.0 at 82b3d5ae in jsmith/example: Tag message"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("http://example.com/jsmith/example/-/tags/v1.0.0")
        );
        let mut deleted = fixture("gitlab", "tag_push");
        deleted["before"] = deleted["after"].clone();
        deleted["after"] = json!("0000000000000000000000000000000000000000");
        let m = memory_of(&deleted);
        assert_eq!(m.content, "John Smith deleted tag v1.0.0 in jsmith/example");
        assert_eq!(m.url, None);
    }
}
