//! Where a job's graph goes: a GraphDef file, the sparse container, or a
//! SavedModel directory. Opened before the work, so an output that cannot be
//! written fails first; written whole or not at all.

use std::path::{Path, PathBuf};

use super::JobError;
use crate::atomic::AtomicFile;
use crate::error::FileError;
use crate::graph::{write_message_to, Format, Graph};
use crate::proto::tensorflow::meta_graph_def::MetaInfoDef;
use crate::saved_model::{check_destination, write_saved_model, SavedModelSummary, SignatureSpec};

/// What a job's graph is written as.
#[derive(Debug, Clone)]
pub enum GraphOutput {
    /// A GraphDef, binary (`.pb`) or text.
    Graph(Format),
    /// The sparse container (`codec`); `tf-strip decode` gives the `.pb`.
    Container,
    /// A SavedModel directory serving the graph with this signature.
    SavedModel(SignatureSpec),
}

/// What was written, as both job summaries report it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub output: String,
    pub bytes_out: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_model: Option<SavedModelSummary>,
}

impl Written {
    pub fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        self.saved_model.iter().flat_map(|s| s.warnings.iter().cloned())
    }
}

/// An output checked or opened, waiting for its graph.
pub struct Destination<'a> {
    path: PathBuf,
    kind: Open<'a>,
}

enum Open<'a> {
    File(AtomicFile, Option<Format>),
    SavedModel(&'a SignatureSpec),
}

impl GraphOutput {
    pub fn open(&self, path: &Path) -> Result<Destination<'_>, JobError> {
        let io = |source| JobError::Io(FileError { path: path.to_path_buf(), source });
        let kind = match self {
            GraphOutput::SavedModel(spec) => {
                check_destination(path)?;
                Open::SavedModel(spec)
            }
            GraphOutput::Graph(format) => Open::File(AtomicFile::create(path).map_err(io)?, Some(*format)),
            GraphOutput::Container => Open::File(AtomicFile::create(path).map_err(io)?, None),
        };
        Ok(Destination { path: path.to_path_buf(), kind })
    }
}

impl Destination<'_> {
    /// Writes `graph`; `origin` is what a SavedModel records of the training
    /// graph (TensorFlow version, op list). A graph TensorFlow's importer
    /// would refuse is never written: a rewrite that broke it fails here.
    pub fn write(self, graph: &Graph, origin: Option<&MetaInfoDef>) -> Result<Written, JobError> {
        let path = &self.path;
        Graph::validate(graph.def(), path)?;
        let io = |source| JobError::Io(FileError { path: path.clone(), source });
        let (bytes_out, saved_model) = match self.kind {
            Open::SavedModel(spec) => {
                let summary = write_saved_model(graph, spec, path, origin)?;
                (summary.bytes, Some(summary))
            }
            Open::File(mut out, None) => {
                let mut pb = Vec::new();
                write_message_to(&mut pb, path, graph.def(), Format::Binary)?;
                let (container, _) = crate::codec::encode(&pb, &Default::default());
                std::io::Write::write_all(&mut out, &container).map_err(io)?;
                out.commit().map_err(io)?;
                (container.len() as u64, None)
            }
            Open::File(mut out, Some(format)) => {
                let bytes = write_message_to(&mut out, path, graph.def(), format)?;
                out.commit().map_err(io)?;
                (bytes, None)
            }
        };
        Ok(Written { output: path.display().to_string(), bytes_out, saved_model })
    }
}
