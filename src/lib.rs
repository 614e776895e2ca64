//! rae-pipeline, the binary crate: wires the producer and consumer crates into one process
//! ([`app`]), starts a local `nats-server` when none answers ([`local_nats`]) and holds the
//! operations the CLI runs on streams ([`backfill`]).
//!
//! The crates it wires: `rae-core` (event, bus, config, telemetry, RAE client), the producers
//! `rae-ingress`, `rae-git-watch`, `rae-email`, `rae-mcp`, and `rae-consumers`.

pub mod app;
pub mod backfill;
pub mod local_nats;
