//! Facts read from a repository become events (pure, no I/O).
//!
//! | kind | one per | id derived from |
//! |---|---|---|
//! | `commit` | new commit on a watched branch | tenant, repository name and sha ([`commit_id`], shared with the memories API's `git_commit`) |
//! | `merge` | new merge commit (summarizes what it brings in) | tenant, repository name and sha ([`commit_id`]) |
//! | `file_change` | changed path matching `watch_patterns`, in a (non-merge) commit or (uncommitted) in the working tree; more than `max_file_events` at once become one event listing them | repository, sha (or content blob) and path |
//! | `history_rewritten` | branch whose history was rewritten (force-push, reset, rebase) | repository, branch, old cursor and new tip |
//!
//! Ids derive from the integration and these provider facts, so a republish after a restart is
//! a JetStream duplicate. Importance is left to the enricher; the recognized signals are tags
//! (`security`, `migration`, `dependencies`, `ci`, `api`, `todo`, `revert`,
//! `large-deletion`) and `attributes.signals` says why each applies.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::patterns::{FileChange, Globs, Recognizer, Signal};
use super::scan::{CommitFacts, Rewrite, WorktreeChange};
use rae_core::event::{
    commit_id, derived_id, push_tag, Event, EventBuilder, Limits, Route, Source,
};
use rae_core::text::{clip_bytes, clip_chars};

/// Characters kept of a commit message body.
pub const BODY_CHARS: usize = 2_000;
/// Characters kept of a path or subject inside a list.
const ITEM_CHARS: usize = 200;

/// Where the events of one repository go and how they are shaped.
#[derive(Debug, Clone)]
pub struct Target {
    pub integration: String,
    pub tenant: String,
    pub project: String,
    /// The repository's name (`repositories[].name`).
    pub repository: String,
    pub limits: Limits,
    pub watch: Globs,
    pub recognizer: Recognizer,
    pub max_files_listed: usize,
    pub max_file_events: usize,
}

impl Target {
    /// The id of an event of this repository, derived from `id_key` (commits have their own,
    /// [`commit_id`], which the memories API shares).
    fn id(&self, id_key: &str) -> String {
        derived_id(&self.integration, &format!("{}\n{id_key}", self.repository))
    }

    /// An event of this repository; `commit` gives its time and author. Everything the event
    /// says goes through the builder, so it is cleaned like every producer's (`rae_core::hygiene`).
    fn event(
        &self,
        id: String,
        kind: &str,
        content: String,
        now: OffsetDateTime,
        commit: Option<&CommitFacts>,
    ) -> EventBuilder {
        let route = Route {
            tenant: &self.tenant,
            project: &self.project,
            source: Source::Git,
            integration: &self.integration,
        };
        let content = clip_bytes(&content, self.limits.max_content_bytes).into_owned();
        let event = Event::builder(route, id, kind, content)
            .occurred_at(now)
            .received_at(now);
        match commit {
            Some(facts) => event
                .occurred_at(facts.committed_at)
                .actor(Some(facts.author.clone()).filter(|a| !a.is_empty())),
            None => event,
        }
    }

    fn tag(&self, event: &mut Event, tags: impl IntoIterator<Item = impl AsRef<str>>) {
        for tag in tags {
            push_tag(&mut event.tags, tag.as_ref(), &self.limits);
        }
    }

    /// Attributes every event of this repository carries, then `extra`, trimmed to the limit.
    fn attributes(&self, branch: Option<&str>, extra: Map<String, Value>) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("repository".into(), json!(self.repository));
        if let Some(branch) = branch {
            map.insert("branch".into(), json!(branch));
        }
        map.extend(extra);
        fit(&mut map, self.limits.max_attributes_bytes);
        map
    }
}

/// The events of one new commit on `branch`: a `commit` or `merge` event, then `file_change`
/// events for its paths that match the watch patterns.
pub fn commit_events(
    facts: &CommitFacts,
    branch: &str,
    target: &Target,
    now: OffsetDateTime,
) -> Vec<Event> {
    let kind = if facts.merged.is_some() {
        "merge"
    } else {
        "commit"
    };
    let diff = &facts.diff;
    let signals = target.recognizer.commit_signals(
        &facts.message,
        &diff.files,
        diff.insertions,
        diff.deletions,
    );
    let mut content = format!(
        "{} {} on {branch} in {} by {}: {}",
        if kind == "merge" { "Merge" } else { "Commit" },
        facts.short(),
        target.repository,
        facts.author,
        facts.subject()
    );
    let body = facts.body();
    if !body.is_empty() {
        content.push_str("\n\n");
        content.push_str(&clip_chars(body, BODY_CHARS));
    }
    if let Some(merged) = &facts.merged {
        content.push_str(&format!(
            "\n\nBrings in {} commit{}:",
            merged.count,
            plural(merged.count)
        ));
        for (sha, subject) in &merged.commits {
            content.push_str(&format!(
                "\n- {} {}",
                short(sha),
                clip_chars(subject, ITEM_CHARS)
            ));
        }
        if merged.count > merged.commits.len() {
            content.push_str(&format!(
                "\n...and {} more",
                merged.count - merged.commits.len()
            ));
        }
    }
    content.push_str(&files_section(
        &diff.files,
        diff.files_changed,
        diff.insertions,
        diff.deletions,
        target.max_files_listed,
    ));
    content.push_str(&signals_section(&signals));

    let mut extra = Map::new();
    extra.insert("sha".into(), json!(facts.sha));
    extra.insert("parents".into(), json!(facts.parents));
    extra.insert("author_email".into(), json!(facts.author_email));
    extra.insert("authored_at".into(), json!(rfc3339(facts.authored_at)));
    extra.insert("files_changed".into(), json!(diff.files_changed));
    extra.insert("insertions".into(), json!(diff.insertions));
    extra.insert("deletions".into(), json!(diff.deletions));
    if let Some(merged) = &facts.merged {
        extra.insert("merged_commits".into(), json!(merged.count));
    }
    if let Some(Some(sha)) = super::patterns::reverted(&facts.message) {
        extra.insert("reverts".into(), json!(sha));
    }
    extra.insert("signals".into(), signals_json(&signals));
    extra.insert(
        "files".into(),
        Value::Array(
            diff.files
                .iter()
                .take(target.max_files_listed)
                .map(file_json)
                .collect(),
        ),
    );
    let mut event = target
        .event(
            commit_id(
                &target.integration,
                &target.tenant,
                &target.repository,
                &facts.sha,
            ),
            kind,
            content,
            now,
            Some(facts),
        )
        .attributes(target.attributes(Some(branch), extra))
        .build();
    target.tag(&mut event, ["git", kind]);
    target.tag(&mut event, signals.iter().map(|s| &s.tag));

    let mut events = vec![event];
    if facts.merged.is_some() {
        // What a merge changes came with the merged commits, which have their own events.
        return events;
    }
    let watched: Vec<&FileChange> = diff
        .files
        .iter()
        .filter(|f| {
            target.watch.matches(&f.path)
                || f.old_path.as_ref().is_some_and(|p| target.watch.matches(p))
        })
        .collect();
    let origin = Origin::Commit { facts, branch };
    if watched.len() > target.max_file_events {
        events.push(file_group_event(&watched, &origin, target, now));
    } else {
        for file in watched {
            events.push(file_event(file, &origin, target, now));
        }
    }
    events
}

/// Where a file change was seen.
enum Origin<'a> {
    Commit {
        facts: &'a CommitFacts,
        branch: &'a str,
    },
    WorkingTree {
        content_ids: Vec<(&'a str, &'a str)>,
    },
}

impl Origin<'_> {
    fn commit(&self) -> Option<&CommitFacts> {
        match self {
            Origin::Commit { facts, .. } => Some(facts),
            Origin::WorkingTree { .. } => None,
        }
    }

    fn branch(&self) -> Option<&str> {
        match self {
            Origin::Commit { branch, .. } => Some(branch),
            Origin::WorkingTree { .. } => None,
        }
    }

    fn extra(&self) -> Map<String, Value> {
        let mut extra = Map::new();
        match self {
            // `change_origin`, not `origin`: `attributes.origin` is a sender's own name for
            // itself, which the RAE writer sends as the memory's source.
            Origin::Commit { facts, .. } => {
                extra.insert("change_origin".into(), json!("commit"));
                extra.insert("sha".into(), json!(facts.sha));
                extra.insert("author_email".into(), json!(facts.author_email));
            }
            Origin::WorkingTree { .. } => {
                extra.insert("change_origin".into(), json!("working_tree"));
            }
        }
        extra
    }

    fn tags(&self) -> &'static [&'static str] {
        match self {
            Origin::Commit { .. } => &["git", "file-change"],
            Origin::WorkingTree { .. } => &["git", "file-change", "uncommitted"],
        }
    }
}

fn file_event(
    file: &FileChange,
    origin: &Origin<'_>,
    target: &Target,
    now: OffsetDateTime,
) -> Event {
    let signals = target.recognizer.file_signals(file);
    let mut content = match origin {
        Origin::Commit { facts, branch } => format!(
            "{} {} in commit {} on {branch} in {} by {} ({}): {}",
            describe_path(file),
            file.status.word(),
            facts.short(),
            target.repository,
            facts.author,
            line_counts(file),
            facts.subject()
        ),
        Origin::WorkingTree { .. } => format!(
            "Uncommitted edit in {}: {} {} ({} against HEAD)",
            target.repository,
            describe_path(file),
            file.status.word(),
            line_counts(file)
        ),
    };
    if !file.lines.todos_added.is_empty() {
        content.push_str("\n\nAdded:");
        for line in &file.lines.todos_added {
            content.push_str(&format!("\n  {line}"));
        }
    }
    content.push_str(&signals_section(&signals));
    let id_key = match origin {
        Origin::Commit { facts, .. } => format!("file:{}:{}", facts.sha, file.path),
        Origin::WorkingTree { content_ids } => format!(
            "worktree:{}:{}",
            file.path,
            content_ids
                .iter()
                .find(|(p, _)| *p == file.path)
                .map_or("", |(_, id)| *id)
        ),
    };
    let mut extra = origin.extra();
    if let Value::Object(file) = file_json(file) {
        extra.extend(file);
    }
    if !signals.is_empty() {
        extra.insert("signals".into(), signals_json(&signals));
    }
    let mut event = target
        .event(
            target.id(&id_key),
            "file_change",
            content,
            now,
            origin.commit(),
        )
        .attributes(target.attributes(origin.branch(), extra))
        .build();
    target.tag(&mut event, origin.tags());
    target.tag(&mut event, signals.iter().map(|s| &s.tag));
    event
}

fn file_group_event(
    files: &[&FileChange],
    origin: &Origin<'_>,
    target: &Target,
    now: OffsetDateTime,
) -> Event {
    let owned: Vec<FileChange> = files.iter().map(|f| (*f).clone()).collect();
    let insertions = owned.iter().map(|f| f.insertions).sum();
    let deletions = owned.iter().map(|f| f.deletions).sum();
    let signals = target
        .recognizer
        .commit_signals("", &owned, insertions, deletions);
    let mut content = match origin {
        Origin::Commit { facts, branch } => format!(
            "{} watched files changed in commit {} on {branch} in {} by {}: {}",
            files.len(),
            facts.short(),
            target.repository,
            facts.author,
            facts.subject()
        ),
        Origin::WorkingTree { .. } => format!(
            "{} watched files edited (uncommitted) in {}",
            files.len(),
            target.repository
        ),
    };
    content.push_str(&files_section(
        &owned,
        files.len(),
        insertions,
        deletions,
        target.max_files_listed,
    ));
    content.push_str(&signals_section(&signals));
    let id_key = match origin {
        Origin::Commit { facts, .. } => format!("files:{}", facts.sha),
        Origin::WorkingTree { content_ids } => {
            let mut key = "worktree-group".to_owned();
            for (path, id) in content_ids {
                key.push_str(&format!("\n{path}:{id}"));
            }
            key
        }
    };
    let mut extra = origin.extra();
    extra.insert("files_changed".into(), json!(files.len()));
    extra.insert("signals".into(), signals_json(&signals));
    extra.insert(
        "files".into(),
        Value::Array(
            owned
                .iter()
                .take(target.max_files_listed)
                .map(file_json)
                .collect(),
        ),
    );
    let mut event = target
        .event(
            target.id(&id_key),
            "file_change",
            content,
            now,
            origin.commit(),
        )
        .attributes(target.attributes(origin.branch(), extra))
        .build();
    target.tag(&mut event, origin.tags());
    target.tag(&mut event, signals.iter().map(|s| &s.tag));
    event
}

/// The events of settled uncommitted edits: one per path, or one listing them all when there
/// are more than `max_file_events`.
pub fn worktree_events(
    changes: &[WorktreeChange],
    target: &Target,
    now: OffsetDateTime,
) -> Vec<Event> {
    let origin = Origin::WorkingTree {
        content_ids: changes
            .iter()
            .map(|c| (c.change.path.as_str(), c.content_id.as_str()))
            .collect(),
    };
    let files: Vec<&FileChange> = changes.iter().map(|c| &c.change).collect();
    if files.len() > target.max_file_events {
        return vec![file_group_event(&files, &origin, target, now)];
    }
    files
        .into_iter()
        .map(|f| file_event(f, &origin, target, now))
        .collect()
}

/// The one event of a rewritten branch.
pub fn rewrite_event(rewrite: &Rewrite, target: &Target, now: OffsetDateTime) -> Event {
    let old: Vec<&str> = rewrite.old.iter().map(|s| short(s)).collect();
    let mut content = format!(
        "History of {} in {} was rewritten (force-push, reset or rebase): it moved from {} to {}",
        rewrite.branch,
        target.repository,
        old.join(", "),
        short(&rewrite.new)
    );
    if rewrite.unrelated {
        content.push_str(", a history that shares nothing with the one seen before");
    }
    if rewrite.dropped_count > 0 {
        content.push_str(&format!(
            ". {} commit{} no longer on it:",
            rewrite.dropped_count,
            if rewrite.dropped_count == 1 {
                " is"
            } else {
                "s are"
            }
        ));
        for (sha, subject) in &rewrite.dropped {
            content.push_str(&format!(
                "\n- {} {}",
                short(sha),
                clip_chars(subject, ITEM_CHARS)
            ));
        }
        if rewrite.dropped_count > rewrite.dropped.len() {
            content.push_str(&format!(
                "\n...and {} more",
                rewrite.dropped_count - rewrite.dropped.len()
            ));
        }
    } else {
        content.push('.');
    }
    let id_key = format!(
        "rewrite:{}:{}:{}",
        rewrite.branch,
        rewrite.old.join(","),
        rewrite.new
    );
    let mut extra = Map::new();
    extra.insert("old".into(), json!(rewrite.old));
    extra.insert("new".into(), json!(rewrite.new));
    extra.insert("dropped_commits".into(), json!(rewrite.dropped_count));
    extra.insert("unrelated".into(), json!(rewrite.unrelated));
    let mut event = target
        .event(target.id(&id_key), "history_rewritten", content, now, None)
        .attributes(target.attributes(Some(&rewrite.branch), extra))
        .build();
    target.tag(&mut event, ["git", "history-rewritten"]);
    event
}

fn files_section(
    files: &[FileChange],
    total: usize,
    insertions: usize,
    deletions: usize,
    listed: usize,
) -> String {
    if total == 0 {
        return "\n\nNo files changed.".into();
    }
    let mut out = format!("\n\nFiles ({total} changed, +{insertions} -{deletions}):");
    for file in files.iter().take(listed) {
        out.push_str(&format!(
            "\n  {} {} ({})",
            file.status.letter(),
            describe_path(file),
            line_counts(file)
        ));
    }
    let shown = files.len().min(listed);
    if total > shown {
        out.push_str(&format!("\n  ...and {} more", total - shown));
    }
    out
}

fn signals_section(signals: &[Signal]) -> String {
    if signals.is_empty() {
        return String::new();
    }
    let mut out = "\n\nImportant:".to_owned();
    for signal in signals {
        out.push_str(&format!("\n  {}: {}", signal.tag, signal.reason));
    }
    out
}

fn signals_json(signals: &[Signal]) -> Value {
    Value::Array(
        signals
            .iter()
            .map(|s| json!({"tag": s.tag, "reason": clip_chars(&s.reason, ITEM_CHARS * 2)}))
            .collect(),
    )
}

fn file_json(file: &FileChange) -> Value {
    let mut map = Map::new();
    map.insert("path".into(), json!(clip_chars(&file.path, ITEM_CHARS)));
    if let Some(old) = &file.old_path {
        map.insert("old_path".into(), json!(clip_chars(old, ITEM_CHARS)));
    }
    map.insert("status".into(), json!(file.status.word()));
    if file.binary {
        map.insert("binary".into(), json!(true));
    } else {
        map.insert("insertions".into(), json!(file.insertions));
        map.insert("deletions".into(), json!(file.deletions));
    }
    Value::Object(map)
}

fn describe_path(file: &FileChange) -> String {
    match &file.old_path {
        Some(old) => format!(
            "{} -> {}",
            clip_chars(old, ITEM_CHARS),
            clip_chars(&file.path, ITEM_CHARS)
        ),
        None => clip_chars(&file.path, ITEM_CHARS).into_owned(),
    }
}

fn line_counts(file: &FileChange) -> String {
    if file.binary {
        "binary".into()
    } else {
        format!("+{} -{}", file.insertions, file.deletions)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Drops the largest optional attributes until the map fits in `limit` bytes of JSON.
fn fit(map: &mut Map<String, Value>, limit: usize) {
    let size = |m: &Map<String, Value>| serde_json::to_vec(m).map_or(0, |v| v.len());
    for key in ["files", "signals", "parents", "old"] {
        if size(map) <= limit {
            return;
        }
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patterns::{ChangeStatus, LineFacts};
    use crate::scan::{DiffFacts, Merged};

    fn target() -> Target {
        Target {
            integration: "git".into(),
            tenant: "default-tenant".into(),
            project: "default".into(),
            repository: "shop".into(),
            limits: Limits::default(),
            watch: Globs::new(&["*.py".into()]),
            recognizer: Recognizer::default(),
            max_files_listed: 2,
            max_file_events: 2,
        }
    }

    fn file(path: &str, insertions: usize, deletions: usize) -> FileChange {
        FileChange {
            path: path.into(),
            old_path: None,
            status: ChangeStatus::Modified,
            insertions,
            deletions,
            binary: false,
            lines: LineFacts::default(),
        }
    }

    fn facts(files: Vec<FileChange>) -> CommitFacts {
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        CommitFacts {
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            parents: vec!["89abcdef0123456789abcdef0123456789abcdef".into()],
            message: "Fix token expiry\n\nTokens expired an hour early.\n".into(),
            author: "Alice".into(),
            author_email: "alice@example.com".into(),
            authored_at: at,
            committed_at: at,
            diff: DiffFacts {
                files_changed: files.len(),
                insertions: files.iter().map(|f| f.insertions).sum(),
                deletions: files.iter().map(|f| f.deletions).sum(),
                files,
            },
            merged: None,
        }
    }

    #[test]
    fn a_commit_becomes_one_event_and_watched_files_their_own() {
        let mut binary = file("logo.png", 0, 0);
        binary.binary = true;
        binary.status = ChangeStatus::Added;
        let facts = facts(vec![
            file("src/auth/session.py", 40, 5),
            file("Cargo.lock", 3, 3),
            binary,
        ]);
        let now = OffsetDateTime::now_utc();
        let events = commit_events(&facts, "main", &target(), now);
        assert_eq!(events.len(), 2);
        let commit = &events[0];
        assert_eq!(commit.kind, "commit");
        assert_eq!(commit.source, Source::Git);
        assert_eq!(
            commit.content,
            "Commit 0123456 on main in shop by Alice: Fix token expiry\n\n\
             Tokens expired an hour early.\n\n\
             Files (3 changed, +43 -8):\n  M src/auth/session.py (+40 -5)\n  M Cargo.lock (+3 -3)\n  ...and 1 more\n\n\
             Important:\n  security: src/auth/session.py: security-sensitive code (auth)\n  dependencies: Cargo.lock: lockfile"
        );
        assert_eq!(commit.tags, ["git", "commit", "security", "dependencies"]);
        assert_eq!(commit.occurred_at, facts.committed_at);
        assert_eq!(commit.actor.as_deref(), Some("Alice"));
        assert_eq!(commit.attributes["branch"], "main");
        assert_eq!(commit.attributes["files"].as_array().unwrap().len(), 2);
        assert_eq!(commit.importance, None);
        commit.validate(&Limits::default()).unwrap();
        let again = commit_events(&facts, "other", &target(), now);
        assert_eq!(
            again[0].id, commit.id,
            "ids depend on repository and sha only"
        );
        // The memories API derives the same id for a memory naming this commit.
        let t = target();
        assert_eq!(
            commit.id,
            commit_id(&t.integration, &t.tenant, "shop", &facts.sha.to_uppercase())
        );
        assert_ne!(
            commit.id,
            commit_id(&t.integration, "other-tenant", "shop", &facts.sha)
        );

        let change = &events[1];
        assert_eq!(change.kind, "file_change");
        assert_eq!(change.attributes["path"], "src/auth/session.py");
        assert_eq!(change.attributes["change_origin"], "commit");
        // RAE's source for a git memory is `git`, whatever attributes the watcher adds.
        assert_eq!(rae_core::rae::store_body(change)["source"], "git");
        assert_eq!(change.tags, ["git", "file-change", "security"]);
        assert!(change.content.starts_with(
            "src/auth/session.py modified in commit 0123456 on main in shop by Alice (+40 -5): Fix token expiry"
        ));
    }

    #[test]
    fn many_watched_files_become_one_event_and_merges_list_what_they_bring() {
        let mut facts = facts(vec![
            file("a.py", 1, 0),
            file("b.py", 1, 0),
            file("c.py", 1, 0),
        ]);
        facts.merged = Some(Merged {
            count: 12,
            commits: vec![("fedcba9876543210".into(), "Add cart".into())],
        });
        let events = commit_events(&facts, "main", &target(), OffsetDateTime::now_utc());
        assert_eq!(
            events.len(),
            1,
            "a merge's files come with the merged commits"
        );
        assert_eq!(events[0].kind, "merge");
        assert!(
            events[0]
                .content
                .contains("Brings in 12 commits:\n- fedcba9 Add cart\n...and 11 more"),
            "{}",
            events[0].content
        );
        facts.merged = None;
        let events = commit_events(&facts, "main", &target(), OffsetDateTime::now_utc());
        assert_eq!(events.len(), 2);
        assert!(events[1]
            .content
            .starts_with("3 watched files changed in commit 0123456"));
    }

    #[test]
    fn rewrites_say_what_was_dropped() {
        let rewrite = Rewrite {
            branch: "main".into(),
            old: vec!["aaaaaaaaaaaa".into()],
            new: "bbbbbbbbbbbb".into(),
            dropped_count: 1,
            dropped: vec![("aaaaaaaaaaaa".into(), "Oops".into())],
            unrelated: false,
        };
        let event = rewrite_event(&rewrite, &target(), OffsetDateTime::now_utc());
        assert_eq!(event.kind, "history_rewritten");
        assert_eq!(
            event.content,
            "History of main in shop was rewritten (force-push, reset or rebase): it moved from aaaaaaa to bbbbbbb. 1 commit is no longer on it:\n- aaaaaaa Oops"
        );
    }

    #[test]
    fn content_and_attributes_stay_within_limits() {
        let mut t = target();
        t.limits.max_content_bytes = 100;
        t.limits.max_attributes_bytes = 300;
        t.max_files_listed = 100;
        let files = (0..50)
            .map(|i| file(&format!("dir/ü{i}.rs"), 1, 1))
            .collect();
        let events = commit_events(&facts(files), "main", &t, OffsetDateTime::now_utc());
        events[0].validate(&t.limits).unwrap();
        assert!(!events[0].attributes.contains_key("files"));
    }
}
