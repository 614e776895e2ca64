//! The REST API client of the importer: authentication (a token, or a GitHub App's
//! installation token made from its JWT and refreshed before it expires), conditional requests
//! (`If-None-Match`), pagination (`Link`), and GitHub's rate limits as documented: the primary
//! limit (`x-ratelimit-remaining` 0: wait for `x-ratelimit-reset`) and secondary limits (403 or
//! 429 with `Retry-After`, else a minute and more) are waited out, never failed on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, ETAG, IF_NONE_MATCH, LINK, USER_AGENT};
use reqwest::StatusCode;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use rae_core::config::Secret;

use super::app_auth::AppKey;
use crate::import::progress::Progress;
use crate::import::{backoff, retry_after, wait, ImportError, MAX_ATTEMPTS, MAX_WAIT};

/// GitHub's documented API version.
pub const API_VERSION: &str = "2022-11-28";
/// A request's time limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// An installation token is renewed when it has less than this left.
const RENEW_BEFORE_SECS: i64 = 5 * 60;
/// A secondary limit without `Retry-After`: GitHub asks for at least a minute.
const SECONDARY_WAIT: Duration = Duration::from_secs(60);
/// Bytes of an error body quoted in a message.
const QUOTED_BYTES: usize = 300;

/// How the importer authenticates.
pub enum Credentials {
    /// A personal access token or any bearer token.
    Token(Secret),
    /// A GitHub App: its id and private key.
    App { app_id: u64, key: Box<AppKey> },
    /// No authentication (public repositories, 60 requests an hour).
    Anonymous,
}

/// Whose installation a request runs under: the owner of a repository or an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Repo { owner: String, name: String },
    Org(String),
}

impl Target {
    fn owner(&self) -> String {
        match self {
            Target::Repo { owner, .. } | Target::Org(owner) => owner.to_ascii_lowercase(),
        }
    }
}

/// One answer.
#[derive(Debug)]
pub enum Fetched {
    Page {
        body: Value,
        etag: Option<String>,
        /// `Link: rel="next"`.
        next: Option<String>,
        /// The page number of `Link: rel="last"`.
        last: Option<u64>,
    },
    /// `304 Not Modified`: the page is what it was when its `ETag` was stored.
    NotModified,
}

struct Installation {
    token: Secret,
    expires_at: OffsetDateTime,
}

/// The REST client.
pub struct Api {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    progress: Arc<Progress>,
    cancel: CancellationToken,
    /// Installation tokens by owner (lowercase login).
    installations: Mutex<HashMap<String, Installation>>,
    /// When the primary limit is used up: the time it resets.
    exhausted_until: Mutex<Option<OffsetDateTime>>,
}

impl Api {
    /// # Errors
    /// [`ImportError::Config`] when the HTTP client cannot be built.
    pub fn new(
        base: &str,
        credentials: Credentials,
        progress: Arc<Progress>,
        cancel: CancellationToken,
    ) -> Result<Api, ImportError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ImportError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
            credentials,
            progress,
            cancel,
            installations: Mutex::new(HashMap::new()),
            exhausted_until: Mutex::new(None),
        })
    }

    /// The absolute URL of an API path (`/repos/o/r/issues?...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `url` (conditionally when `etag` is given) for `target`.
    ///
    /// # Errors
    /// [`ImportError::Status`] for an answer that waiting does not change (401, 403 that is not
    /// a rate limit, 404, 422), [`ImportError::Unreachable`] after [`MAX_ATTEMPTS`] failed
    /// attempts, [`ImportError::Cancelled`].
    pub async fn get(
        &self,
        url: &str,
        target: &Target,
        etag: Option<&str>,
    ) -> Result<Fetched, ImportError> {
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            self.wait_for_primary_limit().await?;
            let authorization = self.authorization(target).await?;
            let mut request = self.request(reqwest::Method::GET, url);
            if let Some(authorization) = &authorization {
                request = request.header(AUTHORIZATION, authorization);
            }
            if let Some(etag) = etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            let sent = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(ImportError::Cancelled),
                sent = request.send() => sent,
            };
            attempt += 1;
            let response = match sent {
                Ok(response) => response,
                Err(err) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(url, error = %err, attempt, "GitHub request failed, retrying");
                    self.progress.request(false);
                    wait(backoff(attempt), &self.cancel).await?;
                    continue;
                }
                Err(err) => {
                    return Err(ImportError::Unreachable {
                        url: url.to_owned(),
                        message: err.to_string(),
                    })
                }
            };
            let status = response.status();
            self.progress.request(status == StatusCode::NOT_MODIFIED);
            let headers = response.headers().clone();
            self.note_primary_limit(&headers).await;
            match status {
                StatusCode::NOT_MODIFIED => return Ok(Fetched::NotModified),
                s if s.is_success() => {
                    let text = self.body(response, url).await?;
                    let body = serde_json::from_str(&text).map_err(|e| ImportError::Shape {
                        url: url.to_owned(),
                        message: e.to_string(),
                    })?;
                    let (next, last) = links(header(&headers, LINK).unwrap_or(""));
                    return Ok(Fetched::Page {
                        body,
                        etag: header(&headers, ETAG).map(str::to_owned),
                        next,
                        last,
                    });
                }
                StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => {
                    let text = self.body(response, url).await.unwrap_or_default();
                    match limit_wait(status, &headers, &text, attempt, OffsetDateTime::now_utc()) {
                        Some((delay, why)) => {
                            self.progress.rate_limited(delay, why);
                            wait(delay, &self.cancel).await?;
                        }
                        None => return Err(status_error(url, status, &text)),
                    }
                }
                StatusCode::UNAUTHORIZED
                    if !renewed && matches!(self.credentials, Credentials::App { .. }) =>
                {
                    // An installation token revoked or expired early: make a new one once.
                    self.installations.lock().await.remove(&target.owner());
                    renewed = true;
                }
                s if s.is_server_error() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(
                        url,
                        status = s.as_u16(),
                        attempt,
                        "GitHub answered a server error, retrying"
                    );
                    wait(backoff(attempt), &self.cancel).await?;
                }
                s => {
                    let text = self.body(response, url).await.unwrap_or_default();
                    return Err(status_error(url, s, &text));
                }
            }
        }
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(
                USER_AGENT,
                concat!("rae-pipeline/", env!("CARGO_PKG_VERSION")),
            )
    }

    async fn body(&self, response: reqwest::Response, url: &str) -> Result<String, ImportError> {
        response.text().await.map_err(|e| ImportError::Unreachable {
            url: url.to_owned(),
            message: e.to_string(),
        })
    }

    async fn wait_for_primary_limit(&self) -> Result<(), ImportError> {
        let until = *self.exhausted_until.lock().await;
        if let Some(until) = until {
            let left = until - OffsetDateTime::now_utc();
            if left.is_positive() {
                let delay = Duration::try_from(left).unwrap_or_default().min(MAX_WAIT);
                self.progress
                    .rate_limited(delay, "primary rate limit used up");
                wait(delay, &self.cancel).await?;
            }
            *self.exhausted_until.lock().await = None;
        }
        Ok(())
    }

    async fn note_primary_limit(&self, headers: &HeaderMap) {
        let remaining =
            header(headers, "x-ratelimit-remaining").and_then(|v| v.parse::<u64>().ok());
        let reset = header(headers, "x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok());
        if let (Some(0), Some(reset)) = (remaining, reset) {
            // One second more: the reset time is rounded down.
            *self.exhausted_until.lock().await =
                OffsetDateTime::from_unix_timestamp(reset + 1).ok();
        }
    }

    /// The `Authorization` header for `target`.
    async fn authorization(&self, target: &Target) -> Result<Option<String>, ImportError> {
        match &self.credentials {
            Credentials::Anonymous => Ok(None),
            Credentials::Token(token) => Ok(Some(format!("Bearer {}", token.expose()))),
            Credentials::App { app_id, key } => {
                let mut installations = self.installations.lock().await;
                let now = OffsetDateTime::now_utc();
                let owner = target.owner();
                let fresh = installations
                    .get(&owner)
                    .is_some_and(|i| (i.expires_at - now).whole_seconds() > RENEW_BEFORE_SECS);
                if !fresh {
                    let jwt = key
                        .jwt(*app_id, now.unix_timestamp())
                        .map_err(ImportError::Auth)?;
                    let installation = self.installation(target, &jwt).await?;
                    installations.insert(owner.clone(), installation);
                }
                Ok(installations
                    .get(&owner)
                    .map(|i| format!("Bearer {}", i.token.expose())))
            }
        }
    }

    /// Finds the app's installation on `target` and makes an access token for it.
    async fn installation(&self, target: &Target, jwt: &str) -> Result<Installation, ImportError> {
        let path = match target {
            Target::Repo { owner, name } => format!("/repos/{owner}/{name}/installation"),
            Target::Org(org) => format!("/orgs/{org}/installation"),
        };
        let found = self
            .app_call(reqwest::Method::GET, &self.url(&path), jwt)
            .await?;
        let id = found
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| ImportError::Shape {
                url: self.url(&path),
                message: "no installation id".into(),
            })?;
        let url = self.url(&format!("/app/installations/{id}/access_tokens"));
        let made = self.app_call(reqwest::Method::POST, &url, jwt).await?;
        let token = made.get("token").and_then(Value::as_str);
        let expires_at = made
            .get("expires_at")
            .and_then(Value::as_str)
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        match (token, expires_at) {
            (Some(token), Some(expires_at)) => {
                tracing::debug!(installation = id, %expires_at, "installation token made");
                Ok(Installation {
                    token: Secret::new(token),
                    expires_at,
                })
            }
            _ => Err(ImportError::Shape {
                url,
                message: "no token and expires_at".into(),
            }),
        }
    }

    /// A request authenticated as the app itself (its JWT), with the same rate-limit waits.
    async fn app_call(
        &self,
        method: reqwest::Method,
        url: &str,
        jwt: &str,
    ) -> Result<Value, ImportError> {
        let mut attempt = 0;
        loop {
            let sent = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(ImportError::Cancelled),
                sent = self.request(method.clone(), url).bearer_auth(jwt).send() => sent,
            };
            attempt += 1;
            self.progress.request(false);
            let response = match sent {
                Ok(response) => response,
                Err(err) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(url, error = %err, attempt, "GitHub request failed, retrying");
                    wait(backoff(attempt), &self.cancel).await?;
                    continue;
                }
                Err(err) => {
                    return Err(ImportError::Unreachable {
                        url: url.to_owned(),
                        message: err.to_string(),
                    })
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let text = self.body(response, url).await?;
            if status.is_success() {
                return serde_json::from_str(&text).map_err(|e| ImportError::Shape {
                    url: url.to_owned(),
                    message: e.to_string(),
                });
            }
            match (status, limit_wait(status, &headers, &text, attempt, OffsetDateTime::now_utc())) {
                (StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS, Some((delay, why))) => {
                    self.progress.rate_limited(delay, why);
                    wait(delay, &self.cancel).await?;
                }
                (s, _) if s.is_server_error() && attempt < MAX_ATTEMPTS => {
                    wait(backoff(attempt), &self.cancel).await?;
                }
                (StatusCode::UNAUTHORIZED, _) => {
                    return Err(ImportError::Auth(format!(
                        "GitHub refused the app's token at {url}: {} (check app_id and the private key)",
                        quote(&text)
                    )))
                }
                (StatusCode::NOT_FOUND, _) => {
                    return Err(ImportError::Auth(format!(
                        "the GitHub App is not installed where {url} looks (install it on the repository or organization)"
                    )))
                }
                (s, _) => return Err(status_error(url, s, &text)),
            }
        }
    }
}

fn header(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn quote(text: &str) -> String {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| text.to_owned());
    rae_core::text::clip_bytes(message.trim(), QUOTED_BYTES).into_owned()
}

fn status_error(url: &str, status: StatusCode, text: &str) -> ImportError {
    ImportError::Status {
        url: url.to_owned(),
        status: status.as_u16(),
        message: quote(text),
    }
}

/// How long to wait after a 403 or 429, and why; `None` when it is not a rate limit (a 403 for
/// missing permissions). As GitHub documents: `Retry-After` when present; else, with
/// `x-ratelimit-remaining: 0`, until `x-ratelimit-reset`; else, for a secondary limit, at least
/// a minute, doubling with each attempt.
pub fn limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    attempt: u32,
    now: OffsetDateTime,
) -> Option<(Duration, &'static str)> {
    if let Some(delay) = retry_after(headers, MAX_WAIT) {
        return Some((delay, "secondary rate limit (Retry-After)"));
    }
    if header(headers, "x-ratelimit-remaining") == Some("0") {
        let reset = header(headers, "x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok())?;
        let left = (reset + 1 - now.unix_timestamp()).max(1) as u64;
        return Some((
            Duration::from_secs(left).min(MAX_WAIT),
            "primary rate limit used up",
        ));
    }
    let said = body.to_ascii_lowercase();
    if status == StatusCode::TOO_MANY_REQUESTS || said.contains("rate limit") {
        let delay = SECONDARY_WAIT * (1u32 << attempt.saturating_sub(1).min(5));
        return Some((delay.min(MAX_WAIT), "secondary rate limit"));
    }
    None
}

/// The `next` URL and the page number of `last` in a `Link` header.
pub fn links(link: &str) -> (Option<String>, Option<u64>) {
    let mut next = None;
    let mut last = None;
    for part in link.split(',') {
        let mut pieces = part.split(';');
        let Some(url) = pieces.next().map(str::trim) else {
            continue;
        };
        let Some(url) = url.strip_prefix('<').and_then(|u| u.strip_suffix('>')) else {
            continue;
        };
        let rel = pieces
            .filter_map(|p| p.trim().strip_prefix("rel="))
            .map(|r| r.trim_matches('"'))
            .next();
        match rel {
            Some("next") => next = Some(url.to_owned()),
            Some("last") => last = page_number(url),
            _ => {}
        }
    }
    (next, last)
}

fn page_number(url: &str) -> Option<u64> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("page="))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_next_and_last() {
        let link = r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last", <https://api.github.com/repositories/1300192/issues?page=1>; rel="first""#;
        let (next, last) = links(link);
        assert_eq!(
            next.as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        assert_eq!(last, Some(515));
        assert_eq!(links(""), (None, None));
        assert_eq!(links("garbage; rel=next"), (None, None));
        let (next, last) = links(r#"<https://x/issues?per_page=100&page=2>; rel="next""#);
        assert_eq!(
            next.as_deref(),
            Some("https://x/issues?per_page=100&page=2")
        );
        assert_eq!(last, None);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_are_waited_as_documented() {
        let now = OffsetDateTime::from_unix_timestamp(1_000).unwrap();
        let forbidden = StatusCode::FORBIDDEN;
        // Secondary limit with Retry-After.
        assert_eq!(
            limit_wait(forbidden, &headers(&[("retry-after", "7")]), "", 1, now).map(|w| w.0),
            Some(Duration::from_secs(7))
        );
        // Primary limit used up: until the reset, plus a second.
        assert_eq!(
            limit_wait(
                forbidden,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1030")
                ]),
                "",
                1,
                now
            )
            .map(|w| w.0),
            Some(Duration::from_secs(31))
        );
        // A secondary limit without headers: a minute, doubling.
        let body = r#"{"message": "You have exceeded a secondary rate limit."}"#;
        assert_eq!(
            limit_wait(forbidden, &HeaderMap::new(), body, 1, now).map(|w| w.0),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            limit_wait(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), "", 2, now).map(|w| w.0),
            Some(Duration::from_secs(120))
        );
        // A 403 for permissions is not waited on.
        assert_eq!(
            limit_wait(
                forbidden,
                &headers(&[("x-ratelimit-remaining", "4999")]),
                r#"{"message":"Resource not accessible by integration"}"#,
                1,
                now
            ),
            None
        );
    }
}
