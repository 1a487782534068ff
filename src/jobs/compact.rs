//! `tf-strip compact IN OUT`: a frozen graph in, the same graph without its
//! all-zero channels out.

use std::path::PathBuf;
use std::time::Instant;

use super::{GraphOutput, JobError, Progress, Summary};
use crate::error::FileError;
use crate::filekind::{FileKind, ForeignFile, Wanted};
use crate::graph::GraphError;
use crate::model::Model;
use crate::graph::{sinks, ModelFile};
use crate::overwrite::check_not_an_input;
use crate::saved_model::SignatureSpec;
use crate::transform::{compact, CompactOptions, CompactReport};

#[derive(Debug, Clone)]
pub struct CompactJob {
    /// A frozen GraphDef (`.pb`, `.pbtxt`) or a SavedModel of one.
    pub input: PathBuf,
    /// The file (for a SavedModel, the directory) to write.
    pub output: PathBuf,
    pub write: GraphOutput,
    pub options: CompactOptions,
    /// Also rewrite TensorArrays into TensorLists, for TFLite's converter.
    pub tensor_lists: bool,
}

pub type CompactSummary = Summary<CompactInput, CompactReport>;

#[derive(Debug, Clone, serde::Serialize)]
pub struct CompactInput {
    pub input: String,
}

pub fn compact_file(job: &CompactJob, progress: &dyn Progress) -> Result<CompactSummary, JobError> {
    let start = Instant::now();
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source| JobError::Io(FileError { path, source })
    };
    let bytes_in = match std::fs::metadata(&job.input) {
        Ok(m) => m.len(),
        Err(_) if FileKind::of(&job.input) == FileKind::Missing => {
            return Err(GraphError::from(ForeignFile::new(&job.input, FileKind::Missing, Wanted::Graph)).into())
        }
        Err(e) => return Err(io(&job.input)(e)),
    };
    check_not_an_input(&job.output, &[ModelFile::file_of(&job.input)])?;
    progress.begin(bytes_in);
    progress.step("reading the graph");
    let model = Model::load(&job.input)?;
    super::require_frozen(&model)?;
    let origin = model.meta.as_ref().and_then(|m| m.meta_info_def.clone());
    let mut graph = model.graph;
    let mut write = job.write.clone();
    if let GraphOutput::SavedModel(spec) = &mut write {
        if spec.outputs.is_empty() {
            let outputs = if job.options.outputs.is_empty() { sinks(&graph) } else { job.options.outputs.clone() };
            *spec = SignatureSpec { outputs: SignatureSpec::with_outputs(&outputs).outputs, ..spec.clone() };
        }
    }
    let out = write.open(&job.output)?;
    progress.step("removing zero channels");
    let report = compact(&mut graph, &job.options).map_err(|e| e.in_file(&job.input))?;
    let tensor_lists = super::rewrite_tensor_arrays(&mut graph, job.tensor_lists, progress)?;
    progress.step("writing the compacted graph");
    let written = out.write(&graph, origin.as_ref())?;
    Ok(Summary {
        inputs: CompactInput { input: job.input.display().to_string() },
        bytes_in,
        seconds: start.elapsed().as_secs_f64(),
        warnings: warnings(&report)
            .into_iter()
            .chain(written.warnings())
            .chain(tensor_lists.iter().flat_map(super::tensor_list_warnings))
            .collect(),
        written,
        report,
        tensor_lists,
    })
}

/// What a user who expected a smaller graph needs to hear.
pub fn warnings(report: &CompactReport) -> Vec<String> {
    if report.layers.is_empty() {
        return vec![
            "no Conv2D, DepthwiseConv2dNative or MatMul reads a constant filter: compact works on \
             frozen graphs (strip the checkpoint first)"
                .into(),
        ];
    }
    Vec::new()
}
