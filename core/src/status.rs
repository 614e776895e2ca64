//! The pipeline's status as NATS and RAE tell it now: RAE's health route, the lag of the two
//! durable consumers that carry an event to RAE, and the dead letters by reason (and stage).
//! MCP's `pipeline_status` answers with it, and the console's overview shows it. An API key
//! sees its tenant's dead letters only.
//!
//! Each part is reported on its own, so NATS being down still tells whether RAE is up; the
//! writer's breaker lives in the writer's process and is not visible from here.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::bus::Bus;
use crate::dead_letter::{self, Entry, Filter, Stage};
use crate::rae::RaeClient;

/// Most dead letters read to count them by reason: beyond it the counts cover the oldest ones.
pub const MAX_COUNTED: usize = 10_000;

/// `url` without the user and password it may carry (`nats://user:secret@host`): the answer
/// goes to an assistant and into its transcript.
pub fn without_credentials(url: &str) -> String {
    // Each URL of a comma-separated list (a NATS cluster) on its own.
    url.split(',')
        .map(|one| match one.split_once("://") {
            Some((scheme, rest)) => match rest.split('/').next().and_then(|a| a.rfind('@')) {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => one.to_owned(),
            },
            None => one.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// RAE's reachability: `{reachable, url, error?}`.
pub async fn rae(rae: &RaeClient) -> Value {
    let url = without_credentials(&rae.health_url());
    match rae.check_health().await {
        Ok(()) => json!({"reachable": true, "url": url}),
        Err(error) => json!({
            "reachable": false,
            "url": url,
            "error": format!("{error} (is RAE running? RAE_BASE_URL names it)"),
        }),
    }
}

/// The lag of each stage's durable consumer: `{name, stream, pending, ack_pending}`, or
/// `{name, stream, error}` when it cannot be read (the consumer exists once a stage has run).
pub async fn consumers(bus: &Bus) -> Vec<Value> {
    let mut out = Vec::new();
    for stage in [Stage::Enrich, Stage::Write] {
        let (stream, name) = (stage.input_stream(), stage.consumer());
        let info = match bus.stream(stream).await {
            Ok(handle) => handle
                .consumer_info(name)
                .await
                .map(|info| (info.num_pending, info.num_ack_pending))
                .map_err(|e| {
                    format!(
                        "cannot read consumer {name}: {e} (it exists once `rae-pipeline up`, or \
                         the {} role, has run)",
                        stage.component()
                    )
                }),
            Err(e) => Err(e.to_string()),
        };
        out.push(match info {
            Ok((pending, ack_pending)) => json!({
                "name": name,
                "stream": stream,
                "pending": pending,
                "ack_pending": ack_pending,
            }),
            Err(error) => json!({"name": name, "stream": stream, "error": error}),
        });
    }
    out
}

/// The dead letters: `{total, by_reason, counted}`; with `tenant`, only that tenant's (and
/// `tenant` says so), counted by reading them.
///
/// # Errors
/// What could not be read, as text for the status answer.
pub async fn dead_letters(bus: &Bus, tenant: Option<&str>) -> Result<Value, String> {
    let filter = Filter {
        tenant: tenant.map(str::to_owned),
        ..Filter::default()
    };
    let entries = dead_letter::list(bus, &filter, MAX_COUNTED)
        .await
        .map_err(|e| e.to_string())?;
    let Some(tenant) = tenant else {
        let total = dead_letter::depth(bus).await.map_err(|e| e.to_string())?;
        return Ok(summary(total, &entries));
    };
    let mut answer = summary(entries.len() as u64, &entries);
    answer["tenant"] = json!(tenant);
    Ok(answer)
}

/// Counts `entries` by reason.
pub fn summary(total: u64, entries: &[Entry]) -> Value {
    let mut by_reason: BTreeMap<&str, u64> = BTreeMap::new();
    for entry in entries {
        *by_reason.entry(entry.letter.reason.as_str()).or_default() += 1;
    }
    json!({"total": total, "by_reason": by_reason, "counted": entries.len()})
}

/// Counts `entries` by stage and reason, most first.
pub fn by_stage_and_reason(entries: &[Entry]) -> Vec<(Stage, String, u64)> {
    let mut counts: BTreeMap<(&str, &str), (Stage, u64)> = BTreeMap::new();
    for entry in entries {
        let letter = &entry.letter;
        counts
            .entry((letter.stage.as_str(), letter.reason.as_str()))
            .or_insert((letter.stage, 0))
            .1 += 1;
    }
    let mut out: Vec<(Stage, String, u64)> = counts
        .into_iter()
        .map(|((_, reason), (stage, count))| (stage, reason.to_owned(), count))
        .collect();
    out.sort_by_key(|entry| std::cmp::Reverse(entry.2));
    out
}

/// The whole answer from its parts; `healthy` when RAE and NATS answer and both consumers exist.
pub fn answer(rae: Value, nats: Value, consumers: Vec<Value>, dead: Option<Value>) -> Value {
    let reachable = |v: &Value| v["reachable"].as_bool().unwrap_or(false);
    let consumers_ok = !consumers.is_empty() && consumers.iter().all(|c| c.get("error").is_none());
    let mut out = Map::new();
    out.insert(
        "healthy".into(),
        json!(reachable(&rae) && reachable(&nats) && consumers_ok),
    );
    out.insert("rae".into(), rae);
    out.insert("nats".into(), nats);
    out.insert("consumers".into(), Value::Array(consumers));
    if let Some(dead) = dead {
        out.insert("dead_letters".into(), dead);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dead_letter::{DeadLetter, Reason};

    fn entry(sequence: u64, reason: Reason) -> Entry {
        Entry {
            sequence,
            letter: DeadLetter::new(Stage::Write, reason, "x", 1, "s", b"{}"),
        }
    }

    #[test]
    fn dead_letters_are_counted_by_reason() {
        let entries = [
            entry(1, Reason::RaeRejected),
            entry(2, Reason::InvalidEvent),
            entry(3, Reason::RaeRejected),
        ];
        assert_eq!(
            summary(3, &entries),
            json!({"total": 3, "by_reason": {"invalid_event": 1, "rae_rejected": 2}, "counted": 3})
        );
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            without_credentials("nats://app:s3cret@nats-1:4222,nats://nats-2:4222"),
            "nats://nats-1:4222,nats://nats-2:4222"
        );
        assert_eq!(
            without_credentials("http://rae:8000/health?next=a@b"),
            "http://rae:8000/health?next=a@b"
        );
    }

    #[test]
    fn healthy_needs_every_part() {
        let up = json!({"reachable": true, "url": "u"});
        let down = json!({"reachable": false, "url": "u", "error": "refused"});
        let consumer = json!({"name": "enricher", "stream": "RAE_EVENTS", "pending": 0});
        let missing = json!({"name": "writer", "stream": "RAE_ENRICHED", "error": "no"});
        assert_eq!(
            answer(up.clone(), up.clone(), vec![consumer.clone()], None)["healthy"],
            true
        );
        assert_eq!(
            answer(down, up.clone(), vec![consumer.clone()], None)["healthy"],
            false
        );
        assert_eq!(
            answer(up.clone(), up.clone(), vec![consumer, missing], None)["healthy"],
            false
        );
        assert_eq!(answer(up.clone(), up, vec![], None)["healthy"], false);
    }
}
