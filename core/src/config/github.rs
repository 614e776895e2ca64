//! Settings of a `github` integration: GitHub webhooks at `POST /api/v1/integrations/{id}/webhook`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::tenants::is_repository;
use super::{secrets_problems, IntegrationContext, Problem, Secret};

/// Settings of a GitHub integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// Webhook secrets (`X-Hub-Signature-256`); several at once allow rotation.
    pub secrets: Vec<Secret>,
    /// Tenant of deliveries no tenant claims (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    pub project: Option<String>,
    /// `owner/repo` names stored for `tenant`; with `organizations` empty too, every
    /// repository not claimed by a tenant is.
    pub repositories: Vec<String>,
    pub organizations: Vec<String>,
    /// The GitHub App's id, for `rae-pipeline import github` and `sync_interval_secs`; with
    /// `private_key_path` the importer authenticates as the app's installation on each repository.
    pub app_id: Option<u64>,
    /// The GitHub App's private key (PEM, as GitHub downloads it), relative to the working directory.
    pub private_key_path: Option<PathBuf>,
    /// A token (personal access token or installation token) used instead of the app.
    pub token: Option<Secret>,
    /// The REST API's base URL (GitHub Enterprise Server: `https://HOST/api/v3`).
    pub api_url: String,
    /// When set, `up` imports `repositories` every this many seconds (at least 60), for
    /// repositories where no webhook can be installed; unset: no periodic import.
    pub sync_interval_secs: Option<u64>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            secrets: Vec::new(),
            tenant: None,
            project: None,
            repositories: Vec::new(),
            organizations: Vec::new(),
            app_id: None,
            private_key_path: None,
            token: None,
            api_url: default_api_url(),
            sync_interval_secs: None,
        }
    }
}

/// GitHub's REST API.
pub fn default_api_url() -> String {
    "https://api.github.com".to_owned()
}

/// The shortest `sync_interval_secs`: GitHub's primary limit is 5,000 requests an hour.
pub const MIN_SYNC_INTERVAL_SECS: u64 = 60;

impl GithubConfig {
    /// What is wrong with these settings, paths relative to them.
    pub fn problems(&self, ctx: &IntegrationContext) -> Vec<Problem> {
        let mut problems = secrets_problems(&self.secrets, "secrets", ctx.secret_required);
        problems.extend(ctx.tenant_problem(".tenant", self.tenant.as_ref()));
        for (j, repo) in self.repositories.iter().enumerate() {
            if !is_repository(repo) {
                problems.push(Problem::new(
                    format!(".repositories[{j}]"),
                    "must look like owner/repo",
                ));
            }
        }
        if self.app_id.is_some() != self.private_key_path.is_some() {
            problems.push(Problem::new(
                ".app_id",
                "app_id and private_key_path go together (a GitHub App); or set token",
            ));
        }
        let api_ok = reqwest::Url::parse(&self.api_url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !api_ok {
            problems.push(Problem::new(".api_url", "must be an http(s) URL"));
        }
        if let Some(interval) = self.sync_interval_secs {
            if interval < MIN_SYNC_INTERVAL_SECS {
                problems.push(Problem::new(
                    ".sync_interval_secs",
                    format!("must be at least {MIN_SYNC_INTERVAL_SECS}"),
                ));
            }
            if self.repositories.is_empty() {
                problems.push(Problem::new(
                    ".sync_interval_secs",
                    "needs repositories: the repositories to import periodically",
                ));
            }
            if self.app_id.is_none() && self.token.is_none() {
                problems.push(Problem::new(
                    ".sync_interval_secs",
                    "needs credentials: app_id with private_key_path, or token",
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Source};

    fn problems(config: &str) -> Vec<(String, String)> {
        let text = format!(
            "integrations:\n  - id: github\n    config:\n      secrets: [github-secret-0001]\n{config}"
        );
        match Config::load(&Source::Text(text), &|_| None) {
            Ok(_) => Vec::new(),
            Err(err) => err
                .problems()
                .iter()
                .map(|p| (p.path.clone(), p.message.clone()))
                .collect(),
        }
    }

    #[test]
    fn import_settings_are_checked() {
        assert_eq!(problems("      token: ghp_abc\n"), []);
        assert_eq!(
            problems("      app_id: 12\n      private_key_path: key.pem\n      repositories: [a/b]\n      sync_interval_secs: 600\n"),
            []
        );
        let found = problems("      app_id: 12\n      api_url: not a url\n");
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert!(
            paths.contains(&"integrations[0].config.app_id"),
            "{found:?}"
        );
        assert!(
            paths.contains(&"integrations[0].config.api_url"),
            "{found:?}"
        );
        let found = problems("      sync_interval_secs: 5\n");
        let messages: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
        assert!(
            messages.iter().any(|m| m.contains("at least 60")),
            "{found:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("needs repositories")),
            "{found:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("needs credentials")),
            "{found:?}"
        );
    }
}
