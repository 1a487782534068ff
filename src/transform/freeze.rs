//! Freezing: variables the outputs need become `Const`s holding their
//! checkpoint values, as `convert_variables_to_constants` does. Resource
//! variables also change their readers: `ReadVariableOp` becomes `Identity`,
//! `ResourceGather` becomes `GatherV2`, and ops that only pass the handle
//! along (`Identity`, `Enter`, `Switch`, ...) change their `T` to the value's
//! dtype; TF1 control flow over a ref variable (`RefEnter`, `RefSwitch`, ...)
//! becomes the plain ops.

use std::collections::{HashMap, HashSet};

use super::{FoldError, Result, TransformError};
use crate::graph::ops::{plain_twin, IDENTITY, READ_VARIABLE};
use crate::checkpoint::Checkpoint;
use crate::graph::{const_node, is_variable, node_name, Attrs, Graph, NodeBuilder, Readers};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{AttrValue, DataType, NodeDef, VariableDef};
use crate::tensor::Tensor;

/// Where each variable's value is in a checkpoint. A Saver stores a variable
/// under its op name, except the parts of a partitioned variable, which are
/// slices of the full variable (`save_slice_info_def`).
pub struct VariableSource<'a> {
    checkpoint: &'a Checkpoint,
    slices: HashMap<String, (String, Vec<u64>)>,
}

impl<'a> VariableSource<'a> {
    pub fn new(checkpoint: &'a Checkpoint, variables: &[VariableDef]) -> Self {
        let slices = variables
            .iter()
            .filter_map(|v| {
                let info = v.save_slice_info_def.as_ref()?;
                let start = info.var_offset.iter().map(|&o| o.max(0) as u64).collect();
                Some((node_name(&v.variable_name).to_string(), (info.full_name.clone(), start)))
            })
            .collect();
        VariableSource { checkpoint, slices }
    }

    fn key<'k>(&'k self, node: &'k str) -> &'k str {
        self.slices.get(node).map_or(node, |(full, _)| full.as_str())
    }

    /// Lets the OS drop the pages of variables that will not be read again.
    pub(super) fn release(&self, nodes: &[String]) {
        for node in nodes {
            self.checkpoint.release(self.key(node));
        }
    }

    pub(super) fn value(&self, node: &str) -> Result<Tensor> {
        let key = self.key(node);
        let start = self.slices.get(node).map(|(_, start)| start);
        if !self.checkpoint.contains(key) {
            return Err(TransformError::MissingVariable {
                node: node.to_string(),
                key: key.to_string(),
                checkpoint: self.checkpoint.prefix().to_path_buf(),
            });
        }
        Ok(match start {
            Some(start) => self.checkpoint.slice(key, start)?,
            None => self.checkpoint.tensor(key)?,
        })
    }
}

/// Replaces every variable in `graph` with its value; returns their names.
pub fn freeze(graph: &mut Graph, source: &VariableSource) -> Result<Vec<String>> {
    let variables: Vec<NodeDef> = graph.nodes().iter().filter(|n| is_variable(n)).cloned().collect();
    let readers = Readers::of(graph);

    let mut frozen = Vec::with_capacity(variables.len());
    for var in variables {
        let value = source.value(&var.name)?;
        let declared = var.dtype_attr("dtype")?;
        if declared.is_some_and(|d| d.base() != value.dtype) {
            return Err(TransformError::Fold {
                node: var.name.clone(),
                source: FoldError::DtypeMismatch { declared, holds: value.dtype },
            });
        }
        graph.replace(const_node(&var.name, &value))?;
        retype_consumers(graph, &readers, &var.name, value.dtype)?;
        frozen.push(var.name);
    }
    Ok(frozen)
}

/// Follows a variable through its consumers, rewriting each for a value
/// instead of a resource handle or a ref.
fn retype_consumers(
    graph: &mut Graph,
    readers: &Readers,
    producer: &str,
    dtype: DataType,
) -> Result<()> {
    let mut work = vec![producer.to_string()];
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(name) = work.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(at) = graph.position(&name) else { continue };
        // Positions stay valid: nodes are replaced in place or added at the end.
        for reader in readers.data_readers(at) {
            let node = graph.nodes()[reader].clone();
            let rewritten = match node.op.as_str() {
                READ_VARIABLE => read_as_identity(&node, dtype)?,
                "ResourceGather" => {
                    let (gather, axis) = gather_as_gather_v2(&node, dtype)?;
                    if !graph.contains(&axis.name) {
                        graph.add(axis)?;
                    }
                    gather
                }
                // Once the variable is a constant, what forwarded its ref forwards a value.
                op => match plain_twin(op) {
                    Some(plain) => {
                        let mut n = node.clone();
                        n.op = plain.to_string();
                        work.push(n.name.clone());
                        n
                    }
                    None if node.dtype_attr("T")? == Some(DataType::DtResource) => {
                        let mut n = node.clone();
                        n.attr.insert("T".into(), AttrValue { value: Some(Value::Type(dtype as i32)) });
                        work.push(n.name.clone());
                        n
                    }
                    // Shape-only and initialisation ops are not on an inference path.
                    None => continue,
                },
            };
            graph.replace(rewritten)?;
        }
    }
    Ok(())
}

fn keep_colocation(from: &NodeDef, to: &mut NodeDef) {
    if let Some(class) = from.attr.get("_class") {
        to.attr.insert("_class".into(), class.clone());
    }
}

fn read_as_identity(read: &NodeDef, dtype: DataType) -> Result<NodeDef> {
    let mut node = NodeBuilder::new(IDENTITY)
        .inputs(read.input.iter().take(1).cloned())
        .device(&read.device)
        .ty("T", read.dtype_attr("dtype")?.unwrap_or(dtype))
        .build(&read.name);
    keep_colocation(read, &mut node);
    Ok(node)
}

fn gather_as_gather_v2(gather: &NodeDef, dtype: DataType) -> Result<(NodeDef, NodeDef)> {
    let batch_dims = gather.int_attr("batch_dims")?.unwrap_or(0);
    if batch_dims != 0 {
        return Err(TransformError::Fold {
            node: gather.name.clone(),
            source: FoldError::GatherBatchDims(batch_dims),
        });
    }
    let [params, indices, ..] = gather.input.as_slice() else {
        return Err(TransformError::Fold {
            node: gather.name.clone(),
            source: FoldError::GatherInputs,
        });
    };
    let tindices = gather.dtype_attr("Tindices")?.unwrap_or(DataType::DtInt32);
    let axis_value = match tindices {
        DataType::DtInt64 => Tensor::from_i64s(&[], &[0]),
        _ => Tensor::from_i32s(&[], &[0]),
    };
    let axis = const_node(&format!("{}/axis", gather.name), &axis_value);
    let mut node = NodeBuilder::new("GatherV2")
        .inputs([params, indices, &axis.name])
        .device(&gather.device)
        .ty("Tparams", gather.dtype_attr("dtype")?.unwrap_or(dtype))
        .ty("Tindices", tindices)
        .ty("Taxis", tindices)
        .int("batch_dims", 0)
        .build(&gather.name);
    keep_colocation(gather, &mut node);
    Ok((node, axis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Attrs;
    use crate::tensor;
    use crate::transform::testing::*;

    #[test]
    fn ref_variables_become_constants_their_reads_stay() {
        let ckpt = checkpoint(&[("w", Tensor::from_f32s(&[2], &[1.0, -2.0]))]);
        let mut g = graph(vec![ref_variable("w", &[2]), op("w/read", "Identity", &["w"])]);
        let frozen = freeze(&mut g, &VariableSource::new(&ckpt.checkpoint, &[])).unwrap();
        assert_eq!(frozen, ["w"]);
        let w = g.node("w").unwrap();
        assert_eq!(w.op, "Const");
        assert_eq!(tensor::from_proto(w.tensor_value().unwrap()).unwrap().f32s().unwrap(), [1.0, -2.0]);
        assert_eq!(g.node("w/read").unwrap().op, "Identity");
    }

    #[test]
    fn resource_reads_become_identities_and_gathers_gather_v2() {
        let ckpt = checkpoint(&[("emb", Tensor::from_f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]))]);
        let handle = NodeBuilder::new("VarHandleOp").ty("dtype", DataType::DtFloat).shape("shape", &[2, 2]).build("emb");
        let read = NodeBuilder::new("ReadVariableOp").input("emb").ty("dtype", DataType::DtFloat).build("emb/read");
        let gather = NodeBuilder::new("ResourceGather")
            .input("emb")
            .input("ids")
            .ty("dtype", DataType::DtFloat)
            .ty("Tindices", DataType::DtInt64)
            .build("lookup");
        let ids = NodeBuilder::new("Placeholder").ty("dtype", DataType::DtInt64).build("ids");
        let mut g = graph(vec![handle, read, ids, gather]);
        freeze(&mut g, &VariableSource::new(&ckpt.checkpoint, &[])).unwrap();
        let read = g.node("emb/read").unwrap();
        assert_eq!((read.op.as_str(), read.dtype_attr("T").unwrap()), ("Identity", Some(DataType::DtFloat)));
        let gather = g.node("lookup").unwrap();
        assert_eq!(gather.op, "GatherV2");
        assert_eq!(gather.input, ["emb", "ids", "lookup/axis"]);
        assert_eq!(gather.dtype_attr("Taxis").unwrap(), Some(DataType::DtInt64));
        assert_eq!(g.node("lookup/axis").unwrap().op, "Const");
    }

    #[test]
    fn a_variable_the_checkpoint_lacks_is_named() {
        let ckpt = checkpoint(&[("other", Tensor::from_f32s(&[1], &[0.0]))]);
        let mut g = graph(vec![ref_variable("w", &[1])]);
        let err = freeze(&mut g, &VariableSource::new(&ckpt.checkpoint, &[])).unwrap_err().to_string();
        assert!(err.contains("`w`") && err.contains("has no tensor `w`"), "{err}");
    }
}
