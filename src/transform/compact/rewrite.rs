//! Applies the edits of an analysis once the removed channels are known:
//! constants are sliced to their final shapes (no gathers or masks at run
//! time), the constant contributions of removed channels go into biases.

use std::collections::HashMap;

use super::array::{const_array, const_behind, const_ints, Array};
use super::flow::{Analysis, Decision, Edit, Id};
use super::ops::{data_inputs, is_nchw};
use super::Result;
use crate::graph::{const_node, Attrs, Graph, NodeBuilder};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor::{self, Tensor, TensorData};

/// What the rewrite did besides slicing.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// Layers whose removed input channels' constants went into a bias, and
    /// where: (layer, the node holding the bias).
    pub folds: Vec<(String, String)>,
}

pub fn apply(graph: &mut Graph, analysis: &Analysis, decision: &Decision) -> Result<Rewritten> {
    let mut done = Rewritten::default();
    let mut adjust: HashMap<(usize, usize), Vec<f64>> = HashMap::new();
    let mut inserted: Vec<(usize, Vec<f64>)> = Vec::new();
    for edit in &analysis.edits {
        let Edit::Fold { node, in_axis, out_axis, ids, values } = edit else { continue };
        let Some(delta) = fold_delta(graph, *node, *in_axis, *out_axis, ids, values, decision) else { continue };
        let layer = graph.nodes()[*node].name.clone();
        match bias_after(graph, *node) {
            Some((target, input, sign)) => {
                let slot = adjust.entry((target, input)).or_insert_with(|| vec![0.0; delta.len()]);
                for (s, d) in slot.iter_mut().zip(&delta) {
                    *s += sign * d;
                }
                done.folds.push((layer, graph.nodes()[target].name.clone()));
            }
            None => {
                done.folds.push((layer.clone(), format!("{layer}/compact_bias_add")));
                inserted.push((*node, delta));
            }
        }
    }

    let mut slices: HashMap<(usize, usize), Vec<(usize, &[Id])>> = HashMap::new();
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
        let input = graph.nodes()[key.0].input[key.1].clone();
        let Some(mut array) = const_array(graph, &input) else { continue };
        let original = array.clone();
        if let Some(delta) = adjust.get(&key) {
            for (v, d) in array.data.iter_mut().zip(delta) {
                *v = (*v as f64 + d) as f32;
            }
        }
        for (axis, ids) in slices.get(&key).map_or(&[][..], Vec::as_slice) {
            let keep = decision.keep(ids);
            if keep.contains(&false) {
                array = array.select(*axis, &keep);
            }
        }
        if array != original {
            set_const_input(graph, key, &array.to_tensor(), &consumers)?;
        }
    }

    for edit in &analysis.edits {
        match edit {
            Edit::ReshapeLast { node, ids } => {
                let kept = decision.keep(ids).iter().filter(|&&k| k).count() as i64;
                let input = graph.nodes()[*node].input[1].clone();
                let Some(mut target) = const_ints(graph, &input) else { continue };
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
    for (node, delta) in inserted {
        insert_bias(graph, node, &delta, analysis, decision)?;
    }
    for node in graph.nodes_mut() {
        // Shapes recorded before the rewrite would now be wrong.
        node.attr.remove("_output_shapes");
    }
    Ok(done)
}

/// What the removed constant input channels of a convolution or matmul add
/// to each of its outputs: `sum_k v_k * sum_{window} W[.., k, j]`.
fn fold_delta(
    graph: &Graph,
    node: usize,
    in_axis: usize,
    out_axis: usize,
    ids: &[Id],
    values: &[Option<f32>],
    decision: &Decision,
) -> Option<Vec<f64>> {
    let filter = const_array(graph, &graph.nodes()[node].input[1])?;
    let sums = filter.sum_to(in_axis, out_axis);
    let mut delta = vec![0.0; filter.shape[out_axis]];
    let mut any = false;
    for (k, (&id, v)) in ids.iter().zip(values).enumerate() {
        let Some(v) = v.filter(|&v| v != 0.0) else { continue };
        if decision.removed(id) {
            any = true;
            for (d, w) in delta.iter_mut().zip(&sums[k]) {
                *d += v as f64 * w;
            }
        }
    }
    any.then_some(delta)
}

/// The per-channel constant right after `node` that a bias can join:
/// `(node, input, sign)`: a `BiasAdd`'s bias, an add of a channel vector, or
/// an inference batch norm's mean (subtracted, so the sign is -1).
fn bias_after(graph: &Graph, node: usize) -> Option<(usize, usize, f64)> {
    let name = &graph.nodes()[node].name;
    let mut readers = graph
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| data_inputs(graph, n).iter().any(|&(p, _)| p == node));
    let (i, reader) = readers.next()?;
    if readers.next().is_some() || reader.input.first().map(String::as_str) != Some(name.as_str()) {
        return None;
    }
    let channels = match graph.nodes()[node].op.as_str() {
        "MatMul" if graph.nodes()[node].bool_attr("transpose_b").ok().flatten() == Some(true) => 0,
        "MatMul" => 1,
        _ => 3,
    };
    let width = const_array(graph, &graph.nodes()[node].input[1])?.shape[channels];
    let vector = |k: usize| const_array(graph, reader.input.get(k)?).filter(|a| a.shape == [width]);
    match reader.op.as_str() {
        "BiasAdd" | "Add" | "AddV2" => vector(1).map(|_| (i, 1, 1.0)),
        op if op.starts_with("FusedBatchNorm") => {
            (reader.bool_attr("is_training").ok().flatten() == Some(false)).then_some(())?;
            vector(3).map(|_| (i, 3, -1.0))
        }
        _ => None,
    }
}

/// Data edges into each node, so a constant read by one edge only is edited
/// in place and a shared one is copied.
fn consumer_counts(graph: &Graph) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for node in graph.nodes() {
        for (p, _) in data_inputs(graph, node) {
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
    let Some((chain, constant)) = const_behind(graph, &reader) else { return Ok(()) };
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
    let mut name = base.to_string();
    let mut k = 1;
    while graph.contains(&name) {
        name = format!("{base}_{k}");
        k += 1;
    }
    name
}

fn const_dtype(graph: &Graph, input: &str) -> DataType {
    const_behind(graph, input)
        .and_then(|(_, c)| c.dtype_attr("dtype").ok().flatten())
        .unwrap_or(DataType::DtInt32)
}

fn ints(dtype: DataType, values: &[i64]) -> Tensor {
    let bytes: Vec<u8> = if dtype == DataType::DtInt64 {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    } else {
        values.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect()
    };
    Tensor { dtype, shape: vec![values.len() as u64], data: TensorData::Pod(bytes.into()) }
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
    split_v.input.extend(split.input.iter().filter(|i| i.starts_with('^')).cloned());
    graph.replace(split_v)?;
    Ok(())
}

/// A layer with no bias to join gets one: `BiasAdd` after it, which its
/// readers now read (and Grappler fuses like any other).
fn insert_bias(graph: &mut Graph, node: usize, delta: &[f64], analysis: &Analysis, decision: &Decision) -> Result<()> {
    let layer = graph.nodes()[node].clone();
    let ids = analysis.tensors.get(&(node, 0)).map(|c| c.ids.clone()).unwrap_or_default();
    let keep = decision.keep(&ids);
    let bias: Vec<f32> = delta.iter().zip(&keep).filter(|(_, &k)| k).map(|(&d, _)| d as f32).collect();
    let bias_name = unique(graph, &format!("{}/compact_bias", layer.name));
    let add_name = unique(graph, &format!("{}/compact_bias_add", layer.name));
    graph.add(const_node(&bias_name, &Array { shape: vec![bias.len()], data: bias }.to_tensor()))?;
    let mut add = NodeBuilder::new("BiasAdd")
        .input(layer.name.clone())
        .input(bias_name)
        .ty("T", DataType::DtFloat)
        .device(&layer.device);
    if layer.op == "Conv2D" && is_nchw(&layer) {
        add = add.string("data_format", "NCHW");
    }
    let readers: Vec<NodeDef> = graph
        .nodes()
        .iter()
        .filter(|n| n.input.iter().any(|i| i == &layer.name || i == &format!("{}:0", layer.name)))
        .cloned()
        .collect();
    graph.add(add.build(&add_name))?;
    for mut reader in readers {
        for i in reader.input.iter_mut() {
            if *i == layer.name || *i == format!("{}:0", layer.name) {
                *i = add_name.clone();
            }
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
        .filter(|n| n.op == "Const" && n.dtype_attr("dtype").ok().flatten() == Some(DataType::DtFloat))
        .filter_map(|n| match n.attr_value("value") {
            Some(Value::Tensor(t)) => tensor::from_proto(t).ok().map(|t| t.num_elements()),
            _ => None,
        })
        .sum()
}
