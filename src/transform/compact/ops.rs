//! The ops compacting understands, and what each does to a channel that is
//! a known constant (uniform over batch and space).

use crate::graph::ops::passes_value;
use crate::graph::{const_float_shape, Attrs, Graph, InputRef, Inputs, Readers};
use crate::proto::tensorflow::NodeDef;

pub fn is_nchw(node: &NodeDef) -> bool {
    node.string_attr("data_format").ok().flatten() == Some("NCHW")
}

/// The unary op applied to a constant, in f32 as TensorFlow's kernels
/// compute it (transcendental ones may differ in the last bit; the value
/// only ever reaches a folded bias, where that is rounding, not an
/// approximation of the model).
pub fn unary_value(node: &NodeDef, v: f32) -> Option<f32> {
    Some(match node.op.as_str() {
        op if passes_value(op) || op == "PreventGradient" => v,
        "Relu" => v.max(0.0),
        "Relu6" => v.clamp(0.0, 6.0),
        "Elu" => {
            if v > 0.0 {
                v
            } else {
                v.exp_m1()
            }
        }
        "Selu" => {
            const ALPHA: f32 = 1.673_263_2;
            const SCALE: f32 = 1.050_701;
            if v > 0.0 {
                SCALE * v
            } else {
                SCALE * ALPHA * v.exp_m1()
            }
        }
        "Sigmoid" => 1.0 / (1.0 + (-v).exp()),
        "Tanh" => v.tanh(),
        "LeakyRelu" => {
            let alpha = node.float_attr("alpha").ok().flatten().unwrap_or(0.2);
            if v > 0.0 {
                v
            } else {
                alpha * v
            }
        }
        "Softplus" => v.exp().ln_1p(),
        "Neg" => -v,
        _ => return None,
    })
}

/// `op(a, b)` on constants.
pub fn binary_value(op: &str, a: f32, b: f32) -> Option<f32> {
    Some(match op {
        "Add" | "AddV2" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        "RealDiv" => a / b,
        "Maximum" => a.max(b),
        "Minimum" => a.min(b),
        _ => return None,
    })
}

/// The per-channel constant right after `node` that a bias can join:
/// `(node, input, sign)`: a `BiasAdd`'s bias, an add of a channel vector, or
/// an inference batch norm's mean (subtracted, so the sign is -1).
pub fn bias_after(graph: &Graph, readers: &Readers, node: usize) -> Option<(usize, usize, f64)> {
    let name = &graph.nodes()[node].name;
    let &[i] = readers.data_readers(node).collect::<Vec<_>>().as_slice() else { return None };
    let reader = &graph.nodes()[i];
    if reader.input.first().map(String::as_str) != Some(name.as_str()) {
        return None;
    }
    let channels = match graph.nodes()[node].op.as_str() {
        "MatMul" if graph.nodes()[node].bool_attr("transpose_b").ok().flatten() == Some(true) => 0,
        "MatMul" => 1,
        _ => 3,
    };
    let width = *const_float_shape(graph, InputRef::parse(&graph.nodes()[node].input[1])?)?.get(channels)?;
    let vector = |k: usize| const_float_shape(graph, reader.input_at(k)?).filter(|s| s == &[width]);
    match reader.op.as_str() {
        "BiasAdd" | "Add" | "AddV2" => vector(1).map(|_| (i, 1, 1.0)),
        op if op.starts_with("FusedBatchNorm") => {
            (reader.bool_attr("is_training").ok().flatten() == Some(false)).then_some(())?;
            // The fold reads the mean, and a border constant the scale and variance.
            (1..5).all(|k| vector(k).is_some()).then_some((i, 3, -1.0))
        }
        _ => None,
    }
}
