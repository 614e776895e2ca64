//! The live tail: messages as they pass a stage, from now on, as Server-Sent Events, with the
//! filters of `rae-pipeline tail` (the subject and the line are the core's,
//! [`rae_core::tail`]). A key sees its tenants' messages only. Streams are bounded in number
//! (`console.max_tails`) and in time (a session's idle time), and end at shutdown.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, BoxStream, StreamExt};
use time::OffsetDateTime;

use rae_core::api_keys::ApiKey;
use rae_core::subjects;
use rae_core::tail::{self, Flow};

use crate::web::{self, render, Chrome};
use crate::Console;

const NAV: &str = "Live tail";

#[derive(Template)]
#[template(path = "tail.html")]
struct TailPage {
    chrome: Chrome,
    flows: Vec<&'static str>,
}

/// `GET /console/tail`.
pub(crate) async fn page(State(console): State<Console>, headers: HeaderMap) -> Response {
    match console.signed(&headers) {
        Ok(session) => render(
            StatusCode::OK,
            &TailPage {
                chrome: Chrome::of(&session, NAV),
                flows: Flow::ALL.iter().map(|f| f.as_str()).collect(),
            },
        ),
        Err(refused) => refused.into_response(),
    }
}

/// One event stream that only says why it ends.
fn refused(text: String) -> Response {
    let once =
        stream::once(
            async move { Ok::<_, Infallible>(Event::default().event("refused").data(text)) },
        );
    Sse::new(once).into_response()
}

/// May `key` see a message of `flow` on `subject` with `payload`?
fn visible(key: &ApiKey, flow: Flow, subject: &str, payload: &[u8]) -> bool {
    let Some(tenants) = key.tenants() else {
        return true;
    };
    let token = match flow.tenant_token() {
        Some(_) => tail::tenant_of(flow, subject).map(str::to_owned),
        None => serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|r| r["tenant"].as_str().map(subjects::token)),
    };
    token.is_some_and(|t| tenants.iter().any(|mine| subjects::token(mine) == t))
}

/// `GET /console/tail/events?flow=&filter=`: Server-Sent Events, one `line` event a message.
pub(crate) async fn events(
    State(console): State<Console>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(session) = console.signed(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let flow_name = web::field(&pairs, "flow").unwrap_or("events");
    let Some(flow) = Flow::parse(flow_name) else {
        return refused(format!(
            "flow {flow_name:?}: must be events, enriched, dlq or audit"
        ));
    };
    let subject = match tail::subject(flow, web::field(&pairs, "filter")) {
        Ok(subject) => subject,
        Err(error) => return refused(error),
    };
    let Ok(permit) = console.tails.clone().try_acquire_owned() else {
        return refused("Too many live tails are open; close one and try again.".into());
    };
    let messages = match console.bus.client.subscribe(subject.clone()).await {
        Ok(messages) => messages,
        Err(_) => return refused("NATS is not reachable; try again in a moment.".into()),
    };
    let key = session.key;
    let lines = messages.filter_map(move |message| {
        let shown = visible(&key, flow, &message.subject, &message.payload).then(|| {
            let now = OffsetDateTime::now_utc();
            let clock = format!(
                "{:02}:{:02}:{:02}.{:03}",
                now.hour(),
                now.minute(),
                now.second(),
                now.millisecond()
            );
            let line = tail::line(flow, &message.payload);
            Ok::<_, Infallible>(
                Event::default()
                    .event("line")
                    .data(format!("{clock} {} {line}", message.subject)),
            )
        });
        async move { shown }
    });
    let lifetime = Duration::from_secs(console.config.console.session_idle_secs);
    let token = console.token.clone();
    let ends = async move {
        tokio::select! {
            () = token.cancelled() => {}
            () = tokio::time::sleep(lifetime) => {}
        }
    };
    let stream: BoxStream<'static, Result<Event, Infallible>> = lines
        .take_until(ends)
        // The permit is held as long as the stream.
        .map(move |e| {
            let _held = &permit;
            e
        })
        .boxed();
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
