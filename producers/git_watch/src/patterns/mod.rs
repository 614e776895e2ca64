//! Path globs and important-change recognition (pure, no I/O).
//!
//! [`Glob`] matches `watch_patterns` and rule paths: `*` and `?` within one path segment, `**`
//! across segments; a glob without `/` matches the file name, as in `.gitignore`.
//! [`Recognizer`] turns a changed file (its path, status, line counts and the few added or
//! removed lines worth noting) into signal tags: `security`, `migration`, `dependencies`, `ci`,
//! `api`, `todo`, plus `large-deletion` and `revert` for a whole commit, each with a reason a
//! person can read. The enricher turns these tags into importance.
//!
//! Layout: `glob.rs` holds the globs, `change.rs` what the recognizer sees of a changed file
//! (and the noting of its lines while the diff is read), `signals.rs` the recognizer, and
//! `known_paths.rs` the file and directory names it knows.

mod change;
mod glob;
mod known_paths;
mod signals;

pub use change::{ChangeStatus, FileChange, LineFacts, LINES_KEPT};
pub use glob::{Glob, Globs};
pub use signals::{reverted, Recognizer, Signal};
