//! Applies the edits of an analysis once the removed channels are known:
//! constants are sliced to their final shapes (no gathers or masks at run
//! time), the constant contributions of removed channels go into biases.

use std::collections::HashMap;

use super::array::Array;
use super::border::{contribution, Window};
use super::constants::const_array;
use super::flow::{Analysis, Border, Decision, Edit, Id};
use super::ops::{bias_after, is_nchw};
use super::Result;
use crate::graph::ops::{is_const, spatial_axes};
use crate::graph::{const_behind, const_ints, const_node, data_input_positions, Attrs, Graph, InputRef, Inputs, NodeBuilder, Readers};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor::{self, Tensor};

/// What the rewrite did besides slicing.
#[derive(Debug, Default)]
pub struct Rewritten {
    pub folds: Vec<Fold>,
}

/// Where the constants of a layer's removed input channels went.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fold {
    pub layer: String,
    /// The node that adds them.
    pub into: String,
    pub kind: FoldKind,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FoldKind {
    /// Into the bias (or batch norm mean) after the layer: the same at every position.
    Bias,
    /// An added constant of the output's spatial shape: the layer is padded,
    /// so the border sees less of the constant than the interior.
    Border,
}

pub fn apply(graph: &mut Graph, analysis: &Analysis, decision: &Decision) -> Result<Rewritten> {
    let mut done = Rewritten::default();
    let mut adjust: HashMap<(usize, usize), Vec<f64>> = HashMap::new();
    let mut inserted: Vec<Insert> = Vec::new();
    for edit in &analysis.edits {
        let Edit::Fold { node, in_axis, out_axis, ids, values, border } = edit else { continue };
        let constants: Vec<(usize, f64)> = ids
            .iter()
            .zip(values)
            .enumerate()
            .filter_map(|(k, (&id, v))| Some((k, v.filter(|&v| v != 0.0 && decision.removed(id))? as f64)))
            .collect();
        let Some(filter) = InputRef::parse(&graph.nodes()[*node].input[1]).and_then(|i| const_array(graph, i)).filter(|_| !constants.is_empty()) else {
            continue;
        };
        let layer = graph.nodes()[*node].name.clone();
        let kept_out = decision.keep(&analysis.tensors.get(&(*node, 0)).map(|c| c.ids.clone()).unwrap_or_default());
        let follower = bias_after(graph, &analysis.readers, *node);
        if let Some(border) = border {
            let conv = &graph.nodes()[*node];
            let after = border.after;
            let mut map = border_constant(conv, &filter, &constants, border)?;
            if graph.nodes()[after].op.starts_with("FusedBatchNorm") {
                scale_by_batch_norm(graph, after, &mut map);
            }
            let map = map.select(2, &kept_out);
            let map = if is_nchw(conv) { channels_first(&map) } else { map };
            let name = graph.nodes()[after].name.clone();
            done.folds.push(Fold { layer, into: format!("{name}/compact_border"), kind: FoldKind::Border });
            inserted.push(Insert { after, op: "AddV2", suffix: "compact_border", value: map.to_tensor(), nchw: false });
            continue;
        }
        let sums = filter.sum_to(*in_axis, *out_axis);
        let mut delta = vec![0.0; filter.shape[*out_axis]];
        for &(k, v) in &constants {
            for (d, w) in delta.iter_mut().zip(&sums[k]) {
                *d += v * w;
            }
        }
        match follower {
            Some((target, input, sign)) => {
                let slot = adjust.entry((target, input)).or_insert_with(|| vec![0.0; delta.len()]);
                for (s, d) in slot.iter_mut().zip(&delta) {
                    *s += sign * d;
                }
                done.folds.push(Fold { layer, into: graph.nodes()[target].name.clone(), kind: FoldKind::Bias });
            }
            None => {
                let bias: Vec<f32> = delta.iter().zip(&kept_out).filter(|(_, &k)| k).map(|(&d, _)| d as f32).collect();
                let conv = &graph.nodes()[*node];
                done.folds.push(Fold { layer: layer.clone(), into: format!("{layer}/compact_bias"), kind: FoldKind::Bias });
                inserted.push(Insert {
                    after: *node,
                    op: "BiasAdd",
                    suffix: "compact_bias",
                    value: Array { shape: vec![bias.len()], data: bias }.to_tensor(),
                    nchw: conv.op == "Conv2D" && is_nchw(conv),
                });
            }
        }
    }

    // (node, input) -> (axis, the ids kept there)
    type Slices<'a> = HashMap<(usize, usize), Vec<(usize, &'a [Id])>>;
    let mut slices: Slices = HashMap::new();
    for edit in &analysis.edits {
        if let Edit::Slice { node, input, axis, ids } = edit {
            slices.entry((*node, *input)).or_default().push((*axis, ids));
        }
    }
    let consumers = consumer_counts(graph);
    let mut keys: Vec<(usize, usize)> = slices.keys().chain(adjust.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let drops: Vec<(usize, Vec<bool>)> = slices
            .get(&key)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|(axis, ids)| (*axis, decision.keep(ids)))
            .filter(|(_, keep)| keep.contains(&false))
            .collect();
        let delta = adjust.get(&key);
        // Most constants keep every channel: those are never decoded.
        if drops.is_empty() && delta.is_none() {
            continue;
        }
        let input = graph.nodes()[key.0].input[key.1].clone();
        let Some(mut array) = InputRef::parse(&input).and_then(|i| const_array(graph, i)) else { continue };
        for (v, d) in array.data.iter_mut().zip(delta.into_iter().flatten()) {
            *v = (*v as f64 + d) as f32;
        }
        for (axis, keep) in &drops {
            array = array.select(*axis, keep);
        }
        set_const_input(graph, key, &array.to_tensor(), &consumers)?;
    }

    for edit in &analysis.edits {
        match edit {
            Edit::ReshapeLast { node, ids } => {
                let kept = decision.keep(ids).iter().filter(|&&k| k).count() as i64;
                let input = graph.nodes()[*node].input[1].clone();
                let Some(mut target) = InputRef::parse(&input).and_then(|i| const_ints(graph, i)) else { continue };
                if target.last() != Some(&kept) {
                    if let Some(last) = target.last_mut() {
                        *last = kept;
                    }
                    let dtype = const_dtype(graph, &input);
                    set_const_input(graph, (*node, 1), &ints(dtype, &target), &consumers)?;
                }
            }
            Edit::Split { node, outputs } => resize_split(graph, *node, outputs, decision, &consumers)?,
            _ => {}
        }
    }
    for insert in inserted {
        insert_after(graph, &analysis.readers, insert)?;
    }
    for node in graph.nodes_mut() {
        // Shapes recorded before the rewrite would now be wrong.
        node.attr.remove("_output_shapes");
    }
    Ok(done)
}

/// The border constant of a padded convolution, channel-last.
fn border_constant(conv: &NodeDef, filter: &Array, constants: &[(usize, f64)], border: &Border) -> Result<Array> {
    let (spatial, _) = spatial_axes(is_nchw(conv));
    let pick = |key: &str| -> Result<[usize; 2]> {
        let values = conv.ints_attr(key)?.unwrap_or(&[1, 1, 1, 1]);
        Ok(spatial.map(|a| values.get(a).map_or(1, |&v| v.max(1) as usize)))
    };
    let (strides, dilations) = (pick("strides")?, pick("dilations")?);
    let kernel = [filter.shape[0], filter.shape[1]];
    let window = match conv.string_attr("padding")? {
        Some("EXPLICIT") => {
            let pads = conv.ints_attr("explicit_paddings")?.unwrap_or(&[]);
            Window { strides, dilations, before: spatial.map(|a| pads.get(2 * a).map_or(0, |&p| p.max(0) as usize)) }
        }
        _ => Window::same(border, kernel, strides, dilations),
    };
    Ok(contribution(filter, constants, border, &window))
}

/// A constant added before an inference batch norm reaches its output
/// multiplied by `scale / sqrt(variance + epsilon)`.
fn scale_by_batch_norm(graph: &Graph, bn: usize, map: &mut Array) {
    let node = &graph.nodes()[bn];
    let param = |k: usize| node.input_at(k).and_then(|i| const_array(graph, i));
    let (Some(scale), Some(var)) = (param(1), param(4)) else { return };
    let eps = node.float_attr("epsilon").ok().flatten().unwrap_or(1e-4);
    let channels = map.shape[2];
    for (i, v) in map.data.iter_mut().enumerate() {
        let j = i % channels;
        *v *= scale.data[j] / (var.data[j] + eps).sqrt();
    }
}

/// `[H, W, C]` to `[C, H, W]`, for NCHW graphs.
fn channels_first(map: &Array) -> Array {
    let [h, w, c] = [map.shape[0], map.shape[1], map.shape[2]];
    let mut data = Vec::with_capacity(map.data.len());
    for j in 0..c {
        for p in 0..h * w {
            data.push(map.data[p * c + j]);
        }
    }
    Array { shape: vec![c, h, w], data }
}

/// Data edges into each node, so a constant read by one edge only is edited
/// in place and a shared one is copied.
fn consumer_counts(graph: &Graph) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for node in graph.nodes() {
        for (p, _) in data_input_positions(graph, node) {
            *counts.entry(p).or_insert(0) += 1;
        }
    }
    counts
}

fn set_const_input(
    graph: &mut Graph,
    (node, input): (usize, usize),
    value: &Tensor,
    consumers: &HashMap<usize, usize>,
) -> Result<()> {
    let reader = graph.nodes()[node].input[input].clone();
    let Some((chain, constant)) = InputRef::parse(&reader).and_then(|i| const_behind(graph, i)) else { return Ok(()) };
    let exclusive = chain.iter().all(|n| graph.position(n).and_then(|p| consumers.get(&p)) == Some(&1));
    if exclusive {
        let mut c = constant.clone();
        let fresh = const_node(&c.name, value);
        c.attr.insert("value".into(), fresh.attr["value"].clone());
        graph.replace(c)?;
    } else {
        let name = unique(graph, &format!("{}/compacted", graph.nodes()[node].name));
        graph.add(const_node(&name, value))?;
        let mut n = graph.nodes()[node].clone();
        n.input[input] = name;
        graph.replace(n)?;
    }
    Ok(())
}

fn unique(graph: &Graph, base: &str) -> String {
    graph.fresh_name(base, |_| false)
}

fn const_dtype(graph: &Graph, input: &str) -> DataType {
    InputRef::parse(input)
        .and_then(|i| const_behind(graph, i))
        .and_then(|(_, c)| c.dtype_attr("dtype").ok().flatten())
        .unwrap_or(DataType::DtInt32)
}

fn ints(dtype: DataType, values: &[i64]) -> Tensor {
    let shape = [values.len() as u64];
    if dtype == DataType::DtInt64 {
        Tensor::from_i64s(&shape, values)
    } else {
        Tensor::from_i32s(&shape, &values.iter().map(|&v| v as i32).collect::<Vec<_>>())
    }
}

/// A split along the channels keeps its outputs in step with what each lost:
/// equal sizes stay a `Split`, unequal ones need a `SplitV`.
fn resize_split(
    graph: &mut Graph,
    node: usize,
    outputs: &[Vec<Id>],
    decision: &Decision,
    consumers: &HashMap<usize, usize>,
) -> Result<()> {
    let sizes: Vec<i64> = outputs.iter().map(|ids| decision.keep(ids).iter().filter(|&&k| k).count() as i64).collect();
    let original: Vec<i64> = outputs.iter().map(|ids| ids.len() as i64).collect();
    if sizes == original {
        return Ok(());
    }
    let split = graph.nodes()[node].clone();
    if split.op == "SplitV" {
        let dtype = const_dtype(graph, &split.input[1]);
        return set_const_input(graph, (node, 1), &ints(dtype, &sizes), consumers);
    }
    if sizes.iter().all(|&s| s == sizes[0]) {
        return Ok(());
    }
    let sizes_name = unique(graph, &format!("{}/size_splits", split.name));
    graph.add(const_node(&sizes_name, &ints(DataType::DtInt32, &sizes)))?;
    let dtype = split.dtype_attr("T")?.unwrap_or(DataType::DtFloat);
    let mut split_v = NodeBuilder::new("SplitV")
        .input(split.input[1].clone())
        .input(sizes_name)
        .input(split.input[0].clone())
        .ty("T", dtype)
        .ty("Tlen", DataType::DtInt32)
        .int("num_split", outputs.len() as i64)
        .device(&split.device)
        .build(&split.name);
    split_v.input.extend(split.control_inputs_as_written().cloned());
    graph.replace(split_v)?;
    Ok(())
}

/// A node added after `after` (its readers now read the new node): a
/// `BiasAdd` for a layer that had no bias to join, which Grappler fuses like
/// any other, or the add of a border constant.
struct Insert {
    after: usize,
    op: &'static str,
    suffix: &'static str,
    value: Tensor,
    nchw: bool,
}

fn insert_after(graph: &mut Graph, readers: &Readers, insert: Insert) -> Result<()> {
    let node = graph.nodes()[insert.after].clone();
    let value_name = unique(graph, &format!("{}/{}_value", node.name, insert.suffix));
    let add_name = unique(graph, &format!("{}/{}", node.name, insert.suffix));
    graph.add(const_node(&value_name, &insert.value))?;
    let mut add = NodeBuilder::new(insert.op)
        .input(node.name.clone())
        .input(value_name)
        .ty("T", DataType::DtFloat)
        .device(&node.device);
    if insert.nchw {
        add = add.string("data_format", "NCHW");
    }
    let reads_it = |i: &String| InputRef::parse(i) == Some(InputRef::output(&node.name, 0));
    let readers: Vec<NodeDef> = readers.data_readers(insert.after).map(|r| graph.nodes()[r].clone()).collect();
    graph.add(add.build(&add_name))?;
    for mut reader in readers {
        for i in reader.input.iter_mut().filter(|i| reads_it(i)) {
            *i = add_name.clone();
        }
        graph.replace(reader)?;
    }
    Ok(())
}

/// Elements of every float constant: the model's parameters.
pub fn float_params(graph: &Graph) -> u64 {
    graph
        .nodes()
        .iter()
        .filter(|n| is_const(n) && n.dtype_attr("dtype").ok().flatten() == Some(DataType::DtFloat))
        .filter_map(|n| match n.attr_value("value") {
            Some(Value::Tensor(t)) => tensor::from_proto(t).ok().map(|t| t.num_elements()),
            _ => None,
        })
        .sum()
}
