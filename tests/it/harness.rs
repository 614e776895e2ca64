//! Test harness: a real `nats-server` with JetStream on a free loopback port, a scriptable fake
//! RAE, the pipeline started in-process, and `wait_for` instead of sleeps.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use rae_core::config::{Config, Source};
use rae_pipeline::app::{self, Roles, Running};

/// An HTTP client for tests (reqwest is built without a default TLS crypto provider).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// GET `url`, answering status and body text.
pub async fn get(url: &str) -> Option<(u16, String)> {
    let response = http().get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Polls `condition` until it holds or `deadline` passes; panics with `what` on timeout.
pub async fn wait_for<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if condition().await {
            return;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The nats-server binary the tests use.
pub fn nats_server_binary() -> PathBuf {
    rae_pipeline::local_nats::find_binary()
        .expect("nats-server is not installed: run .ci/run or apt-get install nats-server")
}

/// A `nats-server -js` on a free loopback port with its own store; killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    store: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let store = tempfile::tempdir().expect("temp dir");
        let (child, port) = spawn_nats(&store, None);
        NatsServer {
            child: Some(child),
            port,
            store,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (clients see it go away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.stop();
        let (child, port) = spawn_nats(&self.store, Some(self.port));
        assert_eq!(port, self.port);
        self.child = Some(child);
    }
}

fn spawn_nats(store: &tempfile::TempDir, port: Option<u16>) -> (Child, u16) {
    let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
    let mut child = Command::new(nats_server_binary())
        .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nats-server");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    let port = rest
                        .trim()
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok());
                    let _ = tx.send(port);
                    sent = true;
                }
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .flatten()
        .expect("nats-server did not report its port");
    (child, port)
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How the fake RAE answers one store request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with a new memory id.
    Ok,
    /// Any status with a JSON body.
    Status(u16, Value),
    /// 429 with `Retry-After: <secs>`.
    TooMany(u64),
    /// Stored at once, answered 200 after a delay (a writer killed meanwhile never learns).
    Slow(Duration),
    /// Stored, but the answer never arrives (the client times out): RAE committed the write
    /// and the pipeline cannot know.
    Lost,
}

/// One request the fake RAE received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// The status it was answered with.
    pub status: u16,
    /// The memory id of a stored memory.
    pub memory_id: Option<String>,
}

#[derive(Default)]
struct FakeState {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    requests: Vec<Recorded>,
    /// Delay and body of `POST /v2/memories/query` answers.
    query: Option<(Duration, Value)>,
    /// Status and body of the answers of other routes, by path.
    answers: HashMap<String, (u16, Value)>,
}

/// An HTTP server standing in for RAE: scripted replies, every request recorded.
pub struct FakeRae {
    pub addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
    token: Option<CancellationToken>,
}

impl FakeRae {
    pub async fn start() -> FakeRae {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake rae");
        let addr = listener.local_addr().expect("addr");
        let mut rae = FakeRae {
            addr,
            state: Arc::new(Mutex::new(FakeState::default())),
            token: None,
        };
        rae.serve(listener);
        rae
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let token = CancellationToken::new();
        let app = axum::Router::new()
            .route("/v2/memories/", axum::routing::post(store).get(list))
            .route("/v2/memories/query", axum::routing::post(query))
            .route("/v2/memories/{id}", axum::routing::delete(scripted))
            .route("/hooks/{*rest}", axum::routing::post(hook))
            .route("/v2/search/hybrid", axum::routing::post(scripted))
            .route("/v2/reflections/generate", axum::routing::post(scripted))
            .route("/health", axum::routing::get(|| async { "ok" }))
            .with_state(self.state.clone());
        let t = token.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(t.cancelled_owned())
                .await;
        });
        self.token = Some(token);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replies for the next requests, in order; then the default (200).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// The reply once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        self.state.lock().unwrap().default = Some(reply);
    }

    /// How `POST /v2/memories/query` answers: after `delay`, 200 with `body`.
    pub fn set_query_answer(&self, delay: Duration, body: Value) {
        self.state.lock().unwrap().query = Some((delay, body));
    }

    /// How `POST path` answers (the graph and reflection routes): `status` with `body`.
    pub fn set_answer(&self, path: &str, status: u16, body: Value) {
        self.state
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), (status, body));
    }

    /// Requests to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests answered 200: the memories RAE stored.
    pub fn stored(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200 && r.path == "/v2/memories/")
            .collect()
    }

    /// Stored memories by event id, with how often each was stored.
    pub fn stored_event_ids(&self) -> HashMap<String, usize> {
        let mut ids = HashMap::new();
        for r in self.stored() {
            let id = r.body["metadata"]["event_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            *ids.entry(id).or_insert(0) += 1;
        }
        ids
    }

    /// Stops listening: connections are refused until [`FakeRae::restart`].
    pub async fn stop(&mut self) {
        if let Some(token) = self.token.take() {
            token.cancel();
        }
        // Wait until the port really refuses.
        let addr = self.addr;
        wait_for(
            "fake rae to stop listening",
            Duration::from_secs(5),
            || async move { tokio::net::TcpStream::connect(addr).await.is_err() },
        )
        .await;
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind fake rae");
        self.serve(listener);
    }
}

impl Drop for FakeRae {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            token.cancel();
        }
    }
}

fn record(path: &str, headers: &HeaderMap, body: &str, status: u16) -> Recorded {
    Recorded {
        at: Instant::now(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
        status,
        memory_id: None,
    }
}

/// RAE's search: the configured answer, or no results.
async fn query(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (delay, answer) = state
        .lock()
        .unwrap()
        .query
        .clone()
        .unwrap_or((Duration::ZERO, json!({"results": [], "total_count": 0})));
    tokio::time::sleep(delay).await;
    let recorded = record("/v2/memories/query", &headers, &body, 200);
    state.lock().unwrap().requests.push(recorded);
    axum::Json(answer).into_response()
}

/// The graph and reflection routes and deletes: recorded and answered as
/// [`FakeRae::set_answer`] says (200 with an empty object by default).
async fn scripted(
    State(state): State<Arc<Mutex<FakeState>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (status, answer) = {
        let s = state.lock().unwrap();
        s.answers
            .get(uri.path())
            .cloned()
            .unwrap_or((200, json!({})))
    };
    let recorded = record(uri.path(), &headers, &body, status);
    state.lock().unwrap().requests.push(recorded);
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

/// Any other receiver (a Slack `response_url`): recorded and answered 200.
async fn hook(
    State(state): State<Arc<Mutex<FakeState>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let recorded = record(uri.path(), &headers, &body, 200);
    state.lock().unwrap().requests.push(recorded);
    "ok".into_response()
}

async fn store(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let reply = {
        let mut s = state.lock().unwrap();
        s.script
            .pop_front()
            .or_else(|| s.default.clone())
            .unwrap_or(Reply::Ok)
    };
    let memory_id = uuid::Uuid::new_v4().to_string();
    if matches!(reply, Reply::Slow(_) | Reply::Lost) {
        // Committed first, as RAE does; the answer comes later, or never.
        let mut recorded = record("/v2/memories/", &headers, &body, 200);
        recorded.memory_id = Some(memory_id.clone());
        state.lock().unwrap().requests.push(recorded);
        match reply {
            Reply::Slow(delay) => tokio::time::sleep(delay).await,
            _ => std::future::pending::<()>().await,
        }
        return (
            StatusCode::OK,
            axum::Json(json!({"memory_id": memory_id, "message": "stored"})),
        )
            .into_response();
    }
    let (status, response) = match reply {
        Reply::Ok | Reply::Slow(_) | Reply::Lost => (
            200,
            (
                StatusCode::OK,
                axum::Json(json!({"memory_id": memory_id, "message": "stored"})),
            )
                .into_response(),
        ),
        Reply::Status(code, body) => (
            code,
            (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response(),
        ),
        Reply::TooMany(secs) => (
            429,
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                axum::Json(json!({"error": {"code": "rate_limited"}})),
            )
                .into_response(),
        ),
    };
    let mut recorded = record("/v2/memories/", &headers, &body, status);
    recorded.memory_id = (status == 200).then_some(memory_id);
    state.lock().unwrap().requests.push(recorded);
    response
}

/// RAE's list (`GET /v2/memories/?project=&limit=&sort=created_at:desc`): the stored memories
/// of the tenant in `X-Tenant-Id` and the project, newest first, with their metadata.
async fn list(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    axum::extract::Query(params): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let tenant = headers
        .get("x-tenant-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50);
    let s = state.lock().unwrap();
    let results: Vec<Value> = s
        .requests
        .iter()
        .rev()
        .filter(|r| r.path == "/v2/memories/" && r.status == 200)
        .filter(|r| r.headers.get("x-tenant-id") == Some(&tenant))
        .filter(|r| {
            params
                .get("project")
                .is_none_or(|p| r.body["project"] == json!(p))
        })
        .take(limit)
        .map(|r| {
            json!({
                "id": r.memory_id,
                "content": r.body["content"],
                "metadata": r.body["metadata"],
                "score": 1.0,
            })
        })
        .collect();
    axum::Json(json!({"total": results.len(), "limit": limit, "offset": 0, "results": results}))
        .into_response()
}

pub const SECRET: &str = "test-secret-0001";
pub const OLD_SECRET: &str = "test-secret-0000";
pub const RAE_KEY: &str = "rae-test-key";

/// A config for tests: fast retries, the test NATS and fake RAE, an ephemeral ingress port.
pub fn test_config(nats: &NatsServer, rae: &FakeRae, extra_yaml: &str) -> Config {
    test_config_for(&nats.url(), rae, extra_yaml)
}

/// [`test_config`] for NATS at `nats_url` (a cluster's URL list, say).
pub fn test_config_for(nats_url: &str, rae: &FakeRae, extra_yaml: &str) -> Config {
    let yaml = format!(
        r#"
nats:
  url: {nats}
  publish_timeout_ms: 5000
  # JetStream reserves the byte limits; many test servers share one disk.
  events_max_bytes: 67108864
  enriched_max_bytes: 67108864
  dlq_max_bytes: 16777216
  audit_max_bytes: 16777216
  connect_timeout_secs: 5
rae:
  base_url: {rae}
  api_key: {RAE_KEY}
  timeout_ms: 2000
ingress:
  listen: 127.0.0.1:0
  metrics_listen: 127.0.0.1:0
writer:
  concurrency: 8
  backoff_base_ms: 20
  backoff_max_ms: 200
  breaker_failures: 3
  breaker_probe_ms: 100
  breaker_probe_max_ms: 400
integrations:
  - id: memory
    config:
      secrets: ["{OLD_SECRET}", "{SECRET}"]
{extra_yaml}
"#,
        nats = nats_url,
        rae = rae.url()
    );
    Config::load(&Source::Text(yaml), &|_| None).expect("test config is valid")
}

/// The pipeline running in this process.
pub struct Pipeline {
    pub running: Option<Running>,
    pub base: String,
    pub http: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Pipeline {
    pub async fn start(config: &Config) -> Pipeline {
        Self::start_roles(config, Roles::ALL).await
    }

    pub async fn start_roles(config: &Config, roles: Roles) -> Pipeline {
        Self::start_with(config, roles, false).await
    }

    /// [`Pipeline::start`] serving `/metrics` on `ingress.metrics_listen` ([`Pipeline::metrics_url`]).
    /// The recorder is the process's: a test reads only series no other test touches.
    pub async fn start_with_metrics(config: &Config) -> Pipeline {
        Self::start_with(config, Roles::ALL, true).await
    }

    async fn start_with(config: &Config, roles: Roles, serve_metrics: bool) -> Pipeline {
        let data = tempfile::tempdir().expect("temp dir");
        let options = app::Options {
            data_dir: data.path().to_owned(),
            serve_metrics,
        };
        let running = app::start(config, roles, &options)
            .await
            .expect("pipeline starts");
        let base = running
            .ingress_addr()
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        Pipeline {
            running: Some(running),
            base,
            http: http(),
            _data: data,
        }
    }

    pub fn bus(&self) -> &rae_core::bus::Bus {
        self.running.as_ref().expect("running").bus()
    }

    /// `/metrics`, when started with [`Pipeline::start_with_metrics`].
    pub fn metrics_url(&self) -> String {
        let addr = self.running.as_ref().expect("running").metrics_addr();
        format!("http://{}/metrics", addr.expect("started with metrics"))
    }

    /// POSTs `body` to the memory webhook with `headers`.
    pub async fn post_webhook(
        &self,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value, HeaderMap) {
        self.post("/api/v1/webhooks/memory", body, headers).await
    }

    pub async fn post(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value, HeaderMap) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_owned());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("ingress answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// POSTs a memory with the plain secret; asserts 202 and returns the event id.
    pub async fn accept(&self, content: &str) -> String {
        let body = json!({"content": content}).to_string();
        let (status, answer, _) = self
            .post_webhook(&body, &[("x-webhook-secret", SECRET)])
            .await;
        assert_eq!(status, 202, "{answer}");
        answer["id"].as_str().expect("id").to_owned()
    }

    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running
                .shutdown(Duration::from_secs(10))
                .await
                .expect("clean shutdown");
        }
    }
}

/// Messages stored in a stream.
pub async fn stream_messages(bus: &rae_core::bus::Bus, stream: &str) -> u64 {
    bus.stream(stream)
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info")
        .state
        .messages
}

/// Every message of a stream as JSON, in order.
pub async fn stream_json(bus: &rae_core::bus::Bus, stream: &str) -> Vec<Value> {
    let stream = bus.stream(stream).await.expect("stream");
    let last = stream.get_info().await.expect("info").state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(message) = stream.get_raw_message(seq).await {
            out.push(serde_json::from_slice(&message.payload).unwrap_or(Value::Null));
        }
    }
    out
}

/// The events in `RAE_EVENTS` with this id.
pub async fn events_with_id(bus: &rae_core::bus::Bus, id: &str) -> Vec<Value> {
    stream_json(bus, rae_core::subjects::EVENTS_STREAM)
        .await
        .into_iter()
        .filter(|e| e["id"] == id)
        .collect()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of one metric line (`name{labels} value`) in a Prometheus scrape.
pub fn metric(scrape: &str, line_start: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A real IMAP server (Debian's dovecot-imapd) with a throwaway config on a free loopback
/// port: user `rae`, password `testpass`, plaintext. Stopped and removed on drop.
pub struct Dovecot {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Dovecot {
    pub const USER: &'static str = "rae";
    pub const PASSWORD: &'static str = "testpass";

    pub fn start() -> Dovecot {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        for sub in ["run", "state", "log", "mail"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(d.join("mail"), std::fs::Permissions::from_mode(0o1777));
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
        }
        let port = free_port();
        let d = d.display();
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
log_path = {d}/log/dovecot.log\nssl = no\ndisable_plaintext_auth = no\n\
auth_mechanisms = plain login\nmail_location = maildir:~/Maildir\nfirst_valid_uid = 1\n\
passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={d}/mail/%u\n}}\n\
service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
  inet_listener imaps {{\n    port = 0\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("dovecot.conf"), config).expect("config");
        std::fs::write(
            dir.path().join("users"),
            format!("{}:{{PLAIN}}{}\n", Self::USER, Self::PASSWORD),
        )
        .expect("users");
        let child = Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(dir.path().join("dovecot.conf"))
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot-imapd is not installed: run .ci/run or apt-get install dovecot-imapd");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "dovecot did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Dovecot {
            child,
            port,
            _dir: dir,
        }
    }

    /// A logged-in client session.
    pub async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting");
        client
            .login(Self::USER, Self::PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    /// APPENDs a message to `folder`.
    pub async fn append(&self, folder: &str, raw: &str) {
        let mut session = self.session().await;
        session
            .append(folder, None, None, raw)
            .await
            .expect("append");
        let _ = session.logout().await;
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when the durable `consumer` of `stream` has nothing pending and nothing awaiting an ack:
/// every message it was given is settled.
pub async fn consumer_settled(bus: &rae_core::bus::Bus, stream: &str, consumer: &str) -> bool {
    let Ok(stream) = bus.stream(stream).await else {
        return false;
    };
    match stream.consumer_info(consumer).await {
        Ok(info) => info.num_pending == 0 && info.num_ack_pending == 0,
        Err(_) => false,
    }
}

/// Runs git in `dir` with a fixed identity and no user or system config; answers stdout.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .expect("git runs (install git)");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
