//! Just enough constant evaluation to fold `mask * weight` after freezing:
//! the values flow through `Identity` reads, for partitioned variables the
//! `ConcatV2` that joins the parts, and into while loops through
//! loop-invariant `Enter`s, whose frames the value remembers.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::freeze::VariableSource;
use super::TransformError;
use crate::graph::ops::{enters_frame, is_stored, is_variable, CONCAT, CONST};
use crate::graph::{Attrs, Graph, GraphError, InputRef, Inputs, Through};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::NodeDef;
use crate::tensor::{self, ArithError, Tensor, TensorData, TensorError};

/// Ops whose value is their first input's: reads and value-passing ops
/// (Enters are taken apart: they also name the frame).
const PASS_THROUGH: Through = Through::VALUE.union(Through::READ);

/// Why a value is not a constant this evaluator can compute.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("Enter `{0}` lacks frame_name or parallel_iterations")]
    NoFrame(String),
    #[error("`{0}` is on a cycle")]
    Cycle(String),
    #[error("`{0}` was not evaluated")]
    NotEvaluated(String),
    #[error("`{0}` is not an input name")]
    NotAnInput(String),
    #[error("input `{0}` is not in the graph")]
    NotInGraph(String),
    #[error("output {port} of `{node}` is not constant")]
    NotOutputZero { node: String, port: u32 },
    #[error(
        "it depends on `{node}`, an {op} of a loop variable (is_constant=false), which changes from one \
         iteration to the next; only loop-invariant inputs can be folded"
    )]
    LoopVariable { node: String, op: String },
    #[error("`{0}` has no input")]
    NoInput(String),
    #[error("Mul `{0}` does not have two inputs")]
    MulArity(String),
    #[error("ConcatV2 `{0}` has no inputs")]
    ConcatWithoutInputs(String),
    #[error("it depends on `{node}`, a {op} op, which is not constant")]
    NotConstant { node: String, op: String },
    #[error(transparent)]
    Variable(Box<TransformError>),
    #[error("`{node}`: {source}")]
    BadConst {
        node: String,
        #[source]
        source: TensorError,
    },
    #[error(transparent)]
    Multiply(#[from] ArithError),
    #[error("concat axis is not an integer scalar")]
    ConcatAxis(#[source] TensorError),
    #[error(transparent)]
    Concat(#[from] ConcatError),
    #[error("`{node}`: cannot evaluate a {op} op")]
    CannotEvaluate { node: String, op: String },
    #[error("the inputs of `{0}` come from different while loops")]
    DifferentLoops(String),
}

/// Why tensors cannot be concatenated.
#[derive(Debug, thiserror::Error)]
pub enum ConcatError {
    #[error("nothing to concatenate")]
    Nothing,
    #[error("concat axis {axis} out of range for rank {rank}")]
    AxisOutOfRange { axis: i64, rank: i64 },
    #[error("concat of non-POD tensors")]
    NotPod,
    #[error("concatenated parts differ in dtype or rank")]
    DtypeOrRank,
    #[error("the concatenated shape has more elements than 64 bits count")]
    Overflow,
    #[error("concatenated parts differ in shape")]
    Shape,
}

type Result<T, E = EvalError> = std::result::Result<T, E>;

/// A TF1 while loop's frame, as a loop-invariant `Enter` into it names it:
/// what another value needs to enter the same loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub name: Bytes,
    pub parallel_iterations: i64,
}

impl Frame {
    fn of(enter: &NodeDef) -> Result<Self> {
        let iterations = enter.int_attr("parallel_iterations")?;
        match (enter.attr_value("frame_name"), iterations) {
            (Some(Value::S(name)), Some(n)) => Ok(Frame { name: name.clone(), parallel_iterations: n }),
            _ => Err(EvalError::NoFrame(enter.name.clone())),
        }
    }
}

fn is_loop_invariant(enter: &NodeDef) -> bool {
    matches!(enter.bool_attr("is_constant"), Ok(Some(true)))
}

/// A constant's value and the while loops it is computed in, outermost first
/// (empty outside loops).
#[derive(Debug)]
pub struct Evaluated {
    pub value: Tensor,
    pub frames: Vec<Frame>,
}

/// The frames of one node's value; `None` for a `Const`, which TensorFlow
/// places in whatever frame its control inputs say, so it fits any.
type Frames = Option<Vec<Frame>>;

/// Evaluates constant subgraphs, reading variables from the checkpoint and
/// remembering which it read.
pub struct Evaluator<'a> {
    graph: &'a Graph,
    variables: &'a VariableSource<'a>,
    /// Variable nodes read so far.
    pub read: Vec<String>,
}

impl<'a> Evaluator<'a> {
    pub fn new(graph: &'a Graph, variables: &'a VariableSource<'a>) -> Self {
        Evaluator { graph, variables, read: Vec::new() }
    }

    /// The value of `input` (a `NodeDef.input` string), when it is constant.
    /// Depth-first with an explicit stack, since a chain of reads can be as
    /// long as the file makes it; a node met again while its own inputs are
    /// still being evaluated closes a cycle.
    pub fn evaluate(&mut self, input: &str) -> Result<Evaluated> {
        let root = self.operand(input)?;
        let mut values: HashMap<&'a str, (Tensor, Frames)> = HashMap::new();
        let mut open: HashSet<&'a str> = HashSet::new();
        let mut stack: Vec<(&'a NodeDef, bool)> = vec![(root, false)];
        while let Some((node, inputs_done)) = stack.pop() {
            if values.contains_key(node.name.as_str()) {
                continue;
            }
            let inputs = self.inputs(node)?;
            if inputs_done {
                let args: Vec<&(Tensor, Frames)> = inputs.iter().map(|i| &values[i.name.as_str()]).collect();
                let value = self.compute(node, &args)?;
                open.remove(node.name.as_str());
                values.insert(&node.name, value);
                continue;
            }
            if !open.insert(&node.name) {
                return Err(EvalError::Cycle(node.name.clone()));
            }
            stack.push((node, true));
            stack.extend(inputs.into_iter().filter(|i| !values.contains_key(i.name.as_str())).map(|i| (i, false)));
        }
        let (value, frames) =
            values.remove(root.name.as_str()).ok_or_else(|| EvalError::NotEvaluated(root.name.clone()))?;
        Ok(Evaluated { value, frames: frames.unwrap_or_default() })
    }

    /// The node behind an input string, when its output is one we evaluate.
    fn operand(&self, input: &str) -> Result<&'a NodeDef> {
        let r = InputRef::parse(input).ok_or_else(|| EvalError::NotAnInput(input.to_string()))?;
        let node = self.graph.node(r.node).ok_or_else(|| EvalError::NotInGraph(input.to_string()))?;
        if r.port != 0 {
            return Err(EvalError::NotOutputZero { node: node.name.clone(), port: r.port });
        }
        Ok(node)
    }

    /// The nodes whose values `node`'s value is computed from, or why it is not constant.
    fn inputs(&self, node: &'a NodeDef) -> Result<Vec<&'a NodeDef>> {
        if is_stored(node) {
            return Ok(Vec::new());
        }
        let data: Vec<&String> = node.data_inputs_as_written().collect();
        let wanted = match node.op.as_str() {
            op if enters_frame(op) && !is_loop_invariant(node) => {
                return Err(EvalError::LoopVariable { node: node.name.clone(), op: op.to_string() })
            }
            op if PASS_THROUGH.passes(op) || enters_frame(op) => {
                let first = data.first().ok_or_else(|| EvalError::NoInput(node.name.clone()))?;
                vec![*first]
            }
            "Mul" if data.len() == 2 => data,
            "Mul" => return Err(EvalError::MulArity(node.name.clone())),
            CONCAT if !data.is_empty() => data,
            CONCAT => return Err(EvalError::ConcatWithoutInputs(node.name.clone())),
            op => return Err(EvalError::NotConstant { node: node.name.clone(), op: op.to_string() }),
        };
        wanted.into_iter().map(|i| self.operand(i)).collect()
    }

    /// `node`'s value and frames from those of its `inputs`.
    fn compute(&mut self, node: &NodeDef, args: &[&(Tensor, Frames)]) -> Result<(Tensor, Frames)> {
        if is_variable(node) {
            self.read.push(node.name.clone());
            let value = self.variables.value(&node.name).map_err(|e| EvalError::Variable(Box::new(e)))?;
            // Variables cannot be created inside a while loop.
            return Ok((value, Some(Vec::new())));
        }
        if enters_frame(&node.op) {
            let [(value, frames)] = args else { return Err(EvalError::NoInput(node.name.clone())) };
            let mut frames = frames.clone().unwrap_or_default();
            frames.push(Frame::of(node)?);
            return Ok((value.clone(), Some(frames)));
        }
        let frames = common_frames(node, args)?;
        let tensors: Vec<&Tensor> = args.iter().map(|(t, _)| t).collect();
        let value = match (node.op.as_str(), tensors.as_slice()) {
            (CONST, _) => {
                let t = node.tensor_value()?;
                tensor::from_proto(t).map_err(|source| EvalError::BadConst { node: node.name.clone(), source })?
            }
            ("Mul", [a, b]) => tensor::multiply(a, b)?,
            (CONCAT, [parts @ .., axis]) => {
                let parts: Vec<Tensor> = parts.iter().map(|t| (*t).clone()).collect();
                concat(&parts, axis.scalar_int().map_err(EvalError::ConcatAxis)?)?
            }
            (_, [value]) => (*value).clone(),
            (op, _) => return Err(EvalError::CannotEvaluate { node: node.name.clone(), op: op.to_string() }),
        };
        Ok((value, frames))
    }
}

/// The frames all of `node`'s inputs share: TensorFlow runs an op in the
/// frame of its inputs, so inputs from different loops make no valid graph.
fn common_frames(node: &NodeDef, args: &[&(Tensor, Frames)]) -> Result<Frames> {
    let mut placed = args.iter().filter_map(|(_, f)| f.as_ref());
    let Some(first) = placed.next() else { return Ok(None) };
    if placed.any(|f| f != first) {
        return Err(EvalError::DifferentLoops(node.name.clone()));
    }
    Ok(Some(first.clone()))
}

/// Concatenation along `axis` of row-major POD tensors.
pub fn concat(parts: &[Tensor], axis: i64) -> Result<Tensor, ConcatError> {
    let first = parts.first().ok_or(ConcatError::Nothing)?;
    let rank = first.shape.len() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        return Err(ConcatError::AxisOutOfRange { axis, rank });
    }
    let axis = axis as usize;
    let elem = first.dtype.byte_size().ok_or(ConcatError::NotPod)?;
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for p in parts {
        let mut s = p.shape.clone();
        if p.dtype != first.dtype || s.len() != shape.len() {
            return Err(ConcatError::DtypeOrRank);
        }
        // Parts without elements can claim any dimensions at all.
        shape[axis] = shape[axis].checked_add(s[axis]).ok_or(ConcatError::Overflow)?;
        s[axis] = shape[axis];
        if s != shape {
            return Err(ConcatError::Shape);
        }
    }
    // Without a zero dimension the products below are bounded by the parts'
    // bytes; beside a zero, a huge dimension could overflow them.
    if shape.contains(&0) {
        return Ok(Tensor { dtype: first.dtype, shape, data: TensorData::Pod(Bytes::new()) });
    }
    let outer: u64 = shape[..axis].iter().product();
    let inner: u64 = shape[axis + 1..].iter().product::<u64>() * elem as u64;
    let mut out = Vec::with_capacity((outer * shape[axis] * inner) as usize);
    for o in 0..outer as usize {
        for p in parts {
            let run = (p.shape[axis] * inner) as usize;
            out.extend_from_slice(&p.pod_bytes().map_err(|_| ConcatError::NotPod)?[o * run..(o + 1) * run]);
        }
    }
    Ok(Tensor {
        dtype: first.dtype,
        shape,
        data: TensorData::Pod(Bytes::from(out)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_negative_weights_give_negative_zero() {
        let m = Tensor::from_f32s(&[2], &[0.0, 1.0]);
        let w = Tensor::from_f32s(&[2], &[-3.0, -2.0]);
        let p = tensor::multiply(&m, &w).unwrap();
        let bits: Vec<u32> = p.f32s().unwrap().into_iter().map(f32::to_bits).collect();
        assert_eq!(bits, [(-0.0f32).to_bits(), (-2.0f32).to_bits()]);
    }

    #[test]
    fn concat_rows_and_columns() {
        let a = Tensor::from_f32s(&[1, 2], &[1.0, 2.0]);
        let b = Tensor::from_f32s(&[1, 2], &[3.0, 4.0]);
        assert_eq!(concat(&[a.clone(), b.clone()], 0).unwrap(), Tensor::from_f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]));
        assert_eq!(concat(&[a, b], -1).unwrap(), Tensor::from_f32s(&[1, 4], &[1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn concat_of_empty_parts_with_huge_dimensions_is_no_overflow() {
        let huge = i64::MAX as u64;
        let empty = Tensor::from_f32s(&[0, huge], &[]);
        let err = concat(&[empty.clone(), empty.clone(), empty], 1).unwrap_err();
        assert!(matches!(err, ConcatError::Overflow), "{err}");
        // No count overflows, but the outer dimension times the rows does: the zero comes last.
        let wide = Tensor::from_f32s(&[4, huge / 2, 0], &[]);
        assert_eq!(concat(&[wide.clone(), wide], 1).unwrap(), Tensor::from_f32s(&[4, huge / 2 * 2, 0], &[]));
    }
}
