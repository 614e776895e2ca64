//! The core of rae-pipeline: everything producers and consumers share.
//!
//! Producers (the `rae-ingress`, `rae-git-watch`, `rae-email` and `rae-mcp` crates) turn
//! outside input into one normalized [`event::Event`] and publish it to NATS JetStream through
//! the [`bus::Publisher`]. Consumers (the `rae-consumers` crate) enrich those events and write
//! them to RAE with retry, backoff and a dead-letter stream. Both depend on this crate and never
//! on each other: the workspace's crate graph keeps it so. This crate owns the event type, subject
//! and header names, JetStream setup and the one publish path, dead letters, audit records, API keys and
//! rate limits, the RAE client, telemetry and config loading.

pub mod activity;
pub mod api_keys;
pub mod audit;
pub mod bus;
pub mod config;
pub mod dead_letter;
pub mod event;
pub mod forget;
pub mod headers;
pub mod hygiene;
pub mod journal;
pub mod mapping;
pub mod memory_record;
pub mod rae;
pub mod rate_limit;
pub mod reader;
pub mod repeats;
pub mod sensitive;
pub mod signature;
pub mod status;
pub mod subjects;
pub mod sync;
pub mod tail;
pub mod telemetry;
pub mod text;
pub mod trace;

/// Cases each property test of the workspace runs: `PROPTEST_CASES` when set (to fuzz longer,
/// as `docs/architecture.md` describes), else `default`, which keeps `cargo test` quick.
#[doc(hidden)]
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.trim().parse().ok())
        .unwrap_or(default)
}
