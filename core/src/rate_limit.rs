//! Per-caller token buckets: each API key and each integration gets `per_second` requests on
//! average and bursts of `burst`. Callers are counted after they authenticated, so a flood of
//! unauthenticated requests cannot use up a real sender's budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimitConfig;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Whose budget a request takes: an API key's or an integration's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget<'a> {
    Key(&'a str),
    Integration(&'a str),
}

/// The buckets, by caller. Callers come from config (key and integration ids), so the maps
/// stay small; a request looks its bucket up without allocating.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    keys: HashMap<String, Bucket>,
    integrations: HashMap<String, Bucket>,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> RateLimiter {
        RateLimiter {
            per_second: config.per_second,
            burst: f64::from(config.burst.max(1)),
            buckets: Mutex::new(Buckets::default()),
        }
    }

    /// Takes one token of `caller`'s bucket at `now`.
    ///
    /// # Errors
    /// How long until the next token, when the bucket is empty.
    pub fn take(&self, caller: Budget<'_>, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = crate::sync::lock(&self.buckets);
        let (map, id) = match caller {
            Budget::Key(id) => (&mut buckets.keys, id),
            Budget::Integration(id) => (&mut buckets.integrations, id),
        };
        if !map.contains_key(id) {
            let full = Bucket {
                tokens: self.burst,
                updated: now,
            };
            map.insert(id.to_owned(), full);
        }
        let Some(bucket) = map.get_mut(id) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::from_secs(3600)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(&RateLimitConfig {
            per_second: 2.0,
            burst: 3,
        });
        let start = Instant::now();
        for _ in 0..3 {
            limiter.take(Budget::Key("a"), start).unwrap();
        }
        let wait = limiter.take(Budget::Key("a"), start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        limiter.take(Budget::Key("b"), start).unwrap();
        limiter
            .take(Budget::Key("a"), start + Duration::from_millis(500))
            .unwrap();
        assert!(limiter
            .take(Budget::Key("a"), start + Duration::from_millis(500))
            .is_err());
    }

    #[test]
    fn zero_rate_is_off() {
        let limiter = RateLimiter::new(&RateLimitConfig {
            per_second: 0.0,
            burst: 0,
        });
        for _ in 0..10_000 {
            limiter.take(Budget::Key("x"), Instant::now()).unwrap();
        }
    }

    #[test]
    fn a_poisoned_lock_keeps_limiting() {
        let limiter = std::sync::Arc::new(RateLimiter::new(&RateLimitConfig {
            per_second: 1.0,
            burst: 1,
        }));
        let start = Instant::now();
        limiter.take(Budget::Key("a"), start).unwrap();
        let poisoner = std::sync::Arc::clone(&limiter);
        let _ = std::thread::spawn(move || {
            let _held = poisoner.buckets.lock();
            panic!("poison the buckets");
        })
        .join();
        assert!(limiter.buckets.is_poisoned());
        // It failed open before: every request passed once the lock was poisoned.
        assert!(limiter.take(Budget::Key("a"), start).is_err());
    }
}
