//! The SMTP listener against hostile or careless senders: smuggled commands after bare line
//! ends, lines longer than any buffer, messages over the size limit in long lines, `+tenant`
//! addresses naming tenants configured nowhere, senders outside `allowed_senders`, and
//! submission without AUTH.

use std::net::SocketAddr;

use base64::Engine;
use serde_json::Value;

use super::{events, message, Raw, ACME};
use crate::harness::*;

const BETA: &str = "0c7d2e4f-9a1b-4c3d-8e5f-6a7b8c9d0e1f";

/// A listener for `memories@rae.example.com` with `smtp_extra` under `smtp` and `top_extra`
/// at the top level; tenants `acme` and `beta`.
async fn start_with(
    nats: &NatsServer,
    rae: &FakeRae,
    smtp_extra: &str,
    top_extra: &str,
) -> (Pipeline, SocketAddr) {
    let yaml = format!(
        r#"  - id: email
    config:
      smtp:
        listen: 127.0.0.1:0
        accept: ["memories@rae.example.com"]
{smtp_extra}
tenants:
  acme:
    rae_tenant_id: {ACME}
  beta:
    rae_tenant_id: {BETA}
{top_extra}
"#
    );
    let config = test_config(nats, rae, &yaml);
    let mut pipeline = Pipeline::start(&config).await;
    let running = pipeline.running.as_mut().expect("running");
    running.start_mail(&config).await.expect("mail starts");
    let addr = running.smtp_addr().expect("smtp listens");
    (pipeline, addr)
}

/// MAIL, RCPT and DATA for `memories@`, all answered as a sender expects.
async fn open_data(c: &mut Raw, from: &str) {
    assert_eq!(c.cmd(&format!("MAIL FROM:<{from}>")).await.0, 250);
    assert_eq!(c.cmd("RCPT TO:<memories@rae.example.com>").await.0, 250);
    assert_eq!(c.cmd("DATA").await.0, 354);
}

fn subjects(evs: &[Value]) -> Vec<String> {
    let mut subjects: Vec<String> = evs
        .iter()
        .map(|e| e["attributes"]["subject"].as_str().unwrap_or("").to_owned())
        .collect();
    subjects.sort();
    subjects
}

/// The published SMTP smuggling shapes: a bare LF or CR around the dot never ends DATA, so
/// the commands after it are message text, not a second transaction (for tenant beta here).
/// The message is refused with 550 once the real `<CRLF>.<CRLF>` arrives, and the session
/// goes on in step: the next well-formed message is stored exactly once.
#[tokio::test]
async fn smuggled_commands_after_a_bare_line_end_are_never_run() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (mut pipeline, addr) = start_with(&nats, &rae, "", "").await;

    let shapes = ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r\n.\r", "\n.\r"];
    for (i, shape) in shapes.iter().enumerate() {
        let mut c = Raw::connect(addr).await;
        assert_eq!(c.cmd("EHLO client.example.com").await.0, 250);
        open_data(&mut c, "alice@example.com").await;
        let carrier = format!(
            "From: Alice <alice@example.com>\r\nSubject: carrier {i}\r\nMessage-ID: <carrier-{i}@example.com>\r\n\r\nhello"
        );
        let smuggled = format!(
            "MAIL FROM:<mallory@example.com>\r\nRCPT TO:<memories+beta@rae.example.com>\r\nDATA\r\n{}",
            message(&format!("smuggled-{i}@example.com"), "smuggled", "into beta")
        );
        c.send(&format!("{carrier}{shape}{smuggled}.\r\n")).await;
        let (code, text) = c.read_reply().await;
        assert_eq!(code, 550, "shape {shape:?}: {text}");
        assert!(text.contains("bare LF or CR"), "shape {shape:?}: {text}");

        // In step: a well-formed message in the same session is taken, once.
        open_data(&mut c, "alice@example.com").await;
        c.send(&message(
            &format!("after-{i}@example.com"),
            &format!("after {i}"),
            "fine",
        ))
        .await;
        let (code, text) = c.cmd(".").await;
        assert_eq!(code, 250, "shape {shape:?}: {text}");
        assert_eq!(c.cmd("QUIT").await.0, 221, "shape {shape:?}");
    }

    let evs = events(&pipeline).await;
    let want: Vec<String> = (0..shapes.len()).map(|i| format!("after {i}")).collect();
    assert_eq!(subjects(&evs), want, "{evs:?}");
    assert!(
        evs.iter().all(|e| e["tenant"] == "default-tenant"),
        "{evs:?}"
    );
    pipeline.shutdown().await;
}

/// Lines longer than any read buffer arrive whole: a 100,000-byte body line and a long
/// `Subject:` (clipped only by the event's own limits).
#[tokio::test]
async fn long_lines_arrive_whole() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let limits = "limits:\n  max_content_bytes: 131072\n";
    let (mut pipeline, addr) = start_with(&nats, &rae, "", limits).await;

    let line = format!("START{}END!!", "x".repeat(99_990));
    assert_eq!(line.len(), 100_000);
    let mut c = Raw::connect(addr).await;
    assert_eq!(c.cmd("EHLO client.example.com").await.0, 250);
    open_data(&mut c, "alice@example.com").await;
    c.send(&message("long-body@example.com", "long body", &line))
        .await;
    let (code, text) = c.cmd(".").await;
    assert_eq!(code, 250, "{text}");

    // Longer than the event's content limit: the content is clipped there, and said so.
    let subject = format!("Budget{}", " word".repeat(30_000));
    open_data(&mut c, "alice@example.com").await;
    c.send(&message("long-subject@example.com", &subject, "body"))
        .await;
    let (code, text) = c.cmd(".").await;
    assert_eq!(code, 250, "{text}");

    let evs = events(&pipeline).await;
    assert_eq!(evs.len(), 2, "{evs:?}");
    let content = evs[0]["content"].as_str().unwrap();
    assert!(
        content == format!("long body\n\n{line}"),
        "{} bytes, starting {:?}",
        content.len(),
        &content[..content.len().min(40)]
    );
    let content = evs[1]["content"].as_str().unwrap();
    assert_eq!(content.len(), 131_072);
    let start = content.strip_suffix('…').expect("clipped with an ellipsis");
    assert!(subject.starts_with(start), "the subject's start is kept");
    assert_eq!(evs[1]["attributes"]["truncated"], true);
    let attribute = evs[1]["attributes"]["subject"].as_str().unwrap();
    assert!(attribute.starts_with("Budget word word"), "{attribute}");
    pipeline.shutdown().await;
}

/// Every byte counts against `max_message_bytes` (10 MiB by default), however long the lines:
/// 11.2 MB in 70 KB lines is answered 552, nothing is stored, and the session goes on.
#[tokio::test]
async fn a_message_over_the_limit_in_long_lines_is_refused() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (mut pipeline, addr) = start_with(&nats, &rae, "", "").await;

    let mut c = Raw::connect(addr).await;
    assert_eq!(c.cmd("EHLO client.example.com").await.0, 250);
    open_data(&mut c, "alice@example.com").await;
    let line = format!("{}\r\n", "y".repeat(69_998));
    let body = line.repeat(160);
    assert_eq!(body.len(), 11_200_000);
    c.send(&message("huge@example.com", "huge", &body)).await;
    let (code, text) = c.cmd(".").await;
    assert_eq!(code, 552, "{text}");
    assert_eq!(c.cmd("NOOP").await.0, 250);

    open_data(&mut c, "alice@example.com").await;
    c.send(&message("small@example.com", "small", "fits")).await;
    assert_eq!(c.cmd(".").await.0, 250);
    let evs = events(&pipeline).await;
    assert_eq!(subjects(&evs), ["small"], "{evs:?}");
    pipeline.shutdown().await;
}

/// `+tenant` names a tenant under `tenants`, by alias or by its `rae_tenant_id`; a RAE tenant
/// id configured nowhere is refused at RCPT.
#[tokio::test]
async fn plus_tenants_must_be_configured() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (mut pipeline, addr) = start_with(&nats, &rae, "", "").await;

    let mut c = Raw::connect(addr).await;
    assert_eq!(c.cmd("EHLO client.example.com").await.0, 250);
    assert_eq!(c.cmd("MAIL FROM:<alice@example.com>").await.0, 250);
    let stranger = "9e107d9d-3721-4b3a-9c8f-2d5e6f7a8b9c";
    let (code, text) = c
        .cmd(&format!("RCPT TO:<memories+{stranger}@rae.example.com>"))
        .await;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("5.1.1"), "{text}");
    assert!(text.contains("unknown tenant"), "{text}");
    assert!(text.contains(stranger), "{text}");
    let (code, text) = c
        .cmd(&format!("RCPT TO:<memories+{ACME}@rae.example.com>"))
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(c.cmd("DATA").await.0, 354);
    c.send(&message("by-id@example.com", "by id", "text")).await;
    assert_eq!(c.cmd(".").await.0, 250);

    let evs = events(&pipeline).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["tenant"], "acme");
    wait_for(
        "RAE to store the mail",
        std::time::Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let stored = rae.stored();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].headers["x-tenant-id"], ACME);
    pipeline.shutdown().await;
}

/// With `allowed_senders`, MAIL FROM outside the list (and the null sender) is refused with
/// 550; entries match case-insensitively, whole addresses or `@domain`.
#[tokio::test]
async fn only_allowed_senders_may_send() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let allowed = r#"        allowed_senders: ["alice@example.com", "@team.example.com"]"#;
    let (mut pipeline, addr) = start_with(&nats, &rae, allowed, "").await;

    let mut c = Raw::connect(addr).await;
    assert_eq!(c.cmd("EHLO client.example.com").await.0, 250);
    for refused in ["mallory@evil.example.org", "bob@example.com", ""] {
        let (code, text) = c.cmd(&format!("MAIL FROM:<{refused}>")).await;
        assert_eq!(code, 550, "{refused}: {text}");
        assert!(text.contains("5.7.1"), "{text}");
        assert!(text.contains("not allowed to send"), "{text}");
    }
    assert_eq!(c.cmd("RCPT TO:<memories@rae.example.com>").await.0, 503);
    open_data(&mut c, "ALICE@Example.COM").await;
    c.send(&message("allowed-1@example.com", "from alice", "x"))
        .await;
    assert_eq!(c.cmd(".").await.0, 250);
    open_data(&mut c, "carol@Team.example.com").await;
    c.send(&message("allowed-2@example.com", "from carol", "x"))
        .await;
    assert_eq!(c.cmd(".").await.0, 250);

    let evs = events(&pipeline).await;
    assert_eq!(subjects(&evs), ["from alice", "from carol"], "{evs:?}");
    pipeline.shutdown().await;
}

/// With `auth_users`, MAIL is refused (530) until the client authenticated.
#[tokio::test]
async fn auth_users_make_auth_required_before_mail() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let users = "        auth_users: [{ user: submitter, password: sub-Mitter-9431 }]";
    let (mut pipeline, addr) = start_with(&nats, &rae, users, "").await;

    let mut c = Raw::connect(addr).await;
    let (code, ehlo) = c.cmd("EHLO client.example.com").await;
    assert_eq!(code, 250);
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert_eq!(c.cmd("MAIL FROM:<alice@example.com>").await.0, 530);
    let wrong = base64::engine::general_purpose::STANDARD.encode("\0submitter\0wrong-password");
    assert_eq!(c.cmd(&format!("AUTH PLAIN {wrong}")).await.0, 535);
    assert_eq!(c.cmd("MAIL FROM:<alice@example.com>").await.0, 530);
    let right = base64::engine::general_purpose::STANDARD.encode("\0submitter\0sub-Mitter-9431");
    assert_eq!(c.cmd(&format!("AUTH PLAIN {right}")).await.0, 235);
    open_data(&mut c, "alice@example.com").await;
    c.send(&message("authed@example.com", "authed", "x")).await;
    assert_eq!(c.cmd(".").await.0, 250);
    assert_eq!(events(&pipeline).await.len(), 1);
    pipeline.shutdown().await;
}
