//! Forgetting as an operator and a provider see it: an erasure request by URL over HTTP and
//! from the command line, what RAE is asked to delete (once, retried through a failure), and
//! the audit record.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use rae_core::subjects::AUDIT_STREAM;
use rae_ingress::github::verify::sign;

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_rae-pipeline");
const GITHUB_SECRET: &str = "forget-github-secret";
const ERASER: &str = "rpk_forget_eraser_key_for_tests_01";
const ISSUE: &str = "https://github.com/Codertocat/Hello-World/issues/1";
const SLACK_SECRET: &str = "forget-slack-signing";

fn yaml() -> String {
    format!(
        r#"  - id: github
    config:
      secrets: ["{GITHUB_SECRET}"]
  - id: slack
    config:
      signing_secrets: ["{SLACK_SECRET}"]
      auto_store_channels: ["C123ABC456"]
api_keys:
  - {{ id: eraser, key: "{ERASER}", scopes: ["memories:forget"], tenants: ["default-tenant"] }}
"#
    )
}

async fn deliver(pipeline: &Pipeline, event: &str, fixture: &str, delivery: &str) {
    let (status, answer) = post_github(pipeline, event, &github_fixture(fixture), delivery).await;
    assert_eq!(status, 202, "{answer}");
}

/// A GitHub sample payload from `tests/fixtures/github/`.
fn github_fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// POSTs `payload` signed, as GitHub delivers event `event`.
async fn post_github(
    pipeline: &Pipeline,
    event: &str,
    payload: &Value,
    delivery: &str,
) -> (u16, Value) {
    let body = payload.to_string();
    let signature = sign(GITHUB_SECRET, body.as_bytes());
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/integrations/github/webhook",
            &body,
            &[
                ("content-type", "application/json"),
                ("x-github-event", event),
                ("x-github-delivery", delivery),
                ("x-hub-signature-256", &signature),
            ],
        )
        .await;
    (status, answer)
}

async fn forget(pipeline: &Pipeline, body: Value) -> (u16, Value) {
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/forget",
            &body.to_string(),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {ERASER}")),
            ],
        )
        .await;
    (status, answer)
}

/// POSTs a Slack Events API body as Slack does.
async fn slack(pipeline: &Pipeline, fixture: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/slack/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read_to_string(path).unwrap();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let signature = rae_ingress::slack::verify::sign(SLACK_SECRET, &ts, body.as_bytes());
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/integrations/slack/events",
            &body,
            &[
                ("content-type", "application/json"),
                ("x-slack-request-timestamp", &ts),
                ("x-slack-signature", &signature),
            ],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The DELETEs RAE answered 200, by path.
fn deleted(rae: &FakeRae) -> Vec<String> {
    rae.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v2/memories/") && r.path != "/v2/memories/")
        .filter(|r| r.path != "/v2/memories/query" && r.status == 200)
        .map(|r| r.path)
        .collect()
}

#[tokio::test]
async fn an_erasure_request_deletes_each_memory_once_through_a_rae_failure() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml())).await;
    deliver(&pipeline, "issues", "issues.opened.json", "d-issue").await;
    deliver(
        &pipeline,
        "issue_comment",
        "issue_comment.created.json",
        "d-comment",
    )
    .await;
    let records = pipeline.bus().memory_records().await.unwrap();
    wait_for(
        "both memories recorded",
        Duration::from_secs(15),
        || async {
            let selector = rae_core::forget::Selector::new(rae_core::forget::By::Url, ISSUE);
            records
                .find("default-tenant", &selector)
                .await
                .unwrap()
                .len()
                == 2
        },
    )
    .await;
    let memories: Vec<String> = rae
        .stored()
        .iter()
        .map(|r| r.memory_id.clone().unwrap())
        .collect();
    assert_eq!(memories.len(), 2);
    // Issue and comment are one conversation, named by the issue's title.
    for stored in rae.stored() {
        assert_eq!(stored.body["session_id"], "github:Codertocat/Hello-World#1");
        assert_eq!(
            stored.body["human_label"],
            "Codertocat/Hello-World#1: Spelling error in the README file"
        );
    }

    // A dry run says what would go, and changes nothing.
    let (status, answer) = forget(
        &pipeline,
        json!({"by": "url", "value": ISSUE, "dry_run": true}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["memories"], 2, "{answer}");
    assert_eq!(answer["status"], "dry_run");

    // RAE fails the first delete of one memory: the forget is retried, nothing is lost.
    let first = format!("/v2/memories/{}", memories[0]);
    rae.set_answer(&first, 503, json!({"detail": "busy"}));
    let (status, answer) = forget(&pipeline, json!({"by": "url", "value": ISSUE})).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["memories"], 2, "{answer}");
    let forget_id = answer["id"].as_str().unwrap().to_owned();
    wait_for("a refused delete", Duration::from_secs(10), || async {
        rae.requests()
            .iter()
            .any(|r| r.path == first && r.status == 503)
    })
    .await;
    rae.set_answer(&first, 200, json!({}));
    wait_for("both memories deleted", Duration::from_secs(15), || async {
        deleted(&rae).len() == 2
    })
    .await;
    let mut paths = deleted(&rae);
    paths.sort();
    let mut expected: Vec<String> = memories
        .iter()
        .map(|m| format!("/v2/memories/{m}"))
        .collect();
    expected.sort();
    assert_eq!(paths, expected);
    for record in records
        .find(
            "default-tenant",
            &rae_core::forget::Selector::new(rae_core::forget::By::Url, ISSUE),
        )
        .await
        .unwrap()
    {
        assert!(record.forgotten_at.is_some(), "{record:?}");
    }

    // Asked again, from the command line: nothing is left to forget, and RAE is asked nothing.
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NATS_URL", nats.url())
        .env("RUST_LOG", "warn")
        .args(["forget", "--url", ISSUE])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("forgetting 0 memories of url {ISSUE}")),
        "{stdout}"
    );
    let bus = pipeline.bus().clone();
    wait_for(
        "the writer to finish the second forget",
        Duration::from_secs(15),
        || {
            let bus = bus.clone();
            async move { consumer_settled(&bus, "RAE_ENRICHED", "writer").await }
        },
    )
    .await;
    assert_eq!(deleted(&rae).len(), 2, "a memory was deleted twice");

    // Both requests are audited: over HTTP with the key's id.
    let audit = stream_json(pipeline.bus(), AUDIT_STREAM).await;
    let http = audit
        .iter()
        .find(|r| r["event_id"] == json!(forget_id))
        .unwrap_or_else(|| panic!("no audit record of {forget_id}: {audit:?}"));
    assert_eq!(http["integration"], "forget");
    assert_eq!(http["key_id"], "eraser");
    assert!(
        audit
            .iter()
            .any(|r| r["integration"] == "forget" && r["key_id"].is_null()),
        "no audit record of the command line's forget: {audit:?}"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn forget_refuses_bad_requests_with_the_field_named() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml())).await;
    let (status, answer) = forget(&pipeline, json!({"by": "colour", "value": "red"})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "by", "{answer}");
    let (status, answer) = forget(&pipeline, json!({"by": "actor", "value": ""})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "value", "{answer}");
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NATS_URL", nats.url())
        .args(["forget", "--actor", "ana", "--url", "https://x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn an_edit_at_the_source_replaces_the_memory_and_a_deletion_forgets_it() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml())).await;

    // A Slack message, then its edit: RAE gets the new text and is asked to delete the old.
    slack(&pipeline, "event_callback.message.json").await;
    wait_for("the message stored", Duration::from_secs(15), || async {
        rae.stored().len() == 1
    })
    .await;
    let original = rae.stored()[0].memory_id.clone().unwrap();
    let answer = slack(&pipeline, "event_callback.message_changed.json").await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    wait_for(
        "the edit stored and the original deleted",
        Duration::from_secs(15),
        || async {
            rae.stored().len() == 2 && deleted(&rae) == [format!("/v2/memories/{original}")]
        },
    )
    .await;
    let edited = rae.stored()[1].clone();
    assert_eq!(edited.body["content"], "Hello, world!");

    // Its deletion at the source forgets the edited memory too.
    let answer = slack(&pipeline, "event_callback.message_deleted.json").await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    let edited_path = format!("/v2/memories/{}", edited.memory_id.unwrap());
    wait_for(
        "the edited memory deleted",
        Duration::from_secs(15),
        || async { deleted(&rae).contains(&edited_path) },
    )
    .await;
    assert_eq!(deleted(&rae).len(), 2, "{:?}", deleted(&rae));
    assert_eq!(rae.stored().len(), 2, "a deletion stores nothing");

    // A GitHub comment deleted at the source: its memory goes, the issue's stays.
    deliver(&pipeline, "issues", "issues.opened.json", "d-issue").await;
    deliver(
        &pipeline,
        "issue_comment",
        "issue_comment.created.json",
        "d-comment",
    )
    .await;
    wait_for(
        "issue and comment stored",
        Duration::from_secs(15),
        || async { rae.stored().len() == 4 },
    )
    .await;
    let comment = rae
        .stored()
        .into_iter()
        .find(|r| {
            r.body["content"]
                .as_str()
                .unwrap()
                .contains("commented on issue")
        })
        .unwrap();
    let mut payload = github_fixture("issue_comment.created.json");
    payload["action"] = "deleted".into();
    let (status, answer) =
        post_github(&pipeline, "issue_comment", &payload, "d-comment-deleted").await;
    assert_eq!(status, 202, "{answer}");
    let comment_path = format!("/v2/memories/{}", comment.memory_id.unwrap());
    wait_for(
        "the comment's memory deleted",
        Duration::from_secs(15),
        || async { deleted(&rae).contains(&comment_path) },
    )
    .await;
    assert_eq!(
        deleted(&rae).len(),
        3,
        "only the comment's memory: {:?}",
        deleted(&rae)
    );
    pipeline.shutdown().await;
}

/// A GitHub issue's description edited: RAE keeps the text as it is now (the opening's memory,
/// then the first edit's, deleted as each newer version is stored), and the issue's comment and
/// closing stay; an edit of something else (a milestone) is not a new memory.
#[tokio::test]
async fn an_edited_issue_replaces_its_text_and_keeps_its_comments_and_closing() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml())).await;
    deliver(&pipeline, "issues", "issues.opened.json", "d-opened").await;
    deliver(
        &pipeline,
        "issue_comment",
        "issue_comment.created.json",
        "d-comment",
    )
    .await;
    deliver(&pipeline, "issues", "issues.closed.json", "d-closed").await;
    wait_for(
        "opening, comment and closing stored",
        Duration::from_secs(15),
        || async { rae.stored().len() == 3 },
    )
    .await;
    let memory_of = |prefix: &str| {
        let stored = rae.stored().into_iter().find(|r| {
            r.body["content"]
                .as_str()
                .is_some_and(|c| c.starts_with(prefix))
        });
        format!("/v2/memories/{}", stored.unwrap().memory_id.unwrap())
    };
    let opened = memory_of("Issue #1 opened by");

    let edit = |body: &str, at: &str| {
        let mut payload = github_fixture("issues.opened.json");
        payload["action"] = "edited".into();
        payload["changes"] = json!({"body": {"from": "the earlier text"}});
        payload["issue"]["body"] = body.into();
        payload["issue"]["updated_at"] = at.into();
        payload
    };
    let first = edit(
        "Spelled 'commit' with two t's in README.md, line 3.",
        "2019-05-16T09:00:00Z",
    );
    let (status, answer) = post_github(&pipeline, "issues", &first, "d-edit-1").await;
    assert_eq!(status, 202, "{answer}");
    wait_for(
        "the edit stored and the opening deleted",
        Duration::from_secs(15),
        || async { rae.stored().len() == 4 && deleted(&rae) == [opened.clone()] },
    )
    .await;
    let first_edit = memory_of("Issue #1 edited by");
    let stored = rae.stored();
    let text = stored[3].body["content"].as_str().unwrap();
    assert!(
        text.ends_with("Spelled 'commit' with two t's in README.md, line 3."),
        "{text}"
    );

    let second = edit(
        "Fixed wording: see README.md, line 3.",
        "2019-05-17T09:00:00Z",
    );
    let (status, answer) = post_github(&pipeline, "issues", &second, "d-edit-2").await;
    assert_eq!(status, 202, "{answer}");
    wait_for(
        "the second edit stored and the first deleted",
        Duration::from_secs(15),
        || async { rae.stored().len() == 5 && deleted(&rae).contains(&first_edit) },
    )
    .await;
    // Each older version deleted once; the comment and the closing kept.
    assert_eq!(deleted(&rae), [opened, first_edit]);

    let mut milestone = github_fixture("issues.opened.json");
    milestone["action"] = "edited".into();
    milestone["changes"] = json!({"milestone": {"from": null}});
    let (status, answer) = post_github(&pipeline, "issues", &milestone, "d-milestone").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "ignored", "{answer}");
    pipeline.shutdown().await;
    assert_eq!(rae.stored().len(), 5);
}
