//! `integrations`: the registry. Each entry (`id`, `name`, `enabled`, `kind`, `config`) enables
//! one producer route or role; its `config` holds the settings of its kind (`webhook.rs`,
//! `github.rs`, `slack.rs`, `git.rs`, `email.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    extend_under, redact, Context, EmailConfig, GitConfig, GithubConfig, Problem, SlackConfig,
    WebhookConfig, DEFAULT_WEBHOOK_ID, EMAIL_ID, GITHUB_ID, GIT_ID, SLACK_ID,
};

/// What kind of producer an integration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// Generic signed webhook at `/api/v1/webhooks/{id}`.
    Webhook,
    /// GitHub webhooks at `/api/v1/integrations/{id}/webhook`.
    Github,
    /// Slack events and slash commands at `/api/v1/integrations/{id}/events` and `/commands`.
    Slack,
    /// Local git repositories watched by polling (`git-watch`, or `up`).
    Git,
    /// Mail: an SMTP listener and IMAP pollers (`producers/email`).
    Email,
}

/// One entry of the integration registry.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `webhook`, `github`, `slack` or `git`; when absent, `github`, `slack` and `git` for
    /// integrations of those ids and `webhook` otherwise (so the seed's `- id: slack` entry
    /// needs no kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<IntegrationKind>,
    /// The integration's own settings; each kind checks them at validation.
    #[serde(default)]
    pub config: serde_json::Value,
}

impl fmt::Debug for IntegrationConfig {
    /// The free-form `config` may hold secrets: it is shown redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut config = self.config.clone();
        redact(&mut config);
        f.debug_struct("IntegrationConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("kind", &self.kind)
            .field("config", &config)
            .finish()
    }
}

pub(crate) const fn default_true() -> bool {
    true
}

impl IntegrationConfig {
    /// The kind, given or inferred from the id.
    pub fn kind(&self) -> IntegrationKind {
        self.kind.unwrap_or(match self.id.as_str() {
            GITHUB_ID => IntegrationKind::Github,
            SLACK_ID => IntegrationKind::Slack,
            GIT_ID => IntegrationKind::Git,
            EMAIL_ID => IntegrationKind::Email,
            _ => IntegrationKind::Webhook,
        })
    }

    /// The settings of a webhook integration.
    ///
    /// # Errors
    /// A [`Problem`] whose path is relative to `config`.
    pub fn webhook(&self) -> Result<WebhookConfig, Problem> {
        self.settings()
    }

    /// The integration's settings as the type of its kind.
    ///
    /// # Errors
    /// A [`Problem`] whose path is relative to `config`.
    pub fn settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, Problem> {
        let value = if self.config.is_null() {
            serde_json::json!({})
        } else {
            self.config.clone()
        };
        serde_path_to_error::deserialize(value).map_err(|e| Problem {
            path: match e.path().to_string().as_str() {
                "." => String::new(),
                p => format!(".{p}"),
            },
            message: e.inner().to_string(),
        })
    }

    /// What is wrong with this entry's settings, paths relative to the entry.
    fn settings_problems(&self, ctx: &IntegrationContext) -> Vec<Problem> {
        fn check<T: serde::de::DeserializeOwned>(
            entry: &IntegrationConfig,
            problems: impl FnOnce(&T) -> Vec<Problem>,
        ) -> Vec<Problem> {
            match entry.settings::<T>() {
                Ok(settings) => problems(&settings),
                Err(problem) => vec![problem],
            }
        }
        let problems = match self.kind() {
            IntegrationKind::Webhook => check(self, |s: &WebhookConfig| s.problems(ctx)),
            IntegrationKind::Github => check(self, |s: &GithubConfig| s.problems(ctx)),
            IntegrationKind::Slack => check(self, |s: &SlackConfig| s.problems(ctx)),
            IntegrationKind::Git => check(self, |s: &GitConfig| s.problems(ctx)),
            IntegrationKind::Email => check(self, |s: &EmailConfig| s.problems(ctx)),
        };
        problems.into_iter().map(|p| p.under(".config")).collect()
    }
}

/// What one integration's settings are checked against: the config-wide [`Context`] and the
/// entry around them.
#[derive(Debug, Clone, Copy)]
pub struct IntegrationContext<'a> {
    pub config: Context<'a>,
    /// An enabled integration must be usable (a secret, a repository, a listener); a disabled
    /// one may be incomplete.
    pub enabled: bool,
    /// Whether signing secrets are required: not for a disabled integration, nor for the
    /// default webhook, which falls back to a generated secret.
    pub secret_required: bool,
}

impl IntegrationContext<'_> {
    /// A problem at `path` when `tenant` is given and does not resolve.
    pub(crate) fn tenant_problem(&self, path: &str, tenant: Option<&String>) -> Option<Problem> {
        self.config.tenant_problem(path, tenant)
    }
}

/// Problems of the registry, paths relative to `integrations`: ids, and each entry's settings.
pub(crate) fn integrations_problems(entries: &[IntegrationConfig], ctx: &Context) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("[{i}]");
        if entry.id.is_empty() || crate::subjects::token(&entry.id) != entry.id {
            problems.push(Problem::new(
                format!("{at}.id"),
                "must be lowercase letters, digits, _ or -",
            ));
        }
        if seen.contains(&&entry.id) {
            problems.push(Problem::new(
                format!("{at}.id"),
                "is used by another integration",
            ));
        }
        seen.push(&entry.id);
        let entry_ctx = IntegrationContext {
            config: *ctx,
            enabled: entry.enabled,
            secret_required: entry.enabled && entry.id != DEFAULT_WEBHOOK_ID,
        };
        extend_under(&mut problems, &at, entry.settings_problems(&entry_ctx));
    }
    problems
}
