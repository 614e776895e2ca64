//! Turns a [`Report`] into the markdown tables (with the targets met or missed) and replaces the
//! generated part of `docs/benchmarks.md` between its markers, leaving the hand-written notes
//! around it alone.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::raw::Raw;
use crate::report::{mean, median, IngressRow, Report};
use crate::{Options, Result};

const DOC_BEGIN: &str = "<!-- bench:begin -->";
const DOC_END: &str = "<!-- bench:end -->";

pub(crate) fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

pub(crate) fn machine() -> String {
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

pub(crate) fn proc_meminfo_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0)
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub(crate) fn render(options: &Options, r: &Report) -> String {
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
            // Every answered event stored; up to one more per connection may be stored too:
            // wrk stops counting while the requests then in flight are still accepted.
            b.pipe.status_errors + b.pipe.socket_errors == 0
                && b.pipe.ok() > 0
                && b.pipe_stored_unique >= b.pipe.ok()
                && b.pipe_stored_unique <= b.pipe.ok() + crate::phases::BURST_CONNECTIONS as u64,
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

    if !r.mapped.is_empty() {
        let _ = writeln!(
            out,
            "### 7. Mapped webhooks: the same signed bodies with and without a `mapping` (`rae-pipeline ingress`)\n"
        );
        let _ = writeln!(
            out,
            "| connections | plain webhook 202/s | mapped webhook 202/s | ratio mapped / plain | plain p99 | mapped p99 | errors |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
        for row in &r.mapped {
            let errors: u64 = row
                .plain
                .iter()
                .chain(&row.mapped)
                .map(|w| w.status_errors + w.socket_errors)
                .sum();
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0} | **{:.2}** | {:.2} ms | {:.2} ms | {} |",
                row.connections,
                row.plain_rate(),
                row.mapped_rate(),
                row.ratio(),
                median(row.plain.iter().map(|w| w.p99_ms)),
                median(row.mapped.iter().map(|w| w.p99_ms)),
                errors,
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
pub(crate) fn write_doc(path: &Path, generated: &str) -> Result<()> {
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
