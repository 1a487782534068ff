//! What `pruning.apply_mask` creates per weight: `S/mask`, `S/threshold`,
//! `S/weights/masked_weight = Mul(mask, weight)`, and the rewiring of the
//! weight's readers onto the masked weight.

use std::collections::HashMap;

use super::builder::{join, Node, Ops};
use super::select::{Consumers, VarKind, Weight};
use super::variables::{self, Slice, Spec, Variable};
use super::InjectError;
use crate::graph::{Graph, InputRef};
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
    /// Optimizer updates whose gradient is now multiplied by the mask.
    pub masked_gradients: Vec<String>,
    /// Updates of the weight whose gradient could not be masked (unknown optimizer ops).
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
            format!("{}:0", self.weight.name)
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
    consumers: &Consumers,
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
        Node::new("Mul")
            .input(mask_value)
            .input(weight_value)
            .ty("T", dtype),
    )?;
    let rewired = rewire(graph, consumers, &weight.reads, &masked_weight)?;
    let (masked_gradients, unmasked_updates) =
        mask_gradients(graph, consumers, &weight, &mask_parts)?;
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
    top.add(name, Node::new("Identity").input(concat).ty("T", dtype))
}

/// Points every reader of `reads` at `masked` except the masked weight itself,
/// the optimizer's updates (they take the variable, not a read, but resource
/// optimizers may read it too) and the saver.
fn rewire(
    graph: &mut Graph,
    consumers: &Consumers,
    reads: &[String],
    masked: &str,
) -> Result<Vec<String>, InjectError> {
    let mut rewired = Vec::new();
    for read in reads {
        for consumer in consumers.get(read).into_iter().flatten() {
            let Some(node) = graph.node(consumer) else {
                continue;
            };
            if consumer == masked || consumer.starts_with("save/") || node.op.contains("Apply") {
                continue;
            }
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

/// Where the gradient goes in TensorFlow's dense optimizer updates (the
/// `Resource` variants take the same inputs).
fn gradient_input(op: &str) -> Option<usize> {
    Some(match op.strip_prefix("Resource").unwrap_or(op) {
        "ApplyGradientDescent" => 2,
        "ApplyMomentum" | "ApplyKerasMomentum" | "ApplyAdagrad" | "ApplyFtrl" | "ApplyFtrlV2"
        | "ApplyAdagradDA" => 3,
        "ApplyAdagradV2" | "ApplyProximalGradientDescent" => 4,
        "ApplyProximalAdagrad" => 5,
        "ApplyAdadelta" | "ApplyAddSign" | "ApplyPowerSign" => 6,
        "ApplyRMSProp" => 7,
        "ApplyCenteredRMSProp" | "ApplyAdaMax" => 8,
        "ApplyAdam" => 9,
        "ApplyAdamWithAmsgrad" => 10,
        _ => return None,
    })
}

/// The training graph's backward pass was derived for the unmasked weight;
/// through `Mul(mask, W)` the weight's gradient is the mask times the
/// gradient of the masked weight (what contrib's graphs compute), so masked
/// weights stay where they were pruned.
fn mask_gradients(
    graph: &mut Graph,
    consumers: &Consumers,
    weight: &Weight,
    masks: &[Variable],
) -> Result<(Vec<String>, Vec<String>), InjectError> {
    let mut masked = Vec::new();
    let mut unknown = Vec::new();
    for (part, mask) in weight.parts.iter().zip(masks) {
        let updates: Vec<_> = consumers
            .get(&part.var)
            .into_iter()
            .flatten()
            .filter_map(|n| graph.node(n))
            .filter(|n| n.op.contains("Apply") && n.input.first().is_some_and(|v| v == &part.var))
            .cloned()
            .collect();
        for mut update in updates {
            let Some(grad) = gradient_input(&update.op)
                .and_then(|i| update.input.get(i).map(|g| (i, g.clone())))
            else {
                unknown.push(update.name.clone());
                continue;
            };
            let (i, grad) = grad;
            let mut ops = Ops::new(&mut *graph, &update.name);
            let product = Node::new("Mul")
                .input(grad)
                .input(&mask.read)
                .ty("T", weight.dtype);
            update.input[i] = ops.add("masked_gradient", product)?;
            masked.push(update.name.clone());
            graph.replace(update)?;
        }
    }
    Ok((masked, unknown))
}
