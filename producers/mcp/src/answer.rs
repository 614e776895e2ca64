//! How a tool call, resource read or prompt went: the result the assistant reads, and what it
//! means for logs, metrics and the audit trail. Failures an assistant can act on are tool
//! errors with a message saying what to do ([`rae_failure`] for RAE's).

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Value};

use rae_core::audit::Outcome;
use rae_core::event::InvalidField;
use rae_core::rae::RaeError;

/// A tool's outcome.
pub(crate) struct Answer {
    pub(crate) result: CallToolResult,
    /// `success` or an error code: `bad_request`, `unavailable`, `upstream`; the label of
    /// `rae_integration_requests_total` and the reason of a refused call's audit record.
    pub(crate) status: &'static str,
    /// For the audit record: `answered` unless the call stored or replayed an event.
    pub(crate) outcome: Outcome,
    /// The event stored or replayed.
    pub(crate) event_id: Option<String>,
}

impl Answer {
    pub(crate) fn ok(value: Value) -> Answer {
        // RAE may answer 2xx without a JSON object; a tool's structured result must be one.
        let value = match value {
            Value::Object(_) => value,
            Value::Null => json!({}),
            other => json!({ "result": other }),
        };
        Answer {
            result: CallToolResult::structured(value),
            status: "success",
            outcome: Outcome::Answered,
            event_id: None,
        }
    }

    /// The same answer, for a call that put event `id` into the pipeline.
    pub(crate) fn stored(mut self, id: String, outcome: Outcome) -> Answer {
        self.outcome = outcome;
        self.event_id = Some(id);
        self
    }

    pub(crate) fn error(status: &'static str, message: String) -> Answer {
        Answer {
            result: CallToolResult::error(vec![ContentBlock::text(message)]),
            status,
            outcome: Outcome::Rejected,
            event_id: None,
        }
    }

    pub(crate) fn invalid(e: InvalidField) -> Answer {
        Answer::error(
            "bad_request",
            format!("invalid arguments: {e} (the tool's input schema lists what is accepted)"),
        )
    }

    /// RAE's answer, or a tool error saying why there is none.
    pub(crate) fn from_rae(what: &str, answer: Result<Value, RaeError>) -> Answer {
        match answer {
            Ok(value) => Answer::ok(value),
            Err(err) => Answer::error("upstream", rae_failure(what, &err)),
        }
    }
}

/// What an assistant (and its user) should read when RAE cannot answer.
pub(crate) fn rae_failure(what: &str, err: &RaeError) -> String {
    match err {
        RaeError::Connect { .. } | RaeError::Timeout { .. } => {
            format!("{what} failed: RAE is unavailable: {err} (is RAE running? RAE_BASE_URL names it)")
        }
        RaeError::Status { status, body, .. } if *status == 401 || *status == 403 => format!(
            "{what} failed: RAE refused the credentials ({status}): {body} (check RAE_API_KEY and the tenant)"
        ),
        RaeError::Status { status, body, .. } if *status == 404 || *status == 405 => format!(
            "{what} failed: RAE has no such route ({status}): {body} (this RAE may serve it at another path: see rae.*_path in the configuration)"
        ),
        RaeError::Status { status, body, .. } if *status >= 500 || *status == 429 || *status == 408 => {
            format!("{what} failed: RAE could not answer now ({status}): {body}; try again later")
        }
        RaeError::Status { status, body, .. } => {
            format!("{what} failed: RAE refused the request ({status}): {body}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rae_failures_say_what_to_do() {
        let down = RaeError::Connect {
            url: "http://127.0.0.1:1/v2/memories/query".into(),
            message: "connection refused".into(),
        };
        let text = rae_failure("search", &down);
        assert!(
            text.contains("RAE is unavailable") && text.contains("RAE_BASE_URL"),
            "{text}"
        );
        let refused = RaeError::Status {
            status: 422,
            method: "POST",
            url: "http://rae.internal:8000/v2/memories/query".into(),
            body: "{\"error\":{\"code\":\"validation\"}}".into(),
            retry_after: None,
        };
        let text = rae_failure("search", &refused);
        assert!(
            text.contains("refused the request (422)") && text.contains("validation"),
            "{text}"
        );
    }

    #[test]
    fn non_object_rae_answers_become_objects() {
        let answer = Answer::ok(json!([1, 2]));
        assert_eq!(
            answer.result.structured_content,
            Some(json!({"result": [1, 2]}))
        );
        assert_eq!(answer.result.is_error, Some(false));
        assert_eq!(answer.outcome, Outcome::Answered);
    }
}
