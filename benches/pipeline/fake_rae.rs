//! The fake RAE: answers `POST /v2/memories/` at once, or like a slow RAE behind a concurrency
//! limit (uvicorn's --limit-concurrency: requests past the limit are answered 503 at once).
//! While recording, it keeps the event id and arrival time of each stored memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::Result;

#[derive(Clone)]
pub(crate) struct Slow {
    /// Requests served at once.
    pub(crate) workers: Arc<Semaphore>,
    /// Time to serve one request.
    pub(crate) delay: Duration,
    /// Requests in RAE at once (served or waiting); more are answered 503.
    pub(crate) limit: u64,
}

#[derive(Default)]
pub(crate) struct RaeState {
    pub(crate) stored: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) record: AtomicBool,
    /// Event id and unix nanoseconds of each stored memory, while recording.
    pub(crate) log: Mutex<Vec<(String, u64)>>,
    pub(crate) slow: RwLock<Option<Slow>>,
}

pub(crate) struct FakeRae {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) state: Arc<RaeState>,
}

impl FakeRae {
    pub(crate) async fn start() -> Result<FakeRae> {
        use axum::serve::ListenerExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(RaeState::default());
        let app = axum::Router::new()
            .route("/v2/memories/", axum::routing::post(rae_store))
            .route("/health", axum::routing::get(|| async { "ok" }))
            .with_state(state.clone());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeRae { addr, state })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forgets what was received and starts recording ids.
    pub(crate) fn reset(&self, record: bool) {
        self.state.stored.store(0, Ordering::SeqCst);
        self.state.refused.store(0, Ordering::SeqCst);
        self.state.record.store(record, Ordering::SeqCst);
        if let Ok(mut log) = self.state.log.lock() {
            log.clear();
        }
    }

    pub(crate) fn set_slow(&self, slow: Option<(usize, Duration, u64)>) {
        if let Ok(mut s) = self.state.slow.write() {
            *s = slow.map(|(workers, delay, limit)| Slow {
                workers: Arc::new(Semaphore::new(workers)),
                delay,
                limit,
            });
        }
    }

    pub(crate) fn stored(&self) -> u64 {
        self.state.stored.load(Ordering::SeqCst)
    }

    pub(crate) fn take_log(&self) -> Vec<(String, u64)> {
        self.state
            .log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Waits until `n` memories are stored, or nothing new arrived for `idle`.
    pub(crate) async fn wait_for(&self, n: u64, idle: Duration) -> bool {
        let mut last = (self.stored(), Instant::now());
        loop {
            let stored = self.stored();
            if stored >= n {
                return true;
            }
            if stored != last.0 {
                last = (stored, Instant::now());
            } else if last.1.elapsed() > idle {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub(crate) fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// `metadata.event_id` of a store body, found without parsing the whole body.
pub(crate) fn event_id(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"event_id\":\"")? + 12;
    let end = text[start..].find('"')? + start;
    Some(text[start..end].to_owned())
}

/// One request inside the slow RAE.
pub(crate) struct Inside<'a> {
    pub(crate) state: &'a RaeState,
    /// Requests inside before this one.
    pub(crate) before: u64,
}

impl<'a> Inside<'a> {
    pub(crate) fn enter(state: &'a RaeState) -> Inside<'a> {
        let before = state.in_flight.fetch_add(1, Ordering::SeqCst);
        Inside { state, before }
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) async fn rae_store(State(state): State<Arc<RaeState>>, body: Bytes) -> Response {
    let slow = state.slow.read().ok().and_then(|s| s.clone());
    let _permit = match &slow {
        Some(slow) => {
            // Counted down on drop too: a client that hangs up cancels this handler mid-wait.
            let inside = Inside::enter(&state);
            if inside.before >= slow.limit {
                state.refused.fetch_add(1, Ordering::SeqCst);
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "1")],
                    "{\"error\":{\"code\":\"overloaded\"}}",
                )
                    .into_response();
            }
            let permit = slow.workers.clone().acquire_owned().await.ok();
            tokio::time::sleep(slow.delay).await;
            drop(inside);
            permit
        }
        None => None,
    };
    let n = state.stored.fetch_add(1, Ordering::SeqCst) + 1;
    if state.record.load(Ordering::Relaxed) {
        if let (Some(id), Ok(mut log)) = (event_id(&body), state.log.lock()) {
            log.push((id, unix_ns()));
        }
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        format!("{{\"memory_id\":\"m{n}\",\"message\":\"stored\"}}"),
    )
        .into_response()
}
