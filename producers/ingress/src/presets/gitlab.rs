//! GitLab project and group webhooks.
//!
//! **Verification.** GitLab sends the webhook's *Secret token* as it is in `X-Gitlab-Token`,
//! compared in constant time with the integration's secrets. Newer GitLab versions can also
//! *sign* a webhook (its *Signing token*, `whsec_<base64>`): the Standard Webhooks headers
//! `webhook-id` (the delivery's `Idempotency-Key`), `webhook-timestamp` and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256 of <id>.<timestamp>.<body>>`), checked by
//! [`standard_webhooks::verify`]. A signing token among the secrets (a secret that starts with
//! `whsec_`) makes the signature required: a token alone, which a replayed request carries as
//! well, is then refused. The delivery id is `Idempotency-Key` (GitLab 17.4 and later; the same
//! on a resend of the same delivery), else `X-Gitlab-Event-UUID`.
//!
//! **Memories** (by the payload's `object_kind`):
//!
//! | object_kind | what | kind |
//! |---|---|---|
//! | `push` | a branch push with commits, listing them | `push` |
//! | `tag_push` | a tag pushed or deleted | `tag_push` |
//! | `merge_request` | `open`, `reopen`, `close`, `merge` | `merge_request_opened`, `…_reopened`, `…_closed`, `…_merged` |
//! | | `approval`, `approved` / `unapproval`, `unapproved` | `merge_request_approved` / `merge_request_unapproved` |
//! | | `update` with new commits or a visible change (title, description, labels, draft, …) | `merge_request_updated` |
//! | `issue`, `work_item` | `open`, `close`, `reopen`, `update` (visible changes) | `issue_*` / `work_item_*` (`opened`, `closed`, `reopened`, `updated`) |
//! | `note` | a comment (created or edited) on an MR, an issue, a commit, a snippet | `merge_request_comment`, `issue_comment`, `commit_comment`, `snippet_comment` |
//! | `pipeline` | `failed` on the default branch or a tag / on another ref | `pipeline_failed` / `pipeline_failed_branch` |
//! | | `success`, `canceled` | `pipeline_succeeded`, `pipeline_canceled` |
//! | `release` | `create`, `update`, `delete` | `release_created`, `release_updated`, `release_deleted` |
//! | `deployment` | `success`, `failed`, `canceled` | `deployment_succeeded`, `deployment_failed`, `deployment_canceled` |
//!
//! Everything else (running pipelines and deployments, MR and issue updates that change nothing
//! a person reads, system notes, branch deletions, wiki pages, jobs, emoji, member events, ...)
//! is acknowledged and ignored. The memories of one merge request (its comments and pipelines
//! too) share the `session_id` `gitlab:<project path>!<iid>`, those of one issue
//! `gitlab:<project path>#<iid>`. Descriptions and comments are cut to [`TEXT_CHARS`]
//! characters, a push lists at most [`LISTED_COMMITS`] commits.
//!
//! Layout: this module holds the check, the dispatch on `object_kind` and what the families
//! share (the project, times, labels, the changes of an update); each family has its own
//! file (`push` with `tag_push`, `merge_request`, `issue`, `note`, `pipeline`, `release` with
//! `deployment`), its tests on the docs' sample payloads in `tests/fixtures/gitlab/`.

use axum::http::HeaderMap;
use std::borrow::Cow;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::{delivery_id, header, standard_webhooks, text, Delivery, Normalized};
use crate::verified::Verified;
use rae_core::config::Secret;
use rae_core::event::InvalidField;
use rae_core::signature;
use rae_core::text::clip_chars;

mod issue;
mod merge_request;
mod note;
mod pipeline;
mod push;
mod release;

use issue::issue;
use merge_request::merge_request;
use note::note;
use pipeline::pipeline;
use push::{push, tag_push};
use release::{deployment, release};

/// The webhook's secret token, as configured.
pub const TOKEN_HEADER: &str = "x-gitlab-token";
/// Unique per delivery and kept when GitLab sends it again (GitLab 17.4 and later).
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Unique per triggering event (GitLab 14.8 and later).
pub const EVENT_UUID_HEADER: &str = "x-gitlab-event-uuid";
/// What a GitLab signing token starts with.
pub const SIGNING_TOKEN_PREFIX: &str = "whsec_";

/// Commits listed in a push memory (GitLab sends the newest 20 and the total count).
pub const LISTED_COMMITS: usize = 20;
/// Characters kept of a description, a comment or release notes.
pub const TEXT_CHARS: usize = 2_000;
/// Characters kept of a title, a commit subject, a branch or another one-line value.
const LINE_CHARS: usize = 300;
/// Characters kept of a name (a person, a job, an environment, a label).
const NAME_CHARS: usize = 100;
/// Longest user name GitLab allows.
const MAX_NAME: usize = 255;
/// Labels kept as tags and listed.
const MAX_LABELS: usize = 10;
/// Longest tag kept (the default tag limit).
const TAG_CHARS: usize = 64;
/// Failed jobs named in a pipeline memory.
const LISTED_JOBS: usize = 10;
/// Jobs of a pipeline looked at.
const MAX_JOBS: usize = 1_000;
/// Changed fields of an update named in its memory.
const MAX_CHANGES: usize = 8;
/// Longest link kept (a longer one is dropped).
const MAX_URL: usize = 2_048;
/// Longest project path kept whole (GitLab's are far shorter).
const PATH_CHARS: usize = 500;
/// Longest commit id kept (a SHA-256 one is 64 hex digits).
const SHA_CHARS: usize = 64;

/// Checks a GitLab delivery: its signature when the integration has a signing token, else its
/// `X-Gitlab-Token`.
///
/// # Errors
/// The message for the 401, naming the header.
pub fn verify<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
    secrets: &[Secret],
    now: i64,
    tolerance_secs: u64,
) -> Result<Delivery<'b>, String> {
    if secrets.is_empty() {
        return Err("the integration has no active secret".into());
    }
    let (signing, tokens): (Vec<Secret>, Vec<Secret>) = secrets
        .iter()
        .cloned()
        .partition(|s| is_signing_token(s.expose()));
    let signed = header(headers, standard_webhooks::SIGNATURE_HEADER).is_some();
    if !signing.is_empty() {
        if !signed {
            return Err(
                "missing webhook-signature header: the integration has a GitLab signing token (whsec_...), so deliveries must be signed; set it as the webhook's Signing token in GitLab"
                    .into(),
            );
        }
        return standard_webhooks::verify(headers, body, &signing, now, tolerance_secs);
    }
    let Some(token) = header(headers, TOKEN_HEADER) else {
        return Err(if signed {
            "missing X-Gitlab-Token header: the delivery is signed, so put the webhook's Signing token (whsec_...) in the integration's secrets"
        } else {
            "missing X-Gitlab-Token header: set the webhook's Secret token to the integration's secret"
        }
        .into());
    };
    if !signature::any_secret_equals(&tokens, token) {
        return Err("X-Gitlab-Token does not match any active secret".into());
    }
    Ok(Delivery {
        body: Verified::new(body),
        id: delivery_id(headers, &[IDEMPOTENCY_HEADER, EVENT_UUID_HEADER]),
    })
}

/// Whether a secret is a GitLab signing token (`whsec_<base64>`) rather than a secret token.
pub fn is_signing_token(secret: &str) -> bool {
    secret.starts_with(SIGNING_TOKEN_PREFIX)
}

/// The memory of one GitLab delivery.
///
/// # Errors
/// [`InvalidField`] when the payload is not a GitLab event or lacks what identifies the item
/// (an MR's or issue's `iid`, a pipeline's `id`, ...).
pub fn normalize(payload: &Value) -> Result<Normalized, InvalidField> {
    let Some(kind) = text(payload, "/object_kind") else {
        // Group member, project and subgroup events have an `event_name` and no `object_kind`.
        if let Some(event) = text(payload, "/event_name") {
            return Ok(ignored(format!(
                "GitLab {} events are not stored",
                clip_chars(event, NAME_CHARS)
            )));
        }
        return Err(InvalidField::new(
            "object_kind",
            "missing: not a GitLab webhook payload",
        ));
    };
    let project = Project::of(payload);
    match kind {
        "push" => push(payload, &project),
        "tag_push" => tag_push(payload, &project),
        "merge_request" => merge_request(payload, &project),
        "issue" | "work_item" => issue(payload, &project, kind),
        "note" => note(payload, &project),
        "pipeline" => pipeline(payload, &project),
        "release" => release(payload, &project),
        "deployment" => deployment(payload, &project),
        other => Ok(ignored(format!(
            "GitLab {} events are not stored",
            clip_chars(other, NAME_CHARS)
        ))),
    }
}

/// The project a payload is about.
struct Project<'v> {
    /// `group/project`.
    path: Option<Cow<'v, str>>,
    /// The project's id (stable across renames), else its path: the start of every key.
    key: String,
    web_url: Option<&'v str>,
    default_branch: Option<&'v str>,
}

impl<'v> Project<'v> {
    fn of(payload: &'v Value) -> Self {
        let path = text(payload, "/project/path_with_namespace").map(|p| clip_chars(p, PATH_CHARS));
        let id = payload
            .pointer("/project/id")
            .or_else(|| payload.get("project_id"))
            .and_then(Value::as_u64);
        let key = match (id, &path) {
            (Some(id), _) => format!("project {id}"),
            (None, Some(path)) => format!("project {path}"),
            (None, None) => "project unknown".to_owned(),
        };
        Project {
            path,
            key,
            web_url: link(payload, "/project/web_url"),
            default_branch: text(payload, "/project/default_branch"),
        }
    }

    /// `group/project`.
    fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// ` in group/project`, or nothing.
    fn place(&self) -> String {
        self.path()
            .map(|p| format!(" in {}", clip_chars(p, LINE_CHARS)))
            .unwrap_or_default()
    }

    /// `gitlab:group/project<reference>` (`!7`, `#12`): one conversation per MR or issue.
    fn session(&self, reference: &str) -> Option<String> {
        self.path().map(|p| format!("gitlab:{p}{reference}"))
    }

    /// The project path as a tag, when it fits one.
    fn tag(&self) -> Option<String> {
        self.path()
            .filter(|p| p.chars().count() <= TAG_CHARS)
            .map(str::to_owned)
    }

    /// `<key> <what>`: the dedupe key of an item and its state.
    fn key(&self, what: impl std::fmt::Display) -> String {
        format!("{} {what}", self.key)
    }
}

/// The link at `pointer`, when it is one of a sane length.
fn link<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    text(value, pointer).filter(|url| url.len() <= MAX_URL)
}

/// The commit id at `pointer`, or `""` (also for something too long to be one).
fn sha_at<'v>(value: &'v Value, pointer: &str) -> &'v str {
    text(value, pointer)
        .filter(|sha| sha.len() <= SHA_CHARS)
        .unwrap_or("")
}

fn ignored(reason: impl Into<String>) -> Normalized {
    Normalized::Ignored(reason.into())
}

/// The acting user's name (`user.name`, else the username; `user_name` in push payloads), when
/// it is one GitLab allows (at most 255 characters).
fn actor(payload: &Value) -> Option<&str> {
    [
        "/user/name",
        "/user/username",
        "/user_name",
        "/user_username",
    ]
    .iter()
    .filter_map(|pointer| text(payload, pointer))
    .find(|name| name.chars().count() <= MAX_NAME)
}

fn who(actor: Option<&str>) -> String {
    clip_chars(actor.unwrap_or("Someone"), NAME_CHARS).into_owned()
}

/// The first non-blank line of `s`, cut to [`LINE_CHARS`].
fn one_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    clip_chars(line, LINE_CHARS).into_owned()
}

/// The one-line `title` of an item, or `(no title)`.
fn title_of(item: &Value) -> String {
    text(item, "/title").map_or_else(|| "(no title)".to_owned(), one_line)
}

/// The first 8 characters of a commit id (as GitLab shows them).
fn short_sha(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Appends a blank line and the cleaned, cut text when it has any.
fn push_text(content: &mut String, body: Option<&str>) {
    let Some(body) = body else { return };
    let cleaned = body.replace("\r\n", "\n").replace('\r', "");
    let cleaned = cleaned.trim();
    if !cleaned.is_empty() {
        content.push_str("\n\n");
        content.push_str(&clip_chars(cleaned, TEXT_CHARS));
    }
}

/// A string attribute, cut.
fn put(attributes: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        attributes.insert(key.to_owned(), json!(clip_chars(value, NAME_CHARS * 2)));
    }
}

/// A time as GitLab writes it: RFC 3339 (`2013-12-03T17:23:34Z`), `2015-05-17 18:08:09 UTC` or
/// `2021-04-28 21:50:00 +0200`; in UTC.
fn time_at(value: &Value, pointer: &str) -> Option<OffsetDateTime> {
    let text = value.pointer(pointer)?.as_str()?.trim();
    let at = if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        at
    } else if let Some(utc) = text.strip_suffix(" UTC") {
        PrimitiveDateTime::parse(
            utc,
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        )
        .ok()?
        .assume_utc()
    } else {
        OffsetDateTime::parse(
            text,
            format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
            ),
        )
        .ok()?
    };
    Some(at.to_offset(UtcOffset::UTC))
}

/// The label titles of an item (`labels[*].title`), at most [`MAX_LABELS`] that fit a tag.
fn labels(list: Option<&Value>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for label in list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_LABELS * 4)
    {
        let Some(name) = text(label, "/title") else {
            continue;
        };
        if names.len() >= MAX_LABELS {
            break;
        }
        if name.chars().count() <= TAG_CHARS && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
        {
            names.push(name.to_owned());
        }
    }
    names
}

/// Appends `Labels: a, b.` when there are labels.
fn push_labels(content: &mut String, labels: &[String]) {
    if !labels.is_empty() {
        content.push_str(&format!("\nLabels: {}.", labels.join(", ")));
    }
}

/// The `object_attributes` of a payload.
fn object_attributes(payload: &Value) -> Result<&Value, InvalidField> {
    match payload.get("object_attributes") {
        Some(v) if v.is_object() => Ok(v),
        Some(_) => Err(InvalidField::new("object_attributes", "must be an object")),
        None => Err(InvalidField::new("object_attributes", "missing")),
    }
}

fn iid_of(item: &Value, field: &str) -> Result<u64, InvalidField> {
    item.get("iid")
        .and_then(Value::as_u64)
        .ok_or_else(|| InvalidField::new(field, "missing or not a number"))
}

/// What an update changed that a person reads: `title`, `description`, `labels`, ...
fn changes_of(payload: &Value, fields: &[&str]) -> Vec<String> {
    let Some(changes) = payload.get("changes").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut said = Vec::new();
    for field in fields {
        let Some(change) = changes.get(*field) else {
            continue;
        };
        let current = change.get("current").unwrap_or(&Value::Null);
        let previous = change.get("previous").unwrap_or(&Value::Null);
        let line = match *field {
            "title" => match previous.as_str() {
                Some(old) => format!("retitled from \"{}\"", one_line(old)),
                None => "retitled".to_owned(),
            },
            "description" => "edited the description".to_owned(),
            "draft" => match current.as_bool() {
                Some(true) => "marked as draft".to_owned(),
                Some(false) => "marked as ready".to_owned(),
                None => continue,
            },
            "labels" => {
                let before = labels(Some(previous));
                let after = labels(Some(current));
                let added = after
                    .iter()
                    .filter(|l| !before.contains(l))
                    .map(|l| format!("+{l}"));
                let removed = before
                    .iter()
                    .filter(|l| !after.contains(l))
                    .map(|l| format!("-{l}"));
                let moved: Vec<String> = added.chain(removed).collect();
                if moved.is_empty() {
                    continue;
                }
                format!("labels {}", moved.join(" "))
            }
            "assignees" | "reviewers" => {
                let names: Vec<String> = current
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(MAX_LABELS)
                    .filter_map(|u| text(u, "/name").or_else(|| text(u, "/username")))
                    .map(|n| clip_chars(n, NAME_CHARS).into_owned())
                    .collect();
                if names.is_empty() {
                    format!("removed the {field}")
                } else {
                    format!("{field}: {}", names.join(", "))
                }
            }
            "target_branch" => match current.as_str() {
                Some(branch) => format!("target branch now {}", one_line(branch)),
                None => continue,
            },
            "milestone_id" => "changed the milestone".to_owned(),
            "due_date" => match current.as_str() {
                Some(date) => format!("due {}", clip_chars(date, NAME_CHARS)),
                None => "removed the due date".to_owned(),
            },
            "confidential" => match current.as_bool() {
                Some(true) => "made confidential".to_owned(),
                Some(false) => "made public".to_owned(),
                None => continue,
            },
            other => format!("changed {other}"),
        };
        said.push(line);
        if said.len() >= MAX_CHANGES {
            break;
        }
    }
    said
}

#[cfg(test)]
pub(super) mod testing {
    //! What the tests of every event family share.
    use super::*;
    pub use crate::presets::test_support::fixture;
    use crate::presets::Memory;

    pub fn memory_of(payload: &Value) -> Memory {
        crate::presets::test_support::only(normalize(payload), "the payload")
    }

    pub fn memory(name: &str) -> Memory {
        memory_of(&fixture("gitlab", name))
    }

    pub fn reason_of(payload: &Value) -> String {
        match normalize(payload).unwrap() {
            Normalized::Ignored(reason) => reason,
            Normalized::Memories(m) => panic!("stored: {m:?}"),
        }
    }

    pub fn at(rfc3339: &str) -> Option<OffsetDateTime> {
        Some(OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::presets::test_support::fixture;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    const TOKEN: &str = "gitlab-secret-token-01";
    /// A signing token as GitLab makes them: `whsec_` and 32 random bytes in base64.
    const SIGNING: &str = "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=";

    fn check(h: &HeaderMap, secrets: &[&str], now: i64) -> Result<Option<String>, String> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        verify(h, b"{}", &secrets, now, 300).map(|d| d.id)
    }

    #[test]
    fn the_secret_token_is_compared_and_idempotency_key_is_the_delivery_id() {
        let h = headers(&[
            (TOKEN_HEADER, TOKEN),
            (EVENT_UUID_HEADER, "13792a34-cac6-4fda-95a8-c58e00a3954e"),
            (IDEMPOTENCY_HEADER, "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"),
        ]);
        assert_eq!(
            check(&h, &["another-token-000001", TOKEN], 0),
            Ok(Some("f5e5f430-f57b-4e6e-9fac-d9128cd7232f".into()))
        );
        // Before GitLab 17.4 there is no Idempotency-Key.
        let old = headers(&[
            (TOKEN_HEADER, TOKEN),
            (EVENT_UUID_HEADER, "13792a34-cac6-4fda-95a8-c58e00a3954e"),
        ]);
        assert_eq!(
            check(&old, &[TOKEN], 0),
            Ok(Some("13792a34-cac6-4fda-95a8-c58e00a3954e".into()))
        );
        assert_eq!(
            check(&headers(&[(TOKEN_HEADER, TOKEN)]), &[TOKEN], 0),
            Ok(None)
        );
        let wrong = check(
            &headers(&[(TOKEN_HEADER, "not-the-token-00001")]),
            &[TOKEN],
            0,
        );
        assert_eq!(
            wrong,
            Err("X-Gitlab-Token does not match any active secret".into())
        );
        let missing = check(&HeaderMap::new(), &[TOKEN], 0).unwrap_err();
        assert!(
            missing.starts_with("missing X-Gitlab-Token header"),
            "{missing}"
        );
        assert!(check(&old, &[], 0)
            .unwrap_err()
            .contains("no active secret"));
    }

    fn signed(secret: &str, id: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let ts = ts.to_string();
        let signature = standard_webhooks::sign(secret, id, &ts, body);
        headers(&[
            ("webhook-id", id),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &signature),
            (IDEMPOTENCY_HEADER, id),
        ])
    }

    #[test]
    fn a_signing_token_makes_the_signature_required() {
        let now = 1_776_000_000;
        let h = signed(SIGNING, "f5e5f430-f57b-4e6e-9fac-d9128cd7232f", now, b"{}");
        assert_eq!(
            check(&h, &[SIGNING], now),
            Ok(Some("f5e5f430-f57b-4e6e-9fac-d9128cd7232f".into()))
        );
        // Both configured in GitLab: both headers come, the signature decides.
        let mut both = h.clone();
        both.insert(TOKEN_HEADER, HeaderValue::from_static(TOKEN));
        assert!(check(&both, &[TOKEN, SIGNING], now).is_ok());
        // A replay later than the tolerance carries a valid token but a stale timestamp.
        let stale = check(&both, &[TOKEN, SIGNING], now + 301).unwrap_err();
        assert!(stale.contains("webhook-timestamp"), "{stale}");
        // With a signing token configured, the token alone is not enough.
        let unsigned = headers(&[(TOKEN_HEADER, TOKEN)]);
        let refused = check(&unsigned, &[TOKEN, SIGNING], now).unwrap_err();
        assert!(
            refused.starts_with("missing webhook-signature header"),
            "{refused}"
        );
        // Signed with another key.
        let other = "whsec_c2Vjb25kLXNlY3JldC1rZXk=";
        let forged = signed(other, "f5e5f430-f57b-4e6e-9fac-d9128cd7232f", now, b"{}");
        assert!(check(&forged, &[SIGNING], now)
            .unwrap_err()
            .contains("does not match"));
        // A secret token is never an HMAC key, even one that happens to be base64: someone who
        // saw it in X-Gitlab-Token cannot sign with it.
        let base64_token = "dG9rZW4tdG9rZW4tdG9rZW4x";
        let with_token = signed(base64_token, "id-1", now, b"{}");
        assert!(check(&with_token, &[base64_token, SIGNING], now).is_err());
        // A signed delivery to an integration that only knows the secret token: the token is
        // checked, and its absence explained.
        let only_signed = check(&h, &[TOKEN], now).unwrap_err();
        assert!(
            only_signed.contains("X-Gitlab-Token") && only_signed.contains("Signing token"),
            "{only_signed}"
        );
        assert!(check(&both, &[TOKEN], now).is_ok());
    }

    /// Whatever a forged payload carries, a memory stays within the event limits.
    #[test]
    fn oversized_fields_are_cut_or_dropped() {
        let limits = rae_core::event::Limits::default();
        let long = "a".repeat(20_000);
        for name in [
            "push",
            "merge_request.open",
            "note.merge_request",
            "pipeline.failed",
        ] {
            let mut p = fixture("gitlab", name);
            p["project"]["path_with_namespace"] = json!(format!("group/{long}"));
            p["project"]["web_url"] = json!(format!("https://gitlab.example.com/{long}"));
            p["after"] = json!(long);
            p["object_attributes"]["url"] = json!(format!("https://gitlab.example.com/{long}"));
            p["object_attributes"]["title"] = json!(long);
            p["object_attributes"]["note"] = json!(long);
            p["user"]["name"] = json!(long);
            let m = memory_of(&p);
            assert!(m.content.len() < limits.max_content_bytes / 4, "{name}");
            let attributes = serde_json::to_vec(&m.attributes).unwrap().len();
            assert!(
                attributes < limits.max_attributes_bytes / 2,
                "{name}: {attributes}"
            );
            assert!(m.url.as_deref().map_or(0, str::len) <= MAX_URL, "{name}");
            assert!(m.tags.len() < limits.max_tags, "{name}");
            assert!(m.actor.as_deref().map_or(0, str::len) <= MAX_NAME, "{name}");
            assert!(
                m.tags
                    .iter()
                    .all(|t| t.chars().count() <= limits.max_tag_chars),
                "{name}"
            );
        }
    }

    #[test]
    fn gitlab_times_in_their_three_shapes() {
        let t = |s: &str| time_at(&json!({ "t": s }), "/t");
        assert_eq!(t("2013-12-03T17:23:34Z"), at("2013-12-03T17:23:34Z"));
        assert_eq!(t("2015-05-17 18:08:09 UTC"), at("2015-05-17T18:08:09Z"));
        assert_eq!(t("2021-04-28 21:50:00 +0200"), at("2021-04-28T19:50:00Z"));
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("2015-13-17 18:08:09 UTC"), None);
    }

    #[test]
    fn other_events_are_ignored_and_a_foreign_payload_refused() {
        assert_eq!(
            reason_of(&fixture("gitlab", "wiki_page")),
            "GitLab wiki_page events are not stored"
        );
        assert_eq!(
            reason_of(&json!({"event_name": "user_add_to_group", "group_id": 100})),
            "GitLab user_add_to_group events are not stored"
        );
        assert_eq!(
            normalize(&json!({"type": "x"})).unwrap_err().field,
            "object_kind"
        );
    }
}
