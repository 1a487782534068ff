//! `tf-strip accelerate IN.pb OUT.pb` (and `strip --accelerate`) on stripped
//! fixtures, the rewritten graphs run beside their input in the real
//! TensorFlow, in this process, on the fixtures' recorded inputs.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use tf_strip::graph::Graph;

/// Fixture `name` stripped by tf-strip into `dir`: the fixture and the `.pb`.
fn stripped(name: &str, dir: &Path) -> (Fixture, PathBuf) {
    let f = fixtures().into_iter().find(|f| f.name == name).unwrap();
    assert_succeeded(&strip_fixture(&f, dir, &[]), &format!("strip {name}"));
    (f, dir.join("pruning_stripped.pb"))
}

/// `tf-strip accelerate IN OUT ARGS... --json`: its report, after asserting
/// it succeeded and left its input as it was.
fn accelerate(input: &Path, output: &Path, args: &[&str]) -> Value {
    let before = sha256_hex(&std::fs::read(input).unwrap());
    let out = tf_strip().arg("accelerate").arg(input).arg(output).args(args).arg("--json").output().unwrap();
    assert_succeeded(&out, &format!("accelerate {}", input.display()));
    assert_eq!(sha256_hex(&std::fs::read(input).unwrap()), before, "{}: the input was modified", input.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn graph(path: &Path) -> Graph {
    tf_strip::model::Model::load(path).unwrap_or_else(|e| panic!("{e}")).graph
}

fn ops<'g>(g: &'g Graph, op: &str) -> Vec<&'g str> {
    g.nodes().iter().filter(|n| n.op == op).map(|n| n.name.as_str()).collect()
}

fn layer_names(report: &Value) -> Vec<&str> {
    report["layers"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect()
}

/// Both graphs run in this process on the fixture's recorded inputs: the
/// accelerated one's outputs are the input's within 1e-5.
fn assert_same_outputs(f: &Fixture, input: &Path, accelerated: &Path) {
    let (feeds, fetches, _) = f.io();
    let run = |p: &Path| tf_model(&std::fs::read(p).unwrap()).run(&feeds, &fetches).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for ((name, got), want) in fetches.iter().zip(run(accelerated)).zip(run(input)) {
        assert_close(&got, &want, &format!("{}: {name} of the accelerated graph", f.name));
    }
}

#[test]
fn mlp90_at_min_sparsity_0_has_every_matmul_rewritten_sparse_with_the_same_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (f, pb) = stripped("mlp90", tmp.path());
    let fast = tmp.path().join("fast.pb");
    let report = accelerate(&pb, &fast, &["--min_sparsity", "0"]);
    let before = graph(&pb);
    let matmuls = ops(&before, "MatMul");
    assert_eq!(matmuls.len(), 3);
    assert_eq!(layer_names(&report), matmuls, "{report:#}");
    assert_eq!(report["rewritten"], 3, "{report:#}");
    assert!(report["check"].is_null(), "decided by sparsity, nothing measured: {report:#}");
    let after = graph(&fast);
    assert!(ops(&after, "MatMul").is_empty());
    assert_eq!(ops(&after, "SparseTensorDenseMatMul").len(), 3);
    for name in matmuls {
        assert_eq!(after.node(name).unwrap().op, "Transpose", "{name} keeps its name for its readers");
    }
    assert_same_outputs(&f, &pb, &fast);
}

#[test]
fn the_lstm_loops_matmul_is_rewritten_inside_its_frame_with_the_same_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (f, pb) = stripped("lstm", tmp.path());
    let fast = tmp.path().join("fast.pb");
    let report = accelerate(&pb, &fast, &["--min_sparsity", "0"]);
    let in_loop: Vec<&Value> = report["layers"].as_array().unwrap().iter().filter(|l| l["in_loop"] == true).collect();
    assert_eq!(in_loop.len(), 1, "the cell's matmul: {report:#}");
    assert_eq!(in_loop[0]["decision"], "sparse", "{report:#}");
    let after = graph(&fast);
    let name = in_loop[0]["name"].as_str().unwrap();
    let product = after.node(&after.node(name).unwrap().input[0]).unwrap();
    assert_eq!(product.op, "SparseTensorDenseMatMul");
    for input in &product.input[..3] {
        assert_eq!(after.node(input).unwrap().op, "Enter", "{input} enters the loop's frame");
    }
    assert_same_outputs(&f, &pb, &fast);
}

#[test]
fn measured_mode_times_every_layer_at_every_batch_and_writes_a_graph_that_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (f, pb) = stripped("mlp90", tmp.path());
    let fast = tmp.path().join("fast.pb");
    let report = accelerate(&pb, &fast, &["--batch", "1,8"]);
    assert_eq!(report["batches"], serde_json::json!([1, 8]));
    for layer in report["layers"].as_array().unwrap() {
        let batches: Vec<u64> = layer["timings"].as_array().unwrap().iter().map(|t| t["batch"].as_u64().unwrap()).collect();
        assert_eq!(batches, [1, 8], "{layer}");
        for t in layer["timings"].as_array().unwrap() {
            assert!(t["dense"].as_f64().unwrap() > 0.0 && t["sparse"].as_f64().unwrap() > 0.0, "{t}");
        }
        assert!(!layer["reason"].as_str().unwrap().is_empty(), "{layer}");
    }
    let rewritten = report["rewritten"].as_u64().unwrap();
    let sparse = report["layers"].as_array().unwrap().iter().filter(|l| l["decision"] == "sparse").count() as u64;
    assert_eq!(rewritten, sparse, "{report:#}");
    if rewritten > 0 {
        assert_eq!(report["check"]["verified"], true, "{report:#}");
        assert!(report["check"]["timings"].as_array().unwrap().iter().all(|t| t["speedup"].as_f64().unwrap() > 1.0), "{report:#}");
    } else {
        assert_eq!(graph(&fast).def(), graph(&pb).def(), "nothing rewritten: the input graph is written");
    }
    assert_same_outputs(&f, &pb, &fast);
}

#[test]
fn a_conv_fixtures_convolutions_are_no_candidates_and_stay_as_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let (f, pb) = stripped("convnet", tmp.path());
    let fast = tmp.path().join("fast.pb");
    let report = accelerate(&pb, &fast, &["--min_sparsity", "0"]);
    let (before, after) = (graph(&pb), graph(&fast));
    assert!(!ops(&before, "Conv2D").is_empty());
    assert_eq!(layer_names(&report), ops(&before, "MatMul"), "only the MatMuls: {report:#}");
    for conv in ops(&before, "Conv2D") {
        assert_eq!(after.node(conv), before.node(conv), "{conv}");
    }
    assert_same_outputs(&f, &pb, &fast);
}

#[test]
fn strip_accelerate_chains_the_rewrite_after_the_strip() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let out = strip_fixture(&f, tmp.path(), &["--accelerate", "--min_sparsity", "0", "--json"]);
    assert_succeeded(&out, "strip --accelerate");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["accelerate"]["rewritten"], 3, "{report:#}");
    let g = graph(&tmp.path().join("pruning_stripped.pb"));
    assert!(ops(&g, "MatMul").is_empty());
    assert_eq!(ops(&g, "SparseTensorDenseMatMul").len(), 3);
}

#[test]
fn accelerate_flags_without_accelerate_are_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let out = strip_fixture(&f, tmp.path(), &["--min_sparsity", "0.5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("add --accelerate") && stderr.lines().count() == 1, "{stderr}");
    assert!(!tmp.path().join("pruning_stripped.pb").exists());
}

#[test]
fn without_tensorflow_or_min_sparsity_one_line_says_to_give_either() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, pb) = stripped("mlp90", tmp.path());
    let fast = tmp.path().join("fast.pb");
    let without_tf = |args: &[&str]| {
        tf_strip().arg("accelerate").arg(&pb).arg(&fast).args(args).env("TENSORFLOW_DIR", tmp.path().join("no-tensorflow")).output().unwrap()
    };
    let out = without_tf(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("tf-strip: error: ") && stderr.contains(&*pb.to_string_lossy()), "{stderr}");
    assert!(stderr.contains("needs TensorFlow") && stderr.contains("--min_sparsity"), "{stderr}");
    assert!(!fast.exists(), "no output");
    let out = without_tf(&["--min_sparsity", "0.5", "--json"]);
    assert_succeeded(&out, "sparsity alone needs no TensorFlow");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rewritten"], 3, "{report:#}");
}
