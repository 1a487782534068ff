//! TensorFlow V2 checkpoints (the "tensor bundle"): an SSTable `.index` of
//! `BundleEntryProto`s plus one or more `.data-NNNNN-of-NNNNN` shards.
//!
//! Reading never copies tensor bytes: shards are memory-mapped and tensors are
//! `Bytes` views into them, checked against their CRC32C on every read.

pub(crate) mod crc;
mod fault;
#[cfg(test)]
mod format_tests;
mod reader;
mod slice_key;
mod state;
mod table;
mod table_builder;
mod writer;

use std::path::{Path, PathBuf};

pub use fault::{IndexError, TensorFault};
pub use reader::{Checkpoint, EntryInfo, Slice};
pub use state::{read_state, CheckpointState, StateError};
pub use table::TableError;
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
    #[error("{}: {source}", .path.display())]
    Index {
        path: PathBuf,
        #[source]
        source: IndexError,
    },
    #[error("{}: {source}", .path.display())]
    State {
        path: PathBuf,
        #[source]
        source: StateError,
    },
    #[error("{}: data shard is missing", .0.display())]
    MissingShard(PathBuf),
    #[error("{}: no tensor named `{name}` in this checkpoint", .prefix.display())]
    NoSuchTensor { prefix: PathBuf, name: String },
    #[error("{}: tensor `{name}`: {fault}", .path.display())]
    BadTensor {
        path: PathBuf,
        name: String,
        #[source]
        fault: TensorFault,
    },
}

impl CheckpointError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CheckpointError::Io(crate::error::FileError { path: path.to_path_buf(), source })
    }

    pub(crate) fn bad_tensor(path: &Path, name: &str, fault: TensorFault) -> Self {
        CheckpointError::BadTensor {
            path: path.to_path_buf(),
            name: name.to_string(),
            fault,
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
