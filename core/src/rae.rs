//! The RAE HTTP client: stores one event as one memory, with the tenant and key
//! headers RAE expects and the event's facts in `metadata` so every memory traces back to it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::config::{
    find_tenant, is_rae_tenant_id, RaeAuth, RaeConfig, Secret, TenantConfig, DEFAULT_TENANT,
};

/// The tenant RAE means by `default-tenant`.
pub const DEFAULT_TENANT_UUID: &str = "00000000-0000-0000-0000-000000000000";
use crate::event::Event;

/// What the writer knows of RAE's health, for `/api/v1/integrations/health` when the writer
/// runs in the same process as the ingress (`up`). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RaeHealth(std::sync::Arc<std::sync::Mutex<HealthState>>);

#[derive(Debug, Default)]
struct HealthState {
    /// When the health route was last checked, and what it said.
    checked: Option<(time::OffsetDateTime, Result<(), String>)>,
    down: Option<String>,
    paused_until: Option<time::OffsetDateTime>,
    last_stored: Option<time::OffsetDateTime>,
}

impl RaeHealth {
    fn with<T>(&self, f: impl FnOnce(&mut HealthState) -> T) -> T {
        f(&mut crate::sync::lock(&self.0))
    }

    /// The breaker opened: writes wait for RAE.
    pub fn down(&self, reason: &str) {
        self.with(|s| s.down = Some(reason.to_owned()));
    }

    /// The outcome of a check of RAE's health route.
    pub fn checked(&self, outcome: Result<(), String>) {
        self.with(|s| s.checked = Some((time::OffsetDateTime::now_utc(), outcome)));
    }

    /// RAE answered a write.
    pub fn stored(&self) {
        self.with(|s| {
            s.down = None;
            s.last_stored = Some(time::OffsetDateTime::now_utc());
        });
    }

    /// RAE asked to slow down (429) until `until`.
    pub fn paused(&self, until: time::OffsetDateTime) {
        self.with(|s| s.paused_until = Some(until));
    }

    /// `(status, last_activity, error)`: `down` while the breaker is open or the last health
    /// check failed, `degraded` while a 429 pause lasts, `unknown` before any check or write,
    /// `healthy` otherwise.
    pub fn report(&self) -> (&'static str, Option<time::OffsetDateTime>, Option<String>) {
        self.with(|s| {
            let now = time::OffsetDateTime::now_utc();
            if let Some(reason) = &s.down {
                (
                    "down",
                    s.last_stored,
                    Some(format!("writes paused, probing RAE: {reason}")),
                )
            } else if s.paused_until.is_some_and(|u| u > now) {
                (
                    "degraded",
                    s.last_stored,
                    Some("rate limited by RAE (429)".into()),
                )
            } else {
                // A write is the better witness: it wins over an older failed check.
                let stored_since =
                    |at: &time::OffsetDateTime| s.last_stored.is_some_and(|w| w > *at);
                match &s.checked {
                    Some((at, Err(error))) if !stored_since(at) => (
                        "down",
                        s.last_stored,
                        Some(format!("health check failed: {error}")),
                    ),
                    None if s.last_stored.is_none() => {
                        ("unknown", None, Some("not checked yet".into()))
                    }
                    _ => ("healthy", s.last_stored, None),
                }
            }
        })
    }
}

/// Memories one lookup reads: RAE's largest list page.
pub const LOOKUP_LIMIT: usize = 1000;

/// What RAE holds for an event whose earlier write has no known outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Stored, as this memory id.
    Found(String),
    /// Not among the project's memories: write it.
    Absent,
    /// Not among the newest [`LOOKUP_LIMIT`] memories of a larger project: probably not
    /// stored, but not known.
    Undecided,
}

/// What RAE answered to a store.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// A new memory with this id.
    Memory(String),
    /// RAE filtered the memory as a duplicate of a recent one: success too.
    Duplicate,
}

/// What RAE answered to a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The memory was there and is deleted.
    Deleted,
    /// RAE has no such memory (404): deleted before, or never kept.
    Absent,
}

/// Why a request to RAE did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RaeError {
    #[error("cannot reach RAE at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("RAE at {url} did not answer within {timeout_ms} ms")]
    Timeout { url: String, timeout_ms: u64 },
    #[error("RAE answered {status} to {method} {url}: {body}")]
    Status {
        status: u16,
        /// `POST`, `GET` for a lookup, `DELETE` for a forget.
        method: &'static str,
        /// The URL that was posted to, for the operator (never shown to callers).
        url: String,
        body: String,
        /// `Retry-After` of the answer, when it had one.
        retry_after: Option<Duration>,
    },
}

impl RaeError {
    /// What a caller of the ingress (an API client, a Slack user) is told: what went wrong,
    /// without RAE's internal address or its answer's body, which stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            RaeError::Connect { .. } => "RAE is unreachable right now".to_owned(),
            RaeError::Timeout { .. } => "RAE did not answer in time".to_owned(),
            RaeError::Status { status, .. } => format!("RAE answered {status}"),
        }
    }

    /// HTTP status of the answer, when RAE answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RaeError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Client of one RAE deployment, shared by all writer tasks.
#[derive(Clone)]
pub struct RaeClient {
    http: reqwest::Client,
    config: RaeConfig,
    tenants: BTreeMap<String, TenantConfig>,
}

/// Longest RAE error body kept for a dead letter.
const MAX_ERROR_BODY: usize = 4096;

/// Why an HTTP client could not be made (its TLS setup failed).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for {purpose}")]
pub struct ClientError {
    /// What the client was for (`RAE`, `the LLM`, ...).
    pub purpose: &'static str,
    #[source]
    pub source: reqwest::Error,
}

impl RaeClient {
    /// # Errors
    /// [`ClientError`] when the HTTP client cannot be built (TLS setup).
    pub fn new(
        config: &RaeConfig,
        tenants: &BTreeMap<String, TenantConfig>,
    ) -> Result<RaeClient, ClientError> {
        // reqwest is built without a default crypto provider (ring is already in the tree via
        // async-nats); installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(5_000)))
            .pool_max_idle_per_host(256)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| ClientError {
                purpose: "RAE",
                source,
            })?;
        Ok(RaeClient {
            http,
            config: config.clone(),
            tenants: tenants.clone(),
        })
    }

    /// `X-Tenant-Id` and key for an event's tenant: a configured tenant's own, whether it is
    /// named by its alias or its `rae_tenant_id`.
    fn credentials(&self, tenant: &str) -> (String, Option<&Secret>) {
        let entry = find_tenant(&self.tenants, tenant).map(|(_, t)| t);
        let tenant_id = match entry.and_then(|t| t.rae_tenant_id.clone()) {
            Some(id) => id,
            None if is_rae_tenant_id(tenant) => tenant.to_owned(),
            None => self.config.tenant_id.clone(),
        };
        let non_empty = |k: &&Secret| !k.expose().is_empty();
        let key = entry
            .and_then(|t| t.api_key.as_ref())
            .filter(non_empty)
            .or(self.config.api_key.as_ref().filter(non_empty));
        (tenant_id, key)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url.trim_end_matches('/'), path)
    }

    /// Stores `event` as one memory.
    ///
    /// # Errors
    /// [`RaeError`] for a refused connection, a timeout or a non-2xx answer.
    pub async fn store(&self, event: &Event) -> Result<Stored, RaeError> {
        let body = self
            .post(&self.config.store_path, &event.tenant, &store_body(event))
            .await?;
        Ok(match body.get("memory_id").and_then(Value::as_str) {
            Some("skipped") | Some("None") | Some("") | None => Stored::Duplicate,
            Some(id) => Stored::Memory(id.to_owned()),
        })
    }

    /// Deletes memory `memory_id` of `tenant` (`DELETE {store_path}{memory_id}`).
    ///
    /// # Errors
    /// [`RaeError`] for a refused connection, a timeout or a non-2xx answer other than 404.
    pub async fn delete(&self, tenant: &str, memory_id: &str) -> Result<Deleted, RaeError> {
        let base = self.url(&self.config.store_path);
        let url = match reqwest::Url::parse(&base) {
            Ok(mut url) => {
                if let Ok(mut segments) = url.path_segments_mut() {
                    segments.pop_if_empty().push(memory_id);
                }
                String::from(url)
            }
            Err(_) => format!("{}/{memory_id}", base.trim_end_matches('/')),
        };
        let request = self.http.delete(&url);
        match self.send(request, "DELETE", url, tenant).await {
            Ok(_) => Ok(Deleted::Deleted),
            Err(RaeError::Status { status: 404, .. }) => Ok(Deleted::Absent),
            Err(err) => Err(err),
        }
    }

    /// Searches the memories of `tenant` (`POST /v2/memories/query`); `query` is RAE's body
    /// `{query, project, k, layers?, filters?}`. Returns RAE's answer
    /// `{results: [...], total_count}`.
    ///
    /// # Errors
    /// [`RaeError`] for a refused connection, a timeout or a non-2xx answer.
    pub async fn query(&self, tenant: &str, query: &Value) -> Result<Value, RaeError> {
        self.post(&self.config.query_path, tenant, query).await
    }

    /// GraphRAG search of `tenant`'s memories (`rae.graph_path`): `body` as RAE's graph or
    /// hybrid search expects it. Returns RAE's answer.
    ///
    /// # Errors
    /// [`RaeError`] for a refused connection, a timeout or a non-2xx answer.
    pub async fn query_graph(&self, tenant: &str, body: &Value) -> Result<Value, RaeError> {
        self.post(&self.config.graph_path, tenant, body).await
    }

    /// Asks RAE to generate reflections from `tenant`'s memories (`rae.reflection_path`).
    /// Returns RAE's answer.
    ///
    /// # Errors
    /// [`RaeError`] for a refused connection, a timeout or a non-2xx answer.
    pub async fn generate_reflection(&self, tenant: &str, body: &Value) -> Result<Value, RaeError> {
        self.post(&self.config.reflection_path, tenant, body).await
    }

    /// The tenant id for RAE routes that take `tenant_id` in the JSON body (hybrid search,
    /// reflections). RAE maps `default-tenant` to its UUID only in the `X-Tenant-Id` header and
    /// uses a body's value as given, so the body always gets the UUID.
    pub fn body_tenant_id(&self, tenant: &str) -> String {
        match self.credentials(tenant).0 {
            id if id == DEFAULT_TENANT => DEFAULT_TENANT_UUID.to_owned(),
            id => id,
        }
    }

    /// Whether graph searches ask RAE to re-rank with its LLM (`rae.graph_reranking`).
    pub fn graph_reranking(&self) -> bool {
        self.config.graph_reranking
    }

    /// POSTs `body` to `path` with `tenant`'s credentials; a 2xx answer's JSON (null when it
    /// has none).
    async fn post(&self, path: &str, tenant: &str, body: &Value) -> Result<Value, RaeError> {
        let url = self.url(path);
        let request = self.http.post(&url).json(body);
        self.send(request, "POST", url, tenant).await
    }

    async fn get(
        &self,
        path: &str,
        tenant: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, RaeError> {
        let url = reqwest::Url::parse_with_params(&self.url(path), query)
            .map(String::from)
            .unwrap_or_else(|_| self.url(path));
        let request = self.http.get(&url);
        self.send(request, "GET", url, tenant).await
    }

    /// Sends `request` with the tenant's credentials; the JSON answer of a 2xx.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        method: &'static str,
        url: String,
        tenant: &str,
    ) -> Result<Value, RaeError> {
        let (tenant_id, key) = self.credentials(tenant);
        let mut request = request.header("X-Tenant-Id", tenant_id);
        if let Some(key) = key {
            request = match self.config.auth {
                RaeAuth::ApiKey => request.header("X-API-Key", key.expose()),
                RaeAuth::Bearer => request.bearer_auth(key.expose()),
            };
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&url, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await.unwrap_or(Value::Null));
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = response.text().await.unwrap_or_default();
        let body = crate::text::clip_bytes(&body, MAX_ERROR_BODY).into_owned();
        Err(RaeError::Status {
            status: status.as_u16(),
            method,
            url,
            body,
            retry_after,
        })
    }

    /// Looks for the memory of `event` in RAE, by the `metadata.event_id` every stored memory
    /// carries: among the newest memories of the event's project (`GET` on the store path,
    /// `project`, `limit` 1000, `sort=created_at:desc`), which is where a write whose answer
    /// was lost moments ago is. [`Lookup::Undecided`] when the page was full without it.
    ///
    /// # Errors
    /// [`RaeError`] when RAE cannot be asked.
    pub async fn find_event(&self, event: &Event) -> Result<Lookup, RaeError> {
        let limit = LOOKUP_LIMIT.to_string();
        let query = [
            ("project", event.project.as_str()),
            ("limit", limit.as_str()),
            ("sort", "created_at:desc"),
        ];
        let answer = self
            .get(&self.config.store_path, &event.tenant, &query)
            .await?;
        let results = answer
            .get("results")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let found = results.iter().find(|memory| {
            memory.pointer("/metadata/event_id").and_then(Value::as_str) == Some(&event.id)
        });
        Ok(match found {
            Some(memory) => Lookup::Found(
                memory
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            None if results.len() < LOOKUP_LIMIT => Lookup::Absent,
            None => Lookup::Undecided,
        })
    }

    /// Checks RAE's health route (`GET {base_url}{health_path}`).
    ///
    /// # Errors
    /// What went wrong, naming the URL: a refused connection, a timeout or a non-2xx answer.
    pub async fn check_health(&self) -> Result<(), String> {
        let url = self.url(&self.config.health_path);
        match self.http.get(&url).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("GET {url} answered {}", response.status().as_u16())),
            Err(e) => Err(self.transport_error(&url, e).to_string()),
        }
    }

    /// The URL of RAE's health route, for log lines.
    pub fn health_url(&self) -> String {
        self.url(&self.config.health_path)
    }

    fn transport_error(&self, url: &str, e: reqwest::Error) -> RaeError {
        if e.is_timeout() {
            RaeError::Timeout {
                url: url.to_owned(),
                timeout_ms: self.config.timeout_ms,
            }
        } else {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message = format!("{message}: {s}");
                source = s.source();
            }
            RaeError::Connect {
                url: url.to_owned(),
                message,
            }
        }
    }
}

/// The JSON RAE receives for an event: the memory plus `metadata` tracing it to the event.
pub fn store_body(event: &Event) -> Value {
    let mut metadata = Map::new();
    metadata.insert("event_id".into(), json!(event.id));
    metadata.insert("kind".into(), json!(event.kind));
    metadata.insert("source".into(), json!(event.source));
    metadata.insert("integration".into(), json!(event.integration));
    metadata.insert("tenant".into(), json!(event.tenant));
    if let Ok(at) = event
        .occurred_at
        .format(&time::format_description::well_known::Rfc3339)
    {
        metadata.insert("occurred_at".into(), json!(at));
    }
    if let Some(actor) = &event.actor {
        metadata.insert("actor".into(), json!(actor));
    }
    if let Some(url) = &event.url {
        metadata.insert("url".into(), json!(url));
    }
    if !event.attributes.is_empty() {
        metadata.insert("attributes".into(), Value::Object(event.attributes.clone()));
    }
    if let Some(enrichment) = &event.enrichment {
        metadata.insert("enrichment".into(), json!(enrichment));
    }
    // The sender's own name for where the event came from (the seed's `source: "my_app"`)
    // is what RAE users search by; our closed-set source stays in metadata.
    let source = event
        .attributes
        .get("origin")
        .and_then(Value::as_str)
        .unwrap_or(event.source.as_str());
    let mut body = json!({
        "content": event.content,
        "source": source,
        "project": event.project,
        "importance": event.importance.map(|i| i.max(IMPORTANCE_FLOOR)),
        "tags": event.tags,
        "layer": event.layer,
        "metadata": metadata,
    });
    // RAE's readable name for a memory, when the sender gave one (MCP's `human_label`), and
    // the conversation it belongs to.
    for (attribute, field) in [
        (crate::event::HUMAN_LABEL, "human_label"),
        (crate::event::SESSION_ID, "session_id"),
    ] {
        if let Some(value) = event.attributes.get(attribute).and_then(Value::as_str) {
            body[field] = json!(value);
        }
    }
    body
}

/// The importance sent for an event whose importance is 0: RAE stores `importance or 0.5`, so a
/// literal 0 would become 0.5, the middle of the scale; the smallest positive step keeps it at
/// the bottom.
pub const IMPORTANCE_FLOOR: f64 = 0.01;

/// Parses `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_unknown_until_checked_and_a_write_beats_an_older_failed_check() {
        let health = RaeHealth::default();
        assert_eq!(health.report().0, "unknown");
        health.checked(Err("GET http://rae:8000/health answered 503".into()));
        let (status, _, error) = health.report();
        assert_eq!(status, "down");
        assert!(error.unwrap().contains("answered 503"));
        health.stored();
        assert_eq!(health.report().0, "healthy");
        health.checked(Ok(()));
        assert_eq!(health.report().0, "healthy");
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(20));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(20))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(20));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn store_body_traces_back_to_the_event() {
        let mut event = crate::event::sample();
        event.importance = Some(0.8);
        event.tags = vec!["decision".into()];
        event.attributes.insert("origin".into(), json!("my_app"));
        let body = store_body(&event);
        assert_eq!(body["content"], "Team decided to use PostgreSQL");
        assert_eq!(body["source"], "my_app");
        assert_eq!(body["importance"], 0.8);
        assert!(body.get("human_label").is_none());
        event.importance = Some(0.0);
        assert_eq!(store_body(&event)["importance"], IMPORTANCE_FLOOR);
        event
            .attributes
            .insert("human_label".into(), json!("Fix: auth bug"));
        assert_eq!(store_body(&event)["human_label"], "Fix: auth bug");
        assert!(body.get("session_id").is_none());
        event
            .attributes
            .insert("session_id".into(), json!("github:acme/api#42"));
        assert_eq!(store_body(&event)["session_id"], "github:acme/api#42");
        assert_eq!(body["metadata"]["event_id"], json!(event.id));
        assert_eq!(body["metadata"]["source"], "webhook");
    }

    #[test]
    fn tenant_credentials_fall_back_in_order() {
        let mut tenants = BTreeMap::new();
        tenants.insert(
            "acme".to_owned(),
            TenantConfig {
                rae_tenant_id: Some("7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f".into()),
                api_key: Some(Secret::new("acme-key")),
                ..TenantConfig::default()
            },
        );
        let config = RaeConfig {
            api_key: Some(Secret::new("global-key")),
            ..RaeConfig::default()
        };
        let client = RaeClient::new(&config, &tenants).unwrap();
        let (id, key) = client.credentials("acme");
        assert_eq!(id, "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f");
        assert_eq!(key.unwrap().expose(), "acme-key");
        // Named by its RAE id, acme is still acme, with its own key.
        let (id, key) = client.credentials("7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f");
        assert_eq!(id, "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f");
        assert_eq!(key.unwrap().expose(), "acme-key");
        let (id, key) = client.credentials("unknown-alias");
        assert_eq!(id, "default-tenant");
        assert_eq!(key.unwrap().expose(), "global-key");
        // Bodies that carry `tenant_id` get a UUID: RAE maps the alias only in the header.
        assert_eq!(client.body_tenant_id("unknown-alias"), DEFAULT_TENANT_UUID);
        assert_eq!(client.body_tenant_id("default-tenant"), DEFAULT_TENANT_UUID);
        assert_eq!(
            client.body_tenant_id("acme"),
            "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f"
        );
    }
}
