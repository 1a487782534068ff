//! Graph rewrites. Each is a function over a `Graph`, composable like
//! TensorFlow's Graph Transform Tool; `strip` chains them into the job
//! `strip_pruning_vars` does.

mod colocation;
pub mod compact;
mod eval;
mod fold_masks;
mod freeze;
pub mod sparse_matmul;
pub mod inject;
pub mod loadable;
mod strip;
mod tensor_lists;
#[cfg(test)]
pub(crate) mod testing;

use std::path::PathBuf;

pub use colocation::drop_dangling_colocation;
pub use compact::{compact, CompactOptions, CompactReport};
pub use eval::{ConcatError, EvalError};
pub use fold_masks::{fold_masks, MaskedWeight};
pub use freeze::{freeze, VariableSource};
pub use inject::{inject, InjectError, InjectOptions, InjectReport, SaverFault};
pub use sparse_matmul::{rewrite_sparse_matmuls, sparse_matmul_candidates, MatMulCandidate, SparseMatMulError};
pub use strip::{strip, StripOptions, StripReport};
pub use tensor_lists::{tensor_arrays_to_lists, KeptArray, TensorListReport};

use crate::checkpoint::CheckpointError;
use crate::graph::GraphError;
use crate::proto::tensorflow::DataType;

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("variable `{node}` is needed by the outputs but {} has no tensor `{key}`", .checkpoint.display())]
    MissingVariable {
        node: String,
        key: String,
        checkpoint: PathBuf,
    },
    #[error("cannot fold `{node}`: {source}")]
    Fold {
        node: String,
        #[source]
        source: FoldError,
    },
}

/// Why a node cannot be replaced by its constant value.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    #[error(transparent)]
    Eval(#[from] eval::EvalError),
    #[error("its value would enter the loop from `{0}`, a name the graph already uses")]
    NameTaken(String),
    #[error("the graph says {declared:?}, the checkpoint holds {holds:?}")]
    DtypeMismatch { declared: Option<DataType>, holds: DataType },
    #[error("ResourceGather with batch_dims={0} cannot be frozen")]
    GatherBatchDims(i64),
    #[error("ResourceGather needs two inputs")]
    GatherInputs,
}

pub type Result<T, E = TransformError> = std::result::Result<T, E>;
