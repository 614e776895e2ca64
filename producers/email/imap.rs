//! IMAP pollers (not yet implemented in this commit).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{BuildError, Intake};
use crate::bus::Bus;
use crate::config::ImapMailbox;

/// A poller of one mailbox.
pub struct Poller;

impl Poller {
    /// # Errors
    /// Always, for now: IMAP polling is not implemented yet.
    pub async fn build(
        id: &str,
        _index: usize,
        _mailbox: ImapMailbox,
        _intake: Arc<Intake>,
        _bus: &Bus,
    ) -> Result<Poller, BuildError> {
        Err(BuildError::Settings {
            id: id.to_owned(),
            message: "imap polling is not implemented yet".into(),
        })
    }

    pub async fn run(self, _token: CancellationToken) {}
}
