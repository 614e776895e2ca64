//! The writer's breaker: after a run of retryable failures across events RAE is taken as down;
//! the writer then stops pulling and lets one event through at growing intervals as a probe,
//! so an outage leaves events waiting in JetStream instead of turning into dead letters. A 429
//! pauses all writes until its `Retry-After`.

use rae_core::dead_letter::Reason;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::Gate;
use rae_core::config::WriterConfig;
use rae_core::telemetry::BreakerChanged;

#[derive(Debug)]
struct State {
    failures_in_a_row: u32,
    open: bool,
    probe_interval: Duration,
    next_probe: Instant,
    /// Set while one event is out as a probe; a probe that never reports back (its event was
    /// not a write, or the pull failed) expires so the breaker cannot wait forever.
    probing: Option<Instant>,
    paused_until: Option<Instant>,
}

/// Shared by the fetch loop (as its [`Gate`]) and every write task.
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    changed: Notify,
    threshold: u32,
    first_probe: Duration,
    max_probe: Duration,
    probe_timeout: Duration,
    health: rae_core::rae::RaeHealth,
}

enum Admission {
    Take(usize),
    WaitUntil(Instant),
    WaitForProbe,
}

impl Breaker {
    /// `probe_timeout` bounds how long one probe may take (the RAE timeout plus a margin).
    pub fn new(config: &WriterConfig, probe_timeout: Duration) -> Breaker {
        metrics::gauge!(rae_core::telemetry::names::BREAKER_OPEN).set(0.0);
        Breaker {
            state: Mutex::new(State {
                failures_in_a_row: 0,
                open: false,
                probe_interval: Duration::from_millis(config.breaker_probe_ms),
                next_probe: Instant::now(),
                probing: None,
                paused_until: None,
            }),
            changed: Notify::new(),
            threshold: config.breaker_failures,
            first_probe: Duration::from_millis(config.breaker_probe_ms),
            max_probe: Duration::from_millis(config.breaker_probe_max_ms),
            probe_timeout,
            health: rae_core::rae::RaeHealth::default(),
        }
    }

    /// What the breaker knows, shared with the health route.
    pub fn health(&self) -> rae_core::rae::RaeHealth {
        self.health.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        rae_core::sync::lock(&self.state)
    }

    /// True while RAE is taken as down.
    pub fn is_open(&self) -> bool {
        self.lock().open
    }

    /// RAE answered (stored, or refused for good): it is up.
    pub fn success(&self) {
        self.health.stored();
        let mut s = self.lock();
        s.failures_in_a_row = 0;
        s.probing = None;
        if s.open {
            s.open = false;
            s.probe_interval = self.first_probe;
            drop(s);
            BreakerChanged {
                open: false,
                reason: String::new(),
                error: None,
                fix: None,
            }
            .emit();
        } else {
            drop(s);
        }
        self.changed.notify_waiters();
    }

    /// A retryable failure; `pause` holds all writes for that long (429).
    /// `error` is the failure as RAE's client saw it (status, method and URL, or the connection
    /// error): the log line of an opening says it, once per opening.
    pub fn failure(&self, reason: Reason, pause: Option<Duration>, error: &str) {
        let now = Instant::now();
        let mut s = self.lock();
        s.failures_in_a_row = s.failures_in_a_row.saturating_add(1);
        if let Some(pause) = pause {
            self.health.paused(time::OffsetDateTime::now_utc() + pause);
            let until = now + pause;
            s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
        }
        let mut opened = false;
        if s.open {
            if s.probing.is_some() {
                s.probing = None;
                s.probe_interval = (s.probe_interval * 2).min(self.max_probe);
                s.next_probe = now + s.probe_interval;
            }
        } else if s.failures_in_a_row >= self.threshold {
            s.open = true;
            s.probing = None;
            s.probe_interval = self.first_probe;
            s.next_probe = now + s.probe_interval;
            opened = true;
        }
        drop(s);
        if opened {
            self.health.down(reason.as_str());
            BreakerChanged {
                open: true,
                reason: reason.as_str().to_owned(),
                error: Some(error.to_owned()),
                fix: fix_for(reason),
            }
            .emit();
        }
        self.changed.notify_waiters();
    }

    fn admission(&self, max: usize) -> Admission {
        let now = Instant::now();
        let mut s = self.lock();
        if let Some(until) = s.paused_until {
            if until > now {
                return Admission::WaitUntil(until);
            }
            s.paused_until = None;
        }
        if !s.open {
            return Admission::Take(max);
        }
        match s.probing {
            Some(started) if now < started + self.probe_timeout => return Admission::WaitForProbe,
            Some(_) => {
                tracing::debug!("probe did not report back, sending another");
                s.probing = None;
            }
            None => {}
        }
        if s.next_probe > now {
            return Admission::WaitUntil(s.next_probe);
        }
        s.probing = Some(now);
        Admission::Take(1)
    }
}

impl Gate for Breaker {
    async fn admit(&self, max: usize) -> usize {
        loop {
            let notified = self.changed.notified();
            match self.admission(max) {
                Admission::Take(n) => return n,
                Admission::WaitUntil(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = notified => {}
                    }
                }
                Admission::WaitForProbe => {
                    // The probe's answer wakes us; the timeout guards a probe that never ran.
                    let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
                }
            }
        }
    }

    fn idle(&self) {
        let mut s = self.lock();
        if s.probing.is_some() {
            // No event came to probe with: try again at the next interval.
            s.probing = None;
            s.next_probe = Instant::now() + s.probe_interval;
        }
    }
}

/// What an operator can do about the failures that open the breaker, when it is on our side.
fn fix_for(reason: Reason) -> Option<&'static str> {
    match reason {
        Reason::RaeMisconfigured => Some(
            "check rae.base_url and rae.store_path (RAE answers 307 to a store path without its \
             trailing slash) and rae.api_key; events wait in JetStream until it is fixed",
        ),
        Reason::RaeUnreachable => Some("check that RAE runs and that rae.base_url points at it"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(
            &WriterConfig {
                breaker_failures: 3,
                breaker_probe_ms: 1_000,
                breaker_probe_max_ms: 4_000,
                ..WriterConfig::default()
            },
            Duration::from_secs(3),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_a_run_of_failures_and_probes_one_at_a_time() {
        let b = breaker();
        assert_eq!(b.admit(8).await, 8);
        b.failure(Reason::RaeUnavailable, None, "RAE answered 503");
        b.failure(Reason::RaeUnavailable, None, "RAE answered 503");
        assert!(!b.is_open());
        b.success();
        b.failure(Reason::RaeUnavailable, None, "RAE answered 503");
        b.failure(Reason::RaeUnavailable, None, "RAE answered 503");
        b.failure(Reason::RaeUnavailable, None, "RAE answered 503");
        assert!(b.is_open());
        let start = Instant::now();
        assert_eq!(b.admit(8).await, 1);
        assert!(start.elapsed() >= Duration::from_secs(1));
        // A failed probe doubles the interval.
        b.failure(Reason::RaeUnavailable, None, "RAE answered 503");
        let start = Instant::now();
        assert_eq!(b.admit(8).await, 1);
        assert!(start.elapsed() >= Duration::from_secs(2));
        b.success();
        assert!(!b.is_open());
        assert_eq!(b.admit(8).await, 8);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_never_reports_back_expires() {
        let b = breaker();
        for _ in 0..3 {
            b.failure(Reason::RaeUnavailable, None, "RAE answered 503");
        }
        assert_eq!(b.admit(8).await, 1);
        // The probe's event was not a write (say, an invalid event): no success, no failure.
        let start = Instant::now();
        assert_eq!(b.admit(8).await, 1);
        assert!(
            start.elapsed() >= Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_everything_until_retry_after() {
        let b = breaker();
        b.failure(
            Reason::RaeThrottled,
            Some(Duration::from_secs(5)),
            "RAE answered 429",
        );
        let start = Instant::now();
        assert_eq!(b.admit(8).await, 8);
        assert!(start.elapsed() >= Duration::from_secs(5));
    }
}
