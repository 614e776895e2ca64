//! Generic signed webhooks: `POST /api/v1/webhooks/{integration}` (and the seed's
//! `/api/v1/webhooks/memory`). Verifies the raw body against the integration's active secrets,
//! normalizes it into one event and answers 202 only after JetStream stored it.

pub mod mapped;
pub mod normalize;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use time::OffsetDateTime;

use crate::rate_limit::Budget;
use crate::{auth, require_content_type, Answer, ApiError, Caller, IngressState};
use rae_core::bus::{Dedupe, Publisher};
use rae_core::config::{Config, Scope, Secret, WebhookConfig};
use rae_core::event::{Event, Route, Source};
use rae_core::mapping::Mapping;

/// One webhook integration ready to verify requests.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub secrets: Vec<Secret>,
    pub tenant: String,
    pub project: String,
    pub require_timestamp: bool,
    /// The compiled `mapping`: the body is any JSON it turns into an event.
    pub mapping: Option<Arc<Mapping>>,
}

/// The enabled webhook integrations, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    webhooks: HashMap<String, Webhook>,
}

/// Why the webhook registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("integration {id}: no secret configured")]
    NoSecret { id: String },
    #[error("integration {id}: the mapping does not compile: {problems}")]
    Mapping { id: String, problems: String },
}

impl Webhook {
    /// Where its events go.
    pub fn route(&self) -> Route<'_> {
        Route {
            integration: &self.id,
            source: Source::Webhook,
            tenant: &self.tenant,
            project: &self.project,
        }
    }
}

impl Registry {
    /// Builds the registry from config; `fallback_secret` serves the default `memory`
    /// integration when no secret is configured for it.
    ///
    /// # Errors
    /// [`BuildError`] naming an integration whose settings are unusable.
    pub fn build(config: &Config, fallback_secret: Option<Secret>) -> Result<Registry, BuildError> {
        let mut webhooks = HashMap::new();
        for (integration, settings) in config.settings_of::<WebhookConfig>() {
            let mut secrets = settings.secrets.clone();
            if secrets.is_empty() {
                secrets.extend(
                    fallback_secret
                        .clone()
                        .filter(|_| integration.id == rae_core::config::DEFAULT_WEBHOOK_ID),
                );
            }
            if secrets.is_empty() {
                return Err(BuildError::NoSecret {
                    id: integration.id.clone(),
                });
            }
            let (tenant, project) =
                config.destination(settings.tenant.as_deref(), settings.project.as_deref());
            let mapping = match &settings.mapping {
                None => None,
                Some(config) => Some(Arc::new(Mapping::compile(config).map_err(|problems| {
                    BuildError::Mapping {
                        id: integration.id.clone(),
                        problems: problems
                            .iter()
                            .map(|p| format!("mapping{p}"))
                            .collect::<Vec<_>>()
                            .join("; "),
                    }
                })?)),
            };
            webhooks.insert(
                integration.id.clone(),
                Webhook {
                    id: integration.id.clone(),
                    secrets,
                    tenant,
                    project,
                    require_timestamp: settings.require_timestamp,
                    mapping,
                },
            );
        }
        Ok(Registry { webhooks })
    }

    pub fn get(&self, id: &str) -> Option<&Webhook> {
        self.webhooks.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.webhooks.keys().map(String::as_str)
    }
}

/// What the ingress answers for an accepted event.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: String,
    pub duplicate: bool,
    pub tenant: String,
}

/// Settings the handler needs beyond the integration.
pub struct Context<'a> {
    pub publisher: &'a Publisher,
    pub dedupe: &'a Dedupe,
    pub retry_after_secs: u64,
}

/// How a webhook request's sender is to be proven, as far as its headers tell.
pub enum Sender {
    /// An API key with `webhooks:write` for the integration's tenant: proven already.
    Key,
    /// One of the integration's secrets, checked over the body.
    Secret,
}

/// What a webhook request is checked for before its body is read: a JSON type, and a
/// credential at all; an API key is authenticated and authorized here.
///
/// # Errors
/// 415, 401 (no credentials, an unknown key), 403.
pub fn check_headers(
    webhook: &Webhook,
    headers: &HeaderMap,
    state: &IngressState,
    caller: &mut Caller,
) -> Result<Sender, ApiError> {
    require_content_type(headers, &["application/json"])?;
    if auth::bearer(headers).is_some() {
        let key = state
            .keys
            .authenticate(headers, OffsetDateTime::now_utc())?;
        caller.key_id = Some(key.id.clone());
        key.allow(Scope::WebhooksWrite, &webhook.tenant)?;
        return Ok(Sender::Key);
    }
    let present = [verify::SECRET_HEADER, verify::SIGNATURE_HEADER]
        .iter()
        .any(|name| headers.contains_key(*name));
    if present {
        Ok(Sender::Secret)
    } else {
        Err(ApiError::Unauthorized(
            verify::VerifyError::Missing.to_string(),
        ))
    }
}

/// Verifies, normalizes and publishes one webhook request whose headers [`check_headers`]
/// passed. A sender proves itself with one of the integration's secrets, or with an API key
/// that has the `webhooks:write` scope for the integration's tenant.
///
/// # Errors
/// [`ApiError`] with the precise status for the caller.
pub async fn accept(
    webhook: &Webhook,
    sender: Sender,
    headers: &HeaderMap,
    body: &[u8],
    state: &IngressState,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let now = OffsetDateTime::now_utc();
    let verified = if let Sender::Key = sender {
        verify::Authenticated {
            body: verify::Verified::new(body),
            signature: None,
        }
    } else {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let credentials = verify::Credentials {
            secret: header(verify::SECRET_HEADER),
            signature: header(verify::SIGNATURE_HEADER),
            timestamp: header(verify::TIMESTAMP_HEADER),
        };
        let policy = verify::Policy {
            secrets: &webhook.secrets,
            tolerance_secs: state.tolerance_secs,
            require_timestamp: webhook.require_timestamp,
        };
        verify::verify(credentials, body, policy, now.unix_timestamp())
            .map_err(|e| ApiError::Unauthorized(e.to_string()))?
    };
    match &caller.key_id {
        Some(key) => state.admit(Budget::Key(key))?,
        None => state.admit(Budget::Integration(&webhook.id))?,
    }
    if let Some(mapping) = &webhook.mapping {
        let body = verified.body.body();
        let route = webhook.route();
        return mapped::accept(route, mapping, headers, body, verified.signature, state).await;
    }
    let mut parsed = normalize::parse(verified.body.body())?;
    // A signed request without its own key is identified by its signature: sent again (a
    // replay, or the sender's retry after a lost answer) it is a duplicate, never a new event.
    if parsed.idempotency_key.is_none() {
        parsed.idempotency_key = verified.signature;
    }
    let keyed = parsed.idempotency_key.is_some();
    let route = Route {
        integration: &webhook.id,
        source: Source::Webhook,
        tenant: &webhook.tenant,
        project: &webhook.project,
    };
    let event = normalize::normalize(parsed, route, &state.limits, now)?;
    let accepted = publish(&event, keyed, &state.context()).await?;
    Ok(Answer::accepted(&accepted))
}

/// Publishes a normalized event through the core publish path; `keyed` events (whose ids derive
/// from a provider or sender id that may come back for days) are deduplicated through
/// `rae_dedupe`.
///
/// # Errors
/// [`ApiError::Unavailable`] when JetStream cannot take it.
pub async fn publish(event: &Event, keyed: bool, ctx: &Context<'_>) -> Result<Accepted, ApiError> {
    let published = if keyed {
        ctx.publisher.publish_new_once(event, ctx.dedupe).await
    } else {
        ctx.publisher.publish_new(event).await
    }
    .map_err(|e| ApiError::from_publish(&e, ctx.retry_after_secs))?;
    Ok(Accepted {
        id: event.id.clone(),
        duplicate: published.duplicate,
        tenant: event.tenant.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::config::Source;

    #[test]
    fn a_webhook_without_a_project_takes_its_tenants() {
        let yaml = r#"
tenants:
  acme: { rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f, project: platform }
integrations:
  - { id: ci, config: { secrets: [ci-secret-000001], tenant: acme } }
  - { id: deploys, config: { secrets: [deploy-secret-0001], tenant: acme, project: ops } }
  - { id: memory, config: { secrets: [memory-secret-0001] } }
"#;
        let config = Config::load(&Source::Text(yaml.into()), &|_| None).unwrap();
        let registry = Registry::build(&config, None).unwrap();
        let project = |id: &str| registry.get(id).map(|w| w.project.as_str());
        // The tenant's project, as GitHub, Slack, email and git use it.
        assert_eq!(project("ci"), Some("platform"));
        // The integration's own project wins.
        assert_eq!(project("deploys"), Some("ops"));
        // A tenant without a project: ingress.default_project.
        assert_eq!(project("memory"), Some("default"));
    }
}
