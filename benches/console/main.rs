//! The console's benchmark (issue 17): how long the dead-letter list takes to answer a page
//! when `RAE_DLQ` holds 10,000 dead letters. The target is under 300 ms of server time.
//!
//! Run it with `cargo bench --bench console` (release) or `cargo bench --bench console
//! --profile dev` (an upper bound, quicker to build). It starts its own `nats-server`, stores
//! 10,000 dead letters through the core (9,950 `rae_rejected`, then 50 `retries_exhausted`),
//! starts the ingress with the console in this process, signs in, and times `GET
//! /console/dead-letters` pages over loopback: the first page, a middle one, the last, a filter
//! by reason that only the last 50 match (so the whole stream is read), and a filter by stage
//! that matches none (the server's subject filter answers at once). Prints the median and the
//! slowest of each; `docs/benchmarks.md` ("Console") keeps the figures.
//!
//! Without `--bench` (that is, under `cargo test --all-targets`) it does nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};

use rae_core::config::{Config, Source};
use rae_core::dead_letter::{DeadLetter, Reason, Stage};
use rae_pipeline::app::{self, Roles};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

const DEAD_LETTERS: usize = 10_000;
const TAIL: usize = 50;
const ROUNDS: usize = 15;
const KEY: &str = "rpk_console_bench_key_0123456789";

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        println!("console benchmark: run `cargo bench --bench console`");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A `nats-server -js` on a free port with its own store (removed on drop), killed on drop.
struct Nats {
    child: std::process::Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nats() -> Result<Nats> {
    let binary = rae_pipeline::local_nats::find_binary().ok_or("nats-server is not installed")?;
    let store = tempfile::tempdir()?;
    let mut child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if !sent {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    let _ = tx.send(rest.trim().rsplit(':').next().and_then(|p| p.parse().ok()));
                    sent = true;
                }
            }
        }
    });
    let port: u16 = rx
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .flatten()
        .ok_or("nats-server did not report its port")?;
    Ok(Nats {
        child,
        port,
        _store: store,
    })
}

async fn run() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = start_nats()?;
    let yaml = format!(
        r#"
nats: {{ url: "nats://127.0.0.1:{port}", dlq_max_bytes: 268435456 }}
ingress: {{ listen: "127.0.0.1:0" }}
integrations:
  - {{ id: memory, config: {{ secrets: ["bench-webhook-secret-01"] }} }}
api_keys:
  - {{ id: operator, key: "{KEY}", scopes: ["console:read", "dlq:admin"], tenants: ["*"] }}
console: {{ enabled: true }}
"#,
        port = nats.port
    );
    let config = Config::load(&Source::Text(yaml), &|_| None)?;
    let data = tempfile::tempdir()?;
    let options = app::Options {
        data_dir: data.path().to_owned(),
        serve_metrics: false,
    };
    let roles = Roles {
        ingress: true,
        enricher: false,
        writer: false,
        git_watch: false,
    };
    let running = app::start(&config, roles, &options).await?;
    let base = format!("http://{}", running.ingress_addr().ok_or("no ingress")?);
    let publisher = running.bus().publisher();

    let started = Instant::now();
    let stored: Vec<std::result::Result<_, _>> = stream::iter(0..DEAD_LETTERS)
        .map(|i| {
            let publisher = publisher.clone();
            async move {
                let reason = if i < DEAD_LETTERS - TAIL {
                    Reason::RaeRejected
                } else {
                    Reason::RetriesExhausted
                };
                let payload = serde_json::json!({
                    "id": format!("bench-{i}"),
                    "tenant": "default-tenant",
                    "source": "webhook",
                    "kind": "note",
                    "content": format!("dead letter number {i} of the console benchmark, with some text to show"),
                });
                let letter = DeadLetter::new(
                    Stage::Write,
                    reason,
                    r#"RAE answered 422: {"error":{"code":"invalid","message":"rejected"}}"#,
                    1,
                    "rae.enriched.default-tenant.webhook.note",
                    payload.to_string().as_bytes(),
                );
                letter.publish(&publisher, &format!("bench-dlq-{i}")).await
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    if let Some(Err(err)) = stored.into_iter().find(|r| r.is_err()) {
        return Err(format!("a dead letter was not stored: {err}").into());
    }
    println!(
        "stored {DEAD_LETTERS} dead letters in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let signed = client
        .post(format!("{base}/console/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={KEY}"))
        .send()
        .await?;
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or("sign-in set no cookie")?
        .to_owned();

    let last_page_after = (DEAD_LETTERS - TAIL) as u64;
    let cases = [
        (
            "first page (50 of 10,000)",
            "/console/dead-letters".to_owned(),
        ),
        (
            "middle page (after 5,000)",
            "/console/dead-letters?after=5000".to_owned(),
        ),
        (
            "last page",
            format!("/console/dead-letters?after={last_page_after}"),
        ),
        (
            "reason only the last 50 have",
            "/console/dead-letters?reason=retries_exhausted".to_owned(),
        ),
        (
            "stage none has (enrich)",
            "/console/dead-letters?stage=enrich".to_owned(),
        ),
    ];
    println!("| page | median | slowest | rows |");
    println!("|---|---:|---:|---:|");
    for (name, path) in cases {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let status = response.status();
            let body = response.text().await?;
            times.push(t.elapsed());
            if status != 200 {
                return Err(format!("{path}: {status}").into());
            }
            rows = body.matches(r#"name="seq""#).count();
        }
        times.sort();
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {rows} |",
            times[ROUNDS / 2].as_secs_f64() * 1000.0,
            times[ROUNDS - 1].as_secs_f64() * 1000.0
        );
    }
    running.shutdown(Duration::from_secs(10)).await?;
    drop(nats);
    Ok(())
}
