//! Shared by the integration tests: the fixtures TensorFlow wrote into
//! `testdata/`, TensorFlow as an oracle (scripts/tf_oracle.py in the pinned
//! venv), and the canonical bytes both sides hash.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
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

pub fn pruned_fixtures() -> Vec<Fixture> {
    fixtures().into_iter().filter(|f| f.pruned).collect()
}

/// The pinned TensorFlow's Python. Missing TensorFlow fails the test: it is
/// never a reason to skip.
pub fn python() -> Command {
    let python = std::env::var_os("TF_STRIP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run the tests with scripts/test, which installs the pinned TensorFlow",
        python.display()
    );
    let mut cmd = Command::new(python);
    cmd.env("TF_CPP_MIN_LOG_LEVEL", "3").env("TF_ENABLE_ONEDNN_OPTS", "0");
    cmd
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

/// A GraphDef loaded in the real TensorFlow runtime. The fixtures' expected
/// outputs were computed with TensorFlow's plain Eigen kernels; oneDNN's
/// rewrites round differently, so they are turned off first.
pub fn tf_model(graph_def: &[u8]) -> tf_strip::runtime::Model {
    std::env::set_var("TF_ENABLE_ONEDNN_OPTS", "0");
    tf_strip::runtime::Model::from_graph_def(graph_def).unwrap_or_else(|e| panic!("{e}"))
}
