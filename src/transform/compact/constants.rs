//! Which constant is behind a node's input: the graph lookups compact's
//! walk makes to read filters, parameters, axes and shapes.

use super::array::{Array, View};
use crate::graph::ops::is_const;
use crate::graph::{behind, Attrs, Graph, InputRef, Through};
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor;

/// The `Const` a data input reads, through `Identity` chains; with the
/// names of the nodes on the way (the const last).
pub fn const_behind<'g>(graph: &'g Graph, input: InputRef<'_>) -> Option<(Vec<&'g str>, &'g NodeDef)> {
    if input.control || input.port != 0 {
        return None;
    }
    let chain: Vec<&NodeDef> = behind(graph, input.node, Through::VALUE | Through::OUTPUT_0_ONLY).collect();
    let constant = chain.last().copied().filter(|n| is_const(n))?;
    Some((chain.iter().map(|n| n.name.as_str()).collect(), constant))
}

/// The float constant a data input reads, uncopied.
pub fn const_view(graph: &Graph, input: InputRef<'_>) -> Option<View> {
    let (_, node) = const_behind(graph, input)?;
    View::of(&tensor::from_proto(node.tensor_value().ok()?).ok()?)
}

/// The float array a data input reads, if it is a constant.
pub fn const_array(graph: &Graph, input: InputRef<'_>) -> Option<Array> {
    let (_, node) = const_behind(graph, input)?;
    Array::of(&tensor::from_proto(node.tensor_value().ok()?).ok()?)
}

/// A float constant's shape, without decoding its values.
pub fn const_shape(graph: &Graph, input: InputRef<'_>) -> Option<Vec<usize>> {
    let (_, node) = const_behind(graph, input)?;
    let t = node.tensor_value().ok()?;
    if t.dtype != DataType::DtFloat as i32 {
        return None;
    }
    t.tensor_shape.as_ref()?.dims()?.into_iter().map(|d| usize::try_from(d).ok()).collect()
}

/// An integer constant's values (int32 or int64), e.g. axes and shapes.
pub fn const_ints(graph: &Graph, input: InputRef<'_>) -> Option<Vec<i64>> {
    let (_, node) = const_behind(graph, input)?;
    tensor::from_proto(node.tensor_value().ok()?).ok()?.ints().ok()
}
