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
        let shown = format!("{config:?}{}", config.redacted_yaml());
        assert!(
            !shown.contains("key-123456") && !shown.contains("hook-123456"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }
}
