//! `git-watch`: only the git watcher. With `--repo` it watches those repositories (on the
//! settings of the config's first git integration); without, the config's git integrations.

use std::path::PathBuf;

use clap::Args;

use rae_core::config::Config;
use rae_pipeline::app::Roles;

use super::up::{run_roles, RunArgs};
use super::Failure;

#[derive(Args)]
pub(super) struct GitWatchArgs {
    /// A repository to watch (its work tree or a bare repository); repeat for several.
    #[arg(long = "repo", value_name = "PATH")]
    repos: Vec<PathBuf>,
    /// Paths that get their own file_change events, comma separated globs ("*.py,*.ts,*.md").
    #[arg(long, value_name = "GLOBS", requires = "repos")]
    watch_patterns: Option<String>,
    /// A branch to watch (repeat or comma separate); default: the branch HEAD is on.
    #[arg(long, value_delimiter = ',', requires = "repos")]
    branch: Vec<String>,
    /// Tenant alias or RAE tenant id of the events (default: ingress.default_tenant).
    #[arg(long, requires = "repos")]
    tenant: Option<String>,
    /// Project of the events.
    #[arg(long, requires = "repos")]
    project: Option<String>,
    /// Also report settled uncommitted edits of matching paths.
    #[arg(long, requires = "repos")]
    working_tree: bool,
    /// How often to look at the repositories, in milliseconds (default 2000).
    #[arg(long, requires = "repos")]
    poll_interval_ms: Option<u64>,
    /// Commits stored when a branch is first seen (default 10).
    #[arg(long, requires = "repos")]
    initial_commits: Option<usize>,
    #[command(flatten)]
    run: RunArgs,
}

/// Runs the git watcher of `config`, or of the `--repo` repositories.
pub(super) async fn run(config: Config, args: &GitWatchArgs) -> Result<(), Failure> {
    let config = git_watch_config(config, args)?;
    let roles = Roles {
        ingress: false,
        enricher: false,
        writer: false,
        git_watch: true,
    };
    run_roles(&config, roles, &args.run, false).await
}

/// The config `git-watch` runs: with `--repo`, one `git` integration of those repositories (on
/// the settings of the config's first git integration, if any) instead of the config's.
fn git_watch_config(mut config: Config, args: &GitWatchArgs) -> Result<Config, Failure> {
    use rae_core::config::{
        GitConfig, GitRepositoryConfig, IntegrationConfig, IntegrationKind, IntegrationSettings,
        GIT_ID,
    };
    use rae_git_watch::scan;
    if args.repos.is_empty() {
        if config
            .integrations_of(IntegrationKind::Git)
            .next()
            .is_none()
        {
            return Err(Failure::Usage(anyhow::anyhow!(
                "nothing to watch: pass --repo PATH or enable a git integration in the config"
            )));
        }
        return Ok(config);
    }
    let mut problems = Vec::new();
    for path in &args.repos {
        if let Err(e) = scan::open(path) {
            problems.push(format!("--repo {}: {e}", path.display()));
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Usage(anyhow::anyhow!("{}", problems.join("\n"))));
    }
    let mut settings: GitConfig = config
        .settings_of::<GitConfig>()
        .next()
        .map(|(_, settings)| settings.clone())
        .unwrap_or_default();
    settings.repositories = args
        .repos
        .iter()
        .map(|path| GitRepositoryConfig {
            path: path.clone(),
            tenant: args.tenant.clone(),
            project: args.project.clone(),
            ..GitRepositoryConfig::default()
        })
        .collect();
    if !args.branch.is_empty() {
        settings.branches = args.branch.clone();
    }
    if let Some(patterns) = &args.watch_patterns {
        settings.watch_patterns = vec![patterns.clone()];
    }
    settings.working_tree |= args.working_tree;
    if let Some(ms) = args.poll_interval_ms {
        settings.poll_interval_ms = ms;
    }
    if let Some(n) = args.initial_commits {
        settings.initial_commits = n;
    }
    config
        .integrations
        .retain(|i| i.kind() != IntegrationKind::Git);
    config.integrations.push(IntegrationConfig {
        id: GIT_ID.into(),
        name: Some("Git watcher".into()),
        enabled: true,
        settings: IntegrationSettings::Git(settings),
    });
    let problems = config.validate();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        return Err(Failure::Usage(anyhow::anyhow!(
            "invalid git-watch options ({} problem(s)):\n{}",
            problems.len(),
            list.join("\n")
        )));
    }
    Ok(config)
}
