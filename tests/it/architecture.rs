//! The crate graph is the architecture: producers, consumers and the console depend on the core
//! and never on each other, and heavy protocol crates are linked only by the component that speaks them. The
//! compiler keeps a crate from using one it does not depend on; this test keeps the manifests
//! from adding such a dependency.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Every workspace crate's dependencies on other workspace crates, and on all crates.
fn workspace() -> BTreeMap<String, (String, Vec<String>)> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
    let root = metadata["workspace_root"].as_str().unwrap().to_owned();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_owned();
            let dir = p["manifest_path"]
                .as_str()
                .unwrap()
                .trim_start_matches(&root)
                .trim_start_matches('/')
                .trim_end_matches("Cargo.toml")
                .trim_end_matches('/')
                .to_owned();
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null()) // normal dependencies, not dev or build
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (name, (dir, deps))
        })
        .collect()
}

#[test]
fn producers_and_consumers_depend_on_the_core_only() {
    let crates = workspace();
    let members: Vec<&String> = crates.keys().collect();
    let mut checked = 0;
    for (name, (dir, deps)) in &crates {
        if !(dir.starts_with("producers/") || dir == "consumers" || dir == "console") {
            continue;
        }
        checked += 1;
        let internal: Vec<&String> = deps.iter().filter(|d| members.contains(d)).collect();
        assert_eq!(
            internal,
            ["rae-core"],
            "{name} ({dir}) may depend on rae-core only among the workspace crates"
        );
    }
    assert_eq!(
        checked, 6,
        "four producer crates, the consumers crate and the console: {crates:?}"
    );
    let (_, core_deps) = &crates["rae-core"];
    assert!(
        core_deps.iter().all(|d| !members.contains(&d)),
        "rae-core depends on no other workspace crate: {core_deps:?}"
    );
}

#[test]
fn heavy_protocol_crates_are_linked_only_where_used() {
    let crates = workspace();
    for (heavy, owner) in [
        ("git2", "rae-git-watch"),
        ("lettre", "rae-email"),
        ("async-imap", "rae-email"),
        ("mail-parser", "rae-email"),
        ("smtp-proto", "rae-email"),
        ("rmcp", "rae-mcp"),
        ("askama", "rae-console"),
    ] {
        let users: Vec<&String> = crates
            .iter()
            .filter(|(_, (_, deps))| deps.iter().any(|d| d == heavy))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(users, [owner], "{heavy} belongs to {owner} alone");
    }
}
