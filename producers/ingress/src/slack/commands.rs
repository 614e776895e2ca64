//! Slash commands (`/rae store …`, `/rae query …`, `/rae reflect …`), pure and without I/O:
//! parsing Slack's form-encoded request, reading the verb, and building the ephemeral answers.
//!
//! Slack escapes `&`, `<` and `>` in what users type (`&amp;`, `&lt;`, `&gt;`) and reads them the
//! same way in answers: [`action`] hands back the text as the user typed it, and everything
//! built here for Slack escapes user and memory text with [`escape`] (the reverse of
//! [`unescape`]).

use serde::Deserialize;
use serde_json::{json, Value};

use super::events::unescape;
use rae_core::event::InvalidField;
use rae_core::text::clip_chars;

/// Results shown in a query answer; more are counted, not listed.
pub const MAX_SHOWN_RESULTS: usize = 5;

/// Characters of a memory's content shown in a query answer.
pub const MAX_CONTENT_CHARS: usize = 300;

/// Characters of the query repeated back in a query answer.
const MAX_QUERY_CHARS: usize = 100;

/// The form Slack posts for a slash command. Fields not named here (`token`, `team_domain`,
/// `api_app_id`, `is_enterprise_install`, ...) are ignored, as Slack adds fields over time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SlashCommand {
    pub team_id: String,
    pub channel_id: String,
    #[serde(default)]
    pub channel_name: Option<String>,
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    /// The command as typed, with its slash (`/rae`).
    pub command: String,
    /// Everything after the command, Slack-escaped; empty when nothing was typed.
    #[serde(default)]
    pub text: String,
    /// Where delayed answers go (valid for 30 minutes, 5 uses).
    #[serde(default)]
    pub response_url: Option<String>,
    #[serde(default)]
    pub trigger_id: Option<String>,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Remember this text.
    Store(String),
    /// Search memories for this text.
    Query(String),
    /// Ask RAE to reflect on this text.
    Reflect(String),
    /// Answer with [`usage_text`], after the reason when there is one. The reason is safe to put
    /// in a Slack message as is.
    Usage(Option<String>),
}

/// Parses a slash command body, naming the offending field.
///
/// # Errors
/// [`InvalidField`] for a missing, duplicated or empty `team_id`, `channel_id`, `user_id` or
/// `command`; `body` when the form cannot be read at all.
pub fn parse(body: &[u8]) -> Result<SlashCommand, InvalidField> {
    let command: SlashCommand = serde_urlencoded::from_bytes(body).map_err(|e| {
        let message = e.to_string();
        let field = quoted_after(&message, "missing field `")
            .or_else(|| quoted_after(&message, "duplicate field `"))
            .unwrap_or("body");
        InvalidField::new(field, message.clone())
    })?;
    for (field, value) in [
        ("team_id", &command.team_id),
        ("channel_id", &command.channel_id),
        ("user_id", &command.user_id),
        ("command", &command.command),
    ] {
        if value.trim().is_empty() {
            return Err(InvalidField::new(field, "must not be empty"));
        }
    }
    Ok(command)
}

fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(&rest[..rest.find('`')?])
}

/// Reads the command text: `store <text>`, `query <text>` or `reflect <text>`, the verb in any
/// case. The text is unescaped, trimmed and loses one pair of surrounding quotes
/// (`store "Team decided to use PostgreSQL"` stores `Team decided to use PostgreSQL`).
/// Empty text, `help`, an unknown verb or a verb without text give [`Action::Usage`].
pub fn action(text: &str) -> Action {
    let text = text.trim();
    let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let verb_lower = verb.to_lowercase();
    let make: fn(String) -> Action = match verb_lower.as_str() {
        "" | "help" => return Action::Usage(None),
        "store" => Action::Store,
        "query" => Action::Query,
        "reflect" => Action::Reflect,
        _ => {
            let shown = clip_chars(&unescape(verb), 32).into_owned();
            return Action::Usage(Some(format!("Unknown command `{}`.", escape(&shown))));
        }
    };
    let unescaped = unescape(rest);
    let payload = strip_quotes(unescaped.trim()).trim();
    if payload.is_empty() {
        return Action::Usage(Some(format!("{verb_lower} needs some text.")));
    }
    make(payload.to_owned())
}

/// `text` without one pair of matching surrounding quotes (straight or typographic).
fn strip_quotes(text: &str) -> &str {
    const PAIRS: &[(char, char)] = &[('"', '"'), ('\'', '\''), ('“', '”'), ('‘', '’')];
    for &(open, close) in PAIRS {
        if let Some(inner) = text
            .strip_prefix(open)
            .and_then(|rest| rest.strip_suffix(close))
        {
            return inner;
        }
    }
    text
}

/// A short mrkdwn help for `command` as the user invoked it (`/rae`).
pub fn usage_text(command: &str) -> String {
    let command = match command.trim() {
        "" => "/rae".to_owned(),
        c => escape(c),
    };
    format!(
        "*Usage*\n\
         • `{command} store &lt;text&gt;`: remember something\n\
         • `{command} query &lt;text&gt;`: search what was remembered\n\
         • `{command} reflect &lt;text&gt;`: ask for a reflection on a topic\n\
         • `{command} help`: show this help"
    )
}

/// An answer only the invoking user sees. `text` is mrkdwn, used as is: [`escape`] user input
/// first.
pub fn ephemeral(text: &str) -> Value {
    json!({ "response_type": "ephemeral", "text": text })
}

/// The ephemeral answer to a query: a header and the first [`MAX_SHOWN_RESULTS`] of `results`
/// (RAE query results: `content`, `score`, `layer`, ... each possibly missing) as numbered
/// mrkdwn sections, content cut to [`MAX_CONTENT_CHARS`]. `total` is how many RAE found, when it
/// said.
pub fn query_results(query: &str, results: &[Value], total: Option<u64>) -> Value {
    let shown_query = escape(&clip_chars(query.trim(), MAX_QUERY_CHARS));
    if results.is_empty() {
        let text = format!("No memories found for “{shown_query}”.");
        return json!({
            "response_type": "ephemeral",
            "text": text,
            "blocks": [section(&text)],
        });
    }
    let shown = results.len().min(MAX_SHOWN_RESULTS);
    let total = total
        .unwrap_or(0)
        .max(u64::try_from(results.len()).unwrap_or(u64::MAX));
    let header = if total > shown as u64 {
        format!("Top {shown} of {total} memories for “{shown_query}”:")
    } else if shown == 1 {
        format!("1 memory for “{shown_query}”:")
    } else {
        format!("{shown} memories for “{shown_query}”:")
    };
    let mut blocks = vec![section(&header)];
    for (i, result) in results.iter().take(shown).enumerate() {
        blocks.push(section(&result_text(i + 1, result)));
    }
    json!({
        "response_type": "ephemeral",
        "text": header,
        "blocks": blocks,
    })
}

/// `*n.* content` and, when known, an italic `score 0.87 · layer` line.
fn result_text(n: usize, result: &Value) -> String {
    let content = result
        .get("content")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map_or_else(
            || "_(no content)_".to_owned(),
            |c| escape(&clip_chars(c, MAX_CONTENT_CHARS)),
        );
    let mut facts = Vec::new();
    if let Some(score) = result.get("score").and_then(Value::as_f64) {
        facts.push(format!("score {score:.2}"));
    }
    if let Some(layer) = result
        .get("layer")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
    {
        facts.push(escape(layer));
    }
    if facts.is_empty() {
        format!("*{n}.* {content}")
    } else {
        format!("*{n}.* {content}\n_{}_", facts.join(" · "))
    }
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// Escapes `&`, `<` and `>` as Slack requires for literal text in messages.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE: &str = include_str!("../../../../tests/fixtures/slack/command.store.txt");
    const QUERY: &str = include_str!("../../../../tests/fixtures/slack/command.query.txt");
    const REFLECT: &str = include_str!("../../../../tests/fixtures/slack/command.reflect.txt");
    const HELP: &str = include_str!("../../../../tests/fixtures/slack/command.help.txt");

    fn parsed(body: &str) -> SlashCommand {
        parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn fixtures_parse_and_read() {
        let store = parsed(STORE);
        assert_eq!(
            store,
            SlashCommand {
                team_id: "T0001".into(),
                channel_id: "C2147483705".into(),
                channel_name: Some("test".into()),
                user_id: "U2147483697".into(),
                user_name: Some("Steve".into()),
                command: "/rae".into(),
                text: r#"store "Team decided to use PostgreSQL""#.into(),
                response_url: Some("https://hooks.slack.com/commands/T0001/1234/5678".into()),
                trigger_id: Some("13345224609.738474920.8088930838d88f008e0".into()),
            }
        );
        assert_eq!(
            action(&store.text),
            Action::Store("Team decided to use PostgreSQL".into())
        );
        assert_eq!(
            action(&parsed(QUERY).text),
            Action::Query("which database did we pick?".into())
        );
        assert_eq!(
            action(&parsed(REFLECT).text),
            Action::Reflect("on the database decision & its trade-offs".into())
        );
        assert_eq!(action(&parsed(HELP).text), Action::Usage(None));
    }

    #[test]
    fn slack_documented_body_parses() {
        // The form body from Slack's "Verifying requests from Slack" example.
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let command = parsed(body);
        assert_eq!(command.command, "/webhook-collect");
        assert_eq!(command.text, "");
        assert_eq!(action(&command.text), Action::Usage(None));
    }

    #[test]
    fn only_the_needed_fields_are_required() {
        let command = parsed("team_id=T1&channel_id=C1&user_id=U1&command=%2Frae&future_field=x");
        assert_eq!(command.text, "");
        assert_eq!(command.channel_name, None);
        assert_eq!(command.response_url, None);
    }

    #[test]
    fn bad_forms_name_the_field() {
        let field_of = |body: &str| parse(body.as_bytes()).unwrap_err().field;
        assert_eq!(
            field_of("channel_id=C1&user_id=U1&command=%2Frae"),
            "team_id"
        );
        assert_eq!(field_of("team_id=T1&channel_id=C1&user_id=U1"), "command");
        assert_eq!(field_of(""), "team_id");
        assert_eq!(
            field_of("team_id=T1&channel_id=C1&user_id=&command=%2Frae"),
            "user_id"
        );
        assert_eq!(
            field_of("team_id=T1&channel_id=C1&user_id=U1&command=%2Frae&text=a&text=b"),
            "text"
        );
        // Odd bytes are read, never a panic.
        let _ = parse(b"\xff\xfe=%zz&&==&team_id");
    }

    #[test]
    fn verbs_are_case_insensitive_and_quotes_stripped() {
        assert_eq!(action("STORE hello"), Action::Store("hello".into()));
        assert_eq!(action("  Query   'a b'  "), Action::Query("a b".into()));
        assert_eq!(action("reflect “why?”"), Action::Reflect("why?".into()));
        assert_eq!(action("store\t\"x\ny\""), Action::Store("x\ny".into()));
        // Only one matching pair goes; inner and unmatched quotes stay.
        assert_eq!(
            action(r#"store "say "hi"""#),
            Action::Store(r#"say "hi""#.into())
        );
        assert_eq!(action(r#"store "open"#), Action::Store(r#""open"#.into()));
        assert_eq!(
            action("store a &lt;b&gt; &amp;amp;"),
            Action::Store("a <b> &amp;".into())
        );
    }

    #[test]
    fn usage_reasons() {
        assert_eq!(action(""), Action::Usage(None));
        assert_eq!(action("   "), Action::Usage(None));
        assert_eq!(action("HELP"), Action::Usage(None));
        assert_eq!(
            action("store"),
            Action::Usage(Some("store needs some text.".into()))
        );
        assert_eq!(
            action("Store \"\""),
            Action::Usage(Some("store needs some text.".into()))
        );
        assert_eq!(
            action("forget everything"),
            Action::Usage(Some("Unknown command `forget`.".into()))
        );
        assert_eq!(
            action("&lt;b&gt; x"),
            Action::Usage(Some("Unknown command `&lt;b&gt;`.".into()))
        );
    }

    #[test]
    fn usage_uses_the_command_name() {
        let text = usage_text("/memory");
        assert!(text.contains("`/memory store &lt;text&gt;`"), "{text}");
        assert!(text.contains("`/memory query"), "{text}");
        assert!(text.contains("`/memory reflect"), "{text}");
        assert!(text.lines().count() >= 4);
        assert!(usage_text("").contains("`/rae help`"));
    }

    #[test]
    fn ephemeral_answers() {
        assert_eq!(
            ephemeral("Stored."),
            json!({"response_type": "ephemeral", "text": "Stored."})
        );
    }

    #[test]
    fn query_results_list_the_top_memories() {
        let results = vec![
            json!({"id": "m1", "content": "Team decided to use PostgreSQL & <pgvector>", "score": 0.8765, "layer": "semantic", "importance": 0.8, "timestamp": "2025-01-01T00:00:00Z", "tags": ["decision"], "metadata": {}}),
            json!({"content": "x".repeat(400), "score": 1}),
            json!({"layer": "episodic"}),
            json!("not an object"),
        ];
        let answer = query_results("which <db>?", &results, Some(12));
        assert_eq!(answer["response_type"], "ephemeral");
        assert_eq!(
            answer["text"],
            "Top 4 of 12 memories for “which &lt;db&gt;?”:"
        );
        let blocks = answer["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 5);
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        assert_eq!(
            blocks[1]["text"]["text"],
            "*1.* Team decided to use PostgreSQL &amp; &lt;pgvector&gt;\n_score 0.88 · semantic_"
        );
        let second = blocks[2]["text"]["text"].as_str().unwrap();
        assert!(
            second.starts_with(&format!("*2.* {}…", "x".repeat(MAX_CONTENT_CHARS - 1))),
            "{second}"
        );
        assert!(second.ends_with("\n_score 1.00_"), "{second}");
        assert_eq!(blocks[3]["text"]["text"], "*3.* _(no content)_\n_episodic_");
        assert_eq!(blocks[4]["text"]["text"], "*4.* _(no content)_");
    }

    #[test]
    fn query_results_cap_and_count() {
        let results: Vec<Value> = (0..8)
            .map(|i| json!({"content": format!("memory {i}"), "score": 0.5}))
            .collect();
        let answer = query_results("q", &results, None);
        assert_eq!(answer["text"], "Top 5 of 8 memories for “q”:");
        assert_eq!(
            answer["blocks"].as_array().unwrap().len(),
            1 + MAX_SHOWN_RESULTS
        );
        let one = query_results("q", &results[..1], Some(1));
        assert_eq!(one["text"], "1 memory for “q”:");
        let two = query_results("q", &results[..2], None);
        assert_eq!(two["text"], "2 memories for “q”:");
    }

    #[test]
    fn no_results() {
        let answer = query_results("  a & b  ", &[], Some(0));
        assert_eq!(answer["response_type"], "ephemeral");
        assert_eq!(answer["text"], "No memories found for “a &amp; b”.");
        assert_eq!(
            answer["blocks"][0]["text"]["text"],
            "No memories found for “a &amp; b”."
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::fuzz;
    use proptest::prelude::*;

    const REQUIRED: &[&str] = &["team_id", "channel_id", "user_id", "command"];
    const FIELDS: &[&str] = &[
        "team_id",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "response_url",
        "trigger_id",
        "token",
        "api_app_id",
    ];

    fn check(body: &[u8]) -> Result<(), TestCaseError> {
        match parse(body) {
            Ok(command) => {
                for value in [
                    &command.team_id,
                    &command.channel_id,
                    &command.user_id,
                    &command.command,
                ] {
                    prop_assert!(!value.trim().is_empty());
                }
            }
            Err(err) => prop_assert!(
                err.field == "body" || FIELDS.contains(&err.field.as_str()),
                "{err}"
            ),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzz::config(256))]

        #[test]
        fn arbitrary_bytes_get_a_command_or_a_named_field(body in prop::collection::vec(any::<u8>(), 0..256)) {
            check(&body)?;
        }

        #[test]
        fn arbitrary_forms_get_a_command_or_a_named_field(
            pairs in prop::collection::vec(
                (prop_oneof![prop::sample::select(FIELDS).prop_map(str::to_owned), fuzz::odd_text()], fuzz::odd_text()),
                0..12,
            ),
        ) {
            let body = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            check(body.as_bytes())?;
            let present = |field: &str| pairs.iter().filter(|(k, _)| k == field).count();
            let well_formed = FIELDS.iter().all(|f| present(f) <= 1)
                && REQUIRED.iter().all(|f| {
                    pairs.iter().any(|(k, v)| k == f && !v.trim().is_empty())
                });
            if well_formed {
                let command = parse(body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let text = pairs.iter().find(|(k, _)| k == "text").map(|(_, v)| v.as_str());
                prop_assert_eq!(command.text.as_str(), text.unwrap_or_default());
            }
        }

        #[test]
        fn any_text_gets_an_action(text in prop_oneof![fuzz::odd_text(), any::<String>()]) {
            match action(&text) {
                Action::Store(t) | Action::Query(t) | Action::Reflect(t) => {
                    prop_assert!(!t.is_empty());
                    prop_assert_eq!(t.trim(), t.as_str());
                }
                Action::Usage(_) => {}
            }
        }
    }
}
