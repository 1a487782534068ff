//! What `pruning.apply_mask` creates per weight: `S/mask`, `S/threshold`,
//! `S/weights/masked_weight = Mul(mask, weight)`, and the rewiring of the
//! weight's readers onto the masked weight.

use std::collections::{HashMap, HashSet};

use super::builder::{join, Ops};
use crate::graph::ops::IDENTITY;
use crate::graph::{Graph, InputRef, NodeBuilder, Readers};
use super::select::{VarKind, Weight};
use super::variables::{self, Slice, Spec, Variable};
use super::InjectError;
use crate::proto::tensorflow::DataType;

pub struct Masked {
    pub weight: Weight,
    /// The variable scope `S` of the mask.
    pub scope: String,
    /// One variable, or one per partition of a partitioned weight.
    pub mask_parts: Vec<Variable>,
    /// The mask's full value (`S/mask/read`, or the partitions' concatenation).
    pub mask: String,
    pub threshold: Variable,
    pub masked_weight: String,
    /// Nodes that now read the masked weight.
    pub rewired: Vec<String>,
    /// Optimizer updates whose gradient now has the layer's part multiplied by the mask.
    pub masked_gradients: Vec<String>,
    /// Updates of the weight in whose inputs no gradient of its layers was found.
    pub unmasked_updates: Vec<String>,
}

impl Masked {
    /// The mask as the `masks` collection names it: the tensor of a variable,
    /// the full name of a partitioned one (as a PartitionedVariable is listed).
    pub fn mask_entry(&self) -> String {
        if self.weight.partitioned() {
            format!("{}/mask", self.scope)
        } else {
            format!("{}/mask:0", self.scope)
        }
    }

    pub fn weight_entry(&self) -> String {
        if self.weight.partitioned() {
            self.weight.name.clone()
        } else {
            InputRef::tensor_name(&self.weight.name, 0)
        }
    }
}

/// Variable scope of each weight's mask: the weight's own scope, unless two
/// weights share it (then the weight's name, so masks do not collide).
pub fn scopes(graph: &Graph, weights: &[Weight]) -> Vec<String> {
    let parent = |w: &Weight| {
        w.name
            .rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default()
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for w in weights {
        *count.entry(parent(w)).or_default() += 1;
    }
    weights
        .iter()
        .map(|w| {
            let p = parent(w);
            let free =
                !graph.contains(&join(&p, "mask")) && !graph.contains(&join(&p, "threshold"));
            if p.is_empty() || count[&p] > 1 || !free {
                w.name.clone()
            } else {
                p
            }
        })
        .collect()
}

pub fn apply_mask(
    graph: &mut Graph,
    readers: &Readers,
    weight: Weight,
    scope: String,
) -> Result<Masked, InjectError> {
    let dtype = weight.dtype;
    let mut ops = Ops::new(graph, &scope);
    let mask_name = format!("{scope}/mask");
    let mut mask_parts = Vec::new();
    for part in &weight.parts {
        let (name, slice) = if weight.partitioned() {
            let index = mask_parts.len();
            let slice = Slice {
                full_name: mask_name.clone(),
                full_shape: weight.shape.clone(),
                offset: part.offset.clone(),
            };
            (format!("{mask_name}/part_{index}"), Some(slice))
        } else {
            (mask_name.clone(), None)
        };
        let spec = Spec {
            name: &name,
            kind: weight.kind,
            dtype,
            shape: &part.shape,
            init: 1.0,
            device: &weight.device,
            slice,
        };
        mask_parts.push(variables::create(&mut ops, spec)?);
    }
    let mask = if weight.partitioned() {
        let reads: Vec<String> = mask_parts.iter().map(|v| v.read.clone()).collect();
        join_partitions(&mut ops, &mask_name, &reads, weight.concat_axis, dtype)?
    } else {
        mask_parts[0].read.clone()
    };
    let threshold = variables::create(
        &mut ops,
        Spec {
            name: &format!("{scope}/threshold"),
            kind: weight.kind,
            dtype,
            shape: &[],
            init: 0.0,
            device: &weight.device,
            slice: None,
        },
    )?;
    let mut mw = ops.scoped("weights");
    let (mask_value, weight_value) = match (&weight.joined, weight.kind) {
        (Some(joined), _) => (mask.clone(), joined.clone()),
        (None, VarKind::Ref) => (mask.clone(), weight.reads[0].clone()),
        (None, VarKind::Resource) => {
            let mut reads = mw.scoped("masked_weight");
            let m = variables::read_now(&mut reads, &mask_parts[0].name, weight.kind, dtype)?;
            let w = variables::read_now(&mut reads, &weight.name, weight.kind, dtype)?;
            (m, w)
        }
    };
    let masked_weight = mw.add(
        "masked_weight",
        NodeBuilder::new("Mul")
            .input(&mask_value)
            .input(weight_value)
            .ty("T", dtype),
    )?;
    let rewired = rewire(graph, readers, &weight, &masked_weight)?;
    let (masked_gradients, unmasked_updates) =
        mask_gradients(graph, readers, &weight, &mask_value, &masked_weight)?;
    Ok(Masked {
        weight,
        scope,
        mask_parts,
        mask,
        threshold,
        masked_weight,
        rewired,
        masked_gradients,
        unmasked_updates,
    })
}

/// `S/mask` = Identity(ConcatV2(parts, axis)), as a PartitionedVariable reads.
fn join_partitions(
    ops: &mut Ops,
    name: &str,
    reads: &[String],
    axis: usize,
    dtype: DataType,
) -> Result<String, InjectError> {
    let mut top = Ops::new(&mut *ops.graph, "");
    let concat = top
        .scoped(&format!("{name}/ConcatPartitions"))
        .concat(reads, axis, dtype)?;
    top.add(name, NodeBuilder::new(IDENTITY).input(concat).ty("T", dtype))
}

/// Points the layer ops (`weight.readers`) and their gradient ops at
/// `masked`, as contrib's layers consume `apply_mask`'s result. Every other
/// reader (weight decay, summaries, moving averages, the saver) keeps the
/// variable's value.
fn rewire(
    graph: &mut Graph,
    readers: &Readers,
    weight: &Weight,
    masked: &str,
) -> Result<Vec<String>, InjectError> {
    let mut rewired = Vec::new();
    for read in &weight.reads {
        for consumer in &readers.data_reader_names(graph, read) {
            let layer = weight.readers.contains(consumer)
                || weight
                    .readers
                    .iter()
                    .any(|r| gradient_prefix(consumer, r).is_some());
            let Some(node) = graph.node(consumer).filter(|_| layer) else {
                continue;
            };
            let mut node = node.clone();
            for input in &mut node.input {
                let Some(r) = InputRef::parse(input) else { continue };
                if !r.control && r.port == 0 && r.node == read {
                    *input = masked.to_string();
                }
            }
            if !rewired.contains(consumer) {
                rewired.push(consumer.clone());
            }
            graph.replace(node)?;
        }
    }
    Ok(rewired)
}

/// The gradient name scope of `node` when it is one of the ops TensorFlow's
/// `gradients()` built for `op`: `<gradients scope>/<op>_grad/...`, the scope
/// named `gradients` or `gradients_N`, possibly nested in a user's scope.
fn gradient_prefix<'n>(node: &'n str, op: &str) -> Option<&'n str> {
    let needle = format!("/{op}_grad/");
    let is_gradients = |scope: &str| match scope.strip_prefix("gradients") {
        Some("") => true,
        Some(n) => n
            .strip_prefix('_')
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    };
    node.match_indices(&needle)
        .map(|(i, _)| &node[..i])
        .find(|prefix| is_gradients(prefix.rsplit('/').next().unwrap_or(prefix)))
}

/// Through `Mul(mask, W)` the gradient of `W` is the mask times the gradient
/// of the masked weight, and that only for what backpropagates through the
/// layer: contrib's regularizers read `W`, so their gradients reach the
/// optimizer unmasked. So each gradient a layer's gradient ops produce for
/// the weight is multiplied by the mask where it leaves them, before it is
/// summed with any other; the optimizer then applies exactly contrib's sum.
/// Returns the optimizer updates that got masked layer gradients and those
/// in which none could be traced.
fn mask_gradients(
    graph: &mut Graph,
    readers: &Readers,
    weight: &Weight,
    mask: &str,
    masked_weight: &str,
) -> Result<(Vec<String>, Vec<String>), InjectError> {
    let mut masked = Vec::new();
    let mut unknown = Vec::new();
    let mut products: HashMap<String, String> = HashMap::new();
    for part in &weight.parts {
        let mut updates = readers.data_reader_names(graph, &part.var);
        updates.retain(|n| {
            graph.node(n).is_some_and(|n| {
                n.op.contains("Apply") && n.input.first().is_some_and(|v| v == &part.var)
            })
        });
        for update in updates {
            let found = layer_gradients(graph, weight, &update);
            if found.is_empty() {
                unknown.push(update);
                continue;
            }
            for LayerGradient {
                tensor,
                prefix,
                scope,
            } in found
            {
                if products.contains_key(&tensor) {
                    continue;
                }
                let product = Ops::new(&mut *graph, &format!("{prefix}/{masked_weight}_grad"))
                    .add(
                        "Mul",
                        NodeBuilder::new("Mul")
                            .input(&tensor)
                            .input(mask)
                            .ty("T", weight.dtype),
                    )?;
                // Both are inputs of nodes of the graph, which Graph::new parsed.
                let source = InputRef::parse(&tensor);
                let reads_source = |i: &String| source.is_some() && InputRef::parse(i) == source;
                // Everything outside the layer's gradient ops that took the
                // weight's gradient (the optimizer, a sum, gradient clipping)
                // takes the masked one, as it would from contrib's graph.
                let takers: Vec<String> = graph
                    .nodes()
                    .iter()
                    .filter(|n| n.name != product && !n.name.starts_with(&scope))
                    .filter(|n| n.input.iter().any(reads_source))
                    .map(|n| n.name.clone())
                    .collect();
                for name in takers {
                    let mut node = graph.require(&name)?.clone();
                    for input in &mut node.input {
                        if reads_source(input) {
                            *input = product.clone();
                        }
                    }
                    graph.replace(node)?;
                }
                products.insert(tensor, product);
            }
            masked.push(update);
        }
    }
    Ok((masked, unknown))
}

/// A gradient of the weight as one of its layers' gradient ops output it.
struct LayerGradient {
    tensor: String,
    /// The `gradients` name scope it was built in.
    prefix: String,
    /// `<prefix>/<layer op>_grad/`.
    scope: String,
}

/// The layer gradients the update `update` applies: walking back from its
/// inputs, the first tensors produced inside a reader's gradient scope.
/// Whatever else reaches the update (a regularizer's gradient, a sum, a
/// clipping factor) is walked through and left as it is.
fn layer_gradients(graph: &Graph, weight: &Weight, update: &str) -> Vec<LayerGradient> {
    let mut found: Vec<LayerGradient> = Vec::new();
    let mut seen: HashSet<String> = HashSet::from([update.to_string()]);
    let mut stack = vec![(update.to_string(), 1)];
    while let Some((name, skip)) = stack.pop() {
        let Some(node) = graph.node(&name) else {
            continue;
        };
        for input in node.input.iter().skip(skip) {
            let Some(r) = InputRef::parse(input).filter(|r| !r.control) else {
                continue;
            };
            let layer = weight.readers.iter().find_map(|reader| {
                let prefix = gradient_prefix(r.node, reader)?;
                Some((prefix.to_string(), format!("{prefix}/{reader}_grad/")))
            });
            if let Some((prefix, scope)) = layer {
                if !found.iter().any(|g| &g.tensor == input) {
                    found.push(LayerGradient {
                        tensor: input.clone(),
                        prefix,
                        scope,
                    });
                }
                continue;
            }
            if seen.insert(r.node.to_string()) {
                stack.push((r.node.to_string(), 0));
            }
        }
    }
    found
}
