//! `tf-strip accelerate IN.pb OUT.pb`: the `MatMul`s whose sparse constant
//! weight makes `SparseTensorDenseMatMul` faster in the real TensorFlow,
//! rewritten (`transform::sparse_matmul`). Each candidate layer is timed
//! alone, dense against sparse, at every batch size asked; the winners are
//! rewritten together, and the whole graph is verified and timed against the
//! input: a graph that is not faster is written as it came.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{bench, verify, BenchOptions, JobError, Stop, VerifyOptions};
use crate::graph::{write_message, Format, Graph, NodeBuilder};
use crate::proto::tensorflow::{DataType, GraphDef};
use crate::runner::{make_feeds, InputOptions, InputSpec, RunnerError};
use crate::runtime::{Model, SessionConfig};
use crate::graph::Attrs;
use crate::tensor::{from_proto, Tensor};
use crate::transform::{rewrite_sparse_matmuls, sparse_matmul_candidates, MatMulCandidate};

/// A layer is rewritten when its sparse form is this much faster alone, at
/// every batch size: less would be within a shared machine's noise.
pub const DEFAULT_MARGIN: f64 = 0.10;

/// Timed rounds of one layer at one batch size stop after this long...
const LAYER_TIME: Duration = Duration::from_millis(300);
/// ...once this many are done.
const LAYER_MIN_ROUNDS: usize = 15;
const LAYER_WARMUP: usize = 3;
/// Timed seconds of the whole graph, per batch size.
const GRAPH_SECONDS: f64 = 2.0;
/// Random input sets the whole graph is verified on.
const VERIFY_SETS: u64 = 3;

#[derive(Debug, Clone)]
pub struct TfAccelerateOptions {
    /// The batch sizes the model will run at; a layer must win at each.
    pub batches: Vec<u64>,
    /// Decide by sparsity alone (no TensorFlow): rewrite every candidate with
    /// at least this share of zeros, without measuring or checking.
    pub min_sparsity: Option<f64>,
    /// How much faster a layer must be alone (0.10: 10%).
    pub margin: f64,
    pub session: SessionConfig,
    /// The Python whose TensorFlow is used when `TENSORFLOW_DIR` is not set.
    pub python: Option<PathBuf>,
}

impl Default for TfAccelerateOptions {
    fn default() -> Self {
        TfAccelerateOptions { batches: vec![1], min_sparsity: None, margin: DEFAULT_MARGIN, session: SessionConfig::default(), python: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TfDecision {
    Sparse,
    Dense,
}

/// One `MatMul` with a sparse constant weight and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct TfLayerReport {
    pub name: String,
    pub weight: String,
    pub shape: [u64; 2],
    pub zeros: u64,
    pub elements: u64,
    /// Inside a while loop (an LSTM cell's matmul).
    pub in_loop: bool,
    /// Alone, at each batch size (empty when decided by sparsity).
    pub timings: Vec<LayerTiming>,
    pub decision: TfDecision,
    pub reason: String,
}

/// Median seconds of one run of the layer alone.
#[derive(Debug, Clone, Serialize)]
pub struct LayerTiming {
    pub batch: u64,
    pub dense: f64,
    pub sparse: f64,
    /// `dense / sparse`.
    pub speedup: f64,
}

/// The rewritten graph against the input, in TensorFlow.
#[derive(Debug, Clone, Serialize)]
pub struct GraphCheck {
    /// Outputs within 1e-5 on random inputs (`verify`).
    pub verified: bool,
    pub max_abs_diff: f64,
    pub timings: Vec<GraphTiming>,
    /// Whether the rewrite was kept: verified and faster at every batch size.
    pub kept: bool,
}

/// Median seconds of one run of the whole graph (`bench`, interleaved).
#[derive(Debug, Clone, Serialize)]
pub struct GraphTiming {
    pub batch: u64,
    pub dense: f64,
    pub accelerated: f64,
    pub speedup: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TfAccelerateReport {
    pub batches: Vec<u64>,
    /// Set when layers were chosen by sparsity alone, not measured.
    pub min_sparsity: Option<f64>,
    pub margin: f64,
    pub layers: Vec<TfLayerReport>,
    /// `None` when nothing was rewritten or nothing was measured.
    pub check: Option<GraphCheck>,
    /// `MatMul`s rewritten in the graph written.
    pub rewritten: usize,
}

/// Rewrites the `MatMul`s of `graph` (read from `path`, named in errors) that
/// are faster sparse; `graph` is left as it was when none is, or when the
/// whole rewritten graph is not faster.
pub fn accelerate_graph(graph: &mut Graph, path: &Path, opts: &TfAccelerateOptions) -> Result<TfAccelerateReport, JobError> {
    if opts.batches.is_empty() || opts.batches.contains(&0) {
        return Err(JobError::NoBatch);
    }
    if opts.min_sparsity.is_none() {
        crate::runtime::load_with(opts.python.as_deref())
            .map_err(|source| JobError::NoTensorFlowToMeasure { path: path.to_path_buf(), source })?;
    }
    let candidates = sparse_matmul_candidates(graph).map_err(|source| JobError::SparseMatMul { path: path.to_path_buf(), source })?;
    let mut layers = Vec::with_capacity(candidates.len());
    for c in &candidates {
        let (timings, decision, reason) = match opts.min_sparsity {
            Some(min) => {
                let (decision, cmp) = if c.sparsity() >= min { (TfDecision::Sparse, ">=") } else { (TfDecision::Dense, "<") };
                (Vec::new(), decision, format!("{:.1}% zeros {cmp} {:.1}%", c.sparsity() * 100.0, min * 100.0))
            }
            None => {
                let weight = weight_of(graph, c, path)?;
                let timings = opts.batches.iter().map(|&b| time_layer(c, &weight, b, path, &opts.session)).collect::<Result<Vec<_>, _>>()?;
                let (decision, reason) = judge(&timings, opts.margin);
                (timings, decision, reason)
            }
        };
        layers.push(TfLayerReport {
            name: c.name.clone(),
            weight: c.weight.clone(),
            shape: c.shape,
            zeros: c.zeros,
            elements: c.elements(),
            in_loop: !c.enters.is_empty(),
            timings,
            decision,
            reason,
        });
    }
    let chosen: Vec<MatMulCandidate> =
        candidates.into_iter().zip(&layers).filter(|(_, l)| l.decision == TfDecision::Sparse).map(|(c, _)| c).collect();
    let mut report = TfAccelerateReport {
        batches: opts.batches.clone(),
        min_sparsity: opts.min_sparsity,
        margin: opts.margin,
        layers,
        check: None,
        rewritten: 0,
    };
    if chosen.is_empty() {
        return Ok(report);
    }
    let mut rewritten = graph.clone();
    rewrite_sparse_matmuls(&mut rewritten, &chosen).map_err(|source| JobError::SparseMatMul { path: path.to_path_buf(), source })?;
    if opts.min_sparsity.is_none() {
        let check = check_graph(graph, &rewritten, path, opts)?;
        let kept = check.kept;
        if !kept {
            for l in report.layers.iter_mut().filter(|l| l.decision == TfDecision::Sparse) {
                l.decision = TfDecision::Dense;
                l.reason = format!("{}; but the whole rewritten graph was not faster", l.reason);
            }
        }
        report.check = Some(check);
        if !kept {
            return Ok(report);
        }
    }
    report.rewritten = chosen.len();
    *graph = rewritten;
    Ok(report)
}

/// The candidate's weight, as `sparse_matmul_candidates` read it.
fn weight_of(graph: &Graph, c: &MatMulCandidate, path: &Path) -> Result<Tensor, JobError> {
    let node = graph.require(&c.weight).map_err(|e| e.in_file(path))?;
    let proto = node.tensor_value().map_err(|e| e.in_file(path))?;
    from_proto(proto).map_err(|source| JobError::BadWeight { path: path.to_path_buf(), weight: c.weight.clone(), source })
}

/// Sparse where it won by `margin` at every batch size, saying by how much.
fn judge(timings: &[LayerTiming], margin: f64) -> (TfDecision, String) {
    let speedups: Vec<String> = timings.iter().map(|t| format!("{:.2}x at batch {}", t.speedup, t.batch)).collect();
    let needed = 1.0 + margin;
    match timings.iter().all(|t| t.speedup >= needed) {
        true => (TfDecision::Sparse, format!("sparse {} (>= {needed:.2}x)", speedups.join(", "))),
        false => (TfDecision::Dense, format!("sparse {} (< {needed:.2}x somewhere)", speedups.join(", "))),
    }
}

/// The layer alone as a graph: its input fed at `batch`, its weight, the
/// `MatMul` with its transposes.
fn layer_graph(c: &MatMulCandidate, weight: &Tensor, batch: u64) -> Graph {
    let x_shape = match c.transpose_a {
        false => [batch, c.inner()],
        true => [c.inner(), batch],
    };
    let nodes = vec![
        NodeBuilder::new("Placeholder").ty("dtype", DataType::DtFloat).shape("shape", &x_shape).build("x"),
        crate::graph::const_node("w", weight),
        NodeBuilder::new("MatMul")
            .input("x")
            .input("w")
            .ty("T", DataType::DtFloat)
            .boolean("transpose_a", c.transpose_a)
            .boolean("transpose_b", c.transpose_b)
            .build("y"),
    ];
    // Three well-formed nodes: `Graph::new` has nothing to refuse.
    Graph::new(GraphDef { node: nodes, ..Default::default() }).unwrap_or_default()
}

/// The layer alone, dense and sparse, run interleaved on the same input;
/// median times.
fn time_layer(c: &MatMulCandidate, weight: &Tensor, batch: u64, path: &Path, session: &SessionConfig) -> Result<LayerTiming, JobError> {
    let dense = layer_graph(c, weight, batch);
    let mut sparse = dense.clone();
    let sparse_error = |source| JobError::SparseMatMul { path: path.to_path_buf(), source };
    let alone = sparse_matmul_candidates(&dense).map_err(sparse_error)?;
    rewrite_sparse_matmuls(&mut sparse, &alone).map_err(sparse_error)?;
    let in_tf = |source| JobError::from(RunnerError::Runtime { path: path.to_path_buf(), source });
    let models = [&dense, &sparse]
        .map(|g| Model::import(&prost::Message::encode_to_vec(g.def()), session))
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(in_tf)?;
    let x_shape = match c.transpose_a {
        false => [batch, c.inner()],
        true => [c.inner(), batch],
    };
    let x = InputSpec { name: "x".into(), dtype: DataType::DtFloat, shape: Some(x_shape.iter().map(|&d| d as i64).collect()) };
    let feeds = make_feeds(&[x], &InputOptions::default(), &[], 0)?;
    let fetches = ["y:0".to_string()];
    let run = |m: &Model| -> Result<f64, JobError> {
        let start = Instant::now();
        m.run(&feeds, &fetches).map_err(in_tf)?;
        Ok(start.elapsed().as_secs_f64())
    };
    for m in &models {
        for _ in 0..LAYER_WARMUP {
            run(m)?;
        }
    }
    let mut times = [Vec::new(), Vec::new()];
    let start = Instant::now();
    while times[0].len() < LAYER_MIN_ROUNDS || start.elapsed() < LAYER_TIME {
        for (m, t) in models.iter().zip(&mut times) {
            t.push(run(m)?);
        }
    }
    let [dense, sparse] = times.map(|t| super::bench::median_of(&t));
    Ok(LayerTiming { batch, dense, sparse, speedup: dense / sparse })
}

/// Verifies and benches `rewritten` against `dense`, both written into a
/// temporary folder so that `verify` and `bench` open them as any model.
fn check_graph(dense: &Graph, rewritten: &Graph, path: &Path, opts: &TfAccelerateOptions) -> Result<GraphCheck, JobError> {
    let dir = tempfile::tempdir().map_err(crate::error::FileError::at(&std::env::temp_dir()))?;
    let paths = [dir.path().join("dense.pb"), dir.path().join("accelerated.pb")];
    for (p, g) in paths.iter().zip([dense, rewritten]) {
        write_message(p, g.def(), Format::Binary)?;
    }
    // Errors name the input, not a temporary file that is gone.
    let named = |e: RunnerError| match e {
        RunnerError::Runtime { source, .. } => RunnerError::Runtime { path: path.to_path_buf(), source },
        e => e,
    };
    let inputs = InputOptions { batch: Some(opts.batches[0]), ..Default::default() };
    let verified = verify(
        &paths,
        &VerifyOptions { inputs: inputs.clone(), iterations: VERIFY_SETS, session: opts.session, python: opts.python.clone(), ..Default::default() },
        &(),
    )
    .map_err(named)?;
    let max_abs_diff = verified.comparisons.iter().flat_map(|c| &c.outputs).map(|o| o.max_abs).fold(0.0, f64::max);
    let benched = bench(
        &paths,
        &BenchOptions {
            inputs,
            batches: opts.batches.clone(),
            stop: Stop::Seconds(GRAPH_SECONDS),
            loads: 1,
            session: opts.session,
            python: opts.python.clone(),
            ..Default::default()
        },
        &mut |_, _, _| {},
    )
    .map_err(named)?;
    let timings: Vec<GraphTiming> = benched
        .results
        .chunks(2)
        .filter_map(|pair| match pair {
            [d, a] => Some(GraphTiming { batch: d.batch, dense: d.median, accelerated: a.median, speedup: d.median / a.median }),
            _ => None,
        })
        .collect();
    let kept = verified.passed && timings.iter().all(|t| t.speedup > 1.0);
    Ok(GraphCheck { verified: verified.passed, max_abs_diff, timings, kept })
}
