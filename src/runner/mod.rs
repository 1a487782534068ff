//! What `verify` and `bench` share: opening any model a user has so that the
//! real TensorFlow can run it (`open`, `Source::load`), finding its outputs
//! and the placeholders they need (`signature.rs`), and making the values fed
//! to them (`feeds.rs`, `npy.rs`).

mod feeds;
mod npy;
mod signature;
mod usage;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use prost::Message;

pub use feeds::{make_feeds, read_given, Given, InputOptions};
pub use npy::NpyError;
pub use signature::{placeholders, resolve_shapes, InputSpec};
pub use usage::UsageError;

use crate::checkpoint::{meta_path, CheckpointError};
use crate::codec::CodecError;
use crate::locate::resolve_prefix;
use crate::filekind::{DirKind, FileKind, ForeignFile, Wanted};
use crate::graph::{read_message, Format, Graph, GraphError, InputRef, ModelFile};
use crate::proto::tensorflow::{tensor_info, DataType, GraphDef, MetaGraphDef};
use crate::runtime::{Model, RuntimeError, SessionConfig};

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Locate(#[from] crate::locate::LocateError),
    #[error("{}: {source}", .path.display())]
    Runtime {
        path: PathBuf,
        #[source]
        source: RuntimeError,
    },
    #[error(transparent)]
    Load(RuntimeError),
    /// A model TensorFlow could load but tf-strip cannot run as asked.
    #[error("{}: {fault}", .path.display())]
    Model {
        path: PathBuf,
        #[source]
        fault: ModelFault,
    },
    #[error(transparent)]
    Io(#[from] crate::error::FileError),
    #[error("{}: {source}", .path.display())]
    Npy {
        path: PathBuf,
        #[source]
        source: npy::NpyError,
    },
    #[error(transparent)]
    Usage(#[from] UsageError),
}

impl RunnerError {
    /// Whether the command line, not a file, is at fault (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, RunnerError::Usage(_))
    }
}

/// What is wrong with a model, for running it.
#[derive(Debug, thiserror::Error)]
pub enum ModelFault {
    #[error("the SavedModel holds no meta graph")]
    NoMetaGraph,
    #[error("the meta graph has no saver_def to restore the checkpoint with")]
    NoSaver,
    #[error("the checkpoint path is not UTF-8, which TensorFlow needs")]
    PathNotUtf8,
    #[error("placeholder `{placeholder}` is of type {dtype}, which tf-strip cannot feed")]
    Unfeedable { placeholder: String, dtype: DataType },
    #[error("placeholder `{placeholder}` is {dtype} here but {earlier} in an earlier model")]
    PlaceholderType { placeholder: String, dtype: DataType, earlier: DataType },
}

pub type Result<T, E = RunnerError> = std::result::Result<T, E>;

/// What a path holds, as `tf-strip verify` and `bench` accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A frozen or TF-loadable GraphDef, `.pb` or `.pbtxt`.
    GraphDef,
    /// A container from `tf-strip encode` (TFSPARSE magic).
    Container,
    SavedModel,
    /// A checkpoint directory or prefix: its `.meta` training graph, restored.
    Checkpoint,
}

/// A model opened for running: its graph as we parsed it, and how TensorFlow loads it.
pub struct Source {
    pub path: PathBuf,
    pub kind: Kind,
    pub graph: Graph,
    /// The SavedModel's serving signature outputs, sorted by signature key.
    signature_outputs: Vec<String>,
    how: How,
}

enum How {
    /// A binary GraphDef file, read (and decoded, for a container) as part of loading.
    File(PathBuf),
    /// A text GraphDef, encoded once: TensorFlow imports binary only.
    Bytes(Vec<u8>),
    SavedModel { dir: PathBuf, tags: Vec<String> },
    Checkpoint { graph_def: Vec<u8>, restore_op: String, filename_tensor: String, prefix: String },
}

/// Opens `path`: a GraphDef, a container, a SavedModel directory, or a
/// checkpoint directory or prefix.
pub fn open(path: &Path) -> Result<Source> {
    let kind = FileKind::of(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match kind {
        FileKind::Directory(DirKind::SavedModel) => return open_saved_model(path),
        // A `.meta` is run as its checkpoint's training graph, restored.
        k if k.is_checkpoint() || (k == FileKind::Unknown && name.ends_with(".meta")) => return open_checkpoint(path),
        FileKind::Container | FileKind::Unknown => {}
        k => return Err(GraphError::from(ForeignFile::new(path, k, Wanted::Model)).into()),
    }
    let bytes = std::fs::read(path).map_err(|source| GraphError::Io(crate::error::FileError { path: path.to_path_buf(), source }))?;
    if crate::codec::is_container(&bytes) {
        let def = crate::codec::decode_graph_def(path, &bytes).map_err(GraphError::from)?;
        return source(path, Kind::Container, def, How::File(path.to_path_buf()));
    }
    match GraphDef::decode(bytes::Bytes::from(bytes)) {
        Ok(def) if Format::from_path(path) == Format::Binary => {
            source(path, Kind::GraphDef, def, How::File(path.to_path_buf()))
        }
        _ => {
            let def: GraphDef = read_message(path)?;
            let bytes = def.encode_to_vec();
            source(path, Kind::GraphDef, def, How::Bytes(bytes))
        }
    }
}

fn model_error(path: &Path, fault: ModelFault) -> RunnerError {
    RunnerError::Model { path: path.to_path_buf(), fault }
}

fn source(path: &Path, kind: Kind, def: GraphDef, how: How) -> Result<Source> {
    let graph = Graph::new(def).map_err(|e| e.in_file(path))?;
    Ok(Source { path: path.to_path_buf(), kind, graph, signature_outputs: Vec::new(), how })
}

fn open_saved_model(dir: &Path) -> Result<Source> {
    let (file, model) = ModelFile::load(dir)?;
    let meta = model.meta_graph().ok_or_else(|| model_error(&file, ModelFault::NoMetaGraph))?;
    let tags = meta.meta_info_def.as_ref().map(|m| m.tags.clone()).unwrap_or_default();
    let signature = meta
        .signature_def
        .get("serving_default")
        .or_else(|| meta.signature_def.values().next());
    let signature_outputs = signature
        .map(|s| {
            s.outputs
                .values()
                .filter_map(|info| match &info.encoding {
                    Some(tensor_info::Encoding::Name(name)) => Some(name.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let def = meta.graph_def.clone().unwrap_or_default();
    let mut s = source(&file, Kind::SavedModel, def, How::SavedModel { dir: dir.to_path_buf(), tags })?;
    s.path = dir.to_path_buf();
    s.signature_outputs = signature_outputs;
    Ok(s)
}

fn open_checkpoint(path: &Path) -> Result<Source> {
    let prefix = resolve_prefix(path)?.prefix;
    let meta_file = meta_path(&prefix);
    let meta: MetaGraphDef = read_message(&meta_file)?;
    let saver = meta
        .saver_def
        .as_ref()
        .filter(|s| !s.restore_op_name.is_empty() && !s.filename_tensor_name.is_empty())
        .ok_or_else(|| model_error(&meta_file, ModelFault::NoSaver))?;
    let prefix_str = prefix
        .to_str()
        .ok_or_else(|| model_error(&prefix, ModelFault::PathNotUtf8))?
        .to_string();
    let (restore_op, filename_tensor) = (saver.restore_op_name.clone(), saver.filename_tensor_name.clone());
    let mut def = meta.graph_def.unwrap_or_default();
    // As `import_meta_graph(clear_devices=True)`: a training graph may pin
    // devices (`/cpu:1`) this machine's session does not have.
    for node in &mut def.node {
        node.device.clear();
    }
    let how = How::Checkpoint { graph_def: def.encode_to_vec(), restore_op, filename_tensor, prefix: prefix_str };
    let mut s = source(&meta_file, Kind::Checkpoint, def, how)?;
    s.path = path.to_path_buf();
    Ok(s)
}

impl Source {
    /// The outputs compared or timed when none are given: a SavedModel's
    /// signature outputs, a graph's sinks; `None` for a checkpoint, whose
    /// training graph ends in train ops and summaries.
    pub fn default_outputs(&self) -> Option<Vec<String>> {
        match self.kind {
            Kind::Checkpoint => None,
            Kind::SavedModel if !self.signature_outputs.is_empty() => Some(self.signature_outputs.clone()),
            _ => Some(crate::graph::sinks(&self.graph)),
        }
    }

    /// Loads the model into TensorFlow: reading and parsing, import, session
    /// creation, and for a checkpoint the restore; what `bench` times as load.
    pub fn load(&self, config: &SessionConfig) -> Result<Model> {
        let in_tf = |source| RunnerError::Runtime { path: self.path.clone(), source };
        match &self.how {
            How::File(file) => {
                let bytes = std::fs::read(file).map_err(|source| GraphError::Io(crate::error::FileError { path: file.clone(), source }))?;
                let bytes = if self.kind == Kind::Container {
                    crate::codec::decode(&bytes).map_err(|problem| GraphError::from(CodecError::Container { path: file.clone(), problem }))?
                } else {
                    bytes
                };
                Model::import(&bytes, config).map_err(in_tf)
            }
            How::Bytes(bytes) => Model::import(bytes, config).map_err(in_tf),
            How::SavedModel { dir, tags } => Model::saved_model(dir, tags, config).map_err(in_tf),
            How::Checkpoint { graph_def, restore_op, filename_tensor, prefix } => {
                let model = Model::import(graph_def, config).map_err(in_tf)?;
                model.restore(restore_op, filename_tensor, prefix).map_err(in_tf)?;
                Ok(model)
            }
        }
    }
}

/// The fetch names of `outputs` (`node` becomes `node:0`), each checked to
/// exist in every model.
pub fn resolve_outputs(sources: &[Source], given: Option<&[String]>) -> Result<Vec<String>> {
    let outputs = match given {
        Some(names) => names.to_vec(),
        None => sources.iter().find_map(Source::default_outputs).ok_or_else(|| {
            RunnerError::Usage(UsageError::NoDefaultOutputs)
        })?,
    };
    if outputs.is_empty() {
        return Err(RunnerError::Usage(UsageError::NoOutputs));
    }
    let fetches: Vec<String> = outputs.iter().map(|o| signature::tensor_name(o)).collect::<Result<_>>()?;
    for s in sources {
        for f in &fetches {
            s.graph.require(crate::graph::node_name(f)).map_err(|e| e.in_file(&s.path))?;
        }
    }
    Ok(fetches)
}

/// The dtypes `runtime` can feed and fetch, as a user would name them.
pub(crate) fn runnable(dtype: DataType) -> bool {
    matches!(
        dtype,
        DataType::DtFloat | DataType::DtDouble | DataType::DtInt32 | DataType::DtInt64 | DataType::DtUint8 | DataType::DtInt8
    )
}

/// Models opened for a run, with what they are fed and what is fetched.
pub struct Prepared {
    pub sources: Vec<Source>,
    pub fetches: Vec<String>,
    /// Every placeholder any model's outputs need, merged by name.
    pub inputs: Vec<InputSpec>,
    /// Per model, the feed names (`node:0`) its own outputs need: a training
    /// graph has labels and learning rates a stripped graph lacks.
    pub needs: Vec<HashSet<String>>,
}

/// Loads TensorFlow (before any model is opened, so a missing TensorFlow is
/// the first thing said), opens `paths` and finds their inputs and outputs.
pub fn prepare(paths: &[PathBuf], outputs: Option<&[String]>, python: Option<&Path>) -> Result<Prepared> {
    crate::runtime::load_with(python).map_err(RunnerError::Load)?;
    let sources: Vec<Source> = paths.iter().map(|p| open(p)).collect::<Result<_>>()?;
    let fetches = resolve_outputs(&sources, outputs)?;
    let per_model: Vec<Vec<InputSpec>> = sources.iter().map(|s| placeholders(s, &fetches)).collect::<Result<_>>()?;
    let mut inputs: Vec<InputSpec> = Vec::new();
    for (source, specs) in sources.iter().zip(&per_model) {
        for spec in specs {
            match inputs.iter().find(|m| m.name == spec.name) {
                Some(m) if m.dtype != spec.dtype => {
                    return Err(model_error(
                        &source.path,
                        ModelFault::PlaceholderType { placeholder: spec.name.clone(), dtype: spec.dtype, earlier: m.dtype },
                    ))
                }
                Some(_) => {}
                None => inputs.push(spec.clone()),
            }
        }
    }
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    let needs = per_model.iter().map(|specs| specs.iter().map(|s| InputRef::tensor_name(&s.name, 0)).collect()).collect();
    Ok(Prepared { sources, fetches, inputs, needs })
}
