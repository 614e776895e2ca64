//! [`Secret`]: a string that never prints. Redaction follows this type, not field names: every
//! secret in the config tree is a `Secret`, and everything else shows in `check-config`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Problem;

/// What a redacted secret prints as, in `Debug` and when serialized.
pub const REDACTED: &str = "<redacted>";

/// A secret string: never printed by `Debug` and serialized redacted, so it cannot leak into
/// logs or `check-config` output.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (a header, an HMAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// Problems of a list of signing secrets at `.{field}`: each at least 8 characters, and at
/// least one when `required`.
pub(crate) fn secrets_problems(secrets: &[Secret], field: &str, required: bool) -> Vec<Problem> {
    let mut problems: Vec<Problem> = secrets
        .iter()
        .enumerate()
        .filter(|(_, secret)| secret.expose().len() < 8)
        .map(|(j, _)| Problem::new(format!(".{field}[{j}]"), "must be at least 8 characters"))
        .collect();
    if required && secrets.is_empty() {
        problems.push(Problem::new(
            format!(".{field}"),
            "needs at least one secret",
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env_of;
    use crate::config::{Config, Source};

    #[test]
    fn debug_and_serialize_redact() {
        let secret = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"<redacted>\"");
        assert_eq!(secret.expose(), "hunter2-hunter2");
    }

    #[test]
    fn short_and_missing_secrets_are_problems() {
        let paths = |secrets: &[Secret], required| {
            secrets_problems(secrets, "secrets", required)
                .into_iter()
                .map(|p| p.path)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            paths(&[Secret::new("long-enough"), Secret::new("short")], true),
            [".secrets[1]"]
        );
        assert_eq!(paths(&[], true), [".secrets"]);
        assert!(paths(&[], false).is_empty());
    }

    #[test]
    fn secrets_never_print() {
        let env = env_of(&[
            ("RAE_API_KEY", "key-123456"),
            ("RAE_WEBHOOK_SECRET", "hook-123456"),
        ]);
        let config = Config::load(&Source::Text(String::new()), &env).unwrap();
        let shown = format!("{config:?}{}", config.redacted_yaml().unwrap());
        assert!(
            !shown.contains("key-123456") && !shown.contains("hook-123456"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn redaction_follows_the_type_not_the_field_name() {
        let text = r#"
nats: { url: "nats://127.0.0.1:4222", user: nats-user, password: nats-password-1, token: nats-token-1 }
rae: { api_key: rae-api-key-1 }
enrich:
  tenants:
    acme:
      rules: [{ name: billing, keywords: [invoice-keyword], boost: 0.1 }]
tenants:
  acme:
    rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f
    api_key: tenant-api-key-1
    integrations: { github: { organizations: [acme-corp], secrets: [tenant-gh-secret-1] } }
integrations:
  - { id: memory, config: { secrets: [memory-secret-1] } }
  - { id: github, config: { secrets: [github-secret-1] } }
  - { id: slack, config: { signing_secret: slack-secret-1, signing_secrets: [slack-secret-2], bot_token: slack-bot-token-1 } }
  - id: email
    config:
      smtp: { accept: ["@example.com"], auth_users: [{ user: submitter, password: smtp-password-1 }] }
      imap: [{ host: imap.example.com, user: mailbox-user, password: imap-password-1 }]
      receipts: { relay: smtp.example.com, user: relay-user, password: relay-password-1, from: rae@example.com, allow: ["@example.com"] }
api_keys:
  - { id: acme-backend, sha256: "9d3b5fbd4fc9fbc36ee4d1fb7e1a2ff7af8bd2ff4c35f6b5bdc0cd6bb2b7b4c1", scopes: ["memories:write"], tenants: [acme] }
  - { id: ci-bot, key: ci-bot-key-0123456789, scopes: ["dlq:admin"], tenants: ["*"] }
"#;
        let config = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap();
        let yaml = config.redacted_yaml().unwrap();
        let debug = format!("{config:?}");
        for shown in [&yaml, &debug] {
            for secret in [
                "nats-password-1",
                "nats-token-1",
                "rae-api-key-1",
                "tenant-api-key-1",
                "tenant-gh-secret-1",
                "memory-secret-1",
                "github-secret-1",
                "slack-secret-1",
                "slack-secret-2",
                "slack-bot-token-1",
                "smtp-password-1",
                "imap-password-1",
                "relay-password-1",
                "ci-bot-key-0123456789",
            ] {
                assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
            }
            // Fields whose names look secret but whose types are not: keywords, key ids,
            // scopes and tenants, users, the key hash (what the file itself holds).
            for visible in [
                "invoice-keyword",
                "acme-backend",
                "ci-bot",
                "acme-corp",
                "nats-user",
                "submitter",
                "mailbox-user",
                "relay-user",
                "9d3b5fbd4fc9fbc36ee4d1fb7e1a2ff7af8bd2ff4c35f6b5bdc0cd6bb2b7b4c1",
            ] {
                assert!(shown.contains(visible), "{visible} hidden in:\n{shown}");
            }
        }
        assert!(
            yaml.contains("memories:write") && yaml.contains("dlq:admin"),
            "{yaml}"
        );
        // The printed config is YAML of the same shape as the file.
        let printed: yaml_serde::Value = yaml_serde::from_str(&yaml).unwrap();
        assert_eq!(printed["integrations"][3]["kind"], "email");
        assert_eq!(printed["api_keys"][1]["key"], REDACTED);
    }
}
