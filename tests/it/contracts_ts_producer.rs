//! The TypeScript producer example (`examples/ts_producer`, docs/producers.md), built with its
//! own `npm run build` (types generated from contracts/openapi.json, then `tsc`) and run with
//! Node against the pipeline with the fake RAE: it stores incident updates through the memories
//! API with an API key, each once however often it is run, and fails loudly on a wrong key.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::harness::*;

const KEY: &str = "rpk_ts_incidents_example_key_01";
const ACME: &str = "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f";

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/ts_producer")
}

/// Runs `npm run build` in the example, so the test runs exactly the current source.
async fn build() {
    let dir = example_dir();
    assert!(
        dir.join("node_modules").is_dir(),
        "examples/ts_producer has no node_modules: run scripts/test.sh, which installs them, or \
         `npm ci --prefix examples/ts_producer` (Node 20 and npm are needed)"
    );
    let output = tokio::process::Command::new("npm")
        .args(["run", "--silent", "build"])
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), output)
        .await
        .expect("npm run build ends")
        .expect("npm runs (Node 20 and npm are needed)");
    assert!(
        output.status.success(),
        "npm run build failed in examples/ts_producer:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the built example with `incidents` on its standard input.
async fn run(base: &str, key: &str, incidents: &str) -> std::process::Output {
    let mut child = tokio::process::Command::new("node")
        .arg(example_dir().join("dist/main.js"))
        .args(["--url", base, "--tenant", "acme"])
        .env("RAE_PIPELINE_API_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(incidents.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the TypeScript producer ends")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn the_typescript_producer_stores_each_incident_once() {
    build().await;
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml = format!(
        r#"
tenants:
  acme:
    rae_tenant_id: {ACME}
api_keys:
  - id: incidents
    key: "{KEY}"
    scopes: ["memories:write"]
    tenants: [acme]
"#
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &yaml)).await;
    let incidents = [
        json!({"id": "INC-42", "title": "Payments failing after deploy 2.4.1",
               "status": "resolved", "severity": "sev1", "service": "checkout",
               "summary": "Rolled back; the new retry policy exhausted the connection pool",
               "opened_at": "2026-11-24T10:02:00Z", "resolved_at": "2026-11-24T10:49:00Z",
               "url": "https://oncall.example.com/incidents/INC-42"}),
        json!({"id": "INC-43", "title": "Search latency above 2 s", "status": "triggered",
               "severity": "sev3", "service": "search", "opened_at": "2026-11-24T11:15:00Z"}),
    ]
    .iter()
    .map(|i| i.to_string() + "\n")
    .collect::<String>();

    let first = run(&pipeline.base, KEY, &incidents).await;
    let stdout = text(&first.stdout);
    assert!(first.status.success(), "{stdout}{}", text(&first.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("stored ") && lines[0].ends_with(" incident/INC-42/resolved"),
        "{stdout}"
    );
    assert!(lines[1].ends_with(" incident/INC-43/triggered"), "{stdout}");

    wait_for("both incidents in RAE", Duration::from_secs(10), || async {
        rae.stored().len() == 2
    })
    .await;
    let stored = rae.stored();
    let resolved = stored
        .iter()
        .find(|r| r.body["content"].as_str().unwrap().contains("INC-42"))
        .expect("INC-42 in RAE");
    assert_eq!(
        resolved.body["content"],
        "SEV1 incident INC-42 on checkout resolved after 47 min: Payments failing after deploy \
         2.4.1. Rolled back; the new retry policy exhausted the connection pool"
    );
    assert_eq!(resolved.body["importance"], json!(0.95));
    assert_eq!(resolved.headers["x-tenant-id"], ACME);
    let tags = resolved.body["tags"].as_array().unwrap();
    for tag in ["incident", "checkout", "sev1", "resolved"] {
        assert!(tags.contains(&json!(tag)), "{tags:?}");
    }

    // Run again (a re-sent export, a retry after a timeout): the idempotency keys make it a no-op.
    let again = run(&pipeline.base, KEY, &incidents).await;
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{stdout}{}", text(&again.stderr));
    assert!(
        stdout.lines().all(|l| l.starts_with("duplicate ")) && stdout.lines().count() == 2,
        "{stdout}"
    );
    let bus = pipeline.bus().clone();
    assert_eq!(
        stream_messages(&bus, rae_core::subjects::EVENTS_STREAM).await,
        2,
        "no second event"
    );

    // A wrong key is a clear failure, not a silent loss.
    let refused = run(&pipeline.base, "rpk_not_a_key_at_all_000000000", &incidents).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("pipeline answered 401: unauthorized: API key is not valid"),
        "{stderr}"
    );
    assert_eq!(text(&refused.stdout), "", "nothing reported as stored");
    pipeline.shutdown().await;
}
