//! Values known before the graph runs, as far as the shapes of
//! placeholders and constants tell: the step count a stack needs.

use std::collections::HashSet;

use super::key;
use crate::graph::ops::{CONCAT, CONST, IDENTITY};
use crate::graph::{Attrs, Graph, InputRef, Inputs};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::NodeDef;
use crate::transform::compact::const_ints;

/// How deep `static_int` and its helpers look.
const STATIC_DEPTH: usize = 12;

/// An int32 scalar known before the graph runs: a constant, or one
/// dimension of a tensor whose static shape has it (as `dynamic_rnn` takes its
/// step count from the time-major input's shape).
pub(super) fn static_int(graph: &Graph, tensor: &InputRef<'_>, depth: usize) -> Option<i64> {
    if depth > STATIC_DEPTH {
        return None;
    }
    let node = graph.node(tensor.node)?;
    match node.op.as_str() {
        CONST => match const_ints(graph, *tensor)?.as_slice() {
            [v] => Some(*v),
            _ => None,
        },
        "StridedSlice" => {
            let at = |i| node.data_input(i).and_then(|r| const_ints(graph, r));
            let (begin, end, stride) = (at(1)?, at(2)?, at(3)?);
            let ([k], [end], [1]) = (begin.as_slice(), end.as_slice(), stride.as_slice()) else { return None };
            let plain = ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"]
                .iter()
                .all(|m| node.int_attr(m).ok().flatten().unwrap_or(0) == 0);
            if !plain || node.int_attr("shrink_axis_mask").ok().flatten() != Some(1) || k.checked_add(1) != Some(*end) {
                return None;
            }
            let shape = graph.node(node.data_input(0)?.node).filter(|n| n.op == "Shape")?;
            let dims = static_shape(graph, &shape.data_input(0)?, depth + 1)?;
            dims.get(usize::try_from(*k).ok()?).copied().flatten()
        }
        _ => None,
    }
}

/// The dims of a tensor as far as its placeholder's shape and transposes tell.
fn static_shape(graph: &Graph, tensor: &InputRef<'_>, depth: usize) -> Option<Vec<Option<i64>>> {
    if depth > STATIC_DEPTH {
        return None;
    }
    let node = graph.node(tensor.node)?;
    match node.op.as_str() {
        "Placeholder" => match node.attr_value("shape")? {
            Value::Shape(s) if !s.unknown_rank => Some(s.dim.iter().map(|d| (d.size >= 0).then_some(d.size)).collect()),
            _ => None,
        },
        IDENTITY => static_shape(graph, &node.data_input(0)?, depth + 1),
        "Transpose" => {
            let dims = static_shape(graph, &node.data_input(0)?, depth + 1)?;
            let perm = static_ints(graph, &node.data_input(1)?, depth + 1)?;
            perm.iter().map(|&p| usize::try_from(p).ok().and_then(|p| dims.get(p).copied())).collect()
        }
        _ => None,
    }
}

/// An int vector known before the graph runs: constants, their
/// concatenation, a range of constants.
fn static_ints(graph: &Graph, tensor: &InputRef<'_>, depth: usize) -> Option<Vec<i64>> {
    if depth > STATIC_DEPTH {
        return None;
    }
    let node = graph.node(tensor.node)?;
    match node.op.as_str() {
        CONST => const_ints(graph, *tensor),
        CONCAT => {
            let inputs: Vec<InputRef<'_>> = node.data_inputs().collect();
            let (axis, values) = inputs.split_last()?;
            if static_int(graph, axis, depth + 1)? != 0 {
                return None;
            }
            let parts: Option<Vec<Vec<i64>>> = values.iter().map(|v| static_ints(graph, v, depth + 1)).collect();
            Some(parts?.concat())
        }
        "Range" => {
            let at = |i| node.data_input(i).and_then(|r| static_int(graph, &r, depth + 1));
            let (start, limit, delta) = (at(0)?, at(1)?, at(2)?);
            if delta <= 0 || limit.checked_sub(start)? > 1 << 16 {
                return None;
            }
            Some((start..limit.max(start)).step_by(delta as usize).collect())
        }
        _ => None,
    }
}

/// Two tensors computed alike from the same tensors, by pure ops only.
pub(super) fn same_value(graph: &Graph, a: &InputRef<'_>, b: &InputRef<'_>) -> bool {
    const PURE: [&str; 5] = [CONST, "Shape", "StridedSlice", IDENTITY, "Cast"];
    let mut work = vec![(key(a), key(b))];
    let mut seen = HashSet::new();
    while let Some((x, y)) = work.pop() {
        if x == y || !seen.insert((x.clone(), y.clone())) {
            continue;
        }
        if seen.len() > 64 || x.1 != y.1 {
            return false;
        }
        let (Some(p), Some(q)) = (graph.node(&x.0), graph.node(&y.0)) else { return false };
        let (ap, aq) = (comparable_attrs(p), comparable_attrs(q));
        let (ip, iq): (Vec<_>, Vec<_>) =
            (p.data_inputs().collect(), q.data_inputs().collect());
        if p.op != q.op || !PURE.contains(&p.op.as_str()) || ap != aq || ip.len() != iq.len() {
            return false;
        }
        work.extend(ip.iter().zip(&iq).map(|(l, r)| (key(l), key(r))));
    }
    true
}

/// A node's attributes but its colocation, in key order.
fn comparable_attrs(node: &NodeDef) -> Vec<(&String, &crate::proto::tensorflow::AttrValue)> {
    let mut attrs: Vec<_> = node.attr.iter().filter(|(k, _)| k.as_str() != "_class").collect();
    attrs.sort_by(|l, r| l.0.cmp(r.0));
    attrs
}

