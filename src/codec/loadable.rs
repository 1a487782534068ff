//! `tf-strip encode --tf-loadable`: a GraphDef that stock TensorFlow loads
//! (Python, C++, anything that imports a GraphDef), where each large sparse
//! constant `W` is stored as a packed bitmask (one bit per element, LSB
//! first) and its nonzero elements, and rebuilt by standard ops:
//!
//! ```text
//! bits = NotEqual(BitwiseAnd(Reshape(mask, [-1, 1]), [1,2,4,...,128]), 0)   // [n/8, 8]
//! idx  = Where(Reshape(bits, [-1])[:n])                                    // [nnz, 1]
//! W'   = Reshape(Bitcast(ScatterNd(idx, values_as_int, [n]), T), shape)
//! ```
//!
//! The values travel as same-width integers and are bitcast back, so every
//! nonzero is rebuilt bit for bit (NaN payloads included). Zeros are rebuilt
//! as +0.0: a stripped model holds many -0.0 (`mask * w` for `w < 0`), equal
//! to +0.0 under IEEE comparison, and keeping their signs would cost one
//! more bit per zero; the models' outputs are tested bit-identical.
//!
//! Grappler folds constants only below 10 MiB, so a plain rebuild of a big
//! layer would run on every `Session.run`. The rebuild is made to run once
//! per session instead: its result is cached in a resource variable, and a
//! v1 `cond` (Switch/Merge) on `VarIsInitializedOp` routes every later run to
//! a `ReadVariableOp`, which aliases the buffer without copying. The rebuild
//! and its constants hang on the Switch's false branch (control edges from
//! its pivot), so on later runs they are dead and never execute. No
//! initializer has to be run: the graph initializes itself on first use, and
//! the node keeps `W`'s name, so consumers and fetches are unchanged.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message;
use serde::Serialize;

use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{AttrValue, DataType, GraphDef, NodeDef, TensorShapeProto};
use crate::graph;
use crate::tensor::{self, Tensor, TensorData};

#[derive(Debug, Clone)]
pub struct LoadableOptions {
    /// Constants smaller than this stay as they are.
    pub min_bytes: usize,
    /// Rewrite only when bitmask + values is below this fraction of the dense bytes.
    pub max_ratio: f64,
}

impl Default for LoadableOptions {
    fn default() -> Self {
        LoadableOptions {
            min_bytes: 16 << 10,
            max_ratio: 0.9,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Rewritten {
    pub name: String,
    pub dtype: String,
    pub elements: u64,
    pub nonzeros: u64,
    pub dense_bytes: u64,
    /// Packed mask plus nonzero values.
    pub sparse_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadableReport {
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub rewritten: Vec<Rewritten>,
    /// The input was a text GraphDef (set by `encode_loadable_file`).
    pub from_text: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadableError {
    #[error("not a binary GraphDef: {0}")]
    NotGraph(String),
    #[error("node `{0}` would be rewritten but `{1}` is already taken")]
    NameClash(String, String),
    #[error("the output would be over protobuf's 2 GiB limit")]
    TooLarge,
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
}

fn attr(v: Value) -> AttrValue {
    AttrValue { value: Some(v) }
}

fn dtype_attr(d: DataType) -> AttrValue {
    attr(Value::Type(d as i32))
}

fn node(name: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, AttrValue)>, device: &str) -> NodeDef {
    NodeDef {
        name: name.to_string(),
        op: op.to_string(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        device: device.to_string(),
        attr: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ..Default::default()
    }
}

fn const_node(name: &str, dtype: DataType, dims: &[u64], content: Vec<u8>, device: &str) -> NodeDef {
    let value = Tensor {
        dtype,
        shape: dims.to_vec(),
        data: TensorData::Pod(Bytes::from(content)),
    };
    NodeDef {
        device: device.to_string(),
        ..graph::const_node(name, &value)
    }
}

fn i32s(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The same-width integer type whose ScatterNd copies bits exactly.
fn carrier(dtype: DataType) -> Option<DataType> {
    match dtype {
        DataType::DtFloat | DataType::DtInt32 => Some(DataType::DtInt32),
        DataType::DtDouble | DataType::DtInt64 => Some(DataType::DtInt64),
        _ => None,
    }
}

/// The rebuild subgraph for one constant, or `None` if it does not pay.
fn rewrite(n: &NodeDef, opts: &LoadableOptions) -> Option<(Vec<NodeDef>, Rewritten)> {
    if n.op != "Const" {
        return None;
    }
    let Some(Value::Tensor(proto)) = n.attr.get("value")?.value.as_ref() else {
        return None;
    };
    let t = tensor::from_proto(proto).ok()?;
    let dtype = t.dtype;
    let int = carrier(dtype)?;
    let TensorData::Pod(bytes) = &t.data else { return None };
    let size = dtype.byte_size()?;
    let elements = t.num_elements() as usize;
    if bytes.len() < opts.min_bytes || elements < 2 || elements > i32::MAX as usize {
        return None;
    }
    let mut mask = vec![0u8; elements.div_ceil(8)];
    let mut values = Vec::with_capacity(bytes.len() / 4);
    // -0.0 counts as zero and is rebuilt as +0.0 (equal under IEEE
    // comparison; its sign would cost one more bit per zero).
    let floating = int != dtype;
    for (i, e) in bytes.chunks_exact(size).enumerate() {
        let top = if floating { e[size - 1] & 0x7f } else { e[size - 1] };
        if top != 0 || e[..size - 1].iter().any(|&b| b != 0) {
            mask[i / 8] |= 1 << (i % 8);
            values.extend_from_slice(e);
        }
    }
    let nnz = values.len() / size;
    let sparse_bytes = mask.len() + values.len();
    if sparse_bytes as f64 > opts.max_ratio * bytes.len() as f64 {
        return None;
    }
    let name = n.name.as_str();
    let dev = n.device.as_str();
    let p = |s: &str| format!("{name}/sparse/{s}");
    fn ty(k: &str, d: DataType) -> (&str, AttrValue) {
        (k, dtype_attr(d))
    }
    let shared = format!("{name}/sparse/cache_{:08x}", crc32c::crc32c(bytes));
    let shape = TensorShapeProto::from_dims(&t.shape);
    let mut g = vec![
        const_node(&p("mask"), DataType::DtUint8, &[mask.len() as u64], mask, dev),
        const_node(&p("values"), int, &[nnz as u64], values, dev),
        const_node(
            &p("bit_weights"),
            DataType::DtUint8,
            &[8],
            vec![1, 2, 4, 8, 16, 32, 64, 128],
            dev,
        ),
        const_node(&p("column"), DataType::DtInt32, &[2], i32s(&[-1, 1]), dev),
        const_node(&p("flat"), DataType::DtInt32, &[1], i32s(&[-1]), dev),
        const_node(&p("zero"), DataType::DtUint8, &[], vec![0], dev),
        const_node(
            &p("dense_shape"),
            DataType::DtInt64,
            &[1],
            (elements as i64).to_le_bytes().to_vec(),
            dev,
        ),
        const_node(
            &p("shape"),
            DataType::DtInt64,
            &[t.shape.len() as u64],
            t.shape.iter().flat_map(|&d| (d as i64).to_le_bytes()).collect(),
            dev,
        ),
        node(
            &p("cache"),
            "VarHandleOp",
            &[],
            vec![
                ty("dtype", dtype),
                ("shape", attr(Value::Shape(shape))),
                ("shared_name", attr(Value::S(Bytes::from(shared.into_bytes())))),
                ("container", attr(Value::S(Bytes::new()))),
            ],
            dev,
        ),
        node(&p("is_cached"), "VarIsInitializedOp", &[&p("cache")], vec![], dev),
        node(
            &p("pred"),
            "Switch",
            &[&p("is_cached"), &p("is_cached")],
            vec![ty("T", DataType::DtBool)],
            dev,
        ),
        node(
            &p("cached"),
            "Identity",
            &[&format!("{}:1", p("pred"))],
            vec![ty("T", DataType::DtBool)],
            dev,
        ),
        // The false branch's pivot: every constant of the rebuild hangs on it
        // by a control edge, so once cached the whole rebuild is dead and
        // neither it nor its constants run.
        node(
            &p("rebuild"),
            "Identity",
            &[&format!("{}:0", p("pred"))],
            vec![ty("T", DataType::DtBool)],
            dev,
        ),
        node(
            &p("mask_column"),
            "Reshape",
            &[&p("mask"), &p("column")],
            vec![ty("T", DataType::DtUint8), ty("Tshape", DataType::DtInt32)],
            dev,
        ),
        node(
            &p("bits"),
            "BitwiseAnd",
            &[&p("mask_column"), &p("bit_weights")],
            vec![ty("T", DataType::DtUint8)],
            dev,
        ),
        node(
            &p("bool"),
            "NotEqual",
            &[&p("bits"), &p("zero")],
            vec![ty("T", DataType::DtUint8)],
            dev,
        ),
        node(
            &p("bool_flat"),
            "Reshape",
            &[&p("bool"), &p("flat")],
            vec![ty("T", DataType::DtBool), ty("Tshape", DataType::DtInt32)],
            dev,
        ),
    ];
    let mut flags = p("bool_flat");
    if elements % 8 != 0 {
        g.push(const_node(&p("begin"), DataType::DtInt32, &[1], i32s(&[0]), dev));
        g.push(const_node(
            &p("size"),
            DataType::DtInt32,
            &[1],
            i32s(&[elements as i32]),
            dev,
        ));
        g.push(node(
            &p("bool_trim"),
            "Slice",
            &[&p("bool_flat"), &p("begin"), &p("size")],
            vec![ty("T", DataType::DtBool), ty("Index", DataType::DtInt32)],
            dev,
        ));
        flags = p("bool_trim");
    }
    g.extend([
        node(&p("where"), "Where", &[&flags], vec![ty("T", DataType::DtBool)], dev),
        node(
            &p("scatter"),
            "ScatterNd",
            &[&p("where"), &p("values"), &p("dense_shape")],
            vec![ty("T", int), ty("Tindices", DataType::DtInt64)],
            dev,
        ),
    ]);
    let mut flat_value = p("scatter");
    if int != dtype {
        g.push(node(
            &p("bitcast"),
            "Bitcast",
            &[&p("scatter")],
            vec![ty("T", int), ty("type", dtype)],
            dev,
        ));
        flat_value = p("bitcast");
    }
    g.extend([
        node(
            &p("rebuilt"),
            "Reshape",
            &[&flat_value, &p("shape")],
            vec![ty("T", dtype), ty("Tshape", DataType::DtInt64)],
            dev,
        ),
        node(
            &p("store"),
            "AssignVariableOp",
            &[&p("cache"), &p("rebuilt")],
            vec![ty("dtype", dtype)],
            dev,
        ),
        node(
            &p("read_new"),
            "ReadVariableOp",
            &[&p("cache"), &format!("^{}", p("store"))],
            vec![ty("dtype", dtype)],
            dev,
        ),
        node(
            &p("read_cached"),
            "ReadVariableOp",
            &[&p("cache"), &format!("^{}", p("cached"))],
            vec![ty("dtype", dtype)],
            dev,
        ),
        // Keeps the constant's name: consumers and fetches of `W` / `W:0` are unchanged.
        node(
            name,
            "Merge",
            &[&p("read_cached"), &p("read_new")],
            vec![ty("T", dtype), ("N", attr(Value::I(2)))],
            dev,
        ),
    ]);
    let pivot = format!("^{}", p("rebuild"));
    for n in g.iter_mut().filter(|n| n.op == "Const") {
        n.input.push(pivot.clone());
    }
    let report = Rewritten {
        name: name.to_string(),
        dtype: dtype.name().to_string(),
        elements: elements as u64,
        nonzeros: nnz as u64,
        dense_bytes: bytes.len() as u64,
        sparse_bytes: sparse_bytes as u64,
    };
    Some((g, report))
}

/// Rewrites every large sparse float/double/int32/int64 constant of a graph.
pub fn rewrite_graph(mut def: GraphDef, opts: &LoadableOptions) -> Result<(GraphDef, Vec<Rewritten>), LoadableError> {
    use rayon::prelude::*;
    let rewritten: Vec<Option<(Vec<NodeDef>, Rewritten)>> = def.node.par_iter().map(|n| rewrite(n, opts)).collect();
    let nodes = std::mem::take(&mut def.node);
    let names: std::collections::HashSet<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut out = def;
    let mut reports = Vec::new();
    let mut added: BTreeMap<String, ()> = BTreeMap::new();
    for (n, r) in nodes.into_iter().zip(rewritten) {
        match r {
            Some((nodes, report)) => {
                for m in &nodes {
                    if m.name != n.name
                        && (names.contains(m.name.as_str()) || added.insert(m.name.clone(), ()).is_some())
                    {
                        return Err(LoadableError::NameClash(n.name.clone(), m.name.clone()));
                    }
                }
                out.node.extend(nodes);
                reports.push(report);
            }
            None => out.node.push(n),
        }
    }
    Ok((out, reports))
}

/// Serialized GraphDef in, serialized TF-loadable GraphDef out.
pub fn encode(pb: &[u8], opts: &LoadableOptions) -> Result<(Vec<u8>, LoadableReport), LoadableError> {
    encode_bytes(bytes::Bytes::copy_from_slice(pb), opts)
}

/// `encode` of shared bytes (a mapped file): the constants are decoded as
/// views into `pb`, not copies.
pub fn encode_bytes(pb: bytes::Bytes, opts: &LoadableOptions) -> Result<(Vec<u8>, LoadableReport), LoadableError> {
    let input_bytes = pb.len() as u64;
    let def = GraphDef::decode(pb).map_err(|e| LoadableError::NotGraph(e.to_string()))?;
    let graph = crate::graph::Graph::new(def)?;
    let (out, rewritten) = rewrite_graph(graph.into_def(), opts)?;
    if out.encoded_len() as u64 > crate::graph::PROTOBUF_LIMIT {
        return Err(LoadableError::TooLarge);
    }
    let bytes = out.encode_to_vec();
    let report = LoadableReport {
        input_bytes,
        output_bytes: bytes.len() as u64,
        rewritten,
        from_text: false,
    };
    Ok((bytes, report))
}
