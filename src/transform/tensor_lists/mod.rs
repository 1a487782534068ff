//! TF1's TensorArray ops, as `dynamic_rnn` and `tf.while_loop` build them,
//! rewritten into TF2's TensorList ops. TensorFlow computes the same with
//! either; TFLite's converter turns TensorList loops into builtin ops but
//! keeps TensorArrays as TensorFlow ops, which run only where an app links
//! the Flex delegate.
//!
//! A TensorArray is a resource handle plus a float "flow" scalar that is
//! threaded through the loop to order its reads and writes. A TensorList is
//! a variant value threaded the same way. So each op takes the list where it
//! took the flow, the flow's path (Enter, Merge, Switch, NextIteration,
//! Exit, Identity) is retyped to `variant`, and the handle's Enters go. An
//! array is rewritten whole or not at all, and the report says why not.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::colocation::drop_dangling_colocation;
use super::compact::const_ints;
use super::Result;
use crate::graph::{input_refs, Attrs, Graph, InputRef, NodeBuilder};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef, TensorShapeProto};
use crate::tensor::Tensor;

#[derive(Debug, Clone, Default, Serialize)]
pub struct TensorListReport {
    /// The TensorArrays now TensorLists.
    pub rewritten: Vec<String>,
    /// Those left as they were, with why.
    pub kept: Vec<KeptArray>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeptArray {
    pub name: String,
    pub reason: String,
}

/// Rewrites every TensorArray whose uses have TensorList equivalents.
pub fn tensor_arrays_to_lists(graph: &mut Graph) -> Result<TensorListReport> {
    let mut report = TensorListReport::default();
    let arrays: Vec<String> =
        graph.nodes().iter().filter(|n| n.op == "TensorArrayV3").map(|n| n.name.clone()).collect();
    for name in arrays {
        let uses = Uses::of(graph);
        match plan(graph, &uses, &name) {
            Ok(plan) => {
                apply(graph, plan)?;
                report.rewritten.push(name);
            }
            Err(reason) => report.kept.push(KeptArray { name, reason }),
        }
    }
    if !report.rewritten.is_empty() {
        drop_dangling_colocation(graph);
    }
    Ok(report)
}

/// Who reads each output, and which nodes something waits on.
struct Uses {
    data: HashMap<(String, u32), Vec<(String, usize)>>,
    control: HashSet<String>,
}

impl Uses {
    fn of(graph: &Graph) -> Uses {
        let mut uses = Uses { data: HashMap::new(), control: HashSet::new() };
        for node in graph.nodes() {
            for (i, r) in input_refs(node).enumerate() {
                if r.control {
                    uses.control.insert(r.node.to_string());
                } else {
                    uses.data.entry((r.node.to_string(), r.port)).or_default().push((node.name.clone(), i));
                }
            }
        }
        uses
    }

    fn readers(&self, node: &str, port: u32) -> &[(String, usize)] {
        self.data.get(&(node.to_string(), port)).map_or(&[], Vec::as_slice)
    }
}

/// The TensorArray ops rewritten, and which data input carries the flow.
fn flow_input(op: &str) -> Option<usize> {
    match op {
        "TensorArrayReadV3" | "TensorArrayGatherV3" => Some(2),
        "TensorArrayWriteV3" | "TensorArrayScatterV3" => Some(3),
        "TensorArraySizeV3" => Some(1),
        _ => None,
    }
}

/// What one array's rewrite does to the graph.
struct Plan {
    array: String,
    /// The array's node becomes this, or goes when a whole tensor fills it.
    reserve: Option<NodeDef>,
    ops: Vec<NodeDef>,
    add: Vec<NodeDef>,
    remove: Vec<String>,
    retype: Vec<String>,
    /// Nodes computing inputs the TensorList ops no longer take (an
    /// unstack's or a stack's indices): they go once nothing reads them.
    unread: Vec<String>,
}

type Reason = String;

fn plan(graph: &Graph, uses: &Uses, name: &str) -> Result<Plan, Reason> {
    let array = graph.node(name).ok_or("it is gone")?;
    let dtype = array.dtype_attr("dtype").map_err(|e| e.to_string())?.ok_or("it has no dtype")?;
    if array.bool_attr("dynamic_size").map_err(|e| e.to_string())? == Some(true) {
        return Err("it grows past its size (dynamic_size), which a TensorList reserved at a size cannot".into());
    }
    let shape = match array.attr_value("element_shape") {
        Some(Value::Shape(s)) => s.clone(),
        _ => TensorShapeProto { unknown_rank: true, ..Default::default() },
    };
    let size = data_input(array, 0).ok_or("it has no size input")?;
    let (enters, ops) = handle_uses(graph, uses, name)?;
    let (flows, retype) = flow_path(graph, uses, name, &ops)?;
    for op in &ops {
        let flow = data_input(op, flow_input(&op.op).unwrap_or(0)).ok_or("an op lacks its flow input")?;
        if !flows.contains(&key(&flow)) {
            return Err(format!("`{}` takes a flow that is not this array's", op.name));
        }
    }

    let mut names = Names::new(graph);
    let mut add = Vec::new();
    let direct = |op: &NodeDef| data_input(op, 0).is_some_and(|h| h.node == name);
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
        _ => return Err("it is scattered into other than once, whole, right after it is made".into()),
    };
    if filled_whole && uses.control.contains(name) {
        return Err("something waits on it, and a TensorList made from a whole tensor needs no array".into());
    }
    let reserve_shape = if filled_whole {
        None
    } else if let Some(dims) = known_dims(&shape) {
        let node = int32_const(&names.fresh(&format!("{name}/element_shape")), &dims, &[dims.len() as u64], size.node);
        let out = node.name.clone();
        add.push(node);
        Some(out)
    } else {
        let init = ops
            .iter()
            .filter(|o| o.op == "TensorArrayWriteV3")
            .find_map(|w| loop_variable_start(graph, uses, w, name))
            .ok_or_else(|| {
                format!(
                    "its element shape {} is not fully known, and no value written to it is a loop variable \
                     whose initial value would give it",
                    shape_text(&shape)
                )
            })?;
        let node = NodeBuilder::new("Shape")
            .input(init)
            .ty("T", dtype)
            .ty("out_type", DataType::DtInt32)
            .build(&names.fresh(&format!("{name}/element_shape")));
        let out = node.name.clone();
        add.push(node);
        Some(out)
    };

    let mut rebuilt = Vec::new();
    let mut unread = Vec::new();
    for op in &ops {
        let inputs: Vec<String> = op.input.iter().filter(|i| !i.starts_with('^')).cloned().collect();
        let arg = |i: usize| inputs.get(i).cloned().ok_or_else(|| format!("`{}` lacks input {i}", op.name));
        let flow = arg(flow_input(&op.op).unwrap_or(0))?;
        let partial = |names: &mut Names, add: &mut Vec<NodeDef>, anchor: &str| {
            let node = shape_const(&names.fresh(&format!("{}/element_shape", op.name)), &shape, anchor);
            let out = node.name.clone();
            add.push(node);
            out
        };
        let builder = match op.op.as_str() {
            "TensorArrayReadV3" => {
                let index = arg(1)?;
                let es = partial(&mut names, &mut add, &index);
                NodeBuilder::new("TensorListGetItem").input(flow).input(index).input(es)
            }
            "TensorArrayWriteV3" => {
                NodeBuilder::new("TensorListSetItem").input(flow).input(arg(1)?).input(arg(2)?)
            }
            "TensorArrayScatterV3" => {
                unread.push(crate::graph::node_name(&arg(1)?).to_string());
                let value = arg(2)?;
                let es = partial(&mut names, &mut add, &value);
                NodeBuilder::new("TensorListFromTensor")
                    .input(value)
                    .input(es)
                    .ty("shape_type", DataType::DtInt32)
            }
            "TensorArrayGatherV3" => {
                let indices = &arg(1)?;
                let es = match (&reserve_shape, direct(op)) {
                    (Some(es), true) => es.clone(),
                    _ => partial(&mut names, &mut add, &flow),
                };
                if gathers_all(graph, indices, &size, &ops) {
                    unread.push(crate::graph::node_name(indices).to_string());
                    // TFLite types the stacked tensor by this count; TensorFlow checks it.
                    let count = static_int(graph, &size, 0).unwrap_or(-1);
                    NodeBuilder::new("TensorListStack").input(flow).input(es).int("num_elements", count)
                } else {
                    NodeBuilder::new("TensorListGather").input(flow).input(indices.clone()).input(es)
                }
            }
            _ => NodeBuilder::new("TensorListLength").input(flow),
        };
        let builder = if op.op == "TensorArraySizeV3" { builder } else { builder.ty("element_dtype", dtype) };
        rebuilt.push(finish(builder, op));
    }

    let reserve = reserve_shape.map(|es| {
        finish(
            NodeBuilder::new("TensorListReserve")
                .input(es)
                .input(size.to_string())
                .ty("element_dtype", dtype)
                .ty("shape_type", DataType::DtInt32),
            array,
        )
    });
    let mut remove: Vec<String> = enters;
    if reserve.is_none() {
        remove.push(name.to_string());
    }
    Ok(Plan { array: name.to_string(), reserve, ops: rebuilt, add, remove, retype, unread })
}

/// The op rebuilt under `like`'s name, device and control inputs.
fn finish(builder: NodeBuilder, like: &NodeDef) -> NodeDef {
    let controls = like.input.iter().filter(|i| i.starts_with('^')).cloned();
    let mut node = builder.inputs(controls).build(&like.name);
    node.device = like.device.clone();
    node
}

/// The Enters the handle passes through, and the ops it reaches.
fn handle_uses<'g>(graph: &'g Graph, uses: &Uses, name: &str) -> Result<(Vec<String>, Vec<&'g NodeDef>), Reason> {
    let (mut enters, mut ops) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    let mut work = vec![name.to_string()];
    while let Some(from) = work.pop() {
        for (reader, at) in uses.readers(&from, 0) {
            let node = graph.node(reader).ok_or("a reader is gone")?;
            match (node.op.as_str(), at) {
                ("Enter", 0) => {
                    if uses.control.contains(reader) {
                        return Err(format!("something waits on its handle's Enter `{reader}`"));
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
                (op, _) => return Err(format!("its handle is read by `{reader}` ({op})")),
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
        for (reader, at) in uses.readers(&flow.0, flow.1) {
            let node = graph.node(reader).ok_or("a reader is gone")?;
            let outputs: &[u32] = match (node.op.as_str(), *at) {
                ("Enter" | "Exit" | "NextIteration" | "Identity", 0) | ("Merge", _) => &[0],
                ("Switch", 0) => &[0, 1],
                (op, at) if is_op(reader) && flow_input(op) == Some(at) => &[],
                (op, _) => return Err(format!("its flow is read by `{reader}` ({op})")),
            };
            if !outputs.is_empty() && !retype.contains(reader) {
                if node.dtype_attr("T").map_err(|e| e.to_string())? != Some(DataType::DtFloat) {
                    return Err(format!("its flow passes `{reader}`, which is not of type float"));
                }
                retype.push(reader.clone());
            }
            work.extend(outputs.iter().map(|&p| (reader.clone(), p)));
        }
    }
    for merged in retype.iter().filter_map(|n| graph.node(n)).filter(|n| n.op == "Merge") {
        if input_refs(merged).filter(|r| !r.control).any(|r| !flows.contains(&(r.node.to_string(), r.port))) {
            return Err(format!("`{}` merges its flow with another value", merged.name));
        }
    }
    Ok((flows, retype))
}

/// For a write inside a loop of the value a loop variable takes next: the
/// variable's initial value, outside the loop, where the array is. Its
/// shape is the shape of every element (a TensorList checks that on write).
fn loop_variable_start(graph: &Graph, uses: &Uses, write: &NodeDef, array: &str) -> Option<String> {
    let handle_enter = graph.node(data_input(write, 0)?.node).filter(|n| n.op == "Enter")?;
    if data_input(handle_enter, 0)?.node != array {
        return None;
    }
    let frame = handle_enter.attr_value("frame_name")?;
    let value = data_input(write, 2)?;
    for (next, _) in uses.readers(value.node, value.port) {
        if graph.node(next).map(|n| n.op.as_str()) != Some("NextIteration") {
            continue;
        }
        for (merge, _) in uses.readers(next, 0) {
            let Some(merge) = graph.node(merge).filter(|n| n.op == "Merge") else { continue };
            for r in input_refs(merge).filter(|r| !r.control) {
                let Some(enter) = graph.node(r.node).filter(|n| n.op == "Enter") else { continue };
                if enter.attr_value("frame_name") == Some(frame) {
                    return data_input(enter, 0).map(|i| i.to_string());
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
    let (Some(indices), Some(value)) = (data_input(scatter, 1), data_input(scatter, 2)) else { return false };
    let Some(limit) = range_from_zero(graph, &indices) else { return false };
    let Some(slice) = graph.node(limit.node).filter(|n| n.op == "StridedSlice") else { return false };
    let first_dim = data_input(slice, 0)
        .and_then(|s| graph.node(s.node))
        .is_some_and(|s| s.op == "Shape" && data_input(s, 0).is_some_and(|v| key(&v) == key(&value)))
        && [(1, 0), (2, 1), (3, 1)]
            .iter()
            .all(|&(i, want)| data_input(slice, i).and_then(|r| const_ints(graph, &r.to_string())) == Some(vec![want]))
        && slice.int_attr("shrink_axis_mask").ok().flatten() == Some(1)
        && ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"]
            .iter()
            .all(|m| slice.int_attr(m).ok().flatten().unwrap_or(0) == 0);
    first_dim && same_value(graph, &limit, size)
}

/// `indices` is `range(0, size)` of the array: a gather of every element.
fn gathers_all(graph: &Graph, indices: &str, size: &InputRef<'_>, ops: &[&NodeDef]) -> bool {
    let Some(limit) = InputRef::parse(indices).and_then(|i| range_from_zero(graph, &i)) else { return false };
    same_value(graph, &limit, size)
        || ops.iter().any(|o| o.op == "TensorArraySizeV3" && o.name == limit.node && limit.port == 0)
}

/// The limit of `range(0, limit, 1)`.
fn range_from_zero<'g>(graph: &'g Graph, tensor: &InputRef<'_>) -> Option<InputRef<'g>> {
    let range = graph.node(tensor.node).filter(|n| n.op == "Range" && tensor.port == 0)?;
    let at = |i| data_input(range, i).and_then(|r| const_ints(graph, &r.to_string()));
    (at(0)? == [0] && at(2)? == [1]).then(|| data_input(range, 1)).flatten()
}

/// How deep `static_int` and its helpers look.
const STATIC_DEPTH: usize = 12;

/// An int32 scalar known before the graph runs: a constant, or one
/// dimension of a tensor whose static shape has it (as `dynamic_rnn` takes its
/// step count from the time-major input's shape).
fn static_int(graph: &Graph, tensor: &InputRef<'_>, depth: usize) -> Option<i64> {
    if depth > STATIC_DEPTH {
        return None;
    }
    let node = graph.node(tensor.node)?;
    match node.op.as_str() {
        "Const" => match const_ints(graph, &tensor.to_string())?.as_slice() {
            [v] => Some(*v),
            _ => None,
        },
        "StridedSlice" => {
            let at = |i| data_input(node, i).and_then(|r| const_ints(graph, &r.to_string()));
            let (begin, end, stride) = (at(1)?, at(2)?, at(3)?);
            let ([k], [end], [1]) = (begin.as_slice(), end.as_slice(), stride.as_slice()) else { return None };
            let plain = ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"]
                .iter()
                .all(|m| node.int_attr(m).ok().flatten().unwrap_or(0) == 0);
            if !plain || node.int_attr("shrink_axis_mask").ok().flatten() != Some(1) || k.checked_add(1) != Some(*end) {
                return None;
            }
            let shape = graph.node(data_input(node, 0)?.node).filter(|n| n.op == "Shape")?;
            let dims = static_shape(graph, &data_input(shape, 0)?, depth + 1)?;
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
        "Identity" => static_shape(graph, &data_input(node, 0)?, depth + 1),
        "Transpose" => {
            let dims = static_shape(graph, &data_input(node, 0)?, depth + 1)?;
            let perm = static_ints(graph, &data_input(node, 1)?, depth + 1)?;
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
        "Const" => const_ints(graph, &tensor.to_string()),
        "ConcatV2" => {
            let inputs: Vec<InputRef<'_>> = input_refs(node).filter(|r| !r.control).collect();
            let (axis, values) = inputs.split_last()?;
            if static_int(graph, axis, depth + 1)? != 0 {
                return None;
            }
            let parts: Option<Vec<Vec<i64>>> = values.iter().map(|v| static_ints(graph, v, depth + 1)).collect();
            Some(parts?.concat())
        }
        "Range" => {
            let at = |i| data_input(node, i).and_then(|r| static_int(graph, &r, depth + 1));
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
fn same_value(graph: &Graph, a: &InputRef<'_>, b: &InputRef<'_>) -> bool {
    const PURE: [&str; 5] = ["Const", "Shape", "StridedSlice", "Identity", "Cast"];
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
            (input_refs(p).filter(|r| !r.control).collect(), input_refs(q).filter(|r| !r.control).collect());
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

fn data_input(node: &NodeDef, i: usize) -> Option<InputRef<'_>> {
    input_refs(node).filter(|r| !r.control).nth(i)
}

fn key(r: &InputRef<'_>) -> (String, u32) {
    (r.node.to_string(), r.port)
}

fn known_dims(shape: &TensorShapeProto) -> Option<Vec<i64>> {
    let dims: Vec<i64> = shape.dim.iter().map(|d| d.size).collect();
    (!shape.unknown_rank && dims.iter().all(|&d| d >= 0)).then_some(dims)
}

fn shape_text(shape: &TensorShapeProto) -> String {
    if shape.unknown_rank {
        return "(unknown rank)".into();
    }
    let dims: Vec<String> = shape.dim.iter().map(|d| if d.size < 0 { "?".into() } else { d.size.to_string() }).collect();
    format!("[{}]", dims.join(","))
}

/// An element shape as TensorList ops take it: the dims with -1 for an
/// unknown one, or a scalar -1 for an unknown rank.
fn shape_const(name: &str, shape: &TensorShapeProto, anchor: &str) -> NodeDef {
    match shape.unknown_rank {
        true => int32_const(name, &[-1], &[], anchor),
        false => {
            let dims: Vec<i64> = shape.dim.iter().map(|d| d.size).collect();
            int32_const(name, &dims, &[dims.len() as u64], anchor)
        }
    }
}

/// An int32 `Const` waiting on `anchor`: a constant used inside a while
/// loop must be in the loop's frame, which a control input from there gives.
fn int32_const(name: &str, values: &[i64], shape: &[u64], anchor: &str) -> NodeDef {
    let t = Tensor::from_i32s(shape, &values.iter().map(|&v| i32::try_from(v).unwrap_or(-1)).collect::<Vec<_>>());
    let mut node = crate::graph::const_node(name, &t);
    if let Some(r) = InputRef::parse(anchor) {
        node.input.push(InputRef::control_of(r.node).to_string());
    }
    node
}

/// Node names not yet in the graph nor handed out.
struct Names<'g> {
    graph: &'g Graph,
    given: HashSet<String>,
}

impl<'g> Names<'g> {
    fn new(graph: &'g Graph) -> Self {
        Names { graph, given: HashSet::new() }
    }

    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 0;
        while self.graph.contains(&name) || self.given.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.given.insert(name.clone());
        name
    }
}

fn apply(graph: &mut Graph, plan: Plan) -> Result<()> {
    for node in plan.ops.into_iter().chain(plan.reserve) {
        graph.replace(node)?;
    }
    for node in plan.add {
        graph.add(node)?;
    }
    let remove: HashSet<String> = plan.remove.into_iter().collect();
    graph.retain(|n| !remove.contains(&n.name));
    // The list is the reserving op's only output, where the flow was its second.
    let flow = InputRef::output(&plan.array, 1).to_string();
    let list = InputRef::output(&plan.array, 0).to_string();
    let variant = crate::proto::tensorflow::AttrValue { value: Some(Value::Type(DataType::DtVariant as i32)) };
    for node in graph.nodes_mut() {
        if plan.retype.contains(&node.name) {
            node.attr.insert("T".into(), variant.clone());
        }
        for input in node.input.iter_mut().filter(|i| **i == flow) {
            input.clone_from(&list);
        }
    }
    drop_unread(graph, plan.unread);
    Ok(())
}

/// Removes `candidates` that nothing reads any more, and then what only they
/// read, as far as pure ops go: left behind they would be the graph's
/// outputs to anyone who takes its sinks.
fn drop_unread(graph: &mut Graph, mut candidates: Vec<String>) {
    const PURE: [&str; 7] = ["Const", "Range", "Shape", "StridedSlice", "Identity", "Cast", "Pack"];
    let mut reads: HashMap<String, usize> = HashMap::new();
    for node in graph.nodes() {
        for r in input_refs(node) {
            *reads.entry(r.node.to_string()).or_default() += 1;
        }
    }
    let mut gone = HashSet::new();
    while let Some(name) = candidates.pop() {
        let Some(node) = graph.node(&name) else { continue };
        if reads.get(&name).copied().unwrap_or(0) > 0 || !PURE.contains(&node.op.as_str()) || !gone.insert(name) {
            continue;
        }
        for r in input_refs(node) {
            if let Some(n) = reads.get_mut(r.node) {
                *n -= 1;
            }
            candidates.push(r.node.to_string());
        }
    }
    graph.retain(|n| !gone.contains(&n.name));
}

#[cfg(test)]
mod tests;
