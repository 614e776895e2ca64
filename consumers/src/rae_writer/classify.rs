//! One pure decision per RAE answer, and the retry delay.

use std::time::Duration;

use rae_core::config::WriterConfig;
use rae_core::dead_letter::Reason;
use rae_core::rae::{RaeError, Stored};

/// What the writer does with an event after one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// RAE stored it (or filtered it as a duplicate): ack.
    Done { duplicate: bool },
    /// Try again after `delay`; `pause` holds every write for that long (a 429).
    Retry {
        reason: Reason,
        delay: Duration,
        pause: Option<Duration>,
        error: String,
    },
    /// RAE refused it for good: dead letter at once with RAE's answer.
    Reject { reason: Reason, error: String },
}

/// Classifies the result of attempt number `attempt` (1-based).
pub fn classify(
    result: &Result<Stored, RaeError>,
    attempt: u64,
    config: &WriterConfig,
    jitter: f64,
) -> Outcome {
    let err = match result {
        Ok(Stored::Memory(_)) => return Outcome::Done { duplicate: false },
        Ok(Stored::Duplicate) => return Outcome::Done { duplicate: true },
        Err(err) => err,
    };
    let (reason, retry_after) = match err {
        RaeError::Connect { .. } => (Reason::RaeUnreachable, None),
        RaeError::Timeout { .. } => (Reason::RaeTimeout, None),
        RaeError::Status {
            status,
            retry_after,
            ..
        } => match status {
            429 => (Reason::RaeThrottled, *retry_after),
            408 | 500..=599 => (Reason::RaeUnavailable, *retry_after),
            // A redirect (the store path without its trailing slash), a refused key or a
            // missing path says our RAE settings are wrong, not the event: wait for the fix
            // (the breaker opens) instead of dead-lettering the whole backlog.
            300..=399 | 401 | 403 | 404 => (Reason::RaeMisconfigured, *retry_after),
            _ => {
                return Outcome::Reject {
                    reason: Reason::RaeRejected,
                    error: err.to_string(),
                }
            }
        },
    };
    let cap = Duration::from_secs(config.retry_after_max_secs);
    let retry_after = retry_after.map(|d| d.min(cap));
    let delay = backoff(attempt, config, jitter).max(retry_after.unwrap_or(Duration::ZERO));
    Outcome::Retry {
        reason,
        delay,
        pause: if reason == Reason::RaeThrottled {
            retry_after.or(Some(delay))
        } else {
            None
        },
        error: err.to_string(),
    }
}

/// Exponential backoff with full jitter: a uniform delay in `[0, min(max, base * 2^(attempt-1))]`,
/// where `jitter` in `[0, 1)` picks the point.
pub fn backoff(attempt: u64, config: &WriterConfig, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30) as u32;
    let ceiling = config
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(config.backoff_max_ms);
    Duration::from_millis((ceiling as f64 * jitter.clamp(0.0, 1.0)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<u64>) -> Result<Stored, RaeError> {
        Err(RaeError::Status {
            status,
            method: "POST",
            url: "http://rae.internal:8000/v2/memories/".into(),
            body: r#"{"error":{"code":"x"}}"#.into(),
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[test]
    fn success_and_rae_duplicates_are_done() {
        let c = WriterConfig::default();
        assert_eq!(
            classify(&Ok(Stored::Memory("m".into())), 1, &c, 0.5),
            Outcome::Done { duplicate: false }
        );
        assert_eq!(
            classify(&Ok(Stored::Duplicate), 1, &c, 0.5),
            Outcome::Done { duplicate: true }
        );
    }

    #[test]
    fn transient_failures_retry() {
        let c = WriterConfig::default();
        for result in [
            status(500, None),
            status(503, None),
            status(408, None),
            Err(RaeError::Connect {
                url: "u".into(),
                message: "refused".into(),
            }),
            Err(RaeError::Timeout {
                url: "u".into(),
                timeout_ms: 1,
            }),
        ] {
            assert!(
                matches!(
                    classify(&result, 1, &c, 0.5),
                    Outcome::Retry { pause: None, .. }
                ),
                "{result:?}"
            );
        }
    }

    #[test]
    fn retry_after_raises_the_delay_and_pauses_on_429() {
        let c = WriterConfig::default();
        match classify(&status(429, Some(7)), 1, &c, 0.0) {
            Outcome::Retry { delay, pause, .. } => {
                assert_eq!(delay, Duration::from_secs(7));
                assert_eq!(pause, Some(Duration::from_secs(7)));
            }
            other => panic!("{other:?}"),
        }
        match classify(&status(429, Some(100_000)), 1, &c, 0.0) {
            Outcome::Retry { delay, .. } => {
                assert_eq!(delay, Duration::from_secs(c.retry_after_max_secs))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_client_errors_are_rejected_with_the_body() {
        let c = WriterConfig::default();
        for code in [400, 409, 413, 422] {
            match classify(&status(code, None), 1, &c, 0.5) {
                Outcome::Reject { reason, error } => {
                    assert_eq!(reason, Reason::RaeRejected);
                    assert!(
                        error.contains(&code.to_string()) && error.contains("\"code\""),
                        "{error}"
                    );
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn answers_that_mean_wrong_settings_wait_instead_of_dead_lettering() {
        let c = WriterConfig::default();
        for code in [307, 401, 403, 404] {
            match classify(&status(code, None), 1, &c, 0.5) {
                Outcome::Retry { reason, .. } => assert_eq!(reason, Reason::RaeMisconfigured),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = WriterConfig {
            backoff_base_ms: 100,
            backoff_max_ms: 1_000,
            ..WriterConfig::default()
        };
        assert_eq!(backoff(1, &c, 0.999_999), Duration::from_millis(99));
        assert_eq!(backoff(3, &c, 0.5), Duration::from_millis(200));
        assert_eq!(backoff(50, &c, 1.0), Duration::from_millis(1_000));
        assert_eq!(backoff(5, &c, 0.0), Duration::ZERO);
    }
}
