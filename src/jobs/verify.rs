//! `tf-strip verify`: runs two or more models in the real TensorFlow on the
//! same inputs and compares every output of each with the first model's, by
//! polygraphy's rule: an element fails only if its absolute difference
//! exceeds `atol` *and* its relative difference (to the first model's value)
//! exceeds `rtol`.

use std::path::PathBuf;

use serde::Serialize;

use super::Progress;
use crate::proto::tensorflow::DataType;
use crate::runner::{self, InputOptions, Kind, RunnerError, UsageError};
use crate::runtime::SessionConfig;
use crate::tensor::{Element, Tensor};

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub inputs: InputOptions,
    /// `None`: the first non-checkpoint model's outputs (`Source::default_outputs`).
    pub outputs: Option<Vec<String>>,
    pub atol: f64,
    pub rtol: f64,
    /// Random input sets, each seeded differently.
    pub iterations: u64,
    pub session: SessionConfig,
    /// The Python whose TensorFlow is used when `TENSORFLOW_DIR` is not set.
    pub python: Option<PathBuf>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            inputs: InputOptions::default(),
            outputs: None,
            atol: 1e-5,
            rtol: 1e-5,
            iterations: 1,
            session: SessionConfig::default(),
            python: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub kind: Kind,
}

#[derive(Debug, Clone, Serialize)]
pub struct FedInput {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub models: Vec<ModelInfo>,
    /// What was fed, with the shapes of the first input set.
    pub inputs: Vec<FedInput>,
    pub outputs: Vec<String>,
    pub iterations: u64,
    pub atol: f64,
    pub rtol: f64,
    /// Every model after the first against the first.
    pub comparisons: Vec<Comparison>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub reference: PathBuf,
    pub candidate: PathBuf,
    pub outputs: Vec<OutputDiff>,
    pub passed: bool,
}

/// One output over every input set; the maxima are over all of them.
#[derive(Debug, Clone, Serialize)]
pub struct OutputDiff {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<u64>,
    pub elements: u64,
    pub max_abs: f64,
    pub max_rel: f64,
    pub mean_abs: f64,
    /// Where the largest absolute difference is: input set, then element index.
    pub max_at_iteration: u64,
    pub max_at: Vec<u64>,
    pub reference_value: f64,
    pub candidate_value: f64,
    /// Elements outside both tolerances, over all input sets.
    pub failing: u64,
    /// Why the outputs cannot be compared at all (dtype or shape differs).
    pub mismatch: Option<String>,
    pub passed: bool,
}

/// Verifies `paths[1..]` against `paths[0]`.
pub fn verify(paths: &[PathBuf], opts: &VerifyOptions, progress: &dyn Progress) -> Result<VerifyReport, RunnerError> {
    if paths.len() < 2 {
        return Err(RunnerError::Usage(UsageError::TooFewModels));
    }
    let given = runner::read_given(&opts.inputs.given)?;
    if !given.is_empty() && opts.iterations > 1 {
        return Err(RunnerError::Usage(UsageError::IterationsWithInputs));
    }
    progress.begin(paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum());
    progress.step("reading the models");
    let prepared = runner::prepare(paths, opts.outputs.as_deref(), opts.python.as_deref())?;
    progress.step("loading the models into TensorFlow");
    let models = prepared.sources.iter().map(|s| s.load(&opts.session)).collect::<Result<Vec<_>, _>>()?;
    let mut diffs: Vec<Vec<Accumulator>> =
        (1..models.len()).map(|_| prepared.fetches.iter().map(|_| Accumulator::default()).collect()).collect();
    let mut inputs = Vec::new();
    progress.step("running the models and comparing their outputs");
    for iteration in 0..opts.iterations.max(1) {
        let feeds = runner::make_feeds(&prepared.inputs, &opts.inputs, &given, iteration)?;
        if iteration == 0 {
            inputs = feeds
                .iter()
                .map(|(name, t)| FedInput { name: name.clone(), dtype: t.dtype.name(), shape: t.shape.clone() })
                .collect();
        }
        let outputs: Vec<Vec<Tensor>> = models
            .iter()
            .zip(&prepared.needs)
            .map(|(model, needs)| {
                let own: Vec<(String, Tensor)> = feeds.iter().filter(|(n, _)| needs.contains(n)).cloned().collect();
                model.run(&own, &prepared.fetches)
            })
            .collect::<Result<_, _>>()?;
        for (candidate, acc) in outputs[1..].iter().zip(&mut diffs) {
            for ((want, got), acc) in outputs[0].iter().zip(candidate).zip(acc) {
                acc.add(iteration, want, got, opts);
            }
        }
    }
    let comparisons: Vec<Comparison> = prepared.sources[1..]
        .iter()
        .zip(diffs)
        .map(|(candidate, accs)| {
            let outputs: Vec<OutputDiff> =
                accs.into_iter().zip(&prepared.fetches).map(|(a, name)| a.finish(name)).collect();
            Comparison {
                reference: prepared.sources[0].path.clone(),
                candidate: candidate.path.clone(),
                passed: outputs.iter().all(|o| o.passed),
                outputs,
            }
        })
        .collect();
    Ok(VerifyReport {
        models: prepared.sources.iter().map(|s| ModelInfo { path: s.path.clone(), kind: s.kind }).collect(),
        inputs,
        outputs: prepared.fetches.clone(),
        iterations: opts.iterations.max(1),
        atol: opts.atol,
        rtol: opts.rtol,
        passed: comparisons.iter().all(|c| c.passed),
        comparisons,
    })
}

/// An output's differences so far.
#[derive(Default)]
struct Accumulator {
    first: Option<(DataType, Vec<u64>)>,
    elements: u64,
    sum_abs: f64,
    max_abs: f64,
    max_rel: f64,
    max_at: (u64, Vec<u64>),
    values_at_max: (f64, f64),
    failing: u64,
    mismatch: Option<String>,
}

impl Accumulator {
    fn add(&mut self, iteration: u64, want: &Tensor, got: &Tensor, opts: &VerifyOptions) {
        self.first.get_or_insert_with(|| (want.dtype, want.shape.clone()));
        if self.mismatch.is_some() {
            return;
        }
        if (want.dtype, &want.shape) != (got.dtype, &got.shape) {
            self.mismatch = Some(format!(
                "the reference gives {} {}, the candidate {} {}",
                want.dtype.name(),
                shape_text(&want.shape),
                got.dtype.name(),
                shape_text(&got.shape)
            ));
            return;
        }
        let (Some(w), Some(g)) = (values(want), values(got)) else {
            self.mismatch = Some(format!("{} outputs cannot be compared", want.dtype.name()));
            return;
        };
        for (i, (&w, &g)) in w.iter().zip(&g).enumerate() {
            let abs = if w == g || (w.is_nan() && g.is_nan()) { 0.0 } else { (w - g).abs() };
            let abs = if abs.is_nan() { f64::INFINITY } else { abs };
            let rel = if abs == 0.0 { 0.0 } else { abs / w.abs() };
            if abs > opts.atol && rel > opts.rtol {
                self.failing += 1;
            }
            if abs > self.max_abs || self.elements == 0 && i == 0 {
                self.max_abs = abs;
                self.max_at = (iteration, unravel(i as u64, &want.shape));
                self.values_at_max = (w, g);
            }
            self.max_rel = self.max_rel.max(rel);
            self.sum_abs += abs;
        }
        self.elements += w.len() as u64;
    }

    fn finish(self, name: &str) -> OutputDiff {
        let (dtype, shape) = self.first.unwrap_or((DataType::DtInvalid, Vec::new()));
        OutputDiff {
            name: name.to_string(),
            dtype: dtype.name(),
            shape,
            elements: self.elements,
            max_abs: self.max_abs,
            max_rel: self.max_rel,
            mean_abs: if self.elements == 0 { 0.0 } else { self.sum_abs / self.elements as f64 },
            max_at_iteration: self.max_at.0,
            max_at: self.max_at.1,
            reference_value: self.values_at_max.0,
            candidate_value: self.values_at_max.1,
            failing: self.failing,
            passed: self.mismatch.is_none() && self.failing == 0,
            mismatch: self.mismatch,
        }
    }
}

fn shape_text(dims: &[u64]) -> String {
    format!("[{}]", dims.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
}

/// Row-major multi-index of flat element `i`.
fn unravel(mut i: u64, shape: &[u64]) -> Vec<u64> {
    let mut index = vec![0; shape.len()];
    for (slot, &d) in index.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    index
}

/// Every element as f64 (exact for all fetched types but 64-bit integers
/// beyond 2^53, where a difference of 1 may read as 0).
fn values(t: &Tensor) -> Option<Vec<f64>> {
    fn widened<T: Element>(t: &Tensor, f: impl Fn(T) -> f64) -> Option<Vec<f64>> {
        Some(t.values::<T>().ok()?.into_iter().map(f).collect())
    }
    match t.dtype {
        DataType::DtFloat => widened::<f32>(t, f64::from),
        DataType::DtDouble => widened(t, |v: f64| v),
        DataType::DtInt32 => widened::<i32>(t, f64::from),
        DataType::DtInt64 => widened(t, |v: i64| v as f64),
        DataType::DtUint8 => widened::<u8>(t, f64::from),
        DataType::DtInt8 => widened::<i8>(t, f64::from),
        _ => None,
    }
}
