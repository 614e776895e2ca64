//! The rae-pipeline benchmark (issues #9 and #4): how close the pipeline comes to what NATS
//! JetStream itself can do on the same machine, measured side by side in one run, and what it
//! costs and buys compared with posting straight to RAE.
//!
//! Run it with `bash scripts/bench.sh` (installs `wrk` and `nats-server` when missing), or
//! `cargo bench --bench pipeline -- [options]`. It starts its own `nats-server` (fresh store per
//! phase), a fake RAE in this process, the release `rae-pipeline` binary as a separate process,
//! and `wrk` as the HTTP load generator (it signs every webhook request, see
//! `benches/wrk/pipeline.lua`). The raw baselines use async-nats from this process. Every
//! pipeline figure is paired with a baseline measured right before it, interleaved round by
//! round, because absolute numbers drift on a shared 2-core machine while ratios hold.
//!
//! Prints a table and replaces the generated part of `docs/benchmarks.md` (between the
//! `bench:begin`/`bench:end` markers), leaving the hand-written notes around it alone.
//!
//! Without `--bench` (that is, under `cargo test --all-targets`) it does nothing, so CI only
//! compiles and lints it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::future::IntoFuture;

use async_nats::jetstream::{self, consumer};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::Semaphore;

use rae_core::config::{Config, Source};
use rae_core::event::Event;
use rae_core::{headers, subjects};
use rae_ingress::webhook::normalize;

const WEBHOOK_SECRET: &str = "bench-webhook-secret";
const API_KEY: &str = "rpk_bench_0123456789abcdef";
const API_TENANT: &str = "bench";
const RAE_KEY: &str = "bench-rae-key";
const LUA: &str = include_str!("wrk/pipeline.lua");
const DOC_BEGIN: &str = "<!-- bench:begin -->";
const DOC_END: &str = "<!-- bench:end -->";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

/// What to run, from the command line.
#[derive(Debug, Clone)]
struct Options {
    /// Length of one measurement.
    secs: u64,
    /// Rounds of each interleaved pair (baseline, pipeline).
    rounds: usize,
    /// Phases to run.
    phases: Vec<String>,
    /// Where to write the report (`--doc`), or nothing (`--no-doc`).
    doc: Option<PathBuf>,
    /// Events per writer run.
    writer_events: usize,
    /// Connection counts of the ingress phase.
    connections: Vec<usize>,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut options = Options {
            secs: 5,
            rounds: 2,
            phases: ["ingress", "batch", "e2e", "burst", "writer"]
                .map(String::from)
                .to_vec(),
            doc: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md")),
            writer_events: 20_000,
            connections: vec![1, 16, 64, 256],
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--bench" => {}
                "--secs" => options.secs = value()?.parse()?,
                "--rounds" => options.rounds = value()?.parse()?,
                "--phases" => options.phases = value()?.split(',').map(String::from).collect(),
                "--doc" => options.doc = Some(PathBuf::from(value()?)),
                "--no-doc" => options.doc = None,
                "--writer-events" => options.writer_events = value()?.parse()?,
                "--connections" => {
                    options.connections = value()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?
                }
                "--quick" => {
                    options.secs = 2;
                    options.rounds = 1;
                    options.writer_events = 5_000;
                }
                "-h" | "--help" => {
                    println!(
                        "cargo bench --bench pipeline -- [--secs N] [--rounds N] [--quick] \
                         [--phases ingress,batch,e2e,burst,writer] [--connections 1,16,64,256] \
                         [--writer-events N] [--doc PATH | --no-doc]"
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option {other} (see --help)").into()),
            }
        }
        Ok(options)
    }

    fn runs(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
}

fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "pipeline benchmark: run `bash scripts/bench.sh` or `cargo bench --bench pipeline`"
        );
        return ExitCode::SUCCESS;
    }
    let options = match Options::parse() {
        Ok(o) => o,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
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
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes: nats-server, rae-pipeline, wrk.

/// A `nats-server -js` on a free loopback port with its own store; killed on drop.
struct Nats {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl Nats {
    fn start() -> Result<Nats> {
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

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
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
struct Pipeline {
    child: Child,
    ingress: String,
    dir: tempfile::TempDir,
}

impl Pipeline {
    async fn start(command: &str, nats: &Nats, rae: &FakeRae, extra_yaml: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let config = dir.path().join("bench.yaml");
        let key_hash = hex::encode(rae_core::config::key_digest(API_KEY));
        // The rate limit (1000/s per integration by default) would cap every figure here.
        std::fs::write(
            &config,
            format!(
                "ingress:\n  rate_limit:\n    per_second: 0\n\
                 tenants:\n  {API_TENANT}:\n    rae_tenant_id: default-tenant\n\
                 api_keys:\n  - id: bench\n    sha256: \"{key_hash}\"\n    scopes: [\"memories:write\"]\n    tenants: [{API_TENANT}]\n\
                 {extra_yaml}"
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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("pipeline.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Log lines at WARN or ERROR so far.
    fn warnings(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("pipeline.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .count()
    }

    /// Stops it with SIGTERM (graceful), returning its peak RSS in KiB.
    async fn stop(mut self) -> u64 {
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

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A line of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`).
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) in clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

/// Samples the RSS of `pid` until dropped, keeping the maximum.
struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(proc_status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssSampler { peak, stop }
    }

    fn peak_kib(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Waits until `pid` is quiet (under 5% of a core for 300 ms), so work left over from one
/// measurement (audit records, a backlog) does not run into the next; at most `max`.
async fn settle(pids: &[u32], max: Duration) {
    let deadline = Instant::now() + max;
    loop {
        let before: f64 = pids.iter().map(|p| cpu_secs(*p)).sum();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after: f64 = pids.iter().map(|p| cpu_secs(*p)).sum();
        if after - before < 0.015 || Instant::now() > deadline {
            return;
        }
    }
}

/// What one wrk run reported.
#[derive(Debug, Clone, Default)]
struct Wrk {
    requests: u64,
    secs: f64,
    status_errors: u64,
    socket_errors: u64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU seconds per wall second of the pipeline and of nats-server during the run.
    cpu: Cpu,
}

impl Wrk {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }
    fn ok(&self) -> u64 {
        self.requests.saturating_sub(self.status_errors)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    pipeline: f64,
    nats: f64,
    /// The load generator (wrk runs only).
    wrk: f64,
}

struct CpuWatch {
    pids: (u32, u32),
    start: (f64, f64),
    at: Instant,
}

impl CpuWatch {
    fn start(pipeline: u32, nats: u32) -> CpuWatch {
        CpuWatch {
            pids: (pipeline, nats),
            start: (cpu_secs(pipeline), cpu_secs(nats)),
            at: Instant::now(),
        }
    }
    fn stop(&self) -> Cpu {
        let secs = self.at.elapsed().as_secs_f64().max(1e-9);
        Cpu {
            pipeline: if self.pids.0 == 0 {
                0.0
            } else {
                (cpu_secs(self.pids.0) - self.start.0) / secs
            },
            nats: (cpu_secs(self.pids.1) - self.start.1) / secs,
            wrk: 0.0,
        }
    }
}

/// How wrk is to load a URL.
struct Load<'a> {
    url: String,
    mode: &'a str,
    connections: usize,
    secs: u64,
    /// Requests per second; 0 for as fast as possible.
    rate: f64,
    /// Write the ids of 2xx answers here.
    ids_dir: Option<&'a Path>,
    timeout_secs: u64,
}

async fn wrk(load: &Load<'_>, pids: (u32, u32)) -> Result<Wrk> {
    let script = std::env::temp_dir().join(format!("rae-bench-{}.lua", std::process::id()));
    std::fs::write(&script, LUA)?;
    let threads = load.connections.min(2);
    // Through bash, whose `times` then prints wrk's CPU time: the load generator shares the
    // two cores with the pipeline, and the report says how much it took.
    let mut command = tokio::process::Command::new("bash");
    command
        .args(["-c", "wrk \"$@\"; status=$?; times; exit $status", "wrk"])
        .args(["-t", &threads.to_string()])
        .args(["-c", &load.connections.to_string()])
        .args(["-d", &format!("{}s", load.secs)])
        .args(["--timeout", &format!("{}s", load.timeout_secs)])
        .arg("-s")
        .arg(&script)
        .arg(&load.url)
        .env("BENCH_MODE", load.mode)
        .env("BENCH_SECRET", WEBHOOK_SECRET)
        .env("BENCH_KEY", API_KEY)
        .env("BENCH_TENANT", API_TENANT)
        .env("BENCH_BATCH", "100")
        .env("BENCH_RATE", format!("{:.0}", load.rate))
        .env("BENCH_THREADS", threads.to_string())
        .env(
            "BENCH_IDS_DIR",
            load.ids_dir.map(Path::as_os_str).unwrap_or_default(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let watch = CpuWatch::start(pids.0, pids.1);
    let output = command.output().await.map_err(|e| {
        format!(
            "cannot run wrk ({e}): install it with apt-get install wrk, or run scripts/bench.sh"
        )
    })?;
    let cpu = watch.stop();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("BENCH "))
        .ok_or_else(|| {
            format!(
                "wrk printed no result:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let fields: HashMap<&str, f64> = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect();
    let get = |k: &str| fields.get(k).copied().unwrap_or(0.0);
    // `times` prints the shell's and then its children's user and system time: "0m1.234s 0m0.5s".
    let wrk_secs: f64 = stdout
        .lines()
        .rev()
        .find(|l| l.contains("m") && l.ends_with('s') && l.split_whitespace().count() == 2)
        .map(|l| {
            l.split_whitespace()
                .filter_map(|t| {
                    let (m, s) = t.trim_end_matches('s').split_once('m')?;
                    Some(m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
                })
                .sum()
        })
        .unwrap_or(0.0);
    let mut cpu = cpu;
    cpu.wrk = wrk_secs / watch.at.elapsed().as_secs_f64().max(1e-9);
    Ok(Wrk {
        requests: get("requests") as u64,
        secs: get("duration_us") / 1e6,
        status_errors: get("status_errors") as u64,
        socket_errors: (get("timeouts")
            + get("connect_errors")
            + get("read_errors")
            + get("write_errors")) as u64,
        p50_ms: get("p50_us") / 1e3,
        p99_ms: get("p99_us") / 1e3,
        cpu,
    })
}

// ---------------------------------------------------------------------------------------------
// The fake RAE: answers `POST /v2/memories/` at once, or like a slow RAE behind a concurrency
// limit (uvicorn's --limit-concurrency: requests past the limit are answered 503 at once).

#[derive(Clone)]
struct Slow {
    /// Requests served at once.
    workers: Arc<Semaphore>,
    /// Time to serve one request.
    delay: Duration,
    /// Requests in RAE at once (served or waiting); more are answered 503.
    limit: u64,
}

#[derive(Default)]
struct RaeState {
    stored: AtomicU64,
    refused: AtomicU64,
    in_flight: AtomicU64,
    record: AtomicBool,
    /// Event id and unix nanoseconds of each stored memory, while recording.
    log: Mutex<Vec<(String, u64)>>,
    slow: RwLock<Option<Slow>>,
}

struct FakeRae {
    addr: std::net::SocketAddr,
    state: Arc<RaeState>,
}

impl FakeRae {
    async fn start() -> Result<FakeRae> {
        use axum::serve::ListenerExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(RaeState::default());
        let app = axum::Router::new()
            .route("/v2/memories/", axum::routing::post(rae_store))
            .route("/health", axum::routing::get(|| async { "ok" }))
            .with_state(state.clone());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeRae { addr, state })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forgets what was received and starts recording ids.
    fn reset(&self, record: bool) {
        self.state.stored.store(0, Ordering::SeqCst);
        self.state.refused.store(0, Ordering::SeqCst);
        self.state.record.store(record, Ordering::SeqCst);
        if let Ok(mut log) = self.state.log.lock() {
            log.clear();
        }
    }

    fn set_slow(&self, slow: Option<(usize, Duration, u64)>) {
        if let Ok(mut s) = self.state.slow.write() {
            *s = slow.map(|(workers, delay, limit)| Slow {
                workers: Arc::new(Semaphore::new(workers)),
                delay,
                limit,
            });
        }
    }

    fn stored(&self) -> u64 {
        self.state.stored.load(Ordering::SeqCst)
    }

    fn take_log(&self) -> Vec<(String, u64)> {
        self.state
            .log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Waits until `n` memories are stored, or nothing new arrived for `idle`.
    async fn wait_for(&self, n: u64, idle: Duration) -> bool {
        let mut last = (self.stored(), Instant::now());
        loop {
            let stored = self.stored();
            if stored >= n {
                return true;
            }
            if stored != last.0 {
                last = (stored, Instant::now());
            } else if last.1.elapsed() > idle {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// `metadata.event_id` of a store body, found without parsing the whole body.
fn event_id(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"event_id\":\"")? + 12;
    let end = text[start..].find('"')? + start;
    Some(text[start..end].to_owned())
}

/// One request inside the slow RAE.
struct Inside<'a> {
    state: &'a RaeState,
    /// Requests inside before this one.
    before: u64,
}

impl<'a> Inside<'a> {
    fn enter(state: &'a RaeState) -> Inside<'a> {
        let before = state.in_flight.fetch_add(1, Ordering::SeqCst);
        Inside { state, before }
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn rae_store(State(state): State<Arc<RaeState>>, body: Bytes) -> Response {
    let slow = state.slow.read().ok().and_then(|s| s.clone());
    let _permit = match &slow {
        Some(slow) => {
            // Counted down on drop too: a client that hangs up cancels this handler mid-wait.
            let inside = Inside::enter(&state);
            if inside.before >= slow.limit {
                state.refused.fetch_add(1, Ordering::SeqCst);
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "1")],
                    "{\"error\":{\"code\":\"overloaded\"}}",
                )
                    .into_response();
            }
            let permit = slow.workers.clone().acquire_owned().await.ok();
            tokio::time::sleep(slow.delay).await;
            drop(inside);
            permit
        }
        None => None,
    };
    let n = state.stored.fetch_add(1, Ordering::SeqCst) + 1;
    if state.record.load(Ordering::Relaxed) {
        if let (Some(id), Ok(mut log)) = (event_id(&body), state.log.lock()) {
            log.push((id, unix_ns()));
        }
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        format!("{{\"memory_id\":\"m{n}\",\"message\":\"stored\"}}"),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Raw async-nats baselines.

/// A raw measurement: messages acknowledged, time, latencies of awaited acks.
#[derive(Debug, Clone, Default)]
struct Raw {
    count: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu: Cpu,
}

impl Raw {
    fn rate(&self) -> f64 {
        self.count as f64 / self.secs.max(1e-9)
    }
}

fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * p / 100.0) as usize).min(sorted_us.len() - 1);
    sorted_us[i] as f64 / 1e3
}

/// What the ingress publishes for a webhook body: the same payloads for the baselines.
fn sample_payloads(count: usize, source: &str, tenant: &str) -> Result<Vec<Bytes>> {
    let limits = rae_core::event::Limits::default();
    let route = rae_core::event::Route {
        integration: if source == "api" { "api" } else { "memory" },
        source: source
            .parse()
            .map_err(|e: rae_core::event::InvalidField| e.to_string())?,
        tenant,
        project: "default",
    };
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let body = format!(
            "{{\"content\":\"bench 0-{i}: deploy of service api-{} finished in {}s; 3 migrations ran, the cache \
             was warmed and the error rate is back to its baseline after yesterday's incident #bench\",\
             \"source\":\"bench\",\"tags\":[\"bench\",\"deploy\"]}}",
            i % 17,
            20 + i % 40
        );
        let parsed = normalize::parse(body.as_bytes()).map_err(|e| e.to_string())?;
        let event = normalize::normalize(parsed, route, &limits, time::OffsetDateTime::now_utc())
            .map_err(|e| e.to_string())?;
        out.push(Bytes::from(event.to_payload()));
    }
    Ok(out)
}

fn event_message(
    payload: &Bytes,
    tenant: &str,
    source: &str,
) -> jetstream::message::PublishMessage {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::SCHEMA, headers::SCHEMA_V1);
    h.insert(headers::TENANT, tenant);
    h.insert(headers::SOURCE, source);
    jetstream::message::PublishMessage::build()
        .payload(payload.clone())
        .headers(h)
        .message_id(uuid::Uuid::now_v7().to_string())
}

/// `tasks` publishers, each awaiting the ack of its publish before the next (what the ingress
/// does per connection), for `duration`.
async fn raw_awaited(
    js: &jetstream::Context,
    payloads: &Arc<Vec<Bytes>>,
    subject: &str,
    tasks: usize,
    duration: Duration,
    nats_pid: u32,
) -> Result<Raw> {
    let (tenant, source) = subject_parts(subject);
    let watch = CpuWatch::start(0, nats_pid);
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let js = js.clone();
        let payloads = payloads.clone();
        let subject = subject.to_owned();
        let (tenant, source) = (tenant.clone(), source.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = t;
            while Instant::now() < deadline {
                let message = event_message(&payloads[i % payloads.len()], &tenant, &source);
                let at = Instant::now();
                let ack = js.send_publish(subject.clone(), message).await?;
                ack.await?;
                latencies.push(at.elapsed().as_micros() as u64);
                i += tasks;
            }
            Ok::<_, BoxError>(latencies)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok(Raw {
        count: all.len() as u64,
        secs,
        p50_ms: percentile_ms(&all, 50.0),
        p99_ms: percentile_ms(&all, 99.0),
        cpu: watch.stop(),
    })
}

/// One publisher keeping `window` acks outstanding (pipelined), for `duration`.
async fn raw_pipelined(
    js: &jetstream::Context,
    payloads: &[Bytes],
    subject: &str,
    window: usize,
    duration: Duration,
    nats_pid: u32,
) -> Result<Raw> {
    let (tenant, source) = subject_parts(subject);
    let watch = CpuWatch::start(0, nats_pid);
    let started = Instant::now();
    let deadline = started + duration;
    let mut pending = FuturesUnordered::new();
    let mut count = 0u64;
    let mut i = 0usize;
    while Instant::now() < deadline {
        while pending.len() < window {
            let message = event_message(&payloads[i % payloads.len()], &tenant, &source);
            pending.push(
                js.send_publish(subject.to_owned(), message)
                    .await?
                    .into_future(),
            );
            i += 1;
        }
        if let Some(ack) = pending.next().await {
            ack?;
            count += 1;
        }
    }
    while let Some(ack) = pending.next().await {
        ack?;
        count += 1;
    }
    Ok(Raw {
        count,
        secs: started.elapsed().as_secs_f64(),
        cpu: watch.stop(),
        ..Raw::default()
    })
}

fn subject_parts(subject: &str) -> (String, String) {
    let parts: Vec<&str> = subject.split('.').collect();
    (
        parts.get(2).copied().unwrap_or_default().to_owned(),
        parts.get(3).copied().unwrap_or_default().to_owned(),
    )
}

/// Pulls `count` messages of `stream` with a consumer of its own and acks each one.
async fn raw_consume(
    js: &jetstream::Context,
    stream: &str,
    count: usize,
    nats_pid: u32,
) -> Result<Raw> {
    let stream = js.get_stream(stream).await?;
    let name = format!("bench_raw_{}", uuid::Uuid::new_v4().simple());
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let watch = CpuWatch::start(0, nats_pid);
    let started = Instant::now();
    let mut messages = consumer.messages().await?;
    let mut seen = 0;
    while seen < count {
        match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
            Ok(Some(Ok(message))) => {
                message.ack().await?;
                seen += 1;
            }
            Ok(Some(Err(err))) => return Err(err.into()),
            _ => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = watch.stop();
    drop(messages);
    let _ = stream.delete_consumer(&name).await;
    Ok(Raw {
        count: seen as u64,
        secs,
        cpu,
        ..Raw::default()
    })
}

async fn jetstream_for(nats: &Nats) -> Result<jetstream::Context> {
    let client = async_nats::connect(nats.url()).await?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(10))
        .build(client))
}

/// Creates the streams as the pipeline does (for phases that start no ingress first).
async fn setup_streams(nats: &Nats) -> Result<()> {
    let yaml = format!("nats:\n  url: {}\n", nats.url());
    let config = Config::load(&Source::Text(yaml), &|_| None).map_err(|e| e.to_string())?;
    let bus = rae_core::bus::Bus::connect(&config.nats, "rae-bench").await?;
    bus.setup().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Phases.

#[derive(Debug, Default)]
struct Report {
    started: String,
    ingress: Vec<IngressRow>,
    ingress_half: Option<(f64, Wrk)>,
    ingress_rss: Option<(u64, u64)>,
    batch: Vec<BatchRow>,
    e2e: Option<E2e>,
    burst: Option<Burst>,
    writer: Vec<WriterRow>,
    notes: Vec<String>,
}

#[derive(Debug, Clone)]
struct IngressRow {
    connections: usize,
    raw: Vec<Raw>,
    pipe: Vec<Wrk>,
}

#[derive(Debug, Clone)]
struct BatchRow {
    connections: usize,
    raw: Vec<Raw>,
    pipe: Vec<Wrk>,
}

#[derive(Debug, Clone, Default)]
struct E2e {
    ingress: Wrk,
    accepted: u64,
    delivered: u64,
    sustained: f64,
    drain_secs: f64,
    half_rate: f64,
    half: Wrk,
    half_delivered: u64,
    e2e_p50_ms: f64,
    e2e_p99_ms: f64,
    direct: Wrk,
    idle_rss: u64,
    peak_rss: u64,
}

#[derive(Debug, Clone, Default)]
struct Burst {
    capacity: f64,
    offered: f64,
    secs: u64,
    direct: Wrk,
    direct_stored: u64,
    direct_refused: u64,
    pipe: Wrk,
    pipe_stored_unique: u64,
    pipe_stored_total: u64,
    drain_secs: f64,
    peak_rss: u64,
}

#[derive(Debug, Clone)]
struct WriterRow {
    concurrency: usize,
    raw: Raw,
    rate: f64,
    delivered: u64,
    cpu: f64,
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

impl IngressRow {
    fn raw_rate(&self) -> f64 {
        mean(self.raw.iter().map(Raw::rate))
    }
    fn pipe_rate(&self) -> f64 {
        mean(self.pipe.iter().map(Wrk::rate))
    }
    /// Mean of the per-round ratios: each pipeline run against the baseline right before it.
    fn ratio(&self) -> f64 {
        mean(
            self.raw
                .iter()
                .zip(&self.pipe)
                .map(|(r, p)| p.rate() / r.rate().max(1e-9)),
        )
    }
}

async fn run(options: Options) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut report = Report {
        started: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        ..Report::default()
    };
    let rae = FakeRae::start().await?;
    if options.runs("ingress") || options.runs("batch") {
        ingress_phase(&options, &rae, &mut report).await?;
    }
    if options.runs("e2e") {
        e2e_phase(&options, &rae, &mut report).await?;
    }
    if options.runs("burst") {
        burst_phase(&options, &rae, &mut report).await?;
    }
    if options.runs("writer") {
        writer_phase(&options, &rae, &mut report).await?;
    }
    let text = render(&options, &report);
    println!("{text}");
    if let Some(path) = &options.doc {
        write_doc(path, &text)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn progress(message: &str) {
    eprintln!("[bench] {message}");
}

async fn ingress_phase(options: &Options, rae: &FakeRae, report: &mut Report) -> Result<()> {
    let nats = Nats::start()?;
    let pipeline = Pipeline::start("ingress", &nats, rae, "").await?;
    let idle = proc_status_kib(pipeline.pid(), "VmRSS:");
    let pids = (pipeline.pid(), nats.pid());
    let js = jetstream_for(&nats).await?;
    let webhook_payloads = Arc::new(sample_payloads(512, "webhook", "default-tenant")?);
    let webhook_subject = subjects::event("default-tenant", "webhook", "note");
    let url = format!("{}/api/v1/webhooks/memory", pipeline.ingress);
    if options.runs("ingress") {
        for &connections in &options.connections {
            let mut row = IngressRow {
                connections,
                raw: Vec::new(),
                pipe: Vec::new(),
            };
            for round in 0..options.rounds {
                progress(&format!(
                    "ingress: {connections} connections, round {}: raw async-nats",
                    round + 1
                ));
                settle(&[pids.0, pids.1], Duration::from_secs(10)).await;
                row.raw.push(
                    raw_awaited(
                        &js,
                        &webhook_payloads,
                        &webhook_subject,
                        connections,
                        options.duration(),
                        nats.pid(),
                    )
                    .await?,
                );
                progress(&format!(
                    "ingress: {connections} connections, round {}: wrk -> webhook",
                    round + 1
                ));
                settle(&[pids.0, pids.1], Duration::from_secs(10)).await;
                let load = Load {
                    url: url.clone(),
                    mode: "webhook",
                    connections,
                    secs: options.secs,
                    rate: 0.0,
                    ids_dir: None,
                    timeout_secs: 5,
                };
                row.pipe.push(wrk(&load, pids).await?);
            }
            report.ingress.push(row);
        }
        // p99 at half the highest rate reached (closed-loop runs above), paced open-loop.
        let best = report
            .ingress
            .iter()
            .map(IngressRow::pipe_rate)
            .fold(0.0, f64::max);
        if best > 0.0 {
            let rate = best / 2.0;
            progress(&format!("ingress: 64 connections paced at {rate:.0}/s"));
            settle(&[pids.0, pids.1], Duration::from_secs(10)).await;
            let load = Load {
                url: url.clone(),
                mode: "webhook",
                connections: 64,
                secs: options.secs,
                rate,
                ids_dir: None,
                timeout_secs: 5,
            };
            report.ingress_half = Some((rate, wrk(&load, pids).await?));
        }
    }
    if options.runs("batch") {
        let api_payloads = sample_payloads(512, "api", API_TENANT)?;
        let api_subject = subjects::event(API_TENANT, "api", "note");
        let url = format!("{}/api/v1/memories", pipeline.ingress);
        for connections in [4usize, 16] {
            let mut row = BatchRow {
                connections,
                raw: Vec::new(),
                pipe: Vec::new(),
            };
            for round in 0..options.rounds {
                progress(&format!(
                    "batch: {connections} connections x 100, round {}: raw pipelined",
                    round + 1
                ));
                settle(&[pids.0, pids.1], Duration::from_secs(10)).await;
                row.raw.push(
                    raw_pipelined(
                        &js,
                        &api_payloads,
                        &api_subject,
                        connections * 100,
                        options.duration(),
                        nats.pid(),
                    )
                    .await?,
                );
                progress(&format!(
                    "batch: {connections} connections x 100, round {}: wrk -> memories",
                    round + 1
                ));
                settle(&[pids.0, pids.1], Duration::from_secs(10)).await;
                let load = Load {
                    url: url.clone(),
                    mode: "batch",
                    connections,
                    secs: options.secs,
                    rate: 0.0,
                    ids_dir: None,
                    timeout_secs: 10,
                };
                row.pipe.push(wrk(&load, pids).await?);
            }
            report.batch.push(row);
        }
    }
    let warnings = pipeline.warnings();
    if warnings > 0 {
        report.notes.push(format!(
            "`rae-pipeline ingress` logged {warnings} warnings during the ingress phases"
        ));
    }
    let peak = pipeline.stop().await;
    report.ingress_rss = Some((idle, peak));
    Ok(())
}

/// Reads the `<id> <unix ns>` lines wrk wrote for the 2xx answers.
fn read_ids(dir: &Path) -> HashMap<String, u64> {
    let mut ids = HashMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            if let Some((id, ns)) = line.split_once(' ') {
                if let Ok(ns) = ns.trim().parse() {
                    ids.insert(id.to_owned(), ns);
                }
            }
        }
    }
    ids
}

async fn e2e_phase(options: &Options, rae: &FakeRae, report: &mut Report) -> Result<()> {
    let nats = Nats::start()?;
    rae.set_slow(None);
    let pipeline = Pipeline::start("up", &nats, rae, "").await?;
    let pids = (pipeline.pid(), nats.pid());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = proc_status_kib(pipeline.pid(), "VmRSS:");
    let rss = RssSampler::start(pipeline.pid());
    let url = format!("{}/api/v1/webhooks/memory", pipeline.ingress);
    let mut e2e = E2e {
        idle_rss,
        ..E2e::default()
    };

    // Flat out for a while: the ingress outruns the writer, then the backlog drains.
    progress("e2e: wrk -> up, 64 connections, flat out");
    rae.reset(false);
    let started = Instant::now();
    let load = Load {
        url: url.clone(),
        mode: "webhook",
        connections: 64,
        secs: options.secs * 2,
        rate: 0.0,
        ids_dir: None,
        timeout_secs: 5,
    };
    e2e.ingress = wrk(&load, pids).await?;
    let ingress_done = Instant::now();
    e2e.accepted = e2e.ingress.ok();
    rae.wait_for(e2e.accepted, Duration::from_secs(20)).await;
    let finished = Instant::now();
    e2e.delivered = rae.stored();
    e2e.sustained = e2e.delivered as f64 / (finished - started).as_secs_f64();
    e2e.drain_secs = (finished - ingress_done).as_secs_f64();

    // At half the sustained rate: latency from the 202 to RAE receiving the memory.
    settle(&[pids.0, pids.1], Duration::from_secs(10)).await;
    e2e.half_rate = e2e.sustained / 2.0;
    progress(&format!("e2e: paced at {:.0}/s", e2e.half_rate));
    let ids_dir = tempfile::tempdir()?;
    rae.reset(true);
    let load = Load {
        url: url.clone(),
        mode: "webhook",
        connections: 64,
        secs: options.secs,
        rate: e2e.half_rate,
        ids_dir: Some(ids_dir.path()),
        timeout_secs: 5,
    };
    e2e.half = wrk(&load, pids).await?;
    rae.wait_for(e2e.half.ok(), Duration::from_secs(20)).await;
    e2e.half_delivered = rae.stored();
    let answered = read_ids(ids_dir.path());
    let mut latencies: Vec<u64> = rae
        .take_log()
        .into_iter()
        .filter_map(|(id, at)| Some(at.saturating_sub(*answered.get(&id)?) / 1_000))
        .collect();
    latencies.sort_unstable();
    e2e.e2e_p50_ms = percentile_ms(&latencies, 50.0);
    e2e.e2e_p99_ms = percentile_ms(&latencies, 99.0);
    if (latencies.len() as u64) < e2e.half.ok() {
        report.notes.push(format!(
            "e2e latency: matched {} of {} answers with RAE's receipts",
            latencies.len(),
            e2e.half.ok()
        ));
    }
    e2e.peak_rss = rss.peak_kib();
    drop(rss);
    let warnings = pipeline.warnings();
    if warnings > 0 {
        report.notes.push(format!(
            "`rae-pipeline up` logged {warnings} warnings during the end-to-end phase"
        ));
    }
    e2e.peak_rss = e2e.peak_rss.max(pipeline.stop().await);

    // The same events straight to RAE, by the same load generator.
    progress("e2e: wrk -> fake RAE directly, 64 connections");
    rae.reset(false);
    let load = Load {
        url: format!("{}/v2/memories/", rae.url()),
        mode: "direct",
        connections: 64,
        secs: options.secs,
        rate: 0.0,
        ids_dir: None,
        timeout_secs: 5,
    };
    e2e.direct = wrk(&load, (0, nats.pid())).await?;
    report.e2e = Some(e2e);
    Ok(())
}

async fn burst_phase(options: &Options, rae: &FakeRae, report: &mut Report) -> Result<()> {
    // A slow RAE: 5 requests served at once, 10 ms each (500/s), at most 32 inside (uvicorn's
    // --limit-concurrency), the rest answered 503 at once. The writer's 32 requests in flight
    // fit; a burst of 10x RAE's speed does not.
    let (workers, delay, limit) = (5usize, Duration::from_millis(10), 32u64);
    let capacity = workers as f64 / delay.as_secs_f64();
    let offered = capacity * 10.0;
    let secs = options.secs.max(2);
    let mut burst = Burst {
        capacity,
        offered,
        secs,
        ..Burst::default()
    };
    let nats = Nats::start()?;
    rae.set_slow(Some((workers, delay, limit)));

    progress(&format!(
        "burst: wrk -> slow RAE directly at {offered:.0}/s"
    ));
    rae.reset(false);
    let load = Load {
        url: format!("{}/v2/memories/", rae.url()),
        mode: "direct",
        connections: 64,
        secs,
        rate: offered,
        ids_dir: None,
        timeout_secs: 5,
    };
    burst.direct = wrk(&load, (0, nats.pid())).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    burst.direct_stored = rae.stored();
    burst.direct_refused = rae.state.refused.load(Ordering::SeqCst);

    let pipeline = Pipeline::start("up", &nats, rae, "").await?;
    let pids = (pipeline.pid(), nats.pid());
    let rss = RssSampler::start(pipeline.pid());
    progress(&format!("burst: wrk -> up at {offered:.0}/s, slow RAE"));
    rae.reset(true);
    let load = Load {
        url: format!("{}/api/v1/webhooks/memory", pipeline.ingress),
        mode: "webhook",
        connections: 64,
        secs,
        rate: offered,
        ids_dir: None,
        timeout_secs: 5,
    };
    burst.pipe = wrk(&load, pids).await?;
    let burst_end = Instant::now();
    progress(&format!(
        "burst: draining {} events into the slow RAE",
        burst.pipe.ok()
    ));
    rae.wait_for(burst.pipe.ok(), Duration::from_secs(30)).await;
    burst.drain_secs = burst_end.elapsed().as_secs_f64();
    let log = rae.take_log();
    burst.pipe_stored_total = log.len() as u64;
    let unique: std::collections::HashSet<&str> = log.iter().map(|(id, _)| id.as_str()).collect();
    burst.pipe_stored_unique = unique.len() as u64;
    burst.peak_rss = rss.peak_kib();
    drop(rss);
    let warnings = pipeline.warnings();
    if warnings > 0 {
        report.notes.push(format!(
            "`rae-pipeline up` logged {warnings} warnings during the burst"
        ));
    }
    burst.peak_rss = burst.peak_rss.max(pipeline.stop().await);
    rae.set_slow(None);
    report.burst = Some(burst);
    Ok(())
}

/// An enriched event as the enricher publishes it.
fn enriched_payload(i: usize) -> Result<Bytes> {
    let mut event: Event =
        serde_json::from_slice(&sample_payloads(1, "webhook", "default-tenant")?[0])?;
    event.id = uuid::Uuid::now_v7().to_string();
    event.content = format!("{} #{i}", event.content);
    event.importance = Some(0.6);
    event.tags.push("incident".into());
    event.enrichment = Some(rae_core::event::Enrichment {
        rules: vec!["incident".into()],
        reasons: vec!["keyword incident".into()],
    });
    Ok(Bytes::from(event.to_payload()))
}

async fn writer_phase(options: &Options, rae: &FakeRae, report: &mut Report) -> Result<()> {
    let nats = Nats::start()?;
    setup_streams(&nats).await?;
    let js = jetstream_for(&nats).await?;
    rae.set_slow(None);
    let n = options.writer_events;
    let payloads: Vec<Bytes> = (0..512).map(enriched_payload).collect::<Result<_>>()?;
    let subject = subjects::enriched("default-tenant", "webhook", "note");
    for concurrency in [1usize, 8, 32, 64] {
        // A fresh stream of `n` enriched events and no writer consumer yet.
        let stream = js.get_stream(subjects::ENRICHED_STREAM).await?;
        let _ = stream.delete_consumer(subjects::WRITER_CONSUMER).await;
        stream.purge().await?;
        let mut pending = FuturesUnordered::new();
        for i in 0..n {
            let mut h = async_nats::HeaderMap::new();
            h.insert(headers::SCHEMA, headers::SCHEMA_V1);
            h.insert(headers::TENANT, "default-tenant");
            h.insert(headers::SOURCE, "webhook");
            // Distinct events: each gets its own id inside the payload too.
            let mut event: Event = serde_json::from_slice(&payloads[i % payloads.len()])?;
            event.id = uuid::Uuid::now_v7().to_string();
            let message = jetstream::message::PublishMessage::build()
                .payload(Bytes::from(event.to_payload()))
                .headers(h)
                .message_id(event.id.clone());
            pending.push(
                js.send_publish(subject.clone(), message)
                    .await?
                    .into_future(),
            );
            if pending.len() >= 512 {
                if let Some(ack) = pending.next().await {
                    ack?;
                }
            }
        }
        while let Some(ack) = pending.next().await {
            ack?;
        }
        progress(&format!("writer: raw consume+ack of {n} events"));
        settle(&[nats.pid()], Duration::from_secs(5)).await;
        let raw = raw_consume(&js, subjects::ENRICHED_STREAM, n, nats.pid()).await?;

        progress(&format!("writer: concurrency {concurrency}, {n} events"));
        rae.reset(true);
        let pipeline = Pipeline::start(
            "writer",
            &nats,
            rae,
            &format!("writer:\n  concurrency: {concurrency}\n"),
        )
        .await?;
        let started = Instant::now();
        let cpu_before = cpu_secs(pipeline.pid());
        rae.wait_for(n as u64, Duration::from_secs(20)).await;
        let cpu = cpu_secs(pipeline.pid()) - cpu_before;
        let wall = started.elapsed().as_secs_f64();
        let log = rae.take_log();
        let first = log.iter().map(|(_, t)| *t).min().unwrap_or(0);
        let last = log.iter().map(|(_, t)| *t).max().unwrap_or(0);
        let span = (last.saturating_sub(first)) as f64 / 1e9;
        let delivered = log.len() as u64;
        let warnings = pipeline.warnings();
        if warnings > 0 {
            report.notes.push(format!(
                "`rae-pipeline writer` (concurrency {concurrency}) logged {warnings} warnings"
            ));
        }
        pipeline.stop().await;
        report.writer.push(WriterRow {
            concurrency,
            raw,
            rate: delivered.saturating_sub(1) as f64 / span.max(1e-9),
            delivered,
            cpu: cpu / wall.max(1e-9),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Report.

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = proc_meminfo_gib();
    let nats = rae_pipeline::local_nats::find_binary()
        .and_then(|b| Command::new(b).arg("--version").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let wrk = Command::new("wrk")
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .split(" Copyright")
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem:.0} GiB, {nats}, {wrk}")
}

fn proc_meminfo_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn render(options: &Options, r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run of {} on {}; {} s per measurement, {} interleaved round(s) per row \
         (`bash scripts/bench.sh`).\n",
        r.started,
        machine(),
        options.secs,
        options.rounds
    );
    let mut targets: Vec<(String, String, bool)> = Vec::new();

    if !r.ingress.is_empty() {
        let _ = writeln!(
            out,
            "### 1. Ingress: signed webhooks (`rae-pipeline ingress`)\n"
        );
        let _ = writeln!(
            out,
            "| connections | raw async-nats acks/s | webhook 202/s | ratio | 202 p50 | 202 p99 | raw p50 | raw p99 | errors | CPU pipeline / nats / wrk (raw: nats) |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in &r.ingress {
            let errors: u64 = row
                .pipe
                .iter()
                .map(|w| w.status_errors + w.socket_errors)
                .sum();
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0} | **{:.2}** | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {:.2} / {:.2} / {:.2} ({:.2}) |",
                row.connections,
                row.raw_rate(),
                row.pipe_rate(),
                row.ratio(),
                median(row.pipe.iter().map(|w| w.p50_ms)),
                median(row.pipe.iter().map(|w| w.p99_ms)),
                median(row.raw.iter().map(|w| w.p50_ms)),
                median(row.raw.iter().map(|w| w.p99_ms)),
                errors,
                mean(row.pipe.iter().map(|w| w.cpu.pipeline)),
                mean(row.pipe.iter().map(|w| w.cpu.nats)),
                mean(row.pipe.iter().map(|w| w.cpu.wrk)),
                mean(row.raw.iter().map(|w| w.cpu.nats)),
            );
        }
        if let Some(row) = r.ingress.iter().find(|row| row.connections == 64) {
            targets.push((
                "ingress at 64 connections >= 0.8 of raw".into(),
                format!("{:.2}", row.ratio()),
                row.ratio() >= 0.8,
            ));
        }
        if let Some((rate, w)) = &r.ingress_half {
            let _ = writeln!(
                out,
                "\nPaced at half the highest rate ({rate:.0}/s offered, {:.0}/s answered, 64 connections): \
                 202 p50 {:.2} ms, p99 **{:.2} ms**, {} errors.",
                w.rate(),
                w.p50_ms,
                w.p99_ms,
                w.status_errors + w.socket_errors
            );
            targets.push((
                "ingress p99 < 10 ms at half the maximum rate".into(),
                format!("{:.2} ms", w.p99_ms),
                w.p99_ms < 10.0,
            ));
        }
        let _ = writeln!(out);
    }

    if !r.batch.is_empty() {
        let _ = writeln!(
            out,
            "### 2. Batch ingress: `POST /api/v1/memories`, 100 memories per request\n"
        );
        let _ = writeln!(
            out,
            "| connections | raw pipelined acks/s (window) | memories/s | ratio | request p50 | request p99 | errors | CPU pipeline / nats / wrk (raw: nats) |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in &r.batch {
            let raw = mean(row.raw.iter().map(Raw::rate));
            let events = mean(row.pipe.iter().map(|w| w.ok() as f64 * 100.0 / w.secs));
            let ratio = mean(
                row.raw
                    .iter()
                    .zip(&row.pipe)
                    .map(|(r, p)| p.ok() as f64 * 100.0 / p.secs / r.rate().max(1e-9)),
            );
            let errors: u64 = row
                .pipe
                .iter()
                .map(|w| w.status_errors + w.socket_errors)
                .sum();
            let _ = writeln!(
                out,
                "| {} | {raw:.0} ({}) | {events:.0} | **{ratio:.2}** | {:.1} ms | {:.1} ms | {errors} | {:.2} / {:.2} / {:.2} ({:.2}) |",
                row.connections,
                row.connections * 100,
                median(row.pipe.iter().map(|w| w.p50_ms)),
                median(row.pipe.iter().map(|w| w.p99_ms)),
                mean(row.pipe.iter().map(|w| w.cpu.pipeline)),
                mean(row.pipe.iter().map(|w| w.cpu.nats)),
                mean(row.pipe.iter().map(|w| w.cpu.wrk)),
                mean(row.raw.iter().map(|w| w.cpu.nats)),
            );
            if row.connections == 16 {
                targets.push((
                    "batch ingress >= 0.7 of raw pipelined".into(),
                    format!("{ratio:.2}"),
                    ratio >= 0.7,
                ));
            }
        }
        if let Some((idle, peak)) = r.ingress_rss {
            let _ = writeln!(
                out,
                "\n`rae-pipeline ingress` RSS: idle {}, peak {} (phases 1 and 2).",
                mib(idle),
                mib(peak)
            );
        }
        let _ = writeln!(out);
    }

    if let Some(e) = &r.e2e {
        let ingress_only = r
            .ingress
            .iter()
            .find(|row| row.connections == 64)
            .map(IngressRow::pipe_rate);
        let _ = writeln!(
            out,
            "### 3. End to end: webhook → `rae-pipeline up` → fake RAE (answers at once)\n"
        );
        let _ = writeln!(out, "| measure | value |");
        let _ = writeln!(out, "|---|---:|");
        let _ = writeln!(
            out,
            "| webhooks accepted, 64 connections flat out for {} s | {} ({:.0}/s, {} errors) |",
            options.secs * 2,
            e.accepted,
            e.ingress.rate(),
            e.ingress.status_errors + e.ingress.socket_errors
        );
        let _ = writeln!(
            out,
            "| delivered to RAE | {} (backlog drained {:.1} s after the load stopped) |",
            e.delivered, e.drain_secs
        );
        let _ = writeln!(
            out,
            "| **sustained end-to-end rate** | **{:.0}/s** |",
            e.sustained
        );
        if let Some(only) = ingress_only {
            let ratio = e.sustained / only.max(1e-9);
            let _ = writeln!(
                out,
                "| ratio to the ingress-only rate at 64 connections ({only:.0}/s) | **{ratio:.2}** |"
            );
            targets.push((
                "end-to-end sustained >= 0.5 of ingress-only".into(),
                format!("{ratio:.2}"),
                ratio >= 0.5,
            ));
        }
        let _ = writeln!(
            out,
            "| paced at half of it ({:.0}/s offered, {:.0}/s answered) | 202 p50 {:.2} ms, p99 {:.2} ms |",
            e.half_rate,
            e.half.rate(),
            e.half.p50_ms,
            e.half.p99_ms
        );
        let _ = writeln!(
            out,
            "| 202 → RAE received, at half rate ({} of {} delivered) | p50 {:.2} ms, p99 **{:.2} ms** |",
            e.half_delivered,
            e.half.ok(),
            e.e2e_p50_ms,
            e.e2e_p99_ms
        );
        let _ = writeln!(
            out,
            "| same events POSTed straight to the fake RAE by wrk, 64 connections | {:.0}/s (p99 {:.2} ms) |",
            e.direct.rate(),
            e.direct.p99_ms
        );
        let _ = writeln!(
            out,
            "| pipeline end to end / direct | {:.2} |",
            e.sustained / e.direct.rate().max(1e-9)
        );
        let _ = writeln!(
            out,
            "| `up` RSS: idle / peak | {} / {} |",
            mib(e.idle_rss),
            mib(e.peak_rss)
        );
        targets.push((
            "end-to-end p99 < 50 ms at half the sustained rate".into(),
            format!("{:.2} ms", e.e2e_p99_ms),
            e.e2e_p99_ms < 50.0 && e.e2e_p99_ms > 0.0,
        ));
        let _ = writeln!(out);
    }

    if let Some(b) = &r.burst {
        let _ = writeln!(
            out,
            "### 5. A burst of 10x a slow RAE's speed, direct and through the pipeline\n"
        );
        let _ = writeln!(
            out,
            "Slow fake RAE: 5 requests served at once, 10 ms each ({:.0}/s), at most 32 inside \
             (like uvicorn's `--limit-concurrency`), 503 beyond. wrk offers {:.0}/s for {} s on 64 connections.\n",
            b.capacity, b.offered, b.secs
        );
        let _ = writeln!(
            out,
            "| path | sent | answered 2xx | errors (non-2xx / socket) | p50 | p99 | stored in RAE |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| wrk → slow RAE | {} | {} | {} / {} | {:.1} ms | {:.1} ms | {} |",
            b.direct.requests,
            b.direct.ok(),
            b.direct.status_errors,
            b.direct.socket_errors,
            b.direct.p50_ms,
            b.direct.p99_ms,
            b.direct_stored
        );
        let _ = writeln!(
            out,
            "| wrk → `up` → slow RAE | {} | {} | {} / {} | {:.1} ms | {:.1} ms | {} unique ({} requests), drained {:.1} s after the burst |",
            b.pipe.requests,
            b.pipe.ok(),
            b.pipe.status_errors,
            b.pipe.socket_errors,
            b.pipe.p50_ms,
            b.pipe.p99_ms,
            b.pipe_stored_unique,
            b.pipe_stored_total,
            b.drain_secs
        );
        let _ = writeln!(
            out,
            "\n`up` peak RSS during the burst: {}.\n",
            mib(b.peak_rss)
        );
        targets.push((
            "10x burst absorbed with no errors and drained".into(),
            format!(
                "{} errors, {} of {} stored",
                b.pipe.status_errors + b.pipe.socket_errors,
                b.pipe_stored_unique,
                b.pipe.ok()
            ),
            b.pipe.status_errors + b.pipe.socket_errors == 0
                && b.pipe_stored_unique == b.pipe.ok()
                && b.pipe.ok() > 0,
        ));
    }

    if !r.writer.is_empty() {
        let _ = writeln!(
            out,
            "### 6. Writer (issue #4): `rae-pipeline writer` draining {} enriched events into the fake RAE\n",
            options.writer_events
        );
        let _ = writeln!(
            out,
            "| concurrency | raw consume+ack/s | writer events/s | ratio | writer CPU |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
        for w in &r.writer {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0}{} | **{:.2}** | {:.2} |",
                w.concurrency,
                w.raw.rate(),
                w.rate,
                if w.delivered < options.writer_events as u64 {
                    format!(" (only {} delivered)", w.delivered)
                } else {
                    String::new()
                },
                w.rate / w.raw.rate().max(1e-9),
                w.cpu
            );
        }
        let _ = writeln!(out);
    }

    let peaks: Vec<u64> = [
        r.ingress_rss.map(|(_, p)| p),
        r.e2e.as_ref().map(|e| e.peak_rss),
        r.burst.as_ref().map(|b| b.peak_rss),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(peak) = peaks.iter().max() {
        let _ = writeln!(out, "### 4. Footprint\n");
        let idle = r.e2e.as_ref().map(|e| e.idle_rss);
        let _ = writeln!(
            out,
            "Peak RSS of the pipeline process under the loads above: {}{}.\n",
            mib(*peak),
            idle.map(|i| format!("; `up` idle: {}", mib(i)))
                .unwrap_or_default()
        );
        targets.push((
            "peak RSS < 100 MiB".into(),
            mib(*peak),
            (*peak as f64) < 100.0 * 1024.0,
        ));
    }

    if !targets.is_empty() {
        let _ = writeln!(out, "### Targets\n");
        let _ = writeln!(out, "| target | measured | |");
        let _ = writeln!(out, "|---|---:|---|");
        for (name, value, met) in &targets {
            let _ = writeln!(out, "| {name} | {value} | {} |", verdict(*met));
        }
        let _ = writeln!(out);
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "Notes from this run:\n");
        for note in &r.notes {
            let _ = writeln!(out, "- {note}");
        }
        let _ = writeln!(out);
    }
    out
}

/// Replaces the generated part of the doc, keeping the hand-written text around it.
fn write_doc(path: &Path, generated: &str) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{DOC_BEGIN}\n{generated}{DOC_END}");
    let text = match (existing.find(DOC_BEGIN), existing.find(DOC_END)) {
        (Some(begin), Some(end)) if end > begin => format!(
            "{}{block}{}",
            &existing[..begin],
            &existing[end + DOC_END.len()..]
        ),
        _ => format!("# Benchmarks\n\n{block}\n"),
    };
    std::fs::write(path, text)?;
    Ok(())
}
