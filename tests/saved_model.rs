//! `--output_format=saved_model`: every pruned fixture stripped into a
//! SavedModel loads in the real TensorFlow the ways a user deploys it (the C
//! API's SavedModel loader, which TensorFlow Serving uses; Python's TF1
//! loader and `tf.saved_model.load`; `saved_model_cli`), and its serving
//! signature computes what the stripped `.pb` computes in the same process.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use tf_strip::graph::read_message;
use tf_strip::proto::tensorflow::{tensor_info, SavedModel, SignatureDef};
use tf_strip::runtime::{Model, SessionConfig};
use tf_strip::tensor::Tensor;

/// The fixture stripped twice into `tmp`: the `.pb` and the SavedModel directory.
fn strip_both(f: &Fixture, tmp: &Path) -> (PathBuf, PathBuf) {
    let out = tmp.join(&f.name);
    assert_succeeded(&strip_fixture(f, &out, &[]), &f.name);
    assert_succeeded(&strip_fixture(f, &out, &["--output_format=saved_model"]), &f.name);
    (out.join("pruning_stripped.pb"), out.join("pruning_stripped_saved_model"))
}

fn serving_signature(dir: &Path) -> SignatureDef {
    let saved: SavedModel = read_message(&dir.join("saved_model.pb")).unwrap();
    assert_eq!(saved.saved_model_schema_version, 1);
    assert_eq!(saved.meta_graphs.len(), 1);
    let meta = &saved.meta_graphs[0];
    assert_eq!(meta.meta_info_def.as_ref().unwrap().tags, ["serve"]);
    meta.signature_def["serving_default"].clone()
}

fn tensor_name(info: &tf_strip::proto::tensorflow::TensorInfo) -> String {
    match &info.encoding {
        Some(tensor_info::Encoding::Name(n)) => n.clone(),
        other => panic!("not a named tensor: {other:?}"),
    }
}

/// Through the C API's `LoadSavedModel` (tag `serve`), the signature's
/// outputs on the fixture's inputs, in output key order.
fn run_saved_model(f: &Fixture, dir: &Path) -> (Vec<String>, Vec<Tensor>) {
    let sig = serving_signature(dir);
    let (feeds, _, _) = f.io();
    let inputs: Vec<String> = sig.inputs.values().map(tensor_name).collect();
    let mut fed: Vec<String> = feeds.iter().map(|(n, _)| n.clone()).collect();
    fed.sort();
    let mut wanted = inputs.clone();
    wanted.sort();
    assert_eq!(wanted, fed, "{}: the signature's inputs are the placeholders the outputs need", f.name);
    let fetches: Vec<String> = sig.outputs.values().map(tensor_name).collect();
    let model = Model::saved_model(dir, &["serve".to_string()], &SessionConfig::default()).unwrap_or_else(|e| panic!("{}: {e}", f.name));
    let got = model.run(&feeds, &fetches).unwrap_or_else(|e| panic!("{}: {e}", f.name));
    (fetches, got)
}

#[test]
fn every_pruned_fixture_serves_from_its_saved_model_as_the_frozen_graph_computes() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = pruned_fixtures();
    assert_eq!(fixtures.len(), 12, "every pruned fixture in testdata/");
    for f in &fixtures {
        let (pb, dir) = strip_both(f, tmp.path());
        assert!(dir.join("variables").is_dir(), "{}: variables/", f.name);
        assert_eq!(std::fs::read_dir(dir.join("variables")).unwrap().count(), 0, "{}: weights are constants", f.name);

        // (a) The C API's loader, against the frozen graph in this process: bit for bit.
        let (fetches, got) = run_saved_model(f, &dir);
        let (feeds, _, recorded) = f.io();
        let frozen = tf_model(&std::fs::read(&pb).unwrap()).run(&feeds, &fetches).unwrap();
        assert!(got == frozen, "{}: the SavedModel's outputs differ from the frozen graph's", f.name);
        for (g, r) in got.iter().zip(&recorded) {
            assert_close(g, r, &format!("{}: against the recorded outputs", f.name));
        }

        // (b) Python: TF1's loader in a session and TF2's signature function.
        let r = python_script("saved_model_check.py", &[&f.dir, &pb, &dir]);
        assert_eq!(r["signature"]["method_name"], "tensorflow/serving/predict", "{}: {r}", f.name);
        for how in ["v1_loader", "v2_load"] {
            let outputs = r[how].as_object().unwrap();
            assert_eq!(outputs.len(), f.outputs.len(), "{}: {how}: {r}", f.name);
            for (key, v) in outputs {
                assert_eq!(v["bit_identical"], true, "{}: {how} {key}: {v}", f.name);
            }
        }

        // (c) saved_model_cli lists the signature with its tensors.
        let out = venv_program("saved_model_cli").args(["show", "--all", "--dir"]).arg(&dir).output().unwrap();
        assert_succeeded(&out, &format!("{}: saved_model_cli", f.name));
        let shown = String::from_utf8_lossy(&out.stdout);
        let sig = serving_signature(&dir);
        assert!(shown.contains("signature_def['serving_default']:"), "{}: {shown}", f.name);
        assert!(shown.contains("Method name is: tensorflow/serving/predict"), "{}: {shown}", f.name);
        for (key, info) in sig.inputs.iter().chain(&sig.outputs) {
            let line = format!("['{key}'] tensor_info:");
            assert!(shown.contains(&line) && shown.contains(&format!("name: {}", tensor_name(info))), "{}: {key}: {shown}", f.name);
        }

        // verify takes the SavedModel's signature outputs.
        let out = tf_strip().arg("verify").arg(&pb).arg(&dir).arg("--json").output().unwrap();
        assert_succeeded(&out, &format!("{}: verify", f.name));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["passed"], true, "{}: {report:#}", f.name);
    }
}

#[test]
fn the_signature_records_dtypes_and_shapes_and_inspect_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "resource").unwrap();
    let (_, dir) = strip_both(&f, tmp.path());
    let out = tf_strip().arg("inspect").arg(&dir).arg("--json").output().unwrap();
    assert_succeeded(&out, "inspect --json");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sig = &report["signatures"][0];
    assert_eq!(sig["key"], "serving_default");
    assert_eq!(sig["method_name"], "tensorflow/serving/predict");
    let expected = serde_json::json!([
        {"key": "ids", "name": "ids:0", "dtype": "int32", "shape": [-1, 4]},
        {"key": "input", "name": "input:0", "dtype": "float32", "shape": [-1, 16]},
    ]);
    assert_eq!(sig["inputs"], expected, "{report:#}");
    assert_eq!(sig["outputs"][0]["name"], "output:0");
    assert_eq!(sig["outputs"][0]["dtype"], "float32");
    // Not inferable here (a gathered embedding): unknown rank, printed as saved_model_cli does.
    assert_eq!(sig["outputs"][0]["shape"], Value::Null, "{report:#}");

    let out = tf_strip().arg("inspect").arg(&dir).output().unwrap();
    assert_succeeded(&out, "inspect");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("serving_default") && table.contains("ids:0") && table.contains("[?,4]"), "{table}");
    assert_signature_table(&table, "output:0", "unknown_rank");
}

/// The signature table of `text` has a header for each of its 7 columns, and
/// `tensor`'s row gives `shape`.
fn assert_signature_table(text: &str, tensor: &str, shape: &str) {
    let header = text.lines().find(|l| l.starts_with("signature ")).unwrap_or_else(|| panic!("no signature table:\n{text}"));
    assert_eq!(header.split_whitespace().collect::<Vec<_>>(), ["signature", "method", "side", "key", "tensor", "dtype", "shape"]);
    let row = text.lines().find(|l| l.split_whitespace().nth(4) == Some(tensor)).unwrap_or_else(|| panic!("no row for {tensor}:\n{text}"));
    assert_eq!(row.split_whitespace().count(), 7, "{row}");
    assert_eq!(row.split_whitespace().last(), Some(shape), "{row}");
}

#[test]
fn the_strip_report_shows_the_signature_with_a_header_per_column_and_inferred_output_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let out = common::strip_fixture(&f, tmp.path(), &["--output_format=saved_model"]);
    assert_succeeded(&out, "strip --output_format=saved_model");
    assert_signature_table(&String::from_utf8_lossy(&out.stderr), "output:0", "[?,10]");
}

#[test]
fn signature_keys_can_be_chosen() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "convnet").unwrap();
    let out = strip_fixture(
        &f,
        tmp.path(),
        &[
            "--output_format=saved_model",
            "--filename=1",
            "--signature_inputs=images=input:0",
            "--signature_outputs=probabilities=softmax_linear/softmax_linear",
        ],
    );
    assert_succeeded(&out, "named keys");
    let sig = serving_signature(&tmp.path().join("1"));
    assert_eq!(sig.inputs.keys().collect::<Vec<_>>(), ["images"]);
    assert_eq!(tensor_name(&sig.outputs["probabilities"]), "softmax_linear/softmax_linear:0");
    let (_, got) = run_saved_model(&f, &tmp.path().join("1"));
    assert_eq!(got.len(), 1);

    let out = strip_fixture(&f, tmp.path(), &["--signature_outputs=p=softmax_linear/softmax_linear"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output_format=saved_model"));
    let out = strip_fixture(&f, tmp.path(), &["--output_format=saved_model", "--signature_outputs=p=softmax_linear/nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && stderr.contains("no node named `softmax_linear/nope`"), "{stderr}");
}

#[test]
fn a_saved_model_replaces_only_a_saved_model_or_an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let saved = ["--output_format=saved_model", "--filename=model"];
    assert_succeeded(&strip_fixture(&f, tmp.path(), &saved), "first");
    assert_succeeded(&strip_fixture(&f, tmp.path(), &saved), "over a SavedModel");
    let names: Vec<String> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert_eq!(names, ["model"], "temporary directories left");

    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), b"mine").unwrap();
    let out = strip_fixture(&f, tmp.path(), &["--output_format=saved_model", "--filename=busy"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("busy") && stderr.contains("no saved_model.pb") && stderr.lines().count() == 1, "{stderr}");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    let out = strip_fixture(&f, tmp.path(), &["--output_format=saved_model", "--as_text"]);
    assert_eq!(out.status.code(), Some(1), "--as_text with a SavedModel is a usage error");
    // A SavedModel that is the strip's own input is never replaced.
    let input = tmp.path().join("input");
    std::fs::create_dir_all(input.join("variables")).unwrap();
    for file in ["saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001"] {
        std::fs::copy(f.dir.join("saved_model").join(file), input.join(file)).unwrap();
    }
    let out = tf_strip()
        .arg(format!("--checkpoint_dir={}", f.dir.display()))
        .arg("--output_node_names=output")
        .arg(format!("--input_graph={}", input.display()))
        .arg(format!("--output_dir={}", tmp.path().display()))
        .args(["--output_format=saved_model", "--filename=input"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && stderr.contains("overwrite an input"), "{stderr}");
    assert!(input.join("variables/variables.index").is_file());
}

#[test]
fn the_tf_loadable_rebuild_serves_from_a_saved_model() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let out = tmp.path().join("mlp90");
    assert_succeeded(&strip_fixture(&f, &out, &[]), "strip");
    let pb = out.join("pruning_stripped.pb");
    let dir = tmp.path().join("loadable");
    let run = tf_strip().args(["encode", "--tf-loadable", "--output_format=saved_model", "--json"]).arg(&pb).arg(&dir).output().unwrap();
    assert_succeeded(&run, "encode --tf-loadable --output_format=saved_model");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(!report["loadable"]["rewritten"].as_array().unwrap().is_empty(), "{report:#}");
    assert_eq!(report["saved_model"]["signature"]["outputs"][0]["name"], "output:0", "the graph's sink");

    let (fetches, got) = run_saved_model(&f, &dir);
    let (feeds, _, _) = f.io();
    let frozen = tf_model(&std::fs::read(&pb).unwrap()).run(&feeds, &fetches).unwrap();
    assert_same_as_training(&got, &frozen, "the TF-loadable SavedModel against the stripped graph");
    let r = python_script("saved_model_check.py", &[&f.dir, &pb, &dir]);
    for how in ["v1_loader", "v2_load"] {
        assert_eq!(r[how]["output"]["allclose"], true, "{how}: {r}");
    }
}
