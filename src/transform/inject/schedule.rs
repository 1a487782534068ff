//! The sparsity schedule and the pruning-step predicate, from the global step
//! cast to int32 (contrib's `_setup_sparsity` and `maybe_update_masks`).

use super::builder::{Ops};
use crate::graph::NodeBuilder;
use super::hparams::PruningHparams;
use super::InjectError;
use crate::proto::tensorflow::DataType;

const F32: DataType = DataType::DtFloat;
const I32: DataType = DataType::DtInt32;

/// `sparsity = (initial - target) * (1 - p)^exponent + target`, with
/// `p = clamp((step - begin) / (end - begin), 0, 1)`; returns `scope/sparsity`.
pub fn sparsity(ops: &mut Ops, hp: &PruningHparams, step: &str) -> Result<String, InjectError> {
    let begin = hp.sparsity_function_begin_step;
    let span = (hp.sparsity_function_end_step - begin) as f64;
    let begin_node = ops.scalar("sub/y", I32, begin as f64)?;
    let since = ops.binary("Sub", step, &begin_node, I32)?;
    let since = ops.cast(&since, I32, F32)?;
    let span = ops.scalar("truediv/y", F32, span)?;
    let p = ops.add(
        "truediv",
        NodeBuilder::new("RealDiv").input(since).input(span).ty("T", F32),
    )?;
    let zero = ops.scalar("Maximum/x", F32, 0.0)?;
    let p = ops.binary("Maximum", &zero, &p, F32)?;
    let one = ops.scalar("Minimum/x", F32, 1.0)?;
    let p = ops.binary("Minimum", &one, &p, F32)?;
    let one = ops.scalar("sub_1/x", F32, 1.0)?;
    let rest = ops.binary("Sub", &one, &p, F32)?;
    let exponent = ops.scalar("Pow/y", F32, hp.sparsity_function_exponent)?;
    let decayed = ops.binary("Pow", &rest, &exponent, F32)?;
    let range = ops.scalar("Mul/x", F32, hp.initial_sparsity - hp.target_sparsity)?;
    let scaled = ops.binary("Mul", &range, &decayed, F32)?;
    let target = ops.scalar("sparsity/y", F32, hp.target_sparsity)?;
    ops.add(
        "sparsity",
        NodeBuilder::new("AddV2").input(scaled).input(target).ty("T", F32),
    )
}

/// True on pruning steps: `begin <= step` and (`step <= end` or `end < 0`)
/// and `last_update + frequency <= step`.
pub fn is_pruning_step(
    ops: &mut Ops,
    hp: &PruningHparams,
    step: &str,
    last_update: &str,
) -> Result<String, InjectError> {
    let begin = ops.scalar("GreaterEqual/y", I32, hp.begin_pruning_step as f64)?;
    let mut in_range = ops.binary("GreaterEqual", step, &begin, I32)?;
    if hp.end_pruning_step >= 0 {
        let end = ops.scalar("LessEqual/y", I32, hp.end_pruning_step as f64)?;
        let before_end = ops.binary("LessEqual", step, &end, I32)?;
        in_range = ops.add(
            "LogicalAnd",
            NodeBuilder::new("LogicalAnd").input(in_range).input(before_end),
        )?;
    }
    let freq = ops.scalar("add/y", I32, hp.pruning_frequency as f64)?;
    let due = ops.add(
        "add",
        NodeBuilder::new("AddV2")
            .input(last_update)
            .input(freq)
            .ty("T", I32),
    )?;
    let due = ops.binary("LessEqual", &due, step, I32)?;
    ops.add(
        "LogicalAnd",
        NodeBuilder::new("LogicalAnd").input(in_range).input(due),
    )
}
