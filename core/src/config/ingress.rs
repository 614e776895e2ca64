//! `ingress`: the HTTP ingress (listeners, body and time limits, default tenant and project,
//! rate limits).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{Context, Problem, DEFAULT_TENANT, TENANT_MESSAGE};

/// The HTTP ingress.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngressConfig {
    pub listen: String,
    /// Own listener for `GET /metrics`.
    pub metrics_listen: String,
    /// Larger bodies are refused with 413.
    pub max_body_bytes: usize,
    pub request_timeout_ms: u64,
    /// Accepted clock difference for signed timestamps.
    pub timestamp_tolerance_secs: u64,
    /// `Retry-After` sent with 503 when JetStream cannot take an event.
    pub retry_after_secs: u64,
    /// Tenant of events whose integration names none.
    pub default_tenant: String,
    /// Project of events when neither the input, the integration nor the tenant names one.
    pub default_project: String,
    /// Most memories in one `POST /api/v1/memories` request.
    pub max_batch: usize,
    /// Requests per API key or per integration; more are answered 429.
    pub rate_limit: RateLimitConfig,
    /// How long a client may take to send a request's headers, counted from when the
    /// connection is ready for a request: a connection that sends nothing, sends headers a
    /// byte at a time, or idles between keep-alive requests is closed after it.
    pub header_timeout_ms: u64,
    /// Connections open at once; past it a new connection is answered 503 and closed. Keep it
    /// below the process's open-files limit (`ulimit -n`).
    pub max_connections: usize,
    /// Bytes of request bodies held in memory at once across requests; past it a request is
    /// answered 503 with `Retry-After` before its body is read.
    pub max_inflight_body_bytes: usize,
}

/// A token bucket: `per_second` requests on average, bursts of up to `burst`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// 0 turns the limit off.
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: 1000.0,
            burst: 2000,
        }
    }
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            listen: "0.0.0.0:8080".into(),
            metrics_listen: "0.0.0.0:9464".into(),
            max_body_bytes: 1024 * 1024,
            request_timeout_ms: 10_000,
            timestamp_tolerance_secs: 300,
            retry_after_secs: 5,
            default_tenant: DEFAULT_TENANT.into(),
            default_project: "default".into(),
            max_batch: 100,
            rate_limit: RateLimitConfig::default(),
            header_timeout_ms: 10_000,
            max_connections: 1024,
            max_inflight_body_bytes: 64 * 1024 * 1024,
        }
    }
}

impl IngressConfig {
    /// What is wrong with this section, paths relative to it.
    pub fn problems(&self, ctx: &Context) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| problems.push(Problem::new(path, message));
        if self.request_timeout_ms == 0 {
            bad(".request_timeout_ms", "must be greater than 0");
        }
        if self.max_body_bytes == 0 {
            bad(".max_body_bytes", "must be greater than 0");
        }
        if self.header_timeout_ms == 0 {
            bad(".header_timeout_ms", "must be greater than 0");
        }
        if self.max_connections == 0 {
            bad(".max_connections", "must be greater than 0");
        }
        if self.max_inflight_body_bytes < self.max_body_bytes {
            bad(
                ".max_inflight_body_bytes",
                "must be at least ingress.max_body_bytes",
            );
        }
        for (path, value) in [
            (".listen", &self.listen),
            (".metrics_listen", &self.metrics_listen),
        ] {
            if value.parse::<SocketAddr>().is_err() {
                bad(path, "must be an address like 0.0.0.0:8080");
            }
        }
        if !ctx.tenant_resolves(&self.default_tenant) {
            bad(".default_tenant", TENANT_MESSAGE);
        }
        if self.default_project.trim().is_empty() {
            bad(".default_project", "must not be empty");
        }
        if self.max_batch == 0 || self.max_batch > 10_000 {
            bad(".max_batch", "must be 1 to 10000");
        }
        let rate = &self.rate_limit;
        if !rate.per_second.is_finite()
            || rate.per_second < 0.0
            || (rate.per_second > 0.0 && rate.per_second < 0.001)
        {
            bad(
                ".rate_limit.per_second",
                "must be 0 (off) or at least 0.001",
            );
        }
        if rate.per_second > 0.0 && rate.burst == 0 {
            bad(".rate_limit.burst", "must be at least 1");
        }
        problems
    }
}
