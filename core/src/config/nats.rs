//! `nats`: the connection to NATS and the JetStream resources (streams, consumers, buckets).

use serde::{Deserialize, Serialize};

use super::{Problem, Secret};

/// Connection to NATS and the JetStream resources (streams, consumers, buckets).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL(s), comma separated.
    pub url: String,
    /// Optional token or user/password for the connection.
    pub token: Option<Secret>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Stream replicas: 1 for one server, 3 on a cluster.
    pub replicas: usize,
    /// How long one publish waits for its JetStream ack before the ingress answers 503.
    pub publish_timeout_ms: u64,
    /// How long `connect` keeps retrying before giving up at start.
    pub connect_timeout_secs: u64,
    /// JetStream's duplicate window for `Nats-Msg-Id`.
    pub duplicate_window_secs: u64,
    pub events_max_age_days: u64,
    pub dlq_max_age_days: u64,
    pub audit_max_age_days: u64,
    /// How long provider delivery ids are remembered in `rae_dedupe`.
    pub dedupe_ttl_days: u64,
    /// How long an event's content is remembered in `rae_repeats` (`enrich.drop_repeats`).
    pub repeat_window_secs: u64,
    /// Byte limits of the streams. A full `RAE_EVENTS` refuses new events (the ingress answers
    /// 503 with `Retry-After`) and a full `RAE_ENRICHED` or `RAE_DLQ` holds the consumer's
    /// message for a retry, so nothing accepted is ever dropped; a full `RAE_AUDIT` drops its
    /// oldest records first.
    pub events_max_bytes: u64,
    pub enriched_max_bytes: u64,
    pub dlq_max_bytes: u64,
    pub audit_max_bytes: u64,
}

/// The smallest byte limit a stream may have: room for a few events at the largest size.
pub const MIN_STREAM_BYTES: u64 = 1024 * 1024;
const GIB: u64 = 1024 * 1024 * 1024;

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            token: None,
            user: None,
            password: None,
            replicas: 1,
            publish_timeout_ms: 5_000,
            connect_timeout_secs: 10,
            duplicate_window_secs: 120,
            events_max_age_days: 7,
            dlq_max_age_days: 30,
            audit_max_age_days: 30,
            dedupe_ttl_days: 7,
            repeat_window_secs: 3600,
            events_max_bytes: GIB / 2,
            enriched_max_bytes: GIB / 2,
            dlq_max_bytes: GIB / 8,
            audit_max_bytes: GIB / 8,
        }
    }
}

impl NatsConfig {
    /// What is wrong with this section, paths relative to it.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (i, url) in self.url.split(',').enumerate() {
            let url = url.trim();
            let ok =
                url.starts_with("nats://") || url.starts_with("tls://") || !url.contains("://");
            if url.is_empty() || !ok {
                problems.push(Problem::new(
                    format!(".url[{i}]"),
                    "must be a nats:// or tls:// URL",
                ));
            }
        }
        if self.replicas == 0 || self.replicas > 5 {
            problems.push(Problem::new(".replicas", "must be 1 to 5"));
        }
        for (path, value) in [
            (".publish_timeout_ms", self.publish_timeout_ms),
            (".duplicate_window_secs", self.duplicate_window_secs),
            (".events_max_age_days", self.events_max_age_days),
            (".dlq_max_age_days", self.dlq_max_age_days),
            (".audit_max_age_days", self.audit_max_age_days),
            (".dedupe_ttl_days", self.dedupe_ttl_days),
        ] {
            if value == 0 {
                problems.push(Problem::new(path, "must be greater than 0"));
            }
        }
        // The bucket's own duplicate window is two minutes and must fit in its age.
        if self.repeat_window_secs < 120 {
            problems.push(Problem::new(
                ".repeat_window_secs",
                "must be at least 120 (2 minutes)",
            ));
        }
        for (path, value) in [
            (".events_max_bytes", self.events_max_bytes),
            (".enriched_max_bytes", self.enriched_max_bytes),
            (".dlq_max_bytes", self.dlq_max_bytes),
            (".audit_max_bytes", self.audit_max_bytes),
        ] {
            if value < MIN_STREAM_BYTES {
                problems.push(Problem::new(
                    path,
                    format!("must be at least {MIN_STREAM_BYTES} (1 MiB)"),
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_replicas_and_zero_durations_are_problems() {
        let nats = NatsConfig {
            url: "nats://a:4222, http://b,".into(),
            replicas: 0,
            dedupe_ttl_days: 0,
            audit_max_bytes: 4096,
            ..NatsConfig::default()
        };
        let paths: Vec<_> = nats.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                ".url[1]",
                ".url[2]",
                ".replicas",
                ".dedupe_ttl_days",
                ".audit_max_bytes"
            ]
        );
        assert!(NatsConfig::default().problems().is_empty());
    }
}
