//! `tf-strip accelerate IN OUT`: a TFLite model's fully connected weights
//! stored sparse, for TFLite's sparse kernel; or a TensorFlow graph's sparse
//! `MatMul`s rewritten where TensorFlow runs them faster sparse.

use std::path::PathBuf;

use clap::Args;

use super::render::{fraction, shape, show, table, written_line};
use super::CliError;
use tf_strip::jobs::{
    accelerate_file, AccelerateJob, AccelerateReports, TfAccelerateOptions, TfAccelerateReport, TfDecision, DEFAULT_MARGIN,
};
use tf_strip::runtime::SessionConfig;
use tf_strip::tflite::{AccelerateReport, Decision};

#[derive(Debug, Args)]
pub struct AccelerateArgs {
    /// A TFLite model, as TensorFlow's converter writes it (with or without
    /// Optimize.EXPERIMENTAL_SPARSITY), or a frozen TensorFlow graph (.pb,
    /// .pbtxt, a container, a SavedModel of a frozen graph).
    input: PathBuf,
    /// The model to write: a TFLite model for a TFLite one, else a GraphDef
    /// (.pbtxt: text).
    output: PathBuf,
    #[command(flatten)]
    flags: AccelerateFlags,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// How `accelerate` decides, as `accelerate` and `strip --accelerate` take it.
#[derive(Debug, Args, Default)]
pub struct AccelerateFlags {
    /// The batch sizes the model will run at, e.g. 1,8: TensorFlow layers are
    /// timed at each and kept sparse only where they win at all; for TFLite,
    /// the largest sets the default --min_sparsity.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..))]
    batch: Vec<u64>,
    /// Make a weight sparse from this share of zeros (0 to 1). TFLite default, as
    /// measured (README): 0.875 at batch 1, 0.925 up to 8, 0.965 up to 16, 0.98 above. For
    /// TensorFlow, decide by it alone instead of measuring (no TensorFlow needed).
    #[arg(long = "min_sparsity", value_parser = share)]
    min_sparsity: Option<f64>,
    /// Intra- and inter-op threads of TensorFlow's sessions when measuring,
    /// 1 to 1024 (default: TensorFlow's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// The Python whose pip-installed TensorFlow measures when TENSORFLOW_DIR
    /// is not set (default: python3 on the PATH).
    #[arg(long)]
    python: Option<PathBuf>,
}

impl AccelerateFlags {
    /// Whether any flag was given (they shape `strip --accelerate`).
    pub fn given(&self) -> bool {
        !self.batch.is_empty() || self.min_sparsity.is_some() || self.threads.is_some() || self.python.is_some()
    }

    pub fn options(&self) -> TfAccelerateOptions {
        TfAccelerateOptions {
            batches: if self.batch.is_empty() { vec![1] } else { self.batch.clone() },
            min_sparsity: self.min_sparsity,
            margin: DEFAULT_MARGIN,
            session: SessionConfig { threads: self.threads },
            python: self.python.clone(),
        }
    }
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a share between 0 and 1")),
    }
}

pub fn run(args: AccelerateArgs) -> Result<(), CliError> {
    let job = AccelerateJob { input: args.input, output: args.output, options: args.flags.options() };
    let summary = accelerate_file(&job)?;
    show(&summary.warnings, &summary, args.json, || {
        let report = match &summary.report {
            AccelerateReports::TfLite(r) => render(r),
            AccelerateReports::Tf(r) => render_tf(r),
        };
        report + &written_line(summary.bytes_in, &summary.written, summary.seconds, "Accelerated model")
    });
    Ok(())
}

fn milliseconds(seconds: f64) -> String {
    format!("{:.3}", seconds * 1e3)
}

/// Each `MatMul`'s decision, with its timings alone; then the whole graph's.
pub fn render_tf(r: &TfAccelerateReport) -> String {
    let rows: Vec<Vec<String>> = r
        .layers
        .iter()
        .map(|l| {
            let timings: Vec<String> =
                l.timings.iter().map(|t| format!("b{}: {}/{}", t.batch, milliseconds(t.dense), milliseconds(t.sparse))).collect();
            vec![
                l.name.clone(),
                shape(&l.shape),
                fraction(l.zeros, l.elements),
                if timings.is_empty() { "-".into() } else { timings.join(", ") },
                match l.decision {
                    TfDecision::Sparse => "sparse".into(),
                    TfDecision::Dense => "left dense".into(),
                },
                l.reason.clone(),
            ]
        })
        .collect();
    let mut s = table(&["matmul", "weight shape", "zeros", "ms dense/sparse alone", "decision", "why"], &rows);
    if let Some(c) = &r.check {
        let speedups: Vec<String> = c
            .timings
            .iter()
            .map(|t| format!("batch {}: {} -> {} ms ({:.2}x)", t.batch, milliseconds(t.dense), milliseconds(t.accelerated), t.speedup))
            .collect();
        s.push_str(&format!(
            "Whole graph: outputs {} (max abs diff {:.2e}); {}; {}\n",
            if c.verified { "match" } else { "DIFFER" },
            c.max_abs_diff,
            speedups.join(", "),
            if c.kept { "rewrite kept" } else { "rewrite dropped, input written unchanged" }
        ));
    }
    s.push_str(&format!("MatMuls rewritten: {}\n", r.rewritten));
    s
}

fn render(r: &AccelerateReport) -> String {
    let rows: Vec<Vec<String>> = r
        .layers
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.weight.clone(),
                format!("[{}]", l.shape.iter().map(i32::to_string).collect::<Vec<_>>().join(",")),
                fraction(l.zeros, l.elements),
                match l.decision {
                    Decision::Sparse => "sparse (CSR)".into(),
                    Decision::ConverterSparse => "sparse (converter's)".into(),
                    Decision::Left => "left dense".into(),
                },
                l.reason.clone(),
            ]
        })
        .collect();
    let mut s = table(&["fully connected", "weight", "shape", "zeros", "decision", "why"], &rows);
    if r.densify_removed > 0 {
        s.push_str(&format!("DENSIFY ops removed: {}\n", r.densify_removed));
    }
    s
}
