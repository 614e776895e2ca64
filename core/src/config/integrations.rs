//! `integrations`: the registry. Each entry (`id`, `name`, `enabled`, `kind`, `config`) enables
//! one producer route or role; its `config` holds the settings of its kind (`webhook.rs`,
//! `github.rs`, `slack.rs`, `git.rs`, `email.rs`).
//!
//! Settings are decoded once, when the file is loaded, into [`IntegrationSettings`], so every
//! component builds from its own typed settings and nothing is parsed again later. The file
//! keeps its shape (`kind` beside an untyped `config`), so an entry is decoded in two steps:
//! the entry through [`RawIntegration`], then its `config` as the type of its kind. A failure
//! of either is a [`Problem`] with the path into the file (`integrations[2].config.secrets[0]`),
//! reported with every other problem of the load.

use serde::{Deserialize, Serialize};

use super::{
    extend_under, Context, EmailConfig, GitConfig, GithubConfig, PresetConfig, Problem, Provider,
    Secret, SlackConfig, WebhookConfig, DEFAULT_WEBHOOK_ID, EMAIL_ID, GITHUB_ID, GIT_ID, SLACK_ID,
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
    /// Standard Webhooks senders at `/api/v1/integrations/{id}/webhook`.
    StandardWebhooks,
    /// PagerDuty webhooks v3 at `/api/v1/integrations/{id}/webhook`.
    Pagerduty,
    /// Prometheus Alertmanager at `/api/v1/integrations/{id}/webhook`.
    Alertmanager,
    /// Grafana alerting at `/api/v1/integrations/{id}/webhook`.
    Grafana,
    /// Stripe webhooks at `/api/v1/integrations/{id}/webhook`.
    Stripe,
    /// GitLab webhooks at `/api/v1/integrations/{id}/webhook`.
    Gitlab,
    /// Sentry integration webhooks at `/api/v1/integrations/{id}/webhook`.
    Sentry,
    /// Linear webhooks at `/api/v1/integrations/{id}/webhook`.
    Linear,
    /// Jira Cloud webhooks at `/api/v1/integrations/{id}/webhook`.
    Jira,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Webhook => "webhook",
            IntegrationKind::Github => "github",
            IntegrationKind::Slack => "slack",
            IntegrationKind::Git => "git",
            IntegrationKind::Email => "email",
            IntegrationKind::StandardWebhooks => "standard_webhooks",
            IntegrationKind::Pagerduty => "pagerduty",
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Grafana => "grafana",
            IntegrationKind::Stripe => "stripe",
            IntegrationKind::Gitlab => "gitlab",
            IntegrationKind::Sentry => "sentry",
            IntegrationKind::Linear => "linear",
            IntegrationKind::Jira => "jira",
        }
    }

    /// The provider preset of this kind, when it is one.
    pub fn provider(self) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.kind() == self)
    }

    /// The kind of an entry that names none: `github`, `slack`, `git` and `email` for those
    /// ids (so the seed's `- id: slack` entry needs no kind), `webhook` otherwise.
    pub fn for_id(id: &str) -> IntegrationKind {
        match id {
            GITHUB_ID => IntegrationKind::Github,
            SLACK_ID => IntegrationKind::Slack,
            GIT_ID => IntegrationKind::Git,
            EMAIL_ID => IntegrationKind::Email,
            _ => IntegrationKind::Webhook,
        }
    }
}

/// One entry of the integration registry, its settings typed by its kind.
#[derive(Debug, Clone)]
pub struct IntegrationConfig {
    pub id: String,
    pub name: Option<String>,
    pub enabled: bool,
    /// The settings of its kind (the file's `kind` and `config`).
    pub settings: IntegrationSettings,
}

/// The settings of an integration, one variant per kind. Serialized as the bare settings
/// (the file's `config`); [`IntegrationConfig`] writes the kind beside them.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum IntegrationSettings {
    Webhook(WebhookConfig),
    Github(GithubConfig),
    Slack(SlackConfig),
    Git(GitConfig),
    Email(EmailConfig),
    /// Every provider preset (its `provider` says which).
    Preset(PresetConfig),
}

/// The settings type of one integration kind, for typed access
/// ([`crate::config::Config::settings_of`], [`IntegrationConfig::settings_as`]).
pub trait Settings: Sized + 'static {
    const KIND: IntegrationKind;
    fn of(settings: &IntegrationSettings) -> Option<&Self>;
    fn of_mut(settings: &mut IntegrationSettings) -> Option<&mut Self>;
}

macro_rules! settings_of_kind {
    ($type:ty, $variant:ident) => {
        impl Settings for $type {
            const KIND: IntegrationKind = IntegrationKind::$variant;
            fn of(settings: &IntegrationSettings) -> Option<&Self> {
                match settings {
                    IntegrationSettings::$variant(s) => Some(s),
                    _ => None,
                }
            }
            fn of_mut(settings: &mut IntegrationSettings) -> Option<&mut Self> {
                match settings {
                    IntegrationSettings::$variant(s) => Some(s),
                    _ => None,
                }
            }
        }
    };
}

settings_of_kind!(WebhookConfig, Webhook);
settings_of_kind!(GithubConfig, Github);
settings_of_kind!(SlackConfig, Slack);
settings_of_kind!(GitConfig, Git);
settings_of_kind!(EmailConfig, Email);

impl IntegrationSettings {
    pub fn kind(&self) -> IntegrationKind {
        match self {
            IntegrationSettings::Webhook(_) => IntegrationKind::Webhook,
            IntegrationSettings::Github(_) => IntegrationKind::Github,
            IntegrationSettings::Slack(_) => IntegrationKind::Slack,
            IntegrationSettings::Git(_) => IntegrationKind::Git,
            IntegrationSettings::Email(_) => IntegrationKind::Email,
            IntegrationSettings::Preset(s) => s.provider.kind(),
        }
    }

    /// The defaults of `kind`, as an entry without `config` gets them.
    pub fn default_of(kind: IntegrationKind) -> IntegrationSettings {
        match kind {
            IntegrationKind::Webhook => IntegrationSettings::Webhook(WebhookConfig::default()),
            IntegrationKind::Github => IntegrationSettings::Github(GithubConfig::default()),
            IntegrationKind::Slack => IntegrationSettings::Slack(SlackConfig::default()),
            IntegrationKind::Git => IntegrationSettings::Git(GitConfig::default()),
            IntegrationKind::Email => IntegrationSettings::Email(EmailConfig::default()),
            // Every other kind is a provider preset.
            preset => IntegrationSettings::Preset(PresetConfig {
                provider: preset.provider().unwrap_or_default(),
                ..PresetConfig::default()
            }),
        }
    }

    /// Decodes a `config` value as the settings of `kind`; absent (`null`) means the defaults.
    ///
    /// # Errors
    /// A [`Problem`] whose path is relative to `config` (`.secrets[0]`).
    pub fn decode(
        kind: IntegrationKind,
        value: serde_json::Value,
    ) -> Result<IntegrationSettings, Problem> {
        fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Problem> {
            serde_path_to_error::deserialize(value)
                .map_err(|e| Problem::new(relative(&e.path().to_string()), e.inner().to_string()))
        }
        if value.is_null() {
            return Ok(IntegrationSettings::default_of(kind));
        }
        Ok(match kind {
            IntegrationKind::Webhook => IntegrationSettings::Webhook(typed(value)?),
            IntegrationKind::Github => IntegrationSettings::Github(typed(value)?),
            IntegrationKind::Slack => IntegrationSettings::Slack(typed(value)?),
            IntegrationKind::Git => IntegrationSettings::Git(typed(value)?),
            IntegrationKind::Email => IntegrationSettings::Email(typed(value)?),
            preset => IntegrationSettings::Preset(PresetConfig {
                provider: preset.provider().unwrap_or_default(),
                ..typed(value)?
            }),
        })
    }

    /// Replaces the signing secrets (an environment override); false for a kind that has
    /// none.
    pub(crate) fn set_secrets(&mut self, secrets: Vec<Secret>) -> bool {
        match self {
            IntegrationSettings::Webhook(s) => s.secrets = secrets,
            IntegrationSettings::Github(s) => s.secrets = secrets,
            IntegrationSettings::Slack(s) => s.signing_secrets = secrets,
            IntegrationSettings::Preset(s) => s.secrets = secrets,
            IntegrationSettings::Git(_) | IntegrationSettings::Email(_) => return false,
        }
        true
    }

    /// What is wrong with these settings, paths relative to them.
    pub fn problems(&self, ctx: &IntegrationContext) -> Vec<Problem> {
        match self {
            IntegrationSettings::Webhook(s) => s.problems(ctx),
            IntegrationSettings::Github(s) => s.problems(ctx),
            IntegrationSettings::Slack(s) => s.problems(ctx),
            IntegrationSettings::Git(s) => s.problems(ctx),
            IntegrationSettings::Email(s) => s.problems(ctx),
            IntegrationSettings::Preset(s) => s.problems(ctx),
        }
    }
}

/// A serde_path_to_error path as a relative one: `.` is the value itself.
fn relative(path: &str) -> String {
    match path {
        "." => String::new(),
        p if p.starts_with('[') => p.to_owned(),
        p => format!(".{p}"),
    }
}

pub(crate) const fn default_true() -> bool {
    true
}

/// An entry as the file spells it: `kind` beside an untyped `config`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegration {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "default_true")]
    enabled: bool,
    /// `webhook`, `github`, `slack`, `git` or `email`; when absent, see
    /// [`IntegrationKind::for_id`].
    #[serde(default)]
    kind: Option<IntegrationKind>,
    /// The settings of the kind.
    #[serde(default)]
    config: serde_json::Value,
}

impl<'de> Deserialize<'de> for IntegrationConfig {
    /// A settings failure is an error naming its path relative to the entry
    /// (`.config.secrets[0]`); the loader decodes through [`Decoded`] instead, to report every
    /// failure with its full path.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawIntegration::deserialize(d)?;
        let kind = raw.kind.unwrap_or_else(|| IntegrationKind::for_id(&raw.id));
        let settings = IntegrationSettings::decode(kind, raw.config)
            .map_err(|p| serde::de::Error::custom(p.under(".config")))?;
        Ok(IntegrationConfig {
            id: raw.id,
            name: raw.name,
            enabled: raw.enabled,
            settings,
        })
    }
}

impl Serialize for IntegrationConfig {
    /// The file's shape, with the kind always written.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            id: &'a str,
            name: Option<&'a str>,
            enabled: bool,
            kind: IntegrationKind,
            config: &'a IntegrationSettings,
        }
        Shape {
            id: &self.id,
            name: self.name.as_deref(),
            enabled: self.enabled,
            kind: self.kind(),
            config: &self.settings,
        }
        .serialize(s)
    }
}

impl IntegrationConfig {
    pub fn kind(&self) -> IntegrationKind {
        self.settings.kind()
    }

    /// The settings, when they are of type `T`.
    pub fn settings_as<T: Settings>(&self) -> Option<&T> {
        T::of(&self.settings)
    }

    /// The settings to change, when they are of type `T`.
    pub fn settings_as_mut<T: Settings>(&mut self) -> Option<&mut T> {
        T::of_mut(&mut self.settings)
    }
}

/// The registry as decoded from the file.
pub(crate) struct Decoded {
    /// Every entry in file order, so paths stay those of the file; one that failed to decode
    /// keeps its place as a disabled placeholder (the config is refused anyway).
    pub entries: Vec<IntegrationConfig>,
    /// The decode failures, paths from the root.
    pub problems: Vec<Problem>,
    /// Paths under which validation of the placeholders is noise, not news.
    placeholders: Vec<String>,
}

impl Decoded {
    /// Decodes `integrations` (absent: none), each entry on its own so that every failure is
    /// reported, not only the first.
    pub fn new(value: Option<yaml_serde::Value>) -> Decoded {
        let mut decoded = Decoded {
            entries: Vec::new(),
            problems: Vec::new(),
            placeholders: Vec::new(),
        };
        let items: Vec<yaml_serde::Value> = match value {
            None | Some(yaml_serde::Value::Null) => Vec::new(),
            Some(value) => match serde_path_to_error::deserialize(value) {
                Ok(items) => items,
                Err(e) => {
                    decoded
                        .problems
                        .push(Problem::new("integrations", e.inner().to_string()));
                    Vec::new()
                }
            },
        };
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("integrations[{i}]");
            let raw: RawIntegration = match serde_path_to_error::deserialize(item) {
                Ok(raw) => raw,
                Err(e) => {
                    let problem =
                        Problem::new(relative(&e.path().to_string()), e.inner().to_string());
                    decoded.placeholder(problem, at, String::new(), None, IntegrationKind::Webhook);
                    continue;
                }
            };
            let kind = raw.kind.unwrap_or_else(|| IntegrationKind::for_id(&raw.id));
            match IntegrationSettings::decode(kind, raw.config) {
                Ok(settings) => decoded.entries.push(IntegrationConfig {
                    id: raw.id,
                    name: raw.name,
                    enabled: raw.enabled,
                    settings,
                }),
                Err(problem) => {
                    decoded.placeholder(problem, format!("{at}.config"), raw.id, raw.name, kind)
                }
            }
        }
        decoded
    }

    /// Records `problem` (relative to `at`) and keeps the entry's place with a disabled
    /// placeholder whose validation under `at` is ignored.
    fn placeholder(
        &mut self,
        problem: Problem,
        at: String,
        id: String,
        name: Option<String>,
        kind: IntegrationKind,
    ) {
        self.problems.push(problem.under(&at));
        self.placeholders.push(at);
        self.entries.push(IntegrationConfig {
            id,
            name,
            enabled: false,
            settings: IntegrationSettings::default_of(kind),
        });
    }

    /// False for a validation problem of a placeholder's settings.
    pub fn is_news(&self, problem: &Problem) -> bool {
        !self.placeholders.iter().any(|prefix| {
            problem
                .path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
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
        extend_under(
            &mut problems,
            &format!("{at}.config"),
            entry.settings.problems(&entry_ctx),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env_of;
    use crate::config::{Config, Source};

    fn problems(text: &str, env: &[(&str, &str)]) -> Vec<Problem> {
        Config::load(&Source::Text(text.into()), &env_of(env))
            .unwrap_err()
            .problems()
            .to_vec()
    }

    #[test]
    fn settings_that_do_not_decode_are_reported_with_their_path_beside_the_rest() {
        let text = r#"
rae:
  tenant_id: acme
integrations:
  - id: ci
    config: { secrets: [42, "long-enough-secret"] }
  - id: github
    config: { secrets: ["gh-secret-0000001"], repositories: [not-a-repo] }
  - id: slack
    config: { signing_secret: "slack-secret-0001", query_results: "five" }
  - id: hook
    colour: red
  - id: git
    config: { poll_interval_ms: 5 }
"#;
        let mut paths: Vec<_> = problems(text, &[])
            .into_iter()
            .map(|p| (p.path, p.message))
            .collect();
        paths.sort();
        let only: Vec<_> = paths.iter().map(|(p, _)| p.as_str()).collect();
        // Nothing dropped, and no noise from the entries that did not decode (their
        // placeholders have no secret and an empty id).
        assert_eq!(
            only,
            [
                "integrations[0].config.secrets[0]",
                "integrations[1].config.repositories[0]",
                "integrations[2].config.query_results",
                "integrations[3].colour",
                "integrations[4].config.poll_interval_ms",
                "integrations[4].config.repositories",
                "rae.tenant_id",
            ]
        );
        assert!(paths[0].1.contains("invalid type"), "{paths:?}");
        assert!(paths[3].1.contains("unknown field"), "{paths:?}");
    }

    #[test]
    fn the_registry_must_be_a_list() {
        let found = problems("integrations: { id: ci }\n", &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "integrations");
    }

    #[test]
    fn an_entry_is_written_back_in_the_shape_of_the_file() {
        let text = "integrations:\n  - { id: gh, kind: github, config: { secrets: [gh-secret-0000001], repositories: [acme/app] } }\n  - { id: slack, enabled: false }\n";
        let config = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap();
        let written = serde_json::to_value(&config.integrations).unwrap();
        assert_eq!(written[0]["kind"], "github");
        assert_eq!(written[0]["config"]["repositories"][0], "acme/app");
        assert_eq!(written[0]["config"]["secrets"][0], "<redacted>");
        assert_eq!(written[1]["kind"], "slack");
        assert_eq!(written[1]["enabled"], false);
        assert_eq!(written[2]["id"], "memory");
        let again: Vec<IntegrationConfig> = serde_json::from_value(written).unwrap();
        assert_eq!(again[0].kind(), IntegrationKind::Github);
        assert_eq!(again[1].kind(), IntegrationKind::Slack);

        let bad = serde_json::json!({"id": "x", "config": {"secrets": "one"}});
        let err = serde_json::from_value::<IntegrationConfig>(bad).unwrap_err();
        assert!(err.to_string().starts_with(".config.secrets:"), "{err}");
    }

    #[test]
    fn a_secret_from_the_environment_needs_a_kind_with_secrets() {
        let text = "integrations:\n  - { id: github, kind: git, config: { repositories: [{ path: /srv/app }] } }\n";
        let found = problems(text, &[("GITHUB_WEBHOOK_SECRET", "gh-secret-0123456")]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "integrations[0].kind");
        assert!(found[0].message.contains("GITHUB_WEBHOOK_SECRET"));
    }
}
