//! Each weight's new threshold and mask (update.rs): top-k of |W|, of |W|
//! pooled over blocks, or of the output channels' L2 norms.

use super::*;
use crate::graph::Attrs;
use crate::tensor;
use crate::transform::inject::Structure;

/// A [4, 6] kernel `fc/kernel` of a MatMul (b operand, transposed if asked).
fn fc(transpose_b: bool) -> Vec<NodeDef> {
    let mut nodes = inputs();
    nodes.extend(variable("fc/kernel", &[4, 6]));
    nodes.push(NodeBuilder::new("MatMul").input("x").input("fc/kernel/read").ty("T", DataType::DtFloat).boolean("transpose_b", transpose_b).build("fc/MatMul"));
    nodes
}

/// The ops that compute `weight`'s update, by op name, in graph order.
fn update_ops<'g>(g: &'g Graph, weight: &str, op: &str) -> Vec<&'g NodeDef> {
    let scope = format!("model_pruning/{weight}_pruning_ops/");
    g.nodes().iter().filter(|n| n.name.starts_with(&scope) && n.op == op).collect()
}

fn ints_of(g: &Graph, name: &str) -> Vec<i32> {
    tensor::from_proto(node(g, name).tensor_value().unwrap()).unwrap().values::<i32>().unwrap()
}

fn ksizes(g: &Graph, weight: &str, pool: &str) -> Vec<Vec<i64>> {
    update_ops(g, weight, pool).iter().map(|n| n.ints_attr("ksize").unwrap().unwrap().to_vec()).collect()
}

fn injected_with(nodes: Vec<NodeDef>, spec: &str) -> (Graph, InjectReport) {
    try_inject(nodes, &hparams(spec)).unwrap()
}

/// Whatever `fc/mask` is assigned, and the threshold it is compared with.
fn mask_and_threshold(g: &Graph) -> (&NodeDef, &NodeDef) {
    (input(g, "model_pruning/fc/mask_assign", 1), input(g, "model_pruning/fc/threshold_assign", 1))
}

#[test]
fn the_mask_keeps_the_weights_whose_magnitude_reaches_the_smoothed_kth_largest() {
    let (g, _) = injected(fc(false));
    let (mask, threshold) = mask_and_threshold(&g);
    assert_eq!(mask.op, "Cast");
    let keep = input(&g, &mask.name, 0);
    assert_eq!(keep.op, "GreaterEqual");
    let abs = input(&g, &keep.name, 0);
    assert_eq!((abs.op.as_str(), input(&g, &keep.name, 1).name.as_str()), ("Abs", threshold.name.as_str()));
    // |W| of a read made inside the branch, after the training step.
    let read = input(&g, &abs.name, 0);
    assert_eq!((read.op.as_str(), read.input[0].as_str()), ("Identity", "fc/kernel"));
    // The threshold: k-th largest of all 24, then smoothed with the old one.
    assert_eq!(threshold.op, "AddN");
    let [top_k] = update_ops(&g, "fc/kernel", "TopKV2")[..] else { panic!("one TopKV2") };
    assert_eq!(ints_of(&g, &top_k.input[1]), [24]);
    assert_eq!(input(&g, &top_k.name, 0).op, "Reshape");
    assert_eq!(input(&g, &threshold.name, 1).input[0], "fc/threshold/read");
}

#[test]
fn blocks_are_pooled_with_the_pooling_function_before_the_top_k() {
    let (g, _) = injected_with(fc(false), "block_height=2,block_width=3");
    assert_eq!(ksizes(&g, "fc/kernel", "AvgPool"), [[1, 2, 3, 1]]);
    let [top_k] = update_ops(&g, "fc/kernel", "TopKV2")[..] else { panic!("one TopKV2") };
    assert_eq!(ints_of(&g, &top_k.input[1]), [4], "2 x 2 blocks");
    let (g, _) = injected_with(fc(false), "block_height=2,block_width=3,block_pooling_function=MAX");
    assert_eq!(ksizes(&g, "fc/kernel", "MaxPool"), [[1, 2, 3, 1]]);
}

#[test]
fn use_tpu_pools_blocks_in_two_passes_rows_then_columns() {
    let (g, _) = injected_with(fc(false), "block_height=2,block_width=3,use_tpu=True");
    assert_eq!(ksizes(&g, "fc/kernel", "AvgPool"), [[1, 1, 2, 1], [1, 1, 3, 1]]);
    assert_eq!(update_ops(&g, "fc/kernel", "Transpose").len(), 2);
}

#[test]
fn a_block_dimension_of_minus_one_is_the_weights_own_dimension() {
    let (g, _) = injected_with(fc(false), "block_height=-1,block_width=3");
    assert_eq!(ksizes(&g, "fc/kernel", "AvgPool"), [[1, 4, 3, 1]]);
}

#[test]
fn an_unknown_pooling_function_is_an_error_only_for_a_block_pruned_weight() {
    let (_, report) = injected_with(fc(false), "block_pooling_function=MIN");
    assert_eq!(weight_names(&report), ["fc/kernel"]);
    let err = try_inject(fc(false), &hparams("block_height=2,block_pooling_function=MIN")).unwrap_err();
    assert_eq!(err.to_string(), "invalid --pruning_hparams: Unknown pooling function for block sparsity: MIN");
}

fn by_channel(nodes: Vec<NodeDef>) -> Result<(Graph, InjectReport), InjectError> {
    try_inject(nodes, &InjectOptions { structure: Structure::Channel, ..Default::default() })
}

#[test]
fn channel_pruning_ranks_the_output_channels_of_a_convolution_by_l2_norm() {
    let mut nodes = inputs();
    nodes.extend(conv("conv"));
    let (g, _) = by_channel(nodes).unwrap();
    let weight = "conv/kernel";
    let [sum] = update_ops(&g, weight, "Sum")[..] else { panic!("one Sum") };
    let square = input(&g, &sum.name, 0);
    let matrix = input(&g, &square.name, 0);
    assert_eq!((square.op.as_str(), matrix.op.as_str()), ("Square", "Reshape"));
    assert_eq!(ints_of(&g, &matrix.input[1]), [18, 4], "rows are the 3 x 3 x 2 inputs of each of 4 channels");
    assert_eq!(ints_of(&g, &sum.input[1]), [0]);
    let [top_k] = update_ops(&g, weight, "TopKV2")[..] else { panic!("one TopKV2") };
    assert_eq!(ints_of(&g, &top_k.input[1]), [4]);
    assert_eq!(input(&g, &top_k.name, 0).input[0], update_ops(&g, weight, "Sqrt")[0].name);
    // Each channel's decision spreads over the channel: tiled down the rows, then reshaped to W's shape.
    let [tile] = update_ops(&g, weight, "Tile")[..] else { panic!("one Tile") };
    assert_eq!(ints_of(&g, &tile.input[1]), [18, 1]);
    let mask = input(&g, "model_pruning/conv/mask_assign", 1);
    assert_eq!(ints_of(&g, &mask.input[1]), [3, 3, 2, 4]);
}

#[test]
fn channel_pruning_of_a_transposed_operand_reduces_along_its_second_axis() {
    let (g, _) = by_channel(fc(true)).unwrap();
    let [sum] = update_ops(&g, "fc/kernel", "Sum")[..] else { panic!("one Sum") };
    assert_eq!(ints_of(&g, &sum.input[1]), [1]);
    let [tile] = update_ops(&g, "fc/kernel", "Tile")[..] else { panic!("one Tile") };
    assert_eq!(ints_of(&g, &tile.input[1]), [1, 6]);
}

#[test]
fn channel_pruning_refuses_a_batched_operand_whose_channels_are_its_first_axis() {
    let mut nodes = inputs();
    nodes.extend(variable("batched/kernel", &[2, 5, 4]));
    nodes.push(op("batched/MatMul", "BatchMatMulV2", &["batched/kernel/read", "x"]));
    let err = by_channel(nodes).unwrap_err().to_string();
    assert!(err.starts_with("--structure=channel: `batched/kernel` is a batched operand of rank 3"), "{err}");
}
