//! rae-pipeline: the road from where a team's knowledge appears into RAE.
//!
//! Producers (under `producers/`) turn outside input into one normalized [`event::Event`] and
//! publish it to NATS JetStream through the core [`bus::Publisher`]. Consumers (under
//! `consumers/`) enrich those events and write them to RAE with retry, backoff and a dead-letter
//! stream. This crate root is the shared core both sides depend on: the event type, subject and
//! header names, JetStream setup, config, telemetry and the RAE client. Producers and consumers
//! depend on the core, never on each other; [`app`] wires them into one process.

pub mod app;
pub mod audit;
pub mod backfill;
pub mod bus;
pub mod config;
pub mod dead_letter;
pub mod event;
pub mod headers;
pub mod local_nats;
pub mod rae;
pub mod subjects;
pub mod telemetry;

#[path = "../producers/mod.rs"]
pub mod producers;

#[path = "../consumers/mod.rs"]
pub mod consumers;
