//! What is in a checkpoint or a graph: every tensor or constant with its size
//! and zero fraction, the pruning structure (weight, mask, threshold, masked
//! weight per layer), and for graphs an op histogram and the signatures.
//! Reports are plain data; the CLI renders them as a table or as JSON.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::graph::ops::is_const;
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::graph::Attrs;
use crate::model::Model;
use crate::pruning;
use crate::saved_model::{describe_signatures, SignatureReport};
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
    /// A SavedModel's or MetaGraphDef's signatures, in key order.
    pub signatures: Vec<SignatureReport>,
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
pub fn inspect_checkpoint(ckpt: &Checkpoint, meta: Option<&Model>) -> Result<CheckpointReport, CheckpointError> {
    let names: Vec<&str> = ckpt.entries().map(|(n, _)| n).collect();
    let graph_layers = meta.map(|m| pruning::layers(&m.graph, &m.collection("masks"))).unwrap_or_default();
    let layers = pruning::checkpoint_layers(&names, &graph_layers, |n| ckpt.entry(n).map(|e| (e.dtype, e.shape.clone())));
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

/// Describes a graph; constants are decoded from their `TensorProto`s.
pub fn inspect_graph(model: &Model) -> GraphReport {
    let graph = &model.graph;
    let mut ops = BTreeMap::new();
    for n in graph.nodes() {
        *ops.entry(n.op.clone()).or_insert(0) += 1;
    }
    let consts: HashMap<&str, Tensor> = graph
        .nodes()
        .par_iter()
        .filter(|n| is_const(n))
        .filter_map(|n| Some((n.name.as_str(), tensor::from_proto(n.tensor_value().ok()?).ok()?)))
        .collect();
    let mut constants: Vec<TensorRow> = consts.iter().map(|(n, t)| row(n, t, 0)).collect();
    constants.sort_by(|a, b| a.name.cmp(&b.name));

    // In a training graph, masks and weights are variables, whose values are
    // in a checkpoint; a frozen graph holds them as constants.
    let pruning = pruning::layers(graph, &model.collection("masks"))
        .into_iter()
        .filter_map(|l| {
            let (m, w) = (consts.get(l.mask.as_str())?, consts.get(l.weight.as_str())?);
            Some(describe_layer(pruning::Layer { threshold: None, ..l }, m, w, None))
        })
        .collect();
    GraphReport {
        path: model.path.display().to_string(),
        kind: format!("{:?}", model.kind),
        nodes: graph.nodes().len(),
        ops,
        totals: totals(&constants),
        constants,
        pruning,
        signatures: model.meta.as_ref().map(describe_signatures).unwrap_or_default(),
    }
}

fn describe_layer(l: pruning::Layer, mask: &Tensor, weight: &Tensor, threshold: Option<&Tensor>) -> PrunedLayer {
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
