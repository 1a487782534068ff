//! `tf-strip bench`: load time, first run and steady-state latency of models
//! in the real TensorFlow, run interleaved (A B A B ...) so that drift of a
//! shared machine lands on all of them alike, each compared with the first.
//!
//! All models run in this one process, so memory is given per model as what
//! its load and first run added to the process's resident set (VmRSS), and
//! once for the process as its peak (VmHWM). One timed run is one
//! `Session.run` with its feeds and fetches copied in and out, as Python's
//! `sess.run(fetches, feed_dict)` does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::runner::{self, InputOptions, Loaded, RunnerError, UsageError};
use crate::runtime::{Model, SessionConfig};
use crate::tensor::Tensor;
use super::verify::ModelInfo;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Timed rounds per batch size (one run of every model each).
    Runs(u64),
    /// Rounds until this many seconds have passed, per batch size.
    Seconds(f64),
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Shapes, seed and given values; `batch` is replaced by each of `batches`.
    pub inputs: InputOptions,
    pub outputs: Option<Vec<String>>,
    pub batches: Vec<u64>,
    /// Untimed runs per model and batch size before the timed ones.
    pub warmup: u64,
    pub stop: Stop,
    /// Times each model is loaded (interleaved); the median is reported.
    pub loads: u64,
    pub session: SessionConfig,
    pub python: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            inputs: InputOptions::default(),
            outputs: None,
            batches: vec![1],
            warmup: 5,
            stop: Stop::Runs(100),
            loads: 3,
            session: SessionConfig::default(),
            python: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub models: Vec<ModelInfo>,
    pub outputs: Vec<String>,
    pub threads: Option<u32>,
    pub results: Vec<BenchResult>,
    /// The process's peak resident set (VmHWM), all models together.
    pub peak_rss_bytes: Option<u64>,
}

/// One model at one batch size. Times in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub model: PathBuf,
    pub batch: u64,
    /// Median over the loads: reading, parsing, import, session creation (and
    /// a checkpoint's restore, a container's decoding).
    pub load: f64,
    /// Median of the first run after each load (at the first batch size).
    pub first_run: f64,
    pub runs: u64,
    pub median: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
    /// Examples per second at the median latency.
    pub throughput: f64,
    /// What the model's first load and run added to the process's VmRSS.
    pub rss_growth_bytes: Option<i64>,
    /// This model's figure over the first model's, at the same batch size.
    pub load_ratio: f64,
    pub median_ratio: f64,
    pub throughput_ratio: f64,
}

/// Progress: work done of total, and what is being done.
pub type BenchProgress<'a> = &'a mut dyn FnMut(u64, u64, &str);

pub fn bench(paths: &[PathBuf], opts: &BenchOptions, progress: BenchProgress<'_>) -> Result<BenchReport, RunnerError> {
    if paths.is_empty() || opts.batches.is_empty() || opts.batches.contains(&0) {
        return Err(RunnerError::Usage(UsageError::NothingToBench));
    }
    if matches!(opts.stop, Stop::Runs(0)) || matches!(opts.stop, Stop::Seconds(s) if !(s > 0.0 && s.is_finite())) {
        return Err(RunnerError::Usage(UsageError::NoTimedRuns));
    }
    let prepared = runner::prepare(paths, opts.outputs.as_deref(), opts.python.as_deref())?;
    let given = runner::read_given(&opts.inputs.given)?;
    let feeds_at = |batch: u64| -> Result<Vec<Vec<(String, Tensor)>>, RunnerError> {
        let inputs = InputOptions { batch: Some(batch), ..opts.inputs.clone() };
        let feeds = runner::make_feeds(&prepared.inputs, &inputs, &given, 0)?;
        Ok(prepared.needs.iter().map(|needs| feeds.iter().filter(|(n, _)| needs.contains(n)).cloned().collect()).collect())
    };
    let run = |model: &Loaded, feeds: &[(String, Tensor)]| -> Result<Duration, RunnerError> {
        let start = Instant::now();
        model.run(feeds, &prepared.fetches)?;
        Ok(start.elapsed())
    };
    if prepared.sources.iter().any(|s| s.graph().is_some()) {
        Model::warm_up(&opts.session).map_err(RunnerError::Load)?;
    }

    let n = prepared.sources.len();
    let loads = opts.loads.max(1);
    let mut load_times = vec![Vec::new(); n];
    let mut first_runs = vec![Vec::new(); n];
    let mut rss_growth = vec![None; n];
    let mut kept: Vec<Loaded> = Vec::with_capacity(n);
    let first_feeds = feeds_at(opts.batches[0])?;
    for round in 0..loads {
        for (i, source) in prepared.sources.iter().enumerate() {
            progress(round * n as u64 + i as u64, loads * n as u64, "loading");
            let rss_before = rss("VmRSS");
            let start = Instant::now();
            let model = source.load(&opts.session)?;
            load_times[i].push(start.elapsed().as_secs_f64());
            first_runs[i].push(run(&model, &first_feeds[i])?.as_secs_f64());
            if round == 0 {
                rss_growth[i] = rss_before.zip(rss("VmRSS")).map(|(b, a)| a as i64 - b as i64);
                kept.push(model);
            }
        }
    }

    let mut results = Vec::new();
    for &batch in &opts.batches {
        let feeds = feeds_at(batch)?;
        for (i, model) in kept.iter().enumerate() {
            for _ in 0..opts.warmup {
                run(model, &feeds[i])?;
            }
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); n];
        let start = Instant::now();
        for round in 0u64.. {
            let (done, total) = match opts.stop {
                Stop::Runs(r) if round >= r => break,
                Stop::Seconds(s) if round >= 3 && start.elapsed().as_secs_f64() >= s => break,
                Stop::Runs(r) => (round, r),
                Stop::Seconds(s) => (start.elapsed().as_millis() as u64, (s * 1000.0) as u64),
            };
            progress(done, total, &format!("batch {batch}"));
            for (i, model) in kept.iter().enumerate() {
                times[i].push(run(model, &feeds[i])?.as_secs_f64());
            }
        }
        let first = results.len();
        for (i, mut t) in times.into_iter().enumerate() {
            t.sort_by(f64::total_cmp);
            let median = quantile(&t, 0.5);
            results.push(BenchResult {
                model: prepared.sources[i].path.clone(),
                batch,
                load: median_of(&load_times[i]),
                first_run: median_of(&first_runs[i]),
                runs: t.len() as u64,
                median,
                p90: quantile(&t, 0.9),
                min: t.first().copied().unwrap_or(0.0),
                max: t.last().copied().unwrap_or(0.0),
                throughput: batch as f64 / median,
                rss_growth_bytes: rss_growth[i],
                load_ratio: 1.0,
                median_ratio: 1.0,
                throughput_ratio: 1.0,
            });
        }
        let (base_load, base_median, base_throughput) =
            (results[first].load, results[first].median, results[first].throughput);
        for r in &mut results[first..] {
            r.load_ratio = r.load / base_load;
            r.median_ratio = r.median / base_median;
            r.throughput_ratio = r.throughput / base_throughput;
        }
    }
    Ok(BenchReport {
        models: prepared.sources.iter().map(|s| ModelInfo { path: s.path.clone(), kind: s.kind }).collect(),
        outputs: prepared.fetches,
        threads: opts.session.threads,
        results,
        peak_rss_bytes: rss("VmHWM"),
    })
}

pub(super) fn median_of(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

/// The `q` quantile of sorted values, interpolated linearly as numpy's default.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else { return f64::NAN };
    let at = q * last as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// A `/proc/self/status` figure in bytes (Linux only).
fn rss(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))?;
    let kb: u64 = line[key.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
