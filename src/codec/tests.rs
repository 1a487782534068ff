//! Property tests of the container: what is encoded decodes to the same bytes.

use prost::Message;
use proptest::prelude::*;

use super::{decode, decode_graph_def, encode, EncodeOptions};
use crate::graph::{const_node, NodeBuilder};
use crate::proto::tensorflow::{DataType, GraphDef};
use crate::tensor::Tensor;

const NEGATIVE_ZERO: u32 = 0x8000_0000;

/// One float32 of a tensor that is `sparsity`% zeros (of either sign); the
/// rest are any bits, often a NaN with a payload, or -0.0.
fn element(sparsity: u32) -> impl Strategy<Value = u32> {
    (0u32..100, any::<u32>()).prop_map(move |(roll, bits)| match (roll < sparsity, bits % 8) {
        (true, _) => bits & NEGATIVE_ZERO,
        (false, 0) => (bits & NEGATIVE_ZERO) | 0x7f80_0000 | (bits >> 9).max(1),
        (false, 1) => NEGATIVE_ZERO,
        (false, _) => bits,
    })
}

fn tensor() -> impl Strategy<Value = Vec<u32>> {
    (0u32..=100).prop_flat_map(|sparsity| prop::collection::vec(element(sparsity), 0..1500))
}

/// Const nodes of random float32 tensors, each read by an op (so the
/// skeleton has more than the constants).
fn graph_def() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(tensor(), 0..5).prop_map(|tensors| {
        let mut node = Vec::new();
        for (i, bits) in tensors.into_iter().enumerate() {
            let t = Tensor::from_values(&[bits.len() as u64], &bits.iter().map(|&b| f32::from_bits(b)).collect::<Vec<_>>());
            node.push(const_node(&format!("layer{i}/kernel"), &t));
            node.push(NodeBuilder::new("Identity").input(format!("layer{i}/kernel")).ty("T", DataType::DtFloat).build(&format!("layer{i}/read")));
        }
        GraphDef { node, ..Default::default() }.encode_to_vec()
    })
}

fn options() -> impl Strategy<Value = EncodeOptions> {
    (1i32..4, 0usize..64, 1usize..3000).prop_map(|(level, min_tensor_bytes, chunk_elements)| EncodeOptions {
        level,
        min_tensor_bytes,
        chunk_elements,
        canonical_zeros: false,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_graph_def_of_random_sparse_float_constants_decodes_byte_for_byte(pb in graph_def(), opts in options()) {
        let (container, _) = encode(&pb, &opts);
        prop_assert!(decode(&container).unwrap() == pb, "decoded bytes differ ({:?})", opts);
        prop_assert!(decode_graph_def(std::path::Path::new("c"), &container).unwrap().encode_to_vec() == pb);
    }
}
