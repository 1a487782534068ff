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
mod pruning;
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

use masks::Masked;
use select::{Filters, VarKind};
use variables::Variable;

use crate::graph::{collection_names, GraphError, Readers};
use crate::model::Model;
use crate::proto::tensorflow::{DataType, MetaGraphDef};

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
    Saver(SaverFault),
    #[error("the graph already has a node named `{0}`; choose another hparams name= or rename it")]
    NameTaken(String),
    #[error(
        "the graph already has ops under `{0}/` (pruning injected before?); \
         pass another name= in --pruning_hparams"
    )]
    ScopeTaken(String),
    #[error("variable `{0}` has no fully defined `shape` attribute")]
    UnknownShape(String),
    #[error("weight `{weight}` is {}, not floating point", .dtype.name())]
    NotFloating { weight: String, dtype: DataType },
    #[error("cannot make constants of {}", .0.name())]
    ConstantType(DataType),
    #[error("--structure=channel: `{operand}` is a batched operand of rank {rank} whose output channels are not its last axis")]
    BatchedChannels { operand: String, rank: usize },
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// Why the graph's saver cannot be extended to the new variables.
#[derive(Debug, thiserror::Error)]
pub enum SaverFault {
    #[error("only V2 savers (SaveV2/RestoreV2) can be extended")]
    NotV2,
    #[error("`{0}` lacks its tensor_names and shape_and_slices inputs")]
    SaveInputs(String),
    #[error("no SaveV2 op feeds the save tensor `{0}`")]
    NoSaveV2(String),
    #[error("`{0}` is not a constant vector of strings")]
    NotStrings(String),
    #[error("SaveV2 has no `dtypes` list")]
    NoDtypes,
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
    /// Optimizer ops updating the weight with no gradient traced to its layers (left unmasked).
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
    /// Hyperparameters contrib accepts but that look like mistakes.
    pub warnings: Vec<String>,
}

/// Injects pruning into a model: a training MetaGraphDef, whose collections
/// and saver are extended, or a bare GraphDef, which has neither. On error
/// `model` is unchanged.
pub fn inject(model: &mut Model, options: &InjectOptions) -> Result<InjectReport, InjectError> {
    let hp = &options.hparams;
    hp.validate().map_err(InjectError::Hparams)?;
    let mut scratch = MetaGraphDef::default();
    let meta = match model.meta.as_mut() {
        Some(meta) if meta.saver_def.is_none() => return Err(InjectError::NoSaver),
        Some(meta) => meta,
        // The collections a bare GraphDef does not have are written nowhere.
        None => &mut scratch,
    };
    let mut graph = model.graph.clone();
    let trainable: HashSet<String> = collection_names(meta, "trainable_variables")
        .into_iter()
        .collect();
    let filters = Filters {
        include: &options.weights,
        exclude: &options.exclude,
        trainable: (!trainable.is_empty()).then_some(trainable),
        masked: collection_names(meta, "kernel").into_iter().collect(),
        masks: collection_names(meta, "masks").into_iter().collect(),
    };
    let readers = Readers::of(&graph);
    let selection = select::select(&graph, &readers, &filters)?;
    let mut report = InjectReport {
        already_masked: selection.already_masked,
        ..Default::default()
    };
    if selection.weights.is_empty() {
        return Ok(report);
    }
    let prefix = format!("{}/", hp.name);
    if graph
        .nodes()
        .iter()
        .any(|n| n.name == hp.name || n.name.starts_with(&prefix))
    {
        return Err(InjectError::ScopeTaken(hp.name.clone()));
    }
    if let Some(t) = &options.train_op {
        graph.require(t)?;
    }
    let listed = collection_names(meta, "global_step");
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
        masked.push(masks::apply_mask(&mut graph, &readers, weight, scope)?);
    }

    let pruning = pruning::build(&mut graph, options, &step, &masked)?;
    let summaries = summaries::add(
        &mut graph,
        &hp.name,
        &pruning.sparsity,
        &pruning.last_update.read,
        &masked,
    )?;

    let mut new_vars: Vec<&Variable> = Vec::new();
    for m in &masked {
        new_vars.extend(&m.mask_parts);
        new_vars.push(&m.threshold);
    }
    new_vars.push(&pruning.last_update);
    new_vars.extend(step.created.as_ref());
    if let Some(saver) = &meta.saver_def {
        saver::extend(&mut graph, saver, &new_vars)?;
        report.saver_extended = true;
    }

    // Nothing above touched `meta`; from here on nothing fails.
    collections::record(meta, &masked, &summaries, &new_vars);
    if let Some(created) = &step.created {
        collections::add_variables(meta, "global_step", [created.encoded_def()]);
    }
    if let (Some(t), Some(before)) = (&options.train_op, &pruning.train_step) {
        collections::rename_tensors(meta, t, before);
    }
    report.weights = masked.iter().map(weight_report).collect();
    report.global_step = step.name.clone();
    report.created_global_step = step.created.is_some();
    report.conditional_mask_update = pruning.conditional;
    report.mask_update = pruning.mask_update;
    report.sparsity = pruning.sparsity;
    report.last_mask_update_step = pruning.last_update.name.clone();
    report.summaries = summaries;
    report.train_op = options.train_op.clone();
    report.warnings = hp.warnings();
    model.graph = graph;
    Ok(report)
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

#[cfg(test)]
mod tests;
