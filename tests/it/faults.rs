//! Faults the pipeline must survive, each on a real nats-server: RAE down for a while (the
//! breaker metric and health say so), the writer killed mid-batch, nats-server restarted
//! mid-stream, and a thousand dead letters replayed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use rae_core::dead_letter::{self, Filter};
use rae_core::subjects::DLQ_STREAM;
use rae_pipeline::app::Roles;

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_rae-pipeline");

/// The binary running `role` against `nats` and `rae`; killed on drop.
struct Role(Child);

impl Role {
    fn spawn(role: &str, dir: &std::path::Path, nats: &str, rae: &str, metrics_port: u16) -> Role {
        std::fs::write(
            dir.join("integrations.yaml"),
            "writer:\n  concurrency: 8\n  ack_wait_secs: 5\n  backoff_base_ms: 20\n  backoff_max_ms: 200\n  breaker_failures: 3\n  breaker_probe_ms: 100\n  breaker_probe_max_ms: 400\nrae:\n  timeout_ms: 2000\n",
        )
        .unwrap();
        let child = Command::new(BIN)
            .arg(role)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NATS_URL", nats)
            .env("RAE_BASE_URL", rae)
            .env("RAE_API_KEY", RAE_KEY)
            .env("RAE_WEBHOOK_SECRET", SECRET)
            .env("RAE_PIPELINE_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env(
                "RAE_PIPELINE_METRICS_LISTEN",
                format!("127.0.0.1:{metrics_port}"),
            )
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rae-pipeline");
        Role(child)
    }

    fn kill_9(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_outage_shows_in_the_breaker_metric_and_health_and_ends_without_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let mut rae = FakeRae::start().await;
    let metrics_port = free_port();
    let _writer = Role::spawn("writer", dir.path(), &nats.url(), &rae.url(), metrics_port);
    let roles = Roles {
        ingress: true,
        enricher: true,
        writer: false,
        git_watch: false,
    };
    let mut pipeline = Pipeline::start_roles(&test_config(&nats, &rae, ""), roles).await;
    let scrape_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let breaker = || {
        let url = scrape_url.clone();
        async move { metric(&get(&url).await?.1, "rae_pipeline_breaker_open") }
    };
    wait_for("the writer's metrics", Duration::from_secs(60), || async {
        breaker().await == Some(0.0)
    })
    .await;

    rae.stop().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(pipeline.accept(&format!("during the outage {i}")).await);
    }
    wait_for("the breaker to open", Duration::from_secs(20), || async {
        breaker().await == Some(1.0)
    })
    .await;
    rae.restart().await;
    wait_for("the breaker to close", Duration::from_secs(20), || async {
        breaker().await == Some(0.0)
    })
    .await;
    wait_for("every event in RAE", Duration::from_secs(20), || async {
        rae.stored_event_ids().len() == 20
    })
    .await;
    for id in &ids {
        assert_eq!(rae.stored_event_ids().get(id), Some(&1), "event {id}");
    }
    assert_eq!(stream_messages(pipeline.bus(), DLQ_STREAM).await, 0);
    pipeline.shutdown().await;
}

/// `GET /api/v1/integrations/health` of the ingress at `base`.
async fn health(base: String) -> Option<Value> {
    let text = get(&format!("{base}/api/v1/integrations/health")).await?.1;
    serde_json::from_str::<Value>(&text).ok()
}

/// Waits until `health` says RAE's status is `status`.
async fn wait_for_rae_status(base: &str, status: &'static str, what: &str) {
    wait_for(what, Duration::from_secs(20), || {
        let base = base.to_owned();
        async move {
            health(base)
                .await
                .is_some_and(|h| h["rae"]["status"] == status)
        }
    })
    .await;
}

#[tokio::test]
async fn rae_health_is_reported_by_up_while_rae_is_down() {
    let nats = NatsServer::start();
    let mut rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    pipeline.accept("before").await;
    wait_for("a first write", Duration::from_secs(10), || async {
        !rae.stored().is_empty()
    })
    .await;
    let h = health(pipeline.base.clone()).await.unwrap();
    assert_eq!(h["rae"]["status"], "healthy", "{h}");
    assert!(h["rae"]["last_activity"].is_string(), "{h}");

    rae.stop().await;
    for i in 0..5 {
        pipeline.accept(&format!("while down {i}")).await;
    }
    let base = pipeline.base.clone();
    wait_for_rae_status(&base, "down", "health to say RAE is down").await;
    rae.restart().await;
    wait_for_rae_status(&base, "healthy", "health to recover").await;
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_writer_killed_mid_batch_loses_nothing_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.set_default(Reply::Slow(Duration::from_millis(150)));
    let roles = Roles {
        ingress: true,
        enricher: true,
        writer: false,
        git_watch: false,
    };
    let mut pipeline = Pipeline::start_roles(&test_config(&nats, &rae, ""), roles).await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(pipeline.accept(&format!("kill test {i}")).await);
    }
    let mut writer = Role::spawn("writer", dir.path(), &nats.url(), &rae.url(), free_port());
    wait_for("some writes", Duration::from_secs(20), || async {
        rae.stored().len() >= 8
    })
    .await;
    writer.kill_9();
    let before_restart = rae.stored().len();
    assert!(
        before_restart < 60,
        "the kill came too late to test anything"
    );

    let metrics_port = free_port();
    let _writer = Role::spawn("writer", dir.path(), &nats.url(), &rae.url(), metrics_port);
    wait_for("every event stored", Duration::from_secs(60), || async {
        let stored = rae.stored_event_ids();
        ids.iter().all(|id| stored.contains_key(id))
    })
    .await;
    // The writes in flight at the kill reached RAE without an answer: once JetStream gives
    // them to the restarted writer, it finds them in RAE and never writes them again.
    wait_for(
        "the writer to settle every message",
        Duration::from_secs(60),
        || {
            consumer_settled(
                pipeline.bus(),
                rae_core::subjects::ENRICHED_STREAM,
                rae_core::subjects::WRITER_CONSUMER,
            )
        },
    )
    .await;
    let stored = rae.stored_event_ids();
    let repeats: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeats.is_empty(), "stored twice: {repeats:?}");
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let scrape = get(&url).await.unwrap().1;
    let found = metric(
        &scrape,
        "rae_pipeline_write_reconciliations_total{outcome=\"found\"}",
    );
    assert!(found.is_some_and(|n| n >= 1.0), "{scrape}");
    assert_eq!(
        metric(
            &scrape,
            "rae_pipeline_write_reconciliations_total{outcome=\"undecided\"}"
        ),
        Some(0.0)
    );
    assert_eq!(stream_messages(pipeline.bus(), DLQ_STREAM).await, 0);
    pipeline.shutdown().await;
}

/// RAE commits writes whose answers never arrive: each comes back to the writer, which finds
/// it in RAE and acks it instead of storing it again.
#[tokio::test]
async fn writes_whose_answers_are_lost_are_stored_once() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.script((0..20).map(|_| Reply::Lost));
    let mut config = test_config(&nats, &rae, "");
    config.rae.timeout_ms = 300;
    let mut pipeline = Pipeline::start(&config).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(pipeline.accept(&format!("answer lost {i}")).await);
    }
    wait_for("every event stored", Duration::from_secs(60), || async {
        let stored = rae.stored_event_ids();
        ids.iter().all(|id| stored.contains_key(id))
    })
    .await;
    // Every lost answer was a request that timed out and came back; none was written twice.
    let lost = rae.requests_to("/v2/memories/").len() - rae.stored().len();
    assert_eq!(lost, 0, "requests that were not commits");
    let stored = rae.stored_event_ids();
    let repeats: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeats.is_empty(), "stored twice: {repeats:?}");
    assert_eq!(stored.len(), 30);
    assert_eq!(stream_messages(pipeline.bus(), DLQ_STREAM).await, 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_nats_restart_mid_stream_loses_nothing() {
    let mut nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(pipeline.accept(&format!("before the restart {i}")).await);
    }
    nats.restart();
    // A sender retries what was answered 503 (never a 2xx for an event JetStream did not take).
    for i in 0..20 {
        let body = json!({"content": format!("after the restart {i}")}).to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, answer, _) = pipeline
                .post_webhook(&body, &[("x-webhook-secret", SECRET)])
                .await;
            if status == 202 {
                ids.push(answer["id"].as_str().unwrap().to_owned());
                break;
            }
            assert_eq!(status, 503, "{answer}");
            assert!(std::time::Instant::now() < deadline, "NATS never came back");
            tokio::time::sleep(Duration::from_millis(100)).await; // the sender's retry pause
        }
    }
    wait_for("all 40 in RAE", Duration::from_secs(30), || async {
        let stored = rae.stored_event_ids();
        ids.iter().all(|id| stored.contains_key(id))
    })
    .await;
    let enriched = stream_json(pipeline.bus(), rae_core::subjects::ENRICHED_STREAM).await;
    let events = stream_json(pipeline.bus(), rae_core::subjects::EVENTS_STREAM).await;
    for id in &ids {
        let in_events = events.iter().filter(|e| e["id"] == id.as_str()).count();
        let in_enriched = enriched.iter().filter(|e| e["id"] == id.as_str()).count();
        assert_eq!(
            rae.stored_event_ids().get(id),
            Some(&1),
            "event {id}: {in_events} in RAE_EVENTS, {in_enriched} in RAE_ENRICHED"
        );
    }
    pipeline.shutdown().await;
}

#[tokio::test]
async fn replaying_a_thousand_dead_letters_stores_each_once() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let refusal = json!({"error": {"code": "validation_error"}});
    rae.set_default(Reply::Status(422, refusal));
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let mut ids = Vec::new();
    for chunk in 0..10 {
        let sends = (0..100).map(|i| {
            let pipeline = &pipeline;
            async move { pipeline.accept(&format!("dead letter {chunk}-{i}")).await }
        });
        ids.extend(futures::future::join_all(sends).await);
    }
    let bus = pipeline.bus().clone();
    wait_for("1000 dead letters", Duration::from_secs(60), || async {
        stream_messages(&bus, DLQ_STREAM).await == 1000
    })
    .await;

    rae.set_default(Reply::Ok);
    let entries = dead_letter::list(&bus, &Filter::default(), 10_000)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1000);
    for entry in &entries {
        // A replay is idempotent (its message id is fixed), so an operator retries a timeout.
        let mut tries = 0;
        while let Err(err) = dead_letter::replay(&bus, entry).await {
            tries += 1;
            assert!(
                tries < 5,
                "replay of {} keeps failing: {err}",
                entry.sequence
            );
        }
    }
    wait_for("all 1000 stored", Duration::from_secs(60), || async {
        rae.stored_event_ids().len() == 1000
    })
    .await;
    let stored = rae.stored_event_ids();
    for id in &ids {
        assert_eq!(stored.get(id), Some(&1), "event {id}");
    }
    assert_eq!(stream_messages(&bus, DLQ_STREAM).await, 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_rae_down_at_start_is_reported_before_any_write() {
    let nats = NatsServer::start();
    let mut rae = FakeRae::start().await;
    let config = test_config(&nats, &rae, "");
    rae.stop().await;
    let pipeline = Pipeline::start(&config).await;
    let base = pipeline.base.clone();
    wait_for("health to say RAE is down", Duration::from_secs(20), || {
        let base = base.clone();
        async move {
            health(base).await.is_some_and(|h| {
                h["rae"]["status"] == "down"
                    && h["rae"]["error"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("health check failed"))
            })
        }
    })
    .await;
    rae.restart().await;
    wait_for_rae_status(&base, "healthy", "health to see RAE back").await;
    let mut pipeline = pipeline;
    pipeline.shutdown().await;
}
