//! The event trace: paste an event id, a GitHub or Slack URL or an email's Message-ID and see
//! where the event went (accepted, enriched, written to RAE with its memory id, or
//! dead-lettered and why). The finding is the core's ([`rae_core::trace`]).
//!
//! RAE's memory id comes from the writer's memory record ([`rae_core::memory_record`]). A URL
//! is looked up in the record's URL index for each tenant the key sees (events written to RAE),
//! else among the newest events of `RAE_EVENTS` (events not written yet); several events can
//! share one URL (a pull request's opening and its reviews), and the page lists them. A
//! Message-ID gives the event id directly, since email event ids derive from it, the
//! integration and the tenant.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use rae_core::api_keys::ApiKey;
use rae_core::config::IntegrationKind;
use rae_core::memory_record::{By, MemoryRecord, MemoryRecords, Selector};
use rae_core::trace::{self, Match, Trace, SCAN_BOUND};

use crate::web::{self, render, when, Chrome, Refused};
use crate::Console;

const NAV: &str = "Trace";

/// Longest query taken.
const MAX_QUERY: usize = 2048;

pub(crate) struct Step {
    class: &'static str,
    title: String,
    facts: Vec<(&'static str, String)>,
    link: Option<String>,
    link_label: String,
}

#[derive(Template)]
#[template(path = "trace.html")]
struct TracePage {
    chrome: Chrome,
    query: String,
    error: Option<String>,
    matches: Vec<Match>,
    event_id: String,
    steps: Vec<Step>,
    event_json: Option<String>,
    read: u64,
    bound: u64,
}

/// What the operator pasted.
#[derive(Debug, PartialEq, Eq)]
enum Query<'a> {
    Url(&'a str),
    MessageId(&'a str),
    EventId(&'a str),
}

fn classify(q: &str) -> Query<'_> {
    if q.starts_with("https://") || q.starts_with("http://") {
        Query::Url(q)
    } else if q.contains('@') {
        Query::MessageId(q.trim_start_matches('<').trim_end_matches('>'))
    } else {
        Query::EventId(q)
    }
}

/// The tenants `key` sees, by name: its own, or every configured one.
fn tenants_of(console: &Console, key: &ApiKey) -> Vec<String> {
    match key.tenants() {
        Some(t) => t.to_vec(),
        None => {
            let c = &console.config;
            let mut all: Vec<String> = c.tenants.keys().cloned().collect();
            for t in [&c.rae.tenant_id, &c.ingress.default_tenant] {
                if !all.contains(t) {
                    all.push(t.clone());
                }
            }
            all
        }
    }
}

/// `GET /console/trace?q=`.
pub(crate) async fn page(
    State(console): State<Console>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let session = match console.signed(&headers) {
        Ok(session) => session,
        Err(refused) => return refused.into_response(),
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let q = web::field(&pairs, "q").unwrap_or("").trim().to_owned();
    let mut page = TracePage {
        chrome: Chrome::of(&session, NAV),
        query: q.clone(),
        error: None,
        matches: Vec::new(),
        event_id: String::new(),
        steps: Vec::new(),
        event_json: None,
        read: 0,
        bound: SCAN_BOUND,
    };
    if q.is_empty() {
        return render(StatusCode::OK, &page);
    }
    if q.len() > MAX_QUERY || q.contains(char::is_control) {
        page.error = Some(format!(
            "Paste an event id, a URL or a Message-ID of at most {MAX_QUERY} characters."
        ));
        return render(StatusCode::BAD_REQUEST, &page);
    }
    let key = &session.key;
    let only = key.only_tenant();
    let unavailable = |page: &TracePage| {
        Refused::unavailable("The streams")
            .within(&page.chrome)
            .into_response()
    };
    let candidates: Vec<String> = match classify(&q) {
        Query::EventId(id) => vec![id.to_owned()],
        Query::MessageId(message_id) => {
            let mut ids = Vec::new();
            for integration in console.config.integrations_of(IntegrationKind::Email) {
                for tenant in tenants_of(&console, key) {
                    ids.push(rae_core::event::derived_id(
                        &integration.id,
                        &format!("{tenant}\n<{message_id}>"),
                    ));
                }
            }
            if ids.is_empty() {
                page.error = Some(
                    "No email integration is configured, so no event comes from a Message-ID."
                        .into(),
                );
                return render(StatusCode::NOT_FOUND, &page);
            }
            ids
        }
        Query::Url(url) => match by_url(&console, key, url).await {
            Ok(found) => {
                let found: Vec<Match> = found
                    .into_iter()
                    .filter(|m| key.allows_tenant(&m.tenant))
                    .collect();
                match found.as_slice() {
                    [] => {
                        page.error = Some(format!(
                            "No event with this URL among the newest {SCAN_BOUND} events."
                        ));
                        return render(StatusCode::NOT_FOUND, &page);
                    }
                    [one] => vec![one.id.clone()],
                    _ => {
                        page.matches = found;
                        return render(StatusCode::OK, &page);
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %rae_core::telemetry::error_chain(&err), "console: trace by URL failed");
                return unavailable(&page);
            }
        },
    };
    let records = console.bus.memory_records().await.ok();
    let mut best: Option<(Trace, Option<MemoryRecord>)> = None;
    for id in &candidates {
        let record = match &records {
            Some(records) => records
                .get(id)
                .await
                .ok()
                .flatten()
                .filter(|r| key.allows_tenant(&r.tenant)),
            None => None,
        };
        // The id's own time when it has one, else a while before the write.
        let near = trace::id_time(id).or_else(|| {
            record
                .as_ref()
                .map(|r| r.written_at - time::Duration::hours(1))
        });
        match trace::find(&console.bus, id, only, near).await {
            Ok(mut found) => {
                // Another tenant's event is not there for this key.
                if found
                    .accepted
                    .as_ref()
                    .is_some_and(|a| !key.allows_tenant(a.payload["tenant"].as_str().unwrap_or("")))
                {
                    found = Trace {
                        id: found.id,
                        read: found.read,
                        ..Trace::default()
                    };
                }
                found
                    .dead_letters
                    .retain(|e| key.allows_tenant(e.letter.tenant()));
                let any =
                    found.accepted.is_some() || !found.dead_letters.is_empty() || record.is_some();
                page.read += found.read;
                best = Some((found, record));
                if any {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(error = %rae_core::telemetry::error_chain(&err), "console: trace failed");
                return unavailable(&page);
            }
        }
    }
    let Some((found, memory)) = best else {
        return render(StatusCode::NOT_FOUND, &page);
    };
    let status = if found.accepted.is_none() && found.dead_letters.is_empty() && memory.is_none() {
        page.error = Some(format!(
            "No event {} among the newest {SCAN_BOUND} events (or near the time its id carries).",
            found.id
        ));
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    page.event_id = found.id.clone();
    page.steps = steps(&found, memory);
    page.event_json = found
        .enriched
        .as_ref()
        .or(found.accepted.as_ref())
        .map(|f| serde_json::to_string_pretty(&f.payload).unwrap_or_default());
    render(status, &page)
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or("").to_owned()
}

fn list(value: &Value) -> String {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".to_owned())
}

/// The events with `url` that `key` sees: from the memory record's URL index of each of its
/// tenants (events written to RAE), else from the newest events of `RAE_EVENTS`.
async fn by_url(
    console: &Console,
    key: &ApiKey,
    url: &str,
) -> Result<Vec<Match>, rae_core::bus::BusError> {
    let mut found = Vec::new();
    if let Ok(records) = console.bus.memory_records().await {
        found = indexed(&records, &tenants_of(console, key), url).await?;
    }
    if found.is_empty() {
        found = trace::by_url(&console.bus, url, key.only_tenant(), 50).await?;
    }
    Ok(found)
}

/// The written events with `url` of `tenants`, newest first.
async fn indexed(
    records: &MemoryRecords,
    tenants: &[String],
    url: &str,
) -> Result<Vec<Match>, rae_core::bus::BusError> {
    let mut found = Vec::new();
    for tenant in tenants {
        for record in records
            .find(tenant, &Selector::new(By::Url, url.to_owned()))
            .await?
        {
            found.push(Match {
                id: record.event_id,
                kind: record.kind,
                tenant: record.tenant,
                received_at: when(record.written_at),
            });
        }
    }
    found.sort_by(|a, b| b.received_at.cmp(&a.received_at));
    found.truncate(50);
    Ok(found)
}

/// The trace as the steps the page lists.
fn steps(found: &Trace, memory: Option<MemoryRecord>) -> Vec<Step> {
    let mut steps = Vec::new();
    let step = |class, title: &str, facts| Step {
        class,
        title: title.to_owned(),
        facts,
        link: None,
        link_label: String::new(),
    };
    match &found.accepted {
        Some(a) => {
            let e = &a.payload;
            let mut facts = vec![
                ("Received", text(e, "received_at")),
                ("Integration", text(e, "integration")),
                (
                    "Source and kind",
                    format!("{} {}", text(e, "source"), text(e, "kind")),
                ),
                (
                    "Tenant and project",
                    format!("{} / {}", text(e, "tenant"), text(e, "project")),
                ),
                (
                    "Stored in",
                    format!("{} #{} ({})", a.stream, a.sequence, a.subject),
                ),
            ];
            match &found.audit {
                Some(record) => {
                    facts.push(("Decided", text(&record.payload, "at")));
                    facts.push((
                        "Key",
                        record.payload["key_id"]
                            .as_str()
                            .unwrap_or("none (signed or secret-authenticated)")
                            .to_owned(),
                    ));
                }
                None => facts.push((
                    "Key",
                    "no audit record (not an HTTP producer, or older)".into(),
                )),
            }
            steps.push(step("done", "Accepted", facts));
        }
        None => steps.push(step(
            "failed",
            "Accepted: not found",
            vec![("Looked in", "RAE_EVENTS".to_owned())],
        )),
    }
    if found.accepted.is_some() {
        match &found.enriched {
            Some(en) => {
                let e = &en.payload;
                let importance = e["importance"]
                    .as_f64()
                    .map_or("-".to_owned(), |i| format!("{i:.2}"));
                steps.push(step(
                    "done",
                    "Enriched",
                    vec![
                        ("At", when(en.stored_at)),
                        ("Importance", importance),
                        ("Tags", list(&e["tags"])),
                        ("Rules", list(&e["enrichment"]["rules"])),
                        ("Reasons", list(&e["enrichment"]["reasons"])),
                    ],
                ));
            }
            None => steps.push(step(
                "",
                "Enriched: not yet",
                vec![("Waiting in", "RAE_EVENTS for the enricher".to_owned())],
            )),
        }
    }
    if let Some(record) = memory {
        let mut facts = vec![
            ("Memory id", record.memory_id.clone()),
            ("At", when(record.written_at)),
        ];
        if record.memory_id == "duplicate" || record.memory_id == "None" {
            facts.push((
                "Note",
                "RAE took it as a repeat of recent content".to_owned(),
            ));
        }
        if let Some(forgotten) = record.forgotten_at {
            facts.push(("Forgotten", when(forgotten)));
        }
        steps.push(step("done", "Written to RAE", facts));
    } else if found.enriched.is_some() && found.dead_letters.is_empty() {
        steps.push(step(
            "",
            "Written to RAE: not yet",
            vec![("Waiting in", "RAE_ENRICHED for the writer".to_owned())],
        ));
    }
    for entry in &found.dead_letters {
        let l = &entry.letter;
        let mut s = step(
            "failed",
            "Dead-lettered",
            vec![
                ("Stage", l.stage.as_str().to_owned()),
                ("Reason", l.reason.clone()),
                ("Attempts", l.attempts.to_string()),
                ("Failed at", when(l.last_failed_at)),
                (
                    "Error",
                    rae_core::text::clip_chars(&l.error, 300).into_owned(),
                ),
            ],
        );
        s.link = Some(format!("/console/dead-letters/{}", entry.sequence));
        s.link_label = format!("Dead letter {}", entry.sequence);
        steps.push(s);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_urls_message_ids_or_event_ids() {
        assert_eq!(
            classify("https://github.com/o/r/pull/42"),
            Query::Url("https://github.com/o/r/pull/42")
        );
        assert_eq!(
            classify("<CAF=abc@mail.example.com>"),
            Query::MessageId("CAF=abc@mail.example.com")
        );
        assert_eq!(classify("0193a7c2-aaaa"), Query::EventId("0193a7c2-aaaa"));
    }
}
