//! Settings of an `email` integration: an SMTP listener, IMAP mailboxes and
//! receipts, run by `mail` and `up`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{default_true, IntegrationContext, Problem, Secret};

/// Settings of an email integration: an SMTP listener, IMAP mailboxes, receipts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Tenant of mail whose recipient has no `+tenant` (default `ingress.default_tenant`).
    pub tenant: Option<String>,
    pub project: Option<String>,
    /// The SMTP listener; absent means none.
    pub smtp: Option<SmtpConfig>,
    /// Mailboxes polled over IMAP.
    pub imap: Vec<ImapMailbox>,
    /// Confirmation replies to senders; absent means none are sent.
    pub receipts: Option<ReceiptsConfig>,
    /// What becomes of bulk mail (newsletters, mailing lists, automatic replies and
    /// notifications: `List-Unsubscribe`, `List-Id`, `Precedence: bulk|list|junk`,
    /// `Auto-Submitted`).
    pub bulk_mail: BulkMail,
}

/// What becomes of bulk mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkMail {
    /// Stored with the tag `bulk`, which the shipped rule `bulk-mail` ranks low (the default).
    #[default]
    Keep,
    /// Not stored: accepted (SMTP answers 250, IMAP marks it seen) and logged.
    Drop,
}

/// How a receipt reaches the outgoing relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayTls {
    /// Plaintext, for a relay on the same host or network only.
    None,
    /// STARTTLS on port 587 (the default).
    #[default]
    Starttls,
    /// Implicit TLS on port 465.
    Tls,
}

/// Short confirmation replies sent through an outgoing SMTP relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptsConfig {
    /// Host name of the relay.
    pub relay: String,
    /// Default 587, or 465 with `tls: tls`, or 25 with `tls: none`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: RelayTls,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Sender of the receipts, e.g. `RAE <memories@example.com>`.
    pub from: String,
    /// Only these senders (`alice@example.com` or `@example.com`) ever get a receipt.
    pub allow: Vec<String>,
}

/// The SMTP listener of an email integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Address to listen on.
    pub listen: String,
    /// Name in the greeting and the EHLO answer.
    pub hostname: String,
    /// Recipients mail is accepted for: `memories@example.com` (also takes
    /// `memories+<tenant>@example.com`) or `@example.com` (every local part of the domain).
    pub accept: Vec<String>,
    /// Largest message, announced in EHLO (`SIZE`) and enforced (552).
    pub max_message_bytes: usize,
    /// Concurrent connections; more are answered 421.
    pub max_connections: usize,
    /// Time a client has for each command or data line.
    pub command_timeout_secs: u64,
    /// PEM certificate chain and key: with both, STARTTLS is offered.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Submitters allowed to send (AUTH PLAIN or LOGIN); when any, MAIL needs AUTH first.
    pub auth_users: Vec<SmtpUser>,
    /// Senders (MAIL FROM) allowed to send: `alice@example.com` or `@example.com`, any case;
    /// others are refused with 550. Empty lets anyone who reaches the port write memories
    /// (the envelope sender is not authenticated: pair this with `auth_users` or a firewall).
    pub allowed_senders: Vec<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            listen: "0.0.0.0:2525".into(),
            hostname: "rae-pipeline".into(),
            accept: Vec::new(),
            max_message_bytes: 10 * 1024 * 1024,
            max_connections: 64,
            command_timeout_secs: 300,
            tls_cert: None,
            tls_key: None,
            auth_users: Vec::new(),
            allowed_senders: Vec::new(),
        }
    }
}

/// A submitter of the SMTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpUser {
    pub user: String,
    pub password: Secret,
}

/// What a poller does with a mail once its event is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterFetch {
    /// Flag it `\Seen`.
    #[default]
    Seen,
    /// Move it to `move_to`.
    Move,
}

/// One mailbox polled over IMAP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapMailbox {
    pub host: String,
    /// Default 993 with TLS, 143 without.
    #[serde(default)]
    pub port: Option<u16>,
    /// Implicit TLS (IMAPS); `false` is plaintext, for local servers only.
    #[serde(default = "default_true")]
    pub tls: bool,
    pub user: String,
    pub password: Secret,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default)]
    pub after: AfterFetch,
    #[serde(default)]
    pub move_to: Option<String>,
    /// Seconds between polls when the server has no IDLE (and the longest IDLE wait).
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
}

fn default_folder() -> String {
    "INBOX".into()
}

const fn default_poll_interval_secs() -> u64 {
    60
}

impl ImapMailbox {
    /// The port, given or implied by `tls`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 993 } else { 143 })
    }
}

impl EmailConfig {
    /// What is wrong with these settings, paths relative to them.
    pub fn problems(&self, ctx: &IntegrationContext) -> Vec<Problem> {
        let mut problems: Vec<Problem> = ctx
            .tenant_problem(".tenant", self.tenant.as_ref())
            .into_iter()
            .collect();
        let mut bad = |path: String, message: &str| problems.push(Problem::new(path, message));
        if ctx.enabled && self.smtp.is_none() && self.imap.is_empty() {
            bad(String::new(), "needs smtp or imap settings");
        }
        if let Some(smtp) = &self.smtp {
            if smtp.listen.parse::<std::net::SocketAddr>().is_err() {
                bad(
                    ".smtp.listen".into(),
                    "must be an address like 0.0.0.0:2525",
                );
            }
            if smtp.accept.is_empty() {
                bad(
                    ".smtp.accept".into(),
                    "needs at least one address or @domain",
                );
            }
            for (i, address) in smtp.accept.iter().enumerate() {
                let ok = match address.split_once('@') {
                    Some((local, domain)) => {
                        !domain.is_empty() && !domain.contains('@') && !local.contains('+')
                    }
                    None => false,
                };
                if !ok {
                    bad(
                        format!(".smtp.accept[{i}]"),
                        "must be an address (without +tag) like memories@example.com, or @example.com",
                    );
                }
            }
            if smtp.max_message_bytes < 1024 {
                bad(".smtp.max_message_bytes".into(), "must be at least 1024");
            }
            if smtp.max_connections == 0 {
                bad(".smtp.max_connections".into(), "must be at least 1");
            }
            if smtp.command_timeout_secs == 0 {
                bad(".smtp.command_timeout_secs".into(), "must be at least 1");
            }
            match (&smtp.tls_cert, &smtp.tls_key) {
                (Some(_), None) => bad(".smtp.tls_key".into(), "is needed with tls_cert"),
                (None, Some(_)) => bad(".smtp.tls_cert".into(), "is needed with tls_key"),
                _ => {}
            }
            for (field, file) in [("tls_cert", &smtp.tls_cert), ("tls_key", &smtp.tls_key)] {
                if let Some(file) = file.as_ref().filter(|f| !f.is_file()) {
                    bad(
                        format!(".smtp.{field}"),
                        &format!("{} is not a readable file", file.display()),
                    );
                }
            }
            for (i, sender) in smtp.allowed_senders.iter().enumerate() {
                if !is_address_or_domain(sender) {
                    bad(
                        format!(".smtp.allowed_senders[{i}]"),
                        &format!(
                            "{sender:?} must be an address like alice@example.com, or @example.com for a whole domain"
                        ),
                    );
                }
            }
            for (i, user) in smtp.auth_users.iter().enumerate() {
                if user.user.is_empty() {
                    bad(format!(".smtp.auth_users[{i}].user"), "must not be empty");
                }
                if user.password.expose().len() < 8 {
                    bad(
                        format!(".smtp.auth_users[{i}].password"),
                        "must be at least 8 characters",
                    );
                }
            }
        }
        if let Some(receipts) = &self.receipts {
            if receipts.relay.is_empty() {
                bad(".receipts.relay".into(), "must not be empty");
            }
            if !receipts.from.contains('@') {
                bad(
                    ".receipts.from".into(),
                    "must be an address like RAE <memories@example.com>",
                );
            }
            if receipts.allow.is_empty() {
                bad(
                    ".receipts.allow".into(),
                    "needs at least one address or @domain: receipts never go elsewhere",
                );
            }
            if receipts.user.is_some() != receipts.password.is_some() {
                bad(".receipts.password".into(), "user and password go together");
            }
        }
        for (i, mailbox) in self.imap.iter().enumerate() {
            if mailbox.host.is_empty() {
                bad(format!(".imap[{i}].host"), "must not be empty");
            }
            if mailbox.user.is_empty() {
                bad(format!(".imap[{i}].user"), "must not be empty");
            }
            if mailbox.folder.is_empty() {
                bad(format!(".imap[{i}].folder"), "must not be empty");
            }
            if mailbox.after == AfterFetch::Move
                && mailbox.move_to.as_deref().is_none_or(str::is_empty)
            {
                bad(format!(".imap[{i}].move_to"), "is needed with after: move");
            }
            if mailbox.poll_interval_secs == 0 {
                bad(
                    format!(".imap[{i}].poll_interval_secs"),
                    "must be at least 1",
                );
            }
        }
        problems
    }
}

/// `local@domain` or `@domain`: one `@`, a domain with a dot or a single label, no spaces or
/// angle brackets.
fn is_address_or_domain(entry: &str) -> bool {
    let Some((local, domain)) = entry.split_once('@') else {
        return false;
    };
    let clean = |s: &str| {
        !s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '@' | ',' | '"')
        })
    };
    clean(local)
        && clean(domain)
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env_of;
    use crate::config::{Config, Source};

    #[test]
    fn allowed_senders_are_addresses_or_domains() {
        let yaml = r#"
integrations:
  - id: email
    config:
      smtp:
        accept: ["memories@example.com"]
        allowed_senders: ["alice@example.com", "@Example.org", "bob", "@", "a b@example.com", "<c@example.com>", "d@example..com", "e@@example.com"]
"#;
        let err = Config::load(&Source::Text(yaml.into()), &env_of(&[])).unwrap_err();
        let problems: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        let at = "integrations[0].config.smtp.allowed_senders";
        let paths: Vec<String> = (2..8).map(|i| format!("{at}[{i}]")).collect();
        let got: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(got, paths, "{problems:?}");
        assert_eq!(
            problems[0],
            format!("{at}[2]: \"bob\" must be an address like alice@example.com, or @example.com for a whole domain")
        );
    }
}
