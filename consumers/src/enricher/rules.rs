//! Enrichment rules (pure): base importance per source and kind, `#hashtags` to tags, then the
//! boost-and-tag rules of the config in order (keywords, regexes, labels and other tags,
//! reactions), then the tenant's own rules, clamped to 0..=1. Each applied rule is recorded in
//! the event's `enrichment` so a user can see why an event got its importance and tags.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde_json::Value;

use rae_core::config::{BaseImportance, EnrichConfig, RuleConfig};
use rae_core::event::{push_tag, Enrichment, Event, Limits, Source};
use rae_core::hygiene;

/// One compiled boost-and-tag rule.
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    sources: Vec<Source>,
    kinds: Vec<String>,
    keywords: Option<Keywords>,
    regex: Option<Regex>,
    /// Folded by [`hygiene::tag`], as every event's tags are.
    tags: Vec<String>,
    min_reactions: Option<u64>,
    boost: f64,
    add_tags: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct TenantRules {
    default_importance: Option<f64>,
    base_importance: Vec<BaseImportance>,
    rules: Vec<Rule>,
}

/// The enricher's rules, compiled once.
#[derive(Debug, Clone)]
pub struct Rules {
    default_importance: f64,
    base_importance: Vec<BaseImportance>,
    hashtags: bool,
    rules: Vec<Rule>,
    tenants: HashMap<String, TenantRules>,
}

/// A rule that does not compile.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("enrich rule {rule}: the regex does not compile")]
    Regex {
        rule: String,
        #[source]
        source: regex::Error,
    },
    #[error("enrich rule {rule}: its keywords cannot be searched for")]
    Keywords {
        rule: String,
        #[source]
        source: aho_corasick::BuildError,
    },
}

/// A rule's keywords, found in one pass over the content however many there are (one
/// substring search per keyword was the enricher's largest cost, `docs/benchmarks.md`).
#[derive(Debug, Clone)]
struct Keywords {
    /// Folded by [`hygiene::tag`] (NFC, lowercase), as the content is compared lowercased.
    words: Vec<String>,
    matcher: AhoCorasick,
}

impl Keywords {
    fn new(rule: &str, raw: &[String]) -> Result<Option<Keywords>, RuleError> {
        if raw.is_empty() {
            return Ok(None);
        }
        let words: Vec<String> = raw.iter().map(|k| hygiene::tag(k).into_owned()).collect();
        let matcher = AhoCorasick::new(&words).map_err(|source| RuleError::Keywords {
            rule: rule.to_owned(),
            source,
        })?;
        Ok(Some(Keywords { words, matcher }))
    }

    /// The first of the words, in the rule's order, that occurs in `text` (lowercase) as a
    /// whole word or phrase.
    fn first_in(&self, text: &str) -> Option<&str> {
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '_');
        self.matcher
            .find_overlapping_iter(text)
            .filter(|m| {
                boundary(text[..m.start()].chars().next_back())
                    && boundary(text[m.end()..].chars().next())
            })
            .map(|m| m.pattern().as_usize())
            .min()
            .map(|i| self.words[i].as_str())
    }
}

fn compile(rules: &[RuleConfig]) -> Result<Vec<Rule>, RuleError> {
    rules
        .iter()
        .map(|r| {
            let regex = match &r.regex {
                Some(text) => Some(
                    regex::RegexBuilder::new(text)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|source| RuleError::Regex {
                            rule: r.name.clone(),
                            source,
                        })?,
                ),
                None => None,
            };
            Ok(Rule {
                name: r.name.clone(),
                // Validation refused unknown names, so none is dropped here.
                sources: r.sources.iter().filter_map(|s| s.parse().ok()).collect(),
                kinds: r.kinds.clone(),
                keywords: Keywords::new(&r.name, &r.keywords)?,
                regex,
                tags: r
                    .tags
                    .iter()
                    .map(|t| hygiene::tag(t).into_owned())
                    .collect(),
                min_reactions: r.min_reactions,
                boost: r.boost,
                add_tags: r.add_tags.clone(),
            })
        })
        .collect()
}

impl Rules {
    /// # Errors
    /// [`RuleError`] naming a rule whose regex does not compile (config validation reports it
    /// first, with its path).
    pub fn new(config: &EnrichConfig) -> Result<Rules, RuleError> {
        let mut tenants = HashMap::new();
        for (alias, tenant) in &config.tenants {
            tenants.insert(
                alias.clone(),
                TenantRules {
                    default_importance: tenant.default_importance,
                    base_importance: tenant.base_importance.clone(),
                    rules: compile(&tenant.rules)?,
                },
            );
        }
        Ok(Rules {
            default_importance: config.default_importance,
            base_importance: config.base_importance.clone(),
            hashtags: config.hashtags,
            rules: compile(&config.rules)?,
            tenants,
        })
    }

    /// Fills `importance`, completes `tags` and records why. An importance the sender set is
    /// kept; rules then only add tags.
    pub fn enrich(&self, mut event: Event, limits: &Limits) -> Event {
        let mut why = Enrichment::default();
        let tenant = self.tenants.get(&event.tenant);
        let given = event.importance.is_some();
        let mut importance = match event.importance {
            Some(given) => {
                why.rules.push("importance.given".into());
                why.reasons.push(format!("sender set importance {given}"));
                given
            }
            None => self.base(&event, tenant, &mut why),
        };
        push_tag(&mut event.tags, event.source.as_str(), limits);
        if self.hashtags {
            let found = hashtags(&event.content);
            if !found.is_empty() {
                why.rules.push("tags.hashtags".into());
                why.reasons
                    .push(format!("hashtags in content: {}", found.join(", ")));
                for tag in found {
                    push_tag(&mut event.tags, &tag, limits);
                }
            }
        }
        // Rules look at the event as it came (with its hashtags), not at each other's tags, so
        // an event is never boosted twice for one fact.
        let content = event.content.to_lowercase();
        let arrived = event.clone();
        let tenant_rules = tenant.map(|t| t.rules.as_slice()).unwrap_or_default();
        for rule in self.rules.iter().chain(tenant_rules) {
            let Some(matched) = rule.matches(&arrived, &content) else {
                continue;
            };
            let mut effects = Vec::new();
            if rule.boost != 0.0 && !given {
                importance += rule.boost;
                effects.push(format!("{:+}", rule.boost));
            }
            let added: Vec<&str> = rule
                .add_tags
                .iter()
                .filter(|t| {
                    let t = hygiene::tag(t);
                    !event.tags.iter().any(|have| hygiene::tag(have) == t)
                })
                .map(String::as_str)
                .collect();
            if !added.is_empty() {
                effects.push(format!("tags +{}", added.join(", +")));
            }
            for tag in &rule.add_tags {
                push_tag(&mut event.tags, tag, limits);
            }
            if effects.is_empty() {
                continue;
            }
            why.rules.push(format!("rule.{}", rule.name));
            why.reasons
                .push(format!("{}: {matched}: {}", rule.name, effects.join(", ")));
        }
        let importance = (importance * 1000.0).round() / 1000.0;
        let clamped = if importance.is_finite() {
            importance.clamp(0.0, 1.0)
        } else {
            0.5
        };
        if clamped != importance {
            why.reasons
                .push(format!("importance {importance:.2} clamped to {clamped}"));
        }
        event.importance = Some(clamped);
        event.enrichment = Some(why);
        event
    }

    /// The base importance: the tenant's rules, then the global ones, then the default.
    fn base(&self, event: &Event, tenant: Option<&TenantRules>, why: &mut Enrichment) -> f64 {
        let tenant_base = tenant
            .map(|t| t.base_importance.as_slice())
            .unwrap_or_default();
        let find = |rules: &'_ [BaseImportance]| -> Option<BaseImportance> {
            rules
                .iter()
                .filter(|r| r.source == event.source.as_str())
                .find(|r| r.kind.as_deref() == Some(event.kind.as_str()))
                .or_else(|| {
                    rules
                        .iter()
                        .find(|r| r.source == event.source.as_str() && r.kind.is_none())
                })
                .cloned()
        };
        let (rule, scope) = match find(tenant_base) {
            Some(rule) => (Some(rule), format!("tenant {}: ", event.tenant)),
            None => (find(&self.base_importance), String::new()),
        };
        match rule {
            Some(rule) => {
                let name = match &rule.kind {
                    Some(kind) => format!("base.{}.{}", rule.source, kind),
                    None => format!("base.{}", rule.source),
                };
                why.reasons
                    .push(format!("{scope}{name} sets importance {}", rule.importance));
                why.rules.push(name);
                rule.importance
            }
            None => {
                let default = tenant
                    .and_then(|t| t.default_importance)
                    .unwrap_or(self.default_importance);
                why.rules.push("base.default".into());
                why.reasons.push(format!(
                    "no base rule for {}/{}: default {default}",
                    event.source, event.kind
                ));
                default
            }
        }
    }
}

impl Rule {
    /// What made the rule match (for the record), or `None`.
    fn matches(&self, event: &Event, content: &str) -> Option<String> {
        if !self.sources.is_empty() && !self.sources.contains(&event.source) {
            return None;
        }
        if !self.kinds.is_empty()
            && !self.kinds.iter().any(|k| match k.strip_suffix('*') {
                Some(prefix) => event.kind.starts_with(prefix),
                None => *k == event.kind,
            })
        {
            return None;
        }
        let mut because = Vec::new();
        if let Some(keywords) = &self.keywords {
            let word = keywords.first_in(content)?;
            because.push(format!("keyword \"{word}\""));
        }
        if let Some(regex) = &self.regex {
            let found = regex.find(&event.content)?;
            because.push(format!("pattern matched \"{}\"", preview(found.as_str())));
        }
        if !self.tags.is_empty() {
            let tag = event
                .tags
                .iter()
                .find(|t| self.tags.iter().any(|want| *want == hygiene::tag(t)))?;
            because.push(format!("tag {tag}"));
        }
        if let Some(min) = self.min_reactions {
            let count = event
                .attributes
                .get("reactions")
                .and_then(|r| r.get("total_count"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if count < min {
                return None;
            }
            because.push(format!("{count} reactions"));
        }
        if because.is_empty() {
            because.push(format!("{}/{}", event.source, event.kind));
        }
        Some(because.join(", "))
    }
}

fn preview(text: &str) -> String {
    rae_core::text::clip_chars(text, 40).into_owned()
}

/// `#words` in `text`, lowercased, without the `#`; a `#` inside a word (`C#`, URLs' anchors)
/// or followed by digits only (`#42`, an issue number) is not a hashtag.
pub fn hashtags(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let starts_word = prev.is_none_or(|p| p.is_whitespace() || "([{,;".contains(p));
        if c == '#' && starts_word {
            let rest = &text[i + 1..];
            let end = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '-'))
                .unwrap_or(rest.len());
            let tag = rest[..end].trim_end_matches('-').to_lowercase();
            if !tag.is_empty()
                && !tag.chars().all(|ch| ch.is_ascii_digit())
                && !found.contains(&tag)
            {
                found.push(tag);
            }
        }
        prev = Some(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::event::sample;

    fn rules() -> Rules {
        Rules::new(&EnrichConfig::default()).unwrap()
    }

    fn enriched(source: &str, kind: &str, content: &str, tags: &[&str]) -> Event {
        let mut event = sample();
        event.source = source.parse().unwrap();
        event.kind = kind.into();
        event.content = content.into();
        event.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        rules().enrich(event, &Limits::default())
    }

    /// The provider presets' memories (their content as the presets write it): an incident
    /// triggered ranks above its acknowledgement, a firing alert above its resolution.
    #[test]
    fn an_incident_triggered_ranks_above_its_acknowledgement() {
        let importance = |kind: &str, content: &str, tags: &[&str]| {
            enriched("webhook", kind, content, tags)
                .importance
                .unwrap_or_default()
        };
        let incident = &["pagerduty", "urgency-high"];
        let triggered = importance(
            "incident_triggered",
            "PagerDuty incident #1234 triggered on My Mail Service: The server is on fire. (urgency high, priority P1)",
            incident,
        );
        let acknowledged = importance(
            "incident_acknowledged",
            "Earline Greenholt acknowledged PagerDuty incident #1234 on My Mail Service: The server is on fire.",
            incident,
        );
        let resolved = importance(
            "incident_resolved",
            "PagerDuty incident #1234 resolved by Earline Greenholt on My Mail Service after 42m 10s: The server is on fire.",
            incident,
        );
        let why = enriched("webhook", "incident_acknowledged", "Earline Greenholt acknowledged PagerDuty incident #1234 on My Mail Service: The server is on fire.", incident).enrichment;
        assert!(
            triggered > acknowledged,
            "{triggered} <= {acknowledged} {why:?}"
        );
        let why = enriched("webhook", "incident_resolved", "PagerDuty incident #1234 resolved by Earline Greenholt on My Mail Service after 42m 10s: The server is on fire.", incident).enrichment;
        assert!(triggered > resolved, "{triggered} <= {resolved} {why:?}");
        let alert = &["alertmanager", "alert", "higherrorrate", "critical"];
        let firing = importance(
            "alert_firing",
            "Alert HighErrorRate firing (critical) on api-1:9090: Error rate above 5% for 10 minutes",
            alert,
        );
        let over = importance(
            "alert_resolved",
            "Alert HighErrorRate resolved on api-1:9090 after 42m 10s: Error rate above 5% for 10 minutes",
            alert,
        );
        assert!(firing > over, "{firing} <= {over}");
    }

    /// The Sentry preset's memories: a new issue and a fired alert rule rank above the issue's
    /// assignment and resolution; a critical metric alert above a warning above its resolution.
    #[test]
    fn a_new_sentry_issue_ranks_above_its_assignment_and_resolution() {
        let importance = |kind: &str, content: &str| {
            let event = enriched("webhook", kind, content, &["sentry", "level-error"]);
            (event.importance.unwrap_or_default(), event.enrichment)
        };
        let title = "ReferenceError: blooopy is not defined";
        let (created, _) = importance(
            "sentry_issue_created",
            &format!("Sentry issue FRONT-END-9 created in front-end: {title} (level error, culprit ?(runner))"),
        );
        let (alert, _) = importance(
            "sentry_alert_triggered",
            "Sentry alert rule 'Very Important Alert Rule!' triggered in front-end: ReferenceError: heck is not defined (level error, culprit ?(<anonymous>))",
        );
        let (assigned, why) = importance(
            "sentry_issue_assigned",
            &format!("Ana Lima assigned Sentry issue FRONT-END-9 in front-end to Hemanth V. Alluri: {title}"),
        );
        assert!(created > assigned, "{created} <= {assigned} {why:?}");
        assert!(alert > assigned, "{alert} <= {assigned} {why:?}");
        // A resolution "in the next release" comes after the title: no "release ... error"
        // to read as a failed deploy.
        let (resolved, why) = importance(
            "sentry_issue_resolved",
            &format!("Ana Lima resolved Sentry issue FRONT-END-9 in front-end after 3d 3h: {title} (in the next release)"),
        );
        assert!(created > resolved, "{created} <= {resolved} {why:?}");
        assert!(alert > resolved, "{alert} <= {resolved} {why:?}");
        let metric = |action: &str, value: &str| {
            importance(
                &format!("sentry_metric_alert_{action}"),
                &format!("Sentry metric alert 'Too many errors' {action} in bar: {value} events in the last 10 minutes; Filter: level:error"),
            )
            .0
        };
        let (critical, warning, over) = (
            metric("critical", "1214"),
            metric("warning", "842"),
            metric("resolved", "1000"),
        );
        assert!(critical > warning, "{critical} <= {warning}");
        assert!(warning > over, "{warning} <= {over}");
    }

    /// Issue trackers' memories (their content as the presets write it): a new urgent issue
    /// ranks above a routine update of it, and above a comment on it.
    #[test]
    fn a_new_urgent_issue_ranks_above_its_routine_updates() {
        let importance = |kind: &str, content: &str, tags: &[&str]| {
            let event = enriched("webhook", kind, content, tags);
            (event.importance.unwrap_or_default(), event.enrichment)
        };
        let (created, _) = importance(
            "linear_issue_created",
            "Ana Lima created ENG-123 in Engineering: Checkout fails for EU cards (priority Urgent)",
            &["linear", "issue", "priority-urgent", "bug"],
        );
        let moved = "Ana Lima moved ENG-123 to In Progress and assigned it to Bo Chen: Checkout fails for EU cards";
        let (updated, why) = importance(
            "linear_issue_updated",
            moved,
            &["linear", "issue", "priority-urgent", "bug"],
        );
        assert!(created > updated, "{created} <= {updated} {why:?}");
        let (comment, why) = importance(
            "linear_comment_created",
            "Bo Chen commented on ENG-123: Checkout fails for EU cards\n\nLooking into it.",
            &["linear", "comment"],
        );
        assert!(created > comment, "{created} <= {comment} {why:?}");
        let (done, why) = importance(
            "linear_issue_completed",
            "Ana Lima moved ENG-123 to Done after 2d 3h: Checkout fails for EU cards",
            &["linear", "issue", "priority-urgent", "bug"],
        );
        assert!(done > updated, "{done} <= {updated} {why:?}");
        let bug = &["jira", "issue", "bug", "priority-highest"];
        let (created, _) = importance(
            "jira_issue_created",
            "Ana Lima created OPS-7 (Bug, Highest) in Operations: Checkout fails for EU cards",
            bug,
        );
        let (moved, why) = importance(
            "jira_issue_updated",
            "Ana Lima moved OPS-7 from To Do to In Progress and assigned it to Bo Chen: Checkout fails for EU cards",
            bug,
        );
        assert!(created > moved, "{created} <= {moved} {why:?}");
        let (resolved, why) = importance(
            "jira_issue_resolved",
            "Bo Chen moved OPS-7 from In Progress to Done after 2d 3h: Checkout fails for EU cards",
            bug,
        );
        assert!(resolved > moved, "{resolved} <= {moved} {why:?}");
    }

    /// The GitLab preset's memories (their content and tags as the preset writes them): a
    /// failed default branch or deployment first, a merge or a release above an update, an
    /// approval or a comment.
    #[test]
    fn a_broken_default_branch_ranks_above_a_merge_and_a_merge_above_its_chatter() {
        let importance = |kind: &str, content: &str, tags: &[&str]| {
            enriched("webhook", kind, content, tags)
                .importance
                .unwrap_or_default()
        };
        let pipeline = &["gitlab", "pipeline", "failed", "gitlab-org/gitlab-test"];
        let failed = importance(
            "pipeline_failed",
            "Pipeline #31 failed on master in gitlab-org/gitlab-test after 1m 3s (by Administrator, push).\nFailed jobs: test-build (test: script_failure).\nCommit bcbb5ec3: test",
            pipeline,
        );
        let failed_branch = importance(
            "pipeline_failed_branch",
            "Pipeline #32 failed on feature/login in gitlab-org/gitlab-test after 1m 3s (by Administrator, push).\nFailed jobs: test-build (test: script_failure).\nCommit bcbb5ec3: test",
            pipeline,
        );
        let deployment = importance(
            "deployment_failed",
            "Deployment 279484c0 to staging failed in root/test-deployment-webhooks (by Administrator): Add new file",
            &["gitlab", "deployment", "failed", "staging"],
        );
        let mr = &["gitlab", "merge-request", "gitlabhq/gitlab-test", "api"];
        let merged = importance(
            "merge_request_merged",
            "Administrator merged !1 in gitlabhq/gitlab-test: MS-Viewport (master ← ms-viewport)\nLabels: API.",
            &["gitlab", "merge-request", "merged", "gitlabhq/gitlab-test", "api"],
        );
        let release = importance(
            "release_created",
            "Release v1.1 created in gitlab-org/release-webhook-example\n\nv1.1 has been released",
            &["gitlab", "release", "v1.1"],
        );
        let updated = importance(
            "merge_request_updated",
            "Administrator updated !1 in gitlabhq/gitlab-test: MS-Viewport (marked as ready; labels +Platform -API)",
            mr,
        );
        let approved = importance(
            "merge_request_approved",
            "Administrator approved !1 in gitlabhq/gitlab-test: MS-Viewport",
            mr,
        );
        let comment = importance(
            "merge_request_comment",
            "Administrator commented on !1 in gitlab-org/gitlab-test: Tempora et eos debitis quae laborum et.\n\nThis MR needs work.",
            &["gitlab", "comment", "gitlab-org/gitlab-test"],
        );
        let issue = importance(
            "issue_opened",
            "Administrator opened issue #23 in gitlabhq/gitlab-test: New API: create/update/delete file\nLabels: API.\n\nCreate new API for manipulations with repository",
            &["gitlab", "issue", "gitlabhq/gitlab-test", "api"],
        );
        assert!(failed > failed_branch, "{failed} <= {failed_branch}");
        assert!(failed > merged, "{failed} <= {merged}");
        assert!(deployment > merged, "{deployment} <= {merged}");
        for (what, below) in [
            ("update", updated),
            ("approval", approved),
            ("comment", comment),
        ] {
            assert!(merged > below, "merged {merged} <= {what} {below}");
            assert!(release > below, "release {release} <= {what} {below}");
        }
        assert!(issue > comment, "{issue} <= {comment}");
    }

    #[test]
    fn a_source_tag_never_triggers_a_signal_rule() {
        // Every item of the memories API is tagged with its source `api`; only the git
        // watcher's `api-change` signal is a risky change.
        let from_api = enriched("api", "note", "Weekly sync notes", &[]);
        assert!(from_api.tags.contains(&"api".to_owned()));
        let rules = &from_api.enrichment.as_ref().unwrap().rules;
        assert!(
            !rules.iter().any(|r| r.contains("risky-change")),
            "{rules:?}"
        );
        let signalled = enriched("git", "commit", "Change the public API", &["api-change"]);
        let rules = &signalled.enrichment.as_ref().unwrap().rules;
        assert!(
            rules.iter().any(|r| r.contains("risky-change")),
            "{rules:?}"
        );
        // No source name is a signal or a tag any default rule matches.
        let config = EnrichConfig::default();
        for source in Source::ALL {
            let name = source.as_str();
            assert!(!rae_core::config::GIT_SIGNALS.contains(&name), "{name}");
            for rule in &config.rules {
                assert!(
                    !rule.tags.iter().any(|t| t == name),
                    "{name} in {}",
                    rule.name
                );
            }
        }
    }

    #[test]
    fn words_match_whole_words_only() {
        let contains_word = |text: &str, word: &str| {
            let keywords = Keywords::new("t", &[word.to_owned()]).unwrap().unwrap();
            keywords.first_in(text).is_some()
        };
        assert!(contains_word("the outage is over", "outage"));
        assert!(contains_word("root cause: dns", "root cause"));
        assert!(!contains_word("adrenaline", "adr"));
        assert!(!contains_word("outages2", "outage"));
        assert!(contains_word("écrit: outage!", "outage"));
        // A word that is part of a longer one here and whole there.
        assert!(contains_word("outages2 and an outage", "outage"));
    }

    #[test]
    fn the_first_keyword_in_the_rules_order_is_named_whatever_comes_first_in_the_text() {
        let words = ["incident", "outage", "out"].map(String::from);
        let keywords = Keywords::new("t", &words).unwrap().unwrap();
        assert_eq!(
            keywords.first_in("outage, then an incident"),
            Some("incident")
        );
        assert_eq!(keywords.first_in("an outage"), Some("outage"));
        assert_eq!(keywords.first_in("way out"), Some("out"));
        assert_eq!(keywords.first_in("outward"), None);
    }

    /// The examples of docs/enrichment.md, so the docs stay true.
    #[test]
    fn the_default_rules_rank_what_teams_care_about() {
        let cases: [(&str, &str, &str, &[&str], f64); 10] = [
            (
                "slack",
                "message",
                "Outage in eu-west: checkout is down, rolling back",
                &[],
                0.7,
            ),
            (
                "webhook",
                "note",
                "Deploy of api v2.3 failed: migrations timed out",
                &[],
                0.75,
            ),
            (
                "webhook",
                "note",
                "Security: leaked credentials rotated for the billing DB",
                &[],
                0.75,
            ),
            (
                "slack",
                "message",
                "We decided to use PostgreSQL for the event store",
                &[],
                0.7,
            ),
            (
                "github",
                "workflow_run_failed",
                "Workflow CI failed on main",
                &[],
                0.8,
            ),
            (
                "github",
                "issue_opened",
                "Login broken for SSO users",
                &["bug"],
                0.7,
            ),
            ("slack", "message", "thanks!", &[], 0.1),
            ("github", "push", "Fix typo in README", &[], 0.2),
            (
                "github",
                "pull_request_opened",
                "Bump lodash",
                &["dependencies", "chore"],
                0.5,
            ),
            ("webhook", "note", "Lunch menu for Friday", &[], 0.5),
        ];
        let mut wrong = Vec::new();
        for (source, kind, content, tags, expected) in cases {
            let out = enriched(source, kind, content, tags);
            let got = out.importance.unwrap();
            if (got - expected).abs() > 1e-9 {
                wrong.push(format!(
                    "{content:?}: {got} (expected {expected}) {:?}",
                    out.enrichment.unwrap().reasons
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn applied_rules_are_recorded_with_their_reason() {
        let out = enriched("slack", "message", "Outage: deploy failed #ops", &[]);
        let why = out.enrichment.unwrap();
        assert!(why.rules.contains(&"rule.incident".to_owned()), "{why:?}");
        assert!(
            why.rules.contains(&"rule.failed-deploy".to_owned()),
            "{why:?}"
        );
        assert!(
            why.reasons
                .iter()
                .any(|r| r == "incident: keyword \"outage\": +0.3, tags +incident"),
            "{why:?}"
        );
        assert!(why.reasons.iter().any(|r| r.contains("clamped")) || out.importance < Some(1.0));
        assert!(out.tags.contains(&"incident".to_owned()));
        assert!(out.tags.contains(&"deploy".to_owned()));
        assert!(out.tags.contains(&"ops".to_owned()));
    }

    #[test]
    fn tenant_overrides_come_on_top() {
        let mut config = EnrichConfig::default();
        config.tenants.insert(
            "acme".into(),
            rae_core::config::TenantEnrichConfig {
                default_importance: Some(0.2),
                personal_data: None,
                base_importance: vec![BaseImportance {
                    source: "slack".into(),
                    kind: None,
                    importance: 0.6,
                }],
                rules: vec![RuleConfig {
                    name: "acme-billing".into(),
                    keywords: vec!["billing".into()],
                    boost: 0.2,
                    add_tags: vec!["billing".into()],
                    ..RuleConfig::default()
                }],
            },
        );
        let rules = Rules::new(&config).unwrap();
        let mut event = sample();
        event.tenant = "acme".into();
        event.source = Source::Slack;
        event.content = "billing export is slow".into();
        let out = rules.enrich(event.clone(), &Limits::default());
        assert_eq!(out.importance, Some(0.8));
        assert!(out.tags.contains(&"billing".to_owned()));
        event.source = Source::Webhook;
        event.content = "hello".into();
        assert_eq!(
            rules.enrich(event, &Limits::default()).importance,
            Some(0.2)
        );
    }

    #[test]
    fn rule_tags_and_keywords_are_folded_like_event_tags() {
        let config = EnrichConfig {
            rules: vec![
                RuleConfig {
                    name: "cafe-tag".into(),
                    tags: vec!["CAF\u{c9}".into()],
                    boost: 0.1,
                    add_tags: vec!["Menu".into()],
                    ..RuleConfig::default()
                },
                RuleConfig {
                    name: "cafe-word".into(),
                    keywords: vec!["Cafe\u{301}".into()],
                    boost: 0.1,
                    ..RuleConfig::default()
                },
            ],
            ..EnrichConfig::default()
        };
        let rules = Rules::new(&config).unwrap();
        let route = rae_core::event::Route {
            tenant: "default-tenant",
            project: "default",
            source: Source::Webhook,
            integration: "memory",
        };
        let event = Event::builder(route, "id-1", "note", "Lunch at the caf\u{e9}")
            .tags(vec!["cafe\u{301}".into(), "MENU".into()])
            .build();
        let out = rules.enrich(event, &Limits::default());
        let applied = &out.enrichment.as_ref().unwrap().rules;
        assert!(applied.contains(&"rule.cafe-tag".to_owned()), "{applied:?}");
        assert!(
            applied.contains(&"rule.cafe-word".to_owned()),
            "{applied:?}"
        );
        assert_eq!(out.tags, ["caf\u{e9}", "menu", "webhook"]);
    }

    #[test]
    fn reactions_and_kind_prefixes() {
        let rule = Rule {
            name: "x".into(),
            sources: vec![],
            kinds: vec!["pull_request_*".into()],
            keywords: None,
            regex: None,
            tags: vec![],
            min_reactions: Some(2),
            boost: 0.1,
            add_tags: vec![],
        };
        let mut event = sample();
        event.kind = "pull_request_merged".into();
        assert_eq!(rule.matches(&event, ""), None);
        event
            .attributes
            .insert("reactions".into(), serde_json::json!({"total_count": 3}));
        assert_eq!(rule.matches(&event, "").as_deref(), Some("3 reactions"));
        event.kind = "issue_opened".into();
        assert_eq!(rule.matches(&event, ""), None);
    }

    #[test]
    fn hashtags_are_words_that_start_with_hash() {
        assert_eq!(
            hashtags("Deploy failed #incident #Prod, see #42 and C# docs (#db-migration)"),
            ["incident", "prod", "db-migration"]
        );
        assert!(hashtags("http://x/y#anchor").is_empty());
    }

    #[test]
    fn base_importance_prefers_source_and_kind() {
        let mut event = sample();
        event.source = Source::Github;
        event.kind = "workflow_run_failed".into();
        event.content = "CI run 42 of main".into();
        let out = rules().enrich(event, &Limits::default());
        assert_eq!(out.importance, Some(0.8));
        assert_eq!(
            out.enrichment.unwrap().rules[0],
            "base.github.workflow_run_failed"
        );
    }

    #[test]
    fn given_importance_is_kept_and_tags_completed() {
        let mut event = sample();
        event.importance = Some(0.9);
        event.tags = vec!["decision".into()];
        event.content = "We picked Postgres #database #decision".into();
        let out = rules().enrich(event, &Limits::default());
        assert_eq!(out.importance, Some(0.9));
        assert_eq!(out.tags, ["decision", "webhook", "database"]);
        let why = out.enrichment.unwrap();
        assert!(why.rules.contains(&"tags.hashtags".to_owned()));
    }

    #[test]
    fn unknown_sources_get_the_default() {
        let mut event = sample();
        event.content = "Lunch menu for Friday".into();
        let out = rules().enrich(event, &Limits::default());
        assert_eq!(out.importance, Some(0.5));
        assert_eq!(out.enrichment.unwrap().rules, ["base.default"]);
    }
}
