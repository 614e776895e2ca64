//! The processes a phase measures: a `nats-server -js` with a fresh store, and the release
//! `rae-pipeline` binary running one command against it and the fake RAE.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fake_rae::FakeRae;
use crate::usage::proc_status_kib;
use crate::{Result, API_KEY, API_TENANT, RAE_KEY, WEBHOOK_SECRET};

/// A `nats-server -js` on a free loopback port with its own store; killed on drop.
pub(crate) struct Nats {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) _store: tempfile::TempDir,
}

impl Nats {
    pub(crate) fn start() -> Result<Nats> {
        let binary = rae_pipeline::local_nats::find_binary()
            .ok_or("nats-server is not installed (apt-get install nats-server)")?;
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
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sent {
                    continue;
                }
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    let port = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                    let _ = tx.send(port);
                    sent = true;
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

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release `rae-pipeline` running one command as its own process.
pub(crate) struct Pipeline {
    pub(crate) child: Child,
    pub(crate) ingress: String,
    pub(crate) dir: tempfile::TempDir,
}

impl Pipeline {
    pub(crate) async fn start(
        command: &str,
        nats: &Nats,
        rae: &FakeRae,
        extra_yaml: &str,
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let config = dir.path().join("bench.yaml");
        let key_hash = hex::encode(rae_core::config::key_digest(API_KEY));
        // The rate limit (1000/s per integration by default) would cap every figure here.
        std::fs::write(
            &config,
            format!(
                "ingress:\n  rate_limit:\n    per_second: 0\n\
                 nats:\n{limits}\
                 tenants:\n  {API_TENANT}:\n    rae_tenant_id: default-tenant\n\
                 api_keys:\n  - id: bench\n    sha256: \"{key_hash}\"\n    scopes: [\"memories:write\"]\n    tenants: [{API_TENANT}]\n\
                 {extra_yaml}",
                limits = crate::raw::STREAM_LIMITS_YAML,
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("pipeline.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_rae-pipeline"))
            .arg("--config")
            .arg(&config)
            .arg(command)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--grace-secs", "10"])
            .env("NATS_URL", nats.url())
            .env("RAE_BASE_URL", rae.url())
            .env("RAE_API_KEY", RAE_KEY)
            .env("RAE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("RAE_PIPELINE_LISTEN", format!("127.0.0.1:{port}"))
            .env("RAE_PIPELINE_METRICS_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let pipeline = Pipeline {
            child,
            ingress: format!("http://127.0.0.1:{port}"),
            dir,
        };
        if command != "writer" {
            let http = reqwest::Client::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let ready = http
                    .get(format!("{}/readyz", pipeline.ingress))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "rae-pipeline {command} did not become ready; see its log:\n{}",
                        pipeline.log_tail()
                    )
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(pipeline)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("pipeline.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Log lines at WARN or ERROR so far.
    pub(crate) fn warnings(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("pipeline.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .count()
    }

    /// Stops it with SIGTERM (graceful), returning its peak RSS in KiB.
    pub(crate) async fn stop(mut self) -> u64 {
        let hwm = proc_status_kib(self.pid(), "VmHWM:");
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return hwm;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        hwm
    }
}

pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
