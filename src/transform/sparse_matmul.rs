//! `MatMul`s whose weight is a float constant with zeros, and their exact
//! rewrite as `SparseTensorDenseMatMul` over constant indices and values:
//! TensorFlow's dense kernel multiplies every zero, the sparse one skips them.
//!
//! `y = op(x) . op(W)` is computed as `y = (op(W)^T . op(x)^T)^T`: the sparse
//! operand of `SparseTensorDenseMatMul` is its first, so `W` goes first (its
//! transpose asked by `adjoint_a`, `x`'s by `adjoint_b`) and a `Transpose`
//! taking the `MatMul`'s name gives `y` back to its readers unchanged.

use std::collections::HashSet;

use crate::graph::ops::{enters_frame, is_const};
use crate::graph::{behind, const_node, Attrs, Graph, GraphError, Inputs, NodeBuilder, Readers, Through};
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor::{from_proto, Tensor, TensorError};

const MATMUL: &str = "MatMul";
const SPARSE_MATMUL: &str = "SparseTensorDenseMatMul";

/// One `MatMul` whose weight (its second operand) is a float constant.
#[derive(Debug, Clone, PartialEq)]
pub struct MatMulCandidate {
    /// The `MatMul` node, whose name its rewrite keeps.
    pub name: String,
    /// The `Const` behind its second operand.
    pub weight: String,
    /// The weight as stored, `[rows, columns]`.
    pub shape: [u64; 2],
    pub zeros: u64,
    pub transpose_a: bool,
    pub transpose_b: bool,
    /// The `Enter`s the weight passes into while loop frames, outermost first.
    pub enters: Vec<String>,
}

impl MatMulCandidate {
    pub fn elements(&self) -> u64 {
        self.shape[0] * self.shape[1]
    }

    pub fn sparsity(&self) -> f64 {
        match self.elements() {
            0 => 0.0,
            n => self.zeros as f64 / n as f64,
        }
    }

    /// The inner dimension `K` of `op(x) . op(W)`: the columns of `op(x)`.
    pub fn inner(&self) -> u64 {
        self.shape[usize::from(self.transpose_b)]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SparseMatMulError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("`{node}`: {source}")]
    Tensor {
        node: String,
        #[source]
        source: TensorError,
    },
}

type Result<T, E = SparseMatMulError> = std::result::Result<T, E>;

/// Every float `MatMul` whose second operand is, through `Identity`s and
/// loop `Enter`s, a 2-D float constant with at least one zero; in graph order.
pub fn sparse_matmul_candidates(graph: &Graph) -> Result<Vec<MatMulCandidate>> {
    let mut found = Vec::new();
    for node in graph.nodes().iter().filter(|n| n.op == MATMUL) {
        if node.dtype_attr("T")? != Some(DataType::DtFloat) {
            continue;
        }
        let Some(weight_input) = node.data_input(1) else { continue };
        let path: Vec<&NodeDef> = behind(graph, weight_input.node, Through::VALUE | Through::ENTER).collect();
        let Some(weight) = path.last().filter(|n| is_const(n) && weight_input.port == 0) else { continue };
        let tensor = from_proto(weight.tensor_value()?).map_err(|source| SparseMatMulError::Tensor { node: weight.name.clone(), source })?;
        let (DataType::DtFloat, &[rows, columns]) = (tensor.dtype, tensor.shape.as_slice()) else { continue };
        let zeros = tensor.count_zeros().unwrap_or(0);
        if zeros == 0 {
            continue;
        }
        let mut enters: Vec<String> = path.iter().filter(|n| enters_frame(&n.op)).map(|n| n.name.clone()).collect();
        enters.reverse();
        found.push(MatMulCandidate {
            name: node.name.clone(),
            weight: weight.name.clone(),
            shape: [rows, columns],
            zeros,
            transpose_a: node.bool_attr("transpose_a")?.unwrap_or(false),
            transpose_b: node.bool_attr("transpose_b")?.unwrap_or(false),
            enters,
        });
    }
    Ok(found)
}

/// Rewrites `chosen` (candidates of this graph) into a `SparseTensorDenseMatMul`
/// and a `Transpose`, each under its `MatMul`'s name; weights, `Enter`s and
/// `Identity`s no longer read are removed.
pub fn rewrite_sparse_matmuls(graph: &mut Graph, chosen: &[MatMulCandidate]) -> Result<()> {
    if chosen.is_empty() {
        return Ok(());
    }
    // What the graph computed before is what it computes after: the nodes
    // no one read (bookkeeping `NoOp`s too) keep everything they need, and
    // a weight no one reads any more goes.
    let readers = Readers::of(graph);
    let outputs: Vec<String> =
        graph.nodes().iter().enumerate().filter(|(i, _)| readers.uses(*i).is_empty()).map(|(_, n)| n.name.clone()).collect();
    let mut added: HashSet<String> = HashSet::new();
    for c in chosen {
        rewrite_one(graph, c, &mut added)?;
    }
    crate::graph::extract_subgraph(graph, &outputs)?;
    Ok(())
}

fn rewrite_one(graph: &mut Graph, c: &MatMulCandidate, added: &mut HashSet<String>) -> Result<()> {
    let matmul = graph.require(&c.name)?.clone();
    let weight = graph.require(&c.weight)?;
    let tensor = from_proto(weight.tensor_value()?).map_err(|source| SparseMatMulError::Tensor { node: c.weight.clone(), source })?;
    let device = weight.device.clone();
    let (indices, values) = nonzeros(&tensor, c.shape[1]).map_err(|source| SparseMatMulError::Tensor { node: c.weight.clone(), source })?;
    let shape: Vec<i64> = c.shape.iter().map(|&d| d as i64).collect();
    let constants = [
        ("indices", Tensor::from_i64s(&[values.len() as u64, 2], &indices)),
        ("values", Tensor::from_f32s(&[values.len() as u64], &values)),
        ("dense_shape", Tensor::from_i64s(&[2], &shape)),
    ];
    let operands: Vec<String> = constants
        .iter()
        .map(|(what, value)| entered_const(graph, added, &format!("{}/sparse_{what}", c.name), value, &device, &c.enters))
        .collect::<Result<_>>()?;
    let x = matmul.data_inputs_as_written().next().cloned().unwrap_or_default();
    let product = fresh(graph, added, &format!("{}/sparse_product", c.name));
    let sparse = NodeBuilder::new(SPARSE_MATMUL)
        .inputs(operands.iter().map(String::as_str))
        .input(x)
        .inputs(matmul.control_inputs_as_written().cloned())
        .ty("T", DataType::DtFloat)
        .ty("Tindices", DataType::DtInt64)
        .boolean("adjoint_a", !c.transpose_b)
        .boolean("adjoint_b", !c.transpose_a)
        .device(&matmul.device)
        .build(&product);
    graph.add(sparse)?;
    // A constant read inside a loop must enter its frame too: TensorFlow
    // refuses a node whose inputs come from two frames.
    let perm = entered_const(graph, added, &format!("{}/sparse_perm", c.name), &Tensor::from_i32s(&[2], &[1, 0]), &device, &c.enters)?;
    let transpose = NodeBuilder::new("Transpose")
        .input(product.as_str())
        .input(perm.as_str())
        .ty("T", DataType::DtFloat)
        .ty("Tperm", DataType::DtInt32)
        .device(&matmul.device)
        .build(&c.name);
    graph.replace(transpose)?;
    Ok(())
}

/// A `Const` holding `value`, passed through copies of `enters` (the frames
/// the weight entered, outermost first): the name of what reads as it.
fn entered_const(graph: &mut Graph, added: &mut HashSet<String>, base: &str, value: &Tensor, device: &str, enters: &[String]) -> Result<String> {
    let mut name = fresh(graph, added, base);
    let mut node = const_node(&name, value);
    node.device = device.to_string();
    graph.add(node)?;
    for enter in enters {
        let template = graph.require(enter)?.clone();
        let entered = fresh(graph, added, &format!("{name}/Enter"));
        let mut node = NodeBuilder::new(&template.op).input(name.as_str()).ty("T", value.dtype).device(&template.device).build(&entered);
        // frame_name, is_constant, parallel_iterations: the same frame as the weight's.
        node.attr.extend(template.attr.into_iter().filter(|(k, _)| k != "T"));
        graph.add(node)?;
        name = entered;
    }
    Ok(name)
}

/// `Graph::fresh_name`, also skipping the names this rewrite has given.
fn fresh(graph: &Graph, added: &mut HashSet<String>, base: &str) -> String {
    let name = graph.fresh_name(base, |n| added.contains(n));
    added.insert(name.clone());
    name
}

/// The nonzero elements of a row-major float matrix of `columns` columns:
/// their `[row, column]` pairs, flattened, and their values. `-0.0` is zero,
/// as `count_zeros` counts it.
fn nonzeros(tensor: &Tensor, columns: u64) -> Result<(Vec<i64>, Vec<f32>), TensorError> {
    let mut indices = Vec::new();
    let mut values = Vec::new();
    for (i, v) in tensor.f32s()?.into_iter().enumerate() {
        if v != 0.0 {
            indices.extend([(i as u64 / columns) as i64, (i as u64 % columns) as i64]);
            values.push(v);
        }
    }
    Ok((indices, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeBuilder;
    use crate::transform::testing::{graph, op};

    fn weight(name: &str, shape: &[u64], values: &[f32]) -> NodeDef {
        const_node(name, &Tensor::from_f32s(shape, values))
    }

    fn matmul(name: &str, x: &str, w: &str, ta: bool, tb: bool) -> NodeDef {
        NodeBuilder::new(MATMUL).input(x).input(w).ty("T", DataType::DtFloat).boolean("transpose_a", ta).boolean("transpose_b", tb).build(name)
    }

    fn placeholder(name: &str) -> NodeDef {
        NodeBuilder::new("Placeholder").ty("dtype", DataType::DtFloat).build(name)
    }

    fn tensor_of(g: &Graph, name: &str) -> Tensor {
        from_proto(g.node(name).unwrap().tensor_value().unwrap()).unwrap()
    }

    #[test]
    fn candidates_are_float_matmuls_reading_a_constant_with_zeros_through_identities() {
        let g = graph(vec![
            placeholder("x"),
            weight("w", &[2, 3], &[0.0, 1.0, 2.0, 3.0, 0.0, 5.0]),
            op("w/read", "Identity", &["w"]),
            matmul("y", "x", "w/read", false, true),
            weight("dense", &[3, 2], &[1.0; 6]),
            matmul("no_zeros", "y", "dense", false, false),
            matmul("weight_first", "w", "x", false, false),
            op("computed", "Relu", &["w"]),
            matmul("computed_weight", "x", "computed", false, false),
        ]);
        let found = sparse_matmul_candidates(&g).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        let c = &found[0];
        assert_eq!((c.name.as_str(), c.weight.as_str(), c.shape, c.zeros), ("y", "w", [2, 3], 2));
        assert_eq!((c.transpose_a, c.transpose_b, c.inner()), (false, true, 3));
        assert!(c.enters.is_empty());
    }

    #[test]
    fn the_rewrite_keeps_the_name_stores_the_nonzeros_and_sets_adjoints_from_the_transposes() {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut g = graph(vec![
                placeholder("x"),
                weight("w", &[2, 3], &[0.0, 1.0, -0.0, 3.0, 0.0, 5.0]),
                op("w/read", "Identity", &["w"]),
                matmul("y", "x", "w/read", ta, tb),
                op("out", "Relu", &["y"]),
            ]);
            let found = sparse_matmul_candidates(&g).unwrap();
            rewrite_sparse_matmuls(&mut g, &found).unwrap();
            let y = g.node("y").unwrap();
            assert_eq!((y.op.as_str(), y.input.as_slice()), ("Transpose", &["y/sparse_product".to_string(), "y/sparse_perm".into()][..]));
            assert_eq!(g.node("out").unwrap().input, ["y"]);
            let product = g.node("y/sparse_product").unwrap();
            assert_eq!(product.op, SPARSE_MATMUL);
            assert_eq!(product.input, ["y/sparse_indices", "y/sparse_values", "y/sparse_dense_shape", "x"]);
            assert_eq!(product.bool_attr("adjoint_a").unwrap(), Some(!tb), "transpose_b={tb}");
            assert_eq!(product.bool_attr("adjoint_b").unwrap(), Some(!ta), "transpose_a={ta}");
            assert_eq!(tensor_of(&g, "y/sparse_indices").ints().unwrap(), [0, 1, 1, 0, 1, 2]);
            assert_eq!(tensor_of(&g, "y/sparse_indices").shape, [3, 2]);
            assert_eq!(tensor_of(&g, "y/sparse_values").f32s().unwrap(), [1.0, 3.0, 5.0]);
            assert_eq!(tensor_of(&g, "y/sparse_dense_shape").ints().unwrap(), [2, 3]);
            assert_eq!(tensor_of(&g, "y/sparse_perm").ints().unwrap(), [1, 0]);
            assert!(!g.contains("w") && !g.contains("w/read"), "the dense weight, no longer read, is gone");
        }
    }

    #[test]
    fn a_weight_entering_a_loop_frame_is_replaced_by_constants_entering_the_same_frame() {
        let enter = NodeBuilder::new("Enter")
            .input("w")
            .ty("T", DataType::DtFloat)
            .string("frame_name", "rnn/while/while_context")
            .boolean("is_constant", true)
            .int("parallel_iterations", 32)
            .build("rnn/while/Enter");
        let mut g = graph(vec![
            placeholder("x"),
            weight("w", &[2, 2], &[0.0, 1.0, 2.0, 0.0]),
            enter,
            op("rnn/while/read", "Identity", &["rnn/while/Enter"]),
            matmul("rnn/while/mm", "x", "rnn/while/read", false, false),
            op("other", "Relu", &["w"]),
        ]);
        let found = sparse_matmul_candidates(&g).unwrap();
        assert_eq!(found[0].enters, ["rnn/while/Enter"]);
        rewrite_sparse_matmuls(&mut g, &found).unwrap();
        let product = g.node("rnn/while/mm/sparse_product").unwrap();
        let perm = &g.node("rnn/while/mm").unwrap().input[1];
        for (input, dtype) in product.input[..3].iter().chain([perm]).zip([DataType::DtInt64, DataType::DtFloat, DataType::DtInt64, DataType::DtInt32]) {
            let e = g.node(input).unwrap();
            assert_eq!(e.op, "Enter", "{input}");
            assert_eq!(e.dtype_attr("T").unwrap(), Some(dtype), "{input}");
            assert_eq!(e.string_attr("frame_name").unwrap(), Some("rnn/while/while_context"));
            assert_eq!(e.bool_attr("is_constant").unwrap(), Some(true));
            assert_eq!(e.int_attr("parallel_iterations").unwrap(), Some(32));
            assert!(is_const(g.node(&e.input[0]).unwrap()), "{input} enters a constant");
        }
        assert!(g.contains("w"), "still read by `other`");
        assert!(!g.contains("rnn/while/Enter"), "the old Enter is read no more");
    }

    #[test]
    fn names_taken_get_a_suffix() {
        let mut g = graph(vec![
            placeholder("x"),
            weight("w", &[1, 2], &[0.0, 1.0]),
            matmul("y", "x", "w", false, false),
            op("y/sparse_product", "Relu", &["y"]),
        ]);
        let found = sparse_matmul_candidates(&g).unwrap();
        rewrite_sparse_matmuls(&mut g, &found).unwrap();
        assert_eq!(g.node("y").unwrap().input[0], "y/sparse_product_1");
        assert_eq!(g.node("y/sparse_product").unwrap().op, "Relu");
    }
}
