//! What every `/mcp` request passes before the MCP server sees it: the API key, the tenant it
//! acts for, the key's rate limit, the session it names (only its own key's), the body under
//! its size and time limits and within the ingress's budget of body bytes held at once, and a
//! session slot for an `initialize`. A request that passes
//! carries its [`Caller`] to the server; one that does not is answered with our JSON error and
//! audited with what was known of its key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use rae_core::api_keys::{self, KeyRing};
use rae_core::audit::{Auditor, Outcome, Record};
use rae_core::config::Config;
use rae_core::rate_limit::{Budget, RateLimiter};

use super::refused::Refused;
use super::sessions::{Reservation, SessionSlots};
use crate::caller::Caller;
use crate::INTEGRATION;

/// The header naming a request's MCP session.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// The checks and what they need.
pub struct Gate {
    pub config: Arc<Config>,
    pub keys: Arc<KeyRing>,
    pub limiter: Arc<RateLimiter>,
    /// Body bytes held at once, shared with the ingress (`ingress.max_inflight_body_bytes`).
    pub body_budget: Arc<Semaphore>,
    pub auditor: Auditor,
    pub slots: Arc<SessionSlots>,
    /// Largest request body (one JSON-RPC message).
    pub max_body_bytes: usize,
    /// Longest wait for a request's body (`ingress.request_timeout_ms`).
    pub body_timeout: Duration,
}

/// A request that passed, ready for the MCP server, the session slot it took and its body's
/// share of the byte budget (held until the server has read the body).
pub struct Admitted {
    pub request: Request,
    pub reservation: Option<Reservation>,
    pub body_budget: Option<OwnedSemaphorePermit>,
}

/// Who a refused request came from, as far as the checks got.
#[derive(Default)]
struct Known {
    key_id: Option<String>,
    tenant: Option<String>,
}

impl Gate {
    /// Checks `request`; the request with its [`Caller`], or the refusal already audited.
    ///
    /// # Errors
    /// [`Refused`], to answer with.
    pub async fn admit(&self, request: Request) -> Result<Admitted, Refused> {
        let started = Instant::now();
        let method = request.method().clone();
        let mut known = Known::default();
        let admitted = self.check(request, &mut known).await;
        if let Err(refused) = &admitted {
            self.audit_refusal(&method, refused, known, started);
        }
        admitted
    }

    async fn check(&self, request: Request, known: &mut Known) -> Result<Admitted, Refused> {
        let now = OffsetDateTime::now_utc();
        let (mut parts, body) = request.into_parts();
        let key = self.keys.authenticate(&parts.headers, now)?;
        known.key_id = Some(key.id.clone());
        let tenant = key.tenant_of(&parts.headers, &self.config)?;
        known.tenant = Some(tenant.clone());
        key.allow_tenant(&tenant)?;
        api_keys::configured(&self.config, &tenant)?;
        self.limiter
            .take(Budget::Key(&key.id), Instant::now())
            .map_err(|wait| Refused::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            })?;
        let session = session_of(&parts.headers);
        if let Some(session) = session {
            if self.slots.owner(session).as_deref() != Some(key.id.as_str()) {
                return Err(Refused::UnknownSession(session.to_owned()));
            }
        }
        let (body, body_budget) = if parts.method == Method::POST {
            let (body, share) = self.read_body(&parts.headers, body).await?;
            (body, Some(share))
        } else {
            (Bytes::new(), None)
        };
        let reservation = if session.is_none() && is_initialize(&body) {
            Some(self.slots.reserve(&key.id).map_err(Refused::Sessions)?)
        } else {
            None
        };
        let project = self.config.project_for(&tenant, None).to_owned();
        let caller = Arc::new(Caller::with_key(key, tenant, project));
        parts.extensions.insert(caller);
        Ok(Admitted {
            request: Request::from_parts(parts, Body::from(body)),
            reservation,
            body_budget,
        })
    }

    /// The body, up to the limit and within the timeout, with its share of the byte budget (a
    /// body of unknown length may grow to the limit).
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(Bytes, OwnedSemaphorePermit), Refused> {
        let limit = self.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(Refused::TooLarge { limit });
        }
        let share = u32::try_from(declared.unwrap_or(limit).max(1)).unwrap_or(u32::MAX);
        let Ok(budget) = Arc::clone(&self.body_budget).try_acquire_many_owned(share) else {
            return Err(Refused::BodyBudgetSpent);
        };
        let reading = Limited::new(body, limit).collect();
        match tokio::time::timeout(self.body_timeout, reading).await {
            Ok(Ok(collected)) => Ok((collected.to_bytes(), budget)),
            Ok(Err(err)) if err.is::<LengthLimitError>() => Err(Refused::TooLarge { limit }),
            // Bad chunked encoding, a body shorter than its Content-Length, a connection cut off.
            Ok(Err(err)) => Err(Refused::Unreadable(err.to_string())),
            Err(_) => Err(Refused::Timeout(self.body_timeout.as_millis() as u64)),
        }
    }

    fn audit_refusal(&self, method: &Method, refused: &Refused, known: Known, started: Instant) {
        tracing::info!(
            key_id = known.key_id.as_deref(),
            reason = %refused,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "mcp request refused"
        );
        rae_core::telemetry::IntegrationRequest {
            integration: INTEGRATION,
            status: refused.code(),
            latency: started.elapsed(),
        }
        .emit();
        self.auditor.record(Record {
            at: OffsetDateTime::now_utc(),
            integration: INTEGRATION.to_owned(),
            operation: Some(format!("{method} {}", super::PATH)),
            outcome: Outcome::Rejected,
            reason: Some(refused.code().to_owned()),
            tenant: known.tenant,
            key_id: known.key_id,
            event_id: None,
            repeated: None,
            until: None,
        });
    }
}

/// The session a request names.
pub fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(SESSION_HEADER)?.to_str().ok()
}

/// True when `body` is a JSON-RPC `initialize` request, the one that opens a session.
fn is_initialize(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Message<'a> {
        #[serde(borrow, default)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Message<'_>>(body)
        .is_ok_and(|message| message.method.as_deref() == Some("initialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_initialize_request_opens_a_session() {
        assert!(is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#
        ));
        assert!(!is_initialize(
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#
        ));
        assert!(!is_initialize(br#"{"jsonrpc":"2.0","id":2,"result":{}}"#));
        assert!(!is_initialize(b"not json"));
        assert!(!is_initialize(br#"[{"method":"initialize"}]"#));
    }
}
