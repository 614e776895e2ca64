//! Reading a repository with git2: which commits are new on a branch since its cursor, grouped
//! in steps after each of which the cursor may advance, and the facts of each commit (message,
//! author, changed files with line counts, the lines worth noting). Blocking: the poll loop runs
//! these functions under `spawn_blocking`.
//!
//! The cursor of a branch is a small set of commits whose history is done: everything
//! reachable from them (or from another watched branch's cursor) is never reported again. New
//! commits are those reachable from the branch tip but not from the cursor. They are walked
//! along the tip's first-parent chain: step *i* holds the commits a first-parent commit
//! brought in (for a merge, the merged commits, then the merge itself), and after it the cursor
//! is that commit, so a restart in the middle of a large update repeats at most one step.
//!
//! A cursor commit that is no longer an ancestor of the tip means the history was rewritten
//! (force-push, reset, rebase): one [`Rewrite`] is reported, the cursor moves to the merge base,
//! and only commits after the base follow. When nothing is shared (or the old commit is gone),
//! the branch is treated as new: its newest `initial_commits` commits.

use std::collections::HashSet;
use std::path::Path;

use git2::{Commit, Delta, Diff, DiffOptions, ErrorCode, Oid, Repository, Sort};
use time::OffsetDateTime;

use super::patterns::{ChangeStatus, FileChange, Globs, LineFacts};

/// Commits one plan reports at most; the rest come at the next poll.
pub const MAX_COMMITS_PER_PLAN: usize = 1_000;
/// Files of one diff read line by line; the totals still count every file.
const MAX_PATCHED_FILES: usize = 300;
/// Larger blobs count as binary: their lines are not read.
const MAX_BLOB_BYTES: i64 = 4 * 1024 * 1024;
/// Commits listed as merged by a merge, or dropped by a rewrite.
pub const LISTED_COMMITS: usize = 10;
/// Counting merged or dropped commits stops here.
const COUNT_CAP: usize = 10_000;

/// A git operation that failed, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct ScanError {
    pub what: String,
    #[source]
    pub source: git2::Error,
}

fn fail(what: impl Into<String>) -> impl FnOnce(git2::Error) -> ScanError {
    let what = what.into();
    move |source| ScanError { what, source }
}

/// Opens the repository at `path` (a work tree, its `.git`, or a bare repository; parent
/// directories are not searched, so a typo cannot silently watch an enclosing repository).
///
/// # Errors
/// [`ScanError`] saying why `path` is not a repository.
pub fn open(path: &Path) -> Result<Repository, ScanError> {
    Repository::open(path).map_err(fail(format!("{} is not a git repository", path.display())))
}

/// The branch HEAD is on; `None` while HEAD is detached (a rebase or bisect in progress).
///
/// # Errors
/// [`ScanError`] when HEAD cannot be read.
pub fn head_branch(repo: &Repository) -> Result<Option<String>, ScanError> {
    let head = repo.find_reference("HEAD").map_err(fail("read HEAD"))?;
    Ok(head
        .symbolic_target_bytes()
        .and_then(|t| t.strip_prefix(b"refs/heads/"))
        .map(|b| String::from_utf8_lossy(b).into_owned()))
}

/// The commit `branch` points to: `refs/heads/<branch>`, else `refs/remotes/<branch>` (so
/// `origin/main` works), or a full ref name. `None` when there is no such branch or it has no
/// commit yet.
///
/// # Errors
/// [`ScanError`] when a ref exists but cannot be read.
pub fn resolve(repo: &Repository, branch: &str) -> Result<Option<Oid>, ScanError> {
    let candidates = if branch.starts_with("refs/") {
        vec![branch.to_owned()]
    } else {
        vec![
            format!("refs/heads/{branch}"),
            format!("refs/remotes/{branch}"),
        ]
    };
    for name in candidates {
        match repo.find_reference(&name) {
            Ok(reference) => match reference.resolve().and_then(|r| r.peel_to_commit()) {
                Ok(commit) => return Ok(Some(commit.id())),
                Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(fail(format!("read {name}"))(e)),
            },
            Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => {}
            Err(e) => return Err(fail(format!("read {name}"))(e)),
        }
    }
    Ok(None)
}

/// What a plan reports.
#[derive(Debug, Clone)]
pub enum Item {
    Commit(Box<CommitFacts>),
    Rewrite(Rewrite),
}

/// Items to publish, then the branch cursor to store once they are all acknowledged.
#[derive(Debug, Clone)]
pub struct Step {
    pub items: Vec<Item>,
    pub cursor: Vec<Oid>,
}

/// The history of a branch was rewritten.
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub branch: String,
    /// The cursor commits that are no longer on the branch.
    pub old: Vec<String>,
    pub new: String,
    /// Commits that were on the branch and are not any more (capped at 10 000).
    pub dropped_count: usize,
    /// The first of them: (sha, subject).
    pub dropped: Vec<(String, String)>,
    /// Nothing is shared with the old history, or the old commits are gone.
    pub unrelated: bool,
}

/// Facts of one commit.
#[derive(Debug, Clone)]
pub struct CommitFacts {
    pub sha: String,
    pub parents: Vec<String>,
    pub message: String,
    pub author: String,
    pub author_email: String,
    pub authored_at: OffsetDateTime,
    pub committed_at: OffsetDateTime,
    pub diff: DiffFacts,
    /// For a merge: the commits it brings in.
    pub merged: Option<Merged>,
}

impl CommitFacts {
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or_default().trim()
    }

    /// The message after the subject line.
    pub fn body(&self) -> &str {
        self.message
            .split_once('\n')
            .map_or("", |(_, body)| body)
            .trim()
    }

    pub fn short(&self) -> &str {
        self.sha.get(..7).unwrap_or(&self.sha)
    }
}

/// The commits a merge brings in (reachable from its other parents, not from its first).
#[derive(Debug, Clone, Default)]
pub struct Merged {
    pub count: usize,
    pub commits: Vec<(String, String)>,
}

/// What a diff changed.
#[derive(Debug, Clone, Default)]
pub struct DiffFacts {
    /// The first [`MAX_PATCHED_FILES`] changed files.
    pub files: Vec<FileChange>,
    pub files_changed: usize,
    pub insertions: usize,
    pub deletions: usize,
}

/// What the caller knows about a branch.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub branch: &'a str,
    pub tip: Oid,
    /// The branch cursor; `None` when the branch was never seen.
    pub cursor: Option<&'a [Oid]>,
    /// Cursor commits of the repository's other branches: their history is done too.
    pub others: &'a [Oid],
    pub initial_commits: usize,
    /// TODO markers for [`LineFacts::note`].
    pub markers: &'a [String],
}

/// The steps that bring the branch from its cursor to its tip.
///
/// # Errors
/// [`ScanError`] when an object cannot be read (a corrupt repository).
pub fn plan(repo: &Repository, input: &PlanInput<'_>) -> Result<Vec<Step>, ScanError> {
    let exists = |oid: &Oid| repo.find_commit(*oid).is_ok();
    let others: Vec<Oid> = input.others.iter().copied().filter(exists).collect();
    let Some(cursor) = input.cursor else {
        return Ok(vec![first_sight(repo, input, &others, Vec::new())?]);
    };
    if cursor == [input.tip] {
        return Ok(Vec::new());
    }
    let mut bases = Vec::new();
    let mut old = Vec::new();
    let mut unrelated = false;
    for oid in cursor {
        let ancestor = *oid == input.tip
            || (exists(oid)
                && repo
                    .graph_descendant_of(input.tip, *oid)
                    .map_err(fail("compare commits"))?);
        if ancestor {
            bases.push(*oid);
            continue;
        }
        old.push(*oid);
        if !exists(oid) {
            unrelated = true;
            continue;
        }
        match repo.merge_base(input.tip, *oid) {
            Ok(base) => bases.push(base),
            Err(e) if e.code() == ErrorCode::NotFound => unrelated = true,
            Err(e) => return Err(fail("find the merge base")(e)),
        }
    }
    if old.is_empty() {
        return forward(repo, input, cursor, &others);
    }
    let rewrite = rewrite(repo, input, &old, unrelated)?;
    if unrelated {
        return Ok(vec![first_sight(
            repo,
            input,
            &others,
            vec![Item::Rewrite(rewrite)],
        )?]);
    }
    bases.sort();
    bases.dedup();
    let mut steps = vec![Step {
        items: vec![Item::Rewrite(rewrite)],
        cursor: bases.clone(),
    }];
    steps.extend(forward(repo, input, &bases, &others)?);
    Ok(steps)
}

/// A branch seen for the first time (or whose history was replaced): its newest
/// `initial_commits` commits not already done on another branch, then `trailing`.
fn first_sight(
    repo: &Repository,
    input: &PlanInput<'_>,
    others: &[Oid],
    trailing: Vec<Item>,
) -> Result<Step, ScanError> {
    let mut walk = repo.revwalk().map_err(fail("walk history"))?;
    walk.push(input.tip).map_err(fail("walk history"))?;
    for oid in others {
        walk.hide(*oid).map_err(fail("walk history"))?;
    }
    let mut newest = Vec::new();
    for oid in walk.take(input.initial_commits) {
        newest.push(oid.map_err(fail("walk history"))?);
    }
    let mut items = Vec::new();
    for oid in newest.into_iter().rev() {
        items.push(Item::Commit(Box::new(commit_facts(
            repo,
            oid,
            input.markers,
        )?)));
    }
    items.extend(trailing);
    Ok(Step {
        items,
        cursor: vec![input.tip],
    })
}

/// Steps from `done` (all ancestors of the tip) to the tip along its first-parent chain.
fn forward(
    repo: &Repository,
    input: &PlanInput<'_>,
    done: &[Oid],
    others: &[Oid],
) -> Result<Vec<Step>, ScanError> {
    let walk_from = |push: Oid, also_hide: Option<Oid>, sort: Sort| {
        let mut walk = repo.revwalk()?;
        walk.set_sorting(sort)?;
        walk.push(push)?;
        for oid in done.iter().chain(others).chain(also_hide.iter()) {
            walk.hide(*oid)?;
        }
        walk.collect::<Result<Vec<Oid>, git2::Error>>()
    };
    let new: HashSet<Oid> = walk_from(input.tip, None, Sort::NONE)
        .map_err(fail("walk new commits"))?
        .into_iter()
        .collect();
    if new.is_empty() {
        // The branch moved to commits already reported (on another branch).
        return Ok(vec![Step {
            items: Vec::new(),
            cursor: vec![input.tip],
        }]);
    }
    let mut chain = Vec::new();
    let mut at = input.tip;
    while new.contains(&at) {
        chain.push(at);
        let commit = repo.find_commit(at).map_err(fail("read commit"))?;
        match commit.parent_id(0) {
            Ok(parent) => at = parent,
            Err(_) => break,
        }
    }
    chain.reverse();
    let mut steps = Vec::new();
    let mut previous = None;
    let mut reported = 0;
    for link in chain {
        let group = walk_from(link, previous, Sort::TOPOLOGICAL | Sort::REVERSE)
            .map_err(fail("walk new commits"))?;
        let mut items = Vec::with_capacity(group.len());
        for oid in group {
            items.push(Item::Commit(Box::new(commit_facts(
                repo,
                oid,
                input.markers,
            )?)));
        }
        reported += items.len();
        let mut cursor = vec![link];
        for oid in done {
            let behind = *oid == link
                || repo
                    .graph_descendant_of(link, *oid)
                    .map_err(fail("compare commits"))?;
            if !behind {
                cursor.push(*oid);
            }
        }
        steps.push(Step { items, cursor });
        previous = Some(link);
        if reported >= MAX_COMMITS_PER_PLAN {
            break;
        }
    }
    Ok(steps)
}

fn rewrite(
    repo: &Repository,
    input: &PlanInput<'_>,
    old: &[Oid],
    unrelated: bool,
) -> Result<Rewrite, ScanError> {
    let mut dropped = Vec::new();
    let mut dropped_count = 0;
    let existing: Vec<Oid> = old
        .iter()
        .copied()
        .filter(|o| repo.find_commit(*o).is_ok())
        .collect();
    if !existing.is_empty() {
        let mut walk = repo.revwalk().map_err(fail("walk dropped commits"))?;
        for oid in &existing {
            walk.push(*oid).map_err(fail("walk dropped commits"))?;
        }
        walk.hide(input.tip).map_err(fail("walk dropped commits"))?;
        for oid in walk.take(COUNT_CAP) {
            let oid = oid.map_err(fail("walk dropped commits"))?;
            dropped_count += 1;
            if dropped.len() < LISTED_COMMITS {
                dropped.push((oid.to_string(), subject_of(repo, oid)));
            }
        }
    }
    Ok(Rewrite {
        branch: input.branch.to_owned(),
        old: old.iter().map(Oid::to_string).collect(),
        new: input.tip.to_string(),
        dropped_count,
        dropped,
        unrelated,
    })
}

fn subject_of(repo: &Repository, oid: Oid) -> String {
    repo.find_commit(oid)
        .map(|c| {
            String::from_utf8_lossy(c.message_bytes())
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

fn time_of(time: git2::Time) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(time.seconds()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The facts of one commit; a merge is compared with its first parent.
///
/// # Errors
/// [`ScanError`] when the commit or its trees cannot be read.
pub fn commit_facts(
    repo: &Repository,
    oid: Oid,
    markers: &[String],
) -> Result<CommitFacts, ScanError> {
    let sha = oid.to_string();
    let commit = repo
        .find_commit(oid)
        .map_err(fail(format!("read commit {sha}")))?;
    let parent_tree = match commit.parents().next() {
        Some(parent) => Some(
            parent
                .tree()
                .map_err(fail(format!("read the tree of {}", parent.id())))?,
        ),
        None => None,
    };
    let tree = commit
        .tree()
        .map_err(fail(format!("read the tree of {sha}")))?;
    let mut options = diff_options();
    let mut diff = repo
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut options))
        .map_err(fail(format!("diff {sha}")))?;
    let diff = diff_facts(&mut diff, markers).map_err(fail(format!("diff {sha}")))?;
    let merged = if commit.parent_count() > 1 {
        Some(merged(repo, &commit).map_err(fail(format!("walk the merge {sha}")))?)
    } else {
        None
    };
    let author = commit.author();
    Ok(CommitFacts {
        parents: commit.parent_ids().map(|p| p.to_string()).collect(),
        message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        authored_at: time_of(author.when()),
        committed_at: time_of(commit.time()),
        diff,
        merged,
        sha,
    })
}

fn merged(repo: &Repository, commit: &Commit<'_>) -> Result<Merged, git2::Error> {
    let mut walk = repo.revwalk()?;
    for parent in commit.parent_ids().skip(1) {
        walk.push(parent)?;
    }
    walk.hide(commit.parent_id(0)?)?;
    let mut out = Merged::default();
    for oid in walk.take(COUNT_CAP) {
        let oid = oid?;
        out.count += 1;
        if out.commits.len() < LISTED_COMMITS {
            out.commits.push((oid.to_string(), subject_of(repo, oid)));
        }
    }
    Ok(out)
}

fn diff_options() -> DiffOptions {
    let mut options = DiffOptions::new();
    options.max_size(MAX_BLOB_BYTES).context_lines(0);
    options
}

/// Changed files with their line counts and noted lines; renames are detected.
fn diff_facts(diff: &mut Diff<'_>, markers: &[String]) -> Result<DiffFacts, git2::Error> {
    if diff.deltas().len() <= MAX_PATCHED_FILES {
        diff.find_similar(None)?;
    }
    let total = diff.deltas().len();
    let mut facts = DiffFacts {
        files_changed: total,
        ..DiffFacts::default()
    };
    for index in 0..total.min(MAX_PATCHED_FILES) {
        let Some(delta) = diff.get_delta(index) else {
            continue;
        };
        let status = match delta.status() {
            Delta::Added | Delta::Untracked | Delta::Copied => ChangeStatus::Added,
            Delta::Deleted => ChangeStatus::Deleted,
            Delta::Renamed => ChangeStatus::Renamed,
            Delta::Typechange => ChangeStatus::TypeChanged,
            _ => ChangeStatus::Modified,
        };
        let lossy = |p: Option<&[u8]>| p.map(|b| String::from_utf8_lossy(b).into_owned());
        let new_path = lossy(delta.new_file().path_bytes());
        let old_path = lossy(delta.old_file().path_bytes());
        let path = match status {
            ChangeStatus::Deleted => old_path.clone(),
            _ => new_path.or_else(|| old_path.clone()),
        }
        .unwrap_or_default();
        let mut change = FileChange {
            old_path: old_path.filter(|old| status == ChangeStatus::Renamed && *old != path),
            path,
            status,
            insertions: 0,
            deletions: 0,
            binary: false,
            lines: LineFacts::default(),
        };
        match git2::Patch::from_diff(diff, index)? {
            Some(patch) if !patch.delta().flags().is_binary() => {
                let (_, insertions, deletions) = patch.line_stats()?;
                change.insertions = insertions;
                change.deletions = deletions;
                note_lines(&patch, &mut change.lines, markers)?;
            }
            _ => change.binary = true,
        }
        facts.insertions += change.insertions;
        facts.deletions += change.deletions;
        facts.files.push(change);
    }
    if total > MAX_PATCHED_FILES {
        let stats = diff.stats()?;
        facts.insertions = stats.insertions();
        facts.deletions = stats.deletions();
    }
    Ok(facts)
}

fn note_lines(
    patch: &git2::Patch<'_>,
    lines: &mut LineFacts,
    markers: &[String],
) -> Result<(), git2::Error> {
    for hunk in 0..patch.num_hunks() {
        for at in 0..patch.num_lines_in_hunk(hunk)? {
            let line = patch.line_in_hunk(hunk, at)?;
            lines.note(
                line.origin(),
                &String::from_utf8_lossy(line.content()),
                markers,
            );
        }
        let full = lines.todos_added.len() >= super::patterns::LINES_KEPT
            && lines.public_removed.len() >= super::patterns::LINES_KEPT;
        if full {
            break;
        }
    }
    Ok(())
}

/// A path of the working tree as git reports it (bytes), its display form, and what it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub raw: Vec<u8>,
    pub path: String,
    pub fingerprint: Fingerprint,
}

/// What a changed working-tree file looks like now; a new fingerprint is a new edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub status: u32,
    pub size: Option<u64>,
    pub modified: Option<std::time::SystemTime>,
}

/// Uncommitted changes (staged or not, untracked included, ignored files not) of paths
/// matching `watch`.
///
/// # Errors
/// [`ScanError`] when the status cannot be read.
pub fn observe_worktree(repo: &Repository, watch: &Globs) -> Result<Vec<Observed>, ScanError> {
    let Some(workdir) = repo.workdir() else {
        return Ok(Vec::new());
    };
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut options))
        .map_err(fail("read the working tree status"))?;
    let mut out = Vec::new();
    for entry in statuses.iter() {
        let raw = entry.path_bytes().to_vec();
        let path = String::from_utf8_lossy(&raw).into_owned();
        if !watch.matches(&path) {
            continue;
        }
        let metadata = std::fs::symlink_metadata(workdir.join(path_of(&raw))).ok();
        out.push(Observed {
            fingerprint: Fingerprint {
                status: entry.status().bits(),
                size: metadata.as_ref().map(|m| m.len()),
                modified: metadata.and_then(|m| m.modified().ok()),
            },
            raw,
            path,
        });
    }
    Ok(out)
}

#[cfg(unix)]
fn path_of(raw: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(raw))
}

#[cfg(not(unix))]
fn path_of(raw: &[u8]) -> std::path::PathBuf {
    std::path::PathBuf::from(String::from_utf8_lossy(raw).into_owned())
}

/// One uncommitted change, ready to report.
#[derive(Debug, Clone)]
pub struct WorktreeChange {
    pub change: FileChange,
    /// The blob id of the content now (`deleted` for a removed file): the same edit reported
    /// twice gets the same event id.
    pub content_id: String,
}

/// The blob id git would give the file (a symlink: its target's name).
fn content_id(path: &Path) -> Result<String, String> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let oid = if is_link {
        let target = std::fs::read_link(path).map_err(|e| e.to_string())?;
        Oid::hash_object(git2::ObjectType::Blob, target.to_string_lossy().as_bytes())
    } else {
        Oid::hash_file(git2::ObjectType::Blob, path)
    };
    oid.map(|o| o.to_string())
        .map_err(|e| e.message().to_owned())
}

/// What reading settled working-tree paths gave.
#[derive(Debug, Clone, Default)]
pub struct WorktreeRead {
    pub changes: Vec<WorktreeChange>,
    /// Paths that could not be read, with why.
    pub skipped: Vec<(String, String)>,
}

/// The changes of `paths` against HEAD, and the paths that could not be read.
///
/// # Errors
/// [`ScanError`] when HEAD or the diff cannot be read.
pub fn worktree_changes(
    repo: &Repository,
    paths: &[Vec<u8>],
    markers: &[String],
) -> Result<WorktreeRead, ScanError> {
    let Some(workdir) = repo.workdir().map(Path::to_path_buf) else {
        return Ok(WorktreeRead::default());
    };
    let mut skipped = Vec::new();
    let mut readable = Vec::new();
    for raw in paths {
        let full = workdir.join(path_of(raw));
        let shown = || String::from_utf8_lossy(raw).into_owned();
        // Only regular files are read (a FIFO would block the read for good), symlinks as
        // their target's name, and a missing file is a deletion.
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_file() => match std::fs::File::open(&full) {
                Ok(_) => readable.push(raw.clone()),
                Err(e) => skipped.push((shown(), e.to_string())),
            },
            Ok(m) if m.file_type().is_symlink() => readable.push(raw.clone()),
            Ok(_) => skipped.push((shown(), "not a regular file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => readable.push(raw.clone()),
            Err(e) => skipped.push((shown(), e.to_string())),
        }
    }
    if readable.is_empty() {
        return Ok(WorktreeRead {
            changes: Vec::new(),
            skipped,
        });
    }
    let head_tree = match repo.head().and_then(|h| h.peel_to_tree()) {
        Ok(tree) => Some(tree),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
        Err(e) => return Err(fail("read HEAD")(e)),
    };
    let mut options = diff_options();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .disable_pathspec_match(true);
    for raw in &readable {
        options.pathspec(raw.clone());
    }
    let mut diff = repo
        .diff_tree_to_workdir_with_index(head_tree.as_ref(), Some(&mut options))
        .map_err(fail("diff the working tree"))?;
    let facts = diff_facts(&mut diff, markers).map_err(fail("diff the working tree"))?;
    let mut out = Vec::new();
    for change in facts.files {
        let content_id = if change.status == ChangeStatus::Deleted {
            "deleted".to_owned()
        } else {
            let raw = readable
                .iter()
                .find(|r| String::from_utf8_lossy(r) == change.path)
                .cloned()
                .unwrap_or_else(|| change.path.clone().into_bytes());
            match content_id(&workdir.join(path_of(&raw))) {
                Ok(id) => id,
                Err(error) => {
                    skipped.push((change.path.clone(), error));
                    continue;
                }
            }
        };
        out.push(WorktreeChange { change, content_id });
    }
    Ok(WorktreeRead {
        changes: out,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_tree_reads_regular_files_and_skips_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("edit.py"), "# TODO: check\nx = 1\n").unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.path().join("pipe.py"))
            .status()
            .is_ok_and(|s| s.success());
        let mut paths = vec![b"edit.py".to_vec(), b"gone.py".to_vec()];
        if fifo {
            paths.push(b"pipe.py".to_vec());
        }
        let read = worktree_changes(&repo, &paths, &["TODO".into()]).unwrap();
        assert_eq!(read.changes.len(), 1, "{read:?}");
        let edit = &read.changes[0];
        assert_eq!(edit.change.path, "edit.py");
        assert_eq!(edit.change.status, ChangeStatus::Added);
        assert_eq!(edit.change.insertions, 2);
        assert_eq!(edit.change.lines.todos_added, ["# TODO: check"]);
        let blob = Oid::hash_object(git2::ObjectType::Blob, b"# TODO: check\nx = 1\n").unwrap();
        assert_eq!(edit.content_id, blob.to_string());
        if fifo {
            assert_eq!(
                read.skipped,
                [("pipe.py".to_owned(), "not a regular file".to_owned())]
            );
        }
    }
}
