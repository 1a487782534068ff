//! `tf-strip bench MODEL...`: load time, first run, latency and throughput
//! in the real TensorFlow, models interleaved, each against the first.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::render::{human_bytes, print_json, table};
use super::verify::{finite_non_negative, FlagValueError, RunArgs};
use super::CliError;
use tf_strip::jobs::{bench, BenchOptions, BenchReport, Stop};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Models to time; the first is the baseline of the ratios.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// Batch sizes (the leading unknown dimension), e.g. 1,32.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = clap::value_parser!(u64).range(1..))]
    batch: Vec<u64>,
    /// Untimed runs per model and batch size first.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Timed runs per model and batch size.
    #[arg(long, default_value_t = 100, conflicts_with = "seconds", value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Run for this many seconds per batch size instead of --runs.
    #[arg(long, allow_negative_numbers = true, value_parser = seconds)]
    seconds: Option<f64>,
    /// Loads per model (interleaved); the median load time is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    loads: u64,
}

/// A positive, finite time: zero seconds would time nothing.
fn seconds(s: &str) -> Result<f64, FlagValueError> {
    match finite_non_negative(s)? {
        0.0 => Err(FlagValueError::ZeroSeconds),
        v => Ok(v),
    }
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    let opts = BenchOptions {
        inputs: args.run.input_options(None),
        outputs: args.run.outputs(),
        batches: args.batch.clone(),
        warmup: args.warmup,
        stop: args.seconds.map_or(Stop::Runs(args.runs), Stop::Seconds),
        loads: args.loads,
        session: args.run.session(),
        python: args.run.python(),
    };
    // A bar on a terminal; indicatif draws nothing when stderr is redirected.
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut progress = |done: u64, total: u64, what: &str| {
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(what.to_string());
    };
    let report = bench(&args.models, &opts, &mut progress);
    bar.finish_and_clear();
    let report = report?;
    if args.run.json {
        print_json(&report);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn ms(s: f64) -> String {
    format!("{:.3} ms", s * 1e3)
}

fn render(r: &BenchReport) -> String {
    let rows: Vec<Vec<String>> = r
        .results
        .iter()
        .map(|b| {
            vec![
                b.model.display().to_string(),
                b.batch.to_string(),
                ms(b.load),
                ms(b.first_run),
                ms(b.median),
                ms(b.p90),
                ms(b.min),
                ms(b.max),
                format!("{:.1}", b.throughput),
                b.rss_growth_bytes.map_or("-".into(), |g| human_bytes(g.max(0) as u64)),
                format!("{:.3}", b.load_ratio),
                format!("{:.3}", b.median_ratio),
                b.runs.to_string(),
            ]
        })
        .collect();
    let mut out = table(
        &["model", "batch", "load", "first run", "median", "p90", "min", "max", "examples/s", "RSS added", "load ratio", "median ratio", "runs"],
        &rows,
    );
    out += &format!(
        "threads: {}; peak RSS of the process (all models): {}\n",
        r.threads.map_or("TensorFlow's default".into(), |t| t.to_string()),
        r.peak_rss_bytes.map_or("-".into(), human_bytes)
    );
    out
}
