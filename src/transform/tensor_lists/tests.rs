//! The rewrite on a hand-built `dynamic_rnn`-shaped loop, without
//! TensorFlow (tests/tflite.rs runs the fixtures' LSTMs in TensorFlow and
//! TFLite).

use super::rewrite::int32_const;
use super::*;
use crate::graph::{const_ints, Attrs, InputRef, NodeBuilder};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::tensor_shape_proto::Dim;
use crate::proto::tensorflow::{AttrValue, DataType, NodeDef, TensorShapeProto};
use crate::transform::testing::graph;

const FRAME: &str = "rnn/while/while_context";

fn shape(dims: &[i64]) -> Value {
    Value::Shape(TensorShapeProto {
        dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(),
        unknown_rank: false,
    })
}

fn ints(name: &str, values: &[i64], scalar: bool) -> NodeDef {
    let dims = if scalar { vec![] } else { vec![values.len() as u64] };
    int32_const(name, values, &dims, "")
}

fn float_op(op: &str, name: &str, inputs: &[&str]) -> NodeDef {
    NodeBuilder::new(op).inputs(inputs.iter().copied()).ty("T", DataType::DtFloat).build(name)
}

fn enter(name: &str, input: &str, ty: DataType, constant: bool) -> NodeDef {
    NodeBuilder::new("Enter")
        .input(input)
        .ty("T", ty)
        .string("frame_name", FRAME)
        .boolean("is_constant", constant)
        .int("parallel_iterations", 32)
        .build(name)
}

fn typed(op: &str, name: &str, inputs: &[&str], ty: DataType) -> NodeDef {
    NodeBuilder::new(op).inputs(inputs.iter().copied()).ty("T", ty).build(name)
}

fn array(name: &str, element_shape: &[i64]) -> NodeDef {
    NodeBuilder::new("TensorArrayV3")
        .input("size")
        .ty("dtype", DataType::DtFloat)
        .attr("element_shape", shape(element_shape))
        .boolean("dynamic_size", false)
        .boolean("clear_after_read", true)
        .boolean("identical_element_shapes", true)
        .build(name)
}

fn first_dim(name: &str, of: &str) -> Vec<NodeDef> {
    let slice = NodeBuilder::new("StridedSlice")
        .inputs([format!("{name}/shape"), "begin".into(), "end".into(), "stride".into()])
        .ty("T", DataType::DtInt32)
        .ty("Index", DataType::DtInt32)
        .int("shrink_axis_mask", 1)
        .build(name);
    let shape = NodeBuilder::new("Shape").input(of).ty("T", DataType::DtFloat).ty("out_type", DataType::DtInt32);
    vec![shape.build(&format!("{name}/shape")), slice]
}

fn range(name: &str, limit: &str) -> NodeDef {
    NodeBuilder::new("Range").inputs(["zero", limit, "one"]).ty("Tidx", DataType::DtInt32).build(name)
}

/// What `dynamic_rnn` builds, cut down: `x` ([time, batch, 2]) unstacked
/// into `in`, a loop of `h = h + in[t]` writing each `h` into `out`, and
/// `out` stacked after it.
fn rnn(out_shape: &[i64]) -> Vec<NodeDef> {
    let float = DataType::DtFloat;
    let int = DataType::DtInt32;
    let mut nodes = vec![
        NodeBuilder::new("Placeholder").ty("dtype", float).attr("shape", shape(&[3, -1, 2])).build("x"),
        NodeBuilder::new("Placeholder").ty("dtype", float).attr("shape", shape(&[-1, 2])).build("h0"),
        ints("zero", &[0], true),
        ints("one", &[1], true),
        ints("begin", &[0], false),
        ints("end", &[1], false),
        ints("stride", &[1], false),
    ];
    nodes.extend(first_dim("size", "x"));
    nodes.extend(first_dim("unstack/len", "x"));
    nodes.extend([
        array("in", &[-1, 2]),
        array("out", out_shape),
        range("unstack/range", "unstack/len"),
        NodeBuilder::new("TensorArrayScatterV3").inputs(["in", "unstack/range", "x", "in:1"]).ty("T", float).build("unstack"),
        enter("w/Enter", "zero", int, false),
        enter("w/Enter_1", "h0", float, false),
        enter("w/Enter_2", "out:1", float, false),
        typed("Merge", "w/Merge", &["w/Enter", "w/NextIteration"], int),
        typed("Merge", "w/Merge_1", &["w/Enter_1", "w/NextIteration_1"], float),
        typed("Merge", "w/Merge_2", &["w/Enter_2", "w/NextIteration_2"], float),
        enter("w/Less/Enter", "size", int, true),
        typed("Less", "w/Less", &["w/Merge", "w/Less/Enter"], int),
        NodeBuilder::new("LoopCond").input("w/Less").build("w/LoopCond"),
        typed("Switch", "w/Switch", &["w/Merge", "w/LoopCond"], int),
        typed("Switch", "w/Switch_1", &["w/Merge_1", "w/LoopCond"], float),
        typed("Switch", "w/Switch_2", &["w/Merge_2", "w/LoopCond"], float),
        typed("Identity", "w/Identity", &["w/Switch:1"], int),
        typed("Identity", "w/Identity_1", &["w/Switch_1:1"], float),
        typed("Identity", "w/Identity_2", &["w/Switch_2:1"], float),
        enter("w/Read/Enter", "in", DataType::DtResource, true),
        enter("w/Read/Enter_1", "unstack", float, true),
        NodeBuilder::new("TensorArrayReadV3")
            .inputs(["w/Read/Enter", "w/Identity", "w/Read/Enter_1"])
            .ty("dtype", float)
            .build("w/Read"),
        float_op("AddV2", "w/h", &["w/Identity_1", "w/Read"]),
        enter("w/Write/Enter", "out", DataType::DtResource, true),
        NodeBuilder::new("TensorArrayWriteV3")
            .inputs(["w/Write/Enter", "w/Identity", "w/h", "w/Identity_2"])
            .ty("T", float)
            .build("w/Write"),
        NodeBuilder::new("Const").input("^w/Identity").ty("dtype", int).build("w/one"),
        typed("AddV2", "w/next", &["w/Identity", "w/one"], int),
        typed("NextIteration", "w/NextIteration", &["w/next"], int),
        typed("NextIteration", "w/NextIteration_1", &["w/h"], float),
        typed("NextIteration", "w/NextIteration_2", &["w/Write"], float),
        typed("Exit", "w/Exit_2", &["w/Switch_2"], float),
        range("stack/range", "size"),
        NodeBuilder::new("TensorArrayGatherV3")
            .inputs(["out", "stack/range", "w/Exit_2"])
            .ty("dtype", float)
            .attr("element_shape", shape(&[-1, 2]))
            .build("stack"),
    ]);
    nodes
}

fn op_of<'g>(g: &'g Graph, name: &str) -> &'g str {
    g.node(name).map_or("(gone)", |n| n.op.as_str())
}

fn t_of(g: &Graph, name: &str) -> Option<DataType> {
    g.node(name).unwrap().dtype_attr("T").unwrap()
}

#[test]
fn a_dynamic_rnn_loop_becomes_tensor_lists() {
    let mut g = graph(rnn(&[-1, 2]));
    let report = tensor_arrays_to_lists(&mut g).unwrap();
    assert_eq!(report.rewritten, ["in", "out"], "{:?}", report.kept);
    assert!(g.nodes().iter().all(|n| !n.op.starts_with("TensorArray")));
    // The unstack makes its list from the whole tensor, so `in` is gone.
    assert_eq!(op_of(&g, "in"), "(gone)");
    assert_eq!(op_of(&g, "unstack"), "TensorListFromTensor");
    assert_eq!(g.node("unstack").unwrap().input[0], "x");
    // Its indices, and the stack's, are not needed any more; the array's size is.
    for unread in ["unstack/range", "unstack/len", "unstack/len/shape", "stack/range"] {
        assert!(!g.contains(unread), "{unread}");
    }
    for read in ["size", "size/shape", "begin", "x"] {
        assert!(g.contains(read), "{read}");
    }
    assert_eq!(op_of(&g, "w/Read"), "TensorListGetItem");
    assert_eq!(g.node("w/Read").unwrap().input[..2], ["w/Read/Enter_1", "w/Identity"]);
    // `out`'s elements are the loop's `h`: their shape is h0's.
    let out = g.node("out").unwrap();
    assert_eq!((out.op.as_str(), &out.input), ("TensorListReserve", &vec!["out/element_shape".to_string(), "size".into()]));
    let es = g.node("out/element_shape").unwrap();
    assert_eq!((es.op.as_str(), &es.input), ("Shape", &vec!["h0".to_string()]));
    assert_eq!(g.node("w/Enter_2").unwrap().input, ["out"]);
    assert_eq!(g.node("w/Write").unwrap().input, ["w/Identity_2", "w/Identity", "w/h"]);
    let stack = g.node("stack").unwrap();
    assert_eq!((stack.op.as_str(), &stack.input), ("TensorListStack", &vec!["w/Exit_2".to_string(), "out/element_shape".into()]));
    // x's shape says the loop has 3 steps.
    assert_eq!(stack.int_attr("num_elements").unwrap(), Some(3));
    for flow in ["w/Enter_2", "w/Merge_2", "w/Switch_2", "w/Identity_2", "w/NextIteration_2", "w/Exit_2", "w/Read/Enter_1"] {
        assert_eq!(t_of(&g, flow), Some(DataType::DtVariant), "{flow}");
    }
    for other in ["w/Merge", "w/Merge_1", "w/Switch_1", "w/NextIteration_1"] {
        assert_ne!(t_of(&g, other), Some(DataType::DtVariant), "{other}");
    }
    for handle in ["w/Read/Enter", "w/Write/Enter"] {
        assert!(!g.contains(handle), "{handle}");
    }
    // The element shape inside the loop waits on the loop's index, which
    // puts it in the loop's frame.
    let read_shape = g.node(&g.node("w/Read").unwrap().input[2]).unwrap();
    assert_eq!(read_shape.input, ["^w/Identity"]);
    Graph::new(g.into_def()).unwrap();
}

#[test]
fn a_fully_known_element_shape_is_a_constant() {
    let mut g = graph(rnn(&[4, 2]));
    tensor_arrays_to_lists(&mut g).unwrap();
    let es = g.node("out/element_shape").unwrap();
    assert_eq!(es.op, "Const");
    assert_eq!(const_ints(&g, InputRef::output("out/element_shape", 0)), Some(vec![4, 2]));
}

fn kept_reason(nodes: Vec<NodeDef>, array: &str) -> String {
    let mut g = graph(nodes);
    let before = g.def().clone();
    let report = tensor_arrays_to_lists(&mut g).unwrap();
    let kept = report.kept.iter().find(|k| k.name == array).unwrap_or_else(|| panic!("{report:?}"));
    if report.rewritten.is_empty() {
        assert_eq!(g.def(), &before, "a kept array leaves the graph as it was");
    }
    kept.reason.clone()
}

#[test]
fn a_growing_array_stays() {
    let mut nodes = rnn(&[-1, 2]);
    let out = nodes.iter_mut().find(|n| n.name == "out").unwrap();
    out.attr.insert("dynamic_size".into(), AttrValue { value: Some(Value::B(true)) });
    assert!(kept_reason(nodes, "out").contains("dynamic_size"));
}

#[test]
fn a_flow_read_by_another_op_stays() {
    let mut nodes = rnn(&[-1, 2]);
    nodes.push(float_op("Identity", "peek", &["w/Exit_2"]));
    nodes.push(float_op("Neg", "use", &["peek"]));
    let reason = kept_reason(nodes, "out");
    assert!(reason.contains("`use`"), "{reason}");
}

#[test]
fn an_unknown_element_shape_with_no_loop_variable_written_stays() {
    let mut nodes = rnn(&[-1, 2]);
    let write = nodes.iter_mut().find(|n| n.name == "w/Write").unwrap();
    write.input[2] = "w/Read".into();
    let reason = kept_reason(nodes, "out");
    assert!(reason.contains("[?,2]") && reason.contains("loop variable"), "{reason}");
}

#[test]
fn a_partial_scatter_stays() {
    let mut nodes = rnn(&[-1, 2]);
    let range = nodes.iter_mut().find(|n| n.name == "unstack/range").unwrap();
    range.input[0] = "one".into();
    let reason = kept_reason(nodes, "in");
    assert!(reason.contains("scattered"), "{reason}");
}

#[test]
fn a_handle_used_elsewhere_stays() {
    let mut nodes = rnn(&[-1, 2]);
    nodes.push(NodeBuilder::new("TensorArrayCloseV3").input("out").build("close"));
    let reason = kept_reason(nodes, "out");
    assert!(reason.contains("`close`"), "{reason}");
}
