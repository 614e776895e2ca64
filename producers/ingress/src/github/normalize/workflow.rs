//! `workflow_run` deliveries: a completed run that failed, timed out or failed to start.

use serde_json::{Map, Value};

use rae_core::event::InvalidField;
use rae_core::text::clip_chars;

use super::draft::{put_text, short, Context, Draft};
use super::fields::{object_at, one_line, short_sha, string_at, text, time_at};
use super::{ignored, ignored_action, Outcome, LINE_CHARS, NAME_CHARS};

/// Conclusions of a completed workflow run that are remembered.
const FAILED_CONCLUSIONS: &[&str] = &["failure", "timed_out", "startup_failure"];

pub(super) fn workflow_run(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if action != "completed" {
        return Ok(ignored_action("workflow_run", action));
    }
    let run = object_at(ctx.payload, "workflow_run", "workflow_run")?;
    let conclusion = string_at(run, "conclusion", "workflow_run.conclusion")?;
    if !FAILED_CONCLUSIONS.contains(&conclusion) {
        return Ok(ignored(format!(
            "workflow_run completed with conclusion {} is not stored",
            clip_chars(conclusion, NAME_CHARS)
        )));
    }
    let outcome = match conclusion {
        "timed_out" => "timed out",
        "startup_failure" => "failed to start",
        _ => "failed",
    };
    let workflow = text(ctx.payload, &["workflow", "name"])
        .or_else(|| text(run, &["name"]))
        .unwrap_or("workflow");
    let branch = text(run, &["head_branch"]);
    let triggered_by = text(run, &["triggering_actor", "login"])
        .or_else(|| text(run, &["actor", "login"]))
        .or(ctx.actor);
    let event = text(run, &["event"]);
    let run_number = run.get("run_number").and_then(Value::as_u64);
    let head_sha = text(run, &["head_sha"]).or_else(|| text(run, &["head_commit", "id"]));
    let url = text(run, &["html_url"]);

    let mut content = format!(
        "Workflow \"{}\" {outcome}{}{}",
        clip_chars(one_line(workflow), LINE_CHARS),
        branch
            .map(|b| format!(" on {}", clip_chars(b, LINE_CHARS)))
            .unwrap_or_default(),
        ctx.in_repo()
    );
    let mut details = Vec::new();
    if let Some(n) = run_number {
        details.push(format!("run #{n}"));
    }
    if let Some(who) = triggered_by {
        details.push(format!("triggered by {}", clip_chars(who, NAME_CHARS)));
    }
    if let Some(event) = event {
        details.push(format!("on {}", clip_chars(event, NAME_CHARS)));
    }
    if !details.is_empty() {
        content.push_str(&format!(" ({})", details.join(", ")));
    }
    content.push('.');
    let subject = text(run, &["head_commit", "message"])
        .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()));
    match (head_sha, subject) {
        (Some(sha), Some(subject)) => content.push_str(&format!(
            "\nHead commit {}: {}",
            short_sha(sha),
            clip_chars(subject, LINE_CHARS)
        )),
        (None, Some(subject)) => content.push_str(&format!(
            "\nHead commit: {}",
            clip_chars(subject, LINE_CHARS)
        )),
        (Some(sha), None) => content.push_str(&format!("\nHead commit {}.", short_sha(sha))),
        (None, None) => {}
    }
    if let Some(url) = url {
        content.push_str(&format!("\nRun: {}", clip_chars(url, LINE_CHARS)));
    }

    let mut attributes = Map::new();
    attributes.insert("action".into(), short(action));
    put_text(&mut attributes, "workflow", Some(workflow));
    attributes.insert("conclusion".into(), short(conclusion));
    put_text(&mut attributes, "branch", branch);
    put_text(&mut attributes, "head_sha", head_sha);
    put_text(&mut attributes, "event", event);
    put_text(&mut attributes, "triggered_by", triggered_by);
    for key in ["id", "run_number", "run_attempt"] {
        if let Some(n) = run.get(key).and_then(Value::as_u64) {
            let name = if key == "id" { "run_id" } else { key };
            attributes.insert(name.into(), n.into());
        }
    }
    let pull_requests: Vec<Value> = run
        .get("pull_requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|pr| pr.get("number").and_then(Value::as_u64))
        .take(10)
        .map(Value::from)
        .collect();
    if !pull_requests.is_empty() {
        attributes.insert("pull_requests".into(), Value::Array(pull_requests));
    }
    Ok(ctx.finish(Draft {
        kind: "workflow_run_failed",
        kind_tag: "ci",
        content,
        url,
        occurred_at: time_at(run, &["updated_at", "run_started_at", "created_at"]),
        tags: vec!["failed".to_owned()],
        attributes,
        key: None,
    }))
}

#[cfg(test)]
mod tests {
    use crate::github::normalize::test_support::*;
    use crate::github::normalize::{ignored, Outcome};

    #[test]
    fn failed_workflow_runs() {
        let m = memory("workflow_run.completed_failure.json");
        assert_eq!(m.kind, "workflow_run_failed");
        assert_eq!(
            m.content,
            "Workflow \"test\" failed on master in octo-org/octo-repo \
             (run #163, triggered by Codertocat, on push).\n\
             Head commit 3484a3f: build(test): check workflow run event payload\n\
             Run: https://github.com/octo-org/octo-repo/actions/runs/289782451"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/octo-org/octo-repo/actions/runs/289782451")
        );
        assert_eq!(m.tags, ["github", "ci", "failed"]);
        assert_eq!(m.organization.as_deref(), Some("octo-org"));
        assert_eq!(m.attributes["workflow"], "test");
        assert_eq!(m.attributes["conclusion"], "failure");
        assert_eq!(m.attributes["branch"], "master");
        assert_eq!(m.attributes["run_number"], 163);
        assert_eq!(m.attributes["run_id"], 289782451);
        assert_eq!(m.occurred_at, at("2020-10-05T16:33:49Z"));

        let mut p = payload("workflow_run.completed_failure.json");
        p["workflow_run"]["conclusion"] = "timed_out".into();
        let Outcome::Memory(m) = run("workflow_run", &p).unwrap() else {
            panic!()
        };
        assert!(m
            .content
            .starts_with("Workflow \"test\" timed out on master"));
        assert_eq!(m.kind, "workflow_run_failed");
    }

    #[test]
    fn other_workflow_runs_are_ignored() {
        assert_eq!(
            reason("workflow_run.completed_success.json"),
            "workflow_run completed with conclusion success is not stored"
        );
        let mut p = payload("workflow_run.completed_failure.json");
        p["action"] = "requested".into();
        assert_eq!(
            run("workflow_run", &p).unwrap(),
            ignored("workflow_run action requested is not stored")
        );
    }
}
