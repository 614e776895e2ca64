//! Events API request bodies (pure, no I/O): the one-time `url_verification` handshake and
//! `event_callback` envelopes, with the decision whether the inner event is worth a memory.
//!
//! Only what people wrote is stored: plain user messages, the user-content subtypes of
//! [`STORED_SUBTYPES`] and `app_mention`. An edit (`message_changed`) is the message again, to
//! replace the earlier memory of it; a deletion (`message_deleted`) forgets it. Bot messages,
//! joins and leaves, other subtypes, empty messages and other event types are skipped with a
//! reason, so the ingress can answer 200 (Slack retries anything else) and still say why nothing
//! was stored.
//!
//! The body is read as loose JSON rather than a strict schema: Slack adds fields all the time and
//! this must never refuse (or panic on) a shape it does not know.

use serde_json::{Map, Value};

use rae_core::event::InvalidField;

/// Message subtypes that carry what a person wrote and are stored like a plain message.
pub const STORED_SUBTYPES: &[&str] = &["thread_broadcast", "file_share", "me_message"];

/// One Events API request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// Sent once when the Request URL is configured; answer with the challenge.
    UrlVerification { challenge: String },
    /// An event the app is subscribed to.
    Callback(Callback),
    /// Another envelope type (`app_rate_limited`, ...), acknowledged and ignored.
    Other { kind: String },
}

/// An `event_callback` envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// Slack's id of the event, the same on every retry of it: the dedupe key.
    pub event_id: String,
    pub team_id: Option<String>,
    /// Unix seconds when the event was dispatched.
    pub event_time: Option<i64>,
    pub event: Decision,
}

/// What to do with the inner event.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Store(Message),
    /// A message edited: its new text, to replace the memory of the earlier one.
    Edit(Message),
    /// A message deleted: forget its memory.
    Delete {
        channel: String,
        ts: String,
    },
    Skip {
        reason: String,
    },
}

/// A message worth storing.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub channel: String,
    /// `channel`, `group`, `im`, `mpim` or `app_home`; absent in `app_mention` events.
    pub channel_type: Option<String>,
    /// The author's user id.
    pub user: String,
    /// The text as Slack sends it: `&`, `<` and `>` written as `&amp;`, `&lt;` and `&gt;`, and
    /// mentions and links in Slack's `<@U123>` / `<https://…|label>` markup.
    pub text: String,
    /// The message's own timestamp, its id within the channel.
    pub ts: String,
    /// The parent message's `ts` when the message is in a thread.
    pub thread_ts: Option<String>,
    /// An `app_mention` (someone addressed the app) rather than a plain channel message.
    pub mention: bool,
}

/// Parses an Events API body.
///
/// # Errors
/// [`InvalidField`] naming `body` for bad JSON or a body that is not an object, `type` for a
/// missing envelope type, `challenge` for a handshake without one, and `event_id`, `event` or
/// `event.type` for a callback missing them.
pub fn parse(body: &[u8]) -> Result<Envelope, InvalidField> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| InvalidField::new("body", format!("not valid JSON ({e})")))?;
    let Value::Object(envelope) = value else {
        return Err(InvalidField::new("body", "must be a JSON object"));
    };
    let kind = required_str(&envelope, "type", "type")?;
    match kind {
        "url_verification" => Ok(Envelope::UrlVerification {
            challenge: required_str(&envelope, "challenge", "challenge")?.to_owned(),
        }),
        "event_callback" => callback(&envelope).map(Envelope::Callback),
        other => Ok(Envelope::Other {
            kind: other.to_owned(),
        }),
    }
}

fn callback(envelope: &Map<String, Value>) -> Result<Callback, InvalidField> {
    let event_id = required_str(envelope, "event_id", "event_id")?.to_owned();
    let event = match envelope.get("event") {
        Some(Value::Object(event)) => event,
        Some(_) => return Err(InvalidField::new("event", "must be an object")),
        None => return Err(InvalidField::new("event", "missing field `event`")),
    };
    Ok(Callback {
        event_id,
        team_id: optional_str(envelope, "team_id").map(str::to_owned),
        event_time: envelope.get("event_time").and_then(Value::as_i64),
        event: decide(event)?,
    })
}

/// Decides whether the inner `event` (or a message read from the Web API, with its `channel`
/// added) is stored.
pub(crate) fn decide(event: &Map<String, Value>) -> Result<Decision, InvalidField> {
    let kind = required_str(event, "type", "event.type")?;
    if kind != "message" && kind != "app_mention" {
        return Ok(skip(format!("event type `{kind}` is not a message")));
    }
    let has_bot_id = event.get("bot_id").is_some_and(|b| !b.is_null());
    let subtype = event.get("subtype").filter(|s| !s.is_null());
    if has_bot_id || subtype.and_then(Value::as_str) == Some("bot_message") {
        return Ok(skip("bot message"));
    }
    if let Some(subtype) = subtype {
        let Some(subtype) = subtype.as_str() else {
            return Ok(skip("message subtype is not a string"));
        };
        let reason = match subtype {
            s if STORED_SUBTYPES.contains(&s) => None,
            "message_changed" => return edited(event),
            "message_deleted" => return Ok(deleted(event)),
            "channel_join" | "channel_leave" | "group_join" | "group_leave" => {
                Some(format!("channel membership change ({subtype})"))
            }
            other => Some(format!("message subtype `{other}` is not user content")),
        };
        if let Some(reason) = reason {
            return Ok(skip(reason));
        }
    }
    message(event, kind == "app_mention", event).map(|m| m.map_or_else(skip, Decision::Store))
}

/// A `message_changed`: the edited message (in `message`) as it reads now, in the event's
/// channel; skipped like a new message would be (a bot's, empty).
fn edited(event: &Map<String, Value>) -> Result<Decision, InvalidField> {
    let Some(Value::Object(inner)) = event.get("message") else {
        return Ok(skip("message edit without the message"));
    };
    if inner.get("bot_id").is_some_and(|b| !b.is_null())
        || optional_str(inner, "subtype") == Some("bot_message")
    {
        return Ok(skip("bot message"));
    }
    message(inner, false, event).map(|m| m.map_or_else(skip, Decision::Edit))
}

/// A `message_deleted`: which message to forget.
fn deleted(event: &Map<String, Value>) -> Decision {
    let channel = optional_str(event, "channel").filter(|c| !c.is_empty());
    let ts = optional_str(event, "deleted_ts").filter(|t| !t.is_empty());
    match (channel, ts) {
        (Some(channel), Some(ts)) => Decision::Delete {
            channel: channel.to_owned(),
            ts: ts.to_owned(),
        },
        _ => skip("message deletion without channel or deleted_ts"),
    }
}

/// The message `event` holds (its channel read from `outer`, which is `event` itself but for
/// an edit), or why it is skipped.
fn message(
    event: &Map<String, Value>,
    mention: bool,
    outer: &Map<String, Value>,
) -> Result<Result<Message, &'static str>, InvalidField> {
    let text = optional_str(event, "text").unwrap_or_default();
    // Only control or zero-width characters would make an event refused as empty, and a
    // refusal makes Slack retry: such a message is skipped like an empty one.
    if rae_core::event::is_blank(text) {
        return Ok(Err("empty text"));
    }
    let Some(user) = optional_str(event, "user").filter(|u| !u.is_empty()) else {
        return Ok(Err("message has no user"));
    };
    let Some(channel) = optional_str(outer, "channel").filter(|c| !c.is_empty()) else {
        return Ok(Err("message has no channel"));
    };
    let Some(ts) = optional_str(event, "ts").filter(|t| !t.is_empty()) else {
        return Ok(Err("message has no ts"));
    };
    Ok(Ok(Message {
        channel: channel.to_owned(),
        channel_type: optional_str(outer, "channel_type").map(str::to_owned),
        user: user.to_owned(),
        text: text.to_owned(),
        ts: ts.to_owned(),
        thread_ts: optional_str(event, "thread_ts").map(str::to_owned),
        mention,
    }))
}

fn skip(reason: impl Into<String>) -> Decision {
    Decision::Skip {
        reason: reason.into(),
    }
}

/// The string `key` of `object`, or an error naming it as `field`.
fn required_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a str, InvalidField> {
    match object.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(InvalidField::new(field, "must not be empty")),
        Some(_) => Err(InvalidField::new(field, "must be a string")),
        None => Err(InvalidField::new(field, format!("missing field `{key}`"))),
    }
}

fn optional_str<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// Undoes Slack's escaping of `&`, `<` and `>` in message text (`&amp;`, `&lt;`, `&gt;`).
///
/// Mentions and links stay in Slack's markup (`<@U123>`), which is then no longer told apart
/// from a literal `<`, so use this on text meant for people, not for further parsing.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL_VERIFICATION: &str =
        include_str!("../../../../tests/fixtures/slack/url_verification.json");
    const MESSAGE: &str =
        include_str!("../../../../tests/fixtures/slack/event_callback.message.json");
    const APP_MENTION: &str =
        include_str!("../../../../tests/fixtures/slack/event_callback.app_mention.json");
    const BOT_MESSAGE: &str =
        include_str!("../../../../tests/fixtures/slack/event_callback.bot_message.json");
    const MESSAGE_CHANGED: &str =
        include_str!("../../../../tests/fixtures/slack/event_callback.message_changed.json");
    const MESSAGE_DELETED: &str =
        include_str!("../../../../tests/fixtures/slack/event_callback.message_deleted.json");
    const CHANNEL_JOIN: &str =
        include_str!("../../../../tests/fixtures/slack/event_callback.channel_join.json");
    const THREAD_REPLY: &str =
        include_str!("../../../../tests/fixtures/slack/event_callback.thread_reply.json");
    const REACTION_ADDED: &str =
        include_str!("../../../../tests/fixtures/slack/event_callback.reaction_added.json");

    const FIXTURES: &[&str] = &[
        URL_VERIFICATION,
        MESSAGE,
        APP_MENTION,
        BOT_MESSAGE,
        MESSAGE_CHANGED,
        MESSAGE_DELETED,
        CHANNEL_JOIN,
        THREAD_REPLY,
        REACTION_ADDED,
    ];

    fn callback_of(body: &str) -> Callback {
        match parse(body.as_bytes()) {
            Ok(Envelope::Callback(callback)) => callback,
            other => panic!("not a callback: {other:?}"),
        }
    }

    fn stored(body: &str) -> Message {
        match callback_of(body).event {
            Decision::Store(message) => message,
            other => panic!("not stored: {other:?}"),
        }
    }

    fn skip_reason(body: &str) -> String {
        match callback_of(body).event {
            Decision::Skip { reason } => reason,
            other => panic!("not skipped: {other:?}"),
        }
    }

    fn field_of(body: &str) -> String {
        parse(body.as_bytes()).unwrap_err().field
    }

    /// A callback around `event`.
    fn wrap(event: &str) -> String {
        format!(r#"{{"type":"event_callback","event_id":"Ev1","team_id":"T1","event":{event}}}"#)
    }

    #[test]
    fn url_verification_answers_the_challenge() {
        assert_eq!(
            parse(URL_VERIFICATION.as_bytes()),
            Ok(Envelope::UrlVerification {
                challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into()
            })
        );
        assert_eq!(field_of(r#"{"type":"url_verification"}"#), "challenge");
    }

    #[test]
    fn plain_messages_are_stored() {
        let callback = callback_of(MESSAGE);
        assert_eq!(callback.event_id, "Ev0PV52K21");
        assert_eq!(callback.team_id.as_deref(), Some("T123ABC456"));
        assert_eq!(callback.event_time, Some(1_355_517_523));
        assert_eq!(
            callback.event,
            Decision::Store(Message {
                channel: "C123ABC456".into(),
                channel_type: Some("channel".into()),
                user: "U123ABC456".into(),
                text: "Team decided to use PostgreSQL &amp; pgvector".into(),
                ts: "1355517523.000005".into(),
                thread_ts: None,
                mention: false,
            })
        );
    }

    #[test]
    fn app_mentions_are_stored() {
        let message = stored(APP_MENTION);
        assert_eq!(message.user, "U061F7AUR");
        assert_eq!(message.channel, "C123ABC456");
        assert_eq!(message.channel_type, None);
        assert!(message.mention);
        assert_eq!(
            message.text,
            "<@U0LAN0Z89> is it everything a river should be?"
        );
    }

    #[test]
    fn thread_replies_keep_their_parent() {
        let message = stored(THREAD_REPLY);
        assert_eq!(message.ts, "1483037603.017503");
        assert_eq!(message.thread_ts.as_deref(), Some("1482960137.003543"));
        assert!(!message.mention);
    }

    #[test]
    fn edits_replace_and_deletions_forget() {
        match callback_of(MESSAGE_CHANGED).event {
            Decision::Edit(message) => {
                assert_eq!(message.text, "Hello, world!");
                assert_eq!(
                    message.ts, "1355517523.000005",
                    "the edited message's own ts"
                );
                assert_eq!(message.channel, "C123ABC456");
                assert_eq!(message.user, "U123ABC456");
            }
            other => panic!("not an edit: {other:?}"),
        }
        assert_eq!(
            callback_of(MESSAGE_DELETED).event,
            Decision::Delete {
                channel: "C123ABC456".into(),
                ts: "1355517523.000005".into()
            }
        );
        assert_eq!(
            skip_reason(&wrap(
                r#"{"type":"message","subtype":"message_deleted","channel":"C1"}"#
            )),
            "message deletion without channel or deleted_ts"
        );
        assert_eq!(
            skip_reason(&wrap(
                r#"{"type":"message","subtype":"message_changed","channel":"C1","message":{"type":"message","bot_id":"B1","text":"x","ts":"1.2"}}"#
            )),
            "bot message"
        );
    }

    #[test]
    fn non_content_is_skipped_with_a_reason() {
        assert_eq!(skip_reason(BOT_MESSAGE), "bot message");
        assert_eq!(
            skip_reason(CHANNEL_JOIN),
            "channel membership change (channel_join)"
        );
        assert_eq!(
            skip_reason(REACTION_ADDED),
            "event type `reaction_added` is not a message"
        );
    }

    #[test]
    fn subtypes_decide() {
        let message = |extra: &str| {
            wrap(&format!(
                r#"{{"type":"message","channel":"C1","user":"U1","text":"hi","ts":"1.2"{extra}}}"#
            ))
        };
        for subtype in STORED_SUBTYPES {
            stored(&message(&format!(r#","subtype":"{subtype}""#)));
        }
        // `null` fields are the same as absent ones.
        stored(&message(r#","subtype":null,"bot_id":null"#));
        assert_eq!(
            skip_reason(&message(r#","bot_id":"B1""#)),
            "bot message",
            "a message with a bot_id is a bot's even without the subtype"
        );
        assert_eq!(
            skip_reason(&message(r#","subtype":"message_deleted""#)),
            "message deletion without channel or deleted_ts"
        );
        assert_eq!(
            skip_reason(&message(r#","subtype":"channel_leave""#)),
            "channel membership change (channel_leave)"
        );
        assert_eq!(
            skip_reason(&message(r#","subtype":"channel_topic""#)),
            "message subtype `channel_topic` is not user content"
        );
        assert_eq!(
            skip_reason(&message(r#","subtype":7"#)),
            "message subtype is not a string"
        );
        assert_eq!(
            skip_reason(&wrap(
                r#"{"type":"message","subtype":"file_share","channel":"C1","user":"U1","text":"","ts":"1.2","files":[{"id":"F1"}]}"#
            )),
            "empty text"
        );
        assert_eq!(
            skip_reason(&wrap(
                r#"{"type":"message","channel":"C1","user":"U1","text":" \n ","ts":"1.2"}"#
            )),
            "empty text"
        );
        assert_eq!(
            skip_reason(&wrap(
                r#"{"type":"message","channel":"C1","text":"hi","ts":"1.2"}"#
            )),
            "message has no user"
        );
        assert_eq!(
            skip_reason(&wrap(
                r#"{"type":"message","user":"U1","text":"hi","ts":"1.2"}"#
            )),
            "message has no channel"
        );
        assert_eq!(
            skip_reason(&wrap(
                r#"{"type":"message","channel":"C1","user":"U1","text":"hi"}"#
            )),
            "message has no ts"
        );
    }

    #[test]
    fn other_envelopes_are_passed_through() {
        assert_eq!(
            parse(br#"{"token":"x","type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820,"api_app_id":"A1"}"#),
            Ok(Envelope::Other {
                kind: "app_rate_limited".into()
            })
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        assert_eq!(field_of(""), "body");
        assert_eq!(field_of("{"), "body");
        assert_eq!(field_of("[]"), "body");
        assert_eq!(field_of("null"), "body");
        assert_eq!(field_of("{} trailing"), "body");
        assert_eq!(field_of("{}"), "type");
        assert_eq!(field_of(r#"{"type":5}"#), "type");
        assert_eq!(
            field_of(r#"{"type":"event_callback","event":{"type":"message"}}"#),
            "event_id"
        );
        assert_eq!(
            field_of(r#"{"type":"event_callback","event_id":""}"#),
            "event_id"
        );
        assert_eq!(
            field_of(r#"{"type":"event_callback","event_id":"Ev1"}"#),
            "event"
        );
        assert_eq!(
            field_of(r#"{"type":"event_callback","event_id":"Ev1","event":"message"}"#),
            "event"
        );
        assert_eq!(field_of(&wrap(r#"{"text":"hi"}"#)), "event.type");
        let err = parse(b"{").unwrap_err();
        assert!(err.to_string().starts_with("body: not valid JSON"), "{err}");
    }

    #[test]
    fn never_panics_on_truncated_or_odd_input() {
        for fixture in FIXTURES {
            let bytes = fixture.as_bytes();
            for end in 0..bytes.len() {
                let _ = parse(&bytes[..end]);
            }
            let _ = parse(fixture.replace(':', ": null, \"x\":").as_bytes());
        }
        for odd in [
            &b"\xff\xfe"[..],
            b"{\"type\":\"event_callback\",\"event_id\":\"E\",\"event\":{\"type\":\"message\",\"text\":[],\"user\":{},\"channel\":1,\"ts\":null}}",
            b"{\"type\":\"event_callback\",\"event_id\":\"E\",\"event_time\":1e300,\"team_id\":[],\"event\":{\"type\":\"app_mention\"}}",
        ] {
            let _ = parse(odd);
        }
    }

    #[test]
    fn unescape_undoes_slack_escaping() {
        assert_eq!(
            unescape("a &lt; b &amp;&amp; c &gt; d &amp;lt;"),
            "a < b && c > d &lt;"
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::fuzz;
    use proptest::prelude::*;

    const FIXTURES: &[&str] = &[
        include_str!("../../../../tests/fixtures/slack/url_verification.json"),
        include_str!("../../../../tests/fixtures/slack/event_callback.message.json"),
        include_str!("../../../../tests/fixtures/slack/event_callback.app_mention.json"),
        include_str!("../../../../tests/fixtures/slack/event_callback.bot_message.json"),
        include_str!("../../../../tests/fixtures/slack/event_callback.message_changed.json"),
        include_str!("../../../../tests/fixtures/slack/event_callback.thread_reply.json"),
    ];

    /// The documented answer: parsed, or refused naming one of the fields `parse` names.
    fn check(body: &[u8]) -> Result<(), TestCaseError> {
        match parse(body) {
            Ok(Envelope::UrlVerification { challenge }) => prop_assert!(!challenge.is_empty()),
            Ok(Envelope::Callback(callback)) => {
                prop_assert!(!callback.event_id.is_empty());
                if let Decision::Store(m) = callback.event {
                    prop_assert!(!rae_core::event::is_blank(&m.text));
                    prop_assert!(!m.user.is_empty() && !m.channel.is_empty() && !m.ts.is_empty());
                }
            }
            Ok(Envelope::Other { kind }) => prop_assert!(!kind.is_empty()),
            Err(err) => prop_assert!(
                [
                    "body",
                    "type",
                    "challenge",
                    "event_id",
                    "event",
                    "event.type"
                ]
                .contains(&err.field.as_str()),
                "{err}"
            ),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzz::config(256))]

        #[test]
        fn arbitrary_bytes_get_an_envelope_or_a_named_field(body in prop::collection::vec(any::<u8>(), 0..256)) {
            check(&body)?;
        }

        #[test]
        fn arbitrary_json_gets_an_envelope_or_a_named_field(value in fuzz::json()) {
            check(&serde_json::to_vec(&value).unwrap_or_default())?;
        }

        #[test]
        fn changed_real_payloads_get_an_envelope_or_a_named_field(
            value in prop::sample::select(FIXTURES).prop_flat_map(fuzz::mutated),
        ) {
            check(&serde_json::to_vec(&value).unwrap_or_default())?;
        }

        #[test]
        fn unescaping_never_grows_text(text in fuzz::odd_text()) {
            prop_assert!(unescape(&text).len() <= text.len());
        }
    }
}
