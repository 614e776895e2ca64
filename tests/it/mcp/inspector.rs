//! The MCP Inspector's CLI (`@modelcontextprotocol/inspector` on npm, pinned by
//! `tests/it/mcp/package-lock.json` and installed there by `scripts/test.sh` with `npm ci`), a
//! client nobody here wrote, lists and calls the tools of `rae-pipeline mcp` over stdio and of
//! `/mcp` over Streamable HTTP; what it stores reaches the fake RAE through the pipeline.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::Command;

use rae_ingress::auth::hash_key;
use rae_pipeline::app::Roles;

use super::BIN;
use crate::harness::*;

/// Longest run of one Inspector command.
const INSPECTOR_DEADLINE: Duration = Duration::from_secs(60);

const KEY: &str = "rpk_inspector_key_for_tests_01";

/// The Inspector's launcher, installed by `npm ci` in `tests/it/mcp`.
fn inspector() -> PathBuf {
    let bin =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp/node_modules/.bin/mcp-inspector");
    assert!(
        bin.exists(),
        "the MCP Inspector is missing: scripts/test.sh installs it \
         (cd tests/it/mcp && npm ci --ignore-scripts; Node.js and npm are needed)"
    );
    bin
}

/// One Inspector CLI run with `args` after `--cli`, from an empty directory.
async fn run_inspector(args: &[String]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    tokio::time::timeout(
        INSPECTOR_DEADLINE,
        Command::new(inspector())
            .arg("--cli")
            .args(args)
            .current_dir(dir.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Inspector finishes")
    .expect("the Inspector runs (is Node.js installed?)")
}

/// The JSON the Inspector printed for a successful run.
fn printed(output: &Output, what: &str) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what}: the Inspector failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {stdout}\n{stderr}"))
}

fn tool_names(listed: &Value) -> Vec<&str> {
    listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {listed}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// The consumers, so stored memories reach the fake RAE.
async fn consumers(nats: &NatsServer, rae: &FakeRae, extra_yaml: &str, ingress: bool) -> Pipeline {
    let config = test_config(nats, rae, extra_yaml);
    Pipeline::start_roles(
        &config,
        Roles {
            ingress,
            enricher: true,
            writer: true,
            git_watch: false,
        },
    )
    .await
}

#[tokio::test]
async fn the_inspector_lists_and_calls_the_tools_of_rae_pipeline_mcp() {
    inspector();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let found = json!({"results": [{"id": "m-1", "content": "We use PostgreSQL", "score": 0.9}],
        "total_count": 1});
    rae.set_query_answer(Duration::ZERO, found.clone());
    let mut pipeline = consumers(&nats, &rae, "", false).await;
    // The server command and its environment, as an assistant's config names them.
    let server = |method: &[&str]| {
        let mut args = strings(&[
            "-e",
            &format!("NATS_URL={}", nats.url()),
            "-e",
            &format!("RAE_BASE_URL={}", rae.url()),
            "-e",
            &format!("RAE_API_KEY={RAE_KEY}"),
            "-e",
            "RAE_PROJECT=shop",
            "-e",
            "RUST_LOG=warn",
            BIN,
            "mcp",
        ]);
        args.extend(strings(method));
        args
    };

    let listed = printed(
        &run_inspector(&server(&["--method", "tools/list"])).await,
        "tools/list",
    );
    assert_eq!(
        tool_names(&listed),
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

    let stored = printed(
        &run_inspector(&server(&[
            "--method",
            "tools/call",
            "--tool-name",
            "store_memory",
            "--tool-arg",
            "content=Stored through the MCP Inspector",
            "tags=[\"inspector\"]",
        ]))
        .await,
        "store_memory",
    );
    assert_eq!(stored["isError"], false, "{stored}");
    let id = stored["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stored["structuredContent"]["project"], "shop");

    let searched = printed(
        &run_inspector(&server(&[
            "--method",
            "tools/call",
            "--tool-name",
            "search_memory",
            "--tool-arg",
            "query=database",
            "top_k=3",
        ]))
        .await,
        "search_memory",
    );
    assert_eq!(searched["structuredContent"], found);
    assert_eq!(
        rae.requests_to("/v2/memories/query")[0].body,
        json!({"query": "database", "project": "shop", "k": 3})
    );

    // A wrong argument: a tool error with its reason, and a failing exit.
    let wrong = run_inspector(&server(&[
        "--method",
        "tools/call",
        "--tool-name",
        "search_memory",
        "--tool-arg",
        "query=x",
        "top_k=0",
    ]))
    .await;
    assert!(!wrong.status.success());
    let answer: Value = serde_json::from_slice(&wrong.stdout).expect("the tool's answer");
    assert_eq!(answer["isError"], true);
    assert!(
        answer["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("top_k: must be 1 to 100"),
        "{answer}"
    );

    let read = printed(
        &run_inspector(&server(&[
            "--method",
            "resources/read",
            "--uri",
            "rae://project/guidelines",
        ]))
        .await,
        "resources/read",
    );
    assert!(
        read["contents"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("# Guidelines of project shop"),
        "{read}"
    );

    wait_for(
        "RAE to store the Inspector's memory",
        Duration::from_secs(20),
        || async { rae.stored_event_ids().contains_key(&id) },
    )
    .await;
    let memory = rae
        .stored()
        .into_iter()
        .find(|r| r.body["metadata"]["event_id"] == id.as_str())
        .unwrap();
    assert_eq!(memory.body["content"], "Stored through the MCP Inspector");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn the_inspector_lists_and_calls_the_tools_of_mcp_over_http() {
    inspector();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml = format!(
        r#"
api_keys:
  - id: inspector
    sha256: "{}"
    scopes: ["memories:write"]
    tenants: [default-tenant]
mcp:
  http:
    enabled: true
"#,
        hash_key(KEY)
    );
    let mut pipeline = consumers(&nats, &rae, &yaml, true).await;
    let url = format!("{}/mcp", pipeline.base);
    let server = |method: &[&str]| {
        let mut args = strings(&[
            &url,
            "--transport",
            "http",
            "--header",
            &format!("Authorization: Bearer {KEY}"),
        ]);
        args.extend(strings(method));
        args
    };

    // A key with memories:write alone sees the store tools and the status, nothing else.
    let listed = printed(
        &run_inspector(&server(&["--method", "tools/list"])).await,
        "tools/list",
    );
    assert_eq!(
        tool_names(&listed),
        ["store_memory", "save_memory", "pipeline_status"]
    );
    let saved = printed(
        &run_inspector(&server(&[
            "--method",
            "tools/call",
            "--tool-name",
            "save_memory",
            "--tool-arg",
            "content=Saved over HTTP by the MCP Inspector",
            "source=inspector",
        ]))
        .await,
        "save_memory",
    );
    assert_eq!(saved["isError"], false, "{saved}");
    let id = saved["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Without the key, the Inspector gets nothing.
    let refused = run_inspector(&strings(&[
        &url,
        "--transport",
        "http",
        "--method",
        "tools/list",
    ]))
    .await;
    assert!(!refused.status.success());

    wait_for(
        "RAE to store the memory saved over HTTP",
        Duration::from_secs(20),
        || async { rae.stored_event_ids().contains_key(&id) },
    )
    .await;
    let memory = rae
        .stored()
        .into_iter()
        .find(|r| r.body["metadata"]["event_id"] == id.as_str())
        .unwrap();
    assert_eq!(memory.body["source"], "inspector");
    pipeline.shutdown().await;
}
