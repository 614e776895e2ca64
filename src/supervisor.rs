//! Supervision of the tasks of one process, as mini-redis's `server::run` does it: every task
//! runs in one [`TaskTracker`], and the *roles* among them (the ingress, the consumers, the
//! watchers: tasks meant to run until shutdown) are watched, so the first one that ends before
//! shutdown was asked (with an error, early without one, or by panicking) is reported to the
//! caller, which then stops the process with a non-zero exit.
//!
//! Work that request handlers spawn (Slack follow-ups, email receipts) goes into the same
//! tracker ([`Supervisor::tracker`]), so [`Supervisor::stop`] waits for it too. The
//! [`Supervisor`] knows nothing of NATS or of the roles themselves: `app::Running` owns one and
//! adds the drain of the audit queue and of the NATS client.

use std::any::Any;
use std::future::Future;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use rae_core::telemetry::error_chain;

/// Any error a role ends with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a role's task returns: `Ok` once it finished its work after the token was cancelled.
pub type RoleResult = Result<(), BoxError>;

/// A role that ended on its own: before shutdown was asked, or with an error or a panic while
/// shutting down. Either way the process must exit non-zero.
#[derive(Debug, thiserror::Error)]
pub enum RoleFailure {
    /// The role returned an error.
    #[error("role {role} failed")]
    Failed {
        role: String,
        #[source]
        source: BoxError,
    },
    /// The role returned without an error although nobody asked it to stop.
    #[error("role {role} stopped on its own before shutdown was asked; see the log lines before this one")]
    Stopped { role: String },
    /// The role panicked: a bug, never a clean end.
    #[error("role {role} panicked: {message}; this is a bug, please report it with the log")]
    Panicked { role: String, message: String },
}

impl RoleFailure {
    /// The name of the role that ended.
    pub fn role(&self) -> &str {
        match self {
            RoleFailure::Failed { role, .. }
            | RoleFailure::Stopped { role }
            | RoleFailure::Panicked { role, .. } => role,
        }
    }

    /// How the task of `role` ended, as a failure; `None` for a clean end.
    pub(crate) fn of(role: &str, ended: Result<RoleResult, JoinError>) -> Option<RoleFailure> {
        let role = role.to_owned();
        match ended {
            Ok(Ok(())) => None,
            Ok(Err(source)) => Some(RoleFailure::Failed { role, source }),
            Err(join) if join.is_panic() => Some(RoleFailure::Panicked {
                role,
                message: panic_message(join.into_panic()),
            }),
            // Cancelled: roles are never aborted, so only a runtime going away does this.
            Err(join) => Some(RoleFailure::Failed {
                role,
                source: Box::new(join),
            }),
        }
    }
}

/// What [`Supervisor::stop`] found.
#[derive(Debug, Default)]
pub struct Stopped {
    /// Roles that failed or panicked while finishing their work.
    pub failures: Vec<RoleFailure>,
    /// What had not finished by the deadline: role names, then `"<n> background task(s)"`.
    pub abandoned: Vec<String>,
}

type Ended = (usize, Result<RoleResult, JoinError>);

/// The tasks of one process, under one cancellation token.
pub struct Supervisor {
    token: CancellationToken,
    tracker: TaskTracker,
    /// The roles' join handles, each tagged with its index in `names`.
    roles: FuturesUnordered<BoxFuture<'static, Ended>>,
    names: Vec<String>,
    finished: Vec<bool>,
}

impl Supervisor {
    /// A supervisor whose roles stop when `token` is cancelled.
    pub fn new(token: CancellationToken) -> Supervisor {
        Supervisor {
            token,
            tracker: TaskTracker::new(),
            roles: FuturesUnordered::new(),
            names: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// The token that stops every role.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The tracker every task runs in; components spawn the work of their handlers into it.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Runs `role` as the role `name`: it must take the token (or a child) and return only once
    /// it was cancelled and its work is finished. Ending any other way is a [`RoleFailure`].
    pub fn spawn<F>(&mut self, name: impl Into<String>, role: F)
    where
        F: Future<Output = RoleResult> + Send + 'static,
    {
        let index = self.names.len();
        self.names.push(name.into());
        self.finished.push(false);
        let handle = self.tracker.spawn(role);
        self.roles
            .push(Box::pin(async move { (index, handle.await) }));
    }

    /// Names of the roles, in the order they were spawned.
    pub fn roles(&self) -> &[String] {
        &self.names
    }

    /// Waits for the first role that ends and says how it ended; every end before
    /// [`Supervisor::stop`] is a failure. Pending forever when no role runs. Cancel-safe, so it
    /// can be a branch of `select!`.
    pub async fn first_ended(&mut self) -> RoleFailure {
        let Some((index, ended)) = self.roles.next().await else {
            return std::future::pending().await;
        };
        let name = self.mark_finished(index);
        RoleFailure::of(&name, ended).unwrap_or(RoleFailure::Stopped { role: name })
    }

    /// Cancels the token, waits until `deadline` for the roles and then for the other tracked
    /// work (handlers' follow-ups), and reports what failed and what was abandoned.
    pub async fn stop(&mut self, deadline: Instant) -> Stopped {
        self.token.cancel();
        let mut stopped = Stopped::default();
        while let Ok(Some((index, ended))) =
            tokio::time::timeout_at(deadline, self.roles.next()).await
        {
            let name = self.mark_finished(index);
            stopped.failures.extend(RoleFailure::of(&name, ended));
        }
        // Nothing spawns into the tracker once the roles stopped but their own follow-ups;
        // closing lets `wait` finish when the last one does.
        self.tracker.close();
        let drained = tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_ok();
        stopped.abandoned = self
            .names
            .iter()
            .zip(&self.finished)
            .filter(|(_, finished)| !**finished)
            .map(|(name, _)| name.clone())
            .collect();
        if !drained {
            // Roles still running are tracked too; count only the rest.
            let background = self.tracker.len().saturating_sub(stopped.abandoned.len());
            if background > 0 {
                stopped
                    .abandoned
                    .push(format!("{background} background task(s)"));
            }
        }
        stopped
    }

    fn mark_finished(&mut self, index: usize) -> String {
        if let Some(finished) = self.finished.get_mut(index) {
            *finished = true;
        }
        self.names.get(index).cloned().unwrap_or_default()
    }
}

/// The text a panic was raised with.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "no message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A role that runs until cancelled, like the real ones.
    fn until_cancelled(token: &CancellationToken) -> impl Future<Output = RoleResult> {
        let token = token.clone();
        async move {
            token.cancelled().await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_panicking_role_is_a_failure_naming_it() {
        let mut supervisor = Supervisor::new(CancellationToken::new());
        supervisor.spawn("steady", until_cancelled(supervisor.token()));
        supervisor.spawn("doomed", async {
            if true {
                panic!("boom");
            }
            Ok(())
        });
        match supervisor.first_ended().await {
            RoleFailure::Panicked { role, message } => {
                assert_eq!(role, "doomed");
                assert_eq!(message, "boom");
            }
            other => panic!("expected a panic, got {other:?}"),
        }
        let stopped = supervisor
            .stop(Instant::now() + Duration::from_secs(5))
            .await;
        assert!(stopped.failures.is_empty() && stopped.abandoned.is_empty());
    }

    #[tokio::test]
    async fn a_role_returning_early_or_with_an_error_is_a_failure() {
        let mut supervisor = Supervisor::new(CancellationToken::new());
        supervisor.spawn("quitter", async { Ok(()) });
        let failure = supervisor.first_ended().await;
        assert!(
            matches!(&failure, RoleFailure::Stopped { role } if role == "quitter"),
            "{failure:?}"
        );
        assert!(failure
            .to_string()
            .contains("role quitter stopped on its own"));

        supervisor.spawn("broken", async {
            Err(BoxError::from(std::io::Error::other("listener gone")))
        });
        let failure = supervisor.first_ended().await;
        assert_eq!(failure.role(), "broken");
        assert_eq!(
            error_chain(&failure),
            "role broken failed: listener gone",
            "{failure:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stop_waits_for_roles_and_handler_work_and_names_what_it_abandons() {
        let mut supervisor = Supervisor::new(CancellationToken::new());
        supervisor.spawn("ingress", until_cancelled(supervisor.token()));
        // Work a handler spawned: it finishes after the roles, within the grace period.
        let follow_up_done = Arc::new(AtomicBool::new(false));
        let done = follow_up_done.clone();
        supervisor.tracker().spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            done.store(true, Ordering::SeqCst);
        });
        let stopped = supervisor
            .stop(Instant::now() + Duration::from_secs(10))
            .await;
        assert!(follow_up_done.load(Ordering::SeqCst));
        assert!(stopped.failures.is_empty() && stopped.abandoned.is_empty());

        let mut supervisor = Supervisor::new(CancellationToken::new());
        supervisor.spawn("stubborn", async {
            std::future::pending::<()>().await;
            Ok(())
        });
        supervisor.spawn("writer", until_cancelled(supervisor.token()));
        supervisor
            .tracker()
            .spawn(tokio::time::sleep(Duration::from_secs(3600)));
        let stopped = supervisor
            .stop(Instant::now() + Duration::from_secs(1))
            .await;
        assert_eq!(stopped.abandoned, ["stubborn", "1 background task(s)"]);
    }

    #[tokio::test]
    async fn a_panic_while_stopping_is_a_failure_too() {
        let mut supervisor = Supervisor::new(CancellationToken::new());
        let token = supervisor.token().clone();
        supervisor.spawn("writer", async move {
            token.cancelled().await;
            if true {
                panic!("lost the ack");
            }
            Ok(())
        });
        let stopped = supervisor
            .stop(Instant::now() + Duration::from_secs(5))
            .await;
        assert!(
            matches!(stopped.failures.as_slice(), [RoleFailure::Panicked { role, .. }] if role == "writer"),
            "{stopped:?}"
        );
    }
}
