use super::*;
use crate::graph::{const_node, NodeBuilder};
use crate::proto::tensorflow::tensor_shape_proto::Dim;
use crate::proto::tensorflow::TensorShapeProto;
use crate::tensor::Tensor;
use crate::transform::testing::{graph, op};

fn placeholder(name: &str, dims: &[i64]) -> NodeDef {
    let shape = TensorShapeProto { dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(), unknown_rank: false };
    NodeBuilder::new("Placeholder").ty("dtype", DataType::DtFloat).attr("shape", Value::Shape(shape)).build(name)
}

fn vector(name: &str, values: &[i32]) -> NodeDef {
    const_node(name, &Tensor::from_i32s(&[values.len() as u64], values))
}

fn scalar(name: &str, value: i32) -> NodeDef {
    const_node(name, &Tensor::from_i32s(&[], &[value]))
}

fn int_op(op: &str, name: &str, inputs: &[&str]) -> NodeDef {
    NodeBuilder::new(op).inputs(inputs.iter().copied()).ty("T", DataType::DtInt32).build(name)
}

/// `of[k]`, as Python's `x[k]` builds it.
fn element(name: &str, of: &str, k: i32) -> Vec<NodeDef> {
    vec![
        vector(&format!("{name}/begin"), &[k]),
        vector(&format!("{name}/end"), &[k + 1]),
        vector(&format!("{name}/stride"), &[1]),
        NodeBuilder::new("StridedSlice")
            .inputs([of.to_string(), format!("{name}/begin"), format!("{name}/end"), format!("{name}/stride")])
            .ty("T", DataType::DtInt32)
            .int("shrink_axis_mask", 1)
            .build(name),
    ]
}

fn infer(g: &Graph) -> Statics {
    Statics::infer(g, &g.topological_order())
}

fn value(g: &Graph, s: &Statics, name: &str) -> Option<Ints> {
    s.value_of(g, InputRef::output(name, 0)).cloned()
}

fn shape(g: &Graph, s: &Statics, name: &str) -> Option<Shape> {
    s.shape(g.position(name)?, 0).cloned()
}

#[test]
fn the_step_count_is_the_first_dim_of_the_shape_of_a_time_major_transpose() {
    // `dynamic_rnn`: batch-major x to time-major by `concat([1, 0], range(2, rank))`.
    let mut nodes = vec![
        placeholder("x", &[-1, 7, 3]),
        vector("swap", &[1, 0]),
        scalar("two", 2),
        scalar("rank", 3),
        scalar("one", 1),
        scalar("zero", 0),
        int_op("Range", "rest", &["two", "rank", "one"]),
        int_op("ConcatV2", "perm", &["swap", "rest", "zero"]),
        op("time_major", "Transpose", &["x", "perm"]),
        op("shape", "Shape", &["time_major"]),
    ];
    nodes.extend(element("steps", "shape", 0));
    nodes.extend(element("batch", "shape", 1));
    let g = graph(nodes);
    let s = infer(&g);
    assert_eq!(value(&g, &s, "perm"), Some(vec![Some(1), Some(0), Some(2)]));
    assert_eq!(shape(&g, &s, "time_major"), Some(vec![7, -1, 3]));
    assert_eq!(s.int_of(&g, InputRef::output("steps", 0)), Some(7));
    assert_eq!(value(&g, &s, "batch"), Some(vec![None]));
    assert_eq!(s.int_of(&g, InputRef::output("batch", 0)), None);
}

#[test]
fn a_concat_of_constants_on_axis_0_is_their_values_in_order() {
    let g = graph(vec![
        vector("a", &[4, 5]),
        vector("b", &[6]),
        scalar("zero", 0),
        scalar("one", 1),
        int_op("ConcatV2", "ab", &["a", "b", "zero"]),
        int_op("ConcatV2", "on_axis_1", &["a", "b", "one"]),
    ]);
    let s = infer(&g);
    assert_eq!(value(&g, &s, "ab"), Some(vec![Some(4), Some(5), Some(6)]));
    assert_eq!(value(&g, &s, "on_axis_1"), None);
}

#[test]
fn a_range_of_known_scalars_is_known_and_a_descending_one_is_not() {
    let g = graph(vec![
        scalar("start", 1),
        scalar("limit", 8),
        scalar("delta", 3),
        scalar("down", -1),
        int_op("Range", "r", &["start", "limit", "delta"]),
        int_op("Range", "backwards", &["limit", "start", "down"]),
    ]);
    let s = infer(&g);
    assert_eq!(value(&g, &s, "r"), Some(vec![Some(1), Some(4), Some(7)]));
    assert_eq!(shape(&g, &s, "r"), Some(vec![3]));
    assert_eq!(value(&g, &s, "backwards"), None);
}

#[test]
fn a_value_behind_an_identity_chain_is_the_constant_s() {
    let g = graph(vec![
        scalar("c", 5),
        int_op("Identity", "i", &["c"]),
        int_op("Snapshot", "j", &["i"]),
        int_op("StopGradient", "k", &["j"]),
    ]);
    let s = infer(&g);
    assert_eq!(s.int_of(&g, InputRef::output("k", 0)), Some(5));
    assert_eq!(s.int_of(&g, InputRef::control_of("k")), None);
    assert_eq!(crate::graph::const_int(&g, InputRef::output("k", 0)), Some(5));
}

#[test]
fn unknown_dims_stay_unknown_through_shape_pack_and_reshape() {
    let mut nodes = vec![placeholder("x", &[-1, 4, 4]), op("shape", "Shape", &["x"]), scalar("flat", -1), scalar("sixteen", 16)];
    nodes.extend(element("batch", "shape", 0));
    nodes.extend([
        int_op("Pack", "target", &["batch", "flat"]),
        op("flattened", "Reshape", &["x", "target"]),
        int_op("Pack", "known", &["sixteen", "batch"]),
    ]);
    let g = graph(nodes);
    let s = infer(&g);
    assert_eq!(value(&g, &s, "shape"), Some(vec![None, Some(4), Some(4)]));
    assert_eq!(value(&g, &s, "target"), Some(vec![None, Some(-1)]));
    assert_eq!(shape(&g, &s, "flattened"), Some(vec![-1, -1]));
    assert_eq!(value(&g, &s, "known"), Some(vec![Some(16), None]));
}

#[test]
fn a_pack_of_known_scalars_gives_a_reshape_its_shape() {
    let mut nodes = vec![placeholder("x", &[2, 4, 4]), op("shape", "Shape", &["x"]), scalar("flat", -1)];
    nodes.extend(element("batch", "shape", 0));
    nodes.extend([int_op("Pack", "target", &["batch", "flat"]), op("flattened", "Reshape", &["x", "target"])]);
    let g = graph(nodes);
    assert_eq!(shape(&g, &infer(&g), "flattened"), Some(vec![2, 16]));
}

#[test]
fn a_long_chain_is_inferred_without_recursion() {
    let mut nodes = vec![scalar("n0", 3)];
    nodes.extend((1..100_000).map(|i| int_op("Identity", &format!("n{i}"), &[&format!("n{}", i - 1)])));
    let g = graph(nodes);
    let s = infer(&g);
    assert_eq!(s.int_of(&g, InputRef::output("n99999", 0)), Some(3));
    assert_eq!(shape(&g, &s, "n99999"), Some(vec![]));
}

#[test]
fn a_while_loop_s_cycle_ends_and_what_it_carries_is_unknown() {
    let g = graph(vec![
        scalar("start", 0),
        NodeBuilder::new("Enter").input("start").ty("T", DataType::DtInt32).string("frame_name", "loop").build("enter"),
        int_op("Merge", "merge", &["enter", "next"]),
        int_op("Identity", "i", &["merge"]),
        int_op("NextIteration", "next", &["i"]),
    ]);
    let s = infer(&g);
    assert_eq!(s.int_of(&g, InputRef::output("start", 0)), Some(0));
    assert_eq!(value(&g, &s, "i"), None);
    assert_eq!(shape(&g, &s, "i"), None);
}

#[test]
fn windows_as_tensorflow_sizes_them() {
    assert_eq!(window_output(224, 7, 2, 1, "SAME"), 112);
    assert_eq!(window_output(112, 3, 2, 1, "VALID"), 55);
    assert_eq!(window_output(5, 3, 1, 2, "VALID"), 1);
    assert_eq!(window_output(-1, 3, 1, 1, "SAME"), -1);
}

#[test]
fn broadcasting_aligns_trailing_dimensions() {
    assert_eq!(broadcast(Some(vec![-1, 4, 4, 8]), Some(vec![8])), Some(vec![-1, 4, 4, 8]));
    assert_eq!(broadcast(Some(vec![1, 8]), Some(vec![3, 1])), Some(vec![3, 8]));
}
