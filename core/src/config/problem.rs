//! What validation reports: a [`Problem`] at a field path, [`ConfigError`] when loading fails,
//! and the [`Context`] a section's checks get from the rest of the tree.
//!
//! Each section validates itself with `problems(&self, ..) -> Vec<Problem>` whose paths are
//! relative to the section (`""` for the section itself, else starting with `.` or `[`); the
//! caller prefixes them with [`Problem::under`], so a path names the field as the file spells
//! it (`integrations[2].config.secrets[0]`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::{is_rae_tenant_id, TenantConfig};

/// One thing wrong with the configuration, at a field path.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same problem with its path under `prefix` (`.url` under `nats` is `nats.url`).
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        self.path.insert_str(0, prefix);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Moves `problems` under `prefix` into `into`.
pub(crate) fn extend_under(into: &mut Vec<Problem>, prefix: &str, problems: Vec<Problem>) {
    into.extend(problems.into_iter().map(|p| p.under(prefix)));
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid YAML")]
    Yaml {
        path: PathBuf,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("invalid configuration ({} problem(s)):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
    #[error("cannot print the configuration as YAML")]
    Print(#[source] yaml_serde::Error),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The problems found, for tests and tools.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            _ => &[],
        }
    }
}

/// The message for a tenant that does not resolve.
pub(crate) const TENANT_MESSAGE: &str =
    "must be a UUID, default-tenant, or an alias listed under tenants";

/// What a section's validation needs from the rest of the tree: the cross-section checks
/// (a tenant named anywhere must resolve; the writer's ack wait must outlast RAE's timeout).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub(crate) tenants: &'a BTreeMap<String, TenantConfig>,
    /// `rae.timeout_ms`.
    pub rae_timeout_ms: u64,
}

impl Context<'_> {
    /// True when events of `tenant` have RAE credentials: a RAE tenant id itself or an alias
    /// under `tenants`.
    pub fn tenant_resolves(&self, tenant: &str) -> bool {
        is_rae_tenant_id(tenant) || self.tenants.contains_key(tenant)
    }

    /// A problem at `path` when `tenant` is given and does not resolve.
    pub(crate) fn tenant_problem(&self, path: &str, tenant: Option<&String>) -> Option<Problem> {
        tenant
            .filter(|t| !self.tenant_resolves(t))
            .map(|_| Problem::new(path, TENANT_MESSAGE))
    }
}
