//! `mcp`: what the MCP server (`rae-pipeline mcp`) offers beyond memory tools.

use serde::{Deserialize, Serialize};

/// The MCP server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Offer the administration tools `dlq_list` and `dlq_replay` (the dead letters of the
    /// server's tenant). Off by default: an assistant should not replay failed events unless
    /// the pipeline's operator chose so.
    pub admin_tools: bool,
}
