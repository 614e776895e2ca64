//! Declarative mappings and provider presets as a sender sees them: real signed requests to the
//! real pipeline, what the fake RAE stored, and what the dead-letter stream kept.

use std::time::Duration;

use serde_json::{json, Value};

use rae_core::dead_letter::{self, Filter, Stage};
use rae_ingress::webhook::verify::sign;

use crate::harness::*;

/// A Jira-like mapping on the integration `jira` (cookbook, docs/mappings.md).
const JIRA: &str = r#"
  - id: jira
    config:
      secrets: ["jira-secret-000001"]
      mapping:
        content: "{{ body.user.displayName }} {{ body.webhookEvent | replace('jira:issue_', '') }} {{ body.issue.key }}: {{ body.issue.fields.summary }}"
        tags: ["jira", "{{ body.issue.fields.priority.name | lower }}"]
        importance: "0.9 if body.issue.fields.priority.name == 'Highest' else 0.4"
        actor: "{{ body.user.displayName }}"
        url: "https://acme.atlassian.net/browse/{{ body.issue.key }}"
        kind: "issue_{{ body.webhookEvent | replace('jira:issue_', '') }}"
        skip_if: "body.issue.fields.project.key == 'SANDBOX'"
"#;
const JIRA_SECRET: &str = "jira-secret-000001";

fn jira_issue(key: &str, project: &str) -> String {
    json!({
        "timestamp": 1_764_000_000_000u64,
        "webhookEvent": "jira:issue_created",
        "user": {"displayName": "Ana Lima"},
        "issue": {"id": "10002", "key": key, "fields": {
            "summary": "Checkout fails for EU cards",
            "priority": {"name": "Highest"},
            "project": {"key": project}
        }}
    })
    .to_string()
}

async fn post_signed(pipeline: &Pipeline, path: &str, body: &str, secret: &str) -> (u16, Value) {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let signature = sign(secret, Some(&ts), body.as_bytes());
    let (status, answer, _) = pipeline
        .post(
            path,
            body,
            &[
                ("content-type", "application/json"),
                ("x-webhook-signature", &signature),
                ("x-webhook-timestamp", &ts),
            ],
        )
        .await;
    (status, answer)
}

#[tokio::test]
async fn a_mapped_webhook_turns_any_json_into_the_memory_rae_receives_once() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, JIRA)).await;
    let path = "/api/v1/webhooks/jira";
    let body = jira_issue("OPS-7", "OPS");

    let (status, answer) = post_signed(&pipeline, path, &body, JIRA_SECRET).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "accepted");
    wait_for(
        "RAE to store the mapped memory",
        Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let stored = &rae.stored()[0].body;
    assert_eq!(
        stored["content"],
        "Ana Lima created OPS-7: Checkout fails for EU cards"
    );
    assert_eq!(stored["importance"], 0.9, "{stored}");
    let tags = stored["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!("jira")) && tags.contains(&json!("highest")),
        "{stored}"
    );
    assert_eq!(stored["metadata"]["kind"], "issue_created", "{stored}");

    // The same signed request again (a replay, or the sender's retry) is stored once.
    let body = jira_issue("OPS-8", "OPS");
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let signature = sign(JIRA_SECRET, Some(&ts), body.as_bytes());
    let headers = [
        ("x-webhook-signature", signature.as_str()),
        ("x-webhook-timestamp", ts.as_str()),
    ];
    let (_, first, _) = pipeline.post(path, &body, &headers).await;
    let (status, again, _) = pipeline.post(path, &body, &headers).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], first["id"]);
    wait_for(
        "RAE to store the second delivery",
        Duration::from_secs(10),
        || async { rae.stored().len() >= 2 },
    )
    .await;
    let ids = rae.stored_event_ids();
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");

    // A wrong signature is a JSON 401; a body that is not JSON a JSON 400 naming it.
    let (status, refused) = post_signed(&pipeline, path, &body, "not-the-secret-00").await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "unauthorized");
    let (status, bad) = post_signed(&pipeline, path, "{not json", JIRA_SECRET).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["field"], "body");

    // skip_if: authentic, answered, not stored.
    let (status, skipped) =
        post_signed(&pipeline, path, &jira_issue("SB-1", "SANDBOX"), JIRA_SECRET).await;
    assert_eq!(status, 200, "{skipped}");
    assert_eq!(skipped["status"], "ignored");
    pipeline.shutdown().await;
    assert!(
        rae.stored()
            .iter()
            .all(|r| r.body["content"] != "Ana Lima created SB-1: Checkout fails for EU cards"),
        "a skipped body reached RAE"
    );
}

#[tokio::test]
async fn a_body_the_mapping_fails_on_is_a_dead_letter_with_the_reason() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, JIRA)).await;
    let body =
        json!({"webhookEvent": "jira:issue_created", "user": {"displayName": "Bo"}}).to_string();

    let (status, answer) =
        post_signed(&pipeline, "/api/v1/webhooks/jira", &body, JIRA_SECRET).await;
    // Stored (in the dead-letter stream), so not a 5xx the sender would retry forever.
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "dead_lettered");
    assert_eq!(answer["reason"], "mapping_failed");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("mapping.skip_if: line 1: undefined value"),
        "{answer}"
    );

    let filter = Filter {
        stage: Some(Stage::Ingress),
        ..Filter::default()
    };
    let bus = pipeline.bus().clone();
    let letters = dead_letter::list(&bus, &filter, 10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0].letter;
    assert_eq!(letter.reason, "mapping_failed");
    assert!(letter.error.contains("mapping.skip_if"), "{}", letter.error);
    assert_eq!(letter.event["integration"], "jira");
    assert_eq!(letter.event["payload"]["user"]["displayName"], "Bo");
    assert_eq!(letter.event_id(), answer["id"].as_str().unwrap());
    // Replay cannot map it either: it says what to do instead.
    let refused = dead_letter::replay(&bus, &letters[0]).await.unwrap_err();
    assert!(refused.to_string().contains("mapping test"), "{refused}");
    assert!(rae.stored().is_empty());
    pipeline.shutdown().await;
}

/// `rae-pipeline mapping test` as a user iterates on a mapping: the event printed, nothing
/// published (no NATS runs here), and each failure with its exit code and message.
#[test]
fn mapping_test_prints_the_event_and_names_what_fails() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("integrations:{JIRA}");
    std::fs::write(dir.path().join("integrations.yaml"), &config).unwrap();
    std::fs::write(dir.path().join("created.json"), jira_issue("OPS-7", "OPS")).unwrap();
    std::fs::write(
        dir.path().join("sandbox.json"),
        jira_issue("SB-1", "SANDBOX"),
    )
    .unwrap();
    std::fs::write(dir.path().join("empty.json"), "{}").unwrap();
    let mapping_test = |integration: &str, payload: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_rae-pipeline"))
            .current_dir(dir.path())
            .env_clear()
            .env("NATS_URL", "nats://127.0.0.1:1")
            .args([
                "mapping",
                "test",
                "--integration",
                integration,
                "--payload",
                payload,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = mapping_test("jira", "created.json");
    assert_eq!(code, Some(0), "{stderr}");
    let event: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        event["content"],
        "Ana Lima created OPS-7: Checkout fails for EU cards"
    );
    assert_eq!(event["kind"], "issue_created");
    assert_eq!(event["integration"], "jira");
    assert_eq!(event["url"], "https://acme.atlassian.net/browse/OPS-7");

    let (code, stdout, _) = mapping_test("jira", "sandbox.json");
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("skipped"), "{stdout}");

    let (code, _, stderr) = mapping_test("jira", "empty.json");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("mapping.skip_if: line 1: undefined value"),
        "{stderr}"
    );

    let (code, _, stderr) = mapping_test("memory", "created.json");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("has no mapping"), "{stderr}");

    // A template that does not compile stops at load, naming the field and the line.
    let broken = config.replace("{{ body.issue.key }}\"", "{{ body.issue.key \"");
    std::fs::write(dir.path().join("integrations.yaml"), broken).unwrap();
    let (code, _, stderr) = mapping_test("jira", "created.json");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("integrations[0].config.mapping.url: line 1: syntax error"),
        "{stderr}"
    );
}

/// A provider's sample payload from `tests/fixtures/<provider>/`.
fn fixture(provider: &str, name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/{provider}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The memory RAE stored whose content starts with `prefix`.
fn stored_starting(rae: &FakeRae, prefix: &str) -> Option<Value> {
    rae.stored()
        .into_iter()
        .map(|r| r.body)
        .find(|b| b["content"].as_str().is_some_and(|c| c.starts_with(prefix)))
}

const PAGERDUTY: &str = r#"
  - id: pagerduty
    kind: pagerduty
    config: { secrets: ["pd-subscription-secret-01"] }
"#;

#[tokio::test]
async fn pagerduty_incidents_are_stored_once_each_and_triggered_ranks_above_acknowledged() {
    use rae_ingress::presets::pagerduty::{sign, SIGNATURE_HEADER};
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, PAGERDUTY)).await;
    let path = "/api/v1/integrations/pagerduty/webhook";
    let post = |name: &'static str, secret: &'static str| {
        let body = fixture("pagerduty", name);
        let signature = sign(secret, body.as_bytes());
        let pipeline = &pipeline;
        async move {
            let (status, answer, _) = pipeline
                .post(
                    path,
                    &body,
                    &[
                        ("content-type", "application/json"),
                        (SIGNATURE_HEADER, signature.as_str()),
                    ],
                )
                .await;
            (status, answer)
        }
    };
    let secret = "pd-subscription-secret-01";
    let (status, first) = post("incident.triggered", secret).await;
    assert_eq!(status, 202, "{first}");
    // PagerDuty retries a delivery it got no answer for: the same event is stored once.
    let (status, again) = post("incident.triggered", secret).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], first["id"]);
    let (status, refused) = post("incident.acknowledged", "not-the-pd-secret-00").await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "unauthorized");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("X-PagerDuty-Signature"));
    for name in ["incident.acknowledged", "incident.resolved"] {
        let (status, answer) = post(name, secret).await;
        assert_eq!(status, 202, "{name}: {answer}");
    }
    let (status, ping) = post("pagey.ping", secret).await;
    assert_eq!(status, 200, "{ping}");
    assert_eq!(ping["status"], "ignored");

    wait_for(
        "RAE to store the three memories",
        Duration::from_secs(10),
        || async { rae.stored().len() >= 3 },
    )
    .await;
    let triggered = stored_starting(&rae, "PagerDuty incident #1234 triggered").unwrap();
    let acknowledged = stored_starting(&rae, "Earline Greenholt acknowledged").unwrap();
    let resolved = stored_starting(&rae, "PagerDuty incident #1234 resolved").unwrap();
    assert!(
        triggered["importance"].as_f64() > acknowledged["importance"].as_f64(),
        "{triggered} vs {acknowledged}"
    );
    assert!(
        resolved["content"]
            .as_str()
            .unwrap()
            .contains("after 42m 10s"),
        "{resolved}"
    );
    for memory in [&triggered, &acknowledged, &resolved] {
        assert_eq!(memory["session_id"], "pagerduty:PT4KHLK", "{memory}");
    }
    assert_eq!(
        resolved["metadata"]["attributes"]["duration_secs"], 2530,
        "{resolved}"
    );
    pipeline.shutdown().await;
    let ids = rae.stored_event_ids();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");
}

const ALERTMANAGER: &str = r#"
  - id: alerts
    kind: alertmanager
    config: { secrets: ["am-bearer-token-0001"] }
"#;

#[tokio::test]
async fn alertmanager_groups_become_one_memory_per_alert_and_resolutions_join_their_firing() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, ALERTMANAGER)).await;
    let path = "/api/v1/integrations/alerts/webhook";
    let auth = [
        ("content-type", "application/json"),
        ("authorization", "Bearer am-bearer-token-0001"),
    ];
    let (status, firing, _) = pipeline
        .post(path, &fixture("alertmanager", "firing"), &auth)
        .await;
    assert_eq!(status, 202, "{firing}");
    assert_eq!(firing["ids"].as_array().unwrap().len(), 2, "{firing}");
    // Alertmanager repeats a firing group every repeat_interval: stored once.
    let (_, repeat, _) = pipeline
        .post(path, &fixture("alertmanager", "firing"), &auth)
        .await;
    assert_eq!(repeat["duplicate"], true, "{repeat}");
    let (status, resolved, _) = pipeline
        .post(path, &fixture("alertmanager", "resolved"), &auth)
        .await;
    assert_eq!(status, 202, "{resolved}");
    let (status, refused, _) = pipeline
        .post(
            path,
            &fixture("alertmanager", "resolved"),
            &[("authorization", "Bearer wrong-token-00000")],
        )
        .await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "unauthorized");

    wait_for(
        "RAE to store three memories",
        Duration::from_secs(10),
        || async { rae.stored().len() >= 3 },
    )
    .await;
    let fired = stored_starting(&rae, "Alert HighErrorRate firing (critical) on api-1").unwrap();
    let over = stored_starting(&rae, "Alert HighErrorRate resolved on api-1").unwrap();
    assert_eq!(fired["session_id"], over["session_id"]);
    assert!(
        over["content"].as_str().unwrap().contains("after 42m 10s"),
        "{over}"
    );
    assert!(fired["importance"].as_f64() > over["importance"].as_f64());
    pipeline.shutdown().await;
    assert_eq!(rae.stored_event_ids().len(), 3);
}

const STANDARD: &str = r#"
  - id: billing
    kind: standard_webhooks
    config: { secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] }
"#;

#[tokio::test]
async fn standard_webhooks_are_verified_and_a_retried_webhook_id_is_stored_once() {
    use rae_ingress::presets::standard_webhooks::sign;
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, STANDARD)).await;
    let path = "/api/v1/integrations/billing/webhook";
    let body = fixture("standard_webhooks", "invoice.paid");
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signature = sign(
        secret,
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        &ts,
        body.as_bytes(),
    );
    let headers = [
        ("content-type", "application/json"),
        ("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", signature.as_str()),
    ];
    let (status, first, _) = pipeline.post(path, &body, &headers).await;
    assert_eq!(status, 202, "{first}");
    let (status, again, _) = pipeline.post(path, &body, &headers).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["duplicate"], true);
    let forged = sign(
        "whsec_c2Vjb25kLXNlY3JldC1rZXk=",
        "msg_x",
        &ts,
        body.as_bytes(),
    );
    let (status, refused, _) = pipeline
        .post(
            path,
            &body,
            &[
                ("webhook-id", "msg_x"),
                ("webhook-timestamp", ts.as_str()),
                ("webhook-signature", forged.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "unauthorized");
    wait_for(
        "RAE to store the invoice",
        Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let stored = &rae.stored()[0].body;
    assert_eq!(
        stored["content"],
        "invoice.paid: in_1MtHbELkdIwHu7ixl4OzzPMv (paid)"
    );
    assert_eq!(
        stored["metadata"]["attributes"]["delivery"],
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    );
    pipeline.shutdown().await;
    assert_eq!(rae.stored_event_ids().len(), 1);
}

#[tokio::test]
async fn stripe_events_are_verified_with_their_timestamp_and_stored_once() {
    use rae_ingress::presets::stripe::{sign, SIGNATURE_HEADER};
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml =
        "  - { id: stripe, kind: stripe, config: { secrets: [\"whsec_stripe_endpoint_01\"] } }\n";
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, yaml)).await;
    let path = "/api/v1/integrations/stripe/webhook";
    let body = fixture("stripe", "charge.dispute.created");
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let signature = sign("whsec_stripe_endpoint_01", &ts, body.as_bytes());
    let headers = [
        ("content-type", "application/json"),
        (SIGNATURE_HEADER, signature.as_str()),
    ];
    let (status, first, _) = pipeline.post(path, &body, &headers).await;
    assert_eq!(status, 202, "{first}");
    let (_, again, _) = pipeline.post(path, &body, &headers).await;
    assert_eq!(again["duplicate"], true, "{again}");
    let stale = sign("whsec_stripe_endpoint_01", "1000000000", body.as_bytes());
    let (status, refused, _) = pipeline
        .post(path, &body, &[(SIGNATURE_HEADER, stale.as_str())])
        .await;
    assert_eq!(status, 401, "{refused}");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("Stripe-Signature"));
    wait_for(
        "RAE to store the dispute",
        Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let stored = &rae.stored()[0].body;
    assert!(
        stored["content"]
            .as_str()
            .unwrap()
            .starts_with("Dispute dp_1MtJUT2eZvKYlo2CNaw2HvEv opened on charge"),
        "{stored}"
    );
    assert_eq!(stored["session_id"], "stripe:ch_1AZtxr2eZvKYlo2CJDX8whov");
    pipeline.shutdown().await;
    assert_eq!(rae.stored_event_ids().len(), 1);
}

const SENTRY: &str = r#"
  - id: sentry
    kind: sentry
    config: { secrets: ["sentry-client-secret-01"] }
"#;

#[tokio::test]
async fn sentry_issues_and_alerts_are_stored_once_each_and_a_new_issue_ranks_above_its_resolution()
{
    use rae_ingress::presets::sentry::{sign, REQUEST_ID_HEADER, SIGNATURE_HEADER};
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, SENTRY)).await;
    let path = "/api/v1/integrations/sentry/webhook";
    // Sentry draws a new Request-ID for every send, its retries included.
    let sends = std::sync::atomic::AtomicU32::new(0);
    let post = |name: &'static str, secret: &'static str| {
        let body = fixture("sentry", name);
        let signature = sign(secret, body.as_bytes());
        let request_id = format!(
            "9f2c4e1a7b3d4c5e8f60{:012x}",
            sends.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let resource = name.split('.').next().unwrap_or_default();
        let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let pipeline = &pipeline;
        async move {
            let (status, answer, _) = pipeline
                .post(
                    path,
                    &body,
                    &[
                        ("content-type", "application/json"),
                        (SIGNATURE_HEADER, signature.as_str()),
                        (REQUEST_ID_HEADER, request_id.as_str()),
                        ("sentry-hook-resource", resource),
                        ("sentry-hook-timestamp", ts.as_str()),
                    ],
                )
                .await;
            (status, answer)
        }
    };
    let secret = "sentry-client-secret-01";
    let (status, first) = post("issue.created", secret).await;
    assert_eq!(status, 202, "{first}");
    // Sentry's retry of a send it got no answer for in time: a new Request-ID, stored once.
    let (status, again) = post("issue.created", secret).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], first["id"]);
    let (status, refused) = post("issue.assigned", "not-the-client-secret").await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "unauthorized");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("Sentry-Hook-Signature"));
    let stored = [
        "error.created",
        "event_alert.triggered",
        "issue.assigned",
        "issue.resolved",
        "metric_alert.critical",
        "metric_alert.resolved",
    ];
    for name in stored {
        let (status, answer) = post(name, secret).await;
        assert_eq!(status, 202, "{name}: {answer}");
    }
    let (status, resolved_again) = post("issue.resolved", secret).await;
    assert_eq!(status, 202, "{resolved_again}");
    assert_eq!(resolved_again["duplicate"], true, "{resolved_again}");
    let (status, install) = post("installation.created", secret).await;
    assert_eq!(status, 200, "{install}");
    assert_eq!(install["status"], "ignored");

    wait_for(
        "RAE to store the seven memories",
        Duration::from_secs(10),
        || async { rae.stored().len() >= 7 },
    )
    .await;
    let created = stored_starting(&rae, "Sentry issue FRONT-END-9 created").unwrap();
    assert_eq!(
        created["content"],
        "Sentry issue FRONT-END-9 created in front-end: ReferenceError: blooopy is not defined (level error, culprit ?(runner))"
    );
    let error = stored_starting(&rae, "Sentry error in front-end").unwrap();
    let alert = stored_starting(
        &rae,
        "Sentry alert rule 'Very Important Alert Rule!' triggered in front-end",
    )
    .unwrap();
    let assigned = stored_starting(&rae, "Ana Lima assigned Sentry issue FRONT-END-9").unwrap();
    let resolved = stored_starting(
        &rae,
        "Ana Lima resolved Sentry issue FRONT-END-9 in front-end after ",
    )
    .unwrap();
    let critical = stored_starting(
        &rae,
        "Sentry metric alert 'Too many errors' critical in bar: 1214 events",
    )
    .unwrap();
    let over = stored_starting(
        &rae,
        "Sentry metric alert 'Too many errors' resolved in bar after ",
    )
    .unwrap();
    // One conversation per issue: its creation, its errors, its assignment and resolution.
    for memory in [&created, &error, &assigned, &resolved] {
        assert_eq!(memory["session_id"], "sentry:1170820242", "{memory}");
    }
    assert_eq!(alert["session_id"], "sentry:1117540176", "{alert}");
    assert_eq!(critical["session_id"], over["session_id"], "{critical}");
    // How long the issue was open: since it was first seen (2019) until the resolution arrived.
    assert!(
        resolved["metadata"]["attributes"]["duration_secs"]
            .as_i64()
            .is_some_and(|secs| secs > 86_400 * 365),
        "{resolved}"
    );
    assert!(
        resolved["content"]
            .as_str()
            .unwrap()
            .ends_with(": ReferenceError: blooopy is not defined (in the next release)"),
        "{resolved}"
    );
    let importance = |memory: &Value| memory["importance"].as_f64().unwrap_or_default();
    for (high, low) in [
        (&created, &assigned),
        (&created, &resolved),
        (&alert, &assigned),
        (&alert, &resolved),
        (&critical, &over),
    ] {
        assert!(
            importance(high) > importance(low),
            "{} <= {}: {high} vs {low}",
            importance(high),
            importance(low)
        );
    }
    pipeline.shutdown().await;
    let ids = rae.stored_event_ids();
    assert_eq!(ids.len(), 7, "{ids:?}");
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");
}

const LINEAR: &str = r#"
  - id: linear
    kind: linear
    config: { secrets: ["lin_wh_signing_secret_01"], timestamp_tolerance_secs: 60 }
"#;

/// A Linear sample payload as sent at `sent_ms` (Linear signs its `webhookTimestamp`).
fn linear_body(name: &str, sent_ms: i128) -> String {
    let mut payload: Value = serde_json::from_str(&fixture("linear", name)).unwrap();
    payload["webhookTimestamp"] = json!(sent_ms);
    payload.to_string()
}

#[tokio::test]
async fn linear_issues_are_verified_with_their_timestamp_and_stored_once_each() {
    use rae_ingress::presets::linear::{sign, DELIVERY_HEADER, SIGNATURE_HEADER};
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, LINEAR)).await;
    let path = "/api/v1/integrations/linear/webhook";
    let now_ms = || time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let post = |body: String, secret: &'static str, delivery: &'static str| {
        let signature = sign(secret, body.as_bytes());
        let pipeline = &pipeline;
        async move {
            let (status, answer, _) = pipeline
                .post(
                    path,
                    &body,
                    &[
                        ("content-type", "application/json; charset=utf-8"),
                        (SIGNATURE_HEADER, signature.as_str()),
                        (DELIVERY_HEADER, delivery),
                        ("linear-event", "Issue"),
                    ],
                )
                .await;
            (status, answer)
        }
    };
    let secret = "lin_wh_signing_secret_01";
    let (status, first) = post(linear_body("Issue.create", now_ms()), secret, "d-1").await;
    assert_eq!(status, 202, "{first}");
    // Linear retries with a fresh webhookTimestamp (and signature): the issue is stored once.
    let (status, again) = post(linear_body("Issue.create", now_ms() + 1), secret, "d-2").await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], first["id"]);
    let (status, refused) = post(
        linear_body("Issue.update.assigned", now_ms()),
        "not-the-linear-secret",
        "d-3",
    )
    .await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "unauthorized");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("Linear-Signature"));
    // A captured delivery replayed two minutes later: signed, but stale for this integration's
    // 60 s (Linear's recommendation), though within the ingress default of 300 s.
    let (status, stale) = post(
        linear_body("Issue.update.assigned", now_ms() - 120_000),
        secret,
        "d-4",
    )
    .await;
    assert_eq!(status, 401, "{stale}");
    assert!(
        stale["message"]
            .as_str()
            .unwrap()
            .contains("webhookTimestamp is more than 60s away"),
        "{stale}"
    );
    for (name, delivery) in [
        ("Issue.update.assigned", "d-5"),
        ("Comment.create", "d-6"),
        ("Issue.update.completed", "d-7"),
    ] {
        let (status, answer) = post(linear_body(name, now_ms()), secret, delivery).await;
        assert_eq!(status, 202, "{name}: {answer}");
    }
    for (name, delivery) in [
        ("Reaction.create", "d-8"),
        ("Issue.update.sort_order", "d-9"),
    ] {
        let (status, answer) = post(linear_body(name, now_ms()), secret, delivery).await;
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(answer["status"], "ignored", "{name}: {answer}");
    }

    wait_for(
        "RAE to store the four memories",
        Duration::from_secs(10),
        || async { rae.stored().len() >= 4 },
    )
    .await;
    let created = stored_starting(
        &rae,
        "Ana Lima created ENG-123 in Engineering: Checkout fails for EU cards (priority Urgent)",
    )
    .unwrap();
    let assigned = stored_starting(
        &rae,
        "Ana Lima moved ENG-123 to In Progress and assigned it to Bo Chen: Checkout fails for EU cards",
    )
    .unwrap();
    let comment = stored_starting(&rae, "Bo Chen commented on ENG-123").unwrap();
    let done = stored_starting(
        &rae,
        "Ana Lima moved ENG-123 to Done after 2d 3h: Checkout fails for EU cards",
    )
    .unwrap();
    assert!(
        created["importance"].as_f64() > assigned["importance"].as_f64(),
        "{created} vs {assigned}"
    );
    for memory in [&created, &assigned, &comment, &done] {
        assert_eq!(
            memory["session_id"], "linear:539068e2-ae88-4d09-bd75-22eb4a59612f",
            "{memory}"
        );
    }
    assert_eq!(
        done["metadata"]["attributes"]["duration_secs"], 184_732,
        "{done}"
    );
    pipeline.shutdown().await;
    let ids = rae.stored_event_ids();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");
}

/// Jira Cloud's preset (not the mapping on `jira` above, the cookbook's).
const JIRA_CLOUD: &str = r#"
  - id: jira-cloud
    kind: jira
    config: { secrets: ["jira-cloud-secret-01"] }
"#;

#[tokio::test]
async fn jira_issues_and_comments_are_stored_once_each_and_a_new_bug_ranks_above_its_updates() {
    use rae_ingress::presets::jira::{sign, DELIVERY_HEADER, SIGNATURE_HEADER};
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, JIRA_CLOUD)).await;
    let path = "/api/v1/integrations/jira-cloud/webhook";
    let post = |name: &'static str, secret: &'static str, delivery: &'static str| {
        let body = fixture("jira", name);
        let signature = sign(secret, body.as_bytes());
        let pipeline = &pipeline;
        async move {
            let (status, answer, _) = pipeline
                .post(
                    path,
                    &body,
                    &[
                        ("content-type", "application/json; charset=UTF-8"),
                        (SIGNATURE_HEADER, signature.as_str()),
                        (DELIVERY_HEADER, delivery),
                        ("x-atlassian-webhook-flow", "Primary"),
                    ],
                )
                .await;
            (status, answer)
        }
    };
    let secret = "jira-cloud-secret-01";
    let (status, first) = post("jira.issue_created", secret, "6a1c2b3d-0001").await;
    assert_eq!(status, 202, "{first}");
    // Jira retries a delivery under the same identifier: stored once.
    let (status, again) = post("jira.issue_created", secret, "6a1c2b3d-0001").await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], first["id"]);
    let (status, refused) = post("jira.issue_updated.assigned", "not-the-jira-secret", "x").await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "unauthorized");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("X-Hub-Signature"));
    // A webhook saved without a secret sends no signature.
    let (status, unsigned, _) = pipeline
        .post(
            path,
            &fixture("jira", "jira.issue_created"),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(status, 401, "{unsigned}");
    assert!(unsigned["message"]
        .as_str()
        .unwrap()
        .contains("missing X-Hub-Signature"));
    for (name, delivery) in [
        ("jira.issue_updated.assigned", "6a1c2b3d-0002"),
        ("comment_created", "6a1c2b3d-0003"),
        ("jira.issue_updated.resolved", "6a1c2b3d-0005"),
    ] {
        let (status, answer) = post(name, secret, delivery).await;
        assert_eq!(status, 202, "{name}: {answer}");
    }
    // The same comment announced as an issue update is the comment already stored.
    let (status, announced) = post("jira.issue_updated.commented", secret, "6a1c2b3d-0004").await;
    assert_eq!(status, 202, "{announced}");
    assert_eq!(announced["duplicate"], true, "{announced}");
    for (name, delivery) in [
        ("jira.issue_updated.rank", "6a1c2b3d-0006"),
        ("sprint_started", "6a1c2b3d-0007"),
    ] {
        let (status, answer) = post(name, secret, delivery).await;
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(answer["status"], "ignored", "{name}: {answer}");
    }

    wait_for(
        "RAE to store the four memories",
        Duration::from_secs(10),
        || async { rae.stored().len() >= 4 },
    )
    .await;
    let created = stored_starting(
        &rae,
        "Ana Lima created OPS-7 (Bug, Highest) in Operations: Checkout fails for EU cards",
    )
    .unwrap();
    let moved = stored_starting(
        &rae,
        "Ana Lima moved OPS-7 from To Do to In Progress and assigned it to Bo Chen: Checkout fails for EU cards",
    )
    .unwrap();
    let comment = stored_starting(
        &rae,
        "Bo Chen commented on OPS-7: Checkout fails for EU cards\n\nFound it",
    )
    .unwrap();
    let resolved = stored_starting(
        &rae,
        "Bo Chen moved OPS-7 from In Progress to Done after 2d 3h: Checkout fails for EU cards",
    )
    .unwrap();
    assert!(
        created["importance"].as_f64() > moved["importance"].as_f64(),
        "{created} vs {moved}"
    );
    for memory in [&created, &moved, &comment, &resolved] {
        assert_eq!(memory["session_id"], "jira:OPS-7", "{memory}");
    }
    assert_eq!(
        resolved["metadata"]["attributes"]["duration_secs"], 184_732,
        "{resolved}"
    );

    // The issue deleted in Jira: RAE is asked to delete each of its four memories, once.
    let (status, answer) = post("jira.issue_deleted", secret, "6a1c2b3d-0008").await;
    assert_eq!(status, 202, "{answer}");
    let mut expected: Vec<String> = rae
        .stored()
        .iter()
        .map(|r| format!("/v2/memories/{}", r.memory_id.clone().unwrap()))
        .collect();
    expected.sort();
    let deleted = || {
        let mut paths: Vec<String> = rae
            .requests()
            .into_iter()
            .filter(|r| r.status == 200 && r.path.starts_with("/v2/memories/"))
            .filter(|r| r.path != "/v2/memories/" && r.path != "/v2/memories/query")
            .map(|r| r.path)
            .collect();
        paths.sort();
        paths
    };
    wait_for(
        "RAE asked to delete the issue's memories",
        Duration::from_secs(15),
        || async { deleted() == expected },
    )
    .await;
    pipeline.shutdown().await;
    assert_eq!(deleted(), expected, "each deleted once");
    let ids = rae.stored_event_ids();
    assert_eq!(ids.len(), 4, "a deletion stores nothing: {ids:?}");
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");
}

const GITLAB: &str = r#"
  - id: gitlab
    kind: gitlab
    config: { secrets: ["gitlab-secret-token-01"] }
  - id: gitlab-signed
    kind: gitlab
    config: { secrets: ["whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="] }
"#;

#[tokio::test]
async fn gitlab_deliveries_are_stored_once_and_a_broken_default_branch_ranks_above_a_merge() {
    use rae_ingress::presets::gitlab::{IDEMPOTENCY_HEADER, TOKEN_HEADER};
    use rae_ingress::presets::standard_webhooks::sign;
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, GITLAB)).await;
    let path = "/api/v1/integrations/gitlab/webhook";
    let post = |name: &'static str, token: &'static str, delivery: &'static str| {
        let body = fixture("gitlab", name);
        let pipeline = &pipeline;
        async move {
            let (status, answer, _) = pipeline
                .post(
                    path,
                    &body,
                    &[
                        ("content-type", "application/json"),
                        (TOKEN_HEADER, token),
                        (IDEMPOTENCY_HEADER, delivery),
                    ],
                )
                .await;
            (status, answer)
        }
    };
    let token = "gitlab-secret-token-01";
    let (status, opened) = post("merge_request.open", token, "idem-open-1").await;
    assert_eq!(status, 202, "{opened}");
    // A resend of the delivery keeps its Idempotency-Key: stored once.
    let (status, resent) = post("merge_request.open", token, "idem-open-1").await;
    assert_eq!(status, 202, "{resent}");
    assert_eq!(resent["duplicate"], true, "{resent}");
    assert_eq!(resent["id"], opened["id"]);
    // The same opening from a group webhook too (another delivery): still stored once.
    let (_, from_group) = post("merge_request.open", token, "idem-open-group").await;
    assert_eq!(from_group["duplicate"], true, "{from_group}");
    let (status, refused) = post("merge_request.merge", "not-the-gitlab-token", "idem-x").await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "unauthorized");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("X-Gitlab-Token"),
        "{refused}"
    );
    for (name, delivery) in [
        ("merge_request.merge", "idem-merge-1"),
        ("note.merge_request", "idem-note-1"),
        ("pipeline.failed", "idem-pipeline-1"),
    ] {
        let (status, answer) = post(name, token, delivery).await;
        assert_eq!(status, 202, "{name}: {answer}");
    }
    let (status, wiki) = post("wiki_page", token, "idem-wiki-1").await;
    assert_eq!(status, 200, "{wiki}");
    assert_eq!(wiki["status"], "ignored");
    let (status, running) = post("deployment.running", token, "idem-deploy-1").await;
    assert_eq!(status, 200, "{running}");
    assert_eq!(running["status"], "ignored");

    // A webhook with a signing token: the signature is checked, the token alone refused.
    let signed_path = "/api/v1/integrations/gitlab-signed/webhook";
    let body = fixture("gitlab", "release.create");
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let signature = sign(
        "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=",
        "idem-release-1",
        &ts,
        body.as_bytes(),
    );
    let signed = [
        ("content-type", "application/json"),
        ("webhook-id", "idem-release-1"),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", signature.as_str()),
        (IDEMPOTENCY_HEADER, "idem-release-1"),
    ];
    let (status, released, _) = pipeline.post(signed_path, &body, &signed).await;
    assert_eq!(status, 202, "{released}");
    let (status, unsigned, _) = pipeline
        .post(
            signed_path,
            &body,
            &[("content-type", "application/json"), (TOKEN_HEADER, token)],
        )
        .await;
    assert_eq!(status, 401, "{unsigned}");
    assert!(
        unsigned["message"]
            .as_str()
            .unwrap()
            .contains("webhook-signature"),
        "{unsigned}"
    );

    wait_for(
        "RAE to store the five memories",
        Duration::from_secs(10),
        || async { rae.stored().len() >= 5 },
    )
    .await;
    let opened = stored_starting(&rae, "Administrator opened !1 in gitlabhq/gitlab-test").unwrap();
    assert_eq!(
        opened["content"],
        "Administrator opened !1 in gitlabhq/gitlab-test: MS-Viewport (master ← ms-viewport)\nLabels: API."
    );
    let merged = stored_starting(&rae, "Administrator merged !1 in gitlabhq/gitlab-test").unwrap();
    for mr in [&opened, &merged] {
        assert_eq!(mr["session_id"], "gitlab:gitlabhq/gitlab-test!1", "{mr}");
    }
    assert_eq!(
        merged["metadata"]["attributes"]["delivery"], "idem-merge-1",
        "{merged}"
    );
    let comment = stored_starting(&rae, "Administrator commented on !1").unwrap();
    assert_eq!(comment["session_id"], "gitlab:gitlab-org/gitlab-test!1");
    let failed = stored_starting(
        &rae,
        "Pipeline #31 failed on master in gitlab-org/gitlab-test",
    )
    .unwrap();
    assert!(
        failed["content"]
            .as_str()
            .unwrap()
            .contains("Failed jobs: test-build (test: script_failure)."),
        "{failed}"
    );
    let release = stored_starting(&rae, "Release v1.1 created in").unwrap();
    let importance = |m: &Value| m["importance"].as_f64().unwrap_or_default();
    assert!(
        importance(&failed) > importance(&merged),
        "{failed} vs {merged}"
    );
    assert!(
        importance(&merged) > importance(&comment),
        "{merged} vs {comment}"
    );
    assert!(
        importance(&release) > importance(&comment),
        "{release} vs {comment}"
    );
    pipeline.shutdown().await;
    let ids = rae.stored_event_ids();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");
}

/// `rae-pipeline mapping test` on a provider preset: the events its normalizer makes of the
/// provider's sample payload, a type it does not store, and a payload it cannot read.
#[test]
fn mapping_test_previews_what_a_preset_makes_of_a_payload() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("integrations.yaml"),
        "integrations:\n  - { id: gitlab, kind: gitlab, config: { secrets: [\"gitlab-token-000001\"] } }\n  - { id: alerts, kind: alertmanager, config: { secrets: [\"am-bearer-token-0001\"] } }\n",
    )
    .unwrap();
    let preview = |integration: &str, payload: String| {
        let path = dir.path().join("payload.json");
        std::fs::write(&path, payload).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_rae-pipeline"))
            .current_dir(dir.path())
            .env_clear()
            .env("NATS_URL", "nats://127.0.0.1:1")
            .args(["mapping", "test", "--integration", integration, "--payload"])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = preview("gitlab", fixture("gitlab", "merge_request.merge"));
    assert_eq!(code, Some(0), "{stderr}");
    let event: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        event["content"]
            .as_str()
            .unwrap()
            .starts_with("Administrator merged !1 in gitlabhq/gitlab-test: MS-Viewport"),
        "{event}"
    );
    assert_eq!(event["kind"], "merge_request_merged");
    assert_eq!(event["integration"], "gitlab");

    // Several memories of one delivery print as an array.
    let (code, stdout, stderr) = preview("alerts", fixture("alertmanager", "firing"));
    assert_eq!(code, Some(0), "{stderr}");
    let events: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(events.as_array().map(Vec::len), Some(2), "{events}");

    let (code, stdout, _) = preview("gitlab", fixture("gitlab", "wiki_page"));
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("ignored: "), "{stdout}");

    let (code, _, stderr) = preview("gitlab", "{}".into());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the gitlab preset cannot read"), "{stderr}");

    let (code, _, stderr) = preview("nowhere", "{}".into());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("no enabled webhook or provider preset"),
        "{stderr}"
    );
}
