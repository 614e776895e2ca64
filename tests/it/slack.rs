//! Slack as a Slack app sees it: signed event deliveries and slash commands, the answers
//! Slack shows, the 3-second deadline with a slow RAE, and what reached NATS.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use rae_ingress::slack::verify::sign;

use crate::harness::*;

const SLACK_SECRET: &str = "slack-signing-new";
const SLACK_OLD_SECRET: &str = "slack-signing-old";
const ACME: &str = "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f";

fn slack_yaml(rae: &FakeRae) -> String {
    format!(
        r##"  - id: slack
    config:
      signing_secrets: ["{SLACK_OLD_SECRET}", "{SLACK_SECRET}"]
      auto_store_channels: ["C123ABC456"]
      response_url_prefixes: ["{rae}/hooks/"]
      command_deadline_ms: 1000
tenants:
  acme:
    rae_tenant_id: {ACME}
    integrations:
      slack:
        workspace_id: T0001
        channel_whitelist: ["#test", "C0000CMD"]
"##,
        rae = rae.url()
    )
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/slack/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// POSTs `body` to a Slack route, signed with `secret` at unix time `at`.
async fn signed(
    pipeline: &Pipeline,
    route: &str,
    content_type: &str,
    body: &str,
    secret: &str,
    at: i64,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let ts = at.to_string();
    let signature = sign(secret, &ts, body.as_bytes());
    let mut headers = vec![
        ("content-type", content_type),
        ("x-slack-request-timestamp", ts.as_str()),
        ("x-slack-signature", signature.as_str()),
    ];
    headers.extend_from_slice(extra);
    let (status, answer, _) = pipeline
        .post(
            &format!("/api/v1/integrations/slack/{route}"),
            body,
            &headers,
        )
        .await;
    (status, answer)
}

async fn event(pipeline: &Pipeline, body: &str) -> (u16, Value) {
    signed(
        pipeline,
        "events",
        "application/json",
        body,
        SLACK_SECRET,
        now(),
        &[],
    )
    .await
}

/// A slash command form as Slack sends it.
fn command_form(text: &str, channel_id: &str, channel_name: &str, response_url: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", "T0001"),
        ("team_domain", "example"),
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", "U2147483697"),
        ("user_name", "steve"),
        ("command", "/rae"),
        ("text", text),
        ("api_app_id", "A123456"),
        ("response_url", response_url),
        (
            "trigger_id",
            &format!("{}.738474920.{}", now(), uuid::Uuid::new_v4().simple()),
        ),
    ])
    .unwrap()
}

async fn command(pipeline: &Pipeline, form: &str) -> (u16, Value) {
    signed(
        pipeline,
        "commands",
        "application/x-www-form-urlencoded",
        form,
        SLACK_SECRET,
        now(),
        &[],
    )
    .await
}

#[tokio::test]
async fn events_are_verified_filtered_and_deduplicated() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &slack_yaml(&rae))).await;

    let (status, answer) = event(&pipeline, &fixture("url_verification.json")).await;
    assert_eq!(status, 200, "{answer}");
    let challenge: Value = serde_json::from_str(&fixture("url_verification.json")).unwrap();
    assert_eq!(answer["challenge"], challenge["challenge"]);

    let message = fixture("event_callback.message.json");
    let (status, answer) = event(&pipeline, &message).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted");
    let id = answer["id"].as_str().unwrap().to_owned();
    let stored = &events_with_id(pipeline.bus(), &id).await[0];
    assert_eq!(
        stored["content"],
        "Team decided to use PostgreSQL & pgvector"
    );
    assert_eq!(stored["source"], "slack");
    assert_eq!(stored["kind"], "message");
    assert_eq!(stored["actor"], "U123ABC456");
    assert_eq!(stored["attributes"]["channel"], "C123ABC456");

    // Slack retries a delivery it thinks failed: same event_id, answered as a duplicate.
    let (status, retry) = signed(
        &pipeline,
        "events",
        "application/json",
        &message,
        SLACK_SECRET,
        now(),
        &[
            ("x-slack-retry-num", "1"),
            ("x-slack-retry-reason", "http_timeout"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["id"], id.as_str());
    assert_eq!(events_with_id(pipeline.bus(), &id).await.len(), 1);

    let (status, answer) = event(&pipeline, &fixture("event_callback.thread_reply.json")).await;
    assert_eq!(status, 200, "{answer}");
    let reply = &events_with_id(pipeline.bus(), answer["id"].as_str().unwrap()).await[0];
    assert!(reply["attributes"]["thread_ts"].is_string(), "{reply}");
    // The reply carries its thread's conversation id, which RAE gets as `session_id`.
    let a = &reply["attributes"];
    assert_eq!(
        a["session_id"],
        format!(
            "slack:{}:{}:{}",
            a["team_id"].as_str().unwrap(),
            a["channel"].as_str().unwrap(),
            a["thread_ts"].as_str().unwrap()
        ),
        "{reply}"
    );

    for (file, reason) in [
        ("event_callback.bot_message.json", "bot message"),
        (
            "event_callback.channel_join.json",
            "channel membership change (channel_join)",
        ),
        (
            "event_callback.reaction_added.json",
            "event type `reaction_added` is not a message",
        ),
        (
            "event_callback.app_mention.json",
            "mention in an auto-stored channel: stored from its message event",
        ),
    ] {
        let (status, answer) = event(&pipeline, &fixture(file)).await;
        assert_eq!(status, 200, "{file}: {answer}");
        assert_eq!(answer["status"], "ignored", "{file}");
        assert_eq!(answer["reason"], reason, "{file}");
    }

    // Elsewhere, plain messages are not stored but a mention is.
    let elsewhere = |file: &str| fixture(file).replace("C123ABC456", "C999OTHER");
    let (_, answer) = event(
        &pipeline,
        &elsewhere("event_callback.message.json").replace("Ev0PV52K21", "Ev0OTHER01"),
    )
    .await;
    assert_eq!(
        answer["reason"],
        "channel C999OTHER is not in auto_store_channels"
    );
    let (status, answer) = event(&pipeline, &elsewhere("event_callback.app_mention.json")).await;
    assert_eq!(status, 200, "{answer}");
    let mention = &events_with_id(pipeline.bus(), answer["id"].as_str().unwrap()).await[0];
    assert_eq!(mention["kind"], "app_mention");

    wait_for(
        "RAE to store the three",
        Duration::from_secs(10),
        || async { rae.stored().len() == 3 },
    )
    .await;
    pipeline.shutdown().await;
}

#[tokio::test]
async fn signatures_are_checked_with_rotation_and_a_five_minute_window() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &slack_yaml(&rae))).await;
    let body = fixture("event_callback.message.json");
    let post = |secret: &'static str, at: i64| {
        let body = body.clone();
        let pipeline = &pipeline;
        async move {
            signed(
                pipeline,
                "events",
                "application/json",
                &body,
                secret,
                at,
                &[],
            )
            .await
        }
    };

    assert_eq!(post(SLACK_OLD_SECRET, now()).await.0, 200);
    assert_eq!(post(SLACK_SECRET, now() - 290).await.0, 200);
    for (secret, at, message) in [
        ("wrong-signing-secret", now(), "signature"),
        (SLACK_SECRET, now() - 400, "timestamp"),
        (SLACK_SECRET, now() + 400, "timestamp"),
    ] {
        let (status, answer) = post(secret, at).await;
        assert_eq!(status, 401, "{answer}");
        assert_eq!(answer["error"], "unauthorized");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(message),
            "{answer}"
        );
    }
    // Signed for one body, sent with another.
    let ts = now().to_string();
    let signature = sign(SLACK_SECRET, &ts, body.as_bytes());
    let (status, _, _) = pipeline
        .post(
            "/api/v1/integrations/slack/events",
            &body.replace("PostgreSQL", "MongoDB"),
            &[
                ("x-slack-request-timestamp", &ts),
                ("x-slack-signature", &signature),
            ],
        )
        .await;
    assert_eq!(status, 401);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn slash_commands_store_reflect_and_explain() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &slack_yaml(&rae))).await;
    let hooks = format!("{}/hooks/slack/1", rae.url());

    let (status, answer) = command(
        &pipeline,
        &command_form(
            "store \"Team decided to use PostgreSQL\"",
            "C2147483705",
            "test",
            &hooks,
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response_type"], "ephemeral");
    let text = answer["text"].as_str().unwrap();
    assert!(text.starts_with("Memory stored"), "{text}");
    let events = stream_json(pipeline.bus(), rae_core::subjects::EVENTS_STREAM).await;
    let stored = events.last().unwrap();
    assert_eq!(stored["content"], "Team decided to use PostgreSQL");
    assert_eq!(stored["tenant"], "acme", "T0001 belongs to acme");
    assert_eq!(stored["layer"], "episodic");
    assert_eq!(stored["actor"], "steve");

    let (status, answer) = command(
        &pipeline,
        &command_form(
            "reflect Deploy failed due to missing env vars",
            "C0000CMD",
            "ops",
            &hooks,
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .starts_with("Reflection stored"),
        "{answer}"
    );
    let events = stream_json(pipeline.bus(), rae_core::subjects::EVENTS_STREAM).await;
    let reflection = events.last().unwrap();
    assert_eq!(reflection["layer"], "reflective");
    assert_eq!(reflection["kind"], "reflection");
    assert!(reflection["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("reflection")));

    for (text, expected) in [("", "/rae store"), ("forget everything", "Unknown command")] {
        let (status, answer) = command(
            &pipeline,
            &command_form(text, "C2147483705", "test", &hooks),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer["text"].as_str().unwrap().contains(expected),
            "{text:?}: {answer}"
        );
    }

    // Outside the workspace's whitelist: a clear answer, nothing stored.
    let before = stream_json(pipeline.bus(), rae_core::subjects::EVENTS_STREAM)
        .await
        .len();
    let (status, answer) = command(
        &pipeline,
        &command_form("store secret plans", "C777", "random", &hooks),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["text"], "RAE is not enabled in this channel.");
    let after = stream_json(pipeline.bus(), rae_core::subjects::EVENTS_STREAM)
        .await
        .len();
    assert_eq!(before, after);

    wait_for("RAE to store both", Duration::from_secs(10), || async {
        rae.stored().len() == 2
    })
    .await;
    let reflected = rae
        .stored()
        .into_iter()
        .find(|r| r.body["layer"] == "reflective")
        .unwrap();
    assert_eq!(reflected.headers["x-tenant-id"], ACME);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn queries_answer_within_slacks_three_seconds_even_when_rae_is_slow() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &slack_yaml(&rae))).await;
    let results = json!({"results": [
        {"id": "m1", "content": "We use PostgreSQL with pgvector", "score": 0.91, "layer": "semantic"},
        {"id": "m2", "content": "Redis only for the cache", "score": 0.52, "layer": "episodic"}
    ], "total_count": 2});

    // RAE answers quickly: the results are the answer itself.
    rae.set_query_answer(Duration::ZERO, results.clone());
    let hooks = format!("{}/hooks/slack/fast", rae.url());
    let (status, answer) = command(
        &pipeline,
        &command_form(
            "query What database are we using?",
            "C2147483705",
            "test",
            &hooks,
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer
            .to_string()
            .contains("We use PostgreSQL with pgvector"),
        "{answer}"
    );
    let asked = &rae.requests_to("/v2/memories/query")[0];
    assert_eq!(asked.body["query"], "What database are we using?");
    assert_eq!(asked.headers["x-tenant-id"], ACME);

    // RAE takes longer than the deadline: "searching" now, the results via response_url.
    rae.set_query_answer(Duration::from_millis(1500), results);
    let hooks = format!("{}/hooks/slack/slow", rae.url());
    let started = Instant::now();
    let (status, answer) = command(
        &pipeline,
        &command_form(
            "query What database are we using?",
            "C2147483705",
            "test",
            &hooks,
        ),
    )
    .await;
    let answered_in = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["text"].as_str().unwrap().starts_with("Searching"),
        "{answer}"
    );
    assert!(
        answered_in < Duration::from_secs(3),
        "answered after {answered_in:?}"
    );
    wait_for(
        "the results at response_url",
        Duration::from_secs(10),
        || async { !rae.requests_to("/hooks/slack/slow").is_empty() },
    )
    .await;
    let followed = &rae.requests_to("/hooks/slack/slow")[0];
    assert!(
        followed
            .body
            .to_string()
            .contains("We use PostgreSQL with pgvector"),
        "{:?}",
        followed.body
    );
    assert_eq!(followed.body["response_type"], "ephemeral");

    // A response_url outside the allowed prefixes is never called.
    let (status, answer) = command(
        &pipeline,
        &command_form(
            "query anything",
            "C2147483705",
            "test",
            "http://169.254.169.254/latest",
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        answer["text"].as_str().unwrap().contains("slow"),
        "{answer}"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn shutdown_waits_for_a_query_answer_still_on_its_way_to_response_url() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, &slack_yaml(&rae));
    config.rae.timeout_ms = 10_000;
    let mut pipeline = Pipeline::start(&config).await;
    // RAE answers seconds after Slack got "searching": the follow-up outlives its request.
    rae.set_query_answer(
        Duration::from_secs(4),
        json!({"results": [{"id": "m1", "content": "Found after the signal", "score": 0.9}], "total_count": 1}),
    );
    let hooks = format!("{}/hooks/slack/late", rae.url());
    let (status, answer) = command(
        &pipeline,
        &command_form("query anything late?", "C2147483705", "test", &hooks),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["text"].as_str().unwrap().starts_with("Searching"),
        "{answer}"
    );
    assert!(rae.requests_to("/hooks/slack/late").is_empty());

    // The shutdown (grace 10 s) returns only after the follow-up reached response_url.
    pipeline.shutdown().await;
    let followed = rae.requests_to("/hooks/slack/late");
    assert_eq!(followed.len(), 1, "the follow-up was abandoned");
    assert!(
        followed[0]
            .body
            .to_string()
            .contains("Found after the signal"),
        "{:?}",
        followed[0].body
    );
}
