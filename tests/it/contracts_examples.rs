//! The consumer examples of docs/consumers.md, run against a real nats-server and the pipeline
//! with the fake RAE: the Rust `chat_alerts` consumer posts an important event to a chat webhook
//! (a small local HTTP server here) exactly once, through a chat outage and a replay, and never
//! posts an unimportant one; the Python `digest.py` consumer writes an event to the day's digest
//! file exactly once, through a replay, and stops cleanly on SIGTERM; the Python producer
//! `ci_builds.py` stores CI builds through the memories API with an API key, each once however
//! often it is run, and fails loudly on a wrong key; the Python `publish_event.py` publishes a
//! valid `event.v1` straight to the bus, once however often it is retried.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use rae_core::bus::Bus;
use rae_core::subjects::ENRICHED_STREAM;

use crate::harness::*;

// The example's own source, compiled into this test: the test runs exactly the code users copy.
#[path = "../../examples/chat_alerts/main.rs"]
#[allow(dead_code)]
mod chat_alerts;

/// A chat webhook: records every post and answers the scripted statuses, then 200.
struct Chat {
    url: String,
    state: Arc<Mutex<ChatState>>,
    token: CancellationToken,
}

#[derive(Default)]
struct ChatState {
    script: Vec<u16>,
    /// Every post's `text` with the status it was answered.
    posts: Vec<(u16, String)>,
}

impl Chat {
    async fn start(script: Vec<u16>) -> Chat {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/chat", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ChatState {
            script,
            posts: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/hooks/chat", axum::routing::post(chat_post))
            .with_state(state.clone());
        let token = CancellationToken::new();
        let stop = token.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Chat { url, state, token }
    }

    /// The texts the chat accepted: what its users see.
    fn shown(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .posts
            .iter()
            .filter(|(status, _)| *status == 200)
            .map(|(_, text)| text.clone())
            .collect()
    }

    fn attempts(&self) -> usize {
        self.state.lock().unwrap().posts.len()
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn chat_post(
    State(state): State<Arc<Mutex<ChatState>>>,
    axum::Json(body): axum::Json<Value>,
) -> StatusCode {
    let mut state = state.lock().unwrap();
    let status = if state.script.is_empty() {
        200
    } else {
        state.script.remove(0)
    };
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    state.posts.push((status, text));
    StatusCode::from_u16(status).unwrap()
}

/// Republishes the enriched event `id` as a replay or backfill does: same payload and event id,
/// a fresh message id.
async fn replay_enriched(bus: &Bus, id: &str) {
    let stream = bus.stream(ENRICHED_STREAM).await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    for seq in 1..=last {
        let message = stream.get_raw_message(seq).await.unwrap();
        let event: Value = serde_json::from_slice(&message.payload).unwrap();
        if event["id"] == id {
            bus.publisher()
                .publish(
                    &message.subject,
                    message.headers.clone(),
                    &format!("{id}:replay:test"),
                    Bytes::from(message.payload.to_vec()),
                )
                .await
                .unwrap();
            return;
        }
    }
    panic!("no enriched event {id}");
}

/// True once `consumer` has acked everything `RAE_ENRICHED` holds.
async fn caught_up(bus: &Bus, consumer: &str) -> bool {
    let Ok(stream) = bus.stream(ENRICHED_STREAM).await else {
        return false;
    };
    let Ok(info) = stream.get_info().await else {
        return false;
    };
    let last = info.state.last_sequence;
    match stream.consumer_info(consumer).await {
        Ok(info) => {
            info.ack_floor.stream_sequence >= last
                && info.num_ack_pending == 0
                && info.num_pending == 0
        }
        Err(_) => false,
    }
}

/// Posts a webhook memory with `importance`; returns the event id.
async fn send(pipeline: &Pipeline, content: &str, importance: f64) -> String {
    let body = json!({"content": content, "importance": importance, "tags": ["example"]});
    let (status, answer, _) = pipeline
        .post_webhook(&body.to_string(), &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_rust_example_posts_important_events_to_the_chat_once() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    // The chat is down for the first post: the example retries it.
    let chat = Chat::start(vec![503]).await;
    let consumer = "chat-alerts-default-tenant";
    let settings = chat_alerts::Settings {
        nats_url: nats.url(),
        tenant: chat_alerts::token("Default-Tenant"),
        webhook_url: chat.url.clone(),
        min_importance: 0.8,
        consumer: consumer.to_owned(),
        concurrency: 2,
    };
    let alerts = chat_alerts::ChatAlerts::start(settings)
        .await
        .expect("the example starts");
    let stop = CancellationToken::new();
    let running = tokio::spawn(alerts.run(stop.clone().cancelled_owned()));

    let quiet = send(&pipeline, "Fixed a typo in the README", 0.1).await;
    let id = send(&pipeline, "Incident: checkout is down, rolling back", 0.95).await;
    wait_for(
        "the incident in the chat",
        Duration::from_secs(20),
        || async { !chat.shown().is_empty() },
    )
    .await;
    let shown = chat.shown();
    assert!(
        shown[0].contains("Incident: checkout is down, rolling back")
            && shown[0].contains("default-tenant")
            && shown[0].contains("webhook/note")
            && shown[0].contains("importance 0.95"),
        "{shown:?}"
    );
    assert_eq!(chat.attempts(), 2, "one refused post, one retry");

    // A replay brings the same event back with a fresh message id: not posted again.
    let bus = pipeline.bus().clone();
    replay_enriched(&bus, &id).await;
    wait_for(
        "the example to ack every enriched event",
        Duration::from_secs(20),
        || caught_up(&bus, consumer),
    )
    .await;
    assert_eq!(chat.shown().len(), 1, "{:?}", chat.shown());
    assert!(
        !chat.shown()[0].contains("typo"),
        "event {quiet} is below the threshold"
    );

    stop.cancel();
    running.await.unwrap().expect("the example stops cleanly");
    pipeline.shutdown().await;
}

/// The files of `dir` and their text.
fn digest_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (p, text)
        })
        .collect()
}

#[tokio::test]
async fn the_python_example_keeps_a_daily_digest() {
    let has_nats_py = std::process::Command::new("python3")
        .args(["-c", "import nats"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_nats_py,
        "python3 with nats-py is needed: run scripts/test.sh, which installs it, or \
         `python3 -m pip install -r examples/python_digest/requirements.txt`"
    );
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/python_digest/digest.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(&script)
        .args(["--tenant", "default-tenant", "--dir"])
        .arg(dir.path())
        .env("NATS_URL", nats.url())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    let printed = |prefix: String| {
        let lines = lines.clone();
        move || {
            let found = lines.lock().unwrap().iter().any(|l| l.starts_with(&prefix));
            async move { found }
        }
    };
    wait_for(
        "the digest consumer to be ready",
        Duration::from_secs(30),
        printed("ready: consumer digest-default-tenant on rae.enriched.default-tenant.>".into()),
    )
    .await;

    let content = "Release 1.2 shipped with the new search";
    let id = send(&pipeline, content, 0.6).await;
    wait_for(
        "the event in a digest file",
        Duration::from_secs(20),
        || {
            let found = digest_files(dir.path())
                .iter()
                .any(|(_, text)| text.contains(content));
            async move { found }
        },
    )
    .await;

    // A replay of the same event (fresh message id) is not written twice.
    let bus = pipeline.bus().clone();
    replay_enriched(&bus, &id).await;
    wait_for(
        "the digest consumer to see the replay",
        Duration::from_secs(20),
        printed(format!("duplicate {id}")),
    )
    .await;
    wait_for(
        "the digest consumer to ack every enriched event",
        Duration::from_secs(20),
        || caught_up(&bus, "digest-default-tenant"),
    )
    .await;
    let files = digest_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let (path, text) = &files[0];
    // One file per UTC day the event occurred.
    let occurred_at = events_with_id(&bus, &id).await[0]["occurred_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let day = &occurred_at[..10];
    assert_eq!(
        path.file_name().unwrap().to_string_lossy(),
        format!("digest-{day}.md")
    );
    assert!(
        text.starts_with(&format!("# Digest of {day} (default-tenant)\n")),
        "{text}"
    );
    assert_eq!(text.matches(content).count(), 1, "{text}");
    assert!(
        text.contains("**webhook/note** (0.60)") && text.contains(&format!("<!-- event:{id} -->")),
        "{text}"
    );

    // SIGTERM stops it cleanly.
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the digest consumer exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    pipeline.shutdown().await;
}

/// Runs the Python producer example with `builds` on its standard input.
async fn run_producer(base: &str, key: &str, builds: &str) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/python_producer/ci_builds.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(&script)
        .args(["--url", base, "--tenant", "acme"])
        .env("RAE_PIPELINE_API_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(builds.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the producer example ends")
        .unwrap()
}

#[tokio::test]
async fn the_python_producer_stores_each_build_once() {
    const KEY: &str = "rpk_ci_builds_example_key_0001";
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml = format!(
        r#"
tenants:
  acme:
    rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f
api_keys:
  - id: ci
    key: "{KEY}"
    scopes: ["memories:write"]
    tenants: [acme]
"#
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml)).await;
    let builds = [
        json!({"pipeline": "deploy", "build": 812, "status": "failed", "branch": "main",
               "commit": "4f2a9c1d0e7b5a3c", "url": "https://ci.example.com/deploy/812",
               "finished_at": "2026-11-24T10:30:00Z", "duration_secs": 341}),
        json!({"pipeline": "tests", "build": 97, "status": "succeeded", "branch": "feature-x"}),
    ]
    .iter()
    .map(|b| b.to_string() + "\n")
    .collect::<String>();

    let first = run_producer(&pipeline.base, KEY, &builds).await;
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("stored ") && lines[0].ends_with(" deploy/812"),
        "{stdout}"
    );
    assert!(lines[1].ends_with(" tests/97"), "{stdout}");

    wait_for("both builds in RAE", Duration::from_secs(10), || async {
        rae.stored().len() == 2
    })
    .await;
    let stored = rae.stored();
    let deploy = stored
        .iter()
        .find(|r| r.body["content"].as_str().unwrap().contains("deploy"))
        .expect("the deploy build in RAE");
    assert_eq!(
        deploy.body["content"],
        "Build 812 of deploy failed on main at 4f2a9c1d0e7b after 341 s"
    );
    assert_eq!(deploy.body["importance"], json!(0.95));
    assert_eq!(
        deploy.headers["x-tenant-id"],
        "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f"
    );
    let tags = deploy.body["tags"].as_array().unwrap();
    for tag in ["ci", "deploy", "failed", "main"] {
        assert!(tags.contains(&json!(tag)), "{tags:?}");
    }

    // Sent again (a re-run, a retry after a timeout): the idempotency keys make it a no-op.
    let again = run_producer(&pipeline.base, KEY, &builds).await;
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(
        stdout.lines().all(|l| l.starts_with("duplicate ")),
        "{stdout}"
    );
    let bus = pipeline.bus().clone();
    assert_eq!(
        stream_messages(&bus, rae_core::subjects::EVENTS_STREAM).await,
        2,
        "no second event"
    );

    // A wrong key is a clear failure, not a silent loss.
    let refused = run_producer(&pipeline.base, "rpk_not_a_key_at_all_000000000", &builds).await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("pipeline answered 401"), "{stderr}");
    pipeline.shutdown().await;
}

/// Runs the Python bus producer example with `args`; answers its exit status and standard output.
async fn publish_event(nats_url: &str, args: &[&str]) -> (bool, String) {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/python_producer/publish_event.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .args(args)
        .env("NATS_URL", nats_url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the bus producer example ends")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.success(), format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn the_python_bus_producer_publishes_a_valid_event_once() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let args = [
        "--tenant",
        "default-tenant",
        "--kind",
        "deploy",
        "--source-id",
        "deploy-2026-11-24-1",
        "--importance",
        "0.7",
        "--tag",
        "Deploy",
        "Deployed checkout 2.4.1 to production",
    ];
    let (ok, output) = publish_event(&nats.url(), &args).await;
    assert!(ok, "{output}");
    let id = output
        .strip_prefix("stored ")
        .unwrap_or_else(|| panic!("{output}"))
        .trim()
        .to_owned();

    wait_for("the event in RAE", Duration::from_secs(10), || async {
        rae.stored_event_ids().get(&id) == Some(&1)
    })
    .await;
    let stored = rae.stored();
    assert_eq!(
        stored[0].body["content"],
        "Deployed checkout 2.4.1 to production"
    );
    assert_eq!(stored[0].body["importance"], json!(0.7));

    // What it published is a valid event.v1.
    let bus = pipeline.bus().clone();
    let events = events_with_id(&bus, &id).await;
    assert_eq!(events.len(), 1);
    let schema = crate::contracts::validator(crate::contracts::EVENT_SCHEMA);
    assert_eq!(crate::contracts::violations(&schema, &events[0]), "");
    assert_eq!(events[0]["tags"], json!(["deploy"]));

    // A retry of the same source id is JetStream's duplicate: stored once.
    let (ok, output) = publish_event(&nats.url(), &args).await;
    assert!(ok, "{output}");
    assert_eq!(output.trim(), format!("duplicate {id}"));
    assert_eq!(events_with_id(&bus, &id).await.len(), 1);
    pipeline.shutdown().await;
}
