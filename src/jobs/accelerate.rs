//! `tf-strip accelerate IN.tflite OUT.tflite`: a converted model in, the same
//! model with its sparse enough fully connected weights read sparse out.

use std::path::PathBuf;
use std::time::Instant;

use super::{JobError, Summary, Written};
use crate::error::FileError;
use crate::filekind::{FileKind, ForeignFile, Wanted};
use crate::overwrite::check_not_an_input;
use crate::tflite::{accelerate, AccelerateOptions, AccelerateReport, Decision, TfLiteError};

#[derive(Debug, Clone)]
pub struct AccelerateJob {
    pub input: PathBuf,
    pub output: PathBuf,
    pub options: AccelerateOptions,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AccelerateInput {
    pub input: String,
}

pub type AccelerateSummary = Summary<AccelerateInput, AccelerateReport>;

/// Rewrites `job.input` into `job.output` (written whole or not at all; the
/// input is never overwritten).
pub fn accelerate_file(job: &AccelerateJob) -> Result<AccelerateSummary, JobError> {
    let start = Instant::now();
    check_not_an_input(&job.output, &[&job.input])?;
    match FileKind::of(&job.input) {
        FileKind::TfLite => {}
        kind => return Err(TfLiteError::from(ForeignFile::new(&job.input, kind, Wanted::TfLite)).into()),
    }
    let bytes = std::fs::read(&job.input).map_err(FileError::at(&job.input))?;
    let (out, report) = accelerate(&bytes, &job.options).map_err(|e| e.in_file(&job.input))?;
    crate::atomic::write_file(&job.output, &out).map_err(FileError::at(&job.output))?;
    Ok(Summary {
        inputs: AccelerateInput { input: job.input.display().to_string() },
        bytes_in: bytes.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        warnings: warnings(&report),
        written: Written { output: job.output.display().to_string(), bytes_out: out.len() as u64, saved_model: None },
        report,
        tensor_lists: None,
    })
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
