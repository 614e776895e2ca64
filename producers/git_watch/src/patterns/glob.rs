//! Path globs for `watch_patterns` and rule paths: `*` and `?` within one path segment, `**`
//! across segments; a glob without `/` matches the file name, as in `.gitignore`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
