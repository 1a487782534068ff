//! Folding `masked_weight = mask * weight` into one constant, so that masks,
//! thresholds and the pruning machinery can be dropped. A masked weight is
//! found by name, as `strip_pruning_vars` does (any node whose name contains
//! `masked_weight`), or by structure: a `Mul` one of whose operands is a mask.

use std::collections::HashSet;

use super::eval::Evaluator;
use super::freeze::VariableSource;
use crate::graph::const_node;
use super::{Result, TransformError};
use crate::graph::{node_name, Graph};
use crate::proto::tensorflow::NodeDef;

/// One folded weight, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MaskedWeight {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub elements: u64,
    pub zeros: u64,
}

/// Whether `input` is a mask: walking back through reads and the concat of a
/// partitioned mask, we reach a node of the `masks` collection or one named `*/mask`.
fn is_mask(graph: &Graph, input: &str, masks: &HashSet<String>) -> bool {
    let mut stack = vec![node_name(input).to_string()];
    let mut seen = HashSet::new();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if masks.contains(&name) || name.ends_with("/mask") || name.contains("/mask/part_") {
            return true;
        }
        if let Some(node) = graph.node(&name) {
            if matches!(node.op.as_str(), "Identity" | "ReadVariableOp" | "ConcatV2") {
                stack.extend(node.input.iter().filter(|i| !i.starts_with('^')).map(|i| node_name(i).to_string()));
            }
        }
    }
    false
}

fn is_masked_weight(graph: &Graph, node: &NodeDef, masks: &HashSet<String>) -> bool {
    node.name.contains("masked_weight")
        || (node.op == "Mul" && node.input.iter().any(|i| !i.starts_with('^') && is_mask(graph, i, masks)))
}

/// Replaces every masked weight with its value, reading masks and weights
/// from `variables` (or constants, in a frozen graph). Each layer's pages are
/// released once folded, so a large checkpoint is never resident at once.
pub fn fold_masks(graph: &mut Graph, masks: &HashSet<String>, variables: &VariableSource) -> Result<Vec<MaskedWeight>> {
    let targets: Vec<String> = graph
        .nodes()
        .iter()
        .filter(|n| n.op != "Const" && is_masked_weight(graph, n, masks))
        .map(|n| n.name.clone())
        .collect();
    let mut folded = Vec::with_capacity(targets.len());
    for name in targets {
        let mut evaluator = Evaluator::new(graph, variables);
        let value = evaluator.evaluate(&name).map_err(|msg| TransformError::Fold {
            node: name.clone(),
            msg,
        })?;
        let read = std::mem::take(&mut evaluator.read);
        folded.push(MaskedWeight {
            name: name.clone(),
            dtype: value.dtype.name().to_string(),
            shape: value.shape.clone(),
            elements: value.num_elements(),
            zeros: value.count_zeros().unwrap_or(0),
        });
        graph.replace(const_node(&name, &value))?;
        variables.release(&read);
    }
    Ok(folded)
}
