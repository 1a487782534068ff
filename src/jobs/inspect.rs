//! `inspect PATH`: what a file or directory holds, whichever of the kinds
//! tf-strip reads it is.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use super::JobError;
use crate::checkpoint::{self, Checkpoint};
use crate::codec::{self, CodecError, EncodeOptions, Estimate, TensorInfo};
use crate::model::Model;
use crate::inspect::{inspect_checkpoint, inspect_graph, CheckpointReport, GraphReport};
use crate::error::FileError;
use crate::overwrite::check_not_an_input;
use crate::filekind::{DirKind, FileKind, ForeignFile, Wanted};
use crate::graph::{GraphError, ModelFile};

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

/// What `path` is, when `inspect` reads that kind: a container, a graph
/// (file or SavedModel) or a checkpoint.
fn kind(path: &Path) -> Result<FileKind, JobError> {
    match FileKind::of(path) {
        k @ (FileKind::Container | FileKind::Unknown | FileKind::Directory(DirKind::SavedModel)) => Ok(k),
        k if k.is_checkpoint() => Ok(k),
        k => Err(GraphError::from(ForeignFile::new(path, k, Wanted::Model)).into()),
    }
}

/// Inspects a container, a graph (`encodings`: per constant, what each
/// encoding would take) or a checkpoint directory or prefix.
pub fn inspect_path(path: &Path, encodings: bool) -> Result<Inspection, JobError> {
    let kind = kind(path)?;
    if kind == FileKind::Container {
        let bytes = read(path)?;
        let tensors = codec::describe(&bytes)
            .map_err(|problem| CodecError::Container { path: path.to_path_buf(), problem })?;
        return Ok(Inspection::Container { bytes: bytes.len() as u64, tensors });
    }
    if encodings {
        return Ok(Inspection::Encodings(codec::analyze(&read(path)?, &EncodeOptions::default())));
    }
    if !kind.is_checkpoint() {
        return Ok(Inspection::Graph(inspect_graph(&Model::load(path)?)));
    }
    let resolved = crate::locate::resolve_prefix(path)?;
    let ckpt = Checkpoint::open(&resolved.prefix)?;
    let meta_path = checkpoint::meta_path(&resolved.prefix);
    let meta = match meta_path.is_file() {
        true => Some(Model::load(&meta_path)?),
        false => None,
    };
    let report = inspect_checkpoint(&ckpt, meta.as_ref())?;
    Ok(Inspection::Checkpoint { report, warnings: resolved.warnings })
}

/// Writes the graph `path` holds into a TensorBoard events file in `logdir`
/// and returns the file's path: a GraphDef, a MetaGraphDef's or SavedModel's
/// graph, a checkpoint's `.meta` graph, a container's decoded GraphDef.
pub fn write_tensorboard(path: &Path, logdir: &Path) -> Result<PathBuf, JobError> {
    // Into an existing folder goes a new file of a new name, which replaces
    // nothing: a training directory is a usual LOGDIR.
    if !logdir.is_dir() {
        check_not_an_input(logdir, &[ModelFile::file_of(path)])?;
    }
    Ok(crate::events::write_graph_events(logdir, graph_bytes(path)?)?)
}

/// The serialized GraphDef of any model `inspect` reads.
fn graph_bytes(path: &Path) -> Result<Bytes, JobError> {
    let file = match kind(path)?.is_checkpoint() {
        false => path.to_path_buf(),
        true => {
            let prefix = crate::locate::resolve_prefix(path)?.prefix;
            let meta = checkpoint::meta_path(&prefix);
            if !meta.is_file() {
                return Err(JobError::NoGraphToShow { prefix });
            }
            meta
        }
    };
    let (file, model) = ModelFile::load(&file)?;
    let def = model
        .graph_def()
        .ok_or_else(|| JobError::HoldsNoGraph { path: file.clone() })?;
    Ok(def.encode_to_vec().into())
}
