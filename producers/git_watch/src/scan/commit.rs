//! The facts of one commit read with git2: message, author, times, the commits a merge brings
//! in, and its diff against the first parent (changed files with line counts and the lines worth
//! noting). The diff reading is shared with the working tree.

use git2::{Commit, Delta, Diff, DiffOptions, Oid, Repository};
use time::OffsetDateTime;

use super::{fail, ScanError, COUNT_CAP, LISTED_COMMITS};
use crate::patterns::{ChangeStatus, FileChange, LineFacts, LINES_KEPT};

/// Files of one diff read line by line; the totals still count every file.
const MAX_PATCHED_FILES: usize = 300;
/// Larger blobs count as binary: their lines are not read.
const MAX_BLOB_BYTES: i64 = 4 * 1024 * 1024;

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

pub(super) fn subject_of(repo: &Repository, oid: Oid) -> String {
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

pub(super) fn diff_options() -> DiffOptions {
    let mut options = DiffOptions::new();
    options.max_size(MAX_BLOB_BYTES).context_lines(0);
    options
}

/// Changed files with their line counts and noted lines; renames are detected.
pub(super) fn diff_facts(
    diff: &mut Diff<'_>,
    markers: &[String],
) -> Result<DiffFacts, git2::Error> {
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
        let full =
            lines.todos_added.len() >= LINES_KEPT && lines.public_removed.len() >= LINES_KEPT;
        if full {
            break;
        }
    }
    Ok(())
}
