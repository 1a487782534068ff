//! The global step, the Switch/Merge conditional around the mask update, and
//! the chaining of a train op into it (control.rs).

use super::*;
use crate::graph::{Attrs, InputRef, Inputs};

fn dense_graph() -> Vec<NodeDef> {
    let mut nodes = inputs();
    nodes.extend(dense("dense"));
    nodes
}

fn controls(n: &NodeDef) -> Vec<&str> {
    n.control_inputs().map(|r| r.node).collect()
}

#[test]
fn the_mask_update_is_merged_from_a_switch_on_the_pruning_step() {
    let (g, report) = injected(dense_graph());
    assert_eq!(report.conditional_mask_update, "model_pruning/conditional_mask_update");
    let merge = node(&g, &report.conditional_mask_update);
    assert_eq!((merge.op.as_str(), merge.input.len()), ("Merge", 2));
    let [taken, skipped] = [input(&g, &merge.name, 0), input(&g, &merge.name, 1)];
    // The true side waits for the update, the false side for a NoOp.
    assert_eq!(taken.input, ["model_pruning/cond/switch_t".to_string(), InputRef::control_of(&report.mask_update).to_string()]);
    assert_eq!(skipped.input[0], "model_pruning/cond/switch_f");
    assert_eq!(input(&g, &skipped.name, 1).op, "NoOp");
    assert_eq!(node(&g, "model_pruning/cond/switch_t").input, ["model_pruning/cond/Switch:1"]);
    assert_eq!(node(&g, "model_pruning/cond/switch_f").input, ["model_pruning/cond/Switch"]);
    let switch = node(&g, "model_pruning/cond/Switch");
    assert_eq!(switch.op, "Switch");
    assert_eq!(switch.input[0], switch.input[1], "the predicate is switched on itself");
    assert_eq!(input(&g, "model_pruning/cond/Switch", 0).op, "LogicalAnd");
}

#[test]
fn every_op_of_the_mask_update_runs_only_on_the_true_side_of_the_switch() {
    let (g, report) = injected(dense_graph());
    let update = node(&g, &report.mask_update);
    assert_eq!(update.op, "NoOp");
    let deps = controls(update);
    for assign in ["model_pruning/last_mask_update_step_assign", "model_pruning/dense/mask_assign", "model_pruning/dense/threshold_assign"] {
        assert!(deps.contains(&assign), "{assign} in {deps:?}");
    }
    let branch: Vec<&NodeDef> = g.nodes().iter().filter(|n| n.name.starts_with("model_pruning/dense/kernel_pruning_ops/")).collect();
    assert!(branch.iter().any(|n| n.op == "TopKV2"));
    for n in branch.iter().copied().chain([update]) {
        assert!(controls(n).contains(&"model_pruning/cond/switch_t"), "{} runs outside the branch", n.name);
    }
    // The schedule is computed on every step, outside the branch.
    assert!(controls(node(&g, &report.sparsity)).is_empty());
}

#[test]
fn a_graph_without_a_global_step_is_an_error_unless_a_train_op_is_given() {
    let mut nodes = dense_graph();
    nodes.retain(|n| n.name != "global_step");
    let err = try_inject(nodes.clone(), &InjectOptions::default()).unwrap_err();
    assert!(matches!(err, InjectError::NoGlobalStep), "{err}");
    nodes.push(NodeBuilder::new("NoOp").build("train"));
    let options = InjectOptions { train_op: Some("train".into()), ..Default::default() };
    let (g, report) = try_inject(nodes, &options).unwrap();
    assert!(report.created_global_step);
    let step = node(&g, "global_step");
    assert_eq!((step.op.as_str(), step.dtype_attr("dtype").unwrap()), ("VariableV2", Some(DataType::DtInt64)));
    // The train op increments it, after the training step.
    let increment = node(&g, "model_pruning/increment_global_step");
    assert_eq!(increment.op, "AssignAdd");
    assert_eq!((increment.input[0].as_str(), controls(increment)), ("global_step", vec!["train/before_pruning"]));
    assert!(controls(node(&g, "train")).contains(&"model_pruning/increment_global_step"));
}

#[test]
fn a_variable_named_global_step_that_is_not_an_integer_is_no_global_step() {
    let mut nodes = dense_graph();
    nodes.retain(|n| n.name != "global_step");
    nodes.push(ref_variable("global_step", &[]));
    let err = try_inject(nodes, &InjectOptions::default()).unwrap_err();
    assert!(matches!(err, InjectError::NoGlobalStep), "{err}");
}

#[test]
fn the_global_step_collection_names_the_global_step() {
    let mut nodes = dense_graph();
    nodes.retain(|n| n.name != "global_step");
    nodes.push(NodeBuilder::new("VariableV2").ty("dtype", DataType::DtInt32).shape("shape", &[]).build("step"));
    let mut model = training_model(nodes, &["dense/kernel"], &["dense/kernel"]);
    let listed = CollectionDef { kind: Some(Kind::NodeList(NodeList { value: vec!["step:0".into()] })) };
    model.meta.as_mut().unwrap().collection_def.insert("global_step".into(), listed);
    let report = inject(&mut model, &InjectOptions::default()).unwrap();
    assert_eq!((report.global_step.as_str(), report.created_global_step), ("step", false));
    assert_eq!(input(&model.graph, "model_pruning/Cast", 0).name, "step");
}

#[test]
fn a_resource_global_step_is_read_before_it_is_cast_and_last_mask_update_step_is_a_resource_too() {
    let mut nodes = dense_graph();
    nodes.retain(|n| n.name != "global_step");
    nodes.push(NodeBuilder::new("VarHandleOp").ty("dtype", DataType::DtInt64).shape("shape", &[]).build("global_step"));
    let (g, report) = injected(nodes);
    let read = input(&g, "model_pruning/Cast", 0);
    assert_eq!((read.op.as_str(), read.input.as_slice()), ("ReadVariableOp", ["global_step".to_string()].as_slice()));
    assert_eq!(node(&g, &report.last_mask_update_step).op, "VarHandleOp");
}

/// `train` applies a gradient; `next` reads its output, `wait` runs after it.
fn with_train_op() -> Vec<NodeDef> {
    let mut nodes = dense_graph();
    nodes.push(placeholder("lr"));
    nodes.push(op("train", "ApplyGradientDescent", &["dense/kernel", "lr", "x"]));
    nodes.push(op("next", "Identity", &["train"]));
    nodes.push(NodeBuilder::new("NoOp").after("train").build("wait"));
    nodes
}

#[test]
fn the_train_op_name_then_runs_the_step_and_then_the_conditional_update() {
    let options = InjectOptions { train_op: Some("train".into()), ..Default::default() };
    let (g, report) = try_inject(with_train_op(), &options).unwrap();
    assert_eq!(node(&g, "train/before_pruning").op, "ApplyGradientDescent");
    let train = node(&g, "train");
    assert_eq!(train.op, "NoOp");
    assert_eq!(controls(train), ["train/before_pruning", report.conditional_mask_update.as_str()]);
    // Data edges follow the op, control edges stay with the name.
    assert_eq!(node(&g, "next").input, ["train/before_pruning"]);
    assert_eq!(node(&g, "wait").input, ["^train"]);
    // The update sees the step the train op leaves behind.
    assert_eq!(controls(node(&g, "model_pruning/after_train_step/Cast")), ["train/before_pruning"]);
}

#[test]
fn a_train_op_not_in_the_graph_is_an_error_naming_it() {
    let options = InjectOptions { train_op: Some("trian".into()), ..Default::default() };
    let err = try_inject(with_train_op(), &options).unwrap_err().to_string();
    assert!(err.starts_with("no node named `trian` in the graph; nearest names: train"), "{err}");
}

#[test]
fn ops_already_under_the_pruning_scope_are_an_error_naming_the_scope() {
    let mut nodes = dense_graph();
    nodes.push(placeholder("model_pruning/sparsity"));
    let err = try_inject(nodes, &InjectOptions::default()).unwrap_err().to_string();
    assert!(err.starts_with("the graph already has ops under `model_pruning/`"), "{err}");
}
