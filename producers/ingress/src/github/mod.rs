//! GitHub webhooks: `POST /api/v1/integrations/{id}/webhook` (`github` by default).
//!
//! Verifies `X-Hub-Signature-256` over the raw body, turns the deliveries a team wants to
//! remember into one event each ([`normalize`]), routes each to the tenant that claims its
//! repository or organization, and remembers `X-GitHub-Delivery` in `rae_dedupe` per tenant, so a
//! redelivery days later is answered as a duplicate.

pub mod import;
pub mod normalize;
pub mod verify;

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::rate_limit::Budget;
use crate::verified::Verified;
use crate::webhook;
use crate::{require_content_type, Answer, ApiError, Caller, IngressState};
use rae_core::config::{Config, GithubConfig, Secret};
use rae_core::event::{self, Event, InvalidField, Route, Source};

/// A tenant's claim on repositories and organizations.
#[derive(Debug, Clone)]
struct Claim {
    /// A disabled claim still keeps its repositories from the default tenant.
    enabled: bool,
    tenant: String,
    /// The tenant's own secrets; empty when it uses the integration's.
    secrets: Vec<Secret>,
    /// The tenant's project (`Config::project_for` the tenant).
    project: String,
    repositories: Vec<String>,
    organizations: Vec<String>,
}

/// One GitHub integration ready to take deliveries.
#[derive(Debug, Clone)]
pub struct Github {
    pub id: String,
    secrets: Vec<Secret>,
    tenant: String,
    project: String,
    /// Lowercased filters for `tenant`; both empty accept every unclaimed repository.
    repositories: Vec<String>,
    organizations: Vec<String>,
    claims: Vec<Claim>,
}

/// The enabled GitHub integrations, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    hooks: HashMap<String, Github>,
}

fn lowercase(names: &[String]) -> Vec<String> {
    names.iter().map(|n| n.to_ascii_lowercase()).collect()
}

impl Registry {
    /// The registry of a validated config.
    pub fn build(config: &Config) -> Registry {
        let claims: Vec<Claim> = config
            .tenants
            .iter()
            .filter_map(|(alias, tenant)| {
                let github = tenant.integrations.github.as_ref()?;
                Some(Claim {
                    enabled: github.enabled,
                    secrets: github.secrets.clone(),
                    tenant: alias.clone(),
                    project: config.project_for(alias, None).to_owned(),
                    repositories: lowercase(&github.repositories),
                    organizations: lowercase(&github.organizations),
                })
            })
            .collect();
        let hooks = config
            .settings_of::<GithubConfig>()
            .map(|(integration, settings)| {
                let (tenant, project) =
                    config.destination(settings.tenant.as_deref(), settings.project.as_deref());
                (
                    integration.id.clone(),
                    Github {
                        id: integration.id.clone(),
                        secrets: settings.secrets.clone(),
                        tenant,
                        project,
                        repositories: lowercase(&settings.repositories),
                        organizations: lowercase(&settings.organizations),
                        claims: claims.clone(),
                    },
                )
            })
            .collect();
        Registry { hooks }
    }

    pub fn get(&self, id: &str) -> Option<&Github> {
        self.hooks.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.hooks.keys().map(String::as_str)
    }
}

impl Github {
    /// Who signed a delivery: `None` for the integration's shared secret, or the tenant whose
    /// own secret verified it.
    ///
    /// # Errors
    /// 401 when no secret matches.
    fn signer<'b>(
        &self,
        signature: Option<&str>,
        body: &'b [u8],
    ) -> Result<(Option<&str>, Verified<'b>), ApiError> {
        match verify::verify(signature, body, &self.secrets) {
            Ok(verified) => Ok((None, verified)),
            Err(shared) => self
                .claims
                .iter()
                .filter(|c| !c.secrets.is_empty())
                .find_map(|c| {
                    verify::verify(signature, body, &c.secrets)
                        .ok()
                        .map(|verified| (Some(c.tenant.as_str()), verified))
                })
                .ok_or_else(|| ApiError::Unauthorized(shared.to_string())),
        }
    }

    /// The tenant and project of a delivery signed by `signer`, or why it is not stored.
    fn route_signed(
        &self,
        signer: Option<&str>,
        repository: Option<&str>,
        organization: Option<&str>,
    ) -> Result<(&str, &str), String> {
        let shown = repository.unwrap_or("(none)");
        let Some((tenant, project)) = self.route(repository, organization) else {
            return Err(format!(
                "repository {shown} is not configured for any tenant"
            ));
        };
        let own_secrets = self
            .claims
            .iter()
            .any(|c| c.tenant == tenant && !c.secrets.is_empty());
        match signer {
            Some(signer) if signer != tenant => Err(format!(
                "signed with tenant {signer}'s secret, but repository {shown} is not {signer}'s"
            )),
            None if own_secrets => Err(format!(
                "repository {shown} belongs to a tenant whose deliveries must be signed with its own secret"
            )),
            _ => Ok((tenant, project)),
        }
    }

    /// The tenant and project of a delivery: the tenant claiming the repository, else the one
    /// claiming the organization, else the integration's own tenant when its filters allow it.
    fn route(&self, repository: Option<&str>, organization: Option<&str>) -> Option<(&str, &str)> {
        let repository = repository.map(str::to_ascii_lowercase);
        let organization = organization.map(str::to_ascii_lowercase);
        let claimed = |names: &[String], name: &Option<String>| {
            name.as_ref().is_some_and(|n| names.contains(n))
        };
        let claim = self
            .claims
            .iter()
            .find(|c| claimed(&c.repositories, &repository))
            .or_else(|| {
                self.claims
                    .iter()
                    .find(|c| claimed(&c.organizations, &organization))
            });
        if let Some(claim) = claim {
            if !claim.enabled {
                return None;
            }
            return Some((&claim.tenant, &claim.project));
        }
        let open = self.repositories.is_empty() && self.organizations.is_empty();
        (open
            || claimed(&self.repositories, &repository)
            || claimed(&self.organizations, &organization))
        .then_some((&self.tenant, &self.project))
    }
}

/// The JSON payload of a delivery: the body, or its `payload` field when the webhook was set
/// up with content type `application/x-www-form-urlencoded`.
fn payload(headers: &HeaderMap, verified: Verified<'_>) -> Result<Value, ApiError> {
    let body = verified.body();
    require_content_type(
        headers,
        &["application/json", "application/x-www-form-urlencoded"],
    )?;
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let json: std::borrow::Cow<'_, [u8]> = if form {
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| InvalidField::new("body", format!("not a valid form body ({e})")))?;
        let payload = fields
            .into_iter()
            .find(|(name, _)| name == "payload")
            .ok_or_else(|| InvalidField::new("payload", "missing form field"))?;
        payload.1.into_bytes().into()
    } else {
        body.into()
    };
    let value: Value = serde_json::from_slice(&json)
        .map_err(|e| InvalidField::new("body", format!("not valid JSON ({e})")))?;
    if !value.is_object() {
        return Err(InvalidField::new("body", "must be a JSON object").into());
    }
    Ok(value)
}

/// A required GitHub header of 1 to 128 visible characters.
fn required_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
    shown: &str,
) -> Result<&'h str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .ok_or_else(|| ApiError::BadRequest {
            field: Some(shown.into()),
            message: format!("{shown} header is required"),
        })
}

/// The event of `memory`, for the integration `integration` and `(tenant, project)`: the same
/// for a webhook delivery and an imported item. `origin` is the event name (`X-GitHub-Event`)
/// and the delivery id, `None` for an import. The id derives from [`normalize::Memory::key`] (the
/// item and its state), else the delivery id, scoped by integration and tenant.
///
/// # Errors
/// [`InvalidField`] when the memory does not make a valid event within `limits`, or has neither
/// a key nor a delivery id.
pub fn event_of(
    integration: &str,
    memory: normalize::Memory,
    (tenant, project): (&str, &str),
    (event_name, delivery): (&str, Option<&str>),
    limits: &event::Limits,
) -> Result<Event, InvalidField> {
    let now = OffsetDateTime::now_utc();
    let mut attributes = memory.attributes;
    attributes.insert("github_event".into(), json!(event_name));
    match delivery {
        Some(delivery) => attributes.insert("delivery".into(), json!(delivery)),
        None => attributes.insert("imported".into(), json!(true)),
    };
    // An issue or PR and everything said on it (comments, reviews) are one conversation.
    if let (Some(repo), Some(number)) = (
        memory.repository.as_deref(),
        attributes.get("number").and_then(Value::as_u64),
    ) {
        attributes.insert(
            event::SESSION_ID.into(),
            json!(format!("github:{repo}#{number}")),
        );
    }
    let route = Route {
        tenant,
        project,
        source: Source::Github,
        integration,
    };
    let Some(provider_id) = memory.key.as_deref().or(delivery) else {
        return Err(InvalidField::new(
            "key",
            "an item without a stable key cannot be imported",
        ));
    };
    let id = event::scoped_id(&route, provider_id);
    Event::builder(route, id, memory.kind, memory.content)
        .tags(memory.tags)
        .occurred_at(memory.occurred_at.unwrap_or(now))
        .received_at(now)
        .actor(memory.actor)
        .url(memory.url)
        .attributes(attributes)
        .validated(limits)
}

/// Verifies, interprets and publishes one delivery.
///
/// # Errors
/// [`ApiError`] with the precise status for GitHub's delivery log.
pub async fn accept(
    hook: &Github,
    headers: &HeaderMap,
    body: &[u8],
    state: &IngressState,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let signature = headers
        .get(verify::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let (signer, verified) = hook.signer(signature, body)?;
    state.admit(Budget::Integration(&hook.id))?;
    let event_name = required_header(headers, verify::EVENT_HEADER, "X-GitHub-Event")?;
    let delivery = required_header(headers, verify::DELIVERY_HEADER, "X-GitHub-Delivery")?;
    let payload = payload(headers, verified)?;
    let outcome = normalize::interpret(
        &normalize::Delivery {
            event: event_name,
            payload: &payload,
        },
        &state.limits,
    )?;
    let memory = match outcome {
        normalize::Outcome::Ping { zen } => {
            return Ok(Answer::reply(
                StatusCode::OK,
                json!({"status": "pong", "zen": zen}),
            ))
        }
        normalize::Outcome::Ignored { reason } => return Ok(Answer::ignored(reason)),
        normalize::Outcome::Memory(memory) => memory,
    };
    let (tenant, project) = match hook.route_signed(
        signer,
        memory.repository.as_deref(),
        memory.organization.as_deref(),
    ) {
        Ok(routed) => routed,
        Err(reason) => return Ok(Answer::ignored(reason)),
    };
    caller.tenant = Some(tenant.to_owned());
    let event = event_of(
        &hook.id,
        memory,
        (tenant, project),
        (event_name, Some(delivery)),
        &state.limits,
    )?;
    let accepted = webhook::publish(&event, true, &state.context()).await?;
    Ok(Answer::accepted(&accepted))
}
