//! What each integration of the ingress did lately: requests and errors per minute over the
//! last [`MINUTES`] minutes, the last success and the last error worth showing. The ingress
//! notes every answer here; `/api/v1/integrations/health` and the console's overview read it.
//! Kept in memory by the process that runs the ingress, so it starts empty.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

/// Minutes of counts kept.
pub const MINUTES: usize = 15;

#[derive(Debug, Clone, Default)]
struct Entry {
    last_activity: Option<OffsetDateTime>,
    last_error: Option<(OffsetDateTime, String)>,
    /// `(unix minute, requests, errors)`, indexed by minute modulo [`MINUTES`].
    minutes: [(i64, u64, u64); MINUTES],
}

/// One integration's recent activity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub last_activity: Option<OffsetDateTime>,
    pub last_error: Option<(OffsetDateTime, String)>,
    /// Requests in the last [`MINUTES`] minutes.
    pub requests: u64,
    /// Of those, answered with an error (refused or failed).
    pub errors: u64,
    /// Requests and errors of each of the last [`MINUTES`] minutes, oldest first.
    pub per_minute: Vec<(u64, u64)>,
}

impl Summary {
    /// `(status, error)`: `down` while NATS is not connected, `degraded` after an error worth
    /// showing in the last 5 minutes with no success since, else `healthy`.
    pub fn health(
        &self,
        now: OffsetDateTime,
        nats_connected: bool,
    ) -> (&'static str, Option<String>) {
        let recent = |t: &OffsetDateTime| now - *t < time::Duration::minutes(5);
        let recent_error = self
            .last_error
            .as_ref()
            .filter(|(at, _)| recent(at) && self.last_activity.is_none_or(|ok| ok < *at));
        if !nats_connected {
            ("down", Some("NATS is not connected".to_owned()))
        } else if let Some((_, e)) = recent_error {
            ("degraded", Some(e.clone()))
        } else {
            ("healthy", None)
        }
    }
}

/// The activity of every integration; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<Mutex<HashMap<String, Entry>>>);

fn minute(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(60)
}

impl Activity {
    /// Notes one answer of `integration` at `now`: a success, or an error (`shown`: the text
    /// health reports, for errors that say something is wrong on our side; refusals of bad
    /// input count without one).
    pub fn note(&self, integration: &str, now: OffsetDateTime, ok: bool, shown: Option<String>) {
        let mut all = crate::sync::lock(&self.0);
        // Looked up before inserting: the id is copied once per integration, not per request.
        if !all.contains_key(integration) {
            all.insert(integration.to_owned(), Entry::default());
        }
        let Some(entry) = all.get_mut(integration) else {
            return;
        };
        let m = minute(now);
        let slot = &mut entry.minutes[m.rem_euclid(MINUTES as i64) as usize];
        if slot.0 != m {
            *slot = (m, 0, 0);
        }
        slot.1 += 1;
        if ok {
            entry.last_activity = Some(now);
        } else {
            slot.2 += 1;
            if let Some(text) = shown {
                entry.last_error = Some((now, text));
            }
        }
    }

    /// What each integration did, as of `now`.
    pub fn summaries(&self, now: OffsetDateTime) -> BTreeMap<String, Summary> {
        let all = crate::sync::lock(&self.0);
        let current = minute(now);
        all.iter()
            .map(|(id, entry)| {
                let per_minute: Vec<(u64, u64)> = (0..MINUTES as i64)
                    .rev()
                    .map(|ago| {
                        let m = current - ago;
                        match entry.minutes[m.rem_euclid(MINUTES as i64) as usize] {
                            (at, requests, errors) if at == m => (requests, errors),
                            _ => (0, 0),
                        }
                    })
                    .collect();
                let summary = Summary {
                    last_activity: entry.last_activity,
                    last_error: entry.last_error.clone(),
                    requests: per_minute.iter().map(|m| m.0).sum(),
                    errors: per_minute.iter().map(|m| m.1).sum(),
                    per_minute,
                };
                (id.clone(), summary)
            })
            .collect()
    }

    /// What `integration` did, as of `now`.
    pub fn summary(&self, integration: &str, now: OffsetDateTime) -> Summary {
        self.summaries(now).remove(integration).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_kept_per_minute_for_fifteen_minutes() {
        let activity = Activity::default();
        let t0 = OffsetDateTime::from_unix_timestamp(1_764_500_000).unwrap();
        activity.note("memory", t0, true, None);
        activity.note("memory", t0, false, None);
        activity.note(
            "memory",
            t0 + time::Duration::minutes(3),
            false,
            Some("x".into()),
        );
        let now = t0 + time::Duration::minutes(3);
        let s = activity.summary("memory", now);
        assert_eq!((s.requests, s.errors), (3, 2));
        assert_eq!(s.per_minute.len(), MINUTES);
        assert_eq!(s.per_minute[MINUTES - 1], (1, 1));
        assert_eq!(s.per_minute[MINUTES - 4], (2, 1));
        assert_eq!(s.last_activity, Some(t0));
        assert_eq!(s.last_error.unwrap().1, "x");
        // Twenty minutes on, the counts are gone; the last times stay.
        let later = activity.summary("memory", t0 + time::Duration::minutes(20));
        assert_eq!((later.requests, later.errors), (0, 0));
        assert_eq!(later.last_activity, Some(t0));
        assert_eq!(activity.summary("other", now), Summary::default());
    }
}
