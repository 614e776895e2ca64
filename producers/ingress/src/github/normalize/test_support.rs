//! Test support shared by the family tests: the sample deliveries of `tests/fixtures/github/`
//! and shortcuts to interpret them and check the result makes a valid event.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use rae_core::event::{Event, InvalidField, Limits};

use super::{interpret, Delivery, Memory, Outcome};

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../../../tests/fixtures/github/", $name)),
        )
    };
}

/// Every fixture, as (file name, body).
pub(super) const FIXTURES: &[(&str, &str)] = &[
    fixture!("ping.json"),
    fixture!("pull_request.opened.json"),
    fixture!("pull_request.closed_merged.json"),
    fixture!("pull_request.closed_unmerged.json"),
    fixture!("pull_request.reopened.json"),
    fixture!("pull_request.labeled.json"),
    fixture!("pull_request_review.submitted.json"),
    fixture!("issues.opened.json"),
    fixture!("issues.closed.json"),
    fixture!("issue_comment.created.json"),
    fixture!("push.json"),
    fixture!("push.branch_deleted.json"),
    fixture!("release.published.json"),
    fixture!("workflow_run.completed_failure.json"),
    fixture!("workflow_run.completed_success.json"),
    fixture!("star.created.json"),
];

/// The event name of a fixture: its file name up to the first `.`.
pub(super) fn event_of(file: &str) -> &str {
    file.split('.').next().unwrap_or(file)
}

pub(super) fn payload(file: &str) -> Value {
    let (_, body) = FIXTURES
        .iter()
        .find(|(name, _)| *name == file)
        .unwrap_or_else(|| panic!("no fixture {file}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{file}: {e}"))
}

pub(super) fn run_with(
    event: &str,
    payload: &Value,
    limits: &Limits,
) -> Result<Outcome, InvalidField> {
    interpret(&Delivery { event, payload }, limits)
}

pub(super) fn run(event: &str, payload: &Value) -> Result<Outcome, InvalidField> {
    run_with(event, payload, &Limits::default())
}

pub(super) fn outcome(file: &str) -> Outcome {
    run(event_of(file), &payload(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The memory of a fixture, checked to make a valid event.
pub(super) fn memory(file: &str) -> Memory {
    match outcome(file) {
        Outcome::Memory(memory) => {
            assert_valid(&memory, &Limits::default());
            memory
        }
        other => panic!("{file}: expected a memory, got {other:?}"),
    }
}

pub(super) fn reason(file: &str) -> String {
    match outcome(file) {
        Outcome::Ignored { reason } => reason,
        other => panic!("{file}: expected ignored, got {other:?}"),
    }
}

pub(super) fn assert_valid(memory: &Memory, limits: &Limits) {
    let mut event: Event = rae_core::event::sample();
    event.source = rae_core::event::Source::Github;
    event.kind = memory.kind.clone();
    event.content = memory.content.clone();
    event.tags = memory.tags.clone();
    event.actor = memory.actor.clone();
    event.url = memory.url.clone();
    event.attributes = memory.attributes.clone();
    event.validate(limits).unwrap();
    assert!(!memory.content.contains('\r'), "{:?}", memory.content);
}

pub(super) fn at(rfc3339: &str) -> Option<OffsetDateTime> {
    Some(OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap())
}
