//! The job of `strip_pruning_vars`: freeze the variables the outputs need,
//! fold every masked weight, and keep only what the outputs need.

use std::collections::HashSet;

use super::{drop_dangling_colocation, fold_masks, freeze, MaskedWeight, Result, VariableSource};
use crate::graph::{extract_subgraph, Graph};
use crate::proto::tensorflow::attr_value::Value;

#[derive(Debug, Clone, Default)]
pub struct StripOptions {
    /// Output node names (`name` or `name:0`).
    pub outputs: Vec<String>,
    /// TensorFlow's tool clears device placements; keep them instead.
    pub keep_devices: bool,
    /// Node names of the `masks` collection, when the graph came with one.
    pub masks: HashSet<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StripReport {
    pub masked_weights: Vec<MaskedWeight>,
    pub variables_frozen: usize,
    pub nodes_in: usize,
    pub nodes_out: usize,
    /// Elements of all constants in the output.
    pub params: u64,
    pub nonzeros: u64,
}

pub fn strip(graph: &mut Graph, source: &VariableSource, options: &StripOptions) -> Result<StripReport> {
    let nodes_in = graph.nodes().len();
    for out in &options.outputs {
        graph.require(crate::graph::node_name(out))?;
    }
    // Like import_meta_graph: shape hints recorded at export go (they would
    // describe the graph before the rewrite), and devices unless asked.
    for node in graph.nodes_mut() {
        node.attr.remove("_output_shapes");
        if !options.keep_devices {
            node.device.clear();
        }
    }
    extract_subgraph(graph, &options.outputs)?;
    // Folding first means masks and weights are read once, straight into
    // their product, and never frozen on their own.
    let masked_weights = fold_masks(graph, &options.masks, source)?;
    extract_subgraph(graph, &options.outputs)?;
    let frozen = freeze(graph, source)?;
    extract_subgraph(graph, &options.outputs)?;
    drop_dangling_colocation(graph);

    let (params, nonzeros) = count_constants(graph, &masked_weights);
    Ok(StripReport {
        masked_weights,
        variables_frozen: frozen.len(),
        nodes_in,
        nodes_out: graph.nodes().len(),
        params,
        nonzeros,
    })
}

/// Elements and nonzeros of every constant; folded weights were counted when folded.
fn count_constants(graph: &Graph, folded: &[MaskedWeight]) -> (u64, u64) {
    let mut params: u64 = folded.iter().map(|m| m.elements).sum();
    let mut nonzeros: u64 = folded.iter().map(|m| m.elements - m.zeros).sum();
    let folded: HashSet<&str> = folded.iter().map(|m| m.constant.as_str()).collect();
    for node in graph.nodes().iter().filter(|n| n.op == "Const" && !folded.contains(n.name.as_str())) {
        if let Some(Value::Tensor(t)) = node.attr.get("value").and_then(|a| a.value.as_ref()) {
            if let Ok(t) = crate::tensor::from_proto(t) {
                let n = t.num_elements();
                params += n;
                nonzeros += n - t.count_zeros().unwrap_or(0);
            }
        }
    }
    (params, nonzeros)
}
