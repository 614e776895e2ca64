//! `console`: the operator console, a web page served by the ingress process under `/console`
//! (or on its own address), signed in with an API key that has `console:read`.

use serde::{Deserialize, Serialize};

use super::Problem;

/// The operator console.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console (off by default). It runs in a process that runs the ingress (`up`,
    /// `ingress`).
    pub enabled: bool,
    /// Its own address (`127.0.0.1:8081`, say), to keep it off the public ingress listener;
    /// unset serves it under `/console` on `ingress.listen`.
    pub listen: Option<String>,
    /// Mark the session cookie `Secure` (sent over HTTPS only). Set it when the console is
    /// reached through HTTPS, as it should be anywhere but on a loopback address.
    pub secure_cookie: bool,
    /// A session unused for this long is signed out.
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in, however busy.
    pub session_max_secs: u64,
    /// Sessions held at once, across keys; past it the least recently used is signed out.
    pub max_sessions: usize,
    /// Sessions one API key may hold at once; past it that key's least recently used one is
    /// signed out.
    pub max_sessions_per_key: usize,
    /// Dead letters shown per page.
    pub page_size: usize,
    /// Live tail connections open at once, across sessions.
    pub max_tails: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: false,
            listen: None,
            secure_cookie: false,
            session_idle_secs: 1800,
            session_max_secs: 43_200,
            max_sessions: 1000,
            max_sessions_per_key: 10,
            page_size: 50,
            max_tails: 20,
        }
    }
}

/// Longest session: a week.
const MAX_SESSION_SECS: u64 = 7 * 86_400;

impl ConsoleConfig {
    /// What is wrong with this section, paths relative to it. `has_keys`: `api_keys` lists at
    /// least one key (signing in needs one).
    pub fn problems(&self, has_keys: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| problems.push(Problem::new(path, message));
        if self.enabled && !has_keys {
            bad(
                ".enabled",
                "needs an entry under api_keys with the scope console:read: signing in takes a key",
            );
        }
        if let Some(listen) = &self.listen {
            if listen.parse::<std::net::SocketAddr>().is_err() {
                bad(".listen", "must be an address such as 127.0.0.1:8081");
            }
        }
        if self.session_idle_secs == 0 || self.session_idle_secs > MAX_SESSION_SECS {
            bad(".session_idle_secs", "must be 1 to 604800 (a week)");
        }
        if self.session_max_secs < self.session_idle_secs
            || self.session_max_secs > MAX_SESSION_SECS
        {
            bad(
                ".session_max_secs",
                "must be at least console.session_idle_secs and at most 604800 (a week)",
            );
        }
        if self.max_sessions == 0 {
            bad(".max_sessions", "must be at least 1");
        }
        if self.max_sessions_per_key == 0 || self.max_sessions_per_key > self.max_sessions {
            bad(".max_sessions_per_key", "must be 1 to console.max_sessions");
        }
        if !(1..=500).contains(&self.page_size) {
            bad(".page_size", "must be 1 to 500");
        }
        if self.max_tails == 0 {
            bad(".max_tails", "must be at least 1");
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_checked_when_set() {
        let config = ConsoleConfig::default();
        assert!(!config.enabled);
        assert!(config.problems(false).is_empty());
        let config = ConsoleConfig {
            enabled: true,
            listen: Some("localhost".into()),
            session_idle_secs: 0,
            max_sessions_per_key: 2000,
            page_size: 0,
            ..ConsoleConfig::default()
        };
        let problems: Vec<String> = config
            .problems(false)
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        for expected in [
            ".enabled",
            ".listen",
            ".session_idle_secs",
            ".max_sessions_per_key",
            ".page_size",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected}: {problems:?}"
            );
        }
        assert_eq!(problems.len(), 5, "{problems:?}");
    }
}
