//! `rae-pipeline mcp` as an AI assistant runs it: the real binary over stdio, spoken to by a
//! small newline-delimited JSON-RPC client, against a real nats-server and the fake RAE.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use rae_pipeline::app::Roles;

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_rae-pipeline");

/// How long any one answer may take.
const ANSWER_DEADLINE: Duration = Duration::from_secs(20);

/// One `rae-pipeline mcp` process and the client end of its stdio.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
    /// Messages read while waiting for another answer.
    unclaimed: Vec<Value>,
    /// The working directory, so no stray `integrations.yaml` is read.
    _dir: tempfile::TempDir,
}

/// A free loopback port nothing listens on.
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Session {
    /// Starts the binary with a clean environment plus `env`.
    fn start(env: &[(&str, &str)]) -> Session {
        Self::start_with_args(&[], env)
    }

    fn start_with_args(args: &[&str], env: &[(&str, &str)]) -> Session {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .arg("mcp")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn rae-pipeline mcp");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Session {
            child,
            stdin,
            stdout,
            next_id: 1,
            unclaimed: Vec::new(),
            _dir: dir,
        }
    }

    /// A session with NATS and RAE from the tests, initialized.
    async fn ready(nats_url: &str, rae: &FakeRae) -> Session {
        let mut session = Session::start(&[
            ("NATS_URL", nats_url),
            ("RAE_BASE_URL", &rae.url()),
            ("RAE_API_KEY", RAE_KEY),
        ]);
        session.handshake("2025-06-18").await;
        session
    }

    async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// The next message on stdout; every line must be one JSON-RPC 2.0 message.
    async fn next_message(&mut self) -> Value {
        let line = tokio::time::timeout(ANSWER_DEADLINE, self.stdout.next_line())
            .await
            .expect("an answer within the deadline")
            .expect("stdout readable")
            .expect("stdout still open");
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout holds a line that is not JSON ({e}): {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "{message}");
        message
    }

    /// The next message that satisfies `wanted`, keeping the others.
    async fn message_where(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.unclaimed.iter().position(&wanted) {
            return self.unclaimed.remove(at);
        }
        loop {
            let message = self.next_message().await;
            if wanted(&message) {
                return message;
            }
            self.unclaimed.push(message);
        }
    }

    /// Sends a request and returns the whole response (result or error).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_line(&request.to_string()).await;
        self.message_where(|m| m["id"] == id && m.get("method").is_none())
            .await
    }

    async fn notify(&mut self, method: &str) {
        self.send_line(&json!({"jsonrpc": "2.0", "method": method}).to_string())
            .await;
    }

    /// `initialize` asking for `version`, then `notifications/initialized`; the result.
    async fn handshake(&mut self, version: &str) -> Value {
        let answer = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": {"name": "rae-it", "version": "1.0"},
                }),
            )
            .await;
        self.notify("notifications/initialized").await;
        answer["result"].clone()
    }

    /// `tools/call`; the result (a tool result, error or not).
    async fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let answer = self
            .request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await;
        assert!(
            answer.get("error").is_none(),
            "protocol error for {tool}: {answer}"
        );
        answer["result"].clone()
    }

    /// Closes stdin (the client leaves); the exit code once the server is gone, after checking
    /// that what is left on stdout is protocol too.
    async fn close(mut self) -> i32 {
        drop(self.stdin.take());
        let rest = tokio::time::timeout(ANSWER_DEADLINE, async {
            let mut rest = Vec::new();
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                rest.push(line);
            }
            rest
        })
        .await
        .expect("stdout closes after stdin");
        for line in rest {
            let message: Value = serde_json::from_str(&line).expect("only JSON on stdout");
            assert_eq!(message["jsonrpc"], "2.0");
        }
        let status = tokio::time::timeout(ANSWER_DEADLINE, self.child.wait())
            .await
            .expect("the server exits when its client leaves")
            .unwrap();
        status.code().unwrap_or(-1)
    }
}

/// The text of a tool result's first content block.
fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

fn tool_error(result: &Value) -> &str {
    assert_eq!(result["isError"], true, "expected a tool error: {result}");
    text(result)
}

fn tool_ok(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "expected success: {result}");
    &result["structuredContent"]
}

#[tokio::test]
async fn handshake_negotiates_lists_the_tools_and_answers_ping() {
    let rae = FakeRae::start().await;
    let nats_url = format!("nats://127.0.0.1:{}", unused_port());
    let mut session = Session::ready(&nats_url, &rae).await;
    let tools = session.request("tools/list", json!({})).await;
    let tools = tools["result"]["tools"].as_array().expect("tools").clone();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "store_memory",
            "query_memories",
            "query_graph",
            "generate_reflection"
        ]
    );
    let store = &tools[0]["inputSchema"];
    assert_eq!(store["type"], "object");
    assert_eq!(store["required"], json!(["content"]));
    assert_eq!(store["additionalProperties"], false);
    assert_eq!(store["properties"]["content"]["maxLength"], 65536);
    assert_eq!(store["properties"]["importance"]["maximum"], 1);
    assert_eq!(store["properties"]["tags"]["maxItems"], 32);
    assert_eq!(
        store["properties"]["layer"]["enum"],
        json!(["episodic", "working", "semantic", "ltm", "reflective"])
    );
    assert_eq!(tools[1]["annotations"]["readOnlyHint"], true);
    assert_eq!(tools[1]["inputSchema"]["properties"]["k"]["maximum"], 100);
    assert_eq!(
        session.request("ping", json!({})).await["result"],
        json!({})
    );
    assert_eq!(session.close().await, 0);

    // Older revisions are negotiated: the server answers with the one asked for when it knows
    // it, else with the newest that has an initialize handshake.
    for (asked, answered) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-11-25", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let mut session = Session::start(&[("NATS_URL", &nats_url)]);
        let result = session.handshake(asked).await;
        assert_eq!(result["protocolVersion"], answered, "{result}");
        assert_eq!(result["serverInfo"]["name"], "rae-pipeline");
        assert!(result["capabilities"]["tools"].is_object(), "{result}");
        assert_eq!(session.close().await, 0);
    }

    // The current revision (2026-07-28) has no handshake: each request carries its metadata.
    let mut session = Session::start(&[("NATS_URL", &nats_url)]);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "rae-it", "version": "1.0"},
    });
    let listed = session.request("tools/list", json!({"_meta": meta})).await;
    assert_eq!(
        listed["result"]["tools"].as_array().map(Vec::len),
        Some(4),
        "{listed}"
    );
    assert_eq!(session.close().await, 0);
}

#[tokio::test]
async fn a_stored_memory_reaches_rae_through_the_pipeline() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut session = Session::start(&[
        ("NATS_URL", &nats.url()),
        ("RAE_BASE_URL", &rae.url()),
        ("RAE_API_KEY", RAE_KEY),
        ("RAE_PROJECT", "backend"),
    ]);
    session.handshake("2025-06-18").await;
    let stored = session
        .call(
            "store_memory",
            json!({
                "content": "Team decided to use PostgreSQL for the event store",
                "importance": 0.8,
                "tags": ["decision", "db"],
                "layer": "semantic",
                "source": "claude-desktop",
            }),
        )
        .await;
    let answer = tool_ok(&stored).clone();
    let id = answer["id"].as_str().expect("event id").to_owned();
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["project"], "backend");
    assert_eq!(answer["subject"], "rae.events.default-tenant.mcp.note");
    assert!(text(&stored).contains(&id), "{stored}");
    let lesson = session
        .call(
            "store_memory",
            json!({"content": "Lesson: migrations need a rollback plan", "layer": "reflective", "project": "ops"}),
        )
        .await;
    let lesson_id = tool_ok(&lesson)["id"].as_str().unwrap().to_owned();

    // The memories wait in JetStream until the pipeline's consumers run.
    let config = test_config(&nats, &rae, "");
    let mut pipeline = Pipeline::start_roles(
        &config,
        Roles {
            ingress: false,
            enricher: true,
            writer: true,
            git_watch: false,
        },
    )
    .await;
    wait_for("RAE to store both memories", ANSWER_DEADLINE, || async {
        let ids = rae.stored_event_ids();
        ids.contains_key(&id) && ids.contains_key(&lesson_id)
    })
    .await;
    let stored = rae.stored();
    let memory = stored
        .iter()
        .find(|r| r.body["metadata"]["event_id"] == id.as_str())
        .unwrap();
    assert_eq!(memory.headers["x-tenant-id"], "default-tenant");
    assert_eq!(memory.headers["x-api-key"], RAE_KEY);
    let body = &memory.body;
    assert_eq!(
        body["content"],
        "Team decided to use PostgreSQL for the event store"
    );
    assert_eq!(body["source"], "claude-desktop");
    assert_eq!(body["project"], "backend");
    assert_eq!(body["layer"], "semantic");
    assert_eq!(body["importance"], 0.8);
    let tags = body["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!("decision")) && tags.contains(&json!("db")),
        "{body}"
    );
    assert_eq!(body["metadata"]["source"], "mcp");
    assert_eq!(body["metadata"]["integration"], "mcp");
    assert_eq!(body["metadata"]["kind"], "note");
    assert_eq!(body["metadata"]["actor"], "rae-it");
    let lesson = stored
        .iter()
        .find(|r| r.body["metadata"]["event_id"] == lesson_id.as_str())
        .unwrap();
    assert_eq!(lesson.body["metadata"]["kind"], "reflection");
    assert_eq!(lesson.body["project"], "ops");
    assert_eq!(session.close().await, 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn the_search_tools_answer_from_rae() {
    let rae = FakeRae::start().await;
    let results = json!({
        "results": [{"id": "m-1", "content": "We use PostgreSQL", "score": 0.93, "layer": "semantic",
            "importance": 0.8, "timestamp": "2026-11-24T10:30:00Z", "tags": ["db"], "metadata": {}}],
        "total_count": 1,
    });
    rae.set_query_answer(Duration::ZERO, results.clone());
    let graph =
        json!({"search_result": {"results": [], "graph_results_count": 3}, "message": "ok"});
    rae.set_answer("/v2/search/hybrid", 200, graph.clone());
    let reflection =
        json!({"reflection": {"content": "Database choices recur"}, "statistics": {"clusters": 1}});
    rae.set_answer("/v2/reflections/generate", 200, reflection.clone());
    let nats_url = format!("nats://127.0.0.1:{}", unused_port());
    let mut session = Session::ready(&nats_url, &rae).await;

    let found = session
        .call(
            "query_memories",
            json!({"query": "which database?", "k": 3, "layers": ["semantic"]}),
        )
        .await;
    assert_eq!(tool_ok(&found), &results);
    let sent = &rae.requests_to("/v2/memories/query")[0];
    assert_eq!(
        sent.body,
        json!({"query": "which database?", "project": "default", "k": 3, "layers": ["semantic"]})
    );
    assert_eq!(sent.headers["x-tenant-id"], "default-tenant");
    assert_eq!(sent.headers["x-api-key"], RAE_KEY);

    let related = session
        .call(
            "query_graph",
            json!({"query": "what depends on the database?", "depth": 3}),
        )
        .await;
    assert_eq!(tool_ok(&related), &graph);
    let sent = &rae.requests_to("/v2/search/hybrid")[0].body;
    assert_eq!(sent["query"], "what depends on the database?");
    // RAE uses a body's tenant_id as given: the UUID it means by `default-tenant`.
    assert_eq!(sent["tenant_id"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(sent["enable_graph_search"], true);
    assert_eq!(sent["enable_reranking"], false);
    assert_eq!(sent["graph_max_depth"], 3);
    assert_eq!(sent["k"], 5);

    let reflected = session
        .call(
            "generate_reflection",
            json!({"project": "backend", "reflection_type": "pattern"}),
        )
        .await;
    assert_eq!(tool_ok(&reflected), &reflection);
    assert_eq!(
        rae.requests_to("/v2/reflections/generate")[0].body,
        json!({"tenant_id": "00000000-0000-0000-0000-000000000000", "project": "backend", "reflection_type": "pattern",
            "max_memories": 50, "min_cluster_size": 3})
    );
    assert_eq!(session.close().await, 0);
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_that_name_the_field() {
    let rae = FakeRae::start().await;
    let nats_url = format!("nats://127.0.0.1:{}", unused_port());
    let mut session = Session::ready(&nats_url, &rae).await;
    for (tool, arguments, expected) in [
        (
            "store_memory",
            json!({}),
            "content: missing field `content`",
        ),
        (
            "store_memory",
            json!({"content": "x", "importance": 1.5}),
            "importance: must be between 0 and 1",
        ),
        (
            "store_memory",
            json!({"content": "x".repeat(65 * 1024)}),
            "content: must be at most 65536 bytes",
        ),
        (
            "store_memory",
            json!({"content": "x", "layer": "deep"}),
            "layer: must be one of episodic",
        ),
        (
            "store_memory",
            json!({"content": "x", "tags": "db"}),
            "tags: invalid type",
        ),
        (
            "store_memory",
            json!({"content": "x", "colour": "red"}),
            "colour: unknown field `colour`",
        ),
        (
            "query_memories",
            json!({"query": ""}),
            "query: must be 1 to 1024 characters",
        ),
        (
            "query_memories",
            json!({"query": "x", "k": 500}),
            "k: must be 1 to 100",
        ),
        (
            "query_graph",
            json!({"query": "x", "depth": 9}),
            "depth: must be 1 to 5",
        ),
        (
            "generate_reflection",
            json!({"reflection_type": "vibes"}),
            "reflection_type: must be one of insight",
        ),
        (
            "generate_reflection",
            json!({"since": "yesterday"}),
            "since: ",
        ),
    ] {
        let result = session.call(tool, arguments).await;
        let message = tool_error(&result);
        assert!(
            message.starts_with("invalid arguments: ") && message.contains(expected),
            "{tool}: {message}"
        );
    }
    // Nothing invalid reached RAE.
    assert!(rae.requests().is_empty(), "{:?}", rae.requests());

    let unknown = session
        .request(
            "tools/call",
            json!({"name": "delete_everything", "arguments": {}}),
        )
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("store_memory"),
        "{unknown}"
    );
    assert_eq!(session.close().await, 0);
}

#[tokio::test]
async fn rae_refusing_or_down_and_nats_down_are_tool_errors() {
    let mut nats = NatsServer::start();
    let mut rae = FakeRae::start().await;
    rae.set_answer(
        "/v2/reflections/generate",
        422,
        json!({"error": {"code": "validation_error", "message": "project has no memories"}}),
    );
    // Short NATS timeouts from a config file, so the outage is reported quickly.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mcp.yaml");
    std::fs::write(
        &config,
        "nats:\n  connect_timeout_secs: 1\n  publish_timeout_ms: 1000\n",
    )
    .unwrap();
    let mut session = Session::start_with_args(
        &["--config", config.to_str().unwrap()],
        &[
            ("NATS_URL", &nats.url()),
            ("RAE_BASE_URL", &rae.url()),
            ("RAE_API_KEY", RAE_KEY),
        ],
    );
    session.handshake("2025-06-18").await;

    let refused = session.call("generate_reflection", json!({})).await;
    let message = tool_error(&refused);
    assert!(
        message.contains("refused the request (422)")
            && message.contains("project has no memories"),
        "{message}"
    );

    rae.stop().await;
    for (tool, arguments) in [
        ("query_memories", json!({"query": "anything"})),
        ("query_graph", json!({"query": "anything"})),
        ("generate_reflection", json!({})),
    ] {
        let down = session.call(tool, arguments).await;
        let message = tool_error(&down);
        assert!(
            message.contains("RAE is unavailable") && message.contains("RAE_BASE_URL"),
            "{tool}: {message}"
        );
    }

    // NATS up, then gone: the store is refused with a reason instead of hanging.
    let first = session
        .call("store_memory", json!({"content": "one"}))
        .await;
    tool_ok(&first);
    nats.stop();
    let second = session
        .call("store_memory", json!({"content": "two"}))
        .await;
    let message = tool_error(&second);
    assert!(
        message.starts_with("memory not stored: ") && message.contains("NATS"),
        "{message}"
    );
    assert_eq!(session.close().await, 0);

    // NATS unreachable from the start: the server runs anyway and says why it cannot store.
    let mut session = Session::start_with_args(
        &["--config", config.to_str().unwrap()],
        &[("NATS_URL", &format!("nats://127.0.0.1:{}", unused_port()))],
    );
    session.handshake("2025-06-18").await;
    let never = session
        .call("store_memory", json!({"content": "three"}))
        .await;
    let message = tool_error(&never);
    assert!(message.contains("cannot connect to NATS"), "{message}");
    assert_eq!(session.close().await, 0);
}

#[tokio::test]
async fn malformed_json_rpc_is_a_protocol_error_and_the_session_goes_on() {
    let nats_url = format!("nats://127.0.0.1:{}", unused_port());
    let mut session = Session::start(&[("NATS_URL", &nats_url)]);
    // Before the handshake too.
    session.send_line("this is not json").await;
    let answer = session.message_where(|m| m.get("error").is_some()).await;
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    assert_eq!(answer["id"], Value::Null);
    session.handshake("2025-06-18").await;

    session
        .send_line(r#"{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": "#)
        .await;
    let answer = session.message_where(|m| m.get("error").is_some()).await;
    assert_eq!(answer["error"]["code"], -32700, "{answer}");

    // JSON, but not a JSON-RPC request.
    session.send_line(r#"{"hello": "world"}"#).await;
    let answer = session.message_where(|m| m.get("error").is_some()).await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");

    let unknown = session.request("memories/delete", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");

    // Still serving.
    assert_eq!(
        session.request("ping", json!({})).await["result"],
        json!({})
    );
    assert_eq!(session.close().await, 0);
}

#[tokio::test]
async fn an_unknown_tenant_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BIN)
        .arg("mcp")
        .current_dir(dir.path())
        .env_clear()
        .env("RAE_PIPELINE_TENANT", "acme")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "stdout is for the protocol only");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tenant \"acme\" is not configured"),
        "{stderr}"
    );
}
