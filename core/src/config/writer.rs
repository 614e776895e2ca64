//! `writer`: the RAE writer (concurrency, retries and backoff, the circuit breaker, delivery
//! limits).

use serde::{Deserialize, Serialize};

use super::{Context, Problem};

/// The RAE writer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// RAE requests in flight at once.
    pub concurrency: usize,
    /// Deliveries of one event that failed while RAE accepted others, before it is
    /// dead-lettered as `retries_exhausted`.
    pub max_attempts: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Cap on a `Retry-After` from RAE.
    pub retry_after_max_secs: u64,
    /// Retryable failures in a row (across events) that open the breaker.
    pub breaker_failures: u32,
    /// First wait before a probe while the breaker is open; doubles up to `breaker_probe_max_ms`.
    pub breaker_probe_ms: u64,
    pub breaker_probe_max_ms: u64,
    pub ack_wait_secs: u64,
    /// Deliveries of one event before JetStream gives up on it (a dead letter
    /// `max_deliveries`): a backstop for events that crash or hang the writer. High, because
    /// while RAE is down the breaker's probes redeliver events too; 0 for no limit.
    pub max_deliveries: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            concurrency: 32,
            max_attempts: 10,
            backoff_base_ms: 250,
            backoff_max_ms: 30_000,
            retry_after_max_secs: 300,
            breaker_failures: 5,
            breaker_probe_ms: 500,
            breaker_probe_max_ms: 15_000,
            ack_wait_secs: 60,
            max_deliveries: 10_000,
        }
    }
}

impl WriterConfig {
    /// What is wrong with this section, paths relative to it. Its ack wait is checked against
    /// `rae.timeout_ms` from `ctx`.
    pub fn problems(&self, ctx: &Context) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| problems.push(Problem::new(path, message));
        for (path, value) in [
            (".max_attempts", self.max_attempts),
            (".backoff_base_ms", self.backoff_base_ms),
            (".breaker_probe_ms", self.breaker_probe_ms),
            (".ack_wait_secs", self.ack_wait_secs),
            (".breaker_failures", u64::from(self.breaker_failures)),
        ] {
            if value == 0 {
                bad(path, "must be greater than 0");
            }
        }
        if self.concurrency == 0 {
            bad(".concurrency", "must be greater than 0");
        }
        if self.concurrency > 10_000 {
            bad(".concurrency", "must be at most 10000");
        }
        if self.backoff_max_ms < self.backoff_base_ms {
            bad(".backoff_max_ms", "must be at least writer.backoff_base_ms");
        }
        if self.breaker_probe_max_ms < self.breaker_probe_ms {
            bad(
                ".breaker_probe_max_ms",
                "must be at least writer.breaker_probe_ms",
            );
        }
        if self.ack_wait_secs.saturating_mul(1000) <= ctx.rae_timeout_ms {
            bad(
                ".ack_wait_secs",
                "must be longer than rae.timeout_ms, or JetStream redelivers writes still in flight",
            );
        }
        for (path, value, max) in [
            (".retry_after_max_secs", self.retry_after_max_secs, 86_400),
            (".backoff_max_ms", self.backoff_max_ms, 86_400_000),
            (
                ".breaker_probe_max_ms",
                self.breaker_probe_max_ms,
                86_400_000,
            ),
        ] {
            if value > max {
                bad(path, &format!("must be at most {max}"));
            }
        }
        if self.max_deliveries != 0 && self.max_deliveries <= self.max_attempts {
            bad(
                ".max_deliveries",
                "must be 0 (no limit) or more than writer.max_attempts",
            );
        }
        problems
    }
}
