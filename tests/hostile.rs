//! Graphs built to hurt: cycles TensorFlow rejects and a chain deeper than any
//! stack. Every command that reads a graph gives one clear line and exit 1
//! (or, for the chain, succeeds), never a panic, an abort or a hang.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tf_strip::graph::{write_message, Format};
use tf_strip::proto::tensorflow::attr_value::Value;
use tf_strip::proto::tensorflow::{AttrValue, DataType, GraphDef, NodeDef, TensorShapeProto};

fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
    let mut n = NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    n.attr.insert("T".into(), AttrValue { value: Some(Value::Type(DataType::DtFloat as i32)) });
    n
}

/// A ref variable as TF1 writes it, with the shape `inject` and `strip` read.
fn variable(name: &str, dtype: DataType, dims: &[i64]) -> NodeDef {
    let mut n = node(name, "VariableV2", &[]);
    n.attr.insert("dtype".into(), AttrValue { value: Some(Value::Type(dtype as i32)) });
    let dim = dims.iter().map(|&size| tf_strip::proto::tensorflow::tensor_shape_proto::Dim { size, ..Default::default() });
    let shape = TensorShapeProto { dim: dim.collect(), ..Default::default() };
    n.attr.insert("shape".into(), AttrValue { value: Some(Value::Shape(shape)) });
    n
}

fn placeholder() -> NodeDef {
    let mut x = node("input", "Placeholder", &[]);
    x.attr.insert("dtype".into(), AttrValue { value: Some(Value::Type(DataType::DtFloat as i32)) });
    x
}

/// `fc1/weights/read` names itself: `inspect` used to loop forever on it
/// and `strip` to overflow its stack.
fn self_reference() -> Vec<NodeDef> {
    vec![
        placeholder(),
        variable("fc1/mask", DataType::DtFloat, &[64, 128]),
        node("fc1/weights/read", "Identity", &["fc1/weights/read"]),
        node("fc1/masked_weight", "Mul", &["fc1/mask", "fc1/weights/read"]),
        node("output", "MatMul", &["input", "fc1/masked_weight"]),
    ]
}

/// Two nodes feeding each other through a `Mul`.
fn two_node_cycle() -> Vec<NodeDef> {
    vec![
        placeholder(),
        variable("fc1/mask", DataType::DtFloat, &[64, 128]),
        node("fc1/masked_weight", "Mul", &["fc1/mask", "fc1/weights/read"]),
        node("fc1/weights/read", "Identity", &["fc1/masked_weight"]),
        node("output", "MatMul", &["input", "fc1/masked_weight"]),
    ]
}

/// A loop through `Enter` and `Merge` that no `NextIteration` closes: no while loop.
fn enter_cycle() -> Vec<NodeDef> {
    vec![
        placeholder(),
        variable("fc1/weights", DataType::DtFloat, &[64, 128]),
        node("loop/Enter", "Enter", &["loop/Merge"]),
        node("loop/Merge", "Merge", &["fc1/weights", "loop/Enter"]),
        node("output", "MatMul", &["input", "loop/Merge"]),
    ]
}

/// 200,000 `Identity` nodes between the input and a pruned-looking layer.
fn long_chain() -> Vec<NodeDef> {
    const DEPTH: usize = 200_000;
    let mut nodes = vec![placeholder()];
    nodes.extend((0..DEPTH).map(|i| {
        let prev = if i == 0 { "input".to_string() } else { format!("chain/{}", i - 1) };
        node(&format!("chain/{i}"), "Identity", &[&prev])
    }));
    nodes.push(variable("fc1/weights", DataType::DtFloat, &[64, 128]));
    nodes.push(node("fc1/weights/read", "Identity", &["fc1/weights"]));
    nodes.push(node("output", "MatMul", &[&format!("chain/{}", DEPTH - 1), "fc1/weights/read"]));
    nodes.push(variable("global_step", DataType::DtInt64, &[]));
    nodes
}

fn write_graph(dir: &Path, name: &str, nodes: Vec<NodeDef>) -> PathBuf {
    let path = dir.join(name);
    write_message(&path, &GraphDef { node: nodes, ..Default::default() }, Format::from_path(&path)).unwrap();
    path
}

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// Runs tf-strip with a deadline: a hang fails the test instead of stalling it.
fn run(args: &[String]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tf-strip"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("tf-strip {args:?} still running after 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Outcome { code: out.status.code(), stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() }
}

/// The commands that read a graph, on `graph`, writing into `out`.
fn commands(graph: &Path, out: &Path) -> Vec<(&'static str, Vec<String>)> {
    let mlp90 = root().join("testdata/mlp90");
    let p = |p: &Path| p.display().to_string();
    vec![
        ("inspect", vec!["inspect".into(), p(graph)]),
        (
            "strip",
            vec![
                format!("--checkpoint_dir={}", mlp90.display()),
                format!("--input_graph={}", graph.display()),
                "--output_node_names=output".into(),
                format!("--output_dir={}", out.display()),
            ],
        ),
        ("inject", vec!["inject".into(), p(graph), p(&out.join("injected.pb"))]),
        ("encode --tf-loadable", vec!["encode".into(), "--tf-loadable".into(), p(graph), p(&out.join("loadable.pb"))]),
        ("compact", vec!["compact".into(), p(graph), p(&out.join("compacted.pb"))]),
        (
            "compact --tensor_lists",
            vec!["compact".into(), "--tensor_lists".into(), p(graph), p(&out.join("lists.pb"))],
        ),
    ]
}

#[test]
fn cycles_get_one_clear_line_from_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("self.pbtxt", self_reference(), "fc1/weights/read"),
        ("mul.pbtxt", two_node_cycle(), "fc1/masked_weight"),
        ("enter.pb", enter_cycle(), "loop/"),
    ];
    for (file, nodes, on_cycle) in cases {
        let graph = write_graph(tmp.path(), file, nodes);
        let out = tmp.path().join(format!("out-{file}"));
        std::fs::create_dir_all(&out).unwrap();
        for (command, args) in commands(&graph, &out) {
            let o = run(&args);
            let what = format!("{command} on {file}: {}", o.stderr);
            assert_eq!(o.code, Some(1), "{what}");
            assert_eq!(o.stderr.lines().count(), 1, "{what}");
            assert!(o.stderr.starts_with("tf-strip: error: ") && !o.stderr.contains("panicked"), "{what}");
            assert!(o.stderr.contains(file) && o.stderr.contains("cycle through") && o.stderr.contains(on_cycle), "{what}");
        }
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "a failed run on {file} left files behind");
    }
}

#[test]
fn a_chain_of_200000_nodes_works_without_overflowing_the_stack() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = write_graph(tmp.path(), "chain.pb", long_chain());
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // compact takes frozen graphs only: it runs on the stripped chain.
    let is_compact = |command: &str| command.starts_with("compact");
    for (command, args) in commands(&graph, &out).into_iter().filter(|(c, _)| !is_compact(c)) {
        let o = run(&args);
        assert_eq!(o.code, Some(0), "{command} on the chain: {}", o.stderr);
    }
    let stripped_path = out.join("pruning_stripped.pb");
    let stripped = tf_strip::graph::read_message::<GraphDef>(&stripped_path).unwrap();
    assert_eq!(stripped.node.len(), 200_004, "the input, the chain, the frozen weight, its read and the output");
    for (command, args) in commands(&stripped_path, &out).into_iter().filter(|(c, _)| is_compact(c)) {
        let o = run(&args);
        assert_eq!(o.code, Some(0), "{command} on the stripped chain: {}", o.stderr);
    }
}
