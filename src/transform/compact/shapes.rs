//! Static shapes, as far as a frozen inference graph declares them: from the
//! placeholders' `shape` and the constants, through the ops compacting meets.
//! Used for what needs sizes (FLOPs, a `Squeeze` without dims, a flatten to
//! `-1`, a concat operand with no channels of its own); `-1` is unknown.

use std::collections::HashMap;

use super::constants::const_ints;
use super::ops::{data_inputs, is_unary, spatial_axes, ELEMENTWISE_BINARY};
use crate::graph::ops::{CONCAT, CONST};
use crate::graph::{Attrs, Graph, InputRef, Inputs};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::NodeDef;
use crate::tensor;

pub type Shape = Vec<i64>;

#[derive(Debug, Default)]
pub struct Shapes(HashMap<(usize, u32), Shape>);

impl Shapes {
    pub fn get(&self, node: usize, port: u32) -> Option<&Shape> {
        self.0.get(&(node, port))
    }

    pub fn infer(graph: &Graph, order: &[usize]) -> Shapes {
        let mut shapes = Shapes::default();
        for &i in order {
            let node = &graph.nodes()[i];
            for (port, shape) in infer_node(graph, node, &shapes).into_iter().enumerate() {
                if let Some(shape) = shape {
                    shapes.0.insert((i, port as u32), shape);
                }
            }
        }
        shapes
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

fn infer_node(graph: &Graph, node: &NodeDef, shapes: &Shapes) -> Vec<Option<Shape>> {
    let inputs = data_inputs(graph, node);
    let input = |k: usize| inputs.get(k).and_then(|&(n, p)| shapes.get(n, p)).cloned();
    let op = node.op.as_str();
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
            let pads = const_ints(graph, node.input_at(1)?)?;
            for (d, pair) in s.iter_mut().zip(pads.chunks(2)) {
                if *d >= 0 {
                    *d += pair.iter().sum::<i64>();
                }
            }
            Some(s)
        })()),
        "Mean" | "Max" | "Sum" => one((|| {
            let s = input(0)?;
            let axes = normalise(&const_ints(graph, node.input_at(1)?)?, s.len())?;
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
        "Reshape" => one(reshaped(graph, node, input(0))),
        "MatMul" => one((|| {
            let (a, b) = (input(0)?, input(1)?);
            let ta = node.bool_attr("transpose_a").ok().flatten().unwrap_or(false);
            let tb = node.bool_attr("transpose_b").ok().flatten().unwrap_or(false);
            Some(vec![*a.get(usize::from(ta))?, *b.get(usize::from(!tb))?])
        })()),
        CONCAT => one((|| {
            let n = inputs.len().checked_sub(1)?;
            let parts: Vec<Shape> = (0..n).map(input).collect::<Option<_>>()?;
            let axis = *normalise(&const_ints(graph, node.input_at(n)?)?, parts.first()?.len())?.first()?;
            let mut out = parts[0].clone();
            out[axis] = parts.iter().map(|p| p[axis]).try_fold(0i64, |acc, d| (d >= 0).then_some(acc + d)).unwrap_or(-1);
            Some(out)
        })()),
        "Split" | "SplitV" => (|| {
            let (value, axis_input) = if op == "Split" { (1, 0) } else { (0, 2) };
            let s = input(value)?;
            let axis = *normalise(&const_ints(graph, node.input_at(axis_input)?)?, s.len())?.first()?;
            let sizes = if op == "Split" {
                let n = node.int_attr("num_split").ok().flatten().filter(|&n| n > 0)?;
                vec![if s[axis] >= 0 { s[axis] / n } else { -1 }; n as usize]
            } else {
                const_ints(graph, node.input_at(1)?)?
            };
            Some(sizes.into_iter().map(|d| Some(s.iter().enumerate().map(|(a, &x)| if a == axis { d } else { x }).collect())).collect())
        })()
        .unwrap_or_default(),
        _ => Vec::new(),
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

fn reshaped(graph: &Graph, node: &NodeDef, input: Option<Shape>) -> Option<Shape> {
    let mut target = const_ints(graph, node.input_at(1)?).or_else(|| packed_ints(graph, node.input_at(1)?))?;
    let unknown = target.iter().filter(|&&d| d == -1).count();
    if unknown == 1 {
        let total: i64 = input.filter(|s| s.iter().all(|&d| d >= 0))?.iter().product();
        let known: i64 = target.iter().filter(|&&d| d != -1).product();
        if let Some(d) = target.iter_mut().find(|d| **d == -1) {
            *d = if known > 0 && total % known == 0 { total / known } else { -1 };
        }
    }
    Some(target)
}

/// A shape built at run time by `Pack` of scalars (Keras' flatten packs the
/// batch size it reads with `Shape`): the constant ones, `-1` for the others.
pub fn packed_ints(graph: &Graph, input: InputRef<'_>) -> Option<Vec<i64>> {
    let pack = graph.node(input.node).filter(|n| n.op == "Pack")?;
    Some(
        pack.data_inputs()
            .map(|i| const_ints(graph, i).and_then(|v| v.first().copied()).unwrap_or(-1))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_as_tensorflow_sizes_them() {
        assert_eq!(window_output(224, 7, 2, 1, "SAME"), 112);
        assert_eq!(window_output(112, 3, 2, 1, "VALID"), 55);
        assert_eq!(window_output(5, 3, 1, 2, "VALID"), 1);
        assert_eq!(window_output(-1, 3, 1, 1, "SAME"), -1);
    }

    #[test]
    fn broadcasting_aligns_trailing_dimensions() {
        assert_eq!(broadcast(Some(vec![-1, 4, 4, 8]), Some(vec![8])), Some(vec![-1, 4, 4, 8]));
        assert_eq!(broadcast(Some(vec![1, 8]), Some(vec![3, 1])), Some(vec![3, 8]));
    }
}
