//! Generic signed webhooks: `POST /api/v1/webhooks/{integration}` (and the seed's
//! `/api/v1/webhooks/memory`). Verifies the raw body against the integration's active secrets,
//! normalizes it into one event and answers 202 only after JetStream stored it.

pub mod normalize;
pub mod verify;

use std::collections::HashMap;

use axum::http::HeaderMap;
use time::OffsetDateTime;

use crate::{auth, Answer, ApiError, Caller, IngressState};
use rae_core::bus::{Dedupe, Publisher};
use rae_core::config::{Config, IntegrationKind, Scope, Secret};
use rae_core::event::{Event, Limits, Route, Source};

/// One webhook integration ready to verify requests.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub secrets: Vec<Secret>,
    pub tenant: String,
    pub project: String,
}

/// The enabled webhook integrations, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    webhooks: HashMap<String, Webhook>,
}

/// Why the webhook registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("integration {id}: {message}")]
    Invalid { id: String, message: String },
}

impl Registry {
    /// Builds the registry from config; `fallback_secret` serves the default `memory`
    /// integration when no secret is configured for it.
    ///
    /// # Errors
    /// [`BuildError`] naming an integration whose settings are unusable.
    pub fn build(config: &Config, fallback_secret: Option<Secret>) -> Result<Registry, BuildError> {
        let mut webhooks = HashMap::new();
        for integration in config.integrations.iter().filter(|i| i.enabled) {
            if integration.kind() != IntegrationKind::Webhook {
                continue;
            }
            let settings = integration.webhook().map_err(|p| BuildError::Invalid {
                id: integration.id.clone(),
                message: p.to_string(),
            })?;
            let mut secrets = settings.secrets;
            if secrets.is_empty() {
                secrets.extend(
                    fallback_secret
                        .clone()
                        .filter(|_| integration.id == rae_core::config::DEFAULT_WEBHOOK_ID),
                );
            }
            if secrets.is_empty() {
                return Err(BuildError::Invalid {
                    id: integration.id.clone(),
                    message: "no secret configured".into(),
                });
            }
            webhooks.insert(
                integration.id.clone(),
                Webhook {
                    id: integration.id.clone(),
                    secrets,
                    tenant: settings
                        .tenant
                        .unwrap_or_else(|| config.ingress.default_tenant.clone()),
                    project: settings
                        .project
                        .unwrap_or_else(|| config.ingress.default_project.clone()),
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
    pub limits: &'a Limits,
    pub tolerance_secs: u64,
    pub retry_after_secs: u64,
}

/// Verifies, normalizes and publishes one webhook request. A sender proves itself with one of
/// the integration's secrets, or with an API key that has the `webhooks:write` scope for the
/// integration's tenant.
///
/// # Errors
/// [`ApiError`] with the precise status for the caller.
pub async fn accept(
    webhook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
    state: &IngressState,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let now = OffsetDateTime::now_utc();
    let verified = if auth::bearer(headers).is_some() {
        let key = state.keys.authenticate(headers, now)?;
        caller.key_id = Some(key.id.clone());
        key.allow(Scope::WebhooksWrite, &webhook.tenant)?;
        verify::Verified::new(body)
    } else {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let credentials = verify::Credentials {
            secret: header(verify::SECRET_HEADER),
            signature: header(verify::SIGNATURE_HEADER),
            timestamp: header(verify::TIMESTAMP_HEADER),
        };
        verify::verify(
            credentials,
            body,
            &webhook.secrets,
            state.tolerance_secs,
            now.unix_timestamp(),
        )
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?
    };
    match &caller.key_id {
        Some(key) => state.admit(&format!("key:{key}"))?,
        None => state.admit(&format!("integration:{}", webhook.id))?,
    }
    let parsed = normalize::parse(verified.body())?;
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
