//! `rae`: the RAE HTTP service and which tenant ids it accepts.

use serde::{Deserialize, Serialize};

use super::{Problem, Secret, DEFAULT_TENANT};

/// How the API key is sent to RAE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaeAuth {
    /// `X-API-Key: <key>` (current RAE).
    ApiKey,
    /// `Authorization: Bearer <key>` (older deployments).
    Bearer,
}

/// The RAE HTTP service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaeConfig {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub auth: RaeAuth,
    /// `X-Tenant-Id` for events whose tenant has no entry in `tenants`: a UUID or
    /// `default-tenant`.
    pub tenant_id: String,
    /// Store path; the trailing slash matters to RAE.
    pub store_path: String,
    pub query_path: String,
    /// GraphRAG search (the MCP tool `query_graph`): vector search plus knowledge-graph
    /// traversal. Current RAE serves it as hybrid search with the graph strategy; deployments
    /// that still have the dedicated route use `/v2/graph/query` (or `/v1/graph/query`).
    pub graph_path: String,
    /// Whether a graph search asks RAE to re-rank its results with an LLM
    /// (`enable_reranking`); off by default, since RAE then calls an external model.
    pub graph_reranking: bool,
    /// Reflection generation (the MCP tool `generate_reflection`).
    pub reflection_path: String,
    pub health_path: String,
    pub timeout_ms: u64,
}

impl Default for RaeConfig {
    fn default() -> Self {
        RaeConfig {
            base_url: "http://127.0.0.1:8000".into(),
            api_key: None,
            auth: RaeAuth::ApiKey,
            tenant_id: DEFAULT_TENANT.into(),
            store_path: "/v2/memories/".into(),
            query_path: "/v2/memories/query".into(),
            graph_path: "/v2/search/hybrid".into(),
            graph_reranking: false,
            reflection_path: "/v2/reflections/generate".into(),
            health_path: "/health".into(),
            timeout_ms: 10_000,
        }
    }
}

/// The longest `rae.timeout_ms`.
const MAX_TIMEOUT_MS: u64 = 3_600_000;

impl RaeConfig {
    /// What is wrong with this section, paths relative to it.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| problems.push(Problem::new(path, message));
        if self.timeout_ms == 0 {
            bad(".timeout_ms", "must be greater than 0");
        }
        if self.timeout_ms > MAX_TIMEOUT_MS {
            bad(".timeout_ms", &format!("must be at most {MAX_TIMEOUT_MS}"));
        }
        if !is_http_url(&self.base_url) {
            bad(".base_url", "must be an http:// or https:// URL");
        }
        for (path, value) in [
            (".store_path", &self.store_path),
            (".query_path", &self.query_path),
            (".graph_path", &self.graph_path),
            (".reflection_path", &self.reflection_path),
            (".health_path", &self.health_path),
        ] {
            if !value.starts_with('/') {
                bad(path, "must start with /");
            }
        }
        if !is_rae_tenant_id(&self.tenant_id) {
            bad(".tenant_id", "must be a UUID or exactly default-tenant");
        }
        problems
    }
}

/// True for an `http://` or `https://` URL.
pub(crate) fn is_http_url(text: &str) -> bool {
    reqwest::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
}

/// RAE accepts a UUID or exactly `default-tenant` in `X-Tenant-Id`.
pub fn is_rae_tenant_id(id: &str) -> bool {
    id == DEFAULT_TENANT || uuid::Uuid::parse_str(id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_uuids_or_default_tenant() {
        assert!(is_rae_tenant_id("default-tenant"));
        assert!(is_rae_tenant_id("7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f"));
        assert!(!is_rae_tenant_id("acme"));
    }
}
