//! Extends the graph's own `tf.compat.v1.train.Saver` subgraph (the one
//! `saver_def` names) so it saves and restores the new variables: more
//! tensors for its `SaveV2`, and a `RestoreV2` of its own for them, run by
//! the restore op.

use std::collections::HashSet;

use bytes::Bytes;

use super::builder::{Ops};
use crate::graph::{const_node, node_name, Graph, InputRef, Inputs, NodeBuilder};
use super::select::VarKind;
use super::variables::{self, Variable};
use super::{InjectError, SaverFault};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{AttrValue, DataType, SaverDef};
use crate::tensor::{self, Tensor, TensorData};

const V2: i32 = 2;

pub fn extend(graph: &mut Graph, saver: &SaverDef, vars: &[&Variable]) -> Result<(), InjectError> {
    if saver.version != V2 {
        return Err(InjectError::Saver(SaverFault::NotV2));
    }
    let save = find_save(graph, node_name(&saver.save_tensor_name))?;
    let mut node = graph.require(&save)?.clone();
    let [_, names, slices, ..] = node.input.as_slice() else {
        return Err(InjectError::Saver(SaverFault::SaveInputs(save)));
    };
    let (names, slices) = (node_name(names).to_string(), node_name(slices).to_string());
    append_strings(
        graph,
        &names,
        vars.iter().map(|v| v.save_name().to_string()),
    )?;
    append_strings(graph, &slices, vars.iter().map(|v| v.save_slice_spec()))?;
    let first_control = node.input_refs().position(|r| r.control).unwrap_or(node.input.len());
    let tensors: Vec<String> = vars
        .iter()
        .map(|v| match v.kind {
            VarKind::Ref => v.name.clone(),
            VarKind::Resource => v.read.clone(),
        })
        .collect();
    node.input.splice(first_control..first_control, tensors);
    append_dtypes(&mut node.attr, vars)?;
    graph.replace(node)?;

    let restore_op = node_name(&saver.restore_op_name).to_string();
    graph.require(&restore_op)?;
    let mut ops = Ops::new(graph, "save");
    let names = ops.constant(
        "RestoreV2_pruning/tensor_names",
        strings(vars.iter().map(|v| v.save_name().to_string())),
    )?;
    let slices = ops.constant(
        "RestoreV2_pruning/shape_and_slices",
        strings(vars.iter().map(|v| v.save_slice_spec())),
    )?;
    let dtypes: Vec<DataType> = vars.iter().map(|v| v.dtype).collect();
    let restore = ops.add(
        "RestoreV2_pruning",
        NodeBuilder::new("RestoreV2")
            .input(node_name(&saver.filename_tensor_name))
            .input(names)
            .input(slices)
            .types("dtypes", &dtypes),
    )?;
    let mut assigns = Vec::new();
    for (i, v) in vars.iter().enumerate() {
        assigns.push(variables::assign(
            &mut ops,
            v,
            &InputRef::output(&restore, i as u32).to_string(),
            "Assign_pruning",
        )?);
    }
    let mut restore_node = graph.require(&restore_op)?.clone();
    restore_node
        .input
        .extend(assigns.iter().map(|a| InputRef::control_of(a).to_string()));
    graph.replace(restore_node)?;
    Ok(())
}

/// The `SaveV2` the save tensor depends on (the first one, for a sharded saver).
fn find_save(graph: &Graph, start: &str) -> Result<String, InjectError> {
    let mut seen = HashSet::new();
    let mut work = vec![start.to_string()];
    while let Some(name) = work.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(node) = graph.node(&name) else {
            continue;
        };
        if node.op == "SaveV2" {
            return Ok(name);
        }
        work.extend(
            node.input
                .iter()
                .map(|i| node_name(i).to_string()),
        );
    }
    Err(InjectError::Saver(SaverFault::NoSaveV2(start.to_string())))
}

fn strings(values: impl Iterator<Item = String>) -> Tensor {
    let values: Vec<Bytes> = values.map(Bytes::from).collect();
    Tensor {
        dtype: DataType::DtString,
        shape: vec![values.len() as u64],
        data: TensorData::Strings(values),
    }
}

/// Rewrites the string-vector `Const` named `name` with `more` appended.
fn append_strings(
    graph: &mut Graph,
    name: &str,
    more: impl Iterator<Item = String>,
) -> Result<(), InjectError> {
    let node = graph.require(name)?;
    let bad = || InjectError::Saver(SaverFault::NotStrings(name.to_string()));
    let Some(AttrValue {
        value: Some(Value::Tensor(proto)),
    }) = node.attr.get("value")
    else {
        return Err(bad());
    };
    let current = tensor::from_proto(proto).map_err(|_| bad())?;
    let TensorData::Strings(mut values) = current.data else {
        return Err(bad());
    };
    values.extend(more.map(Bytes::from));
    let mut replacement = const_node(
        name,
        &Tensor {
            dtype: DataType::DtString,
            shape: vec![values.len() as u64],
            data: TensorData::Strings(values),
        },
    );
    replacement.device = node.device.clone();
    replacement.input = node.input.clone();
    graph.replace(replacement)?;
    Ok(())
}

fn append_dtypes(
    attrs: &mut std::collections::BTreeMap<String, AttrValue>,
    vars: &[&Variable],
) -> Result<(), InjectError> {
    let Some(AttrValue {
        value: Some(Value::List(list)),
    }) = attrs.get_mut("dtypes")
    else {
        return Err(InjectError::Saver(SaverFault::NoDtypes));
    };
    list.r#type.extend(vars.iter().map(|v| v.dtype as i32));
    Ok(())
}
