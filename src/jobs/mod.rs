//! The commands' jobs as library functions: which files to read, the chain
//! of passes, where to write. The CLI parses flags into a job and renders
//! its report; a Rust program calls the same function.

mod compact;
mod inject;
mod inspect;
mod loadable;
mod output;
mod strip;

use std::path::{Path, PathBuf};

pub use compact::{compact_file, CompactJob, CompactSummary};
pub use inject::inject_file;
pub use inspect::{inspect_path, write_tensorboard, Inspection};
pub use loadable::encode_loadable_saved_model;
pub use output::{GraphOutput, Written};
pub use strip::{strip_checkpoint, StripJob, StripSummary};

use crate::checkpoint::CheckpointError;
use crate::codec::CodecError;
use crate::graph::GraphError;
use crate::transform::TransformError;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Transform(#[from] TransformError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    SavedModel(#[from] crate::saved_model::SavedModelError),
    #[error("{}: {source}", .path.display())]
    Inject {
        path: PathBuf,
        #[source]
        source: crate::transform::InjectError,
    },
    #[error(transparent)]
    Io(#[from] crate::error::FileError),
    /// The job as asked cannot be done (a missing `.meta`, an output that
    /// would overwrite an input); the message says what to change.
    #[error("{0}")]
    Invalid(String),
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

/// Refuses to overwrite any file the job reads, or (for a SavedModel) a
/// directory holding one.
fn check_not_an_input(output: &Path, inputs: &[PathBuf]) -> Result<(), JobError> {
    let Ok(out) = output.canonicalize() else { return Ok(()) };
    for input in inputs {
        if input.canonicalize().is_ok_and(|i| i.starts_with(&out)) {
            return Err(JobError::Invalid(format!(
                "{}: the output would overwrite an input file; choose another --output_dir or --filename",
                output.display()
            )));
        }
    }
    Ok(())
}
