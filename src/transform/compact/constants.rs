//! Which constant is behind a node's input: the graph lookups compact's
//! walk makes to read filters, parameters, axes and shapes.

use super::array::{Array, View};
use crate::graph::{Attrs, Graph, InputRef};
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor;

/// The `Const` a data input reads, through `Identity` chains; with the
/// names of the nodes on the way (the const last).
pub fn const_behind<'g>(graph: &'g Graph, input: &str) -> Option<(Vec<&'g str>, &'g NodeDef)> {
    let mut chain = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut name = InputRef::parse(input).filter(|r| !r.control && r.port == 0)?.node;
    loop {
        let node = graph.node(name)?;
        if !seen.insert(node.name.as_str()) {
            return None;
        }
        chain.push(node.name.as_str());
        match node.op.as_str() {
            "Const" => return Some((chain, node)),
            "Identity" | "Snapshot" | "StopGradient" => {
                name = node.input.first().and_then(|i| InputRef::parse(i)).filter(|r| !r.control && r.port == 0)?.node;
            }
            _ => return None,
        }
    }
}

/// The float constant a data input reads, uncopied.
pub fn const_view(graph: &Graph, input: &str) -> Option<View> {
    let (_, node) = const_behind(graph, input)?;
    View::of(&tensor::from_proto(node.tensor_value().ok()?).ok()?)
}

/// The float array a data input reads, if it is a constant.
pub fn const_array(graph: &Graph, input: &str) -> Option<Array> {
    let (_, node) = const_behind(graph, input)?;
    Array::of(&tensor::from_proto(node.tensor_value().ok()?).ok()?)
}

/// A float constant's shape, without decoding its values.
pub fn const_shape(graph: &Graph, input: &str) -> Option<Vec<usize>> {
    let (_, node) = const_behind(graph, input)?;
    let t = node.tensor_value().ok()?;
    if t.dtype != DataType::DtFloat as i32 {
        return None;
    }
    t.tensor_shape.as_ref()?.dims()?.into_iter().map(|d| usize::try_from(d).ok()).collect()
}

/// An integer constant's values (int32 or int64), e.g. axes and shapes.
pub fn const_ints(graph: &Graph, input: &str) -> Option<Vec<i64>> {
    let (_, node) = const_behind(graph, input)?;
    tensor::from_proto(node.tensor_value().ok()?).ok()?.ints().ok()
}
