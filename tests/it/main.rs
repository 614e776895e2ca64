//! Integration tests: every test starts its own `nats-server` and fake RAE, so they run in
//! parallel and need no running services.

mod cli;
mod delivery;
mod dlq;
mod git_watch;
mod github;
mod harness;
mod memories;
mod slack;
mod webhook;
