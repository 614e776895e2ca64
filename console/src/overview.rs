//! The overview: RAE's reachability and the writer's breaker, the consumers' lag, each
//! integration's requests, errors, last activity and health over the last minutes, and the dead
//! letters by stage and reason; refreshed live by the page's script. The readings are the
//! core's ([`rae_core::status`], [`rae_core::activity`]).

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use rae_core::activity::MINUTES;
use rae_core::dead_letter::{self, Filter, Scan, Stage};
use rae_core::status;

use crate::web::{render, when, Chrome};
use crate::Console;

const NAV: &str = "Overview";
const REFRESH_SECS: u64 = 10;

struct ConsumerRow {
    name: String,
    stream: String,
    pending: String,
    ack_pending: String,
    error: String,
}

struct IntegrationRow {
    id: String,
    status: &'static str,
    class: &'static str,
    requests: u64,
    errors: u64,
    last_activity: String,
    error: String,
}

#[derive(Template)]
#[template(path = "overview_status.html")]
struct StatusFragment {
    rae_state: &'static str,
    rae_class: &'static str,
    rae_error: Option<String>,
    breaker: String,
    breaker_class: &'static str,
    consumers: Vec<ConsumerRow>,
    minutes: usize,
    integrations: Vec<IntegrationRow>,
    dead_total: usize,
    dead_counted: usize,
    dead_capped: bool,
    dead: Vec<(&'static str, String, u64)>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    refresh_secs: u64,
    status_html: String,
}

fn class_of(status: &str) -> &'static str {
    match status {
        "healthy" => "status-good",
        "degraded" | "unknown" => "status-warn",
        _ => "status-bad",
    }
}

/// Reads everything the overview shows, for `key`'s tenants.
async fn fragment(console: &Console, key: &rae_core::api_keys::ApiKey) -> StatusFragment {
    let now = OffsetDateTime::now_utc();
    let (rae, consumers) = tokio::join!(status::rae(&console.rae), status::consumers(&console.bus));
    let reachable = rae["reachable"].as_bool().unwrap_or(false);
    let (breaker, breaker_class) = match &console.rae_health {
        Some(health) => {
            let (state, _, error) = health.report();
            let text = match error {
                Some(e) => format!("{state}: {e}"),
                None => state.to_owned(),
            };
            (text, class_of(state))
        }
        None => (
            "the writer runs in another process".to_owned(),
            "status-warn",
        ),
    };
    let consumers = consumers
        .iter()
        .map(|c| {
            let n = |k: &str| c[k].as_u64().map(|v| v.to_string()).unwrap_or_default();
            ConsumerRow {
                name: c["name"].as_str().unwrap_or("").to_owned(),
                stream: c["stream"].as_str().unwrap_or("").to_owned(),
                pending: n("pending"),
                ack_pending: n("ack_pending"),
                error: c["error"].as_str().unwrap_or("").to_owned(),
            }
        })
        .collect();
    let summaries = console.activity.summaries(now);
    let connected = console.bus.is_connected();
    let ids: BTreeSet<String> = console
        .config
        .integrations
        .iter()
        .filter(|i| i.enabled)
        .map(|i| i.id.clone())
        .chain(summaries.keys().cloned())
        .collect();
    let integrations = ids
        .into_iter()
        .map(|id| {
            let s = summaries.get(&id).cloned().unwrap_or_default();
            let (state, error) = s.health(now, connected);
            IntegrationRow {
                status: state,
                class: class_of(state),
                requests: s.requests,
                errors: s.errors,
                last_activity: s
                    .last_activity
                    .map(when)
                    .unwrap_or_else(|| "none yet".into()),
                error: error.unwrap_or_default(),
                id,
            }
        })
        .collect();
    let filter = Filter {
        tenant: key.only_tenant().map(str::to_owned),
        ..Filter::default()
    };
    let visible = |l: &dead_letter::DeadLetter| key.allows_tenant(l.tenant());
    let scan = Scan {
        visible: &visible,
        ..Scan::new(&filter, status::MAX_COUNTED)
    };
    let (entries, capped) = match dead_letter::scan(&console.bus, &scan).await {
        Ok(page) => (page.entries, page.next.is_some()),
        Err(_) => (Vec::new(), false),
    };
    let dead = status::by_stage_and_reason(&entries)
        .into_iter()
        .map(|(stage, reason, count)| (Stage::as_str(stage), reason, count))
        .collect();
    StatusFragment {
        rae_state: if reachable { "yes" } else { "no" },
        rae_class: if reachable {
            "status-good"
        } else {
            "status-bad"
        },
        rae_error: rae["error"].as_str().map(str::to_owned),
        breaker,
        breaker_class,
        consumers,
        minutes: MINUTES,
        integrations,
        dead_total: entries.len(),
        dead_counted: entries.len(),
        dead_capped: capped,
        dead,
    }
}

/// `GET /console/overview`.
pub(crate) async fn page(State(console): State<Console>, headers: HeaderMap) -> Response {
    let session = match console.signed(&headers) {
        Ok(session) => session,
        Err(refused) => return refused.into_response(),
    };
    let status_html = fragment(&console, &session.key)
        .await
        .render()
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &OverviewPage {
            chrome: Chrome::of(&session, NAV),
            refresh_secs: REFRESH_SECS,
            status_html,
        },
    )
}

/// `GET /console/overview/status`: the part the page's script refreshes.
pub(crate) async fn status(State(console): State<Console>, headers: HeaderMap) -> Response {
    let session = match console.signed(&headers) {
        Ok(session) => session,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    render(StatusCode::OK, &fragment(&console, &session.key).await)
}
