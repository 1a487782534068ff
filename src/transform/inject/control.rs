//! The global step, the Switch/Merge conditional that runs the mask update
//! only on pruning steps, and the chaining of a train op into it.

use super::builder::{Ops};
use crate::graph::ops::{variable_kind, IDENTITY, READ_VARIABLE};
use crate::graph::{Attrs, Graph, InputRef, NodeBuilder};
use super::select::VarKind;
use super::variables::{self, Spec, Variable};
use super::InjectError;
use crate::proto::tensorflow::DataType;

pub struct GlobalStep {
    pub name: String,
    pub kind: VarKind,
    pub dtype: DataType,
    /// Set when inject made it.
    pub created: Option<Variable>,
}

/// The graph's global step: named by the `global_step` collection, or a
/// variable called `global_step`.
pub fn find_global_step(graph: &Graph, listed: &[String]) -> Option<GlobalStep> {
    listed
        .iter()
        .map(String::as_str)
        .chain(["global_step"])
        .find_map(|name| {
            let node = graph.node(name)?;
            let kind = variable_kind(&node.op)?;
            let dtype = node.dtype_attr("dtype").ok()??;
            matches!(dtype, DataType::DtInt32 | DataType::DtInt64).then(|| GlobalStep {
                name: name.to_string(),
                kind,
                dtype,
                created: None,
            })
        })
}

pub fn create_global_step(graph: &mut Graph) -> Result<GlobalStep, InjectError> {
    let mut ops = Ops::new(graph, "");
    let spec = Spec {
        name: "global_step",
        kind: VarKind::Ref,
        dtype: DataType::DtInt64,
        shape: &[],
        init: 0.0,
        device: "",
        slice: None,
    };
    let var = variables::create(&mut ops, spec)?;
    Ok(GlobalStep {
        name: var.name.clone(),
        kind: VarKind::Ref,
        dtype: DataType::DtInt64,
        created: Some(var),
    })
}

/// `cast(global_step, int32)`, read after `after` when given.
pub fn step_int32(
    ops: &mut Ops,
    step: &GlobalStep,
    after: Option<&str>,
) -> Result<String, InjectError> {
    let value = match step.kind {
        VarKind::Ref => step.name.clone(),
        VarKind::Resource => {
            let mut read = NodeBuilder::new(READ_VARIABLE)
                .input(&step.name)
                .ty("dtype", step.dtype);
            if let Some(a) = after {
                read = read.after(a);
            }
            ops.add(READ_VARIABLE, read)?
        }
    };
    let mut cast = NodeBuilder::new("Cast")
        .input(value)
        .ty("SrcT", step.dtype)
        .ty("DstT", DataType::DtInt32);
    if let (Some(a), VarKind::Ref) = (after, step.kind) {
        cast = cast.after(a);
    }
    ops.add("Cast", cast)
}

/// The two sides of a conditional on `pred`: ops made with control input
/// `switch_t` run only when it is true.
pub struct Cond {
    pub scope: String,
    pub switch_t: String,
    switch_f: String,
}

pub fn cond(ops: &mut Ops, pred: &str) -> Result<Cond, InjectError> {
    let mut c = ops.scoped("cond");
    let scope = c.scope().to_string();
    let switch = c.add(
        "Switch",
        NodeBuilder::new("Switch")
            .input(pred)
            .input(pred)
            .ty("T", DataType::DtBool),
    )?;
    let switch_t = c.add(
        "switch_t",
        NodeBuilder::new(IDENTITY)
            .input(format!("{switch}:1"))
            .ty("T", DataType::DtBool),
    )?;
    let switch_f = c.add(
        "switch_f",
        NodeBuilder::new(IDENTITY)
            .input(&switch)
            .ty("T", DataType::DtBool),
    )?;
    Ok(Cond {
        scope,
        switch_t,
        switch_f,
    })
}

/// Joins the branches: the true side waits for `taken`; returns the Merge, named `name`.
pub fn merge(ops: &mut Ops, cond: &Cond, taken: &str, name: &str) -> Result<String, InjectError> {
    let mut c = Ops::new(&mut *ops.graph, &cond.scope);
    let after = |c: &mut Ops, side: &str, dep: &str| {
        let node = NodeBuilder::new(IDENTITY).input(side).after(dep);
        c.add("control_dependency", node.ty("T", DataType::DtBool))
    };
    let t = after(&mut c, &cond.switch_t, taken)?;
    let skip = c.add(
        "NoOp",
        NodeBuilder::new("NoOp").after(&cond.switch_f),
    )?;
    let f = after(&mut c, &cond.switch_f, &skip)?;
    ops.add(
        name,
        NodeBuilder::new("Merge")
            .input(t)
            .input(f)
            .ty("T", DataType::DtBool)
            .int("N", 2),
    )
}

/// Moves the op `name` to `name/before_pruning`; data edges follow it, control
/// edges stay with the name (which `finish_train_op` gives to the chained op).
pub fn rename_train_op(graph: &mut Graph, name: &str) -> Result<String, InjectError> {
    let mut node = graph.require(name)?.clone();
    let renamed = Ops::new(graph, name).unique("before_pruning");
    graph.retain(|n| n.name != name);
    for n in graph.nodes_mut() {
        for input in n.input.iter_mut() {
            let Some(r) = InputRef::parse(input) else { continue };
            if r.node == name && !r.control {
                *input = InputRef::output(&renamed, r.port).to_string();
            }
        }
    }
    node.name = renamed.clone();
    graph.add(node)?;
    Ok(renamed)
}

/// The op users already run, now doing the training step and then the conditional update.
pub fn finish_train_op(graph: &mut Graph, name: &str, deps: &[&str]) -> Result<(), InjectError> {
    let node = deps.iter().fold(NodeBuilder::new("NoOp"), |n, d| n.after(d));
    let added = Ops::new(graph, "").add(name, node)?;
    if added != name {
        return Err(InjectError::NameTaken(name.to_string()));
    }
    Ok(())
}
