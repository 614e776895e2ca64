//! IMAP pollers: one task per configured mailbox.
//!
//! The cursor (UIDVALIDITY and the last handled UID) lives in the `rae_state` KV bucket and moves
//! only after a message's event is stored and the message is flagged `\Seen` or moved, so a
//! restart neither misses nor repeats mail. A crash between storing and moving the cursor
//! refetches the message, and its `Message-ID` key in `rae_dedupe` makes that a duplicate. A new
//! UIDVALIDITY (the server renumbered the folder) starts over from UID 1, again deduplicated.
//! The poller waits with IDLE when the server offers it, else sleeps `poll_interval_secs`.
//! Credentials are never logged.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::{BuildError, Intake};
use rae_core::bus::{Bus, BusError};
use rae_core::config::{AfterFetch, ImapMailbox};
use rae_core::subjects;

/// Longest wait before reconnecting after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where a mailbox was read up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

/// A poller of one mailbox.
pub struct Poller {
    mailbox: ImapMailbox,
    intake: Arc<Intake>,
    state: kv::Store,
    /// The cursor's key in `rae_state`: integration id and a digest of host, port, user, folder.
    key: String,
    label: String,
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("imap: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    #[error("the mail is not stored: {0}")]
    Store(#[from] super::StoreError),
    #[error("cursor: {0}")]
    State(String),
    #[error("the server gave no UIDVALIDITY for the folder")]
    NoUidValidity,
}

impl Poller {
    /// # Errors
    /// [`BuildError::Bus`] when the `rae_state` bucket is missing.
    pub async fn build(
        id: &str,
        mailbox: ImapMailbox,
        intake: Arc<Intake>,
        bus: &Bus,
    ) -> Result<Poller, BuildError> {
        let state = bus
            .js
            .get_key_value(subjects::STATE_BUCKET)
            .await
            .map_err(|e| BusError::Bucket {
                name: subjects::STATE_BUCKET.to_owned(),
                source: e.into(),
            })?;
        let identity = format!(
            "{}\n{}\n{}\n{}",
            mailbox.host,
            mailbox.port(),
            mailbox.user,
            mailbox.folder
        );
        let digest = hex::encode(Sha256::digest(identity.as_bytes()));
        let key = format!("email.{}.{}", subjects::token(id), &digest[..16]);
        let label = format!("{}@{}/{}", mailbox.user, mailbox.host, mailbox.folder);
        Ok(Poller {
            mailbox,
            intake,
            state,
            key,
            label,
        })
    }

    /// Polls until `token` is cancelled, reconnecting with backoff after failures.
    pub async fn run(self, token: CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let result = self.session(&token).await;
            if token.is_cancelled() {
                return;
            }
            if let Err(err) = result {
                tracing::warn!(mailbox = %self.label, error = %err, retry_in_secs = backoff.as_secs(), "imap poll failed");
            }
            tokio::select! {
                biased;
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn session(&self, token: &CancellationToken) -> Result<(), PollError> {
        let addr = (self.mailbox.host.as_str(), self.mailbox.port());
        let tcp = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
        if self.mailbox.tls {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from(self.mailbox.host.clone())
                .map_err(std::io::Error::other)?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await?;
            self.poll(tls, token).await
        } else {
            self.poll(tcp, token).await
        }
    }

    async fn poll<T>(&self, stream: T, token: &CancellationToken) -> Result<(), PollError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
    {
        let mut client = async_imap::Client::new(stream);
        client.read_response().await?;
        let mut session = client
            .login(&self.mailbox.user, self.mailbox.password.expose())
            .await
            .map_err(|(err, _)| err)?;
        let idle = session.capabilities().await?.has_str("IDLE");
        let folder = session.select(&self.mailbox.folder).await?;
        let uid_validity = folder.uid_validity.ok_or(PollError::NoUidValidity)?;
        let mut cursor = self.load().await?;
        if cursor.uid_validity != uid_validity {
            if cursor != Cursor::default() {
                tracing::warn!(mailbox = %self.label, "UIDVALIDITY changed: reading the folder again (duplicates are filtered)");
            }
            cursor = Cursor {
                uid_validity,
                last_uid: 0,
            };
        }
        tracing::info!(mailbox = %self.label, idle, last_uid = cursor.last_uid, "imap poller connected");
        let interval = Duration::from_secs(self.mailbox.poll_interval_secs);
        loop {
            let next = cursor.last_uid.saturating_add(1);
            let mut uids: Vec<u32> = session
                .uid_search(format!("UID {next}:*"))
                .await?
                .into_iter()
                .filter(|uid| *uid >= next)
                .collect();
            uids.sort_unstable();
            for uid in uids {
                if token.is_cancelled() {
                    break;
                }
                let raw = {
                    let fetches: Vec<_> = session
                        .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                        .await?
                        .try_collect()
                        .await?;
                    fetches
                        .iter()
                        .find(|f| f.uid == Some(uid))
                        .and_then(|f| f.body().map(<[u8]>::to_vec))
                };
                if let Some(raw) = raw {
                    match self.intake.store_fetched(&raw, &self.label).await {
                        Ok(_) => {}
                        Err(err) if err.is_retryable() => return Err(err.into()),
                        Err(err) => {
                            tracing::warn!(mailbox = %self.label, uid, error = %err, "mail skipped");
                        }
                    }
                    self.after(&mut session, uid).await?;
                }
                cursor.last_uid = uid;
                self.save(cursor).await?;
            }
            if token.is_cancelled() {
                let _ = session.logout().await;
                return Ok(());
            }
            if idle {
                let mut handle = session.idle();
                handle.init().await?;
                let (wait, _stop) = handle.wait_with_timeout(interval);
                tokio::select! {
                    biased;
                    _ = token.cancelled() => {}
                    r = wait => { r?; }
                }
                session = handle.done().await?;
            } else {
                tokio::select! {
                    biased;
                    _ = token.cancelled() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
                session.noop().await?;
            }
        }
    }

    /// Flags or moves a handled message.
    async fn after<T>(
        &self,
        session: &mut async_imap::Session<T>,
        uid: u32,
    ) -> Result<(), PollError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
    {
        let set = uid.to_string();
        match (self.mailbox.after, self.mailbox.move_to.as_deref()) {
            (AfterFetch::Move, Some(target)) => {
                if session.uid_mv(&set, target).await.is_err() {
                    // No MOVE extension: copy, flag deleted, expunge.
                    session.uid_copy(&set, target).await?;
                    session
                        .uid_store(&set, "+FLAGS.SILENT (\\Seen \\Deleted)")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await?;
                    session.expunge().await?.try_collect::<Vec<_>>().await?;
                }
            }
            _ => {
                session
                    .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await?;
            }
        }
        Ok(())
    }

    async fn load(&self) -> Result<Cursor, PollError> {
        match self.state.get(&self.key).await {
            Ok(Some(bytes)) => {
                serde_json::from_slice(&bytes).map_err(|e| PollError::State(e.to_string()))
            }
            Ok(None) => Ok(Cursor::default()),
            Err(e) => Err(PollError::State(e.to_string())),
        }
    }

    async fn save(&self, cursor: Cursor) -> Result<(), PollError> {
        let bytes = serde_json::to_vec(&cursor).map_err(|e| PollError::State(e.to_string()))?;
        self.state
            .put(&self.key, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| PollError::State(e.to_string()))
    }
}
