//! The bounds on `/mcp` sessions: how many are open at once, in all and per API key, and whose
//! each one is.
//!
//! A session is created by an `initialize` request, which first takes a [`Reservation`] of a
//! slot; when the SDK answers with a session id, the reservation becomes that session, owned by
//! the key; otherwise it is given back. [`TrackedSessions`] is the SDK's in-memory session
//! manager reporting each session it closes (on `DELETE`, after `mcp.http.session_idle_secs`
//! without a request, or at shutdown), which frees the slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};
use rmcp::transport::WorkerTransport;

use rae_core::sync::lock;

/// Why no session slot is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotsFull {
    #[error("this API key has {0} MCP sessions open, the most it may (mcp.http.max_sessions_per_key): close one (DELETE /mcp) or let an idle one expire")]
    Key(usize),
    #[error(
        "{0} MCP sessions are open, the most the server keeps (mcp.http.max_sessions); retry later"
    )]
    Total(usize),
}

/// The session slots: their bounds, and who holds them.
#[derive(Debug)]
pub struct SessionSlots {
    max_total: usize,
    max_per_key: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// The key of each open session.
    owners: HashMap<String, String>,
    /// Slots held per key: its open sessions and reservations.
    per_key: HashMap<String, usize>,
    total: usize,
}

impl Held {
    fn release(&mut self, key: &str) {
        self.total = self.total.saturating_sub(1);
        if let Some(count) = self.per_key.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_key.remove(key);
            }
        }
    }
}

impl SessionSlots {
    pub fn new(max_total: usize, max_per_key: usize) -> Arc<SessionSlots> {
        Arc::new(SessionSlots {
            max_total,
            max_per_key,
            held: Mutex::default(),
        })
    }

    /// Takes a slot for a new session of `key`.
    ///
    /// # Errors
    /// [`SlotsFull`] when the key or the server holds the most slots it may.
    pub fn reserve(self: &Arc<Self>, key: &str) -> Result<Reservation, SlotsFull> {
        let mut held = lock(&self.held);
        let of_key = held.per_key.get(key).copied().unwrap_or(0);
        if of_key >= self.max_per_key {
            return Err(SlotsFull::Key(self.max_per_key));
        }
        if held.total >= self.max_total {
            return Err(SlotsFull::Total(self.max_total));
        }
        held.total += 1;
        *held.per_key.entry(key.to_owned()).or_default() += 1;
        Ok(Reservation {
            slots: Arc::clone(self),
            key: Some(key.to_owned()),
        })
    }

    /// The key that opened `session`, while it is open.
    pub fn owner(&self, session: &str) -> Option<String> {
        lock(&self.held).owners.get(session).cloned()
    }

    /// Frees the slot of `session`, which was closed (unknown sessions are ignored).
    pub fn closed(&self, session: &str) {
        let mut held = lock(&self.held);
        if let Some(key) = held.owners.remove(session) {
            held.release(&key);
        }
    }

    /// Slots held: by `key`, and in all.
    pub fn held(&self, key: &str) -> (usize, usize) {
        let held = lock(&self.held);
        (held.per_key.get(key).copied().unwrap_or(0), held.total)
    }
}

/// A slot taken for a session that is being created; given back when dropped unbound.
#[derive(Debug)]
pub struct Reservation {
    slots: Arc<SessionSlots>,
    /// `None` once bound to a session.
    key: Option<String>,
}

impl Reservation {
    /// The slot becomes `session`'s, owned by the reserving key.
    pub fn bind(mut self, session: &str) {
        if let Some(key) = self.key.take() {
            lock(&self.slots.held)
                .owners
                .insert(session.to_owned(), key);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.slots.held).release(&key);
        }
    }
}

/// The SDK's in-memory sessions ([`LocalSessionManager`]), each close reported to the slots.
pub struct TrackedSessions {
    sessions: LocalSessionManager,
    slots: Arc<SessionSlots>,
}

impl TrackedSessions {
    pub fn new(sessions: LocalSessionManager, slots: Arc<SessionSlots>) -> TrackedSessions {
        TrackedSessions { sessions, slots }
    }
}

impl SessionManager for TrackedSessions {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.sessions.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.sessions.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.sessions.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let closed = self.sessions.close_session(id).await;
        self.slots.closed(id);
        closed
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.sessions.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.sessions.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.sessions.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.sessions.resume(id, last_event_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_key_and_in_all_and_freed_on_close() {
        let slots = SessionSlots::new(3, 2);
        let a1 = slots.reserve("a").unwrap();
        let a2 = slots.reserve("a").unwrap();
        assert_eq!(slots.reserve("a").unwrap_err(), SlotsFull::Key(2));
        let b1 = slots.reserve("b").unwrap();
        assert_eq!(slots.reserve("b").unwrap_err(), SlotsFull::Total(3));
        a1.bind("s-1");
        b1.bind("s-2");
        assert_eq!(slots.owner("s-1").as_deref(), Some("a"));
        assert_eq!(slots.owner("s-2").as_deref(), Some("b"));
        // A reservation that found no session gives its slot back.
        drop(a2);
        assert_eq!(slots.held("a"), (1, 2));
        slots.closed("s-1");
        assert_eq!(slots.owner("s-1"), None);
        assert_eq!(slots.held("a"), (0, 1));
        slots.closed("s-1");
        slots.closed("never-opened");
        assert_eq!(slots.held("b"), (1, 1));
        slots.reserve("a").unwrap().bind("s-3");
        slots.reserve("a").unwrap().bind("s-4");
        assert_eq!(slots.held("a"), (2, 3));
    }
}
