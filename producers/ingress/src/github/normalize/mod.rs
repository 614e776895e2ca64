//! Turns a verified GitHub delivery into what is worth remembering (pure, no I/O).
//!
//! [`interpret`] reads the event name (the `X-GitHub-Event` header) and the parsed body and
//! answers one [`Outcome`]: a `ping`, a delivery that is deliberately not stored (with the reason),
//! or one [`Memory`]. Stored events and actions:
//!
//! | event | actions | kind |
//! |---|---|---|
//! | `pull_request` | `opened`, `ready_for_review` | `pull_request_opened` |
//! | | `reopened` | `pull_request_reopened` |
//! | | `edited` (title or description) | `pull_request_edited`, replacing the opening's text |
//! | | `closed` (merged) | `pull_request_merged` |
//! | | `closed` (not merged) | `pull_request_closed` |
//! | `pull_request_review` | `submitted` (not a `commented` review without a body) | `pull_request_review` |
//! | `issues` | `opened`, `closed`, `reopened` | `issue_opened`, `issue_closed`, `issue_reopened` |
//! | | `edited` (title or description) | `issue_edited`, replacing the opening's text |
//! | | `deleted` | `forget` (the issue's memories and its comments') |
//! | `issue_comment` | `created` | `issue_comment` |
//! | | `edited` | `issue_comment`, replacing the comment's earlier memories |
//! | | `deleted` | `forget` (the comment's memories) |
//! | `push` | branch pushes with commits | `push` |
//! | `release` | `published` | `release_published` |
//! | `workflow_run` | `completed` with conclusion `failure`, `timed_out` or `startup_failure` | `workflow_run_failed` |
//!
//! Everything else is [`Outcome::Ignored`], notably:
//! - `release` `released`: GitHub sends it together with `published` for every full release, so
//!   storing both would remember each release twice (a prerelease later promoted to a release is
//!   thus not remembered again);
//! - pushes that delete a ref, carry no commits, or push a tag (`refs/tags/...`): the release
//!   events describe tags better than a bare tag push;
//! - successful, cancelled or skipped workflow runs.
//!
//! Bodies (PR, issue, comment, review, release notes) are cut to [`BODY_CHARS`] characters with
//! `…`, carriage returns are removed, and the whole content never exceeds
//! [`Limits::max_content_bytes`]. Times are converted to UTC.
//!
//! Layout: this module holds the public types, [`interpret`] and the ignore reasons; each event
//! family has its own file (`pull_request` with its reviews, `issues` with their comments, `push`,
//! `release`, `workflow`), `draft` turns one family's draft into a [`Memory`] within the limits,
//! and `fields` reads typed values out of the payload.

mod draft;
mod fields;
mod issues;
mod pull_request;
mod push;
mod release;
#[cfg(test)]
mod test_support;
mod workflow;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use rae_core::event::{InvalidField, Limits};
use rae_core::text::clip_chars;

use draft::Context;
use fields::{string_at, text};
use issues::{issue_comment, issues};
use pull_request::{pull_request, pull_request_review};
use push::push;
use release::release;
use workflow::workflow_run;

/// Characters kept of a free-text body (PR description, comment, release notes, ...).
pub const BODY_CHARS: usize = 1000;
/// Commits listed in a push memory; the rest are counted.
pub const LISTED_COMMITS: usize = 20;
/// Characters kept of a title, a commit subject or another one-line value.
const LINE_CHARS: usize = 300;
/// Characters kept of a string attribute.
const ATTRIBUTE_CHARS: usize = 200;
/// Characters of an event name or action quoted in an ignore reason.
const NAME_CHARS: usize = 64;

/// One GitHub delivery: the `X-GitHub-Event` header and the parsed JSON body.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub event: &'a str,
    pub payload: &'a Value,
}

/// What to do with a delivery.
// One per delivery, consumed at once: boxing the memory would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The hook was just created; answer it, store nothing.
    Ping { zen: Option<String> },
    /// A valid delivery that is not worth a memory.
    Ignored { reason: String },
    /// Something to remember.
    Memory(Memory),
}

/// The source-specific part of an event built from a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    /// `pull_request_opened`, `pull_request_merged`, `issue_comment`, `push`, ...
    pub kind: String,
    /// What a person would want to remember, within [`Limits::max_content_bytes`].
    pub content: String,
    /// `sender.login`.
    pub actor: Option<String>,
    /// The page of the PR, issue, comment, review, release or run; the compare view for a push.
    pub url: Option<String>,
    /// `repository.full_name`.
    pub repository: Option<String>,
    /// `organization.login`, else `repository.owner.login`.
    pub organization: Option<String>,
    /// `github`, a kind tag (`pr`, `issue`, `review`, `comment`, `push`, `release`, `ci`), state
    /// tags (`merged`, `failed`, `prerelease`) and label names, within the tag limits.
    pub tags: Vec<String>,
    /// Small facts: repository, number, action, state, refs, shas, counts, labels, ...
    pub attributes: Map<String, Value>,
    /// When it happened, from the payload's own timestamps, in UTC.
    pub occurred_at: Option<OffsetDateTime>,
    /// The item and its state (`owner/repo issue 7 opened`, `owner/repo comment 123`, `owner/repo
    /// pr 2 closed 1557933725`): the same for a webhook delivery and for the item read later from
    /// the REST API (`github::import`), so both make one event id and nothing is stored twice.
    /// `None` (pushes, workflow runs, a payload without a repository): the delivery id is used.
    pub key: Option<String>,
}

/// Decides what `delivery` means.
///
/// # Errors
/// [`InvalidField`] naming the JSON path of a required field that is missing or has the wrong
/// type (`body`, `action`, `pull_request.number`, `commits[2].id`, ...). Events and actions that
/// are not stored are `Ok(Outcome::Ignored)` without looking at their other fields.
pub fn interpret(delivery: &Delivery<'_>, limits: &Limits) -> Result<Outcome, InvalidField> {
    let payload = delivery.payload;
    if !payload.is_object() {
        return Err(InvalidField::new("body", "must be a JSON object"));
    }
    let ctx = Context::new(payload, limits);
    match delivery.event {
        "ping" => Ok(Outcome::Ping {
            zen: text(payload, &["zen"]).map(|z| clip_chars(z, LINE_CHARS).into_owned()),
        }),
        "pull_request" => pull_request(&ctx, action(payload)?),
        "pull_request_review" => pull_request_review(&ctx, action(payload)?),
        "issues" => issues(&ctx, action(payload)?),
        "issue_comment" => issue_comment(&ctx, action(payload)?),
        "push" => push(&ctx),
        "release" => release(&ctx, action(payload)?),
        "workflow_run" => workflow_run(&ctx, action(payload)?),
        other => Ok(ignored(format!(
            "event {} is not stored",
            clip_chars(other, NAME_CHARS)
        ))),
    }
}

fn ignored(reason: impl Into<String>) -> Outcome {
    Outcome::Ignored {
        reason: reason.into(),
    }
}

fn ignored_action(event: &str, action: &str) -> Outcome {
    ignored(format!(
        "{event} action {} is not stored",
        clip_chars(action, NAME_CHARS)
    ))
}

/// The payload's `action`.
fn action(payload: &Value) -> Result<&str, InvalidField> {
    string_at(payload, "action", "action")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::normalize::test_support::*;

    #[test]
    fn ping_answers_with_zen() {
        assert_eq!(
            outcome("ping.json"),
            Outcome::Ping {
                zen: Some("Anything added dilutes everything else.".into())
            }
        );
        assert_eq!(
            run("ping", &serde_json::json!({})).unwrap(),
            Outcome::Ping { zen: None }
        );
    }

    #[test]
    fn unhandled_events_are_ignored() {
        assert_eq!(reason("star.created.json"), "event star is not stored");
    }

    #[test]
    fn every_fixture_is_understood() {
        for (file, _) in FIXTURES {
            let result = outcome(file);
            if let Outcome::Memory(m) = &result {
                assert_valid(m, &Limits::default());
                assert!(m.occurred_at.is_some(), "{file}");
                assert!(m.url.is_some(), "{file}");
                assert_eq!(m.actor.as_deref().map(str::is_empty), Some(false));
            }
        }
    }

    #[test]
    fn long_bodies_are_cut_and_carriage_returns_removed() {
        let mut p = payload("issues.opened.json");
        p["issue"]["body"] = format!("line one\r\nline two\r\n{}", "é".repeat(5000)).into();
        let Outcome::Memory(m) = run("issues", &p).unwrap() else {
            panic!()
        };
        assert!(!m.content.contains('\r'));
        let body = m.content.split("\n\n").nth(1).unwrap();
        assert!(body.starts_with("line one\nline two\n"));
        assert_eq!(body.chars().count(), BODY_CHARS);
        assert!(body.ends_with('…'));
    }

    #[test]
    fn limits_are_kept() {
        let limits = Limits {
            max_content_bytes: 50,
            max_tags: 3,
            max_tag_chars: 10,
            max_attributes_bytes: 200,
        };
        let mut p = payload("issues.opened.json");
        p["issue"]["labels"] = serde_json::json!([
            {"name": "a-label-much-longer-than-ten"},
            {"name": "bug"},
            {"name": "BUG"},
            {"name": "ui"},
            {"name": "perf"},
            {"name": null},
            "not an object"
        ]);
        let Outcome::Memory(m) = run_with("issues", &p, &limits).unwrap() else {
            panic!()
        };
        assert!(m.content.len() <= 50, "{}", m.content.len());
        assert!(m.content.ends_with('…'));
        assert_eq!(m.tags, ["github", "issue", "bug"]);
        assert!(serde_json::to_vec(&m.attributes).unwrap().len() <= 100);
        assert_valid(&m, &limits);
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let field = |event: &str, payload: Value| run(event, &payload).unwrap_err().field;
        use serde_json::json;
        assert_eq!(field("pull_request", json!([])), "body");
        assert_eq!(field("ping", Value::Null), "body");
        assert_eq!(field("star", json!("x")), "body");
        assert_eq!(field("pull_request", json!({})), "action");
        assert_eq!(field("issues", json!({"action": 5})), "action");
        assert_eq!(
            field("pull_request", json!({"action": "opened"})),
            "pull_request"
        );
        assert_eq!(
            field(
                "pull_request",
                json!({"action": "opened", "pull_request": []})
            ),
            "pull_request"
        );
        assert_eq!(
            field(
                "pull_request",
                json!({"action": "closed", "pull_request": {"title": "x"}})
            ),
            "pull_request.number"
        );
        assert_eq!(
            field(
                "pull_request",
                json!({"action": "closed", "pull_request": {"number": "2"}})
            ),
            "pull_request.number"
        );
        assert_eq!(
            field(
                "pull_request_review",
                json!({"action": "submitted", "review": {}})
            ),
            "review.state"
        );
        assert_eq!(
            field(
                "pull_request_review",
                json!({"action": "submitted", "review": {"state": "approved"}})
            ),
            "pull_request"
        );
        assert_eq!(
            field(
                "issues",
                json!({"action": "opened", "issue": {"number": -1}})
            ),
            "issue.number"
        );
        assert_eq!(
            field(
                "issue_comment",
                json!({"action": "created", "issue": {"number": 1}, "comment": null})
            ),
            "comment"
        );
        assert_eq!(field("push", json!({})), "ref");
        assert_eq!(
            field("push", json!({"ref": "refs/heads/x", "commits": {}})),
            "commits"
        );
        assert_eq!(
            field(
                "push",
                json!({"ref": "refs/heads/x", "commits": [{"id": "abc"}, 5]})
            ),
            "commits[1]"
        );
        assert_eq!(
            field(
                "push",
                json!({"ref": "refs/heads/x", "commits": [{"message": "m"}]})
            ),
            "commits[0].id"
        );
        assert_eq!(
            field(
                "release",
                json!({"action": "published", "release": {"name": "x"}})
            ),
            "release.tag_name"
        );
        assert_eq!(
            field(
                "workflow_run",
                json!({"action": "completed", "workflow_run": {}})
            ),
            "workflow_run.conclusion"
        );
    }

    #[test]
    fn minimal_payloads_still_make_memories() {
        let p = serde_json::json!({"action": "opened", "issue": {"number": 7}});
        let Outcome::Memory(m) = run("issues", &p).unwrap() else {
            panic!()
        };
        assert_eq!(m.content, "Issue #7 opened by someone: \"(no title)\"");
        assert_eq!(m.tags, ["github", "issue"]);
        assert_eq!(m.actor, None);
        assert_eq!(m.occurred_at, None);
        assert_valid(&m, &Limits::default());
    }

    /// Every value of every fixture replaced in turn by null, an array, an object, a string and a
    /// number: never a panic, always an answer.
    #[test]
    fn no_shape_of_json_panics() {
        fn paths(value: &Value, here: Vec<String>, out: &mut Vec<Vec<String>>) {
            out.push(here.clone());
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        let mut next = here.clone();
                        next.push(k.clone());
                        paths(v, next, out);
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        let mut next = here.clone();
                        next.push(i.to_string());
                        paths(v, next, out);
                    }
                }
                _ => {}
            }
        }
        fn slot<'v>(value: &'v mut Value, path: &[String]) -> &'v mut Value {
            path.iter().fold(value, |v, key| match v {
                Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
                other => &mut other[key.as_str()],
            })
        }
        let replacements = [
            Value::Null,
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!(""),
            serde_json::json!("x\u{1F600}\r"),
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(true),
        ];
        let limits = Limits {
            max_content_bytes: 40,
            ..Limits::default()
        };
        for (file, _) in FIXTURES {
            let original = payload(file);
            let mut all = Vec::new();
            paths(&original, Vec::new(), &mut all);
            for path in &all {
                for replacement in &replacements {
                    let mut p = original.clone();
                    *slot(&mut p, path) = replacement.clone();
                    for event in [event_of(file), "push", "pull_request"] {
                        if let Ok(Outcome::Memory(m)) = run_with(event, &p, &limits) {
                            assert!(m.content.len() <= 40, "{file} {path:?}");
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::test_support::{event_of, FIXTURES};
    use super::*;
    use crate::fuzz;
    use proptest::prelude::*;
    use rae_core::event::Event;

    const EVENTS: &[&str] = &[
        "ping",
        "pull_request",
        "pull_request_review",
        "issues",
        "issue_comment",
        "push",
        "release",
        "workflow_run",
        "star",
        "",
    ];

    fn limits() -> impl Strategy<Value = Limits> {
        prop_oneof![
            3 => Just(Limits::default()),
            // Attributes of at least `{}`: a smaller limit refuses every event, whatever its source.
            1 => (1usize..400, 0usize..6, 1usize..20, 2usize..400).prop_map(|(c, n, t, a)| Limits {
                max_content_bytes: c,
                max_tags: n,
                max_tag_chars: t,
                max_attributes_bytes: a,
            }),
        ]
    }

    /// What `interpret` promises: an outcome, or a refusal naming a JSON path; a memory within
    /// the limits that makes a valid event.
    fn check(event: &str, payload: &Value, limits: &Limits) -> Result<(), TestCaseError> {
        match interpret(&Delivery { event, payload }, limits) {
            Ok(Outcome::Memory(memory)) => {
                prop_assert!(memory.content.len() <= limits.max_content_bytes);
                prop_assert!(!memory.content.contains('\r'));
                prop_assert!(memory.tags.len() <= limits.max_tags);
                let mut e: Event = rae_core::event::sample();
                e.source = rae_core::event::Source::Github;
                e.kind = memory.kind.clone();
                e.content = memory.content.clone();
                e.tags = memory.tags.clone();
                e.actor = memory.actor.clone();
                e.attributes = memory.attributes.clone();
                e.validate(limits)
                    .map_err(|err| TestCaseError::fail(format!("{err}: {memory:?}")))?;
            }
            Ok(Outcome::Ignored { reason }) => prop_assert!(!reason.is_empty()),
            Ok(Outcome::Ping { .. }) => prop_assert_eq!(event, "ping"),
            Err(err) => prop_assert!(!err.field.is_empty(), "{err}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzz::config(256))]

        #[test]
        fn arbitrary_json_never_panics(event in prop::sample::select(EVENTS), payload in fuzz::json()) {
            check(event, &payload, &Limits::default())?;
        }

        #[test]
        fn changed_real_deliveries_get_an_outcome_or_a_named_field(
            (event, payload) in prop::sample::select(FIXTURES).prop_flat_map(|(file, body)| {
                (Just(event_of(file)), fuzz::mutated(body))
            }),
            limits in limits(),
        ) {
            check(event, &payload, &limits)?;
        }
    }
}
