//! The one mapping from ingress failures to HTTP answers: a precise status and a JSON body
//! `{"error": "<code>", "message": "..."}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use rae_core::bus::PublishError;
use rae_core::event::InvalidField;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request headers are more than {max_headers} or larger than {max_bytes} bytes")]
    HeadersTooLarge {
        max_headers: usize,
        max_bytes: usize,
    },
    #[error("the request body was not received within {0} ms")]
    RequestTimeout(u64),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("rate limit exceeded, retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("RAE could not answer: {0}")]
    Upstream(String),
    #[error("the event store is unavailable, retry later")]
    Unavailable { retry_after_secs: u64 },
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The error code of the JSON body, also the `status` label of request metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Upstream(_) => "rae_unavailable",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Maps a failed publish: NATS trouble is a 503 the sender should retry.
    pub fn from_publish(err: &PublishError, retry_after_secs: u64) -> ApiError {
        match err {
            PublishError::Unavailable | PublishError::Timeout { .. } => {
                ApiError::Unavailable { retry_after_secs }
            }
            PublishError::Refused { .. } => {
                tracing::error!(error = %err, "jetstream refused a publish");
                ApiError::Unavailable { retry_after_secs }
            }
        }
    }
}

impl From<InvalidField> for ApiError {
    fn from(err: InvalidField) -> Self {
        ApiError::BadRequest {
            message: err.to_string(),
            field: Some(err.field),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.code(), "message": self.to_string()});
        if let ApiError::BadRequest {
            field: Some(field), ..
        } = &self
        {
            body["field"] = json!(field);
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let ApiError::Unavailable { retry_after_secs }
        | ApiError::TooManyRequests { retry_after_secs } = self
        {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
