//! Linear webhooks (`Linear-Signature`): not built yet. Every delivery is refused with a 401 that says so,
//! so a sender pointed here retries until the preset lands.

use axum::http::HeaderMap;
use serde_json::Value;

use super::{Delivery, Normalized};
use rae_core::config::Secret;
use rae_core::event::InvalidField;

/// Refuses every delivery: the preset is not built yet.
///
/// # Errors
/// Always, with the message for the 401.
pub fn verify<'b>(
    _headers: &HeaderMap,
    _body: &'b [u8],
    _secrets: &[Secret],
    _now: i64,
    _tolerance_secs: u64,
) -> Result<Delivery<'b>, String> {
    Err("the linear preset is not built yet".into())
}

/// Stores nothing.
///
/// # Errors
/// Never.
pub fn normalize(_payload: &Value) -> Result<Normalized, InvalidField> {
    Ok(Normalized::Ignored(
        "the linear preset is not built yet".into(),
    ))
}
