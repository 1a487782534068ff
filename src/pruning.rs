//! The one recogniser of contrib.model_pruning's structure. `strip` folds
//! what it calls masked weights, `inspect` reports the layers it finds,
//! `inject` leaves alone the weights it finds masked. Its rules:
//!
//! - A tensor's **source** is where the chain of reads behind it starts: the
//!   walk goes back through `Identity`, `Snapshot`, `StopGradient`,
//!   `ReadVariableOp` and the `Enter`/`RefEnter` carrying a value into a
//!   while loop, and ends at a variable or a constant (a frozen graph's), or
//!   at the `ConcatV2` joining a partitioned variable's stored parts (the
//!   source is then the read of the joined parts, named like the variable).
//! - A **mask** is a source in the `masks` collection, or named `<scope>/mask`
//!   or, for a part of a partitioned mask, `<scope>/mask/part_<i>`.
//! - A **masked weight** is a node whose name contains `masked_weight`, as
//!   TensorFlow's `strip_pruning_vars` finds them, or a `Mul` with a mask
//!   among its operands; but not a `Const`, and not the plumbing named after
//!   it: an `Enter` carrying an operand into a loop, a read of a variable
//!   (`masked_weight/ReadVariableOp` of a resource variable).
//! - A **pruned layer** is a masked weight that is a `Mul` of two sources,
//!   one of them a mask: its mask, its weight (the other), the threshold
//!   `<scope>/threshold` when the graph has it. A masked weight's gradient
//!   ops carry its name too but multiply a computed gradient: no layer.
//! - In a checkpoint, each `<scope>/mask` is a layer: paired with its weight
//!   as the graph beside it pairs them, or, when the graph does not say (or
//!   there is none), with the tensor of the same scope, dtype and shape:
//!   `<scope>/weights`, `<scope>/kernel` or the only other one
//!   ([`checkpoint_layers`]).
//!
//! Every walk is iterative, with a visited set.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use crate::graph::ops::{enters_frame, is_const, is_stored, CONCAT};
use crate::graph::{behind, node_name, Graph, Inputs, Through};
use crate::proto::tensorflow::{DataType, NodeDef};

/// What a chain of reads goes through: reads of variables and the Enters
/// that carry them into loops.
const READS: Through = Through::VALUE.union(Through::READ).union(Through::ENTER);

/// A pruned layer as the graph shows it (names of nodes, or of checkpoint
/// tensors for [`checkpoint_layers`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Layer {
    pub weight: String,
    pub mask: String,
    pub threshold: Option<String>,
    /// The `Mul(mask, weight)` node; none when found in a checkpoint alone.
    pub masked_weight: Option<String>,
    /// Parts of a partitioned weight (0 when not partitioned).
    pub partitions: usize,
}

/// Where a tensor's chain of reads starts.
struct Source<'g> {
    /// The variable or constant; for a partitioned one, the read of its parts.
    name: &'g str,
    /// The stored parts of a partitioned variable.
    parts: Vec<&'g str>,
}

/// Where the chain of reads ending in `input` starts.
#[derive(Clone, Copy)]
enum Start<'g> {
    /// A variable or constant.
    Stored(&'g str),
    /// The `ConcatV2` joining a partitioned variable's parts, and the read of it.
    Concat { read: &'g str, concat: &'g NodeDef },
}

/// Walks chains of reads, remembering where each node's starts, so that
/// recognising a graph takes time linear in its size whatever its chains.
struct Walker<'g> {
    graph: &'g Graph,
    starts: RefCell<HashMap<&'g str, Option<Start<'g>>>>,
}

impl<'g> Walker<'g> {
    fn new(graph: &'g Graph) -> Self {
        Walker { graph, starts: RefCell::new(HashMap::new()) }
    }

    /// Follows reads back from `input`; `None` when the chain starts at
    /// something computed (or loops, in a hostile graph).
    fn start(&self, input: &'g str) -> Option<Start<'g>> {
        let mut path: Vec<&'g str> = Vec::new();
        let mut found = None;
        for node in behind(self.graph, node_name(input), READS) {
            let name = node.name.as_str();
            if let (Some(&read), CONCAT) = (path.last(), node.op.as_str()) {
                found = Some(Start::Concat { read, concat: node });
                break;
            }
            if let Some(known) = self.starts.borrow().get(name) {
                found = *known;
                break;
            }
            path.push(name);
            if is_stored(node) {
                found = Some(Start::Stored(name));
                break;
            }
        }
        let mut starts = self.starts.borrow_mut();
        for n in path {
            starts.insert(n, found);
        }
        found
    }

    /// The source of `input`: a stored tensor, or the read of a partitioned
    /// variable's parts, each of them stored (through their own reads).
    fn source(&self, input: &'g str) -> Option<Source<'g>> {
        match self.start(input)? {
            Start::Stored(name) => Some(Source { name, parts: Vec::new() }),
            Start::Concat { read, concat } => {
                let (_, parts) = concat.input.split_last()?;
                let parts = parts
                    .iter()
                    .map(|p| match self.start(p)? {
                        Start::Stored(part) => Some(part),
                        Start::Concat { .. } => None,
                    })
                    .collect::<Option<Vec<&str>>>()?;
                Some(Source { name: read, parts })
            }
        }
    }

    fn masked_weights(&self, masks: &HashSet<String>) -> Vec<&'g NodeDef> {
        let graph = self.graph;
        // Reads named after the masked weight they feed (a resource variable's
        // `masked_weight/ReadVariableOp`, the Enters into a loop) are plumbing.
        let plumbing = |n: &'g NodeDef| {
            enters_frame(&n.op) || (READS.passes(&n.op) && matches!(self.start(&n.name), Some(Start::Stored(_))))
        };
        let by_structure = |n: &'g NodeDef| {
            n.op == "Mul" && n.data_inputs().map(|r| r.node).any(|i| self.source(i).is_some_and(|s| is_mask(&s, masks)))
        };
        graph
            .nodes()
            .iter()
            .filter(|n| !is_const(n))
            .filter(|n| (n.name.contains("masked_weight") && !plumbing(n)) || by_structure(n))
            .collect()
    }
}

fn is_mask_name(name: &str, masks: &HashSet<String>) -> bool {
    masks.contains(name) || name.ends_with("/mask") || name.contains("/mask/part_")
}

fn is_mask(source: &Source, masks: &HashSet<String>) -> bool {
    is_mask_name(source.name, masks) || (!source.parts.is_empty() && source.parts.iter().all(|p| is_mask_name(p, masks)))
}

/// The masked weights of `graph`, in graph order: what `strip` folds.
/// `masks` is the `masks` collection, when the graph came with one.
pub fn masked_weights<'g>(graph: &'g Graph, masks: &HashSet<String>) -> Vec<&'g NodeDef> {
    Walker::new(graph).masked_weights(masks)
}

/// The pruned layers of `graph`, in graph order.
pub fn layers(graph: &Graph, masks: &HashSet<String>) -> Vec<Layer> {
    let walker = Walker::new(graph);
    walker
        .masked_weights(masks)
        .into_iter()
        .filter(|n| n.op == "Mul")
        .filter_map(|n| {
            let [a, b] = n.data_inputs().map(|r| r.node).collect::<Vec<_>>()[..] else { return None };
            let (a, b) = (walker.source(a)?, walker.source(b)?);
            // contrib multiplies mask first; a Mul found by its name alone is read so too.
            let (mask, weight) = match (is_mask(&a, masks), is_mask(&b, masks)) {
                (false, true) => (b, a),
                (true, _) => (a, b),
                (false, false) if n.name.contains("masked_weight") => (a, b),
                (false, false) => return None,
            };
            let threshold = mask.name.strip_suffix("/mask").map(|scope| format!("{scope}/threshold"));
            Some(Layer {
                threshold: threshold.filter(|t| graph.contains(t)),
                masked_weight: Some(n.name.clone()),
                partitions: weight.parts.len(),
                weight: weight.name.to_string(),
                mask: mask.name.to_string(),
            })
        })
        .collect()
}

/// The layers of a checkpoint whose tensors are `names` (`info` gives a
/// tensor's dtype and shape), paired as `graph_layers` (the `layers` of the
/// graph beside it) pair them, else by name.
pub fn checkpoint_layers(
    names: &[&str],
    graph_layers: &[Layer],
    info: impl Fn(&str) -> Option<(DataType, Vec<u64>)>,
) -> Vec<Layer> {
    let mut layers = Vec::new();
    for mask in names.iter().filter(|n| n.ends_with("/mask")) {
        let scope = &mask[..mask.len() - "/mask".len()];
        let threshold = format!("{scope}/threshold");
        let threshold = names.contains(&threshold.as_str()).then_some(threshold);
        if let Some(l) = graph_layers.iter().find(|l| l.mask == *mask) {
            if names.contains(&l.weight.as_str()) {
                layers.push(Layer { threshold, ..l.clone() });
            }
            continue;
        }
        let mask_info = info(mask);
        let candidates: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| {
                n.strip_prefix(scope).and_then(|r| r.strip_prefix('/')).is_some_and(|r| !r.contains('/'))
                    && n != mask
                    && info(n) == mask_info
            })
            .collect();
        let weight = ["weights", "kernel"]
            .iter()
            .map(|w| format!("{scope}/{w}"))
            .find(|w| candidates.contains(&w.as_str()))
            .or_else(|| (candidates.len() == 1).then(|| candidates[0].to_string()));
        if let Some(weight) = weight {
            layers.push(Layer { weight, mask: mask.to_string(), threshold, masked_weight: None, partitions: 0 });
        }
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeBuilder;
    use crate::proto::tensorflow::GraphDef;

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeBuilder::new(op).inputs(inputs.iter().copied()).build(name)
    }

    fn graph(nodes: Vec<NodeDef>) -> Graph {
        Graph::new(GraphDef { node: nodes, ..Default::default() }).unwrap()
    }

    fn variables(scope: &str) -> Vec<NodeDef> {
        ["weights", "mask", "threshold"]
            .iter()
            .flat_map(|v| {
                let name = format!("{scope}/{v}");
                [node(&name, "VariableV2", &[]), node(&format!("{name}/read"), "Identity", &[&name])]
            })
            .collect()
    }

    #[test]
    fn a_layer_by_name_by_structure_and_through_loop_enters() {
        let mut nodes = variables("fc1");
        nodes.push(node("fc1/weights/masked_weight", "Mul", &["fc1/mask/read", "fc1/weights/read"]));
        // Named otherwise, found by its mask operand.
        nodes.extend(variables("fc2"));
        nodes.push(node("fc2/product", "Mul", &["fc2/weights/read", "fc2/mask/read"]));
        // Inside two loops.
        nodes.extend(variables("cell"));
        nodes.push(node("outer/k", "Enter", &["cell/weights/read"]));
        nodes.push(node("outer/inner/k", "Enter", &["outer/k"]));
        nodes.push(node("outer/m", "Enter", &["cell/mask/read"]));
        nodes.push(node("outer/inner/masked_weight/Enter", "Enter", &["outer/m"]));
        nodes.push(node("outer/inner/masked_weight", "Mul", &["outer/inner/masked_weight/Enter", "outer/inner/k"]));
        // A resource variable's read named after the masked weight is plumbing.
        nodes.push(node("fc2/product/ReadVariableOp", "ReadVariableOp", &["fc2/weights"]));
        nodes.push(node("fc2/masked_weight/ReadVariableOp", "ReadVariableOp", &["fc2/weights"]));
        // A gradient named after a masked weight multiplies something computed.
        nodes.push(node("gradients/g", "Placeholder", &[]));
        nodes.push(node("gradients/fc1/weights/masked_weight_grad/Mul", "Mul", &["gradients/g", "fc1/mask/read"]));
        let g = graph(nodes);
        let names: Vec<&str> = masked_weights(&g, &HashSet::new()).iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["fc1/weights/masked_weight", "fc2/product", "outer/inner/masked_weight", "gradients/fc1/weights/masked_weight_grad/Mul"]
        );
        let layers = layers(&g, &HashSet::new());
        let pairs: Vec<(&str, &str, Option<&str>)> =
            layers.iter().map(|l| (l.mask.as_str(), l.weight.as_str(), l.threshold.as_deref())).collect();
        assert_eq!(
            pairs,
            [
                ("fc1/mask", "fc1/weights", Some("fc1/threshold")),
                ("fc2/mask", "fc2/weights", Some("fc2/threshold")),
                ("cell/mask", "cell/weights", Some("cell/threshold")),
            ]
        );
    }

    #[test]
    fn a_partitioned_weight_and_the_masks_collection() {
        let mut nodes: Vec<NodeDef> = (0..2)
            .flat_map(|i| {
                let (w, m) = (format!("w/part_{i}"), format!("m/part_{i}"));
                [node(&format!("{w}/read"), "Identity", &[&w]), node(&w, "VariableV2", &[]), node(&m, "VariableV2", &[])]
            })
            .collect();
        nodes.push(node("axis", "Const", &[]));
        // The parts of the weight are read, as TensorFlow's partitioned variables are.
        nodes.push(node("w/concat", "ConcatV2", &["w/part_0/read", "w/part_1/read", "axis"]));
        nodes.push(node("w", "Identity", &["w/concat"]));
        nodes.push(node("m/concat", "ConcatV2", &["m/part_0", "m/part_1", "axis"]));
        nodes.push(node("m", "Identity", &["m/concat"]));
        nodes.push(node("product", "Mul", &["w", "m"]));
        let g = graph(nodes);
        assert!(layers(&g, &HashSet::new()).is_empty(), "`m` is no mask by name");
        let masks = HashSet::from(["m/part_0".to_string(), "m/part_1".to_string()]);
        let layers = layers(&g, &masks);
        assert_eq!((layers[0].mask.as_str(), layers[0].weight.as_str(), layers[0].partitions), ("m", "w", 2));
    }

    #[test]
    fn checkpoint_masks_pair_as_the_graph_says_else_by_scope_dtype_and_shape() {
        let names = ["a/mask", "a/kernel", "a/bias", "a/threshold", "b/mask", "b/w", "c/mask"];
        let info = |n: &str| Some((DataType::DtFloat, if n.ends_with("bias") || n.ends_with("threshold") { vec![4] } else { vec![4, 4] }));
        let from_graph = [Layer {
            weight: "c/w".into(),
            mask: "c/mask".into(),
            threshold: None,
            masked_weight: Some("c/mw".into()),
            partitions: 0,
        }];
        let names = [&names[..], &["c/w"]].concat();
        let layers = checkpoint_layers(&names, &from_graph, info);
        let pairs: Vec<(&str, &str)> = layers.iter().map(|l| (l.mask.as_str(), l.weight.as_str())).collect();
        assert_eq!(pairs, [("a/mask", "a/kernel"), ("b/mask", "b/w"), ("c/mask", "c/w")]);
        assert_eq!(layers[0].threshold.as_deref(), Some("a/threshold"));
        assert_eq!(layers[2].masked_weight.as_deref(), Some("c/mw"));
    }

    #[test]
    fn a_loop_of_reads_is_no_source() {
        // Graph::new refuses such a graph; a pass could still make one.
        let mut g = Graph::default();
        g.add(node("a", "Enter", &["b"])).unwrap();
        g.add(node("b", "Enter", &["a"])).unwrap();
        assert!(Walker::new(&g).source("a").is_none());
    }
}
