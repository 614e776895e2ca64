//! Optional receipts: a short reply telling a sender their mail became a memory, sent through
//! an outgoing SMTP relay with lettre. Only to senders on the allow list, never to machine-sent
//! mail (`Auto-Submitted`, bulk), and marked `Auto-Submitted: auto-replied` itself, so two
//! robots cannot answer each other forever.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::addresses::AddressList;
use super::parse::Mail;
use rae_core::config::{ReceiptsConfig, RelayTls};

/// A configured receipt sender.
pub struct Receipts {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    allow: AddressList,
}

impl Receipts {
    /// # Errors
    /// A message naming the setting that is unusable.
    pub fn build(config: &ReceiptsConfig) -> Result<Receipts, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("receipts.from: {e}"))?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| format!("receipts.relay: {e}"))
        };
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.relay);
        let builder = match config.tls {
            RelayTls::None => builder.port(config.port.unwrap_or(25)).tls(Tls::None),
            RelayTls::Starttls => builder
                .port(config.port.unwrap_or(587))
                .tls(Tls::Required(tls(&config.relay)?)),
            RelayTls::Tls => builder
                .port(config.port.unwrap_or(465))
                .tls(Tls::Wrapper(tls(&config.relay)?)),
        };
        let builder = match (&config.user, &config.password) {
            (Some(user), Some(password)) => {
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()))
            }
            _ => builder,
        };
        Ok(Receipts {
            transport: builder.build(),
            from,
            allow: AddressList::new(&config.allow),
        })
    }

    /// True when `address` is on the allow list.
    pub fn allowed(&self, address: &str) -> bool {
        self.allow.contains(address)
    }

    /// The receipt for `mail`, when one may be sent to `to`.
    pub fn receipt(&self, mail: &Mail, to: &str, ids: &[String]) -> Option<Message> {
        if mail.automatic || !self.allowed(to) {
            return None;
        }
        let to: Mailbox = to.parse().ok()?;
        let subject = if mail.subject.is_empty() {
            "Stored as a memory".to_owned()
        } else {
            format!("Re: {}", mail.subject)
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-replied".into(),
            ));
        if let Some(id) = &mail.message_id {
            builder = builder
                .in_reply_to(format!("<{id}>"))
                .references(format!("<{id}>"));
        }
        builder
            .body(format!(
                "Your message was stored as a memory (event {}).\n",
                ids.join(", ")
            ))
            .ok()
    }

    /// Sends a receipt in the background, in `tasks`: a slow or failing relay never delays
    /// intake, and the shutdown waits for the receipts under way.
    pub fn send(&self, message: Message, tasks: &tokio_util::task::TaskTracker) {
        let transport = self.transport.clone();
        tasks.spawn(async move {
            match transport.send(message).await {
                Ok(_) => tracing::debug!("receipt sent"),
                Err(err) => tracing::warn!(error = %err, "receipt not sent"),
            }
        });
    }
}
