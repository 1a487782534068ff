//! Which weights get masks: the variable operands of convolutions and matrix
//! products, through their reads (`<var>/read`, `ReadVariableOp`) or the
//! concatenation of a partitioned variable's parts.

use std::collections::{BTreeMap, HashMap, HashSet};

use regex::Regex;

use super::InjectError;
use crate::graph::ops::{self, variable_read};
pub use crate::graph::ops::VarKind;
use crate::graph::{behind, const_int, node_name, Attrs, Graph, GraphError, Inputs, Readers, Through};
use crate::pruning;
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor;

/// One variable of a (possibly partitioned) weight.
#[derive(Debug, Clone)]
pub struct Part {
    pub var: String,
    pub shape: Vec<u64>,
    pub offset: Vec<u64>,
}

/// Where a weight's output channels are: the axis the op's output features come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum OutAxis {
    /// The last axis (`Conv2D` HWIO filters, `MatMul` b operands).
    Last,
    /// The last two axes together (`DepthwiseConv2dNative`: in_channels x multiplier).
    LastTwo,
    /// The first axis (a transposed b operand, or an a operand).
    First,
}

#[derive(Debug, Clone)]
pub struct Weight {
    /// The variable's name, or a partitioned variable's full name.
    pub name: String,
    pub kind: VarKind,
    pub dtype: DataType,
    pub shape: Vec<u64>,
    pub device: String,
    pub parts: Vec<Part>,
    /// The axis partitions are concatenated along.
    pub concat_axis: usize,
    /// Nodes producing the weight's value (the variable's reads).
    pub reads: Vec<String>,
    /// The ops that take the weight as a layer operand, and the `Enter`s that
    /// carry it into their while loop: what contrib hands `apply_mask`'s
    /// result to. They and their gradient ops read the masked weight.
    pub readers: Vec<String>,
    /// The concatenated value of a partitioned weight (`S/weights` Identity).
    pub joined: Option<String>,
    pub out_axis: OutAxis,
}

impl Weight {
    pub fn partitioned(&self) -> bool {
        self.joined.is_some()
    }
}

pub struct Selection {
    pub weights: Vec<Weight>,
    /// Weights that already have a mask.
    pub already_masked: Vec<String>,
}

pub struct Filters<'a> {
    pub include: &'a [Regex],
    pub exclude: &'a [Regex],
    /// Names of trainable variables, when the graph says (a MetaGraphDef does).
    pub trainable: Option<HashSet<String>>,
    /// Weights named in the `kernel` collection: masked by an earlier inject or by contrib.
    pub masked: HashSet<String>,
    /// The `masks` collection's nodes.
    pub masks: HashSet<String>,
}

fn var_shape(node: &NodeDef) -> Result<Vec<u64>, InjectError> {
    match node.attr_value("shape") {
        Some(Value::Shape(s)) if s.is_fully_defined() => {
            s.dims().ok_or_else(|| unknown_shape(node))
        }
        _ => Err(unknown_shape(node)),
    }
}

fn unknown_shape(node: &NodeDef) -> InjectError {
    InjectError::UnknownShape(node.name.clone())
}

/// The variable behind a read node: `<var>/read` of a `VariableV2`, or a
/// `ReadVariableOp` of a `VarHandleOp`.
fn variable_of<'g>(graph: &'g Graph, read: &NodeDef) -> Option<(&'g NodeDef, VarKind)> {
    let source = graph.node(node_name(read.input.first()?))?;
    Some((source, variable_read(&read.op, &source.op)?))
}

/// Which operands of a prunable op may be weights, and where each one's
/// output features are.
fn weight_operands(node: &NodeDef) -> Result<Vec<(usize, OutAxis)>, GraphError> {
    Ok(match node.op.as_str() {
        "Conv2D" => vec![(1, OutAxis::Last)],
        "DepthwiseConv2dNative" => vec![(1, OutAxis::LastTwo)],
        "MatMul" | "BatchMatMul" | "BatchMatMulV2" | "BatchMatMulV3" => {
            let (ta, tb) = if node.op == "MatMul" {
                ("transpose_a", "transpose_b")
            } else {
                ("adj_x", "adj_y")
            };
            let a = if node.bool_attr(ta)?.unwrap_or(false) {
                OutAxis::Last
            } else {
                OutAxis::First
            };
            let b = if node.bool_attr(tb)?.unwrap_or(false) {
                OutAxis::First
            } else {
                OutAxis::Last
            };
            vec![(0, a), (1, b)]
        }
        _ => Vec::new(),
    })
}

pub fn select(
    graph: &Graph,
    index: &Readers,
    filters: &Filters,
) -> Result<Selection, InjectError> {
    let mut found: BTreeMap<String, Weight> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut already_masked: Vec<String> = Vec::new();
    // A layer op reading a masked weight is pruned already (by contrib or an earlier inject).
    let masked_weights: HashMap<String, String> = pruning::layers(graph, &filters.masks)
        .into_iter()
        .filter_map(|l| Some((l.masked_weight?, l.weight)))
        .collect();
    for node in graph.nodes() {
        for (i, out_axis) in weight_operands(node)? {
            let Some(input) = node.input.get(i) else {
                continue;
            };
            let Some((producer, mut readers)) = graph
                .node(node_name(input))
                .map(|p| outside_loops(graph, p))
            else {
                continue;
            };
            readers.push(node.name.clone());
            if let Some(w) = masked_weights.get(producer.name.as_str()) {
                if !already_masked.contains(w) {
                    already_masked.push(w.clone());
                }
                continue;
            }
            let Some(mut weight) = resolve(graph, index, producer, out_axis)? else {
                continue;
            };
            weight.readers = readers;
            if filters.masked.contains(&weight.name) {
                if !already_masked.contains(&weight.name) {
                    already_masked.push(weight.name.clone());
                }
                continue;
            }
            if let Some(trainable) = &filters.trainable {
                if !weight.parts.iter().all(|p| trainable.contains(&p.var)) {
                    continue;
                }
            }
            match found.get_mut(&weight.name) {
                Some(w) => {
                    for (have, more) in [
                        (&mut w.reads, weight.reads),
                        (&mut w.readers, weight.readers),
                    ] {
                        for r in more {
                            if !have.contains(&r) {
                                have.push(r);
                            }
                        }
                    }
                }
                None => {
                    order.push(weight.name.clone());
                    found.insert(weight.name.clone(), weight);
                }
            }
        }
    }
    let candidates: Vec<String> = order.clone();
    for (flag, regexes) in [
        ("--weights", filters.include),
        ("--exclude", filters.exclude),
    ] {
        for re in regexes {
            if !candidates
                .iter()
                .chain(&already_masked)
                .any(|n| re.is_match(n))
            {
                return Err(InjectError::NoMatch {
                    flag,
                    regex: re.as_str().to_string(),
                    candidates: candidates.clone(),
                });
            }
        }
    }
    let weights: Vec<Weight> = order
        .into_iter()
        .filter(|n| filters.include.is_empty() || filters.include.iter().any(|r| r.is_match(n)))
        .filter(|n| !filters.exclude.iter().any(|r| r.is_match(n)))
        .filter_map(|n| found.remove(&n))
        // An empty weight has nothing to prune (and no k-th largest value).
        .filter(|w| w.shape.iter().product::<u64>() > 0)
        .collect();
    if weights.is_empty() && already_masked.is_empty() {
        return Err(InjectError::NoWeights(candidates));
    }
    for w in &weights {
        if !tensor::is_floating(w.dtype) {
            return Err(InjectError::NotFloating { weight: w.name.clone(), dtype: w.dtype });
        }
    }
    Ok(Selection {
        weights,
        already_masked,
    })
}

/// A weight used inside a while loop (an RNN cell) enters it through `Enter`;
/// its read is outside. Returns the read and the `Enter`s passed, outermost first.
fn outside_loops<'g>(graph: &'g Graph, node: &'g NodeDef) -> (&'g NodeDef, Vec<String>) {
    let mut path: Vec<&NodeDef> = behind(graph, &node.name, Through::ENTER).collect();
    let read = path.pop().unwrap_or(node);
    (read, path.iter().rev().map(|e| e.name.clone()).collect())
}

/// The weight a prunable op's operand reads, if it is a variable.
fn resolve(
    graph: &Graph,
    readers: &Readers,
    producer: &NodeDef,
    out_axis: OutAxis,
) -> Result<Option<Weight>, InjectError> {
    if let Some((var, kind)) = variable_of(graph, producer) {
        let shape = var_shape(var)?;
        let reads = match kind {
            VarKind::Ref => vec![producer.name.clone()],
            VarKind::Resource => resource_reads(graph, readers, &var.name),
        };
        return Ok(Some(Weight {
            name: var.name.clone(),
            kind,
            dtype: var.dtype_attr("dtype")?.unwrap_or(DataType::DtFloat),
            parts: vec![Part {
                var: var.name.clone(),
                offset: vec![0; shape.len()],
                shape: shape.clone(),
            }],
            shape,
            device: var.device.clone(),
            concat_axis: 0,
            reads,
            readers: Vec::new(),
            joined: None,
            out_axis,
        }));
    }
    // A partitioned variable: `S/weights` = Identity(ConcatV2(part reads..., axis)).
    if producer.op != ops::IDENTITY {
        return Ok(None);
    }
    let Some(concat) = producer
        .input
        .first()
        .and_then(|i| graph.node(node_name(i)))
    else {
        return Ok(None);
    };
    if concat.op != ops::CONCAT || concat.input.len() < 3 {
        return Ok(None);
    }
    let data: Vec<_> = concat.data_inputs().collect();
    let Some((axis_input, part_inputs)) = data.split_last() else {
        return Ok(None);
    };
    let Some(axis) = const_int(graph, *axis_input) else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    let mut first: Option<(&NodeDef, VarKind)> = None;
    for input in part_inputs {
        let Some((var, kind)) = graph
            .node(input.node)
            .and_then(|r| variable_of(graph, r))
        else {
            return Ok(None);
        };
        parts.push(Part {
            var: var.name.clone(),
            shape: var_shape(var)?,
            offset: Vec::new(),
        });
        first.get_or_insert((var, kind));
    }
    let Some((var, kind)) = first else {
        return Ok(None);
    };
    let rank = parts[0].shape.len() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) || parts.iter().any(|p| p.shape.len() as i64 != rank) {
        return Ok(None);
    }
    let axis = axis as usize;
    let mut shape = parts[0].shape.clone();
    shape[axis] = 0;
    for p in &mut parts {
        p.offset = vec![0; p.shape.len()];
        p.offset[axis] = shape[axis];
        shape[axis] += p.shape[axis];
    }
    Ok(Some(Weight {
        name: producer.name.clone(),
        kind,
        dtype: var.dtype_attr("dtype")?.unwrap_or(DataType::DtFloat),
        shape,
        device: var.device.clone(),
        parts,
        concat_axis: axis,
        reads: vec![producer.name.clone()],
        readers: Vec::new(),
        joined: Some(producer.name.clone()),
        out_axis,
    }))
}

fn resource_reads(graph: &Graph, readers: &Readers, handle: &str) -> Vec<String> {
    let mut reads = readers.data_reader_names(graph, handle);
    reads.retain(|n| graph.node(n).is_some_and(|n| n.op == ops::READ_VARIABLE));
    reads
}
