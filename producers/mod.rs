//! Producers: thin adapters that verify outside input, normalize it into one event and publish
//! it through the core publisher. They hold no business logic beyond their protocol.

pub mod email;
pub mod git_watch;
pub mod github;
pub mod ingress;
pub mod mcp;
pub mod memories;
pub mod slack;
pub mod webhook;
