//! What contrib's `Pruning` object adds under the hparams' name scope: the
//! schedule, `last_mask_update_step`, each weight's threshold and mask
//! update, `mask_update`, and the conditional that runs it only on pruning
//! steps; with a train op, its chaining.

use regex::Regex;

use super::builder::{Ops};
use crate::graph::{Graph, InputRef, NodeBuilder};
use super::control::{self, GlobalStep};
use super::hparams::lookup;
use super::masks::Masked;
use super::select::VarKind;
use super::variables::{self, Spec, Variable};
use super::{schedule, update, InjectError, InjectOptions};
use crate::proto::tensorflow::DataType;

pub struct Pruning {
    /// The schedule at the current global step.
    pub sparsity: String,
    pub last_update: Variable,
    pub mask_update: String,
    pub conditional: String,
    /// Where the train op went, when the update was chained after it.
    pub train_step: Option<String>,
}

pub fn build(
    graph: &mut Graph,
    options: &InjectOptions,
    step: &GlobalStep,
    masked: &[Masked],
) -> Result<Pruning, InjectError> {
    let hp = &options.hparams;
    let sparsity_map = hp.weight_sparsities().map_err(InjectError::Hparams)?;
    let block_map = hp.block_dims().map_err(InjectError::Hparams)?;
    let mut ops = Ops::new(graph, &hp.name);
    let last_update = variables::create(
        &mut ops,
        Spec {
            name: &format!("{}/last_mask_update_step", hp.name),
            // contrib: `variable_scope(name, use_resource=use_tpu)`.
            kind: if hp.use_tpu {
                VarKind::Resource
            } else {
                step.kind
            },
            dtype: DataType::DtInt32,
            shape: &[],
            init: 0.0,
            device: "",
            slice: None,
        },
    )?;
    let plain_step = control::step_int32(&mut ops, step, None)?;
    let sparsity = schedule::sparsity(&mut ops, hp, &plain_step)?;

    // With a train op, the update reads the step the train op leaves behind,
    // through its own schedule, so fetching the plain one never trains.
    let train_step = match &options.train_op {
        Some(t) => Some(control::rename_train_op(ops.graph, t)?),
        None => None,
    };
    // A global step inject created is one nothing increments yet: the train op does.
    let increment = match (&train_step, &step.created) {
        (Some(t), Some(_)) => {
            let one = ops.scalar("increment_global_step/value", DataType::DtInt64, 1.0)?;
            let add = NodeBuilder::new("AssignAdd")
                .input(&step.name)
                .input(one)
                .after(t);
            Some(ops.add("increment_global_step", add.ty("T", DataType::DtInt64))?)
        }
        _ => None,
    };
    let (update_step, update_sparsity) = match increment.as_ref().or(train_step.as_ref()) {
        Some(after) => {
            let mut after_train = ops.scoped("after_train_step");
            let s = control::step_int32(&mut after_train, step, Some(after))?;
            let sp = schedule::sparsity(&mut after_train, hp, &s)?;
            (s, sp)
        }
        None => (plain_step, sparsity.clone()),
    };
    let pred = schedule::is_pruning_step(&mut ops, hp, &update_step, &last_update.read)?;
    let cond = control::cond(&mut ops, &pred)?;

    let mut branch = ops.branch(&hp.name, &cond.switch_t);
    let mut assigns = vec![variables::assign(
        &mut branch,
        &last_update,
        &update_step,
        "last_mask_update_step_assign",
    )?];
    for m in masked {
        assigns.extend(update_weight(
            &mut branch,
            m,
            options,
            &update_sparsity,
            &sparsity_map,
            &block_map,
        )?);
    }
    let mask_update = branch.add(
        "mask_update",
        assigns.iter().fold(NodeBuilder::new("NoOp"), |n, a| n.after(a)),
    )?;
    let conditional = control::merge(&mut ops, &cond, &mask_update, "conditional_mask_update")?;

    if let (Some(t), Some(before)) = (&options.train_op, &train_step) {
        let mut deps = vec![before.as_str(), conditional.as_str()];
        deps.extend(increment.as_deref());
        control::finish_train_op(graph, t, &deps)?;
    }
    Ok(Pruning {
        sparsity,
        last_update,
        mask_update,
        conditional,
        train_step,
    })
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
    let sparsity =
        match lookup(sparsity_map, "weight_sparsity_map", &w.name).map_err(InjectError::Hparams)? {
            Some(target) => {
                // contrib divides the two as float32 constants in the graph
                // (0.65 / 0.8 is 0.81249994 there, not 0.8125), which
                // decides round() at some steps.
                let mut ratio = ops.scoped("weight_sparsity");
                let x = ratio.scalar("x", DataType::DtFloat, *target)?;
                let y = ratio.scalar("y", DataType::DtFloat, hp.target_sparsity)?;
                let scale = ratio.binary("RealDiv", &x, &y, DataType::DtFloat)?;
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
    let block = lookup(block_map, "block_dims_map", &w.name)
        .map_err(InjectError::Hparams)?
        .map_or([hp.block_height, hp.block_width], |dims| *dims);
    let (threshold, mask) = update::new_mask(
        &mut ops,
        &update::Update {
            name: &w.name,
            weight: &value,
            shape: &w.shape,
            dtype: w.dtype,
            sparsity: &sparsity,
            threshold: &m.threshold.read,
            decay: hp.threshold_decay,
            block,
            pooling: &hp.block_pooling_function,
            factorized: hp.use_tpu,
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
    let values = match m.mask_parts.len() {
        1 => vec![mask],
        n => {
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
                NodeBuilder::new("SplitV")
                    .input(&mask)
                    .input(sizes)
                    .input(axis)
                    .ty("T", w.dtype)
                    .ty("Tlen", DataType::DtInt32)
                    .int("num_split", n as i64),
            )?;
            (0..n).map(|i| InputRef::output(&split, i as u32).to_string()).collect()
        }
    };
    for (part, value) in m.mask_parts.iter().zip(values) {
        assigns.push(variables::assign(
            branch,
            part,
            &value,
            &format!("{}_assign", part.name),
        )?);
    }
    Ok(assigns)
}
