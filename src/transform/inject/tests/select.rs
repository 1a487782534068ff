//! Which weights get masks (select.rs), and the `--weights`/`--exclude` filters.

use super::*;
use crate::graph::Attrs;
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::TensorShapeProto;
use crate::transform::inject::select::OutAxis;
use crate::transform::testing::resource_variable;

#[test]
fn conv_depthwise_and_matmul_weights_read_from_variables_are_selected_by_default() {
    let mut nodes = inputs();
    nodes.extend(conv("conv"));
    nodes.extend(variable("dw/depthwise_kernel", &[3, 3, 4, 2]));
    nodes.push(op("dw/depthwise", "DepthwiseConv2dNative", &["conv/Conv2D", "dw/depthwise_kernel/read"]));
    nodes.extend(dense("dense"));
    // Not weights: a bias, a scale, and a product of two activations.
    nodes.extend(variable("dense/bias", &[3]));
    nodes.push(op("dense/BiasAdd", "BiasAdd", &["dense/MatMul", "dense/bias/read"]));
    nodes.extend(variable("scale", &[3]));
    nodes.push(op("scaled", "Mul", &["dense/BiasAdd", "scale/read"]));
    nodes.push(op("gram", "MatMul", &["x", "x"]));
    let (_, report) = injected(nodes);
    assert_eq!(weight_names(&report), ["conv/kernel", "dw/depthwise_kernel", "dense/kernel"]);
    let kinds: Vec<(&str, OutAxis)> = report.weights.iter().map(|w| (w.kind, w.out_axis)).collect();
    assert_eq!(kinds, [("ref", OutAxis::Last), ("ref", OutAxis::LastTwo), ("ref", OutAxis::Last)]);
}

#[test]
fn either_matmul_operand_is_a_weight_its_output_axis_following_the_transposes() {
    let mut nodes = inputs();
    nodes.extend(variable("a", &[4, 2]));
    nodes.push(op("a_x", "MatMul", &["a/read", "x"]));
    nodes.extend(variable("b", &[3, 2]));
    nodes.push(NodeBuilder::new("MatMul").input("x").input("b/read").ty("T", DataType::DtFloat).boolean("transpose_b", true).build("x_bt"));
    nodes.extend(variable("c", &[2, 5, 4]));
    nodes.push(NodeBuilder::new("BatchMatMulV2").input("c/read").input("x").ty("T", DataType::DtFloat).boolean("adj_x", true).build("ct_x"));
    let (_, report) = injected(nodes);
    let axes: Vec<(&str, OutAxis)> = report.weights.iter().map(|w| (w.weight.as_str(), w.out_axis)).collect();
    assert_eq!(axes, [("a", OutAxis::First), ("b", OutAxis::First), ("c", OutAxis::Last)]);
}

#[test]
fn a_resource_variable_read_by_read_variable_op_is_a_resource_weight_masked_through_fresh_reads() {
    let mut nodes = inputs();
    nodes.push(resource_variable("dense/kernel", &[2, 3]));
    nodes.push(NodeBuilder::new("ReadVariableOp").input("dense/kernel").ty("dtype", DataType::DtFloat).build("dense/MatMul/ReadVariableOp"));
    nodes.push(op("dense/MatMul", "MatMul", &["x", "dense/MatMul/ReadVariableOp"]));
    let (g, report) = injected(nodes);
    assert_eq!(weight_names(&report), ["dense/kernel"]);
    assert_eq!((report.weights[0].kind, report.weights[0].partitions), ("resource", 1));
    assert_eq!(node(&g, "dense/mask").op, "VarHandleOp");
    let mw = &report.weights[0].masked_weight;
    assert_eq!(node(&g, "dense/MatMul").input, ["x", mw.as_str()]);
    let read = |i| (input(&g, mw, i).op.as_str(), input(&g, mw, i).input[0].as_str());
    assert_eq!([read(0), read(1)], [("ReadVariableOp", "dense/mask"), ("ReadVariableOp", "dense/kernel")]);
}

#[test]
fn a_partitioned_variable_is_one_weight_of_its_concatenated_parts_with_a_mask_per_part() {
    let mut nodes = inputs();
    nodes.extend(variable("dense/kernel/part_0", &[2, 3]));
    nodes.extend(variable("dense/kernel/part_1", &[1, 3]));
    nodes.push(int32_scalar("dense/kernel/ConcatPartitions/concat/axis", 0));
    nodes.push(op(
        "dense/kernel/ConcatPartitions/concat",
        "ConcatV2",
        &["dense/kernel/part_0/read", "dense/kernel/part_1/read", "dense/kernel/ConcatPartitions/concat/axis"],
    ));
    nodes.push(op("dense/kernel", "Identity", &["dense/kernel/ConcatPartitions/concat"]));
    nodes.push(op("dense/MatMul", "MatMul", &["dense/kernel", "x"]));
    let (g, report) = injected(nodes);
    assert_eq!(weight_names(&report), ["dense/kernel"]);
    assert_eq!(report.weights[0].shape, [3, 3]);
    assert_eq!(report.weights[0].partitions, 2);
    for (part, rows) in [("dense/mask/part_0", 2), ("dense/mask/part_1", 1)] {
        assert_eq!(node(&g, part).attr_value("shape"), Some(&Value::Shape(TensorShapeProto::from_dims(&[rows, 3]))));
    }
    assert_eq!(input(&g, "dense/mask", 0).op, "ConcatV2");
    let mw = &report.weights[0].masked_weight;
    assert_eq!(node(&g, mw).input, ["dense/mask", "dense/kernel"]);
    assert_eq!(node(&g, "dense/MatMul").input, [mw.as_str(), "x"]);
}

#[test]
fn a_weight_carried_into_a_while_loop_is_selected_and_its_enter_reads_the_masked_weight() {
    let mut nodes = inputs();
    nodes.extend(variable("rnn/cell/kernel", &[2, 3]));
    let enter = |name: &str, input: &str| NodeBuilder::new("Enter").input(input).ty("T", DataType::DtFloat).string("frame_name", "rnn/while/while_context").build(name);
    nodes.push(enter("rnn/while/x", "x"));
    nodes.push(enter("rnn/while/kernel", "rnn/cell/kernel/read"));
    nodes.push(op("rnn/while/MatMul", "MatMul", &["rnn/while/x", "rnn/while/kernel"]));
    let (g, report) = injected(nodes);
    assert_eq!(weight_names(&report), ["rnn/cell/kernel"]);
    assert_eq!(report.weights[0].rewired, ["rnn/while/kernel"]);
    assert_eq!(node(&g, "rnn/while/kernel").input, [report.weights[0].masked_weight.as_str()]);
    assert_eq!(node(&g, "rnn/while/MatMul").input, ["rnn/while/x", "rnn/while/kernel"]);
}

#[test]
fn variables_missing_from_trainable_variables_are_not_selected() {
    let mut nodes = inputs();
    nodes.extend(dense("dense"));
    nodes.extend(dense("frozen"));
    let mut model = training_model(nodes, &["dense/kernel", "frozen/kernel"], &["dense/kernel"]);
    let report = inject(&mut model, &InjectOptions::default()).unwrap();
    assert_eq!(weight_names(&report), ["dense/kernel"]);
    assert_eq!(node(&model.graph, "frozen/MatMul").input, ["x", "frozen/kernel/read"]);
}

fn three_weights() -> Vec<NodeDef> {
    let mut nodes = inputs();
    nodes.extend(conv("conv"));
    nodes.extend(dense("dense"));
    nodes.extend(dense("logits"));
    nodes
}

fn selected(weights: &[&str], exclude: &[&str]) -> Result<Vec<String>, InjectError> {
    let options = InjectOptions { weights: regexes(weights), exclude: regexes(exclude), ..Default::default() };
    let (_, report) = try_inject(three_weights(), &options)?;
    Ok(weight_names(&report).into_iter().map(String::from).collect())
}

#[test]
fn weights_regexes_select_the_weights_they_match_anywhere_in_the_name() {
    assert_eq!(selected(&["nv"], &[]).unwrap(), ["conv/kernel"]);
    assert_eq!(selected(&["^dense/", "git"], &[]).unwrap(), ["dense/kernel", "logits/kernel"]);
}

#[test]
fn exclude_regexes_drop_the_weights_they_match_also_among_those_selected() {
    assert_eq!(selected(&[], &["logits"]).unwrap(), ["conv/kernel", "dense/kernel"]);
    assert_eq!(selected(&["kernel"], &["^conv", "dense"]).unwrap(), ["logits/kernel"]);
}

#[test]
fn a_regex_that_matches_no_weight_is_an_error_naming_the_flag_and_the_prunable_weights() {
    let weights = selected(&["conv", "lstm"], &[]).unwrap_err();
    assert_eq!(weights.to_string(), "--weights `lstm` matches no prunable weight (prunable weights: conv/kernel, dense/kernel, logits/kernel)");
    let exclude = selected(&[], &["bias"]).unwrap_err();
    assert_eq!(exclude.to_string(), "--exclude `bias` matches no prunable weight (prunable weights: conv/kernel, dense/kernel, logits/kernel)");
}

#[test]
fn a_graph_whose_layers_read_no_variable_is_an_error() {
    let nodes = vec![placeholder("x"), global_step(), op("gram", "MatMul", &["x", "x"])];
    let err = try_inject(nodes, &InjectOptions::default()).unwrap_err();
    assert!(matches!(&err, InjectError::NoWeights(found) if found.is_empty()), "{err}");
}

#[test]
fn an_integer_weight_is_refused_naming_its_dtype() {
    let mut nodes = inputs();
    nodes.push(NodeBuilder::new("VariableV2").ty("dtype", DataType::DtInt32).shape("shape", &[2, 3]).build("q/kernel"));
    nodes.push(op("q/kernel/read", "Identity", &["q/kernel"]));
    nodes.push(op("q/MatMul", "MatMul", &["x", "q/kernel/read"]));
    let err = try_inject(nodes, &InjectOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "weight `q/kernel` is int32, not floating point");
}

#[test]
fn a_weight_without_elements_gets_no_mask() {
    let mut nodes = inputs();
    nodes.extend(dense("dense"));
    nodes.extend(variable("empty/kernel", &[0, 3]));
    nodes.push(op("empty/MatMul", "MatMul", &["x", "empty/kernel/read"]));
    let (g, report) = injected(nodes);
    assert_eq!(weight_names(&report), ["dense/kernel"]);
    assert!(!g.contains("empty/mask"));
}

#[test]
fn a_weight_already_masked_is_left_alone_so_injecting_twice_is_injecting_once() {
    let mut nodes = inputs();
    nodes.extend(dense("dense"));
    let (once, report) = injected(nodes);
    assert_eq!(weight_names(&report), ["dense/kernel"]);
    let mut model = Model { path: "once.pb".into(), kind: ModelKind::GraphDef, graph: once.clone(), meta: None };
    let again = inject(&mut model, &InjectOptions::default()).unwrap();
    assert!(again.weights.is_empty());
    assert_eq!(again.already_masked, ["dense/kernel"]);
    assert_eq!(model.graph.def(), once.def());
}
