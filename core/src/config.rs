//! Configuration: one `Config` tree loaded from embedded defaults, an optional YAML file and
//! environment overrides, then validated as a whole (DESIGN §9).
//!
//! Loading order: defaults (each a named `const fn` or `fn` below), then the file
//! (`integrations.yaml` by default) with `${VAR}` and `${VAR:-default}` expanded inside string
//! values, then the environment overrides of [`ENV_OVERRIDES`]. [`Config::validate`] reports every
//! problem with its field path before anything starts.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::Limits;

/// Default config file name, read when present and no other file is named.
pub const DEFAULT_FILE: &str = "integrations.yaml";

/// Id of the built-in generic webhook integration (`POST /api/v1/webhooks/memory`).
pub const DEFAULT_WEBHOOK_ID: &str = "memory";

/// RAE's own name for the tenant used when no tenant is configured.
pub const DEFAULT_TENANT: &str = "default-tenant";

/// Environment variables that override config fields, with the field each sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("NATS_URL", "nats.url"),
    ("NATS_REPLICAS", "nats.replicas"),
    ("RAE_BASE_URL", "rae.base_url"),
    ("RAE_API_KEY", "rae.api_key"),
    ("RAE_TENANT_ID", "rae.tenant_id"),
    ("RAE_WEBHOOK_SECRET", "integrations[memory].config.secrets"),
    ("RAE_PIPELINE_LISTEN", "ingress.listen"),
    ("RAE_PIPELINE_METRICS_LISTEN", "ingress.metrics_listen"),
    (
        "GITHUB_WEBHOOK_SECRET",
        "integrations[github].config.secrets",
    ),
    (
        "SLACK_SIGNING_SECRET",
        "integrations[slack].config.signing_secrets",
    ),
];

/// Id of the GitHub integration that `GITHUB_WEBHOOK_SECRET` enables.
pub const GITHUB_ID: &str = "github";

/// Id of the Slack integration that `SLACK_SIGNING_SECRET` enables.
pub const SLACK_ID: &str = "slack";

/// Id of the git integration, the kind of an integration of this id, and the integration of
/// `git-watch --repo`.
pub const GIT_ID: &str = "git";
/// Id of the email integration that `rae-pipeline mail` flags configure.
pub const EMAIL_ID: &str = "email";

/// A secret string: never printed by `Debug` and serialized redacted, so it cannot leak into
/// logs or `check-config` output.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (a header, an HMAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub nats: NatsConfig,
    pub rae: RaeConfig,
    pub ingress: IngressConfig,
    pub limits: LimitsConfig,
    pub enrich: EnrichConfig,
    pub writer: WriterConfig,
    /// The integration registry: each entry enables one producer route or role.
    pub integrations: Vec<IntegrationConfig>,
    /// Per-tenant RAE credentials and integration settings, keyed by the tenant alias used in
    /// events.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Keys of `POST /api/v1/memories` and the other key-authenticated routes.
    pub api_keys: Vec<ApiKeyConfig>,
}

/// Connection to NATS and the JetStream resources of DESIGN §3.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL(s), comma separated.
    pub url: String,
    /// Optional token or user/password for the connection.
    pub token: Option<Secret>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Stream replicas: 1 for one server, 3 on a cluster.
    pub replicas: usize,
    /// How long one publish waits for its JetStream ack before the ingress answers 503.
    pub publish_timeout_ms: u64,
    /// How long `connect` keeps retrying before giving up at start.
    pub connect_timeout_secs: u64,
    /// JetStream's duplicate window for `Nats-Msg-Id`.
    pub duplicate_window_secs: u64,
    pub events_max_age_days: u64,
    pub dlq_max_age_days: u64,
    pub audit_max_age_days: u64,
    /// How long provider delivery ids are remembered in `rae_dedupe`.
    pub dedupe_ttl_days: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            token: None,
            user: None,
            password: None,
            replicas: 1,
            publish_timeout_ms: 5_000,
            connect_timeout_secs: 10,
            duplicate_window_secs: 120,
            events_max_age_days: 7,
            dlq_max_age_days: 30,
            audit_max_age_days: 30,
            dedupe_ttl_days: 7,
        }
    }
}

/// How the API key is sent to RAE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaeAuth {
    /// `X-API-Key: <key>` (current RAE).
    ApiKey,
    /// `Authorization: Bearer <key>` (older deployments).
    Bearer,
}

/// The RAE HTTP service (DESIGN §5).
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
            reflection_path: "/v2/reflections/generate".into(),
            health_path: "/health".into(),
            timeout_ms: 10_000,
        }
    }
}

/// The HTTP ingress.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngressConfig {
    pub listen: String,
    /// Own listener for `GET /metrics`.
    pub metrics_listen: String,
    /// Larger bodies are refused with 413.
    pub max_body_bytes: usize,
    pub request_timeout_ms: u64,
    /// Accepted clock difference for signed timestamps.
    pub timestamp_tolerance_secs: u64,
    /// `Retry-After` sent with 503 when JetStream cannot take an event.
    pub retry_after_secs: u64,
    /// Tenant of events whose integration names none.
    pub default_tenant: String,
    pub default_project: String,
    /// Most memories in one `POST /api/v1/memories` request.
    pub max_batch: usize,
    /// Requests per API key or per integration; more are answered 429.
    pub rate_limit: RateLimitConfig,
}

/// A token bucket: `per_second` requests on average, bursts of up to `burst`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// 0 turns the limit off.
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: 1000.0,
            burst: 2000,
        }
    }
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            listen: "0.0.0.0:8080".into(),
            metrics_listen: "0.0.0.0:9464".into(),
            max_body_bytes: 1024 * 1024,
            request_timeout_ms: 10_000,
            timestamp_tolerance_secs: 300,
            retry_after_secs: 5,
            default_tenant: DEFAULT_TENANT.into(),
            default_project: "default".into(),
            max_batch: 100,
            rate_limit: RateLimitConfig::default(),
        }
    }
}

/// Size limits of events, applied by every producer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_content_bytes: usize,
    pub max_tags: usize,
    pub max_tag_chars: usize,
    pub max_metadata_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        LimitsConfig {
            max_content_bytes: l.max_content_bytes,
            max_tags: l.max_tags,
            max_tag_chars: l.max_tag_chars,
            max_metadata_bytes: l.max_attributes_bytes,
        }
    }
}

impl LimitsConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            max_content_bytes: self.max_content_bytes,
            max_tags: self.max_tags,
            max_tag_chars: self.max_tag_chars,
            max_attributes_bytes: self.max_metadata_bytes,
        }
    }
}

/// One base-importance rule: events of `source` (and `kind`, when given) start at `importance`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseImportance {
    pub source: String,
    #[serde(default)]
    pub kind: Option<String>,
    pub importance: f64,
}

/// One boost-and-tag rule of the enricher. It matches when every condition it sets holds;
/// then its `boost` is added to the importance and its `add_tags` to the tags.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    /// Recorded in the event's `enrichment` as `rule.<name>`.
    pub name: String,
    /// Only events of these sources (empty: any).
    pub sources: Vec<String>,
    /// Only events of these kinds; `pull_request_*` matches a prefix (empty: any).
    pub kinds: Vec<String>,
    /// At least one of these words or phrases in the content, case-insensitive, whole words.
    pub keywords: Vec<String>,
    /// A regular expression that must match the content.
    pub regex: Option<String>,
    /// At least one of these tags as the event arrived (GitHub labels, `#hashtags`, the git
    /// watcher's code-pattern tags; not tags other rules add).
    pub tags: Vec<String>,
    /// At least this many reactions (`attributes.reactions.total_count`).
    pub min_reactions: Option<u64>,
    /// Added to the importance; negative lowers it.
    pub boost: f64,
    pub add_tags: Vec<String>,
}

/// Enrichment settings of one tenant, on top of the global ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantEnrichConfig {
    pub default_importance: Option<f64>,
    /// Checked before the global base rules.
    pub base_importance: Vec<BaseImportance>,
    /// Applied after the global rules.
    pub rules: Vec<RuleConfig>,
}

/// Which Ollama API the LLM enrichment calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmApi {
    /// `POST /api/generate`
    Generate,
    /// `POST /api/chat`
    Chat,
}

/// Optional importance and tags from an Ollama-compatible LLM, after the rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    pub enabled: bool,
    pub url: String,
    pub api: LlmApi,
    pub model: String,
    /// An answer later than this is ignored and the rules' result kept.
    pub timeout_ms: u64,
    /// Calls in flight at once; an event that finds them all busy keeps the rules' result.
    pub max_concurrent: usize,
    /// Content sent to the model is cut to this many characters.
    pub max_content_chars: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            enabled: false,
            url: "http://127.0.0.1:11434".into(),
            api: LlmApi::Generate,
            model: "llama3".into(),
            timeout_ms: 2_000,
            max_concurrent: 4,
            max_content_chars: 4_000,
        }
    }
}

/// The enricher.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// Importance of events no rule matches.
    pub default_importance: f64,
    /// First match wins; a rule with a `kind` is checked before rules without one.
    pub base_importance: Vec<BaseImportance>,
    /// Turn `#hashtags` in the content into tags.
    pub hashtags: bool,
    /// Boost and tag rules, applied in order after the base importance.
    pub rules: Vec<RuleConfig>,
    /// Per-tenant overrides, by tenant alias.
    pub tenants: BTreeMap<String, TenantEnrichConfig>,
    pub llm: LlmConfig,
    pub ack_wait_secs: u64,
    /// Events enriched at once.
    pub concurrency: usize,
    /// Deliveries of one event before JetStream gives up on it (it then becomes a dead letter
    /// `max_deliveries`); 0 for no limit.
    pub max_deliveries: u64,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        let rule = |source: &str, kind: Option<&str>, importance| BaseImportance {
            source: source.into(),
            kind: kind.map(Into::into),
            importance,
        };
        EnrichConfig {
            default_importance: 0.5,
            base_importance: vec![
                rule("github", Some("workflow_run_failed"), 0.8),
                rule("github", Some("pull_request_merged"), 0.7),
                rule("github", Some("release_published"), 0.7),
                rule("github", Some("issue_opened"), 0.6),
                rule("github", Some("push"), 0.4),
                rule("github", Some("issue_comment"), 0.4),
                rule("git", Some("commit"), 0.4),
                rule("slack", None, 0.4),
                rule("email", None, 0.5),
            ],
            hashtags: true,
            rules: default_rules(),
            tenants: BTreeMap::new(),
            llm: LlmConfig::default(),
            ack_wait_secs: 30,
            concurrency: 64,
            max_deliveries: 100,
        }
    }
}

/// The shipped rule set: incidents, outages, failed deploys, security and decisions rank high;
/// chatter and typo fixes low. `docs/enrichment.md` shows its effect.
pub fn default_rules() -> Vec<RuleConfig> {
    let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    vec![
        RuleConfig {
            name: "incident".into(),
            keywords: words(&[
                "incident", "outage", "postmortem", "post-mortem", "sev1", "sev-1", "sev2",
                "sev-2", "downtime", "root cause", "rolled back", "rollback", "degraded",
            ]),
            tags: Vec::new(),
            boost: 0.3,
            add_tags: words(&["incident"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "incident-label".into(),
            tags: words(&["incident", "outage", "p0", "sev1", "critical"]),
            boost: 0.2,
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "failed-deploy".into(),
            regex: Some(
                r"(?i)\b(deploy(ment)?|release|rollout)s?\b.{0,40}\b(fail(ed|ing|ure)?|broke(n)?|error)\b|\b(fail(ed|ing|ure)?)\b.{0,40}\b(deploy(ment)?|rollout)\b"
                    .into(),
            ),
            boost: 0.25,
            add_tags: words(&["deploy"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "security".into(),
            keywords: words(&[
                "security", "vulnerability", "cve", "exploit", "breach", "leaked",
                "credential", "credentials", "xss", "csrf", "sql injection",
            ]),
            boost: 0.25,
            add_tags: words(&["security"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "security-code".into(),
            tags: words(&["security", "auth"]),
            boost: 0.15,
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "decision".into(),
            keywords: words(&[
                "decided", "decision", "we will use", "agreed", "adr", "going with",
                "chose", "approved",
            ]),
            boost: 0.2,
            add_tags: words(&["decision"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "risky-change".into(),
            tags: words(&["migration", "breaking-change", "dependencies", "revert", "api"]),
            boost: 0.1,
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "bug-label".into(),
            tags: words(&["bug", "regression"]),
            boost: 0.1,
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "popular".into(),
            min_reactions: Some(5),
            boost: 0.1,
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "chatter".into(),
            regex: Some(
                r"(?i)^\s*(thanks|thank you|thx|ty|lol|ok|okay|k|\+1|nice|cool|great|lgtm|done|yes|no|:[a-z_+-]+:)[\s.!]*$"
                    .into(),
            ),
            boost: -0.3,
            add_tags: words(&["chatter"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "trivial-change".into(),
            keywords: words(&["typo", "typos", "whitespace", "formatting", "fix lint", "bump version"]),
            boost: -0.2,
            add_tags: words(&["trivial"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "docs-or-chore-label".into(),
            tags: words(&["documentation", "docs", "chore", "dependabot"]),
            boost: -0.1,
            ..RuleConfig::default()
        },
    ]
}

/// The RAE writer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// RAE requests in flight at once.
    pub concurrency: usize,
    /// Deliveries of one event that failed while RAE accepted others, before it is
    /// dead-lettered as `retries_exhausted`.
    pub max_attempts: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Cap on a `Retry-After` from RAE.
    pub retry_after_max_secs: u64,
    /// Retryable failures in a row (across events) that open the breaker.
    pub breaker_failures: u32,
    /// First wait before a probe while the breaker is open; doubles up to `breaker_probe_max_ms`.
    pub breaker_probe_ms: u64,
    pub breaker_probe_max_ms: u64,
    pub ack_wait_secs: u64,
    /// Deliveries of one event before JetStream gives up on it (a dead letter
    /// `max_deliveries`): a backstop for events that crash or hang the writer. High, because
    /// while RAE is down the breaker's probes redeliver events too; 0 for no limit.
    pub max_deliveries: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            concurrency: 32,
            max_attempts: 10,
            backoff_base_ms: 250,
            backoff_max_ms: 30_000,
            retry_after_max_secs: 300,
            breaker_failures: 5,
            breaker_probe_ms: 500,
            breaker_probe_max_ms: 15_000,
            ack_wait_secs: 60,
            max_deliveries: 10_000,
        }
    }
}

/// What kind of producer an integration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// Generic signed webhook at `/api/v1/webhooks/{id}`.
    Webhook,
    /// GitHub webhooks at `/api/v1/integrations/{id}/webhook`.
    Github,
    /// Slack events and slash commands at `/api/v1/integrations/{id}/events` and `/commands`.
    Slack,
    /// Local git repositories watched by polling (`git-watch`, or `up`).
    Git,
    /// Mail: an SMTP listener and IMAP pollers (`producers/email`).
    Email,
}

/// One entry of the integration registry.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `webhook`, `github`, `slack` or `git`; when absent, `github`, `slack` and `git` for
    /// integrations of those ids and `webhook` otherwise (so the seed's `- id: slack` entry
    /// needs no kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<IntegrationKind>,
    /// The integration's own settings; each kind checks them at validation.
    #[serde(default)]
    pub config: serde_json::Value,
}

impl fmt::Debug for IntegrationConfig {
    /// The free-form `config` may hold secrets: it is shown redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut config = self.config.clone();
        redact(&mut config);
        f.debug_struct("IntegrationConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("kind", &self.kind)
            .field("config", &config)
            .finish()
    }
}

const fn default_true() -> bool {
    true
}

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
}

/// Settings of a GitHub integration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// Webhook secrets (`X-Hub-Signature-256`); several at once allow rotation.
    pub secrets: Vec<Secret>,
    /// Tenant of deliveries no tenant claims (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    pub project: Option<String>,
    /// `owner/repo` names stored for `tenant`; with `organizations` empty too, every
    /// repository not claimed by a tenant is.
    pub repositories: Vec<String>,
    pub organizations: Vec<String>,
}

/// Settings of a Slack integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// The app's signing secret (the seed's name for one secret).
    pub signing_secret: Option<Secret>,
    /// More signing secrets, for rotation.
    pub signing_secrets: Vec<Secret>,
    /// The bot token, kept for a later Slack API use; not needed to receive events.
    pub bot_token: Option<Secret>,
    /// Tenant of workspaces no tenant claims (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    pub project: Option<String>,
    /// Channels (ids like `C0123ABCD`, or names for slash commands) where the app works at
    /// all; empty allows every channel.
    pub channel_whitelist: Vec<String>,
    /// Channels whose messages are stored without being asked.
    pub auto_store_channels: Vec<String>,
    /// `response_url`s of slash commands must start with one of these.
    pub response_url_prefixes: Vec<String>,
    /// How long `/rae query` waits for RAE before answering later through `response_url`.
    pub command_deadline_ms: u64,
    /// Results shown by `/rae query`.
    pub query_results: usize,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            signing_secret: None,
            signing_secrets: Vec::new(),
            bot_token: None,
            tenant: None,
            project: None,
            channel_whitelist: Vec::new(),
            auto_store_channels: Vec::new(),
            response_url_prefixes: vec!["https://hooks.slack.com/".into()],
            command_deadline_ms: 2_500,
            query_results: 5,
        }
    }
}

impl SlackConfig {
    /// Every active signing secret.
    pub fn secrets(&self) -> Vec<Secret> {
        self.signing_secret
            .iter()
            .chain(&self.signing_secrets)
            .cloned()
            .collect()
    }
}

/// Settings of a git integration: local repositories whose commits (and optionally uncommitted
/// edits) become events (DESIGN §7). A repository's own settings win over these defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitConfig {
    pub repositories: Vec<GitRepositoryConfig>,
    /// Tenant of the repositories that name none (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    pub project: Option<String>,
    /// Branches watched in repositories that name none; empty follows the branch HEAD is on.
    pub branches: Vec<String>,
    /// Globs (`*.py`, `src/**/*.ts`) of paths that get their own `file_change` events; a glob
    /// without `/` matches the file name. Empty: commit events only.
    pub watch_patterns: Vec<String>,
    /// Also report uncommitted edits of matching paths in the working tree.
    pub working_tree: bool,
    /// How often refs (and the working tree) are looked at.
    pub poll_interval_ms: u64,
    /// An uncommitted edit must be unchanged this long before it is reported.
    pub debounce_ms: u64,
    /// Commits stored when a branch is first seen (its newest ones), instead of its history.
    pub initial_commits: usize,
    /// Changed files listed in a commit's content; the rest are counted.
    pub max_files_listed: usize,
    /// `file_change` events per commit (or per poll of the working tree); more matching paths
    /// become one event listing them.
    pub max_file_events: usize,
    /// Important-change recognition: which signals are tagged and how.
    pub important: GitImportantConfig,
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig {
            repositories: Vec::new(),
            tenant: None,
            project: None,
            branches: Vec::new(),
            watch_patterns: Vec::new(),
            working_tree: false,
            poll_interval_ms: 2_000,
            debounce_ms: 1_000,
            initial_commits: 10,
            max_files_listed: 20,
            max_file_events: 10,
            important: GitImportantConfig::default(),
        }
    }
}

/// One watched repository.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitRepositoryConfig {
    /// The work tree or bare repository (a path inside a work tree finds its repository).
    pub path: PathBuf,
    /// Names the repository in events, ids and cursors (default: the directory name); keep it
    /// when the directory moves, so nothing is stored twice.
    pub name: Option<String>,
    pub tenant: Option<String>,
    pub project: Option<String>,
    pub branches: Option<Vec<String>>,
    pub watch_patterns: Option<Vec<String>>,
    pub working_tree: Option<bool>,
}

impl GitRepositoryConfig {
    /// The configured name, else the last component of the path (without `.git`).
    pub fn name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let path = match self.path.file_name() {
            Some(last) if last == ".git" => self.path.parent().unwrap_or(&self.path),
            _ => &self.path,
        };
        let last = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repository".into());
        last.strip_suffix(".git").unwrap_or(&last).to_owned()
    }
}

/// Which important changes the git watcher tags (security, migration, dependencies, ci, api,
/// todo, revert, large-deletion) and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitImportantConfig {
    /// Built-in signals not to tag.
    pub disabled: Vec<String>,
    /// Lines removed beyond those added that make a `large-deletion`.
    pub large_deletion_lines: usize,
    /// Markers that make an added line a `todo`.
    pub todo_markers: Vec<String>,
    /// More path rules: paths matching `paths` get `tag`.
    pub rules: Vec<GitPathRule>,
}

impl Default for GitImportantConfig {
    fn default() -> Self {
        GitImportantConfig {
            disabled: Vec::new(),
            large_deletion_lines: 300,
            todo_markers: ["TODO", "FIXME", "HACK", "XXX"].map(Into::into).to_vec(),
            rules: Vec::new(),
        }
    }
}

/// A path rule of the git watcher's important-change recognition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitPathRule {
    pub tag: String,
    /// Globs as in `watch_patterns`.
    pub paths: Vec<String>,
}

/// The built-in signals of the git watcher, as named in `important.disabled` and in tags.
pub const GIT_SIGNALS: &[&str] = &[
    "security",
    "migration",
    "dependencies",
    "ci",
    "api",
    "todo",
    "revert",
    "large-deletion",
];

/// RAE credentials, defaults and integration settings for one tenant alias.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    /// `X-Tenant-Id` sent to RAE (a UUID or `default-tenant`); the alias itself when absent.
    pub rae_tenant_id: Option<String>,
    /// API key for this tenant; `rae.api_key` when absent.
    pub api_key: Option<Secret>,
    /// Project of this tenant's events when the input names none.
    pub project: Option<String>,
    /// The seed's per-tenant integration settings.
    pub integrations: TenantIntegrations,
}

/// Which outside accounts belong to a tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantIntegrations {
    pub github: Option<TenantGithub>,
    pub slack: Option<TenantSlack>,
}

/// GitHub repositories and organizations whose deliveries go to a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantGithub {
    pub enabled: bool,
    pub repositories: Vec<String>,
    pub organizations: Vec<String>,
    /// This tenant's own webhook secrets. When set, deliveries for its repositories must be
    /// signed with one of them (not the integration's shared secret), and these secrets sign
    /// for nobody else: a tenant's admins cannot write into another tenant.
    pub secrets: Vec<Secret>,
}

impl Default for TenantGithub {
    fn default() -> Self {
        TenantGithub {
            enabled: true,
            repositories: Vec::new(),
            organizations: Vec::new(),
            secrets: Vec::new(),
        }
    }
}

/// The Slack workspace of a tenant and its channels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSlack {
    pub enabled: bool,
    /// Team id (`T12345`) of the workspace.
    pub workspace_id: Option<String>,
    pub channel_whitelist: Vec<String>,
    pub auto_store_channels: Vec<String>,
}

impl Default for TenantSlack {
    fn default() -> Self {
        TenantSlack {
            enabled: true,
            workspace_id: None,
            channel_whitelist: Vec::new(),
            auto_store_channels: Vec::new(),
        }
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "memories:write")]
    MemoriesWrite,
    #[serde(rename = "memories:read")]
    MemoriesRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "dlq:admin")]
    DlqAdmin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MemoriesWrite => "memories:write",
            Scope::MemoriesRead => "memories:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::DlqAdmin => "dlq:admin",
        }
    }
}

/// One API key. The key itself is never stored: `sha256` is the hex SHA-256 of it (print it
/// with `rae-pipeline keys hash`), or `key` reads it from the environment (`key: ${MY_KEY}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Names the key in audit records, logs and rate limits.
    pub id: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub key: Option<Secret>,
    pub scopes: Vec<Scope>,
    /// Tenants the key may write to or read from; `"*"` allows every configured tenant.
    pub tenants: Vec<String>,
    /// The key is refused after this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_after: Option<time::OffsetDateTime>,
}

impl ApiKeyConfig {
    /// The key's SHA-256 digest, from `sha256` or by hashing `key`.
    pub fn digest(&self) -> Option<[u8; 32]> {
        if let Some(key) = &self.key {
            return Some(key_digest(key.expose()));
        }
        let hex_text = self.sha256.as_deref()?;
        let hex_text = hex_text.strip_prefix("sha256:").unwrap_or(hex_text);
        hex::decode(hex_text.trim()).ok()?.try_into().ok()
    }
}

/// SHA-256 of an API key, as configured in `api_keys[].sha256`.
pub fn key_digest(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// One thing wrong with the configuration, at a field path.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("invalid configuration ({} problem(s)):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
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

/// Where the file comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `integrations.yaml` when it exists, embedded defaults otherwise.
    Default,
    /// A file that must exist.
    File(PathBuf),
    /// YAML text (tests).
    Text(String),
}

impl Config {
    /// Loads defaults, the file and environment overrides, then validates.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the YAML error, or every invalid field with its path.
    pub fn load(
        source: &Source,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let (path, text) = match source {
            Source::Default => {
                let path = PathBuf::from(DEFAULT_FILE);
                match std::fs::read_to_string(&path) {
                    Ok(text) => (path, text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => (path, String::new()),
                    Err(source) => return Err(ConfigError::Read { path, source }),
                }
            }
            Source::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => (path.clone(), text),
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: path.clone(),
                        source,
                    })
                }
            },
            Source::Text(text) => (PathBuf::from("<text>"), text.clone()),
        };
        let mut config = parse(&path, &text, env)?;
        config.apply_env(env);
        config.add_default_webhook();
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Loads with the process environment.
    ///
    /// # Errors
    /// See [`Config::load`].
    pub fn load_from_env(source: &Source) -> Result<Config, ConfigError> {
        Config::load(source, &|name| std::env::var(name).ok())
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(v) = set("NATS_URL") {
            self.nats.url = v;
        }
        if let Some(v) = set("NATS_REPLICAS") {
            // A value that is not a number fails validation with the field named.
            self.nats.replicas = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = set("RAE_BASE_URL") {
            self.rae.base_url = v;
        }
        if let Some(v) = set("RAE_API_KEY") {
            self.rae.api_key = Some(Secret::new(v));
        }
        if let Some(v) = set("RAE_TENANT_ID") {
            self.rae.tenant_id = v;
        }
        if let Some(v) = set("RAE_PIPELINE_LISTEN") {
            self.ingress.listen = v;
        }
        if let Some(v) = set("RAE_PIPELINE_METRICS_LISTEN") {
            self.ingress.metrics_listen = v;
        }
        if let Some(secret) = set("RAE_WEBHOOK_SECRET") {
            self.add_default_webhook();
            self.set_setting(DEFAULT_WEBHOOK_ID, "secrets", serde_json::json!([secret]));
        }
        for (var, id, field, name) in [
            ("GITHUB_WEBHOOK_SECRET", GITHUB_ID, "secrets", "GitHub"),
            ("SLACK_SIGNING_SECRET", SLACK_ID, "signing_secrets", "Slack"),
        ] {
            if let Some(secret) = set(var) {
                if !self.integrations.iter().any(|i| i.id == id) {
                    self.integrations.push(IntegrationConfig {
                        id: id.into(),
                        name: Some(name.into()),
                        enabled: true,
                        kind: None,
                        config: serde_json::json!({}),
                    });
                }
                self.set_setting(id, field, serde_json::json!([secret]));
            }
        }
    }

    /// Sets one field of an integration's free-form settings.
    fn set_setting(&mut self, id: &str, field: &str, value: serde_json::Value) {
        if let Some(entry) = self.integrations.iter_mut().find(|i| i.id == id) {
            let mut settings = entry.config.as_object().cloned().unwrap_or_default();
            settings.insert(field.into(), value);
            entry.config = serde_json::Value::Object(settings);
        }
    }

    /// The generic `memory` webhook exists unless the file names it.
    fn add_default_webhook(&mut self) {
        if !self.integrations.iter().any(|i| i.id == DEFAULT_WEBHOOK_ID) {
            self.integrations.insert(
                0,
                IntegrationConfig {
                    id: DEFAULT_WEBHOOK_ID.into(),
                    name: Some("Generic memory webhook".into()),
                    enabled: true,
                    kind: Some(IntegrationKind::Webhook),
                    config: serde_json::json!({}),
                },
            );
        }
    }

    /// Every problem with its field path; empty when the config is usable.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| {
            problems.push(Problem {
                path: path.into(),
                message: message.into(),
            })
        };

        for (i, url) in self.nats.url.split(',').enumerate() {
            let url = url.trim();
            let ok =
                url.starts_with("nats://") || url.starts_with("tls://") || !url.contains("://");
            if url.is_empty() || !ok {
                bad(&format!("nats.url[{i}]"), "must be a nats:// or tls:// URL");
            }
        }
        if self.nats.replicas == 0 || self.nats.replicas > 5 {
            bad("nats.replicas", "must be 1 to 5");
        }
        for (path, value) in [
            ("nats.publish_timeout_ms", self.nats.publish_timeout_ms),
            (
                "nats.duplicate_window_secs",
                self.nats.duplicate_window_secs,
            ),
            ("nats.events_max_age_days", self.nats.events_max_age_days),
            ("nats.dlq_max_age_days", self.nats.dlq_max_age_days),
            ("nats.audit_max_age_days", self.nats.audit_max_age_days),
            ("nats.dedupe_ttl_days", self.nats.dedupe_ttl_days),
            ("rae.timeout_ms", self.rae.timeout_ms),
            (
                "ingress.request_timeout_ms",
                self.ingress.request_timeout_ms,
            ),
            ("enrich.ack_wait_secs", self.enrich.ack_wait_secs),
            ("writer.max_attempts", self.writer.max_attempts),
            ("writer.backoff_base_ms", self.writer.backoff_base_ms),
            ("writer.breaker_probe_ms", self.writer.breaker_probe_ms),
            ("writer.ack_wait_secs", self.writer.ack_wait_secs),
        ] {
            if value == 0 {
                bad(path, "must be greater than 0");
            }
        }
        for (path, value) in [
            ("enrich.concurrency", self.enrich.concurrency),
            ("writer.concurrency", self.writer.concurrency),
        ] {
            if value > 10_000 {
                bad(path, "must be at most 10000");
            }
        }
        for (path, value) in [
            ("ingress.max_body_bytes", self.ingress.max_body_bytes),
            ("limits.max_content_bytes", self.limits.max_content_bytes),
            ("limits.max_tag_chars", self.limits.max_tag_chars),
            ("enrich.concurrency", self.enrich.concurrency),
            ("writer.concurrency", self.writer.concurrency),
        ] {
            if value == 0 {
                bad(path, "must be greater than 0");
            }
        }
        if self.writer.backoff_max_ms < self.writer.backoff_base_ms {
            bad(
                "writer.backoff_max_ms",
                "must be at least writer.backoff_base_ms",
            );
        }
        if self.writer.breaker_probe_max_ms < self.writer.breaker_probe_ms {
            bad(
                "writer.breaker_probe_max_ms",
                "must be at least writer.breaker_probe_ms",
            );
        }
        if self.writer.ack_wait_secs.saturating_mul(1000) <= self.rae.timeout_ms {
            bad(
                "writer.ack_wait_secs",
                "must be longer than rae.timeout_ms, or JetStream redelivers writes still in flight",
            );
        }
        for (path, value, max) in [
            (
                "writer.retry_after_max_secs",
                self.writer.retry_after_max_secs,
                86_400,
            ),
            (
                "writer.backoff_max_ms",
                self.writer.backoff_max_ms,
                86_400_000,
            ),
            (
                "writer.breaker_probe_max_ms",
                self.writer.breaker_probe_max_ms,
                86_400_000,
            ),
            ("rae.timeout_ms", self.rae.timeout_ms, 3_600_000),
        ] {
            if value > max {
                bad(path, &format!("must be at most {max}"));
            }
        }
        if self.writer.max_deliveries != 0 && self.writer.max_deliveries <= self.writer.max_attempts
        {
            bad(
                "writer.max_deliveries",
                "must be 0 (no limit) or more than writer.max_attempts",
            );
        }
        if self.writer.breaker_failures == 0 {
            bad("writer.breaker_failures", "must be greater than 0");
        }
        match reqwest::Url::parse(&self.rae.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => bad("rae.base_url", "must be an http:// or https:// URL"),
        }
        for (path, value) in [
            ("rae.store_path", &self.rae.store_path),
            ("rae.query_path", &self.rae.query_path),
            ("rae.graph_path", &self.rae.graph_path),
            ("rae.reflection_path", &self.rae.reflection_path),
            ("rae.health_path", &self.rae.health_path),
        ] {
            if !value.starts_with('/') {
                bad(path, "must start with /");
            }
        }
        if !is_rae_tenant_id(&self.rae.tenant_id) {
            bad("rae.tenant_id", "must be a UUID or exactly default-tenant");
        }
        for (path, value) in [
            ("ingress.listen", &self.ingress.listen),
            ("ingress.metrics_listen", &self.ingress.metrics_listen),
        ] {
            if value.parse::<SocketAddr>().is_err() {
                bad(path, "must be an address like 0.0.0.0:8080");
            }
        }
        if !self.tenant_resolves(&self.ingress.default_tenant) {
            bad(
                "ingress.default_tenant",
                "must be a UUID, default-tenant, or an alias listed under tenants",
            );
        }
        if self.ingress.default_project.trim().is_empty() {
            bad("ingress.default_project", "must not be empty");
        }
        if !(0.0..=1.0).contains(&self.enrich.default_importance) {
            bad("enrich.default_importance", "must be between 0 and 1");
        }
        for (path, rules) in std::iter::once(("enrich.rules".to_owned(), &self.enrich.rules)).chain(
            self.enrich
                .tenants
                .iter()
                .map(|(alias, t)| (format!("enrich.tenants.{alias}.rules"), &t.rules)),
        ) {
            for (i, rule) in rules.iter().enumerate() {
                for p in rule.problems() {
                    bad(&format!("{path}[{i}]{}", p.path), &p.message);
                }
            }
        }
        for (alias, tenant) in &self.enrich.tenants {
            if let Some(d) = tenant.default_importance {
                if !(0.0..=1.0).contains(&d) {
                    bad(
                        &format!("enrich.tenants.{alias}.default_importance"),
                        "must be between 0 and 1",
                    );
                }
            }
            if !self.tenant_resolves(alias) {
                bad(&format!("enrich.tenants.{alias}"), TENANT_MESSAGE_SHORT);
            }
        }
        let llm = &self.enrich.llm;
        if llm.enabled {
            match reqwest::Url::parse(&llm.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => bad("enrich.llm.url", "must be an http:// or https:// URL"),
            }
            if llm.model.trim().is_empty() {
                bad("enrich.llm.model", "must name a model");
            }
            if llm.timeout_ms == 0 || llm.timeout_ms > 60_000 {
                bad("enrich.llm.timeout_ms", "must be 1 to 60000");
            }
            if llm.max_concurrent == 0 {
                bad("enrich.llm.max_concurrent", "must be greater than 0");
            }
            if llm.max_content_chars == 0 {
                bad("enrich.llm.max_content_chars", "must be greater than 0");
            }
        }
        for (i, rule) in self.enrich.base_importance.iter().enumerate() {
            if !(0.0..=1.0).contains(&rule.importance) {
                bad(
                    &format!("enrich.base_importance[{i}].importance"),
                    "must be between 0 and 1",
                );
            }
            if rule.source.parse::<crate::event::Source>().is_err() {
                bad(
                    &format!("enrich.base_importance[{i}].source"),
                    &format!("must be one of {}", crate::event::Source::names()),
                );
            }
        }
        let mut seen = Vec::new();
        for (i, integration) in self.integrations.iter().enumerate() {
            let path = format!("integrations[{i}]");
            if integration.id.is_empty()
                || crate::subjects::token(&integration.id) != integration.id
            {
                bad(
                    &format!("{path}.id"),
                    "must be lowercase letters, digits, _ or -",
                );
            }
            if seen.contains(&&integration.id) {
                bad(&format!("{path}.id"), "is used by another integration");
            }
            seen.push(&integration.id);
            let tenant_ok =
                |tenant: &Option<String>| tenant.as_ref().is_none_or(|t| self.tenant_resolves(t));
            let secrets_ok = |secrets: &[Secret], field: &str, problems: &mut Vec<Problem>| {
                for (j, secret) in secrets.iter().enumerate() {
                    if secret.expose().len() < 8 {
                        problems.push(Problem::new(
                            format!("{path}.config.{field}[{j}]"),
                            "must be at least 8 characters",
                        ));
                    }
                }
                if integration.enabled && secrets.is_empty() && integration.id != DEFAULT_WEBHOOK_ID
                {
                    problems.push(Problem::new(
                        format!("{path}.config.{field}"),
                        "needs at least one secret",
                    ));
                }
            };
            const TENANT_MESSAGE: &str =
                "must be a UUID, default-tenant, or an alias listed under tenants";
            let mut settings_problems = Vec::new();
            match integration.kind() {
                IntegrationKind::Webhook => match integration.settings::<WebhookConfig>() {
                    Ok(webhook) => {
                        secrets_ok(&webhook.secrets, "secrets", &mut settings_problems);
                        if !tenant_ok(&webhook.tenant) {
                            bad(&format!("{path}.config.tenant"), TENANT_MESSAGE);
                        }
                    }
                    Err(problem) => {
                        bad(&format!("{path}.config{}", problem.path), &problem.message)
                    }
                },
                IntegrationKind::Github => match integration.settings::<GithubConfig>() {
                    Ok(github) => {
                        secrets_ok(&github.secrets, "secrets", &mut settings_problems);
                        if !tenant_ok(&github.tenant) {
                            bad(&format!("{path}.config.tenant"), TENANT_MESSAGE);
                        }
                        for (j, repo) in github.repositories.iter().enumerate() {
                            if !is_repository(repo) {
                                bad(
                                    &format!("{path}.config.repositories[{j}]"),
                                    "must look like owner/repo",
                                );
                            }
                        }
                    }
                    Err(problem) => {
                        bad(&format!("{path}.config{}", problem.path), &problem.message)
                    }
                },
                IntegrationKind::Email => match integration.settings::<EmailConfig>() {
                    Ok(email) => {
                        if !tenant_ok(&email.tenant) {
                            bad(&format!("{path}.config.tenant"), TENANT_MESSAGE);
                        }
                        for p in email.problems(integration.enabled) {
                            bad(&format!("{path}.config{}", p.path), &p.message);
                        }
                    }
                    Err(problem) => {
                        bad(&format!("{path}.config{}", problem.path), &problem.message)
                    }
                },
                IntegrationKind::Slack => match integration.settings::<SlackConfig>() {
                    Ok(slack) => {
                        secrets_ok(&slack.secrets(), "signing_secrets", &mut settings_problems);
                        if !tenant_ok(&slack.tenant) {
                            bad(&format!("{path}.config.tenant"), TENANT_MESSAGE);
                        }
                        if slack.command_deadline_ms == 0 || slack.command_deadline_ms > 2_900 {
                            bad(
                                &format!("{path}.config.command_deadline_ms"),
                                "must be 1 to 2900: Slack gives up on an answer after 3 s",
                            );
                        }
                        for (j, prefix) in slack.response_url_prefixes.iter().enumerate() {
                            let ok = reqwest::Url::parse(prefix).is_ok_and(|u| {
                                matches!(u.scheme(), "http" | "https")
                                    && u.host_str().is_some()
                                    && prefix.ends_with('/')
                            });
                            if !ok {
                                bad(
                                    &format!("{path}.config.response_url_prefixes[{j}]"),
                                    "must be an http(s) URL ending in / (like https://hooks.slack.com/)",
                                );
                            }
                        }
                        if slack.query_results == 0 || slack.query_results > 20 {
                            bad(&format!("{path}.config.query_results"), "must be 1 to 20");
                        }
                    }
                    Err(problem) => {
                        bad(&format!("{path}.config{}", problem.path), &problem.message)
                    }
                },
                IntegrationKind::Git => match integration.settings::<GitConfig>() {
                    Ok(git) => validate_git(self, &git, integration.enabled, &path, &mut bad),
                    Err(problem) => {
                        bad(&format!("{path}.config{}", problem.path), &problem.message)
                    }
                },
            }
            for p in settings_problems {
                bad(&p.path, &p.message);
            }
        }
        let mut claims: BTreeMap<String, &String> = BTreeMap::new();
        for (alias, tenant) in &self.tenants {
            let Some(github) = tenant.integrations.github.as_ref().filter(|g| g.enabled) else {
                continue;
            };
            for (j, secret) in github.secrets.iter().enumerate() {
                if secret.expose().len() < 8 {
                    bad(
                        &format!("tenants.{alias}.integrations.github.secrets[{j}]"),
                        "must be at least 8 characters",
                    );
                }
            }
            for (field, names) in [
                ("repositories", &github.repositories),
                ("organizations", &github.organizations),
            ] {
                for (j, name) in names.iter().enumerate() {
                    let at = format!("tenants.{alias}.integrations.github.{field}[{j}]");
                    if field == "repositories" && !is_repository(name) {
                        bad(&at, "must look like owner/repo");
                    }
                    let key = format!("{field}:{}", name.to_ascii_lowercase());
                    if let Some(other) = claims.insert(key, alias) {
                        bad(&at, &format!("is also claimed by tenant {other}"));
                    }
                }
            }
        }
        let mut workspaces: BTreeMap<&String, &String> = BTreeMap::new();
        for (alias, tenant) in &self.tenants {
            let workspace = tenant.integrations.slack.as_ref().filter(|s| s.enabled);
            if let Some(id) = workspace.and_then(|s| s.workspace_id.as_ref()) {
                if let Some(other) = workspaces.insert(id, alias) {
                    bad(
                        &format!("tenants.{alias}.integrations.slack.workspace_id"),
                        &format!("is also claimed by tenant {other}"),
                    );
                }
            }
        }
        let mut key_ids = Vec::new();
        let mut digests = Vec::new();
        for (i, key) in self.api_keys.iter().enumerate() {
            let path = format!("api_keys[{i}]");
            if key.id.is_empty() || crate::subjects::token(&key.id) != key.id {
                bad(
                    &format!("{path}.id"),
                    "must be lowercase letters, digits, _ or -",
                );
            }
            if key_ids.contains(&&key.id) {
                bad(&format!("{path}.id"), "is used by another key");
            }
            key_ids.push(&key.id);
            match (&key.sha256, &key.key) {
                (Some(_), Some(_)) => bad(&path, "set sha256 or key, not both"),
                (None, None) => bad(
                    &format!("{path}.sha256"),
                    "is required (print it with `rae-pipeline keys hash`), or set key",
                ),
                (None, Some(k)) if k.expose().len() < 16 => {
                    bad(&format!("{path}.key"), "must be at least 16 characters")
                }
                _ => match key.digest() {
                    None => bad(&format!("{path}.sha256"), "must be 64 hex digits"),
                    Some(digest) if digests.contains(&digest) => {
                        bad(&path, "has the same key as another entry")
                    }
                    Some(digest) => digests.push(digest),
                },
            }
            if key.scopes.is_empty() {
                bad(&format!("{path}.scopes"), "must name at least one scope");
            }
            if key.tenants.is_empty() {
                bad(
                    &format!("{path}.tenants"),
                    "must name at least one tenant, or \"*\"",
                );
            }
            for (j, tenant) in key.tenants.iter().enumerate() {
                if tenant != "*" && !self.tenant_resolves(tenant) {
                    bad(&format!("{path}.tenants[{j}]"), TENANT_LIST_MESSAGE);
                }
            }
        }
        if self.ingress.max_batch == 0 || self.ingress.max_batch > 10_000 {
            bad("ingress.max_batch", "must be 1 to 10000");
        }
        let rate = &self.ingress.rate_limit;
        if !rate.per_second.is_finite()
            || rate.per_second < 0.0
            || (rate.per_second > 0.0 && rate.per_second < 0.001)
        {
            bad(
                "ingress.rate_limit.per_second",
                "must be 0 (off) or at least 0.001",
            );
        }
        if rate.per_second > 0.0 && rate.burst == 0 {
            bad("ingress.rate_limit.burst", "must be at least 1");
        }
        for (alias, tenant) in &self.tenants {
            if let Some(id) = &tenant.rae_tenant_id {
                if !is_rae_tenant_id(id) {
                    bad(
                        &format!("tenants.{alias}.rae_tenant_id"),
                        "must be a UUID or exactly default-tenant",
                    );
                }
            } else if !is_rae_tenant_id(alias) {
                bad(
                    &format!("tenants.{alias}.rae_tenant_id"),
                    "is required when the alias is not a UUID",
                );
            }
        }
        problems
    }

    /// True when events of `tenant` have RAE credentials: a RAE tenant id itself or an alias
    /// under `tenants`. Anything else would silently land in `rae.tenant_id`.
    pub fn tenant_resolves(&self, tenant: &str) -> bool {
        is_rae_tenant_id(tenant) || self.tenants.contains_key(tenant)
    }

    /// The enabled integrations of one kind.
    pub fn integrations_of(
        &self,
        kind: IntegrationKind,
    ) -> impl Iterator<Item = &IntegrationConfig> {
        self.integrations
            .iter()
            .filter(move |i| i.enabled && i.kind() == kind)
    }

    /// The integration with this id, when it exists and is enabled.
    pub fn integration(&self, id: &str) -> Option<&IntegrationConfig> {
        self.integrations.iter().find(|i| i.id == id && i.enabled)
    }

    /// The config as YAML with every secret redacted, for `check-config`.
    pub fn redacted_yaml(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        redact(&mut value);
        yaml_serde::to_string(&value).unwrap_or_default()
    }
}

/// Redacts secrets inside free-form integration settings, whose types the tree does not know.
fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let k = key.to_ascii_lowercase();
                let sensitive = ["secret", "token", "password", "api_key", "key"]
                    .iter()
                    .any(|s| k.contains(s));
                if sensitive && !v.is_null() {
                    *v = match v {
                        serde_json::Value::Array(items) => serde_json::Value::Array(
                            items.iter().map(|_| "<redacted>".into()).collect(),
                        ),
                        _ => "<redacted>".into(),
                    };
                } else {
                    redact(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

const TENANT_MESSAGE_SHORT: &str =
    "must be a UUID, default-tenant, or an alias listed under tenants";

impl RuleConfig {
    /// What is wrong with this rule, paths relative to it.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(Problem::new(".name", "must not be empty"));
        }
        if let Some(regex) = &self.regex {
            if let Err(e) = regex::RegexBuilder::new(regex).size_limit(1 << 20).build() {
                problems.push(Problem::new(".regex", format!("is not a valid regex: {e}")));
            }
        }
        if !self.boost.is_finite() || !(-1.0..=1.0).contains(&self.boost) {
            problems.push(Problem::new(".boost", "must be between -1 and 1"));
        }
        if self.boost == 0.0 && self.add_tags.is_empty() {
            problems.push(Problem::new("", "does nothing: set boost or add_tags"));
        }
        for (j, source) in self.sources.iter().enumerate() {
            if source.parse::<crate::event::Source>().is_err() {
                problems.push(Problem::new(
                    format!(".sources[{j}]"),
                    format!("must be one of {}", crate::event::Source::names()),
                ));
            }
        }
        for (j, keyword) in self.keywords.iter().enumerate() {
            if keyword.trim().is_empty() {
                problems.push(Problem::new(format!(".keywords[{j}]"), "must not be empty"));
            }
        }
        problems
    }
}

/// Problems of a git integration's settings, reported under `{path}.config`.
fn validate_git(
    config: &Config,
    git: &GitConfig,
    enabled: bool,
    path: &str,
    bad: &mut dyn FnMut(&str, &str),
) {
    let at = |field: &str| format!("{path}.config.{field}");
    const TENANT_MESSAGE: &str = "must be a UUID, default-tenant, or an alias listed under tenants";
    if enabled && git.repositories.is_empty() {
        bad(&at("repositories"), "needs at least one repository");
    }
    if git
        .tenant
        .as_ref()
        .is_some_and(|t| !config.tenant_resolves(t))
    {
        bad(&at("tenant"), TENANT_MESSAGE);
    }
    if !(100..=3_600_000).contains(&git.poll_interval_ms) {
        bad(&at("poll_interval_ms"), "must be 100 to 3600000");
    }
    if git.debounce_ms > 600_000 {
        bad(&at("debounce_ms"), "must be at most 600000");
    }
    if git.initial_commits > 1_000 {
        bad(&at("initial_commits"), "must be at most 1000");
    }
    if git.max_files_listed == 0 || git.max_files_listed > 1_000 {
        bad(&at("max_files_listed"), "must be 1 to 1000");
    }
    if git.max_file_events == 0 || git.max_file_events > 1_000 {
        bad(&at("max_file_events"), "must be 1 to 1000");
    }
    let branches_ok = |branches: &[String], field: &str, bad: &mut dyn FnMut(&str, &str)| {
        for (j, branch) in branches.iter().enumerate() {
            let invalid = branch.is_empty()
                || branch.starts_with('-')
                || branch.ends_with('/')
                || branch.contains("..")
                || branch
                    .chars()
                    .any(|c| c.is_whitespace() || "~^:?*[\\".contains(c));
            if invalid {
                bad(
                    &format!("{field}[{j}]"),
                    "must be a branch name like main or release/1.2",
                );
            }
        }
    };
    let patterns_ok = |patterns: &[String], field: &str, bad: &mut dyn FnMut(&str, &str)| {
        for (j, pattern) in patterns.iter().enumerate() {
            if pattern.trim().is_empty() {
                bad(&format!("{field}[{j}]"), "must not be empty");
            }
        }
    };
    branches_ok(&git.branches, &at("branches"), bad);
    patterns_ok(&git.watch_patterns, &at("watch_patterns"), bad);
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (j, repo) in git.repositories.iter().enumerate() {
        let repo_at = |field: &str| format!("{path}.config.repositories[{j}].{field}");
        if repo.path.as_os_str().is_empty() {
            bad(&repo_at("path"), "is required");
        }
        let name = repo.name();
        if name.trim().is_empty() || name.len() > 128 || name.contains('/') {
            bad(&repo_at("name"), "must be 1 to 128 characters without /");
        } else if let Some(other) = names.insert(name.clone(), j) {
            bad(
                &repo_at("name"),
                &format!("{name:?} is also the name of repositories[{other}]: set name to tell them apart"),
            );
        }
        if repo
            .tenant
            .as_ref()
            .is_some_and(|t| !config.tenant_resolves(t))
        {
            bad(&repo_at("tenant"), TENANT_MESSAGE);
        }
        if repo.project.as_ref().is_some_and(|p| p.trim().is_empty()) {
            bad(&repo_at("project"), "must not be empty");
        }
        if let Some(branches) = &repo.branches {
            branches_ok(branches, &repo_at("branches"), bad);
        }
        if let Some(patterns) = &repo.watch_patterns {
            patterns_ok(patterns, &repo_at("watch_patterns"), bad);
        }
    }
    let important = &git.important;
    for (j, signal) in important.disabled.iter().enumerate() {
        if !GIT_SIGNALS.contains(&signal.as_str()) {
            bad(
                &format!("{path}.config.important.disabled[{j}]"),
                &format!("must be one of {}", GIT_SIGNALS.join(", ")),
            );
        }
    }
    if important.large_deletion_lines == 0 {
        bad(
            &at("important.large_deletion_lines"),
            "must be greater than 0",
        );
    }
    for (j, marker) in important.todo_markers.iter().enumerate() {
        if marker.trim().is_empty() {
            bad(
                &format!("{path}.config.important.todo_markers[{j}]"),
                "must not be empty",
            );
        }
    }
    for (j, rule) in important.rules.iter().enumerate() {
        let rule_at = format!("{path}.config.important.rules[{j}]");
        if rule.tag.trim().is_empty() || rule.tag.chars().count() > 64 {
            bad(&format!("{rule_at}.tag"), "must be 1 to 64 characters");
        }
        if rule.paths.is_empty() {
            bad(&format!("{rule_at}.paths"), "must name at least one glob");
        }
        patterns_ok(&rule.paths, &format!("{rule_at}.paths"), bad);
    }
}

const TENANT_LIST_MESSAGE: &str =
    "must be \"*\", a UUID, default-tenant, or an alias listed under tenants";

/// `owner/repo`.
fn is_repository(name: &str) -> bool {
    matches!(name.split_once('/'), Some((owner, repo)) if !owner.is_empty() && !repo.is_empty() && !repo.contains('/'))
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl IntegrationConfig {
    /// The kind, given or inferred from the id.
    pub fn kind(&self) -> IntegrationKind {
        self.kind.unwrap_or(match self.id.as_str() {
            GITHUB_ID => IntegrationKind::Github,
            SLACK_ID => IntegrationKind::Slack,
            GIT_ID => IntegrationKind::Git,
            EMAIL_ID => IntegrationKind::Email,
            _ => IntegrationKind::Webhook,
        })
    }

    /// The settings of a webhook integration.
    ///
    /// # Errors
    /// A [`Problem`] whose path is relative to `config`.
    pub fn webhook(&self) -> Result<WebhookConfig, Problem> {
        self.settings()
    }

    /// The integration's settings as the type of its kind.
    ///
    /// # Errors
    /// A [`Problem`] whose path is relative to `config`.
    pub fn settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, Problem> {
        let value = if self.config.is_null() {
            serde_json::json!({})
        } else {
            self.config.clone()
        };
        serde_path_to_error::deserialize(value).map_err(|e| Problem {
            path: match e.path().to_string().as_str() {
                "." => String::new(),
                p => format!(".{p}"),
            },
            message: e.inner().to_string(),
        })
    }
}

/// RAE accepts a UUID or exactly `default-tenant` in `X-Tenant-Id`.
pub fn is_rae_tenant_id(id: &str) -> bool {
    id == DEFAULT_TENANT || uuid::Uuid::parse_str(id).is_ok()
}

fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut value: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|e| ConfigError::Yaml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if value.is_null() {
        return Ok(Config::default());
    }
    let mut problems = Vec::new();
    expand_value(&mut value, String::new(), env, &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        ConfigError::Invalid(vec![Problem {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        }])
    })
}

fn expand_value(
    value: &mut yaml_serde::Value,
    path: String,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    match value {
        yaml_serde::Value::String(s) => match expand(s, env) {
            Ok(expanded) => *s = expanded,
            Err(message) => problems.push(Problem { path, message }),
        },
        yaml_serde::Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_value(item, format!("{path}[{i}]"), env, problems);
            }
        }
        yaml_serde::Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().unwrap_or("?");
                let child = if path.is_empty() {
                    key.to_owned()
                } else {
                    format!("{path}.{key}")
                };
                expand_value(item, child, env, problems);
            }
        }
        yaml_serde::Value::Tagged(tagged) => expand_value(&mut tagged.value, path, env, problems),
        _ => {}
    }
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
///
/// # Errors
/// A message naming an unset variable that has no default, or an unclosed `${`.
pub fn expand(input: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(format!("unclosed ${{ in {input:?}"));
            };
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set (use ${{{name}:-default}} for a default)"
                    ))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn no_file_gives_the_documented_defaults() {
        let config = Config::load(&Source::Text(String::new()), &env_of(&[])).unwrap();
        assert_eq!(config.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(config.rae.base_url, "http://127.0.0.1:8000");
        assert_eq!(config.ingress.listen, "0.0.0.0:8080");
        assert_eq!(config.ingress.max_body_bytes, 1024 * 1024);
        assert_eq!(config.integrations[0].id, DEFAULT_WEBHOOK_ID);
    }

    #[test]
    fn env_expansion_with_defaults_and_escapes() {
        let env = env_of(&[("HOST", "rae.local")]);
        assert_eq!(
            expand("http://${HOST}:8000", &env).unwrap(),
            "http://rae.local:8000"
        );
        assert_eq!(expand("${MISSING:-x}", &env).unwrap(), "x");
        assert_eq!(expand("$$HOME", &env).unwrap(), "$HOME");
        let err = expand("${MISSING}", &env).unwrap_err();
        assert!(err.contains("MISSING"), "{err}");
    }

    #[test]
    fn unset_variable_is_reported_with_its_path() {
        let text = "rae:\n  api_key: ${RAE_KEY_FOR_TEST}\n";
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        assert_eq!(err.problems()[0].path, "rae.api_key");
        assert!(err.problems()[0].message.contains("RAE_KEY_FOR_TEST"));
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let text = "nats:\n  url: nats://file:4222\n";
        let env = env_of(&[
            ("NATS_URL", "nats://env:4222"),
            ("RAE_WEBHOOK_SECRET", "s3cret-from-env"),
        ]);
        let config = Config::load(&Source::Text(text.into()), &env).unwrap();
        assert_eq!(config.nats.url, "nats://env:4222");
        let webhook = config
            .integration(DEFAULT_WEBHOOK_ID)
            .unwrap()
            .webhook()
            .unwrap();
        assert_eq!(webhook.secrets[0].expose(), "s3cret-from-env");
    }

    #[test]
    fn validation_lists_every_problem_with_its_path() {
        let text = r#"
rae:
  base_url: "ftp://x"
  tenant_id: "acme"
  graph_path: "v2/graph/query"
  reflection_path: ""
ingress:
  listen: "nowhere"
writer:
  concurrency: 0
integrations:
  - id: ci
    config:
      secrets: ["short"]
      tenant: acme2
  - id: Bad.Id
    config: { secrets: ["longenough"], colour: red }
"#;
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "rae.base_url",
            "rae.tenant_id",
            "rae.graph_path",
            "rae.reflection_path",
            "ingress.listen",
            "writer.concurrency",
            "integrations[1].config.secrets[0]",
            "integrations[1].config.tenant",
            "integrations[2].id",
            "integrations[2].config.colour",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
    }

    #[test]
    fn keys_integrations_and_tenant_claims_are_validated() {
        let text = r#"
integrations:
  - id: github
    config: { secrets: [] }
  - id: slack
    config: { signing_secret: "slack-secret", command_deadline_ms: 5000 }
tenants:
  a:
    rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f
    integrations:
      github: { organizations: [Acme], repositories: [not-a-repo] }
      slack: { workspace_id: T1 }
  b:
    rae_tenant_id: 11111111-2222-3333-4444-555555555555
    integrations:
      github: { organizations: [acme] }
      slack: { workspace_id: T1 }
api_keys:
  - { id: k1, sha256: "abc", scopes: ["memories:write"], tenants: [a] }
  - { id: k2, key: "short", scopes: [], tenants: [] }
  - { id: k3, scopes: ["dlq:admin"], tenants: [nobody] }
"#;
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "integrations[1].config.secrets",
            "integrations[2].config.command_deadline_ms",
            "tenants.a.integrations.github.repositories[0]",
            "tenants.b.integrations.github.organizations[0]",
            "tenants.b.integrations.slack.workspace_id",
            "api_keys[0].sha256",
            "api_keys[1].key",
            "api_keys[1].scopes",
            "api_keys[1].tenants",
            "api_keys[2].sha256",
            "api_keys[2].tenants[0]",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
        let scopes = "api_keys:\n  - { id: k, key: long-enough-key-123, scopes: [\"memories:delete\"], tenants: [\"*\"] }\n";
        let err = Config::load(&Source::Text(scopes.into()), &env_of(&[])).unwrap_err();
        assert_eq!(err.problems()[0].path, "api_keys[0].scopes[0]");
    }

    #[test]
    fn github_and_slack_secrets_from_env_enable_those_routes() {
        let env = env_of(&[
            ("GITHUB_WEBHOOK_SECRET", "gh-secret-123"),
            ("SLACK_SIGNING_SECRET", "slack-secret-123"),
        ]);
        let config = Config::load(&Source::Text(String::new()), &env).unwrap();
        let github = config
            .integrations_of(IntegrationKind::Github)
            .next()
            .unwrap();
        let settings: GithubConfig = github.settings().unwrap();
        assert_eq!(settings.secrets[0].expose(), "gh-secret-123");
        let slack = config
            .integrations_of(IntegrationKind::Slack)
            .next()
            .unwrap();
        let settings: SlackConfig = slack.settings().unwrap();
        assert_eq!(settings.secrets()[0].expose(), "slack-secret-123");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_path() {
        let text = "writer:\n  concurency: 4\n";
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        assert_eq!(err.problems()[0].path, "writer.concurency");
        assert!(err.problems()[0].message.contains("unknown field"));
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../integrations.example.yaml").to_owned();
        let env = env_of(&[
            ("RAE_WEBHOOK_SECRET", "example-secret-1"),
            ("CI_WEBHOOK_SECRET", "example-secret-2"),
            ("GITHUB_WEBHOOK_SECRET", "example-secret-3"),
            ("SLACK_SIGNING_SECRET", "example-secret-4"),
        ]);
        let config = Config::load(&Source::Text(text), &env).unwrap();
        let kinds: Vec<_> = config.integrations.iter().map(|i| i.kind()).collect();
        assert_eq!(
            kinds,
            [
                IntegrationKind::Webhook,
                IntegrationKind::Webhook,
                IntegrationKind::Github,
                IntegrationKind::Slack,
                IntegrationKind::Git
            ]
        );
        assert!(config.tenants.contains_key("acme"));
        assert_eq!(config.api_keys.len(), 2);
    }

    #[test]
    fn git_integrations_are_validated_with_paths() {
        let text = r#"
integrations:
  - id: git
    kind: git
    config:
      tenant: nobody
      poll_interval_ms: 10
      branches: ["main", "bad..name"]
      repositories:
        - { path: /src/app }
        - { path: /other/app, branches: [" "] }
        - { path: "" , name: "a/b"}
      important:
        disabled: [security, typos]
        rules: [{ tag: "", paths: [] }]
  - id: git-empty
    kind: git
"#;
        let err = Config::load(&Source::Text(text.into()), &env_of(&[])).unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "integrations[1].config.tenant",
            "integrations[1].config.poll_interval_ms",
            "integrations[1].config.branches[1]",
            "integrations[1].config.repositories[1].name",
            "integrations[1].config.repositories[1].branches[0]",
            "integrations[1].config.repositories[2].path",
            "integrations[1].config.repositories[2].name",
            "integrations[1].config.important.disabled[1]",
            "integrations[1].config.important.rules[0].tag",
            "integrations[1].config.important.rules[0].paths",
            "integrations[2].config.repositories",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
        assert_eq!(paths.len(), 11, "{paths:?}");
        let ok = "integrations:\n  - { id: git, kind: git, config: { repositories: [{ path: /srv/repo.git }] } }\n";
        let config = Config::load(&Source::Text(ok.into()), &env_of(&[])).unwrap();
        let git: GitConfig = config
            .integrations_of(IntegrationKind::Git)
            .next()
            .unwrap()
            .settings()
            .unwrap();
        assert_eq!(git.repositories[0].name(), "repo");
        assert_eq!(git.poll_interval_ms, 2_000);
    }

    #[test]
    fn secrets_never_print() {
        let env = env_of(&[
            ("RAE_API_KEY", "key-123456"),
            ("RAE_WEBHOOK_SECRET", "hook-123456"),
        ]);
        let config = Config::load(&Source::Text(String::new()), &env).unwrap();
        let shown = format!("{config:?}{}", config.redacted_yaml());
        assert!(
            !shown.contains("key-123456") && !shown.contains("hook-123456"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }
}

/// Settings of an email integration (DESIGN §7): an SMTP listener, IMAP mailboxes, receipts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Tenant of mail whose recipient has no `+tenant` (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    pub project: Option<String>,
    /// The SMTP listener; absent means none.
    pub smtp: Option<SmtpConfig>,
    /// Mailboxes polled over IMAP.
    pub imap: Vec<ImapMailbox>,
    /// Confirmation replies to senders; absent means none are sent.
    pub receipts: Option<ReceiptsConfig>,
}

/// How a receipt reaches the outgoing relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayTls {
    /// Plaintext, for a relay on the same host or network only.
    None,
    /// STARTTLS on port 587 (the default).
    #[default]
    Starttls,
    /// Implicit TLS on port 465.
    Tls,
}

/// Short confirmation replies sent through an outgoing SMTP relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptsConfig {
    /// Host name of the relay.
    pub relay: String,
    /// Default 587, or 465 with `tls: tls`, or 25 with `tls: none`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: RelayTls,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Sender of the receipts, e.g. `RAE <memories@example.com>`.
    pub from: String,
    /// Only these senders (`alice@example.com` or `@example.com`) ever get a receipt.
    pub allow: Vec<String>,
}

/// The SMTP listener of an email integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Address to listen on.
    pub listen: String,
    /// Name in the greeting and the EHLO answer.
    pub hostname: String,
    /// Recipients mail is accepted for: `memories@example.com` (also takes
    /// `memories+<tenant>@example.com`) or `@example.com` (every local part of the domain).
    pub accept: Vec<String>,
    /// Largest message, announced in EHLO (`SIZE`) and enforced (552).
    pub max_message_bytes: usize,
    /// Concurrent connections; more are answered 421.
    pub max_connections: usize,
    /// Time a client has for each command or data line.
    pub command_timeout_secs: u64,
    /// PEM certificate chain and key: with both, STARTTLS is offered.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Submitters allowed to send (AUTH PLAIN or LOGIN); when any, MAIL needs AUTH first.
    pub auth_users: Vec<SmtpUser>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            listen: "0.0.0.0:2525".into(),
            hostname: "rae-pipeline".into(),
            accept: Vec::new(),
            max_message_bytes: 10 * 1024 * 1024,
            max_connections: 64,
            command_timeout_secs: 300,
            tls_cert: None,
            tls_key: None,
            auth_users: Vec::new(),
        }
    }
}

/// A submitter of the SMTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpUser {
    pub user: String,
    pub password: Secret,
}

/// What a poller does with a mail once its event is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterFetch {
    /// Flag it `\Seen`.
    #[default]
    Seen,
    /// Move it to `move_to`.
    Move,
}

/// One mailbox polled over IMAP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapMailbox {
    pub host: String,
    /// Default 993 with TLS, 143 without.
    #[serde(default)]
    pub port: Option<u16>,
    /// Implicit TLS (IMAPS); `false` is plaintext, for local servers only.
    #[serde(default = "default_true")]
    pub tls: bool,
    pub user: String,
    pub password: Secret,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default)]
    pub after: AfterFetch,
    #[serde(default)]
    pub move_to: Option<String>,
    /// Seconds between polls when the server has no IDLE (and the longest IDLE wait).
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
}

fn default_folder() -> String {
    "INBOX".into()
}

const fn default_poll_interval_secs() -> u64 {
    60
}

impl ImapMailbox {
    /// The port, given or implied by `tls`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 993 } else { 143 })
    }
}

impl EmailConfig {
    /// Problems of these settings, with paths relative to `config`.
    pub fn problems(&self, enabled: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: String, message: &str| problems.push(Problem::new(path, message));
        if enabled && self.smtp.is_none() && self.imap.is_empty() {
            bad(String::new(), "needs smtp or imap settings");
        }
        if let Some(smtp) = &self.smtp {
            if smtp.listen.parse::<std::net::SocketAddr>().is_err() {
                bad(
                    ".smtp.listen".into(),
                    "must be an address like 0.0.0.0:2525",
                );
            }
            if smtp.accept.is_empty() {
                bad(
                    ".smtp.accept".into(),
                    "needs at least one address or @domain",
                );
            }
            for (i, address) in smtp.accept.iter().enumerate() {
                let ok = match address.split_once('@') {
                    Some((local, domain)) => {
                        !domain.is_empty() && !domain.contains('@') && !local.contains('+')
                    }
                    None => false,
                };
                if !ok {
                    bad(
                        format!(".smtp.accept[{i}]"),
                        "must be an address (without +tag) like memories@example.com, or @example.com",
                    );
                }
            }
            if smtp.max_message_bytes < 1024 {
                bad(".smtp.max_message_bytes".into(), "must be at least 1024");
            }
            if smtp.max_connections == 0 {
                bad(".smtp.max_connections".into(), "must be at least 1");
            }
            if smtp.command_timeout_secs == 0 {
                bad(".smtp.command_timeout_secs".into(), "must be at least 1");
            }
            match (&smtp.tls_cert, &smtp.tls_key) {
                (Some(_), None) => bad(".smtp.tls_key".into(), "is needed with tls_cert"),
                (None, Some(_)) => bad(".smtp.tls_cert".into(), "is needed with tls_key"),
                _ => {}
            }
            for (field, file) in [("tls_cert", &smtp.tls_cert), ("tls_key", &smtp.tls_key)] {
                if let Some(file) = file.as_ref().filter(|f| !f.is_file()) {
                    bad(
                        format!(".smtp.{field}"),
                        &format!("{} is not a readable file", file.display()),
                    );
                }
            }
            for (i, user) in smtp.auth_users.iter().enumerate() {
                if user.user.is_empty() {
                    bad(format!(".smtp.auth_users[{i}].user"), "must not be empty");
                }
                if user.password.expose().len() < 8 {
                    bad(
                        format!(".smtp.auth_users[{i}].password"),
                        "must be at least 8 characters",
                    );
                }
            }
        }
        if let Some(receipts) = &self.receipts {
            if receipts.relay.is_empty() {
                bad(".receipts.relay".into(), "must not be empty");
            }
            if !receipts.from.contains('@') {
                bad(
                    ".receipts.from".into(),
                    "must be an address like RAE <memories@example.com>",
                );
            }
            if receipts.allow.is_empty() {
                bad(
                    ".receipts.allow".into(),
                    "needs at least one address or @domain: receipts never go elsewhere",
                );
            }
            if receipts.user.is_some() != receipts.password.is_some() {
                bad(".receipts.password".into(), "user and password go together");
            }
        }
        for (i, mailbox) in self.imap.iter().enumerate() {
            if mailbox.host.is_empty() {
                bad(format!(".imap[{i}].host"), "must not be empty");
            }
            if mailbox.user.is_empty() {
                bad(format!(".imap[{i}].user"), "must not be empty");
            }
            if mailbox.folder.is_empty() {
                bad(format!(".imap[{i}].folder"), "must not be empty");
            }
            if mailbox.after == AfterFetch::Move
                && mailbox.move_to.as_deref().is_none_or(str::is_empty)
            {
                bad(format!(".imap[{i}].move_to"), "is needed with after: move");
            }
            if mailbox.poll_interval_secs == 0 {
                bad(
                    format!(".imap[{i}].poll_interval_secs"),
                    "must be at least 1",
                );
            }
        }
        problems
    }
}
