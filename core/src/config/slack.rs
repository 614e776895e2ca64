//! Settings of a `slack` integration: the Events API at `POST /api/v1/integrations/{id}/events`
//! and slash commands at `/commands`.

use serde::{Deserialize, Serialize};

use super::{secrets_problems, IntegrationContext, Problem, Secret};

/// Settings of a Slack integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// The app's signing secret (the seed's name for one secret).
    pub signing_secret: Option<Secret>,
    /// More signing secrets, for rotation.
    pub signing_secrets: Vec<Secret>,
    /// The bot token (`xoxb-...`) of `rae-pipeline import slack` and `sync_interval_secs`
    /// (scopes `channels:history`, `groups:history`, `channels:read`, `groups:read`,
    /// `users:read`); not needed to receive events.
    pub bot_token: Option<Secret>,
    /// The Web API's base URL.
    pub api_url: String,
    /// When set, `up` imports `auto_store_channels` every this many seconds (at least 60), for
    /// channels whose events the app does not receive; unset: no periodic import.
    pub sync_interval_secs: Option<u64>,
    /// Tenant of workspaces no tenant claims (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    pub project: Option<String>,
    /// Channels (ids like `C0123ABCD`, or names for slash commands) where the app works at
    /// all; empty allows every channel.
    pub channel_whitelist: Vec<String>,
    /// Channels whose messages are stored without being asked.
    pub auto_store_channels: Vec<String>,
    /// `response_url`s of slash commands must start with one of these.
    pub response_url_prefixes: Vec<String>,
    /// How long `/rae query` waits for RAE before answering later through `response_url`.
    pub command_deadline_ms: u64,
    /// Results shown by `/rae query`.
    pub query_results: usize,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            signing_secret: None,
            signing_secrets: Vec::new(),
            bot_token: None,
            api_url: "https://slack.com/api".into(),
            sync_interval_secs: None,
            tenant: None,
            project: None,
            channel_whitelist: Vec::new(),
            auto_store_channels: Vec::new(),
            response_url_prefixes: vec!["https://hooks.slack.com/".into()],
            command_deadline_ms: 2_500,
            query_results: 5,
        }
    }
}

impl SlackConfig {
    /// Every active signing secret.
    pub fn secrets(&self) -> Vec<Secret> {
        self.signing_secret
            .iter()
            .chain(&self.signing_secrets)
            .cloned()
            .collect()
    }

    /// What is wrong with these settings, paths relative to them.
    pub fn problems(&self, ctx: &IntegrationContext) -> Vec<Problem> {
        let mut problems =
            secrets_problems(&self.secrets(), "signing_secrets", ctx.secret_required);
        problems.extend(ctx.tenant_problem(".tenant", self.tenant.as_ref()));
        if self.command_deadline_ms == 0 || self.command_deadline_ms > 2_900 {
            problems.push(Problem::new(
                ".command_deadline_ms",
                "must be 1 to 2900: Slack gives up on an answer after 3 s",
            ));
        }
        let api_ok = reqwest::Url::parse(&self.api_url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !api_ok {
            problems.push(Problem::new(".api_url", "must be an http(s) URL"));
        }
        if let Some(interval) = self.sync_interval_secs {
            if interval < 60 {
                problems.push(Problem::new(".sync_interval_secs", "must be at least 60"));
            }
            if self.bot_token.is_none() {
                problems.push(Problem::new(".sync_interval_secs", "needs bot_token"));
            }
            if self.auto_store_channels.is_empty() {
                problems.push(Problem::new(
                    ".sync_interval_secs",
                    "needs auto_store_channels: the channels to import periodically",
                ));
            }
        }
        for (j, prefix) in self.response_url_prefixes.iter().enumerate() {
            let ok = reqwest::Url::parse(prefix).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && prefix.ends_with('/')
            });
            if !ok {
                problems.push(Problem::new(
                    format!(".response_url_prefixes[{j}]"),
                    "must be an http(s) URL ending in / (like https://hooks.slack.com/)",
                ));
            }
        }
        if self.query_results == 0 || self.query_results > 20 {
            problems.push(Problem::new(".query_results", "must be 1 to 20"));
        }
        problems
    }
}
