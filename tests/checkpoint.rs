//! Checkpoints read exactly as TensorFlow reads them, and checkpoints we
//! write read back in TensorFlow with the same values.

mod common;

use common::*;
use serde_json::Value;
use tf_strip::checkpoint::{Checkpoint, CheckpointWriter};
use tf_strip::locate::resolve_prefix;

#[test]
fn every_fixture_tensor_reads_bit_identical_to_tensorflow() {
    for f in fixtures() {
        let prefix = resolve_prefix(&f.dir).unwrap().prefix;
        let ckpt = Checkpoint::open(&prefix).unwrap();
        let expected = f.tensors_json();
        let expected = expected.as_object().unwrap();
        let ours: Vec<&str> = ckpt.entries().map(|(n, _)| n).collect();
        let theirs: Vec<&str> = expected.keys().map(String::as_str).collect();
        assert_eq!(ours, theirs, "{}: tensor names", f.name);
        for (name, want) in expected {
            let t = ckpt.tensor(name).unwrap_or_else(|e| panic!("{}: {e}", f.name));
            let got = describe(&t);
            for key in ["dtype", "shape", "sha256"] {
                assert_eq!(got[key], want[key], "{}: {name}: {key}", f.name);
            }
            if let Some(z) = want["zero_fraction"].as_f64() {
                let ours = t.zero_fraction().unwrap();
                assert!((ours - z).abs() < 1e-12, "{}: {name}: zero fraction {ours} vs {z}", f.name);
            }
        }
    }
}

#[test]
fn partitioned_variables_are_reassembled_and_available_per_slice() {
    let f = fixtures().into_iter().find(|f| f.name == "partitioned").unwrap();
    let ckpt = Checkpoint::open(&f.prefix).unwrap();
    let (name, info) = ckpt.entries().find(|(_, e)| !e.slices.is_empty()).expect("a partitioned tensor");
    assert!(info.slices.len() > 1);
    let slices = ckpt.slices(name).unwrap();
    let rows: u64 = slices.iter().map(|(s, _)| s.shape[0]).sum();
    assert_eq!(rows, info.shape[0]);
}

#[test]
fn sharded_checkpoint_uses_every_shard() {
    let f = fixtures().into_iter().find(|f| f.name == "sharded").unwrap();
    let ckpt = Checkpoint::open(&f.prefix).unwrap();
    assert_eq!(ckpt.data_paths().len(), 2);
}

/// Copies every tensor (partitioned ones slice by slice) into a new checkpoint.
fn rewrite(ckpt: &Checkpoint, prefix: &std::path::Path) {
    let mut w = CheckpointWriter::create(prefix).unwrap();
    for (name, info) in ckpt.entries() {
        if info.slices.is_empty() {
            w.add(name, &ckpt.tensor(name).unwrap()).unwrap();
        } else {
            for (slice, part) in ckpt.slices(name).unwrap() {
                w.add_slice(name, &info.shape, &slice, &part).unwrap();
            }
        }
    }
    w.finish().unwrap();
}

#[test]
fn checkpoints_we_write_load_in_tensorflow_with_identical_values() {
    let tmp = tempfile::tempdir().unwrap();
    for f in fixtures() {
        let ckpt = Checkpoint::open(&f.prefix).unwrap();
        let prefix = tmp.path().join(&f.name).join("model.ckpt");
        std::fs::create_dir_all(prefix.parent().unwrap()).unwrap();
        rewrite(&ckpt, &prefix);

        // We read our own output back...
        let back = Checkpoint::open(&prefix).unwrap();
        for (name, _) in ckpt.entries() {
            assert_eq!(back.tensor(name).unwrap(), ckpt.tensor(name).unwrap(), "{}: {name}", f.name);
        }
        // ...and so does TensorFlow, value for value.
        let tf = oracle(&["read-ckpt", prefix.to_str().unwrap()]);
        let expected = f.tensors_json();
        let strip = |v: &Value| -> Value {
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, e)| (k.clone(), serde_json::json!({"dtype": e["dtype"], "shape": e["shape"], "sha256": e["sha256"]})))
                .collect()
        };
        assert_eq!(strip(&tf), strip(&expected), "{}: TensorFlow reads our checkpoint differently", f.name);
    }
}
