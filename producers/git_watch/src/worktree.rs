//! Debouncing uncommitted edits (pure: time comes in as arguments).
//!
//! Each poll feeds what the working tree shows for watched paths. A path is reported once its
//! state has been the same for the debounce time (its mtime that long ago, or the same state
//! seen for that long), so an editor's burst of saves becomes one event, and not again until
//! it changes once more. What is dirty when the watcher starts is the baseline, not news: the
//! commit that follows reports it. A path that becomes clean (committed or reverted) is
//! forgotten.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::scan::{Fingerprint, Observed};

/// The state of watched working-tree paths between polls.
#[derive(Debug, Default)]
pub struct Debouncer {
    /// Taken on the first observation.
    baseline_taken: bool,
    /// Paths whose state changed and is not reported yet: the state and when it was first seen.
    pending: HashMap<Vec<u8>, (Fingerprint, Instant)>,
    /// The state last reported (or the baseline) per path.
    reported: HashMap<Vec<u8>, Fingerprint>,
}

impl Debouncer {
    /// Feeds one observation; answers the paths whose new state has settled.
    pub fn observe(
        &mut self,
        observed: &[Observed],
        now: Instant,
        wall_now: SystemTime,
        debounce: Duration,
    ) -> Vec<Observed> {
        if !self.baseline_taken {
            self.baseline_taken = true;
            self.reported = observed
                .iter()
                .map(|o| (o.raw.clone(), o.fingerprint.clone()))
                .collect();
            return Vec::new();
        }
        let seen: std::collections::HashSet<&[u8]> =
            observed.iter().map(|o| o.raw.as_slice()).collect();
        self.reported
            .retain(|path, _| seen.contains(path.as_slice()));
        self.pending
            .retain(|path, _| seen.contains(path.as_slice()));
        let mut settled = Vec::new();
        for o in observed {
            if self.reported.get(&o.raw) == Some(&o.fingerprint) {
                self.pending.remove(&o.raw);
                continue;
            }
            let since = match self.pending.get(&o.raw) {
                Some((fingerprint, since)) if *fingerprint == o.fingerprint => *since,
                _ => {
                    self.pending
                        .insert(o.raw.clone(), (o.fingerprint.clone(), now));
                    now
                }
            };
            let quiet_on_disk = o
                .fingerprint
                .modified
                .and_then(|m| wall_now.duration_since(m).ok())
                .is_some_and(|age| age >= debounce);
            let quiet_here = now.duration_since(since) >= debounce;
            if quiet_on_disk || quiet_here {
                settled.push(o.clone());
            }
        }
        settled
    }

    /// Records that `observed` was reported (after the JetStream ack).
    pub fn reported(&mut self, observed: &Observed) {
        self.pending.remove(&observed.raw);
        self.reported
            .insert(observed.raw.clone(), observed.fingerprint.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(path: &str, size: u64, modified: SystemTime) -> Observed {
        Observed {
            raw: path.as_bytes().to_vec(),
            path: path.into(),
            fingerprint: Fingerprint {
                status: 256,
                size: Some(size),
                modified: Some(modified),
            },
        }
    }

    #[test]
    fn a_burst_of_saves_is_reported_once_after_it_settles() {
        let debounce = Duration::from_secs(1);
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let mut d = Debouncer::default();
        // Dirty at start: the baseline, never reported.
        assert!(d
            .observe(&[seen("old.py", 1, w0)], t0, w0, debounce)
            .is_empty());
        assert!(d
            .observe(&[seen("old.py", 1, w0)], t0, w0, debounce)
            .is_empty());

        // Saved at w0, w0+0.3, w0+0.6: each poll sees a fresh mtime, nothing settles.
        let polls = [(0, 1), (300, 2), (600, 3)];
        for (ms, size) in polls {
            let at = Duration::from_millis(ms);
            let o = [seen("old.py", 1, w0), seen("a.py", size, w0 + at)];
            assert!(d.observe(&o, t0 + at, w0 + at, debounce).is_empty());
        }
        let last = [
            seen("old.py", 1, w0),
            seen("a.py", 3, w0 + Duration::from_millis(600)),
        ];
        let later = Duration::from_millis(1700);
        let settled = d.observe(&last, t0 + later, w0 + later, debounce);
        assert_eq!(settled.len(), 1);
        assert_eq!(settled[0].path, "a.py");
        d.reported(&settled[0]);
        let much_later = Duration::from_secs(10);
        assert!(d
            .observe(&last, t0 + much_later, w0 + much_later, debounce)
            .is_empty());

        // Committed (clean), then edited again: reported again.
        assert!(d.observe(&[], t0 + much_later, w0, debounce).is_empty());
        let again = [seen("a.py", 3, w0 + Duration::from_millis(600))];
        let settled = d.observe(&again, t0 + much_later, w0 + much_later, debounce);
        assert_eq!(settled.len(), 1);
    }

    #[test]
    fn without_a_usable_mtime_the_state_must_hold_for_the_debounce() {
        let debounce = Duration::from_secs(1);
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let mut d = Debouncer::default();
        d.observe(&[], t0, w0, debounce);
        let mut deleted = seen("gone.py", 0, w0);
        deleted.fingerprint.modified = None;
        deleted.fingerprint.size = None;
        assert!(d.observe(&[deleted.clone()], t0, w0, debounce).is_empty());
        let t1 = t0 + Duration::from_millis(1500);
        assert_eq!(d.observe(&[deleted], t1, w0, debounce).len(), 1);
    }
}
