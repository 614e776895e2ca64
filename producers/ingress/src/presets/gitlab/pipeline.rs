//! `pipeline`: a pipeline that finished (failed, passed or canceled).

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{
    actor, ignored, link, object_attributes, one_line, put, short_sha, time_at, title_of, Project,
    LINE_CHARS, LISTED_JOBS, MAX_JOBS, NAME_CHARS,
};
use crate::presets::{human_duration, text, Memory, Normalized};
use rae_core::event::{InvalidField, SESSION_ID};
use rae_core::text::clip_chars;

/// `pipeline`: a pipeline that finished (failed, passed or canceled).
pub(super) fn pipeline(payload: &Value, project: &Project<'_>) -> Result<Normalized, InvalidField> {
    let run = object_attributes(payload)?;
    let status = text(run, "/status").unwrap_or("");
    if !["failed", "success", "canceled"].contains(&status) {
        return Ok(ignored(format!(
            "GitLab pipeline status {} is not stored",
            clip_chars(
                if status.is_empty() { "unknown" } else { status },
                NAME_CHARS
            )
        )));
    }
    let id = run
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| InvalidField::new("object_attributes.id", "missing or not a number"))?;
    let git_ref = text(run, "/ref").unwrap_or("");
    let is_tag = run.get("tag").and_then(Value::as_bool) == Some(true);
    // The main line: the default branch or a tag (a release).
    let main_line = is_tag || (!git_ref.is_empty() && Some(git_ref) == project.default_branch);
    let (kind, outcome) = match status {
        "failed" if main_line => ("pipeline_failed", "failed"),
        "failed" => ("pipeline_failed_branch", "failed"),
        "success" => ("pipeline_succeeded", "passed"),
        _ => ("pipeline_canceled", "was canceled"),
    };
    let actor = actor(payload);
    let on = match (git_ref, is_tag) {
        ("", _) => String::new(),
        (tag, true) => format!(" on tag {}", clip_chars(tag, LINE_CHARS)),
        (branch, false) => format!(" on {}", clip_chars(branch, LINE_CHARS)),
    };
    let duration = run
        .get("duration")
        .and_then(Value::as_f64)
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| time::Duration::seconds(d.min(1e9) as i64));
    let after = duration
        .map(|d| format!(" after {}", human_duration(d)))
        .unwrap_or_default();
    let mut content = format!("Pipeline #{id} {outcome}{on}{}{after}", project.place());
    let mr = payload.get("merge_request").filter(|m| m.is_object());
    let mr_iid = mr.and_then(|m| m.get("iid")).and_then(Value::as_u64);
    let mut details = Vec::new();
    if let Some(actor) = actor {
        details.push(format!("by {}", clip_chars(actor, NAME_CHARS)));
    }
    if let Some(source) = text(run, "/source") {
        details.push(clip_chars(source, NAME_CHARS).into_owned());
    }
    if let (Some(mr), Some(iid)) = (mr, mr_iid) {
        details.push(format!("for !{iid}: {}", title_of(mr)));
    }
    if !details.is_empty() {
        content.push_str(&format!(" ({})", details.join(", ")));
    }
    content.push('.');
    let failed_jobs: Vec<&Value> = payload
        .get("builds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_JOBS)
        .filter(|job| {
            text(job, "/status") == Some("failed")
                && job.get("allow_failure").and_then(Value::as_bool) != Some(true)
        })
        .collect();
    let job_names: Vec<String> = failed_jobs
        .iter()
        .take(LISTED_JOBS)
        .map(|job| {
            let name = clip_chars(text(job, "/name").unwrap_or("job"), NAME_CHARS);
            let why: Vec<String> = [text(job, "/stage"), text(job, "/failure_reason")]
                .into_iter()
                .flatten()
                .map(|s| clip_chars(s, NAME_CHARS).into_owned())
                .collect();
            if why.is_empty() {
                name.into_owned()
            } else {
                format!("{name} ({})", why.join(": "))
            }
        })
        .collect();
    if status == "failed" && !job_names.is_empty() {
        content.push_str(&format!("\nFailed jobs: {}", job_names.join(", ")));
        if failed_jobs.len() > LISTED_JOBS {
            content.push_str(&format!(" and {} more", failed_jobs.len() - LISTED_JOBS));
        }
        content.push('.');
    }
    let sha = text(payload, "/commit/id").or_else(|| text(run, "/sha"));
    match (
        sha,
        text(payload, "/commit/title").or_else(|| text(payload, "/commit/message")),
    ) {
        (Some(sha), Some(subject)) => content.push_str(&format!(
            "\nCommit {}: {}",
            short_sha(sha),
            one_line(subject)
        )),
        (Some(sha), None) => content.push_str(&format!("\nCommit {}.", short_sha(sha))),
        _ => {}
    }
    let url = link(run, "/url")
        .map(str::to_owned)
        .or_else(|| project.web_url.map(|web| format!("{web}/-/pipelines/{id}")));

    let mut attributes = Map::new();
    if let Some(session) = mr_iid.and_then(|iid| project.session(&format!("!{iid}"))) {
        attributes.insert(SESSION_ID.into(), json!(session));
    }
    put(&mut attributes, "project", project.path());
    attributes.insert("pipeline_id".into(), json!(id));
    put(&mut attributes, "status", Some(status));
    put(
        &mut attributes,
        "ref",
        Some(git_ref).filter(|r| !r.is_empty()),
    );
    attributes.insert("tag".into(), json!(is_tag));
    attributes.insert("default_branch".into(), json!(main_line && !is_tag));
    put(&mut attributes, "sha", sha);
    put(&mut attributes, "source", text(run, "/source"));
    if let Some(duration) = duration {
        attributes.insert("duration_secs".into(), json!(duration.whole_seconds()));
    }
    if let Some(iid) = mr_iid {
        attributes.insert("merge_request_iid".into(), json!(iid));
    }
    if status == "failed" && !job_names.is_empty() {
        attributes.insert("failed_jobs".into(), json!(job_names));
    }
    let finished = time_at(run, "/finished_at");
    let mut tags = vec!["pipeline".to_owned(), status.to_owned()];
    tags.extend(project.tag());
    Ok(Normalized::Memories(vec![Memory {
        // A retried pipeline finishes again, at another time.
        key: project.key(format_args!(
            "pipeline {id} {status} {}",
            finished.map_or(0, OffsetDateTime::unix_timestamp)
        )),
        kind: kind.into(),
        content,
        tags,
        actor: actor.map(str::to_owned),
        url,
        occurred_at: finished.or_else(|| time_at(run, "/created_at")),
        attributes,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::gitlab::testing::*;
    use serde_json::json;

    #[test]
    fn pipelines_that_finish() {
        let failed = memory("pipeline.failed");
        assert_eq!(failed.kind, "pipeline_failed", "the default branch");
        assert_eq!(
            failed.content,
            "Pipeline #31 failed on master in gitlab-org/gitlab-test after 1m 3s (by Administrator, push).\n\
             Failed jobs: test-build (test: script_failure).\n\
             Commit bcbb5ec3: test"
        );
        assert_eq!(
            failed.url.as_deref(),
            Some("http://example.com/gitlab-org/gitlab-test/-/pipelines/31")
        );
        assert_eq!(
            failed.tags,
            ["pipeline", "failed", "gitlab-org/gitlab-test"]
        );
        assert_eq!(failed.occurred_at, at("2016-08-12T15:26:29Z"));
        assert_eq!(
            failed.attributes["failed_jobs"],
            json!(["test-build (test: script_failure)"])
        );
        assert!(!failed.attributes.contains_key(SESSION_ID));

        let mut p = fixture("gitlab", "pipeline.failed");
        p["object_attributes"]["ref"] = json!("feature/login");
        assert_eq!(memory_of(&p).kind, "pipeline_failed_branch");
        p["object_attributes"]["tag"] = json!(true);
        p["object_attributes"]["ref"] = json!("v1.2.0");
        let on_tag = memory_of(&p);
        assert_eq!(on_tag.kind, "pipeline_failed");
        assert!(on_tag
            .content
            .starts_with("Pipeline #31 failed on tag v1.2.0"));

        let passed = memory("pipeline.success");
        assert_eq!(passed.kind, "pipeline_succeeded");
        assert_eq!(
            passed.content,
            "Pipeline #31 passed on master in gitlab-org/gitlab-test after 1m 3s \
             (by Administrator, merge_request_event, for !1: Test).\n\
             Commit bcbb5ec3: test"
        );
        // A merge request's pipeline joins its conversation.
        assert_eq!(
            passed.attributes[SESSION_ID],
            "gitlab:gitlab-org/gitlab-test!1"
        );
        assert_ne!(passed.key, failed.key);

        for status in ["running", "pending", "created"] {
            let mut p = fixture("gitlab", "pipeline.success");
            p["object_attributes"]["status"] = json!(status);
            assert_eq!(
                reason_of(&p),
                format!("GitLab pipeline status {status} is not stored")
            );
        }
    }
}
