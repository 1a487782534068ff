//! Which TensorArrays can become TensorLists: every use of the handle and
//! of the flow has a TensorList equivalent, and a scatter fills the array
//! whole or not at all.

use std::collections::HashSet;

use super::evaluate::same_value;
use super::{flow_input, key, Reason, Uses};
use crate::graph::ops::{ENTER, IDENTITY};
use crate::graph::{const_ints, Attrs, Graph, InputRef, Inputs};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef, TensorShapeProto};

/// A TensorArray all of whose uses have TensorList equivalents.
pub(super) struct Rewritable<'g> {
    pub array: &'g NodeDef,
    pub dtype: DataType,
    pub shape: TensorShapeProto,
    pub size: InputRef<'g>,
    /// The Enters its handle passes through.
    pub enters: Vec<String>,
    /// The TensorArray ops reading its handle.
    pub ops: Vec<&'g NodeDef>,
    /// The pass-through nodes on its flow's path.
    pub retype: Vec<String>,
    /// A scatter of a whole tensor fills it right after it is made.
    pub filled_whole: bool,
}

pub(super) fn rewritable<'g>(graph: &'g Graph, uses: &Uses, name: &str) -> Result<Rewritable<'g>, Reason> {
    let array = graph.node(name).ok_or(Reason::Gone)?;
    let dtype = array.dtype_attr("dtype")?.ok_or(Reason::NoDtype)?;
    if array.bool_attr("dynamic_size")? == Some(true) {
        return Err(Reason::DynamicSize);
    }
    let shape = match array.attr_value("element_shape") {
        Some(Value::Shape(s)) => s.clone(),
        _ => TensorShapeProto { unknown_rank: true, ..Default::default() },
    };
    let size = array.data_input(0).ok_or(Reason::NoSize)?;
    let (enters, ops) = handle_uses(graph, uses, name)?;
    let (flows, retype) = flow_path(graph, uses, name, &ops)?;
    for op in &ops {
        let flow = op.data_input(flow_input(&op.op).unwrap_or(0)).ok_or_else(|| Reason::NoFlowInput(op.name.clone()))?;
        if !flows.contains(&key(&flow)) {
            return Err(Reason::ForeignFlow(op.name.clone()));
        }
    }

    let direct = |op: &NodeDef| op.data_input(0).is_some_and(|h| h.node == name);
    let scatters: Vec<&NodeDef> = ops.iter().copied().filter(|o| o.op == "TensorArrayScatterV3").collect();
    let fresh_flow_readers = uses.readers(name, 1);
    let filled_whole = match scatters.as_slice() {
        [] => false,
        [s] if direct(s)
            && fresh_flow_readers.len() == 1
            && fresh_flow_readers[0].0 == s.name
            && is_whole_unstack(graph, s, &size) =>
        {
            true
        }
        _ => return Err(Reason::PartialScatter),
    };
    if filled_whole && uses.waited_on(name) {
        return Err(Reason::WaitedOn);
    }
    Ok(Rewritable { array, dtype, shape, size, enters, ops, retype, filled_whole })
}

/// The Enters the handle passes through, and the ops it reaches.
fn handle_uses<'g>(graph: &'g Graph, uses: &Uses, name: &str) -> Result<(Vec<String>, Vec<&'g NodeDef>), Reason> {
    let (mut enters, mut ops) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    let mut work = vec![name.to_string()];
    while let Some(from) = work.pop() {
        for (reader, at) in &uses.readers(&from, 0) {
            let node = graph.node(reader).ok_or_else(|| Reason::ReaderGone(from.clone()))?;
            match (node.op.as_str(), at) {
                (ENTER, 0) => {
                    if uses.waited_on(reader) {
                        return Err(Reason::HandleEnterWaitedOn(reader.clone()));
                    }
                    if seen.insert(reader.clone()) {
                        enters.push(reader.clone());
                        work.push(reader.clone());
                    }
                }
                (op, 0) if flow_input(op).is_some() => {
                    if !ops.iter().any(|o: &&NodeDef| o.name == *reader) {
                        ops.push(node);
                    }
                }
                (op, _) => return Err(Reason::HandleReadBy { reader: reader.clone(), op: op.to_string() }),
            }
        }
    }
    Ok((enters, ops))
}

/// Tensors by node name and output port.
type Flows = HashSet<(String, u32)>;

/// Every tensor carrying this array's flow, and the pass-through nodes on
/// its path (to retype), refusing a flow that goes anywhere else.
fn flow_path(
    graph: &Graph,
    uses: &Uses,
    name: &str,
    ops: &[&NodeDef],
) -> Result<(Flows, Vec<String>), Reason> {
    let is_op = |n: &str| ops.iter().any(|o| o.name == n);
    let mut flows = Flows::new();
    let mut work = vec![(name.to_string(), 1)];
    work.extend(ops.iter().filter(|o| matches!(o.op.as_str(), "TensorArrayWriteV3" | "TensorArrayScatterV3")).map(|o| (o.name.clone(), 0)));
    let mut retype = Vec::new();
    while let Some(flow) = work.pop() {
        if !flows.insert(flow.clone()) {
            continue;
        }
        for (reader, at) in &uses.readers(&flow.0, flow.1) {
            let node = graph.node(reader).ok_or_else(|| Reason::ReaderGone(flow.0.clone()))?;
            let outputs: &[u32] = match (node.op.as_str(), *at) {
                (ENTER | "Exit" | "NextIteration" | IDENTITY, 0) | ("Merge", _) => &[0],
                ("Switch", 0) => &[0, 1],
                (op, at) if is_op(reader) && flow_input(op) == Some(at) => &[],
                (op, _) => return Err(Reason::FlowReadBy { reader: reader.clone(), op: op.to_string() }),
            };
            if !outputs.is_empty() && !retype.contains(reader) {
                if node.dtype_attr("T")? != Some(DataType::DtFloat) {
                    return Err(Reason::FlowNotFloat(reader.clone()));
                }
                retype.push(reader.clone());
            }
            work.extend(outputs.iter().map(|&p| (reader.clone(), p)));
        }
    }
    for merged in retype.iter().filter_map(|n| graph.node(n)).filter(|n| n.op == "Merge") {
        if merged.data_inputs().any(|r| !flows.contains(&(r.node.to_string(), r.port))) {
            return Err(Reason::FlowMerged(merged.name.clone()));
        }
    }
    Ok((flows, retype))
}

/// For a write inside a loop of the value a loop variable takes next: the
/// variable's initial value, outside the loop, where the array is. Its
/// shape is the shape of every element (a TensorList checks that on write).
pub(super) fn loop_variable_start(graph: &Graph, uses: &Uses, write: &NodeDef, array: &str) -> Option<String> {
    let handle_enter = graph.node(write.data_input(0)?.node).filter(|n| n.op == ENTER)?;
    if handle_enter.data_input(0)?.node != array {
        return None;
    }
    let frame = handle_enter.attr_value("frame_name")?;
    let value = write.data_input(2)?;
    for (next, _) in &uses.readers(value.node, value.port) {
        if graph.node(next).map(|n| n.op.as_str()) != Some("NextIteration") {
            continue;
        }
        for (merge, _) in &uses.readers(next, 0) {
            let Some(merge) = graph.node(merge).filter(|n| n.op == "Merge") else { continue };
            for r in merge.data_inputs() {
                let Some(enter) = graph.node(r.node).filter(|n| n.op == ENTER) else { continue };
                if enter.attr_value("frame_name") == Some(frame) {
                    return enter.data_input(0).map(|i| i.to_string());
                }
            }
        }
    }
    None
}

/// `scatter` writes `value[i]` at `i` for every `i` of the array's `size`:
/// indices `range(0, shape(value)[0])` and `size` that same length, as
/// `TensorArray.unstack` builds them.
fn is_whole_unstack(graph: &Graph, scatter: &NodeDef, size: &InputRef<'_>) -> bool {
    let (Some(indices), Some(value)) = (scatter.data_input(1), scatter.data_input(2)) else { return false };
    let Some(limit) = range_from_zero(graph, &indices) else { return false };
    let Some(slice) = graph.node(limit.node).filter(|n| n.op == "StridedSlice") else { return false };
    let first_dim = slice.data_input(0)
        .and_then(|s| graph.node(s.node))
        .is_some_and(|s| s.op == "Shape" && s.data_input(0).is_some_and(|v| key(&v) == key(&value)))
        && [(1, 0), (2, 1), (3, 1)]
            .iter()
            .all(|&(i, want)| slice.data_input(i).and_then(|r| const_ints(graph, r)) == Some(vec![want]))
        && slice.int_attr("shrink_axis_mask").ok().flatten() == Some(1)
        && ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"]
            .iter()
            .all(|m| slice.int_attr(m).ok().flatten().unwrap_or(0) == 0);
    first_dim && same_value(graph, &limit, size)
}

/// `indices` is `range(0, size)` of the array: a gather of every element.
pub(super) fn gathers_all(graph: &Graph, indices: &str, size: &InputRef<'_>, ops: &[&NodeDef]) -> bool {
    let Some(limit) = InputRef::parse(indices).and_then(|i| range_from_zero(graph, &i)) else { return false };
    same_value(graph, &limit, size)
        || ops.iter().any(|o| o.op == "TensorArraySizeV3" && o.name == limit.node && limit.port == 0)
}

/// The limit of `range(0, limit, 1)`.
fn range_from_zero<'g>(graph: &'g Graph, tensor: &InputRef<'_>) -> Option<InputRef<'g>> {
    let range = graph.node(tensor.node).filter(|n| n.op == "Range" && tensor.port == 0)?;
    let at = |i| range.data_input(i).and_then(|r| const_ints(graph, r));
    (at(0)? == [0] && at(2)? == [1]).then(|| range.data_input(1)).flatten()
}

