//! The binary as an operator runs it: `up` (with and without a local nats-server, and when
//! that dies), SIGTERM, metrics, `check-config`, `send` and `dlq`.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_rae-pipeline");

/// The binary with a clean environment pointing at `nats` and `rae`, run in `dir`.
fn command(dir: &Path, nats_url: &str, rae_url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NATS_URL", nats_url)
        .env("RAE_BASE_URL", rae_url)
        .env("RAE_API_KEY", RAE_KEY)
        .env("RAE_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run rae-pipeline")
}

struct Up {
    child: Child,
    base: String,
    metrics: String,
}

impl Up {
    /// Starts `up` on free ports. A port picked free can be taken by another test before `up`
    /// binds it; then `up` exits at once and is started again on other ports.
    async fn start(cmd: Command) -> Up {
        Up::start_logging(cmd, None).await
    }

    /// [`Up::start`] with stderr written to `log` (inherited when `None`).
    async fn start_logging(mut cmd: Command, log: Option<&Path>) -> Up {
        cmd.arg("up").stdin(Stdio::null()).stdout(Stdio::null());
        for _ in 0..5 {
            cmd.stderr(match log {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
                None => Stdio::inherit(),
            });
            let (port, metrics_port) = (free_port(), free_port());
            cmd.env("RAE_PIPELINE_LISTEN", format!("127.0.0.1:{port}"))
                .env(
                    "RAE_PIPELINE_METRICS_LISTEN",
                    format!("127.0.0.1:{metrics_port}"),
                );
            let mut up = Up {
                child: cmd.spawn().expect("spawn up"),
                base: format!("http://127.0.0.1:{port}"),
                metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            };
            let url = format!("{}/readyz", up.base);
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                if matches!(get(&url).await, Some((200, _))) {
                    return up;
                }
                if up.child.try_wait().unwrap().is_some() {
                    break; // exited: a port was taken; try others
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "`up` was not ready within 30 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("`up` exited at start five times");
    }

    async fn post(&self, content: &str) -> String {
        let response = http()
            .post(format!("{}/api/v1/webhooks/memory", self.base))
            .header("X-Webhook-Secret", SECRET)
            .body(json!({"content": content}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn wait_exit(mut self) -> i32 {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`up` did not exit after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn up_starts_its_own_nats_server_serves_metrics_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let rae = FakeRae::start().await;
    rae.script([Reply::Status(500, json!({"detail": "once"}))]);
    let nats_port = free_port();
    let nats_url = format!("nats://127.0.0.1:{nats_port}");
    let mut cmd = command(dir.path(), &nats_url, &rae.url());
    cmd.env("GITHUB_WEBHOOK_SECRET", "gh-secret-from-env");
    let up = Up::start(cmd).await;
    assert!(
        dir.path().join("data/jetstream").is_dir(),
        "local nats-server store under ./data"
    );

    // GITHUB_WEBHOOK_SECRET alone enables the GitHub route; an unhandled event is ignored.
    let star = r#"{"action": "created", "starred_at": "2026-11-25T10:00:00Z"}"#;
    let signature = rae_ingress::github::verify::sign("gh-secret-from-env", star.as_bytes());
    let answer = http()
        .post(format!("{}/api/v1/integrations/github/webhook", up.base))
        .header("x-github-event", "star")
        .header("x-github-delivery", "d-1")
        .header("x-hub-signature-256", signature)
        .body(star)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap()["status"],
        "ignored"
    );
    let health: serde_json::Value = serde_json::from_str(
        &get(&format!("{}/api/v1/integrations/health", up.base))
            .await
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(health["github"]["status"], "healthy", "{health}");
    assert!(health["github"]["last_activity"].is_string(), "{health}");
    assert_eq!(health["memory"]["status"], "healthy", "{health}");

    let id = up.post("Team decided to use PostgreSQL").await;
    wait_for("RAE to store it", Duration::from_secs(15), || async {
        rae.stored_event_ids().contains_key(&id)
    })
    .await;
    let unauthorized = http()
        .post(format!("{}/api/v1/webhooks/memory", up.base))
        .body(r#"{"content": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    let url = up.metrics.clone();
    wait_for(
        "metrics to show the traffic",
        Duration::from_secs(10),
        || {
            let url = url.clone();
            async move {
                let scrape = get(&url).await.unwrap().1;
                metric(
                    &scrape,
                    r#"rae_pipeline_rae_writes_total{outcome="stored"}"#,
                ) == Some(1.0)
            }
        },
    )
    .await;
    let scrape = get(&up.metrics).await.unwrap().1;
    assert_eq!(
        metric(
            &scrape,
            r#"rae_integration_requests_total{integration="memory",status="success"}"#
        ),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        metric(
            &scrape,
            r#"rae_integration_requests_total{integration="memory",status="unauthorized"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &scrape,
            r#"rae_pipeline_events_published_total{source="webhook"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&scrape, "rae_pipeline_events_enriched_total"),
        Some(1.0)
    );
    assert_eq!(
        metric(&scrape, r#"rae_pipeline_rae_writes_total{outcome="retry"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(&scrape, r#"rae_pipeline_retries_total{stage="write"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &scrape,
            r#"rae_integration_requests_total{integration="github",status="ignored"}"#
        ),
        Some(1.0),
        "ignored deliveries are counted"
    );
    assert_eq!(
        metric(
            &scrape,
            r#"rae_integration_errors_total{integration="github",error_type="ignored"}"#
        ),
        None,
        "and are not errors"
    );
    assert_eq!(metric(&scrape, "rae_pipeline_breaker_open"), Some(0.0));
    assert_eq!(
        metric(&scrape, "rae_pipeline_end_to_end_seconds_count"),
        Some(1.0)
    );

    up.terminate();
    assert_eq!(up.wait_exit().await, 0);
    let nats_gone = std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err();
    assert!(nats_gone, "the nats-server `up` started is stopped with it");
}

/// The processes whose parent is `parent` and whose name is `name` (from `/proc`).
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "<pid> (<comm>) <state> <ppid> ..."; comm may hold spaces, so split at the last ')'.
        let Some((head, tail)) = stat.rsplit_once(") ") else {
            continue;
        };
        let Some((pid, comm)) = head.split_once(" (") else {
            continue;
        };
        let ppid = tail.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
        if comm == name && ppid == Some(parent) {
            found.extend(pid.parse::<u32>().ok());
        }
    }
    found
}

#[tokio::test]
async fn up_exits_1_naming_the_role_when_its_nats_server_dies() {
    let dir = tempfile::tempdir().unwrap();
    let rae = FakeRae::start().await;
    let nats_url = format!("nats://127.0.0.1:{}", free_port());
    let log = dir.path().join("up.log");
    let up = Up::start_logging(command(dir.path(), &nats_url, &rae.url()), Some(&log)).await;
    let id = up.post("before the outage").await;
    wait_for("RAE to store it", Duration::from_secs(15), || async {
        rae.stored_event_ids().contains_key(&id)
    })
    .await;
    let nats = children_named(up.child.id(), "nats-server");
    assert_eq!(nats.len(), 1, "the nats-server `up` started: {nats:?}");
    let killed = Command::new("kill")
        .args(["-KILL", &nats[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    assert_eq!(up.wait_exit().await, 1, "a role that dies is a failure");
    let stderr = std::fs::read_to_string(&log).unwrap();
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "error: role nats-server failed: the nats-server started by this process exited"
        ) && last.contains("SIGKILL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn up_without_nats_or_a_binary_exits_2_saying_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("nats://127.0.0.1:{}", free_port());
    let out = run(command(dir.path(), &url, "http://127.0.0.1:9")
        .env("NATS_SERVER_BIN", "/nonexistent/nats-server")
        .arg("up"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no nats-server binary") && stderr.contains("apt-get install nats-server"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_with_events_in_flight_loses_nothing_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.set_default(Reply::Slow(Duration::from_millis(300)));
    // Four writes at a time, 300 ms each: most of the 60 events are still waiting at SIGTERM.
    std::fs::write(
        dir.path().join("integrations.yaml"),
        "writer:\n  concurrency: 4\n",
    )
    .unwrap();
    let up = Up::start(command(dir.path(), &nats.url(), &rae.url())).await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(up.post(&format!("in flight at shutdown {i}")).await);
    }
    wait_for(
        "some writes to be under way",
        Duration::from_secs(10),
        || async { !rae.requests().is_empty() },
    )
    .await;
    up.terminate();
    assert_eq!(up.wait_exit().await, 0);
    let before_restart = rae.stored_event_ids().len();
    assert!(
        before_restart < ids.len(),
        "the test must stop the pipeline mid-stream"
    );
    // In-flight writes were finished, not abandoned: what RAE answered before the exit is stored once.
    assert!(rae.stored_event_ids().values().all(|n| *n == 1));

    rae.set_default(Reply::Ok);
    let up = Up::start(command(dir.path(), &nats.url(), &rae.url())).await;
    wait_for(
        "every accepted event in RAE",
        Duration::from_secs(30),
        || async { rae.stored_event_ids().len() == ids.len() },
    )
    .await;
    let stored = rae.stored_event_ids();
    for id in &ids {
        assert_eq!(stored.get(id), Some(&1), "event {id} stored once");
    }
    up.terminate();
    assert_eq!(up.wait_exit().await, 0);
}

#[tokio::test]
async fn check_config_redacts_secrets_and_bad_config_exits_2_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        command(dir.path(), "nats://127.0.0.1:4222", "http://127.0.0.1:8000").arg("check-config"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("<redacted>"), "{stdout}");
    assert!(
        !stdout.contains(SECRET) && !stdout.contains(RAE_KEY),
        "{stdout}"
    );

    std::fs::write(
        dir.path().join("integrations.yaml"),
        "rae:\n  tenant_id: acme\nwriter:\n  concurrency: 0\ningress:\n  listen: nowhere\n",
    )
    .unwrap();
    let out = run(
        command(dir.path(), "nats://127.0.0.1:4222", "http://127.0.0.1:8000").arg("check-config"),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for path in ["rae.tenant_id", "writer.concurrency", "ingress.listen"] {
        assert!(stderr.contains(path), "{path} missing from: {stderr}");
    }

    let out = run(
        command(dir.path(), "nats://127.0.0.1:4222", "http://127.0.0.1:8000").args([
            "--config",
            "missing.yaml",
            "check-config",
        ]),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yaml"));
}

#[test]
fn check_config_shows_keywords_and_key_ids_but_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("integrations.yaml"),
        r#"
enrich:
  rules:
    - { name: billing, keywords: [invoice, refund], boost: 0.2 }
tenants:
  acme:
    rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f
    api_key: acme-rae-key-1
integrations:
  - { id: github, config: { secrets: [github-secret-0001], tenant: acme } }
api_keys:
  - id: acme-backend
    sha256: "9d3b5fbd4fc9fbc36ee4d1fb7e1a2ff7af8bd2ff4c35f6b5bdc0cd6bb2b7b4c1"
    scopes: ["memories:write", "memories:read"]
    tenants: [acme]
  - { id: ci-bot, key: "${CI_BOT_KEY}", scopes: ["dlq:admin"], tenants: ["*"] }
"#,
    )
    .unwrap();
    let out = run(
        command(dir.path(), "nats://127.0.0.1:4222", "http://127.0.0.1:8000")
            .env("CI_BOT_KEY", "ci-bot-key-0123456789")
            .arg("check-config"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What an operator checks: rule keywords, and which keys exist with which rights.
    for shown in [
        "invoice",
        "refund",
        "acme-backend",
        "ci-bot",
        "memories:read",
        "dlq:admin",
        "kind: github",
    ] {
        assert!(stdout.contains(shown), "{shown} missing from:\n{stdout}");
    }
    for secret in [
        SECRET,
        RAE_KEY,
        "acme-rae-key-1",
        "github-secret-0001",
        "ci-bot-key-0123456789",
    ] {
        assert!(!stdout.contains(secret), "{secret} shown in:\n{stdout}");
    }
}

#[tokio::test]
async fn send_and_dlq_list_replay_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.script([Reply::Status(
        422,
        json!({"error": {"code": "validation_error", "message": "nope"}}),
    )]);
    let up = Up::start(command(dir.path(), &nats.url(), &rae.url())).await;
    let cli = |args: &[&str]| run(command(dir.path(), &nats.url(), &rae.url()).args(args));

    let out = cli(&[
        "send",
        "--content",
        "sent from the CLI",
        "--tags",
        "cli,test",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = sent["id"].as_str().unwrap().to_owned();

    wait_for("a dead letter", Duration::from_secs(15), || async {
        String::from_utf8_lossy(&cli(&["dlq", "list"]).stdout).contains("rae_rejected")
    })
    .await;
    let listed: serde_json::Value =
        serde_json::from_slice(&cli(&["dlq", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["reason"], "rae_rejected", "{listed}");
    let listing = String::from_utf8_lossy(&cli(&["dlq", "list"]).stdout).into_owned();
    for column in [
        "STAGE",
        "write",
        "rae_rejected",
        "rae.enriched.default-tenant.api.note",
        "sent from the CLI",
    ] {
        assert!(
            listing.contains(column),
            "{column} missing from:\n{listing}"
        );
    }
    let out = cli(&["dlq", "replay"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "replay without a selection is refused"
    );
    let out = cli(&["dlq", "replay", "--all", "--dry-run"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 dead letter(s) would be replayed"));
    assert!(rae.stored_event_ids().is_empty());
    let out = cli(&["dlq", "replay", "--reason", "rae_rejected"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        "the replayed event in RAE",
        Duration::from_secs(15),
        || async { rae.stored_event_ids().contains_key(&id) },
    )
    .await;
    assert!(String::from_utf8_lossy(&cli(&["dlq", "list"]).stdout).contains("no dead letters"));
    // Scripts get an empty array, not an empty output.
    assert_eq!(
        String::from_utf8_lossy(&cli(&["dlq", "list", "--json"]).stdout).trim(),
        "[]"
    );
    up.terminate();
    assert_eq!(up.wait_exit().await, 0);
}

#[test]
fn keys_hash_and_generate_need_no_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("integrations.yaml"), "not: [valid").unwrap();
    let out = run(Command::new(BIN)
        .current_dir(dir.path())
        .args(["keys", "hash", "rpk_example"]));
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.trim(), rae_ingress::auth::hash_key("rpk_example"));
    assert_eq!(printed.trim().len(), 64);

    // From stdin, so the key stays out of the shell history.
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["keys", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"rpk_example\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), printed);

    let out = run(Command::new(BIN)
        .current_dir(dir.path())
        .args(["keys", "hash", " "]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key given"));

    let out = run(Command::new(BIN).args(["keys", "generate"]));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("key:")
        .trim();
    let hash = text
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("sha256:")
        .trim();
    assert!(key.starts_with("rpk_"), "{text}");
    assert_eq!(hash, rae_ingress::auth::hash_key(key));
}

#[tokio::test]
async fn backfill_runs_stored_events_again_through_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let a = pipeline.accept("first for backfill").await;
    let b = pipeline.accept("second for backfill").await;
    wait_for("both stored", Duration::from_secs(10), || async {
        rae.stored().len() == 2
    })
    .await;
    let since = before
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let backfill = |extra: &[&str]| {
        let mut cmd = command(dir.path(), &nats.url(), &rae.url());
        cmd.args(["backfill", "--since", &since]).args(extra);
        run(&mut cmd)
    };

    let out = backfill(&["--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("2 event(s) would run again"), "{printed}");
    let out = backfill(&["--source", "git"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 event(s) run again"));

    let out = backfill(&["--source", "webhook"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 event(s) run again"));
    wait_for("both stored again", Duration::from_secs(10), || async {
        let ids = rae.stored_event_ids();
        ids.get(&a) == Some(&2) && ids.get(&b) == Some(&2)
    })
    .await;

    let out = backfill(&["--source", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--source must be one of"));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn tail_prints_events_as_they_flow() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;

    let out = run(command(dir.path(), &nats.url(), &rae.url()).args(["tail", "Acme.*"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lowercase letters"));

    let mut child = command(dir.path(), &nats.url(), &rae.url())
        .args(["tail", "default-tenant.webhook"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // tail shows what flows from the moment it subscribed: send until a line shows up.
    let mut seen = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while seen.is_none() {
        assert!(std::time::Instant::now() < deadline, "tail printed nothing");
        let id = pipeline.accept("watch me flow").await;
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            seen = Some((id, line));
        }
    }
    let (_, line) = seen.unwrap();
    assert!(
        line.contains("rae.events.default-tenant.webhook.note"),
        "{line}"
    );
    assert!(line.contains("watch me flow"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
    pipeline.shutdown().await;
}

#[tokio::test]
async fn json_logs_name_the_event_on_every_line_about_it() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.script([Reply::Status(503, json!({"detail": "busy"}))]);
    let log = dir.path().join("up.log");
    let mut cmd = command(dir.path(), &nats.url(), &rae.url());
    cmd.env("RUST_LOG", "info,rae=debug")
        .arg("--log-format")
        .arg("json");
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = cmd
        .arg("up")
        .env("RAE_PIPELINE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "RAE_PIPELINE_METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_for("`up` to be ready", Duration::from_secs(30), || {
        let url = format!("{base}/readyz");
        async move { matches!(get(&url).await, Some((200, _))) }
    })
    .await;
    let answer: serde_json::Value = http()
        .post(format!("{base}/api/v1/webhooks/memory"))
        .header("X-Webhook-Secret", SECRET)
        .body(r#"{"content": "log me"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap().to_owned();
    wait_for(
        "RAE to store it after a retry",
        Duration::from_secs(15),
        || async { rae.stored_event_ids().contains_key(&id) },
    )
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // Values are written as values, not as Rust's Debug of an Option.
    assert!(
        !text.contains("Some(") && !text.contains("\"None\""),
        "Debug values in:\n{text}"
    );
    let running = lines
        .iter()
        .find(|l| l["message"] == "rae-pipeline running")
        .expect("a running line");
    assert_eq!(running["ingress"], format!("127.0.0.1:{port}"), "{running}");
    let about_events = ["event published", "event will be retried", "rae write"];
    for message in about_events {
        let found: Vec<_> = lines.iter().filter(|l| l["message"] == message).collect();
        assert!(!found.is_empty(), "no {message:?} line in:\n{text}");
        for line in found {
            assert_eq!(line["event_id"], id.as_str(), "{line}");
        }
    }
}

#[tokio::test]
async fn metrics_count_every_outcome_of_real_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.script([
        Reply::Status(500, json!({"detail": "hiccup"})),
        Reply::Status(422, json!({"error": {"code": "validation_error"}})),
    ]);
    let up = Up::start(command(dir.path(), &nats.url(), &rae.url())).await;
    for i in 0..2 {
        up.post(&format!("metered {i}")).await;
    }
    // A credential in the content is redacted and counted by kind, never stored.
    up.post("metered 2, deployed with ghp_16C7e42F292c6912E7710c838347Ae178B4a")
        .await;
    let refused = |body: &'static str, secret: &'static str| {
        http()
            .post(format!("{}/api/v1/webhooks/memory", up.base))
            .header("X-Webhook-Secret", secret)
            .body(body)
            .send()
    };
    assert_eq!(
        refused(r#"{"content": "x"}"#, "wrong-secret")
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        refused(r#"{"contnt": "x"}"#, SECRET)
            .await
            .unwrap()
            .status(),
        400
    );

    let url = up.metrics.clone();
    let expected: &[(&str, f64)] = &[
        (
            r#"rae_integration_requests_total{integration="memory",status="success"}"#,
            3.0,
        ),
        (
            r#"rae_integration_requests_total{integration="memory",status="unauthorized"}"#,
            1.0,
        ),
        (
            r#"rae_integration_requests_total{integration="memory",status="bad_request"}"#,
            1.0,
        ),
        (
            r#"rae_integration_errors_total{integration="memory",error_type="bad_request"}"#,
            1.0,
        ),
        (
            r#"rae_integration_latency_seconds_count{integration="memory"}"#,
            5.0,
        ),
        (
            r#"rae_pipeline_events_published_total{source="webhook"}"#,
            3.0,
        ),
        ("rae_pipeline_events_enriched_total", 3.0),
        (r#"rae_pipeline_rae_writes_total{outcome="stored"}"#, 2.0),
        (r#"rae_pipeline_rae_writes_total{outcome="retry"}"#, 1.0),
        (r#"rae_pipeline_rae_writes_total{outcome="rejected"}"#, 1.0),
        (r#"rae_pipeline_retries_total{stage="write"}"#, 1.0),
        (
            r#"rae_pipeline_dead_letters_total{stage="write",reason="rae_rejected"}"#,
            1.0,
        ),
        ("rae_pipeline_end_to_end_seconds_count", 2.0),
        ("rae_pipeline_rae_write_seconds_count", 4.0),
        ("rae_pipeline_dlq_messages", 1.0),
        (r#"rae_pipeline_consumer_pending{consumer="enricher"}"#, 0.0),
        (r#"rae_pipeline_consumer_pending{consumer="writer"}"#, 0.0),
        ("rae_pipeline_breaker_open", 0.0),
        (r#"rae_pipeline_redactions_total{kind="github_token"}"#, 1.0),
        (r#"rae_pipeline_redactions_total{kind="jwt"}"#, 0.0),
    ];
    // The gauges refresh from JetStream every 5 s.
    wait_for(
        "every metric to show the traffic",
        Duration::from_secs(20),
        || {
            let url = url.clone();
            async move {
                let scrape = get(&url).await.map(|r| r.1).unwrap_or_default();
                expected
                    .iter()
                    .all(|(line, value)| metric(&scrape, line) == Some(*value))
            }
        },
    )
    .await;
    let scrape = get(&up.metrics).await.unwrap().1;
    // Latency buckets in milliseconds for the ingress, up to minutes end to end.
    for bucket in [
        r#"rae_integration_latency_seconds_bucket{integration="memory",le="0.001"}"#,
        r#"rae_integration_latency_seconds_bucket{integration="memory",le="0.01"}"#,
        r#"rae_pipeline_end_to_end_seconds_bucket{le="0.05"}"#,
        r#"rae_pipeline_end_to_end_seconds_bucket{le="600"}"#,
    ] {
        assert!(
            metric(&scrape, bucket).is_some(),
            "{bucket} missing:\n{scrape}"
        );
    }
    up.terminate();
    assert_eq!(up.wait_exit().await, 0);
}

#[tokio::test]
async fn a_misconfigured_store_path_is_logged_once_with_status_url_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    // What RAE answers to `/v2/memories` without its trailing slash.
    rae.set_default(Reply::Status(307, json!({})));
    let log = dir.path().join("up.log");
    let mut cmd = command(dir.path(), &nats.url(), &rae.url());
    cmd.arg("--log-format").arg("json");
    let up = Up::start_logging(cmd, Some(&log)).await;
    for i in 0..8 {
        up.post(&format!("held while RAE redirects {i}")).await;
    }
    let opened = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["message"] == "rae unavailable, breaker open: pausing writes")
            .collect::<Vec<_>>()
    };
    wait_for("the breaker to open", Duration::from_secs(30), || async {
        !opened().is_empty()
    })
    .await;
    up.terminate();
    assert_eq!(up.wait_exit().await, 0);
    let lines = opened();
    assert_eq!(lines.len(), 1, "one line per opening: {lines:?}");
    let line = &lines[0];
    assert_eq!(line["reason"], "rae_misconfigured", "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("307"), "{error}");
    assert!(
        error.contains(&format!(
            "POST {}/v2/memories/",
            rae.url().trim_end_matches('/')
        )),
        "{error}"
    );
    assert!(
        line["fix"].as_str().unwrap().contains("trailing slash"),
        "{line}"
    );
    // Nothing was dead-lettered: the events wait for the fix.
    assert!(rae.stored().is_empty());
}

#[tokio::test]
async fn closed_label_series_are_exported_at_zero_before_any_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let up = Up::start(command(dir.path(), &nats.url(), &rae.url())).await;
    let scrape = get(&up.metrics).await.unwrap().1;
    for line in [
        r#"rae_pipeline_dead_letters_total{stage="write",reason="rae_rejected"}"#,
        r#"rae_pipeline_dead_letters_total{stage="write",reason="retries_exhausted"}"#,
        r#"rae_pipeline_dead_letters_total{stage="enrich",reason="invalid_event"}"#,
        r#"rae_pipeline_retries_total{stage="write"}"#,
        r#"rae_pipeline_retries_total{stage="enrich"}"#,
        r#"rae_pipeline_rae_writes_total{outcome="stored"}"#,
        r#"rae_pipeline_events_published_total{source="github"}"#,
        "rae_pipeline_events_enriched_total",
        "rae_pipeline_audit_dropped_total",
        "rae_pipeline_breaker_open",
    ] {
        assert_eq!(metric(&scrape, line), Some(0.0), "{line} in:\n{scrape}");
    }
}

#[tokio::test]
async fn roles_beside_up_on_one_host_take_their_own_metrics_listener() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let up = Up::start(command(dir.path(), &nats.url(), &rae.url())).await;
    let taken = up
        .metrics
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();

    // On `up`'s metrics address a second process fails at once and says how to fix it.
    let out = run(command(dir.path(), &nats.url(), &rae.url())
        .env("RAE_PIPELINE_METRICS_LISTEN", &taken)
        .arg("writer"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&taken), "{stderr}");
    assert!(stderr.contains("--metrics-listen"), "{stderr}");

    // With --metrics-listen it serves its own /metrics beside `up`; with `off` it serves none.
    let own = format!("127.0.0.1:{}", free_port());
    let mut writer = command(dir.path(), &nats.url(), &rae.url())
        .env("RAE_PIPELINE_METRICS_LISTEN", &taken)
        .args(["writer", "--metrics-listen", &own])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://{own}/metrics");
    wait_for("the writer's own /metrics", Duration::from_secs(30), || {
        let url = url.clone();
        async move { matches!(get(&url).await, Some((200, _))) }
    })
    .await;
    let mut quiet = command(dir.path(), &nats.url(), &rae.url())
        .env("RAE_PIPELINE_METRICS_LISTEN", &taken)
        .args(["enricher", "--metrics-listen", "off"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Both roles share the work with `up`: an event still reaches RAE once.
    let id = up.post("beside up").await;
    wait_for("RAE to store it", Duration::from_secs(20), || async {
        rae.stored_event_ids().contains_key(&id)
    })
    .await;
    assert!(
        quiet.try_wait().unwrap().is_none(),
        "the enricher without metrics is running"
    );
    assert!(
        writer.try_wait().unwrap().is_none(),
        "the writer is running"
    );
    for child in [&mut writer, &mut quiet] {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(child.wait().unwrap().success());
    }
}
