//! What the history importers of GitHub (`github::import`) and Slack (`slack::import`) share:
//! their error type, the page cursors they keep in `rae_state` ([`pages`]), the progress they
//! show ([`progress`]) and the waits for a provider's rate limit ([`wait`]).
//!
//! An importer reads a provider's REST API page by page, turns each item into the event its
//! live webhook would have made (same normalizer, same event id) and publishes it through
//! `Publisher::publish_new_once`, so an item a webhook already brought, or an earlier import,
//! is a duplicate and stored once. A page's cursor is written only after every event of the
//! page was acknowledged by JetStream, so an import stopped at any point resumes at the first
//! page it had not finished.

pub mod pages;
pub mod progress;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use rae_core::bus::PublishError;

pub use pages::{Page, PageCursors};
pub use progress::{Progress, Summary};

use futures::{stream, StreamExt as _, TryStreamExt as _};
use rae_core::bus::{Dedupe, Publisher};
use rae_core::event::Event;

use progress::Item;

/// A periodic import ready to run (`sync_interval_secs`): the task's name and its loop, which
/// ends when the token it was made with is cancelled.
pub struct Periodic {
    /// `github-sync:<integration>` or `slack-sync:<integration>`.
    pub name: String,
    pub run: futures::future::BoxFuture<'static, ()>,
}

/// The periodic imports of every GitHub and Slack integration with `sync_interval_secs`, run
/// beside the ingress that would have received their deliveries.
///
/// # Errors
/// The integration whose sync cannot start, and why (unusable credentials, `rae_state`
/// missing).
pub async fn periodic(
    config: &rae_core::config::Config,
    bus: &rae_core::bus::Bus,
    cancel: &CancellationToken,
) -> Result<Vec<Periodic>, (String, ImportError)> {
    use futures::FutureExt as _;
    use rae_core::config::{GithubConfig, SlackConfig};
    let mut syncs = Vec::new();
    for (integration, _) in config.settings_of::<GithubConfig>() {
        let id = &integration.id;
        let sync = crate::github::import::Sync::build(config, id, bus)
            .await
            .map_err(|e| (id.clone(), e))?;
        syncs.extend(sync.map(|sync| Periodic {
            name: format!("github-sync:{id}"),
            run: sync.run(cancel.child_token()).boxed(),
        }));
    }
    for (integration, _) in config.settings_of::<SlackConfig>() {
        let id = &integration.id;
        let sync = crate::slack::import::Sync::build(config, id, bus)
            .await
            .map_err(|e| (id.clone(), e))?;
        syncs.extend(sync.map(|sync| Periodic {
            name: format!("slack-sync:{id}"),
            run: sync.run(cancel.child_token()).boxed(),
        }));
    }
    Ok(syncs)
}

/// Runs `import` now and then every `interval` until `cancel` (`sync_interval_secs`) for
/// `integration`, each run with a new [`Progress`] named `name`; each run's counts are logged,
/// and a failed run is logged and tried again at the next interval (a page not finished is
/// read again then).
///
/// The metrics of the periodic imports are counted here and in the [`Progress`] given to each
/// run ([`SyncMetrics`](rae_core::telemetry::SyncMetrics)): items and rate-limit waits as they
/// happen, runs by outcome and the time of the last successful run as each ends.
pub async fn every<F, Fut>(
    name: &str,
    integration: &str,
    interval: Duration,
    cancel: &CancellationToken,
    mut import: F,
) where
    F: FnMut(std::sync::Arc<Progress>) -> Fut,
    Fut: std::future::Future<Output = Result<Summary, ImportError>>,
{
    let metrics = rae_core::telemetry::SyncMetrics::start(integration, interval);
    loop {
        let progress = std::sync::Arc::new(Progress::new(name, false).counting(metrics.clone()));
        let outcome = import(progress).await;
        if !matches!(outcome, Err(ImportError::Cancelled)) {
            metrics.run(outcome.is_ok());
        }
        match outcome {
            Ok(s) => tracing::info!(
                sync = name,
                published = s.published,
                duplicates = s.duplicates,
                requests = s.requests,
                not_modified = s.not_modified,
                seconds = s.seconds,
                "sync done"
            ),
            Err(ImportError::Cancelled) => return,
            Err(err) => {
                tracing::warn!(sync = name, error = %err, "sync failed; trying again at the next interval")
            }
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Events published at once, awaiting their acks.
const PUBLISH_CONCURRENCY: usize = 32;

/// Where an import that is not a dry run publishes, and keeps its page cursors.
pub struct Sink {
    pub publisher: Publisher,
    pub dedupe: Dedupe,
    pub cursors: PageCursors,
}

impl Sink {
    /// The sink of an import on `bus`, its page cursors under `cursors` in `rae_state`
    /// (`github.<integration>`).
    ///
    /// # Errors
    /// [`ImportError`] when `rae_dedupe` or `rae_state` cannot be opened.
    pub async fn open(bus: &rae_core::bus::Bus, cursors: &str) -> Result<Sink, ImportError> {
        Ok(Sink {
            publisher: bus.publisher(),
            dedupe: bus
                .dedupe()
                .await
                .map_err(|e| ImportError::Config(e.to_string()))?,
            cursors: PageCursors::open(bus, cursors).await?,
        })
    }
}

/// Publishes `events` through `sink` (deduplicated by id: an item a webhook or an earlier
/// import brought is counted a duplicate), or, without a sink (a dry run), prints them.
///
/// # Errors
/// [`ImportError`] when an event is not acknowledged.
pub async fn publish(
    sink: Option<&Sink>,
    progress: &Progress,
    events: Vec<Event>,
) -> Result<(), ImportError> {
    let Some(sink) = sink else {
        for event in &events {
            println!("{}", serde_json::to_string(event).unwrap_or_default());
            progress.item(Item::WouldPublish);
        }
        return Ok(());
    };
    stream::iter(events)
        .map(|event| async move {
            let published = sink
                .publisher
                .publish_new_once(&event, &sink.dedupe)
                .await?;
            progress.item(if published.duplicate {
                Item::Duplicate
            } else {
                Item::Published
            });
            Ok::<(), ImportError>(())
        })
        .buffer_unordered(PUBLISH_CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Stopped by the caller (Ctrl-C, shutdown); pages not finished are read again next time.
    #[error("import stopped before it finished; run it again to resume")]
    Cancelled,
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} answered {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered what is not the documented JSON: {message}")]
    Shape { url: String, message: String },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("{0}")]
    Config(String),
    #[error("cursor bucket {bucket}: {message} (run `rae-pipeline setup`)")]
    Cursor { bucket: String, message: String },
    #[error("publish: {0}")]
    Publish(#[from] PublishError),
}

impl ImportError {
    /// True for a mistake the user fixes (config, credentials, a repository or channel that does
    /// not exist or is not readable), as opposed to a failure at run time.
    pub fn is_usage(&self) -> bool {
        match self {
            ImportError::Config(_) | ImportError::Auth(_) => true,
            ImportError::Status { status, .. } => matches!(status, 401 | 403 | 404),
            _ => false,
        }
    }
}

/// Waits `duration`, or returns [`ImportError::Cancelled`] when `cancel` fires first.
///
/// # Errors
/// [`ImportError::Cancelled`].
pub async fn wait(duration: Duration, cancel: &CancellationToken) -> Result<(), ImportError> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(ImportError::Cancelled),
        () = tokio::time::sleep(duration) => Ok(()),
    }
}

/// A `Retry-After` header in seconds (the form GitHub and Slack send), at most `cap`.
pub fn retry_after(headers: &reqwest::header::HeaderMap, cap: Duration) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|secs| Duration::from_secs(secs).min(cap))
}

/// The delay before attempt `attempt` (from 1) after a transient failure: 1 s, 2 s, 4 s, ...
/// up to 60 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// Attempts of one request after connection errors and 5xx answers before the import stops.
pub const MAX_ATTEMPTS: u32 = 5;

/// The longest single rate-limit wait honoured; a longer `Retry-After` or reset is cut to it
/// and the request asked again.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers, MAX_WAIT), None);
        headers.insert("retry-after", "30".parse().unwrap());
        assert_eq!(
            retry_after(&headers, MAX_WAIT),
            Some(Duration::from_secs(30))
        );
        headers.insert("retry-after", "99999".parse().unwrap());
        assert_eq!(retry_after(&headers, MAX_WAIT), Some(MAX_WAIT));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, MAX_WAIT), None);
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }

    /// Two runs of a sync: the first publishes two items and fails, the second publishes one,
    /// finds one already stored, waits for a rate limit and succeeds; then it is stopped.
    #[test]
    fn every_counts_a_syncs_runs_and_items() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let cancel = CancellationToken::new();
        let runs = AtomicU32::new(0);
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(every(
                "test sync",
                "gh",
                Duration::from_secs(60),
                &cancel,
                |progress| {
                    let run = runs.fetch_add(1, Ordering::SeqCst);
                    let cancel = cancel.clone();
                    async move {
                        progress.item(Item::Published);
                        if run == 0 {
                            progress.item(Item::Published);
                            return Err(ImportError::Unreachable {
                                url: "http://api".into(),
                                message: "connection refused".into(),
                            });
                        }
                        progress.item(Item::Duplicate);
                        progress.item(Item::Skipped);
                        progress.rate_limited(Duration::from_secs(1), "test");
                        cancel.cancel();
                        Ok(progress.summary())
                    }
                },
            ))
        });
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        let text = handle.render();
        for (line, expected) in [
            (
                r#"rae_pipeline_import_events_total{integration="gh",outcome="published"} "#,
                "3",
            ),
            (
                r#"rae_pipeline_import_events_total{integration="gh",outcome="duplicate"} "#,
                "1",
            ),
            (
                r#"rae_pipeline_import_events_total{integration="gh",outcome="skipped"} "#,
                "1",
            ),
            (
                r#"rae_pipeline_import_rate_limit_waits_total{integration="gh"} "#,
                "1",
            ),
            (
                r#"rae_pipeline_import_runs_total{integration="gh",outcome="ok"} "#,
                "1",
            ),
            (
                r#"rae_pipeline_import_runs_total{integration="gh",outcome="failed"} "#,
                "1",
            ),
            (
                r#"rae_pipeline_import_interval_seconds{integration="gh"} "#,
                "60",
            ),
        ] {
            assert!(
                text.contains(&format!("{line}{expected}\n")),
                "{line}{expected} in:\n{text}"
            );
        }
        assert!(
            text.contains(
                r#"rae_pipeline_import_last_success_timestamp_seconds{integration="gh"} "#
            ),
            "{text}"
        );
    }

    /// A run stopped by the shutdown is neither a success nor a failure.
    #[test]
    fn a_cancelled_run_is_not_counted() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let cancel = CancellationToken::new();
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(every(
                "test sync",
                "gh",
                Duration::from_secs(60),
                &cancel,
                |_| async { Err(ImportError::Cancelled) },
            ))
        });
        let text = handle.render();
        for outcome in ["ok", "failed"] {
            let line = format!(
                r#"rae_pipeline_import_runs_total{{integration="gh",outcome="{outcome}"}} 0"#
            );
            assert!(text.contains(&line), "{line} in:\n{text}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_early_when_cancelled() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(matches!(
            wait(Duration::from_secs(3600), &cancel).await,
            Err(ImportError::Cancelled)
        ));
        assert!(wait(Duration::from_secs(5), &CancellationToken::new())
            .await
            .is_ok());
    }
}
