//! `tf-strip compact` against the real TensorFlow: every pruned fixture
//! compacts and computes what it computed (verify, batch 1 and 8), channel-
//! pruned fixtures get smaller, unstructured ones lose only genuinely zero
//! channels, and the refusals show why they are needed.

mod common;

use std::path::{Path, PathBuf};

use common::{pruned_fixtures, tf_model, tf_strip, Fixture};
use serde_json::Value;
use tf_strip::graph::read_message;
use tf_strip::proto::tensorflow::{DataType, GraphDef};
use tf_strip::graph::Attrs;
use tf_strip::tensor::Tensor;

/// The fixtures whose masks zero whole output channels (half of each layer's).
const CHANNEL_PRUNED: [&str; 4] = ["inception", "mobilenet", "resnet", "vgg"];

fn strip(f: &Fixture, dir: &Path, extra: &[&str]) -> (PathBuf, std::process::Output) {
    let out = common::strip_fixture(f, dir, extra);
    common::assert_succeeded(&out, &format!("{}: strip {extra:?}", f.name));
    (dir.join("pruning_stripped.pb"), out)
}

fn compact(input: &Path, output: &Path) -> Value {
    compact_with(input, output, &[])
}

fn compact_with(input: &Path, output: &Path, extra: &[&str]) -> Value {
    let out = tf_strip().arg("compact").arg(input).arg(output).arg("--json").args(extra).output().unwrap();
    common::assert_succeeded(&out, &format!("compact {}", input.display()));
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// `outputs`: also the logits, which depend on the input far more than the
/// softmax of a briefly trained model does.
fn assert_verifies(a: &Path, b: &Path, outputs: &str, what: &str) {
    for batch in ["1", "8"] {
        let out = tf_strip()
            .arg("verify")
            .args([a, b])
            .args(["--outputs", outputs])
            .args(["--batch", batch, "--atol", "1e-5", "--rtol", "1e-5", "--iterations", "2", "--json"])
            .output()
            .unwrap();
        common::assert_succeeded(&out, &format!("{what}: verify at batch {batch}"));
    }
}

fn channels(layer: &Value, key: &str) -> (u64, u64) {
    (layer[key][0].as_u64().unwrap(), layer[key][1].as_u64().unwrap())
}

#[test]
fn every_pruned_fixture_compacts_and_computes_the_same() {
    let fixtures = pruned_fixtures();
    for name in CHANNEL_PRUNED {
        assert!(fixtures.iter().any(|f| f.name == name), "testdata/{name} is missing");
    }
    let tmp = tempfile::tempdir().unwrap();
    for f in &fixtures {
        let dir = tmp.path().join(&f.name);
        let (stripped, _) = strip(f, &dir, &[]);
        let compacted = dir.join("compacted.pb");
        let report = compact(&stripped, &compacted);
        let outputs = if CHANNEL_PRUNED.contains(&f.name.as_str()) { "output,logits/add".to_string() } else { f.outputs.join(",") };
        assert_verifies(&stripped, &compacted, &outputs, &f.name);
        let layers = report["layers"].as_array().unwrap();
        if CHANNEL_PRUNED.contains(&f.name.as_str()) {
            let (before, after) = channels(&report, "flops");
            assert!(after * 10 < before * 7, "{}: FLOPs {before} -> {after}: {report:#}", f.name);
            let (before, after) = channels(&report, "params");
            assert!(after < before, "{}: params {before} -> {after}", f.name);
        } else {
            // Unstructured pruning leaves no channel all zero unless by chance:
            // only those may go.
            for l in layers {
                let (before, after) = channels(l, "out_channels");
                if l["op"] != "DepthwiseConv2dNative" {
                    assert!(before - after <= l["zero_channels"].as_u64().unwrap(), "{}: {l:#}", f.name);
                }
            }
        }
    }
}

#[test]
fn strip_with_compact_writes_what_strip_then_compact_writes() {
    let f = pruned_fixtures().into_iter().find(|f| f.name == "resnet").expect("testdata/resnet");
    let tmp = tempfile::tempdir().unwrap();
    let (stripped, _) = strip(&f, &tmp.path().join("plain"), &[]);
    let separately = tmp.path().join("separately.pb");
    compact(&stripped, &separately);
    let (together, out) = strip(&f, &tmp.path().join("together"), &["--compact", "--json"]);
    assert_eq!(std::fs::read(together).unwrap(), std::fs::read(separately).unwrap());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["compact"]["layers"].as_array().is_some_and(|l| !l.is_empty()), "{report:#}");
    // Compact's flags without --compact would silently do nothing.
    let out = common::strip_fixture(&f, &tmp.path().join("refused"), &["--round_to", "8"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("add --compact") && stderr.lines().count() == 1, "{stderr}");
}

/// x [1, 6, 6, 1] -> 1x1 conv to 2 channels (channel 1's filter zero) ->
/// inference batch norm (channel 1's offset 0.3) -> Relu -> 3x3 SAME conv
/// to 1 channel. `naive`: channel 1 removed as if its constant
/// relu(0.3) = 0.3 could go into the bias.
fn padded_graph(naive: bool) -> String {
    let w2: Vec<f32> = (0..18).map(|i| (i as f32 + 1.0) / 10.0).collect();
    let (w1, offset, w2_kept, b2, width) = if naive {
        let sum: f32 = w2.iter().skip(1).step_by(2).sum();
        (vec![1.0], vec![0.0], w2.iter().step_by(2).copied().collect::<Vec<_>>(), 0.3 * sum, 1)
    } else {
        (vec![1.0, 0.0], vec![0.0, 0.3], w2.clone(), 0.0, 2)
    };
    let ones = vec![1.0; width];
    let zeros = vec![0.0; width];
    let floats = |v: &[f32]| v.iter().map(|x| format!("float_val: {x:?}")).collect::<Vec<_>>().join(" ");
    let dims = |d: &[usize]| d.iter().map(|s| format!("dim {{ size: {s} }}")).collect::<Vec<_>>().join(" ");
    let constant = |name: &str, shape: &[usize], v: &[f32]| {
        format!(
            "node {{ name: \"{name}\" op: \"Const\" attr {{ key: \"dtype\" value {{ type: DT_FLOAT }} }} \
             attr {{ key: \"value\" value {{ tensor {{ dtype: DT_FLOAT tensor_shape {{ {} }} {} }} }} }} }}\n",
            dims(shape),
            floats(v)
        )
    };
    let conv = |name: &str, x: &str, w: &str| {
        format!(
            "node {{ name: \"{name}\" op: \"Conv2D\" input: \"{x}\" input: \"{w}\" \
             attr {{ key: \"T\" value {{ type: DT_FLOAT }} }} \
             attr {{ key: \"strides\" value {{ list {{ i: 1 i: 1 i: 1 i: 1 }} }} }} \
             attr {{ key: \"padding\" value {{ s: \"SAME\" }} }} }}\n"
        )
    };
    let op = |name: &str, op: &str, inputs: &[&str]| {
        let inputs: String = inputs.iter().map(|i| format!("input: \"{i}\" ")).collect();
        format!("node {{ name: \"{name}\" op: \"{op}\" {inputs}attr {{ key: \"T\" value {{ type: DT_FLOAT }} }} }}\n")
    };
    [
        "node { name: \"x\" op: \"Placeholder\" attr { key: \"dtype\" value { type: DT_FLOAT } } \
         attr { key: \"shape\" value { shape { dim { size: 1 } dim { size: 6 } dim { size: 6 } dim { size: 1 } } } } }\n"
            .to_string(),
        constant("w1", &[1, 1, 1, width], &w1),
        conv("conv1", "x", "w1"),
        constant("scale", &[width], &ones),
        constant("offset", &[width], &offset),
        constant("mean", &[width], &zeros),
        constant("variance", &[width], &ones),
        "node { name: \"bn1\" op: \"FusedBatchNormV3\" input: \"conv1\" input: \"scale\" input: \"offset\" \
         input: \"mean\" input: \"variance\" attr { key: \"T\" value { type: DT_FLOAT } } \
         attr { key: \"U\" value { type: DT_FLOAT } } attr { key: \"is_training\" value { b: false } } \
         attr { key: \"epsilon\" value { f: 0.001 } } }\n"
            .to_string(),
        op("relu1", "Relu", &["bn1"]),
        constant("w2", &[3, 3, width, 1], &w2_kept),
        conv("conv2", "relu1", "w2"),
        constant("b2", &[1], &[b2]),
        op("out", "BiasAdd", &["conv2", "b2"]),
    ]
    .concat()
}

fn run_padded(def: &GraphDef) -> Vec<f32> {
    let model = tf_model(&prost::Message::encode_to_vec(def));
    let x = Tensor::from_f32s(&[1, 6, 6, 1], &(0..36).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>());
    model.run(&[("x:0".into(), x)], &["out:0".into()]).unwrap()[0].f32s().unwrap()
}

#[test]
fn a_batch_norm_offset_before_a_same_padded_convolution_stays_unless_a_border_constant_counted_in_the_params_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("padded.pbtxt");
    std::fs::write(&original, padded_graph(false)).unwrap();
    let want = run_padded(&read_message::<GraphDef>(&original).unwrap());

    // Kept: removed, with its constant taken into the bias, it would be
    // right only where the 3x3 window lies inside the image.
    let kept = tmp.path().join("kept.pb");
    let report = compact_with(&original, &kept, &["--no_border_constants"]);
    let conv1 = &report["layers"][0];
    assert_eq!(channels(conv1, "out_channels"), (2, 2), "{report:#}");
    assert_eq!(conv1["kept"][0]["reason"], serde_json::json!({"kind": "constant_through_padding", "node": "conv2"}));
    assert_eq!(run_padded(&read_message::<GraphDef>(&kept).unwrap()), want, "nothing changed");
    let naive = tmp.path().join("naive.pbtxt");
    std::fs::write(&naive, padded_graph(true)).unwrap();
    let removed = run_padded(&read_message::<GraphDef>(&naive).unwrap());
    for (i, (w, r)) in want.iter().zip(&removed).enumerate() {
        let (h, w_) = (i / 6, i % 6);
        let border = h == 0 || h == 5 || w_ == 0 || w_ == 5;
        let diff = (w - r).abs();
        if border {
            assert!(diff > 1e-2, "border ({h}, {w_}) should differ: {w} vs {r}");
        } else {
            assert!(diff <= 1e-5 * w.abs().max(1.0), "interior ({h}, {w_}) should agree: {w} vs {r}");
        }
    }

    // By default, with static sizes: removed, and the border constant added
    // after conv2 makes every position what it was.
    let compacted = tmp.path().join("compacted.pb");
    let report = compact(&original, &compacted);
    assert_eq!(channels(&report["layers"][0], "out_channels"), (2, 1), "{report:#}");
    assert_eq!(report["folds"][0]["kind"], "border", "{report:#}");
    let compacted = read_message::<GraphDef>(&compacted).unwrap();
    let got = run_padded(&compacted);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{got:?} vs {want:?}");
    }
    // The parameters counted after compaction are every float constant the
    // graph holds, the border constant it added among them.
    let float_constants: u64 = compacted
        .node
        .iter()
        .filter(|n| n.op == "Const")
        .map(|n| tf_strip::tensor::from_proto(n.tensor_value().unwrap()).unwrap())
        .filter(|t| t.dtype == DataType::DtFloat)
        .map(|t| t.num_elements())
        .sum();
    assert_eq!(report["params"][1].as_u64(), Some(float_constants), "{report:#}");
}

#[test]
fn bad_input_is_one_error_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.pb");
    std::fs::write(&garbage, b"\xff\xff\xff not a graph").unwrap();
    for input in [garbage.clone(), tmp.path().join("missing.pb")] {
        let out = tf_strip().arg("compact").arg(&input).arg(tmp.path().join("out.pb")).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&*input.to_string_lossy()), "{stderr}");
        assert!(!tmp.path().join("out.pb").exists());
    }
}

#[test]
fn a_compacted_saved_model_serves_what_the_stripped_graph_computes() {
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mobilenet").expect("testdata/mobilenet");
    let tmp = tempfile::tempdir().unwrap();
    let (stripped, _) = strip(&f, &tmp.path().join("plain"), &[]);
    let saved = tmp.path().join("serving");
    let report = compact_with(&stripped, &saved, &["--output_format=saved_model"]);
    assert_eq!(report["saved_model"]["signature"]["outputs"][0]["key"], "output", "{report:#}");
    assert!(saved.join("saved_model.pb").is_file() && saved.join("variables").is_dir());
    assert_verifies(&stripped, &saved, "output", "the compacted SavedModel");
}
