//! Reading a stream from start to end, in order: what `dlq list` and `backfill` do.
//!
//! An ordered consumer (ephemeral, flow-controlled, recreated by the client after a gap) reads
//! from the chosen start; the reader stops at the last message that existed when it began, or
//! when nothing arrives for a while, so it never waits on a stream that is still being written.

use std::time::Duration;

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use async_nats::jetstream::Message;
use futures::StreamExt;

use crate::bus::{Bus, BusError};

/// How long a read waits for the next message before it takes the stream as read.
const IDLE: Duration = Duration::from_secs(5);

/// Messages of one stream in order, up to its last message at the start.
pub struct StreamReader {
    messages: consumer::pull::Ordered,
    /// The stream's last sequence when reading began.
    last_sequence: u64,
    /// Set once the last message was handed out, so the next call does not wait.
    done: bool,
}

impl StreamReader {
    /// Starts reading `stream` at `start`; `None` when the stream holds no message.
    ///
    /// # Errors
    /// [`BusError`] when the stream does not exist or the consumer cannot be made.
    pub async fn open(
        bus: &Bus,
        stream: &str,
        start: DeliverPolicy,
    ) -> Result<Option<StreamReader>, BusError> {
        StreamReader::open_filtered(bus, stream, start, "").await
    }

    /// [`StreamReader::open`] for the messages whose subject matches `subject` (wildcards
    /// allowed; empty for all), which the server filters; `None` when none is at or after
    /// `start`, known at once from the consumer's pending count rather than by waiting.
    ///
    /// # Errors
    /// [`BusError`] when the stream does not exist or the consumer cannot be made.
    pub async fn open_filtered(
        bus: &Bus,
        stream: &str,
        start: DeliverPolicy,
        subject: &str,
    ) -> Result<Option<StreamReader>, BusError> {
        let mut handle = bus.stream(stream).await?;
        let info = handle
            .info()
            .await
            .map_err(|e| BusError::jetstream(format!("{stream} info"), e))?;
        if info.state.messages == 0 {
            return Ok(None);
        }
        let last_sequence = info.state.last_sequence;
        let consumer = handle
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: start,
                filter_subject: subject.to_owned(),
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::jetstream(format!("ordered consumer on {stream}"), e))?;
        if consumer.cached_info().num_pending == 0 {
            return Ok(None);
        }
        let messages = consumer
            .messages()
            .await
            .map_err(|e| BusError::jetstream(format!("messages of {stream}"), e))?;
        Ok(Some(StreamReader {
            messages,
            last_sequence,
            done: false,
        }))
    }

    /// The next message, or `None` past the last message at the start, after an error, or
    /// when nothing came for a while.
    pub async fn next(&mut self) -> Option<Message> {
        if self.done {
            return None;
        }
        let message = tokio::time::timeout(IDLE, self.messages.next())
            .await
            .ok()??
            .ok()?;
        let info = message.info().ok()?;
        if info.stream_sequence > self.last_sequence {
            self.done = true;
            return None;
        }
        self.done = info.pending == 0 || info.stream_sequence == self.last_sequence;
        Some(message)
    }
}
