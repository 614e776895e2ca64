//! `release` (created, updated, deleted) and `deployment` (succeeded, failed, canceled).

use serde_json::{json, Map, Value};

use super::{
    actor, ignored, link, one_line, push_text, put, short_sha, time_at, who, Project, LINE_CHARS,
    NAME_CHARS, TAG_CHARS,
};
use crate::presets::{text, Memory, Normalized};
use rae_core::event::InvalidField;
use rae_core::text::clip_chars;

/// `release`: created, updated, deleted.
pub(super) fn release(payload: &Value, project: &Project<'_>) -> Result<Normalized, InvalidField> {
    let action = text(payload, "/action").unwrap_or("");
    let (kind, done) = match action {
        "create" => ("release_created", "created"),
        "update" => ("release_updated", "updated"),
        "delete" => ("release_deleted", "deleted"),
        other => {
            return Ok(ignored(format!(
                "GitLab release action {} is not stored",
                clip_chars(other, NAME_CHARS)
            )))
        }
    };
    let tag = text(payload, "/tag").ok_or_else(|| InvalidField::new("tag", "missing"))?;
    let tag = clip_chars(tag, LINE_CHARS);
    let name = text(payload, "/name").filter(|n| *n != tag);
    let label = match name {
        Some(name) => format!("\"{}\" ({tag})", one_line(name)),
        None => tag.clone().into_owned(),
    };
    let actor = actor(payload);
    let by = actor
        .map(|a| format!(" by {}", clip_chars(a, NAME_CHARS)))
        .unwrap_or_default();
    let mut content = format!("Release {label} {done}{by}{}", project.place());
    if action != "delete" {
        push_text(&mut content, text(payload, "/description"));
    }
    let release = payload
        .get("id")
        .and_then(Value::as_u64)
        .map_or_else(|| format!("tag {tag}"), |id| id.to_string());
    let mut attributes = Map::new();
    put(&mut attributes, "project", project.path());
    put(&mut attributes, "tag", Some(tag.as_ref()));
    put(&mut attributes, "name", name);
    put(&mut attributes, "action", Some(action));
    put(&mut attributes, "commit", text(payload, "/commit/id"));
    let mut tags = vec!["release".to_owned()];
    if tag.chars().count() <= TAG_CHARS {
        tags.push(tag.clone().into_owned());
    }
    tags.extend(project.tag());
    Ok(Normalized::Memories(vec![Memory {
        // A release is created and deleted once; an update has only its delivery id.
        key: match action {
            "update" => String::new(),
            _ => project.key(format_args!("release {release} {action}")),
        },
        kind: kind.into(),
        content,
        tags,
        actor: actor.map(str::to_owned),
        url: link(payload, "/url").map(str::to_owned),
        occurred_at: match action {
            "create" => time_at(payload, "/created_at"),
            _ => None,
        },
        attributes,
    }]))
}

/// `deployment`: one that succeeded, failed or was canceled.
pub(super) fn deployment(
    payload: &Value,
    project: &Project<'_>,
) -> Result<Normalized, InvalidField> {
    let status = text(payload, "/status").unwrap_or("");
    let kind = match status {
        "success" => "deployment_succeeded",
        "failed" => "deployment_failed",
        "canceled" => "deployment_canceled",
        other => {
            return Ok(ignored(format!(
                "GitLab deployment status {} is not stored",
                clip_chars(if other.is_empty() { "unknown" } else { other }, NAME_CHARS)
            )))
        }
    };
    let id = payload
        .get("deployment_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| InvalidField::new("deployment_id", "missing or not a number"))?;
    let environment = clip_chars(
        text(payload, "/environment").unwrap_or("an environment"),
        NAME_CHARS,
    );
    let sha = text(payload, "/short_sha")
        .map(|s| format!(" {}", short_sha(s)))
        .unwrap_or_default();
    let actor = actor(payload);
    let by = actor
        .map(|a| format!(" (by {})", clip_chars(a, NAME_CHARS)))
        .unwrap_or_default();
    let place = project.place();
    let mut content = match status {
        "success" => format!("{} deployed{sha} to {environment}{place}", who(actor)),
        "failed" => format!("Deployment{sha} to {environment} failed{place}{by}"),
        _ => format!("Deployment{sha} to {environment} was canceled{place}{by}"),
    };
    if let Some(title) = text(payload, "/commit_title") {
        content.push_str(&format!(": {}", one_line(title)));
    }
    if let Some(external) = text(payload, "/environment_external_url") {
        content.push_str(&format!(
            "\nEnvironment: {}",
            clip_chars(external, LINE_CHARS)
        ));
    }
    let mut attributes = Map::new();
    put(&mut attributes, "project", project.path());
    attributes.insert("deployment_id".into(), json!(id));
    put(&mut attributes, "status", Some(status));
    put(
        &mut attributes,
        "environment",
        text(payload, "/environment"),
    );
    put(
        &mut attributes,
        "environment_tier",
        text(payload, "/environment_tier"),
    );
    put(&mut attributes, "short_sha", text(payload, "/short_sha"));
    put(&mut attributes, "commit_url", text(payload, "/commit_url"));
    let mut tags = vec!["deployment".to_owned(), status.to_owned()];
    tags.extend(
        [
            text(payload, "/environment"),
            text(payload, "/environment_tier"),
        ]
        .into_iter()
        .flatten()
        .filter(|t| t.chars().count() <= TAG_CHARS)
        .map(str::to_owned),
    );
    tags.extend(project.tag());
    Ok(Normalized::Memories(vec![Memory {
        key: project.key(format_args!("deployment {id} {status}")),
        kind: kind.into(),
        content,
        tags,
        actor: actor.map(str::to_owned),
        url: link(payload, "/deployable_url")
            .or_else(|| link(payload, "/commit_url"))
            .map(str::to_owned),
        occurred_at: time_at(payload, "/status_changed_at"),
        attributes,
    }]))
}

#[cfg(test)]
mod tests {
    use crate::presets::gitlab::testing::*;
    use serde_json::json;

    #[test]
    fn releases_and_deployments() {
        let release = memory("release.create");
        assert_eq!(release.kind, "release_created");
        assert_eq!(
            release.content,
            "Release v1.1 created in gitlab-org/release-webhook-example\n\nv1.1 has been released"
        );
        assert_eq!(
            release.url.as_deref(),
            Some("https://example.com/gitlab-org/release-webhook-example/-/releases/v1.1")
        );
        assert_eq!(release.key, "project 2 release 1 create");
        assert_eq!(release.occurred_at, at("2020-11-02T12:55:12Z"));
        let mut p = fixture("gitlab", "release.create");
        p["action"] = json!("update");
        let updated = memory_of(&p);
        assert_eq!(updated.kind, "release_updated");
        assert_eq!(updated.key, "", "the delivery id is the key");

        let deployed = memory("deployment.success");
        assert_eq!(deployed.kind, "deployment_succeeded");
        assert_eq!(
            deployed.content,
            "Administrator deployed 279484c0 to staging in root/test-deployment-webhooks: Add new file\n\
             Environment: https://staging.example.com"
        );
        assert_eq!(
            deployed.url.as_deref(),
            Some("http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796")
        );
        assert_eq!(deployed.occurred_at, at("2021-04-28T19:50:00Z"));
        let failed = memory("deployment.failed");
        assert_eq!(failed.kind, "deployment_failed");
        assert!(
            failed.content.starts_with(
                "Deployment 279484c0 to staging failed in root/test-deployment-webhooks (by Administrator): Add new file"
            ),
            "{}",
            failed.content
        );
        assert_ne!(failed.key, deployed.key);
        assert_eq!(
            reason_of(&fixture("gitlab", "deployment.running")),
            "GitLab deployment status running is not stored"
        );
    }
}
