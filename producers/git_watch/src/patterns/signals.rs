//! Important-change recognition: [`Recognizer`] turns a changed file into signal tags
//! (`security`, `migration`, `dependencies`, `ci`, `api`, `todo`), plus `large-deletion` and
//! `revert` for a whole commit, each with a reason a person can read. The enricher turns these
//! tags into importance.

use rae_core::config::GitImportantConfig;

use super::known_paths::{CI_DIRS, CI_FILES, LOCKFILES, MANIFESTS, SECURITY_WORDS};
use super::{FileChange, Globs};

/// One recognized signal: a tag and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub tag: String,
    pub reason: String,
}

/// Important-change recognition with the integration's settings.
#[derive(Debug, Clone)]
pub struct Recognizer {
    disabled: Vec<String>,
    large_deletion_lines: usize,
    markers: Vec<String>,
    rules: Vec<(String, Globs)>,
}

impl Default for Recognizer {
    fn default() -> Self {
        Recognizer::new(&GitImportantConfig::default())
    }
}

impl Recognizer {
    pub fn new(config: &GitImportantConfig) -> Recognizer {
        Recognizer {
            disabled: config.disabled.clone(),
            large_deletion_lines: config.large_deletion_lines.max(1),
            markers: config.todo_markers.clone(),
            rules: config
                .rules
                .iter()
                .map(|r| (r.tag.clone(), Globs::new(&r.paths)))
                .collect(),
        }
    }

    /// The TODO markers, for [`LineFacts::note`](super::LineFacts::note).
    pub fn markers(&self) -> &[String] {
        &self.markers
    }

    fn on(&self, tag: &str) -> bool {
        !self.disabled.iter().any(|d| d == tag)
    }

    /// The signals of one changed file.
    pub fn file_signals(&self, change: &FileChange) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut add = |tag: &str, reason: String| {
            if self.on(tag) && !out.iter().any(|s: &Signal| s.tag == tag) {
                out.push(Signal {
                    tag: tag.to_owned(),
                    reason,
                });
            }
        };
        let path = &change.path;
        let lower = path.to_lowercase();
        let name = lower.rsplit('/').next().unwrap_or(&lower);
        let dirs: Vec<&str> = lower.split('/').collect();
        let dirs = &dirs[..dirs.len().saturating_sub(1)];
        let under = |dir: &str| {
            let parts: Vec<&str> = dir.split('/').collect();
            dirs.windows(parts.len()).any(|w| w == parts.as_slice())
        };

        if let Some(word) = words(path)
            .into_iter()
            .find(|w| SECURITY_WORDS.contains(&w.as_str()))
        {
            add(
                "security",
                format!("{path}: security-sensitive code ({word})"),
            );
        }
        let migration = dirs.iter().any(|d| {
            matches!(
                *d,
                "migrations" | "migration" | "migrate" | "alembic" | "flyway" | "liquibase"
            )
        }) || (name.ends_with(".sql")
            && (dirs
                .iter()
                .any(|d| matches!(*d, "db" | "database" | "schema" | "sql"))
                || is_flyway_name(name)))
            || matches!(name, "schema.rb" | "structure.sql" | "schema.prisma");
        if migration {
            add("migration", format!("{path}: database migration or schema"));
        }
        let requirements = name.starts_with("requirements") && name.ends_with(".txt")
            || under("requirements") && name.ends_with(".txt")
            || name == "constraints.txt";
        if LOCKFILES.contains(&name) {
            add("dependencies", format!("{path}: lockfile"));
        } else if MANIFESTS.contains(&name) || requirements || name.ends_with(".csproj") {
            add("dependencies", format!("{path}: dependency manifest"));
        }
        let ci = CI_FILES.contains(&name)
            || name.starts_with("dockerfile")
            || name.ends_with(".dockerfile")
            || (name.starts_with("docker-compose")
                && (name.ends_with(".yml") || name.ends_with(".yaml")))
            || name.ends_with(".tf")
            || name.ends_with(".tfvars")
            || CI_DIRS.iter().any(|d| under(d));
        if ci {
            add("ci", format!("{path}: CI or deploy config"));
        }
        let api_file = name.starts_with("openapi")
            || name.starts_with("swagger")
            || name.ends_with(".proto")
            || name.ends_with(".graphql")
            || name.ends_with(".gql")
            || name.ends_with(".avsc")
            || name.ends_with(".d.ts");
        if api_file {
            add("api-change", format!("{path}: API definition"));
        } else if let Some(line) = change.lines.public_removed.first() {
            add(
                "api-change",
                format!("{path}: public declaration changed: {line}"),
            );
        }
        if let Some(line) = change.lines.todos_added.first() {
            add("todo", format!("{path}: added {line}"));
        }
        if change.deletions >= change.insertions + self.large_deletion_lines {
            add(
                "large-deletion",
                format!("{path}: {} lines removed", change.deletions),
            );
        }
        for (tag, globs) in &self.rules {
            if globs.matches(path) && !out.iter().any(|s| &s.tag == tag) {
                out.push(Signal {
                    tag: tag.clone(),
                    reason: format!("{path}: matches the {tag} rule"),
                });
            }
        }
        out
    }

    /// The signals of a whole commit: each file's, merged by tag (reasons of the first few
    /// files), plus `revert` from the message and `large-deletion` from the totals.
    pub fn commit_signals(
        &self,
        message: &str,
        files: &[FileChange],
        insertions: usize,
        deletions: usize,
    ) -> Vec<Signal> {
        let mut out: Vec<Signal> = Vec::new();
        if self.on("revert") {
            if let Some(reverted) = reverted(message) {
                out.push(Signal {
                    tag: "revert".into(),
                    reason: match reverted {
                        Some(sha) => format!("reverts commit {sha}"),
                        None => "a revert".into(),
                    },
                });
            }
        }
        for file in files {
            for signal in self.file_signals(file) {
                match out.iter_mut().find(|s| s.tag == signal.tag) {
                    Some(s) if s.reason.matches("; ").count() < 2 => {
                        s.reason.push_str("; ");
                        s.reason.push_str(&signal.reason);
                    }
                    Some(_) => {}
                    None => out.push(signal),
                }
            }
        }
        if self.on("large-deletion")
            && deletions >= insertions + self.large_deletion_lines
            && !out.iter().any(|s| s.tag == "large-deletion")
        {
            out.push(Signal {
                tag: "large-deletion".into(),
                reason: format!("{deletions} lines removed, {insertions} added"),
            });
        }
        out
    }
}

/// `Some(Some(sha))` for `git revert`'s message ("This reverts commit <sha>."), `Some(None)` for
/// a subject that says it reverts, `None` otherwise.
pub fn reverted(message: &str) -> Option<Option<String>> {
    if let Some(at) = message.find("This reverts commit ") {
        let sha: String = message[at + "This reverts commit ".len()..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if sha.len() >= 7 {
            return Some(Some(sha));
        }
    }
    let subject = message.lines().next().unwrap_or_default();
    (subject.starts_with("Revert \"") || subject.to_lowercase().starts_with("revert:"))
        .then_some(None)
}

/// `V12__add_index.sql`, Flyway's naming.
fn is_flyway_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next() == Some('v')
        && name[1..].split("__").next().is_some_and(|v| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_digit() || c == '_' || c == '.')
        })
        && name.contains("__")
}

/// Lowercase words of a path: split at every non-alphanumeric character and at camelCase
/// humps, digits dropped (`src/AuthService/oauth2_client.py` → src, auth, service, oauth,
/// client, py).
fn words(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in path.chars() {
        if c.is_alphabetic() {
            if c.is_uppercase() && prev_lower && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            word.extend(c.to_lowercase());
            prev_lower = c.is_lowercase();
        } else {
            if !word.is_empty() && !c.is_ascii_digit() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = false;
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patterns::{ChangeStatus, LineFacts};

    fn change(path: &str) -> FileChange {
        FileChange {
            path: path.into(),
            old_path: None,
            status: ChangeStatus::Modified,
            insertions: 1,
            deletions: 1,
            binary: false,
            lines: LineFacts::default(),
        }
    }

    fn tags(path: &str) -> Vec<String> {
        Recognizer::default()
            .file_signals(&change(path))
            .into_iter()
            .map(|s| s.tag)
            .collect()
    }
    #[test]
    fn paths_are_recognized() {
        assert_eq!(tags("src/auth/middleware.py"), ["security"]);
        assert_eq!(tags("web/src/AuthService.ts"), ["security"]);
        assert_eq!(tags("lib/oauth2_client.rb"), ["security"]);
        assert!(tags("docs/authors.md").is_empty(), "author is not auth");
        assert!(tags("src/tokenizer.rs").is_empty());
        assert_eq!(tags("db/migrations/0042_add_index.sql"), ["migration"]);
        assert_eq!(tags("alembic/versions/abc_add.py"), ["migration"]);
        assert_eq!(tags("sql/V3__orders.sql"), ["migration"]);
        assert_eq!(tags("Cargo.lock"), ["dependencies"]);
        assert_eq!(tags("web/package.json"), ["dependencies"]);
        assert_eq!(tags("requirements-dev.txt"), ["dependencies"]);
        assert_eq!(tags(".github/workflows/ci.yml"), ["ci"]);
        assert_eq!(tags("Dockerfile"), ["ci"]);
        assert_eq!(tags("infra/main.tf"), ["ci"]);
        assert_eq!(tags("api/openapi.yaml"), ["api-change"]);
        assert_eq!(tags("proto/events.proto"), ["api-change"]);
        assert!(tags("src/main.rs").is_empty());
    }

    #[test]
    fn lines_give_todo_and_api_signals() {
        let r = Recognizer::default();
        let mut c = change("src/lib.rs");
        c.lines
            .note('+', "    // TODO: handle retries", r.markers());
        c.lines
            .note('+', "let todos = 1; // TODOS is not a marker", r.markers());
        c.lines
            .note('-', "pub fn publish(event: &Event)", r.markers());
        c.lines
            .note('+', "pub fn publish(event: &Event, id: &str)", r.markers());
        assert_eq!(c.lines.todos_added, ["// TODO: handle retries"]);
        assert_eq!(c.lines.public_removed, ["pub fn publish(event: &Event)"]);
        let got: Vec<_> = r.file_signals(&c).into_iter().map(|s| s.tag).collect();
        assert_eq!(got, ["api-change", "todo"]);
    }

    #[test]
    fn commit_signals_add_revert_and_large_deletion_and_respect_config() {
        let r = Recognizer::default();
        let msg = "Revert \"Add cache\"\n\nThis reverts commit 0123456789abcdef.\n";
        let signals = r.commit_signals(msg, &[change("db/migrate/1_x.rb")], 10, 400);
        let got: Vec<_> = signals.iter().map(|s| s.tag.as_str()).collect();
        assert_eq!(got, ["revert", "migration", "large-deletion"]);
        assert_eq!(signals[0].reason, "reverts commit 0123456789abcdef");

        let config = GitImportantConfig {
            disabled: vec!["migration".into()],
            rules: vec![rae_core::config::GitPathRule {
                tag: "billing".into(),
                paths: vec!["billing/**".into()],
            }],
            ..GitImportantConfig::default()
        };
        let r = Recognizer::new(&config);
        assert!(r.file_signals(&change("db/migrations/1.sql")).is_empty());
        assert_eq!(
            r.file_signals(&change("billing/invoice.py"))[0].tag,
            "billing"
        );
        assert_eq!(reverted("Fix bug"), None);
    }
}
