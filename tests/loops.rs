//! Masked weights computed inside TF1 while loops (an LSTM cell's kernel under
//! `dynamic_rnn`, one or two loops deep), which TensorFlow's own strip cannot
//! fold. Our stripped graph and the training graph restored from the same
//! checkpoint both run here, in one process, in the real TensorFlow, on the
//! same inputs: their outputs must be bit-identical.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use prost::Message;
use serde_json::{json, Value};
use tf_strip::checkpoint::meta_path;
use tf_strip::graph::{node_name, read_message, write_message, Format, Graph};
use tf_strip::proto::tensorflow::attr_value::Value as Attr;
use tf_strip::proto::tensorflow::{DataType, GraphDef, MetaGraphDef, NodeDef};
use tf_strip::runtime::Model;
use tf_strip::tensor::{Tensor, TensorData};

fn loop_fixtures() -> Vec<Fixture> {
    let fixtures: Vec<Fixture> = pruned_fixtures().into_iter().filter(|f| f.name.starts_with("lstm")).collect();
    assert_eq!(
        fixtures.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["lstm", "lstm_peephole"],
        "run scripts/make_fixtures.py testdata lstm lstm_peephole"
    );
    fixtures
}

/// `tf-strip ARGS --output_dir=OUT`: the stripped graph's bytes.
fn strip(args: &[String], out_dir: &Path) -> Vec<u8> {
    let out = tf_strip().args(args).arg(format!("--output_dir={}", out_dir.display())).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(out_dir.join("pruning_stripped.pb")).unwrap()
}

/// The graph stripped from the checkpoint's own `.meta`, after checking that
/// `--input_graph` with that `.meta`'s GraphDef as a `.pb` strips to the same bytes.
fn strip_both_ways(prefix: &Path, outputs: &[String], tmp: &Path) -> Vec<u8> {
    let dir = prefix.parent().unwrap();
    let outputs = format!("--output_node_names={}", outputs.join(","));
    let from_meta = strip(&[format!("--checkpoint_dir={}", dir.display()), outputs.clone()], &tmp.join("meta"));
    let meta: MetaGraphDef = read_message(&meta_path(prefix)).unwrap();
    let pb = tmp.join("train.pb");
    write_message(&pb, meta.graph_def.as_ref().unwrap(), Format::Binary).unwrap();
    let from_graph = strip(
        &[format!("--input_graph={}", pb.display()), format!("--input_checkpoint={}", prefix.display()), outputs],
        &tmp.join("graph"),
    );
    assert!(from_graph == from_meta, "{}: --input_graph strips differently", prefix.display());
    from_meta
}

/// The training graph as its own saver restores it from `prefix`.
fn training_model(prefix: &Path) -> Model {
    let meta: MetaGraphDef = read_message(&meta_path(prefix)).unwrap();
    let graph = meta.graph_def.as_ref().unwrap().encode_to_vec();
    Model::restored(&graph, meta.saver_def.as_ref().unwrap(), prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// Seeded uniform floats in [-2, 2): inputs no other machine recorded.
fn random_input(seed: u64, shape: &[u64]) -> Tensor {
    let mut state = seed;
    let values: Vec<u8> = (0..shape.iter().product::<u64>())
        .flat_map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0).to_le_bytes()
        })
        .collect();
    Tensor { dtype: DataType::DtFloat, shape: shape.to_vec(), data: TensorData::Pod(values.into()) }
}

fn floats(t: &Tensor) -> Vec<f32> {
    let TensorData::Pod(b) = &t.data else { panic!("not POD") };
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn frame_of(node: &NodeDef) -> String {
    match node.attr.get("frame_name").and_then(|a| a.value.as_ref()) {
        Some(Attr::S(s)) => String::from_utf8_lossy(s).into_owned(),
        other => panic!("{}: frame_name {other:?}", node.name),
    }
}

/// The frames of the `Enter`s from `input` back to where the chain starts,
/// outermost first, and that start.
fn enter_chain(graph: &Graph, input: &str) -> (Vec<String>, NodeDef) {
    let mut frames = Vec::new();
    let mut node = graph.node(node_name(input)).unwrap();
    while node.op == "Enter" || node.op == "Identity" {
        if node.op == "Enter" {
            let invariant = matches!(node.attr["is_constant"].value, Some(Attr::B(true)));
            assert!(invariant, "{} is not loop-invariant", node.name);
            frames.insert(0, frame_of(node));
        }
        node = graph.node(node_name(&node.input[0])).unwrap();
    }
    (frames, node.clone())
}

#[test]
fn masked_lstm_kernels_fold_into_loop_invariant_constants_with_the_training_graphs_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    for f in loop_fixtures() {
        let fixture = read_json(&f.dir.join("fixture.json"));
        let stripped = strip_both_ways(&f.prefix, &f.outputs, &tmp.path().join(&f.name));
        let ours = Graph::new(GraphDef::decode(stripped.as_slice()).unwrap()).unwrap();
        let meta: MetaGraphDef = read_message(&meta_path(&f.prefix)).unwrap();
        let training = Graph::new(meta.graph_def.unwrap()).unwrap();

        // Each masked weight enters the loops its Mul was in, frame by frame, from
        // one constant outside them; its consumers are the Mul's.
        let mut in_loops = 0;
        for mw in fixture["masked_weights"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()) {
            let mul = training.node(mw).unwrap();
            let (want, variable) = enter_chain(&training, &mul.input[0]);
            assert_eq!(variable.op, "VariableV2", "{}: {mw}", f.name);
            let (frames, constant) = enter_chain(&ours, mw);
            assert_eq!(frames, want, "{}: {mw}", f.name);
            assert_eq!(constant.op, "Const", "{}: {mw}", f.name);
            if !frames.is_empty() {
                assert_eq!(constant.name, format!("{mw}/folded"), "{}", f.name);
                in_loops += frames.len();
            }
            let readers = |g: &Graph| -> Vec<String> {
                let reads = |n: &&NodeDef| n.input.iter().any(|i| node_name(i) == mw);
                g.nodes().iter().filter(reads).map(|n| n.name.clone()).filter(|n| ours.contains(n)).collect()
            };
            assert_eq!(readers(&ours), readers(&training), "{}: readers of {mw}", f.name);
        }
        assert_eq!(in_loops, if f.name == "lstm" { 1 } else { 2 }, "{}: Enters of folded weights", f.name);
        for n in ours.nodes() {
            assert!(!n.name.ends_with("/mask") && !n.name.ends_with("/threshold"), "{}: {} left", f.name, n.name);
            assert!(!n.op.starts_with("Variable") && !n.op.starts_with("Assign"), "{}: {} left", f.name, n.name);
        }

        // Both graphs in this process: the recorded inputs and fresh ones.
        let model = tf_model(&stripped);
        let trained = training_model(&f.prefix);
        let (feeds, fetches, recorded) = f.io();
        let fresh = vec![(feeds[0].0.clone(), random_input(f.name.len() as u64, &[7, 6, 8]))];
        for feeds in [&feeds, &fresh] {
            let got = model.run(feeds, &fetches).unwrap();
            let want = trained.run(feeds, &fetches).unwrap();
            assert_same_as_training(&got, &want, &f.name);
        }
        // Recorded on the machine that made the fixture: close, not bit for bit.
        let got = model.run(&feeds, &fetches).unwrap();
        for (g, r) in got.iter().zip(&recorded) {
            let worst = floats(g).iter().zip(floats(r)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 1e-5, "{}: {worst} from the recorded outputs", f.name);
        }
    }
}

#[test]
fn inspect_pairs_masks_and_kernels_through_the_loops() {
    for f in loop_fixtures() {
        let out = tf_strip().arg("inspect").arg("--json").arg(&f.dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let cell = if f.name == "lstm" { "masked_basic_lstm_cell" } else { "masked_lstm_cell" };
        let layer = report["pruning"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["mask"] == format!("rnn/{cell}/mask"))
            .unwrap_or_else(|| panic!("{}: no layer for the cell: {}", f.name, report["pruning"]));
        assert_eq!(layer["weight"], format!("rnn/{cell}/kernel"), "{}", f.name);
        assert_eq!(layer["threshold"], format!("rnn/{cell}/threshold"), "{}", f.name);
        let fixture = read_json(&f.dir.join("fixture.json"));
        assert_eq!(layer["masked_weight"], fixture["masked_weights"][0], "{}", f.name);
        assert!(layer["mask_sparsity"].as_f64().unwrap() > 0.75, "{}: {layer}", f.name);
    }
}

fn run_inject_check(args: &[&str]) -> Value {
    let out = python().arg(root().join("scripts/inject_check.py")).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "inject_check.py {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// inject's RNN case (`scripts/inject_check.py`: a tanh RNN whose kernel the
/// while loop reads through `Enter`), injected, trained with its own loop,
/// saved by its own saver, stripped, and run beside its training graph.
#[test]
fn an_injected_rnn_strips_to_its_training_graphs_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    run_inject_check(&["build", models.to_str().unwrap()]);
    let injected = tmp.path().join("rnn.meta");
    let hparams = "pruning_frequency=5,target_sparsity=0.6,sparsity_function_end_step=40";
    let out = tf_strip()
        .arg("inject")
        .args([models.join("rnn.meta"), injected.clone()])
        .args([&format!("--pruning_hparams={hparams}"), "--train_op", "GradientDescent", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ckpt_dir = tmp.path().join("ckpt");
    let case = json!([{
        "name": "rnn", "meta": injected, "model": models.join("rnn.json"), "report": report,
        "hparams": hparams, "chained": true, "structure": "element", "steps": 60, "ckpt_dir": ckpt_dir,
    }]);
    let cases = tmp.path().join("cases.json");
    std::fs::write(&cases, case.to_string()).unwrap();
    let trained = run_inject_check(&["train", cases.to_str().unwrap()]);
    assert_eq!(trained[0]["problems"], json!([]), "training the injected graph");

    let prefix: PathBuf = tf_strip::locate::resolve_prefix(&ckpt_dir).unwrap().prefix;
    let outputs = ["output".to_string()];
    let stripped = strip_both_ways(&prefix, &outputs, &tmp.path().join("strip"));
    let ours = Graph::new(GraphDef::decode(stripped.as_slice()).unwrap()).unwrap();
    assert!(ours.nodes().iter().any(|n| n.name.contains("masked_weight") && n.op == "Const"), "nothing was folded");
    let model = tf_model(&stripped);
    let training = training_model(&prefix);
    let feeds = vec![("input:0".to_string(), random_input(5, &[9, 5, 6]))];
    let fetches = ["output:0".to_string()];
    assert_same_as_training(&model.run(&feeds, &fetches).unwrap(), &training.run(&feeds, &fetches).unwrap(), "rnn");
}
