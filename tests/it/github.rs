//! The GitHub webhook as GitHub sees it (the answers in its delivery log) and what reached
//! NATS: every handled event type from real payload samples, signatures, redelivery and
//! per-tenant routing.

use std::time::Duration;

use serde_json::Value;

use rae_ingress::github::verify::sign;

use crate::harness::*;

const GITHUB_SECRET: &str = "github-secret-new";
const GITHUB_OLD_SECRET: &str = "github-secret-old";
const ACME: &str = "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f";

fn github_yaml() -> String {
    format!(
        r#"  - id: github
    config:
      secrets: ["{GITHUB_OLD_SECRET}", "{GITHUB_SECRET}"]
  - id: github-strict
    kind: github
    config:
      secrets: ["{GITHUB_SECRET}"]
      repositories: ["someone/else"]
tenants:
  acme:
    rae_tenant_id: {ACME}
    integrations:
      github:
        organizations: ["Octocoders"]
"#
    )
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// POSTs a delivery as GitHub does.
async fn deliver(
    pipeline: &Pipeline,
    route: &str,
    event: &str,
    delivery: &str,
    body: &str,
    secret: &str,
) -> (u16, Value) {
    let signature = sign(secret, body.as_bytes());
    let (status, answer, _) = pipeline
        .post(
            &format!("/api/v1/integrations/{route}/webhook"),
            body,
            &[
                ("content-type", "application/json"),
                ("x-github-event", event),
                ("x-github-delivery", delivery),
                ("x-hub-signature-256", &signature),
                ("user-agent", "GitHub-Hookshot/test"),
            ],
        )
        .await;
    (status, answer)
}

#[tokio::test]
async fn every_handled_event_type_becomes_the_right_event() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &github_yaml())).await;

    // (fixture, X-GitHub-Event, expected status, expected kind or answer status)
    let cases = [
        ("ping.json", "ping", 200, "pong"),
        (
            "pull_request.opened.json",
            "pull_request",
            202,
            "pull_request_opened",
        ),
        (
            "pull_request.reopened.json",
            "pull_request",
            202,
            "pull_request_reopened",
        ),
        (
            "pull_request.closed_merged.json",
            "pull_request",
            202,
            "pull_request_merged",
        ),
        (
            "pull_request.closed_unmerged.json",
            "pull_request",
            202,
            "pull_request_closed",
        ),
        ("pull_request.labeled.json", "pull_request", 200, "ignored"),
        (
            "pull_request_review.submitted.json",
            "pull_request_review",
            202,
            "pull_request_review",
        ),
        ("issues.opened.json", "issues", 202, "issue_opened"),
        ("issues.closed.json", "issues", 202, "issue_closed"),
        (
            "issue_comment.created.json",
            "issue_comment",
            202,
            "issue_comment",
        ),
        ("push.json", "push", 202, "push"),
        ("push.branch_deleted.json", "push", 200, "ignored"),
        (
            "release.published.json",
            "release",
            202,
            "release_published",
        ),
        (
            "workflow_run.completed_failure.json",
            "workflow_run",
            202,
            "workflow_run_failed",
        ),
        (
            "workflow_run.completed_success.json",
            "workflow_run",
            200,
            "ignored",
        ),
        ("star.created.json", "star", 200, "ignored"),
    ];
    let mut stored = 0;
    for (i, (file, event, status, expected)) in cases.iter().enumerate() {
        let delivery = format!("0000000{i}-aaaa-bbbb-cccc-dddddddddddd");
        let (got, answer) = deliver(
            &pipeline,
            "github",
            event,
            &delivery,
            &fixture(file),
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(got, *status, "{file}: {answer}");
        if *status == 202 {
            stored += 1;
            assert_eq!(answer["duplicate"], false, "{file}");
            let id = answer["id"].as_str().unwrap();
            let events = events_with_id(pipeline.bus(), id).await;
            assert_eq!(events.len(), 1, "{file}");
            let e = &events[0];
            assert_eq!(e["kind"], *expected, "{file}");
            assert_eq!(e["source"], "github");
            assert_eq!(e["attributes"]["delivery"], delivery.as_str());
            assert!(e["content"].as_str().unwrap().len() > 10, "{file}: {e}");
            assert!(
                e["url"].as_str().unwrap().starts_with("https://"),
                "{file}: {e}"
            );
            assert!(e["actor"].is_string(), "{file}: {e}");
            // An issue or PR and what is said on it share one conversation id.
            if let Some(number) = e["attributes"]["number"].as_u64() {
                let session = e["attributes"]["session_id"].as_str().unwrap_or_default();
                assert!(
                    session.starts_with("github:") && session.ends_with(&format!("#{number}")),
                    "{file}: {e}"
                );
            }
        } else {
            assert_eq!(answer["status"], *expected, "{file}: {answer}");
        }
    }

    // The labels of an issue are tags; the org's tenant gets it; RAE stores it.
    let issue = &stream_json(pipeline.bus(), rae_core::subjects::EVENTS_STREAM)
        .await
        .into_iter()
        .find(|e| e["kind"] == "issue_opened")
        .unwrap();
    let labels: Vec<String> = serde_json::from_str::<Value>(&fixture("issues.opened.json"))
        .unwrap()["issue"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!labels.is_empty());
    for label in &labels {
        assert!(
            issue["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == label.as_str()),
            "label {label} missing from {issue}"
        );
    }
    wait_for(
        "RAE to store every event",
        Duration::from_secs(15),
        || async { rae.stored().len() == stored },
    )
    .await;
    let merged = rae
        .stored()
        .into_iter()
        .find(|r| r.body["metadata"]["kind"] == "pull_request_merged")
        .unwrap();
    assert_eq!(
        merged.headers["x-tenant-id"], ACME,
        "Octocoders belongs to acme"
    );
    let push = rae
        .stored()
        .into_iter()
        .find(|r| r.body["metadata"]["kind"] == "push")
        .unwrap();
    assert_eq!(push.headers["x-tenant-id"], "default-tenant");

    // Ignored deliveries are counted as such, not as errors.
    let (status, answer) = deliver(
        &pipeline,
        "github-strict",
        "push",
        "strict-1",
        &fixture("push.json"),
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["reason"],
        "repository Codertocat/Hello-World is not configured for any tenant"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn signatures_rotation_and_bad_requests() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &github_yaml())).await;
    let body = fixture("issues.opened.json");

    for (i, secret) in [GITHUB_OLD_SECRET, GITHUB_SECRET].iter().enumerate() {
        let (status, answer) = deliver(
            &pipeline,
            "github",
            "issues",
            &format!("rot-{i}"),
            &body,
            secret,
        )
        .await;
        assert_eq!(status, 202, "{secret}: {answer}");
    }
    let (status, answer) = deliver(
        &pipeline,
        "github",
        "issues",
        "bad-1",
        &body,
        "not-the-secret",
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], "unauthorized");

    // Signed for one body, sent with another.
    let signature = sign(GITHUB_SECRET, body.as_bytes());
    let tampered = body.replacen("Codertocat", "Mallory", 1);
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/integrations/github/webhook",
            &tampered,
            &[
                ("x-github-event", "issues"),
                ("x-github-delivery", "tampered-1"),
                ("x-hub-signature-256", &signature),
            ],
        )
        .await;
    assert_eq!(status, 401, "{answer}");

    let signature = sign(GITHUB_SECRET, body.as_bytes());
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/integrations/github/webhook",
            &body,
            &[
                ("x-github-delivery", "no-event"),
                ("x-hub-signature-256", &signature),
            ],
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "X-GitHub-Event");

    let (status, answer, _) = pipeline
        .post("/api/v1/integrations/gitlab/webhook", &body, &[])
        .await;
    assert_eq!(status, 404, "{answer}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_redelivery_after_the_jetstream_window_is_still_a_duplicate() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, &github_yaml());
    // JetStream's own Msg-Id window is one second here, so only rae_dedupe can catch the
    // redelivery below (GitHub's "Redeliver" button keeps X-GitHub-Delivery, hours later).
    config.nats.duplicate_window_secs = 1;
    let mut pipeline = Pipeline::start(&config).await;
    let body = fixture("pull_request.opened.json");
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

    let (status, first) = deliver(
        &pipeline,
        "github",
        "pull_request",
        delivery,
        &body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status, 202, "{first}");
    // Let the JetStream duplicate window pass (time passing, not synchronization).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, again) = deliver(
        &pipeline,
        "github",
        "pull_request",
        delivery,
        &body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    let id = first["id"].as_str().unwrap();
    assert_eq!(events_with_id(pipeline.bus(), id).await.len(), 1);

    // After a restart too: the memory of deliveries lives in NATS, not in the process.
    pipeline.shutdown().await;
    let mut pipeline = Pipeline::start(&config).await;
    let (status, after) = deliver(
        &pipeline,
        "github",
        "pull_request",
        delivery,
        &body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status, 202, "{after}");
    assert_eq!(after["duplicate"], true);
    wait_for("RAE to store it once", Duration::from_secs(10), || async {
        rae.stored_event_ids().get(id) == Some(&1)
    })
    .await;
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_tenants_own_secret_signs_only_for_that_tenant() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml = format!(
        r#"  - id: github
    config:
      secrets: ["{GITHUB_SECRET}"]
tenants:
  acme:
    rae_tenant_id: {ACME}
    integrations:
      github:
        organizations: ["Octocoders"]
        secrets: ["acme-own-secret-1"]
  beta:
    rae_tenant_id: 11111111-2222-3333-4444-555555555555
    integrations:
      github:
        organizations: ["Codertocat"]
"#
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml)).await;
    let pr = fixture("pull_request.opened.json"); // Octocoders: acme's
    let push = fixture("push.json"); // owner Codertocat, no organization: beta's

    // acme's repositories need acme's own secret; the shared one does not reach them.
    let (status, answer) = deliver(
        &pipeline,
        "github",
        "pull_request",
        "t-1",
        &pr,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "ignored");
    let (status, answer) = deliver(
        &pipeline,
        "github",
        "pull_request",
        "t-2",
        &pr,
        "acme-own-secret-1",
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let event = &events_with_id(pipeline.bus(), answer["id"].as_str().unwrap()).await[0];
    assert_eq!(event["tenant"], "acme");

    // acme's secret does not sign for beta's repository.
    let (status, answer) = deliver(
        &pipeline,
        "github",
        "push",
        "t-3",
        &push,
        "acme-own-secret-1",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["reason"],
        "signed with tenant acme's secret, but repository Codertocat/Hello-World is not acme's"
    );
    let (status, answer) = deliver(&pipeline, "github", "push", "t-4", &push, GITHUB_SECRET).await;
    assert_eq!(status, 202, "{answer}");
    let event = &events_with_id(pipeline.bus(), answer["id"].as_str().unwrap()).await[0];
    assert_eq!(event["tenant"], "beta");

    let (status, _) = deliver(&pipeline, "github", "push", "t-5", &push, "nobody-secret").await;
    assert_eq!(status, 401);

    // Delivery ids are remembered per tenant: acme, learning the id of a delivery meant for
    // beta and sending it first, cannot make beta's genuine delivery a duplicate.
    let (status, answer) = deliver(
        &pipeline,
        "github",
        "pull_request",
        "t-6",
        &pr,
        "acme-own-secret-1",
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = deliver(&pipeline, "github", "push", "t-6", &push, GITHUB_SECRET).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["duplicate"], false, "{answer}");
    let beta = answer["id"].as_str().unwrap().to_owned();
    wait_for(
        "beta's delivery in RAE",
        Duration::from_secs(10),
        || async { rae.stored_event_ids().get(&beta) == Some(&1) },
    )
    .await;
    pipeline.shutdown().await;
}
