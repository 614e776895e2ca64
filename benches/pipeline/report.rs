//! The figures of one run, phase by phase, and the statistics that summarize rounds.

use crate::raw::Raw;
use crate::wrk::Wrk;

#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) started: String,
    pub(crate) ingress: Vec<IngressRow>,
    pub(crate) ingress_half: Option<(f64, Wrk)>,
    pub(crate) ingress_rss: Option<(u64, u64)>,
    pub(crate) batch: Vec<BatchRow>,
    pub(crate) e2e: Option<E2e>,
    pub(crate) burst: Option<Burst>,
    pub(crate) writer: Vec<WriterRow>,
    pub(crate) mapped: Vec<MappedRow>,
    pub(crate) notes: Vec<String>,
}

/// The same signed bodies to a plain webhook and to one with a `mapping`, interleaved.
#[derive(Debug, Clone)]
pub(crate) struct MappedRow {
    pub(crate) connections: usize,
    pub(crate) plain: Vec<Wrk>,
    pub(crate) mapped: Vec<Wrk>,
}

impl MappedRow {
    pub(crate) fn plain_rate(&self) -> f64 {
        mean(self.plain.iter().map(Wrk::rate))
    }
    pub(crate) fn mapped_rate(&self) -> f64 {
        mean(self.mapped.iter().map(Wrk::rate))
    }
    /// Mean of the per-round ratios mapped / plain.
    pub(crate) fn ratio(&self) -> f64 {
        mean(
            self.plain
                .iter()
                .zip(&self.mapped)
                .map(|(p, m)| m.rate() / p.rate().max(1e-9)),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IngressRow {
    pub(crate) connections: usize,
    pub(crate) raw: Vec<Raw>,
    pub(crate) pipe: Vec<Wrk>,
}

#[derive(Debug, Clone)]
pub(crate) struct BatchRow {
    pub(crate) connections: usize,
    pub(crate) raw: Vec<Raw>,
    pub(crate) pipe: Vec<Wrk>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct E2e {
    pub(crate) ingress: Wrk,
    pub(crate) accepted: u64,
    pub(crate) delivered: u64,
    pub(crate) sustained: f64,
    pub(crate) drain_secs: f64,
    pub(crate) half_rate: f64,
    pub(crate) half: Wrk,
    pub(crate) half_delivered: u64,
    pub(crate) e2e_p50_ms: f64,
    pub(crate) e2e_p99_ms: f64,
    pub(crate) direct: Wrk,
    pub(crate) idle_rss: u64,
    pub(crate) peak_rss: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Burst {
    pub(crate) capacity: f64,
    pub(crate) offered: f64,
    pub(crate) secs: u64,
    pub(crate) direct: Wrk,
    pub(crate) direct_stored: u64,
    pub(crate) direct_refused: u64,
    pub(crate) pipe: Wrk,
    pub(crate) pipe_stored_unique: u64,
    pub(crate) pipe_stored_total: u64,
    pub(crate) drain_secs: f64,
    pub(crate) peak_rss: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct WriterRow {
    pub(crate) concurrency: usize,
    pub(crate) raw: Raw,
    pub(crate) rate: f64,
    pub(crate) delivered: u64,
    pub(crate) cpu: f64,
}

pub(crate) fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

impl IngressRow {
    pub(crate) fn raw_rate(&self) -> f64 {
        mean(self.raw.iter().map(Raw::rate))
    }
    pub(crate) fn pipe_rate(&self) -> f64 {
        mean(self.pipe.iter().map(Wrk::rate))
    }
    /// Mean of the per-round ratios: each pipeline run against the baseline right before it.
    pub(crate) fn ratio(&self) -> f64 {
        mean(
            self.raw
                .iter()
                .zip(&self.pipe)
                .map(|(r, p)| p.rate() / r.rate().max(1e-9)),
        )
    }
}

pub(crate) fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * p / 100.0) as usize).min(sorted_us.len() - 1);
    sorted_us[i] as f64 / 1e3
}
