//! Strategies the property tests of the ingress parsers share: odd text, arbitrary JSON and
//! real payloads with one value replaced (`docs/architecture.md`, Fuzzing).

use proptest::prelude::*;
use serde_json::{Map, Value};

/// The configured number of cases, `default` unless `PROPTEST_CASES` says otherwise.
pub(crate) fn config(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(rae_core::proptest_cases(default))
}

/// Text biased towards what parsers and the hygiene rules act on.
pub(crate) fn odd_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        any::<char>().prop_map(String::from),
        prop::sample::select(vec![
            "\0",
            "\r",
            "\n",
            "\r\n",
            "\t",
            "\u{1b}",
            "\u{7f}",
            "\u{85}",
            "\u{301}",
            "CAFÉ",
            "café",
            "cafe\u{301}",
            " ",
            "\u{200b}",
            "&amp;",
            "&lt;",
            "<@U1>",
            "\"",
            "“",
            "store",
            "query",
            "reflect",
            "help",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "refs/heads/main",
            "refs/tags/v1",
            "null",
            "message",
            "opened",
            "closed",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(pieces, 0..8).prop_map(|p| p.concat())
}

/// The fields of a memory object (a webhook body, one item of `POST /api/v1/memories`).
pub(crate) const MEMORY_FIELDS: &[&str] = &[
    "content",
    "source",
    "importance",
    "tags",
    "project",
    "layer",
    "kind",
    "metadata",
    "occurred_at",
    "idempotency_key",
];

/// A memory object: odd `content`, then known fields (and stray ones) with arbitrary values.
pub(crate) fn memory_object() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        4 => prop::sample::select(MEMORY_FIELDS).prop_map(str::to_owned),
        1 => odd_text()
    ];
    let value = prop_oneof![
        json(),
        odd_text().prop_map(Value::from),
        prop::collection::vec(odd_text(), 0..4).prop_map(Value::from),
        (0.0f64..=1.0).prop_map(Value::from),
    ];
    (odd_text(), prop::collection::vec((key, value), 0..5)).prop_map(|(content, pairs)| {
        let mut object = Map::new();
        object.insert("content".into(), Value::from(content));
        object.extend(pairs);
        object
    })
}

/// Any JSON value, small, with odd strings and numbers at the edges.
pub(crate) fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        odd_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((odd_text(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `value` with its node number `index` (in depth-first order, the root being 0) replaced by
/// `replacement`.
pub(crate) fn replace_nth(value: &mut Value, index: usize, replacement: Value) {
    fn walk(value: &mut Value, left: &mut usize, replacement: &mut Option<Value>) {
        if *left == 0 {
            if let Some(new) = replacement.take() {
                *value = new;
            }
            return;
        }
        *left -= 1;
        match value {
            Value::Array(items) => items
                .iter_mut()
                .for_each(|item| walk(item, left, replacement)),
            Value::Object(map) => map
                .values_mut()
                .for_each(|item| walk(item, left, replacement)),
            _ => {}
        }
    }
    let mut left = index;
    walk(value, &mut left, &mut Some(replacement));
}

/// The number of nodes of `value`, for picking one to replace.
pub(crate) fn nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(nodes).sum(),
        Value::Object(map) => map.values().map(nodes).sum(),
        _ => 0,
    }
}

/// `fixture` (JSON) with up to three of its values replaced by arbitrary JSON.
pub(crate) fn mutated(fixture: &str) -> impl Strategy<Value = Value> {
    let base: Value = serde_json::from_str(fixture).unwrap_or_default();
    prop::collection::vec((any::<prop::sample::Index>(), json()), 1..=3).prop_map(move |changes| {
        let mut value = base.clone();
        for (at, replacement) in changes {
            let index = at.index(nodes(&value));
            replace_nth(&mut value, index, replacement);
        }
        value
    })
}

/// The odd inputs of issue 21 (NUL and other C0 bytes, times at the ends of RFC 3339, 100 KB
/// lines, tags that differ by case or normalization) where the parsers' own tests do not
/// already answer them, with the documented answer for each.
#[test]
fn odd_inputs_get_their_documented_answers() {
    use crate::github::normalize::{interpret, Delivery, Outcome};
    use crate::slack::{commands, events};
    use crate::webhook::normalize::{normalize, parse};
    use rae_core::event::{Limits, Route, Source};
    use time::OffsetDateTime;

    let route = Route {
        integration: "memory",
        source: Source::Webhook,
        tenant: "default-tenant",
        project: "default",
    };
    let field = |body: &str| match parse(body.as_bytes()) {
        Err(err) => err.field,
        Ok(parsed) => normalize(parsed, route, &Limits::default(), OffsetDateTime::now_utc())
            .err()
            .map(|err| err.field)
            .unwrap_or_default(),
    };
    // A raw NUL or other C0 byte inside a JSON string is not JSON; escaped, it is cleaned.
    assert_eq!(field("{\"content\": \"a\0b\"}"), "body");
    assert_eq!(field("{\"content\": \"a\u{1b}b\"}"), "body");
    assert_eq!(field("{\"content\": \"x\"}\0"), "body");
    // 100 KB lines.
    let line = "y".repeat(100 * 1024);
    assert_eq!(field(&format!(r#"{{"content": "{line}"}}"#)), "content");
    assert_eq!(
        field(&format!(r#"{{"content": "x", "tags": ["{line}"]}}"#)),
        "tags[0]"
    );
    assert_eq!(
        field(&format!(r#"{{"content": "x", "project": "{line}"}}"#)),
        "project"
    );
    assert_eq!(
        field(&format!(
            r#"{{"content": "x", "metadata": {{"k": "{line}"}}}}"#
        )),
        "metadata"
    );

    // Slack: a message of control or zero-width characters only is skipped like an empty one
    // (it used to be answered 400, which Slack retries).
    for text in ["\\u0000\\u0007", "\\u200b\\ufeff", "\\r\\n\\t"] {
        let body = format!(
            r#"{{"type":"event_callback","event_id":"Ev1","event":{{"type":"message","user":"U1","channel":"C1","ts":"1.2","text":"{text}"}}}}"#
        );
        match events::parse(body.as_bytes()) {
            Ok(events::Envelope::Callback(callback)) => assert_eq!(
                callback.event,
                events::Decision::Skip {
                    reason: "empty text".into()
                },
                "{text}"
            ),
            other => panic!("{text}: {other:?}"),
        }
    }
    // Slash commands: NUL in the form, case variants of the verb, a 100 KB text.
    let form = |text: &str| {
        serde_urlencoded::to_string([
            ("team_id", "T1"),
            ("channel_id", "C1"),
            ("user_id", "U1"),
            ("command", "/rae"),
            ("text", text),
        ])
        .unwrap_or_default()
    };
    let command = commands::parse(form("STORE\0 café").as_bytes()).unwrap();
    assert_eq!(
        commands::action(&command.text),
        commands::Action::Usage(Some("Unknown command `STORE\0`.".into()))
    );
    assert_eq!(
        commands::action("QuErY cafe\u{301}"),
        commands::Action::Query("cafe\u{301}".into())
    );
    let command = commands::parse(form(&format!("store {line}")).as_bytes()).unwrap();
    assert_eq!(
        commands::action(&command.text),
        commands::Action::Store(line.clone())
    );
    assert_eq!(
        commands::parse(b"team_id=T1&team_id=T2&channel_id=C&user_id=U&command=%2Frae")
            .unwrap_err()
            .field,
        "team_id"
    );

    // GitHub: times at the ends of RFC 3339 are read (the builder then puts the receive time in
    // their place); control characters in a title reach the builder, which removes them.
    let mut payload: serde_json::Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/github/pull_request.opened.json"
    ))
    .unwrap();
    for at in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
        payload["pull_request"]["created_at"] = at.into();
        payload["pull_request"]["title"] = "nul\0 esc\u{1b} CAFÉ".into();
        let delivery = Delivery {
            event: "pull_request",
            payload: &payload,
        };
        let Ok(Outcome::Memory(memory)) = interpret(&delivery, &Limits::default()) else {
            panic!("{at}: not a memory");
        };
        let now = OffsetDateTime::now_utc();
        assert!(!rae_core::hygiene::plausible(
            memory.occurred_at.unwrap_or(now),
            now
        ));
        let event = rae_core::event::Event::builder(route, "id", memory.kind, memory.content)
            .occurred_at(memory.occurred_at.unwrap_or(now))
            .received_at(now)
            .validated(&Limits::default())
            .unwrap();
        assert_eq!(event.occurred_at, now, "{at}");
        assert!(event.content.contains("nul esc CAFÉ"), "{}", event.content);
    }
}
