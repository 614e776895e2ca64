//! The NATS side of the core: connecting with retry, creating the streams, consumers and KV
//! buckets idempotently, and the [`Publisher`] every producer and consumer uses.
//!
//! The publisher always sets `Nats-Msg-Id` and awaits the JetStream ack, so a caller that got
//! `Ok` knows the event is stored and a redelivered input is deduplicated.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use async_nats::{HeaderMap, HeaderValue};
use bytes::Bytes;
use time::OffsetDateTime;

use crate::config::NatsConfig;
use crate::event::Event;
use crate::telemetry::EventPublished;
use crate::{headers, subjects};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// True when JetStream answered that it cannot take the request yet, as a cluster does while
/// it elects its leaders; a later request can succeed.
fn not_ready(kind: &jetstream::context::CreateStreamErrorKind) -> bool {
    use jetstream::context::CreateStreamErrorKind as Kind;
    use jetstream::ErrorCode;
    match kind {
        Kind::TimedOut | Kind::JetStreamUnavailable => true,
        Kind::JetStream(err) => [
            ErrorCode::CLUSTER_NOT_ACTIVE,
            ErrorCode::CLUSTER_NOT_ASSIGNED,
            ErrorCode::CLUSTER_NOT_AVAILABLE,
            ErrorCode::CLUSTER_NOT_LEADER,
        ]
        .contains(&err.error_code()),
        _ => false,
    }
}

/// How long `setup` keeps asking a JetStream that is not ready yet (a cluster electing its
/// leaders after a start or a node loss): the connect timeout, and at least 30 s.
fn setup_patience(config: &NatsConfig) -> Duration {
    Duration::from_secs(config.connect_timeout_secs.max(30))
}

/// Any error a NATS client call returns, kept as the source of a [`BusError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why NATS could not be reached or set up. The NATS client's own error is the `source`.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("nats.url {url:?} is not a comma-separated list of NATS URLs")]
    BadUrl {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot connect to NATS at {url} within {secs}s (is nats-server running? set NATS_URL or nats.url)")]
    Connect {
        url: String,
        secs: u64,
        #[source]
        source: BoxError,
    },
    #[error("cannot create or update stream {name}")]
    Stream {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("JetStream cannot reserve {max_bytes} bytes for stream {name}: lower the nats.*_max_bytes settings, or give nats-server more room (jetstream max_file_store, disk space)")]
    StreamStorage { name: String, max_bytes: u64 },
    #[error("cannot create or update consumer {name} on {stream}")]
    Consumer {
        stream: String,
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot create or update key-value bucket {name}")]
    BucketSetup {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot open key-value bucket {name} (run `rae-pipeline setup`)")]
    Bucket {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("JetStream request failed: {what}")]
    JetStream {
        /// What was asked (`stream RAE_DLQ info`, `ordered consumer on RAE_EVENTS`, ...).
        what: String,
        #[source]
        source: BoxError,
    },
}

impl BusError {
    /// A failed JetStream request about `what`.
    pub fn jetstream(what: impl Into<String>, source: impl Into<BoxError>) -> BusError {
        BusError::JetStream {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// Why a publish was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("NATS is not connected")]
    Unavailable,
    #[error("JetStream did not acknowledge the publish to {subject} in time")]
    Timeout { subject: String },
    #[error("JetStream refused the publish to {subject}: {message}")]
    Refused { subject: String, message: String },
}

/// A connected client and its JetStream context.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    config: NatsConfig,
}

impl Bus {
    /// Connects, retrying until `connect_timeout_secs` has passed.
    ///
    /// After the first connection the client reconnects on its own for as long as it lives.
    ///
    /// # Errors
    /// [`BusError::Connect`] when no server answered in time.
    pub async fn connect(config: &NatsConfig, name: &str) -> Result<Bus, BusError> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(config.connect_timeout_secs);
        let mut delay = Duration::from_millis(100);
        loop {
            let mut options = async_nats::ConnectOptions::new()
                .name(name)
                .connection_timeout(Duration::from_secs(2))
                .max_reconnects(None::<usize>)
                // Reconnect within 2 s of a server coming back, however long it was gone.
                .reconnect_delay_callback(|attempts| {
                    Duration::from_millis(50u64.saturating_mul(1 << attempts.min(6)))
                        .min(Duration::from_secs(2))
                });
            if let Some(token) = &config.token {
                options = options.token(token.expose().to_owned());
            }
            if let (Some(user), Some(password)) = (&config.user, &config.password) {
                options = options.user_and_password(user.clone(), password.expose().to_owned());
            }
            // A cluster's URLs are comma separated; the client takes them as a list.
            let servers: Result<Vec<async_nats::ServerAddr>, _> = config
                .url
                .split(',')
                .map(|u| u.trim().parse::<async_nats::ServerAddr>())
                .collect();
            let servers = servers.map_err(|e| BusError::BadUrl {
                url: config.url.clone(),
                source: e.into(),
            })?;
            match options.connect(servers).await {
                Ok(client) => {
                    let js = jetstream::ContextBuilder::new()
                        .timeout(Duration::from_millis(config.publish_timeout_ms))
                        .build(client.clone());
                    return Ok(Bus {
                        client,
                        js,
                        config: config.clone(),
                    });
                }
                Err(err) if tokio::time::Instant::now() + delay < deadline => {
                    tracing::debug!(error = %err, url = %config.url, "nats connect failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(err) => {
                    return Err(BusError::Connect {
                        url: config.url.clone(),
                        secs: config.connect_timeout_secs,
                        source: err.into(),
                    })
                }
            }
        }
    }

    /// True while the client holds a live connection.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// A publisher sharing this connection.
    pub fn publisher(&self) -> Publisher {
        Publisher { bus: self.clone() }
    }

    /// Creates or updates the streams and KV buckets; safe to call on every start.
    ///
    /// # Errors
    /// [`BusError`] naming the stream or bucket that could not be created.
    pub async fn setup(&self) -> Result<(), BusError> {
        let c = &self.config;
        let deadline = tokio::time::Instant::now() + setup_patience(c);
        let dup = Duration::from_secs(c.duplicate_window_secs);
        // What a full stream does: the pipeline's own streams refuse new messages, so a
        // publisher sees the failure and retries (nothing accepted is dropped); the audit
        // trail drops its oldest records.
        let keep = stream::DiscardPolicy::New;
        for (name, subject, max_age, max_bytes, discard) in [
            (
                subjects::EVENTS_STREAM,
                subjects::EVENTS_ALL,
                DAY * c.events_max_age_days as u32,
                c.events_max_bytes,
                keep,
            ),
            (
                subjects::ENRICHED_STREAM,
                subjects::ENRICHED_ALL,
                DAY * c.events_max_age_days as u32,
                c.enriched_max_bytes,
                keep,
            ),
            (
                subjects::DLQ_STREAM,
                subjects::DLQ_ALL,
                DAY * c.dlq_max_age_days as u32,
                c.dlq_max_bytes,
                keep,
            ),
            (
                subjects::AUDIT_STREAM,
                subjects::AUDIT_ALL,
                DAY * c.audit_max_age_days as u32,
                c.audit_max_bytes,
                stream::DiscardPolicy::Old,
            ),
        ] {
            let config = stream::Config {
                name: name.to_owned(),
                subjects: vec![subject.to_owned()],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                num_replicas: c.replicas,
                max_age,
                max_bytes: i64::try_from(max_bytes).unwrap_or(i64::MAX),
                discard,
                duplicate_window: dup.min(max_age),
                allow_direct: true,
                ..Default::default()
            };
            self.create_or_update_stream(config, deadline)
                .await
                .map_err(|e| {
                    let name = name.to_owned();
                    // JetStream reserves a stream's byte limit on the server's store.
                    if e.to_string().contains("insufficient storage") {
                        BusError::StreamStorage { name, max_bytes }
                    } else {
                        BusError::Stream {
                            name,
                            source: e.into(),
                        }
                    }
                })?;
        }
        for (bucket, max_age, history) in [
            (subjects::STATE_BUCKET, Duration::ZERO, 5),
            (subjects::DEDUPE_BUCKET, DAY * c.dedupe_ttl_days as u32, 1),
            // As long as a message can come back from RAE_ENRICHED.
            (
                subjects::WRITES_BUCKET,
                DAY * c.events_max_age_days as u32,
                1,
            ),
            // As long as the events whose memories it names.
            (
                subjects::MEMORIES_BUCKET,
                DAY * c.events_max_age_days as u32,
                1,
            ),
            (
                subjects::REPEATS_BUCKET,
                Duration::from_secs(c.repeat_window_secs),
                1,
            ),
        ] {
            // The bucket's stream is created directly, as the KV layout defines it: async-nats'
            // `create_key_value` first asks for account info, which nats-server 2.9 answers in
            // a shape the client cannot parse.
            let config = stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: history,
                max_age,
                storage: stream::StorageType::File,
                num_replicas: c.replicas,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                // Bucket ages are zero (forever), whole days or at least two minutes, so this fits.
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            };
            self.create_or_update_stream(config, deadline)
                .await
                .map_err(|e| BusError::BucketSetup {
                    name: bucket.to_owned(),
                    source: e.into(),
                })?;
        }
        Ok(())
    }

    /// Creates or updates one stream, asking again while JetStream is not ready to answer: a
    /// cluster that is still electing its leaders times requests out or says it is unavailable.
    async fn create_or_update_stream(
        &self,
        config: stream::Config,
        deadline: tokio::time::Instant,
    ) -> Result<(), jetstream::context::CreateStreamError> {
        let mut delay = Duration::from_millis(250);
        loop {
            match self.js.create_or_update_stream(config.clone()).await {
                Ok(_) => return Ok(()),
                Err(err)
                    if not_ready(&err.kind()) && tokio::time::Instant::now() + delay < deadline =>
                {
                    tracing::debug!(stream = %config.name, error = %err, "JetStream not ready, asking again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Creates (or updates) a durable pull consumer with explicit acks.
    ///
    /// `max_deliver` is unlimited: the consumers decide themselves when an event has failed for
    /// good, so an outage of RAE never turns into silently dropped messages.
    ///
    /// # Errors
    /// [`BusError::Consumer`] when the server refuses the consumer.
    pub async fn durable_consumer(
        &self,
        stream_name: &str,
        name: &str,
        filter: &str,
        ack_wait: Duration,
        max_ack_pending: i64,
        max_deliveries: u64,
    ) -> Result<consumer::PullConsumer, BusError> {
        let error = |e: BoxError| BusError::Consumer {
            stream: stream_name.to_owned(),
            name: name.to_owned(),
            source: e,
        };
        let stream = self
            .js
            .get_stream(stream_name)
            .await
            .map_err(|e| error(e.into()))?;
        let config = consumer::pull::Config {
            durable_name: Some(name.to_owned()),
            filter_subject: filter.to_owned(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait,
            // 0 means no limit; past the limit JetStream gives up and emits a MAX_DELIVERIES
            // advisory, which `consumers::advisories` turns into a dead letter.
            max_deliver: if max_deliveries == 0 {
                -1
            } else {
                i64::try_from(max_deliveries).unwrap_or(i64::MAX)
            },
            max_ack_pending,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        };
        match stream.create_consumer(config).await {
            Ok(consumer) => Ok(consumer),
            Err(err) => {
                // An older server refuses to change some fields of an existing durable; keep
                // the one that exists rather than refusing to start.
                tracing::warn!(error = %err, consumer = name, "consumer update refused, using the existing one");
                stream.get_consumer(name).await.map_err(error)
            }
        }
    }

    /// The `rae_dedupe` bucket.
    ///
    /// # Errors
    /// [`BusError::Bucket`] when it does not exist (run `setup`).
    pub async fn dedupe(&self) -> Result<Dedupe, BusError> {
        let store = self.bucket(subjects::DEDUPE_BUCKET).await?;
        Ok(Dedupe { store })
    }

    /// The `rae_repeats` bucket.
    ///
    /// # Errors
    /// [`BusError::Bucket`] when it does not exist (run `setup`).
    pub async fn repeats(&self) -> Result<crate::repeats::Repeats, BusError> {
        let store = self.bucket(subjects::REPEATS_BUCKET).await?;
        Ok(crate::repeats::Repeats::new(store))
    }

    /// The writer's journal in the `rae_writes` bucket.
    ///
    /// # Errors
    /// [`BusError::Bucket`] when it does not exist (run `setup`).
    pub async fn write_journal(&self) -> Result<crate::journal::WriteJournal, BusError> {
        let store = self.bucket(subjects::WRITES_BUCKET).await?;
        Ok(crate::journal::WriteJournal::new(store))
    }

    /// The memory record in the `rae_memories` bucket.
    ///
    /// # Errors
    /// [`BusError::Bucket`] when it does not exist (run `setup`).
    pub async fn memory_records(&self) -> Result<crate::memory_record::MemoryRecords, BusError> {
        let store = self.bucket(subjects::MEMORIES_BUCKET).await?;
        Ok(crate::memory_record::MemoryRecords::new(
            store,
            self.js.clone(),
        ))
    }

    /// A key-value bucket that `setup` created.
    async fn bucket(&self, name: &str) -> Result<kv::Store, BusError> {
        self.js
            .get_key_value(name)
            .await
            .map_err(|e| BusError::Bucket {
                name: name.to_owned(),
                source: e.into(),
            })
    }

    /// Stream handle by name.
    ///
    /// # Errors
    /// [`BusError::JetStream`] when the stream does not exist or NATS does not answer.
    pub async fn stream(&self, name: &str) -> Result<stream::Stream, BusError> {
        self.js
            .get_stream(name)
            .await
            .map_err(|e| BusError::jetstream(format!("stream {name}"), e))
    }

    /// True when every stream exists (readiness).
    pub async fn streams_present(&self) -> bool {
        for name in [
            subjects::EVENTS_STREAM,
            subjects::ENRICHED_STREAM,
            subjects::DLQ_STREAM,
            subjects::AUDIT_STREAM,
        ] {
            if self.js.get_stream(name).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// Provider delivery ids remembered for days, beyond JetStream's duplicate window.
#[derive(Clone)]
pub struct Dedupe {
    store: kv::Store,
}

impl Dedupe {
    /// True when `key` (an event id) was remembered before.
    ///
    /// # Errors
    /// [`PublishError::Unavailable`] when the bucket cannot be read.
    pub async fn seen(&self, key: &str) -> Result<bool, PublishError> {
        match self.store.get(key).await {
            Ok(value) => Ok(value.is_some()),
            Err(_) => Err(PublishError::Unavailable),
        }
    }

    /// Remembers `key`; called only after the event is stored, so a failure here can only
    /// cause a later duplicate, never a loss.
    ///
    /// # Errors
    /// [`PublishError::Unavailable`] when the bucket cannot be written.
    pub async fn remember(&self, key: &str) -> Result<(), PublishError> {
        let now = OffsetDateTime::now_utc().unix_timestamp().to_string();
        self.store
            .put(key, Bytes::from(now))
            .await
            .map(|_| ())
            .map_err(|_| PublishError::Unavailable)
    }
}

/// What JetStream said about a stored message.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub sequence: u64,
    /// True when JetStream already had a message with this `Nats-Msg-Id`.
    pub duplicate: bool,
}

/// What happened to a producer's event: stored now, or already stored before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// `rae.events.<tenant>.<source>.<kind>`.
    pub subject: String,
    /// Stream sequence; `None` when `rae_dedupe` knew the event and nothing was published.
    pub sequence: Option<u64>,
    /// True when the event was stored before (JetStream's window or `rae_dedupe`).
    pub duplicate: bool,
}

/// Publishes to JetStream and awaits the ack; the only way anything reaches a stream.
#[derive(Clone)]
pub struct Publisher {
    bus: Bus,
}

impl Publisher {
    /// Publishes `event` to `subject` with the event headers (`Rae-Schema`, `Rae-Tenant`, `Rae-Source`), deduplicated by
    /// `msg_id`.
    ///
    /// # Errors
    /// [`PublishError`] when NATS is down, the ack does not come in time, or JetStream refuses.
    pub async fn publish_event(
        &self,
        subject: &str,
        event: &Event,
        msg_id: &str,
    ) -> Result<Stored, PublishError> {
        self.publish_event_with(subject, event, msg_id, HeaderMap::new())
            .await
    }

    /// [`Publisher::publish_event`] with more headers (a stage forwarding what its input
    /// carried).
    ///
    /// # Errors
    /// See [`Publisher::publish_event`].
    pub async fn publish_event_with(
        &self,
        subject: &str,
        event: &Event,
        msg_id: &str,
        mut headers: HeaderMap,
    ) -> Result<Stored, PublishError> {
        headers.insert(headers::SCHEMA, headers::SCHEMA_V1);
        headers.insert(headers::TENANT, header_value(&event.tenant));
        headers.insert(headers::SOURCE, HeaderValue::from(event.source.as_str()));
        self.publish(subject, headers, msg_id, Bytes::from(event.to_payload()))
            .await
    }

    /// Publishes `payload` with `headers`, deduplicated by `msg_id`, and awaits the ack.
    ///
    /// # Errors
    /// See [`Publisher::publish_event`].
    pub async fn publish(
        &self,
        subject: &str,
        mut headers: HeaderMap,
        msg_id: &str,
        payload: Bytes,
    ) -> Result<Stored, PublishError> {
        if !self.bus.is_connected() {
            return Err(PublishError::Unavailable);
        }
        headers.insert(headers::MSG_ID, header_value(msg_id));
        let message = jetstream::message::PublishMessage::build()
            .payload(payload)
            .headers(headers);
        let refused = |e: &dyn std::fmt::Display| PublishError::Refused {
            subject: subject.to_owned(),
            message: e.to_string(),
        };
        let ack_future = self
            .bus
            .js
            .send_publish(subject.to_owned(), message)
            .await
            .map_err(|e| match e.kind() {
                jetstream::context::PublishErrorKind::TimedOut => PublishError::Timeout {
                    subject: subject.to_owned(),
                },
                _ => refused(&e),
            })?;
        let ack = ack_future.await.map_err(|e| match e.kind() {
            jetstream::context::PublishErrorKind::TimedOut => PublishError::Timeout {
                subject: subject.to_owned(),
            },
            jetstream::context::PublishErrorKind::BrokenPipe => PublishError::Unavailable,
            _ => refused(&e),
        })?;
        Ok(Stored {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Publishes a producer's event: the one road from every producer into `RAE_EVENTS`.
    ///
    /// The subject comes from the event, `Nats-Msg-Id` is the event id (so input redelivered
    /// within JetStream's duplicate window is stored once), the ack is awaited, and
    /// [`EventPublished`] is emitted.
    ///
    /// # Errors
    /// See [`Publisher::publish_event`].
    pub async fn publish_new(&self, event: &Event) -> Result<Published, PublishError> {
        let subject = subjects::event(&event.tenant, event.source.as_str(), &event.kind);
        let stored = self.publish_event(&subject, event, &event.id).await?;
        EventPublished {
            event_id: &event.id,
            source: event.source,
            subject: &subject,
            duplicate: stored.duplicate,
        }
        .emit();
        Ok(Published {
            subject,
            sequence: Some(stored.sequence),
            duplicate: stored.duplicate,
        })
    }

    /// [`Publisher::publish_new`] for an event whose id derives from a provider id that may come
    /// back for days (a delivery id, a `Message-ID`, an idempotency key): `dedupe` remembers it
    /// for `nats.dedupe_ttl_days`, far beyond JetStream's duplicate window of minutes.
    ///
    /// # Errors
    /// See [`Publisher::publish_event`]; [`PublishError::Unavailable`] when `rae_dedupe` cannot
    /// be read.
    pub async fn publish_new_once(
        &self,
        event: &Event,
        dedupe: &Dedupe,
    ) -> Result<Published, PublishError> {
        // Disconnected, the dedupe lookup would only wait for its timeout.
        if !self.bus.is_connected() {
            return Err(PublishError::Unavailable);
        }
        if dedupe.seen(&event.id).await? {
            return Ok(Published {
                subject: subjects::event(&event.tenant, event.source.as_str(), &event.kind),
                sequence: None,
                duplicate: true,
            });
        }
        let published = self.publish_new(event).await?;
        // The event is stored; failing to remember its id can only cause a later duplicate,
        // never a loss, so it is logged and not returned.
        if let Err(err) = dedupe.remember(&event.id).await {
            tracing::warn!(event_id = %event.id, error = %err, "event id not remembered in rae_dedupe");
        }
        Ok(published)
    }

    /// The bus this publisher writes to.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }
}

/// A header value from text that may hold characters NATS headers cannot carry.
pub fn header_value(text: &str) -> HeaderValue {
    if !text.chars().any(char::is_control) {
        return HeaderValue::from(text);
    }
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    HeaderValue::from(clean.as_str())
}
