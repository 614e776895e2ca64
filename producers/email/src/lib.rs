//! Email intake: an SMTP listener ([`smtp`]) and IMAP pollers ([`imap`]) that turn
//! mail into events ([`parse`]).
//!
//! [`Intake`] is what both share: which recipients are accepted and for which tenant
//! (`memories+<tenant>@domain`, a tenant configured under `tenants`; [`recipients`]), and
//! storing a message as one event per tenant, keyed by its `Message-ID` in `rae_dedupe` so a
//! resend days later is a duplicate, not a second memory.
//! A message counts as taken only once JetStream acknowledged its events.

pub mod addresses;
pub mod imap;
pub mod parse;
pub mod receipts;
pub mod recipients;
pub mod smtp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use rae_core::bus::{Bus, Dedupe, PublishError, Publisher};
use rae_core::config::{BulkMail, Config, EmailConfig};
use rae_core::event::{InvalidField, Limits, Route, Source};
use rae_core::subjects;

use addresses::AddressList;
use recipients::Recipients;

/// The longest a message waits for JetStream before the sender is told to retry.
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the email producer could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("integrations[{id}].config: {message}")]
    Settings { id: String, message: String },
    #[error("cannot listen for SMTP on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("smtp tls: {0}")]
    Tls(String),
    #[error(transparent)]
    Bus(#[from] rae_core::bus::BusError),
}

/// Why a message was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("JetStream cannot take the event now: {0}")]
    Unavailable(#[from] PublishError),
    #[error("the message cannot be parsed")]
    Unparsable,
    #[error("the event is invalid: {0}")]
    Invalid(#[from] InvalidField),
}

impl StoreError {
    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// The SMTP answer: 451 (try later) or 554 (never).
    pub fn smtp_reply(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "451 4.3.0 Cannot store the message now, try again later",
            StoreError::Unparsable => "554 5.6.0 Message cannot be parsed",
            StoreError::Invalid(_) => "554 5.6.0 Message cannot be stored as a memory",
        }
    }
}

/// An accepted recipient and the tenant it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub tenant: String,
    pub project: String,
}

/// Recipients, tenants and storage of one email integration.
pub struct Intake {
    integration: String,
    recipients: Recipients,
    limits: Limits,
    publisher: Publisher,
    dedupe: Dedupe,
    receipts: Option<receipts::Receipts>,
    bulk_mail: BulkMail,
    /// The process's tracker: receipts are sent in it, so the shutdown waits for them.
    tasks: tokio_util::task::TaskTracker,
}

impl Intake {
    /// The recipient `address` if mail for it is accepted, else the reason for a 550.
    ///
    /// # Errors
    /// A sentence for the sender: the address is not served, or its `+tenant` is not a
    /// tenant configured under `tenants`.
    pub fn recipient(&self, address: &str) -> Result<Recipient, String> {
        self.recipients.recipient(address)
    }

    /// Stores `raw` as one event per tenant among `recipients`; the event ids on success.
    ///
    /// # Errors
    /// [`StoreError`]: retryable when JetStream cannot take the events now.
    pub async fn store(
        &self,
        raw: &[u8],
        envelope_from: Option<&str>,
        recipients: &[Recipient],
    ) -> Result<Vec<String>, StoreError> {
        let mail = parse::parse(raw).ok_or(StoreError::Unparsable)?;
        if mail.automatic && self.bulk_mail == BulkMail::Drop {
            tracing::info!(
                integration = %self.integration,
                message_id = mail.message_id.as_deref().unwrap_or(""),
                "bulk mail not stored (bulk_mail: drop)"
            );
            return Ok(Vec::new());
        }
        let now = OffsetDateTime::now_utc();
        let mut ids = Vec::new();
        let mut fresh = false;
        let mut done: Vec<&str> = Vec::new();
        for recipient in recipients {
            if done.contains(&recipient.tenant.as_str()) {
                continue;
            }
            done.push(&recipient.tenant);
            let route = Route {
                integration: &self.integration,
                source: Source::Email,
                tenant: &recipient.tenant,
                project: &recipient.project,
            };
            let event = parse::to_event(
                &mail,
                route,
                &self.limits,
                envelope_from,
                Some(&recipient.address),
                now,
            );
            event.validate(&self.limits)?;
            let publishing = self.publisher.publish_new_once(&event, &self.dedupe);
            let duplicate = tokio::time::timeout(STORE_TIMEOUT, publishing)
                .await
                .map_err(|_| PublishError::Timeout {
                    subject: subjects::event(&event.tenant, event.source.as_str(), &event.kind),
                })??
                .duplicate;
            tracing::info!(
                event_id = %event.id,
                tenant = %event.tenant,
                integration = %self.integration,
                duplicate,
                "mail stored"
            );
            fresh |= !duplicate;
            ids.push(event.id);
        }
        // A receipt only for mail stored now: a resend gets none.
        let sender = mail.from.as_deref().or(envelope_from);
        if let (true, Some(receipts), Some(sender)) = (fresh, &self.receipts, sender) {
            if let Some(message) = receipts.receipt(&mail, sender, &ids) {
                receipts.send(message, &self.tasks);
            }
        }
        Ok(ids)
    }

    /// Stores a message fetched from a mailbox, for the integration's own tenant.
    ///
    /// # Errors
    /// See [`Intake::store`].
    pub async fn store_fetched(
        &self,
        raw: &[u8],
        mailbox: &str,
    ) -> Result<Vec<String>, StoreError> {
        let recipient = self.recipients.own(mailbox);
        self.store(raw, None, std::slice::from_ref(&recipient))
            .await
    }
}

/// The running parts of one email integration.
pub struct Email {
    id: String,
    smtp: Option<smtp::Listener>,
    pollers: Vec<imap::Poller>,
}

impl Email {
    /// Binds the listener and prepares the pollers of the email integration `id`, with its
    /// `settings`; receipts are sent in `tasks`.
    ///
    /// # Errors
    /// [`BuildError`] for unusable receipt settings, a taken address, an unreadable
    /// certificate or a missing bucket.
    pub async fn build(
        config: &Config,
        id: &str,
        settings: &EmailConfig,
        bus: &Bus,
        tasks: &tokio_util::task::TaskTracker,
    ) -> Result<Email, BuildError> {
        let (tenant, project) =
            config.destination(settings.tenant.as_deref(), settings.project.as_deref());
        let accept = settings
            .smtp
            .as_ref()
            .map(|s| AddressList::new(&s.accept))
            .unwrap_or_default();
        let intake = Arc::new(Intake {
            integration: id.to_owned(),
            recipients: Recipients::new(tenant, project, accept, Arc::new(config.clone())),
            limits: config.limits.limits(),
            publisher: bus.publisher(),
            dedupe: bus.dedupe().await?,
            receipts: settings
                .receipts
                .as_ref()
                .map(receipts::Receipts::build)
                .transpose()
                .map_err(|message| BuildError::Settings {
                    id: id.to_owned(),
                    message,
                })?,
            bulk_mail: settings.bulk_mail,
            tasks: tasks.clone(),
        });
        let smtp = match &settings.smtp {
            None => None,
            Some(s) => {
                let tls = match (&s.tls_cert, &s.tls_key) {
                    (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
                    _ => None,
                };
                let listener =
                    tokio::net::TcpListener::bind(&s.listen)
                        .await
                        .map_err(|source| BuildError::Bind {
                            addr: s.listen.clone(),
                            source,
                        })?;
                let settings = smtp::Settings {
                    hostname: s.hostname.clone(),
                    max_message_bytes: s.max_message_bytes,
                    max_connections: s.max_connections,
                    command_timeout: Duration::from_secs(s.command_timeout_secs),
                    tls,
                    users: s
                        .auth_users
                        .iter()
                        .map(|u| (u.user.clone(), u.password.clone()))
                        .collect(),
                    allowed_senders: AddressList::new(&s.allowed_senders),
                };
                Some(smtp::Listener::new(listener, settings, intake.clone()))
            }
        };
        let mut pollers = Vec::new();
        for mailbox in &settings.imap {
            pollers.push(imap::Poller::build(id, mailbox.clone(), intake.clone(), bus).await?);
        }
        Ok(Email {
            id: id.to_owned(),
            smtp,
            pollers,
        })
    }

    /// Where the SMTP listener listens, when there is one.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp.as_ref().and_then(smtp::Listener::local_addr)
    }

    /// Runs the listener and the pollers until `token` is cancelled.
    pub async fn run(self, token: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(listener) = self.smtp {
            tracing::info!(integration = %self.id, listen = listener.local_addr().map(tracing::field::display), "smtp listener running");
            tasks.spawn(listener.run(token.clone()));
        }
        for poller in self.pollers {
            tasks.spawn(poller.run(token.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, BuildError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| BuildError::Tls(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| BuildError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| BuildError::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use rae_core::config::{Config, Source};

    #[test]
    fn bad_settings_are_reported_with_their_paths() {
        let yaml = r#"
integrations:
  - id: email
    config:
      smtp: { listen: "nope", accept: ["memories+x@example.com"], tls_cert: /no/such.pem }
      imap:
        - { host: imap.example.com, user: u, password: p, after: move }
      receipts: { relay: smtp.example.com, from: nobody, allow: [] }
"#;
        let err = Config::load(&Source::Text(yaml.into()), &|_| None).unwrap_err();
        let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        for path in [
            "integrations[0].config.smtp.listen",
            "integrations[0].config.smtp.accept[0]",
            "integrations[0].config.smtp.tls_key",
            "integrations[0].config.smtp.tls_cert",
            "integrations[0].config.imap[0].move_to",
            "integrations[0].config.receipts.from",
            "integrations[0].config.receipts.allow",
        ] {
            assert!(paths.contains(&path), "{path} missing in {paths:?}");
        }
    }

    #[test]
    fn the_id_email_infers_the_kind() {
        let yaml = "integrations:\n  - id: email\n    config:\n      smtp: { accept: [\"@example.com\"] }\n";
        let config = Config::load(&Source::Text(yaml.into()), &|_| None).unwrap();
        assert_eq!(
            config
                .integrations_of(rae_core::config::IntegrationKind::Email)
                .count(),
            1
        );
    }
}
