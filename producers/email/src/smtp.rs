//! The SMTP listener (RFC 5321) on tokio, with `smtp-proto` parsing the commands.
//!
//! One task per connection, at most `max_connections` at once. Command lines are bounded,
//! every command and data line has a timeout, the message size is announced (`SIZE`) and
//! enforced (552) on every byte. Only `<CRLF>.<CRLF>` ends a message; one with a bare LF or CR
//! is refused (550) once that end arrives, so nothing in it runs as a command ([`data`]).
//! Senders outside `allowed_senders` are refused at MAIL (550), as is MAIL before AUTH when
//! there are `auth_users` (530). A message is answered 250 only after its events are stored
//! in JetStream; when NATS cannot take them the answer is 451, so the sending server retries
//! later.

mod data;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use smtp_proto::Request;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::data::{Data, DataReader};
use super::addresses::AddressList;
use super::{Intake, Recipient};
use rae_core::config::Secret;

/// Longest command line (RFC 5321 allows 512; extensions make them longer).
const MAX_COMMAND_LINE: u64 = 4096;
/// Recipients of one message (RFC 5321 asks servers to take at least 100).
const MAX_RECIPIENTS: usize = 100;
/// Bad commands before the connection is closed.
const MAX_ERRORS: usize = 10;

/// Settings of a listener, from config.
pub struct Settings {
    pub hostname: String,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    pub command_timeout: Duration,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub users: Vec<(String, Secret)>,
    /// Who may send (MAIL FROM); empty means anyone.
    pub allowed_senders: AddressList,
}

/// A bound listener, ready to run.
pub struct Listener {
    listener: TcpListener,
    settings: Arc<Settings>,
    intake: Arc<Intake>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Listener {
    pub fn new(listener: TcpListener, settings: Settings, intake: Arc<Intake>) -> Listener {
        Listener {
            listener,
            settings: Arc::new(settings),
            intake,
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Accepts connections until `token` is cancelled, then lets each session finish its
    /// current command (sessions waiting for a command are told 421 and closed).
    pub async fn run(self, token: CancellationToken) {
        let limit = Arc::new(Semaphore::new(self.settings.max_connections));
        let tracker = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                biased;
                _ = token.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (mut stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(error = %err, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                let _ = stream
                    .write_all(b"421 4.7.0 Too many connections, try again later\r\n")
                    .await;
                continue;
            };
            let session = Session {
                settings: self.settings.clone(),
                intake: self.intake.clone(),
                token: token.clone(),
                peer,
                tls_active: false,
                helo: None,
                authenticated: false,
                from: None,
                rcpts: Vec::new(),
            };
            tracker.spawn(async move {
                if let Err(err) = session.serve(Box::new(stream)).await {
                    tracing::debug!(error = %err, %peer, "smtp session ended");
                }
                drop(permit);
            });
        }
        tracker.close();
        tracker.wait().await;
    }
}

struct Session {
    settings: Arc<Settings>,
    intake: Arc<Intake>,
    token: CancellationToken,
    peer: SocketAddr,
    tls_active: bool,
    helo: Option<String>,
    authenticated: bool,
    from: Option<String>,
    rcpts: Vec<Recipient>,
}

enum Line {
    Complete(Vec<u8>),
    TooLong,
    Closed,
}

async fn reply(io: &mut BufReader<Box<dyn Io>>, text: &str) -> std::io::Result<()> {
    let w = io.get_mut();
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

impl Session {
    async fn read_line(
        &self,
        io: &mut BufReader<Box<dyn Io>>,
        max: u64,
    ) -> std::io::Result<Option<Line>> {
        let mut buf = Vec::new();
        let read = async {
            let n = (&mut *io).take(max).read_until(b'\n', &mut buf).await?;
            Ok::<_, std::io::Error>(n)
        };
        let n = tokio::select! {
            biased;
            _ = self.token.cancelled() => return Ok(None),
            r = tokio::time::timeout(self.settings.command_timeout, read) => match r {
                Ok(n) => n?,
                Err(_) => {
                    reply(io, "421 4.4.2 Timeout, closing connection").await?;
                    return Ok(Some(Line::Closed));
                }
            },
        };
        if n == 0 {
            return Ok(Some(Line::Closed));
        }
        if !buf.ends_with(b"\n") {
            return Ok(Some(Line::TooLong));
        }
        Ok(Some(Line::Complete(buf)))
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    /// True when `address` (MAIL FROM, `""` for the null sender) may send.
    fn sender_allowed(&self, address: &str) -> bool {
        let allowed = &self.settings.allowed_senders;
        allowed.is_empty() || allowed.contains(address)
    }

    fn auth_offered(&self) -> bool {
        !self.settings.users.is_empty() && (self.tls_active || self.settings.tls.is_none())
    }

    async fn serve(mut self, stream: Box<dyn Io>) -> std::io::Result<()> {
        let mut io = BufReader::new(stream);
        reply(
            &mut io,
            &format!("220 {} ESMTP rae-pipeline", self.settings.hostname),
        )
        .await?;
        let mut errors = 0;
        loop {
            let line = match self.read_line(&mut io, MAX_COMMAND_LINE).await? {
                None => {
                    reply(&mut io, "421 4.3.2 Shutting down, try again later").await?;
                    return Ok(());
                }
                Some(Line::Closed) => return Ok(()),
                Some(Line::TooLong) => {
                    reply(&mut io, "500 5.5.6 Line too long").await?;
                    return Ok(());
                }
                Some(Line::Complete(line)) => line,
            };
            let request = match command(line) {
                Ok(r) => r,
                Err(text) => {
                    errors += 1;
                    reply(&mut io, text).await?;
                    if errors >= MAX_ERRORS {
                        reply(&mut io, "421 4.7.0 Too many errors").await?;
                        return Ok(());
                    }
                    continue;
                }
            };
            match request {
                Request::Ehlo { host } => {
                    self.reset();
                    self.helo = Some(host);
                    let mut lines = vec![
                        format!("{} Hello", self.settings.hostname),
                        "PIPELINING".to_owned(),
                        format!("SIZE {}", self.settings.max_message_bytes),
                        "8BITMIME".to_owned(),
                        "ENHANCEDSTATUSCODES".to_owned(),
                    ];
                    if self.settings.tls.is_some() && !self.tls_active {
                        lines.push("STARTTLS".to_owned());
                    }
                    if self.auth_offered() {
                        lines.push("AUTH PLAIN LOGIN".to_owned());
                    }
                    let last = lines.len() - 1;
                    let text: Vec<String> = lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                        .collect();
                    reply(&mut io, &text.join("\r\n")).await?;
                }
                Request::Helo { host } | Request::Lhlo { host } => {
                    self.reset();
                    self.helo = Some(host);
                    reply(&mut io, &format!("250 {}", self.settings.hostname)).await?;
                }
                Request::StartTls => {
                    let Some(acceptor) = self.settings.tls.clone().filter(|_| !self.tls_active)
                    else {
                        reply(&mut io, "502 5.5.1 STARTTLS not available").await?;
                        continue;
                    };
                    reply(&mut io, "220 2.0.0 Ready to start TLS").await?;
                    // Anything pipelined after STARTTLS is discarded (RFC 3207 §4.2).
                    let plain = io.into_inner();
                    let tls = match acceptor.accept(plain).await {
                        Ok(tls) => tls,
                        Err(err) => {
                            tracing::debug!(error = %err, peer = %self.peer, "tls handshake failed");
                            return Ok(());
                        }
                    };
                    io = BufReader::new(Box::new(tls));
                    self.tls_active = true;
                    self.helo = None;
                    self.authenticated = false;
                    self.reset();
                }
                Request::Auth {
                    mechanism,
                    initial_response,
                } => {
                    if !self.auth_offered() {
                        reply(&mut io, "503 5.5.1 AUTH not available").await?;
                        continue;
                    }
                    if self.authenticated {
                        reply(&mut io, "503 5.5.1 Already authenticated").await?;
                        continue;
                    }
                    match self
                        .authenticate(&mut io, mechanism, initial_response)
                        .await?
                    {
                        Some(true) => {
                            self.authenticated = true;
                            reply(&mut io, "235 2.7.0 Authentication succeeded").await?;
                        }
                        Some(false) => {
                            errors += 1;
                            reply(&mut io, "535 5.7.8 Authentication credentials invalid").await?;
                        }
                        None => return Ok(()),
                    }
                }
                Request::Mail { from } => {
                    if self.helo.is_none() {
                        reply(&mut io, "503 5.5.1 Send EHLO or HELO first").await?;
                    } else if !self.settings.users.is_empty() && !self.authenticated {
                        reply(&mut io, "530 5.7.0 Authentication required").await?;
                    } else if self.from.is_some() {
                        reply(&mut io, "503 5.5.1 Sender already given").await?;
                    } else if from.size > self.settings.max_message_bytes {
                        reply(&mut io, "552 5.3.4 Message too big").await?;
                    } else if !self.sender_allowed(&from.address) {
                        let text = format!(
                            "550 5.7.1 Sender <{}> is not allowed to send here",
                            from.address
                        );
                        reply(&mut io, &text).await?;
                    } else {
                        self.from = Some(from.address);
                        reply(&mut io, "250 2.1.0 OK").await?;
                    }
                }
                Request::Rcpt { to } => {
                    if self.from.is_none() {
                        reply(&mut io, "503 5.5.1 Send MAIL first").await?;
                    } else if self.rcpts.len() >= MAX_RECIPIENTS {
                        reply(&mut io, "452 4.5.3 Too many recipients").await?;
                    } else {
                        match self.intake.recipient(&to.address) {
                            Ok(recipient) => {
                                self.rcpts.push(recipient);
                                reply(&mut io, "250 2.1.5 OK").await?;
                            }
                            Err(reason) => {
                                reply(&mut io, &format!("550 5.1.1 {reason}")).await?;
                            }
                        }
                    }
                }
                Request::Data => {
                    if self.from.is_none() || self.rcpts.is_empty() {
                        reply(&mut io, "503 5.5.1 Send MAIL and RCPT first").await?;
                        continue;
                    }
                    reply(&mut io, "354 Start mail input; end with <CRLF>.<CRLF>").await?;
                    let Some(data) = self.read_data(&mut io).await? else {
                        return Ok(());
                    };
                    let answer = match data {
                        Data::TooBig => "552 5.3.4 Message too big".to_owned(),
                        Data::BareLineEnd => {
                            "550 5.5.2 bare LF or CR in message; use CRLF line endings".to_owned()
                        }
                        Data::Message(raw) => {
                            let from = self.from.clone().filter(|f| !f.is_empty());
                            match self.intake.store(&raw, from.as_deref(), &self.rcpts).await {
                                Ok(ids) if ids.is_empty() => {
                                    "250 2.0.0 OK, not stored: bulk mail (bulk_mail: drop)"
                                        .to_owned()
                                }
                                Ok(ids) => format!("250 2.0.0 OK stored {}", ids.join(" ")),
                                Err(err) => {
                                    tracing::warn!(error = %err, peer = %self.peer, "mail not stored");
                                    err.smtp_reply().to_owned()
                                }
                            }
                        }
                    };
                    self.reset();
                    reply(&mut io, &answer).await?;
                }
                Request::Bdat { .. } | Request::Burl { .. } => {
                    reply(&mut io, "502 5.5.1 Command not implemented").await?;
                }
                Request::Rset => {
                    self.reset();
                    reply(&mut io, "250 2.0.0 OK").await?;
                }
                Request::Noop { .. } => reply(&mut io, "250 2.0.0 OK").await?,
                Request::Vrfy { .. } => {
                    reply(&mut io, "252 2.1.5 Cannot verify, send the mail").await?;
                }
                Request::Help { .. } => reply(&mut io, "214 2.0.0 See RFC 5321").await?,
                Request::Quit => {
                    reply(&mut io, "221 2.0.0 Bye").await?;
                    return Ok(());
                }
                Request::Expn { .. } | Request::Etrn { .. } | Request::Atrn { .. } => {
                    reply(&mut io, "502 5.5.1 Command not implemented").await?;
                }
            }
        }
    }

    /// AUTH PLAIN or LOGIN; `Some(valid)`, or `None` when the client went away.
    async fn authenticate(
        &self,
        io: &mut BufReader<Box<dyn Io>>,
        mechanism: u64,
        initial: String,
    ) -> std::io::Result<Option<bool>> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let decode = |s: &str| b64.decode(s.trim()).ok();
        let (user, password) = if mechanism == smtp_proto::AUTH_PLAIN {
            let response = if initial.is_empty() {
                match self.ask(io, "").await? {
                    Some(r) => r,
                    None => return Ok(None),
                }
            } else {
                initial
            };
            let Some(bytes) = decode(&response) else {
                return Ok(Some(false));
            };
            let mut parts = bytes.split(|b| *b == 0);
            let _authzid = parts.next();
            let user = parts.next().unwrap_or_default().to_vec();
            let password = parts.next().unwrap_or_default().to_vec();
            (user, password)
        } else if mechanism == smtp_proto::AUTH_LOGIN {
            let user = if initial.is_empty() {
                match self.ask(io, "VXNlcm5hbWU6").await? {
                    Some(r) => r,
                    None => return Ok(None),
                }
            } else {
                initial
            };
            let Some(password) = self.ask(io, "UGFzc3dvcmQ6").await? else {
                return Ok(None);
            };
            (
                decode(&user).unwrap_or_default(),
                decode(&password).unwrap_or_default(),
            )
        } else {
            reply(io, "504 5.5.4 Mechanism not supported").await?;
            return Ok(Some(false));
        };
        Ok(Some(self.settings.users.iter().any(|(u, p)| {
            constant_eq(u.as_bytes(), &user) & constant_eq(p.expose().as_bytes(), &password)
        })))
    }

    /// Sends a 334 challenge and reads the answer; `None` when the client went away.
    async fn ask(
        &self,
        io: &mut BufReader<Box<dyn Io>>,
        prompt: &str,
    ) -> std::io::Result<Option<String>> {
        reply(io, &format!("334 {prompt}")).await?;
        match self.read_line(io, MAX_COMMAND_LINE).await? {
            Some(Line::Complete(line)) => Ok(Some(String::from_utf8_lossy(&line).into_owned())),
            _ => Ok(None),
        }
    }

    /// The message after DATA, dot-unstuffed; `None` when the client went away or took too
    /// long for a line. A shutdown does not interrupt it: a sender's mail is read to its end.
    async fn read_data(&self, io: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Option<Data>> {
        let mut reader = DataReader::new(self.settings.max_message_bytes);
        let mut lines = reader.lines();
        let mut deadline = tokio::time::Instant::now() + self.settings.command_timeout;
        loop {
            let filled = tokio::time::timeout_at(deadline, io.fill_buf()).await;
            let input = match filled {
                Ok(input) => input?,
                Err(_) => {
                    reply(io, "421 4.4.2 Timeout, closing connection").await?;
                    return Ok(None);
                }
            };
            if input.is_empty() {
                return Ok(None);
            }
            let (used, data) = reader.feed(input);
            io.consume(used);
            if data.is_some() {
                return Ok(data);
            }
            if reader.lines() != lines {
                lines = reader.lines();
                deadline = tokio::time::Instant::now() + self.settings.command_timeout;
            }
        }
    }
}

/// One command line, ending in `\n`, as a request; the reply for one that does not parse.
fn command(mut line: Vec<u8>) -> Result<Request<String>, &'static str> {
    if !line.ends_with(b"\r\n") {
        // Bare LF line ends are tolerated on commands.
        line.pop();
        line.extend_from_slice(b"\r\n");
    }
    Request::parse(&mut line.iter())
        .map(Request::into_owned)
        .map_err(|err| match err {
            smtp_proto::Error::UnknownCommand => "500 5.5.1 Unknown command",
            smtp_proto::Error::InvalidSenderAddress => "501 5.1.7 Bad sender address",
            smtp_proto::Error::InvalidRecipientAddress => "501 5.1.3 Bad recipient address",
            smtp_proto::Error::UnsupportedParameter { .. } => "555 5.5.4 Unsupported parameter",
            _ => "501 5.5.2 Syntax error",
        })
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Comparing digests keeps the time independent of where the inputs differ and of lengths.
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Command lines as `read_line` hands them over: up to the limit, ending in `\n`.
    fn lines() -> impl Strategy<Value = Vec<u8>> {
        let word = prop::sample::select(vec![
            &b"EHLO "[..],
            b"HELO ",
            b"MAIL FROM:",
            b"RCPT TO:",
            b"DATA",
            b"RSET",
            b"NOOP",
            b"QUIT",
            b"AUTH PLAIN ",
            b"AUTH LOGIN",
            b"STARTTLS",
            b"VRFY ",
            b"<",
            b">",
            b"@",
            b" SIZE=",
            b" BODY=8BITMIME",
            b"\0",
            b"\r",
            b"\x1b",
            b"\xff",
            b"\"",
            b" ",
        ])
        .prop_map(<[u8]>::to_vec);
        let piece = prop_oneof![word, prop::collection::vec(any::<u8>(), 1..8)];
        (prop::collection::vec(piece, 0..10), any::<bool>()).prop_map(|(pieces, crlf)| {
            let mut line: Vec<u8> = pieces
                .concat()
                .into_iter()
                .filter(|b| *b != b'\n')
                .take(MAX_COMMAND_LINE as usize - 2)
                .collect();
            line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            line
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(rae_core::proptest_cases(1024)))]

        /// Any command line is a request or answered with a 5xx reply; none panics.
        #[test]
        fn any_command_line_gets_a_request_or_a_reply(line in lines()) {
            if let Err(reply) = command(line) {
                prop_assert!(reply.starts_with('5'), "{}", reply);
            }
        }

        /// A bare LF ends a command like CRLF.
        #[test]
        fn bare_lf_commands_read_like_crlf(address in "[a-z]{1,10}@[a-z]{1,10}\\.com") {
            let crlf = command(format!("MAIL FROM:<{address}>\r\n").into_bytes());
            let lf = command(format!("MAIL FROM:<{address}>\n").into_bytes());
            prop_assert_eq!(format!("{crlf:?}"), format!("{lf:?}"));
            prop_assert!(crlf.is_ok());
        }
    }
}
