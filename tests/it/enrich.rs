//! Enrichment as a user sees it in RAE: the default rules' importance and tags with their
//! reasons, and the optional LLM (a fake Ollama) that may only ever improve an event, never
//! delay or fail it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use serde_json::{json, Value};

use crate::harness::*;

/// How the fake Ollama answers: after `delay`, `text` as the model's output.
#[derive(Clone)]
struct Ollama {
    answer: Arc<Mutex<(Duration, String)>>,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    url: String,
}

impl Ollama {
    async fn start() -> Ollama {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let ollama = Ollama {
            answer: Arc::new(Mutex::new((Duration::ZERO, String::new()))),
            calls: Arc::new(Mutex::new(Vec::new())),
            url,
        };
        let app = axum::Router::new()
            .route("/api/generate", axum::routing::post(answer))
            .route("/api/chat", axum::routing::post(answer))
            .with_state(ollama.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ollama
    }

    fn set(&self, delay: Duration, text: &str) {
        *self.answer.lock().unwrap() = (delay, text.to_owned());
    }
}

async fn answer(
    State(ollama): State<Ollama>,
    uri: axum::http::Uri,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    ollama
        .calls
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), body));
    let (delay, text) = ollama.answer.lock().unwrap().clone();
    tokio::time::sleep(delay).await;
    if uri.path() == "/api/chat" {
        axum::Json(
            json!({"model": "llama3", "message": {"role": "assistant", "content": text}, "done": true}),
        )
    } else {
        axum::Json(json!({"model": "llama3", "response": text, "done": true}))
    }
}

/// Sends `content` and returns what RAE stored for it.
/// Waits until the enricher acked every event it was given (stored, or dropped on purpose).
async fn enricher_settled(pipeline: &Pipeline) {
    wait_for(
        "the enricher to settle every event",
        Duration::from_secs(10),
        || {
            consumer_settled(
                pipeline.bus(),
                rae_core::subjects::EVENTS_STREAM,
                rae_core::subjects::ENRICHER_CONSUMER,
            )
        },
    )
    .await;
}

async fn stored_for(pipeline: &Pipeline, rae: &FakeRae, content: &str) -> Value {
    let id = pipeline.accept(content).await;
    wait_for("RAE to store it", Duration::from_secs(10), || async {
        rae.stored_event_ids().contains_key(&id)
    })
    .await;
    rae.stored()
        .into_iter()
        .find(|r| r.body["metadata"]["event_id"] == id.as_str())
        .unwrap()
        .body
}

#[tokio::test]
async fn default_rules_explain_importance_and_tags_in_rae() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;

    let body = stored_for(
        &pipeline,
        &rae,
        "Outage in eu-west: deploy failed #checkout",
    )
    .await;
    assert_eq!(
        body["importance"], 1.0,
        "0.5 + 0.3 incident + 0.25 deploy, clamped"
    );
    let tags = body["tags"].as_array().unwrap();
    for tag in ["incident", "deploy", "checkout", "webhook"] {
        assert!(tags.contains(&json!(tag)), "{tag} missing from {tags:?}");
    }
    let why = &body["metadata"]["enrichment"];
    assert_eq!(
        why["rules"],
        json!([
            "base.default",
            "tags.hashtags",
            "rule.incident",
            "rule.failed-deploy"
        ])
    );
    assert!(why["reasons"].to_string().contains("clamped to 1"), "{why}");

    let body = stored_for(&pipeline, &rae, "thanks!").await;
    assert_eq!(body["importance"], 0.2, "0.5 - 0.3 chatter");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn the_llm_refines_when_it_answers_in_time_and_never_delays_otherwise() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let ollama = Ollama::start().await;
    let yaml = format!(
        "enrich:\n  llm: {{ enabled: true, url: \"{}\", model: llama3, timeout_ms: 400 }}\n",
        ollama.url
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml)).await;

    // In time: the model's importance and tags win, and the reason says so.
    ollama.set(
        Duration::ZERO,
        r#"{"importance": 0.9, "tags": ["billing", "Customer"]}"#,
    );
    let body = stored_for(
        &pipeline,
        &rae,
        "Customer X cannot pay invoices since Monday",
    )
    .await;
    assert_eq!(body["importance"], 0.9);
    let tags = body["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!("billing")) && tags.contains(&json!("customer")),
        "{tags:?}"
    );
    let reasons = body["metadata"]["enrichment"]["reasons"].to_string();
    assert!(
        reasons.contains("llm: importance 0.9 (was 0.5)"),
        "{reasons}"
    );
    let (path, asked) = ollama.calls.lock().unwrap()[0].clone();
    assert_eq!(path, "/api/generate");
    assert_eq!(asked["model"], "llama3");
    assert_eq!(asked["format"], "json");
    assert!(asked["prompt"]
        .as_str()
        .unwrap()
        .contains("cannot pay invoices"));

    // Too slow: the rules' result, stored without waiting for the model.
    ollama.set(Duration::from_secs(5), r#"{"importance": 0.1}"#);
    let body = stored_for(&pipeline, &rae, "Deploy of web failed").await;
    assert_eq!(body["importance"], 0.75);
    let reasons = body["metadata"]["enrichment"]["reasons"].to_string();
    assert!(
        reasons.contains("llm: skipped: timeout after 400 ms"),
        "{reasons}"
    );

    // Nonsense: the rules' result again.
    ollama.set(Duration::ZERO, "I think this is quite important!");
    let body = stored_for(&pipeline, &rae, "We decided to move to Rust").await;
    assert_eq!(body["importance"], 0.8);
    assert!(body["metadata"]["enrichment"]["reasons"]
        .to_string()
        .contains("llm: skipped: answer is not JSON"));
    assert_eq!(
        stream_messages(pipeline.bus(), rae_core::subjects::DLQ_STREAM).await,
        0
    );
    pipeline.shutdown().await;
}

/// With `enrich.drop_repeats`, a notice that says again what the same sender said within the
/// window (another build number, another sha) is not stored again; different news is.
#[tokio::test]
async fn repeats_of_one_sender_are_stored_once_with_drop_repeats() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, "");
    config.enrich.drop_repeats = true;
    let mut pipeline = Pipeline::start(&config).await;

    let first = pipeline
        .accept("CI failed on main: build 1234 (sha 9fceb02d0ae5)")
        .await;
    let repeat = pipeline
        .accept("CI failed on main: build 1235 (sha 1a2b3c4d5e6f)")
        .await;
    let other = pipeline
        .accept("CI failed on release-2.4: build 1236")
        .await;
    // Nearly the same: another job and file named in a longer notice.
    let long = pipeline
        .accept("Nightly checks failed on main: the job test-api stopped at step cargo test in src/api.rs, see the logs for details")
        .await;
    let near = pipeline
        .accept("Nightly checks failed on main: the job test-web stopped at step cargo test in src/web.rs, see the logs for details")
        .await;
    wait_for(
        "RAE to store the three notices",
        Duration::from_secs(10),
        || async {
            let stored = rae.stored_event_ids();
            stored.contains_key(&first) && stored.contains_key(&other) && stored.contains_key(&long)
        },
    )
    .await;
    // The repeats were handled (acked) by the enricher, and never reached RAE.
    enricher_settled(&pipeline).await;
    assert!(!rae.stored_event_ids().contains_key(&repeat));
    assert!(!rae.stored_event_ids().contains_key(&near));
    assert_eq!(rae.stored().len(), 3);
    // Each says why in the audit stream (what `tail --stage audit` shows).
    let audit = stream_json(pipeline.bus(), rae_core::subjects::AUDIT_STREAM).await;
    for (dropped, of) in [(&repeat, &first), (&near, &long)] {
        let record = audit
            .iter()
            .find(|r| r["event_id"] == serde_json::json!(dropped) && r["operation"] == "enrich")
            .unwrap_or_else(|| panic!("no audit record of {dropped}: {audit:?}"));
        assert_eq!(record["outcome"], "ignored", "{record}");
        assert_eq!(record["reason"], format!("repeat of event {of}"));
    }
    pipeline.shutdown().await;
}

/// `enrich.personal_data: redact`: an email address and a phone number never reach RAE, and
/// the memory's enrichment says what was removed; `drop` stores nothing.
#[tokio::test]
async fn personal_data_is_redacted_or_dropped_as_configured() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, "");
    config.enrich.personal_data = rae_core::config::PersonalData::Redact;
    let mut pipeline = Pipeline::start(&config).await;
    let body = stored_for(
        &pipeline,
        &rae,
        "Customer bob@example.org called from +44 20 7946 0958 about the outage",
    )
    .await;
    assert_eq!(
        body["content"],
        "Customer [redacted email] called from [redacted phone] about the outage"
    );
    let reasons = body["metadata"]["enrichment"]["reasons"].to_string();
    assert!(
        reasons.contains("personal data (email, phone): redact"),
        "{reasons}"
    );
    pipeline.shutdown().await;

    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, "");
    config.enrich.personal_data = rae_core::config::PersonalData::Drop;
    let mut pipeline = Pipeline::start(&config).await;
    let dropped = pipeline.accept("Reach me at bob@example.org").await;
    let kept = pipeline.accept("The outage is over").await;
    wait_for(
        "RAE to store the event without personal data",
        Duration::from_secs(10),
        || async { rae.stored_event_ids().contains_key(&kept) },
    )
    .await;
    enricher_settled(&pipeline).await;
    assert!(!rae.stored_event_ids().contains_key(&dropped));
    pipeline.shutdown().await;
}
