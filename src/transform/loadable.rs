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

use crate::graph::ops::{is_const, IDENTITY, READ_VARIABLE, VAR_HANDLE};
use crate::proto::tensorflow::{DataType, GraphDef, NodeDef};
use crate::graph::{self, Attrs, Graph, InputRef, NodeBuilder};
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
    /// The input was a text GraphDef (set by `jobs::encode_file`).
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

/// The same-width integer type whose ScatterNd copies bits exactly.
fn carrier(dtype: DataType) -> Option<DataType> {
    match dtype {
        DataType::DtFloat | DataType::DtInt32 => Some(DataType::DtInt32),
        DataType::DtDouble | DataType::DtInt64 => Some(DataType::DtInt64),
        _ => None,
    }
}

/// Whether `node` is the variable a rebuild caches its constant in
/// (`W/sparse/cache`, shared as `W/sparse/cache_<crc>`): the graph fills it
/// itself on first use, so it needs no checkpoint.
pub fn is_rebuild_cache(node: &NodeDef) -> bool {
    let shared = node.string_attr("shared_name").ok().flatten();
    node.op == VAR_HANDLE
        && node.name.ends_with("/sparse/cache")
        && shared.is_some_and(|s| s.starts_with(&format!("{}_", node.name)))
}

/// The rebuild subgraph for one constant, or `None` if it does not pay.
fn rewrite(n: &NodeDef, opts: &LoadableOptions) -> Option<(Vec<NodeDef>, Rewritten)> {
    if !is_const(n) {
        return None;
    }
    let t = tensor::from_proto(n.tensor_value().ok()?).ok()?;
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
    let constant = |s: &str, value: Tensor| NodeDef { device: dev.to_string(), ..graph::const_node(&p(s), &value) };
    let op = |o: &str| NodeBuilder::new(o).device(dev);
    let shared = format!("{name}/sparse/cache_{:08x}", crc32c::crc32c(bytes));
    let (u8_, i32_, i64_, bool_) = (DataType::DtUint8, DataType::DtInt32, DataType::DtInt64, DataType::DtBool);
    let mut g = vec![
        constant("mask", Tensor::from_values(&[mask.len() as u64], &mask)),
        // The kept elements' bytes as they were: bits, not values, of the carrier type.
        constant("values", Tensor { dtype: int, shape: vec![nnz as u64], data: TensorData::Pod(Bytes::from(values)) }),
        constant("bit_weights", Tensor::from_values(&[8], &[1u8, 2, 4, 8, 16, 32, 64, 128])),
        constant("column", Tensor::from_i32s(&[2], &[-1, 1])),
        constant("flat", Tensor::from_i32s(&[1], &[-1])),
        constant("zero", Tensor::from_values(&[], &[0u8])),
        constant("dense_shape", Tensor::from_i64s(&[1], &[elements as i64])),
        constant("shape", Tensor::from_i64s(&[t.shape.len() as u64], &t.shape.iter().map(|&d| d as i64).collect::<Vec<_>>())),
        op(VAR_HANDLE)
            .ty("dtype", dtype)
            .shape("shape", &t.shape)
            .string("shared_name", &shared)
            .string("container", "")
            .build(&p("cache")),
        op("VarIsInitializedOp").input(p("cache")).build(&p("is_cached")),
        op("Switch").input(p("is_cached")).input(p("is_cached")).ty("T", bool_).build(&p("pred")),
        op(IDENTITY).output(&p("pred"), 1).ty("T", bool_).build(&p("cached")),
        // The false branch's pivot: every constant of the rebuild hangs on it
        // by a control edge, so once cached the whole rebuild is dead and
        // neither it nor its constants run.
        op(IDENTITY).output(&p("pred"), 0).ty("T", bool_).build(&p("rebuild")),
        op("Reshape").input(p("mask")).input(p("column")).ty("T", u8_).ty("Tshape", i32_).build(&p("mask_column")),
        op("BitwiseAnd").input(p("mask_column")).input(p("bit_weights")).ty("T", u8_).build(&p("bits")),
        op("NotEqual").input(p("bits")).input(p("zero")).ty("T", u8_).build(&p("bool")),
        op("Reshape").input(p("bool")).input(p("flat")).ty("T", bool_).ty("Tshape", i32_).build(&p("bool_flat")),
    ];
    let mut flags = p("bool_flat");
    if elements % 8 != 0 {
        g.push(constant("begin", Tensor::from_i32s(&[1], &[0])));
        g.push(constant("size", Tensor::from_i32s(&[1], &[elements as i32])));
        let slice = op("Slice").inputs([p("bool_flat"), p("begin"), p("size")]);
        g.push(slice.ty("T", bool_).ty("Index", i32_).build(&p("bool_trim")));
        flags = p("bool_trim");
    }
    g.push(op("Where").input(flags).ty("T", bool_).build(&p("where")));
    let scatter = op("ScatterNd").inputs([p("where"), p("values"), p("dense_shape")]);
    g.push(scatter.ty("T", int).ty("Tindices", i64_).build(&p("scatter")));
    let mut flat_value = p("scatter");
    if int != dtype {
        g.push(op("Bitcast").input(p("scatter")).ty("T", int).ty("type", dtype).build(&p("bitcast")));
        flat_value = p("bitcast");
    }
    g.extend([
        op("Reshape").input(flat_value).input(p("shape")).ty("T", dtype).ty("Tshape", i64_).build(&p("rebuilt")),
        op("AssignVariableOp").input(p("cache")).input(p("rebuilt")).ty("dtype", dtype).build(&p("store")),
        op(READ_VARIABLE).input(p("cache")).after(&p("store")).ty("dtype", dtype).build(&p("read_new")),
        op(READ_VARIABLE).input(p("cache")).after(&p("cached")).ty("dtype", dtype).build(&p("read_cached")),
        // Keeps the constant's name: consumers and fetches of `W` / `W:0` are unchanged.
        op("Merge").input(p("read_cached")).input(p("read_new")).ty("T", dtype).int("N", 2).build(name),
    ]);
    let pivot = InputRef::control_of(&p("rebuild")).to_string();
    for n in g.iter_mut().filter(|n| is_const(n)) {
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

/// The pass: rewrites every large sparse float/double/int32/int64 constant
/// of `graph`.
pub fn rewrite_graph(graph: &mut Graph, opts: &LoadableOptions) -> Result<Vec<Rewritten>, LoadableError> {
    let (def, rewritten) = rewrite_def(std::mem::take(graph).into_def(), opts)?;
    *graph = Graph::new(def)?;
    Ok(rewritten)
}

fn rewrite_def(mut def: GraphDef, opts: &LoadableOptions) -> Result<(GraphDef, Vec<Rewritten>), LoadableError> {
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
    let mut graph = Graph::new(def)?;
    let rewritten = rewrite_graph(&mut graph, opts)?;
    let out = graph.into_def();
    if out.encoded_len() as u64 > crate::proto::PROTOBUF_LIMIT {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(name: &str, values: &[f32]) -> NodeDef {
        graph::const_node(name, &Tensor::from_f32s(&[values.len() as u64], values))
    }

    fn sparse(n: usize) -> Vec<f32> {
        (0..n).map(|i| if i % 10 == 3 { i as f32 } else { 0.0 }).collect()
    }

    #[test]
    fn sparse_constants_are_rebuilt_under_their_own_name_and_dense_ones_stay() {
        let opts = LoadableOptions { min_bytes: 64, ..Default::default() };
        let dense: Vec<f32> = (1..=100).map(|i| i as f32).collect();
        let def = GraphDef {
            node: vec![constant("w", &sparse(100)), constant("b", &dense), constant("small", &[0.0; 4])],
            ..Default::default()
        };
        let mut graph = Graph::new(def).unwrap();
        let rewritten = rewrite_graph(&mut graph, &opts).unwrap();
        let out = graph.into_def();
        assert_eq!(rewritten.len(), 1);
        assert_eq!((rewritten[0].name.as_str(), rewritten[0].nonzeros), ("w", 10));
        let w = out.node.iter().find(|n| n.name == "w").unwrap();
        assert_eq!(w.op, "Merge");
        assert_eq!(w.input, ["w/sparse/read_cached", "w/sparse/read_new"]);
        assert!(out.node.iter().any(|n| n.name == "w/sparse/mask" && n.op == "Const"));
        // 100 elements is no multiple of 8: the padding bits are sliced off.
        assert!(out.node.iter().any(|n| n.name == "w/sparse/bool_trim"));
        for name in ["b", "small"] {
            assert_eq!(out.node.iter().find(|n| n.name == name).unwrap().op, "Const", "{name}");
        }
        // Every constant of the rebuild waits for the false branch's pivot.
        let pivot = "^w/sparse/rebuild".to_string();
        assert!(out.node.iter().filter(|n| n.name.starts_with("w/sparse/") && n.op == "Const").all(|n| n.input.contains(&pivot)));
    }

    #[test]
    fn the_rebuild_cache_is_the_only_variable_and_is_known_as_a_cache() {
        let opts = LoadableOptions { min_bytes: 64, ..Default::default() };
        let def = GraphDef { node: vec![constant("w", &sparse(100))], ..Default::default() };
        let mut graph = Graph::new(def).unwrap();
        rewrite_graph(&mut graph, &opts).unwrap();
        let variables: Vec<&NodeDef> = graph.nodes().iter().filter(|n| crate::graph::is_variable(n)).collect();
        assert_eq!(variables.len(), 1);
        assert!(is_rebuild_cache(variables[0]), "{}", variables[0].name);
        let user_variable = NodeDef { name: "v".into(), ..variables[0].clone() };
        assert!(!is_rebuild_cache(&user_variable), "a variable of the user's, shared under a cache's name");
    }

    #[test]
    fn a_name_the_rebuild_needs_that_is_taken_is_an_error() {
        let opts = LoadableOptions { min_bytes: 64, ..Default::default() };
        let def = GraphDef { node: vec![constant("w", &sparse(100)), constant("w/sparse/mask", &[1.0])], ..Default::default() };
        let err = rewrite_graph(&mut Graph::new(def).unwrap(), &opts).unwrap_err().to_string();
        assert!(err.contains("`w/sparse/mask` is already taken"), "{err}");
    }
}
