//! The limit on request headers, checked for every route before its handler: more than
//! [`MAX_HEADER_COUNT`] headers or more than [`MAX_HEADER_BYTES`] of them is answered with a JSON
//! 431 ([`ApiError::HeadersTooLarge`]).
//!
//! hyper reads the header block first and has hard limits of its own, set above ours in the
//! listener ([`HYPER_MAX_HEADERS`], [`HYPER_MAX_BUFFER_BYTES`]) so a request between the two gets
//! this JSON answer; only a header block past hyper's limits gets hyper's 431 with an empty
//! body. The buffer limit also caps what one connection can make the ingress hold while it
//! sends its headers.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// Headers a request may carry.
pub const MAX_HEADER_COUNT: usize = 100;
/// Bytes of header names and values a request may carry (each header counted as
/// `name: value\r\n`).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// hyper's limit on the number of headers, above [`MAX_HEADER_COUNT`].
pub const HYPER_MAX_HEADERS: usize = 256;
/// hyper's read buffer per connection, which bounds a header block: above
/// [`MAX_HEADER_BYTES`], far below hyper's default of about 408 KiB.
pub const HYPER_MAX_BUFFER_BYTES: usize = 64 * 1024;

/// Answers 431 to a request over the limits, else runs the route.
pub async fn check(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADER_COUNT || bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge {
            max_headers: MAX_HEADER_COUNT,
            max_bytes: MAX_HEADER_BYTES,
        }
        .into_response();
    }
    next.run(request).await
}
