//! Supervision through the library API: a role that panics or returns while the pipeline runs
//! stops the whole pipeline and is reported by name, never taken for a clean shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rae_pipeline::app::{self, Roles, RunError};
use rae_pipeline::supervisor::RoleFailure;

use crate::harness::*;

const INGRESS_ONLY: Roles = Roles {
    ingress: true,
    enricher: false,
    writer: false,
    git_watch: false,
};

#[tokio::test]
async fn a_role_that_panics_stops_the_pipeline_and_is_reported_by_name() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start_roles(&test_config(&nats, &rae, ""), INGRESS_ONLY).await;
    pipeline.accept("before the panic").await;
    let mut running = pipeline.running.take().expect("running");
    let ingress = running.ingress_addr().expect("ingress listens");

    // A well-behaved role sees the shutdown the failure causes.
    let sibling_stopped = Arc::new(AtomicBool::new(false));
    let (token, stopped) = (running.token(), sibling_stopped.clone());
    running.spawn("sibling", async move {
        token.cancelled().await;
        stopped.store(true, Ordering::SeqCst);
        Ok(())
    });
    running.spawn("doomed", async {
        if true {
            panic!("invariant broken");
        }
        Ok(())
    });

    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        running.run_until(std::future::pending(), Duration::from_secs(10)),
    )
    .await
    .expect("run_until returns when a role panics, without a signal");
    match outcome {
        Err(RunError::Role(RoleFailure::Panicked { role, message })) => {
            assert_eq!(role, "doomed");
            assert_eq!(message, "invariant broken");
        }
        other => panic!("a panic must be a failure, got {other:?}"),
    }
    assert!(sibling_stopped.load(Ordering::SeqCst));
    assert!(
        tokio::net::TcpStream::connect(ingress).await.is_err(),
        "the ingress was shut down with the rest"
    );
}

#[tokio::test]
async fn a_role_that_returns_before_shutdown_is_a_failure_and_a_signal_is_not() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let config = test_config(&nats, &rae, "");
    let data = tempfile::tempdir().unwrap();
    let options = app::Options {
        data_dir: data.path().to_owned(),
        serve_metrics: false,
    };

    let mut running = app::start(&config, INGRESS_ONLY, &options).await.unwrap();
    running.spawn("quitter", async { Ok(()) });
    let outcome = running
        .run_until(std::future::pending(), Duration::from_secs(10))
        .await;
    assert!(
        matches!(&outcome, Err(RunError::Role(RoleFailure::Stopped { role })) if role == "quitter"),
        "{outcome:?}"
    );

    let mut running = app::start(&config, INGRESS_ONLY, &options).await.unwrap();
    running.spawn("broken", async {
        Err(std::io::Error::other("the socket went away").into())
    });
    match running
        .run_until(std::future::pending(), Duration::from_secs(10))
        .await
    {
        Err(RunError::Role(failure @ RoleFailure::Failed { .. })) => {
            assert_eq!(failure.role(), "broken");
            assert_eq!(
                rae_pipeline::supervisor::error_chain(&failure),
                "role broken failed: the socket went away"
            );
        }
        other => panic!("expected the role's error, got {other:?}"),
    }

    // The signal first: every role finishes and the shutdown is clean.
    let running = app::start(&config, INGRESS_ONLY, &options).await.unwrap();
    running
        .run_until(std::future::ready(()), Duration::from_secs(10))
        .await
        .expect("a clean shutdown");
}

#[tokio::test]
async fn a_failed_start_names_the_step_and_leaves_nothing_running() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let metrics_port = free_port();
    let mut config = test_config(&nats, &rae, "");
    config.ingress.listen = taken_addr.clone();
    config.ingress.metrics_listen = format!("127.0.0.1:{metrics_port}");
    let data = tempfile::tempdir().unwrap();
    let options = app::Options {
        data_dir: data.path().to_owned(),
        serve_metrics: true,
    };

    match app::start(&config, Roles::ALL, &options).await {
        Err(
            error @ app::StartError::Listen {
                role: "ingress", ..
            },
        ) => {
            let app::StartError::Listen { addr, .. } = &error else {
                unreachable!()
            };
            assert_eq!(addr, &taken_addr);
            let message = rae_core::telemetry::error_chain(&error);
            assert!(message.contains(&taken_addr), "{message}");
            assert!(message.contains("Address already in use"), "{message}");
        }
        Err(other) => panic!("expected the ingress listener to fail, got {other:?}"),
        Ok(_) => panic!("the ingress port is taken"),
    }
    // The metrics listener was bound before the failing step and never served: the port is
    // free again, so no task kept it.
    std::net::TcpListener::bind(("127.0.0.1", metrics_port))
        .expect("the metrics listener of the failed start is closed");
}
