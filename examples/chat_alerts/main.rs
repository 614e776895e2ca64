//! A custom consumer of rae-pipeline: posts the important events of one tenant to a chat
//! webhook (Slack, Mattermost and Rocket.Chat incoming webhooks all take `{"text": ...}`).
//!
//! It owns a durable pull consumer on the `RAE_ENRICHED` stream, filtered to
//! `rae.enriched.<tenant>.>`, with explicit acks, and handles at most `CONCURRENCY` events at
//! once. An event is acked only after the chat accepted it (or after deciding to skip it); a
//! chat that is down or throttles gets the event back later (nak with a delay), a chat that
//! refuses it for good terminates the message. Replays and backfills republish events with a
//! fresh message id, so it remembers the event ids it posted and posts each once (while it runs;
//! docs/consumers.md shows how to remember them across restarts, and explains every choice).
//! The payload is described by contracts/enriched.v1.schema.json.
//!
//! Run it beside the pipeline:
//!
//! ```sh
//! NATS_URL=nats://127.0.0.1:4222 RAE_TENANT=default-tenant \
//! CHAT_WEBHOOK_URL=https://hooks.example.com/services/T000/B000/XXXX \
//! cargo run --example chat_alerts
//! ```
//!
//! Settings (environment): `NATS_URL` (default `nats://127.0.0.1:4222`), `RAE_TENANT`
//! (required), `CHAT_WEBHOOK_URL` (required), `MIN_IMPORTANCE` (default 0.8), `CONSUMER_NAME`
//! (default `chat-alerts-<tenant>`), `CONCURRENCY` (default 4).
//!
//! To use it in your own project, copy this file and depend on `async-nats`, `tokio` (features
//! `macros`, `rt-multi-thread`, `signal`), `futures`, `serde` (`derive`), `serde_json` and
//! `reqwest` (`json`).

use std::collections::{HashSet, VecDeque};
use std::error::Error;
use std::future::Future;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{AckKind, Message};
use futures::StreamExt;
use serde::Deserialize;

type BoxError = Box<dyn Error + Send + Sync>;

/// The stream of enriched events, and the header naming the payload's schema.
const STREAM: &str = "RAE_ENRICHED";
const SCHEMA_HEADER: &str = "Rae-Schema";
const SCHEMA: &str = "event.v1";

/// How many event ids to remember for deduplication (a replay comes within days, not millions
/// of events later; a restart forgets them, see docs/consumers.md for a durable alternative).
const REMEMBERED_IDS: usize = 10_000;

/// What this consumer needs to know, read from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub nats_url: String,
    /// The tenant as its subject token: lowercase, `[a-z0-9_-]`, anything else as `_`.
    pub tenant: String,
    pub webhook_url: String,
    pub min_importance: f64,
    /// The durable consumer's name: one per purpose and tenant, shared by this app's replicas.
    pub consumer: String,
    pub concurrency: usize,
}

impl Settings {
    /// Reads the settings from the environment.
    ///
    /// # Errors
    /// A message naming the variable that is missing or malformed.
    pub fn from_env() -> Result<Settings, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let tenant = token(&required("RAE_TENANT")?);
        Ok(Settings {
            nats_url: var("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned()),
            webhook_url: required("CHAT_WEBHOOK_URL")?,
            min_importance: parsed("MIN_IMPORTANCE", var("MIN_IMPORTANCE"), 0.8)?,
            consumer: var("CONSUMER_NAME").unwrap_or_else(|| format!("chat-alerts-{tenant}")),
            concurrency: parsed("CONCURRENCY", var("CONCURRENCY"), 4_usize)?.clamp(1, 256),
            tenant,
        })
    }
}

/// The value of variable `name`, parsed, or `default` when unset.
fn parsed<T: std::str::FromStr>(name: &str, text: Option<String>, default: T) -> Result<T, String> {
    match text {
        Some(text) => text
            .parse()
            .map_err(|_| format!("{name} must be a number, not {text:?}")),
        None => Ok(default),
    }
}

/// A subject token as rae-pipeline makes it: lowercase `[a-z0-9_-]`, anything else `_`.
pub fn token(raw: &str) -> String {
    raw.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '_',
        })
        .collect()
}

/// The fields of an enriched `event.v1` this consumer reads; serde ignores the others, as the
/// contract asks (a minor release may add fields).
#[derive(Debug, Deserialize)]
pub struct EnrichedEvent {
    pub id: String,
    pub tenant: String,
    pub source: String,
    pub kind: String,
    pub content: String,
    pub importance: Option<f64>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
}

/// What to do with one message.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Done (posted, or not for us): ack.
    Ack,
    /// Try again later: nak with this delay.
    Retry(Duration),
    /// Never deliverable: terminate, so JetStream stops redelivering it.
    Terminate,
}

/// A started consumer: its durable consumer exists and it is ready to run.
pub struct ChatAlerts {
    settings: Settings,
    consumer: PullConsumer,
    http: reqwest::Client,
    posted: Arc<Mutex<RecentIds>>,
}

impl ChatAlerts {
    /// Connects and creates (or updates) the durable consumer; everything that can fail at
    /// start fails here.
    ///
    /// # Errors
    /// When NATS cannot be reached, `RAE_ENRICHED` does not exist or the consumer is refused.
    pub async fn start(settings: Settings) -> Result<ChatAlerts, BoxError> {
        let client = async_nats::connect(&settings.nats_url).await?;
        let jetstream = async_nats::jetstream::new(client);
        let stream = jetstream.get_stream(STREAM).await?;
        let consumer = stream
            .create_consumer(PullConfig {
                durable_name: Some(settings.consumer.clone()),
                description: Some("chat alerts for important events (examples/chat_alerts)".into()),
                filter_subject: format!("rae.enriched.{}.>", settings.tenant),
                ack_policy: AckPolicy::Explicit,
                // New events only: a new alert consumer should not post a week of history.
                deliver_policy: DeliverPolicy::New,
                // Long enough for a slow chat; a message not acked by then is redelivered.
                ack_wait: Duration::from_secs(30),
                // Give up on an event after this many deliveries (a chat down for hours).
                max_deliver: 50,
                // The server hands out no more than this many unacked messages at once.
                max_ack_pending: i64::try_from(settings.concurrency * 2).unwrap_or(i64::MAX),
                ..PullConfig::default()
            })
            .await?;
        Ok(ChatAlerts {
            settings,
            consumer,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            posted: Arc::new(Mutex::new(RecentIds::default())),
        })
    }

    /// Handles events until `shutdown` completes, then finishes those in flight.
    ///
    /// # Errors
    /// When the message stream cannot be opened.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), BoxError> {
        let concurrency = self.settings.concurrency;
        // Pull only as many messages as can be handled at once, so none waits in a buffer while
        // its ack timer runs.
        let messages = self
            .consumer
            .stream()
            .max_messages_per_batch(concurrency)
            .messages()
            .await?
            .take_until(shutdown);
        let this = &self;
        messages
            .for_each_concurrent(concurrency, |message| async move {
                match message {
                    Ok(message) => this.handle(message).await,
                    Err(err) => eprintln!("pull failed: {err}"),
                }
            })
            .await;
        Ok(())
    }

    async fn handle(&self, message: Message) {
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        let outcome = self.decide(&message, delivered).await;
        let ack = match outcome {
            Outcome::Ack => message.ack().await,
            Outcome::Retry(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
            Outcome::Terminate => message.ack_with(AckKind::Term).await,
        };
        if let Err(err) = ack {
            // Not acked: JetStream redelivers after ack_wait, and the id check keeps it from
            // being posted twice.
            eprintln!("ack failed: {err}");
        }
    }

    async fn decide(&self, message: &Message, delivered: i64) -> Outcome {
        let schema = message
            .headers
            .as_ref()
            .and_then(|h| h.get(SCHEMA_HEADER))
            .map(|v| v.as_str().to_owned());
        if schema.as_deref() != Some(SCHEMA) {
            eprintln!(
                "skipped a message of schema {schema:?} on {}",
                message.subject
            );
            return Outcome::Terminate;
        }
        let event: EnrichedEvent = match serde_json::from_slice(&message.payload) {
            Ok(event) => event,
            Err(err) => {
                eprintln!("unreadable event on {}: {err}", message.subject);
                return Outcome::Terminate;
            }
        };
        let importance = event.importance.unwrap_or(0.0);
        if importance < self.settings.min_importance {
            println!("skipped {} (importance {importance})", event.id);
            return Outcome::Ack;
        }
        // Reserve the id before posting, so two copies in flight at once (a replay arriving
        // while the original is retried) cannot both be posted.
        if !self.reserve(&event.id) {
            println!("duplicate {} (already posted)", event.id);
            return Outcome::Ack;
        }
        let response = self
            .http
            .post(&self.settings.webhook_url)
            .json(&serde_json::json!({ "text": chat_text(&event) }))
            .send()
            .await;
        let status = match response {
            Ok(response) => response.status(),
            Err(err) => {
                eprintln!("chat unreachable for {}: {err}", event.id);
                self.release(&event.id);
                return Outcome::Retry(backoff(delivered));
            }
        };
        if status.is_success() {
            println!("posted {}", event.id);
            Outcome::Ack
        } else if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
            eprintln!("chat answered {status} for {}; retrying", event.id);
            self.release(&event.id);
            Outcome::Retry(backoff(delivered))
        } else {
            eprintln!("chat refused {} with {status}; dropped", event.id);
            Outcome::Terminate
        }
    }

    /// Marks `id` as posted; false when it already was (or is being posted).
    fn reserve(&self, id: &str) -> bool {
        self.posted
            .lock()
            .map(|mut ids| ids.insert(id.to_owned()))
            .unwrap_or(true)
    }

    /// Forgets `id` after a failed post, so its redelivery is posted.
    fn release(&self, id: &str) {
        if let Ok(mut ids) = self.posted.lock() {
            ids.remove(id);
        }
    }
}

/// The chat message for an event.
pub fn chat_text(event: &EnrichedEvent) -> String {
    let mut text = format!(
        "*{}* [{}/{}, importance {:.2}]",
        event.tenant,
        event.source,
        event.kind,
        event.importance.unwrap_or(0.0)
    );
    if let Some(actor) = &event.actor {
        text.push_str(&format!(" by {actor}"));
    }
    let content: String = event.content.chars().take(500).collect();
    text.push('\n');
    text.push_str(&content);
    if let Some(url) = &event.url {
        text.push('\n');
        text.push_str(url);
    }
    text
}

/// 1 s, 2 s, 4 s ... up to 5 minutes, by delivery count.
fn backoff(delivered: i64) -> Duration {
    let exponent = u32::try_from(delivered.clamp(1, 10) - 1).unwrap_or(0);
    Duration::from_secs(2u64.pow(exponent).min(300))
}

/// The last [`REMEMBERED_IDS`] event ids posted (or being posted).
#[derive(Default)]
struct RecentIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    /// Adds `id`; false when it was there.
    fn insert(&mut self, id: String) -> bool {
        if !self.set.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > REMEMBERED_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    fn remove(&mut self, id: &str) {
        if self.set.remove(id) {
            self.order.retain(|kept| kept != id);
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // This workspace builds reqwest without a default TLS provider; with reqwest's default
    // features in your own project, leave this line out.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(problem) => {
            eprintln!("chat_alerts: {problem}");
            return ExitCode::from(2);
        }
    };
    let alerts = match ChatAlerts::start(settings.clone()).await {
        Ok(alerts) => alerts,
        Err(err) => {
            eprintln!("chat_alerts: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "ready: consumer {} on rae.enriched.{}.>",
        settings.consumer, settings.tenant
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match alerts.run(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat_alerts: {err}");
            ExitCode::FAILURE
        }
    }
}
