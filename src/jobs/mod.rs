//! The commands' jobs as library functions: which files to read, the chain
//! of passes, where to write. The CLI parses flags into a job and renders
//! its report; a Rust program calls the same function. `verify` and `bench`
//! run models in TensorFlow through `runner` and `runtime`.

mod accelerate;
mod accelerate_tf;
mod bench;
mod compact;
mod decode;
mod encode;
mod frozen;
mod graph_bytes;
mod inject;
mod inspect;
mod output;
mod strip;
mod summary;
mod verify;

use std::path::PathBuf;

pub use accelerate::{accelerate_file, AccelerateJob, AccelerateReports, AccelerateSummary};
pub use accelerate_tf::{
    accelerate_graph, GraphCheck, GraphTiming, LayerTiming, TfAccelerateOptions, TfAccelerateReport, TfDecision, TfLayerReport,
    DEFAULT_MARGIN,
};
pub use bench::{bench, BenchOptions, BenchProgress, BenchReport, BenchResult, Stop};
pub use compact::{compact_file, CompactInput, CompactJob, CompactSummary};
pub use decode::{decode_file, DecodeSummary};
pub use encode::{encode_file, EncodeJob, EncodeSummary, Encoded, Encoding};
pub use frozen::{require_frozen, Unfrozen};
pub use inject::inject_file;
pub use inspect::{inspect_path, write_tensorboard, Inspection};
pub use output::{GraphOutput, Written};
pub use strip::{strip_checkpoint, StripInputs, StripJob, StripReports, StripSummary};
pub use summary::Summary;
pub use verify::{verify, Comparison, FedInput, ModelInfo, OutputDiff, VerifyOptions, VerifyReport};

use crate::checkpoint::CheckpointError;
use crate::codec::CodecError;
use crate::graph::GraphError;
use crate::graph::Graph;
use crate::transform::{tensor_arrays_to_lists, TensorListReport, TransformError};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Locate(#[from] crate::locate::LocateError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Transform(#[from] TransformError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    SavedModel(#[from] crate::saved_model::SavedModelError),
    #[error("{}: {source}", .path.display())]
    Loadable {
        path: PathBuf,
        #[source]
        source: crate::transform::loadable::LoadableError,
    },
    #[error("{}: {source}", .path.display())]
    Inject {
        path: PathBuf,
        #[source]
        source: crate::transform::InjectError,
    },
    #[error(transparent)]
    Io(#[from] crate::error::FileError),
    #[error(transparent)]
    Overwrite(#[from] crate::overwrite::OverwriteError),
    #[error(transparent)]
    TfLite(#[from] crate::tflite::TfLiteError),
    #[error(transparent)]
    Unfrozen(#[from] Unfrozen),
    #[error("{}: the checkpoint's MetaGraphDef is missing; pass --input_meta_graph or --input_graph", .meta.display())]
    NoMetaGraph { meta: PathBuf },
    #[error("{}: the checkpoint has no .meta graph to show in TensorBoard", .prefix.display())]
    NoGraphToShow { prefix: PathBuf },
    #[error("{}: holds no graph", .path.display())]
    HoldsNoGraph { path: PathBuf },
    #[error("{}: a SavedModel; inject takes the training graph as a .meta MetaGraphDef or a GraphDef", .path.display())]
    InjectSavedModel { path: PathBuf },
    #[error("--batch needs batch sizes of at least 1")]
    NoBatch,
    #[error("{}: choosing the layers to rewrite by measurement needs TensorFlow, and it {source}; or give --min_sparsity S to decide by sparsity alone", .path.display())]
    NoTensorFlowToMeasure {
        path: PathBuf,
        #[source]
        source: crate::runtime::RuntimeError,
    },
    #[error("{}: `{weight}`: {source}", .path.display())]
    BadWeight {
        path: PathBuf,
        weight: String,
        #[source]
        source: crate::tensor::TensorError,
    },
    /// Measuring or verifying in TensorFlow (`accelerate`); boxed, being
    /// the largest error by far.
    #[error(transparent)]
    Runner(Box<crate::runner::RunnerError>),
    #[error("{}: {source}", .path.display())]
    SparseMatMul {
        path: PathBuf,
        #[source]
        source: crate::transform::SparseMatMulError,
    },
}

impl From<crate::runner::RunnerError> for JobError {
    fn from(e: crate::runner::RunnerError) -> Self {
        JobError::Runner(Box::new(e))
    }
}

/// Told where a long job is, for a progress display.
pub trait Progress {
    /// The job starts, on inputs of this many bytes (a display may show
    /// itself only for big ones).
    fn begin(&self, _input_bytes: u64) {}
    fn step(&self, what: &'static str);
}

/// No display.
impl Progress for () {
    fn step(&self, _: &'static str) {}
}

/// The `tensor_lists` step of strip and compact, when asked for.
fn rewrite_tensor_arrays(
    graph: &mut Graph,
    asked: bool,
    progress: &dyn Progress,
) -> Result<Option<TensorListReport>, JobError> {
    if !asked {
        return Ok(None);
    }
    progress.step("rewriting TensorArrays into TensorLists");
    Ok(Some(tensor_arrays_to_lists(graph)?))
}

/// An array left as it was keeps the model off TFLite's builtin ops.
fn tensor_list_warnings(report: &TensorListReport) -> Vec<String> {
    let mut warnings: Vec<String> = report
        .kept
        .iter()
        .map(|k| format!("TensorArray `{}` stays: {}; TFLite runs it only through the Flex delegate", k.name, k.reason))
        .collect();
    if report.rewritten.is_empty() && report.kept.is_empty() {
        warnings.push("--tensor_lists: the graph has no TensorArray".into());
    }
    warnings
}
