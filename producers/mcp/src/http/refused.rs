//! Why `/mcp` refused a request before the MCP server saw it, answered as the ingress answers:
//! a precise status and `{"error": "<code>", "message": "..."}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use rae_core::api_keys::{KeyError, Refusal};

use super::sessions::SlotsFull;

/// A request `/mcp` did not pass to the MCP server.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("rate limit exceeded, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(
        "no MCP session {0:?} of this API key: it expired or was closed; initialize a new one"
    )]
    UnknownSession(String),
    #[error(transparent)]
    Sessions(SlotsFull),
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body was not received within {0} ms")]
    Timeout(u64),
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
    /// `ingress.max_inflight_body_bytes` are held by other requests' bodies.
    #[error("the server holds as many request bodies as it may; retry later")]
    BodyBudgetSpent,
}

impl Refused {
    /// The error code of the JSON body, also the audit record's reason.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::Key(err) => match err.refusal() {
                Refusal::Unauthenticated => "unauthorized",
                Refusal::Forbidden => "forbidden",
                Refusal::BadTenant => "bad_request",
            },
            Refused::RateLimited { .. } | Refused::Sessions(SlotsFull::Key(_)) => "rate_limited",
            Refused::UnknownSession(_) => "not_found",
            Refused::Sessions(SlotsFull::Total(_)) | Refused::BodyBudgetSpent => "unavailable",
            Refused::TooLarge { .. } => "payload_too_large",
            Refused::Timeout(_) => "request_timeout",
            Refused::Unreadable(_) => "bad_request",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Refused::Key(err) => match err.refusal() {
                Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
                Refusal::Forbidden => StatusCode::FORBIDDEN,
                Refusal::BadTenant => StatusCode::BAD_REQUEST,
            },
            Refused::RateLimited { .. } | Refused::Sessions(SlotsFull::Key(_)) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Refused::UnknownSession(_) => StatusCode::NOT_FOUND,
            Refused::Sessions(SlotsFull::Total(_)) | Refused::BodyBudgetSpent => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Refused::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refused::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Refused::Unreadable(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// `Retry-After` of the answer, when waiting helps.
    fn retry_after_secs(&self, default: u64) -> Option<u64> {
        match self {
            Refused::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Refused::Sessions(_) | Refused::BodyBudgetSpent => Some(default),
            _ => None,
        }
    }

    /// The answer, `Retry-After: retry_after_secs` where waiting helps and the wait is not known.
    pub fn into_response(self, retry_after_secs: u64) -> Response {
        let mut body = json!({"error": self.code(), "message": self.to_string()});
        if let Refused::Key(KeyError::BadTenantHeader | KeyError::TenantRequired) = &self {
            body["field"] = json!("X-Tenant-ID");
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs(retry_after_secs) {
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if self.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_the_ingress_codes_and_statuses() {
        for (refused, status, code) in [
            (Refused::Key(KeyError::Missing), 401, "unauthorized"),
            (
                Refused::Key(KeyError::TenantNotConfigured("x".into())),
                403,
                "forbidden",
            ),
            (Refused::Key(KeyError::TenantRequired), 400, "bad_request"),
            (
                Refused::RateLimited {
                    retry_after_secs: 2,
                },
                429,
                "rate_limited",
            ),
            (Refused::Sessions(SlotsFull::Key(3)), 429, "rate_limited"),
            (Refused::Sessions(SlotsFull::Total(9)), 503, "unavailable"),
            (Refused::UnknownSession("s".into()), 404, "not_found"),
            (Refused::TooLarge { limit: 10 }, 413, "payload_too_large"),
            (Refused::BodyBudgetSpent, 503, "unavailable"),
        ] {
            assert_eq!((refused.status().as_u16(), refused.code()), (status, code));
        }
        let response = Refused::RateLimited {
            retry_after_secs: 2,
        }
        .into_response(5);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = Refused::Sessions(SlotsFull::Total(9)).into_response(5);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}
