//! Settings of a `github` integration: GitHub webhooks at `POST /api/v1/integrations/{id}/webhook`.

use serde::{Deserialize, Serialize};

use super::tenants::is_repository;
use super::{secrets_problems, IntegrationContext, Problem, Secret};

/// Settings of a GitHub integration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
}

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
        problems
    }
}
