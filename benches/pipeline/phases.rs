//! The measurements: each phase starts its own nats-server and the pipeline command it measures,
//! interleaves every pipeline run with the baseline right before it, and adds its figures to the
//! [`Report`].

use std::future::IntoFuture;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use axum::body::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use rae_core::event::Event;
use rae_core::{headers, subjects};

use crate::fake_rae::FakeRae;
use crate::processes::{Nats, Pipeline};
use crate::raw::{
    jetstream_for, raw_awaited, raw_consume, raw_pipelined, sample_payloads, setup_streams,
};
use crate::report::{
    percentile_ms, BatchRow, Burst, E2e, IngressRow, MappedRow, Report, WriterRow,
};
use crate::usage::{cpu_secs, proc_status_kib, settle, RssSampler};
use crate::wrk::{read_ids, wrk, Load};
use crate::{progress, Options, Result, API_TENANT};

/// wrk's connections in the burst phase.
pub(crate) const BURST_CONNECTIONS: usize = 64;

/// Empties `RAE_EVENTS` (nothing consumes it while only the ingress runs), then waits for the
/// processes to settle: each measurement starts from the same empty stream, and the rounds
/// never fill its byte limit (a full stream refuses publishes).
async fn fresh(js: &jetstream::Context, pids: &[u32]) -> Result<()> {
    js.get_stream(subjects::EVENTS_STREAM)
        .await?
        .purge()
        .await?;
    settle(pids, Duration::from_secs(10)).await;
    Ok(())
}

pub(crate) async fn ingress_phase(
    options: &Options,
    rae: &FakeRae,
    report: &mut Report,
) -> Result<()> {
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
                fresh(&js, &[pids.0, pids.1]).await?;
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
                fresh(&js, &[pids.0, pids.1]).await?;
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
            fresh(&js, &[pids.0, pids.1]).await?;
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
                fresh(&js, &[pids.0, pids.1]).await?;
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
                fresh(&js, &[pids.0, pids.1]).await?;
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

pub(crate) async fn e2e_phase(options: &Options, rae: &FakeRae, report: &mut Report) -> Result<()> {
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

pub(crate) async fn burst_phase(
    options: &Options,
    rae: &FakeRae,
    report: &mut Report,
) -> Result<()> {
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
        connections: BURST_CONNECTIONS,
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
        connections: BURST_CONNECTIONS,
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
pub(crate) fn enriched_payload(i: usize) -> Result<Bytes> {
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

pub(crate) async fn writer_phase(
    options: &Options,
    rae: &FakeRae,
    report: &mut Report,
) -> Result<()> {
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

/// A mapping of the kind a user writes for a CI or deploy notifier: the bodies wrk sends to the
/// plain webhook, rewritten with templates, a computed importance and a `skip_if`.
const MAPPING_YAML: &str = r#"integrations:
  - id: mapped
    config:
      secrets: ["bench-webhook-secret"]
      mapping:
        content: "{{ body.source }}: {{ body.content }}"
        tags: ["{{ body.tags[0] }}", "{{ body.tags[1] | lower }}"]
        importance: "0.6 if 'incident' in body.content else 0.4"
        kind: "{{ body.tags[1] }}_finished"
        skip_if: "body.content == ''"
"#;

/// Ingress throughput of a webhook with a `mapping` next to the plain webhook, the same signed
/// bodies, interleaved round by round: the cost of templates per request, as a ratio.
pub(crate) async fn mapped_phase(
    options: &Options,
    rae: &FakeRae,
    report: &mut Report,
) -> Result<()> {
    let nats = Nats::start()?;
    let pipeline = Pipeline::start("ingress", &nats, rae, MAPPING_YAML).await?;
    let pids = (pipeline.pid(), nats.pid());
    let js = jetstream_for(&nats).await?;
    for &connections in options.connections.iter().filter(|c| **c >= 16) {
        let mut row = MappedRow {
            connections,
            plain: Vec::new(),
            mapped: Vec::new(),
        };
        for round in 0..options.rounds {
            for (integration, into) in [("memory", &mut row.plain), ("mapped", &mut row.mapped)] {
                progress(&format!(
                    "mapped: {connections} connections, round {}: wrk -> {integration}",
                    round + 1
                ));
                fresh(&js, &[pids.0, pids.1]).await?;
                let load = Load {
                    url: format!("{}/api/v1/webhooks/{integration}", pipeline.ingress),
                    mode: "webhook",
                    connections,
                    secs: options.secs,
                    rate: 0.0,
                    ids_dir: None,
                    timeout_secs: 5,
                };
                into.push(wrk(&load, pids).await?);
            }
        }
        report.mapped.push(row);
    }
    Ok(())
}
