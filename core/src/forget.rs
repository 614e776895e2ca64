//! Forgetting: an event that asks the writer to delete memories it stored before.
//!
//! One mechanism serves every trigger. A deletion at the source (a Slack `message_deleted`, a
//! GitHub issue or comment deleted), an erasure request (`rae-pipeline forget`, `POST
//! /api/v1/forget`) and an edit (Slack `message_changed`, a GitHub comment `edited`) each
//! publish an event carrying the attribute `forget`: a [`Selector`] naming the memories by event
//! id, URL, actor or conversation, found in the memory record ([`crate::memory_record`]).
//! An event of kind [`KIND`] only forgets; any other event with the attribute replaces: the
//! writer deletes what the selector names (never the event itself), then stores the event.
//!
//! The event travels the pipeline like any other, so a forget RAE refuses is retried or
//! dead-lettered like a write, and a forget lost in a crash comes back. Each deleted memory's
//! record is marked forgotten at once, so a retry or a second request deletes nothing twice.

use serde_json::Value;

use crate::event::{Event, EventBuilder, Layer, Route};
pub use crate::memory_record::{By, Selector};

/// The attribute holding the [`Selector`] of the memories an event forgets or replaces.
pub const ATTRIBUTE: &str = "forget";
/// The kind of an event that only forgets.
pub const KIND: &str = "forget";

/// The selector of the memories `event` forgets or replaces, if it names any.
pub fn selector(event: &Event) -> Option<Selector> {
    event
        .attributes
        .get(ATTRIBUTE)
        .and_then(|value| serde_json::from_value(value.clone()).ok())
}

/// Whether `event` only forgets (nothing to store).
pub fn only_forgets(event: &Event) -> bool {
    event.kind == KIND
}

/// The builder of an event that forgets what `selector` names, for `why` (a line an operator
/// reads in `tail` and the dead letters: `Slack message deleted`, `erasure request by key k1`).
pub fn request(route: Route<'_>, id: String, selector: &Selector, why: &str) -> EventBuilder {
    let mut attributes = serde_json::Map::new();
    attributes.insert(ATTRIBUTE.into(), to_value(selector));
    Event::builder(
        route,
        id,
        KIND,
        format!("{why}: forget {}", selector.describe()),
    )
    .layer(Layer::Working)
    .importance(Some(0.0))
    .attributes(attributes)
}

/// What an erasure request found and did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Submitted {
    /// The forget event's id (`None` on a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The memories it deletes now (stored, not forgotten before).
    pub memories: usize,
    /// Their events, at most [`LISTED`] of them.
    pub events: Vec<String>,
}

/// Event ids listed in a [`Submitted`].
pub const LISTED: usize = 100;

/// Why an erasure request could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the memory record cannot be read")]
    Record(#[source] crate::bus::BusError),
    #[error("the forget was not stored")]
    Publish(#[source] crate::bus::PublishError),
    #[error(transparent)]
    Invalid(#[from] crate::event::InvalidField),
}

/// An erasure request (`rae-pipeline forget`, `POST /api/v1/forget`): finds the memories
/// `selector` names in `route.tenant` and, unless `dry_run`, publishes the forget event the
/// writer carries out (retried and dead-lettered like a write). The writer looks again when it
/// runs, so what is stored in between is forgotten too.
///
/// # Errors
/// [`SubmitError`] when the record cannot be read or the event is not acked.
pub async fn submit(
    bus: &crate::bus::Bus,
    route: Route<'_>,
    selector: &Selector,
    why: &str,
    dry_run: bool,
    limits: &crate::event::Limits,
) -> Result<Submitted, SubmitError> {
    let records = bus
        .memory_records()
        .await
        .map_err(SubmitError::Record)?
        .find(route.tenant, selector)
        .await
        .map_err(SubmitError::Record)?;
    let deletable: Vec<_> = records.iter().filter(|r| r.deletable()).collect();
    let mut submitted = Submitted {
        event_id: None,
        memories: deletable.len(),
        events: deletable
            .iter()
            .take(LISTED)
            .map(|r| r.event_id.clone())
            .collect(),
    };
    if dry_run {
        return Ok(submitted);
    }
    let event = request(route, crate::event::new_id(), selector, why).validated(limits)?;
    bus.publisher()
        .publish_new(&event)
        .await
        .map_err(SubmitError::Publish)?;
    submitted.event_id = Some(event.id);
    Ok(submitted)
}

/// Marks an event as one version of `item` (its `item` attribute, which the memory record
/// indexes). A new version (`replaces`, an edit at the source) also names the earlier versions
/// to forget, so the writer deletes them before storing it and RAE keeps only the text as it
/// is now.
pub fn mark_version(attributes: &mut serde_json::Map<String, Value>, item: &str, replaces: bool) {
    if replaces {
        let selector = Selector::new(By::Item, item.to_owned());
        attributes.insert(ATTRIBUTE.into(), to_value(&selector));
    }
    attributes.insert(crate::event::ITEM.into(), Value::String(item.to_owned()));
}

/// `selector` as the attribute's JSON.
pub fn to_value(selector: &Selector) -> Value {
    serde_json::to_value(selector).expect("a selector serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Limits, Source};

    #[test]
    fn a_request_carries_its_selector() {
        let route = Route {
            tenant: "acme",
            project: "p",
            source: Source::Api,
            integration: "cli",
        };
        let wanted = Selector::new(By::Actor, "octocat");
        let event = request(route, "id-1".into(), &wanted, "erasure request")
            .validated(&Limits::default())
            .unwrap();
        assert_eq!(event.kind, KIND);
        assert!(only_forgets(&event));
        assert_eq!(selector(&event), Some(wanted));
        assert_eq!(event.content, "erasure request: forget actor octocat");
    }
}
