//! `tf-strip compact IN OUT`: a frozen graph in, the same graph without its
//! all-zero channels out.

use std::path::PathBuf;
use std::time::Instant;

use super::{JobError, Progress};
use crate::atomic::AtomicFile;
use crate::error::FileError;
use crate::graph::{write_message_to, Format};
use crate::model::Model;
use crate::transform::{compact, CompactOptions, CompactReport};

#[derive(Debug, Clone)]
pub struct CompactJob {
    /// A frozen GraphDef (`.pb`, `.pbtxt`) or a SavedModel of one.
    pub input: PathBuf,
    /// The GraphDef to write.
    pub output: PathBuf,
    pub format: Format,
    pub options: CompactOptions,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CompactSummary {
    pub input: String,
    pub output: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub seconds: f64,
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub report: CompactReport,
}

pub fn compact_file(job: &CompactJob, progress: &dyn Progress) -> Result<CompactSummary, JobError> {
    let start = Instant::now();
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source| JobError::Io(FileError { path, source })
    };
    let bytes_in = std::fs::metadata(&job.input).map_err(io(&job.input))?.len();
    super::check_not_an_input(&job.output, std::slice::from_ref(&job.input))?;
    progress.begin(bytes_in);
    progress.step("reading the graph");
    let mut graph = Model::load(&job.input)?.graph;
    let mut out = AtomicFile::create(&job.output).map_err(io(&job.output))?;
    progress.step("removing zero channels");
    let report = compact(&mut graph, &job.options).map_err(|e| e.in_file(&job.input))?;
    progress.step("writing the compacted graph");
    let bytes_out = write_message_to(&mut out, &job.output, graph.def(), job.format)?;
    out.commit().map_err(io(&job.output))?;
    Ok(CompactSummary {
        input: job.input.display().to_string(),
        output: job.output.display().to_string(),
        bytes_in,
        bytes_out,
        seconds: start.elapsed().as_secs_f64(),
        warnings: warnings(&report),
        report,
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
