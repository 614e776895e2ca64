//! A three-node NATS cluster on loopback with every stream at three replicas: events keep
//! flowing while one node is down, and every accepted event reaches RAE exactly once as RAE
//! sees it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use rae_core::bus::Bus;
use rae_core::config::NatsConfig;

use crate::harness::*;

/// Three `nats-server` processes with JetStream, routed to each other.
struct Cluster {
    dir: tempfile::TempDir,
    nodes: Vec<(u16, Option<Child>)>,
    routes: Vec<u16>,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let clients: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut cluster = Cluster {
            dir,
            nodes: clients.into_iter().map(|p| (p, None)).collect(),
            routes,
        };
        for i in 0..3 {
            cluster.start_node(i);
        }
        cluster
    }

    fn config(&self, i: usize) -> String {
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        format!(
            "server_name: n{i}\nlisten: 127.0.0.1:{client}\njetstream {{ store_dir: \"{store}\" }}\n\
             cluster {{\n  name: rae\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n",
            client = self.nodes[i].0,
            store = self.dir.path().join(format!("n{i}")).display(),
            route = self.routes[i],
            routes = routes.join(", "),
        )
    }

    fn start_node(&mut self, i: usize) {
        let path = self.dir.path().join(format!("n{i}.conf"));
        std::fs::write(&path, self.config(i)).unwrap();
        let child = Command::new(nats_server_binary())
            .args(["-c", &path.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.nodes[i].1 = Some(child);
    }

    fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].1.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|(p, _)| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn store(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill_node(i);
        }
    }
}

/// Waits until the cluster has a JetStream meta leader and takes streams at three replicas.
async fn ready(urls: &str) {
    let config = NatsConfig {
        url: urls.to_owned(),
        replicas: 3,
        connect_timeout_secs: 10,
        ..NatsConfig::default()
    };
    // Generous: setup makes every stream and bucket at three replicas, and the browser tests
    // beside this one can hold both cores for a while.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(bus) = Bus::connect(&config, "cluster-probe").await {
            if bus.setup().await.is_ok() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the cluster never became ready");
        tokio::time::sleep(Duration::from_millis(500)).await; // the cluster elects its leaders
    }
}

/// POSTs until the ingress answers 202, as a sender does with 503s; the event id.
async fn send(pipeline: &Pipeline, content: &str) -> String {
    let body = json!({"content": content}).to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, answer, _) = pipeline
            .post_webhook(&body, &[("x-webhook-secret", SECRET)])
            .await;
        if status == 202 {
            return answer["id"].as_str().unwrap().to_owned();
        }
        assert_eq!(status, 503, "{answer}");
        assert!(
            Instant::now() < deadline,
            "the cluster never took the event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await; // the sender's retry pause
    }
}

#[tokio::test]
async fn a_three_node_cluster_keeps_every_event_when_a_node_dies_and_returns() {
    let mut cluster = Cluster::start();
    let urls = cluster.urls();
    ready(&urls).await;
    let rae = FakeRae::start().await;
    let mut config = test_config_for(&urls, &rae, "");
    config.nats.replicas = 3;
    config.nats.publish_timeout_ms = 5_000;
    let mut pipeline = Pipeline::start(&config).await;
    let info = pipeline
        .bus()
        .stream(rae_core::subjects::EVENTS_STREAM)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(info.config.num_replicas, 3);

    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(send(&pipeline, &format!("before the failure {i}")).await);
    }
    cluster.kill_node(1);
    for i in 0..30 {
        ids.push(send(&pipeline, &format!("while a node is down {i}")).await);
    }
    cluster.start_node(1);
    for i in 0..30 {
        ids.push(send(&pipeline, &format!("after it returned {i}")).await);
    }
    wait_for("all 90 in RAE", Duration::from_secs(60), || async {
        let stored = rae.stored_event_ids();
        ids.iter().all(|id| stored.contains_key(id))
    })
    .await;
    let stored = rae.stored_event_ids();
    for id in &ids {
        assert_eq!(stored.get(id), Some(&1), "event {id}");
    }
    assert!(cluster.store().join("n1").is_dir());
    pipeline.shutdown().await;
}
