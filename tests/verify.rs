//! `tf-strip verify` against the real TensorFlow: our strip against
//! TensorFlow's and against the training graph restored from its checkpoint,
//! every encoding, a changed weight caught, the input and TensorFlow-finding
//! errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{pruned_fixtures, root, tf_strip, Fixture};
use serde_json::Value;
use tf_strip::graph::{read_message, write_message, Format};
use tf_strip::proto::tensorflow::attr_value::Value as Attr;
use tf_strip::proto::tensorflow::GraphDef;
use tf_strip::tensor::{from_proto, to_proto, TensorData};

fn verify(args: &[&Path], extra: &[&str]) -> Output {
    tf_strip().arg("verify").args(args).args(extra).output().expect("run tf-strip verify")
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("no JSON report ({e}):\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn assert_passes(out: &Output, what: &str) -> Value {
    common::assert_succeeded(out, what);
    let r = report(out);
    assert_eq!(r["passed"], true, "{what}: {r:#}");
    r
}

/// Our strip of the fixture's checkpoint, into `dir`.
fn our_strip(f: &Fixture, dir: &Path) -> PathBuf {
    let out = tf_strip()
        .arg(format!("--checkpoint_dir={}", f.dir.display()))
        .arg(format!("--output_node_names={}", f.outputs.join(",")))
        .arg(format!("--output_dir={}", dir.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}: strip: {}", f.name, String::from_utf8_lossy(&out.stderr));
    dir.join("pruning_stripped.pb")
}

#[test]
fn tensorflows_strip_and_ours_agree_on_every_pruned_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    for f in pruned_fixtures().into_iter().filter(|f| f.tf_stripped("verify")) {
        let ours = our_strip(&f, &tmp.path().join(&f.name));
        let out = verify(&[&f.expected("stripped.pb"), &ours], &["--batch", "4", "--iterations", "3", "--json"]);
        let r = assert_passes(&out, &f.name);
        let fetched: Vec<String> = f.outputs.iter().map(|o| format!("{o}:0")).collect();
        assert_eq!(r["outputs"], serde_json::json!(fetched), "{}: default outputs are the graph's sinks", f.name);
        assert_eq!(r["comparisons"][0]["outputs"][0]["elements"].as_u64().unwrap() % 4, 0, "{}", f.name);
    }
}

#[test]
fn training_graph_restored_from_its_checkpoint_agrees_with_our_strip() {
    let tmp = tempfile::tempdir().unwrap();
    for f in pruned_fixtures() {
        let ours = our_strip(&f, &tmp.path().join(&f.name));
        let out = verify(&[&f.dir, &ours], &["--batch", "3", "--iterations", "2", "--json"]);
        let r = assert_passes(&out, &f.name);
        assert_eq!(r["models"][0]["kind"], "checkpoint", "{}", f.name);
        // Placeholders only the training graph has (labels) are not fed.
        let fed: Vec<&str> = r["inputs"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
        let io = common::read_json(&f.expected("io.json"));
        let want: Vec<&String> = io["inputs"].as_object().unwrap().keys().collect();
        assert_eq!(fed, want, "{}", f.name);
    }
}

#[test]
fn every_encoding_and_the_saved_model_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let pb = f.expected("stripped.pb");
    let container = tmp.path().join("m.tfsparse");
    let loadable = tmp.path().join("loadable.pb");
    let text = tmp.path().join("m.pbtxt");
    for args in [vec!["encode", pb.to_str().unwrap(), container.to_str().unwrap()],
                 vec!["encode", "--tf-loadable", pb.to_str().unwrap(), loadable.to_str().unwrap()]] {
        let out = tf_strip().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    write_message(&text, &read_message::<GraphDef>(&pb).unwrap(), Format::Text).unwrap();
    let saved = f.dir.join("saved_model");
    let out = verify(&[&pb, &container, &loadable, &text, &saved, &f.prefix], &["--batch", "5", "--json"]);
    let r = assert_passes(&out, "encodings");
    let kinds: Vec<&str> = r["models"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["graph_def", "container", "graph_def", "graph_def", "saved_model", "checkpoint"]);
    assert_eq!(r["comparisons"].as_array().unwrap().len(), 5);
}

#[test]
fn a_weight_changed_by_1e_3_fails_with_exit_1_naming_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let pb = f.expected("stripped.pb");
    let mut def: GraphDef = read_message(&pb).unwrap();
    let node = def.node.iter_mut().find(|n| n.name == "fc3/weights/masked_weight").unwrap();
    let Some(Attr::Tensor(proto)) = node.attr.get("value").and_then(|a| a.value.clone()) else { panic!("no value") };
    let mut t = from_proto(&proto).unwrap();
    let TensorData::Pod(bytes) = &t.data else { panic!() };
    let mut values: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let largest = (0..values.len()).max_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs())).unwrap();
    values[largest] += 1e-3;
    t.data = TensorData::Pod(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into());
    node.attr.get_mut("value").unwrap().value = Some(Attr::Tensor(to_proto(&t)));
    let changed = tmp.path().join("changed.pb");
    write_message(&changed, &def, Format::Binary).unwrap();

    let out = verify(&[&pb, &changed], &["--batch", "16", "--iterations", "4", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("verification failed") && stderr.contains("output:0"), "{stderr}");
    let r = report(&out);
    let diff = &r["comparisons"][0]["outputs"][0];
    assert_eq!((diff["passed"].as_bool(), diff["name"].as_str()), (Some(false), Some("output:0")), "{r:#}");
    assert!(diff["max_abs"].as_f64().unwrap() > 1e-5 && diff["failing"].as_u64().unwrap() > 0, "{r:#}");
    // Loose enough tolerances accept the change (the rule needs both exceeded).
    let out = verify(&[&pb, &changed], &["--batch", "16", "--iterations", "4", "--atol", "1e-2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASS: 1 of 1 outputs passed"));
}

fn unknown_shape_graph(dir: &Path) -> PathBuf {
    let path = dir.join("unknown.pbtxt");
    std::fs::write(
        &path,
        r#"node { name: "images" op: "Placeholder"
         attr { key: "dtype" value { type: DT_FLOAT } }
         attr { key: "shape" value { shape { dim { size: -1 } dim { size: -1 } dim { size: 3 } } } } }
       node { name: "out" op: "Identity" input: "images" attr { key: "T" value { type: DT_FLOAT } } }"#,
    )
    .unwrap();
    path
}

#[test]
fn an_unknown_non_batch_dimension_is_a_usage_error_naming_the_placeholder() {
    let tmp = tempfile::tempdir().unwrap();
    let g = unknown_shape_graph(tmp.path());
    let out = verify(&[&g, &g], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`images`") && stderr.contains("dimension 1") && stderr.contains("--input_shapes"), "{stderr}");
    // One line of ours; TensorFlow may log its own start-up (oneDNN's notice) before it.
    assert_eq!(stderr.lines().filter(|l| l.starts_with("tf-strip")).count(), 1, "{stderr}");
    assert!(stderr.lines().last().is_some_and(|l| l.starts_with("tf-strip: error: ")), "{stderr}");
    let out = verify(&[&g, &g], &["--input_shapes", "images:2,5,3", "--json"]);
    let r = assert_passes(&out, "with --input_shapes");
    assert_eq!(r["inputs"][0]["shape"], serde_json::json!([2, 5, 3]));
    let out = verify(&[&g, &g], &["--input_shapes", "images:2,5,4"]);
    assert_eq!(out.status.code(), Some(2), "a shape that contradicts the declared one");
}

#[test]
fn inputs_from_npy_and_npz_files() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "resource").unwrap();
    let (npz, npy) = (tmp.path().join("in.npz"), tmp.path().join("x.npy"));
    let script = format!(
        "import numpy as np\n\
         np.savez({npz:?}, ids=np.arange(12, dtype=np.int32).reshape(3, 4) % 32, input=np.full((3, 16), 0.5, np.float32))\n\
         np.save({npy:?}, np.full((3, 16), -0.25, np.float32))"
    );
    let out = common::python().args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pb = f.expected("stripped.pb");
    let r = assert_passes(&verify(&[&pb, &f.dir], &["--inputs", npz.to_str().unwrap(), "--json"]), "npz");
    assert_eq!(r["inputs"][0]["shape"], serde_json::json!([3, 4]), "{r:#}");
    let given = format!("input={}", npy.display());
    let r = assert_passes(&verify(&[&pb, &f.dir], &["--inputs", &given, "--batch", "3", "--json"]), "npy");
    assert_eq!(r["inputs"][1]["shape"], serde_json::json!([3, 16]), "{r:#}");

    let bad = tmp.path().join("bad.npy");
    std::fs::write(&bad, b"not numpy").unwrap();
    let out = verify(&[&pb, &f.dir], &["--inputs", &format!("input={}", bad.display())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && stderr.contains("bad.npy") && stderr.contains("magic"), "{stderr}");
}

#[test]
fn tensorflow_is_found_through_the_python_on_the_path() {
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let venv_bin = root().join(".venv/bin");
    let path = std::env::join_paths(
        std::iter::once(venv_bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let out = tf_strip()
        .env_remove("TENSORFLOW_DIR")
        .env("PATH", &path)
        .args(["verify", "--json"])
        .args([&f.expected("stripped.pb"), &f.dir.join("saved_model")])
        .output()
        .unwrap();
    assert_passes(&out, "TENSORFLOW_DIR unset, .venv/bin first on PATH");

    let out = tf_strip()
        .env_remove("TENSORFLOW_DIR")
        .args(["verify", "--python", "/nonexistent/python3"])
        .args([&f.expected("stripped.pb"), &f.expected("stripped.pb")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/python3") && stderr.contains("pip install tensorflow-cpu") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn outputs_of_a_checkpoint_must_be_named_and_must_exist() {
    let f = pruned_fixtures().into_iter().find(|f| f.name == "convnet").unwrap();
    let out = verify(&[&f.dir, &f.dir], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--outputs"));
    let out = verify(&[&f.dir, &f.expected("stripped.pb")], &["--outputs", "softmax_linear/softmax_lin"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nearest names: softmax_linear/softmax_linear"), "{stderr}");
    let out = verify(&[&f.dir, &f.expected("stripped.pb")], &["--outputs", "softmax_linear/softmax_linear", "--batch", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn zero_tolerances_print_as_0_and_others_as_given() {
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let pb = f.expected("stripped.pb");
    let out = verify(&[&pb, &pb], &["--atol", "0", "--rtol", "0.00001"]);
    common::assert_succeeded(&out, "verify --atol 0");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("atol 0, rtol 1e-5 "), "{stdout}");
}

/// The two lines TensorFlow 2.21 prints while its library loads when oneDNN
/// is on, before any log level applies (README, verify).
const LOAD_NOTICE: [&str; 2] = ["WARNING: All log messages before absl::InitializeLog() is called", "oneDNN custom operations are on"];

#[test]
fn tensorflows_info_and_warning_lines_are_silenced_unless_the_user_sets_a_log_level() {
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let pb = f.expected("stripped.pb");
    for command in ["verify", "bench"] {
        let mut cmd = tf_strip();
        cmd.arg(command).args([&pb, &pb]).env_remove("TF_CPP_MIN_LOG_LEVEL");
        if command == "bench" {
            cmd.args(["--runs", "2", "--loads", "1"]);
        }
        let out = cmd.output().unwrap();
        common::assert_succeeded(&out, command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let foreign: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty() && !LOAD_NOTICE.iter().any(|n| l.contains(n))).collect();
        assert!(foreign.is_empty(), "{command}: TensorFlow's log lines on stderr:\n{stderr}");
    }
    // A level the user chose is kept: INFO lines come back.
    let out = tf_strip().arg("verify").args([&pb, &pb]).env("TF_CPP_MIN_LOG_LEVEL", "0").output().unwrap();
    common::assert_succeeded(&out, "verify with TF_CPP_MIN_LOG_LEVEL=0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l.starts_with('I') && !LOAD_NOTICE.iter().any(|n| l.contains(n))), "{stderr}");
}
