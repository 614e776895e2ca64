//! The progress of an import: items (published, already there, skipped), requests (and how
//! many the API answered `304 Not Modified`), rate-limit waits and an ETA. On a terminal it is
//! one line on stderr, redrawn at most five times a second; elsewhere a log line every
//! [`LOG_EVERY`] and at the end.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use rae_core::sync::lock;
use rae_core::telemetry::SyncMetrics;

/// How often progress is logged when stderr is not a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// Published: new to the pipeline.
    Published,
    /// Already stored (a webhook or an earlier import brought it).
    Duplicate,
    /// Not worth a memory, or invalid (logged with the reason).
    Skipped,
    /// `--dry-run`: would be published.
    WouldPublish,
}

/// The counts of an import, printed as JSON at its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Events made from items (published, duplicate or, in a dry run, would be published).
    pub items: u64,
    pub published: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub would_publish: u64,
    /// HTTP requests sent to the provider, retries included.
    pub requests: u64,
    /// Requests answered `304 Not Modified` (a page unchanged since the last import).
    pub not_modified: u64,
    pub pages: u64,
    pub rate_limit_waits: u64,
    pub rate_limit_wait_secs: f64,
    pub seconds: f64,
}

#[derive(Debug, Default)]
struct State {
    summary: Summary,
    expected_pages: u64,
    last_shown: Option<Instant>,
    drawn: bool,
}

/// Progress of one import run; shared by reference between its tasks.
#[derive(Debug)]
pub struct Progress {
    label: String,
    tty: bool,
    started: Instant,
    state: Mutex<State>,
    /// A periodic sync's metrics, counted as items and waits happen.
    metrics: Option<SyncMetrics>,
}

impl Progress {
    /// `label` names the import (`github`, `slack`); `tty` draws a line instead of logging.
    pub fn new(label: impl Into<String>, tty: bool) -> Progress {
        Progress {
            label: label.into(),
            tty,
            started: Instant::now(),
            state: Mutex::new(State::default()),
            metrics: None,
        }
    }

    /// Also counts items and rate-limit waits in `metrics` (a periodic sync's run).
    pub fn counting(mut self, metrics: SyncMetrics) -> Progress {
        self.metrics = Some(metrics);
        self
    }

    /// One request sent; `not_modified` when answered 304.
    pub fn request(&self, not_modified: bool) {
        self.update(|s| {
            s.summary.requests += 1;
            s.summary.not_modified += u64::from(not_modified);
        });
    }

    /// A listing says it has `pages` pages (GitHub's `Link: rel="last"`), for the ETA.
    pub fn expect_pages(&self, pages: u64) {
        self.update(|s| s.expected_pages += pages);
    }

    /// One page finished (its items published, its cursor stored).
    pub fn page(&self) {
        self.update(|s| s.summary.pages += 1);
    }

    pub fn item(&self, item: Item) {
        if let Some(metrics) = &self.metrics {
            match item {
                Item::Published => metrics.event("published"),
                Item::Duplicate => metrics.event("duplicate"),
                Item::Skipped => metrics.event("skipped"),
                Item::WouldPublish => {}
            }
        }
        self.update(|s| {
            let c = &mut s.summary;
            match item {
                Item::Published => c.published += 1,
                Item::Duplicate => c.duplicates += 1,
                Item::Skipped => c.skipped += 1,
                Item::WouldPublish => c.would_publish += 1,
            }
            c.items = c.published + c.duplicates + c.would_publish;
        });
    }

    /// A wait for a rate limit, logged at once (it may be long).
    pub fn rate_limited(&self, wait: Duration, why: &str) {
        tracing::info!(
            import = %self.label,
            wait_secs = wait.as_secs_f64(),
            why,
            "rate limited, waiting"
        );
        if let Some(metrics) = &self.metrics {
            metrics.rate_limit_wait();
        }
        self.update(|s| {
            s.summary.rate_limit_waits += 1;
            s.summary.rate_limit_wait_secs += wait.as_secs_f64();
        });
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        let mut summary = lock(&self.state).summary.clone();
        summary.seconds = self.started.elapsed().as_secs_f64();
        summary
    }

    /// Ends the terminal line, or logs the last counts.
    pub fn finish(&self) {
        let mut state = lock(&self.state);
        if self.tty {
            if state.drawn {
                let line = self.line(&state);
                eprint!("\r\x1b[2K{line}\n");
            }
        } else {
            self.log(&state);
        }
        state.drawn = false;
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        let mut state = lock(&self.state);
        change(&mut state);
        let every = if self.tty { REDRAW_EVERY } else { LOG_EVERY };
        let due = state.last_shown.is_none_or(|at| at.elapsed() >= every);
        if !due {
            return;
        }
        state.last_shown = Some(Instant::now());
        if self.tty {
            let line = self.line(&state);
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
            state.drawn = true;
        } else if state.summary.requests > 1 {
            self.log(&state);
        }
    }

    fn log(&self, state: &State) {
        let s = &state.summary;
        tracing::info!(
            import = %self.label,
            items = s.items,
            published = s.published,
            duplicates = s.duplicates,
            skipped = s.skipped,
            requests = s.requests,
            not_modified = s.not_modified,
            rate_limit_waits = s.rate_limit_waits,
            eta_secs = eta(self.started.elapsed(), s.pages, state.expected_pages).map(|d| d.as_secs()),
            "import progress"
        );
    }

    fn line(&self, state: &State) -> String {
        let s = &state.summary;
        let eta = eta(self.started.elapsed(), s.pages, state.expected_pages)
            .map(|d| format!(", ETA {}", clock(d)))
            .unwrap_or_default();
        format!(
            "{}: {} items ({} new, {} already stored, {} skipped), {} requests ({} unchanged), {} rate-limit waits ({}){eta}",
            self.label,
            s.items,
            s.published + s.would_publish,
            s.duplicates,
            s.skipped,
            s.requests,
            s.not_modified,
            s.rate_limit_waits,
            clock(Duration::from_secs_f64(s.rate_limit_wait_secs)),
        )
    }
}

/// Time left at the pace so far, when the pages to come are known.
fn eta(elapsed: Duration, done: u64, expected: u64) -> Option<Duration> {
    if done == 0 || expected <= done {
        return None;
    }
    let per_page = elapsed.as_secs_f64() / done as f64;
    Some(Duration::from_secs_f64(per_page * (expected - done) as f64))
}

/// `1:02:03` or `2:03`.
fn clock(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_follows_the_pace_of_the_pages_done() {
        assert_eq!(eta(Duration::from_secs(10), 0, 10), None);
        assert_eq!(eta(Duration::from_secs(10), 5, 5), None);
        assert_eq!(
            eta(Duration::from_secs(10), 5, 10),
            Some(Duration::from_secs(10))
        );
        assert_eq!(clock(Duration::from_secs(62)), "1:02");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn counts_add_up() {
        let p = Progress::new("github", false);
        p.request(false);
        p.request(true);
        p.item(Item::Published);
        p.item(Item::Duplicate);
        p.item(Item::Skipped);
        p.rate_limited(Duration::from_secs(2), "test");
        let s = p.summary();
        assert_eq!((s.requests, s.not_modified), (2, 1));
        assert_eq!(
            (s.items, s.published, s.duplicates, s.skipped),
            (2, 1, 1, 1)
        );
        assert_eq!(s.rate_limit_waits, 1);
        assert_eq!(s.rate_limit_wait_secs, 2.0);
    }
}
