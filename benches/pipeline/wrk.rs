//! `wrk` as the HTTP load generator: runs it with `benches/wrk/pipeline.lua` (which signs every
//! webhook request and prints one `BENCH` result line), reads its figures and its own CPU time,
//! and the ids of the 2xx answers it wrote.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;

use crate::usage::{Cpu, CpuWatch};
use crate::{Result, API_KEY, API_TENANT, WEBHOOK_SECRET};

const LUA: &str = include_str!("../wrk/pipeline.lua");

/// What one wrk run reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wrk {
    pub(crate) requests: u64,
    pub(crate) secs: f64,
    pub(crate) status_errors: u64,
    pub(crate) socket_errors: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// CPU seconds per wall second of the pipeline and of nats-server during the run.
    pub(crate) cpu: Cpu,
}

impl Wrk {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }
    pub(crate) fn ok(&self) -> u64 {
        self.requests.saturating_sub(self.status_errors)
    }
}

/// How wrk is to load a URL.
pub(crate) struct Load<'a> {
    pub(crate) url: String,
    pub(crate) mode: &'a str,
    pub(crate) connections: usize,
    pub(crate) secs: u64,
    /// Requests per second; 0 for as fast as possible.
    pub(crate) rate: f64,
    /// Write the ids of 2xx answers here.
    pub(crate) ids_dir: Option<&'a Path>,
    pub(crate) timeout_secs: u64,
}

pub(crate) async fn wrk(load: &Load<'_>, pids: (u32, u32)) -> Result<Wrk> {
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

/// Reads the `<id> <unix ns>` lines wrk wrote for the 2xx answers.
pub(crate) fn read_ids(dir: &Path) -> HashMap<String, u64> {
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
