//! `tf-strip --checkpoint_dir ...` against TensorFlow's own strip path on
//! every pruned fixture: same nodes, ops, inputs, attributes and constant
//! values, and bit-identical outputs in the real TensorFlow runtime.

mod common;

use std::path::Path;

use common::*;
use prost::Message;
use tf_strip::graph::Graph;
use tf_strip::proto::tensorflow::attr_value::Value as Attr;
use tf_strip::proto::tensorflow::{GraphDef, NodeDef};
use tf_strip::tensor::{self, Tensor};

fn run_strip(f: &Fixture, out_dir: &Path) -> GraphDef {
    let out = tf_strip()
        .arg(format!("--checkpoint_dir={}", f.dir.display()))
        .arg(format!("--output_node_names={}", f.outputs.join(",")))
        .arg(format!("--output_dir={}", out_dir.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}: {}", f.name, String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(out_dir.join("pruning_stripped.pb")).unwrap();
    GraphDef::decode(bytes.as_slice()).unwrap()
}

fn const_value(node: &NodeDef) -> Option<Tensor> {
    match node.attr.get("value")?.value.as_ref()? {
        Attr::Tensor(t) => Some(tensor::from_proto(t).unwrap()),
        _ => None,
    }
}

/// Same nodes, ops, inputs and attributes; constants compared by value, bit
/// for bit (so -0.0 stays -0.0). Order is free: TensorFlow's re-import
/// reorders loops, and we keep the original order.
fn assert_same_graph(name: &str, ours: &GraphDef, theirs: &GraphDef) {
    let sorted = |g: &GraphDef| {
        let mut nodes: Vec<NodeDef> = g.node.clone();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes
    };
    let (ours, theirs) = (sorted(ours), sorted(theirs));
    let names = |nodes: &[NodeDef]| nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs), "{name}: node sets differ");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!((&a.op, &a.input, &a.device), (&b.op, &b.input, &b.device), "{name}: node {}", a.name);
        let keys = |n: &NodeDef| n.attr.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(a), keys(b), "{name}: attributes of {}", a.name);
        for (key, value) in &a.attr {
            if key == "value" {
                assert_eq!(const_value(a), const_value(b), "{name}: value of {}", a.name);
            } else {
                assert_eq!(Some(value), b.attr.get(key), "{name}: {key} of {}", a.name);
            }
        }
    }
}

#[test]
fn stripped_graphs_match_tensorflows_own_strip() {
    let tmp = tempfile::tempdir().unwrap();
    for f in pruned_fixtures() {
        let ours = run_strip(&f, &tmp.path().join(&f.name));
        if f.tf_stripped("stripped_graphs_match_tensorflows_own_strip") {
            let theirs = GraphDef::decode(std::fs::read(f.expected("stripped.pb")).unwrap().as_slice()).unwrap();
            assert_same_graph(&f.name, &ours, &theirs);
        }
        // Nothing of the pruning machinery is left.
        let g = Graph::new(ours).unwrap();
        for n in g.nodes() {
            assert!(!n.name.ends_with("/mask") && !n.name.ends_with("/threshold"), "{}: {} left", f.name, n.name);
            assert!(n.op != "VariableV2" && n.op != "VarHandleOp" && n.op != "Assign", "{}: {} left", f.name, n.name);
        }
    }
}

#[test]
fn stripped_graphs_run_in_tensorflow_with_bit_identical_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    // A fixture TensorFlow cannot strip has no outputs of TensorFlow's strip to
    // match: tests/loops.rs runs its training graph beside ours instead.
    for f in pruned_fixtures().into_iter().filter(|f| f.tf_stripped("stripped_graphs_run_in_tensorflow")) {
        let out_dir = tmp.path().join(&f.name);
        run_strip(&f, &out_dir);
        let model = tf_model(&std::fs::read(out_dir.join("pruning_stripped.pb")).unwrap());
        Reference::of(&f).assert_same_outputs(&model, "tf-strip's output");
    }
}

fn strip_with(args: &[String]) -> GraphDef {
    let out = tf_strip().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let path = args.iter().find_map(|a| a.strip_prefix("--output_dir=")).unwrap();
    let name = args.iter().find_map(|a| a.strip_prefix("--filename=")).unwrap_or("pruning_stripped.pb");
    tf_strip::graph::read_message(&Path::new(path).join(name)).unwrap()
}

#[test]
fn graphs_from_elsewhere_text_output_and_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "sharded").unwrap();
    let theirs = GraphDef::decode(std::fs::read(f.expected("stripped.pb")).unwrap().as_slice()).unwrap();
    let out = |sub: &str| format!("--output_dir={}", tmp.path().join(sub).display());
    let outputs = format!("--output_node_names={}", f.outputs.join(","));
    let meta = tf_strip::checkpoint::meta_path(&f.prefix);

    // A meta graph and a checkpoint named explicitly, as flags with separate values too.
    let g = strip_with(&[
        "--input_meta_graph".into(), meta.display().to_string(),
        "--input_checkpoint".into(), f.prefix.display().to_string(),
        outputs.clone(), out("meta"),
    ]);
    assert_same_graph(&f.name, &g, &theirs);

    // A GraphDef in text format, with the checkpoint directory.
    let (_, model) = tf_strip::graph::ModelFile::load(&meta).unwrap();
    let pbtxt = tmp.path().join("train.pbtxt");
    tf_strip::graph::write_message(&pbtxt, model.graph_def().unwrap(), tf_strip::graph::Format::Text).unwrap();
    let g = strip_with(&[
        format!("--input_graph={}", pbtxt.display()),
        format!("--checkpoint_dir={}", f.dir.display()),
        outputs.clone(), out("graph"),
    ]);
    assert_same_graph(&f.name, &g, &theirs);

    // Text output holds the same graph.
    let g = strip_with(&[
        format!("--checkpoint_dir={}", f.dir.display()),
        outputs.clone(), out("text"), "--as_text".into(), "--filename=stripped.pbtxt".into(),
    ]);
    assert_same_graph(&f.name, &g, &theirs);

    // Devices go, as in TensorFlow's tool, unless kept.
    let g = strip_with(&[format!("--checkpoint_dir={}", f.dir.display()), outputs, out("devices"), "--keep_devices".into()]);
    assert!(g.node.iter().any(|n| n.device.to_lowercase().contains("cpu:1")), "devices were dropped");
    assert!(theirs.node.iter().all(|n| n.device.is_empty()));
}

#[test]
fn the_strip_subcommand_is_the_default_command() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let run = |sub: &[&str], dir: &str| {
        let out_dir = tmp.path().join(dir);
        let out = tf_strip()
            .args(sub)
            .arg(format!("--checkpoint_dir={}", f.dir.display()))
            .arg(format!("--output_node_names={}", f.outputs.join(",")))
            .arg(format!("--output_dir={}", out_dir.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read(out_dir.join("pruning_stripped.pb")).unwrap()
    };
    assert_eq!(run(&["strip"], "sub"), run(&[], "default"));
}
