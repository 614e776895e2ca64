//! Settings of the provider presets: integrations of kind `standard_webhooks`, `pagerduty`,
//! `alertmanager`, `grafana`, `stripe`, `gitlab`, `sentry`, `linear` and `jira`, served at `POST /api/v1/integrations/{id}/webhook`. Each
//! provider signs (or authenticates) its deliveries its own documented way; the settings are the
//! same for all of them: the secrets, and where the events go.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{extend_under, secrets_problems, IntegrationContext, IntegrationKind, MappingConfig};
use super::{Problem, Secret};

/// A provider with a preset: its own signature scheme and normalizer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Provider {
    /// The Standard Webhooks specification (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`), used by many SaaS senders.
    #[default]
    StandardWebhooks,
    /// PagerDuty webhooks v3 (`X-PagerDuty-Signature`).
    Pagerduty,
    /// Prometheus Alertmanager's webhook receiver (bearer or basic auth).
    Alertmanager,
    /// Grafana alerting's webhook contact point (Alertmanager's shape; bearer or basic auth).
    Grafana,
    /// Stripe webhooks (`Stripe-Signature: t=...,v1=...`).
    Stripe,
    /// GitLab project and group webhooks (`X-Gitlab-Token`, or a signing token's
    /// `webhook-signature`).
    Gitlab,
    /// Sentry integration webhooks (`Sentry-Hook-Signature`).
    Sentry,
    /// Linear webhooks (`Linear-Signature`, `webhookTimestamp`).
    Linear,
    /// Jira Cloud webhooks with a secret (`X-Hub-Signature`).
    Jira,
}

impl Provider {
    /// Every provider, in the order the docs list them.
    pub const ALL: [Provider; 9] = [
        Provider::StandardWebhooks,
        Provider::Pagerduty,
        Provider::Alertmanager,
        Provider::Grafana,
        Provider::Stripe,
        Provider::Gitlab,
        Provider::Sentry,
        Provider::Linear,
        Provider::Jira,
    ];

    /// Its integration kind (`kind:` in the file).
    pub const fn kind(self) -> IntegrationKind {
        match self {
            Provider::StandardWebhooks => IntegrationKind::StandardWebhooks,
            Provider::Pagerduty => IntegrationKind::Pagerduty,
            Provider::Alertmanager => IntegrationKind::Alertmanager,
            Provider::Grafana => IntegrationKind::Grafana,
            Provider::Stripe => IntegrationKind::Stripe,
            Provider::Gitlab => IntegrationKind::Gitlab,
            Provider::Sentry => IntegrationKind::Sentry,
            Provider::Linear => IntegrationKind::Linear,
            Provider::Jira => IntegrationKind::Jira,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }
}

/// Settings of a provider preset integration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresetConfig {
    /// Active secrets, several at once during a rotation: the signing secret
    /// (`standard_webhooks`: `whsec_<base64>`; `pagerduty`: the subscription's secret;
    /// `stripe`: the endpoint's `whsec_...` as shown; `gitlab`: the webhook's secret token, or its
    /// signing token `whsec_...`, which makes signatures required), or for
    /// `alertmanager` and `grafana` the bearer token or basic-auth password the sender is
    /// configured with.
    pub secrets: Vec<Secret>,
    /// Tenant of its events (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    /// Project of its events (default the tenant's, else `ingress.default_project`).
    pub project: Option<String>,
    /// How far a signed timestamp may be from the server clock, for this sender (default
    /// `ingress.timestamp_tolerance_secs`): Linear recommends 60 s for `webhookTimestamp`.
    /// Used by the presets whose deliveries carry a signed time (`standard_webhooks`, `stripe`,
    /// `linear`, a signed `gitlab`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_tolerance_secs: Option<u64>,
    /// `standard_webhooks` only: turns the verified body into an event with templates, as a
    /// webhook's `mapping` does (without it: the `type` and `data` of the payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingConfig>,
    /// Which provider; set from the entry's `kind` when the file is loaded.
    #[serde(skip)]
    pub provider: Provider,
}

/// The widest per-integration timestamp tolerance: a day. Wider is no replay protection.
pub const MAX_TOLERANCE_SECS: u64 = 86_400;

/// The key bytes of a Standard Webhooks secret: the base64 after `whsec_` (the prefix is
/// optional).
pub fn standard_webhooks_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .filter(|key| !key.is_empty())
}

impl PresetConfig {
    /// What is wrong with these settings, paths relative to them.
    pub fn problems(&self, ctx: &IntegrationContext) -> Vec<Problem> {
        let mut problems = secrets_problems(&self.secrets, "secrets", ctx.secret_required);
        problems.extend(ctx.tenant_problem(".tenant", self.tenant.as_ref()));
        if let Some(secs) = self.timestamp_tolerance_secs {
            if !(1..=MAX_TOLERANCE_SECS).contains(&secs) {
                problems.push(Problem::new(
                    ".timestamp_tolerance_secs",
                    format!("must be 1 to {MAX_TOLERANCE_SECS} seconds (got {secs})"),
                ));
            }
        }
        if self.provider == Provider::StandardWebhooks {
            for (i, secret) in self.secrets.iter().enumerate() {
                if standard_webhooks_key(secret.expose()).is_none() {
                    problems.push(Problem::new(
                        format!(".secrets[{i}]"),
                        "must be the sender's signing secret, whsec_ followed by base64",
                    ));
                }
            }
        }
        if self.provider == Provider::Gitlab {
            // A secret token is compared as it is; one that looks like a signing token but is
            // not one would silently never match a signature.
            for (i, secret) in self.secrets.iter().enumerate() {
                let secret = secret.expose();
                if secret.starts_with("whsec_") && standard_webhooks_key(secret).is_none() {
                    problems.push(Problem::new(
                        format!(".secrets[{i}]"),
                        "a GitLab signing token is whsec_ followed by base64, as GitLab shows it",
                    ));
                }
            }
        }
        match &self.mapping {
            Some(mapping) if self.provider == Provider::StandardWebhooks => {
                extend_under(&mut problems, ".mapping", mapping.problems());
            }
            Some(_) => problems.push(Problem::new(
                ".mapping",
                format!(
                    "only webhook and standard_webhooks integrations take a mapping; {} has its own normalizer",
                    self.provider.as_str()
                ),
            )),
            None => {}
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env_of;
    use crate::config::{Config, IntegrationKind, Source};

    #[test]
    fn presets_load_by_kind_and_their_problems_are_named() {
        let ok = "integrations:\n  - { id: pd, kind: pagerduty, config: { secrets: [pd-secret-0000001] } }\n  - { id: sw, kind: standard_webhooks, config: { secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"], mapping: { content: \"{{ body.type }}\" } } }\n";
        let config = Config::load(&Source::Text(ok.into()), &env_of(&[])).unwrap();
        let kinds: Vec<_> = config.integrations.iter().map(|i| i.kind()).collect();
        assert_eq!(
            kinds[..2],
            [
                IntegrationKind::Pagerduty,
                IntegrationKind::StandardWebhooks
            ]
        );
        let written = serde_json::to_value(&config.integrations).unwrap();
        assert_eq!(written[0]["kind"], "pagerduty");

        let bad = "integrations:\n  - { id: sw, kind: standard_webhooks, config: { secrets: [not-base64-secret!!] } }\n  - { id: pd, kind: pagerduty, config: { secrets: [pd-secret-0000001], mapping: { content: x } } }\n  - { id: am, kind: alertmanager }\n  - { id: gl, kind: gitlab, config: { secrets: [gitlab-secret-token-01, \"whsec_not base64!!\"] } }\n  - { id: lin, kind: linear, config: { secrets: [lin-secret-000001], timestamp_tolerance_secs: 0 } }\n";
        let problems = Config::load(&Source::Text(bad.into()), &env_of(&[]))
            .unwrap_err()
            .problems()
            .to_vec();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "integrations[0].config.secrets[0]",
                "integrations[1].config.mapping",
                "integrations[2].config.secrets",
                "integrations[3].config.secrets[1]",
                "integrations[4].config.timestamp_tolerance_secs",
            ],
            "{problems:?}"
        );
        assert!(problems[0].message.contains("whsec_"));
    }
}
