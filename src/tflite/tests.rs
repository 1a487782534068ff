//! The reader and the rewrite on models built here with the generated
//! builders (the end-to-end tests against TensorFlow's converter and
//! interpreter are in tests/accelerate.rs).

use proptest::prelude::*;

use super::read::{owned_codes, owned_operator, Buffer, Model, Sparsity, FULLY_CONNECTED};
use super::schema::tflite as fb;
use super::{accelerate, AccelerateOptions, Decision, Invalid};

const AT_80: AccelerateOptions = AccelerateOptions { min_sparsity: 0.8 };

/// A 3x4 weight, 10 of 12 zeros: rows [0 0 2 0], [0 0 0 0], [5 0 0 0].
fn weight() -> Vec<f32> {
    vec![0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, -0.0, 0.0, 0.0]
}

/// One FULLY_CONNECTED: input [1,4] times `weight` [3,4], no bias; `edit`
/// changes the model before it is serialised.
fn model_with(weight: &[f32], edit: impl FnOnce(&mut fb::Model)) -> Vec<u8> {
    let tensor = |name: &str, shape: Vec<i32>, buffer: u32| fb::Tensor {
        shape: Some(shape),
        type_: 0,
        buffer,
        name: Some(name.into()),
        quantization: None,
        is_variable: false,
        sparsity: None,
        shape_signature: None,
        has_rank: false,
        variant_tensors: None,
    };
    let buffer = |data: Option<Vec<u8>>| fb::Buffer { data, offset: 0, size: 0 };
    let mut model = fb::Model {
        version: 3,
        operator_codes: Some(vec![fb::OperatorCode { deprecated_builtin_code: 9, custom_code: None, version: 1, builtin_code: FULLY_CONNECTED }]),
        subgraphs: Some(vec![fb::SubGraph {
            tensors: Some(vec![tensor("x", vec![1, 4], 0), tensor("w", vec![3, 4], 1), tensor("y", vec![1, 3], 0)]),
            inputs: Some(vec![0]),
            outputs: Some(vec![2]),
            operators: Some(vec![fc(vec![0, 1, -1], vec![2])]),
            name: None,
        }]),
        description: None,
        buffers: Some(vec![buffer(None), buffer(Some(weight.iter().flat_map(|v| v.to_le_bytes()).collect()))]),
    };
    edit(&mut model);
    let mut bytes = planus::Builder::new().finish(&model, Some(*b"TFL3")).to_vec();
    // planus 1.3 writes the identifier before the root offset; flatbuffers
    // (and TFLite) put it after. The offset, moved 4 bytes back, grows by 4.
    let root = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) + 4;
    bytes[4..8].copy_from_slice(b"TFL3");
    bytes[..4].copy_from_slice(&root.to_le_bytes());
    bytes
}

/// A FULLY_CONNECTED (opcode 0) with a RELU fused, as the converter writes one.
fn fc(inputs: Vec<i32>, outputs: Vec<i32>) -> fb::Operator {
    let options = fb::FullyConnectedOptions { fused_activation_function: 1, ..Default::default() };
    fb::Operator {
        inputs: Some(inputs),
        outputs: Some(outputs),
        builtin_options_type: 8,
        builtin_options: Some(Box::new(options)),
        ..Default::default()
    }
}

fn model() -> Vec<u8> {
    model_with(&weight(), |_| {})
}

fn invalid(bytes: &[u8]) -> String {
    match Model::read(bytes) {
        Err(Invalid(why)) => why,
        Ok(_) => panic!("read a model that should be invalid"),
    }
}

#[test]
fn a_dense_weight_becomes_the_csr_tflites_sparse_fc_kernel_reads_and_the_opcode_version_8() {
    let (out, report) = accelerate(&model(), &AT_80).unwrap();
    assert_eq!(report.layers.len(), 1);
    let layer = &report.layers[0];
    assert_eq!((layer.decision, layer.zeros, layer.elements), (Decision::Sparse, 10, 12), "{layer:?}");
    let m = Model::read(&out).unwrap();
    let w = &m.subgraphs[0].tensors[1];
    assert_eq!((w.name.as_str(), w.shape.as_slice()), ("w", &[3, 4][..]), "the tensor keeps its name and dense shape");
    match &w.sparsity {
        Some(Sparsity::Csr { rows, segments, indices }) => {
            assert_eq!((*rows, segments.as_slice(), indices.as_slice()), (3, &[0, 1, 1, 2][..], &[2, 0][..]));
        }
        other => panic!("not CSR: {other:?}"),
    }
    let Buffer::Inline(values) = m.buffers[w.buffer as usize] else { panic!("inline buffer") };
    assert_eq!(values, [2.0f32, 5.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    let codes = owned_codes(&out).unwrap();
    assert_eq!(codes.iter().map(|c| (c.builtin_code, c.version)).collect::<Vec<_>>(), [(9, 1), (9, 8)], "a version 8 twin");
    let op = owned_operator(&out, 0, 0).unwrap();
    assert_eq!((op.opcode_index, op.inputs.as_deref()), (1, Some(&[0, 1, -1][..])), "the op reads the twin and still the weight");
    assert_eq!(op.builtin_options.map(|o| o.fused_activation_function), Some(1), "its options kept");
}

#[test]
fn an_fc_left_dense_keeps_its_opcode_version_beside_the_sparse_ones_twin() {
    // A second FC of the same opcode, reading the input through a dense [3,4] weight.
    let dense: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    let bytes = model_with(&weight(), |m| {
        let sg = &mut m.subgraphs.as_mut().unwrap()[0];
        let tensors = sg.tensors.as_mut().unwrap();
        let w2 = fb::Tensor { name: Some("w2".into()), buffer: 2, ..tensors[1].clone() };
        let y2 = fb::Tensor { name: Some("y2".into()), ..tensors[2].clone() };
        tensors.extend([w2, y2]);
        sg.operators.as_mut().unwrap().push(fc(vec![0, 3, -1], vec![4]));
        m.buffers.as_mut().unwrap().push(fb::Buffer { data: Some(dense.iter().flat_map(|v| v.to_le_bytes()).collect()), offset: 0, size: 0 });
    });
    let (out, report) = accelerate(&bytes, &AT_80).unwrap();
    let decisions: Vec<Decision> = report.layers.iter().map(|l| l.decision).collect();
    assert_eq!(decisions, [Decision::Sparse, Decision::Left]);
    assert_eq!(report.dense_at_version_8, 0);
    let [sparse, dense] = [0, 1].map(|i| owned_operator(&out, 0, i).unwrap().opcode_index);
    assert_eq!((sparse, dense), (1, 0));
    assert_eq!(owned_codes(&out).unwrap()[0].version, 1, "the dense FC's code as it was (XNNPACK takes it)");
}

#[test]
fn a_weight_below_min_sparsity_is_left_and_the_bytes_are_unchanged() {
    let input = model();
    let (out, report) = accelerate(&input, &AccelerateOptions { min_sparsity: 0.9 }).unwrap();
    assert_eq!(report.layers[0].decision, Decision::Left);
    assert_eq!(report.layers[0].reason, "83.3% zeros < 90.0%");
    assert_eq!(out, input);
}

type TensorEdit = fn(&mut fb::Tensor);

#[test]
fn quantized_dynamic_and_non_matrix_weights_are_left_with_the_reason() {
    let cases: [(&str, TensorEdit); 5] = [
        ("not float32", |t| t.type_ = 2),
        ("int16", |t| {
            t.type_ = 7;
            t.shape = Some(vec![3, 8])
        }),
        ("quantization parameters", |t| {
            t.quantization = Some(Box::new(fb::QuantizationParameters { min: None, max: None, scale: Some(vec![0.1]), zero_point: Some(vec![0]) }))
        }),
        ("dynamic", |t| t.shape_signature = Some(vec![-1, 4])),
        ("rank 3", |t| t.shape = Some(vec![1, 3, 4])),
    ];
    for (reason, edit) in cases {
        let bytes = model_with(&weight(), |m| edit(w(m)));
        let (out, report) = accelerate(&bytes, &AccelerateOptions { min_sparsity: 0.5 }).unwrap();
        let layer = &report.layers[0];
        assert_eq!(layer.decision, Decision::Left, "{reason}");
        assert!(layer.reason.contains(reason), "{reason}: {}", layer.reason);
        assert_eq!(out, bytes, "{reason}: nothing rewritten, nothing changed");
    }
}

#[test]
fn indices_into_other_vectors_and_data_sizes_are_checked_on_read() {
    assert!(invalid(&model_with(&weight(), |m| ops(m).opcode_index = 7)).contains("opcode index 7"));
    assert!(invalid(&model_with(&weight(), |m| ops(m).inputs = Some(vec![0, 9]))).contains("tensor index 9"));
    assert!(invalid(&model_with(&weight(), |m| w(m).buffer = 5)).contains("buffer index 5"));
    assert!(invalid(&model_with(&weight(), |m| w(m).shape = Some(vec![4, 4]))).contains("needs 64 bytes"));
    assert!(invalid(&model_with(&weight(), |m| w(m).shape = Some(vec![-3, 4]))).contains("no size"));
    assert!(!invalid(&model()[..model().len() / 2]).is_empty());
    let mut no_identifier = model();
    no_identifier[4..8].copy_from_slice(b"XXXX");
    assert!(invalid(&no_identifier).contains("TFL3"));
}

fn ops(m: &mut fb::Model) -> &mut fb::Operator {
    &mut m.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()[0]
}

fn w(m: &mut fb::Model) -> &mut fb::Tensor {
    &mut m.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()[1]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Whatever bytes a damaged file holds, reading and rewriting it ends in
    /// a model or an error: never a panic, an overflow or an index out of range.
    #[test]
    fn mutated_models_never_panic_the_reader_or_the_rewrite(
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        keep in any::<prop::sample::Index>(),
    ) {
        let mut bytes = model();
        for (at, value) in mutations {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = accelerate(&bytes, &AccelerateOptions { min_sparsity: 0.0 });
        let cut = keep.index(bytes.len() + 1);
        let _ = accelerate(&bytes[..cut], &AccelerateOptions { min_sparsity: 0.0 });
    }
}
