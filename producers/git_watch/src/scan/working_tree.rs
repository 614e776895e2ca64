//! Uncommitted changes read with git2: which watched paths of the working tree differ from HEAD
//! (with a fingerprint, so the debouncer in [`crate::worktree`] can tell a new edit), and the
//! diff and content id of the paths that have settled.

use std::path::Path;

use git2::{ErrorCode, Oid, Repository};

use super::commit::{diff_facts, diff_options};
use super::{fail, ScanError};
use crate::patterns::{ChangeStatus, FileChange, Globs};

/// A path of the working tree as git reports it (bytes), its display form, and what it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub raw: Vec<u8>,
    pub path: String,
    pub fingerprint: Fingerprint,
}

/// What a changed working-tree file looks like now; a new fingerprint is a new edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub status: u32,
    pub size: Option<u64>,
    pub modified: Option<std::time::SystemTime>,
}

/// Uncommitted changes (staged or not, untracked included, ignored files not) of paths
/// matching `watch`.
///
/// # Errors
/// [`ScanError`] when the status cannot be read.
pub fn observe_worktree(repo: &Repository, watch: &Globs) -> Result<Vec<Observed>, ScanError> {
    let Some(workdir) = repo.workdir() else {
        return Ok(Vec::new());
    };
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut options))
        .map_err(fail("read the working tree status"))?;
    let mut out = Vec::new();
    for entry in statuses.iter() {
        let raw = entry.path_bytes().to_vec();
        let path = String::from_utf8_lossy(&raw).into_owned();
        if !watch.matches(&path) {
            continue;
        }
        let metadata = std::fs::symlink_metadata(workdir.join(path_of(&raw))).ok();
        out.push(Observed {
            fingerprint: Fingerprint {
                status: entry.status().bits(),
                size: metadata.as_ref().map(|m| m.len()),
                modified: metadata.and_then(|m| m.modified().ok()),
            },
            raw,
            path,
        });
    }
    Ok(out)
}

#[cfg(unix)]
fn path_of(raw: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(raw))
}

#[cfg(not(unix))]
fn path_of(raw: &[u8]) -> std::path::PathBuf {
    std::path::PathBuf::from(String::from_utf8_lossy(raw).into_owned())
}

/// One uncommitted change, ready to report.
#[derive(Debug, Clone)]
pub struct WorktreeChange {
    pub change: FileChange,
    /// The blob id of the content now (`deleted` for a removed file): the same edit reported
    /// twice gets the same event id.
    pub content_id: String,
}

/// The blob id git would give the file (a symlink: its target's name).
fn content_id(path: &Path) -> Result<String, String> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let oid = if is_link {
        let target = std::fs::read_link(path).map_err(|e| e.to_string())?;
        Oid::hash_object(git2::ObjectType::Blob, target.to_string_lossy().as_bytes())
    } else {
        Oid::hash_file(git2::ObjectType::Blob, path)
    };
    oid.map(|o| o.to_string())
        .map_err(|e| e.message().to_owned())
}

/// What reading settled working-tree paths gave.
#[derive(Debug, Clone, Default)]
pub struct WorktreeRead {
    pub changes: Vec<WorktreeChange>,
    /// Paths that could not be read, with why.
    pub skipped: Vec<(String, String)>,
}

/// The changes of `paths` against HEAD, and the paths that could not be read.
///
/// # Errors
/// [`ScanError`] when HEAD or the diff cannot be read.
pub fn worktree_changes(
    repo: &Repository,
    paths: &[Vec<u8>],
    markers: &[String],
) -> Result<WorktreeRead, ScanError> {
    let Some(workdir) = repo.workdir().map(Path::to_path_buf) else {
        return Ok(WorktreeRead::default());
    };
    let mut skipped = Vec::new();
    let mut readable = Vec::new();
    for raw in paths {
        let full = workdir.join(path_of(raw));
        let shown = || String::from_utf8_lossy(raw).into_owned();
        // Only regular files are read (a FIFO would block the read for good), symlinks as
        // their target's name, and a missing file is a deletion.
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_file() => match std::fs::File::open(&full) {
                Ok(_) => readable.push(raw.clone()),
                Err(e) => skipped.push((shown(), e.to_string())),
            },
            Ok(m) if m.file_type().is_symlink() => readable.push(raw.clone()),
            Ok(_) => skipped.push((shown(), "not a regular file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => readable.push(raw.clone()),
            Err(e) => skipped.push((shown(), e.to_string())),
        }
    }
    if readable.is_empty() {
        return Ok(WorktreeRead {
            changes: Vec::new(),
            skipped,
        });
    }
    let head_tree = match repo.head().and_then(|h| h.peel_to_tree()) {
        Ok(tree) => Some(tree),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
        Err(e) => return Err(fail("read HEAD")(e)),
    };
    let mut options = diff_options();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .disable_pathspec_match(true);
    for raw in &readable {
        options.pathspec(raw.clone());
    }
    let mut diff = repo
        .diff_tree_to_workdir_with_index(head_tree.as_ref(), Some(&mut options))
        .map_err(fail("diff the working tree"))?;
    let facts = diff_facts(&mut diff, markers).map_err(fail("diff the working tree"))?;
    let mut out = Vec::new();
    for change in facts.files {
        let content_id = if change.status == ChangeStatus::Deleted {
            "deleted".to_owned()
        } else {
            let raw = readable
                .iter()
                .find(|r| String::from_utf8_lossy(r) == change.path)
                .cloned()
                .unwrap_or_else(|| change.path.clone().into_bytes());
            match content_id(&workdir.join(path_of(&raw))) {
                Ok(id) => id,
                Err(error) => {
                    skipped.push((change.path.clone(), error));
                    continue;
                }
            }
        };
        out.push(WorktreeChange { change, content_id });
    }
    Ok(WorktreeRead {
        changes: out,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_tree_reads_regular_files_and_skips_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("edit.py"), "# TODO: check\nx = 1\n").unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.path().join("pipe.py"))
            .status()
            .is_ok_and(|s| s.success());
        let mut paths = vec![b"edit.py".to_vec(), b"gone.py".to_vec()];
        if fifo {
            paths.push(b"pipe.py".to_vec());
        }
        let read = worktree_changes(&repo, &paths, &["TODO".into()]).unwrap();
        assert_eq!(read.changes.len(), 1, "{read:?}");
        let edit = &read.changes[0];
        assert_eq!(edit.change.path, "edit.py");
        assert_eq!(edit.change.status, ChangeStatus::Added);
        assert_eq!(edit.change.insertions, 2);
        assert_eq!(edit.change.lines.todos_added, ["# TODO: check"]);
        let blob = Oid::hash_object(git2::ObjectType::Blob, b"# TODO: check\nx = 1\n").unwrap();
        assert_eq!(edit.content_id, blob.to_string());
        if fifo {
            assert_eq!(
                read.skipped,
                [("pipe.py".to_owned(), "not a regular file".to_owned())]
            );
        }
    }
}
