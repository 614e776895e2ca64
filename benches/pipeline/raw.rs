//! The raw async-nats baselines every pipeline figure is compared with: publishers awaiting each
//! ack or keeping a window of acks outstanding, and a pull consumer acking each message, all on
//! the same payloads the ingress would publish.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use axum::body::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use rae_core::config::{Config, Source};
use rae_core::headers;
use rae_ingress::webhook::normalize;

use crate::processes::Nats;
use crate::report::percentile_ms;
use crate::usage::{Cpu, CpuWatch};
use crate::{BoxError, Result};

/// A raw measurement: messages acknowledged, time, latencies of awaited acks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Raw {
    pub(crate) count: u64,
    pub(crate) secs: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) cpu: Cpu,
}

impl Raw {
    pub(crate) fn rate(&self) -> f64 {
        self.count as f64 / self.secs.max(1e-9)
    }
}

/// What the ingress publishes for a webhook body: the same payloads for the baselines.
pub(crate) fn sample_payloads(count: usize, source: &str, tenant: &str) -> Result<Vec<Bytes>> {
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

pub(crate) fn event_message(
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
pub(crate) async fn raw_awaited(
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
pub(crate) async fn raw_pipelined(
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

pub(crate) fn subject_parts(subject: &str) -> (String, String) {
    let parts: Vec<&str> = subject.split('.').collect();
    (
        parts.get(2).copied().unwrap_or_default().to_owned(),
        parts.get(3).copied().unwrap_or_default().to_owned(),
    )
}

/// Pulls `count` messages of `stream` with a consumer of its own and acks each one.
pub(crate) async fn raw_consume(
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

pub(crate) async fn jetstream_for(nats: &Nats) -> Result<jetstream::Context> {
    let client = async_nats::connect(nats.url()).await?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(10))
        .build(client))
}

/// Stream byte limits of every bench run: the phases publish far more than the defaults hold
/// (the raw baselines and the pipeline share `RAE_EVENTS`), and the bench's own nats-server has
/// the disk's room to reserve them.
pub(crate) const STREAM_LIMITS_YAML: &str =
    "  events_max_bytes: 4294967296\n  enriched_max_bytes: 4294967296\n";

/// Creates the streams as the pipeline does (for phases that start no ingress first).
pub(crate) async fn setup_streams(nats: &Nats) -> Result<()> {
    let yaml = format!("nats:\n  url: {}\n{STREAM_LIMITS_YAML}", nats.url());
    let config = Config::load(&Source::Text(yaml), &|_| None).map_err(|e| e.to_string())?;
    let bus = rae_core::bus::Bus::connect(&config.nats, "rae-bench").await?;
    bus.setup().await?;
    Ok(())
}
