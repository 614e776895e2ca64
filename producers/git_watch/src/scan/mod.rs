//! Reading a repository with git2: which commits are new on a branch since its cursor, grouped
//! in steps after each of which the cursor may advance, and the facts of each commit (message,
//! author, changed files with line counts, the lines worth noting). Blocking: the poll loop runs
//! these functions under `spawn_blocking`.
//!
//! This module opens repositories and resolves branches; [`plan()`] (in `plan.rs`) decides which
//! commits are new on a branch, `commit.rs` reads the facts of one commit and its diff, and
//! `working_tree.rs` reads uncommitted changes.

mod commit;
mod plan;
mod working_tree;

use std::path::Path;

use git2::{ErrorCode, Oid, Repository};

pub use commit::{commit_facts, CommitFacts, DiffFacts, Merged};
pub use plan::{plan, Item, PlanInput, Rewrite, Step, MAX_COMMITS_PER_PLAN};
pub use working_tree::{
    observe_worktree, worktree_changes, Fingerprint, Observed, WorktreeChange, WorktreeRead,
};

/// Commits listed as merged by a merge, or dropped by a rewrite.
pub const LISTED_COMMITS: usize = 10;
/// Counting merged or dropped commits stops here.
const COUNT_CAP: usize = 10_000;

/// A git operation that failed, with what was being done and git's own sentence.
///
/// libgit2's display adds its internals (`; class=Os (2); code=NotFound (-3)`), which tell a
/// user nothing: only its message is kept, and its code for callers that branch on it.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct ScanError {
    pub what: String,
    pub message: String,
    pub code: git2::ErrorCode,
}

fn fail(what: impl Into<String>) -> impl FnOnce(git2::Error) -> ScanError {
    let what = what.into();
    move |source| ScanError {
        what,
        message: source.message().to_owned(),
        code: source.code(),
    }
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
