//! Integration tests: every test starts its own `nats-server` and fake RAE, so they run in
//! parallel and need no running services.

mod architecture;
mod cli;
mod cluster;
mod console;
mod contracts;
mod contracts_audit;
mod contracts_examples;
mod contracts_openapi;
mod contracts_ts_producer;
mod delivery;
mod deploy;
mod dlq;
mod enrich;
mod faults;
mod forget;
mod git_watch;
mod github;
mod harness;
mod import;
mod mail;
mod mcp;
mod memories;
mod presets;
mod slack;
mod supervision;
mod vscode;
mod webhook;
