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
use crate::graph::ModelFile;
use crate::overwrite::check_not_an_input;
use crate::proto::tensorflow::GraphDef;

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
    if is_container_file(path) {
        let pb = Bytes::from(
            codec::decode(&read(path)?).map_err(|problem| CodecError::Container { path: path.to_path_buf(), problem })?,
        );
        GraphDef::decode(pb.clone())
            .map_err(|e| CodecError::NotGraph { path: path.to_path_buf(), msg: e.to_string() })?;
        return Ok(pb);
    }
    let file = match is_graph(path) {
        true => path.to_path_buf(),
        false => {
            let prefix = checkpoint::resolve_prefix(path)?.prefix;
            let meta = checkpoint::meta_path(&prefix);
            if !meta.is_file() {
                return Err(JobError::Invalid(format!(
                    "{}: the checkpoint has no .meta graph to show in TensorBoard",
                    prefix.display()
                )));
            }
            meta
        }
    };
    let (file, model) = ModelFile::load(&file)?;
    let def = model
        .graph_def()
        .ok_or_else(|| JobError::Invalid(format!("{}: holds no graph", file.display())))?;
    Ok(def.encode_to_vec().into())
}
