//! NATS subject, stream and bucket names, built in one place.
//!
//! Every token that comes from outside input (tenant, source, kind, integration) is sanitized to
//! lowercase `[a-z0-9_-]`, so no input can inject a `.`, `*` or `>` into a subject.

/// Stream of normalized events from producers.
pub const EVENTS_STREAM: &str = "RAE_EVENTS";
/// Stream of enriched events, ready for RAE.
pub const ENRICHED_STREAM: &str = "RAE_ENRICHED";
/// Stream of dead letters; limits retention so it stays browsable.
pub const DLQ_STREAM: &str = "RAE_DLQ";
/// Stream of audit records of ingress and admin decisions.
pub const AUDIT_STREAM: &str = "RAE_AUDIT";

/// Subjects captured by [`EVENTS_STREAM`].
pub const EVENTS_ALL: &str = "rae.events.>";
/// Subjects captured by [`ENRICHED_STREAM`].
pub const ENRICHED_ALL: &str = "rae.enriched.>";
/// Subjects captured by [`DLQ_STREAM`].
pub const DLQ_ALL: &str = "rae.dlq.>";
/// Subjects captured by [`AUDIT_STREAM`].
pub const AUDIT_ALL: &str = "rae.audit.>";

/// Key-value bucket of producer cursors.
pub const STATE_BUCKET: &str = "rae_state";
/// Key-value bucket of provider delivery ids, kept for days.
pub const DEDUPE_BUCKET: &str = "rae_dedupe";
/// Key-value bucket of the writer's journal: per message, a write started or its memory id.
pub const WRITES_BUCKET: &str = "rae_writes";
/// Key-value bucket of recent events' content keys, for `enrich.drop_repeats`.
pub const REPEATS_BUCKET: &str = "rae_repeats";
/// Key-value bucket of the memory record: per stored event, its RAE memory id and lookup keys.
pub const MEMORIES_BUCKET: &str = "rae_memories";

/// Durable consumer name of the enricher on [`EVENTS_STREAM`].
pub const ENRICHER_CONSUMER: &str = "enricher";
/// Durable consumer name of the writer on [`ENRICHED_STREAM`].
pub const WRITER_CONSUMER: &str = "writer";

/// Lowercases `raw` and replaces every character outside `[a-z0-9_-]` with `_`.
///
/// An empty token becomes `_` so a subject never has an empty token.
pub fn token(raw: &str) -> String {
    if raw.is_empty() {
        return "_".to_owned();
    }
    raw.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `rae.events.<tenant>.<source>.<kind>`
pub fn event(tenant: &str, source: &str, kind: &str) -> String {
    format!(
        "rae.events.{}.{}.{}",
        token(tenant),
        token(source),
        token(kind)
    )
}

/// `rae.enriched.<tenant>.<source>.<kind>`
pub fn enriched(tenant: &str, source: &str, kind: &str) -> String {
    format!(
        "rae.enriched.{}.{}.{}",
        token(tenant),
        token(source),
        token(kind)
    )
}

/// `rae.dlq.<stage>.<tenant>.<source>`
pub fn dead_letter(stage: &str, tenant: &str, source: &str) -> String {
    format!(
        "rae.dlq.{}.{}.{}",
        token(stage),
        token(tenant),
        token(source)
    )
}

/// `rae.audit.<integration>.<outcome>`
pub fn audit(integration: &str, outcome: &str) -> String {
    format!("rae.audit.{}.{}", token(integration), token(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_sanitized() {
        assert_eq!(token("Default-Tenant"), "default-tenant");
        assert_eq!(token("a.b*c>d e"), "a_b_c_d_e");
        assert_eq!(token(""), "_");
        assert_eq!(token("Ünïcode"), "_n_code");
    }

    #[test]
    fn subjects_have_fixed_token_counts() {
        assert_eq!(
            event("t.x", "webhook", "note"),
            "rae.events.t_x.webhook.note"
        );
        assert_eq!(enriched("t", "git", "commit"), "rae.enriched.t.git.commit");
        assert_eq!(dead_letter("write", "t", "api"), "rae.dlq.write.t.api");
        assert_eq!(audit("memory", "accepted"), "rae.audit.memory.accepted");
    }
}
