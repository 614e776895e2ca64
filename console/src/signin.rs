//! Signing in with an API key (`console:read`) and out. A failed sign-in makes no session and
//! is audited; so is each sign-in and sign-out, with the key's id.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use time::OffsetDateTime;

use askama::Template;
use rae_core::api_keys::KeyError;
use rae_core::audit::Outcome;
use rae_core::config::Scope;

use crate::web::{self, render, Chrome, Refused, COOKIE};
use crate::Console;

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn {
    chrome: Chrome,
    error: Option<String>,
}

/// `GET /console/sign-in`.
pub(crate) async fn form(State(console): State<Console>, headers: HeaderMap) -> Response {
    if console.signed(&headers).is_ok() {
        return Redirect::to(crate::HOME).into_response();
    }
    render(
        StatusCode::OK,
        &SignIn {
            chrome: Chrome::signed_out(),
            error: None,
        },
    )
}

fn refuse(status: StatusCode, error: &str) -> Response {
    render(
        status,
        &SignIn {
            chrome: Chrome::signed_out(),
            error: Some(error.to_owned()),
        },
    )
}

/// The `Set-Cookie` of a session: `HttpOnly`, `SameSite=Strict`, the console's path, `Secure`
/// with `console.secure_cookie`; `max_age` 0 removes it.
fn session_cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `POST /console/sign-in` with `key`.
pub(crate) async fn sign_in(State(console): State<Console>, body: Bytes) -> Response {
    let form = match web::form(&body) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let presented = web::field(&form, "key").unwrap_or("");
    let key = match console.keys.find(presented, OffsetDateTime::now_utc()) {
        Ok(key) => key.clone(),
        Err(err) => {
            let (reason, message) = match &err {
                KeyError::Expired(_) => ("expired", "This key has expired."),
                KeyError::Missing => ("unauthorized", "Enter an API key."),
                _ => ("unauthorized", "This key is not valid."),
            };
            let key_id = match &err {
                KeyError::Expired(id) => Some(id.as_str()),
                _ => None,
            };
            console.audit_key_id("sign_in", Outcome::Rejected, Some(reason), key_id);
            return refuse(StatusCode::UNAUTHORIZED, message);
        }
    };
    if !key.has(Scope::ConsoleRead) {
        console.audit("sign_in", Outcome::Rejected, Some("forbidden"), &key);
        return refuse(
            StatusCode::FORBIDDEN,
            "This key may not use the console: it lacks the scope console:read.",
        );
    }
    console.audit("sign_in", Outcome::Answered, None, &key);
    tracing::info!(key_id = %key.id, "console sign-in");
    let token = rae_core::sync::lock(&console.sessions).start(key, Instant::now());
    let c = &console.config.console;
    let mut response = Redirect::to(crate::HOME).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, c.session_max_secs, c.secure_cookie),
    );
    response
}

/// `POST /console/sign-out`.
pub(crate) async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = web::form(&body).and_then(|form| console.signed_post(&headers, &form, "sign_out"));
    let session = match result {
        Ok(session) => session,
        Err(Refused::SignIn) => return Redirect::to("/console/sign-in").into_response(),
        Err(refused) => return refused.into_response(),
    };
    if let Some(token) = web::cookie(&headers, COOKIE) {
        rae_core::sync::lock(&console.sessions).end(token);
    }
    console.audit("sign_out", Outcome::Answered, None, &session.key);
    let mut response = Redirect::to("/console/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, console.config.console.secure_cookie),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let c = session_cookie("abc", 60, false);
        assert_eq!(
            c.to_str().unwrap(),
            "rae_console=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert!(session_cookie("abc", 60, true)
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
    }
}
