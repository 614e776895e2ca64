//! What every page shares: the security headers, the session cookie, the signed-in check and
//! the CSRF check, the page chrome, form parsing, refusals as HTML pages, and audit records.

use std::time::Instant;

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use time::OffsetDateTime;

use rae_core::api_keys::ApiKey;
use rae_core::audit::{Outcome, Record};
use rae_core::config::Scope;
use rae_core::signature::constant_time_eq;

use crate::session::Session;
use crate::{Console, INTEGRATION};

/// Largest form body the console reads (a page's selection of dead letters is far smaller).
pub(crate) const MAX_FORM_BYTES: usize = 64 * 1024;

/// Name of the session cookie.
pub(crate) const COOKIE: &str = "rae_console";

/// Headers on every console answer: no framing, no sniffing, no caching of pages, and only the
/// console's own script and stylesheet.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The page parts every signed-in page shows: the navigation, the key, the CSRF token.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chrome {
    /// The key's id, once signed in.
    pub(crate) signed_in: Option<String>,
    pub(crate) csrf: String,
    /// The navigation entry of this page.
    pub(crate) current: &'static str,
    /// The key may replay and purge (`dlq:admin`).
    pub(crate) can_act: bool,
    /// The tenants the key sees.
    pub(crate) tenants: Vec<String>,
    pub(crate) all_tenants: bool,
}

impl Chrome {
    pub(crate) fn signed_out() -> Chrome {
        Chrome::default()
    }

    pub(crate) fn of(session: &Session, current: &'static str) -> Chrome {
        let tenants = session.key.tenants().map(<[String]>::to_vec);
        Chrome {
            signed_in: Some(session.key.id.clone()),
            csrf: session.csrf.clone(),
            current,
            can_act: session.key.has(Scope::DlqAdmin),
            all_tenants: tenants.is_none(),
            tenants: tenants.unwrap_or_default(),
        }
    }

    /// True for the navigation entry of this page.
    pub(crate) fn is_current(&self, label: &str) -> bool {
        self.current == label
    }

    /// The navigation: (href, label).
    pub(crate) fn nav(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("/console/overview", "Overview"),
            ("/console/dead-letters", "Dead letters"),
            ("/console/trace", "Trace"),
            ("/console/tail", "Live tail"),
        ]
    }
}

/// A page that only says something (an error, a result).
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct Message {
    pub(crate) chrome: Chrome,
    pub(crate) heading: String,
    pub(crate) text: String,
    pub(crate) error: bool,
    pub(crate) link: Option<(String, String)>,
}

/// Renders `page` with `status`.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "console page not rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// Why a console request is not answered with its page.
#[derive(Debug)]
pub(crate) enum Refused {
    /// No live session: a page asks to sign in.
    SignIn,
    /// Answered with `status` and a message page (`chrome` when signed in).
    Page {
        status: StatusCode,
        heading: &'static str,
        text: String,
        chrome: Box<Chrome>,
    },
}

impl Refused {
    pub(crate) fn page(status: StatusCode, heading: &'static str, text: impl Into<String>) -> Self {
        Refused::Page {
            status,
            heading,
            text: text.into(),
            chrome: Box::default(),
        }
    }

    /// The same refusal, shown inside the signed-in chrome.
    pub(crate) fn within(self, chrome: &Chrome) -> Self {
        match self {
            Refused::Page {
                status,
                heading,
                text,
                ..
            } => Refused::Page {
                status,
                heading,
                text,
                chrome: Box::new(chrome.clone()),
            },
            other => other,
        }
    }

    pub(crate) fn bad_request(text: impl Into<String>) -> Self {
        Refused::page(StatusCode::BAD_REQUEST, "Bad request", text)
    }

    pub(crate) fn unavailable(what: &str) -> Self {
        Refused::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not available",
            format!("{what} cannot be read right now (is NATS up?). Try again in a moment."),
        )
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn => Redirect::to("/console/sign-in").into_response(),
            Refused::Page {
                status,
                heading,
                text,
                chrome,
            } => render(
                status,
                &Message {
                    link: chrome
                        .signed_in
                        .is_none()
                        .then(|| ("/console/sign-in".to_owned(), "Sign in".to_owned())),
                    chrome: *chrome,
                    heading: heading.to_owned(),
                    text,
                    error: true,
                },
            ),
        }
    }
}

/// A form body as name/value pairs, in order (a name may repeat: `seq=1&seq=2`).
pub(crate) fn form(body: &[u8]) -> Result<Vec<(String, String)>, Refused> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| Refused::bad_request(format!("the form could not be read: {e}")))
}

/// The first value of `name` in a form.
pub(crate) fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Console {
    /// The live session of the request's cookie.
    ///
    /// # Errors
    /// [`Refused::SignIn`] without one (none, expired, or its key expired since).
    pub(crate) fn signed(&self, headers: &HeaderMap) -> Result<Session, Refused> {
        let token = cookie(headers, COOKIE).ok_or(Refused::SignIn)?;
        let session = rae_core::sync::lock(&self.sessions)
            .touch(token, Instant::now())
            .ok_or(Refused::SignIn)?;
        if session.key.check_expiry(OffsetDateTime::now_utc()).is_err() {
            rae_core::sync::lock(&self.sessions).end(token);
            return Err(Refused::SignIn);
        }
        Ok(session)
    }

    /// The signed-in session of a form post whose `csrf` field is the session's token.
    ///
    /// # Errors
    /// [`Refused::SignIn`] without a session (401: a form cannot be redirected and replayed),
    /// 403 when the token is missing or wrong (audited).
    pub(crate) fn signed_post(
        &self,
        headers: &HeaderMap,
        form: &[(String, String)],
        operation: &str,
    ) -> Result<Session, Refused> {
        let session = self.signed(headers).map_err(|_| {
            Refused::page(
                StatusCode::UNAUTHORIZED,
                "Signed out",
                "Your session has ended: sign in again, then repeat the action.",
            )
        })?;
        let given = field(form, "csrf").unwrap_or("");
        if !constant_time_eq(given.as_bytes(), session.csrf.as_bytes()) {
            self.audit(operation, Outcome::Rejected, Some("csrf"), &session.key);
            return Err(Refused::page(
                StatusCode::FORBIDDEN,
                "Refused",
                "The form did not carry this session's CSRF token (it may come from another site, \
                 or from a page open before you signed in again). Reload the page and try again.",
            )
            .within(&Chrome::of(&session, "")));
        }
        Ok(session)
    }

    /// Records a console decision in `RAE_AUDIT` with the key's id.
    pub(crate) fn audit(
        &self,
        operation: &str,
        outcome: Outcome,
        reason: Option<&str>,
        key: &ApiKey,
    ) {
        self.audit_key_id(operation, outcome, reason, Some(&key.id));
    }

    /// [`Console::audit`] for a decision whose key may be unknown (a failed sign-in).
    pub(crate) fn audit_key_id(
        &self,
        operation: &str,
        outcome: Outcome,
        reason: Option<&str>,
        key_id: Option<&str>,
    ) {
        self.auditor.record(Record {
            at: OffsetDateTime::now_utc(),
            integration: INTEGRATION.to_owned(),
            operation: Some(operation.to_owned()),
            outcome,
            reason: reason.map(str::to_owned),
            tenant: None,
            key_id: key_id.map(str::to_owned),
            event_id: None,
            repeated: None,
            until: None,
        });
    }
}

/// An RFC 3339 time, to the second, for pages.
pub(crate) fn when(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; rae_console=tok".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn forms_keep_repeated_names() {
        let f = form(b"csrf=x&seq=1&seq=2").unwrap();
        assert_eq!(field(&f, "csrf"), Some("x"));
        assert_eq!(f.iter().filter(|(k, _)| k == "seq").count(), 2);
    }
}
