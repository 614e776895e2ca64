//! The console's plain routes: its home, its embedded stylesheet and script, and its 404.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::web::{Chrome, Refused};
use crate::Console;

/// `/console`: the overview when signed in, else the sign-in page.
pub(crate) async fn home(State(console): State<Console>, headers: HeaderMap) -> Response {
    match console.signed(&headers) {
        Ok(_) => Redirect::to(crate::HOME).into_response(),
        Err(refused) => refused.into_response(),
    }
}

const STYLESHEET: &str = include_str!("../assets/console.css");
const SCRIPT: &str = include_str!("../assets/console.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// Anything else under `/console`.
pub(crate) async fn not_found(State(console): State<Console>, headers: HeaderMap) -> Response {
    let refused = Refused::page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page in the console.",
    );
    match console.signed(&headers) {
        Ok(session) => refused.within(&Chrome::of(&session, "")),
        Err(_) => refused,
    }
    .into_response()
}
