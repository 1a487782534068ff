//! The rules on graphs of a few nodes, without TensorFlow (the fixtures'
//! tests check the numbers in TensorFlow).

use super::*;
use crate::graph::{const_node, Attrs, NodeBuilder};
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor::{from_proto, Tensor};
use crate::transform::testing::{graph, op};

fn input(shape: &[i64]) -> NodeDef {
    let mut n = NodeBuilder::new("Placeholder").ty("dtype", DataType::DtFloat).build("x");
    n.attr.insert(
        "shape".into(),
        crate::proto::tensorflow::AttrValue {
            value: Some(crate::proto::tensorflow::attr_value::Value::Shape(
                crate::proto::tensorflow::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&size| crate::proto::tensorflow::tensor_shape_proto::Dim { size, name: String::new() })
                        .collect(),
                    unknown_rank: false,
                },
            )),
        },
    );
    n
}

fn constant(name: &str, shape: &[u64], values: Vec<f32>) -> NodeDef {
    const_node(name, &Tensor::from_f32s(shape, &values))
}

fn ints(name: &str, values: &[i32]) -> NodeDef {
    const_node(name, &Tensor::from_i32s(&[values.len() as u64], values))
}

fn conv(name: &str, x: &str, w: &str, padding: &str) -> NodeDef {
    NodeBuilder::new("Conv2D")
        .input(x)
        .input(w)
        .ty("T", DataType::DtFloat)
        .ints("strides", &[1, 1, 1, 1])
        .string("padding", padding)
        .build(name)
}

/// A [kh, kw, cin, cout] filter of ones, with the listed output channels zero.
fn filter(name: &str, shape: [u64; 4], zero: &[usize]) -> NodeDef {
    let n = shape.iter().product::<u64>() as usize;
    let cout = shape[3] as usize;
    constant(name, &shape, (0..n).map(|i| if zero.contains(&(i % cout)) { 0.0 } else { 1.0 + i as f32 / 8.0 }).collect())
}

fn value_of(g: &Graph, name: &str) -> (Vec<u64>, Vec<f32>) {
    let t = from_proto(g.node(name).unwrap().tensor_value().unwrap()).unwrap();
    (t.shape.clone(), t.f32s().unwrap())
}

fn run(nodes: Vec<NodeDef>, round_to: usize) -> (Graph, CompactReport) {
    let mut g = graph(nodes);
    let report = compact(&mut g, &CompactOptions { round_to, border_constants: false, ..Default::default() }).unwrap();
    Graph::new(g.def().clone()).expect("the compacted graph is valid");
    (g, report)
}

/// x -> conv1 (4 channels, 1 and 3 zero) -> BiasAdd(b) -> Relu -> conv2 (k x k, `padding`).
fn two_convs(bias: [f32; 4], k: u64, padding: &str) -> Vec<NodeDef> {
    vec![
        input(&[-1, 5, 5, 2]),
        filter("w1", [3, 3, 2, 4], &[1, 3]),
        conv("conv1", "x", "w1", "SAME"),
        constant("b1", &[4], bias.to_vec()),
        op("bias1", "BiasAdd", &["conv1", "b1"]),
        op("relu1", "Relu", &["bias1"]),
        filter("w2", [k, k, 4, 3], &[]),
        conv("conv2", "relu1", "w2", padding),
        constant("b2", &[3], vec![0.5, 0.25, 0.125]),
        op("out", "BiasAdd", &["conv2", "b2"]),
    ]
}

#[test]
fn zero_channels_go_with_their_bias_and_the_consumers_input_channels() {
    let (g, report) = run(two_convs([0.1, 0.0, 0.2, 0.0], 3, "SAME"), 1);
    assert_eq!(value_of(&g, "w1").0, [3, 3, 2, 2]);
    assert_eq!(value_of(&g, "b1"), (vec![2], vec![0.1, 0.2]));
    assert_eq!(value_of(&g, "w2").0, [3, 3, 2, 3]);
    let conv1 = &report.layers[0];
    assert_eq!((conv1.out_channels, conv1.zero_channels, conv1.kept.len()), ([4, 2], 2, 0));
    // 5x5 outputs, 2 flops per multiply-add.
    assert_eq!(conv1.flops, Some([2 * 25 * 9 * 2 * 4, 2 * 25 * 9 * 2 * 2]));
    assert_eq!(report.layers[1].in_channels, [4, 2]);
}

#[test]
fn a_constant_channel_before_a_padded_convolution_stays() {
    // relu(0.3) > 0 reaches a SAME 3x3 convolution: its border outputs see
    // zeros where the interior sees 0.3, so no bias can replace the channel.
    let (g, report) = run(two_convs([0.1, 0.3, 0.2, 0.0], 3, "SAME"), 1);
    assert_eq!(value_of(&g, "w1").0, [3, 3, 2, 3]);
    assert_eq!(
        report.layers[0].kept,
        [KeptChannels { reason: Reason::ConstantThroughPadding { node: "conv2".into() }, channels: 1 }]
    );
}

#[test]
fn a_constant_channel_before_an_unpadded_convolution_folds_into_its_bias() {
    for (k, padding) in [(1, "SAME"), (3, "VALID")] {
        let (g, report) = run(two_convs([0.1, 0.3, 0.2, -1.0], k, padding), 1);
        assert_eq!(value_of(&g, "w1").0, [3, 3, 2, 2], "{padding}");
        // relu(-1) is 0: nothing to fold; relu(0.3) adds 0.3 * sum(w2[.., 1, j]).
        let original = two_convs([0.0; 4], k, padding);
        let w2 = from_proto(original[6].tensor_value().unwrap()).unwrap().f32s().unwrap();
        let expected: Vec<f32> = (0..3)
            .map(|j| {
                let sum: f64 = (0..(k * k) as usize).map(|p| w2[p * 12 + 3 + j] as f64).sum();
                ([0.5f32, 0.25, 0.125][j] as f64 + 0.3f32 as f64 * sum) as f32
            })
            .collect();
        assert_eq!(value_of(&g, "b2").1, expected, "{padding}");
        assert_eq!(report.folds, [Fold { layer: "conv2".into(), into: "out".into(), kind: FoldKind::Bias }]);
    }
}

#[test]
fn channels_reaching_an_unknown_op_stay() {
    let mut nodes = two_convs([0.0; 4], 3, "SAME");
    nodes[5] = op("relu1", "Cumsum", &["bias1"]);
    let (g, report) = run(nodes, 1);
    assert_eq!(value_of(&g, "w1").0, [3, 3, 2, 4]);
    assert_eq!(report.barriers, [("Cumsum".to_string(), "relu1".to_string())]);
    assert!(matches!(&report.layers[0].kept[0].reason, Reason::Barrier { op, .. } if op == "Cumsum"));
}

#[test]
fn graph_outputs_keep_their_shapes() {
    let nodes = vec![input(&[-1, 5, 5, 2]), filter("w1", [1, 1, 2, 4], &[1, 3]), conv("conv1", "x", "w1", "SAME")];
    let (g, report) = run(nodes, 1);
    assert_eq!(value_of(&g, "w1").0, [1, 1, 2, 4]);
    assert!(matches!(&report.layers[0].kept[0], KeptChannels { reason: Reason::GraphOutput { .. }, channels: 2 }));
}

/// Two branches added, then a 1x1 convolution: `a` zero in channels 1, 2;
/// `b` zero in `b_zero`.
fn residual(b_zero: &[usize]) -> Vec<NodeDef> {
    vec![
        input(&[-1, 4, 4, 3]),
        filter("wa", [1, 1, 3, 4], &[1, 2]),
        conv("a", "x", "wa", "SAME"),
        filter("wb", [3, 3, 3, 4], b_zero),
        conv("b", "x", "wb", "SAME"),
        op("sum", "AddV2", &["a", "b"]),
        op("relu", "Relu", &["sum"]),
        filter("wc", [1, 1, 4, 2], &[]),
        conv("c", "relu", "wc", "SAME"),
        op("out", "Identity", &["c"]),
    ]
}

#[test]
fn residual_channels_go_only_when_every_branch_agrees() {
    let (g, report) = run(residual(&[2, 3]), 1);
    // Channel 2 is zero in both branches; 1 only in `a`, 3 only in `b`.
    assert_eq!(value_of(&g, "wa").0, [1, 1, 3, 3]);
    assert_eq!(value_of(&g, "wb").0, [3, 3, 3, 3]);
    assert_eq!(value_of(&g, "wc").0, [1, 1, 3, 2]);
    let coupled = |l: &LayerReport| l.kept.iter().map(|k| (k.reason.clone(), k.channels)).collect::<Vec<_>>();
    assert_eq!(coupled(&report.layers[0]), [(Reason::ResidualCoupling { node: "sum".into() }, 1)]);
    assert_eq!(coupled(&report.layers[1]), [(Reason::ResidualCoupling { node: "sum".into() }, 1)]);
}

#[test]
fn a_flatten_into_a_matmul_loses_each_channels_rows_in_nhwc_order() {
    // [N, 2, 2, 3] flattened: row (h*2 + w)*3 + c.
    let rows = 12;
    let nodes = vec![
        input(&[-1, 2, 2, 1]),
        filter("w1", [1, 1, 1, 3], &[1]),
        conv("conv1", "x", "w1", "VALID"),
        ints("shape", &[-1, rows]),
        op("flat", "Reshape", &["conv1", "shape"]),
        constant("w2", &[rows as u64, 2], (0..rows * 2).map(|i| i as f32).collect()),
        op("fc", "MatMul", &["flat", "w2"]),
        op("out", "Identity", &["fc"]),
    ];
    let (g, _) = run(nodes, 1);
    let (shape, w2) = value_of(&g, "w2");
    assert_eq!(shape, [8, 2]);
    let kept_rows: Vec<f32> = w2.chunks(2).map(|r| r[0] / 2.0).collect();
    assert_eq!(kept_rows, [0.0, 2.0, 3.0, 5.0, 6.0, 8.0, 9.0, 11.0]);
    let t = from_proto(g.node("shape").unwrap().tensor_value().unwrap()).unwrap();
    assert_eq!((t.dtype, t.ints().unwrap()), (DataType::DtInt32, vec![-1, 8]));
}

#[test]
fn concat_offsets_shift_and_an_uneven_split_becomes_a_split_v() {
    let nodes = vec![
        input(&[-1, 4, 4, 2]),
        filter("wa", [1, 1, 2, 2], &[0]),
        conv("a", "x", "wa", "SAME"),
        filter("wb", [1, 1, 2, 2], &[]),
        conv("b", "x", "wb", "SAME"),
        ints("axis", &[3]),
        op("cat", "ConcatV2", &["a", "b", "axis"]),
        NodeBuilder::new("Split").inputs(["axis", "cat"]).ty("T", DataType::DtFloat).int("num_split", 2).build("split"),
        filter("wc", [1, 1, 2, 1], &[]),
        conv("c", "split", "wc", "SAME"),
        filter("wd", [1, 1, 2, 1], &[]),
        conv("d", "split:1", "wd", "SAME"),
        op("out", "AddV2", &["c", "d"]),
    ];
    let (g, _) = run(nodes, 1);
    assert_eq!(value_of(&g, "wa").0, [1, 1, 2, 1]);
    assert_eq!(value_of(&g, "wc").0, [1, 1, 1, 1]);
    assert_eq!(value_of(&g, "wd").0, [1, 1, 2, 1]);
    let split = g.node("split").unwrap();
    assert_eq!((split.op.as_str(), split.input[0].as_str()), ("SplitV", "cat"));
    let sizes = from_proto(g.node(&split.input[1]).unwrap().tensor_value().unwrap()).unwrap();
    assert_eq!((sizes.dtype, sizes.ints().unwrap()), (DataType::DtInt32, vec![1, 2]));
}

#[test]
fn depthwise_convolutions_pass_removals_on_and_drop_their_own_zero_channels() {
    let nodes = vec![
        input(&[-1, 4, 4, 2]),
        filter("w1", [1, 1, 2, 4], &[0]),
        conv("conv1", "x", "w1", "SAME"),
        // Depthwise filter [3, 3, 4, 1]: channel 2 zero.
        constant("dw", &[3, 3, 4, 1], (0..36).map(|i| if i % 4 == 2 { 0.0 } else { 1.0 }).collect()),
        NodeBuilder::new("DepthwiseConv2dNative")
            .inputs(["conv1", "dw"])
            .ty("T", DataType::DtFloat)
            .ints("strides", &[1, 1, 1, 1])
            .string("padding", "SAME")
            .build("depthwise"),
        op("relu", "Relu6", &["depthwise"]),
        filter("w2", [1, 1, 4, 3], &[]),
        conv("conv2", "relu", "w2", "SAME"),
        op("out", "Identity", &["conv2"]),
    ];
    let (g, report) = run(nodes, 1);
    assert_eq!(value_of(&g, "w1").0, [1, 1, 2, 2]);
    assert_eq!(value_of(&g, "dw").0, [3, 3, 2, 1]);
    assert_eq!(value_of(&g, "w2").0, [1, 1, 2, 3]);
    assert_eq!(report.layers[1].out_channels, [4, 2]);
}

#[test]
fn round_to_keeps_multiples_and_every_layer_keeps_a_channel() {
    let (g, report) = run(two_convs([0.0; 4], 3, "SAME"), 4);
    assert_eq!(value_of(&g, "w1").0, [3, 3, 2, 4]);
    assert_eq!(report.layers[0].kept, [KeptChannels { reason: Reason::RoundTo { multiple: 4 }, channels: 2 }]);
    let nodes = vec![
        input(&[-1, 5, 5, 2]),
        filter("w1", [1, 1, 2, 2], &[0, 1]),
        conv("conv1", "x", "w1", "SAME"),
        filter("w2", [1, 1, 2, 1], &[]),
        conv("conv2", "conv1", "w2", "SAME"),
    ];
    let (g, _) = run(nodes, 1);
    assert_eq!(value_of(&g, "w1").0, [1, 1, 2, 1]);
}

#[test]
fn a_batch_norm_after_a_layer_takes_the_folded_constant_in_its_mean() {
    let bn = |name: &str, x: &str, p: [&str; 4]| {
        NodeBuilder::new("FusedBatchNormV3")
            .input(x)
            .inputs(p)
            .ty("T", DataType::DtFloat)
            .ty("U", DataType::DtFloat)
            .boolean("is_training", false)
            .build(name)
    };
    let mut nodes = vec![input(&[-1, 4, 4, 2]), filter("w1", [1, 1, 2, 2], &[1]), conv("conv1", "x", "w1", "SAME")];
    for (k, p) in ["scale1", "offset1", "mean1", "var1"].iter().enumerate() {
        nodes.push(constant(p, &[2], vec![1.0, if k == 1 { 2.0 } else { 1.0 }]));
    }
    nodes.push(bn("bn1", "conv1", ["scale1", "offset1", "mean1", "var1"]));
    nodes.push(op("relu", "Relu", &["bn1"]));
    nodes.push(filter("w2", [1, 1, 2, 2], &[]));
    nodes.push(conv("conv2", "relu", "w2", "VALID"));
    for p in ["scale2", "offset2", "mean2", "var2"] {
        nodes.push(constant(p, &[2], vec![1.0, 1.0]));
    }
    nodes.push(bn("bn2", "conv2", ["scale2", "offset2", "mean2", "var2"]));
    let (g, report) = run(nodes, 1);
    assert_eq!(value_of(&g, "w1").0, [1, 1, 2, 1]);
    assert_eq!(value_of(&g, "scale1").1, [1.0]);
    // Channel 1 of bn1 is relu((0 - 1) * 1/sqrt(1 + 1e-4) + 2): bn2's mean drops by it times w2's row.
    let c = ((0.0f32 - 1.0) * (1.0 / (1.0f32 + 1e-4).sqrt()) + 2.0).max(0.0) as f64;
    let w2 = [1.0 + 2.0 / 8.0, 1.0 + 3.0 / 8.0];
    let mean2: Vec<f32> = w2.iter().map(|w| (1.0 - c * w) as f32).collect();
    assert_eq!(value_of(&g, "mean2").1, mean2);
    assert_eq!(report.folds, [Fold { layer: "conv2".into(), into: "bn2".into(), kind: FoldKind::Bias }]);
}

#[test]
fn behind_padding_a_constant_channel_goes_with_a_border_constant_when_sizes_are_static() {
    let mut g = graph(two_convs([0.1, 0.3, 0.2, 0.0], 3, "SAME"));
    let report = compact(&mut g, &CompactOptions::default()).unwrap();
    assert_eq!(value_of(&g, "w1").0, [3, 3, 2, 2]);
    // Added before the bias, which is the graph's output; 5x5 outputs, 3 channels.
    assert_eq!(report.folds, [Fold { layer: "conv2".into(), into: "conv2/compact_border".into(), kind: FoldKind::Border }]);
    let add = g.node("conv2/compact_border").unwrap();
    assert_eq!((add.op.as_str(), add.input[0].as_str()), ("AddV2", "conv2"));
    assert_eq!(g.node("out").unwrap().input[0], "conv2/compact_border");
    let (shape, border) = value_of(&g, "conv2/compact_border_value");
    assert_eq!(shape, [5, 5, 3]);
    // The corner sees 2x2 taps of relu(0.3) through w2's channel 1, the centre all 9.
    let w2 = |h: usize, w: usize, j: usize| 1.0 + (((h * 3 + w) * 4 + 1) * 3 + j) as f32 / 8.0;
    let corner: f64 = [(1, 1), (1, 2), (2, 1), (2, 2)].iter().map(|&(h, w)| 0.3f32 as f64 * w2(h, w, 0) as f64).sum();
    assert_eq!(border[0], corner as f32);
    let centre: f64 = (0..9).map(|t| 0.3f32 as f64 * w2(t / 3, t % 3, 0) as f64).sum();
    assert_eq!(border[(2 * 5 + 2) * 3], centre as f32);
    // With unknown spatial sizes there is no border constant to add: the channel stays.
    let mut nodes = two_convs([0.1, 0.3, 0.2, 0.0], 3, "SAME");
    nodes[0] = input(&[-1, -1, -1, 2]);
    let mut g = graph(nodes);
    compact(&mut g, &CompactOptions::default()).unwrap();
    assert_eq!(value_of(&g, "w1").0, [3, 3, 2, 3]);
}

#[test]
fn nchw_graphs_lose_channels_on_axis_1_and_flatten_channel_major() {
    let nchw = |mut n: NodeDef| {
        let format = crate::proto::tensorflow::attr_value::Value::S(b"NCHW".to_vec().into());
        n.attr.insert("data_format".into(), crate::proto::tensorflow::AttrValue { value: Some(format) });
        n
    };
    // [N, 3, 2, 2] flattened channel-major: rows c*4 .. c*4 + 4.
    let nodes = vec![
        input(&[-1, 1, 2, 2]),
        filter("w1", [1, 1, 1, 3], &[1]),
        nchw(conv("conv1", "x", "w1", "VALID")),
        constant("b1", &[3], vec![0.5, 0.0, 0.25]),
        nchw(op("bias1", "BiasAdd", &["conv1", "b1"])),
        ints("shape", &[-1, 12]),
        op("flat", "Reshape", &["bias1", "shape"]),
        constant("w2", &[12, 1], (0..12).map(|i| i as f32).collect()),
        op("fc", "MatMul", &["flat", "w2"]),
        op("out", "Identity", &["fc"]),
    ];
    let (g, _) = run(nodes, 1);
    assert_eq!(value_of(&g, "b1").1, [0.5, 0.25]);
    assert_eq!(value_of(&g, "w2").1, [0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0]);
}

#[test]
fn ops_missing_inputs_are_barriers_not_panics() {
    for op_name in ["Mean", "Pad", "Reshape", "SplitV", "ConcatV2", "Squeeze", "FusedBatchNormV3", "BiasAdd"] {
        let nodes = vec![
            input(&[-1, 4, 4, 2]),
            filter("w1", [1, 1, 2, 2], &[0]),
            conv("conv1", "x", "w1", "SAME"),
            op("odd", op_name, &["conv1"]),
            op("out", "Identity", &["odd"]),
        ];
        let (g, _) = run(nodes, 1);
        assert_eq!(value_of(&g, "w1").0, [1, 1, 2, 2], "{op_name}");
    }
}
