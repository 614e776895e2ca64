//! What the recognizer sees of one changed file: its path, [`ChangeStatus`], line counts and the
//! few added or removed lines worth noting ([`LineFacts`], collected while the diff is read).

use rae_core::text::clip_chars;

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
