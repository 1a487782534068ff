//! Finding the checkpoint a user means: a directory with a `checkpoint` state
//! file (as `tf.train.latest_checkpoint` reads it), or an explicit prefix.

use std::path::{Path, PathBuf};

use super::{index_path, CheckpointError, Result};
use crate::filekind::{DirKind, FileKind, ForeignFile, Wanted};
use crate::textformat;

pub use crate::proto::tensorflow::CheckpointState;

/// What is wrong with a checkpoint directory's `checkpoint` state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the directory is empty: no checkpoint has been saved here")]
    EmptyDirectory,
    #[error("no `checkpoint` state file here (is this the directory a tf.train.Saver saved into?)")]
    NoStateFile,
    #[error("not a CheckpointState text file: {0}")]
    NotText(#[source] textformat::TextFormatError),
    #[error("model_checkpoint_path is empty")]
    EmptyPath,
    #[error("stale state file: it names {named}, but {} does not exist", .index.display())]
    Stale { named: String, index: PathBuf },
}

/// A resolved prefix, and what the user should be told about how it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub prefix: PathBuf,
    pub warnings: Vec<String>,
}

/// Reads `<dir>/checkpoint`.
pub fn read_state(dir: &Path) -> Result<CheckpointState> {
    let path = dir.join("checkpoint");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
            return Err(CheckpointError::State {
                path: dir.to_path_buf(),
                source: if empty { StateError::EmptyDirectory } else { StateError::NoStateFile },
            });
        }
        Err(e) => return Err(CheckpointError::io(&path, e)),
    };
    textformat::parse::<CheckpointState>(&text).map_err(|e| CheckpointError::State { path, source: StateError::NotText(e) })
}

/// Resolves a checkpoint directory, a prefix, or one of a checkpoint's own
/// files (`.index`, `.meta`, `.data-*`) to the prefix.
pub fn resolve_prefix(path: &Path) -> Result<Resolved> {
    let kind = FileKind::of(path);
    if kind == FileKind::Directory(DirKind::SavedModel) {
        return Err(ForeignFile::new(path, kind, Wanted::Checkpoint).into());
    }
    if path.is_dir() {
        return resolve_dir(path);
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

fn resolve_dir(dir: &Path) -> Result<Resolved> {
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
