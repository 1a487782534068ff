//! Tiny graphs and checkpoints for the passes' unit tests, which run without
//! TensorFlow as the Graph Transform Tool's tests do.

use crate::checkpoint::{Checkpoint, CheckpointWriter};
use crate::graph::{Graph, NodeBuilder};
use crate::proto::tensorflow::{DataType, GraphDef, NodeDef};
use crate::tensor::Tensor;

/// An op of `T = float` with these inputs.
pub fn op(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
    NodeBuilder::new(op).inputs(inputs.iter().copied()).ty("T", DataType::DtFloat).build(name)
}

pub fn ref_variable(name: &str, shape: &[u64]) -> NodeDef {
    NodeBuilder::new("VariableV2").ty("dtype", DataType::DtFloat).shape("shape", shape).build(name)
}

pub fn graph(nodes: Vec<NodeDef>) -> Graph {
    Graph::new(GraphDef { node: nodes, ..Default::default() }).unwrap()
}

/// A checkpoint holding `tensors`, in a folder that lives as long as it.
pub struct TinyCheckpoint {
    pub checkpoint: Checkpoint,
    _dir: tempfile::TempDir,
}

pub fn checkpoint(tensors: &[(&str, Tensor)]) -> TinyCheckpoint {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("model.ckpt");
    let mut w = CheckpointWriter::create(&prefix).unwrap();
    for (name, t) in tensors {
        w.add(name, t).unwrap();
    }
    w.finish().unwrap();
    TinyCheckpoint { checkpoint: Checkpoint::open(&prefix).unwrap(), _dir: dir }
}

pub fn resource_variable(name: &str, shape: &[u64]) -> NodeDef {
    NodeBuilder::new("VarHandleOp").ty("dtype", DataType::DtFloat).shape("shape", shape).string("shared_name", name).build(name)
}
