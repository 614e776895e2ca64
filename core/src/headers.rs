//! NATS header names, carried on every event and dead-letter message.

/// JetStream's deduplication id; always the event id (or a replay-specific id).
pub const MSG_ID: &str = "Nats-Msg-Id";
/// Schema of the payload, always [`SCHEMA_V1`] for events.
pub const SCHEMA: &str = "Rae-Schema";
/// Value of [`SCHEMA`] for `event.v1` payloads.
pub const SCHEMA_V1: &str = "event.v1";
/// Tenant of the event, so consumers can filter without parsing.
pub const TENANT: &str = "Rae-Tenant";
/// Source of the event (`webhook`, `api`, `github`, ...).
pub const SOURCE: &str = "Rae-Source";
/// Stage that dead-lettered the event (`enrich` or `write`).
pub const DLQ_STAGE: &str = "Rae-Dlq-Stage";
/// Reason code of the dead letter.
pub const DLQ_REASON: &str = "Rae-Dlq-Reason";
/// Delivery attempts made before dead-lettering.
pub const DLQ_ATTEMPTS: &str = "Rae-Dlq-Attempts";
/// On a replayed event: the failures before the replay (JSON list), carried through the stages
/// so a dead letter of the replay keeps its history.
pub const DLQ_HISTORY: &str = "Rae-Dlq-History";
