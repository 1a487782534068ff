//! `tf-strip accelerate IN.tflite OUT.tflite`: fully connected weights stored
//! sparse, for TFLite's sparse kernel.

use std::path::PathBuf;

use clap::Args;

use super::render::{fraction, show, table, written_line};
use super::CliError;
use tf_strip::jobs::{accelerate_file, AccelerateJob};
use tf_strip::tflite::{default_min_sparsity, AccelerateOptions, AccelerateReport, Decision};

#[derive(Debug, Args)]
pub struct AccelerateArgs {
    /// A TFLite model, as TensorFlow's converter writes it (with or without
    /// Optimize.EXPERIMENTAL_SPARSITY).
    input: PathBuf,
    /// The TFLite model to write.
    output: PathBuf,
    /// The batch size the model will run at: the sparse kernel needs more
    /// zeros to win at larger batches (sets the default --min_sparsity).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Store a weight sparse from this share of zeros (0 to 1). Default, as
    /// measured (README): 0.875 at batch 1, 0.925 up to 8, 0.965 up to 16, 0.98 above.
    #[arg(long = "min_sparsity", value_parser = share)]
    min_sparsity: Option<f64>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a share between 0 and 1")),
    }
}

pub fn run(args: AccelerateArgs) -> Result<(), CliError> {
    let min_sparsity = args.min_sparsity.unwrap_or_else(|| default_min_sparsity(args.batch));
    let job = AccelerateJob { input: args.input, output: args.output, options: AccelerateOptions { min_sparsity } };
    let summary = accelerate_file(&job)?;
    show(&summary.warnings, &summary, args.json, || {
        render(&summary.report) + &written_line(summary.bytes_in, &summary.written, summary.seconds, "Accelerated model")
    });
    Ok(())
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
