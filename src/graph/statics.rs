//! What is known of a graph's tensors before it runs, found in one forward
//! pass in topological order (so any depth of graph and a while loop's back
//! edge are safe): static shapes, from the placeholders' `shape` and the
//! constants through the ops passes meet, and small integer values (sizes,
//! axes, permutations, a step count), from integer constants through
//! `Shape`, `StridedSlice`, `ConcatV2`, `Range` and `Pack`.
//!
//! Partial knowledge is kept: a dimension of `-1` is unknown (as in a
//! `TensorShapeProto`), and an element of a value may be `None` (the
//! unknown batch size in `Shape(x)`).

use std::collections::HashMap;

use super::ops::{is_unary, passes_value, spatial_axes, CONCAT, CONST, ELEMENTWISE_BINARY};
use super::query::data_input_positions;
use super::{Attrs, Graph, InputRef};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor;

/// Dimension sizes, `-1` where unknown.
pub type Shape = Vec<i64>;

/// A tensor's elements in row-major order, `None` where unknown.
pub type Ints = Vec<Option<i64>>;

/// Integer values longer than this are not tracked: the values passes ask
/// for are shapes, axes and step counts, and a large constant would only be
/// copied.
const MAX_VALUE_LEN: usize = 1 << 16;

/// The static shapes and integer values of a graph's outputs, by node
/// position and output port.
#[derive(Debug, Default)]
pub struct Statics {
    shapes: HashMap<(usize, u32), Shape>,
    values: HashMap<(usize, u32), Ints>,
}

impl Statics {
    /// Over `order`, which must put every node after its inputs
    /// (`Graph::topological_order`); a node left out is unknown.
    pub fn infer(graph: &Graph, order: &[usize]) -> Statics {
        let mut statics = Statics::default();
        for &i in order {
            let node = &graph.nodes()[i];
            let inputs = data_input_positions(graph, node);
            let known = Known { node, inputs: &inputs, statics: &statics };
            let value = known.value();
            let shapes = known.shapes(value.as_ref());
            for (port, shape) in shapes.into_iter().enumerate() {
                if let Some(shape) = shape {
                    statics.shapes.insert((i, port as u32), shape);
                }
            }
            if let Some(value) = value.filter(|v| v.len() <= MAX_VALUE_LEN) {
                statics.values.insert((i, 0), value);
            }
        }
        statics
    }

    /// The shape of output `port` of the node at `node`.
    pub fn shape(&self, node: usize, port: u32) -> Option<&Shape> {
        self.shapes.get(&(node, port))
    }

    /// The integer value of output `port` of the node at `node`.
    pub fn value(&self, node: usize, port: u32) -> Option<&Ints> {
        self.values.get(&(node, port))
    }

    /// The integer value a data input reads.
    pub fn value_of(&self, graph: &Graph, input: InputRef<'_>) -> Option<&Ints> {
        self.value(graph.position(input.node)?, input.port).filter(|_| !input.control)
    }

    /// The integer a data input reads, if it is one element, known.
    pub fn int_of(&self, graph: &Graph, input: InputRef<'_>) -> Option<i64> {
        match self.value_of(graph, input)?.as_slice() {
            [v] => *v,
            _ => None,
        }
    }
}

/// What is known of one node's inputs, to work out its outputs.
struct Known<'a> {
    node: &'a NodeDef,
    inputs: &'a [(usize, u32)],
    statics: &'a Statics,
}

impl Known<'_> {
    fn input_shape(&self, k: usize) -> Option<Shape> {
        self.inputs.get(k).and_then(|&(n, p)| self.statics.shape(n, p)).cloned()
    }

    fn input_value(&self, k: usize) -> Option<&Ints> {
        self.inputs.get(k).and_then(|&(n, p)| self.statics.value(n, p))
    }

    /// Input `k`'s value if every element is known (an axis, a paddings).
    fn input_ints(&self, k: usize) -> Option<Vec<i64>> {
        self.input_value(k)?.iter().copied().collect()
    }

    fn input_int(&self, k: usize) -> Option<i64> {
        match self.input_ints(k)?.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// The value of output 0.
    fn value(&self) -> Option<Ints> {
        let node = self.node;
        match node.op.as_str() {
            CONST => {
                let proto = node.tensor_value().ok()?;
                // Float weights, the bulk of a graph, are not decoded twice.
                if ![DataType::DtInt32 as i32, DataType::DtInt64 as i32].contains(&proto.dtype) {
                    return None;
                }
                let t = tensor::from_proto(proto).ok()?;
                (t.num_elements() <= MAX_VALUE_LEN as u64).then(|| t.ints().ok()).flatten().map(|v| v.into_iter().map(Some).collect())
            }
            op if passes_value(op) => self.input_value(0).cloned(),
            "Shape" => Some(self.input_shape(0)?.into_iter().map(|d| (d >= 0).then_some(d)).collect()),
            "StridedSlice" => self.element().map(|v| vec![v]),
            CONCAT => {
                let n = self.inputs.len().checked_sub(1)?;
                if self.input_int(n)? != 0 {
                    return None;
                }
                let parts: Vec<&Ints> = (0..n).map(|k| self.input_value(k)).collect::<Option<_>>()?;
                Some(parts.into_iter().flatten().copied().collect())
            }
            "Range" => {
                let (start, limit, delta) = (self.input_int(0)?, self.input_int(1)?, self.input_int(2)?);
                if delta <= 0 || limit.checked_sub(start)? > MAX_VALUE_LEN as i64 {
                    return None;
                }
                Some((start..limit.max(start)).step_by(delta as usize).map(Some).collect())
            }
            // Scalars packed into a vector (a shape built at run time).
            "Pack" if node.int_attr("axis").ok().flatten().unwrap_or(0) == 0 => Some(
                (0..self.inputs.len())
                    .map(|k| match self.input_value(k).map(Vec::as_slice) {
                        Some([v]) => *v,
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// `x[k]` of a vector `x` as `StridedSlice` takes one element (begin
    /// `k`, end `k + 1`, stride 1, the axis shrunk), as `dynamic_rnn` takes
    /// its step count from its input's shape; `None` when not that, or `x`
    /// or `k` is not known.
    fn element(&self) -> Option<Option<i64>> {
        let node = self.node;
        let plain = ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"]
            .iter()
            .all(|m| node.int_attr(m).ok().flatten().unwrap_or(0) == 0);
        if !plain || node.int_attr("shrink_axis_mask").ok().flatten() != Some(1) {
            return None;
        }
        let (k, end, stride) = (self.input_int(1)?, self.input_int(2)?, self.input_int(3)?);
        if stride != 1 || k.checked_add(1) != Some(end) {
            return None;
        }
        self.input_value(0)?.get(usize::try_from(k).ok()?).copied()
    }

    /// The shape of each output (outputs past the list are unknown).
    fn shapes(&self, value: Option<&Ints>) -> Vec<Option<Shape>> {
        let node = self.node;
        let op = node.op.as_str();
        let input = |k: usize| self.input_shape(k);
        let one = |s: Option<Shape>| vec![s];
        match op {
            "Placeholder" | "PlaceholderWithDefault" => one(match node.attr_value("shape") {
                Some(Value::Shape(s)) if !s.unknown_rank => Some(s.dim.iter().map(|d| d.size).collect()),
                _ => None,
            }),
            CONST => one(
                node.tensor_value()
                    .ok()
                    .and_then(|t| tensor::from_proto(t).ok())
                    .map(|t| t.shape.iter().map(|&d| d as i64).collect()),
            ),
            // LRN and Softmax mix channels (compact stops at them) but keep shapes.
            _ if is_unary(op) || matches!(op, "BiasAdd" | "LRN" | "Softmax") || op.starts_with("FusedBatchNorm") => {
                one(input(0))
            }
            _ if ELEMENTWISE_BINARY.contains(&op) => one(broadcast(input(0), input(1))),
            "Conv2D" | "DepthwiseConv2dNative" | "MaxPool" | "AvgPool" => one(window(node, input(0), input(1))),
            "Pad" | "PadV2" | "MirrorPad" => one((|| {
                let mut s = input(0)?;
                let pads = self.input_ints(1)?;
                for (d, pair) in s.iter_mut().zip(pads.chunks(2)) {
                    if *d >= 0 {
                        *d += pair.iter().sum::<i64>();
                    }
                }
                Some(s)
            })()),
            "Mean" | "Max" | "Sum" => one((|| {
                let s = input(0)?;
                let axes = normalise(&self.input_ints(1)?, s.len())?;
                let keep = node.bool_attr("keep_dims").ok().flatten().unwrap_or(false);
                Some(
                    s.iter()
                        .enumerate()
                        .filter_map(|(a, &d)| match (axes.contains(&a), keep) {
                            (false, _) => Some(d),
                            (true, true) => Some(1),
                            (true, false) => None,
                        })
                        .collect(),
                )
            })()),
            "Squeeze" => one((|| {
                let s = input(0)?;
                let dims = squeezed(node, &s)?;
                Some(s.iter().enumerate().filter(|(a, _)| !dims.contains(a)).map(|(_, &d)| d).collect())
            })()),
            "Reshape" => one(self.reshaped()),
            "Transpose" => one((|| {
                let s = input(0)?;
                let perm = self.input_ints(1)?;
                (perm.len() == s.len()).then_some(())?;
                perm.iter().map(|&p| usize::try_from(p).ok().and_then(|p| s.get(p).copied())).collect()
            })()),
            "Shape" => one(input(0).map(|s| vec![s.len() as i64])),
            "Range" => one(value.map(|v| vec![v.len() as i64])),
            "MatMul" => one((|| {
                let (a, b) = (input(0)?, input(1)?);
                let ta = node.bool_attr("transpose_a").ok().flatten().unwrap_or(false);
                let tb = node.bool_attr("transpose_b").ok().flatten().unwrap_or(false);
                Some(vec![*a.get(usize::from(ta))?, *b.get(usize::from(!tb))?])
            })()),
            CONCAT => one((|| {
                let n = self.inputs.len().checked_sub(1)?;
                let parts: Vec<Shape> = (0..n).map(input).collect::<Option<_>>()?;
                let axis = *normalise(&self.input_ints(n)?, parts.first()?.len())?.first()?;
                let mut out = parts[0].clone();
                out[axis] = parts.iter().map(|p| p[axis]).try_fold(0i64, |acc, d| (d >= 0).then_some(acc + d)).unwrap_or(-1);
                Some(out)
            })()),
            "Split" | "SplitV" => (|| {
                let (value, axis_input) = if op == "Split" { (1, 0) } else { (0, 2) };
                let s = input(value)?;
                let axis = *normalise(&self.input_ints(axis_input)?, s.len())?.first()?;
                let sizes = if op == "Split" {
                    let n = node.int_attr("num_split").ok().flatten().filter(|&n| n > 0)?;
                    vec![if s[axis] >= 0 { s[axis] / n } else { -1 }; n as usize]
                } else {
                    self.input_ints(1)?
                };
                Some(sizes.into_iter().map(|d| Some(s.iter().enumerate().map(|(a, &x)| if a == axis { d } else { x }).collect())).collect())
            })()
            .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn reshaped(&self) -> Option<Shape> {
        let mut target: Shape = self.input_value(1)?.iter().map(|d| d.unwrap_or(-1)).collect();
        let unknown = target.iter().filter(|&&d| d == -1).count();
        if unknown == 1 {
            let total: i64 = self.input_shape(0).filter(|s| s.iter().all(|&d| d >= 0))?.iter().product();
            let known: i64 = target.iter().filter(|&&d| d != -1).product();
            if let Some(d) = target.iter_mut().find(|d| **d == -1) {
                *d = if known > 0 && total % known == 0 { total / known } else { -1 };
            }
        }
        Some(target)
    }
}

/// Output size of a window along one spatial axis, as TensorFlow computes it.
pub fn window_output(input: i64, window: i64, stride: i64, dilation: i64, padding: &str) -> i64 {
    if input < 0 || stride <= 0 {
        return -1;
    }
    let effective = (window - 1) * dilation + 1;
    match padding {
        "VALID" => (input - effective + stride).max(0) / stride,
        "SAME" => (input + stride - 1) / stride,
        _ => -1,
    }
}

/// Numpy broadcasting; an unknown dimension against 1 stays unknown.
fn broadcast(a: Option<Shape>, b: Option<Shape>) -> Option<Shape> {
    let (a, b) = (a?, b?);
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let offset = long.len() - short.len();
    Some(
        long.iter()
            .enumerate()
            .map(|(i, &d)| match i.checked_sub(offset).map(|j| short[j]) {
                None | Some(1) => d,
                Some(e) if d == 1 => e,
                Some(e) => d.max(e),
            })
            .collect(),
    )
}

fn window(node: &NodeDef, x: Option<Shape>, filter: Option<Shape>) -> Option<Shape> {
    let x = x?;
    if x.len() != 4 {
        return None;
    }
    let nchw = node.string_attr("data_format").ok().flatten() == Some("NCHW");
    let (spatial, channel) = spatial_axes(nchw);
    let padding = node.string_attr("padding").ok().flatten()?;
    let strides = node.ints_attr("strides").ok().flatten()?;
    let ones = [1, 1, 1, 1];
    let dilations = node.ints_attr("dilations").ok().flatten().unwrap_or(&ones);
    let (window, out_channels): ([i64; 2], i64) = match node.op.as_str() {
        "MaxPool" | "AvgPool" => {
            let k = node.ints_attr("ksize").ok().flatten()?;
            ([*k.get(spatial[0])?, *k.get(spatial[1])?], x[channel])
        }
        op => {
            let filter = filter.filter(|f| f.len() == 4)?;
            let out = if op == "Conv2D" { filter[3] } else { filter[2] * filter[3] };
            ([filter[0], filter[1]], out)
        }
    };
    let mut out = x.clone();
    for (k, &axis) in spatial.iter().enumerate() {
        out[axis] = window_output(x[axis], window[k], *strides.get(axis)?, *dilations.get(axis)?, padding);
    }
    out[channel] = out_channels;
    Some(out)
}

/// The axes a `Squeeze` removes: its `squeeze_dims`, else every dimension of 1.
pub fn squeezed(node: &NodeDef, input: &Shape) -> Option<Vec<usize>> {
    let dims = node.ints_attr("squeeze_dims").ok().flatten().unwrap_or(&[]);
    if dims.is_empty() {
        return input.iter().all(|&d| d >= 0).then(|| (0..input.len()).filter(|&a| input[a] == 1).collect());
    }
    normalise(dims, input.len())
}

/// Axes with negatives counted from the end; `None` if one is out of range.
pub fn normalise(axes: &[i64], rank: usize) -> Option<Vec<usize>> {
    axes.iter()
        .map(|&a| {
            let a = if a < 0 { a + rank as i64 } else { a };
            usize::try_from(a).ok().filter(|&a| a < rank)
        })
        .collect()
}

#[cfg(test)]
mod tests;
