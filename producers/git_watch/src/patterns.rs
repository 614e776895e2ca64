//! Path globs and important-change recognition (pure, no I/O).
//!
//! [`Glob`] matches `watch_patterns` and rule paths: `*` and `?` within one path segment, `**`
//! across segments; a glob without `/` matches the file name, as in `.gitignore`.
//! [`Recognizer`] turns a changed file (its path, status, line counts and the few added or
//! removed lines worth noting) into signal tags: `security`, `migration`, `dependencies`, `ci`,
//! `api`, `todo`, plus `large-deletion` and `revert` for a whole commit, each with a reason a
//! person can read. The enricher turns these tags into importance.

use rae_core::config::GitImportantConfig;
use rae_core::text::clip_chars;

/// A path glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
    /// No `/` in the pattern: match the file name only.
    name_only: bool,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let pattern = pattern.trim();
        let trimmed = pattern.strip_prefix('/').unwrap_or(pattern);
        Glob {
            name_only: !pattern.contains('/'),
            pattern: trimmed.chars().collect(),
        }
    }

    /// True when `path` (relative to the repository, `/`-separated) matches.
    pub fn matches(&self, path: &str) -> bool {
        let subject = if self.name_only {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            path
        };
        let subject: Vec<char> = subject.chars().collect();
        glob_match(&self.pattern, &subject)
    }
}

/// Backtracking matcher: `**` matches anything, `*` anything but `/`, `?` one character but `/`.
fn glob_match(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) if rest.first() == Some(&'*') => {
            let mut rest = &rest[1..];
            // `**/` also matches no directory at all.
            if rest.first() == Some(&'/') {
                if glob_match(&rest[1..], text) {
                    return true;
                }
                rest = &rest[1..];
            }
            (0..=text.len()).any(|i| glob_match(rest, &text[i..]))
        }
        Some(('*', rest)) => {
            for i in 0..=text.len() {
                if glob_match(rest, &text[i..]) {
                    return true;
                }
                if text.get(i) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Some(('?', rest)) => {
            matches!(text.first(), Some(c) if *c != '/') && glob_match(rest, &text[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

/// A set of globs; empty matches nothing.
#[derive(Debug, Clone, Default)]
pub struct Globs(Vec<Glob>);

impl Globs {
    /// Globs from patterns; an entry may hold several, comma separated (`"*.py,*.ts"`).
    pub fn new(patterns: &[String]) -> Globs {
        Globs(
            patterns
                .iter()
                .flat_map(|p| p.split(','))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(Glob::new)
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, path: &str) -> bool {
        self.0.iter().any(|g| g.matches(path))
    }
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    /// Mode or type changed (a file became a symlink, lost its executable bit...).
    TypeChanged,
}

impl ChangeStatus {
    /// One letter, as `git status --short` shows it.
    pub fn letter(self) -> char {
        match self {
            ChangeStatus::Added => 'A',
            ChangeStatus::Modified => 'M',
            ChangeStatus::Deleted => 'D',
            ChangeStatus::Renamed => 'R',
            ChangeStatus::TypeChanged => 'T',
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            ChangeStatus::Added => "added",
            ChangeStatus::Modified => "modified",
            ChangeStatus::Deleted => "deleted",
            ChangeStatus::Renamed => "renamed",
            ChangeStatus::TypeChanged => "type changed",
        }
    }
}

/// Lines of a diff worth noting, collected while the diff is read (at most [`LINES_KEPT`] each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFacts {
    /// Added lines carrying a TODO marker, trimmed.
    pub todos_added: Vec<String>,
    /// Removed lines that declared something public (a signature changed or went away).
    pub public_removed: Vec<String>,
}

/// Lines kept per kind and file.
pub const LINES_KEPT: usize = 5;
/// Characters kept of a noted line.
const LINE_CHARS: usize = 160;

/// Declarations whose removal or change breaks callers.
const PUBLIC_PREFIXES: &[&str] = &[
    "pub fn ",
    "pub async fn ",
    "pub struct ",
    "pub enum ",
    "pub trait ",
    "pub type ",
    "pub const ",
    "pub mod ",
    "export function ",
    "export async function ",
    "export default ",
    "export class ",
    "export interface ",
    "export type ",
    "export const ",
    "public class ",
    "public interface ",
    "public static ",
    "func (",
];

impl LineFacts {
    /// Notes one diff line: `origin` is `+` for added and `-` for removed lines.
    pub fn note(&mut self, origin: char, line: &str, markers: &[String]) {
        let trimmed = line.trim();
        match origin {
            '+' if self.todos_added.len() < LINES_KEPT
                && markers.iter().any(|m| has_marker(trimmed, m)) =>
            {
                self.todos_added
                    .push(clip_chars(trimmed, LINE_CHARS).into_owned());
            }
            '-' if self.public_removed.len() < LINES_KEPT && is_public_declaration(trimmed) => {
                self.public_removed
                    .push(clip_chars(trimmed, LINE_CHARS).into_owned());
            }
            _ => {}
        }
    }
}

/// `marker` as a word of its own (`TODO:`, `// FIXME(x)`), not inside another word (`TODOS`).
fn has_marker(line: &str, marker: &str) -> bool {
    line.match_indices(marker).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + marker.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric() && c != '_')
            && after.is_none_or(|c| !c.is_alphanumeric() && c != '_')
    })
}

fn is_public_declaration(line: &str) -> bool {
    PUBLIC_PREFIXES.iter().any(|p| line.starts_with(p))
        || (line.starts_with("func ") && line[5..].chars().next().is_some_and(char::is_uppercase))
        || (line.starts_with("def ") && !line[4..].starts_with('_'))
}

/// One changed file as the recognizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    /// The path before a rename.
    pub old_path: Option<String>,
    pub status: ChangeStatus,
    pub insertions: usize,
    pub deletions: usize,
    pub binary: bool,
    pub lines: LineFacts,
}

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

/// Words in a path that mark security-sensitive code.
const SECURITY_WORDS: &[&str] = &[
    "auth",
    "authn",
    "authz",
    "authenticate",
    "authentication",
    "authenticator",
    "authorize",
    "authorization",
    "oauth",
    "oidc",
    "saml",
    "sso",
    "security",
    "secure",
    "crypto",
    "cryptography",
    "encrypt",
    "encryption",
    "decrypt",
    "secret",
    "secrets",
    "password",
    "passwords",
    "passwd",
    "credential",
    "credentials",
    "permission",
    "permissions",
    "acl",
    "rbac",
    "jwt",
    "login",
    "logout",
    "session",
    "sessions",
    "csrf",
    "xss",
    "tls",
    "ssl",
    "cert",
    "certs",
    "certificate",
    "certificates",
    "vault",
    "keystore",
    "sanitize",
    "sanitizer",
    "firewall",
];

/// Dependency manifests (by file name).
const MANIFESTS: &[&str] = &[
    "cargo.toml",
    "package.json",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "pipfile",
    "go.mod",
    "gemfile",
    "composer.json",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "mix.exs",
    "package.swift",
    "podfile",
    "pubspec.yaml",
    "packages.config",
    "vcpkg.json",
    "conanfile.txt",
    "deno.json",
];

/// Lockfiles (by file name).
const LOCKFILES: &[&str] = &[
    "cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "bun.lock",
    "pipfile.lock",
    "poetry.lock",
    "uv.lock",
    "go.sum",
    "gemfile.lock",
    "composer.lock",
    "gradle.lockfile",
    "mix.lock",
    "package.resolved",
    "podfile.lock",
    "pubspec.lock",
    "paket.lock",
    "flake.lock",
    "deno.lock",
];

/// CI and deploy config: file names.
const CI_FILES: &[&str] = &[
    ".gitlab-ci.yml",
    ".travis.yml",
    "jenkinsfile",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".drone.yml",
    "procfile",
    "fly.toml",
    "vercel.json",
    "netlify.toml",
    "skaffold.yaml",
    "chart.yaml",
    "compose.yaml",
    "compose.yml",
    "cloudbuild.yaml",
    "appveyor.yml",
];

/// CI and deploy config: directories.
const CI_DIRS: &[&str] = &[
    ".github/workflows",
    ".github/actions",
    ".circleci",
    ".buildkite",
    ".ci",
    "k8s",
    "kubernetes",
    "helm",
    "deploy",
    "deployment",
    "deployments",
    "terraform",
    "ansible",
];

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

    /// The TODO markers, for [`LineFacts::note`].
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
            add("api", format!("{path}: API definition"));
        } else if let Some(line) = change.lines.public_removed.first() {
            add("api", format!("{path}: public declaration changed: {line}"));
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
    fn globs_match_names_paths_and_double_stars() {
        let g = Globs::new(&[
            "*.py,*.ts".into(),
            "docs/**/*.md".into(),
            "/Makefile".into(),
        ]);
        assert!(g.matches("app/models/user.py"));
        assert!(g.matches("web/index.ts"));
        assert!(!g.matches("web/index.tsx"));
        assert!(g.matches("docs/a/b/c.md"));
        assert!(g.matches("docs/c.md"));
        assert!(!g.matches("README.md"));
        assert!(g.matches("Makefile"));
        assert!(!g.matches("sub/Makefile"));
        assert!(Glob::new("src/*.rs").matches("src/lib.rs"));
        assert!(!Glob::new("src/*.rs").matches("src/a/lib.rs"));
        assert!(Glob::new("?.txt").matches("dir/a.txt"));
        assert!(Globs::new(&[]).is_empty() && !Globs::new(&[]).matches("x"));
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
        assert_eq!(tags("api/openapi.yaml"), ["api"]);
        assert_eq!(tags("proto/events.proto"), ["api"]);
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
        assert_eq!(got, ["api", "todo"]);
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
