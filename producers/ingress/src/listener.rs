//! The ingress's accept loop: HTTP/1.1 connections with bounded resources.
//!
//! - A **header timeout** (`ingress.header_timeout_ms`): from the moment a connection is ready
//!   for a request until its headers are complete. A connection that sends nothing, sends
//!   headers a byte at a time, or idles between keep-alive requests is closed after it.
//! - A **connection cap** (`ingress.max_connections`): past it a new connection is answered
//!   `503` with our JSON error and `Retry-After`, then closed, and the refusal is logged (once
//!   a second) and counted. Failures to accept (too many open files) are logged the same way.
//! - **Graceful shutdown**: when the token is cancelled no connection is accepted any more and
//!   every open one finishes its request in flight.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use rae_core::telemetry::{IngressConnection, OncePerSecond};

/// What bounds the connections of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// `Retry-After` of the answer past the cap.
    pub retry_after_secs: u64,
}

/// Serves `router` on `listener` until `token` is cancelled, then lets open connections
/// finish their requests.
///
/// # Errors
/// Never today: accept errors are logged and retried; the type leaves room for the caller's.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    token: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let tasks = TaskTracker::new();
    let warned = OncePerSecond::default();
    let full_answer = full_answer(limits.retry_after_secs);
    loop {
        let accepted = tokio::select! {
            biased;
            () = token.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                warned.run(|| {
                    tracing::warn!(error = %err, "cannot accept a connection (out of open files? raise `ulimit -n` or lower ingress.max_connections)");
                });
                // The error persists while the process is out of descriptors: do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Written without waiting: a client that does not read gets nothing and is closed.
            let _ = stream.try_write(&full_answer);
            IngressConnection::refused();
            warned.run(|| {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection refused: ingress.max_connections are open"
                );
            });
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let token = token.clone();
        tasks.spawn(async move {
            let _slot = slot;
            IngressConnection::opened();
            serve_connection(stream, service, limits.header_timeout, token).await;
            IngressConnection::closed();
        });
    }
    tasks.close();
    tasks.wait().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    service: TowerToHyperService<Router>,
    header_timeout: Duration,
    token: CancellationToken,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_headers(crate::header_limits::HYPER_MAX_HEADERS)
        .max_buf_size(crate::header_limits::HYPER_MAX_BUFFER_BYTES)
        .keep_alive(true);
    let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
    tokio::select! {
        _ = connection.as_mut() => {}
        () = token.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// The bytes of the answer past the connection cap: our JSON error shape.
fn full_answer(retry_after_secs: u64) -> Vec<u8> {
    let body = serde_json::json!({
        "error": "unavailable",
        "message": "too many open connections; retry later",
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {retry_after_secs}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_past_the_cap_is_a_complete_json_503() {
        let answer = String::from_utf8(full_answer(5)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("retry-after: 5"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "unavailable");
    }
}
