//! `accelerate`: every FULLY_CONNECTED whose weight is a constant float32
//! matrix with enough zeros gets it in TFLite's sparse format, read straight
//! by the op, so TFLite's sparse kernel runs instead of the dense one.
//!
//! The weight is either a dense constant, stored here as CSR (traversal
//! order [0, 1]; dimension 0 dense of `rows`, dimension 1 CSR with int32
//! segments and indices: the one format TFLite's sparse FULLY_CONNECTED
//! takes), or the converter's sparse copy (`Optimize.EXPERIMENTAL_SPARSITY`),
//! which the converter puts behind a DENSIFY op: the op is then fed the copy
//! and the DENSIFY removed. The op's opcode goes to version 8, the version
//! TFLite gives FC with a sparse weight (tensorflow/lite/tools/versioning/
//! op_version.cc): below it, XNNPACK takes the op and reads the compressed
//! buffer as dense; at 8, XNNPACK leaves it to TFLite's sparse kernel.

use super::patch::Patch;
use super::read::{Buffer, Model, Operator, Sparsity, Tensor, DENSIFY, DEQUANTIZE, FLOAT32, FULLY_CONNECTED};
use super::schema::tflite as fb;
use super::Invalid;

/// op_version.cc: "FullyConnected with sparse weight is supported at version 8."
const SPARSE_FC_VERSION: i32 = 8;

#[derive(Debug, Clone, Copy)]
pub struct AccelerateOptions {
    /// The smallest share of zeros for which a weight is stored sparse.
    pub min_sparsity: f64,
}

/// The threshold for a batch size, measured by scripts/bench_accelerate
/// (BENCHMARKS.md, "accelerate (issue 20)": the 25M MLP, LiteRT 2.3, one
/// thread, XNNPACK on for the dense side): halfway between the highest
/// measured sparsity where TFLite's sparse FC kernel was not 1.1x as fast as
/// the dense model and the lowest where it was, at that and every higher one
/// (at batch 1: 1.07x at 85%, 1.45x at 90%). Halfway, not on the grid,
/// because a weight pruned to 90% has just under 90% zeros. The kernel re-reads
/// the weights per batch row, so it needs more zeros as the batch grows;
/// batches above 16 were not measured and get 98%.
pub fn default_min_sparsity(batch: u32) -> f64 {
    match batch {
        0 | 1 => 0.875,
        2..=8 => 0.925,
        9..=16 => 0.965,
        _ => 0.98,
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AccelerateReport {
    pub min_sparsity: f64,
    pub layers: Vec<LayerReport>,
    /// DENSIFY ops removed, their output no longer read.
    pub densify_removed: usize,
    /// FULLY_CONNECTED ops left dense that share an opcode raised to version
    /// 8: XNNPACK does not take version 8 (xnnpack_delegate.cc), so these
    /// run on TFLite's own dense kernel instead.
    pub dense_at_version_8: usize,
}

/// One FULLY_CONNECTED and what became of its weight.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerReport {
    pub subgraph: usize,
    pub operator: usize,
    /// The op's first output tensor, as TFLite tools name an op.
    pub name: String,
    pub weight: String,
    pub shape: Vec<i32>,
    pub zeros: u64,
    pub elements: u64,
    pub decision: Decision,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A dense constant weight, now stored as CSR.
    Sparse,
    /// The converter's sparse copy, now read directly (its DENSIFY removed).
    ConverterSparse,
    Left,
}

/// What is done to one FULLY_CONNECTED.
enum Plan<'a> {
    Csr { weight: usize, rows: usize, cols: usize, data: &'a [u8] },
    TakeCopy { copy: usize, densify: usize },
    Left,
}

/// Rewrites `bytes` (a TFLite model); returns the new model and the report.
/// Nothing to do gives the input's bytes back unchanged.
pub fn accelerate(bytes: &[u8], options: &AccelerateOptions) -> Result<(Vec<u8>, AccelerateReport), Invalid> {
    let model = Model::read(bytes)?;
    let mut patch = Patch::new(bytes);
    let mut layers = Vec::new();
    let mut densify_removed = 0;
    let mut opcodes = Opcodes { codes: super::read::owned_codes(bytes)?, split: Vec::new(), shared: Vec::new() };
    for (s, sg) in model.subgraphs.iter().enumerate() {
        let mut removed = Vec::new();
        for (i, op) in sg.operators.iter().enumerate() {
            if model.builtin(op) != FULLY_CONNECTED {
                continue;
            }
            let (plan, report) = plan(&model, s, i, op, options.min_sparsity);
            let mut weight_input = None;
            match plan {
                Plan::Csr { weight, rows, cols, data } => {
                    let t = &sg.tensors[weight];
                    let csr = Csr::of(data, rows, cols);
                    patch.shrink_buffer(t.buffer as usize, &csr.values)?;
                    patch.replace_tensor(s, weight, &sparse_tensor(t, rows, csr))?;
                }
                Plan::TakeCopy { copy, densify } => {
                    weight_input = Some(copy as i32);
                    let densify_output = sg.operators[densify].outputs[0];
                    let read_elsewhere = sg.operators.iter().enumerate().any(|(j, o)| j != i && o.inputs.contains(&densify_output))
                        || sg.outputs.contains(&densify_output);
                    if !read_elsewhere && !removed.contains(&densify) {
                        removed.push(densify);
                    }
                }
                Plan::Left => {}
            }
            if report.decision != Decision::Left {
                opcodes.raise_to_version_8(bytes, &mut patch, s, i, op.opcode, weight_input)?;
            }
            layers.push(report);
        }
        densify_removed += removed.len();
        if !removed.is_empty() {
            patch.remove_operators(s, &removed)?;
        }
    }
    let dense_at_version_8 = layers
        .iter()
        .filter(|l| l.decision == Decision::Left && opcodes.shared.contains(&model.subgraphs[l.subgraph].operators[l.operator].opcode))
        .count();
    if !opcodes.split.is_empty() || !opcodes.shared.is_empty() {
        // planus finishes tables only: the vector comes in a model holding nothing else.
        let holder = fb::Model { version: 0, operator_codes: Some(opcodes.codes), subgraphs: None, description: None, buffers: None };
        patch.replace_operator_codes(planus::Builder::new().finish(&holder, None))?;
    }
    let out = patch.into_bytes();
    // The rewrite is checked as any input is, before anyone runs it.
    Model::read(&out).map_err(|Invalid(why)| Invalid(format!("tf-strip wrote an invalid model ({why}); please report this")))?;
    Ok((out, AccelerateReport { min_sparsity: options.min_sparsity, layers, densify_removed, dense_at_version_8 }))
}

/// The operator codes as rewritten FCs need them: each FC code they use
/// gets a version 8 twin appended (`split`), which they are rebuilt to
/// point at, so that FCs left dense keep their version and XNNPACK. An op
/// that cannot be rebuilt (fields newer than tf-strip's schema, options other
/// than FC's) raises its shared code to 8 instead (`shared`).
struct Opcodes {
    codes: Vec<fb::OperatorCode>,
    /// (original code, its version 8 twin).
    split: Vec<(u32, u32)>,
    shared: Vec<u32>,
}

impl Opcodes {
    fn raise_to_version_8(&mut self, bytes: &[u8], patch: &mut Patch, s: usize, i: usize, code: u32, weight: Option<i32>) -> Result<(), Invalid> {
        let Some(current) = self.codes.get(code as usize) else { return Ok(()) };
        if current.version >= SPARSE_FC_VERSION {
            return match weight {
                Some(w) => patch.set_operator_input(s, i, 1, w),
                None => Ok(()),
            };
        }
        let mut op = super::read::owned_operator(bytes, s, i)?;
        if !rebuildable(patch, s, i, &op)? {
            if let Some(w) = weight {
                patch.set_operator_input(s, i, 1, w)?;
            }
            if !self.shared.contains(&code) {
                self.shared.push(code);
                self.codes[code as usize].version = SPARSE_FC_VERSION;
            }
            return Ok(());
        }
        let twin = match self.split.iter().find(|(c, _)| *c == code) {
            Some(&(_, twin)) => twin,
            None => {
                let twin = self.codes.len() as u32;
                self.codes.push(fb::OperatorCode { version: SPARSE_FC_VERSION, ..current.clone() });
                self.split.push((code, twin));
                twin
            }
        };
        op.opcode_index = twin;
        if let (Some(w), Some(inputs)) = (weight, op.inputs.as_mut()) {
            inputs[1] = w;
        }
        patch.replace_operator(s, i, planus::Builder::new().finish(&op, None))
    }
}

/// Fields in schema.fbs's Operator and FullyConnectedOptions.
const OPERATOR_FIELDS: usize = 14;
const FC_OPTIONS_FIELDS: usize = 5;
/// `BuiltinOptions` tag of FullyConnectedOptions.
const FC_OPTIONS: u8 = 8;

/// Whether tf-strip's schema holds everything in operator `i` of subgraph
/// `s`, so that building it again loses nothing.
fn rebuildable(patch: &Patch, s: usize, i: usize, op: &fb::Operator) -> Result<bool, Invalid> {
    let (fields, options) = patch.operator_field_counts(s, i)?;
    Ok(fields <= OPERATOR_FIELDS
        && options <= FC_OPTIONS_FIELDS
        && matches!(op.builtin_options_type, 0 | FC_OPTIONS)
        && op.builtin_options_2_type == 0
        && op.builtin_options_2.is_none()
        && op.custom_options.is_none()
        && op.large_custom_options_size == 0)
}

fn plan<'a>(model: &Model<'a>, s: usize, i: usize, op: &Operator, min_sparsity: f64) -> (Plan<'a>, LayerReport) {
    let sg = &model.subgraphs[s];
    let tensor_name = |t: i32| usize::try_from(t).ok().and_then(|t| sg.tensors.get(t)).map_or(String::new(), |t| t.name.clone());
    let mut report = LayerReport {
        subgraph: s,
        operator: i,
        name: op.outputs.first().map_or(String::new(), |&t| tensor_name(t)),
        weight: op.inputs.get(1).map_or(String::new(), |&t| tensor_name(t)),
        shape: Vec::new(),
        zeros: 0,
        elements: 0,
        decision: Decision::Left,
        reason: String::new(),
    };
    let left = |mut report: LayerReport, why: String| {
        report.reason = why;
        (Plan::Left, report)
    };
    let Some(weight) = op.inputs.get(1).and_then(|&t| usize::try_from(t).ok()) else {
        return left(report, "no weight input".into());
    };
    let w = &sg.tensors[weight];
    report.shape = w.shape.clone();
    let producer = sg.operators.iter().position(|o| o.outputs.contains(&(weight as i32)));
    if let Some(p) = producer {
        let producer_op = &sg.operators[p];
        match model.builtin(producer_op) {
            DENSIFY => {}
            DEQUANTIZE => return left(report, "the weight is stored quantized (float16 or int8) and dequantized at run time".into()),
            _ => return left(report, format!("the weight is computed (by operator {p}), not a constant")),
        }
        let Some(copy) = producer_op.inputs.first().and_then(|&t| usize::try_from(t).ok()) else {
            return left(report, "a DENSIFY without input".into());
        };
        return match converter_copy(model, &sg.tensors[copy], w) {
            Err(why) => left(report, why),
            Ok(nonzeros) => {
                let [rows, cols] = [w.shape[0] as u64, w.shape[1] as u64];
                report.elements = rows * cols;
                report.zeros = report.elements.saturating_sub(nonzeros);
                match threshold(&mut report, min_sparsity) {
                    true => (Plan::TakeCopy { copy, densify: p }, LayerReport { decision: Decision::ConverterSparse, ..report }),
                    false => (Plan::Left, report),
                }
            }
        };
    }
    if let Err(why) = constant_matrix(model, w, weight, s) {
        return left(report, why);
    }
    let Buffer::Inline(data) = model.buffers[w.buffer as usize] else {
        return left(report, "the weight is stored outside the flatbuffer (a model over 2 GB)".into());
    };
    let (rows, cols) = (w.shape[0] as usize, w.shape[1] as usize);
    report.elements = (rows * cols) as u64;
    report.zeros = data.chunks_exact(4).filter(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) == 0.0).count() as u64;
    match threshold(&mut report, min_sparsity) {
        true => (Plan::Csr { weight, rows, cols, data }, LayerReport { decision: Decision::Sparse, ..report }),
        false => (Plan::Left, report),
    }
}

/// Whether the report's share of zeros reaches `min_sparsity`; says why.
fn threshold(report: &mut LayerReport, min_sparsity: f64) -> bool {
    let share = report.zeros as f64 / report.elements.max(1) as f64;
    let enough = report.elements > 0 && share >= min_sparsity;
    let relation = if enough { ">=" } else { "<" };
    report.reason = format!("{:.1}% zeros {relation} {:.1}%", share * 100.0, min_sparsity * 100.0);
    enough
}

/// Why a tensor that no op computes cannot be stored sparse, if it cannot.
fn constant_matrix(model: &Model, w: &Tensor, index: usize, s: usize) -> Result<(), String> {
    if model.buffers[w.buffer as usize].is_empty() {
        return Err("the weight is not a constant (a graph input or a variable)".into());
    }
    float_matrix(w)?;
    if w.sparsity.is_some() {
        return Err("the weight is already sparse".into());
    }
    let sharers = model
        .subgraphs
        .iter()
        .enumerate()
        .flat_map(|(j, sg)| sg.tensors.iter().enumerate().map(move |(k, t)| (j, k, t)))
        .filter(|&(j, k, t)| t.buffer == w.buffer && (j, k) != (s, index))
        .count();
    if sharers > 0 {
        return Err("the weight's buffer is shared with another tensor".into());
    }
    Ok(())
}

/// Why `w` is not a plain float32 matrix of static shape, if it is not.
fn float_matrix(w: &Tensor) -> Result<(), String> {
    if w.dtype != FLOAT32 {
        return Err(format!("the weight is {} (quantized weights are left as they are)", type_name(w.dtype)));
    }
    if w.quantized {
        return Err("the weight carries quantization parameters".into());
    }
    if w.shape.len() != 2 {
        return Err(format!("the weight has rank {}, not 2", w.shape.len()));
    }
    if w.shape.iter().any(|&d| d < 0) {
        return Err(format!("the weight's shape {:?} has unknown dimensions", w.shape));
    }
    if w.shape_signature.as_ref().is_some_and(|sig| sig.iter().any(|&d| d < 0)) {
        return Err("the weight's shape is dynamic".into());
    }
    if w.is_variable || w.variants {
        return Err("the weight is a variable".into());
    }
    Ok(())
}

/// `TensorType` names of schema.fbs for the types a weight is stored in.
fn type_name(dtype: i8) -> String {
    match dtype {
        1 => "float16".into(),
        3 => "uint8".into(),
        7 => "int16".into(),
        9 => "int8".into(),
        17 => "int4".into(),
        other => format!("not float32 (TensorType {other})"),
    }
}

/// The converter's sparse copy behind a DENSIFY producing `dense`, checked
/// to be the CSR TFLite's FC kernel reads; its count of stored values.
fn converter_copy(model: &Model, copy: &Tensor, dense: &Tensor) -> Result<u64, String> {
    float_matrix(dense)?;
    if copy.dtype != FLOAT32 || copy.quantized || copy.shape != dense.shape {
        return Err("the DENSIFY's input is not a float32 copy of the weight".into());
    }
    let Buffer::Inline(data) = model.buffers[copy.buffer as usize] else {
        return Err("the sparse copy is not a constant stored in the flatbuffer".into());
    };
    let (rows, cols) = (dense.shape[0] as usize, dense.shape[1] as usize);
    match &copy.sparsity {
        None => Err("the DENSIFY's input is not sparse".into()),
        Some(Sparsity::Other(format)) => Err(format!("the converter's sparse copy has a format the FC kernel does not take ({format})")),
        Some(Sparsity::Csr { rows: dense_rows, segments, indices }) => {
            let monotone = segments.windows(2).all(|w| w[0] <= w[1]);
            // Each row's columns strictly increasing and below `cols`: no
            // more values than the matrix has places.
            let rows_ordered = || {
                segments.windows(2).all(|w| {
                    indices.get(w[0] as usize..w[1] as usize).is_some_and(|row| {
                        row.windows(2).all(|c| c[0] < c[1]) && row.last().is_none_or(|&c| (c as usize) < cols)
                    })
                })
            };
            let well_formed = i64::from(*dense_rows) == rows as i64
                && segments.len() == rows + 1
                && segments.first() == Some(&0)
                && segments.last().map(|&n| n as usize) == Some(indices.len())
                && monotone
                && rows_ordered()
                && data.len() == indices.len() * 4;
            match well_formed {
                true => Ok(indices.len() as u64),
                false => Err("the converter's sparse copy is not a consistent CSR of the weight".into()),
            }
        }
    }
}

/// A float32 row-major matrix in compressed sparse rows.
struct Csr {
    segments: Vec<i32>,
    indices: Vec<i32>,
    /// The nonzero values, little-endian float32, row by row.
    values: Vec<u8>,
}

impl Csr {
    fn of(data: &[u8], rows: usize, cols: usize) -> Csr {
        let mut csr = Csr { segments: Vec::with_capacity(rows + 1), indices: Vec::new(), values: Vec::new() };
        csr.segments.push(0);
        for row in data.chunks_exact(4 * cols.max(1)).take(rows) {
            for (c, v) in row.chunks_exact(4).enumerate() {
                if f32::from_le_bytes([v[0], v[1], v[2], v[3]]) != 0.0 {
                    csr.indices.push(c as i32);
                    csr.values.extend_from_slice(v);
                }
            }
            csr.segments.push(csr.indices.len() as i32);
        }
        csr
    }
}

/// `t` with its sparsity: the planus builder's bytes for the new table.
fn sparse_tensor(t: &Tensor, rows: usize, csr: Csr) -> Vec<u8> {
    let index = |values: Vec<i32>| Some(fb::SparseIndexVector::Int32Vector(Box::new(fb::Int32Vector { values: Some(values) })));
    let sparsity = fb::SparsityParameters {
        traversal_order: Some(vec![0, 1]),
        block_map: None,
        dim_metadata: Some(vec![
            fb::DimensionMetadata { format: fb::DimensionType::Dense, dense_size: rows as i32, array_segments: None, array_indices: None },
            fb::DimensionMetadata {
                format: fb::DimensionType::SparseCsr,
                dense_size: 0,
                array_segments: index(csr.segments),
                array_indices: index(csr.indices),
            },
        ]),
    };
    let tensor = fb::Tensor {
        shape: Some(t.shape.clone()),
        type_: t.dtype,
        buffer: t.buffer,
        name: Some(t.name.clone()),
        // Only a weight without quantization parameters gets here.
        quantization: None,
        is_variable: false,
        sparsity: Some(Box::new(sparsity)),
        shape_signature: t.shape_signature.clone(),
        has_rank: t.has_rank,
        variant_tensors: None,
    };
    planus::Builder::new().finish(&tensor, None).to_vec()
}
