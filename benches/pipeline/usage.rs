//! What the measured processes use, read from `/proc`: CPU seconds over a run, resident memory
//! (sampled peak and high-water mark), and waiting until they are quiet between measurements.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A line of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`).
pub(crate) fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of a process, in seconds.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
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
pub(crate) struct RssSampler {
    pub(crate) peak: Arc<AtomicU64>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl RssSampler {
    pub(crate) fn start(pid: u32) -> RssSampler {
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

    pub(crate) fn peak_kib(&self) -> u64 {
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
pub(crate) async fn settle(pids: &[u32], max: Duration) {
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

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cpu {
    pub(crate) pipeline: f64,
    pub(crate) nats: f64,
    /// The load generator (wrk runs only).
    pub(crate) wrk: f64,
}

pub(crate) struct CpuWatch {
    pub(crate) pids: (u32, u32),
    pub(crate) start: (f64, f64),
    pub(crate) at: Instant,
}

impl CpuWatch {
    pub(crate) fn start(pipeline: u32, nats: u32) -> CpuWatch {
        CpuWatch {
            pids: (pipeline, nats),
            start: (cpu_secs(pipeline), cpu_secs(nats)),
            at: Instant::now(),
        }
    }
    pub(crate) fn stop(&self) -> Cpu {
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
