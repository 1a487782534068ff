//! `inspect PATH`: what a file or directory holds, whichever of the kinds
//! tf-strip reads it is.

use std::path::Path;

use super::JobError;
use crate::checkpoint::{self, Checkpoint};
use crate::codec::{self, CodecError, EncodeOptions, Estimate, TensorInfo};
use crate::model::Model;
use crate::inspect::{inspect_checkpoint, inspect_graph, CheckpointReport, GraphReport};
use crate::error::FileError;

pub enum Inspection {
    /// A sparse container: its size and the tensors it holds.
    Container { bytes: u64, tensors: Vec<TensorInfo> },
    /// A graph's constants, with the bytes each encoding would take.
    Encodings(Vec<Estimate>),
    Graph(GraphReport),
    Checkpoint { report: CheckpointReport, warnings: Vec<String> },
}

fn read(path: &Path) -> Result<Vec<u8>, JobError> {
    std::fs::read(path).map_err(|source| JobError::Io(FileError { path: path.to_path_buf(), source }))
}

/// Whether `path` is a file starting with the container magic.
fn is_container_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && codec::is_container(&magic)
}

/// A graph file or SavedModel directory, by name, as TensorFlow's tools tell them.
fn is_graph(path: &Path) -> bool {
    path.join("saved_model.pb").is_file()
        || path.join("saved_model.pbtxt").is_file()
        || (path.is_file()
            && ["pb", "pbtxt", "pbtext", "meta", "txt"].iter().any(|e| path.extension().is_some_and(|x| x == *e)))
}

/// Inspects a container, a graph (`encodings`: per constant, what each
/// encoding would take) or a checkpoint directory or prefix.
pub fn inspect_path(path: &Path, encodings: bool) -> Result<Inspection, JobError> {
    if is_container_file(path) {
        let bytes = read(path)?;
        let tensors = codec::describe(&bytes)
            .map_err(|problem| CodecError::Container { path: path.to_path_buf(), problem })?;
        return Ok(Inspection::Container { bytes: bytes.len() as u64, tensors });
    }
    if encodings {
        return Ok(Inspection::Encodings(codec::analyze(&read(path)?, &EncodeOptions::default())));
    }
    if is_graph(path) {
        return Ok(Inspection::Graph(inspect_graph(&Model::load(path)?)));
    }
    let resolved = checkpoint::resolve_prefix(path)?;
    let ckpt = Checkpoint::open(&resolved.prefix)?;
    let meta_path = checkpoint::meta_path(&resolved.prefix);
    let meta = match meta_path.is_file() {
        true => Some(Model::load(&meta_path)?),
        false => None,
    };
    let report = inspect_checkpoint(&ckpt, meta.as_ref())?;
    Ok(Inspection::Checkpoint { report, warnings: resolved.warnings })
}
