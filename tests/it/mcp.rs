//! `rae-pipeline mcp` as an AI assistant runs it: the real binary over stdio, spoken to by a
//! small newline-delimited JSON-RPC client and by the official MCP Python SDK
//! (`tests/it/mcp/sdk_client.py`), against a real nats-server and the fake RAE. `over_http`
//! does the same for `/mcp` on the ingress; `inspector` drives both with the MCP Inspector's CLI.

mod inspector;
mod over_http;

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
            "generate_reflection",
            "save_memory",
            "search_memory",
            "get_related_context",
            "pipeline_status",
        ]
    );
    for tool in &tools {
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
    }
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
        assert!(result["capabilities"]["resources"].is_object(), "{result}");
        assert!(result["capabilities"]["prompts"].is_object(), "{result}");
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
        Some(8),
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
    let mut pipeline = Pipeline::start_roles(&config, CONSUMERS).await;
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

/// The client script driven by the official MCP Python SDK.
const SDK_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/mcp/sdk_client.py");

/// Panics with how to install the official MCP Python SDK when `python3` cannot import it.
fn require_python_sdk() {
    let found = std::process::Command::new("python3")
        .args(["-c", "import mcp.client.stdio"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "the official MCP Python SDK is missing: scripts/test.sh installs it \
         (python3 -m pip install 'mcp>=2,<3')"
    );
}

/// Runs the SDK client with `plan`; its observations.
async fn run_sdk_client(plan: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    std::fs::write(&path, plan.to_string()).unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new("python3")
            .arg(SDK_CLIENT)
            .arg(&path)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the SDK client finishes")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK client failed ({}):\n{stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("SDK client output is not JSON ({e}): {stdout}\n{stderr}"))
}

/// The roles that store what MCP published: the enricher and the writer.
const CONSUMERS: Roles = Roles {
    ingress: false,
    enricher: true,
    writer: true,
    git_watch: false,
};

/// The read tools of a session answered what the fake RAE answered (`memories` to both
/// searches, `graph`, `reflection`); `get_related_context`'s answer is returned.
fn read_tools_answer_raes<'a>(
    session: &'a Value,
    memories: &Value,
    graph: &Value,
    reflection: &Value,
) -> &'a Value {
    for (tool, expected) in [
        ("query_memories", memories),
        ("search_memory", memories),
        ("query_graph", graph),
        ("generate_reflection", reflection),
    ] {
        assert_eq!(sdk_ok(calls_of(session, tool)[0], tool), expected, "{tool}");
    }
    sdk_ok(
        calls_of(session, "get_related_context")[0],
        "get_related_context",
    )
}

/// The calls of a session by tool, in order.
fn calls_of<'a>(session: &'a Value, tool: &str) -> Vec<&'a Value> {
    session["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["tool"] == tool)
        .map(|c| &c["result"])
        .collect()
}

/// A successful result as the SDK returned it, checked against its outputSchema by the SDK.
fn sdk_ok<'a>(result: &'a Value, tool: &str) -> &'a Value {
    assert!(
        result.get("exception").is_none() && result.get("error").is_none(),
        "{tool}: {result}"
    );
    assert_eq!(result["isError"], false, "{tool}: {result}");
    let structured = &result["structuredContent"];
    assert!(structured.is_object(), "{tool}: {result}");
    // The text block says the same as the structured content, for clients that read only text.
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{tool}: text is not the JSON result ({e}): {result}"));
    assert_eq!(&text, structured, "{tool}");
    structured
}

fn sdk_error<'a>(result: &'a Value, tool: &str) -> &'a str {
    assert_eq!(
        result["isError"], true,
        "{tool}: expected a tool error: {result}"
    );
    result["content"][0]["text"].as_str().unwrap_or_default()
}

fn read_text(read: &Value) -> &str {
    read["result"]["contents"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text read: {read}"))
}

#[tokio::test]
async fn the_official_python_sdk_uses_every_tool_resource_and_prompt() {
    require_python_sdk();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let memories = json!({"results": [
        {"id": "m-commit", "content": "Commit abc1234 on main in shop by Ada: move to PostgreSQL",
            "score": 0.91, "layer": "episodic", "importance": 0.6,
            "timestamp": "2026-11-20T09:00:00Z", "tags": ["git", "commit"], "metadata": {}},
        {"id": "m-file", "content": "src/db.rs modified in commit abc1234 on main in shop (+40 -3)",
            "score": 0.85, "layer": "semantic", "importance": 0.8,
            "timestamp": "2026-11-24T10:30:00Z", "tags": ["git", "file-change"],
            "metadata": {"attributes": {"path": "src/db.rs", "status": "modified"}}},
    ], "total_count": 2});
    rae.set_query_answer(Duration::ZERO, memories.clone());
    let graph = json!({"search_result": {"results": [], "graph_results_count": 2}});
    rae.set_answer("/v2/search/hybrid", 200, graph.clone());
    let reflection = json!({"reflection": {"content": "Storage choices recur"}});
    rae.set_answer("/v2/reflections/generate", 200, reflection.clone());

    // The consumers run, so the status sees them and stored memories reach RAE.
    let config = test_config(&nats, &rae, "");
    let mut pipeline = Pipeline::start_roles(&config, CONSUMERS).await;
    // A dead letter of the tenant, for the status to count and the admin tools to replay.
    let dead = rae_core::event::Event::builder(
        rae_core::event::Route {
            tenant: "default-tenant",
            project: "shop",
            source: rae_core::event::Source::Webhook,
            integration: "memory",
        },
        rae_core::event::new_id(),
        "note",
        "Refused once, stored after the replay",
    )
    .build();
    rae_core::dead_letter::DeadLetter::new(
        rae_core::dead_letter::Stage::Write,
        rae_core::dead_letter::Reason::RaeRejected,
        "RAE answered 422",
        1,
        "rae.enriched.default-tenant.webhook.note",
        &serde_json::to_vec(&dead).unwrap(),
    )
    .publish(&pipeline.bus().publisher(), "dlq:test:1")
    .await
    .expect("dead letter stored");

    let up_dir = tempfile::tempdir().unwrap();
    let down_dir = tempfile::tempdir().unwrap();
    let admin = up_dir.path().join("mcp.yaml");
    std::fs::write(&admin, "mcp:\n  admin_tools: true\n").unwrap();
    let short_timeouts = down_dir.path().join("mcp.yaml");
    std::fs::write(
        &short_timeouts,
        "nats:\n  connect_timeout_secs: 1\n  publish_timeout_ms: 1000\n",
    )
    .unwrap();
    let nowhere = format!("127.0.0.1:{}", unused_port());
    let plan = json!({
        "command": BIN,
        "sessions": {
            "up": {
                "args": ["--config", admin, "mcp"],
                "cwd": up_dir.path(),
                "env": {"NATS_URL": nats.url(), "RAE_BASE_URL": rae.url(), "RAE_API_KEY": RAE_KEY,
                    "RAE_PROJECT": "shop", "RUST_LOG": "warn"},
                "calls": [
                    {"tool": "store_memory", "arguments": {"content": "Team chose PostgreSQL", "tags": ["decision"]}},
                    {"tool": "save_memory", "arguments": {"content": "Fixed the login race in src/auth.rs",
                        "source": "claude-code", "human_label": "Fix: auth race", "layer": "semantic",
                        "importance": 0.7, "tags": ["bug"]}},
                    {"tool": "query_memories", "arguments": {"query": "database", "k": 3}},
                    {"tool": "search_memory", "arguments": {"query": "database", "top_k": 2}},
                    {"tool": "query_graph", "arguments": {"query": "what depends on the database?"}},
                    {"tool": "generate_reflection", "arguments": {"project": "shop"}},
                    {"tool": "get_related_context", "arguments": {"file_path": "./src/db.rs", "include_count": 5}},
                    {"tool": "pipeline_status", "arguments": {}},
                    {"tool": "search_memory", "arguments": {"query": "x", "top_k": 0}},
                    {"tool": "save_memory", "arguments": {"source": "claude-code"}},
                    {"tool": "get_related_context", "arguments": {"file_path": "a.rs", "k": 1, "include_count": 1}},
                    {"tool": "pipeline_status", "arguments": {"verbose": true}},
                    {"tool": "dlq_list", "arguments": {"reason": "rae_rejected"}},
                    {"tool": "dlq_replay", "arguments": {"id": "no-such-letter"}},
                    {"tool": "dlq_replay", "arguments": {"id": dead.id}},
                    {"tool": "dlq_list", "arguments": {}},
                ],
                "resources": true,
                "reads": [
                    "rae://project/reflection",
                    "rae://project/guidelines",
                    "rae://project/recent",
                    "rae://projects/web%20app/reflection",
                    "rae://projects/web%20app/guidelines",
                    "rae://projects/web%20app/recent",
                    "rae://project/secrets",
                ],
                "prompt_gets": [
                    {"name": "project-guidelines"},
                    {"name": "recent-context", "arguments": {"project": "web", "topic": "database"}},
                    {"name": "what-next"},
                ],
            },
            "down": {
                "args": ["--config", short_timeouts, "mcp"],
                "cwd": down_dir.path(),
                "env": {"NATS_URL": format!("nats://{nowhere}"), "RAE_BASE_URL": format!("http://{nowhere}"),
                    "RUST_LOG": "warn"},
                "calls": [
                    {"tool": "query_memories", "arguments": {"query": "database"}},
                    {"tool": "search_memory", "arguments": {"query": "database"}},
                    {"tool": "query_graph", "arguments": {"query": "database"}},
                    {"tool": "generate_reflection", "arguments": {}},
                    {"tool": "get_related_context", "arguments": {"file_path": "src/db.rs"}},
                    {"tool": "save_memory", "arguments": {"content": "lost?", "source": "claude-code"}},
                    {"tool": "pipeline_status", "arguments": {}},
                    {"tool": "dlq_list", "arguments": {}},
                ],
                "reads": ["rae://project/guidelines"],
                "prompt_gets": [{"name": "recent-context"}],
            },
        },
    });
    let seen = run_sdk_client(&plan).await;

    // Handshake and listings.
    let up = &seen["up"];
    assert_eq!(up["initialize"]["serverInfo"]["name"], "rae-pipeline");
    for capability in ["tools", "resources", "prompts"] {
        assert!(
            up["initialize"]["capabilities"][capability].is_object(),
            "{}",
            up["initialize"]
        );
    }
    let tools = up["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let memory_tools = [
        "store_memory",
        "query_memories",
        "query_graph",
        "generate_reflection",
        "save_memory",
        "search_memory",
        "get_related_context",
        "pipeline_status",
    ];
    // mcp.admin_tools adds the dead-letter tools.
    let all: Vec<&str> = memory_tools
        .iter()
        .chain(&["dlq_list", "dlq_replay"])
        .copied()
        .collect();
    assert_eq!(names, all);
    let down_names: Vec<&str> = seen["down"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(down_names, memory_tools);
    for tool in tools {
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
    }
    let search = tools.iter().find(|t| t["name"] == "search_memory").unwrap();
    assert_eq!(search["inputSchema"]["properties"]["top_k"]["default"], 5);

    // Every tool answers, its structured content valid against its outputSchema.
    let stored = sdk_ok(calls_of(up, "store_memory")[0], "store_memory");
    assert_eq!(
        (stored["status"].as_str(), stored["project"].as_str()),
        (Some("accepted"), Some("shop"))
    );
    let saved = sdk_ok(calls_of(up, "save_memory")[0], "save_memory");
    let saved_id = saved["id"].as_str().unwrap().to_owned();
    assert_eq!(saved["layer"], "semantic");
    let related = read_tools_answer_raes(up, &memories, &graph, &reflection);
    assert_eq!(related["file_path"], "src/db.rs");
    assert_eq!(related["mentioning"], 1);
    let order: Vec<&str> = related["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["m-file", "m-commit"]);
    let status = sdk_ok(calls_of(up, "pipeline_status")[0], "pipeline_status");
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["rae"]["reachable"], true);
    assert_eq!(status["nats"]["reachable"], true);
    let consumers: Vec<&str> = status["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["pending"].is_u64() && c.get("error").is_none(), "{c}");
            c["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(consumers, ["enricher", "writer"]);
    assert_eq!(status["dead_letters"]["total"], 1, "{status}");
    assert_eq!(
        status["dead_letters"]["by_reason"],
        json!({"rae_rejected": 1})
    );

    // What RAE was asked, in RAE's own names.
    let queries: Vec<Value> = rae
        .requests_to("/v2/memories/query")
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert!(
        queries.contains(&json!({"query": "database", "project": "shop", "k": 2})),
        "{queries:?}"
    );
    assert!(
        queries.contains(&json!({"query": "src/db.rs", "project": "shop", "k": 5})),
        "{queries:?}"
    );

    // Wrong arguments are tool errors naming the field.
    let wrong = |tool: &str, nth: usize| sdk_error(calls_of(up, tool)[nth], tool).to_owned();
    for (message, expected) in [
        (wrong("search_memory", 1), "top_k: must be 1 to 100"),
        (wrong("save_memory", 1), "content: missing field `content`"),
        (
            wrong("get_related_context", 1),
            "include_count: is another name for k",
        ),
        (
            wrong("pipeline_status", 1),
            "verbose: unknown field `verbose`",
        ),
    ] {
        assert!(
            message.starts_with("invalid arguments: ") && message.contains(expected),
            "{message}"
        );
    }

    // The dead-letter tools: list, replay, and the list is empty after.
    let listed = sdk_ok(calls_of(up, "dlq_list")[0], "dlq_list");
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["tenant"], "default-tenant");
    let letter = &listed["dead_letters"][0];
    assert_eq!(letter["event_id"], dead.id.as_str());
    assert_eq!(
        (letter["stage"].as_str(), letter["reason"].as_str()),
        (Some("write"), Some("rae_rejected"))
    );
    assert_eq!(letter["preview"], "Refused once, stored after the replay");
    let message = sdk_error(calls_of(up, "dlq_replay")[0], "dlq_replay");
    assert!(
        message.contains("no dead letter \"no-such-letter\"") && message.contains("dlq_list"),
        "{message}"
    );
    let replayed = sdk_ok(calls_of(up, "dlq_replay")[1], "dlq_replay");
    assert_eq!(replayed["replayed"], 1);
    assert_eq!(
        replayed["subject"],
        "rae.enriched.default-tenant.webhook.note"
    );
    assert_eq!(sdk_ok(calls_of(up, "dlq_list")[1], "dlq_list")["count"], 0);
    // Without mcp.admin_tools they are not offered.
    let refused = &calls_of(&seen["down"], "dlq_list")[0]["error"];
    assert_eq!(refused["code"], -32602, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("mcp.admin_tools"),
        "{refused}"
    );

    // Resources, templates and prompts.
    let uris: Vec<&str> = up["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        uris,
        [
            "rae://project/reflection",
            "rae://project/guidelines",
            "rae://project/recent"
        ]
    );
    let templates: Vec<&str> = up["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(
        templates,
        [
            "rae://projects/{project}/reflection",
            "rae://projects/{project}/guidelines",
            "rae://projects/{project}/recent"
        ]
    );
    let prompts = up["prompts"].as_array().unwrap();
    let prompt_names: Vec<&str> = prompts
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(prompt_names, ["project-guidelines", "recent-context"]);
    for prompt in prompts {
        let arguments: Vec<(&str, bool)> = prompt["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["name"].as_str().unwrap(), a["required"] == true))
            .collect();
        assert_eq!(
            arguments,
            [("project", false), ("topic", false)],
            "{prompt}"
        );
    }
    let reads = up["reads"].as_array().unwrap();
    for (read, heading) in reads.iter().zip([
        "# Reflection on project shop\n\n",
        "# Guidelines of project shop\n\n",
        "# Recent activity in project shop\n\n",
        "# Reflection on project web app\n\n",
        "# Guidelines of project web app\n\n",
        "# Recent activity in project web app\n\n",
    ]) {
        let text = read_text(read);
        assert!(text.starts_with(heading), "{read}");
        assert_eq!(read["result"]["contents"][0]["mimeType"], "text/markdown");
    }
    // Recent activity is newest first.
    assert!(
        read_text(&reads[2]).contains("1. src/db.rs modified in commit abc1234"),
        "{}",
        reads[2]
    );
    assert_eq!(reads[6]["result"]["error"]["code"], -32002, "{}", reads[6]);
    let reflection_query = queries
        .iter()
        .find(|q| q["project"] == "web app" && q["layers"] == json!(["reflective"]));
    assert!(reflection_query.is_some(), "{queries:?}");

    let gets = up["prompt_gets"].as_array().unwrap();
    let message = &gets[0]["result"]["messages"][0];
    assert_eq!(message["role"], "user");
    let text = message["content"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Follow these project guidelines")
            && text.contains("# Guidelines of project shop"),
        "{text}"
    );
    let text = gets[1]["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("# Recent activity in project web (topic: database)"),
        "{text}"
    );
    assert!(
        queries.iter().any(|q| q["project"] == "web"
            && q["query"]
                .as_str()
                .is_some_and(|t| t.starts_with("database: recent"))),
        "{queries:?}"
    );
    assert_eq!(gets[2]["result"]["error"]["code"], -32602, "{}", gets[2]);

    // RAE and NATS down: tool errors that say what to do, and a status that says which is down.
    let down = &seen["down"];
    for tool in [
        "query_memories",
        "search_memory",
        "query_graph",
        "generate_reflection",
        "get_related_context",
    ] {
        let message = sdk_error(calls_of(down, tool)[0], tool);
        assert!(
            message.contains("RAE is unavailable") && message.contains("RAE_BASE_URL"),
            "{tool}: {message}"
        );
    }
    let message = sdk_error(calls_of(down, "save_memory")[0], "save_memory");
    assert!(
        message.starts_with("memory not stored: ") && message.contains("NATS"),
        "{message}"
    );
    let status = sdk_ok(calls_of(down, "pipeline_status")[0], "pipeline_status");
    assert_eq!(status["healthy"], false);
    assert_eq!(status["rae"]["reachable"], false);
    assert!(
        status["rae"]["error"]
            .as_str()
            .unwrap()
            .contains("RAE_BASE_URL"),
        "{status}"
    );
    assert_eq!(status["nats"]["reachable"], false);
    assert!(
        status["nats"]["error"].as_str().unwrap().contains("NATS"),
        "{status}"
    );
    let read = &down["reads"][0]["result"]["error"];
    assert!(
        read["message"]
            .as_str()
            .unwrap()
            .contains("RAE is unavailable"),
        "{read}"
    );
    let get = &down["prompt_gets"][0]["result"]["error"];
    assert!(
        get["message"]
            .as_str()
            .unwrap()
            .contains("RAE is unavailable"),
        "{get}"
    );

    // The saved memory and the replayed dead letter reach RAE through the pipeline.
    wait_for(
        "RAE to store the saved memory and the replayed event",
        ANSWER_DEADLINE,
        || async {
            let ids = rae.stored_event_ids();
            ids.contains_key(&saved_id) && ids.contains_key(&dead.id)
        },
    )
    .await;
    let stored = rae.stored();
    let memory = stored
        .iter()
        .find(|r| r.body["metadata"]["event_id"] == saved_id.as_str())
        .unwrap();
    let body = &memory.body;
    assert_eq!(body["content"], "Fixed the login race in src/auth.rs");
    assert_eq!(body["human_label"], "Fix: auth race");
    assert_eq!(body["source"], "claude-code");
    assert_eq!(body["project"], "shop");
    assert_eq!(body["layer"], "semantic");
    assert_eq!(body["importance"], 0.7);
    assert_eq!(body["metadata"]["actor"], "mcp", "the SDK's client name");
    assert_eq!(memory.headers["x-api-key"], RAE_KEY);
    pipeline.shutdown().await;
}
