//! What is in a checkpoint or a graph: every tensor or constant with its size
//! and zero fraction, the pruning structure (weight, mask, threshold, masked
//! weight per layer), and for graphs an op histogram. Reports are plain data;
//! the CLI renders them as a table or as JSON.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::graph::{node_name, Attrs, Graph, ModelFile};
use crate::proto::tensorflow::{DataType, GraphDef, NodeDef};
use crate::tensor::{self, Tensor, TensorData};

#[derive(Debug, Clone, Serialize)]
pub struct TensorRow {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub bytes: u64,
    /// `None` for strings and dtypes without a zero test.
    pub zero_fraction: Option<f64>,
    /// Number of slices of a partitioned variable (0 when not partitioned).
    pub partitions: usize,
}

/// One pruned layer in contrib.model_pruning's layout.
#[derive(Debug, Clone, Serialize)]
pub struct PrunedLayer {
    pub weight: String,
    pub mask: String,
    pub threshold: Option<String>,
    pub masked_weight: Option<String>,
    pub elements: u64,
    pub threshold_value: Option<f64>,
    /// Zero fraction of the mask: the sparsity pruning asked for.
    pub mask_sparsity: f64,
    /// Zero fraction of `mask * weight`: what the stripped model will hold.
    pub masked_weight_sparsity: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub tensors: usize,
    pub elements: u64,
    pub zeros: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    pub prefix: String,
    pub shards: usize,
    pub tensors: Vec<TensorRow>,
    pub pruning: Vec<PrunedLayer>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphReport {
    pub path: String,
    pub kind: String,
    pub nodes: usize,
    pub ops: BTreeMap<String, usize>,
    pub constants: Vec<TensorRow>,
    pub pruning: Vec<PrunedLayer>,
    pub totals: Totals,
}

fn row(name: &str, t: &Tensor, partitions: usize) -> TensorRow {
    TensorRow {
        name: name.to_string(),
        dtype: t.dtype.name().to_string(),
        shape: t.shape.clone(),
        bytes: t.byte_len(),
        zero_fraction: t.zero_fraction(),
        partitions,
    }
}

fn totals(rows: &[TensorRow]) -> Totals {
    let mut t = Totals { tensors: rows.len(), ..Default::default() };
    for r in rows {
        let n: u64 = r.shape.iter().product();
        t.elements += n;
        t.bytes += r.bytes;
        t.zeros += r.zero_fraction.map_or(0, |z| (z * n as f64).round() as u64);
    }
    t
}

/// Reads every tensor once (checking every CRC) and describes the checkpoint.
/// `meta` is the graph saved beside it, used to pair masks with weights.
/// Pages are released as tensors are done, so memory stays flat.
pub fn inspect_checkpoint(ckpt: &Checkpoint, meta: Option<&GraphDef>) -> Result<CheckpointReport, CheckpointError> {
    let names: Vec<&str> = ckpt.entries().map(|(n, _)| n).collect();
    let masked_weights = meta.map(masked_weight_operands).unwrap_or_default();
    let layers = find_layers(&names, &masked_weights, |n| ckpt.entry(n).map(|e| (e.dtype, e.shape.clone())));
    let in_layer: HashSet<&str> = layers.iter().flat_map(|l| [l.mask.as_str(), l.weight.as_str()]).collect();

    let partitions = |name: &str| ckpt.entry(name).map_or(0, |e| e.slices.len());
    let read = |name: &str| -> Result<(Tensor, TensorRow), CheckpointError> {
        let t = ckpt.tensor(name)?;
        let r = row(name, &t, partitions(name));
        Ok((t, r))
    };
    let singles = names
        .par_iter()
        .filter(|n| !in_layer.contains(**n))
        .map(|name| {
            let (_, r) = read(name)?;
            ckpt.release(name);
            Ok(r)
        })
        .collect::<Result<Vec<_>, CheckpointError>>()?;
    let layered = layers
        .into_par_iter()
        .map(|l| {
            let (mask, mask_row) = read(&l.mask)?;
            let (weight, weight_row) = read(&l.weight)?;
            let threshold = l.threshold.as_deref().map(|t| ckpt.tensor(t)).transpose()?;
            let (mask_name, weight_name) = (l.mask.clone(), l.weight.clone());
            let layer = describe_layer(l, &mask, &weight, threshold.as_ref());
            ckpt.release(&mask_name);
            ckpt.release(&weight_name);
            Ok((vec![mask_row, weight_row], layer))
        })
        .collect::<Result<Vec<_>, CheckpointError>>()?;

    let mut tensors = singles;
    let mut pruning = Vec::with_capacity(layered.len());
    for (rows, layer) in layered {
        tensors.extend(rows);
        pruning.push(layer);
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(CheckpointReport {
        prefix: ckpt.prefix().display().to_string(),
        shards: ckpt.data_paths().len(),
        totals: totals(&tensors),
        tensors,
        pruning,
    })
}

/// Describes a graph file; constants are decoded from their `TensorProto`s.
pub fn inspect_graph(path: &Path, model: &ModelFile) -> Result<GraphReport, crate::graph::GraphError> {
    let kind = match model {
        ModelFile::Graph(_) => "GraphDef",
        ModelFile::Meta(_) => "MetaGraphDef",
        ModelFile::SavedModel(_) => "SavedModel",
    };
    let empty = GraphDef::default();
    let def = model.graph_def().unwrap_or(&empty);
    let graph = Graph::new(def.clone()).map_err(|e| e.in_file(path))?;
    let mut ops = BTreeMap::new();
    for n in graph.nodes() {
        *ops.entry(n.op.clone()).or_insert(0) += 1;
    }
    let consts: HashMap<&str, Tensor> = graph
        .nodes()
        .par_iter()
        .filter(|n| n.op == "Const")
        .filter_map(|n| Some((n.name.as_str(), tensor::from_proto(n.tensor_value().ok()?).ok()?)))
        .collect();
    let mut constants: Vec<TensorRow> = consts.iter().map(|(n, t)| row(n, t, 0)).collect();
    constants.sort_by(|a, b| a.name.cmp(&b.name));

    // In a graph, masks and weights are variables; their values are in a checkpoint.
    let operands = masked_weight_operands(def);
    let pruning = operands
        .iter()
        .filter_map(|(mw, (mask, weight))| {
            let (m, w) = (consts.get(mask.as_str())?, consts.get(weight.as_str())?);
            let layer = Layer {
                weight: weight.clone(),
                mask: mask.clone(),
                threshold: None,
                masked_weight: Some(mw.clone()),
            };
            Some(describe_layer(layer, m, w, None))
        })
        .collect();
    Ok(GraphReport {
        path: path.display().to_string(),
        kind: kind.into(),
        nodes: graph.nodes().len(),
        ops,
        totals: totals(&constants),
        constants,
        pruning,
    })
}

struct Layer {
    weight: String,
    mask: String,
    threshold: Option<String>,
    masked_weight: Option<String>,
}

/// For each `*masked_weight*` Mul of two variables (through `read`
/// Identities, and `Enter`s when the Mul is inside while loops), those
/// variables, mask first. The gradient ops of a masked weight carry its name
/// too, but multiply a gradient, not two variables.
fn masked_weight_operands(def: &GraphDef) -> BTreeMap<String, (String, String)> {
    let by_name: HashMap<&str, &NodeDef> = def.node.iter().map(|n| (n.name.as_str(), n)).collect();
    // The stored tensor behind an input; for a partitioned variable, the read
    // of the concatenated parts (named like the variable).
    let source = |input: &str| -> Option<String> {
        let (read, start) = origin(&by_name, input);
        match start? {
            Origin::Stored(name) => Some(name.to_string()),
            Origin::Concat(concat) => {
                let (_, parts) = concat.input.split_last()?;
                let all_parts = parts.iter().all(|p| matches!(origin(&by_name, p).1, Some(Origin::Stored(_))));
                all_parts.then(|| read.to_string())
            }
        }
    };
    def.node
        .iter()
        .filter(|n| n.op == "Mul" && n.name.contains("masked_weight") && n.input.len() >= 2)
        .filter_map(|n| {
            let a = source(&n.input[0])?;
            let b = source(&n.input[1])?;
            let pair = if b.ends_with("mask") && !a.ends_with("mask") { (b, a) } else { (a, b) };
            Some((n.name.clone(), pair))
        })
        .collect()
}

enum Origin<'g> {
    /// A variable or a constant.
    Stored(&'g str),
    /// The `ConcatV2` joining a partitioned variable's parts.
    Concat(&'g NodeDef),
}

/// Where the chain of reads and loop `Enter`s ending in `input` starts, and
/// the last node of the chain before it; `None` when it starts elsewhere
/// or loops (a hostile graph).
fn origin<'g>(by_name: &HashMap<&str, &'g NodeDef>, input: &'g str) -> (&'g str, Option<Origin<'g>>) {
    let mut name = node_name(input);
    let mut seen = HashSet::new();
    while seen.insert(name) {
        let Some(n) = by_name.get(name) else { break };
        if crate::transform::is_variable(n) || n.op == "Const" {
            return (name, Some(Origin::Stored(name)));
        }
        if !matches!(n.op.as_str(), "Identity" | "ReadVariableOp" | "Enter" | "RefEnter") {
            break;
        }
        let Some(next) = n.input.first().and_then(|i| by_name.get(node_name(i))) else { break };
        if next.op == "ConcatV2" {
            return (name, Some(Origin::Concat(next)));
        }
        name = &next.name;
    }
    (name, None)
}

/// Pairs each `S/mask` with its weight: from the graph when we have it,
/// otherwise the tensor of the same scope, dtype and shape (`S/weights`,
/// `S/kernel`, or the only candidate).
fn find_layers(
    names: &[&str],
    from_graph: &BTreeMap<String, (String, String)>,
    info: impl Fn(&str) -> Option<(DataType, Vec<u64>)>,
) -> Vec<Layer> {
    let mut layers = Vec::new();
    for mask in names.iter().filter(|n| n.ends_with("/mask")) {
        let scope = &mask[..mask.len() - "/mask".len()];
        let threshold = format!("{scope}/threshold");
        let threshold = names.contains(&threshold.as_str()).then_some(threshold);
        let graph_pair = from_graph.iter().find(|(_, (m, _))| m == mask);
        let weight = match graph_pair {
            Some((_, (_, w))) => Some(w.clone()),
            None => {
                let mask_info = info(mask);
                let candidates: Vec<&&str> = names
                    .iter()
                    .filter(|n| {
                        n.strip_prefix(scope).and_then(|r| r.strip_prefix('/')).is_some_and(|r| !r.contains('/'))
                            && **n != *mask
                            && info(n) == mask_info
                    })
                    .collect();
                ["weights", "kernel"]
                    .iter()
                    .map(|w| format!("{scope}/{w}"))
                    .find(|w| candidates.iter().any(|c| **c == w.as_str()))
                    .or_else(|| (candidates.len() == 1).then(|| candidates[0].to_string()))
            }
        };
        if let Some(weight) = weight.filter(|w| names.contains(&w.as_str())) {
            layers.push(Layer {
                masked_weight: graph_pair.map(|(mw, _)| mw.clone()),
                weight,
                mask: mask.to_string(),
                threshold,
            });
        }
    }
    layers
}

fn describe_layer(l: Layer, mask: &Tensor, weight: &Tensor, threshold: Option<&Tensor>) -> PrunedLayer {
    let elements = mask.num_elements();
    let fraction = |z: u64| if elements == 0 { 0.0 } else { z as f64 / elements as f64 };
    let mask_zeros = mask.count_zeros().unwrap_or(0);
    let product_zeros = match (&mask.data, &weight.data) {
        (TensorData::Pod(m), TensorData::Pod(w)) if mask.shape == weight.shape && mask.dtype == weight.dtype => {
            tensor::count_zero_products(mask.dtype, m, w).unwrap_or(mask_zeros)
        }
        _ => mask_zeros,
    };
    PrunedLayer {
        weight: l.weight,
        mask: l.mask,
        threshold: l.threshold,
        masked_weight: l.masked_weight,
        elements,
        threshold_value: threshold.and_then(tensor::scalar_f64),
        mask_sparsity: fraction(mask_zeros),
        masked_weight_sparsity: fraction(product_zeros),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn masks_pair_with_weights_through_nested_loop_enters() {
        let mw = "outer/inner/cell/weights/masked_weight";
        let def = GraphDef {
            node: vec![
                node("cell/kernel", "VariableV2", &[]),
                node("cell/kernel/read", "Identity", &["cell/kernel"]),
                node("cell/mask", "VariableV2", &[]),
                node("cell/mask/read", "Identity", &["cell/mask"]),
                node("outer/k", "Enter", &["cell/kernel/read"]),
                node("outer/inner/k", "Enter", &["outer/k"]),
                node("outer/m", "Enter", &["cell/mask/read"]),
                node("outer/inner/m", "Enter", &["outer/m"]),
                node(mw, "Mul", &["outer/inner/k", "outer/inner/m", "^outer/inner/pivot"]),
                // A gradient of the masked weight multiplies something computed.
                node("gradients/masked_weight_grad/Mul", "Mul", &["gradients/g", "outer/inner/m"]),
                node("gradients/g", "Placeholder", &[]),
                // Hostile: a chain of Enters that comes back to itself.
                node("a", "Enter", &["b"]),
                node("b", "Enter", &["a"]),
                node("looping/masked_weight", "Mul", &["a", "cell/mask/read"]),
            ],
            ..Default::default()
        };
        let pairs = masked_weight_operands(&def);
        let want = ("cell/mask".to_string(), "cell/kernel".to_string());
        assert_eq!(pairs.into_iter().collect::<Vec<_>>(), [(mw.to_string(), want)]);
    }
}
