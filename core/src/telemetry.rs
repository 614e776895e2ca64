//! Logs and metrics: tracing setup, the Prometheus recorder and its own `/metrics` listener, the
//! metric names, and one small struct per notable occurrence whose `emit()` logs
//! and counts together, so a log line and its metric never disagree.

use crate::dead_letter::{Reason, Stage};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Metric names. Labels come from closed sets only.
pub mod names {
    pub const INTEGRATION_REQUESTS: &str = "rae_integration_requests_total";
    pub const INTEGRATION_LATENCY: &str = "rae_integration_latency_seconds";
    pub const INTEGRATION_ERRORS: &str = "rae_integration_errors_total";
    pub const EVENTS_PUBLISHED: &str = "rae_pipeline_events_published_total";
    pub const EVENTS_ENRICHED: &str = "rae_pipeline_events_enriched_total";
    pub const RAE_WRITES: &str = "rae_pipeline_rae_writes_total";
    pub const RAE_WRITE_SECONDS: &str = "rae_pipeline_rae_write_seconds";
    pub const RETRIES: &str = "rae_pipeline_retries_total";
    pub const DEAD_LETTERS: &str = "rae_pipeline_dead_letters_total";
    pub const DLQ_MESSAGES: &str = "rae_pipeline_dlq_messages";
    pub const CONSUMER_PENDING: &str = "rae_pipeline_consumer_pending";
    pub const END_TO_END_SECONDS: &str = "rae_pipeline_end_to_end_seconds";
    pub const BREAKER_OPEN: &str = "rae_pipeline_breaker_open";
    pub const LLM_ENRICHMENTS: &str = "rae_pipeline_llm_enrichments_total";
    pub const AUDIT_DROPPED: &str = "rae_pipeline_audit_dropped_total";
    pub const WRITE_RECONCILIATIONS: &str = "rae_pipeline_write_reconciliations_total";
    pub const OPEN_CONNECTIONS: &str = "rae_pipeline_ingress_connections";
    pub const CONNECTIONS_REFUSED: &str = "rae_pipeline_ingress_connections_refused_total";
    pub const REDACTIONS: &str = "rae_pipeline_redactions_total";
    pub const REPEATS: &str = "rae_pipeline_repeats_total";
    pub const PERSONAL_DATA: &str = "rae_pipeline_personal_data_total";
    pub const FORGOTTEN: &str = "rae_pipeline_memories_forgotten_total";
    pub const IMPORT_EVENTS: &str = "rae_pipeline_import_events_total";
    pub const IMPORT_RUNS: &str = "rae_pipeline_import_runs_total";
    pub const IMPORT_LAST_SUCCESS: &str = "rae_pipeline_import_last_success_timestamp_seconds";
    pub const IMPORT_INTERVAL: &str = "rae_pipeline_import_interval_seconds";
    pub const IMPORT_RATE_LIMIT_WAITS: &str = "rae_pipeline_import_rate_limit_waits_total";

    /// Every metric the code exports (dashboards and alerts may only use these).
    pub const ALL: &[&str] = &[
        INTEGRATION_REQUESTS,
        INTEGRATION_LATENCY,
        INTEGRATION_ERRORS,
        EVENTS_PUBLISHED,
        EVENTS_ENRICHED,
        RAE_WRITES,
        RAE_WRITE_SECONDS,
        RETRIES,
        DEAD_LETTERS,
        DLQ_MESSAGES,
        CONSUMER_PENDING,
        END_TO_END_SECONDS,
        BREAKER_OPEN,
        LLM_ENRICHMENTS,
        AUDIT_DROPPED,
        WRITE_RECONCILIATIONS,
        OPEN_CONNECTIONS,
        CONNECTIONS_REFUSED,
        REDACTIONS,
        REPEATS,
        PERSONAL_DATA,
        FORGOTTEN,
        IMPORT_EVENTS,
        IMPORT_RUNS,
        IMPORT_LAST_SUCCESS,
        IMPORT_INTERVAL,
        IMPORT_RATE_LIMIT_WAITS,
    ];
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Sets up `tracing` on stderr; `RUST_LOG` overrides the default `info` level.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=warn,rmcp=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let ms = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let long = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                300.0, 600.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(names::INTEGRATION_LATENCY.into()), &ms)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(names::RAE_WRITE_SECONDS.into()), &ms)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(names::END_TO_END_SECONDS.into()), &long)
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            // A recorder set earlier (tests) keeps working; this handle then renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            register_closed_series();
            handle
        })
        .clone()
}

/// Every series whose labels come from a closed set, at zero: a counter that first appears on
/// its first increment gives dashboards "No data" and `rate()` alerts nothing to fire on.
fn register_closed_series() {
    for source in crate::event::Source::ALL {
        metrics::counter!(names::EVENTS_PUBLISHED, "source" => source.as_str()).absolute(0);
    }
    metrics::counter!(names::EVENTS_ENRICHED).absolute(0);
    for outcome in ["stored", "duplicate", "retry", "rejected"] {
        metrics::counter!(names::RAE_WRITES, "outcome" => outcome).absolute(0);
    }
    for stage in [Stage::Enrich, Stage::Write, Stage::Ingress] {
        // The ingress dead-letters unmappable bodies at once and never retries.
        if stage != Stage::Ingress {
            metrics::counter!(names::RETRIES, "stage" => stage.as_str()).absolute(0);
        }
        for reason in stage.dead_letter_reasons() {
            metrics::counter!(
                names::DEAD_LETTERS,
                "stage" => stage.as_str(),
                "reason" => reason.as_str()
            )
            .absolute(0);
        }
    }
    metrics::counter!(names::AUDIT_DROPPED).absolute(0);
    for outcome in WriteReconciled::OUTCOMES {
        metrics::counter!(names::WRITE_RECONCILIATIONS, "outcome" => outcome).absolute(0);
    }
    metrics::gauge!(names::BREAKER_OPEN).set(0.0);
    metrics::counter!(names::CONNECTIONS_REFUSED).absolute(0);
    for source in crate::event::Source::ALL {
        metrics::counter!(names::REPEATS, "source" => source.as_str()).absolute(0);
    }
    for kind in crate::sensitive::Kind::CREDENTIALS {
        metrics::counter!(names::REDACTIONS, "kind" => kind.as_str()).absolute(0);
    }
}

/// Serves `GET /metrics` on its own listener until `token` is cancelled.
///
/// # Errors
/// The bind error when the address is taken.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    token: CancellationToken,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(token.cancelled_owned())
        .await
}

/// Why a listener could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{what} address {addr:?} is not an address like 0.0.0.0:8080")]
    NotAnAddress {
        what: String,
        addr: String,
        #[source]
        source: std::net::AddrParseError,
    },
    #[error("cannot listen for {what} on {addr}")]
    Listen {
        what: String,
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// Binds a listener for `what` (`metrics`, `the ingress`) on `addr`.
///
/// # Errors
/// [`BindError`] naming the address that is not one or could not be bound.
pub async fn bind(addr: &str, what: &str) -> Result<tokio::net::TcpListener, BindError> {
    let parsed: SocketAddr = addr.parse().map_err(|source| BindError::NotAnAddress {
        what: what.to_owned(),
        addr: addr.to_owned(),
        source,
    })?;
    tokio::net::TcpListener::bind(parsed)
        .await
        .map_err(|source| BindError::Listen {
            what: what.to_owned(),
            addr: addr.to_owned(),
            source,
        })
}

/// An ingress request was answered.
pub struct IntegrationRequest<'a> {
    pub integration: &'a str,
    /// `success`, `ignored` (authentic input that is not stored) or the error code answered.
    pub status: &'static str,
    pub latency: Duration,
}

impl IntegrationRequest<'_> {
    pub fn emit(self) {
        let integration = self.integration.to_owned();
        metrics::counter!(names::INTEGRATION_REQUESTS, "integration" => integration.clone(), "status" => self.status)
            .increment(1);
        metrics::histogram!(names::INTEGRATION_LATENCY, "integration" => integration.clone())
            .record(self.latency.as_secs_f64());
        if !matches!(self.status, "success" | "ignored") {
            metrics::counter!(names::INTEGRATION_ERRORS, "integration" => integration, "error_type" => self.status)
                .increment(1);
        }
    }
}

/// An event was stored in `RAE_EVENTS` by a producer.
pub struct EventPublished<'a> {
    pub event_id: &'a str,
    pub source: crate::event::Source,
    pub subject: &'a str,
    pub duplicate: bool,
}

impl EventPublished<'_> {
    pub fn emit(self) {
        tracing::debug!(
            event_id = self.event_id,
            subject = self.subject,
            duplicate = self.duplicate,
            "event published"
        );
        if !self.duplicate {
            metrics::counter!(names::EVENTS_PUBLISHED, "source" => self.source.as_str())
                .increment(1);
        }
    }
}

/// An event went to the dead-letter stream.
pub struct EventDeadLettered<'a> {
    pub event_id: &'a str,
    pub stage: Stage,
    pub reason: Reason,
    pub error: &'a str,
    pub attempts: u64,
}

impl EventDeadLettered<'_> {
    pub fn emit(self) {
        tracing::warn!(
            event_id = self.event_id,
            stage = self.stage.as_str(),
            reason = self.reason.as_str(),
            error = self.error,
            attempts = self.attempts,
            "event dead-lettered"
        );
        metrics::counter!(
            names::DEAD_LETTERS,
            "stage" => self.stage.as_str(),
            "reason" => self.reason.as_str()
        )
        .increment(1);
    }
}

/// A stage will try an event again later.
pub struct EventRetried<'a> {
    pub event_id: &'a str,
    pub stage: Stage,
    pub reason: Reason,
    pub delay: Duration,
}

impl EventRetried<'_> {
    pub fn emit(self) {
        tracing::info!(
            event_id = self.event_id,
            stage = self.stage.as_str(),
            reason = self.reason.as_str(),
            delay_ms = self.delay.as_millis() as u64,
            "event will be retried"
        );
        metrics::counter!(names::RETRIES, "stage" => self.stage.as_str()).increment(1);
    }
}

/// A request to RAE finished, one way or another.
pub struct RaeWrite<'a> {
    pub event_id: &'a str,
    /// `stored`, `duplicate`, `retry` or `rejected`.
    pub outcome: &'static str,
    pub elapsed: Duration,
    /// Time from the producer receiving the event, for stored events.
    pub end_to_end: Option<Duration>,
}

impl RaeWrite<'_> {
    pub fn emit(self) {
        tracing::debug!(
            event_id = self.event_id,
            outcome = self.outcome,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "rae write"
        );
        metrics::counter!(names::RAE_WRITES, "outcome" => self.outcome).increment(1);
        metrics::histogram!(names::RAE_WRITE_SECONDS).record(self.elapsed.as_secs_f64());
        if let Some(e2e) = self.end_to_end {
            metrics::histogram!(names::END_TO_END_SECONDS).record(e2e.as_secs_f64());
        }
    }
}

/// The writer deleted a stored memory from RAE for a forget (`deleted`), or found RAE no longer
/// had it (`absent`).
pub struct MemoryForgotten<'a> {
    /// The forgetting event.
    pub by: &'a str,
    /// The event whose memory it was.
    pub event_id: &'a str,
    pub memory_id: &'a str,
    pub source: &'a str,
    /// `deleted` or `absent`.
    pub outcome: &'static str,
}

impl MemoryForgotten<'_> {
    pub fn emit(self) {
        tracing::info!(
            by = self.by,
            event_id = self.event_id,
            memory_id = self.memory_id,
            outcome = self.outcome,
            "memory forgotten"
        );
        metrics::counter!(names::FORGOTTEN, "source" => self.source.to_owned(), "outcome" => self.outcome)
            .increment(1);
    }
}

/// A message came back to the writer after an earlier write of it started, and how that was
/// settled: `journal` (stored before, acked without writing), `found` (the lost write is in
/// RAE), `absent` (it is not: written now), `undecided` (RAE's answer could not tell: written
/// now, perhaps a second time).
pub struct WriteReconciled<'a> {
    pub event_id: &'a str,
    pub outcome: &'static str,
}

impl WriteReconciled<'_> {
    pub const OUTCOMES: [&'static str; 4] = ["journal", "found", "absent", "undecided"];

    pub fn emit(self) {
        if self.outcome == "undecided" {
            tracing::warn!(
                event_id = self.event_id,
                "an earlier write's outcome is unknown and RAE's newest memories do not settle it; writing again, which may store it twice"
            );
        } else {
            tracing::debug!(
                event_id = self.event_id,
                outcome = self.outcome,
                "earlier write reconciled"
            );
        }
        metrics::counter!(names::WRITE_RECONCILIATIONS, "outcome" => self.outcome).increment(1);
    }
}

/// The metrics of one integration's periodic import (`sync_interval_secs`), labelled with its
/// id: events by outcome, rate-limit waits, runs by outcome, the time of the last successful
/// run and the interval. The one-off `rae-pipeline import` counts none (its process exits
/// before any scrape).
#[derive(Debug, Clone)]
pub struct SyncMetrics {
    integration: String,
}

impl SyncMetrics {
    /// What happened to an imported item: `published`, `duplicate` (already stored) or
    /// `skipped` (not worth a memory, or invalid).
    pub const EVENT_OUTCOMES: [&'static str; 3] = ["published", "duplicate", "skipped"];
    /// How a run ended.
    pub const RUN_OUTCOMES: [&'static str; 2] = ["ok", "failed"];

    /// The sync of `integration` starts: its counters at zero (so rates and alerts see it
    /// before its first run ends) and its interval. The last-success gauge stays absent until
    /// a run succeeds.
    pub fn start(integration: &str, interval: Duration) -> SyncMetrics {
        let integration = integration.to_owned();
        for outcome in Self::EVENT_OUTCOMES {
            metrics::counter!(names::IMPORT_EVENTS, "integration" => integration.clone(), "outcome" => outcome)
                .increment(0);
        }
        for outcome in Self::RUN_OUTCOMES {
            metrics::counter!(names::IMPORT_RUNS, "integration" => integration.clone(), "outcome" => outcome)
                .increment(0);
        }
        metrics::counter!(names::IMPORT_RATE_LIMIT_WAITS, "integration" => integration.clone())
            .increment(0);
        metrics::gauge!(names::IMPORT_INTERVAL, "integration" => integration.clone())
            .set(interval.as_secs_f64());
        SyncMetrics { integration }
    }

    /// An item was published, was a duplicate or was skipped (one of [`Self::EVENT_OUTCOMES`]).
    pub fn event(&self, outcome: &'static str) {
        metrics::counter!(names::IMPORT_EVENTS, "integration" => self.integration.clone(), "outcome" => outcome)
            .increment(1);
    }

    /// The import waited for a provider's rate limit.
    pub fn rate_limit_wait(&self) {
        metrics::counter!(names::IMPORT_RATE_LIMIT_WAITS, "integration" => self.integration.clone())
            .increment(1);
    }

    /// A run ended; a successful one sets the last-success time to now.
    pub fn run(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        metrics::counter!(names::IMPORT_RUNS, "integration" => self.integration.clone(), "outcome" => outcome)
            .increment(1);
        if ok {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
            metrics::gauge!(names::IMPORT_LAST_SUCCESS, "integration" => self.integration.clone())
                .set(now);
        }
    }
}

/// Lets a warning through at most once a second, so a flood (a full queue, refused
/// connections) logs a line a second instead of one per occurrence.
#[derive(Debug, Default)]
pub struct OncePerSecond(std::sync::atomic::AtomicI64);

impl OncePerSecond {
    /// Runs `log` unless it ran during this second already.
    pub fn run(&self, log: impl FnOnce()) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if self.0.swap(now, std::sync::atomic::Ordering::Relaxed) != now {
            log();
        }
    }
}

/// The ingress's connections: open now, and refused past `ingress.max_connections`.
pub struct IngressConnection;

impl IngressConnection {
    pub fn opened() {
        metrics::gauge!(names::OPEN_CONNECTIONS).increment(1.0);
    }

    pub fn closed() {
        metrics::gauge!(names::OPEN_CONNECTIONS).decrement(1.0);
    }

    pub fn refused() {
        metrics::counter!(names::CONNECTIONS_REFUSED).increment(1);
    }
}

/// The writer's breaker opened or closed.
pub struct BreakerChanged {
    pub open: bool,
    pub reason: String,
    /// The failure that opened it (status, method and URL, or the connection error).
    pub error: Option<String>,
    /// What the operator can do, when the cause is on our side.
    pub fix: Option<&'static str>,
}

impl BreakerChanged {
    pub fn emit(self) {
        if self.open {
            tracing::warn!(
                reason = %self.reason,
                error = self.error.as_deref().unwrap_or(""),
                fix = self.fix.unwrap_or(""),
                "rae unavailable, breaker open: pausing writes"
            );
        } else {
            tracing::info!("rae available again, breaker closed");
        }
        metrics::gauge!(names::BREAKER_OPEN).set(if self.open { 1.0 } else { 0.0 });
    }
}
/// `err` and its sources, joined with ": " (what `{:#}` of anyhow prints), skipping a source
/// whose text its parent already ends with: for log lines about an error.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series `line` (`name{labels}`) in a Prometheus rendering.
    fn value(rendered: &str, line: &str) -> Option<f64> {
        rendered
            .lines()
            .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn a_sync_counts_per_integration_and_sets_its_last_success() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let before = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
        metrics::with_local_recorder(&recorder, || {
            let github = SyncMetrics::start("gh", Duration::from_secs(300));
            let slack = SyncMetrics::start("sl", Duration::from_secs(60));
            github.event("published");
            github.event("published");
            github.event("duplicate");
            github.rate_limit_wait();
            github.run(false);
            github.run(true);
            slack.run(false);
        });
        let text = handle.render();
        for (line, expected) in [
            (
                r#"rae_pipeline_import_events_total{integration="gh",outcome="published"}"#,
                2.0,
            ),
            (
                r#"rae_pipeline_import_events_total{integration="gh",outcome="duplicate"}"#,
                1.0,
            ),
            (
                r#"rae_pipeline_import_events_total{integration="gh",outcome="skipped"}"#,
                0.0,
            ),
            (
                r#"rae_pipeline_import_events_total{integration="sl",outcome="published"}"#,
                0.0,
            ),
            (
                r#"rae_pipeline_import_rate_limit_waits_total{integration="gh"}"#,
                1.0,
            ),
            (
                r#"rae_pipeline_import_rate_limit_waits_total{integration="sl"}"#,
                0.0,
            ),
            (
                r#"rae_pipeline_import_runs_total{integration="gh",outcome="ok"}"#,
                1.0,
            ),
            (
                r#"rae_pipeline_import_runs_total{integration="gh",outcome="failed"}"#,
                1.0,
            ),
            (
                r#"rae_pipeline_import_runs_total{integration="sl",outcome="ok"}"#,
                0.0,
            ),
            (
                r#"rae_pipeline_import_runs_total{integration="sl",outcome="failed"}"#,
                1.0,
            ),
            (
                r#"rae_pipeline_import_interval_seconds{integration="gh"}"#,
                300.0,
            ),
            (
                r#"rae_pipeline_import_interval_seconds{integration="sl"}"#,
                60.0,
            ),
        ] {
            assert_eq!(value(&text, line), Some(expected), "{line} in:\n{text}");
        }
        let last = value(
            &text,
            r#"rae_pipeline_import_last_success_timestamp_seconds{integration="gh"}"#,
        )
        .unwrap_or_default();
        assert!(last >= before, "{last} < {before}:\n{text}");
        // Never succeeded: no time at all, rather than 1970.
        assert!(
            !text.contains(
                r#"rae_pipeline_import_last_success_timestamp_seconds{integration="sl"}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn error_chain_says_a_cause_once_when_its_parent_quotes_it() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot listen for SMTP on 127.0.0.1:25: {0}")]
        struct Quoting(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("cannot build email integration email")]
        struct Outer(#[source] Quoting);
        let err = Outer(Quoting(std::io::Error::other("address in use")));
        assert_eq!(
            error_chain(&err),
            "cannot build email integration email: cannot listen for SMTP on 127.0.0.1:25: address in use"
        );
    }
}
