//! Turns a verified generic webhook body into one event (pure, no I/O).

use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use rae_core::event::{self, Event, InvalidField, Layer, Limits, Route};
use rae_core::hygiene;

/// The generic webhook body. Unknown fields are refused so a typo
/// (`"importnace"`) is an answer, not a silently ignored value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    pub content: String,
    /// The sender's own name for itself (`my_app`), kept as the memory's source in RAE.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub importance: Option<f64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub layer: Option<String>,
    /// What happened (`note` by default); becomes the subject's last token.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
    /// A sender's id for this event; a repeat with the same key is answered as a duplicate.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Parses the body, naming the offending field.
///
/// # Errors
/// [`InvalidField`] for bad JSON, a wrong type, a missing `content` or an unknown field.
pub fn parse(body: &[u8]) -> Result<WebhookBody, InvalidField> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: Result<WebhookBody, _> = serde_path_to_error::deserialize(&mut de);
    let body = parsed.map_err(field_error)?;
    de.end().map_err(|e| {
        InvalidField::new(
            "body",
            format!("body: trailing characters after the JSON object ({e})"),
        )
    })?;
    Ok(body)
}

/// Parses one memory of a batch, naming fields below `prefix` (`memories[3]`).
///
/// # Errors
/// [`InvalidField`] for a wrong type, a missing `content` or an unknown field.
pub fn parse_value(value: Value, prefix: &str) -> Result<WebhookBody, InvalidField> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut err = field_error(e);
        err.field = match err.field.as_str() {
            "body" => prefix.to_owned(),
            field => format!("{prefix}.{field}"),
        };
        err
    })
}

fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> InvalidField {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let message = inner.to_string();
    // An unknown field is named as sent, backticks included; an empty name is no use to the
    // sender, so that one is answered on `body`.
    let field = if let Some(name) = quoted_after(&message, "missing field `", "`") {
        name
    } else if let Some(name) = quoted_after(&message, "unknown field `", "`, expected") {
        if name.is_empty() {
            "body".to_owned()
        } else {
            name
        }
    } else if inner.is_syntax() || inner.is_eof() || path == "." {
        "body".to_owned()
    } else {
        path
    };
    let message = match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("not valid JSON ({message})")
        }
        _ => message,
    };
    InvalidField { field, message }
}

/// The text between `prefix` and the last `end` after it.
fn quoted_after(message: &str, prefix: &str, end: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.rfind(end)?].to_owned())
}

/// Builds the event for `body` received at `now`. The builder cleans the text and tags
/// ([`hygiene`]); what the sender named (`source`, `project`, `kind`) with a control character,
/// or an `occurred_at` outside 1970 to a day from now, is refused instead.
///
/// # Errors
/// [`InvalidField`] when a field breaks a limit of the event schema.
pub fn normalize(
    body: WebhookBody,
    route: Route<'_>,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Event, InvalidField> {
    let id = match &body.idempotency_key {
        Some(key) if key.is_empty() || key.len() > 256 => {
            return Err(InvalidField::new(
                "idempotency_key",
                "must be 1 to 256 characters",
            ))
        }
        // Scoped by tenant too: two tenants' senders may pick the same key.
        Some(key) => event::scoped_id(&route, key),
        None => event::new_id(),
    };
    let mut attributes = body.metadata.unwrap_or_default();
    if let Some(origin) = body.source {
        if origin.is_empty() || origin.len() > 128 {
            return Err(InvalidField::new("source", "must be 1 to 128 characters"));
        }
        hygiene::check_identifier("source", &origin)?;
        attributes.insert("origin".into(), Value::String(origin));
    }
    let kind = body.kind.unwrap_or_else(|| "note".to_owned());
    if kind.is_empty() || kind.len() > 64 {
        return Err(InvalidField::new("kind", "must be 1 to 64 characters"));
    }
    let layer = match body.layer {
        Some(layer) => layer.parse::<Layer>()?,
        None => Layer::default(),
    };
    if let Some(at) = body.occurred_at {
        hygiene::check_time("occurred_at", at, now)?;
    }
    event::validate_tags(&body.tags, limits)?;
    let project = body.project.as_deref().unwrap_or(route.project);
    Event::builder(Route { project, ..route }, id, kind, body.content)
        .importance(body.importance)
        .tags(body.tags)
        .layer(layer)
        .occurred_at(body.occurred_at.unwrap_or(now))
        .received_at(now)
        .attributes(attributes)
        .validated(limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::event::Source;

    const TARGET: Route<'static> = Route {
        integration: "memory",
        source: Source::Webhook,
        tenant: "default-tenant",
        project: "default",
    };

    /// The event of a valid body, normalized now with the default limits.
    fn event_of(body: &[u8]) -> Event {
        normalize(
            parse(body).unwrap(),
            TARGET,
            &Limits::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap()
    }

    fn field_of(body: &str) -> String {
        match parse(body.as_bytes()) {
            Err(e) => e.field,
            Ok(b) => {
                normalize(b, TARGET, &Limits::default(), OffsetDateTime::now_utc())
                    .unwrap_err()
                    .field
            }
        }
    }

    #[test]
    fn the_seed_example_becomes_an_event() {
        let body = br#"{"content": "Team decided to use PostgreSQL", "source": "my_app", "importance": 0.8, "tags": ["decision"]}"#;
        let event = event_of(body);
        assert_eq!(event.content, "Team decided to use PostgreSQL");
        assert_eq!(event.source, Source::Webhook);
        assert_eq!(event.kind, "note");
        assert_eq!(event.importance, Some(0.8));
        assert_eq!(event.tags, ["decision"]);
        assert_eq!(event.attributes["origin"], "my_app");
    }

    #[test]
    fn messages_name_the_field_once() {
        let err = parse(br#"{"content": "x", "importnace": 1}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("importnace: unknown field"),
            "{err}"
        );
        let err = parse(b"{").unwrap_err();
        assert!(err.to_string().starts_with("body: not valid JSON"), "{err}");
    }

    #[test]
    fn bad_input_names_the_field() {
        assert_eq!(field_of("{"), "body");
        assert_eq!(field_of("[]"), "body");
        assert_eq!(field_of(r#"{"source": "x"}"#), "content");
        assert_eq!(field_of(r#"{"content": ""}"#), "content");
        assert_eq!(field_of(r#"{"content": 5}"#), "content");
        assert_eq!(
            field_of(r#"{"content": "x", "importance": "high"}"#),
            "importance"
        );
        assert_eq!(
            field_of(r#"{"content": "x", "importance": 2}"#),
            "importance"
        );
        assert_eq!(
            field_of(r#"{"content": "x", "importnace": 0.5}"#),
            "importnace"
        );
        assert_eq!(
            field_of(r#"{"content": "x", "tags": ["ok", 3]}"#),
            "tags[1]"
        );
        assert_eq!(field_of(r#"{"content": "x", "layer": "deep"}"#), "layer");
        assert_eq!(field_of(r#"{"content": "x"} trailing"#), "body");
        assert_eq!(
            field_of(r#"{"content": "x", "occurred_at": "0000-01-01T00:00:00Z"}"#),
            "occurred_at"
        );
        assert_eq!(
            field_of(r#"{"content": "x", "occurred_at": "9999-12-31T23:59:59Z"}"#),
            "occurred_at"
        );
        assert_eq!(
            field_of(r#"{"content": "x", "project": "a\u0000"}"#),
            "project"
        );
        assert_eq!(
            field_of(r#"{"content": "x", "source": "app\u001b"}"#),
            "source"
        );
        assert_eq!(field_of(r#"{"content": "x", "kind": "no\tte"}"#), "kind");
        assert_eq!(
            field_of(r#"{"content": "x", "tags": ["\u0007"]}"#),
            "tags[0]"
        );
        assert_eq!(field_of(r#"{"content": "\u0000\u0007\r\n"}"#), "content");
    }

    #[test]
    fn text_and_tags_are_cleaned() {
        let body = br#"{"content": "nul\u0000 here\r\nnext", "tags": ["CAF\u00c9", "caf\u00e9", "cafe\u0301", "Deploy"], "occurred_at": "2024-05-01T10:00:00Z"}"#;
        let event = event_of(body);
        assert_eq!(event.content, "nul here\nnext");
        assert_eq!(event.tags, ["caf\u{e9}", "deploy"]);
        assert_eq!(event.occurred_at.year(), 2024);
    }

    #[test]
    fn idempotency_keys_give_stable_ids() {
        let body = || parse(br#"{"content": "x", "idempotency_key": "order-1"}"#).unwrap();
        let now = OffsetDateTime::now_utc();
        let a = normalize(body(), TARGET, &Limits::default(), now).unwrap();
        let b = normalize(body(), TARGET, &Limits::default(), now).unwrap();
        assert_eq!(a.id, b.id);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::fuzz;
    use proptest::prelude::*;
    use rae_core::event::Source;

    const TARGET: Route<'static> = Route {
        integration: "memory",
        source: Source::Webhook,
        tenant: "default-tenant",
        project: "default",
    };

    fn body() -> impl Strategy<Value = Vec<u8>> {
        (fuzz::memory_object(), any::<bool>()).prop_map(|(object, trailing)| {
            let mut bytes = serde_json::to_vec(&object).unwrap_or_default();
            if trailing {
                bytes.extend_from_slice(b" x");
            }
            bytes
        })
    }

    fn check(body: &[u8]) -> Result<(), TestCaseError> {
        match parse(body) {
            Ok(parsed) => match normalize(
                parsed,
                TARGET,
                &Limits::default(),
                OffsetDateTime::now_utc(),
            ) {
                Ok(event) => {
                    event
                        .validate(&Limits::default())
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                Err(err) => {
                    let top = err.field.split(['.', '[']).next().unwrap_or_default();
                    prop_assert!(fuzz::MEMORY_FIELDS.contains(&top), "{err}");
                }
            },
            Err(err) => prop_assert!(!err.field.is_empty(), "{err}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzz::config(256))]

        #[test]
        fn arbitrary_bytes_are_refused_naming_a_field(body in prop::collection::vec(any::<u8>(), 0..256)) {
            check(&body)?;
        }

        #[test]
        fn arbitrary_json_is_refused_naming_a_field(value in fuzz::json()) {
            check(&serde_json::to_vec(&value).unwrap_or_default())?;
        }

        #[test]
        fn bodies_become_events_or_name_their_field(body in body()) {
            check(&body)?;
        }

        #[test]
        fn visible_content_always_makes_an_event(content in "[a-zA-Z0-9][ -~]{0,200}", tags in prop::collection::vec("[a-zA-Z]{1,20}", 0..5)) {
            let body = serde_json::json!({"content": content, "tags": tags});
            let parsed = parse(&serde_json::to_vec(&body).unwrap_or_default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let event = normalize(parsed, TARGET, &Limits::default(), OffsetDateTime::now_utc()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Kept as sent, unless a part of it reads as a credential (random ASCII can spell
            // `a://u:p@`), which is redacted and named in `redacted`.
            if !event.attributes.contains_key(rae_core::hygiene::REDACTED) {
                prop_assert_eq!(event.content, content);
            }
        }
    }

    /// Shrunk by `visible_content_always_makes_an_event`: content that reads as a password in
    /// a URL still makes an event, with the password redacted.
    #[test]
    fn content_with_a_credential_still_makes_an_event() {
        let body = serde_json::json!({"content": "0:A://0:!@"});
        let parsed = parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        let event = normalize(
            parsed,
            TARGET,
            &Limits::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert!(
            event.attributes.contains_key(rae_core::hygiene::REDACTED),
            "{event:?}"
        );
        assert!(!event.content.contains(":!@"), "{}", event.content);
    }

    /// Shrunk by `arbitrary_json_is_refused_naming_a_field`: an unknown field with an empty
    /// name was answered on the field `""`; and a name with a backtick was cut at it.
    #[test]
    fn unknown_fields_are_named_whole_and_never_empty() {
        let field = |body: &str| parse(body.as_bytes()).unwrap_err().field;
        assert_eq!(field(r#"{"content": "x", "": 1}"#), "body");
        assert_eq!(field(r#"{"": 1, "content": "x"}"#), "body");
        assert_eq!(field(r#"{"content": "x", "a`b": 1}"#), "a`b");
        assert_eq!(
            field(r#"{"content": "x", "a`, expected": 1}"#),
            "a`, expected"
        );
    }
}
