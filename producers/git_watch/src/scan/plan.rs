//! Which commits are new on a branch since its cursor, grouped in steps after each of which the
//! cursor may advance.
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

use git2::{ErrorCode, Oid, Repository, Sort};

use super::commit::{commit_facts, subject_of, CommitFacts};
use super::{fail, ScanError, COUNT_CAP, LISTED_COMMITS};

/// Commits one plan reports at most; the rest come at the next poll.
pub const MAX_COMMITS_PER_PLAN: usize = 1_000;

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
    /// TODO markers for [`LineFacts::note`](crate::patterns::LineFacts::note).
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
