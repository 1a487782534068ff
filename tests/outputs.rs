//! What tf-strip writes, as a user finds it: normal file modes, and reports
//! that hold only figures we know.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// tf-strip with `args` under umask 022, as a login shell has it.
fn tf_strip_with_umask(args: &[String]) -> std::process::Output {
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_tf-strip"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "tf-strip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn outputs_get_the_mode_of_any_new_file_and_replacements_keep_theirs() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |p: &Path| p.display().to_string();
    let fixture = root().join("testdata/mlp90");
    let stripped = tmp.path().join("pruning_stripped.pb");
    let container = tmp.path().join("model.tfsparse");
    let decoded = tmp.path().join("decoded.pb");
    let loadable = tmp.path().join("loadable.pb");
    let injected = tmp.path().join("injected.meta");
    let runs = [
        (vec![format!("--checkpoint_dir={}", p(&fixture)), "--output_node_names=output".into(), format!("--output_dir={}", p(tmp.path()))], &stripped),
        (vec!["encode".into(), p(&stripped), p(&container)], &container),
        (vec!["decode".into(), p(&container), p(&decoded)], &decoded),
        (vec!["encode".into(), "--tf-loadable".into(), p(&stripped), p(&loadable)], &loadable),
        (vec!["inject".into(), p(&fixture.join("model.ckpt-45.meta")), p(&injected)], &injected),
    ];
    for (args, output) in &runs {
        tf_strip_with_umask(args);
        assert_eq!(mode(output), 0o644, "{}", output.display());
    }
    // A model the user made private stays private when rewritten.
    std::fs::set_permissions(&stripped, std::fs::Permissions::from_mode(0o600)).unwrap();
    tf_strip_with_umask(&runs[0].0);
    assert_eq!(mode(&stripped), 0o600);
}

#[test]
fn inspect_of_a_container_reports_the_zeros_encode_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = root().join("testdata/mlp90/expected/stripped.pb");
    let container = tmp.path().join("model.tfsparse");
    let json = |args: &[&str]| -> Value {
        let out = tf_strip().args(args).arg("--json").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let encoded = json(&["encode", graph.to_str().unwrap(), container.to_str().unwrap()]);
    let inspected = json(&["inspect", container.to_str().unwrap()]);
    let tensors = inspected.as_array().unwrap();
    assert_eq!(tensors, encoded["tensors"].as_array().unwrap());
    assert!(tensors.iter().any(|t| t["zeros"].as_u64() > Some(0) && t["bound"].as_f64() > Some(0.0)), "{inspected}");
}
