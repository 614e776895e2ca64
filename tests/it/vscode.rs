//! The VS Code extension (`extensions/vscode`) in a real VS Code: code-server (VS Code for the
//! browser, npm, pinned by `tests/it/vscode/package-lock.json`) with the packaged `.vsix`
//! installed, in Debian's chromium driven by playwright-core (`tests/it/vscode/drive.mjs`), as
//! a person uses it, against the pipeline (`up`'s roles), a real nats-server and the fake RAE.
//! It selects code and presses Ctrl+Shift+M and checks the memory RAE received; recalls and
//! sees the result in the Recall view; sees the Related view; stops the pipeline, remembers,
//! starts it and sees the queued memory arrive once; and commits from VS Code's Source Control
//! with automatic code memory on.
//!
//! `scripts/test.sh` installs everything (chromium, code-server and playwright-core, the
//! `.vsix`); a missing piece fails the test with what to run. Screenshots of the views go to
//! `target/vscode-screenshots/`, or to `docs/` (the README's pictures) with
//! `RAE_UPDATE_SCREENSHOTS=1`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::harness::*;

/// How long one step in the browser may take (the driver's own waits are shorter).
const STEP_DEADLINE: Duration = Duration::from_secs(150);
/// How long a memory may take from VS Code to the fake RAE.
const ARRIVAL: Duration = Duration::from_secs(60);
const KEY: &str = "rpk_vscode_key_for_tests_00001";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What the test needs on the machine, or a panic saying how to get it.
struct Tools {
    node: PathBuf,
    chromium: PathBuf,
    code_server: PathBuf,
    vsix: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn tools() -> Tools {
    let tools_dir = root().join("tests/it/vscode/node_modules");
    let missing = |what: &str| -> ! {
        panic!(
            "{what} is missing: run scripts/test.sh, which installs Debian's chromium, code-server \
             and playwright-core (npm ci in tests/it/vscode) and packages the extension \
             (npm ci && npm run package in extensions/vscode)"
        )
    };
    let node = on_path("node").unwrap_or_else(|| missing("node (Debian's nodejs)"));
    let chromium = on_path("chromium").unwrap_or_else(|| missing("chromium (Debian's chromium)"));
    let code_server = tools_dir.join(".bin/code-server");
    if !code_server.exists() {
        missing("code-server (tests/it/vscode/node_modules)");
    }
    if !tools_dir.join("playwright-core").exists() {
        missing("playwright-core (tests/it/vscode/node_modules)");
    }
    let vsix = root().join("extensions/vscode/dist/rae-memory.vsix");
    if !vsix.exists() {
        missing("the packaged extension extensions/vscode/dist/rae-memory.vsix");
    }
    Tools {
        node,
        chromium,
        code_server,
        vsix,
    }
}

/// code-server in its own process group (its file watcher and extension host outlive the
/// main process otherwise), with its own home, data and extension directories.
struct CodeServer {
    child: std::process::Child,
    url: String,
    _dirs: tempfile::TempDir,
}

impl CodeServer {
    async fn start(tools: &Tools, settings: &Value) -> CodeServer {
        let dirs = tempfile::tempdir().unwrap();
        let (home, data, extensions) = (
            dirs.path().join("home"),
            dirs.path().join("data"),
            dirs.path().join("extensions"),
        );
        std::fs::create_dir_all(data.join("User")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            data.join("User/settings.json"),
            serde_json::to_string_pretty(settings).unwrap(),
        )
        .unwrap();
        let command = |args: &[&str]| {
            let mut c = std::process::Command::new(&tools.code_server);
            c.arg("--user-data-dir")
                .arg(&data)
                .arg("--extensions-dir")
                .arg(&extensions)
                .args(args)
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", home.join(".config"))
                .env("XDG_DATA_HOME", home.join(".local/share"))
                .env("EXTENSIONS_GALLERY", "{}");
            c
        };
        let installed = command(&["--install-extension"])
            .arg(&tools.vsix)
            .output()
            .expect("code-server runs");
        assert!(
            installed.status.success(),
            "installing the .vsix failed: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let child = {
            use std::os::unix::process::CommandExt;
            command(&[
                "--auth",
                "none",
                "--bind-addr",
                &bind,
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
            ])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("code-server starts")
        };
        let url = format!("http://{bind}");
        let server = CodeServer {
            child,
            url,
            _dirs: dirs,
        };
        let health = format!("{}/healthz", server.url);
        wait_for("code-server to answer", Duration::from_secs(60), || {
            let health = health.clone();
            async move { get(&health).await.is_some_and(|(s, _)| s == 200) }
        })
        .await;
        server
    }
}

impl Drop for CodeServer {
    fn drop(&mut self) {
        // The whole process group: code-server, its extension host and file watcher.
        kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

/// `drive.mjs`: one command a line, one JSON answer a line.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
}

impl Driver {
    fn start(tools: &Tools, server: &CodeServer, workspace: &Path, screenshots: &Path) -> Driver {
        let mut child = Command::new(&tools.node)
            .arg(root().join("tests/it/vscode/drive.mjs"))
            .env("CODE_SERVER_URL", &server.url)
            .env("WORKSPACE", workspace)
            .env("CHROMIUM", &tools.chromium)
            .env("SCREENSHOTS", screenshots)
            .env("HOME", workspace.parent().unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group, so the chromium it starts goes with it (Drop).
            .process_group(0)
            .spawn()
            .expect("node runs drive.mjs");
        let stdin = child.stdin.take().unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap()).lines();
        Driver {
            child,
            stdin,
            answers,
        }
    }

    /// Runs one command; panics with the driver's error when it fails.
    async fn run(&mut self, command: &str) -> Value {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        let line = tokio::time::timeout(STEP_DEADLINE, self.answers.next_line())
            .await
            .unwrap_or_else(|_| panic!("{command}: no answer from the browser driver"))
            .unwrap()
            .unwrap_or_else(|| panic!("{command}: the browser driver exited"));
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(answer["ok"], true, "{command}: {}", answer["error"]);
        answer
    }

    async fn quit(mut self) {
        self.run("quit").await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            kill_group(pid);
        }
    }
}

/// Kills process group `pgid` (a child started with `process_group(0)` and what it started).
fn kill_group(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status();
}

const CART: &str = "export const TAX = 0.2;

export class Cart {
  items: number[] = [];

  total(): number {
    const sum = this.items.reduce((a, b) => a + b, 0);
    // Round half up, as the 2025 audit asked.
    return Math.round(sum * (1 + TAX) * 100) / 100;
  }
}
";

/// A git repository `shop` with `src/cart.ts` committed and its own identity (VS Code's commit
/// runs git without the harness's environment); answers its path and HEAD.
fn workspace(dir: &Path) -> (PathBuf, String) {
    let repo = dir.join("shop");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(repo.join("src/cart.ts"), CART).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.name", "Ada Lovelace"]);
    git(&repo, &["config", "user.email", "ada@example.com"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "Cart totals"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    (repo, head)
}

/// The memories RAE stored whose content contains `text`.
fn stored_with(rae: &FakeRae, text: &str) -> Vec<Value> {
    rae.stored()
        .into_iter()
        .filter(|r| r.body["content"].as_str().is_some_and(|c| c.contains(text)))
        .map(|r| r.body)
        .collect()
}

async fn arrived(rae: &FakeRae, what: &str, text: &str) -> Value {
    wait_for(what, ARRIVAL, || async {
        !stored_with(rae, text).is_empty()
    })
    .await;
    stored_with(rae, text).remove(0)
}

#[tokio::test]
async fn the_extension_remembers_recalls_and_queues_in_a_real_vs_code() {
    let tools = tools();
    let screenshots = if std::env::var_os("RAE_UPDATE_SCREENSHOTS").is_some() {
        root().join("docs")
    } else {
        root().join("target/vscode-screenshots")
    };
    std::fs::create_dir_all(&screenshots).unwrap();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.set_query_answer(
        Duration::ZERO,
        json!({"results": [{"id": "m-1", "content": "Totals round half up because of the 2025 audit",
            "score": 0.93, "timestamp": "2026-12-01T09:00:00Z", "tags": ["billing"],
            "metadata": {"origin": "vscode", "path": "src/cart.ts",
                "url": "https://git.example.com/shop/commit/1"}}], "total_count": 1}),
    );
    let dir = tempfile::tempdir().unwrap();
    let (repo, head) = workspace(dir.path());
    let mut config = test_config(
        &nats,
        &rae,
        &format!(
            "api_keys:\n  - {{ id: vscode, key: {KEY}, scopes: [\"memories:write\", \"memories:read\"], tenants: [default-tenant] }}\n"
        ),
    );
    // A fixed port: the pipeline is stopped and started again at the same address.
    config.ingress.listen = format!("127.0.0.1:{}", free_port());
    let mut pipeline = Pipeline::start(&config).await;
    let server = CodeServer::start(
        &tools,
        &json!({
            "rae.ingressUrl": pipeline.base,
            "rae.autoCommitMemory": true,
            "workbench.startupEditor": "none",
            "workbench.tips.enabled": false,
            "security.workspace.trust.enabled": false,
            "telemetry.telemetryLevel": "off",
            "extensions.autoCheckUpdates": false,
            "extensions.autoUpdate": false,
            "update.mode": "none",
            "git.enableSmartCommit": true,
            "git.autofetch": false,
            "git.confirmSync": false,
            "chat.commandCenter.enabled": false,
        }),
    )
    .await;
    let mut vscode = Driver::start(&tools, &server, &repo, &screenshots);
    vscode.run("open").await;
    vscode.run(&format!("set-key {KEY}")).await;

    // Select the method, Ctrl+Shift+M, a note with a tag and an importance, Enter.
    vscode
        .run("remember src/cart.ts 6 10 why totals round #billing !high")
        .await;
    let memory = arrived(&rae, "the remembered selection in RAE", "why totals round").await;
    let content = memory["content"].as_str().unwrap();
    assert!(
        content.contains("src/cart.ts lines 6-10")
            && content.contains("```typescript\n  total(): number {\n")
            && content.contains("return Math.round(sum * (1 + TAX) * 100) / 100;\n  }\n```"),
        "{content}"
    );
    let facts = &memory["metadata"]["attributes"];
    assert_eq!(facts["path"], "src/cart.ts", "{memory}");
    assert_eq!(facts["language"], "typescript");
    assert_eq!(
        (facts["line_start"].clone(), facts["line_end"].clone()),
        (json!(6), json!(10))
    );
    assert_eq!(facts["commit"], head.as_str());
    assert_eq!(facts["branch"], "main");
    assert_eq!(facts["repository"], "shop");
    assert_eq!(facts["origin"], "vscode");
    assert_eq!(memory["project"], "shop", "the workspace folder's name");
    assert_eq!(memory["importance"], 0.8);
    assert!(
        memory["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("billing")),
        "{memory}"
    );

    // Recall: the result shows in the Recall view with its score, source and age.
    let recalled = vscode.run("recall totals Totals round half up").await;
    let row = recalled["row"].as_str().unwrap();
    assert!(row.contains("0.93 · vscode ·"), "{row}");
    let queries = rae.requests_to("/v2/memories/query");
    assert!(
        queries
            .iter()
            .any(|q| q.body["query"] == "totals" && q.body["project"] == "shop"),
        "{queries:?}"
    );
    vscode.run("screenshot vscode-recall").await;

    // The Related view asks by the file's path and symbols and lists what RAE found.
    vscode.run("related src/cart.ts Totals round half up").await;
    assert!(
        rae.requests_to("/v2/memories/query")
            .iter()
            .any(|q| q.body["query"]
                .as_str()
                .is_some_and(|t| t.starts_with("src/cart.ts cart"))),
        "no related query"
    );
    vscode.run("screenshot vscode-related").await;
    vscode.run("status is answering").await;

    // The pipeline stops; a memory made meanwhile waits in the queue, visibly.
    pipeline.shutdown().await;
    vscode
        .run("remember src/cart.ts 1 1 tax rate is fixed #config")
        .await;
    vscode.run("status 1 memory waiting").await;
    vscode.run("screenshot vscode-queued").await;
    assert!(stored_with(&rae, "tax rate is fixed").is_empty());

    // It starts again: the queued memory arrives, once.
    let pipeline = Pipeline::start(&config).await;
    let queued = arrived(&rae, "the queued memory in RAE", "tax rate is fixed").await;
    assert_eq!(queued["metadata"]["attributes"]["line_start"], 1);
    let label = vscode.run("status is answering").await;
    assert!(
        !label["label"].as_str().unwrap().contains("waiting"),
        "{label}"
    );
    let id = queued["metadata"]["event_id"].as_str().unwrap();
    assert_eq!(events_with_id(pipeline.bus(), id).await.len(), 1);
    assert_eq!(stored_with(&rae, "tax rate is fixed").len(), 1);

    // Automatic code memory: a commit from Source Control becomes a memory with the git
    // watcher's id for that commit.
    vscode.run("commit src/cart.ts Document the rounding").await;
    let mut new_head = head.clone();
    wait_for("the commit made in VS Code", ARRIVAL, || {
        new_head = git(&repo, &["rev-parse", "HEAD"]);
        let moved = new_head != head;
        async move { moved }
    })
    .await;
    let commit = arrived(&rae, "the commit memory in RAE", "Document the rounding").await;
    assert_eq!(
        commit["metadata"]["event_id"],
        rae_core::event::commit_id("git", "default-tenant", "shop", &new_head),
        "{commit}"
    );
    assert_eq!(commit["metadata"]["kind"], "commit");
    assert_eq!(
        commit["metadata"]["attributes"]["commit"],
        new_head.as_str()
    );
    let text = commit["content"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "Commit {} on main in shop by Ada Lovelace: Document the rounding",
            &new_head[..7]
        )) && text.ends_with("Files:\n- src/cart.ts"),
        "{text}"
    );

    let activation = vscode.run("activation").await;
    eprintln!("the extension's {}", activation["activation"]);
    vscode.quit().await;
    drop(server);
    let mut pipeline = pipeline;
    pipeline.shutdown().await;
}
