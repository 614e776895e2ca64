//! The git watcher on real repositories made with the `git` command: what reaches NATS and the
//! fake RAE for new commits, merges, reverts, migrations, lockfiles, TODOs, binary files and
//! non-UTF-8 paths; restarts; force-pushes and branch switches; debounced uncommitted edits;
//! repositories that are broken or missing; and `rae-pipeline git-watch` itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::harness::*;

const WAIT: Duration = Duration::from_secs(20);

fn init(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
}

/// Writes `files` (path, content), stages everything and commits; answers the new sha.
fn commit(dir: &Path, files: &[(&str, &[u8])], message: &str) -> String {
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn git_yaml(repos: &str, extra: &str) -> String {
    format!(
        "  - id: git\n    config:\n      poll_interval_ms: 100\n      debounce_ms: 300\n      initial_commits: 3\n{extra}      repositories:\n{repos}"
    )
}

/// The git events in `RAE_EVENTS`, in order.
async fn git_events(pipeline: &Pipeline) -> Vec<Value> {
    stream_json(pipeline.bus(), rae_core::subjects::EVENTS_STREAM)
        .await
        .into_iter()
        .filter(|e| e["source"] == "git")
        .collect()
}

/// Waits until `count` git events are in `RAE_EVENTS` and answers them.
async fn wait_for_events(pipeline: &Pipeline, count: usize) -> Vec<Value> {
    wait_for(&format!("{count} git events"), WAIT, || async {
        git_events(pipeline).await.len() >= count
    })
    .await;
    git_events(pipeline).await
}

fn sha_of(event: &Value) -> &str {
    event["attributes"]["sha"].as_str().unwrap_or_default()
}

/// Every message published on `rae.events.*.git.>` from now on, duplicates included
/// (JetStream stores a republished id once; a plain subscriber sees every publish).
async fn record_publishes(nats: &NatsServer) -> Arc<Mutex<Vec<Value>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut sub = client.subscribe("rae.events.*.git.>").await.unwrap();
    client.flush().await.unwrap();
    let sink = seen.clone();
    tokio::spawn(async move {
        let _client = client;
        while let Some(message) = sub.next().await {
            let value = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
            sink.lock().unwrap().push(value);
        }
    });
    seen
}

#[tokio::test]
async fn commits_merges_reverts_and_special_files_become_the_right_memories() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("shop");
    init(&repo);
    let mut history = Vec::new();
    for i in 0..8 {
        history.push(commit(
            &repo,
            &[("README.md", format!("v{i}\n").as_bytes())],
            &format!("Old commit {i}"),
        ));
    }
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let repos = format!(
        "        - {{ path: {}, project: shop, branches: [main] }}\n",
        repo.display()
    );
    let config = test_config(
        &nats,
        &rae,
        &git_yaml(&repos, "      watch_patterns: [\"*.py\"]\n"),
    );
    let mut pipeline = Pipeline::start(&config).await;

    // First sight of an existing repository: its 3 newest commits, not its history.
    let first = wait_for_events(&pipeline, 3).await;
    let shas: Vec<&str> = first.iter().map(sha_of).collect();
    assert_eq!(
        shas,
        history[5..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(first.iter().all(|e| e["kind"] == "commit"));
    assert_eq!(first[2]["project"], "shop");
    assert_eq!(first[2]["attributes"]["branch"], "main");

    let migration = commit(
        &repo,
        &[
            (
                "db/migrations/0002_add_index.sql",
                b"CREATE INDEX i ON orders(id);\n",
            ),
            (
                "app/orders.py",
                b"def total(order):\n    # TODO: taxes\n    return 0\n",
            ),
        ],
        "Add orders index\n\nQueries on orders were slow.",
    );
    let lockfile = commit(
        &repo,
        &[("Cargo.lock", b"[[package]]\nname = \"x\"\n")],
        "Bump deps",
    );
    let png: &[u8] = &[0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2, 3, 0, 0xff];
    let binary = commit(&repo, &[("static/logo.png", png)], "Add logo");
    #[cfg(unix)]
    let odd = {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.py");
        std::fs::write(repo.join(name), b"print('hi')\n").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "Add a Latin-1 file name"]);
        git(&repo, &["rev-parse", "HEAD"])
    };
    git(&repo, &["checkout", "-q", "-b", "feature/cart"]);
    let feature = commit(&repo, &[("app/cart.py", b"CART = []\n")], "Add cart");
    git(&repo, &["checkout", "-q", "main"]);
    git(
        &repo,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge branch 'feature/cart'",
            "feature/cart",
        ],
    );
    let merge = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["revert", "--no-edit", &binary]);
    let revert = git(&repo, &["rev-parse", "HEAD"]);

    // migration (+ its .py file_change), lockfile, binary, odd (+ file_change), feature
    // (+ file_change), merge (its files are the feature's), revert: 3 + 10.
    let events = wait_for_events(&pipeline, 13).await;
    let by_kind_sha: HashMap<(String, String), &Value> = events
        .iter()
        .map(|e| {
            (
                (e["kind"].as_str().unwrap().to_owned(), sha_of(e).to_owned()),
                e,
            )
        })
        .collect();
    let get = |kind: &str, sha: &str| {
        *by_kind_sha
            .get(&(kind.to_owned(), sha.to_owned()))
            .unwrap_or_else(|| panic!("no {kind} event for {sha} in {events:#?}"))
    };
    let tags = |e: &Value| -> Vec<String> {
        e["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };

    let m = get("commit", &migration);
    assert_eq!(tags(m), ["git", "commit", "todo", "migration"]);
    assert!(
        m["content"].as_str().unwrap().starts_with(&format!(
            "Commit {} on main in shop by Alice: Add orders index\n\nQueries on orders were slow.\n\nFiles (2 changed, +4 -0):",
            &migration[..7]
        )),
        "{}",
        m["content"]
    );
    assert_eq!(m["actor"], "Alice");
    assert_eq!(m["attributes"]["files_changed"], 2);
    let py = get("file_change", &migration);
    assert_eq!(py["attributes"]["path"], "app/orders.py");
    assert_eq!(tags(py), ["git", "file-change", "todo"]);
    assert!(py["content"].as_str().unwrap().contains("# TODO: taxes"));

    assert_eq!(
        tags(get("commit", &lockfile)),
        ["git", "commit", "dependencies"]
    );
    let b = get("commit", &binary);
    assert!(b["content"]
        .as_str()
        .unwrap()
        .contains("A static/logo.png (binary)"));
    assert_eq!(b["attributes"]["files"][0]["binary"], true);
    #[cfg(unix)]
    {
        let o = get("commit", &odd);
        assert!(
            o["content"].as_str().unwrap().contains("caf\u{fffd}.py"),
            "{o}"
        );
        assert_eq!(
            get("file_change", &odd)["attributes"]["path"],
            "caf\u{fffd}.py"
        );
    }
    let f = get("commit", &feature);
    assert_eq!(
        f["attributes"]["branch"], "main",
        "merged commits are reported on the watched branch"
    );
    let mg = get("merge", &merge);
    assert_eq!(tags(mg), ["git", "merge"]);
    assert!(mg["content"].as_str().unwrap().contains(&format!(
        "Brings in 1 commit:\n- {} Add cart",
        &feature[..7]
    )));
    let r = get("commit", &revert);
    assert_eq!(tags(r), ["git", "commit", "revert"]);
    assert_eq!(r["attributes"]["reverts"], binary.as_str());
    assert_eq!(
        events.len(),
        13,
        "no file_change for the merge: {events:#?}"
    );

    // Everything reaches RAE once, with the enricher's importance and the watcher's tags.
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    wait_for("every git event stored in RAE", WAIT, || async {
        let stored = rae.stored_event_ids();
        ids.iter().all(|id| stored.contains_key(id))
    })
    .await;
    assert!(rae.stored_event_ids().values().all(|n| *n == 1));
    let memory = rae
        .stored()
        .into_iter()
        .find(|r| r.body["metadata"]["event_id"] == m["id"])
        .unwrap();
    assert_eq!(
        memory.body["importance"], 0.5,
        "base rule git/commit 0.4, +0.1 risky-change for the migration tag"
    );
    assert_eq!(
        memory.body["tags"],
        serde_json::json!(["git", "commit", "todo", "migration"])
    );
    assert_eq!(
        memory.body["metadata"]["attributes"]["sha"],
        migration.as_str()
    );
    assert_eq!(memory.body["project"], "shop");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_restart_in_the_middle_neither_misses_nor_repeats_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("svc");
    init(&repo);
    let a = commit(&repo, &[("a.txt", b"a")], "A");
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let repos = format!("        - {{ path: {} }}\n", repo.display());
    let config = test_config(&nats, &rae, &git_yaml(&repos, ""));
    let mut pipeline = Pipeline::start(&config).await;
    let b = commit(&repo, &[("b.txt", b"b")], "B");
    let events = wait_for_events(&pipeline, 2).await;
    assert_eq!(events.iter().map(sha_of).collect::<Vec<_>>(), [&a, &b]);
    pipeline.shutdown().await;

    // Committed while nobody watches.
    let c = commit(&repo, &[("c.txt", b"c")], "C");
    let d = commit(&repo, &[("d.txt", b"d")], "D");
    let published = record_publishes(&nats).await;
    let mut pipeline = Pipeline::start(&config).await;
    let e = commit(&repo, &[("e.txt", b"e")], "E");
    let events = wait_for_events(&pipeline, 5).await;
    assert_eq!(
        events.iter().map(sha_of).collect::<Vec<_>>(),
        [&a, &b, &c, &d, &e]
    );
    wait_for("E published", WAIT, || async {
        published.lock().unwrap().iter().any(|p| sha_of(p) == e)
    })
    .await;
    let again: Vec<String> = published
        .lock()
        .unwrap()
        .iter()
        .map(|p| sha_of(p).to_owned())
        .collect();
    assert_eq!(
        again,
        [c.clone(), d.clone(), e.clone()],
        "nothing before the cursor is published again"
    );

    let cursor = pipeline
        .bus()
        .js
        .get_key_value("rae_state")
        .await
        .unwrap()
        .get("git.git.svc.main")
        .await
        .unwrap()
        .expect("cursor stored");
    let cursor: Value = serde_json::from_slice(&cursor).unwrap();
    assert_eq!(cursor["commits"], serde_json::json!([e]));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_force_push_is_noted_once_and_a_branch_switch_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("origin.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    let work = dir.path().join("work");
    git(dir.path(), &["clone", "-q", bare.to_str().unwrap(), "work"]);
    let base = commit(&work, &[("a.txt", b"1")], "Base");
    let x = commit(&work, &[("a.txt", b"2")], "X");
    let y = commit(&work, &[("a.txt", b"3")], "Y");
    git(&work, &["push", "-q", "origin", "main"]);

    let local = dir.path().join("local");
    init(&local);
    let l1 = commit(&local, &[("l.txt", b"1")], "L1");

    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let repos = format!(
        "        - {{ path: {}, name: origin, branches: [main] }}\n        - {{ path: {} }}\n",
        bare.display(),
        local.display()
    );
    let config = test_config(&nats, &rae, &git_yaml(&repos, ""));
    let published = record_publishes(&nats).await;
    let mut pipeline = Pipeline::start(&config).await;
    wait_for_events(&pipeline, 4).await;

    // Rewrite main: drop X and Y, add Z, force-push; then a normal push of W.
    git(&work, &["reset", "-q", "--hard", &base]);
    let z = commit(&work, &[("a.txt", b"z")], "Z");
    git(&work, &["push", "-q", "--force", "origin", "main"]);
    wait_for("the rewrite noticed", WAIT, || async {
        git_events(&pipeline).await.iter().any(|e| sha_of(e) == z)
    })
    .await;
    let w = commit(&work, &[("a.txt", b"w")], "W");
    git(&work, &["push", "-q", "origin", "main"]);

    // Follow HEAD of the local repository onto a new branch, then back.
    git(&local, &["checkout", "-q", "-b", "topic"]);
    let t1 = commit(&local, &[("t.txt", b"1")], "T1");
    wait_for("the topic commit", WAIT, || async {
        git_events(&pipeline).await.iter().any(|e| sha_of(e) == t1)
    })
    .await;
    git(&local, &["checkout", "-q", "main"]);
    let l2 = commit(&local, &[("l.txt", b"2")], "L2");
    wait_for("W and L2", WAIT, || async {
        let events = git_events(&pipeline).await;
        events.iter().any(|e| sha_of(e) == w) && events.iter().any(|e| sha_of(e) == l2)
    })
    .await;

    let events = git_events(&pipeline).await;
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["attributes"]["repository"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
                sha_of(e).to_owned(),
            )
        })
        .collect();
    let rewrites: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "history_rewritten")
        .collect();
    assert_eq!(rewrites.len(), 1, "{summary:?}");
    let rewrite = rewrites[0];
    assert_eq!(rewrite["attributes"]["old"], serde_json::json!([y]));
    assert_eq!(rewrite["attributes"]["new"], z.as_str());
    assert_eq!(rewrite["attributes"]["dropped_commits"], 2);
    assert!(rewrite["content"]
        .as_str()
        .unwrap()
        .contains(&format!("- {} Y", &y[..7])));
    let commits = |repo: &str| -> Vec<String> {
        summary
            .iter()
            .filter(|(r, k, _)| r == repo && k == "commit")
            .map(|(_, _, s)| s.clone())
            .collect()
    };
    assert_eq!(
        commits("origin"),
        [&base, &x, &y, &z, &w].map(String::clone)
    );
    assert_eq!(commits("local"), [&l1, &t1, &l2].map(String::clone));
    let topic = events.iter().find(|e| sha_of(e) == t1).unwrap();
    assert_eq!(topic["attributes"]["branch"], "topic");
    let rewrite_publishes = published
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "history_rewritten")
        .count();
    assert_eq!(
        rewrite_publishes, 1,
        "the rewrite is published once, not every poll"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn uncommitted_edits_are_debounced_and_broken_repositories_do_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    init(&good);
    commit(
        &good,
        &[("app.py", b"x = 1\n"), ("dirty_at_start.py", b"a\n")],
        "Start",
    );
    std::fs::write(
        good.join("dirty_at_start.py"),
        b"edited before the watcher\n",
    )
    .unwrap();
    let later = dir.path().join("later");
    let corrupt = dir.path().join("corrupt");
    init(&corrupt);
    commit(&corrupt, &[("c.txt", b"c")], "C");
    let missing_branch = dir.path().join("nobranch");
    init(&missing_branch);
    commit(&missing_branch, &[("n.txt", b"n")], "N");

    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let repos = format!(
        "        - {{ path: {}, working_tree: true }}\n        - {{ path: {} }}\n        - {{ path: {} }}\n        - {{ path: {}, branches: [release] }}\n",
        good.display(),
        later.display(),
        corrupt.display(),
        missing_branch.display()
    );
    let config = test_config(
        &nats,
        &rae,
        &git_yaml(&repos, "      watch_patterns: [\"*.py\"]\n"),
    );
    let mut pipeline = Pipeline::start(&config).await;
    // good's first commit and its two .py files, corrupt's first commit.
    wait_for_events(&pipeline, 4).await;

    // Break `corrupt`: main moves to a commit whose tree object is gone.
    std::fs::write(corrupt.join("c.txt"), b"broken").unwrap();
    git(&corrupt, &["add", "-A"]);
    let tree = git(&corrupt, &["write-tree"]);
    let broken = git(
        &corrupt,
        &["commit-tree", &tree, "-p", "HEAD", "-m", "Broken"],
    );
    std::fs::remove_file(corrupt.join(format!(".git/objects/{}/{}", &tree[..2], &tree[2..])))
        .unwrap();
    git(&corrupt, &["update-ref", "refs/heads/main", &broken]);

    // A burst of saves of one file: one event, with the last content.
    for i in 0..20 {
        std::fs::write(good.join("app.py"), format!("x = 1\n# TODO: step {i}\n")).unwrap();
    }
    std::fs::write(good.join("notes.txt"), b"not watched\n").unwrap();
    // An unreadable watched file is skipped and logged (root reads it anyway: then it is a
    // normal edit).
    let locked = good.join("locked.py");
    std::fs::write(&locked, b"secret = 1\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let locked_readable = std::fs::File::open(&locked).is_ok();
    wait_for("the settled edit", WAIT, || async {
        git_events(&pipeline)
            .await
            .iter()
            .any(|e| e["attributes"]["change_origin"] == "working_tree")
    })
    .await;

    // The repository that did not exist at start is picked up once it does.
    init(&later);
    let late = commit(&later, &[("l.txt", b"l")], "Late");
    // And `good` keeps reporting commits while `corrupt` fails.
    let fixed = commit(&good, &[("app.py", b"x = 2\n")], "Commit the edit");
    wait_for("commits of later and good", WAIT, || async {
        let events = git_events(&pipeline).await;
        events.iter().any(|e| sha_of(e) == late) && events.iter().any(|e| sha_of(e) == fixed)
    })
    .await;

    let events = git_events(&pipeline).await;
    // (Committing writes app.py before `git commit`; a slow commit could make that state settle
    // too, so only the burst's edits are counted.)
    let edits: Vec<&Value> = events
        .iter()
        .filter(|e| e["attributes"]["change_origin"] == "working_tree")
        .filter(|e| e["content"].as_str().unwrap().contains("TODO: step"))
        .collect();
    assert_eq!(edits.len(), 1, "{edits:#?}");
    let edit = edits[0];
    assert_eq!(edit["kind"], "file_change");
    assert_eq!(edit["attributes"]["path"], "app.py");
    assert_eq!(
        edit["tags"],
        serde_json::json!(["git", "file-change", "uncommitted", "todo"])
    );
    assert!(
        edit["content"]
            .as_str()
            .unwrap()
            .starts_with("Uncommitted edit in good: app.py modified (+1 -0 against HEAD)"),
        "{edit}"
    );
    assert!(edit["content"]
        .as_str()
        .unwrap()
        .contains("# TODO: step 19"));
    assert!(
        events.iter().all(|e| sha_of(e) != broken),
        "an unreadable commit is not reported"
    );
    assert!(events
        .iter()
        .all(|e| e["attributes"]["repository"] != "nobranch"));
    if !locked_readable {
        assert!(
            events
                .iter()
                .all(|e| e["attributes"]["path"] != "locked.py"),
            "an unreadable file is skipped"
        );
    }

    // Repaired, the corrupt repository catches up without losing the commit.
    git(&corrupt, &["update-ref", "refs/heads/main", "HEAD~1"]);
    git(&corrupt, &["reset", "-q", "--hard"]);
    let after = commit(&corrupt, &[("c.txt", b"repaired")], "Repaired");
    wait_for("the repaired repository", WAIT, || async {
        git_events(&pipeline)
            .await
            .iter()
            .any(|e| sha_of(e) == after)
    })
    .await;
    pipeline.shutdown().await;
}

const BIN: &str = env!("CARGO_BIN_EXE_rae-pipeline");

fn cli(dir: &Path, nats: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NATS_URL", nats)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

#[tokio::test]
async fn git_watch_command_runs_the_watcher_alone_and_refuses_paths_that_are_not_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), "nats://127.0.0.1:1")
        .args(["git-watch", "--repo", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a git repository"), "{stderr}");
    // git's sentence, without libgit2's internals.
    assert!(
        !stderr.contains("class=") && !stderr.contains("code="),
        "{stderr}"
    );
    let out = cli(dir.path(), "nats://127.0.0.1:1")
        .arg("git-watch")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --repo PATH"));

    let repo: PathBuf = dir.path().join("tool");
    init(&repo);
    let first = commit(&repo, &[("main.py", b"print(1)\n")], "First");
    let nats = NatsServer::start();
    let mut child = cli(dir.path(), &nats.url())
        .args([
            "git-watch",
            "--repo",
            repo.to_str().unwrap(),
            "--watch-patterns",
            "*.py,*.md",
        ])
        .args(["--tenant", "default-tenant", "--poll-interval-ms", "100"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let options = rae_core::config::NatsConfig {
        url: nats.url(),
        ..Default::default()
    };
    let bus = rae_core::bus::Bus::connect(&options, "test").await.unwrap();
    let events = || async {
        match bus.stream(rae_core::subjects::EVENTS_STREAM).await {
            Ok(_) => stream_json(&bus, rae_core::subjects::EVENTS_STREAM).await,
            Err(_) => Vec::new(),
        }
    };
    wait_for("the first commit and its file", WAIT, || async {
        events().await.len() == 2
    })
    .await;
    let got = events().await;
    assert_eq!(sha_of(&got[0]), first);
    assert_eq!(got[1]["kind"], "file_change");
    let enriched = bus
        .stream(rae_core::subjects::ENRICHED_STREAM)
        .await
        .unwrap();
    assert_eq!(
        enriched.get_info().await.unwrap().state.messages,
        0,
        "only the watcher runs"
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A repository of `commits` commits over `files` files, made with `git fast-import`.
fn large_repository(dir: &Path, commits: usize, files: usize) {
    use std::io::Write;
    init(dir);
    let mut stream = Vec::new();
    let data = |out: &mut Vec<u8>, text: &str| {
        out.extend_from_slice(format!("data {}\n{text}\n", text.len()).as_bytes());
    };
    for n in 1..=commits {
        stream.extend_from_slice(
            format!(
                "commit refs/heads/main\nmark :{n}\ncommitter Alice <alice@example.com> {} +0000\n",
                1_700_000_000 + n * 60
            )
            .as_bytes(),
        );
        data(&mut stream, &format!("Change {n}"));
        if n > 1 {
            stream.extend_from_slice(format!("from :{}\n", n - 1).as_bytes());
        }
        let touched: Vec<usize> = if n == 1 {
            (0..files).collect()
        } else {
            vec![(n * 7) % files, (n * 13) % files]
        };
        for f in touched {
            stream
                .extend_from_slice(format!("M 100644 inline src/m{}/f{f}.py\n", f % 50).as_bytes());
            data(&mut stream, &format!("def f{f}():\n    return {n}\n"));
        }
    }
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
    git(dir, &["reset", "-q", "--hard", "main"]);
}

#[tokio::test]
#[ignore = "measurement (about a minute): cargo test --release --test it measure_git -- --ignored --nocapture"]
async fn measure_git_watch_on_10000_commits_and_5000_files() {
    use rae_git_watch::{patterns::Globs, scan};
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("big");
    let started = Instant::now();
    large_repository(&repo, 10_000, 5_000);
    eprintln!(
        "built 10000 commits / 5000 files in {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let opened = scan::open(&repo).unwrap();
    let tip = scan::resolve(&opened, "main").unwrap().unwrap();
    eprintln!("open + resolve main: {:?}", started.elapsed());
    let started = Instant::now();
    let observed = scan::observe_worktree(&opened, &Globs::new(&["*.py".into()])).unwrap();
    eprintln!(
        "working-tree status of 5000 files: {:?} ({} changed)",
        started.elapsed(),
        observed.len()
    );
    let started = Instant::now();
    let steps = scan::plan(
        &opened,
        &scan::PlanInput {
            branch: "main",
            tip,
            cursor: None,
            others: &[],
            initial_commits: 10,
            markers: &[],
        },
    )
    .unwrap();
    eprintln!(
        "first sight (10 newest commits): {:?} ({} items)",
        started.elapsed(),
        steps[0].items.len()
    );

    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml = format!(
        "  - id: git\n    config:\n      working_tree: true\n      watch_patterns: [\"*.py\"]\n      repositories:\n        - {{ path: {} }}\n",
        repo.display()
    );
    let config = test_config(&nats, &rae, &yaml);
    let roles = rae_pipeline::app::Roles {
        ingress: false,
        enricher: false,
        writer: false,
        git_watch: true,
    };
    let started = Instant::now();
    let mut pipeline = Pipeline::start_roles(&config, roles).await;
    // The first sight of the branch: its 10 newest commits (and their .py files).
    let commits = |events: Vec<Value>| events.iter().filter(|e| e["kind"] == "commit").count();
    wait_for("the first sight", Duration::from_secs(120), || async {
        commits(git_events(&pipeline).await) == 10
    })
    .await;
    eprintln!(
        "start to the 10 newest commits stored (default settings, 2 s poll): {:?}",
        started.elapsed()
    );
    let mut latencies = Vec::new();
    for i in 0..5 {
        let before = git_events(&pipeline).await.len();
        let sha = commit(
            &repo,
            &[("src/m1/f1.py", format!("x = {i}\n").as_bytes())],
            &format!("New {i}"),
        );
        let committed = Instant::now();
        wait_for("the new commit", Duration::from_secs(30), || async {
            git_events(&pipeline)
                .await
                .iter()
                .skip(before)
                .any(|e| sha_of(e) == sha)
        })
        .await;
        latencies.push(committed.elapsed());
    }
    eprintln!("new commit to its event (poll interval 2 s): {latencies:?}");
    pipeline.shutdown().await;
}

/// A commit memory from an editor (the VS Code extension names the commit in `git_commit` of
/// `POST /api/v1/memories`) and the watcher's event of the same commit share one id
/// (`rae_core::event::commit_id`), remembered for days in `rae_dedupe`: whichever comes first
/// is stored, the other is a duplicate, so running both stores each commit once.
#[tokio::test]
async fn a_commit_sent_from_an_editor_and_seen_by_the_watcher_is_stored_once() {
    const KEY: &str = "rpk_editor_key_for_tests_0001";
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("shop");
    init(&repo);
    let first = commit(&repo, &[("a.txt", b"1")], "First");
    let extra = format!(
        "{}api_keys:\n  - {{ id: editor, key: {KEY}, scopes: [\"memories:write\"], tenants: [default-tenant] }}\n",
        git_yaml(&format!("        - {{ path: {} }}\n", repo.display()), "")
    );
    let mut config = test_config(&nats, &rae, &extra);
    // JetStream's own duplicate window, one second, is outlasted before each second send, so
    // only `rae_dedupe` can keep the commit from being stored twice.
    config.nats.duplicate_window_secs = 1;
    let window_passed = |since: std::time::Instant| async move {
        wait_for(
            "JetStream's duplicate window to pass",
            WAIT,
            || async move { since.elapsed() > Duration::from_millis(1_500) },
        )
        .await;
    };
    let id = |sha: &str| rae_core::event::commit_id("git", "default-tenant", "shop", sha);
    let from_editor = |sha: &str| {
        serde_json::json!({"content": format!("Commit {} from the editor", &sha[..7]),
            "source": "vscode", "kind": "commit",
            "git_commit": {"repository": "shop", "sha": sha}})
        .to_string()
    };
    let headers = [
        ("authorization", "Bearer rpk_editor_key_for_tests_0001"),
        ("content-type", "application/json"),
    ];
    let stored = |sha: String| {
        let rae = &rae;
        async move { rae.stored_event_ids().get(&id(&sha)).copied().unwrap_or(0) }
    };

    // The editor first: the API stores it under the watcher's id.
    let mut api = Pipeline::start_roles(
        &config,
        rae_pipeline::app::Roles {
            git_watch: false,
            ..rae_pipeline::app::Roles::ALL
        },
    )
    .await;
    let (status, answer, _) = api
        .post("/api/v1/memories", &from_editor(&first), &headers)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["id"], id(&first));
    assert_eq!(answer["duplicate"], false);
    let sent = std::time::Instant::now();
    wait_for("the editor's commit memory", WAIT, || {
        let n = stored(first.clone());
        async move { n.await >= 1 }
    })
    .await;
    window_passed(sent).await;

    // Then the watcher starts and sees it (and a newer commit): only the newer one is stored.
    let second = commit(&repo, &[("b.txt", b"2")], "Second");
    let mut watcher = Pipeline::start_roles(
        &config,
        rae_pipeline::app::Roles {
            ingress: false,
            enricher: false,
            writer: false,
            git_watch: true,
        },
    )
    .await;
    wait_for("the watcher's memory of the newer commit", WAIT, || {
        let n = stored(second.clone());
        async move { n.await >= 1 }
    })
    .await;
    let of_first: Vec<_> = rae
        .stored()
        .into_iter()
        .filter(|r| r.body["metadata"]["event_id"] == id(&first))
        .collect();
    assert_eq!(of_first.len(), 1, "the first commit was stored twice");
    assert_eq!(
        of_first[0].body["content"],
        format!("Commit {} from the editor", &first[..7])
    );

    // The watcher first: the editor's memory of the commit is answered as a duplicate.
    let third = commit(&repo, &[("c.txt", b"3")], "Third");
    wait_for("the watcher's memory of the third commit", WAIT, || {
        let n = stored(third.clone());
        async move { n.await >= 1 }
    })
    .await;
    window_passed(std::time::Instant::now()).await;
    let (status, answer, _) = api
        .post(
            "/api/v1/memories",
            &from_editor(&third.to_uppercase()),
            &headers,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["id"], id(&third));
    assert_eq!(answer["duplicate"], true, "{answer}");
    assert_eq!(events_with_id(api.bus(), &id(&third)).await.len(), 1);
    assert_eq!(stored(third).await, 1);
    watcher.shutdown().await;
    api.shutdown().await;
}
