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

/// The fewest characters a signing secret or API key may have.
pub const MIN_SECRET_CHARS: usize = 16;

/// Words that mark a value as a placeholder left from an example, compared without case,
/// `-`, `_` and spaces.
const PLACEHOLDERS: [&str; 9] = [
    "changeme",
    "replaceme",
    "placeholder",
    "yoursecret",
    "yourkey",
    "yourtoken",
    "secrethere",
    "keyhere",
    "xxxxxxxx",
];

impl Secret {
    /// Why this value is too weak to guard a route, if it is: shorter than
    /// [`MIN_SECRET_CHARS`], made of very few different characters (`aaaa…`, eight spaces), or a
    /// placeholder such as `change-me`. `None` for a value fit to use.
    pub fn weakness(&self) -> Option<String> {
        const ADVICE: &str = "use a random value, e.g. `openssl rand -hex 32`";
        let value = self.expose();
        let chars = value.chars().count();
        if chars < MIN_SECRET_CHARS {
            return Some(format!(
                "must be at least {MIN_SECRET_CHARS} characters (has {chars}); {ADVICE}"
            ));
        }
        let mut distinct: Vec<char> = value.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 6 || value.trim().is_empty() {
            return Some(format!(
                "has only {} different characters; {ADVICE}",
                distinct.len()
            ));
        }
        let folded: String = value
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        PLACEHOLDERS
            .iter()
            .find(|word| folded.contains(*word))
            .map(|word| format!("looks like a placeholder (contains {word:?}); {ADVICE}"))
    }
}

/// Problems of a list of signing secrets at `.{field}`: each fit to use (see
/// [`Secret::weakness`]), and at least one when `required`.
pub(crate) fn secrets_problems(secrets: &[Secret], field: &str, required: bool) -> Vec<Problem> {
    let mut problems: Vec<Problem> = secrets
        .iter()
        .enumerate()
        .filter_map(|(j, secret)| {
            let weakness = secret.weakness()?;
            Some(Problem::new(format!(".{field}[{j}]"), weakness))
        })
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
            paths(
                &[Secret::new("long-enough-secret"), Secret::new("short")],
                true
            ),
            [".secrets[1]"]
        );
        assert_eq!(paths(&[], true), [".secrets"]);
        assert!(paths(&[], false).is_empty());
    }

    #[test]
    fn placeholders_and_low_variety_values_are_weak() {
        let weakness = |value: &str| Secret::new(value).weakness();
        assert_eq!(weakness("3f9a1c07e45b28d6a1f0c9e7"), None);
        assert_eq!(weakness("It's a Secret to Everybody"), None);
        for weak in [
            "rpk_change-me-change-me",
            "REPLACE_ME_WITH_A_SECRET",
            "<your-secret-here>......",
            "                ",
            "aaaaaaaaaaaaaaaaaaaa",
            "1212121212121212",
            "short-secret",
        ] {
            assert!(weakness(weak).is_some(), "{weak:?} passed");
        }
        assert!(weakness("rpk_change-me-change-me")
            .unwrap()
            .contains("placeholder (contains \"changeme\")"));
        assert!(weakness("        ")
            .unwrap()
            .contains("at least 16 characters (has 8)"));
    }

    #[test]
    fn secrets_never_print() {
        let env = env_of(&[
            ("RAE_API_KEY", "key-123456"),
            ("RAE_WEBHOOK_SECRET", "hook-123456789012"),
        ]);
        let config = Config::load(&Source::Text(String::new()), &env).unwrap();
        let shown = format!("{config:?}{}", config.redacted_yaml().unwrap());
        assert!(
            !shown.contains("key-123456") && !shown.contains("hook-123456789012"),
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
  - { id: memory, config: { secrets: [memory-secret-0001] } }
  - { id: github, config: { secrets: [github-secret-0001] } }
  - { id: slack, config: { signing_secret: slack-secret-0001, signing_secrets: [slack-secret-0002], bot_token: slack-bot-token-1 } }
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
                "memory-secret-0001",
                "github-secret-0001",
                "slack-secret-0001",
                "slack-secret-0002",
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
