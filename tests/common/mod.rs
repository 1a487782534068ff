//! Shared by the integration tests: the fixtures TensorFlow wrote into
//! `testdata/`, TensorFlow as an oracle (scripts/tf_oracle.py in the pinned
//! venv), and the canonical bytes both sides hash.
#![allow(dead_code)]

pub mod cli;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tf_strip::proto::tensorflow::attr_value::Value as AttrValueKind;
use tf_strip::proto::tensorflow::{AttrValue, DataType, NodeDef, TensorProto, TensorShapeProto};
use tf_strip::tensor::{Tensor, TensorData};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Fixture {
    pub name: String,
    pub dir: PathBuf,
    pub prefix: PathBuf,
    pub outputs: Vec<String>,
    pub pruned: bool,
    /// Why TensorFlow's own strip cannot strip this pruned fixture
    /// (`"tf_strip": false` in fixture.json): then there is no
    /// `expected/stripped.pb`, and the recorded outputs are the training graph's.
    pub tf_strip_failure: Option<String>,
}

impl Fixture {
    pub fn expected(&self, file: &str) -> PathBuf {
        self.dir.join("expected").join(file)
    }

    pub fn tensors_json(&self) -> Value {
        read_json(&self.expected("tensors.json"))
    }

    /// Whether `expected/stripped.pb` (TensorFlow's own strip, and the outputs
    /// recorded from it) exists; when not, says on stderr why `test` skips it.
    pub fn tf_stripped(&self, test: &str) -> bool {
        if let Some(why) = &self.tf_strip_failure {
            eprintln!("{test}: no comparison with TensorFlow's strip for {}: {why}", self.name);
        }
        self.tf_strip_failure.is_none()
    }

    /// The recorded inputs (`expected/io.json`) as feeds, the fetches, and the
    /// outputs recorded for them.
    pub fn io(&self) -> (Vec<(String, Tensor)>, Vec<String>, Vec<Tensor>) {
        let io = read_json(&self.expected("io.json"));
        let read = |spec: &Value| {
            let dtype = tf_strip::proto::tensorflow::DataType::from_name(spec["dtype"].as_str().unwrap()).unwrap();
            let shape = spec["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
            let bytes = std::fs::read(self.expected(spec["file"].as_str().unwrap())).unwrap();
            Tensor { dtype, shape, data: TensorData::Pod(bytes.into()) }
        };
        let entries = |key: &str| -> Vec<(String, Tensor)> {
            io[key].as_object().unwrap().iter().map(|(name, spec)| (name.clone(), read(spec))).collect()
        };
        let (fetches, expected) = entries("outputs").into_iter().unzip();
        (entries("inputs"), fetches, expected)
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture directory in `testdata/`, in name order.
pub fn fixtures() -> Vec<Fixture> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("testdata"))
        .expect("testdata/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("fixture.json").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 6,
        "testdata/ lacks fixtures: run scripts/make_fixtures.py"
    );
    dirs.into_iter()
        .map(|dir| {
            let f = read_json(&dir.join("fixture.json"));
            Fixture {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                prefix: dir.join(f["prefix"].as_str().expect("prefix")),
                outputs: f["output_nodes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                    .unwrap_or_default(),
                pruned: f["pruned"].as_bool().unwrap_or(false),
                tf_strip_failure: (f["tf_strip"] == false)
                    .then(|| f["tf_strip_failure"].as_str().unwrap_or("fixture.json says so").to_string()),
                dir,
            }
        })
        .collect()
}

/// A copy of fixture `name`'s files in `to/name`, to damage or write beside.
pub fn copy_fixture(name: &str, to: &Path) -> Fixture {
    let f = fixtures().into_iter().find(|f| f.name == name).unwrap();
    let dir = to.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&f.dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    Fixture { prefix: dir.join(f.prefix.file_name().unwrap()), dir, ..f }
}

pub fn pruned_fixtures() -> Vec<Fixture> {
    fixtures().into_iter().filter(|f| f.pruned).collect()
}

/// The pinned TensorFlow's Python. Missing TensorFlow fails the test: it is
/// never a reason to skip. It inherits `TF_ENABLE_ONEDNN_OPTS`, so scripts
/// run TensorFlow with the settings the suite runs with.
pub fn python() -> Command {
    let mut cmd = Command::new(python_path());
    cmd.env("TF_CPP_MIN_LOG_LEVEL", "3");
    cmd
}

/// The pinned Python's path (`TF_STRIP_PYTHON`, else `.venv/bin/python`),
/// checked to exist; its environment holds TensorFlow and ai-edge-litert.
pub fn python_path() -> PathBuf {
    let python = std::env::var_os("TF_STRIP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run the tests with scripts/test, which installs the pinned TensorFlow",
        python.display()
    );
    python
}

/// Fixture `name` stripped into `dir`, then converted by TensorFlow's TFLite
/// converter plainly, with EXPERIMENTAL_SPARSITY, to int8 and to float16
/// weights (`scripts/tflite_accelerate_check.py convert`): `.1(variant)` is
/// the path of each.
pub fn converted(name: &str, dir: &Path) -> (Fixture, impl Fn(&str) -> PathBuf) {
    let f = fixtures().into_iter().find(|f| f.name == name).unwrap();
    assert_succeeded(&strip_fixture(&f, dir, &[]), &format!("strip {name}"));
    let pb = dir.join("pruning_stripped.pb");
    let r = python_script("tflite_accelerate_check.py", &[Path::new("convert"), &f.dir, &pb, dir]);
    (f, move |key: &str| PathBuf::from(r[key].as_str().unwrap_or_else(|| panic!("no {key} in {r}"))))
}

/// Runs `scripts/tf_oracle.py ARGS` and returns its JSON answer.
pub fn oracle(args: &[&str]) -> Value {
    let out = python()
        .arg(root().join("scripts/tf_oracle.py"))
        .args(args)
        .output()
        .expect("run the TensorFlow oracle");
    assert!(
        out.status.success(),
        "tf_oracle.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("oracle prints JSON")
}

/// The bytes `tensors.json` hashes (testdata/README.md): raw little-endian
/// elements, or for strings each length as u64 LE followed by the bytes.
pub fn canonical_bytes(t: &Tensor) -> Vec<u8> {
    match &t.data {
        TensorData::Pod(b) => b.to_vec(),
        TensorData::Strings(s) => s
            .iter()
            .flat_map(|b| (b.len() as u64).to_le_bytes().into_iter().chain(b.iter().copied()))
            .collect(),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn tf_strip() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tf-strip"))
}

/// Our description of a tensor in the form of `tensors.json`.
pub fn describe(t: &Tensor) -> Value {
    serde_json::json!({
        "dtype": t.dtype.name(),
        "shape": t.shape,
        "sha256": sha256_hex(&canonical_bytes(t)),
    })
}

/// A GraphDef loaded in the real TensorFlow runtime, with the process's own
/// settings (`TF_ENABLE_ONEDNN_OPTS` as the caller set it): every graph a test
/// compares runs in this process under the same ones.
pub fn tf_model(graph_def: &[u8]) -> tf_strip::runtime::Model {
    tf_strip::runtime::Model::from_graph_def(graph_def).unwrap_or_else(|e| panic!("{e}"))
}

/// A raw little-endian tensor the fixture generator wrote under `expected/`.
pub fn read_io_tensor(f: &Fixture, spec: &Value) -> Tensor {
    let dtype = tf_strip::proto::tensorflow::DataType::from_name(spec["dtype"].as_str().unwrap()).unwrap();
    let shape = spec["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
    let bytes = std::fs::read(f.expected(spec["file"].as_str().unwrap())).unwrap();
    Tensor { dtype, shape, data: TensorData::Pod(bytes.into()) }
}

/// TensorFlow's own outputs for a pruned fixture, computed in this process.
///
/// Float kernels differ in the last bits between CPUs (and with oneDNN on or
/// off), so the outputs recorded in `expected/outputs/` on the machine that
/// made the fixtures cannot be an exact oracle here. The exact oracle is
/// TensorFlow's own strip output (`expected/stripped.pb`) run in this process
/// on the recorded inputs; the recorded outputs only sanity-check it, with a
/// tolerance.
pub struct Reference {
    pub fixture: String,
    pub feeds: Vec<(String, Tensor)>,
    pub fetches: Vec<String>,
    pub outputs: Vec<Tensor>,
}

impl Reference {
    pub fn of(f: &Fixture) -> Self {
        Self::with_fed(f, Vec::new())
    }

    /// The same, with the strip output's tensors named in `fed` fed these
    /// values: TensorFlow then treats them as computed, not constant.
    pub fn with_fed(f: &Fixture, fed: Vec<(String, Tensor)>) -> Self {
        let io = read_json(&f.expected("io.json"));
        let feeds: Vec<(String, Tensor)> =
            io["inputs"].as_object().unwrap().iter().map(|(n, s)| (n.clone(), read_io_tensor(f, s))).collect();
        let (fetches, recorded): (Vec<String>, Vec<Tensor>) =
            io["outputs"].as_object().unwrap().iter().map(|(n, s)| (n.clone(), read_io_tensor(f, s))).unzip();
        let model = tf_model(&std::fs::read(f.expected("stripped.pb")).unwrap());
        let all: Vec<(String, Tensor)> = feeds.iter().cloned().chain(fed).collect();
        let outputs = model.run(&all, &fetches).unwrap_or_else(|e| panic!("{}: TensorFlow's strip: {e}", f.name));
        for ((name, got), want) in fetches.iter().zip(&outputs).zip(&recorded) {
            assert_close(got, want, &format!("{}: {name} of TensorFlow's strip vs the recorded output", f.name));
        }
        Reference { fixture: f.name.clone(), feeds, fetches, outputs }
    }

    /// Runs `model` on the reference's inputs: its outputs must be TensorFlow's
    /// bit for bit (same process, same settings, so any difference is ours).
    pub fn assert_same_outputs(&self, model: &tf_strip::runtime::Model, what: &str) {
        let got = model
            .run(&self.feeds, &self.fetches)
            .unwrap_or_else(|e| panic!("{}: {what}: {e}", self.fixture));
        for ((name, got), want) in self.fetches.iter().zip(&got).zip(&self.outputs) {
            assert!(
                got == want,
                "{}: {what}: {name} is not bit-identical to TensorFlow's strip run in this process \
                 (max abs diff {:e})",
                self.fixture,
                max_abs_diff(got, want)
            );
        }
    }
}

fn floats(t: &Tensor) -> Option<Vec<f64>> {
    let TensorData::Pod(b) = &t.data else { return None };
    use tf_strip::proto::tensorflow::DataType;
    match t.dtype {
        DataType::DtFloat => Some(b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect()),
        DataType::DtDouble => Some(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()),
        _ => None,
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    match (floats(a), floats(b)) {
        (Some(x), Some(y)) if x.len() == y.len() => x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max),
        _ => f64::NAN,
    }
}

/// Float tensors within 1e-5 relative of each other; the absolute floor is for
/// values near 0, where a last-bit difference upstream is large relative to
/// the value. Other dtypes compare exactly.
pub fn assert_close(got: &Tensor, want: &Tensor, what: &str) {
    const REL: f64 = 1e-5;
    const ABS: f64 = 1e-6;
    assert_eq!((got.dtype, &got.shape), (want.dtype, &want.shape), "{what}: dtype or shape");
    let (Some(x), Some(y)) = (floats(got), floats(want)) else {
        assert_eq!(got, want, "{what}");
        return;
    };
    for (i, (a, b)) in x.iter().zip(&y).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= ABS + REL * a.abs().max(b.abs());
        assert!(ok, "{what}: element {i} is {a:e}, recorded {b:e}");
    }
}

/// Our stripped graph's outputs against the training graph's, run in this
/// process: bit for bit with TensorFlow's Eigen kernels. oneDNN picks its
/// matmul kernel by whether the weight is a `Const` (ours) or computed (the
/// training graph's `mask * weight`), so there the last bits may differ and
/// the outputs are compared within 1e-5.
pub fn assert_same_as_training(got: &[Tensor], want: &[Tensor], what: &str) {
    if std::env::var("TF_ENABLE_ONEDNN_OPTS").as_deref() == Ok("1") {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert_close(g, w, what);
        }
    } else {
        assert_eq!(got, want, "{what}: outputs differ from the training graph's");
    }
}

/// Fails the test, showing both streams, unless the command succeeded.
pub fn assert_succeeded(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tf-strip --checkpoint_dir=FIXTURE --output_node_names=... --output_dir=OUT EXTRA...`.
pub fn strip_fixture(f: &Fixture, out_dir: &Path, extra: &[&str]) -> std::process::Output {
    tf_strip()
        .arg(format!("--checkpoint_dir={}", f.dir.display()))
        .arg(format!("--output_node_names={}", f.outputs.join(",")))
        .arg(format!("--output_dir={}", out_dir.display()))
        .args(extra)
        .output()
        .expect("run tf-strip")
}

/// A program installed beside the pinned Python (`saved_model_cli`, `tflite_convert`).
pub fn venv_program(name: &str) -> Command {
    let python = std::env::var_os("TF_STRIP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let program = python.parent().expect("the Python is in a bin directory").join(name);
    assert!(program.exists(), "{} not found: it comes with the pinned TensorFlow", program.display());
    let mut cmd = Command::new(program);
    cmd.env("TF_CPP_MIN_LOG_LEVEL", "3");
    cmd
}

/// Runs `scripts/NAME ARGS` with the pinned Python and returns its JSON answer.
pub fn python_script(name: &str, args: &[&Path]) -> Value {
    let out = python().arg(root().join("scripts").join(name)).args(args).output().expect("run the pinned Python");
    assert!(
        out.status.success(),
        "{name} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name} printed no JSON ({e})"))
}

/// A `Const` node holding `content` as its tensor's bytes.
pub fn const_node(name: &str, dtype: DataType, shape: &[u64], content: Vec<u8>) -> NodeDef {
    let t = TensorProto {
        dtype: dtype as i32,
        tensor_shape: Some(TensorShapeProto::from_dims(shape)),
        tensor_content: content.into(),
        ..Default::default()
    };
    NodeDef {
        name: name.into(),
        op: "Const".into(),
        attr: [(
            "value".to_string(),
            AttrValue {
                value: Some(AttrValueKind::Tensor(t)),
            },
        )]
        .into(),
        ..Default::default()
    }
}
