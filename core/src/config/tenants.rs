//! `tenants`: per-tenant RAE credentials, default project and the seed's per-tenant
//! integration settings (which GitHub repositories and organizations, which Slack workspace
//! belong to a tenant).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{is_rae_tenant_id, secrets_problems, Problem, Secret};

/// The configured tenant that `tenant` names, by its alias or by its `rae_tenant_id`, with
/// its alias: the one lookup behind [`super::Config::tenant_alias`] and the RAE client's
/// credentials, so a tenant has one identity whichever name a caller used.
pub fn find_tenant<'a>(
    tenants: &'a BTreeMap<String, TenantConfig>,
    tenant: &str,
) -> Option<(&'a str, &'a TenantConfig)> {
    if let Some((alias, config)) = tenants.get_key_value(tenant) {
        return Some((alias, config));
    }
    // UUIDs are the same in either case.
    tenants
        .iter()
        .find(|(_, t)| {
            t.rae_tenant_id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(tenant))
        })
        .map(|(alias, config)| (alias.as_str(), config))
}

/// RAE credentials, defaults and integration settings for one tenant alias.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    /// `X-Tenant-Id` sent to RAE (a UUID or `default-tenant`); the alias itself when absent.
    pub rae_tenant_id: Option<String>,
    /// API key for this tenant; `rae.api_key` when absent.
    pub api_key: Option<Secret>,
    /// Project of this tenant's events when the input names none.
    pub project: Option<String>,
    /// The seed's per-tenant integration settings.
    pub integrations: TenantIntegrations,
}

/// Which outside accounts belong to a tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantIntegrations {
    pub github: Option<TenantGithub>,
    pub slack: Option<TenantSlack>,
}

/// GitHub repositories and organizations whose deliveries go to a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantGithub {
    pub enabled: bool,
    pub repositories: Vec<String>,
    pub organizations: Vec<String>,
    /// This tenant's own webhook secrets. When set, deliveries for its repositories must be
    /// signed with one of them (not the integration's shared secret), and these secrets sign
    /// for nobody else: a tenant's admins cannot write into another tenant.
    pub secrets: Vec<Secret>,
}

impl Default for TenantGithub {
    fn default() -> Self {
        TenantGithub {
            enabled: true,
            repositories: Vec::new(),
            organizations: Vec::new(),
            secrets: Vec::new(),
        }
    }
}

/// The Slack workspace of a tenant and its channels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSlack {
    pub enabled: bool,
    /// Team id (`T12345`) of the workspace.
    pub workspace_id: Option<String>,
    pub channel_whitelist: Vec<String>,
    pub auto_store_channels: Vec<String>,
}

impl Default for TenantSlack {
    fn default() -> Self {
        TenantSlack {
            enabled: true,
            workspace_id: None,
            channel_whitelist: Vec::new(),
            auto_store_channels: Vec::new(),
        }
    }
}

impl TenantConfig {
    /// What is wrong with this tenant alone, paths relative to it.
    pub fn problems(&self, alias: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        match &self.rae_tenant_id {
            Some(id) if !is_rae_tenant_id(id) => problems.push(Problem::new(
                ".rae_tenant_id",
                "must be a UUID or exactly default-tenant",
            )),
            None if !is_rae_tenant_id(alias) => problems.push(Problem::new(
                ".rae_tenant_id",
                "is required when the alias is not a UUID",
            )),
            _ => {}
        }
        if let Some(github) = self.integrations.github.as_ref().filter(|g| g.enabled) {
            problems.extend(
                secrets_problems(&github.secrets, "secrets", false)
                    .into_iter()
                    .map(|p| p.under(".integrations.github")),
            );
            for (j, name) in github.repositories.iter().enumerate() {
                if !is_repository(name) {
                    problems.push(Problem::new(
                        format!(".integrations.github.repositories[{j}]"),
                        "must look like owner/repo",
                    ));
                }
            }
        }
        problems
    }
}

/// Problems of the whole map, paths relative to `tenants`: each tenant's own, and the claims
/// no two tenants may share (a GitHub repository or organization, a Slack workspace).
pub(crate) fn tenants_problems(tenants: &BTreeMap<String, TenantConfig>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut claims: BTreeMap<String, &String> = BTreeMap::new();
    let mut workspaces: BTreeMap<&String, &String> = BTreeMap::new();
    for (alias, tenant) in tenants {
        let at = format!(".{alias}");
        problems.extend(tenant.problems(alias).into_iter().map(|p| p.under(&at)));
        if let Some(github) = tenant.integrations.github.as_ref().filter(|g| g.enabled) {
            for (field, names) in [
                ("repositories", &github.repositories),
                ("organizations", &github.organizations),
            ] {
                for (j, name) in names.iter().enumerate() {
                    let key = format!("{field}:{}", name.to_ascii_lowercase());
                    if let Some(other) = claims.insert(key, alias) {
                        problems.push(Problem::new(
                            format!("{at}.integrations.github.{field}[{j}]"),
                            format!("is also claimed by tenant {other}"),
                        ));
                    }
                }
            }
        }
        let workspace = tenant.integrations.slack.as_ref().filter(|s| s.enabled);
        if let Some(id) = workspace.and_then(|s| s.workspace_id.as_ref()) {
            if let Some(other) = workspaces.insert(id, alias) {
                problems.push(Problem::new(
                    format!("{at}.integrations.slack.workspace_id"),
                    format!("is also claimed by tenant {other}"),
                ));
            }
        }
    }
    problems
}

/// `owner/repo`.
pub(crate) fn is_repository(name: &str) -> bool {
    matches!(name.split_once('/'), Some((owner, repo)) if !owner.is_empty() && !repo.is_empty() && !repo.contains('/'))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env_of;
    use crate::config::{Config, Source};

    #[test]
    fn keys_integrations_and_tenant_claims_are_validated() {
        let text = r#"
integrations:
  - id: github
    config: { secrets: [] }
  - id: slack
    config: { signing_secret: "slack-secret", command_deadline_ms: 5000 }
tenants:
  a:
    rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f
    integrations:
      github: { organizations: [Acme], repositories: [not-a-repo] }
      slack: { workspace_id: T1 }
  b:
    rae_tenant_id: 11111111-2222-3333-4444-555555555555
    integrations:
      github: { organizations: [acme] }
      slack: { workspace_id: T1 }
api_keys:
  - { id: k1, sha256: "abc", scopes: ["memories:write"], tenants: [a] }
  - { id: k2, key: "short", scopes: [], tenants: [] }
  - { id: k3, scopes: ["dlq:admin"], tenants: [nobody] }
"#;
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "integrations[0].config.secrets",
            "integrations[1].config.command_deadline_ms",
            "tenants.a.integrations.github.repositories[0]",
            "tenants.b.integrations.github.organizations[0]",
            "tenants.b.integrations.slack.workspace_id",
            "api_keys[0].sha256",
            "api_keys[1].key",
            "api_keys[1].scopes",
            "api_keys[1].tenants",
            "api_keys[2].sha256",
            "api_keys[2].tenants[0]",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
        let scopes = "api_keys:\n  - { id: k, key: long-enough-key-123, scopes: [\"memories:delete\"], tenants: [\"*\"] }\n";
        let err = Config::load(&Source::Text(scopes.into()), &env_of(&[])).unwrap_err();
        assert_eq!(err.problems()[0].path, "api_keys[0].scopes[0]");
    }
}
