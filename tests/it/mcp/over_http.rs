//! MCP over Streamable HTTP at `/mcp` on the ingress, as a team's assistants use it: the
//! official MCP Python SDK as the client, each session with its own API key, against a real
//! nats-server, the pipeline's consumers and the fake RAE; and the refusals a plain HTTP client
//! sees (keys, tenants, bodies, sessions, rate limits), with their audit records.

use std::time::Duration;

use serde_json::{json, Value};

use rae_core::subjects::AUDIT_STREAM;
use rae_ingress::auth::hash_key;
use rae_pipeline::app::Roles;

use super::{
    calls_of, read_text, read_tools_answer_raes, require_python_sdk, run_sdk_client, sdk_error,
    sdk_ok,
};
use crate::harness::*;

const ACME: &str = "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f";
const ADMIN_KEY: &str = "rpk_mcp_admin_key_for_tests_01";
const READER_KEY: &str = "rpk_mcp_reader_key_for_tests_2";
const WRITER_KEY: &str = "rpk_mcp_writer_key_for_tests_3";
const OTHER_KEY: &str = "rpk_mcp_other_key_for_tests_04";

/// Deadline of anything the pipeline does on its own.
const DEADLINE: Duration = Duration::from_secs(20);

/// Tenants, keys of every kind and `/mcp` on, plus `extra` (more of the `mcp.http` section).
fn mcp_yaml(extra: &str) -> String {
    format!(
        r#"
tenants:
  acme:
    rae_tenant_id: {ACME}
    api_key: acme-rae-key
    project: shop
  other:
    rae_tenant_id: 11111111-2222-3333-4444-555555555555
api_keys:
  - id: admin
    sha256: "{admin}"
    scopes: ["memories:write", "memories:read", "dlq:admin"]
    tenants: [acme]
  - id: reader
    key: "{READER_KEY}"
    scopes: ["memories:read"]
    tenants: [acme]
  - id: writer
    sha256: "{writer}"
    scopes: ["memories:write"]
    tenants: [acme]
  - id: other
    sha256: "{other}"
    scopes: ["memories:write", "memories:read"]
    tenants: [other]
mcp:
  admin_tools: true
  http:
    enabled: true
{extra}
"#,
        admin = hash_key(ADMIN_KEY),
        writer = hash_key(WRITER_KEY),
        other = hash_key(OTHER_KEY),
    )
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// An SDK session over HTTP with `key`, doing `plan` (calls, reads, prompt gets).
fn http_session(pipeline: &Pipeline, key: &str, plan: Value) -> Value {
    let mut session = json!({
        "url": format!("{}/mcp", pipeline.base),
        "headers": {"Authorization": bearer(key)},
    });
    session
        .as_object_mut()
        .unwrap()
        .extend(plan.as_object().unwrap().clone());
    session
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

/// A JSON-RPC error the SDK raised: its code and message.
fn rpc_error(result: &Value) -> (i64, &str) {
    let error = &result["error"];
    (
        error["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error: {result}")),
        error["message"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn the_official_python_sdk_over_http_uses_what_each_key_allows() {
    require_python_sdk();
    let nats = NatsServer::start();
    let mut rae = FakeRae::start().await;
    let memories = json!({"results": [
        {"id": "m-file", "content": "src/db.rs modified in commit abc1234 on main in shop (+40 -3)",
            "score": 0.85, "layer": "semantic", "importance": 0.8,
            "timestamp": "2026-11-24T10:30:00Z", "tags": ["git", "file-change"],
            "metadata": {"attributes": {"path": "src/db.rs", "status": "modified"}}},
    ], "total_count": 1});
    rae.set_query_answer(Duration::ZERO, memories.clone());
    let graph = json!({"search_result": {"results": [], "graph_results_count": 2}});
    rae.set_answer("/v2/search/hybrid", 200, graph.clone());
    let reflection = json!({"reflection": {"content": "Storage choices recur"}});
    rae.set_answer("/v2/reflections/generate", 200, reflection.clone());
    let config = test_config(&nats, &rae, &mcp_yaml(""));
    let mut pipeline = Pipeline::start(&config).await;

    // A dead letter of acme and one of another tenant: the admin key sees only acme's.
    let mut dead_ids = Vec::new();
    for tenant in ["acme", "other"] {
        let dead = rae_core::event::Event::builder(
            rae_core::event::Route {
                tenant,
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
            &format!("rae.enriched.{tenant}.webhook.note"),
            &serde_json::to_vec(&dead).unwrap(),
        )
        .publish(&pipeline.bus().publisher(), &format!("dlq:test:{tenant}"))
        .await
        .expect("dead letter stored");
        dead_ids.push(dead.id);
    }

    let admin = http_session(
        &pipeline,
        ADMIN_KEY,
        json!({
            "calls": [
                {"tool": "store_memory", "arguments": {"content": "Team chose PostgreSQL", "tags": ["decision"]}},
                {"tool": "save_memory", "arguments": {"content": "Fixed the login race in src/auth.rs",
                    "source": "claude-code", "human_label": "Fix: auth race", "layer": "semantic"}},
                {"tool": "query_memories", "arguments": {"query": "database", "k": 3}},
                {"tool": "search_memory", "arguments": {"query": "database", "top_k": 2}},
                {"tool": "query_graph", "arguments": {"query": "what depends on the database?"}},
                {"tool": "generate_reflection", "arguments": {}},
                {"tool": "get_related_context", "arguments": {"file_path": "src/db.rs"}},
                {"tool": "pipeline_status", "arguments": {}},
                {"tool": "dlq_list", "arguments": {}},
                {"tool": "dlq_replay", "arguments": {"id": dead_ids[0]}},
                {"tool": "search_memory", "arguments": {"query": "x", "top_k": 0}},
            ],
            "resources": true,
            "reads": ["rae://project/guidelines", "rae://projects/web%20app/recent"],
            "prompt_gets": [{"name": "recent-context", "arguments": {"topic": "database"}}],
        }),
    );
    let reader = http_session(
        &pipeline,
        READER_KEY,
        json!({
            "calls": [
                {"tool": "search_memory", "arguments": {"query": "database"}},
                {"tool": "store_memory", "arguments": {"content": "not allowed"}},
                {"tool": "dlq_list", "arguments": {}},
            ],
            "resources": true,
            "reads": ["rae://project/reflection"],
        }),
    );
    let writer = http_session(
        &pipeline,
        WRITER_KEY,
        json!({
            "calls": [
                {"tool": "save_memory", "arguments": {"content": "Writers store", "source": "ci"}},
                {"tool": "query_memories", "arguments": {"query": "database"}},
                {"tool": "generate_reflection", "arguments": {}},
            ],
            "resources": true,
            "reads": ["rae://project/recent"],
            "prompt_gets": [{"name": "project-guidelines"}],
        }),
    );
    let seen =
        run_sdk_client(&json!({"sessions": {"admin": admin, "reader": reader, "writer": writer}}))
            .await;

    // The handshake names the key's tenant and project.
    let admin = &seen["admin"];
    assert_eq!(admin["initialize"]["serverInfo"]["name"], "rae-pipeline");
    let instructions = admin["initialize"]["instructions"].as_str().unwrap();
    assert!(
        instructions.contains("tenant acme (project shop"),
        "{instructions}"
    );

    // Each key lists the tools its scopes allow, and no others.
    let read_tools = [
        "query_memories",
        "query_graph",
        "search_memory",
        "get_related_context",
        "pipeline_status",
    ];
    assert_eq!(
        names(&admin["tools"], "name"),
        [
            "store_memory",
            "query_memories",
            "query_graph",
            "generate_reflection",
            "save_memory",
            "search_memory",
            "get_related_context",
            "pipeline_status",
            "dlq_list",
            "dlq_replay",
        ]
    );
    assert_eq!(names(&seen["reader"]["tools"], "name"), read_tools);
    assert_eq!(
        names(&seen["writer"]["tools"], "name"),
        ["store_memory", "save_memory", "pipeline_status"]
    );

    // Every tool answers the admin key, its result valid against its outputSchema.
    let stored = sdk_ok(calls_of(admin, "store_memory")[0], "store_memory");
    assert_eq!(
        (stored["tenant"].as_str(), stored["project"].as_str()),
        (Some("acme"), Some("shop"))
    );
    assert_eq!(stored["subject"], "rae.events.acme.mcp.note");
    let stored_id = stored["id"].as_str().unwrap().to_owned();
    let saved = sdk_ok(calls_of(admin, "save_memory")[0], "save_memory");
    let saved_id = saved["id"].as_str().unwrap().to_owned();
    let related = read_tools_answer_raes(admin, &memories, &graph, &reflection);
    assert_eq!(related["mentioning"], 1);
    let status = sdk_ok(calls_of(admin, "pipeline_status")[0], "pipeline_status");
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(
        status["dead_letters"],
        json!({"total": 1, "by_reason": {"rae_rejected": 1}, "counted": 1, "tenant": "acme"}),
        "only the key's tenant's dead letters are counted"
    );
    let listed = sdk_ok(calls_of(admin, "dlq_list")[0], "dlq_list");
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["dead_letters"][0]["event_id"], dead_ids[0].as_str());
    let replayed = sdk_ok(calls_of(admin, "dlq_replay")[0], "dlq_replay");
    assert_eq!(replayed["subject"], "rae.enriched.acme.webhook.note");
    let message = sdk_error(calls_of(admin, "search_memory")[1], "search_memory");
    assert!(message.contains("top_k: must be 1 to 100"), "{message}");

    // RAE was asked for the key's tenant, with the tenant's RAE credentials.
    let query = &rae.requests_to("/v2/memories/query")[0];
    assert_eq!(query.headers["x-tenant-id"], ACME);
    assert_eq!(query.headers["x-api-key"], "acme-rae-key");
    assert_eq!(query.body["project"], "shop");

    // Resources and prompts.
    assert_eq!(
        names(&admin["resources"], "uri"),
        [
            "rae://project/reflection",
            "rae://project/guidelines",
            "rae://project/recent"
        ]
    );
    assert_eq!(names(&admin["templates"], "uriTemplate").len(), 3);
    assert_eq!(
        names(&admin["prompts"], "name"),
        ["project-guidelines", "recent-context"]
    );
    let reads = admin["reads"].as_array().unwrap();
    assert!(read_text(&reads[0]).starts_with("# Guidelines of project shop\n\n"));
    assert!(read_text(&reads[1]).starts_with("# Recent activity in project web app\n\n"));
    let prompt = &admin["prompt_gets"][0]["result"]["messages"][0]["content"]["text"];
    assert!(
        prompt
            .as_str()
            .unwrap()
            .contains("# Recent activity in project shop (topic: database)"),
        "{prompt}"
    );

    // A key without a scope neither sees nor calls what needs it.
    let reader = &seen["reader"];
    assert_eq!(
        sdk_ok(calls_of(reader, "search_memory")[0], "search_memory"),
        &memories
    );
    let (code, message) = rpc_error(calls_of(reader, "store_memory")[0]);
    assert_eq!(code, -32602);
    assert_eq!(
        message,
        "tool \"store_memory\" is not offered to API key reader: it needs the scope memories:write"
    );
    let (_, message) = rpc_error(calls_of(reader, "dlq_list")[0]);
    assert!(message.contains("dlq:admin"), "{message}");
    assert!(read_text(&reader["reads"][0]).starts_with("# Reflection on project shop"));
    let writer = &seen["writer"];
    let written = sdk_ok(calls_of(writer, "save_memory")[0], "save_memory");
    let written_id = written["id"].as_str().unwrap().to_owned();
    for tool in ["query_memories", "generate_reflection"] {
        let (code, message) = rpc_error(calls_of(writer, tool)[0]);
        assert_eq!(code, -32602, "{tool}");
        assert!(message.contains("memories:read"), "{tool}: {message}");
    }
    assert_eq!(writer["resources"], json!([]));
    assert_eq!(writer["prompts"], json!([]));
    let (_, message) = rpc_error(&writer["reads"][0]["result"]);
    assert!(
        message.contains("resource rae://project/recent is not offered to API key writer"),
        "{message}"
    );
    let (_, message) = rpc_error(&writer["prompt_gets"][0]["result"]);
    assert!(message.contains("memories:read"), "{message}");

    // What was stored over HTTP reaches RAE through the pipeline, for the key's tenant.
    wait_for(
        "RAE to store the memories and the replayed event",
        DEADLINE,
        || async {
            let ids = rae.stored_event_ids();
            [&stored_id, &saved_id, &written_id, &dead_ids[0]]
                .iter()
                .all(|id| ids.contains_key(id.as_str()))
        },
    )
    .await;
    let stored = rae.stored();
    let memory = stored
        .iter()
        .find(|r| r.body["metadata"]["event_id"] == saved_id.as_str())
        .unwrap();
    assert_eq!(memory.headers["x-tenant-id"], ACME);
    assert_eq!(memory.body["human_label"], "Fix: auth race");
    assert_eq!(memory.body["source"], "claude-code");
    assert_eq!(memory.body["project"], "shop");
    assert_eq!(memory.body["metadata"]["source"], "mcp");

    // Every call is audited with the key's id, never the key itself.
    let audited = [
        ("admin", "tools/call store_memory"),
        ("admin", "tools/call query_memories"),
        ("admin", "resources/read rae://project/guidelines"),
        ("reader", "tools/call store_memory"),
        ("writer", "prompts/get project-guidelines"),
    ];
    wait_for("the calls' audit records", DEADLINE, || async {
        let records = stream_json(pipeline.bus(), AUDIT_STREAM).await;
        audited.iter().all(|(key, operation)| {
            records
                .iter()
                .any(|r| r["key_id"] == *key && r["operation"] == *operation)
        })
    })
    .await;
    let records: Vec<Value> = stream_json(pipeline.bus(), AUDIT_STREAM)
        .await
        .into_iter()
        .filter(|r| r["integration"] == "mcp")
        .collect();
    let text = serde_json::to_string(&records).unwrap();
    for key in [ADMIN_KEY, READER_KEY, WRITER_KEY] {
        assert!(!text.contains(key), "audit leaks a key: {text}");
    }
    let record = |key: &str, operation: &str| {
        records
            .iter()
            .find(|r| r["key_id"] == key && r["operation"] == operation)
            .unwrap_or_else(|| panic!("no record of {key} {operation}: {text}"))
    };
    let store = record("admin", "tools/call store_memory");
    assert_eq!(store["outcome"], "accepted");
    assert_eq!(store["tenant"], "acme");
    assert_eq!(store["event_id"], stored_id.as_str());
    assert_eq!(
        record("admin", "tools/call query_memories")["outcome"],
        "answered"
    );
    let refused = record("reader", "tools/call store_memory");
    assert_eq!(
        (refused["outcome"].as_str(), refused["reason"].as_str()),
        (Some("rejected"), Some("forbidden"))
    );
    assert_eq!(
        record("admin", "resources/read rae://project/guidelines")["outcome"],
        "answered"
    );
    assert_eq!(
        record("writer", "prompts/get project-guidelines")["reason"],
        "forbidden"
    );

    // RAE down: the searches are tool errors that say so, the store still works.
    rae.stop().await;
    let down = http_session(
        &pipeline,
        ADMIN_KEY,
        json!({"calls": [
            {"tool": "search_memory", "arguments": {"query": "database"}},
            {"tool": "get_related_context", "arguments": {"file_path": "src/db.rs"}},
            {"tool": "store_memory", "arguments": {"content": "kept while RAE is down"}},
            {"tool": "pipeline_status", "arguments": {}},
        ]}),
    );
    let seen = run_sdk_client(&json!({"sessions": {"down": down}})).await;
    let down = &seen["down"];
    for tool in ["search_memory", "get_related_context"] {
        let message = sdk_error(calls_of(down, tool)[0], tool);
        assert!(message.contains("RAE is unavailable"), "{tool}: {message}");
    }
    let kept = sdk_ok(calls_of(down, "store_memory")[0], "store_memory");
    assert_eq!(kept["status"], "accepted");
    let status = sdk_ok(calls_of(down, "pipeline_status")[0], "pipeline_status");
    assert_eq!(status["healthy"], false);
    assert_eq!(status["rae"]["reachable"], false);
    // What was stored while RAE was down reaches it once it is back.
    let kept_id = kept["id"].as_str().unwrap().to_owned();
    rae.restart().await;
    wait_for("RAE to store what was kept", DEADLINE, || async {
        rae.stored_event_ids().contains_key(&kept_id)
    })
    .await;
    pipeline.shutdown().await;
}

/// The answer to one JSON-RPC request over HTTP: the status, the session header and the
/// message (from a JSON body or the `data:` of an event stream).
struct Exchange {
    status: u16,
    session: Option<String>,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// POSTs one JSON-RPC `message` to `/mcp` with `headers` (name, value).
async fn post_mcp(pipeline: &Pipeline, message: &Value, headers: &[(&str, &str)]) -> Exchange {
    let mut request = pipeline
        .http
        .post(format!("{}/mcp", pipeline.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(message.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the ingress answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let session = headers
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| {
        // An event stream: the JSON-RPC message is the data of an event.
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|message| message.get("jsonrpc").is_some())
            .unwrap_or(Value::String(text))
    });
    Exchange {
        status,
        session,
        headers,
        body,
    }
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    }})
}

fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
}

/// Opens a session with `key`; its id.
async fn open_session(pipeline: &Pipeline, key: &str) -> String {
    let auth = bearer(key);
    let opened = post_mcp(pipeline, &initialize(), &[("authorization", &auth)]).await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert_eq!(opened.body["result"]["serverInfo"]["name"], "rae-pipeline");
    opened.session.expect("a session id")
}

#[tokio::test]
async fn refusals_are_json_errors_a_client_can_act_on_and_are_audited() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let ingress_only = Roles {
        ingress: true,
        enricher: false,
        writer: false,
        git_watch: false,
    };
    // Off unless configured: the ingress has no such route.
    let config = test_config(&nats, &rae, "");
    let mut off = Pipeline::start_roles(&config, ingress_only).await;
    let answer = post_mcp(&off, &initialize(), &[]).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"], "not_found");
    off.shutdown().await;

    let mut pipeline = ingress_with_mcp(
        &nats,
        &rae,
        "    max_sessions: 3\n    max_sessions_per_key: 2\n",
        None,
    )
    .await;

    // No key, a wrong key: 401 with the memories API's JSON error.
    let answer = post_mcp(&pipeline, &initialize(), &[]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.body,
        json!({"error": "unauthorized", "message": "missing credentials: send Authorization: Bearer <api key>"})
    );
    assert_eq!(answer.headers["www-authenticate"], "Bearer");
    let answer = post_mcp(
        &pipeline,
        &initialize(),
        &[("authorization", "Bearer rpk_not_a_key_of_this_pipeline")],
    )
    .await;
    assert_eq!(
        (answer.status, answer.body["message"].as_str()),
        (401, Some("API key is not valid"))
    );
    // A tenant the key may not use: 403.
    let auth = bearer(READER_KEY);
    let answer = post_mcp(
        &pipeline,
        &initialize(),
        &[("authorization", &auth), ("x-tenant-id", "other")],
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.body["message"],
        "API key reader may not use tenant other"
    );

    // The ingress's header limits hold on /mcp: more than 100 headers is a JSON 431.
    let fillers: Vec<String> = (0..101).map(|i| format!("x-filler-{i}")).collect();
    let mut crowded: Vec<(&str, &str)> = fillers.iter().map(|n| (n.as_str(), "1")).collect();
    crowded.push(("authorization", &auth));
    let answer = post_mcp(&pipeline, &initialize(), &crowded).await;
    assert_eq!(answer.status, 431);
    assert_eq!(answer.body["error"], "headers_too_large");

    // A body over the limit: 413 before it is read.
    let huge = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "store_memory", "arguments": {"content": "x".repeat(2 * 1024 * 1024)}}});
    let answer = post_mcp(&pipeline, &huge, &[("authorization", &auth)]).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.body["error"], "payload_too_large");

    // Sessions: two per key, three in all; a session is its key's alone.
    let first = open_session(&pipeline, READER_KEY).await;
    let second = open_session(&pipeline, READER_KEY).await;
    let answer = post_mcp(&pipeline, &initialize(), &[("authorization", &auth)]).await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("mcp.http.max_sessions_per_key"),
        "{}",
        answer.body
    );
    let listed = post_mcp(
        &pipeline,
        &tools_list(),
        &[("authorization", &auth), ("mcp-session-id", &first)],
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["result"]["tools"].as_array().unwrap().len(), 5);
    let other_auth = bearer(OTHER_KEY);
    let answer = post_mcp(
        &pipeline,
        &tools_list(),
        &[("authorization", &other_auth), ("mcp-session-id", &first)],
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"], "not_found");
    let _third = open_session(&pipeline, OTHER_KEY).await;
    let answer = post_mcp(&pipeline, &initialize(), &[("authorization", &other_auth)]).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.headers.contains_key("retry-after"));
    // Closing a session frees its slot.
    let closed = pipeline
        .http
        .delete(format!("{}/mcp", pipeline.base))
        .header("authorization", &auth)
        .header("mcp-session-id", &second)
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{}", closed.status());
    let _again = open_session(&pipeline, READER_KEY).await;
    let answer = post_mcp(
        &pipeline,
        &tools_list(),
        &[("authorization", &auth), ("mcp-session-id", &second)],
    )
    .await;
    assert_eq!(answer.status, 404, "a closed session is gone");

    // The current revision (2026-07-28) needs no session: each request carries its metadata.
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "curl", "version": "1"},
    });
    let listed = post_mcp(
        &pipeline,
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": meta}}),
        &[
            ("authorization", &auth),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        names(&listed.body["result"]["tools"], "name"),
        [
            "query_memories",
            "query_graph",
            "search_memory",
            "get_related_context",
            "pipeline_status"
        ]
    );

    // Refusals are audited with the key's id.
    wait_for("the refusals' audit records", DEADLINE, || async {
        let records = stream_json(pipeline.bus(), AUDIT_STREAM).await;
        [
            "unauthorized",
            "forbidden",
            "payload_too_large",
            "rate_limited",
            "not_found",
        ]
        .iter()
        .all(|reason| {
            records
                .iter()
                .any(|r| r["integration"] == "mcp" && r["reason"] == *reason)
        })
    })
    .await;
    let records = stream_json(pipeline.bus(), AUDIT_STREAM).await;
    let session_refusal = records
        .iter()
        .find(|r| r["integration"] == "mcp" && r["reason"] == "rate_limited")
        .unwrap();
    assert_eq!(session_refusal["key_id"], "reader");
    assert_eq!(session_refusal["tenant"], "acme");
    assert_eq!(session_refusal["operation"], "POST /mcp");
    pipeline.shutdown().await;
}

/// The ingress alone, with `/mcp` and `extra` in its `mcp.http` section.
async fn ingress_with_mcp(
    nats: &NatsServer,
    rae: &FakeRae,
    extra: &str,
    rate: Option<(f64, u32)>,
) -> Pipeline {
    let mut config = test_config(nats, rae, &mcp_yaml(extra));
    if let Some((per_second, burst)) = rate {
        config.ingress.rate_limit.per_second = per_second;
        config.ingress.rate_limit.burst = burst;
    }
    Pipeline::start_roles(
        &config,
        Roles {
            ingress: true,
            enricher: false,
            writer: false,
            git_watch: false,
        },
    )
    .await
}

#[tokio::test]
async fn idle_sessions_expire_and_free_their_slot_and_hosts_are_checked() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = ingress_with_mcp(
        &nats,
        &rae,
        "    max_sessions_per_key: 1\n    session_idle_secs: 1\n    allowed_hosts: [127.0.0.1]\n",
        None,
    )
    .await;
    let idle = open_session(&pipeline, WRITER_KEY).await;
    // The key's one slot frees once its session has seen no request for a second.
    let auth = bearer(WRITER_KEY);
    let renewed = std::sync::Mutex::new(None);
    wait_for("the idle session to expire", DEADLINE, || async {
        let answer = post_mcp(&pipeline, &initialize(), &[("authorization", &auth)]).await;
        *renewed.lock().unwrap() = answer.session;
        answer.status == 200
    })
    .await;
    assert_ne!(
        renewed.into_inner().unwrap().as_deref(),
        Some(idle.as_str())
    );
    let answer = post_mcp(
        &pipeline,
        &tools_list(),
        &[("authorization", &auth), ("mcp-session-id", &idle)],
    )
    .await;
    assert_eq!(answer.status, 404);

    // A Host outside mcp.http.allowed_hosts (a DNS rebinding) is refused.
    let answer = post_mcp(
        &pipeline,
        &tools_list(),
        &[("authorization", &auth), ("host", "rebound.example")],
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(
        answer
            .body
            .as_str()
            .is_some_and(|text| text.contains("Host")),
        "{}",
        answer.body
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_key_past_its_rate_gets_429_with_retry_after() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = ingress_with_mcp(&nats, &rae, "", Some((0.01, 3))).await;
    let auth = bearer(READER_KEY);
    let session = open_session(&pipeline, READER_KEY).await;
    for _ in 0..2 {
        let answer = post_mcp(
            &pipeline,
            &tools_list(),
            &[("authorization", &auth), ("mcp-session-id", &session)],
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let limited = post_mcp(
        &pipeline,
        &tools_list(),
        &[("authorization", &auth), ("mcp-session-id", &session)],
    )
    .await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["error"], "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    // The budget is the key's: another key is still served.
    let other = open_session(&pipeline, WRITER_KEY).await;
    assert!(!other.is_empty());
    pipeline.shutdown().await;
}
