//! Files of the wrong kind, told by their contents: every command that reads
//! a model names the file and what it is in one line and exits 1; a
//! container is read wherever a GraphDef is; a graph that still holds
//! variables is not compacted into one TensorFlow cannot run.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A foreign file and the words its one error line must hold.
struct Case {
    path: PathBuf,
    kind: &'static str,
}

/// The corpus, written into `dir`: what a user may hand tf-strip by mistake.
fn corpus(dir: &Path) -> Vec<Case> {
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // A zip whose first entry is the one Keras 3's `model.save("m.keras")` writes.
    let mut keras = b"PK\x03\x04".to_vec();
    keras.extend([0u8; 22]);
    keras.extend(13u16.to_le_bytes());
    keras.extend([0u8; 2]);
    keras.extend(b"metadata.json{}");
    // HDF5's superblock signature, then zeros: the start of a Keras `.h5`.
    let mut hdf5 = b"\x89HDF\r\n\x1a\n".to_vec();
    hdf5.extend([0u8; 96]);
    // A flatbuffer root offset, then TFLite's file identifier.
    let mut tflite = vec![0x1c, 0, 0, 0];
    tflite.extend(b"TFL3");
    tflite.extend([0u8; 56]);
    // xorshift bytes: no magic, and not a protobuf either.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let directory = dir.join("a_directory");
    std::fs::create_dir(&directory).unwrap();
    std::fs::write(directory.join("notes.txt"), b"not a model").unwrap();
    vec![
        Case { path: file("model.keras", &keras), kind: "a zip archive (a Keras v3 .keras model)" },
        Case { path: file("model.h5", &hdf5), kind: "an HDF5 file" },
        Case { path: file("model.tflite", &tflite), kind: "a TFLite flatbuffer" },
        Case { path: directory, kind: "directory" },
        Case { path: dir.join("missing.pb"), kind: "no such file or directory" },
        Case { path: file("empty.pb", b""), kind: "an empty file" },
        Case { path: file("random.bin", &random), kind: "unrecognised contents" },
    ]
}

fn mlp90() -> PathBuf {
    root().join("testdata/mlp90")
}

fn stripped_pb() -> PathBuf {
    mlp90().join("expected/stripped.pb")
}

/// Every command that reads a model, on `input`, writing into `out`.
fn commands(input: &Path, out: &Path) -> Vec<(&'static str, Vec<String>)> {
    let p = |p: &Path| p.display().to_string();
    let (input, stripped) = (p(input), p(&stripped_pb()));
    vec![
        ("inspect", vec!["inspect".into(), input.clone()]),
        (
            "strip --checkpoint_dir",
            vec![format!("--checkpoint_dir={input}"), "--output_node_names=output".into(), format!("--output_dir={}", p(out))],
        ),
        (
            "strip --input_graph",
            vec![
                format!("--checkpoint_dir={}", p(&mlp90())),
                format!("--input_graph={input}"),
                "--output_node_names=output".into(),
                format!("--output_dir={}", p(out)),
            ],
        ),
        ("compact", vec!["compact".into(), input.clone(), p(&out.join("compacted.pb"))]),
        ("encode", vec!["encode".into(), input.clone(), p(&out.join("encoded.tfsparse"))]),
        ("encode --tf-loadable", vec!["encode".into(), "--tf-loadable".into(), input.clone(), p(&out.join("loadable.pb"))]),
        ("decode", vec!["decode".into(), input.clone(), p(&out.join("decoded.pb"))]),
        ("inject", vec!["inject".into(), input.clone(), p(&out.join("injected.pb")), "--train_op=train".into()]),
        ("verify", vec!["verify".into(), input.clone(), stripped]),
        ("bench", vec!["bench".into(), input, "--runs=1".into(), "--warmup=0".into(), "--loads=1".into()]),
    ]
}

fn run(args: &[String]) -> (Option<i32>, String) {
    let out = tf_strip().args(args).output().expect("run tf-strip");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).trim().to_string())
}

/// sha256 of every file under `path` (none for a missing one).
fn digests(path: &Path) -> Vec<String> {
    match path.is_dir() {
        true => std::fs::read_dir(path).unwrap().flat_map(|e| digests(&e.unwrap().path())).collect(),
        false => std::fs::read(path).map(|b| sha256_hex(&b)).into_iter().collect(),
    }
}

#[test]
fn every_command_names_a_foreign_file_and_its_kind_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for case in corpus(tmp.path()) {
        let before = digests(&case.path);
        let name = case.path.file_name().unwrap().to_string_lossy().into_owned();
        for (command, args) in commands(&case.path, &out) {
            // verify and bench run a .tflite (through LiteRT): not foreign to
            // them; tests/litert.rs gives them a damaged one.
            if case.kind == "a TFLite flatbuffer" && matches!(command, "verify" | "bench") {
                continue;
            }
            let (code, stderr) = run(&args);
            let what = format!("{command} on {name}: {stderr}");
            assert_eq!(code, Some(1), "{what}");
            assert_eq!(stderr.lines().count(), 1, "{what}");
            assert!(stderr.starts_with("tf-strip: error: ") && stderr.contains(&name), "{what}");
            // `--checkpoint_dir` cannot know what a file of no known kind is
            // meant to be; it says it is no checkpoint.
            let kind = match (command, case.kind) {
                ("strip --checkpoint_dir", "unrecognised contents") => "a file; neither a checkpoint directory",
                (_, kind) => kind,
            };
            assert!(stderr.contains(kind), "{what}: does not say `{kind}`");
            assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{what}: left something in the output directory");
        }
        assert_eq!(digests(&case.path), before, "{name} changed");
    }
}

/// `tf-strip encode` of the fixture's stripped graph, the container every
/// other command then reads.
fn container(dir: &Path) -> PathBuf {
    let path = dir.join("stripped.tfsparse");
    let out = tf_strip().arg("encode").arg(stripped_pb()).arg(&path).output().unwrap();
    assert_succeeded(&out, "encode");
    path
}

#[test]
fn encode_and_checkpoint_dir_refuse_a_container_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let container = container(tmp.path());
    for (command, args) in commands(&container, &out).into_iter().filter(|(c, _)| ["encode", "strip --checkpoint_dir"].contains(c)) {
        let (code, stderr) = run(&args);
        let what = format!("{command}: {stderr}");
        assert_eq!((code, stderr.lines().count()), (Some(1), 1), "{what}");
        assert!(stderr.contains("stripped.tfsparse: a tf-strip sparse container"), "{what}");
    }
}

#[test]
fn a_container_reads_as_the_graph_it_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let container = container(tmp.path());
    let p = |p: &Path| p.display().to_string();
    // Each command on the container writes what it writes on the .pb.
    let cases: [(&str, Vec<String>, &str); 3] = [
        ("compact", vec!["compact".into()], "compacted.pb"),
        ("encode --tf-loadable", vec!["encode".into(), "--tf-loadable".into()], "loadable.pb"),
        (
            "strip --input_graph",
            vec![format!("--checkpoint_dir={}", p(&mlp90())), "--output_node_names=output".into()],
            "pruning_stripped.pb",
        ),
    ];
    for (command, args, file) in cases {
        let outputs: Vec<Vec<u8>> = [stripped_pb(), container.clone()]
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let dir = tmp.path().join(format!("{command}-{i}"));
                std::fs::create_dir(&dir).unwrap();
                let io = match command {
                    "strip --input_graph" => vec![format!("--input_graph={}", p(input)), format!("--output_dir={}", p(&dir))],
                    _ => vec![p(input), p(&dir.join(file))],
                };
                let out = tf_strip().args(&args).args(io).output().unwrap();
                assert_succeeded(&out, &format!("{command} on {}", input.display()));
                std::fs::read(dir.join(file)).unwrap()
            })
            .collect();
        assert!(outputs[0] == outputs[1], "{command}: the container gives other bytes than the .pb");
    }
    let out = tf_strip().arg("verify").arg(&container).arg(stripped_pb()).output().unwrap();
    assert_succeeded(&out, "verify CONTAINER PB");
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASS: 1 of 1 outputs passed"), "{}", String::from_utf8_lossy(&out.stdout));
}

/// `compact INPUT` fails with one line naming `variable` and saying `how`,
/// writes nothing and leaves the input as it was.
fn assert_compact_refuses(input: &Path, variable: &str, how: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = digests(input);
    let output = tmp.path().join("compacted.pb");
    let (code, stderr) = run(&["compact".into(), input.display().to_string(), output.display().to_string()]);
    let what = format!("compact {}: {stderr}", input.display());
    assert_eq!((code, stderr.lines().count()), (Some(1), 1), "{what}");
    assert!(stderr.contains("not a frozen graph") && stderr.contains(&format!("`{variable}`")) && stderr.contains(how), "{what}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "{what}: wrote something");
    assert_eq!(digests(input), before, "{what}: the input changed");
}

#[test]
fn compact_refuses_a_tf2_saved_model_whose_variables_a_call_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("saved");
    let script = r#"
import sys, tensorflow as tf
class Dense(tf.Module):
    def __init__(self):
        self.kernel = tf.Variable(tf.ones([4, 2]), name="dense_kernel")
    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x):
        return tf.matmul(x, self.kernel)
tf.saved_model.save(Dense(), sys.argv[1])
"#;
    let out = python().arg("-c").arg(script).arg(&saved).output().unwrap();
    assert_succeeded(&out, "tf.saved_model.save");
    // The variable is read only inside the serving function, through the call.
    let graph = tf_strip::graph::read_message::<tf_strip::proto::tensorflow::SavedModel>(&saved.join("saved_model.pb")).unwrap();
    let nodes = &graph.meta_graphs[0].graph_def.as_ref().unwrap().node;
    let handle = nodes.iter().find(|n| n.op == "VarHandleOp").expect("a VarHandleOp in the main graph");
    assert!(nodes.iter().any(|n| n.op == "StatefulPartitionedCall" && n.input.contains(&handle.name)));
    assert_compact_refuses(&saved, &handle.name, "convert_variables_to_constants_v2");
}

#[test]
fn compact_refuses_a_tf1_meta_graph_holding_variables() {
    assert_compact_refuses(&mlp90().join("model.ckpt-45.meta"), "fc1/weights", "tf-strip --checkpoint_dir=");
}
