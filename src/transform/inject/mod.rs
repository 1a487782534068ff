//! `inject`: adds gradual magnitude pruning (contrib.model_pruning's graph)
//! to an exported TF1 training graph. Per weight it adds what `apply_mask`
//! adds; under the hparams' name scope, what the `Pruning` object adds: the
//! schedule, `last_mask_update_step`, the mask updates inside a conditional
//! that runs them only on pruning steps, and the summaries. The graph's saver
//! and collections are extended so TensorFlow's own tools see the new
//! variables.

mod builder;
mod collections;
mod control;
mod hparams;
mod masks;
mod saver;
mod schedule;
mod select;
mod summaries;
mod update;
mod variables;

use std::collections::HashSet;

use regex::Regex;
use serde::Serialize;

pub use hparams::{HparamsError, PruningHparams};
pub use update::Structure;

use builder::{Node, Ops};
use masks::Masked;
use select::{Filters, VarKind};
use variables::{Spec, Variable};

use crate::graph::{Graph, GraphError};
use crate::proto::tensorflow::{DataType, GraphDef, MetaGraphDef};

#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("invalid --pruning_hparams: {0}")]
    Hparams(HparamsError),
    #[error(
        "no prunable weight: no Conv2D, DepthwiseConv2dNative, MatMul or BatchMatMul reads a trainable variable{}",
        found(.0)
    )]
    NoWeights(Vec<String>),
    #[error("{flag} `{regex}` matches no prunable weight{}", found(.candidates))]
    NoMatch {
        flag: &'static str,
        regex: String,
        candidates: Vec<String>,
    },
    #[error(
        "the graph has no global step (no `global_step` collection, no int variable named `global_step`); \
         pass --train_op NAME so that inject creates one and the train op increments it"
    )]
    NoGlobalStep,
    #[error(
        "the MetaGraphDef has no saver_def, so the masks and thresholds could not be checkpointed; \
         export it with a tf.compat.v1.train.Saver in the graph"
    )]
    NoSaver,
    #[error("cannot extend the graph's saver: {0}")]
    Saver(String),
    #[error("the graph already has a node named `{0}`; choose another hparams name= or rename it")]
    NameTaken(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

fn found(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (prunable weights: {})", names.join(", "))
    }
}

#[derive(Debug, Clone, Default)]
pub struct InjectOptions {
    pub hparams: PruningHparams,
    /// Only weights whose variable names match one of these (all when empty).
    pub weights: Vec<Regex>,
    pub exclude: Vec<Regex>,
    pub structure: Structure,
    /// A train op to chain the conditional update after.
    pub train_op: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeightReport {
    pub weight: String,
    pub kind: &'static str,
    pub shape: Vec<u64>,
    pub partitions: usize,
    /// Where its output channels are (what `--structure=channel` prunes).
    pub out_axis: select::OutAxis,
    pub mask: String,
    pub threshold: String,
    pub masked_weight: String,
    pub rewired: Vec<String>,
    pub masked_gradients: Vec<String>,
    /// Optimizer ops updating the weight with a gradient inject could not mask.
    pub unmasked_updates: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InjectReport {
    pub weights: Vec<WeightReport>,
    pub already_masked: Vec<String>,
    pub global_step: String,
    pub created_global_step: bool,
    /// Run after every training step (unless `train_op` is set, which runs it).
    pub conditional_mask_update: String,
    /// The update itself; it sits inside the conditional.
    pub mask_update: String,
    pub sparsity: String,
    pub last_mask_update_step: String,
    pub summaries: Vec<String>,
    pub train_op: Option<String>,
    pub saver_extended: bool,
}

/// Injects pruning into a MetaGraphDef (or a bare GraphDef wrapped in one,
/// with `require_saver` false). On error `meta` is unchanged.
pub fn inject(
    meta: &mut MetaGraphDef,
    options: &InjectOptions,
    require_saver: bool,
) -> Result<InjectReport, InjectError> {
    let hp = &options.hparams;
    if require_saver && meta.saver_def.is_none() {
        return Err(InjectError::NoSaver);
    }
    let mut graph = Graph::new(meta.graph_def.clone().unwrap_or_default())?;
    let trainable: HashSet<String> = collections::names(meta, "trainable_variables")
        .into_iter()
        .collect();
    let filters = Filters {
        include: &options.weights,
        exclude: &options.exclude,
        trainable: (!trainable.is_empty()).then_some(trainable),
        masked: collections::names(meta, "kernel").into_iter().collect(),
    };
    let selection = select::select(&graph, &filters)?;
    let mut report = InjectReport {
        already_masked: selection.already_masked,
        ..Default::default()
    };
    if selection.weights.is_empty() {
        return Ok(report);
    }
    let scope_taken = |g: &Graph| {
        g.nodes()
            .iter()
            .any(|n| n.name == hp.name || n.name.starts_with(&format!("{}/", hp.name)))
    };
    if scope_taken(&graph) {
        return Err(InjectError::NameTaken(hp.name.clone()));
    }
    if let Some(t) = &options.train_op {
        graph.require(t)?;
    }
    let sparsity_map = hp.weight_sparsities().map_err(InjectError::Hparams)?;
    if !sparsity_map.is_empty() && hp.target_sparsity == 0.0 {
        return Err(InjectError::Hparams(HparamsError(
            "weight_sparsity_map scales the schedule by value/target_sparsity, so target_sparsity must not be 0".into(),
        )));
    }
    let block_map = hp.block_dims().map_err(InjectError::Hparams)?;

    let listed = collections::names(meta, "global_step");
    let step = match (
        control::find_global_step(&graph, &listed),
        &options.train_op,
    ) {
        (Some(s), _) => s,
        (None, Some(_)) => control::create_global_step(&mut graph)?,
        (None, None) => return Err(InjectError::NoGlobalStep),
    };

    let scopes = masks::scopes(&graph, &selection.weights);
    let mut masked = Vec::new();
    for (weight, scope) in selection.weights.into_iter().zip(scopes) {
        masked.push(masks::apply_mask(&mut graph, weight, scope)?);
    }

    let mut ops = Ops::new(&mut graph, &hp.name);
    let last_update = variables::create(
        &mut ops,
        Spec {
            name: &format!("{}/last_mask_update_step", hp.name),
            kind: step.kind,
            dtype: DataType::DtInt32,
            shape: &[],
            init: 0.0,
            device: "",
            slice: None,
        },
    )?;
    let plain_step = control::step_int32(&mut ops, &step, None)?;
    let sparsity = schedule::sparsity(&mut ops, hp, &plain_step)?;

    // With a train op, the update reads the step the train op leaves behind,
    // through its own schedule, so fetching the plain one never trains.
    let before = match &options.train_op {
        Some(t) => Some(control::rename_train_op(ops.graph, t)?),
        None => None,
    };
    // A global step inject created is one nothing increments yet: the train op does.
    let increment = match (&before, &step.created) {
        (Some(b), Some(_)) => {
            let one = ops.scalar("increment_global_step/value", DataType::DtInt64, 1.0)?;
            let add = Node::new("AssignAdd")
                .input(&step.name)
                .input(one)
                .input(format!("^{b}"));
            Some(ops.add("increment_global_step", add.ty("T", DataType::DtInt64))?)
        }
        _ => None,
    };
    let (update_step, update_sparsity) = match increment.as_ref().or(before.as_ref()) {
        Some(after) => {
            let mut after_train = ops.scoped("after_train_step");
            let s = control::step_int32(&mut after_train, &step, Some(after))?;
            let sp = schedule::sparsity(&mut after_train, hp, &s)?;
            (s, sp)
        }
        None => (plain_step.clone(), sparsity.clone()),
    };
    let pred = schedule::is_pruning_step(&mut ops, hp, &update_step, &last_update.read)?;
    let cond = control::cond(&mut ops, &pred)?;

    let mut assigns = Vec::new();
    {
        let mut branch = ops.branch(&hp.name, &cond.switch_t);
        for m in &masked {
            assigns.extend(update_weight(
                &mut branch,
                m,
                options,
                &update_sparsity,
                &sparsity_map,
                &block_map,
            )?);
        }
        let last = variables::assign(
            &mut branch,
            &last_update,
            &update_step,
            "last_mask_update_step_assign",
        )?;
        assigns.insert(0, last);
    }
    let mask_update = ops.branch(&hp.name, &cond.switch_t).add(
        "mask_update",
        Node::new("NoOp").inputs(assigns.iter().map(|a| format!("^{a}"))),
    )?;
    let conditional = control::merge(&mut ops, &cond, &mask_update, "conditional_mask_update")?;

    if let (Some(t), Some(b)) = (&options.train_op, &before) {
        let mut deps = vec![b.as_str(), conditional.as_str()];
        deps.extend(increment.as_deref());
        control::finish_train_op(&mut graph, t, &deps)?;
        collections::rename_tensors(meta, t, b);
    }
    let summaries = summaries::add(&mut graph, &hp.name, &sparsity, &last_update.read, &masked)?;

    let mut new_vars: Vec<&Variable> = Vec::new();
    for m in &masked {
        new_vars.extend(&m.mask_parts);
        new_vars.push(&m.threshold);
    }
    new_vars.push(&last_update);
    new_vars.extend(step.created.as_ref());
    if let Some(saver) = &meta.saver_def {
        saver::extend(&mut graph, saver, &new_vars)?;
        report.saver_extended = true;
    }

    collections::add_nodes(meta, "masks", masked.iter().map(Masked::mask_entry));
    collections::add_nodes(
        meta,
        "thresholds",
        masked.iter().map(|m| format!("{}:0", m.threshold.name)),
    );
    collections::add_nodes(
        meta,
        "masked_weights",
        masked.iter().map(|m| format!("{}:0", m.masked_weight)),
    );
    collections::add_nodes(meta, "kernel", masked.iter().map(Masked::weight_entry));
    collections::add_nodes(
        meta,
        "summaries",
        summaries.iter().map(|s| format!("{s}:0")),
    );
    collections::add_variables(meta, "variables", new_vars.iter().map(|v| v.encoded_def()));
    if let Some(created) = &step.created {
        collections::add_variables(meta, "global_step", [created.encoded_def()]);
    }

    report.weights = masked.iter().map(weight_report).collect();
    report.global_step = step.name.clone();
    report.created_global_step = step.created.is_some();
    report.conditional_mask_update = conditional;
    report.mask_update = mask_update;
    report.sparsity = sparsity;
    report.last_mask_update_step = last_update.name.clone();
    report.summaries = summaries;
    report.train_op = options.train_op.clone();
    meta.graph_def = Some(graph.into_def());
    Ok(report)
}

/// Injects into a bare GraphDef: no collections or saver to extend.
pub fn inject_graph(
    graph: &mut GraphDef,
    options: &InjectOptions,
) -> Result<InjectReport, InjectError> {
    let mut meta = MetaGraphDef {
        graph_def: Some(std::mem::take(graph)),
        ..Default::default()
    };
    let result = inject(&mut meta, options, false);
    *graph = meta.graph_def.unwrap_or_default();
    result
}

/// The ops that compute and assign one weight's threshold and mask.
fn update_weight(
    branch: &mut Ops,
    m: &Masked,
    options: &InjectOptions,
    sparsity: &str,
    sparsity_map: &[(Regex, f64)],
    block_map: &[(Regex, [i64; 2])],
) -> Result<Vec<String>, InjectError> {
    let hp = &options.hparams;
    let w = &m.weight;
    let mut ops = branch.scoped(&format!("{}_pruning_ops", w.name));
    let sparsity = match sparsity_map.iter().find(|(re, _)| re.is_match(&w.name)) {
        Some((_, target)) => {
            let scale = ops.scalar(
                "weight_sparsity/scale",
                DataType::DtFloat,
                target / hp.target_sparsity,
            )?;
            ops.binary("Mul", sparsity, &scale, DataType::DtFloat)?
        }
        None => sparsity.to_string(),
    };
    // Read inside the branch, so the values are those the train step left
    // (a concatenation made for the forward pass would be a stale copy).
    let mut reads = Vec::new();
    for part in &w.parts {
        reads.push(variables::read_now(&mut ops, &part.var, w.kind, w.dtype)?);
    }
    let value = match reads.as_slice() {
        [one] => one.clone(),
        _ => ops.concat(&reads, w.concat_axis, w.dtype)?,
    };
    let block = block_map
        .iter()
        .find(|(re, _)| re.is_match(&w.name))
        .map_or([hp.block_height, hp.block_width], |(_, dims)| *dims);
    let (threshold, mask) = update::new_mask(
        &mut ops,
        &update::Update {
            weight: &value,
            shape: &w.shape,
            dtype: w.dtype,
            sparsity: &sparsity,
            threshold: &m.threshold.read,
            decay: hp.threshold_decay,
            block,
            pooling: &hp.block_pooling_function,
            structure: options.structure,
            out_axis: w.out_axis,
        },
    )?;
    let mut assigns = vec![variables::assign(
        branch,
        &m.threshold,
        &threshold,
        &format!("{}_assign", m.threshold.name),
    )?];
    if let [part] = m.mask_parts.as_slice() {
        assigns.push(variables::assign(
            branch,
            part,
            &mask,
            &format!("{}_assign", part.name),
        )?);
        return Ok(assigns);
    }
    let sizes: Vec<i64> = w
        .parts
        .iter()
        .map(|p| p.shape[w.concat_axis] as i64)
        .collect();
    let mut split_ops = branch.scoped(&format!("{}/mask_split", m.scope));
    let sizes = split_ops.int32s("size_splits", &sizes)?;
    let axis = split_ops.scalar("split_dim", DataType::DtInt32, w.concat_axis as f64)?;
    let split = split_ops.add(
        "SplitV",
        Node::new("SplitV")
            .input(&mask)
            .input(sizes)
            .input(axis)
            .ty("T", w.dtype)
            .ty("Tlen", DataType::DtInt32)
            .int("num_split", m.mask_parts.len() as i64),
    )?;
    for (i, part) in m.mask_parts.iter().enumerate() {
        let value = if i == 0 {
            split.clone()
        } else {
            format!("{split}:{i}")
        };
        assigns.push(variables::assign(
            branch,
            part,
            &value,
            &format!("{}_assign", part.name),
        )?);
    }
    Ok(assigns)
}

fn weight_report(m: &Masked) -> WeightReport {
    WeightReport {
        weight: m.weight.name.clone(),
        kind: match m.weight.kind {
            VarKind::Ref => "ref",
            VarKind::Resource => "resource",
        },
        shape: m.weight.shape.clone(),
        partitions: m.weight.parts.len(),
        out_axis: m.weight.out_axis,
        mask: format!("{}/mask", m.scope),
        threshold: m.threshold.name.clone(),
        masked_weight: m.masked_weight.clone(),
        rewired: m.rewired.clone(),
        masked_gradients: m.masked_gradients.clone(),
        unmasked_updates: m.unmasked_updates.clone(),
    }
}
