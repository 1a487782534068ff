//! Folding `masked_weight = mask * weight` into one constant, so that masks,
//! thresholds and the pruning machinery can be dropped. What a masked weight
//! is, `crate::pruning` says.
//! A masked weight inside TF1 while loops (an RNN cell's kernel under
//! `dynamic_rnn`) is folded too, from the loop-invariant inputs entering it.

use std::collections::HashSet;

use super::eval::{Evaluated, Evaluator, Frame};
use super::freeze::VariableSource;
use super::{FoldError, Result, TransformError};
use crate::graph::ops::ENTER;
use crate::graph::{const_node, Graph, NodeBuilder};
use crate::pruning;
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::NodeDef;
use crate::tensor::Tensor;

/// One folded weight, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MaskedWeight {
    pub name: String,
    /// The `Const` holding the value: `name` itself, or outside the loops
    /// when the masked weight is computed inside while loops.
    pub constant: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub elements: u64,
    pub zeros: u64,
}

/// Replaces every masked weight with its value, reading masks and weights
/// from `variables` (or constants, in a frozen graph). Each layer's pages are
/// released once folded, so a large checkpoint is never resident at once.
pub fn fold_masks(graph: &mut Graph, masks: &HashSet<String>, variables: &VariableSource) -> Result<Vec<MaskedWeight>> {
    let targets: Vec<String> = pruning::masked_weights(graph, masks).into_iter().map(|n| n.name.clone()).collect();
    let mut folded = Vec::with_capacity(targets.len());
    for name in targets {
        let mut evaluator = Evaluator::new(graph, variables);
        let Evaluated { value, frames } = evaluator.evaluate(&name).map_err(|e| TransformError::Fold {
            node: name.clone(),
            source: e.into(),
        })?;
        let read = std::mem::take(&mut evaluator.read);
        let constant = put_constant(graph, &name, &value, &frames)?;
        folded.push(MaskedWeight {
            name,
            constant,
            dtype: value.dtype.name().to_string(),
            shape: value.shape.clone(),
            elements: value.num_elements(),
            zeros: value.count_zeros().unwrap_or(0),
        });
        variables.release(&read);
    }
    Ok(folded)
}

/// Puts `value` in place of the node `name`; returns the `Const` holding it.
/// Inside while loops a node reads only from its own frame, so the constant
/// sits outside them, as `<name>/folded`, and enters each frame, outermost
/// first, through a loop-invariant `Enter` (`<name>/folded/Enter`,
/// `.../Enter_1`, ...), as a frozen variable read in a loop does; the
/// innermost `Enter` takes `name`, so the consumers are unchanged.
fn put_constant(graph: &mut Graph, name: &str, value: &Tensor, frames: &[Frame]) -> Result<String> {
    let Some((innermost, outer)) = frames.split_last() else {
        graph.replace(const_node(name, value))?;
        return Ok(name.to_string());
    };
    let constant = format!("{name}/folded");
    let enters: Vec<String> = (0..outer.len())
        .map(|i| if i == 0 { format!("{constant}/Enter") } else { format!("{constant}/Enter_{i}") })
        .collect();
    if let Some(taken) = std::iter::once(&constant).chain(&enters).find(|n| graph.contains(n)) {
        return Err(TransformError::Fold {
            node: name.to_string(),
            source: FoldError::NameTaken(taken.clone()),
        });
    }
    graph.add(const_node(&constant, value))?;
    let mut input = constant.clone();
    for (enter, frame) in enters.iter().zip(outer) {
        graph.add(enter_node(enter, &input, value, frame))?;
        input = enter.clone();
    }
    graph.replace(enter_node(name, &input, value, innermost))?;
    Ok(constant)
}

/// A loop-invariant `Enter` of `input` into `frame`: TensorFlow forwards it
/// once to every iteration.
fn enter_node(name: &str, input: &str, value: &Tensor, frame: &Frame) -> NodeDef {
    NodeBuilder::new(ENTER)
        .input(input)
        .ty("T", value.dtype)
        .attr("frame_name", Value::S(frame.name.clone()))
        .boolean("is_constant", true)
        .int("parallel_iterations", frame.parallel_iterations)
        .build(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, CheckpointWriter};
    use crate::proto::tensorflow::GraphDef;

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeBuilder::new(op).inputs(inputs.iter().copied()).build(name)
    }

    fn enter(name: &str, input: &str, frame: &str, constant: bool) -> NodeDef {
        NodeBuilder::new("Enter")
            .input(input)
            .string("frame_name", frame)
            .boolean("is_constant", constant)
            .int("parallel_iterations", if frame == "inner" { 4 } else { 32 })
            .build(name)
    }

    /// A while loop in frame `frame` around `body`, its loop variable `{frame}/x`.
    fn while_loop(frame: &str, entered: &str, body: Vec<NodeDef>, result: &str) -> Vec<NodeDef> {
        let at = |n: &str| format!("{frame}/{n}");
        let mut nodes = vec![
            enter(&at("Enter"), entered, frame, false),
            node(&at("Merge"), "Merge", &[&at("Enter"), &at("NextIteration")]),
            node(&at("LoopCond"), "LoopCond", &[&at("Merge")]),
            node(&at("Switch"), "Switch", &[&at("Merge"), &at("LoopCond")]),
            node(&at("x"), "Identity", &[&format!("{}:1", at("Switch"))]),
            node(&at("NextIteration"), "NextIteration", &[result]),
            node(&at("Exit"), "Exit", &[&at("Switch")]),
        ];
        nodes.extend(body);
        nodes
    }

    const MASK: [f32; 4] = [1.0, 0.0, 0.0, 1.0];
    const KERNEL: [f32; 4] = [-1.5, -2.0, 3.0, 4.0];

    /// Folds every masked weight of `nodes`, mask and kernel read from a checkpoint.
    fn fold(nodes: Vec<NodeDef>) -> (Graph, Result<Vec<MaskedWeight>>) {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("model.ckpt");
        let mut w = CheckpointWriter::create(&prefix).unwrap();
        w.add("fc/mask", &Tensor::from_f32s(&[2, 2], &MASK)).unwrap();
        w.add("fc/kernel", &Tensor::from_f32s(&[2, 2], &KERNEL)).unwrap();
        w.finish().unwrap();
        let ckpt = Checkpoint::open(&prefix).unwrap();
        let mut graph = Graph::new(GraphDef { node: nodes, ..Default::default() }).unwrap();
        let folded = fold_masks(&mut graph, &HashSet::new(), &VariableSource::new(&ckpt, &[]));
        (graph, folded)
    }

    fn variables() -> Vec<NodeDef> {
        vec![
            node("fc/mask", "VariableV2", &[]),
            node("fc/mask/read", "Identity", &["fc/mask"]),
            node("fc/kernel", "VariableV2", &[]),
            node("fc/kernel/read", "Identity", &["fc/kernel"]),
            node("input", "Placeholder", &[]),
        ]
    }

    fn attr<'a>(n: &'a NodeDef, key: &str) -> &'a Value {
        n.attr[key].value.as_ref().unwrap()
    }

    fn assert_enters(graph: &Graph, name: &str, input: &str, frame: &str, iterations: i64) {
        let n = graph.node(name).unwrap();
        assert_eq!((n.op.as_str(), n.input.as_slice()), ("Enter", [input.to_string()].as_slice()), "{name}");
        assert_eq!(attr(n, "frame_name"), &Value::S(frame.as_bytes().to_vec().into()));
        assert_eq!(attr(n, "is_constant"), &Value::B(true));
        assert_eq!(attr(n, "parallel_iterations"), &Value::I(iterations));
        assert_eq!(attr(n, "T"), &Value::Type(crate::proto::tensorflow::DataType::DtFloat as i32));
    }

    fn the_product() -> Tensor {
        let product: Vec<f32> = MASK.iter().zip(KERNEL).map(|(m, k)| m * k).collect();
        let t = Tensor::from_f32s(&[2, 2], &product);
        assert_eq!(t.f32s().unwrap()[1].to_bits(), (-0.0f32).to_bits(), "the masked negative weight is -0.0");
        t
    }

    fn value_of(graph: &Graph, name: &str) -> Tensor {
        let n = graph.node(name).unwrap();
        assert_eq!(n.op, "Const", "{name}");
        match attr(n, "value") {
            Value::Tensor(t) => crate::tensor::from_proto(t).unwrap(),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_masked_weight_in_a_loop_enters_it_as_a_folded_constant() {
        let mw = "while/fc/weights/masked_weight";
        let mut nodes = variables();
        nodes.extend(while_loop(
            "while",
            "input",
            vec![
                enter(&format!("{mw}/Enter"), "fc/mask/read", "while", true),
                enter(&format!("{mw}/Enter_1"), "fc/kernel/read", "while", true),
                node(mw, "Mul", &[&format!("{mw}/Enter"), &format!("{mw}/Enter_1"), "^while/x"]),
                node("while/MatMul", "MatMul", &["while/x", mw]),
            ],
            "while/MatMul",
        ));
        let (graph, folded) = fold(nodes);
        let folded = folded.unwrap();
        assert_eq!(folded.len(), 1, "the Enters named after the Mul are not masked weights");
        assert_eq!(folded[0].name, mw);
        assert_eq!(folded[0].constant, "while/fc/weights/masked_weight/folded");
        assert_eq!(folded[0].zeros, 2);
        // The Mul's name now enters the loop: no control input from the loop's pivot.
        assert_enters(&graph, mw, &folded[0].constant, "while", 32);
        assert_eq!(value_of(&graph, &folded[0].constant), the_product());
        assert_eq!(graph.node("while/MatMul").unwrap().input, ["while/x", mw]);
    }

    #[test]
    fn nested_loops_get_one_enter_per_frame() {
        let mw = "outer/inner/fc/weights/masked_weight";
        let mut inner = while_loop(
            "inner",
            "outer/x",
            vec![
                enter(&format!("{mw}/Enter_1"), &format!("{mw}/Enter"), "inner", true),
                enter(&format!("{mw}/Enter_3"), &format!("{mw}/Enter_2"), "inner", true),
                node(mw, "Mul", &[&format!("{mw}/Enter_1"), &format!("{mw}/Enter_3"), "^inner/x"]),
                node("inner/MatMul", "MatMul", &["inner/x", mw]),
            ],
            "inner/MatMul",
        );
        inner.push(enter(&format!("{mw}/Enter"), "fc/mask/read", "outer", true));
        inner.push(enter(&format!("{mw}/Enter_2"), "fc/kernel/read", "outer", true));
        let mut nodes = variables();
        nodes.extend(while_loop("outer", "input", inner, "inner/Exit"));
        let (graph, folded) = fold(nodes);
        let folded = folded.unwrap();
        let constant = format!("{mw}/folded");
        assert_eq!(folded[0].constant, constant);
        assert_eq!(value_of(&graph, &constant), the_product());
        assert_enters(&graph, &format!("{constant}/Enter"), &constant, "outer", 32);
        assert_enters(&graph, mw, &format!("{constant}/Enter"), "inner", 4);
    }

    fn loop_with_mul(operands: [&str; 2], extra: Vec<NodeDef>) -> Vec<NodeDef> {
        let mut body = extra;
        body.push(node("while/masked_weight", "Mul", &operands));
        body.push(node("while/MatMul", "MatMul", &["while/x", "while/masked_weight"]));
        let mut nodes = variables();
        nodes.extend(while_loop("while", "input", body, "while/MatMul"));
        nodes
    }

    fn fold_error(nodes: Vec<NodeDef>) -> String {
        fold(nodes).1.unwrap_err().to_string()
    }

    #[test]
    fn only_loop_invariant_inputs_are_folded() {
        let loop_variable = loop_with_mul(
            ["while/m", "while/k"],
            vec![enter("while/m", "fc/mask/read", "while", false), enter("while/k", "fc/kernel/read", "while", true)],
        );
        let err = fold_error(loop_variable);
        assert!(err.contains("cannot fold `while/masked_weight`") && err.contains("is_constant=false"), "{err}");

        // The kernel times the loop variable, which the loop's Switch forwards.
        let kernel = enter("while/k", "fc/kernel/read", "while", true);
        let err = fold_error(loop_with_mul(["while/k", "while/x"], vec![kernel]));
        assert!(err.contains("output 1 of `while/Switch` is not constant"), "{err}");
    }

    #[test]
    fn operands_from_different_loops_and_taken_names_are_errors() {
        let mut nodes = loop_with_mul(
            ["while/m", "other/k"],
            vec![enter("while/m", "fc/mask/read", "while", true), enter("other/k", "fc/kernel/read", "other", true)],
        );
        let err = fold_error(nodes.clone());
        assert!(err.contains("different while loops"), "{err}");

        nodes.retain(|n| n.name != "other/k");
        nodes.push(enter("while/k", "fc/kernel/read", "while", true));
        nodes.iter_mut().find(|n| n.name == "while/masked_weight").unwrap().input[1] = "while/k".into();
        nodes.push(node("while/masked_weight/folded", "NoOp", &[]));
        let err = fold_error(nodes);
        assert!(err.contains("`while/masked_weight/folded`, a name the graph already uses"), "{err}");
    }
}
