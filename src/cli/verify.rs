//! `tf-strip verify A B [...]`: every output of each model against the first's,
//! in the real TensorFlow; and the flags `verify` and `bench` share.

use std::path::PathBuf;

use clap::Args;

use super::progress::Steps;
use super::render::{print_json, shape, table};
use super::CliError;
use tf_strip::runner::{Given, InputOptions};
use tf_strip::runtime::SessionConfig;
use tf_strip::jobs::{verify, OutputDiff, VerifyOptions, VerifyReport};

/// Inputs, outputs and the runtime, as `verify` and `bench` take them.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Outputs to fetch (`node` or `node:N`); default: the sinks of the first
    /// model that is not a checkpoint (a SavedModel's signature outputs).
    #[arg(long, value_delimiter = ',')]
    outputs: Option<Vec<String>>,
    /// The shape of a placeholder with unknown dimensions, `name:D0,D1,...` (repeatable).
    #[arg(long = "input_shapes", value_parser = parse_shape)]
    input_shapes: Vec<(String, Vec<u64>)>,
    /// Values to feed: `name=FILE.npy`, `FILE.npy` (named by its stem) or
    /// `FILE.npz` (by key); placeholders not given get seeded random values.
    #[arg(long, value_delimiter = ',')]
    inputs: Vec<String>,
    /// Seed of the random inputs (floats uniform in [-1,1), integers in [0,10)).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Intra- and inter-op threads of the sessions, 1 to 1024 (default: TensorFlow's).
    // Bounded: TensorFlow starts every thread of its pools with the session
    // and aborts the process when it cannot.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// The Python whose pip-installed TensorFlow to use when TENSORFLOW_DIR is
    /// not set (default: python3 on the PATH).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why a flag's value was refused; clap prints it after the flag's name.
#[derive(Debug, thiserror::Error)]
pub enum FlagValueError {
    #[error("expected name:D0,D1,... (e.g. input:1,224,224,3)")]
    NotAShape,
    #[error("a dimension size is at least 1 (an empty input compares nothing)")]
    ZeroDimension,
    #[error("`{0}` is not a dimension size")]
    NotADimension(String),
    #[error("`{0}` is not a finite number of at least 0")]
    NotFiniteNonNegative(String),
    #[error("the time to run is more than 0 seconds")]
    ZeroSeconds,
}

fn parse_shape(s: &str) -> Result<(String, Vec<u64>), FlagValueError> {
    let (name, dims) = s.rsplit_once(':').ok_or(FlagValueError::NotAShape)?;
    let dims = if dims.is_empty() {
        Vec::new()
    } else {
        dims.split(',')
            .map(|d| match d.trim().parse::<u64>() {
                Ok(0) => Err(FlagValueError::ZeroDimension),
                Ok(size) => Ok(size),
                Err(_) => Err(FlagValueError::NotADimension(d.to_string())),
            })
            .collect::<Result<_, _>>()?
    };
    Ok((tf_strip::graph::node_name(name).to_string(), dims))
}

/// A number the user gave as a flag's value: finite, and at least 0.
pub fn finite_non_negative(s: &str) -> Result<f64, FlagValueError> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(FlagValueError::NotFiniteNonNegative(s.to_string())),
    }
}

impl RunArgs {
    pub fn input_options(&self, batch: Option<u64>) -> InputOptions {
        InputOptions {
            shapes: self.input_shapes.clone(),
            batch,
            seed: self.seed,
            given: self.inputs.iter().map(|s| Given::parse(s)).collect(),
        }
    }

    pub fn outputs(&self) -> Option<Vec<String>> {
        self.outputs.clone()
    }

    pub fn session(&self) -> SessionConfig {
        SessionConfig { threads: self.threads }
    }

    pub fn python(&self) -> Option<PathBuf> {
        self.python.clone()
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The reference model, then the models checked against it: .pb/.pbtxt,
    /// an `encode` container, a SavedModel directory, a checkpoint directory or prefix.
    #[arg(required = true, num_args = 2..)]
    models: Vec<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// A leading unknown dimension of every placeholder.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Absolute tolerance: an element fails if its difference is above atol and above rtol relative.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true, value_parser = finite_non_negative)]
    atol: f64,
    /// Relative tolerance, to the reference's value.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true, value_parser = finite_non_negative)]
    rtol: f64,
    /// Random input sets to compare on.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
}

pub fn run(args: VerifyArgs) -> Result<(), CliError> {
    let opts = VerifyOptions {
        inputs: args.run.input_options(Some(args.batch)),
        outputs: args.run.outputs(),
        atol: args.atol,
        rtol: args.rtol,
        iterations: args.iterations,
        session: args.run.session(),
        python: args.run.python(),
    };
    // Every verify loads TensorFlow and runs the models, seconds at least: a
    // spinner on a terminal whatever the models' size.
    let report = verify(&args.models, &opts, &Steps::for_bytes(0))?;
    if args.run.json {
        print_json(&report);
    } else {
        print!("{}", render(&report));
    }
    let failed: Vec<(String, PathBuf)> = report
        .comparisons
        .iter()
        .flat_map(|c| c.outputs.iter().filter(|o| !o.passed).map(|o| (o.name.clone(), c.candidate.clone())))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::VerifyFailed(failed))
    }
}

fn num(v: f64) -> String {
    if v == 0.0 { "0".into() } else { format!("{v:.3e}") }
}

/// A tolerance, readably: `0` (not `0e0`), `1e-5`, `2.5e-3`.
fn tolerance(v: f64) -> String {
    if v == 0.0 { "0".into() } else { format!("{v:e}") }
}

fn render(r: &VerifyReport) -> String {
    let mut out = String::new();
    let inputs: Vec<String> = r.inputs.iter().map(|i| format!("{} {}{}", i.name, i.dtype, shape(&i.shape))).collect();
    out += &format!(
        "inputs: {}\n{} input set(s); atol {}, rtol {} (an element fails if both are exceeded)\n",
        if inputs.is_empty() { "none".into() } else { inputs.join(", ") },
        r.iterations,
        tolerance(r.atol),
        tolerance(r.rtol)
    );
    let row = |o: &OutputDiff| {
        // Values at their own precision: a float32 printed as f64 shows digits it never had.
        let value = |v: f64| if o.dtype == "float32" { format!("{}", v as f32) } else { format!("{v}") };
        let pair = format!("{} vs {}", value(o.reference_value), value(o.candidate_value));
        let at = match &o.mismatch {
            Some(m) => m.clone(),
            None if r.iterations > 1 => format!("set {} {} ({pair})", o.max_at_iteration, shape(&o.max_at)),
            None => format!("{} ({pair})", shape(&o.max_at)),
        };
        vec![
            o.name.clone(),
            o.dtype.to_string(),
            shape(&o.shape),
            num(o.max_abs),
            num(o.max_rel),
            num(o.mean_abs),
            at,
            format!("{}/{}", o.failing, o.elements),
            if o.passed { "PASS".into() } else { "FAIL".into() },
        ]
    };
    for c in &r.comparisons {
        out += &format!("\n{} vs {} (reference)\n", c.candidate.display(), c.reference.display());
        let rows: Vec<Vec<String>> = c.outputs.iter().map(row).collect();
        out += &table(
            &["output", "dtype", "shape", "max abs", "max rel", "mean abs", "max abs at (reference vs candidate)", "failing", "result"],
            &rows,
        );
        let passed = c.outputs.iter().filter(|o| o.passed).count();
        out += &format!(
            "{}: {passed} of {} outputs passed ({:.0}%)\n",
            if c.passed { "PASS" } else { "FAIL" },
            c.outputs.len(),
            100.0 * passed as f64 / c.outputs.len().max(1) as f64
        );
    }
    out
}
