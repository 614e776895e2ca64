//! Dead letters: the filtered, paged list; one dead letter in full; and replay or purge of the
//! selected ones or of every one matching the filter, always through a dry run that shows the
//! count first. The reading and the operations are the core's ([`rae_core::dead_letter`]),
//! the same as `rae-pipeline dlq` and the `/api/v1/dlq` routes.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use rae_core::api_keys::ApiKey;
use rae_core::audit::Outcome;
use rae_core::config::Scope;
use rae_core::dead_letter::{self, DeadLetter, Entry, Filter, Operation, Reason, Scan, Stage};
use rae_core::event::Source;

use crate::web::{self, render, when, Chrome, Refused};
use crate::Console;

/// Most dead letters one action (replay or purge) takes, as the `/api/v1/dlq` routes.
const MAX_ACTION: usize = 10_000;
/// Most dead letters one selection on a page names.
const MAX_SELECTED: usize = 500;
/// Rows a dry run lists.
const DRY_RUN_ROWS: usize = 20;

const NAV: &str = "Dead letters";

/// The filter as the page's form and links carry it.
#[derive(Debug, Default, Clone)]
pub(crate) struct FilterForm {
    pub(crate) stage: String,
    pub(crate) reason: String,
    pub(crate) source: String,
    pub(crate) tenant: String,
    pub(crate) since: String,
    pub(crate) until: String,
}

impl FilterForm {
    fn from_pairs(pairs: &[(String, String)]) -> FilterForm {
        let get = |name| web::field(pairs, name).unwrap_or("").trim().to_owned();
        FilterForm {
            stage: get("stage"),
            reason: get("reason"),
            source: get("source"),
            tenant: get("tenant"),
            since: get("since"),
            until: get("until"),
        }
    }

    /// The named, non-empty fields (hidden inputs and links).
    pub(crate) fn hidden(&self) -> Vec<(&'static str, String)> {
        [
            ("stage", &self.stage),
            ("reason", &self.reason),
            ("source", &self.source),
            ("tenant", &self.tenant),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }

    /// The list's URL for this filter, from after `after`.
    fn href(&self, after: Option<u64>) -> String {
        let mut pairs = self.hidden();
        if let Some(after) = after {
            pairs.push(("after", after.to_string()));
        }
        match serde_urlencoded::to_string(&pairs) {
            Ok(q) if !q.is_empty() => format!("/console/dead-letters?{q}"),
            _ => "/console/dead-letters".to_owned(),
        }
    }

    /// The core filter, checked; the tenant must be one of `key`'s.
    fn filter(&self, key: &ApiKey) -> Result<Filter, String> {
        let stage = match self.stage.as_str() {
            "" => None,
            "enrich" => Some(Stage::Enrich),
            "write" => Some(Stage::Write),
            other => return Err(format!("stage {other:?}: must be enrich or write")),
        };
        let text = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let mut tenant = text(&self.tenant);
        if let Some(t) = &tenant {
            if !key.allows_tenant(t) {
                return Err(format!("tenant {t:?}: this key may not see it"));
            }
        } else if let Some([only]) = key.tenants() {
            // The server narrows by subject when the filter names the tenant.
            tenant = Some(only.clone());
        }
        Ok(Filter {
            id: None,
            stage,
            reason: text(&self.reason),
            source: text(&self.source),
            tenant,
            since: time_field("since", &self.since)?,
            until: time_field("until", &self.until)?,
        })
    }
}

/// A time from the form: RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` (a browser's local date-time
/// field), taken as UTC.
fn time_field(name: &str, text: &str) -> Result<Option<OffsetDateTime>, String> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(Some(t));
    }
    let text = text.replace(' ', "T");
    let long = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let short = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(&text, long)
        .or_else(|_| time::PrimitiveDateTime::parse(&text, short))
        .map(|t| Some(t.assume_utc()))
        .map_err(|_| format!("{name}: must be a time such as 2026-12-01T08:00 (UTC) or RFC 3339"))
}

/// May `key` see this dead letter (its tenant)?
fn visible(key: &ApiKey) -> impl Fn(&DeadLetter) -> bool + Sync + '_ {
    move |letter: &DeadLetter| key.allows_tenant(letter.tenant())
}

/// One row of the list.
pub(crate) struct Row {
    pub(crate) sequence: u64,
    pub(crate) failed_at: String,
    pub(crate) stage: &'static str,
    pub(crate) reason: String,
    pub(crate) tenant: String,
    pub(crate) source: String,
    pub(crate) attempts: u64,
    pub(crate) preview: String,
    /// Where a replay puts it.
    pub(crate) target: String,
}

impl Row {
    fn of(entry: &Entry) -> Row {
        let l = &entry.letter;
        Row {
            sequence: entry.sequence,
            failed_at: when(l.last_failed_at),
            stage: l.stage.as_str(),
            reason: l.reason.clone(),
            tenant: l.tenant().to_owned(),
            source: l.source().to_owned(),
            attempts: l.attempts,
            preview: l.preview(80),
            target: l.stage.input_subject(l.tenant(), l.source(), l.kind()),
        }
    }
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
struct ListPage {
    chrome: Chrome,
    form: FilterForm,
    error: Option<String>,
    total: Option<u64>,
    page_size: usize,
    stages: Vec<&'static str>,
    reasons: Vec<&'static str>,
    sources: Vec<&'static str>,
    entries: Vec<Entry>,
    rows: Vec<Row>,
    first_seq: u64,
    last_seq: u64,
    has_next: bool,
    first_page: Option<String>,
    next_page: Option<String>,
}

/// Every reason a dead letter can have.
fn reasons() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = [Stage::Enrich, Stage::Write]
        .iter()
        .flat_map(|s| s.dead_letter_reasons().iter().map(|r| Reason::as_str(*r)))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// `GET /console/dead-letters?stage=&reason=&source=&tenant=&since=&until=&after=`.
pub(crate) async fn list(
    State(console): State<Console>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let session = match console.signed(&headers) {
        Ok(session) => session,
        Err(refused) => return refused.into_response(),
    };
    let chrome = Chrome::of(&session, NAV);
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let form = FilterForm::from_pairs(&pairs);
    let after = web::field(&pairs, "after").and_then(|a| a.parse::<u64>().ok());
    let page_size = console.config.console.page_size;
    let mut page = ListPage {
        chrome,
        form: form.clone(),
        error: None,
        total: None,
        page_size,
        stages: vec![Stage::Enrich.as_str(), Stage::Write.as_str()],
        reasons: reasons(),
        sources: Source::ALL.iter().map(|s| s.as_str()).collect(),
        entries: Vec::new(),
        rows: Vec::new(),
        first_seq: 0,
        last_seq: 0,
        has_next: false,
        first_page: None,
        next_page: None,
    };
    let filter = match form.filter(&session.key) {
        Ok(filter) => filter,
        Err(error) => {
            page.error = Some(error);
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let key = &session.key;
    let visible = visible(key);
    let scan = Scan {
        filter: &filter,
        after: after.unwrap_or(0),
        up_to: None,
        limit: page_size,
        visible: &visible,
    };
    let found = match dead_letter::scan(&console.bus, &scan).await {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(error = %rae_core::telemetry::error_chain(&err), "console: RAE_DLQ not readable");
            return Refused::unavailable("The dead letters")
                .within(&page.chrome)
                .into_response();
        }
    };
    if page.chrome.all_tenants {
        page.total = dead_letter::depth(&console.bus).await.ok();
    }
    page.rows = found.entries.iter().map(Row::of).collect();
    page.first_seq = found.entries.first().map_or(0, |e| e.sequence);
    page.last_seq = found.entries.last().map_or(0, |e| e.sequence);
    page.has_next = found.next.is_some();
    page.next_page = found.next.map(|n| form.href(Some(n)));
    page.first_page = after.map(|_| form.href(None));
    page.entries = found.entries;
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "dead_letter.html")]
struct ShowPage {
    chrome: Chrome,
    sequence: u64,
    stage: &'static str,
    reason: String,
    attempts: u64,
    first_failed_at: String,
    last_failed_at: String,
    subject: String,
    event_id: String,
    tenant: String,
    source: String,
    kind: String,
    error: String,
    history: Vec<PastRow>,
    event_json: String,
}

struct PastRow {
    failed_at: String,
    stage: &'static str,
    reason: String,
    attempts: u64,
    error: String,
}

/// `GET /console/dead-letters/{sequence}`.
pub(crate) async fn show(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(sequence): Path<String>,
) -> Response {
    let session = match console.signed(&headers) {
        Ok(session) => session,
        Err(refused) => return refused.into_response(),
    };
    let chrome = Chrome::of(&session, NAV);
    let not_found = || {
        Refused::page(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("There is no dead letter {sequence} (replayed or purged already?)."),
        )
        .within(&chrome)
        .into_response()
    };
    let Ok(number) = sequence.parse::<u64>() else {
        return not_found();
    };
    let entry = match dead_letter::get(&console.bus, number).await {
        Ok(Some(entry)) if session.key.allows_tenant(entry.letter.tenant()) => entry,
        // Another tenant's dead letter is not there for this key.
        Ok(_) => return not_found(),
        Err(err) => {
            tracing::warn!(error = %rae_core::telemetry::error_chain(&err), "console: dead letter not readable");
            return Refused::unavailable("The dead letter")
                .within(&chrome)
                .into_response();
        }
    };
    let l = &entry.letter;
    let page = ShowPage {
        chrome,
        sequence: entry.sequence,
        stage: l.stage.as_str(),
        reason: l.reason.clone(),
        attempts: l.attempts,
        first_failed_at: when(l.first_failed_at),
        last_failed_at: when(l.last_failed_at),
        subject: l.subject.clone(),
        event_id: l.event_id().to_owned(),
        tenant: l.tenant().to_owned(),
        source: l.source().to_owned(),
        kind: l.kind().to_owned(),
        error: l.error.clone(),
        history: l
            .history
            .iter()
            .map(|h| PastRow {
                failed_at: when(h.failed_at),
                stage: h.stage.as_str(),
                reason: h.reason.clone(),
                attempts: h.attempts,
                error: h.error.clone(),
            })
            .collect(),
        event_json: match &l.event {
            serde_json::Value::String(raw) => raw.clone(),
            event => serde_json::to_string_pretty(event).unwrap_or_default(),
        },
    };
    render(StatusCode::OK, &page)
}

/// The dead letters a confirm or apply form chooses, and how to name them again.
struct Chosen {
    operation: Operation,
    action: String,
    entries: Vec<Entry>,
    /// More matched than one action takes.
    capped: bool,
    /// The inputs that choose the same dead letters again (for the apply form).
    hidden: Vec<(&'static str, String)>,
    /// The list page to go back to.
    back: String,
}

/// Reads what `form` chooses: the `seq` values (`*-selected`), or every dead letter matching
/// the filter fields up to the `up_to` sequence (`*-matching`; a dry run fixes `up_to` as the
/// stream's last sequence then).
async fn choose(
    console: &Console,
    key: &ApiKey,
    form: &[(String, String)],
) -> Result<Chosen, Refused> {
    let action = web::field(form, "action").unwrap_or("").to_owned();
    let (operation, matching) = match action.as_str() {
        "replay-selected" => (Operation::Replay, false),
        "purge-selected" => (Operation::Purge, false),
        "replay-matching" => (Operation::Replay, true),
        "purge-matching" => (Operation::Purge, true),
        other => {
            return Err(Refused::bad_request(format!(
                "action {other:?}: must be replay-selected, purge-selected, replay-matching or purge-matching"
            )))
        }
    };
    let filter_form = FilterForm::from_pairs(form);
    let back = filter_form.href(None);
    let visible = visible(key);
    if !matching {
        let mut sequences = Vec::new();
        for (_, value) in form.iter().filter(|(k, _)| k == "seq") {
            let sequence = value.parse::<u64>().map_err(|_| {
                Refused::bad_request(format!("seq {value:?}: not a dead letter id"))
            })?;
            if !sequences.contains(&sequence) {
                sequences.push(sequence);
            }
        }
        if sequences.is_empty() {
            return Err(Refused::bad_request(
                "Select at least one dead letter (the boxes in the list), or act on all matching the filter.",
            ));
        }
        if sequences.len() > MAX_SELECTED {
            return Err(Refused::bad_request(format!(
                "At most {MAX_SELECTED} dead letters can be selected at once; act on all matching a filter instead."
            )));
        }
        let mut entries = Vec::new();
        for sequence in &sequences {
            match dead_letter::get(&console.bus, *sequence).await {
                Ok(Some(entry)) if visible(&entry.letter) => entries.push(entry),
                Ok(_) => {}
                Err(_) => return Err(Refused::unavailable("The dead letters")),
            }
        }
        let hidden = sequences.iter().map(|s| ("seq", s.to_string())).collect();
        return Ok(Chosen {
            operation,
            action,
            entries,
            capped: false,
            hidden,
            back,
        });
    }
    let filter = filter_form.filter(key).map_err(Refused::bad_request)?;
    let up_to = match web::field(form, "up_to").and_then(|u| u.parse::<u64>().ok()) {
        Some(up_to) => up_to,
        None => dead_letter::last_sequence(&console.bus)
            .await
            .map_err(|_| Refused::unavailable("The dead letters"))?,
    };
    let scan = Scan {
        filter: &filter,
        after: 0,
        up_to: Some(up_to),
        limit: MAX_ACTION,
        visible: &visible,
    };
    let found = dead_letter::scan(&console.bus, &scan)
        .await
        .map_err(|_| Refused::unavailable("The dead letters"))?;
    let mut hidden = filter_form.hidden();
    hidden.push(("up_to", up_to.to_string()));
    Ok(Chosen {
        operation,
        action,
        capped: found.next.is_some(),
        entries: found.entries,
        hidden,
        back,
    })
}

/// The signed-in key of an action form, with `dlq:admin`.
fn admin(
    console: &Console,
    headers: &HeaderMap,
    form: &[(String, String)],
    operation: &str,
) -> Result<crate::session::Session, Refused> {
    let session = console.signed_post(headers, form, operation)?;
    if !session.key.has(Scope::DlqAdmin) {
        console.audit(
            operation,
            Outcome::Rejected,
            Some("forbidden"),
            &session.key,
        );
        return Err(Refused::page(
            StatusCode::FORBIDDEN,
            "Refused",
            "This key may look but not act: replay and purge take the scope dlq:admin.",
        )
        .within(&Chrome::of(&session, NAV)));
    }
    Ok(session)
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    verb_title: &'static str,
    done: &'static str,
    op: &'static str,
    action: String,
    count: usize,
    capped: bool,
    rows: Vec<Row>,
    hidden: Vec<(&'static str, String)>,
    back: String,
}

fn verb_title(operation: Operation) -> &'static str {
    match operation {
        Operation::Replay => "Replay",
        Operation::Purge => "Purge",
    }
}

/// `POST /console/dead-letters/confirm`: the dry run. Changes nothing; shows how many dead
/// letters the action would take, and a form to do it.
pub(crate) async fn confirm(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let form = web::form(&body)?;
        let session = admin(&console, &headers, &form, "dlq dry_run")?;
        let key = &session.key;
        let chrome = Chrome::of(&session, NAV);
        let chosen = choose(&console, key, &form)
            .await
            .map_err(|r| r.within(&chrome))?;
        Ok::<_, Refused>(ConfirmPage {
            chrome,
            verb_title: verb_title(chosen.operation),
            done: chosen.operation.done(),
            op: chosen.operation.as_str(),
            action: chosen.action,
            count: chosen.entries.len(),
            capped: chosen.capped,
            rows: chosen
                .entries
                .iter()
                .take(DRY_RUN_ROWS)
                .map(Row::of)
                .collect(),
            hidden: chosen.hidden,
            back: chosen.back,
        })
    }
    .await;
    match result {
        Ok(page) => render(StatusCode::OK, &page),
        Err(refused) => refused.into_response(),
    }
}

/// `POST /console/dead-letters/apply`: replays or purges what the confirmed dry run chose
/// (the same selection, bounded by the dry run's last sequence), audited with the key's id.
pub(crate) async fn apply(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let form = web::form(&body)?;
        let operation_name = match web::field(&form, "action") {
            Some(a) if a.starts_with("purge") => "dlq purge",
            _ => "dlq replay",
        };
        let session = admin(&console, &headers, &form, operation_name)?;
        let key = &session.key;
        let chrome = Chrome::of(&session, NAV);
        let chosen = choose(&console, key, &form)
            .await
            .map_err(|r| r.within(&chrome))?;
        let mut done = 0usize;
        let mut failure = None;
        for entry in &chosen.entries {
            match chosen.operation.apply(&console.bus, entry).await {
                Ok(()) => done += 1,
                Err(err) => {
                    tracing::warn!(error = %err, sequence = entry.sequence, "console: dead-letter action failed");
                    failure = Some(err.to_string());
                    break;
                }
            }
        }
        let verb = chosen.operation.done();
        let summary = format!("{verb} {done}");
        console.audit(
            operation_name,
            if failure.is_some() {
                Outcome::Rejected
            } else {
                Outcome::Answered
            },
            Some(&summary),
            key,
        );
        tracing::info!(key_id = %key.id, count = done, "console: dead letters {verb}");
        let plural = if done == 1 { "" } else { "s" };
        let (status, heading, text) = match failure {
            None => (
                StatusCode::OK,
                "Done",
                format!("{} {done} dead letter{plural}.", capitalized(verb)),
            ),
            Some(err) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Stopped",
                format!(
                    "{} {done} dead letter{plural}, then stopped: {err}. The rest are still in the dead-letter stream.",
                    capitalized(verb)
                ),
            ),
        };
        Ok::<_, Refused>((
            status,
            web::Message {
                chrome,
                heading: heading.to_owned(),
                text,
                error: status != StatusCode::OK,
                link: Some((chosen.back, "Back to the dead letters".to_owned())),
            },
        ))
    }
    .await;
    match result {
        Ok((status, page)) => render(status, &page),
        Err(refused) => refused.into_response(),
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_browsers_local_date_time_as_utc() {
        let t = time_field("since", "2026-12-01T08:00").unwrap().unwrap();
        assert_eq!(when(t), "2026-12-01T08:00:00Z");
        let t = time_field("since", "2026-12-01T08:00:00+01:00")
            .unwrap()
            .unwrap();
        assert_eq!(t, time::macros::datetime!(2026-12-01 07:00 UTC));
        assert!(time_field("until", "yesterday")
            .unwrap_err()
            .starts_with("until:"));
        assert_eq!(time_field("until", "").unwrap(), None);
    }

    #[test]
    fn links_carry_the_filter() {
        let form = FilterForm {
            reason: "rae_rejected".into(),
            tenant: "acme corp".into(),
            ..FilterForm::default()
        };
        assert_eq!(
            form.href(Some(40)),
            "/console/dead-letters?reason=rae_rejected&tenant=acme+corp&after=40"
        );
        assert_eq!(FilterForm::default().href(None), "/console/dead-letters");
    }
}
