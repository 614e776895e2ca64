//! Input hygiene: the one normalization of text, tags and times that every event gets, whatever
//! its source.
//!
//! [`EventBuilder::build`](crate::event::EventBuilder::build) applies [`event`] to each event it
//! makes, so every producer (webhook, memories API, GitHub, Slack, email, git, MCP, `send`) gets
//! the same rules without code of its own; [`crate::event::push_tag`] folds tags added later
//! (the git watcher's, the enricher's) the same way. The rules:
//!
//! - **Text** (content, actor, string values of attributes): Unicode NFC; `\r\n` and a lone `\r`
//!   become `\n`; every other control character (C0, DEL, C1) is removed except `\n` and `\t`.
//!   Content with nothing visible left is refused by
//!   [`validate_content`](crate::event::validate_content), as blank content always was.
//! - **Credentials** in text, actor, URL and attributes are replaced ([`crate::sensitive`]) and
//!   counted by kind.
//! - **Identifiers** (tenant, project, kind, a sender's `source`): a control character is refused
//!   with the field named ([`check_identifier`]), never silently changed, since the name would
//!   then differ from the one the sender meant. A project is brought to NFC, so two spellings of
//!   one name are one project.
//! - **Tags** ([`tag`], [`tags`]): text rules, then line breaks and tabs become spaces, Unicode
//!   lowercase, NFC, trimmed, empty ones dropped, duplicates dropped keeping the first: `CAFÉ`,
//!   `café` and `cafe\u{301}` are one tag `café`. Enricher rules compare tags through [`tag`] too.
//! - **Times** ([`plausible`]): from 1970-01-01T00:00:00Z to one day ([`MAX_AHEAD`]) after the
//!   time the event was received. A time a sender chose (the webhook's and memories API's
//!   `occurred_at`) outside that range is refused with the field named ([`check_time`]); a time
//!   read from a provider's payload (a GitHub or Slack timestamp, a mail's `Date`, a commit time)
//!   is replaced by the receive time, because the input itself is still worth a memory.

use std::borrow::Cow;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use unicode_normalization::{is_nfc, UnicodeNormalization};

use crate::event::{Event, InvalidField};
use crate::sensitive;

/// The earliest plausible time of an event.
pub const EARLIEST: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

/// How far after its receive time an event may say it happened (a sender's clock running ahead).
pub const MAX_AHEAD: Duration = Duration::DAY;

/// `raw` as text is stored: NFC, line breaks as `\n`, no control character but `\n` and `\t`.
pub fn text(raw: &str) -> Cow<'_, str> {
    let dirty = raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t');
    if !dirty && is_nfc(raw) {
        return Cow::Borrowed(raw);
    }
    let mut kept = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                kept.push('\n');
            }
            '\n' | '\t' => kept.push(c),
            c if c.is_control() => {}
            c => kept.push(c),
        }
    }
    // Controls go first: one between a letter and its accent would otherwise keep them apart.
    Cow::Owned(nfc(kept))
}

/// `raw` as a tag: [`text`], line breaks and tabs as spaces, lowercase, NFC, trimmed; empty when
/// nothing is left. Borrowed when `raw` is one already (the common case costs no allocation).
pub fn tag(raw: &str) -> Cow<'_, str> {
    if is_folded_ascii(raw) {
        return Cow::Borrowed(raw);
    }
    let spaced: String = text(raw)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // Lowercasing may produce a sequence NFC composes (and `İ` becomes two characters).
    Cow::Owned(nfc(spaced.trim().to_lowercase()))
}

/// True when `raw` is a tag as [`tag`] makes it, by the quick test most tags pass: printable
/// ASCII without capitals, not empty, no space at either end (ASCII is always NFC).
fn is_folded_ascii(raw: &str) -> bool {
    !raw.is_empty()
        && raw
            .bytes()
            .all(|b| matches!(b, b' '..=b'~') && !b.is_ascii_uppercase())
        && !raw.starts_with(' ')
        && !raw.ends_with(' ')
}

/// Each of `raw` as a [`tag`], without empty ones and later duplicates.
pub fn tags(raw: Vec<String>) -> Vec<String> {
    let mut folded: Vec<String> = Vec::with_capacity(raw.len());
    for one in raw {
        let one = match tag(&one) {
            Cow::Borrowed(_) => one,
            Cow::Owned(folded) => folded,
        };
        if !one.is_empty() && !folded.contains(&one) {
            folded.push(one);
        }
    }
    folded
}

fn nfc(text: String) -> String {
    if is_nfc(&text) {
        text
    } else {
        text.nfc().collect()
    }
}

/// An identifier must hold no control character.
///
/// # Errors
/// [`InvalidField`] on `field`.
pub fn check_identifier(field: &str, value: &str) -> Result<(), InvalidField> {
    if value.chars().any(char::is_control) {
        return Err(InvalidField::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// True when an event received at `received` may have happened at `at`: from [`EARLIEST`] to
/// [`MAX_AHEAD`] after `received`.
pub fn plausible(at: OffsetDateTime, received: OffsetDateTime) -> bool {
    let latest = received.checked_add(MAX_AHEAD).unwrap_or(received);
    (EARLIEST..=latest).contains(&at)
}

/// A time a sender chose must be [`plausible`].
///
/// # Errors
/// [`InvalidField`] on `field`, saying the range.
pub fn check_time(
    field: &str,
    at: OffsetDateTime,
    received: OffsetDateTime,
) -> Result<(), InvalidField> {
    if plausible(at, received) {
        return Ok(());
    }
    let given = at.format(&Rfc3339).unwrap_or_else(|_| at.to_string());
    Err(InvalidField::new(
        field,
        format!("{given} is not plausible: must be from 1970-01-01T00:00:00Z to one day after now"),
    ))
}

/// Applies the rules to `event`: text fields, the project's NFC form, tags, attributes, and an
/// implausible `occurred_at` replaced by `received_at`. Identifiers are left for
/// [`Event::validate`] to refuse.
pub fn event(event: &mut Event) {
    clean(&mut event.content, text);
    redact_credentials(event);
    clean(&mut event.project, |p| {
        if is_nfc(p) {
            Cow::Borrowed(p)
        } else {
            Cow::Owned(p.nfc().collect())
        }
    });
    if let Some(actor) = &mut event.actor {
        clean(actor, text);
    }
    if event.actor.as_deref().is_some_and(|a| a.trim().is_empty()) {
        event.actor = None;
    }
    event.tags = tags(std::mem::take(&mut event.tags));
    for value in event.attributes.values_mut() {
        clean_value(value);
    }
    if !plausible(event.occurred_at, event.received_at) {
        event.occurred_at = event.received_at;
    }
}

/// The attribute listing the kinds of credentials redacted from an event (never the values),
/// so the event stream records what was removed: `["aws_access_key", "github_token"]`.
pub const REDACTED: &str = "redacted";

/// Replaces every credential in the event's text ([`sensitive`]), counts it by kind and names
/// the kinds in the attribute [`REDACTED`].
fn redact_credentials(event: &mut Event) {
    let found = sensitive::in_event(event, sensitive::Class::Credentials, true);
    if found.is_empty() {
        return;
    }
    let mut kinds: Vec<String> = event
        .attributes
        .get(REDACTED)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for kind in found {
        metrics::counter!(crate::telemetry::names::REDACTIONS, "kind" => kind.as_str())
            .increment(1);
        kinds.push(kind.as_str().to_owned());
    }
    kinds.sort_unstable();
    kinds.dedup();
    event.attributes.insert(REDACTED.into(), kinds.into());
}

fn clean(field: &mut String, rule: impl Fn(&str) -> Cow<'_, str>) {
    if let Cow::Owned(cleaned) = rule(field) {
        *field = cleaned;
    }
}

fn clean_value(value: &mut Value) {
    match value {
        Value::String(s) => clean(s, text),
        Value::Array(items) => items.iter_mut().for_each(clean_value),
        Value::Object(map) => map.values_mut().for_each(clean_value),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn text_loses_controls_but_keeps_newlines_and_tabs() {
        assert_eq!(text("a\0b\u{1}c\u{1b}[31md\u{7f}e"), "abc[31mde");
        assert_eq!(text("one\ttwo\nthree"), "one\ttwo\nthree");
        assert_eq!(text("dos\r\nline\rmac\n"), "dos\nline\nmac\n");
        // C1 controls (U+0080..U+009F), such as NEL and CSI.
        assert_eq!(text("x\u{85}y\u{9b}z"), "xyz");
        assert!(matches!(text("plain text\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn text_is_nfc() {
        assert_eq!(text("cafe\u{301}"), "caf\u{e9}");
        // A control between a letter and its accent does not keep them apart.
        assert_eq!(text("cafe\0\u{301}"), "caf\u{e9}");
        assert_eq!(text("\u{212b}"), "\u{c5}");
    }

    #[test]
    fn the_three_cafe_forms_are_one_tag() {
        let forms = ["CAFÉ", "café", "cafe\u{301}", " Café\u{0} "];
        for form in forms {
            assert_eq!(tag(form), "caf\u{e9}", "{form:?}");
        }
        let folded = tags(forms.iter().map(|f| (*f).to_owned()).collect());
        assert_eq!(folded, ["caf\u{e9}"]);
        assert_eq!(
            tags(vec!["B".into(), "a".into(), "b".into(), "\u{7}".into()]),
            ["b", "a"]
        );
        assert_eq!(tag("two\twords\n"), "two words");
        assert_eq!(tag("ÀÉÎ"), "àéî");
    }

    #[test]
    fn identifiers_with_controls_are_refused() {
        assert!(check_identifier("project", "platform-ops").is_ok());
        assert!(check_identifier("project", "café").is_ok());
        for bad in ["a\0b", "tab\there", "new\nline", "x\u{85}"] {
            let err = check_identifier("project", bad).unwrap_err();
            assert_eq!(err.field, "project", "{bad:?}");
        }
    }

    #[test]
    fn times_are_plausible_from_1970_to_a_day_ahead() {
        let now = datetime!(2026-06-01 12:00 UTC);
        assert!(plausible(datetime!(1970-01-01 00:00 UTC), now));
        assert!(plausible(now, now));
        assert!(plausible(now + Duration::DAY, now));
        assert!(!plausible(now + Duration::DAY + Duration::SECOND, now));
        assert!(!plausible(datetime!(1969-12-31 23:59:59 UTC), now));
        assert!(!plausible(datetime!(0000-01-01 00:00 UTC), now));
        assert!(!plausible(datetime!(9999-12-31 23:59:59 UTC), now));
        let err = check_time("occurred_at", datetime!(9999-12-31 23:59:59 UTC), now).unwrap_err();
        assert_eq!(err.field, "occurred_at");
        assert!(err.message.contains("9999-12-31T23:59:59Z"), "{err}");
    }

    #[test]
    fn an_event_is_cleaned_in_one_pass() {
        let mut e = crate::event::sample();
        e.content = "line\r\nnul\0 gone".into();
        e.project = "cafe\u{301}".into();
        e.actor = Some("\u{1b}".into());
        e.tags = vec!["Deploy".into(), "deploy".into()];
        e.attributes.insert(
            "title".into(),
            serde_json::json!(["a\u{7}b", {"x": "c\u{0}"}]),
        );
        e.occurred_at = datetime!(0000-01-01 00:00 UTC);
        event(&mut e);
        assert_eq!(e.content, "line\nnul gone");
        assert_eq!(e.project, "caf\u{e9}");
        assert_eq!(e.actor, None);
        assert_eq!(e.tags, ["deploy"]);
        assert_eq!(e.attributes["title"], serde_json::json!(["ab", {"x": "c"}]));
        assert_eq!(e.occurred_at, e.received_at);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    /// Text biased towards what the rules act on: controls, CR/LF, combining marks, letters
    /// whose case or composition changes, and blanks.
    fn odd_text() -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            any::<char>().prop_map(String::from),
            prop::sample::select(vec![
                "\0", "\r", "\n", "\r\n", "\t", "\u{1b}", "\u{7f}", "\u{85}", "\u{9b}", "\u{301}",
                "\u{308}", "e", "E", "É", "ß", "İ", "\u{212b}", "Σ", " ", "\u{200b}", "\u{feff}",
            ])
            .prop_map(str::to_owned),
        ];
        prop::collection::vec(pieces, 0..24).prop_map(|p| p.concat())
    }

    fn nfd(s: &str) -> String {
        s.nfd().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(512)))]

        #[test]
        fn text_is_idempotent_nfc_and_free_of_controls(raw in prop_oneof![odd_text(), any::<String>()]) {
            let once = text(&raw).into_owned();
            let twice = text(&once).into_owned();
            prop_assert_eq!(twice, once.clone());
            prop_assert!(is_nfc(&once));
            prop_assert!(once.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'), "{:?}", once);
        }

        #[test]
        fn tags_are_idempotent_trimmed_and_one_line(raw in prop_oneof![odd_text(), any::<String>()]) {
            let once = tag(&raw).into_owned();
            prop_assert_eq!(tag(&once), once.clone());
            prop_assert!(is_nfc(&once));
            prop_assert!(!once.chars().any(char::is_control), "{:?}", once);
            prop_assert_eq!(once.trim(), once.as_str());
        }

        #[test]
        fn normalization_forms_are_one_tag(raw in odd_text()) {
            let decomposed = nfd(&raw);
            prop_assert_eq!(tag(&decomposed), tag(&raw));
            let composed: String = raw.nfc().collect();
            prop_assert_eq!(tag(&composed), tag(&raw));
        }

        #[test]
        fn folded_tags_are_distinct_and_not_empty(raw in prop::collection::vec(odd_text(), 0..8)) {
            let folded = tags(raw.clone());
            prop_assert_eq!(tags(folded.clone()), folded.clone());
            for (i, one) in folded.iter().enumerate() {
                prop_assert!(!one.is_empty());
                prop_assert!(!folded[..i].contains(one));
            }
            prop_assert!(folded.len() <= raw.len());
        }

        #[test]
        fn identifiers_are_refused_exactly_for_controls(value in prop_oneof![odd_text(), any::<String>()]) {
            match check_identifier("project", &value) {
                Ok(()) => prop_assert!(!value.chars().any(char::is_control)),
                Err(err) => {
                    prop_assert!(value.chars().any(char::is_control));
                    prop_assert_eq!(err.field, "project");
                }
            }
        }

        #[test]
        fn any_time_is_judged_without_panic(
            at in any::<i64>(),
            received in datetime!(1970-01-01 00:00 UTC).unix_timestamp()..datetime!(9999-12-31 23:59:59 UTC).unix_timestamp(),
        ) {
            let clamp = |secs: i64| {
                OffsetDateTime::from_unix_timestamp(secs).unwrap_or(if secs < 0 {
                    datetime!(-9999-01-01 00:00 UTC)
                } else {
                    datetime!(9999-12-31 23:59:59 UTC)
                })
            };
            let (at, received) = (clamp(at), clamp(received));
            let ok = plausible(at, received);
            let latest = received.checked_add(MAX_AHEAD).unwrap_or(received);
            prop_assert_eq!(ok, at >= EARLIEST && at <= latest);
            match check_time("occurred_at", at, received) {
                Ok(()) => prop_assert!(ok),
                Err(err) => {
                    prop_assert!(!ok);
                    prop_assert_eq!(err.field, "occurred_at");
                }
            }
        }

        #[test]
        fn cleaning_an_event_twice_is_cleaning_it_once(
            content in odd_text(),
            project in odd_text(),
            actor in proptest::option::of(odd_text()),
            tags_in in prop::collection::vec(odd_text(), 0..6),
            attribute in odd_text(),
            occurred in any::<i64>(),
        ) {
            let mut e = crate::event::sample();
            e.content = content;
            e.project = project;
            e.actor = actor;
            e.tags = tags_in;
            e.attributes.insert("a".into(), serde_json::json!([attribute, {"b": attribute}]));
            e.occurred_at = OffsetDateTime::from_unix_timestamp(occurred).unwrap_or(EARLIEST);
            event(&mut e);
            let once = e.clone();
            event(&mut e);
            prop_assert_eq!(&e, &once);
            prop_assert!(plausible(e.occurred_at, e.received_at));
            prop_assert!(!e.content.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        }
    }
}
