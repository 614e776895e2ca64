//! How well the shipped rules order events by what a team would want to recall first: a
//! hand-ranked set of events from every source, and Kendall's tau between that order and the
//! importance the rules give (`docs/enrichment.md`, "Order").

use rae_core::config::EnrichConfig;
use rae_core::event::{Event, Limits, Route, Source};

use super::rules::Rules;

/// Most important first: an outage and a security fix above a merged decision, above a
/// release, above routine commits, above chatter and newsletters.
const RANKED: &[(Source, &str, &str, &[&str])] = &[
    (
        Source::Slack,
        "message",
        "SEV1: production outage, the API answers 500 to every customer",
        &[],
    ),
    (
        Source::Github,
        "issue_opened",
        "Security: SQL injection in the search endpoint (CVE-2026-1234)",
        &["security"],
    ),
    (
        Source::Github,
        "workflow_run_failed",
        "Deploy to production failed: the migration timed out",
        &[],
    ),
    (
        Source::Email,
        "mail",
        "Postmortem: the database failover incident of Nov 28\n\nRoot cause: a full disk.",
        &[],
    ),
    (
        Source::Github,
        "pull_request_merged",
        "Merged PR #88: stop logging auth tokens (credential leak)",
        &["security"],
    ),
    (
        Source::Slack,
        "message",
        "We decided to use PostgreSQL with pgvector for the memory store",
        &[],
    ),
    (
        Source::Github,
        "pull_request_merged",
        "Merged PR #91: ADR-12, the ingress moves to hyper",
        &[],
    ),
    (
        Source::Github,
        "release_published",
        "Released v2.4.0: batch API and history import",
        &[],
    ),
    (
        Source::Github,
        "issue_opened",
        "Search returns stale results after a reindex",
        &["bug"],
    ),
    (
        Source::Email,
        "mail",
        "Release plan\n\nWe ship the importer on Monday, then the console.",
        &[],
    ),
    (
        Source::Git,
        "commit",
        "Add retry with backoff to the RAE writer",
        &[],
    ),
    (
        Source::Github,
        "push",
        "3 commits to main: refactor config loading",
        &[],
    ),
    (
        Source::Github,
        "issue_comment",
        "I can reproduce this on 2.3.1 as well",
        &[],
    ),
    (
        Source::Slack,
        "message",
        "Can someone review my PR for the dashboard today?",
        &[],
    ),
    (Source::Git, "commit", "Fix typo in README", &[]),
    (
        Source::Github,
        "pull_request_opened",
        "Bump lodash from 4.17.20 to 4.17.21",
        &["dependencies", "dependabot"],
    ),
    (
        Source::Email,
        "mail",
        "Our November product update\n\nNew features and webinars.",
        &["bulk"],
    ),
    (Source::Slack, "message", "thanks!", &[]),
];

fn importance(rules: &Rules, (source, kind, content, tags): &(Source, &str, &str, &[&str])) -> f64 {
    let route = Route {
        tenant: "default-tenant",
        project: "default",
        source: *source,
        integration: source.as_str(),
    };
    let event = Event::builder(route, "id", *kind, *content)
        .tags(tags.iter().map(|t| (*t).to_owned()).collect())
        .build();
    let limits = Limits::default();
    rules.enrich(event, &limits).importance.unwrap_or_default()
}

/// Kendall's tau-b between the hand rank (no ties) and `scores` (ties allowed).
fn kendall_tau_b(scores: &[f64]) -> f64 {
    let (mut concordant, mut discordant, mut tied) = (0.0_f64, 0.0_f64, 0.0_f64);
    for i in 0..scores.len() {
        for j in i + 1..scores.len() {
            // Item i ranks above item j by hand; the rules agree when its score is higher.
            match scores[i].partial_cmp(&scores[j]) {
                Some(std::cmp::Ordering::Greater) => concordant += 1.0,
                Some(std::cmp::Ordering::Less) => discordant += 1.0,
                _ => tied += 1.0,
            }
        }
    }
    let pairs = concordant + discordant + tied;
    (concordant - discordant) / (pairs * (pairs - tied)).sqrt()
}

#[test]
fn the_shipped_rules_order_the_ranked_set() {
    let rules = Rules::new(&EnrichConfig::default()).unwrap();
    let scores: Vec<f64> = RANKED.iter().map(|e| importance(&rules, e)).collect();
    let tau = kendall_tau_b(&scores);
    let table: Vec<String> = RANKED
        .iter()
        .zip(&scores)
        .map(|((s, k, c, _), i)| format!("{i:.2}  {s}/{k}: {}", c.lines().next().unwrap_or("")))
        .collect();
    println!("Kendall's tau-b {tau:.3}\n{}", table.join("\n"));
    assert!(tau >= 0.8, "tau {tau:.3}:\n{}", table.join("\n"));
}

#[test]
fn tau_is_one_for_the_same_order_and_minus_one_reversed() {
    assert!((kendall_tau_b(&[3.0, 2.0, 1.0]) - 1.0).abs() < 1e-9);
    assert!((kendall_tau_b(&[1.0, 2.0, 3.0]) + 1.0).abs() < 1e-9);
}
