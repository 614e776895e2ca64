//! The git watcher: local repositories whose new commits, matching file changes
//! and (optionally) settled uncommitted edits become events on `rae.events.<tenant>.git.<kind>`.
//!
//! Each repository is polled by its own task every `poll_interval_ms`: the refs of the watched
//! branches are read (cheap, whatever the size of the history), and only a branch whose tip
//! moved is scanned ([`scan::plan`]). Events are published with the ack awaited, and the
//! branch cursor in `rae_state` ([`cursor`]) moves only after the acks, so a restart neither
//! misses nor repeats a commit. git2 is blocking, so each look at a repository runs under
//! `spawn_blocking`, one at a time per repository.
//!
//! A repository that cannot be opened, a missing branch or a scan error is logged (once per
//! distinct problem) and retried at the next poll; the other repositories keep going.

pub mod cursor;
pub mod normalize;
pub mod patterns;
pub mod scan;
pub mod worktree;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use git2::{Oid, Repository};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use cursor::{CursorError, Cursors};
use normalize::Target;
use patterns::{Globs, Recognizer};
use rae_core::bus::{Bus, Dedupe, PublishError, Publisher};
use rae_core::config::{Config, GitConfig};
use rae_core::event::{Event, Limits};
use scan::{Item, ScanError};
use worktree::Debouncer;

/// Why a git integration could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Cursor(#[from] CursorError),
    #[error(transparent)]
    Dedupe(#[from] rae_core::bus::BusError),
}

/// One watched repository, with everything its events need.
#[derive(Debug, Clone)]
struct RepoSettings {
    path: PathBuf,
    /// Branches to watch; empty follows the branch HEAD is on.
    branches: Vec<String>,
    working_tree: bool,
    target: Target,
}

/// What every repository task of one integration shares.
struct Shared {
    publisher: Publisher,
    /// Commit ids remembered for days: the memories API may store the same commit (a VS Code
    /// commit memory, which names it by `git_commit`) long after JetStream's duplicate window.
    dedupe: Dedupe,
    cursors: Cursors,
    poll_interval: Duration,
    debounce: Duration,
    initial_commits: usize,
    markers: Vec<String>,
}

/// The watcher of one git integration.
pub struct GitWatcher {
    integration: String,
    repos: Vec<RepoSettings>,
    shared: Arc<Shared>,
}

impl GitWatcher {
    /// A watcher for the git integration `id` of a validated config, with its `settings`.
    /// Repositories are opened when it runs, so one that is missing at start is retried
    /// rather than fatal.
    ///
    /// # Errors
    /// [`BuildError`] for a missing `rae_state` bucket.
    pub async fn build(
        config: &Config,
        id: &str,
        settings: &GitConfig,
        bus: &Bus,
    ) -> Result<GitWatcher, BuildError> {
        let limits = config.limits.limits();
        let recognizer = Recognizer::new(&settings.important);
        let repos = settings
            .repositories
            .iter()
            .map(|repo| {
                let (tenant, project) = config.destination(
                    repo.tenant.as_deref().or(settings.tenant.as_deref()),
                    repo.project.as_deref().or(settings.project.as_deref()),
                );
                RepoSettings {
                    path: repo.path.clone(),
                    branches: repo
                        .branches
                        .clone()
                        .unwrap_or_else(|| settings.branches.clone()),
                    working_tree: repo.working_tree.unwrap_or(settings.working_tree),
                    target: Target {
                        integration: id.to_owned(),
                        tenant,
                        project,
                        repository: repo.name(),
                        limits,
                        watch: Globs::new(
                            repo.watch_patterns
                                .as_ref()
                                .unwrap_or(&settings.watch_patterns),
                        ),
                        recognizer: recognizer.clone(),
                        max_files_listed: settings.max_files_listed,
                        max_file_events: settings.max_file_events,
                    },
                }
            })
            .collect();
        Ok(GitWatcher {
            integration: id.to_owned(),
            repos,
            shared: Arc::new(Shared {
                publisher: bus.publisher(),
                dedupe: bus.dedupe().await?,
                cursors: Cursors::open(bus, id).await?,
                poll_interval: Duration::from_millis(settings.poll_interval_ms),
                debounce: Duration::from_millis(settings.debounce_ms),
                initial_commits: settings.initial_commits,
                markers: settings.important.todo_markers.clone(),
            }),
        })
    }

    /// Polls every repository until `token` is cancelled; a poll under way finishes (its
    /// current step is published and its cursor stored) before the task ends.
    pub async fn run(self, token: CancellationToken) {
        tracing::info!(
            integration = %self.integration,
            repositories = self.repos.len(),
            poll_interval_ms = self.shared.poll_interval.as_millis() as u64,
            "git watcher running"
        );
        let mut tasks = tokio::task::JoinSet::new();
        for settings in self.repos {
            let watch = RepoWatch {
                settings: Arc::new(settings),
                shared: self.shared.clone(),
                repo: None,
                cursors: HashMap::new(),
                debouncer: Debouncer::default(),
                problem: None,
                missing: HashSet::new(),
            };
            tasks.spawn(watch.run(token.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Why one poll of a repository stopped.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("{0}")]
    Scan(#[from] ScanError),
    #[error("{0}")]
    Publish(#[from] PublishError),
    #[error("{0}")]
    Cursor(#[from] CursorError),
    #[error("reading the repository failed: {0}")]
    Panicked(String),
}

/// The state of one watched repository.
struct RepoWatch {
    settings: Arc<RepoSettings>,
    shared: Arc<Shared>,
    /// Open between polls; dropped after a scan error so the next poll opens it afresh.
    repo: Option<Repository>,
    /// Cursors loaded from `rae_state`, by branch; `None` for a branch never seen.
    cursors: HashMap<String, Option<Vec<Oid>>>,
    debouncer: Debouncer,
    /// The problem last logged, so a lasting one is logged once.
    problem: Option<String>,
    /// Branches logged as missing.
    missing: HashSet<String>,
}

impl RepoWatch {
    fn name(&self) -> &str {
        &self.settings.target.repository
    }

    async fn run(mut self, token: CancellationToken) {
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::select! {
                biased;
                _ = token.cancelled() => break,
                _ = tokio::time::sleep_until(next) => {}
            }
            next = tokio::time::Instant::now() + self.shared.poll_interval;
            let started = std::time::Instant::now();
            match self.poll(&token).await {
                Ok(()) => {
                    if self.problem.take().is_some() {
                        tracing::info!(repository = self.name(), "git repository readable again");
                    }
                }
                Err(problem) => {
                    if matches!(problem, Problem::Scan(_) | Problem::Panicked(_)) {
                        self.repo = None;
                    }
                    let text = problem.to_string();
                    if self.problem.as_deref() != Some(text.as_str()) {
                        tracing::warn!(
                            repository = self.name(),
                            path = %self.settings.path.display(),
                            error = %text,
                            "git repository skipped this poll; retrying every poll interval"
                        );
                        self.problem = Some(text);
                    }
                }
            }
            tracing::trace!(
                repository = self.name(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "git poll done"
            );
        }
    }

    /// Runs `f` on the open repository in the blocking pool, opening it first when needed.
    async fn blocking<T, F>(&mut self, f: F) -> Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce(&Repository) -> Result<T, ScanError> + Send + 'static,
    {
        let repo = self.repo.take();
        let path = self.settings.path.clone();
        let (repo, out) = tokio::task::spawn_blocking(move || {
            let repo = match repo {
                Some(repo) => repo,
                None => match scan::open(&path) {
                    Ok(repo) => repo,
                    Err(e) => return (None, Err(e)),
                },
            };
            let out = f(&repo);
            (Some(repo), out)
        })
        .await
        .map_err(|e| Problem::Panicked(e.to_string()))?;
        self.repo = repo;
        Ok(out?)
    }

    async fn poll(&mut self, token: &CancellationToken) -> Result<(), Problem> {
        let branches = self.settings.branches.clone();
        let tips = self
            .blocking(move |repo| {
                let names = if branches.is_empty() {
                    scan::head_branch(repo)?.into_iter().collect()
                } else {
                    branches
                };
                names
                    .into_iter()
                    .map(|b| Ok((scan::resolve(repo, &b)?, b)))
                    .collect::<Result<Vec<_>, ScanError>>()
            })
            .await?;
        for (tip, branch) in tips {
            if token.is_cancelled() {
                return Ok(());
            }
            let Some(tip) = tip else {
                if self.missing.insert(branch.clone()) {
                    tracing::warn!(
                        repository = self.name(),
                        branch,
                        "git branch not found (or without commits); watching for it"
                    );
                }
                continue;
            };
            self.missing.remove(&branch);
            self.branch(&branch, tip, token).await?;
        }
        if self.settings.working_tree && !self.settings.target.watch.is_empty() {
            self.working_tree().await?;
        }
        Ok(())
    }

    /// Reports what is new on `branch` up to `tip`, step by step.
    async fn branch(
        &mut self,
        branch: &str,
        tip: Oid,
        token: &CancellationToken,
    ) -> Result<(), Problem> {
        if !self.cursors.contains_key(branch) {
            let loaded = self.shared.cursors.load(self.name(), branch).await?;
            self.cursors.insert(branch.to_owned(), loaded);
        }
        let cursor = self.cursors.get(branch).cloned().flatten();
        if cursor.as_deref() == Some(&[tip][..]) {
            return Ok(());
        }
        let others: Vec<Oid> = self
            .cursors
            .iter()
            .filter(|(b, _)| b.as_str() != branch)
            .flat_map(|(_, c)| c.iter().flatten().copied())
            .collect();
        let first_sight = cursor.is_none();
        let (branch_owned, initial, markers) = (
            branch.to_owned(),
            self.shared.initial_commits,
            self.shared.markers.clone(),
        );
        let steps = self
            .blocking(move |repo| {
                scan::plan(
                    repo,
                    &scan::PlanInput {
                        branch: &branch_owned,
                        tip,
                        cursor: cursor.as_deref(),
                        others: &others,
                        initial_commits: initial,
                        markers: &markers,
                    },
                )
            })
            .await?;
        let mut published = 0usize;
        for step in steps {
            let now = OffsetDateTime::now_utc();
            let target = &self.settings.target;
            let mut events = Vec::new();
            for item in &step.items {
                match item {
                    Item::Commit(facts) => {
                        events.extend(normalize::commit_events(facts, branch, target, now))
                    }
                    Item::Rewrite(rewrite) => {
                        tracing::warn!(
                            repository = self.name(),
                            branch,
                            old = ?rewrite.old,
                            new = %rewrite.new,
                            dropped = rewrite.dropped_count,
                            "git history rewritten"
                        );
                        events.push(normalize::rewrite_event(rewrite, target, now));
                    }
                }
            }
            for event in &events {
                publish(&self.shared, event, &target.limits).await?;
            }
            published += events.len();
            self.shared
                .cursors
                .save(self.name(), branch, &step.cursor)
                .await?;
            self.cursors.insert(branch.to_owned(), Some(step.cursor));
            if token.is_cancelled() {
                break;
            }
        }
        if first_sight {
            tracing::info!(
                repository = self.name(),
                branch,
                events = published,
                "git branch seen for the first time: stored its newest commits"
            );
        } else if published > 0 {
            tracing::info!(
                repository = self.name(),
                branch,
                events = published,
                "git events published"
            );
        }
        Ok(())
    }

    /// Reports settled uncommitted edits of watched paths.
    async fn working_tree(&mut self) -> Result<(), Problem> {
        let watch = self.settings.target.watch.clone();
        let observed = self
            .blocking(move |repo| scan::observe_worktree(repo, &watch))
            .await?;
        let settled = self.debouncer.observe(
            &observed,
            std::time::Instant::now(),
            SystemTime::now(),
            self.shared.debounce,
        );
        if settled.is_empty() {
            return Ok(());
        }
        let paths: Vec<Vec<u8>> = settled.iter().map(|o| o.raw.clone()).collect();
        let markers = self.shared.markers.clone();
        let read = self
            .blocking(move |repo| scan::worktree_changes(repo, &paths, &markers))
            .await?;
        for (path, error) in &read.skipped {
            tracing::warn!(
                repository = self.name(),
                path,
                error,
                "uncommitted change skipped: file not readable"
            );
        }
        let events = normalize::worktree_events(
            &read.changes,
            &self.settings.target,
            OffsetDateTime::now_utc(),
        );
        for event in &events {
            publish(&self.shared, event, &self.settings.target.limits).await?;
        }
        for observed in &settled {
            self.debouncer.reported(observed);
        }
        Ok(())
    }
}

/// Publishes one event and awaits the ack. An event that breaks a limit (which the
/// normalizer prevents) is logged and left out rather than blocking the repository forever.
/// Commits and merges go through `rae_dedupe`, whose id ([`rae_core::event::commit_id`]) the
/// memories API shares, so a commit also sent from an editor is stored once however far apart.
async fn publish(shared: &Shared, event: &Event, limits: &Limits) -> Result<(), Problem> {
    if let Err(invalid) = event.validate(limits) {
        tracing::error!(event_id = %event.id, kind = %event.kind, error = %invalid, "git event left out: invalid");
        return Ok(());
    }
    if matches!(event.kind.as_str(), "commit" | "merge") {
        shared
            .publisher
            .publish_new_once(event, &shared.dedupe)
            .await?;
    } else {
        shared.publisher.publish_new(event).await?;
    }
    Ok(())
}
