//! Watching events flow: which subject a tail of one flow with a filter subscribes to, and the
//! one line each message becomes. `rae-pipeline tail` prints those lines; the console's live
//! tail streams them to the browser.

use serde_json::Value;

/// Which flow a tail watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flow {
    /// Events as producers publish them (rae.events.>).
    Events,
    /// Enriched events on their way to RAE (rae.enriched.>).
    Enriched,
    /// Dead letters (rae.dlq.>).
    Dlq,
    /// Audit records of the ingress (rae.audit.>).
    Audit,
}

impl Flow {
    pub const ALL: [Flow; 4] = [Flow::Events, Flow::Enriched, Flow::Dlq, Flow::Audit];

    pub const fn as_str(self) -> &'static str {
        match self {
            Flow::Events => "events",
            Flow::Enriched => "enriched",
            Flow::Dlq => "dlq",
            Flow::Audit => "audit",
        }
    }

    /// The flow named `name` (`events`, `enriched`, `dlq`, `audit`).
    pub fn parse(name: &str) -> Option<Flow> {
        Flow::ALL.into_iter().find(|f| f.as_str() == name)
    }

    const fn prefix(self) -> &'static str {
        match self {
            Flow::Events => "rae.events",
            Flow::Enriched => "rae.enriched",
            Flow::Dlq => "rae.dlq",
            Flow::Audit => "rae.audit",
        }
    }

    /// Where the tenant is among the subject's tokens after the prefix, when it is there
    /// (`rae.events.<tenant>...`, `rae.dlq.<stage>.<tenant>...`; audit subjects have none).
    pub const fn tenant_token(self) -> Option<usize> {
        match self {
            Flow::Events | Flow::Enriched => Some(0),
            Flow::Dlq => Some(1),
            Flow::Audit => None,
        }
    }
}

/// The subject a tail of `flow` subscribes to: the flow's prefix and `filter`'s tokens
/// (`acme`, `acme.github`, `*.slack.message`, a final `>`), or everything.
///
/// # Errors
/// The message for a filter whose tokens are not lowercase `[a-z0-9_-]`, `*` or a final `>`.
pub fn subject(flow: Flow, filter: Option<&str>) -> Result<String, String> {
    let prefix = flow.prefix();
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(format!("{prefix}.>"));
    };
    let tokens: Vec<&str> = filter.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        let wildcard = *token == "*" || (*token == ">" && i == tokens.len() - 1);
        let plain = !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !wildcard && !plain {
            return Err(format!(
                "filter {filter:?}: each token is lowercase letters, digits, _ or -, or * (any), or a final >"
            ));
        }
    }
    if tokens.last() == Some(&">") {
        Ok(format!("{prefix}.{filter}"))
    } else {
        Ok(format!("{prefix}.{filter}.>"))
    }
}

/// The tenant token of a message's `subject` in `flow`, when the subject has one.
pub fn tenant_of(flow: Flow, subject: &str) -> Option<&str> {
    let rest = subject.strip_prefix(flow.prefix())?.strip_prefix('.')?;
    rest.split('.').nth(flow.tenant_token()?)
}

/// The one-line summary of a message of `flow` (without time and subject).
pub fn line(flow: Flow, payload: &[u8]) -> String {
    let value: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    match flow {
        Flow::Dlq => format!(
            "{} {} {}",
            value["reason"].as_str().unwrap_or("?"),
            value["event"]["id"].as_str().unwrap_or("?"),
            value["error"].as_str().unwrap_or("")
        ),
        Flow::Audit => format!(
            "{} {} key={} tenant={}",
            value["outcome"].as_str().unwrap_or("?"),
            value["reason"].as_str().unwrap_or("-"),
            value["key_id"].as_str().unwrap_or("-"),
            value["tenant"].as_str().unwrap_or("-")
        ),
        Flow::Events | Flow::Enriched => {
            let importance = value["importance"]
                .as_f64()
                .map_or("-".to_owned(), |i| format!("{i:.2}"));
            let content: String = value["content"]
                .as_str()
                .unwrap_or("")
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(80)
                .collect();
            format!(
                "{} {importance} {content}",
                value["id"].as_str().unwrap_or("?")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_subjects() {
        assert_eq!(subject(Flow::Events, None).unwrap(), "rae.events.>");
        assert_eq!(
            subject(Flow::Enriched, Some("acme.github")).unwrap(),
            "rae.enriched.acme.github.>"
        );
        assert_eq!(
            subject(Flow::Dlq, Some("write.>")).unwrap(),
            "rae.dlq.write.>"
        );
        assert!(subject(Flow::Events, Some("Acme")).is_err());
        assert!(subject(Flow::Events, Some("a.>.b")).is_err());
    }

    #[test]
    fn the_tenant_is_read_from_the_subject() {
        assert_eq!(
            tenant_of(Flow::Events, "rae.events.acme.github.push"),
            Some("acme")
        );
        assert_eq!(
            tenant_of(Flow::Dlq, "rae.dlq.write.acme.webhook"),
            Some("acme")
        );
        assert_eq!(tenant_of(Flow::Audit, "rae.audit.memory.accepted"), None);
    }

    #[test]
    fn lines_summarize_messages() {
        let event = br#"{"id":"e1","importance":0.5,"content":"a\nb"}"#;
        assert_eq!(line(Flow::Events, event), "e1 0.50 a b");
        let dead = br#"{"reason":"rae_rejected","error":"422","event":{"id":"e2"}}"#;
        assert_eq!(line(Flow::Dlq, dead), "rae_rejected e2 422");
    }
}
