//! `tf-strip accelerate IN OUT`: a converted TFLite model in, the same model
//! with its sparse enough fully connected weights read sparse out; or a
//! TensorFlow graph in, its sparse `MatMul`s that run faster sparse
//! rewritten (`accelerate_tf`). The input's contents say which.

use std::path::PathBuf;
use std::time::Instant;

use super::accelerate_tf::{accelerate_graph, TfAccelerateOptions, TfAccelerateReport};
use super::{GraphOutput, JobError, Summary, Written};
use crate::error::FileError;
use crate::filekind::FileKind;
use crate::graph::{Format, ModelFile};
use crate::model::Model;
use crate::overwrite::check_not_an_input;
use crate::tflite::{accelerate, default_min_sparsity, AccelerateOptions, AccelerateReport, Decision};

#[derive(Debug, Clone)]
pub struct AccelerateJob {
    /// A `.tflite` model, or a frozen graph (GraphDef, container, SavedModel).
    pub input: PathBuf,
    pub output: PathBuf,
    /// How a TensorFlow graph is accelerated; for a TFLite model, its largest
    /// batch and `min_sparsity` (default: `default_min_sparsity` of it).
    pub options: TfAccelerateOptions,
}

/// What was done, for a TFLite model or a TensorFlow graph.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum AccelerateReports {
    TfLite(AccelerateReport),
    Tf(TfAccelerateReport),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AccelerateInput {
    pub input: String,
}

pub type AccelerateSummary = Summary<AccelerateInput, AccelerateReports>;

/// Rewrites `job.input` into `job.output` (written whole or not at all; the
/// input is never overwritten).
pub fn accelerate_file(job: &AccelerateJob) -> Result<AccelerateSummary, JobError> {
    match FileKind::of(&job.input) {
        FileKind::TfLite => accelerate_tflite(job),
        _ => accelerate_tf_file(job),
    }
}

fn accelerate_tflite(job: &AccelerateJob) -> Result<AccelerateSummary, JobError> {
    let start = Instant::now();
    check_not_an_input(&job.output, &[&job.input])?;
    let largest = job.options.batches.iter().copied().max().unwrap_or(1);
    let min_sparsity = job.options.min_sparsity.unwrap_or_else(|| default_min_sparsity(u32::try_from(largest).unwrap_or(u32::MAX)));
    let bytes = std::fs::read(&job.input).map_err(FileError::at(&job.input))?;
    let (out, report) = accelerate(&bytes, &AccelerateOptions { min_sparsity }).map_err(|e| e.in_file(&job.input))?;
    crate::atomic::write_file(&job.output, &out).map_err(FileError::at(&job.output))?;
    Ok(Summary {
        inputs: AccelerateInput { input: job.input.display().to_string() },
        bytes_in: bytes.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        warnings: warnings(&report),
        written: Written { output: job.output.display().to_string(), bytes_out: out.len() as u64, saved_model: None },
        report: AccelerateReports::TfLite(report),
        tensor_lists: None,
    })
}

fn accelerate_tf_file(job: &AccelerateJob) -> Result<AccelerateSummary, JobError> {
    let start = Instant::now();
    check_not_an_input(&job.output, &[ModelFile::file_of(&job.input)])?;
    let model = Model::load(&job.input)?;
    super::require_frozen(&model)?;
    let bytes_in = std::fs::metadata(&model.path).map(|m| m.len()).unwrap_or(0);
    let out = GraphOutput::Graph(Format::from_path(&job.output));
    let destination = out.open(&job.output)?;
    let mut graph = model.graph;
    let report = accelerate_graph(&mut graph, &job.input, &job.options)?;
    let written = destination.write(&graph, None)?;
    Ok(Summary {
        inputs: AccelerateInput { input: job.input.display().to_string() },
        bytes_in,
        seconds: start.elapsed().as_secs_f64(),
        warnings: tf_warnings(&report),
        written,
        report: AccelerateReports::Tf(report),
        tensor_lists: None,
    })
}

/// What a user who expected a faster graph needs to hear.
pub fn tf_warnings(report: &TfAccelerateReport) -> Vec<String> {
    if report.layers.is_empty() {
        return vec!["no MatMul reads a float constant with zeros: the graph is written unchanged".into()];
    }
    if report.rewritten == 0 {
        let why = match &report.check {
            Some(c) if !c.verified => "the rewritten graph's outputs differed from the input's",
            Some(_) => "the rewritten graph was not faster as a whole",
            None => "no layer was faster sparse (the table says why)",
        };
        return vec![format!("no MatMul was rewritten: {why}; the graph is written unchanged")];
    }
    Vec::new()
}

/// What a user who expected a faster model needs to hear.
fn warnings(report: &AccelerateReport) -> Vec<String> {
    if report.layers.is_empty() {
        return vec!["the model has no FULLY_CONNECTED op: it is written unchanged".into()];
    }
    if report.layers.iter().all(|l| l.decision == Decision::Left) {
        return vec!["no FULLY_CONNECTED weight was rewritten (the table says why): the model is written unchanged".into()];
    }
    match report.dense_at_version_8 {
        0 => Vec::new(),
        n => vec![format!(
            "{n} FULLY_CONNECTED op(s) left dense share the opcode now at version 8, which XNNPACK does not take: \
             they run on TFLite's own kernel (lower --min_sparsity to store them sparse too)"
        )],
    }
}
