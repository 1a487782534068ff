//! The job of `strip_pruning_vars`, from files to a file: resolve the
//! checkpoint, load its graph, run the strip passes, write the result.

use std::path::PathBuf;
use std::time::Instant;

use super::accelerate_tf::{accelerate_graph, TfAccelerateOptions, TfAccelerateReport};
use super::{GraphOutput, JobError, Progress, Summary};
use crate::atomic::CreatedDirs;
use crate::checkpoint::{self, Checkpoint};
use crate::error::FileError;
use crate::graph::node_name;
use crate::model::Model;
use crate::overwrite::check_not_an_input;
use crate::transform::{
    compact, strip, CompactOptions, CompactReport, StripOptions, StripReport, VariableSource,
};

#[derive(Debug, Clone)]
pub struct StripJob {
    /// A checkpoint prefix (`DIR/model.ckpt-1000`), or a directory a Saver
    /// saved into (its latest checkpoint).
    pub checkpoint: PathBuf,
    /// The graph, when not the checkpoint's own `.meta`: a MetaGraphDef or a
    /// GraphDef.
    pub graph: Option<PathBuf>,
    /// Output node names (`name` or `name:0`).
    pub outputs: Vec<String>,
    /// TensorFlow's tool clears device placements; keep them instead.
    pub keep_devices: bool,
    /// The file (for a SavedModel, the directory) to write; its folder is
    /// created if missing, and removed again if the job fails.
    pub output: PathBuf,
    pub write: GraphOutput,
    /// Also remove all-zero channels (`compact`), keeping `outputs`.
    pub compact: Option<CompactOptions>,
    /// Also rewrite TensorArrays into TensorLists, for TFLite's converter.
    pub tensor_lists: bool,
    /// Also rewrite the sparse `MatMul`s TensorFlow runs faster sparse
    /// (`accelerate`), after compact.
    pub accelerate: Option<TfAccelerateOptions>,
}

pub type StripSummary = Summary<StripInputs, StripReports>;

#[derive(Debug, Clone, serde::Serialize)]
pub struct StripInputs {
    /// The checkpoint prefix resolved.
    pub checkpoint: String,
    pub graph: String,
}

/// The strip passes' report, and compact's when asked for.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StripReports {
    #[serde(flatten)]
    pub strip: StripReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compact: Option<CompactReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accelerate: Option<TfAccelerateReport>,
}

/// Strips `job.checkpoint` into `job.output`. Nothing is written or left
/// behind on failure, and no input is ever overwritten.
pub fn strip_checkpoint(job: &StripJob, progress: &dyn Progress) -> Result<StripSummary, JobError> {
    let start = Instant::now();
    let resolved = crate::locate::resolve_prefix(&job.checkpoint)?;
    let prefix = resolved.prefix;
    let graph_path = match &job.graph {
        Some(p) => p.clone(),
        None => {
            let meta = checkpoint::meta_path(&prefix);
            if !meta.is_file() {
                return Err(JobError::NoMetaGraph { meta });
            }
            meta
        }
    };
    let model = Model::load(&graph_path)?;
    let (variables, masks) = (model.variables(), model.collection("masks"));
    let origin = model.meta.as_ref().and_then(|m| m.meta_info_def.clone());
    let (model_path, mut graph) = (model.path, model.graph);
    for name in &job.outputs {
        graph.require(node_name(name))?;
    }

    let ckpt = Checkpoint::open(&prefix)?;
    let mut inputs: Vec<PathBuf> = ckpt.data_paths().to_vec();
    inputs.push(checkpoint::index_path(&prefix));
    inputs.push(model_path.clone());
    // The state file, when the checkpoint was given as its directory.
    inputs.push(job.checkpoint.join("checkpoint"));
    check_not_an_input(&job.output, &inputs)?;
    let folder = CreatedDirs::parent_of(&job.output).map_err(|source| {
        FileError { path: job.output.parent().unwrap_or(&job.output).to_path_buf(), source }
    })?;
    let out = job.write.open(&job.output)?;

    let bytes_in: u64 = inputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    progress.begin(bytes_in);
    progress.step("freezing variables and folding masks");
    let options = StripOptions { outputs: job.outputs.clone(), keep_devices: job.keep_devices, masks };
    let source = VariableSource::new(&ckpt, &variables);
    let report = strip(&mut graph, &source, &options)?;
    let compacted = match &job.compact {
        Some(c) => {
            progress.step("removing zero channels");
            Some(compact(&mut graph, &CompactOptions { outputs: job.outputs.clone(), ..c.clone() })?)
        }
        None => None,
    };
    let accelerated = match &job.accelerate {
        Some(options) => {
            progress.step("rewriting sparse matmuls that run faster sparse");
            Some(accelerate_graph(&mut graph, &model_path, options)?)
        }
        None => None,
    };
    let tensor_lists = super::rewrite_tensor_arrays(&mut graph, job.tensor_lists, progress)?;

    progress.step("writing the stripped graph");
    let written = out.write(&graph, origin.as_ref())?;
    folder.keep();
    // The process usually ends right after: unmapping hundreds of MB of
    // folded weights one by one would only delay it.
    std::mem::forget(graph);

    Ok(Summary {
        inputs: StripInputs { checkpoint: prefix.display().to_string(), graph: model_path.display().to_string() },
        bytes_in,
        seconds: start.elapsed().as_secs_f64(),
        warnings: resolved
            .warnings
            .into_iter()
            .chain(written.warnings())
            .chain(compacted.as_ref().into_iter().flat_map(super::compact::warnings))
            .chain(accelerated.as_ref().into_iter().flat_map(super::accelerate::tf_warnings))
            .chain(tensor_lists.iter().flat_map(super::tensor_list_warnings))
            .collect(),
        written,
        report: StripReports { strip: report, compact: compacted, accelerate: accelerated },
        tensor_lists,
    })
}
