//! The job of `strip_pruning_vars`: freeze the variables the outputs need,
//! fold every masked weight, and keep only what the outputs need.

use std::collections::HashSet;

use super::{drop_dangling_colocation, fold_masks, freeze, MaskedWeight, Result, VariableSource};
use crate::graph::ops::is_const;
use crate::graph::{extract_subgraph, Attrs, Graph};

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
    for node in graph.nodes().iter().filter(|n| is_const(n) && !folded.contains(n.name.as_str())) {
        if let Some(t) = node.tensor_value().ok().and_then(|t| crate::tensor::from_proto(t).ok()) {
            let n = t.num_elements();
            params += n;
            nonzeros += n - t.count_zeros().unwrap_or(0);
        }
    }
    (params, nonzeros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;
    use crate::transform::testing::*;

    /// input -> MatMul(masked_weight) -> output, with the pruning machinery beside it.
    fn pruned_layer() -> Graph {
        graph(vec![
            op("input", "Placeholder", &[]),
            ref_variable("fc/weights", &[2]),
            op("fc/weights/read", "Identity", &["fc/weights"]),
            ref_variable("fc/mask", &[2]),
            op("fc/mask/read", "Identity", &["fc/mask"]),
            ref_variable("fc/threshold", &[]),
            op("fc/weights/masked_weight", "Mul", &["fc/mask/read", "fc/weights/read"]),
            op("output", "Mul", &["input", "fc/weights/masked_weight"]),
            op("model_pruning/mask_update", "Assign", &["fc/mask", "fc/threshold"]),
        ])
    }

    #[test]
    fn folds_masks_freezes_the_rest_and_keeps_what_the_outputs_need() {
        let ckpt = checkpoint(&[
            ("fc/weights", Tensor::from_f32s(&[2], &[-3.0, 5.0])),
            ("fc/mask", Tensor::from_f32s(&[2], &[0.0, 1.0])),
            ("fc/threshold", Tensor::from_f32s(&[], &[4.0])),
        ]);
        let mut g = pruned_layer();
        let options = StripOptions { outputs: vec!["output".into()], ..Default::default() };
        let report = strip(&mut g, &VariableSource::new(&ckpt.checkpoint, &[]), &options).unwrap();
        let names: Vec<&str> = g.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["input", "fc/weights/masked_weight", "output"]);
        let folded = crate::tensor::from_proto(g.node("fc/weights/masked_weight").unwrap().tensor_value().unwrap()).unwrap();
        // mask * weight as TensorFlow computes it: a masked negative weight is -0.0.
        assert_eq!(folded.f32s().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>(), [(-0.0f32).to_bits(), 5.0f32.to_bits()]);
        assert_eq!((report.masked_weights.len(), report.masked_weights[0].zeros), (1, 1));
        assert_eq!((report.params, report.nonzeros, report.nodes_in, report.nodes_out), (2, 1, 9, 3));
    }

    #[test]
    fn an_unknown_output_is_an_error_naming_the_nearest() {
        let ckpt = checkpoint(&[]);
        let options = StripOptions { outputs: vec!["outptu".into()], ..Default::default() };
        let err = strip(&mut pruned_layer(), &VariableSource::new(&ckpt.checkpoint, &[]), &options).unwrap_err();
        assert!(err.to_string().contains("nearest names: output"), "{err}");
    }
}
