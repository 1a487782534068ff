//! The checkpoint a user means by the path given: a checkpoint directory (its
//! `checkpoint` state file names the latest), a prefix, or one of the
//! checkpoint's own files. It sits above both `checkpoint` and `filekind`, so
//! that a path holding something else is named for what it is.

use std::path::{Path, PathBuf};

use crate::checkpoint::{index_path, read_state, CheckpointError, StateError};
use crate::filekind::{DirKind, FileKind, ForeignFile, Wanted};

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(transparent)]
    Foreign(#[from] ForeignFile),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// A resolved prefix, and what the user should be told about how it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub prefix: PathBuf,
    pub warnings: Vec<String>,
}

/// Resolves a checkpoint directory, a prefix, or one of a checkpoint's own
/// files (`.index`, `.meta`, `.data-*`) to the prefix.
pub fn resolve_prefix(path: &Path) -> Result<Resolved, LocateError> {
    let kind = FileKind::of(path);
    if kind == FileKind::Directory(DirKind::SavedModel) {
        return Err(ForeignFile::new(path, kind, Wanted::Checkpoint).into());
    }
    if path.is_dir() {
        return Ok(resolve_dir(path)?);
    }
    let prefix = strip_checkpoint_suffix(path);
    if index_path(&prefix).is_file() {
        return Ok(Resolved {
            prefix,
            warnings: Vec::new(),
        });
    }
    Err(ForeignFile::new(path, kind, Wanted::Checkpoint).into())
}

fn resolve_dir(dir: &Path) -> Result<Resolved, CheckpointError> {
    let state = read_state(dir)?;
    let named = PathBuf::from(&state.model_checkpoint_path);
    if state.model_checkpoint_path.is_empty() {
        return Err(CheckpointError::State { path: dir.join("checkpoint"), source: StateError::EmptyPath });
    }
    let prefix = if named.is_absolute() { named.clone() } else { dir.join(&named) };
    if index_path(&prefix).is_file() {
        return Ok(Resolved {
            prefix,
            warnings: Vec::new(),
        });
    }
    // A directory copied from another machine keeps absolute paths that no
    // longer exist; TensorFlow fails there, but the files are right here.
    if let Some(base) = named.file_name() {
        let local = dir.join(base);
        if index_path(&local).is_file() {
            return Ok(Resolved {
                warnings: vec![format!(
                    "{}: names {}, which does not exist; using {} from the same directory",
                    dir.join("checkpoint").display(),
                    named.display(),
                    local.display()
                )],
                prefix: local,
            });
        }
    }
    Err(CheckpointError::State {
        path: dir.join("checkpoint"),
        source: StateError::Stale { named: state.model_checkpoint_path, index: index_path(&prefix) },
    })
}

fn strip_checkpoint_suffix(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    for suffix in [".index", ".meta"] {
        if let Some(p) = s.strip_suffix(suffix) {
            return PathBuf::from(p);
        }
    }
    if let Some(at) = s.rfind(".data-") {
        let tail = &s[at + ".data-".len()..];
        if tail.len() == 14 && tail.as_bytes()[5..9] == *b"-of-" {
            return PathBuf::from(&s[..at]);
        }
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_stripped() {
        assert_eq!(strip_checkpoint_suffix(Path::new("d/model.ckpt-10.index")), PathBuf::from("d/model.ckpt-10"));
        assert_eq!(
            strip_checkpoint_suffix(Path::new("d/m.data-00001-of-00002")),
            PathBuf::from("d/m")
        );
        assert_eq!(strip_checkpoint_suffix(Path::new("d/model.ckpt-10")), PathBuf::from("d/model.ckpt-10"));
    }
}
