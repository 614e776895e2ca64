//! Settings of a `git` integration: local repositories whose commits (and optionally
//! uncommitted edits) become events, run by `up` and `git-watch`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Config, IntegrationContext, Problem, GIT_ID};

impl Config {
    /// The id of the enabled git integration watching a repository named `repository` for
    /// `tenant` (an alias, as [`Config::destination`] makes it), else [`GIT_ID`], the id
    /// `git-watch --repo` runs under: the integration part of a commit's event id
    /// ([`crate::event::commit_id`]), which the memories API derives for a `git_commit`.
    pub fn git_integration_for<'a>(&'a self, tenant: &str, repository: &str) -> &'a str {
        self.settings_of::<GitConfig>()
            .find(|(_, git)| {
                git.repositories.iter().any(|repo| {
                    let owner = repo.tenant.as_deref().or(git.tenant.as_deref());
                    repo.name() == repository && self.destination(owner, None).0 == tenant
                })
            })
            .map_or(GIT_ID, |(integration, _)| integration.id.as_str())
    }
}

/// Settings of a git integration: local repositories whose commits (and optionally uncommitted
/// edits) become events. A repository's own settings win over these defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitConfig {
    pub repositories: Vec<GitRepositoryConfig>,
    /// Tenant of the repositories that name none (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    pub project: Option<String>,
    /// Branches watched in repositories that name none; empty follows the branch HEAD is on.
    pub branches: Vec<String>,
    /// Globs (`*.py`, `src/**/*.ts`) of paths that get their own `file_change` events; a glob
    /// without `/` matches the file name. Empty: commit events only.
    pub watch_patterns: Vec<String>,
    /// Also report uncommitted edits of matching paths in the working tree.
    pub working_tree: bool,
    /// How often refs (and the working tree) are looked at.
    pub poll_interval_ms: u64,
    /// An uncommitted edit must be unchanged this long before it is reported.
    pub debounce_ms: u64,
    /// Commits stored when a branch is first seen (its newest ones), instead of its history.
    pub initial_commits: usize,
    /// Changed files listed in a commit's content; the rest are counted.
    pub max_files_listed: usize,
    /// `file_change` events per commit (or per poll of the working tree); more matching paths
    /// become one event listing them.
    pub max_file_events: usize,
    /// Important-change recognition: which signals are tagged and how.
    pub important: GitImportantConfig,
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig {
            repositories: Vec::new(),
            tenant: None,
            project: None,
            branches: Vec::new(),
            watch_patterns: Vec::new(),
            working_tree: false,
            poll_interval_ms: 2_000,
            debounce_ms: 1_000,
            initial_commits: 10,
            max_files_listed: 20,
            max_file_events: 10,
            important: GitImportantConfig::default(),
        }
    }
}

/// One watched repository.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitRepositoryConfig {
    /// The work tree or bare repository (a path inside a work tree finds its repository).
    pub path: PathBuf,
    /// Names the repository in events, ids and cursors (default: the directory name); keep it
    /// when the directory moves, so nothing is stored twice.
    pub name: Option<String>,
    pub tenant: Option<String>,
    pub project: Option<String>,
    pub branches: Option<Vec<String>>,
    pub watch_patterns: Option<Vec<String>>,
    pub working_tree: Option<bool>,
}

impl GitRepositoryConfig {
    /// The configured name, else the last component of the path (without `.git`).
    pub fn name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let path = match self.path.file_name() {
            Some(last) if last == ".git" => self.path.parent().unwrap_or(&self.path),
            _ => &self.path,
        };
        let last = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repository".into());
        last.strip_suffix(".git").unwrap_or(&last).to_owned()
    }
}

/// Which important changes the git watcher tags (security, migration, dependencies, ci, api,
/// todo, revert, large-deletion) and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitImportantConfig {
    /// Built-in signals not to tag.
    pub disabled: Vec<String>,
    /// Lines removed beyond those added that make a `large-deletion`.
    pub large_deletion_lines: usize,
    /// Markers that make an added line a `todo`.
    pub todo_markers: Vec<String>,
    /// More path rules: paths matching `paths` get `tag`.
    pub rules: Vec<GitPathRule>,
}

impl Default for GitImportantConfig {
    fn default() -> Self {
        GitImportantConfig {
            disabled: Vec::new(),
            large_deletion_lines: 300,
            todo_markers: ["TODO", "FIXME", "HACK", "XXX"].map(Into::into).to_vec(),
            rules: Vec::new(),
        }
    }
}

/// A path rule of the git watcher's important-change recognition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitPathRule {
    pub tag: String,
    /// Globs as in `watch_patterns`.
    pub paths: Vec<String>,
}

/// The built-in signals of the git watcher, as named in `important.disabled` and in tags.
pub const GIT_SIGNALS: &[&str] = &[
    "security",
    "migration",
    "dependencies",
    "ci",
    // Not `api`: that is the tag of the `api` source, and the two must not meet in one rule.
    "api-change",
    "todo",
    "revert",
    "large-deletion",
];

impl GitConfig {
    /// What is wrong with these settings, paths relative to them.
    pub fn problems(&self, ctx: &IntegrationContext) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: String, message: &str| problems.push(Problem::new(path, message));
        if ctx.enabled && self.repositories.is_empty() {
            bad(".repositories".into(), "needs at least one repository");
        }
        if let Some(p) = ctx.tenant_problem(".tenant", self.tenant.as_ref()) {
            bad(p.path, &p.message);
        }
        if !(100..=3_600_000).contains(&self.poll_interval_ms) {
            bad(".poll_interval_ms".into(), "must be 100 to 3600000");
        }
        if self.debounce_ms > 600_000 {
            bad(".debounce_ms".into(), "must be at most 600000");
        }
        if self.initial_commits > 1_000 {
            bad(".initial_commits".into(), "must be at most 1000");
        }
        if self.max_files_listed == 0 || self.max_files_listed > 1_000 {
            bad(".max_files_listed".into(), "must be 1 to 1000");
        }
        if self.max_file_events == 0 || self.max_file_events > 1_000 {
            bad(".max_file_events".into(), "must be 1 to 1000");
        }
        branches_problems(&self.branches, ".branches", &mut bad);
        patterns_problems(&self.watch_patterns, ".watch_patterns", &mut bad);
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for (j, repo) in self.repositories.iter().enumerate() {
            let at = |field: &str| format!(".repositories[{j}].{field}");
            if repo.path.as_os_str().is_empty() {
                bad(at("path"), "is required");
            }
            let name = repo.name();
            if name.trim().is_empty() || name.len() > 128 || name.contains('/') {
                bad(at("name"), "must be 1 to 128 characters without /");
            } else if let Some(other) = names.insert(name.clone(), j) {
                bad(
                    at("name"),
                    &format!("{name:?} is also the name of repositories[{other}]: set name to tell them apart"),
                );
            }
            if let Some(p) = ctx.tenant_problem(&at("tenant"), repo.tenant.as_ref()) {
                bad(p.path, &p.message);
            }
            if repo.project.as_ref().is_some_and(|p| p.trim().is_empty()) {
                bad(at("project"), "must not be empty");
            }
            if let Some(branches) = &repo.branches {
                branches_problems(branches, &at("branches"), &mut bad);
            }
            if let Some(patterns) = &repo.watch_patterns {
                patterns_problems(patterns, &at("watch_patterns"), &mut bad);
            }
        }
        let important = &self.important;
        for (j, signal) in important.disabled.iter().enumerate() {
            if !GIT_SIGNALS.contains(&signal.as_str()) {
                bad(
                    format!(".important.disabled[{j}]"),
                    &format!("must be one of {}", GIT_SIGNALS.join(", ")),
                );
            }
        }
        if important.large_deletion_lines == 0 {
            bad(
                ".important.large_deletion_lines".into(),
                "must be greater than 0",
            );
        }
        for (j, marker) in important.todo_markers.iter().enumerate() {
            if marker.trim().is_empty() {
                bad(format!(".important.todo_markers[{j}]"), "must not be empty");
            }
        }
        for (j, rule) in important.rules.iter().enumerate() {
            let at = format!(".important.rules[{j}]");
            if rule.tag.trim().is_empty() || rule.tag.chars().count() > 64 {
                bad(format!("{at}.tag"), "must be 1 to 64 characters");
            }
            if rule.paths.is_empty() {
                bad(format!("{at}.paths"), "must name at least one glob");
            }
            patterns_problems(&rule.paths, &format!("{at}.paths"), &mut bad);
        }
        problems
    }
}

/// Branch names git would refuse (or that could be taken for options) at `{field}[j]`.
fn branches_problems(branches: &[String], field: &str, bad: &mut dyn FnMut(String, &str)) {
    for (j, branch) in branches.iter().enumerate() {
        let invalid = branch.is_empty()
            || branch.starts_with('-')
            || branch.ends_with('/')
            || branch.contains("..")
            || branch
                .chars()
                .any(|c| c.is_whitespace() || "~^:?*[\\".contains(c));
        if invalid {
            bad(
                format!("{field}[{j}]"),
                "must be a branch name like main or release/1.2",
            );
        }
    }
}

/// Empty globs at `{field}[j]`.
fn patterns_problems(patterns: &[String], field: &str, bad: &mut dyn FnMut(String, &str)) {
    for (j, pattern) in patterns.iter().enumerate() {
        if pattern.trim().is_empty() {
            bad(format!("{field}[{j}]"), "must not be empty");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env_of;
    use crate::config::{Config, GitConfig, Source};

    #[test]
    fn git_integrations_are_validated_with_paths() {
        let text = r#"
integrations:
  - id: git
    kind: git
    config:
      tenant: nobody
      poll_interval_ms: 10
      branches: ["main", "bad..name"]
      repositories:
        - { path: /src/app }
        - { path: /other/app, branches: [" "] }
        - { path: "" , name: "a/b"}
      important:
        disabled: [security, typos]
        rules: [{ tag: "", paths: [] }]
  - id: git-empty
    kind: git
"#;
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "integrations[0].config.tenant",
            "integrations[0].config.poll_interval_ms",
            "integrations[0].config.branches[1]",
            "integrations[0].config.repositories[1].name",
            "integrations[0].config.repositories[1].branches[0]",
            "integrations[0].config.repositories[2].path",
            "integrations[0].config.repositories[2].name",
            "integrations[0].config.important.disabled[1]",
            "integrations[0].config.important.rules[0].tag",
            "integrations[0].config.important.rules[0].paths",
            "integrations[1].config.repositories",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
        assert_eq!(paths.len(), 11, "{paths:?}");
        let ok = "integrations:\n  - { id: git, kind: git, config: { repositories: [{ path: /srv/repo.git }] } }\n";
        let config = Config::load(&Source::Text(ok.into()), &env_of(&[])).unwrap();
        let (_, git) = config.settings_of::<GitConfig>().next().unwrap();
        assert_eq!(git.repositories[0].name(), "repo");
        assert_eq!(git.poll_interval_ms, 2_000);
    }

    #[test]
    fn the_git_integration_of_a_repository_is_the_one_watching_it_for_the_tenant() {
        let text = r#"
tenants:
  acme: { rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f }
integrations:
  - id: repos
    kind: git
    config:
      repositories:
        - { path: /src/shop }
        - { path: /src/billing, tenant: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f }
  - id: off
    kind: git
    enabled: false
    config: { repositories: [{ path: /src/old }] }
"#;
        let config = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap();
        assert_eq!(
            config.git_integration_for("default-tenant", "shop"),
            "repos"
        );
        // The tenant is compared as the watcher names it: its alias.
        assert_eq!(config.git_integration_for("acme", "billing"), "repos");
        assert_eq!(
            config.git_integration_for("default-tenant", "billing"),
            "git"
        );
        assert_eq!(config.git_integration_for("acme", "shop"), "git");
        assert_eq!(config.git_integration_for("default-tenant", "old"), "git");
    }
}
