//! Pure mail handling: a raw RFC 5322 message becomes the fields of one event.
//!
//! mail-parser decodes MIME, transfer encodings and charsets; this module picks what a memory
//! needs (subject and the readable body without quotes and signatures, sender, threading,
//! attachment names and sizes, tags) and never looks at the network.

use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use rae_core::event::{self, Event, Limits, Route};
use rae_core::text::clip_bytes;

/// The parts of a message an event is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub subject: String,
    /// The text body with quoted replies and the signature trimmed.
    pub body: String,
    /// Sender address (lowercased) and display name.
    pub from: Option<String>,
    pub from_name: Option<String>,
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The subject without `Re:`/`Fwd:` prefixes, as mail clients group threads.
    pub thread: Option<String>,
    /// Attachment names and sizes in bytes.
    pub attachments: Vec<(String, usize)>,
    pub date: Option<OffsetDateTime>,
    /// From `Importance`/`X-Priority`: high 0.8, low 0.2, else left to the enricher.
    pub importance: Option<f64>,
    /// SHA-256 of the raw message, the dedupe key of mail without `Message-ID`.
    pub digest: String,
    /// Bulk: sent by a machine or to a list (`Auto-Submitted`, `Precedence: bulk|list|junk`,
    /// `List-Unsubscribe`, `List-Id`). Tagged `bulk`, dropped with `bulk_mail: drop`, and never
    /// answered, so receipts cannot loop.
    pub automatic: bool,
}

/// Parses a raw message; `None` when it is not a message at all.
pub fn parse(raw: &[u8]) -> Option<Mail> {
    let message = MessageParser::default().parse(raw)?;
    let subject = message.subject().unwrap_or_default().trim().to_owned();
    let body = message
        .body_text(0)
        .map(|b| trim_body(&b))
        .unwrap_or_default();
    let sender = message.from().and_then(|a| a.first());
    let from = sender
        .and_then(|a| a.address())
        .map(|a| a.trim().to_ascii_lowercase());
    let from_name = sender
        .and_then(|a| a.name())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let ids = |value: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        match value {
            mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
            mail_parser::HeaderValue::TextList(list) => {
                list.iter().map(|t| t.to_string()).collect()
            }
            _ => Vec::new(),
        }
    };
    let attachments = message
        .attachments()
        .map(|part| {
            let name = part.attachment_name().unwrap_or("unnamed").to_owned();
            (name, part.len())
        })
        .collect();
    let date = message
        .date()
        .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok());
    let importance = priority(
        message.header_raw("Importance"),
        message.header_raw("X-Priority"),
    );
    Some(Mail {
        thread: message
            .thread_name()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        subject,
        body,
        from,
        from_name,
        message_id: message
            .message_id()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        attachments,
        date,
        importance,
        digest: hex::encode(Sha256::digest(raw)),
        automatic: message
            .header_raw("Auto-Submitted")
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"))
            || message.header_raw("List-Unsubscribe").is_some()
            || message.header_raw("List-Id").is_some()
            || message.header_raw("Precedence").is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "bulk" | "list" | "junk"
                )
            }),
    })
}

fn priority(importance: Option<&str>, x_priority: Option<&str>) -> Option<f64> {
    let importance = importance.map(|v| v.trim().to_ascii_lowercase());
    let x = x_priority
        .and_then(|v| v.trim().chars().next())
        .and_then(|c| c.to_digit(10));
    match (importance.as_deref(), x) {
        (Some("high"), _) | (_, Some(1 | 2)) => Some(0.8),
        (Some("low"), _) | (_, Some(4 | 5)) => Some(0.2),
        _ => None,
    }
}

/// The body up to where quoted replies or the signature start; remaining `>` lines are dropped.
pub fn trim_body(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_end();
        // "-- " is the signature delimiter (RFC 3676); many clients lose the trailing space.
        if t == "--" || t == "-- " || line.starts_with("-- \n") {
            break;
        }
        let lower = t.trim().to_ascii_lowercase();
        if lower.starts_with("-----original message-----")
            || lower.starts_with("________________________________")
            || lower.starts_with("---------- forwarded message") && kept.is_empty()
        {
            break;
        }
        // "On <date>, <someone> wrote:" followed by quoted lines (possibly wrapped over two).
        let next_quoted = lines
            .get(i + 1..)
            .and_then(|rest| rest.iter().find(|l| !l.trim().is_empty()))
            .is_some_and(|l| l.trim_start().starts_with('>'));
        if lower.ends_with("wrote:") && next_quoted {
            if let Some(prev) = kept.last() {
                if prev.trim().to_ascii_lowercase().starts_with("on ") && !prev.ends_with('.') {
                    kept.pop();
                }
            }
            break;
        }
        if t.trim_start().starts_with('>') {
            continue;
        }
        kept.push(t);
    }
    let text = kept.join("\n");
    collapse_blank_lines(text.trim())
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blanks = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blanks += 1;
            if blanks > 1 {
                continue;
            }
        } else {
            blanks = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// Tags of a mail: `email`, `[bracketed]` subject words and `#hashtags` of subject and body.
pub fn tags(subject: &str, body: &str, limits: &Limits) -> Vec<String> {
    let mut tags = vec!["email".to_owned()];
    let mut push = |raw: &str| {
        // Folded first (NFC, lowercase): a decomposed accent is not alphanumeric and would be
        // dropped, making `cafe\u{301}` a tag apart from `café`.
        let tag: String = rae_core::hygiene::tag(raw)
            .chars()
            .map(|c| if c.is_whitespace() { '-' } else { c })
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
            .take(limits.max_tag_chars)
            .collect();
        let tag = tag
            .trim_matches(|c| matches!(c, '-' | '.' | '/'))
            .to_owned();
        if !tag.is_empty() && !tags.contains(&tag) && tags.len() < limits.max_tags {
            tags.push(tag);
        }
    };
    let mut rest = subject;
    while let Some(start) = rest.find('[') {
        let after = &rest[start + 1..];
        let Some(end) = after.find(']') else { break };
        push(&after[..end]);
        rest = &after[end + 1..];
    }
    for text in [subject, body] {
        let text = rae_core::hygiene::text(text);
        for word in text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')')) {
            let Some(tag) = word.strip_prefix('#') else {
                continue;
            };
            let tag = tag.trim_end_matches(|c: char| !c.is_alphanumeric());
            // `#42` is an issue number, not a tag.
            if !tag.is_empty() && !tag.chars().all(|c| c.is_ascii_digit()) {
                push(tag);
            }
        }
    }
    tags
}

/// Bytes kept of a header copied into the attributes (`subject`, `thread`).
const MAX_HEADER_ATTRIBUTE: usize = 512;

/// The event of a mail for one recipient.
///
/// `envelope_from` (SMTP `MAIL FROM`) stands in for a missing `From`; `recipient` is the
/// address the mail reached. Content longer than the limit is truncated, never refused, and
/// the attributes say so.
pub fn to_event(
    mail: &Mail,
    route: Route<'_>,
    limits: &Limits,
    envelope_from: Option<&str>,
    recipient: Option<&str>,
    now: OffsetDateTime,
) -> Event {
    // A subject of only control or zero-width characters shows nothing either: without a body
    // it would make content the event refuses as empty.
    let subject = if event::is_blank(&mail.subject) {
        "(no subject)"
    } else {
        mail.subject.as_str()
    };
    let full = if mail.body.is_empty() {
        subject.to_owned()
    } else {
        format!("{subject}\n\n{}", mail.body)
    };
    let content = clip_bytes(&full, limits.max_content_bytes).into_owned();
    let truncated = content.len() < full.len();
    let key = mail
        .message_id
        .as_ref()
        .map_or_else(|| format!("sha256:{}", mail.digest), |m| format!("<{m}>"));
    let id = event::derived_id(route.integration, &format!("{}\n{key}", route.tenant));
    let actor = mail
        .from
        .clone()
        .or_else(|| envelope_from.map(str::to_ascii_lowercase))
        .filter(|a| !a.is_empty());
    let mut attributes = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            attributes.insert(k.to_owned(), v);
        }
    };
    // Headers can be as long as the message: attributes keep a bounded start of each, so a
    // long subject is clipped here and never makes the whole event invalid.
    put(
        "subject",
        json!(clip_bytes(&mail.subject, MAX_HEADER_ATTRIBUTE)),
    );
    let clip = |text: &str| clip_bytes(text, MAX_HEADER_ATTRIBUTE).into_owned();
    let clip_all = |ids: &[String]| ids.iter().map(|id| clip(id)).collect::<Vec<_>>();
    put("message_id", json!(mail.message_id.as_deref().map(clip)));
    put("from_name", json!(mail.from_name.as_deref().map(clip)));
    put("recipient", json!(recipient));
    if !mail.in_reply_to.is_empty() {
        put(
            "in_reply_to",
            json!(clip_all(
                &mail.in_reply_to[..mail.in_reply_to.len().min(10)]
            )),
        );
    }
    if !mail.references.is_empty() {
        // The newest references matter most; a long thread's list would crowd the attributes.
        let start = mail.references.len().saturating_sub(10);
        put("references", json!(clip_all(&mail.references[start..])));
    }
    // The thread's first message: the oldest reference, else the one replied to, else itself.
    let root = mail
        .references
        .first()
        .or(mail.in_reply_to.first())
        .or(mail.message_id.as_ref());
    if let Some(root) = root {
        put(
            rae_core::event::SESSION_ID,
            json!(format!("email:{}", clip(root))),
        );
        // The thread's readable name: its subject without `Re:`.
        if let Some(thread) = mail.thread.as_deref().filter(|t| !t.trim().is_empty()) {
            put(
                rae_core::event::HUMAN_LABEL,
                json!(format!(
                    "Mail: {}",
                    clip_bytes(thread, MAX_HEADER_ATTRIBUTE)
                )),
            );
        }
    }
    put(
        "thread",
        json!(mail
            .thread
            .as_deref()
            .map(|t| clip_bytes(t, MAX_HEADER_ATTRIBUTE))),
    );
    if !mail.attachments.is_empty() {
        let list: Vec<Value> = mail
            .attachments
            .iter()
            .take(20)
            .map(|(name, bytes)| json!({"name": clip_bytes(name, 200), "bytes": bytes}))
            .collect();
        put("attachments", Value::Array(list));
        put("attachment_count", json!(mail.attachments.len()));
    }
    if truncated {
        put("truncated", json!(true));
        put("content_bytes", json!(full.len()));
    }
    let mut tags = tags(&mail.subject, &mail.body, limits);
    if mail.automatic {
        // Bulk: the shipped rule `bulk-mail` ranks it below colleagues' mail.
        put("bulk", json!(true));
        event::push_tag(&mut tags, "bulk", limits);
    }
    Event::builder(route, id, "mail", content)
        .importance(mail.importance)
        .tags(tags)
        .occurred_at(mail.date.unwrap_or(now))
        .received_at(now)
        .actor(actor)
        .attributes(attributes)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the test mails go.
    pub(super) const ROUTE: Route<'static> = Route {
        integration: "email",
        source: Source::Email,
        tenant: "t",
        project: "p",
    };
    use rae_core::event::Source;

    fn corpus(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/fixtures/email/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The event of a raw message, for tenant `t` and project `p`, with the default limits.
    pub(super) fn raw_event(raw: &[u8]) -> Event {
        let mail = parse(raw).unwrap();
        to_event(
            &mail,
            ROUTE,
            &Limits::default(),
            None,
            None,
            OffsetDateTime::now_utc(),
        )
    }

    fn event_of(name: &str) -> Event {
        let mail = parse(&corpus(name)).expect("parses");
        let target = Route {
            integration: "email",
            source: Source::Email,
            tenant: "default-tenant",
            project: "default",
        };
        let event = to_event(
            &mail,
            target,
            &Limits::default(),
            None,
            Some("memories@rae.example.com"),
            OffsetDateTime::now_utc(),
        );
        event.validate(&Limits::default()).expect("valid event");
        event
    }

    #[test]
    fn plain_text_with_hashtags_and_brackets() {
        let e = event_of("plain.eml");
        assert!(e
            .content
            .starts_with("[Infra] Use PostgreSQL for the event store"));
        assert!(e.content.contains("We decided to move the event store"));
        assert_eq!(e.actor.as_deref(), Some("alice@example.com"));
        assert_eq!(e.tags, ["email", "infra", "decision", "database"]);
        assert_eq!(e.attributes["message_id"], "plain-1@example.com");
        assert_eq!(e.attributes["from_name"], "Alice Example");
        assert_eq!(e.occurred_at.unix_timestamp(), 1_796_029_800);
        assert_eq!(e.source, Source::Email);
        assert_eq!(e.kind, "mail");
        assert_eq!(e.importance, Some(0.8));
    }

    #[test]
    fn multipart_alternative_prefers_text() {
        let e = event_of("multipart-alternative.eml");
        assert!(
            e.content.contains("The deploy of v2.3 failed"),
            "{}",
            e.content
        );
        assert!(!e.content.contains("<p>"));
    }

    #[test]
    fn html_only_becomes_text() {
        let e = event_of("html-only.eml");
        assert!(
            e.content.contains("Quarterly review moved to Friday"),
            "{}",
            e.content
        );
        assert!(!e.content.contains("<b>"), "{}", e.content);
        assert!(!e.content.contains("<html"), "{}", e.content);
    }

    #[test]
    fn quoted_printable_latin1() {
        let e = event_of("quoted-printable-latin1.eml");
        assert!(e.content.contains("Café"), "{}", e.content);
        assert!(e.content.contains("Größe"), "{}", e.content);
    }

    #[test]
    fn base64_and_encoded_subject() {
        let e = event_of("base64-utf8.eml");
        assert!(e.content.starts_with("Über die Änderung"), "{}", e.content);
        assert!(e.content.contains("Zusammenfassung"), "{}", e.content);
    }

    #[test]
    fn non_utf8_charsets() {
        let e = event_of("iso-2022-jp.eml");
        assert!(e.content.contains("会議"), "{}", e.content);
        let e = event_of("windows-1251.eml");
        assert!(e.content.contains("Привет"), "{}", e.content);
    }

    #[test]
    fn attachments_are_named_not_stored() {
        let e = event_of("attachment.eml");
        assert_eq!(e.attributes["attachment_count"], 1);
        assert_eq!(e.attributes["attachments"][0]["name"], "report.pdf");
        assert!(e.attributes["attachments"][0]["bytes"].as_u64().unwrap() > 0);
        assert!(!e.content.contains("JVBERi0"), "{}", e.content);
    }

    #[test]
    fn replies_lose_quotes_and_signature_and_keep_threading() {
        let e = event_of("reply.eml");
        assert!(
            e.content.contains("Agreed, let's ship it Monday."),
            "{}",
            e.content
        );
        assert!(!e.content.contains("wrote:"), "{}", e.content);
        assert!(!e.content.contains("Original proposal"), "{}", e.content);
        assert!(!e.content.contains("Bob, Platform team"), "{}", e.content);
        assert_eq!(e.attributes["in_reply_to"][0], "plain-1@example.com");
        assert_eq!(e.attributes["thread"], "Shipping plan");
        // The reply joins the conversation its first message (the oldest reference) started;
        // a first message starts its own.
        assert_eq!(e.attributes["session_id"], "email:root-0@example.com");
        assert_eq!(e.attributes["human_label"], "Mail: Shipping plan");
        let first = event_of("plain.eml");
        assert_eq!(first.attributes["session_id"], "email:plain-1@example.com");
    }

    #[test]
    fn long_bodies_are_truncated_and_said_so() {
        let body = "word ".repeat(20_000);
        let raw = format!("From: a@b.c\r\nSubject: long\r\nMessage-ID: <l@b.c>\r\n\r\n{body}\r\n");
        let limits = Limits::default();
        let e = raw_event(raw.as_bytes());
        assert!(e.content.len() <= limits.max_content_bytes);
        assert_eq!(e.attributes["truncated"], true);
    }

    #[test]
    fn a_long_subject_is_clipped_not_refused() {
        let subject = format!("Re: Budget{}", " word".repeat(30_000));
        let raw =
            format!("From: a@b.c\r\nSubject: {subject}\r\nMessage-ID: <s@b.c>\r\n\r\nbody\r\n");
        let limits = Limits::default();
        let e = raw_event(raw.as_bytes());
        e.validate(&limits).unwrap();
        let start = e.content.strip_suffix('…').unwrap();
        assert!(
            subject.starts_with(start),
            "the content is the subject's start"
        );
        assert_eq!(e.content.len(), limits.max_content_bytes);
        for key in ["subject", "thread"] {
            let value = e.attributes[key].as_str().unwrap();
            assert!(
                value.len() <= 512 && value.contains("Budget word"),
                "{key}: {value}"
            );
        }
    }

    #[test]
    fn long_address_and_id_headers_are_clipped_not_refused() {
        let long = "x".repeat(100_000);
        let raw = format!(
            "From: \"{long}\" <a@b.c>\r\nSubject: s\r\nMessage-ID: <{long}@b.c>\r\nIn-Reply-To: <{long}@b.c>\r\nReferences: <{long}@b.c>\r\n\r\nbody\r\n"
        );
        let limits = Limits::default();
        let e = raw_event(raw.as_bytes());
        e.validate(&limits).unwrap();
        for key in ["message_id", "from_name"] {
            assert!(e.attributes[key].as_str().unwrap().len() <= 512, "{key}");
        }
        for key in ["in_reply_to", "references"] {
            assert!(e.attributes[key][0].as_str().unwrap().len() <= 512, "{key}");
        }
    }

    #[test]
    fn id_follows_message_id_and_tenant() {
        let raw = b"From: a@b.c\r\nSubject: x\r\nMessage-ID: <same@b.c>\r\n\r\nbody\r\n";
        let mail = parse(raw).unwrap();
        let now = OffsetDateTime::now_utc();
        let t = |tenant| Route {
            integration: "email",
            source: Source::Email,
            tenant,
            project: "p",
        };
        let l = Limits::default();
        let a = to_event(&mail, t("x"), &l, None, None, now);
        let b = to_event(&mail, t("x"), &l, None, None, now);
        let c = to_event(&mail, t("y"), &l, None, None, now);
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn tags_skip_issue_numbers() {
        let l = Limits::default();
        assert_eq!(
            tags("[Ops][Q3 plan] fix #42", "see #Outage, #db_migration.", &l),
            ["email", "ops", "q3-plan", "outage", "db_migration"]
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    const CORPUS: &[&[u8]] = &[
        include_bytes!("../../../tests/fixtures/email/attachment.eml"),
        include_bytes!("../../../tests/fixtures/email/base64-utf8.eml"),
        include_bytes!("../../../tests/fixtures/email/html-only.eml"),
        include_bytes!("../../../tests/fixtures/email/iso-2022-jp.eml"),
        include_bytes!("../../../tests/fixtures/email/multipart-alternative.eml"),
        include_bytes!("../../../tests/fixtures/email/plain.eml"),
        include_bytes!("../../../tests/fixtures/email/quoted-printable-latin1.eml"),
        include_bytes!("../../../tests/fixtures/email/reply.eml"),
        include_bytes!("../../../tests/fixtures/email/windows-1251.eml"),
    ];

    /// Bytes that matter to MIME: line ends, header syntax, boundaries, encodings.
    fn odd_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            prop::collection::vec(any::<u8>(), 1..4),
            prop::sample::select(vec![
                &b"\0"[..],
                b"\r",
                b"\n",
                b"\r\n",
                b"\r\n\r\n",
                b":",
                b"--",
                b"=?utf-8?B?",
                b"?=",
                b"=\r\n",
                b"=XY",
                b"boundary=",
                b"\x1b",
                b"\xff\xfe",
                b"Subject: ",
                b"\r\n.\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Type: multipart/mixed; boundary=b\r\n",
                b"Date: 0000-01-01T00:00:00Z\r\n",
                b"Date: Fri, 31 Dec 9999 23:59:59 +0000\r\n",
            ])
            .prop_map(<[u8]>::to_vec),
        ];
        prop::collection::vec(piece, 1..6).prop_map(|p| p.concat())
    }

    /// A real message with a few byte ranges replaced, removed or added.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(CORPUS),
            prop::collection::vec((any::<prop::sample::Index>(), 0usize..8, odd_bytes()), 1..4),
        )
            .prop_map(|(raw, edits)| {
                let mut raw = raw.to_vec();
                for (at, remove, insert) in edits {
                    let start = at.index(raw.len() + 1);
                    let end = (start + remove).min(raw.len());
                    raw.splice(start..end, insert);
                }
                raw
            })
    }

    /// What the intake promises for any input: no panic, and a mail that parses makes an
    /// event that passes validation (content is truncated, never refused).
    fn check(raw: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
        let Some(mail) = parse(raw) else {
            return Ok(());
        };
        let event = to_event(
            &mail,
            super::tests::ROUTE,
            limits,
            Some("Envelope@Example.com"),
            Some("memories@rae.example.com"),
            OffsetDateTime::now_utc(),
        );
        event
            .validate(limits)
            .map_err(|e| TestCaseError::fail(format!("{e}: {mail:?}")))?;
        prop_assert!(event.content.len() <= limits.max_content_bytes);
        Ok(())
    }

    /// Text that shows nothing: blanks, control and zero-width characters.
    fn blank() -> impl Strategy<Value = String> {
        "[ \t\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{7f}\u{200b}\u{feff}]{0,6}"
    }

    fn limits() -> impl Strategy<Value = Limits> {
        prop_oneof![
            3 => Just(Limits::default()),
            1 => (16usize..400).prop_map(|c| Limits { max_content_bytes: c, ..Limits::default() }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(rae_core::proptest_cases(256)))]

        #[test]
        fn arbitrary_bytes_never_panic(raw in prop_oneof![prop::collection::vec(any::<u8>(), 0..512), odd_bytes()]) {
            check(&raw, &Limits::default())?;
        }

        #[test]
        fn changed_real_messages_make_valid_events(raw in mutated(), limits in limits()) {
            check(&raw, &limits)?;
        }

        #[test]
        fn headers_of_any_text_make_valid_events(
            subject in prop_oneof![".{0,200}", blank()],
            from in ".{0,60}",
            body in prop_oneof![".{0,400}", blank()],
        ) {
            let raw = format!("From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{from}>\r\n\r\n{body}\r\n");
            check(raw.as_bytes(), &Limits::default())?;
        }

        #[test]
        fn trimming_and_tagging_never_panic(body in any::<String>(), subject in any::<String>()) {
            let trimmed = trim_body(&body);
            prop_assert!(trimmed.len() <= body.len() + 1);
            let limits = Limits::default();
            let tags = tags(&subject, &body, &limits);
            prop_assert!(tags.len() <= limits.max_tags);
            prop_assert!(tags.iter().all(|t| !t.is_empty() && t.chars().count() <= limits.max_tag_chars));
        }
    }

    /// Shrunk by `headers_of_any_text_make_valid_events`: a mail whose subject is only a
    /// zero-width space (or control characters) and whose body is empty made an event refused
    /// as empty; it is stored as `(no subject)`.
    #[test]
    fn an_invisible_subject_is_no_subject() {
        for raw in [
            &b"Subject: \xe2\x80\x8b\r\n\r\n"[..],
            b"Subject: \x01\x02\r\n\r\n",
        ] {
            let event = super::tests::raw_event(raw);
            assert_eq!(event.content, "(no subject)");
            event.validate(&Limits::default()).unwrap();
        }
    }

    /// The odd inputs of issue 21 as mail: NUL and other C0 bytes, dates at the ends of the
    /// calendar, tags differing by case or normalization, a 100 KB line.
    #[test]
    fn odd_inputs_get_their_documented_answers() {
        let event = |raw: &[u8]| {
            let mail = parse(raw).unwrap();
            let now = OffsetDateTime::now_utc();
            let event = to_event(
                &mail,
                super::tests::ROUTE,
                &Limits::default(),
                None,
                None,
                now,
            );
            event.validate(&Limits::default()).unwrap();
            (event, now)
        };
        // NUL and escape bytes are removed from the content, line ends kept.
        let (e, _) = event(b"Subject: nul\0 here\r\n\r\nbody\0 with\x1b[31m esc\x07\r\nnext\r\n");
        assert_eq!(e.content, "nul here\n\nbody with[31m esc\nnext");
        // Dates outside 1970 to a day ahead give way to the receive time.
        let occurred = |date: &str| {
            let (e, now) = event(format!("Date: {date}\r\nSubject: s\r\n\r\nb\r\n").as_bytes());
            (e.occurred_at, now)
        };
        for date in [
            "Fri, 31 Dec 9999 23:59:59 +0000",
            "Thu, 1 Jan 1970 00:00:00 +0100",
        ] {
            let (at, now) = occurred(date);
            assert_eq!(at, now, "{date}");
        }
        // mail-parser reads years below 50 as 20xx (RFC 5322 §4.5.2 two-digit years), year
        // 0000 too: a plausible time, kept.
        let (at, _) = occurred("Sat, 1 Jan 0000 00:00:00 +0000");
        assert_eq!(at.year(), 2000);
        // Hashtags differing by case or normalization are one tag (a decomposed accent was
        // dropped, so `#cafe\u{301}` was the tag `cafe`).
        let (e, _) = event("Subject: [CAFÉ] #café\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n#cafe\u{301} #Café\r\n".as_bytes());
        assert_eq!(e.tags, ["email", "caf\u{e9}"]);
        // A 100 KB line is truncated to the content limit, never refused.
        let line = "z".repeat(100 * 1024);
        let (e, _) = event(format!("Subject: long\r\n\r\n{line}\r\n").as_bytes());
        assert_eq!(e.content.len(), Limits::default().max_content_bytes);
        assert_eq!(e.attributes["truncated"], true);
    }
}
