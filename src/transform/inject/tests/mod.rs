//! inject on graphs of a few nodes, without TensorFlow: which weights it
//! picks, what it rewires, and the structure of what it adds
//! (tests/inject.rs trains the result in TensorFlow).

mod control;
mod masks;
mod select;
mod update;

use regex::Regex;

use super::{inject, InjectError, InjectOptions, InjectReport, PruningHparams};
use crate::graph::{const_node, Graph, InputRef, NodeBuilder};
use crate::model::{Model, ModelKind};
use crate::proto::tensorflow::collection_def::{Kind, NodeList};
use crate::proto::tensorflow::{CollectionDef, DataType, MetaGraphDef, NodeDef, SaverDef};
use crate::tensor::{Tensor, TensorData};
use crate::transform::testing::{graph, op, ref_variable};

/// Injects into a bare GraphDef made of `nodes`.
fn try_inject(nodes: Vec<NodeDef>, options: &InjectOptions) -> Result<(Graph, InjectReport), InjectError> {
    let mut model = Model { path: "train.pb".into(), kind: ModelKind::GraphDef, graph: graph(nodes), meta: None };
    let report = inject(&mut model, options)?;
    Ok((model.graph, report))
}

/// A MetaGraphDef around `nodes` with a V2 saver saving `saved`, and the
/// `trainable_variables` collection listing `trainable`.
fn training_model(mut nodes: Vec<NodeDef>, saved: &[&str], trainable: &[&str]) -> Model {
    let strings = |name: &str, values: Vec<String>| {
        const_node(
            name,
            &Tensor {
                dtype: DataType::DtString,
                shape: vec![values.len() as u64],
                data: TensorData::Strings(values.into_iter().map(Into::into).collect()),
            },
        )
    };
    nodes.push(placeholder("save/Const"));
    nodes.push(strings("save/SaveV2/tensor_names", saved.iter().map(|s| s.to_string()).collect()));
    nodes.push(strings("save/SaveV2/shape_and_slices", saved.iter().map(|_| String::new()).collect()));
    nodes.push(
        NodeBuilder::new("SaveV2")
            .inputs(["save/Const", "save/SaveV2/tensor_names", "save/SaveV2/shape_and_slices"])
            .inputs(saved.iter().copied())
            .types("dtypes", &vec![DataType::DtFloat; saved.len()])
            .build("save/SaveV2"),
    );
    nodes.push(NodeBuilder::new("Identity").input("save/Const").after("save/SaveV2").build("save/control_dependency"));
    nodes.push(NodeBuilder::new("NoOp").build("save/restore_all"));
    let trainable = CollectionDef {
        kind: Some(Kind::NodeList(NodeList { value: trainable.iter().map(|t| InputRef::tensor_name(t, 0)).collect() })),
    };
    let meta = MetaGraphDef {
        saver_def: Some(SaverDef {
            filename_tensor_name: "save/Const:0".into(),
            save_tensor_name: "save/control_dependency:0".into(),
            restore_op_name: "save/restore_all".into(),
            version: 2,
            ..Default::default()
        }),
        collection_def: [("trainable_variables".to_string(), trainable)].into(),
        ..Default::default()
    };
    Model { path: "train.meta".into(), kind: ModelKind::MetaGraphDef, graph: graph(nodes), meta: Some(meta) }
}

fn injected(nodes: Vec<NodeDef>) -> (Graph, InjectReport) {
    try_inject(nodes, &InjectOptions::default()).unwrap()
}

fn hparams(spec: &str) -> InjectOptions {
    InjectOptions { hparams: PruningHparams::parse(spec).unwrap(), ..Default::default() }
}

fn regexes(patterns: &[&str]) -> Vec<Regex> {
    patterns.iter().map(|p| Regex::new(p).unwrap()).collect()
}

fn global_step() -> NodeDef {
    NodeBuilder::new("VariableV2").ty("dtype", DataType::DtInt64).shape("shape", &[]).build("global_step")
}

fn placeholder(name: &str) -> NodeDef {
    NodeBuilder::new("Placeholder").ty("dtype", DataType::DtFloat).build(name)
}

/// `x` and the global step, which every graph here has.
fn inputs() -> Vec<NodeDef> {
    vec![placeholder("x"), global_step()]
}

/// A ref variable `var` of `shape` and its read `var/read`.
fn variable(var: &str, shape: &[u64]) -> Vec<NodeDef> {
    vec![ref_variable(var, shape), op(&format!("{var}/read"), "Identity", &[var])]
}

/// `{scope}/MatMul = MatMul(x, {scope}/kernel/read)` with a [2, 3] kernel.
fn dense(scope: &str) -> Vec<NodeDef> {
    let kernel = format!("{scope}/kernel");
    let mut nodes = variable(&kernel, &[2, 3]);
    nodes.push(op(&format!("{scope}/MatMul"), "MatMul", &["x", &format!("{kernel}/read")]));
    nodes
}

/// `{scope}/Conv2D = Conv2D(x, {scope}/kernel/read)` with a [3, 3, 2, 4] kernel.
fn conv(scope: &str) -> Vec<NodeDef> {
    let kernel = format!("{scope}/kernel");
    let mut nodes = variable(&kernel, &[3, 3, 2, 4]);
    nodes.push(op(&format!("{scope}/Conv2D"), "Conv2D", &["x", &format!("{kernel}/read")]));
    nodes
}

fn int32_scalar(name: &str, value: i64) -> NodeDef {
    const_node(name, &Tensor::from_i32s(&[], &[value as i32]))
}

fn node<'g>(g: &'g Graph, name: &str) -> &'g NodeDef {
    g.require(name).unwrap()
}

/// The node producing input `i` of `name`.
fn input<'g>(g: &'g Graph, name: &str, i: usize) -> &'g NodeDef {
    let n = node(g, name);
    node(g, InputRef::parse(&n.input[i]).unwrap().node)
}

fn weight_names(report: &InjectReport) -> Vec<&str> {
    report.weights.iter().map(|w| w.weight.as_str()).collect()
}
