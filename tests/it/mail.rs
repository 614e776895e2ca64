//! Email intake as a mail sender sees it: real SMTP clients (lettre, Python's smtplib and a raw
//! socket) talk to the listener; memories reach the fake RAE; refusals carry the right codes.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use rae_core::subjects::EVENTS_STREAM;

use crate::harness::*;

mod hardening;

const ACME: &str = "4b8e0c1e-2f3a-4d5b-8c6d-7e8f9a0b1c2d";

fn mail_yaml() -> String {
    format!(
        r#"  - id: email
    config:
      smtp:
        listen: 127.0.0.1:0
        accept: ["memories@rae.example.com"]
        max_message_bytes: 8192
tenants:
  acme:
    rae_tenant_id: {ACME}
"#
    )
}

async fn start(nats: &NatsServer, rae: &FakeRae) -> (Pipeline, SocketAddr) {
    let config = test_config(nats, rae, &mail_yaml());
    let mut pipeline = Pipeline::start(&config).await;
    let running = pipeline.running.as_mut().expect("running");
    running.start_mail(&config).await.expect("mail starts");
    let addr = running.smtp_addr().expect("smtp listens");
    (pipeline, addr)
}

/// A raw SMTP client: one command, one (possibly multi-line) reply.
struct Raw {
    reader: BufReader<TcpStream>,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut raw = Raw {
            reader: BufReader::new(stream),
        };
        let (code, _) = raw.read_reply().await;
        assert_eq!(code, 220);
        raw
    }

    async fn read_reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
                .await
                .expect("reply in time")
                .expect("read");
            assert!(n > 0, "connection closed; so far: {text}");
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return (line[..3].parse().expect("code"), text);
            }
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.reader
            .get_mut()
            .write_all(bytes.as_bytes())
            .await
            .expect("write");
    }

    async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(&format!("{line}\r\n")).await;
        self.read_reply().await
    }
}

fn message(id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: Alice <alice@example.com>\r\nTo: memories@rae.example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 30 Nov 2026 09:10:00 +0000\r\n\r\n{body}\r\n"
    )
}

async fn events(pipeline: &Pipeline) -> Vec<Value> {
    stream_json(pipeline.bus(), EVENTS_STREAM).await
}

#[tokio::test]
async fn mail_sent_with_lettre_becomes_a_memory_once() {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (mut pipeline, addr) = start(&nats, &rae).await;

    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(addr.port())
        .build();
    let mail = Message::builder()
        .from("Alice <alice@example.com>".parse().unwrap())
        .to("memories@rae.example.com".parse().unwrap())
        .subject("[Ops] Disk full on db-1")
        .message_id(Some("<disk-1@example.com>".into()))
        .body("The disk of db-1 filled up at 03:00. #incident".to_owned())
        .unwrap();
    let answer = transport.send(mail.clone()).await.expect("accepted");
    assert_eq!(answer.code().to_string(), "250");

    wait_for("RAE to store the mail", Duration::from_secs(10), || async {
        !rae.stored().is_empty()
    })
    .await;
    let stored = &rae.stored()[0];
    let content = stored.body["content"].as_str().unwrap();
    assert!(
        content.starts_with("[Ops] Disk full on db-1\n\nThe disk of db-1 filled up"),
        "{content}"
    );
    let tags: Vec<&str> = stored.body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for tag in ["email", "ops", "incident"] {
        assert!(tags.contains(&tag), "{tags:?}");
    }
    assert_eq!(stored.headers["x-tenant-id"], "default-tenant");

    let evs = events(&pipeline).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["source"], "email");
    assert_eq!(evs[0]["kind"], "mail");
    assert_eq!(evs[0]["actor"], "alice@example.com");
    assert_eq!(evs[0]["attributes"]["message_id"], "disk-1@example.com");

    // A resend of the same message (same Message-ID) is accepted but not stored twice.
    transport.send(mail).await.expect("accepted again");
    let id = evs[0]["id"].as_str().unwrap();
    assert_eq!(events_with_id(pipeline.bus(), id).await.len(), 1);
    assert_eq!(events(&pipeline).await.len(), 1);
    pipeline.shutdown().await;
}

/// Sends `mail` from alice over raw SMTP and returns the reply to the end of its data.
async fn send_raw(addr: SocketAddr, mail: &str) -> (u16, String) {
    let mut smtp = Raw::connect(addr).await;
    assert_eq!(smtp.cmd("EHLO client.example.com").await.0, 250);
    assert_eq!(smtp.cmd("MAIL FROM:<alice@example.com>").await.0, 250);
    assert_eq!(smtp.cmd("RCPT TO:<memories@rae.example.com>").await.0, 250);
    assert_eq!(smtp.cmd("DATA").await.0, 354);
    smtp.send(&format!("{mail}.\r\n")).await;
    smtp.read_reply().await
}

/// Newsletters and list mail are stored tagged `bulk` and ranked below a colleague's mail; with
/// `bulk_mail: drop` they are accepted and not stored.
#[tokio::test]
async fn bulk_mail_ranks_low_or_is_dropped() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (mut pipeline, addr) = start(&nats, &rae).await;
    let newsletter = message(
        "news-1@example.com",
        "Our November product update",
        "New features and webinars.",
    )
    .replacen(
        "\r\n\r\n",
        "\r\nList-Unsubscribe: <mailto:unsubscribe@news.example.com>\r\n\r\n",
        1,
    );
    let colleague = message(
        "plan-1@example.com",
        "Release plan",
        "We ship the importer on Monday.",
    );
    assert_eq!(send_raw(addr, &newsletter).await.0, 250);
    assert_eq!(send_raw(addr, &colleague).await.0, 250);
    wait_for(
        "RAE to store both mails",
        Duration::from_secs(10),
        || async { rae.stored().len() == 2 },
    )
    .await;
    let stored = rae.stored();
    let find = |subject: &str| {
        stored
            .iter()
            .find(|s| {
                s.body["content"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(subject)
            })
            .unwrap_or_else(|| panic!("{subject} not stored"))
            .body
            .clone()
    };
    let (news, plan) = (find("Our November"), find("Release plan"));
    assert!(
        news["tags"].as_array().unwrap().contains(&json!("bulk")),
        "{news}"
    );
    assert!(
        news["importance"].as_f64().unwrap() < plan["importance"].as_f64().unwrap(),
        "{news}\n{plan}"
    );
    pipeline.shutdown().await;

    // Dropped: accepted, said so, and nothing published.
    let nats = NatsServer::start();
    let yaml = mail_yaml().replace(
        "        max_message_bytes: 8192\n",
        "        max_message_bytes: 8192\n      bulk_mail: drop\n",
    );
    let config = test_config(&nats, &rae, &yaml);
    let mut pipeline = Pipeline::start(&config).await;
    let running = pipeline.running.as_mut().expect("running");
    running.start_mail(&config).await.expect("mail starts");
    let addr = running.smtp_addr().expect("smtp listens");
    let (code, reply) = send_raw(addr, &newsletter.replace("news-1@", "news-2@")).await;
    assert_eq!(code, 250, "{reply}");
    assert!(reply.contains("not stored: bulk mail"), "{reply}");
    assert_eq!(events(&pipeline).await.len(), 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn python_smtplib_and_plus_addressing_select_the_tenant() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (mut pipeline, addr) = start(&nats, &rae).await;

    let script = format!(
        r#"
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "Bob <bob@example.com>"
m["To"] = "memories+acme@rae.example.com"
m["Subject"] = "Grüße vom Team [Roadmap]"
m["Message-ID"] = "<py-1@example.com>"
m.set_content("Wir planen das Release für März.\n.leading dot stays\n")
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.ehlo()
    assert s.has_extn("size") and s.has_extn("pipelining")
    s.send_message(m)
"#,
        port = addr.port()
    );
    let status = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .status()
        .await
        .expect("python3 runs");
    assert!(status.success());

    wait_for("RAE to store the mail", Duration::from_secs(10), || async {
        !rae.stored().is_empty()
    })
    .await;
    let stored = &rae.stored()[0];
    assert_eq!(stored.headers["x-tenant-id"], ACME);
    let content = stored.body["content"].as_str().unwrap();
    assert!(content.starts_with("Grüße vom Team [Roadmap]"), "{content}");
    assert!(content.contains("Release für März"), "{content}");
    assert!(content.contains("\n.leading dot stays"), "{content}");
    let evs = events(&pipeline).await;
    assert_eq!(evs[0]["tenant"], "acme");
    assert_eq!(
        evs[0]["attributes"]["recipient"],
        "memories+acme@rae.example.com"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn refusals_unknown_recipients_sizes_and_order() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (mut pipeline, addr) = start(&nats, &rae).await;

    let mut c = Raw::connect(addr).await;
    assert_eq!(c.cmd("MAIL FROM:<a@example.com>").await.0, 503);
    let (code, ehlo) = c.cmd("EHLO client.example.com").await;
    assert_eq!(code, 250);
    assert!(ehlo.contains("SIZE 8192"), "{ehlo}");
    assert!(ehlo.contains("PIPELINING"), "{ehlo}");
    assert_eq!(c.cmd("DATA").await.0, 503);
    assert_eq!(c.cmd("MAIL FROM:<a@example.com> SIZE=100000").await.0, 552);
    assert_eq!(c.cmd("MAIL FROM:<a@example.com>").await.0, 250);
    assert_eq!(c.cmd("RCPT TO:<someone@rae.example.com>").await.0, 550);
    assert_eq!(c.cmd("RCPT TO:<memories@other.example.com>").await.0, 550);
    let (code, text) = c.cmd("RCPT TO:<memories+nobody@rae.example.com>").await;
    assert_eq!(code, 550);
    assert!(text.contains("unknown tenant"), "{text}");
    assert_eq!(c.cmd("RCPT TO:<Memories@RAE.example.com>").await.0, 250);
    assert_eq!(c.cmd("DATA").await.0, 354);
    let big = "x".repeat(100);
    let mut body = String::new();
    for _ in 0..200 {
        body.push_str(&big);
        body.push_str("\r\n");
    }
    c.send(&message("big@example.com", "too big", &body)).await;
    let (code, _) = c.cmd(".").await;
    assert_eq!(code, 552);
    assert_eq!(c.cmd("NOOP").await.0, 250);
    assert_eq!(c.cmd("RSET").await.0, 250);

    // Pipelined: the whole transaction in one write, the replies in order.
    let msg = message("pipe@example.com", "pipelined", "..dot-stuffed line");
    c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<nobody@rae.example.com>\r\nRCPT TO:<memories@rae.example.com>\r\nDATA\r\n")
        .await;
    assert_eq!(c.read_reply().await.0, 250);
    assert_eq!(c.read_reply().await.0, 550);
    assert_eq!(c.read_reply().await.0, 250);
    assert_eq!(c.read_reply().await.0, 354);
    c.send(&format!("{msg}.\r\nQUIT\r\n")).await;
    assert_eq!(c.read_reply().await.0, 250);
    assert_eq!(c.read_reply().await.0, 221);

    let evs = events(&pipeline).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["content"], "pipelined\n\n.dot-stuffed line");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn nats_down_answers_451_so_the_sender_retries() {
    let mut nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (mut pipeline, addr) = start(&nats, &rae).await;

    nats.stop();
    wait_for("the client to notice", Duration::from_secs(10), || async {
        !pipeline.bus().is_connected()
    })
    .await;
    let mut c = Raw::connect(addr).await;
    assert_eq!(c.cmd("HELO client").await.0, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@example.com>").await.0, 250);
    assert_eq!(c.cmd("RCPT TO:<memories@rae.example.com>").await.0, 250);
    assert_eq!(c.cmd("DATA").await.0, 354);
    c.send(&message("retry@example.com", "retry me", "later"))
        .await;
    let (code, text) = c.cmd(".").await;
    assert_eq!(code, 451, "{text}");

    nats.restart();
    wait_for(
        "the client to reconnect",
        Duration::from_secs(15),
        || async { pipeline.bus().is_connected() },
    )
    .await;
    assert_eq!(c.cmd("MAIL FROM:<a@example.com>").await.0, 250);
    assert_eq!(c.cmd("RCPT TO:<memories@rae.example.com>").await.0, 250);
    assert_eq!(c.cmd("DATA").await.0, 354);
    c.send(&message("retry@example.com", "retry me", "later"))
        .await;
    let (code, text) = c.cmd(".").await;
    assert_eq!(code, 250, "{text}");
    wait_for("RAE to store the mail", Duration::from_secs(20), || async {
        !rae.stored().is_empty()
    })
    .await;
    pipeline.shutdown().await;
}

fn imap_yaml(dovecot: &Dovecot, extra: &str) -> String {
    format!(
        r#"  - id: email
    config:
      imap:
        - host: 127.0.0.1
          port: {port}
          tls: false
          user: {user}
          password: {password}
          poll_interval_secs: 1
{extra}"#,
        port = dovecot.port,
        user = Dovecot::USER,
        password = Dovecot::PASSWORD,
    )
}

async fn start_imap(config: &rae_core::config::Config) -> Pipeline {
    let mut pipeline = Pipeline::start(config).await;
    let running = pipeline.running.as_mut().expect("running");
    running.start_mail(config).await.expect("mail starts");
    pipeline
}

#[tokio::test]
async fn imap_poller_restarts_without_missing_or_repeating_mail() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let dovecot = Dovecot::start();
    dovecot
        .append("INBOX", &message("imap-1@example.com", "first", "one"))
        .await;
    dovecot
        .append("INBOX", &message("imap-2@example.com", "second", "two"))
        .await;
    let config = test_config(&nats, &rae, &imap_yaml(&dovecot, ""));

    let mut pipeline = start_imap(&config).await;
    wait_for("two mails stored", Duration::from_secs(20), || async {
        rae.stored().len() == 2
    })
    .await;
    pipeline.shutdown().await;

    // While the poller is down a third mail arrives; a fresh poller takes only that one.
    dovecot
        .append("INBOX", &message("imap-3@example.com", "third", "three"))
        .await;
    let mut pipeline = start_imap(&config).await;
    wait_for("the third mail stored", Duration::from_secs(20), || async {
        rae.stored().len() == 3
    })
    .await;
    // A poll round more: nothing is fetched twice.
    dovecot
        .append("INBOX", &message("imap-4@example.com", "fourth", "four"))
        .await;
    wait_for(
        "the fourth mail stored",
        Duration::from_secs(20),
        || async { rae.stored().len() == 4 },
    )
    .await;
    let evs = events(&pipeline).await;
    let mut subjects: Vec<String> = evs
        .iter()
        .map(|e| e["attributes"]["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["first", "fourth", "second", "third"]);

    // Handled mail is flagged \Seen.
    let mut session = dovecot.session().await;
    session.select("INBOX").await.unwrap();
    let unseen = session.uid_search("UNSEEN").await.unwrap();
    assert!(unseen.is_empty(), "{unseen:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn imap_poller_moves_handled_mail() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let dovecot = Dovecot::start();
    {
        let mut session = dovecot.session().await;
        session.create("Stored").await.unwrap();
    }
    dovecot
        .append("INBOX", &message("move-1@example.com", "move me", "body"))
        .await;
    let extra = "          after: move\n          move_to: Stored\n";
    let config = test_config(&nats, &rae, &imap_yaml(&dovecot, extra));
    let mut pipeline = start_imap(&config).await;
    wait_for("the mail stored", Duration::from_secs(20), || async {
        rae.stored().len() == 1
    })
    .await;
    wait_for("the mail moved", Duration::from_secs(10), || async {
        let mut session = dovecot.session().await;
        let inbox = session.select("INBOX").await.unwrap().exists;
        let stored = session.select("Stored").await.unwrap().exists;
        inbox == 0 && stored == 1
    })
    .await;
    pipeline.shutdown().await;
}

/// A minimal outgoing relay that records each message it is given.
async fn fake_relay() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    fake_relay_greeting_after(Duration::ZERO).await
}

/// [`fake_relay`] that greets each connection only after `delay`: a slow relay.
async fn fake_relay_greeting_after(
    delay: Duration,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut io = BufReader::new(stream);
                tokio::time::sleep(delay).await;
                io.get_mut().write_all(b"220 relay\r\n").await.ok();
                let mut data: Option<String> = None;
                let mut line = String::new();
                while io.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let answer: Option<&[u8]> = match data.as_mut() {
                        Some(text) if line == ".\r\n" => {
                            sink.lock().unwrap().push(std::mem::take(text));
                            data = None;
                            Some(b"250 queued\r\n")
                        }
                        Some(text) => {
                            text.push_str(&line);
                            None
                        }
                        None if line.starts_with("DATA") => {
                            data = Some(String::new());
                            Some(b"354 go\r\n")
                        }
                        None if line.starts_with("QUIT") => Some(b"221 bye\r\n"),
                        None => Some(b"250 ok\r\n"),
                    };
                    if let Some(answer) = answer {
                        io.get_mut().write_all(answer).await.ok();
                    }
                    line.clear();
                }
            });
        }
    });
    (port, got)
}

#[tokio::test]
async fn receipts_go_only_to_allowed_senders_of_new_mail() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (relay_port, receipts) = fake_relay().await;
    let yaml = format!(
        r#"  - id: email
    config:
      smtp:
        listen: 127.0.0.1:0
        accept: ["memories@rae.example.com"]
      receipts:
        relay: 127.0.0.1
        port: {relay_port}
        tls: none
        from: "RAE <memories@rae.example.com>"
        allow: ["@example.com"]
"#
    );
    let config = test_config(&nats, &rae, &yaml);
    let mut pipeline = Pipeline::start(&config).await;
    let running = pipeline.running.as_mut().expect("running");
    running.start_mail(&config).await.expect("mail starts");
    let addr = running.smtp_addr().expect("smtp listens");

    let send = |from: &'static str, raw: String| async move {
        let mut c = Raw::connect(addr).await;
        assert_eq!(c.cmd("HELO c").await.0, 250);
        assert_eq!(c.cmd(&format!("MAIL FROM:<{from}>")).await.0, 250);
        assert_eq!(c.cmd("RCPT TO:<memories@rae.example.com>").await.0, 250);
        assert_eq!(c.cmd("DATA").await.0, 354);
        c.send(&raw).await;
        assert_eq!(c.cmd(".").await.0, 250);
    };
    send(
        "alice@example.com",
        message("r-1@example.com", "Plan", "text"),
    )
    .await;
    wait_for("a receipt", Duration::from_secs(10), || async {
        receipts.lock().unwrap().len() == 1
    })
    .await;
    let receipt = receipts.lock().unwrap()[0].clone();
    assert!(
        receipt.contains("Auto-Submitted: auto-replied"),
        "{receipt}"
    );
    assert!(
        receipt.contains("In-Reply-To: <r-1@example.com>"),
        "{receipt}"
    );
    assert!(receipt.contains("To: alice@example.com"), "{receipt}");
    assert!(receipt.contains("Subject: Re: Plan"), "{receipt}");

    // No receipt: a resend, a sender outside the list, machine-sent mail.
    send(
        "alice@example.com",
        message("r-1@example.com", "Plan", "text"),
    )
    .await;
    let outsider = message("r-2@evil.example.org", "Hi", "x")
        .replace("alice@example.com", "mallory@evil.example.org");
    send("mallory@evil.example.org", outsider).await;
    let robot = format!(
        "Auto-Submitted: auto-generated\r\n{}",
        message("r-3@example.com", "Out of office", "x")
    );
    send("alice@example.com", robot).await;
    // A barrier: the next allowed mail's receipt is the second one.
    send("alice@example.com", message("r-4@example.com", "Next", "y")).await;
    wait_for("the second receipt", Duration::from_secs(10), || async {
        receipts.lock().unwrap().len() >= 2
    })
    .await;
    let all = receipts.lock().unwrap().clone();
    assert_eq!(all.len(), 2);
    assert!(all[1].contains("Subject: Re: Next"), "{}", all[1]);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn shutdown_waits_for_a_receipt_under_way() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    // The relay takes seconds to greet: the receipt is still being sent when shutdown starts.
    let (relay_port, receipts) = fake_relay_greeting_after(Duration::from_secs(3)).await;
    let yaml = format!(
        r#"  - id: email
    config:
      smtp:
        listen: 127.0.0.1:0
        accept: ["memories@rae.example.com"]
      receipts:
        relay: 127.0.0.1
        port: {relay_port}
        tls: none
        from: "RAE <memories@rae.example.com>"
        allow: ["@example.com"]
"#
    );
    let config = test_config(&nats, &rae, &yaml);
    let mut pipeline = Pipeline::start(&config).await;
    let running = pipeline.running.as_mut().expect("running");
    running.start_mail(&config).await.expect("mail starts");
    let addr = running.smtp_addr().expect("smtp listens");

    let mut c = Raw::connect(addr).await;
    assert_eq!(c.cmd("HELO c").await.0, 250);
    assert_eq!(c.cmd("MAIL FROM:<alice@example.com>").await.0, 250);
    assert_eq!(c.cmd("RCPT TO:<memories@rae.example.com>").await.0, 250);
    assert_eq!(c.cmd("DATA").await.0, 354);
    c.send(&message("late-1@example.com", "Late", "text")).await;
    assert_eq!(c.cmd(".").await.0, 250);
    assert!(receipts.lock().unwrap().is_empty());

    // The shutdown (grace 10 s) returns only after the relay took the receipt.
    pipeline.shutdown().await;
    let sent = receipts.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "the receipt was abandoned");
    assert!(sent[0].contains("Subject: Re: Late"), "{}", sent[0]);
}
