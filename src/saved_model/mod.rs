//! SavedModel output: a frozen graph as the directory TensorFlow Serving,
//! `tf.saved_model.load` and the C API's `LoadSavedModel` read:
//! `saved_model.pb` (one MetaGraphDef tagged `serve` with a predict
//! signature) and an empty `variables/`, the weights being constants of the
//! graph. The directory is written whole or not at all (`atomic::AtomicDir`).

mod signature;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use signature::{
    describe_signature, describe_signatures, key_for, serving_signature, SignatureReport, SignatureSpec, TensorReport,
    PREDICT_METHOD, SERVING_KEY,
};

use crate::atomic::AtomicDir;
use crate::error::FileError;
use crate::graph::{write_message, Format, Graph, GraphError};
use crate::proto::tensorflow::meta_graph_def::MetaInfoDef;
use crate::proto::tensorflow::{MetaGraphDef, OpList, SavedModel};

/// The tag of the meta graph for serving (`tf.saved_model.SERVING`).
pub const SERVE_TAG: &str = "serve";
/// `saved_model_schema_version` of every SavedModel TensorFlow writes.
const SCHEMA_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SavedModelError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Io(#[from] FileError),
    #[error("{}: exists and is not a directory; a SavedModel is a directory: choose another --filename", .path.display())]
    NotADirectory { path: PathBuf },
    #[error(
        "{}: is a directory that holds files but no saved_model.pb; only an empty directory or a SavedModel \
         is replaced: choose another --output_dir or --filename",
        .path.display()
    )]
    NotEmpty { path: PathBuf },
    #[error("the serving signature: {0}")]
    Signature(String),
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct SavedModelSummary {
    pub dir: String,
    /// Size of `saved_model.pb`.
    pub bytes: u64,
    pub signature: SignatureReport,
    pub warnings: Vec<String>,
}

/// Whether `dir` holds a SavedModel, as TensorFlow's loader tells one.
pub fn is_saved_model(dir: &Path) -> bool {
    ["saved_model.pb", "saved_model.pbtxt"].iter().any(|f| dir.join(f).is_file())
}

/// Writes `graph` (frozen: every weight a constant) as a SavedModel in `dir`
/// with the `serving_default` signature `spec` describes. `origin` is the
/// MetaGraphDef's `meta_info_def` the graph was stripped from, when it had
/// one: the TensorFlow version that wrote it and its op definitions (only
/// those of ops the graph still uses) are kept. `dir` may be missing, empty
/// or a SavedModel (replaced whole); anything else is refused.
pub fn write_saved_model(
    graph: &Graph,
    spec: &SignatureSpec,
    dir: &Path,
    origin: Option<&MetaInfoDef>,
) -> Result<SavedModelSummary, SavedModelError> {
    check_destination(dir)?;
    let (signature, warnings) = serving_signature(graph, spec)?;
    let report = describe_signature(SERVING_KEY, &signature);
    let meta = MetaGraphDef {
        meta_info_def: Some(meta_info(graph, origin)),
        graph_def: Some(graph.def().clone()),
        signature_def: [(SERVING_KEY.to_string(), signature)].into(),
        ..Default::default()
    };
    let saved = SavedModel { saved_model_schema_version: SCHEMA_VERSION, meta_graphs: vec![meta] };

    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SavedModelError::Io(FileError { path, source })
    };
    let out = AtomicDir::create(dir).map_err(io(dir))?;
    let pb = out.path().join("saved_model.pb");
    // Errors name the file where it will be, not the temporary directory.
    let final_pb = dir.join("saved_model.pb");
    write_message(&pb, &saved, Format::Binary).map_err(|e| rename_path(e, &final_pb))?;
    // TensorFlow's loader restores from variables/ when it holds a checkpoint
    // and accepts it empty; the directory itself is what every SavedModel has.
    std::fs::create_dir(out.path().join("variables")).map_err(io(&dir.join("variables")))?;
    let bytes = std::fs::metadata(&pb).map_err(io(&final_pb))?.len();
    out.commit().map_err(io(dir))?;
    Ok(SavedModelSummary { dir: dir.display().to_string(), bytes, signature: report, warnings })
}

fn rename_path(e: GraphError, path: &Path) -> GraphError {
    match e {
        GraphError::Io(FileError { source, .. }) => GraphError::Io(FileError { path: path.to_path_buf(), source }),
        GraphError::TooLarge { bytes, .. } => GraphError::TooLarge { path: path.to_path_buf(), bytes },
        e => e,
    }
}

/// `dir` is missing, an empty directory or a SavedModel: a directory of
/// other files is never replaced. (`write_saved_model` checks it; a job
/// checks it first too, before its work.)
pub fn check_destination(dir: &Path) -> Result<(), SavedModelError> {
    let Ok(meta) = std::fs::metadata(dir) else { return Ok(()) };
    if !meta.is_dir() {
        return Err(SavedModelError::NotADirectory { path: dir.to_path_buf() });
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|source| SavedModelError::Io(FileError { path: dir.to_path_buf(), source }))?
        .next()
        .is_none();
    if !empty && !is_saved_model(dir) {
        return Err(SavedModelError::NotEmpty { path: dir.to_path_buf() });
    }
    Ok(())
}

/// Tagged for serving; the producing TensorFlow's version and op definitions
/// kept from `origin`, limited to the ops left in the graph.
fn meta_info(graph: &Graph, origin: Option<&MetaInfoDef>) -> MetaInfoDef {
    let used: BTreeSet<&str> = graph
        .nodes()
        .iter()
        .chain(graph.def().library.iter().flat_map(|l| l.function.iter().flat_map(|f| f.node_def.iter())))
        .map(|n| n.op.as_str())
        .collect();
    let stripped_op_list = origin.and_then(|o| o.stripped_op_list.as_ref()).map(|list| OpList {
        op: list.op.iter().filter(|op| used.contains(op.name.as_str())).cloned().collect(),
    });
    MetaInfoDef {
        tags: vec![SERVE_TAG.to_string()],
        tensorflow_version: origin.map(|o| o.tensorflow_version.clone()).unwrap_or_default(),
        tensorflow_git_version: origin.map(|o| o.tensorflow_git_version.clone()).unwrap_or_default(),
        stripped_op_list,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{read_message, NodeBuilder};
    use crate::proto::tensorflow::{DataType, GraphDef};

    fn graph() -> Graph {
        let x = NodeBuilder::new("Placeholder").ty("dtype", DataType::DtFloat).shape("shape", &[2]).build("x");
        let y = NodeBuilder::new("Neg").input("x").ty("T", DataType::DtFloat).build("y");
        Graph::new(GraphDef { node: vec![x, y], ..Default::default() }).unwrap()
    }

    #[test]
    fn writes_a_tagged_meta_graph_with_its_signature_and_an_empty_variables_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("model");
        let summary = write_saved_model(&graph(), &SignatureSpec::with_outputs(&["y".into()]), &dir, None).unwrap();
        let saved: SavedModel = read_message(&dir.join("saved_model.pb")).unwrap();
        assert_eq!(saved.saved_model_schema_version, 1);
        let meta = &saved.meta_graphs[0];
        assert_eq!(meta.meta_info_def.as_ref().unwrap().tags, ["serve"]);
        assert_eq!(meta.graph_def.as_ref().unwrap(), graph().def());
        let sig = &meta.signature_def[SERVING_KEY];
        assert_eq!((sig.inputs.len(), sig.outputs.len()), (1, 1));
        assert_eq!(std::fs::read_dir(dir.join("variables")).unwrap().count(), 0);
        assert_eq!(summary.signature.inputs[0].shape, Some(vec![2]));
        // A SavedModel is replaced; an empty directory is filled.
        write_saved_model(&graph(), &SignatureSpec::default(), &dir, None).unwrap();
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        write_saved_model(&graph(), &SignatureSpec::default(), &empty, None).unwrap();
        assert!(is_saved_model(&empty));
    }

    #[test]
    fn other_directories_and_files_are_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let busy = tmp.path().join("busy");
        std::fs::create_dir(&busy).unwrap();
        std::fs::write(busy.join("notes.txt"), b"mine").unwrap();
        let err = write_saved_model(&graph(), &SignatureSpec::default(), &busy, None).unwrap_err().to_string();
        assert!(err.contains("busy") && err.contains("no saved_model.pb"), "{err}");
        assert_eq!(std::fs::read(busy.join("notes.txt")).unwrap(), b"mine");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = write_saved_model(&graph(), &SignatureSpec::default(), &file, None).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2, "a temporary directory was left");
    }

    #[test]
    fn only_the_op_definitions_the_graph_uses_are_kept() {
        use crate::proto::tensorflow::OpDef;
        let op = |name: &str| OpDef { name: name.into(), ..Default::default() };
        let origin = MetaInfoDef {
            tensorflow_version: "2.21.0".into(),
            stripped_op_list: Some(OpList { op: vec![op("Assign"), op("Neg"), op("Placeholder")] }),
            ..Default::default()
        };
        let info = meta_info(&graph(), Some(&origin));
        let kept: Vec<&str> = info.stripped_op_list.as_ref().unwrap().op.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(kept, ["Neg", "Placeholder"]);
        assert_eq!((info.tensorflow_version.as_str(), info.tags.as_slice()), ("2.21.0", &["serve".to_string()][..]));
    }
}
