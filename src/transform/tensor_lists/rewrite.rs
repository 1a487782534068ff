//! What a recognised array's rewrite does to the graph: each TensorArray op
//! rebuilt as its TensorList op under the same name, the element shapes
//! they take, and the nodes that go.

use std::collections::{HashMap, HashSet};

use super::recognise::{gathers_all, loop_variable_start, Rewritable};
use super::{flow_input, Reason, Result, Uses};
use crate::graph::ops::{CONST, IDENTITY};
use crate::graph::{input_refs, Graph, InputRef, Inputs, NodeBuilder, Statics};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef, TensorShapeProto};
use crate::tensor::Tensor;

/// What one array's rewrite does to the graph.
pub(super) struct Plan {
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

pub(super) fn plan(graph: &Graph, uses: &Uses, recognised: Rewritable<'_>) -> Result<Plan, Reason> {
    let Rewritable { array, dtype, shape, size, enters, ops, retype, filled_whole } = recognised;
    let name = array.name.as_str();
    let mut names = Names::new(graph);
    let mut add = Vec::new();
    let direct = |op: &NodeDef| op.data_input(0).is_some_and(|h| h.node == name);
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
            .ok_or_else(|| Reason::UnknownElementShape(shape_text(&shape)))?;
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
    let mut statics = None;
    for op in &ops {
        let inputs: Vec<String> = op.data_inputs_as_written().cloned().collect();
        let arg = |i: usize| inputs.get(i).cloned().ok_or_else(|| Reason::MissingInput { node: op.name.clone(), input: i });
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
                    let statics = statics.get_or_insert_with(|| Statics::infer(graph, &graph.topological_order()));
                    let count = statics.int_of(graph, size).unwrap_or(-1);
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
    let controls = like.control_inputs_as_written().cloned();
    let mut node = builder.inputs(controls).build(&like.name);
    node.device = like.device.clone();
    node
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
pub(super) fn int32_const(name: &str, values: &[i64], shape: &[u64], anchor: &str) -> NodeDef {
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
        let name = self.graph.fresh_name(base, |n| self.given.contains(n));
        self.given.insert(name.clone());
        name
    }
}

pub(super) fn apply(graph: &mut Graph, plan: Plan) -> Result<()> {
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
        if plan.retype.iter().any(|r| r == node.name) {
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
    const PURE: [&str; 7] = [CONST, "Range", "Shape", "StridedSlice", IDENTITY, "Cast", "Pack"];
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

