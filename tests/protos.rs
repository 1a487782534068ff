//! Our `.proto` files describe every message, field and enum value exactly as
//! the pinned TensorFlow's own descriptors do (scripts/check_protos.py).

mod common;

use common::*;

#[test]
fn our_protos_match_tensorflows_descriptors() {
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("descriptors.bin");
    std::fs::write(&set, tf_strip::proto::FILE_DESCRIPTOR_SET_BYTES).unwrap();
    let out = python().arg(root().join("scripts/check_protos.py")).arg(&set).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("OK: "), "{stdout}");
}
