//! A checkpoint directory's `checkpoint` state file, which names the latest
//! checkpoint (as `tf.train.latest_checkpoint` reads it).

use std::path::{Path, PathBuf};

use super::{CheckpointError, Result};
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
