//! Settings of a `webhook` integration: the generic signed webhook at
//! `POST /api/v1/webhooks/{id}`.

use serde::{Deserialize, Serialize};

use super::{extend_under, secrets_problems, IntegrationContext, MappingConfig, Problem, Secret};

/// Settings of a generic webhook integration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Active secrets; several at once allow rotation without downtime.
    pub secrets: Vec<Secret>,
    /// Tenant of its events (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    /// Project of its events when the body names none (default `ingress.default_project`).
    pub project: Option<String>,
    /// Refuse `X-Webhook-Signature` without `X-Webhook-Timestamp`: a body-only signature stays
    /// valid forever, a timestamped one only within `ingress.timestamp_tolerance_secs`.
    pub require_timestamp: bool,
    /// Turns a JSON body of any shape into an event (templates over `body` and `headers`);
    /// without it the body must be the generic format (`content`, `tags`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingConfig>,
}

impl WebhookConfig {
    /// What is wrong with these settings, paths relative to them.
    pub fn problems(&self, ctx: &IntegrationContext) -> Vec<Problem> {
        let mut problems = secrets_problems(&self.secrets, "secrets", ctx.secret_required);
        problems.extend(ctx.tenant_problem(".tenant", self.tenant.as_ref()));
        if let Some(mapping) = &self.mapping {
            extend_under(&mut problems, ".mapping", mapping.problems());
        }
        problems
    }
}
