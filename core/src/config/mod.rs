//! Configuration: one `Config` tree loaded from embedded defaults, an optional YAML file and
//! environment overrides, then validated as a whole.
//!
//! Loading order: defaults (each section's `Default`), then the file (`integrations.yaml` by
//! default) with `${VAR}` and `${VAR:-default}` expanded inside string values ([`expand`]),
//! then the environment overrides of [`ENV_OVERRIDES`]. [`Config::validate`] reports every
//! problem with its field path before anything starts.
//!
//! Each section lives in its own module with its struct, its defaults and its validation
//! (`problems`, with paths relative to the section); this root only loads, aggregates and
//! delegates. Cross-section checks get what they need through a [`Context`].

mod console;
mod email;
mod enrich;
mod expand;
mod git;
mod github;
mod ingress;
mod integrations;
mod keys;
mod limits;
mod mapping;
mod mcp;
mod nats;
mod preset;
mod problem;
mod rae;
mod secret;
mod slack;
mod tenants;
mod webhook;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use console::ConsoleConfig;
pub use email::{
    AfterFetch, BulkMail, EmailConfig, ImapMailbox, ReceiptsConfig, RelayTls, SmtpConfig, SmtpUser,
};
pub use enrich::{
    default_rules, BaseImportance, EnrichConfig, IntegrationEnrichConfig, LlmApi, LlmConfig,
    PersonalData, RuleConfig, TenantEnrichConfig, ThreadDigestConfig,
};
pub use expand::expand;
pub use git::{GitConfig, GitImportantConfig, GitPathRule, GitRepositoryConfig, GIT_SIGNALS};
pub use github::GithubConfig;
pub use ingress::{IngressConfig, RateLimitConfig};
pub use integrations::{
    IntegrationConfig, IntegrationContext, IntegrationKind, IntegrationSettings, Settings,
};
pub use keys::{key_digest, ApiKeyConfig, Scope};
pub use limits::LimitsConfig;
pub use mapping::{Importance as MappingImportance, MappingConfig};
pub use mcp::{McpConfig, McpHttpConfig};
pub use nats::{NatsConfig, MIN_STREAM_BYTES};
pub use preset::{standard_webhooks_key, PresetConfig, Provider};
pub use problem::{ConfigError, Context, Problem};
pub use rae::{is_rae_tenant_id, RaeAuth, RaeConfig};
pub use secret::{Secret, REDACTED};
pub use slack::SlackConfig;
pub use tenants::{find_tenant, TenantConfig, TenantGithub, TenantIntegrations, TenantSlack};
pub use webhook::WebhookConfig;
pub use writer::WriterConfig;

use integrations::default_true;
use problem::{extend_under, TENANT_MESSAGE};
use secret::secrets_problems;

/// Default config file name, read when present and no other file is named.
pub const DEFAULT_FILE: &str = "integrations.yaml";

/// Id of the built-in generic webhook integration (`POST /api/v1/webhooks/memory`).
pub const DEFAULT_WEBHOOK_ID: &str = "memory";

/// RAE's own name for the tenant used when no tenant is configured.
pub const DEFAULT_TENANT: &str = "default-tenant";

/// Environment variables that override config fields, with the field each sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("NATS_URL", "nats.url"),
    ("NATS_REPLICAS", "nats.replicas"),
    ("RAE_BASE_URL", "rae.base_url"),
    ("RAE_API_KEY", "rae.api_key"),
    ("RAE_TENANT_ID", "rae.tenant_id"),
    ("RAE_WEBHOOK_SECRET", "integrations[memory].config.secrets"),
    ("RAE_PIPELINE_LISTEN", "ingress.listen"),
    ("RAE_PIPELINE_METRICS_LISTEN", "ingress.metrics_listen"),
    (
        "GITHUB_WEBHOOK_SECRET",
        "integrations[github].config.secrets",
    ),
    (
        "SLACK_SIGNING_SECRET",
        "integrations[slack].config.signing_secrets",
    ),
];

/// Id of the GitHub integration that `GITHUB_WEBHOOK_SECRET` enables.
pub const GITHUB_ID: &str = "github";

/// Id of the Slack integration that `SLACK_SIGNING_SECRET` enables.
pub const SLACK_ID: &str = "slack";

/// Id of the git integration, the kind of an integration of this id, and the integration of
/// `git-watch --repo`.
pub const GIT_ID: &str = "git";
/// Id of the email integration that `rae-pipeline mail` flags configure.
pub const EMAIL_ID: &str = "email";

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub nats: NatsConfig,
    pub rae: RaeConfig,
    pub ingress: IngressConfig,
    pub limits: LimitsConfig,
    pub enrich: EnrichConfig,
    pub writer: WriterConfig,
    /// The MCP server (`rae-pipeline mcp`, and `/mcp` on the ingress).
    pub mcp: McpConfig,
    /// The operator console (`/console` on the ingress, or its own address).
    pub console: ConsoleConfig,
    /// The integration registry: each entry enables one producer route or role.
    pub integrations: Vec<IntegrationConfig>,
    /// Per-tenant RAE credentials and integration settings, keyed by the tenant alias used in
    /// events.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Keys of `POST /api/v1/memories` and the other key-authenticated routes.
    pub api_keys: Vec<ApiKeyConfig>,
}

/// Where the file comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `integrations.yaml` when it exists, embedded defaults otherwise.
    Default,
    /// A file that must exist.
    File(PathBuf),
    /// YAML text (tests).
    Text(String),
}

impl Config {
    /// Loads defaults, the file and environment overrides, then validates.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the YAML error, or every invalid field with its path.
    pub fn load(
        source: &Source,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let (path, text) = match source {
            Source::Default => {
                let path = PathBuf::from(DEFAULT_FILE);
                match std::fs::read_to_string(&path) {
                    Ok(text) => (path, text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => (path, String::new()),
                    Err(source) => return Err(ConfigError::Read { path, source }),
                }
            }
            Source::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => (path.clone(), text),
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: path.clone(),
                        source,
                    })
                }
            },
            Source::Text(text) => (PathBuf::from("<text>"), text.clone()),
        };
        let (mut config, mut decoded) = parse(&path, &text, env)?;
        let mut problems = std::mem::take(&mut decoded.problems);
        problems.extend(config.apply_env(env));
        config.add_default_webhook();
        problems.extend(config.validate().into_iter().filter(|p| decoded.is_news(p)));
        if problems.is_empty() {
            Ok(config)
        } else {
            config.name_env_sources(&mut problems, env);
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Adds to each problem in a field an environment variable set which variable it was, so
    /// `NATS_REPLICAS=abc` is not reported as a mistake in a file that never said it.
    fn name_env_sources(&self, problems: &mut [Problem], env: &dyn Fn(&str) -> Option<String>) {
        for (var, field) in ENV_OVERRIDES {
            if env(var).is_none_or(|v| v.is_empty()) {
                continue;
            }
            // `integrations[<id>]...` is reported by index.
            let field = match field.strip_prefix("integrations[") {
                Some(rest) => {
                    let Some((id, tail)) = rest.split_once(']') else {
                        continue;
                    };
                    match self.integrations.iter().position(|i| i.id == id) {
                        Some(index) => format!("integrations[{index}]{tail}"),
                        None => continue,
                    }
                }
                None => (*field).to_owned(),
            };
            for problem in problems.iter_mut() {
                let inside = problem
                    .path
                    .strip_prefix(&field)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']));
                if inside {
                    problem
                        .message
                        .push_str(&format!(" (set by the environment variable {var})"));
                }
            }
        }
    }

    /// Loads with the process environment.
    ///
    /// # Errors
    /// See [`Config::load`].
    pub fn load_from_env(source: &Source) -> Result<Config, ConfigError> {
        Config::load(source, &|name| std::env::var(name).ok())
    }

    /// Sets the fields of [`ENV_OVERRIDES`] that the environment names.
    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Vec<Problem> {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(v) = set("NATS_URL") {
            self.nats.url = v;
        }
        if let Some(v) = set("NATS_REPLICAS") {
            // A value that is not a number fails validation with the field named.
            self.nats.replicas = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = set("RAE_BASE_URL") {
            self.rae.base_url = v;
        }
        if let Some(v) = set("RAE_API_KEY") {
            self.rae.api_key = Some(Secret::new(v));
        }
        if let Some(v) = set("RAE_TENANT_ID") {
            self.rae.tenant_id = v;
        }
        if let Some(v) = set("RAE_PIPELINE_LISTEN") {
            self.ingress.listen = v;
        }
        if let Some(v) = set("RAE_PIPELINE_METRICS_LISTEN") {
            self.ingress.metrics_listen = v;
        }
        let mut problems = Vec::new();
        for (var, id, name, kind) in [
            (
                "RAE_WEBHOOK_SECRET",
                DEFAULT_WEBHOOK_ID,
                "Generic memory webhook",
                IntegrationKind::Webhook,
            ),
            (
                "GITHUB_WEBHOOK_SECRET",
                GITHUB_ID,
                "GitHub",
                IntegrationKind::Github,
            ),
            (
                "SLACK_SIGNING_SECRET",
                SLACK_ID,
                "Slack",
                IntegrationKind::Slack,
            ),
        ] {
            let Some(secret) = set(var) else { continue };
            if !self.integrations.iter().any(|i| i.id == id) {
                self.integrations.push(IntegrationConfig {
                    id: id.into(),
                    name: Some(name.into()),
                    enabled: true,
                    settings: IntegrationSettings::default_of(kind),
                });
            }
            let entry = self
                .integrations
                .iter_mut()
                .enumerate()
                .find(|(_, i)| i.id == id);
            if let Some((i, entry)) = entry {
                if !entry.settings.set_secrets(vec![Secret::new(secret)]) {
                    problems.push(Problem::new(
                        format!("integrations[{i}].kind"),
                        format!(
                            "is {}, which has no secrets to set from {var}",
                            entry.kind().as_str()
                        ),
                    ));
                }
            }
        }
        problems
    }

    /// The generic `memory` webhook exists unless the file names it. It goes last, so the
    /// paths of the file's entries stay theirs.
    fn add_default_webhook(&mut self) {
        if !self.integrations.iter().any(|i| i.id == DEFAULT_WEBHOOK_ID) {
            self.integrations.push(IntegrationConfig {
                id: DEFAULT_WEBHOOK_ID.into(),
                name: Some("Generic memory webhook".into()),
                enabled: true,
                settings: IntegrationSettings::default_of(IntegrationKind::Webhook),
            });
        }
    }

    /// What cross-section checks need.
    pub fn context(&self) -> Context<'_> {
        Context {
            tenants: &self.tenants,
            rae_timeout_ms: self.rae.timeout_ms,
        }
    }

    /// Every problem with its field path; empty when the config is usable. Each section checks
    /// itself; this only puts the paths together.
    pub fn validate(&self) -> Vec<Problem> {
        let ctx = self.context();
        let mut problems = Vec::new();
        extend_under(&mut problems, "nats", self.nats.problems());
        extend_under(&mut problems, "rae", self.rae.problems());
        extend_under(&mut problems, "ingress", self.ingress.problems(&ctx));
        extend_under(&mut problems, "limits", self.limits.problems());
        extend_under(&mut problems, "enrich", self.enrich.problems(&ctx));
        for id in self.enrich.integrations.keys() {
            let known = self.integrations.iter().any(|i| &i.id == id)
                || enrich::BUILT_IN_INTEGRATIONS.contains(&id.as_str());
            if !known {
                problems.push(Problem::new(
                    format!("enrich.integrations.{id}"),
                    format!(
                        "names no integration: use an id under integrations, or one of {}",
                        enrich::BUILT_IN_INTEGRATIONS.join(", ")
                    ),
                ));
            }
        }
        extend_under(&mut problems, "writer", self.writer.problems(&ctx));
        extend_under(
            &mut problems,
            "integrations",
            integrations::integrations_problems(&self.integrations, &ctx),
        );
        extend_under(
            &mut problems,
            "tenants",
            tenants::tenants_problems(&self.tenants),
        );
        extend_under(
            &mut problems,
            "api_keys",
            keys::keys_problems(&self.api_keys, &ctx),
        );
        extend_under(
            &mut problems,
            "mcp",
            self.mcp.problems(!self.api_keys.is_empty()),
        );
        extend_under(
            &mut problems,
            "console",
            self.console.problems(!self.api_keys.is_empty()),
        );
        problems
    }

    /// True when events of `tenant` have RAE credentials: a RAE tenant id itself or an alias
    /// under `tenants`. Anything else would silently land in `rae.tenant_id`.
    pub fn tenant_resolves(&self, tenant: &str) -> bool {
        self.context().tenant_resolves(tenant)
    }

    /// The project of an event of `tenant` when its input names none: `given` (the
    /// integration's `project`, or a project the request names), else the tenant's `project`,
    /// else `ingress.default_project`. Every producer asks this one method.
    pub fn project_for<'a>(&'a self, tenant: &str, given: Option<&'a str>) -> &'a str {
        given
            .or_else(|| self.tenants.get(tenant)?.project.as_deref())
            .unwrap_or(&self.ingress.default_project)
    }

    /// The one name of a tenant: its alias under `tenants` when `tenant` is that alias or the
    /// tenant's `rae_tenant_id`, else `tenant` as given (a RAE tenant id no alias names).
    pub fn tenant_alias<'a>(&'a self, tenant: &'a str) -> &'a str {
        find_tenant(&self.tenants, tenant).map_or(tenant, |(alias, _)| alias)
    }

    /// The tenant and project of an input: `tenant` (the integration's, or one the request
    /// names, as its alias), else `ingress.default_tenant`; the project by
    /// [`Config::project_for`]. Every producer routes its events through this one method.
    pub fn destination(&self, tenant: Option<&str>, project: Option<&str>) -> (String, String) {
        let tenant = self
            .tenant_alias(tenant.unwrap_or(&self.ingress.default_tenant))
            .to_owned();
        let project = self.project_for(&tenant, project).to_owned();
        (tenant, project)
    }

    /// The enabled integrations of one kind.
    pub fn integrations_of(
        &self,
        kind: IntegrationKind,
    ) -> impl Iterator<Item = &IntegrationConfig> {
        self.integrations
            .iter()
            .filter(move |i| i.enabled && i.kind() == kind)
    }

    /// The enabled integrations whose settings are of type `T`, with those settings
    /// (`config.settings_of::<GitConfig>()`).
    pub fn settings_of<T: Settings>(&self) -> impl Iterator<Item = (&IntegrationConfig, &T)> {
        self.integrations
            .iter()
            .filter(|i| i.enabled)
            .filter_map(|i| Some((i, i.settings_as::<T>()?)))
    }

    /// The integration with this id, when it exists and is enabled.
    pub fn integration(&self, id: &str) -> Option<&IntegrationConfig> {
        self.integrations.iter().find(|i| i.id == id && i.enabled)
    }

    /// The config as YAML for `check-config`: every field as loaded, each [`Secret`] as
    /// `<redacted>`. Redaction follows the type, so a field shows unless it is a secret.
    ///
    /// # Errors
    /// [`ConfigError::Print`] when YAML cannot represent a value.
    pub fn redacted_yaml(&self) -> Result<String, ConfigError> {
        yaml_serde::to_string(self).map_err(ConfigError::Print)
    }
}

/// The file as a config, and its integrations as decoded (their problems go with the rest).
fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, integrations::Decoded), ConfigError> {
    let mut value: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|source| ConfigError::Yaml {
            path: path.to_path_buf(),
            source,
        })?;
    if value.is_null() {
        return Ok((Config::default(), integrations::Decoded::new(None)));
    }
    let mut problems = Vec::new();
    expand::expand_value(&mut value, String::new(), env, &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    // The registry is decoded entry by entry, so that every entry's problem is reported.
    let entries = value
        .as_mapping_mut()
        .and_then(|map| map.remove("integrations"));
    let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
        ConfigError::Invalid(vec![Problem {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        }])
    })?;
    let mut decoded = integrations::Decoded::new(entries);
    let integrations = std::mem::take(&mut decoded.entries);
    Ok((
        Config {
            integrations,
            ..config
        },
        decoded,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An environment of these variables only.
    pub(crate) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn no_file_gives_the_documented_defaults() {
        let config = Config::load(&Source::Text(String::new()), &env_of(&[])).unwrap();
        assert_eq!(config.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(config.rae.base_url, "http://127.0.0.1:8000");
        assert_eq!(config.ingress.listen, "0.0.0.0:8080");
        assert_eq!(config.ingress.max_body_bytes, 1024 * 1024);
        assert_eq!(config.integrations[0].id, DEFAULT_WEBHOOK_ID);
    }

    #[test]
    fn unset_variable_is_reported_with_its_path() {
        let text = "rae:\n  api_key: ${RAE_KEY_FOR_TEST}\n";
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        assert_eq!(err.problems()[0].path, "rae.api_key");
        assert!(err.problems()[0].message.contains("RAE_KEY_FOR_TEST"));
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let text = "nats:\n  url: nats://file:4222\n";
        let env = env_of(&[
            ("NATS_URL", "nats://env:4222"),
            ("RAE_WEBHOOK_SECRET", "s3cret-from-env-1"),
        ]);
        let config = Config::load(&Source::Text(text.into()), &env).unwrap();
        assert_eq!(config.nats.url, "nats://env:4222");
        let webhook = config
            .integration(DEFAULT_WEBHOOK_ID)
            .unwrap()
            .settings_as::<WebhookConfig>()
            .unwrap();
        assert_eq!(webhook.secrets[0].expose(), "s3cret-from-env-1");
    }

    #[test]
    fn a_bad_environment_value_names_its_variable() {
        let env = env_of(&[("NATS_REPLICAS", "abc"), ("RAE_BASE_URL", "ftp://rae")]);
        let err = Config::load(&Source::Text(String::new()), &env).unwrap_err();
        let shown: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().any(|p| p.starts_with("nats.replicas: ")
                && p.ends_with("(set by the environment variable NATS_REPLICAS)")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|p| p.starts_with("rae.base_url: ")
                && p.ends_with("(set by the environment variable RAE_BASE_URL)")),
            "{shown:?}"
        );
        // The same value from the file names no variable.
        let text = "nats:\n  replicas: 9\n";
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        assert!(!err.problems()[0].message.contains("environment"));
    }

    #[test]
    fn validation_lists_every_problem_with_its_path() {
        let text = r#"
rae:
  base_url: "ftp://x"
  tenant_id: "acme"
  graph_path: "v2/graph/query"
  reflection_path: ""
ingress:
  listen: "nowhere"
writer:
  concurrency: 0
integrations:
  - id: ci
    config:
      secrets: ["short"]
      tenant: acme2
  - id: Bad.Id
    config: { secrets: ["long-enough-secret"], colour: red }
"#;
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "rae.base_url",
            "rae.tenant_id",
            "rae.graph_path",
            "rae.reflection_path",
            "ingress.listen",
            "writer.concurrency",
            "integrations[0].config.secrets[0]",
            "integrations[0].config.tenant",
            "integrations[1].id",
            "integrations[1].config.colour",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
    }

    #[test]
    fn github_and_slack_secrets_from_env_enable_those_routes() {
        let env = env_of(&[
            ("GITHUB_WEBHOOK_SECRET", "gh-secret-0123456"),
            ("SLACK_SIGNING_SECRET", "slack-secret-0123"),
        ]);
        let config = Config::load(&Source::Text(String::new()), &env).unwrap();
        let (github, settings) = config.settings_of::<GithubConfig>().next().unwrap();
        assert_eq!(github.id, GITHUB_ID);
        assert_eq!(settings.secrets[0].expose(), "gh-secret-0123456");
        let (slack, settings) = config.settings_of::<SlackConfig>().next().unwrap();
        assert_eq!(slack.id, SLACK_ID);
        assert_eq!(settings.secrets()[0].expose(), "slack-secret-0123");
    }

    #[test]
    fn the_project_is_the_given_one_then_the_tenants_then_the_default() {
        let text = "ingress: { default_project: general }\ntenants:\n  acme: { rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f, project: platform }\n  beta: { rae_tenant_id: 11111111-2222-3333-4444-555555555555 }\n";
        let config = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap();
        assert_eq!(config.project_for("acme", Some("ops")), "ops");
        assert_eq!(config.project_for("acme", None), "platform");
        assert_eq!(config.project_for("beta", None), "general");
        assert_eq!(config.project_for("default-tenant", None), "general");
        let pair = |t: &str, p: &str| (t.to_owned(), p.to_owned());
        assert_eq!(
            config.destination(None, None),
            pair("default-tenant", "general")
        );
        assert_eq!(
            config.destination(Some("acme"), None),
            pair("acme", "platform")
        );
        assert_eq!(
            config.destination(Some("acme"), Some("ops")),
            pair("acme", "ops")
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_their_path() {
        let text = "writer:\n  concurency: 4\n";
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        assert_eq!(err.problems()[0].path, "writer.concurency");
        assert!(err.problems()[0].message.contains("unknown field"));
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../../integrations.example.yaml").to_owned();
        let env = env_of(&[
            ("RAE_WEBHOOK_SECRET", "example-secret-1"),
            ("CI_WEBHOOK_SECRET", "example-secret-2"),
            ("TICKETS_WEBHOOK_SECRET", "example-secret-5"),
            ("PAGERDUTY_WEBHOOK_SECRET", "example-secret-6"),
            ("ALERTMANAGER_TOKEN", "example-secret-7"),
            ("BILLING_WEBHOOK_SECRET", "whsec_ZXhhbXBsZS1zZWNyZXQtOA=="),
            ("GITHUB_WEBHOOK_SECRET", "example-secret-3"),
            ("SLACK_SIGNING_SECRET", "example-secret-4"),
            ("CI_BOT_API_KEY", "rpk_3f9a1c07e45b28d6a1f0c9e7"),
        ]);
        let config = Config::load(&Source::Text(text), &env).unwrap();
        let kinds: Vec<_> = config.integrations.iter().map(|i| i.kind()).collect();
        assert_eq!(
            kinds,
            [
                IntegrationKind::Webhook,
                IntegrationKind::Webhook,
                IntegrationKind::Webhook,
                IntegrationKind::Github,
                IntegrationKind::Pagerduty,
                IntegrationKind::Alertmanager,
                IntegrationKind::StandardWebhooks,
                IntegrationKind::Slack,
                IntegrationKind::Git,
                IntegrationKind::Email,
            ]
        );
        assert!(config.tenants.contains_key("acme"));
        assert_eq!(config.api_keys.len(), 2);
    }

    /// The example carries no credential that works as shipped: without the environment
    /// variable the key is a problem naming it, and a placeholder put there is refused.
    #[test]
    fn the_example_has_no_usable_default_credential() {
        let text = include_str!("../../../integrations.example.yaml");
        let load = |key: Option<&str>| {
            let mut vars = vec![
                ("RAE_WEBHOOK_SECRET", "example-secret-1"),
                ("CI_WEBHOOK_SECRET", "example-secret-2"),
                ("TICKETS_WEBHOOK_SECRET", "example-secret-5"),
                ("PAGERDUTY_WEBHOOK_SECRET", "example-secret-6"),
                ("ALERTMANAGER_TOKEN", "example-secret-7"),
                ("BILLING_WEBHOOK_SECRET", "whsec_ZXhhbXBsZS1zZWNyZXQtOA=="),
                ("GITHUB_WEBHOOK_SECRET", "example-secret-3"),
                ("SLACK_SIGNING_SECRET", "example-secret-4"),
            ];
            vars.extend(key.map(|k| ("CI_BOT_API_KEY", k)));
            let err = Config::load(&Source::Text(text.to_owned()), &env_of(&vars)).unwrap_err();
            err.problems().to_vec()
        };
        let unset = load(None);
        assert_eq!(unset.len(), 1, "{unset:?}");
        assert_eq!(unset[0].path, "api_keys[1].key");
        assert!(unset[0].message.contains("CI_BOT_API_KEY"), "{unset:?}");
        let placeholder = load(Some("rpk_change-me-change-me"));
        assert_eq!(placeholder.len(), 1, "{placeholder:?}");
        assert!(
            placeholder[0].message.contains("placeholder"),
            "{placeholder:?}"
        );
    }

    /// Every setting of every section appears in the example file, so it stays the complete
    /// reference it claims to be: the list comes from the config types (their defaults, as
    /// `check-config` prints them), not from a hand-kept list.
    #[test]
    fn the_example_names_every_setting() {
        fn keys(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
            if let serde_json::Value::Object(map) = value {
                for (key, inner) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    keys(inner, &path, out);
                    out.push(path);
                }
            }
        }
        let defaults = Config::load(&Source::Text(String::new()), &env_of(&[])).unwrap();
        let defaults = serde_json::to_value(&defaults).unwrap();
        let text = include_str!("../../../integrations.example.yaml");
        let example: serde_json::Value = yaml_serde::from_str(text).unwrap();
        let (mut wanted, mut given) = (Vec::new(), Vec::new());
        keys(&defaults, "", &mut wanted);
        keys(&example, "", &mut given);
        let missing: Vec<&String> = wanted
            .iter()
            // Lists and maps of the user's own entries, not settings.
            .filter(|p| {
                !["integrations", "tenants", "api_keys"]
                    .contains(&p.split('.').next().unwrap_or(""))
            })
            // Setting `enrich.rules` replaces the shipped rules: the example names it in a comment.
            .filter(|p| p.as_str() != "enrich.rules")
            .filter(|p| !given.contains(p))
            .collect();
        assert!(
            missing.is_empty(),
            "integrations.example.yaml lacks {missing:?}"
        );
    }
}
