//! What `verify` and `bench` share: opening any model a user has so that the
//! real TensorFlow (or LiteRT, for a `.tflite`) can run it (`open`,
//! `Source::load`, `Loaded::run`), finding its outputs and the placeholders
//! they need (`signature.rs`; a `.tflite`'s paired with them by name or
//! order: `pair`), and making the values fed to them (`feeds.rs`, `npy.rs`).

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
use crate::runtime::litert::{self, LiteRtError, TensorSpec};
use crate::runtime::{Model, RuntimeError, SessionConfig};
use crate::tensor::Tensor;

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
    #[error("{}: {source}", .path.display())]
    LiteRt {
        path: PathBuf,
        #[source]
        source: LiteRtError,
    },
    #[error(transparent)]
    LiteRtLoad(LiteRtError),
    #[error(transparent)]
    TfLite(#[from] crate::tflite::TfLiteError),
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
    #[error("an input of the model was not fed")]
    Unfed,
    #[error("its outputs ({}) match neither the names nor the number of the outputs compared ({})", .own.join(", "), .compared.join(", "))]
    UnpairedOutputs { own: Vec<String>, compared: Vec<String> },
    #[error("its inputs ({}) match neither the names nor the number of the other models' placeholders ({})", .own.join(", "), .placeholders.join(", "))]
    UnpairedInputs { own: Vec<String>, placeholders: Vec<String> },
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
    /// A TFLite flatbuffer, run by LiteRT.
    Tflite,
}

/// A model opened for running: its graph as we parsed it (none for a
/// `.tflite`), and how TensorFlow or LiteRT loads it.
pub struct Source {
    pub path: PathBuf,
    pub kind: Kind,
    graph: Option<Graph>,
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
    /// A `.tflite`: its signature's inputs and outputs as LiteRT gives them,
    /// and (set by `prepare`) what is fed to and fetched from them.
    Tflite { inputs: Vec<TensorSpec>, outputs: Vec<TensorSpec>, pairing: Pairing },
}

/// How a `.tflite`'s signature meets the other models': the feed name of
/// each of its inputs, and for each fetch the index of its output.
#[derive(Debug, Clone, Default)]
struct Pairing {
    feeds: Vec<String>,
    fetches: Vec<usize>,
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
        FileKind::TfLite => return open_tflite(path),
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
    Ok(Source { path: path.to_path_buf(), kind, graph: Some(graph), signature_outputs: Vec::new(), how })
}

/// A `.tflite`, checked by our own reader first (a damaged file gets the
/// reason, and never reaches LiteRT), then opened by LiteRT for its
/// signature's inputs and outputs.
fn open_tflite(path: &Path) -> Result<Source> {
    let bytes = std::fs::read(path).map_err(|source| crate::error::FileError { path: path.to_path_buf(), source })?;
    crate::tflite::check(&bytes).map_err(|e| e.in_file(path))?;
    let model = litert::Model::open(path, None).map_err(|source| RunnerError::LiteRt { path: path.to_path_buf(), source })?;
    let how = How::Tflite { inputs: model.inputs().to_vec(), outputs: model.outputs().to_vec(), pairing: Pairing::default() };
    Ok(Source { path: path.to_path_buf(), kind: Kind::Tflite, graph: None, signature_outputs: Vec::new(), how })
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
        match (&self.how, &self.graph) {
            (How::Tflite { outputs, .. }, _) => Some(outputs.iter().map(|o| o.name.clone()).collect()),
            _ if self.kind == Kind::Checkpoint => None,
            _ if self.kind == Kind::SavedModel && !self.signature_outputs.is_empty() => Some(self.signature_outputs.clone()),
            (_, Some(graph)) => Some(crate::graph::sinks(graph)),
            (_, None) => None,
        }
    }

    /// The graph TensorFlow runs; `None` for a `.tflite`.
    pub fn graph(&self) -> Option<&Graph> {
        self.graph.as_ref()
    }

    /// Loads the model into TensorFlow: reading and parsing, import, session
    /// creation, and for a checkpoint the restore; a `.tflite` into LiteRT,
    /// compiled for the CPU; what `bench` times as load.
    pub fn load(&self, config: &SessionConfig) -> Result<Loaded> {
        let in_tf = |source| RunnerError::Runtime { path: self.path.clone(), source };
        let runtime = match &self.how {
            How::File(file) => {
                let bytes = std::fs::read(file).map_err(|source| GraphError::Io(crate::error::FileError { path: file.clone(), source }))?;
                let bytes = if self.kind == Kind::Container {
                    crate::codec::decode(&bytes).map_err(|problem| GraphError::from(CodecError::Container { path: file.clone(), problem }))?
                } else {
                    bytes
                };
                Runtime::Tf(Model::import(&bytes, config).map_err(in_tf)?)
            }
            How::Bytes(bytes) => Runtime::Tf(Model::import(bytes, config).map_err(in_tf)?),
            How::SavedModel { dir, tags } => Runtime::Tf(Model::saved_model(dir, tags, config).map_err(in_tf)?),
            How::Checkpoint { graph_def, restore_op, filename_tensor, prefix } => {
                let model = Model::import(graph_def, config).map_err(in_tf)?;
                model.restore(restore_op, filename_tensor, prefix).map_err(in_tf)?;
                Runtime::Tf(model)
            }
            How::Tflite { pairing, .. } => {
                let model = litert::Model::load(&self.path, config.threads, None)
                    .map_err(|source| RunnerError::LiteRt { path: self.path.clone(), source })?;
                Runtime::Lite { model, pairing: pairing.clone() }
            }
        };
        Ok(Loaded { path: self.path.clone(), runtime })
    }
}

/// A model loaded into its runtime, ready to run.
pub struct Loaded {
    path: PathBuf,
    runtime: Runtime,
}

enum Runtime {
    Tf(Model),
    Lite { model: litert::Model, pairing: Pairing },
}

impl Loaded {
    /// Runs the model once on `feeds` (named `node:0`; those it has no input
    /// for are not given to it) and returns the `fetches` in their order.
    pub fn run(&self, feeds: &[(String, Tensor)], fetches: &[String]) -> Result<Vec<Tensor>> {
        match &self.runtime {
            Runtime::Tf(model) => {
                model.run(feeds, fetches).map_err(|source| RunnerError::Runtime { path: self.path.clone(), source })
            }
            Runtime::Lite { model, pairing } => {
                let in_lite = |source| RunnerError::LiteRt { path: self.path.clone(), source };
                let inputs: Vec<&Tensor> = pairing
                    .feeds
                    .iter()
                    .map(|name| feeds.iter().find(|(n, _)| n == name).map(|(_, t)| t))
                    .collect::<Option<_>>()
                    .ok_or_else(|| model_error(&self.path, ModelFault::Unfed))?;
                let outputs = model.run(&inputs).map_err(in_lite)?;
                Ok(pairing.fetches.iter().map(|&i| outputs[i].clone()).collect())
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
    for (s, graph) in sources.iter().filter_map(|s| Some((s, s.graph()?))) {
        for f in &fetches {
            graph.require(crate::graph::node_name(f)).map_err(|e| e.in_file(&s.path))?;
        }
    }
    Ok(fetches)
}

/// For each of `wanted`, the index of the same name in `theirs`; when some
/// name is missing, the same position, if both have as many.
fn pair(wanted: &[String], theirs: &[String]) -> Option<Vec<usize>> {
    let by_name: Option<Vec<usize>> = wanted.iter().map(|w| theirs.iter().position(|t| t == w)).collect();
    by_name.or_else(|| (wanted.len() == theirs.len()).then(|| (0..wanted.len()).collect()))
}

/// `name` as a fetch or feed is named: `node:N`, `:0` when no port is given.
fn as_tensor_name(name: &str) -> String {
    match InputRef::parse(name) {
        Some(r) if !r.control => InputRef::tensor_name(r.node, r.port),
        _ => name.to_string(),
    }
}

/// Pairs a `.tflite`'s outputs with `fetches` and its inputs with the
/// placeholders of the graphs (`graph_inputs`; its own names when there are
/// none), and gives its inputs as placeholders under the names they pair with.
fn pair_tflite(source: &mut Source, fetches: &[String], graph_inputs: &[InputSpec]) -> Result<Vec<InputSpec>> {
    let path = source.path.clone();
    let How::Tflite { inputs, outputs, pairing } = &mut source.how else { return Ok(Vec::new()) };
    let names = |specs: &[TensorSpec]| -> Vec<String> { specs.iter().map(|s| as_tensor_name(&s.name)).collect() };
    let (own_inputs, own_outputs) = (names(inputs), names(outputs));
    pairing.fetches = pair(fetches, &own_outputs).ok_or_else(|| {
        model_error(&path, ModelFault::UnpairedOutputs { own: own_outputs.clone(), compared: fetches.to_vec() })
    })?;
    let graph_names: Vec<String> = graph_inputs.iter().map(|s| InputRef::tensor_name(&s.name, 0)).collect();
    pairing.feeds = if graph_inputs.is_empty() {
        own_inputs.clone()
    } else {
        let at = pair(&own_inputs, &graph_names).ok_or_else(|| {
            model_error(&path, ModelFault::UnpairedInputs { own: own_inputs.clone(), placeholders: graph_names.clone() })
        })?;
        at.into_iter().map(|i| graph_names[i].clone()).collect()
    };
    Ok(inputs
        .iter()
        .zip(&pairing.feeds)
        .map(|(spec, feed)| InputSpec {
            name: crate::graph::node_name(feed).to_string(),
            dtype: spec.dtype,
            shape: Some(spec.shape.clone()),
        })
        .collect())
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

/// Loads TensorFlow and LiteRT, each if a model needs it (before any model
/// is opened, so a missing runtime is the first thing said), opens `paths`
/// and finds their inputs and outputs.
pub fn prepare(paths: &[PathBuf], outputs: Option<&[String]>, python: Option<&Path>) -> Result<Prepared> {
    let tflite = |p: &PathBuf| FileKind::of(p) == FileKind::TfLite;
    if !paths.iter().all(tflite) {
        crate::runtime::load_with(python).map_err(RunnerError::Load)?;
    }
    if paths.iter().any(tflite) {
        litert::load_with(python).map_err(RunnerError::LiteRtLoad)?;
    }
    let mut sources: Vec<Source> = paths.iter().map(|p| open(p)).collect::<Result<_>>()?;
    let fetches = resolve_outputs(&sources, outputs)?;
    let mut per_model: Vec<Vec<InputSpec>> = sources.iter().map(|s| placeholders(s, &fetches)).collect::<Result<_>>()?;
    let mut graph_inputs: Vec<InputSpec> = per_model.iter().flatten().cloned().collect();
    graph_inputs.sort_by(|a, b| a.name.cmp(&b.name));
    graph_inputs.dedup_by(|a, b| a.name == b.name);
    for (source, specs) in sources.iter_mut().zip(&mut per_model) {
        if source.kind == Kind::Tflite {
            *specs = pair_tflite(source, &fetches, &graph_inputs)?;
        }
    }
    // The graphs' placeholders first: theirs keep an unknown batch a
    // `.tflite` converted at a fixed one has not.
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources[i].kind == Kind::Tflite);
    let mut inputs: Vec<InputSpec> = Vec::new();
    for (source, specs) in order.iter().map(|&i| (&sources[i], &per_model[i])) {
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
