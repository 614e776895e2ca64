//! `enrich`: the enricher's rules (base importance, boost-and-tag rules, the shipped default
//! set), per-tenant overrides, the optional LLM and the consumer's delivery settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rae::is_http_url;
use super::{extend_under, Context, Problem, TENANT_MESSAGE};

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
    /// This tenant's [`PersonalData`] policy instead of the global one.
    pub personal_data: Option<PersonalData>,
}

/// Digests of conversations that went quiet (`enrich.thread_digest`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThreadDigestConfig {
    /// Seconds without a new message after which a thread is digested; 0 turns digests off.
    pub quiet_secs: u64,
    /// New messages since the last digest a thread needs to be digested.
    pub min_messages: u64,
}

impl Default for ThreadDigestConfig {
    fn default() -> Self {
        ThreadDigestConfig {
            quiet_secs: 0,
            min_messages: 3,
        }
    }
}

/// Enrichment settings of one integration (by its id), before its tenant's and the global ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrationEnrichConfig {
    /// This integration's [`PersonalData`] policy instead of its tenant's or the global one.
    pub personal_data: Option<PersonalData>,
}

/// Integration ids of events that come from no configured integration: the memories API
/// (`api`), MCP (`mcp`) and the command line (`cli`).
pub const BUILT_IN_INTEGRATIONS: &[&str] = &["api", "mcp", "cli"];

/// What the enricher does with personal data (email addresses, phone numbers, card numbers,
/// IBANs) in an event's text before it goes to RAE. Credentials are redacted at every producer
/// whatever this says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonalData {
    /// Left as it is (the default).
    #[default]
    Off,
    /// Left as it is, and the event tagged `personal-data`.
    Tag,
    /// Replaced by `[redacted <kind>]`.
    Redact,
    /// The event is not stored.
    Drop,
}

impl PersonalData {
    pub const fn as_str(self) -> &'static str {
        match self {
            PersonalData::Off => "off",
            PersonalData::Tag => "tag",
            PersonalData::Redact => "redact",
            PersonalData::Drop => "drop",
        }
    }
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
    /// Do not store an event that repeats one of the same sender within
    /// `nats.repeat_window_secs` (`rae_core::repeats`).
    pub drop_repeats: bool,
    /// With `drop_repeats`: how many bits of the similarity hash a nearly-same event may differ
    /// by (0: exact repeats only; at most 7).
    pub repeat_distance: u32,
    /// What becomes of personal data in events (per tenant: `tenants.<alias>.personal_data`;
    /// per integration: `integrations.<id>.personal_data`, which wins).
    pub personal_data: PersonalData,
    /// Settings per integration id.
    pub integrations: BTreeMap<String, IntegrationEnrichConfig>,
    /// Digests of conversations that went quiet.
    pub thread_digest: ThreadDigestConfig,
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
                // The issue's text as it is now, in place of its opening.
                rule("github", Some("issue_edited"), 0.6),
                rule("github", Some("push"), 0.4),
                rule("github", Some("issue_comment"), 0.4),
                rule("git", Some("commit"), 0.4),
                rule("slack", None, 0.4),
                rule("email", None, 0.5),
                // Provider presets (and mappings that use these kinds): an incident triggered
                // ranks above its acknowledgement; a firing alert above its resolution.
                rule("webhook", Some("incident_triggered"), 0.8),
                rule("webhook", Some("incident_reopened"), 0.7),
                rule("webhook", Some("incident_escalated"), 0.6),
                rule("webhook", Some("incident_resolved"), 0.55),
                rule("webhook", Some("incident_acknowledged"), 0.4),
                rule("webhook", Some("alert_firing"), 0.7),
                rule("webhook", Some("alert_resolved"), 0.45),
                rule("webhook", Some("charge_dispute_created"), 0.8),
                rule("webhook", Some("invoice_payment_failed"), 0.7),
                rule("webhook", Some("payment_intent_payment_failed"), 0.6),
                // Sentry: a new issue, a fired alert rule or a critical metric alert rank above
                // an assignment, a resolution or an archiving.
                rule("webhook", Some("sentry_metric_alert_critical"), 0.75),
                rule("webhook", Some("sentry_issue_created"), 0.7),
                rule("webhook", Some("sentry_alert_triggered"), 0.7),
                rule("webhook", Some("sentry_issue_unresolved"), 0.6),
                rule("webhook", Some("sentry_metric_alert_warning"), 0.6),
                rule("webhook", Some("sentry_issue_resolved"), 0.5),
                rule("webhook", Some("sentry_error"), 0.45),
                rule("webhook", Some("sentry_metric_alert_resolved"), 0.45),
                rule("webhook", Some("sentry_issue_assigned"), 0.4),
                rule("webhook", Some("sentry_issue_comment"), 0.4),
                rule("webhook", Some("sentry_issue_archived"), 0.35),
                // Linear: a new issue ranks above a routine update of one; a completion, a
                // project update posted and a new project above comments and edits.
                rule("webhook", Some("linear_issue_created"), 0.6),
                rule("webhook", Some("linear_issue_completed"), 0.5),
                rule("webhook", Some("linear_project_created"), 0.5),
                rule("webhook", Some("linear_project_update_posted"), 0.5),
                rule("webhook", Some("linear_project_updated"), 0.45),
                rule("webhook", Some("linear_comment_created"), 0.45),
                rule("webhook", Some("linear_issue_updated"), 0.4),
                rule("webhook", Some("linear_issue_removed"), 0.35),
                rule("webhook", Some("linear_comment_updated"), 0.35),
                // Jira: likewise, a new issue above a routine update, a resolution between.
                rule("webhook", Some("jira_issue_created"), 0.6),
                rule("webhook", Some("jira_issue_resolved"), 0.5),
                rule("webhook", Some("jira_comment_created"), 0.45),
                rule("webhook", Some("jira_issue_updated"), 0.4),
                rule("webhook", Some("jira_issue_deleted"), 0.35),
                rule("webhook", Some("jira_comment_updated"), 0.35),
                // GitLab: a broken default branch or deployment first, then what shipped (a
                // merge, a release), new issues, and below them updates, comments, pushes.
                rule("webhook", Some("pipeline_failed"), 0.8),
                rule("webhook", Some("deployment_failed"), 0.8),
                rule("webhook", Some("merge_request_merged"), 0.7),
                rule("webhook", Some("release_created"), 0.7),
                rule("webhook", Some("issue_opened"), 0.6),
                rule("webhook", Some("work_item_opened"), 0.55),
                rule("webhook", Some("merge_request_opened"), 0.55),
                rule("webhook", Some("pipeline_failed_branch"), 0.5),
                rule("webhook", Some("deployment_succeeded"), 0.5),
                rule("webhook", Some("merge_request_comment"), 0.4),
                rule("webhook", Some("issue_comment"), 0.4),
                rule("webhook", Some("commit_comment"), 0.4),
                rule("webhook", Some("push"), 0.4),
                rule("webhook", Some("tag_push"), 0.4),
                rule("webhook", Some("merge_request_updated"), 0.35),
                rule("webhook", Some("issue_updated"), 0.35),
                rule("webhook", Some("work_item_updated"), 0.35),
                // Its wording ("approved") earns the decision rule's boost on top.
                rule("webhook", Some("merge_request_approved"), 0.35),
                rule("webhook", Some("pipeline_succeeded"), 0.3),
                rule("webhook", Some("pipeline_canceled"), 0.3),
            ],
            hashtags: true,
            rules: default_rules(),
            tenants: BTreeMap::new(),
            llm: LlmConfig::default(),
            ack_wait_secs: 30,
            concurrency: 64,
            max_deliveries: 100,
            drop_repeats: false,
            repeat_distance: 4,
            personal_data: PersonalData::Off,
            integrations: BTreeMap::new(),
            thread_digest: ThreadDigestConfig::default(),
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
            name: "severe-incident".into(),
            keywords: words(&[
                "sev1", "sev-1", "sev0", "sev-0", "p0", "production outage", "production is down",
                "all customers", "every customer", "data loss",
            ]),
            boost: 0.2,
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
            boost: 0.3,
            add_tags: words(&["decision"]),
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "risky-change".into(),
            tags: words(&[
                "migration",
                "breaking-change",
                "dependencies",
                "revert",
                "api-change",
            ]),
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
            name: "bulk-mail".into(),
            tags: words(&["bulk"]),
            boost: -0.3,
            ..RuleConfig::default()
        },
        RuleConfig {
            name: "dependency-bump".into(),
            regex: Some(r"(?i)^\s*(chore(\(deps\))?:\s*)?bump \S+ from \S+ to \S+".into()),
            boost: -0.2,
            add_tags: words(&["dependencies"]),
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

impl BaseImportance {
    /// What is wrong with this rule, paths relative to it.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !(0.0..=1.0).contains(&self.importance) {
            problems.push(Problem::new(".importance", "must be between 0 and 1"));
        }
        if self.source.parse::<crate::event::Source>().is_err() {
            problems.push(Problem::new(
                ".source",
                format!("must be one of {}", crate::event::Source::names()),
            ));
        }
        problems
    }
}

impl LlmConfig {
    /// What is wrong with these settings when enabled, paths relative to them.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !self.enabled {
            return problems;
        }
        let mut bad = |path: &str, message: &str| problems.push(Problem::new(path, message));
        if !is_http_url(&self.url) {
            bad(".url", "must be an http:// or https:// URL");
        }
        if self.model.trim().is_empty() {
            bad(".model", "must name a model");
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            bad(".timeout_ms", "must be 1 to 60000");
        }
        if self.max_concurrent == 0 {
            bad(".max_concurrent", "must be greater than 0");
        }
        if self.max_content_chars == 0 {
            bad(".max_content_chars", "must be greater than 0");
        }
        problems
    }
}

impl EnrichConfig {
    /// What is wrong with this section, paths relative to it.
    pub fn problems(&self, ctx: &Context) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.ack_wait_secs == 0 {
            problems.push(Problem::new(".ack_wait_secs", "must be greater than 0"));
        }
        if self.concurrency == 0 {
            problems.push(Problem::new(".concurrency", "must be greater than 0"));
        }
        if self.concurrency > 10_000 {
            problems.push(Problem::new(".concurrency", "must be at most 10000"));
        }
        if !(0.0..=1.0).contains(&self.default_importance) {
            problems.push(Problem::new(
                ".default_importance",
                "must be between 0 and 1",
            ));
        }
        if self.thread_digest.min_messages == 0 {
            problems.push(Problem::new(
                ".thread_digest.min_messages",
                "must be at least 1",
            ));
        }
        if self.repeat_distance > crate::repeats::MAX_DISTANCE {
            problems.push(Problem::new(
                ".repeat_distance",
                format!(
                    "must be at most {} (0 for exact repeats only)",
                    crate::repeats::MAX_DISTANCE
                ),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            extend_under(&mut problems, &format!(".rules[{i}]"), rule.problems());
        }
        for (alias, tenant) in &self.tenants {
            let at = format!(".tenants.{alias}");
            for (i, rule) in tenant.rules.iter().enumerate() {
                extend_under(&mut problems, &format!("{at}.rules[{i}]"), rule.problems());
            }
            if tenant
                .default_importance
                .is_some_and(|d| !(0.0..=1.0).contains(&d))
            {
                problems.push(Problem::new(
                    format!("{at}.default_importance"),
                    "must be between 0 and 1",
                ));
            }
            if !ctx.tenant_resolves(alias) {
                problems.push(Problem::new(at, TENANT_MESSAGE));
            }
        }
        extend_under(&mut problems, ".llm", self.llm.problems());
        for (i, rule) in self.base_importance.iter().enumerate() {
            extend_under(
                &mut problems,
                &format!(".base_importance[{i}]"),
                rule.problems(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_are_valid() {
        for rule in default_rules() {
            assert!(
                rule.problems().is_empty(),
                "{}: {:?}",
                rule.name,
                rule.problems()
            );
        }
    }

    #[test]
    fn a_rule_reports_each_problem_relative_to_itself() {
        let rule = RuleConfig {
            name: " ".into(),
            regex: Some("(".into()),
            sources: vec!["fax".into()],
            keywords: vec![String::new()],
            ..RuleConfig::default()
        };
        let paths: Vec<_> = rule.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [".name", ".regex", "", ".sources[0]", ".keywords[0]"]
        );
    }
}
