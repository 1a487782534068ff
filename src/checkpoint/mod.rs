//! TensorFlow V2 checkpoints (the "tensor bundle"): an SSTable `.index` of
//! `BundleEntryProto`s plus one or more `.data-NNNNN-of-NNNNN` shards.
//!
//! Reading never copies tensor bytes: shards are memory-mapped and tensors are
//! `Bytes` views into them, checked against their CRC32C on every read.

pub(crate) mod crc;
#[cfg(test)]
mod format_tests;
mod reader;
mod slice_key;
mod state;
mod table;
mod table_builder;
mod writer;

use std::path::{Path, PathBuf};

pub use reader::{Checkpoint, EntryInfo, Slice};
pub use state::{read_state, resolve_prefix, CheckpointState, Resolved};
pub use crate::tensor::{Tensor, TensorData};
pub use writer::CheckpointWriter;
/// What ends every `.index` file, for telling one by its contents.
pub(crate) use table::{FOOTER_LEN as INDEX_FOOTER_LEN, MAGIC as INDEX_MAGIC};

/// Everything that can go wrong reading or writing a checkpoint. Each variant
/// names the file (or prefix) involved so the CLI can report it as is.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Io(#[from] crate::error::FileError),
    #[error(transparent)]
    Foreign(#[from] crate::filekind::ForeignFile),
    #[error("{}: {msg}", .path.display())]
    Corrupt { path: PathBuf, msg: String },
    #[error("{}: {msg}", .path.display())]
    NotFound { path: PathBuf, msg: String },
    #[error("{}: no tensor named `{name}` in this checkpoint", .prefix.display())]
    NoSuchTensor { prefix: PathBuf, name: String },
    #[error("{}: tensor `{name}`: {msg}", .path.display())]
    BadTensor {
        path: PathBuf,
        name: String,
        msg: String,
    },
}

impl CheckpointError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CheckpointError::Io(crate::error::FileError { path: path.to_path_buf(), source })
    }

    pub(crate) fn corrupt(path: &Path, msg: impl Into<String>) -> Self {
        CheckpointError::Corrupt {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }

    pub(crate) fn bad_tensor(path: &Path, name: &str, msg: impl Into<String>) -> Self {
        CheckpointError::BadTensor {
            path: path.to_path_buf(),
            name: name.to_string(),
            msg: msg.into(),
        }
    }
}

pub type Result<T, E = CheckpointError> = std::result::Result<T, E>;

/// `<prefix>.index`
pub fn index_path(prefix: &Path) -> PathBuf {
    with_suffix(prefix, ".index")
}

/// `<prefix>.meta`, the MetaGraphDef a `tf.train.Saver` writes beside the checkpoint.
pub fn meta_path(prefix: &Path) -> PathBuf {
    with_suffix(prefix, ".meta")
}

/// `<prefix>.data-00000-of-00001` and its siblings, as TensorFlow names them.
pub fn data_path(prefix: &Path, shard: usize, num_shards: usize) -> PathBuf {
    with_suffix(prefix, &format!(".data-{shard:05}-of-{num_shards:05}"))
}

/// Appends to the file name rather than replacing an extension: prefixes such
/// as `model.ckpt-1000` contain dots that are not extensions.
pub(crate) fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}
