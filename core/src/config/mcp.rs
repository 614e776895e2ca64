//! `mcp`: what the MCP server offers beyond memory tools, and its HTTP transport on the
//! ingress (`/mcp`).

use serde::{Deserialize, Serialize};

use super::Problem;

/// The MCP server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Offer the administration tools `dlq_list` and `dlq_replay` (the dead letters of the
    /// caller's tenant). Off by default: an assistant should not replay failed events unless
    /// the pipeline's operator chose so. Over HTTP the caller's key needs `dlq:admin` too.
    pub admin_tools: bool,
    /// The Streamable HTTP transport on the ingress.
    pub http: McpHttpConfig,
}

/// `mcp.http`: MCP over Streamable HTTP at `/mcp` on the ingress's listener, authenticated with
/// `api_keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpHttpConfig {
    /// Serve `/mcp` (off by default).
    pub enabled: bool,
    /// MCP sessions open at once, across keys; past it a new session is answered 503.
    pub max_sessions: usize,
    /// MCP sessions one API key may have open at once; past it a new one is answered 429.
    pub max_sessions_per_key: usize,
    /// A session that sees no request for this long is closed (its client starts a new one).
    pub session_idle_secs: u64,
    /// `Host` header values accepted (`host` or `host:port`), against DNS rebinding; empty
    /// accepts any, since every request needs an API key anyway.
    pub allowed_hosts: Vec<String>,
}

impl Default for McpHttpConfig {
    fn default() -> Self {
        McpHttpConfig {
            enabled: false,
            max_sessions: 1000,
            max_sessions_per_key: 20,
            session_idle_secs: 1800,
            allowed_hosts: Vec::new(),
        }
    }
}

/// Longest idle time a session may be kept: a day.
const MAX_IDLE_SECS: u64 = 86_400;

impl McpConfig {
    /// What is wrong with this section, paths relative to it. `has_keys`: `api_keys` lists at
    /// least one key (the HTTP transport needs one to be usable at all).
    pub fn problems(&self, has_keys: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| problems.push(Problem::new(path, message));
        let http = &self.http;
        if http.enabled && !has_keys {
            bad(
                ".http.enabled",
                "needs at least one entry under api_keys: every /mcp request is made with a key",
            );
        }
        if http.max_sessions == 0 {
            bad(".http.max_sessions", "must be at least 1");
        }
        if http.max_sessions_per_key == 0 || http.max_sessions_per_key > http.max_sessions {
            bad(
                ".http.max_sessions_per_key",
                "must be 1 to mcp.http.max_sessions",
            );
        }
        if http.session_idle_secs == 0 || http.session_idle_secs > MAX_IDLE_SECS {
            bad(".http.session_idle_secs", "must be 1 to 86400 (a day)");
        }
        for (i, host) in http.allowed_hosts.iter().enumerate() {
            let plain = !host.trim().is_empty()
                && !host.contains("://")
                && !host.contains('/')
                && !host.contains(char::is_whitespace);
            if !plain {
                bad(
                    &format!(".http.allowed_hosts[{i}]"),
                    "must be a host name or host:port, such as mcp.example.com or localhost:8080",
                );
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_transport_is_off_by_default_and_checked_when_set() {
        let config = McpConfig::default();
        assert!(!config.http.enabled);
        assert!(config.problems(false).is_empty());
        let config = McpConfig {
            admin_tools: false,
            http: McpHttpConfig {
                enabled: true,
                max_sessions: 2,
                max_sessions_per_key: 3,
                session_idle_secs: 0,
                allowed_hosts: vec!["https://mcp.example.com".into(), "mcp.example.com".into()],
            },
        };
        let paths: Vec<String> = config
            .problems(false)
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(paths.len(), 4, "{paths:?}");
        for expected in [
            ".http.enabled",
            ".http.max_sessions_per_key",
            ".http.session_idle_secs",
            ".http.allowed_hosts[0]",
        ] {
            assert!(
                paths.iter().any(|p| p.starts_with(expected)),
                "{expected}: {paths:?}"
            );
        }
    }
}
