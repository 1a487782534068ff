//! The constant behind an input, through `Identity` chains, and what passes
//! read from it: the decoded tensor, its integers (axes, shapes, sizes), a
//! float constant's shape.

use super::ops::is_const;
use super::query::{behind, Inputs, Through};
use super::{Attrs, Graph, InputRef};
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor::{self, Tensor};

/// The `Const` a data input reads, through `Identity` chains; with the
/// names of the nodes on the way (the const last).
pub fn const_behind<'g>(graph: &'g Graph, input: InputRef<'_>) -> Option<(Vec<&'g str>, &'g NodeDef)> {
    if input.control || input.port != 0 {
        return None;
    }
    let chain: Vec<&NodeDef> = behind(graph, input.node, Through::VALUE | Through::OUTPUT_0_ONLY).collect();
    let constant = chain.last().copied().filter(|n| is_const(n))?;
    Some((chain.iter().map(|n| n.name.as_str()).collect(), constant))
}

/// The constant a data input reads, decoded.
pub fn const_tensor(graph: &Graph, input: InputRef<'_>) -> Option<Tensor> {
    let (_, node) = const_behind(graph, input)?;
    tensor::from_proto(node.tensor_value().ok()?).ok()
}

/// An integer constant's values (int32 or int64), e.g. axes and shapes.
pub fn const_ints(graph: &Graph, input: InputRef<'_>) -> Option<Vec<i64>> {
    const_tensor(graph, input)?.ints().ok()
}

/// An integer constant of exactly one element.
pub fn const_int(graph: &Graph, input: InputRef<'_>) -> Option<i64> {
    const_tensor(graph, input)?.scalar_int().ok()
}

/// A float constant's shape, without decoding its values.
pub fn const_float_shape(graph: &Graph, input: InputRef<'_>) -> Option<Vec<usize>> {
    let (_, node) = const_behind(graph, input)?;
    let t = node.tensor_value().ok()?;
    if t.dtype != DataType::DtFloat as i32 {
        return None;
    }
    t.tensor_shape.as_ref()?.dims()?.into_iter().map(|d| usize::try_from(d).ok()).collect()
}

/// A shape built at run time by `Pack` of scalars (Keras' flatten packs the
/// batch size it reads with `Shape`): the constant ones, `-1` for the
/// others. A rewrite can only edit the constants, so it asks this rather
/// than `Statics`, which may know more.
pub fn packed_ints(graph: &Graph, input: InputRef<'_>) -> Option<Vec<i64>> {
    let pack = graph.node(input.node).filter(|n| n.op == "Pack")?;
    Some(pack.data_inputs().map(|i| const_ints(graph, i).and_then(|v| v.first().copied()).unwrap_or(-1)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::const_node;
    use crate::transform::testing::{graph, op};

    #[test]
    fn constants_are_found_through_identities_on_output_0_only() {
        let g = graph(vec![
            const_node("axis", &Tensor::from_i64s(&[], &[-1])),
            const_node("w", &Tensor::from_f32s(&[2, 3], &[0.0; 6])),
            op("read", "Identity", &["w"]),
            op("axis/read", "Identity", &["axis"]),
        ]);
        let (chain, node) = const_behind(&g, InputRef::output("read", 0)).unwrap();
        assert_eq!((chain, node.name.as_str()), (vec!["read", "w"], "w"));
        assert_eq!(const_float_shape(&g, InputRef::output("read", 0)), Some(vec![2, 3]));
        assert_eq!(const_int(&g, InputRef::output("axis/read", 0)), Some(-1));
        assert_eq!(const_ints(&g, InputRef::output("axis", 1)), None);
        assert_eq!(const_int(&g, InputRef::output("w", 0)), None);
        assert_eq!(const_float_shape(&g, InputRef::output("axis", 0)), None);
    }

    #[test]
    fn a_packed_shape_has_its_constants_and_minus_one_elsewhere() {
        let g = graph(vec![
            const_node("rows", &Tensor::from_i32s(&[], &[4])),
            op("batch", "Placeholder", &[]),
            op("target", "Pack", &["batch", "rows"]),
        ]);
        assert_eq!(packed_ints(&g, InputRef::output("target", 0)), Some(vec![-1, 4]));
        assert_eq!(packed_ints(&g, InputRef::output("rows", 0)), None);
    }
}
