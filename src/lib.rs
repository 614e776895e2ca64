//! rae-pipeline, the binary crate: wires the producer and consumer crates into one process
//! ([`app`]) under one [`supervisor`] (every task tracked, the first role that ends reported),
//! starts a local `nats-server` when none answers ([`local_nats`]) and holds the operations the
//! CLI runs on streams ([`backfill`]). The command line itself is the binary's `cli` module.
//!
//! The crates it wires: `rae-core` (event, bus, config, telemetry, RAE client), the producers
//! `rae-ingress`, `rae-git-watch`, `rae-email`, `rae-mcp`, and `rae-consumers`.

pub mod app;
pub mod backfill;
pub mod local_nats;
pub mod supervisor;
