//! What tf-strip writes, as a user finds it: normal file modes, reports that
//! hold only figures we know, and nothing left behind by a failed or
//! interrupted run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use prost::Message;
use serde_json::Value;
use tf_strip::graph::NodeBuilder;
use tf_strip::proto::tensorflow::{DataType, GraphDef};

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

#[test]
fn a_strip_that_fails_leaves_no_output_folder_it_created() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = root().join("testdata/mlp90");
    let created = tmp.path().join("new");
    let out_dir = created.join("nested/out");
    // One failure before the folder is needed, one after it was made (the
    // SavedModel's signature is checked as it is written).
    for extra in [&["--output_node_names=no_such_node"][..], &["--output_node_names=output", "--output_format=saved_model", "--signature_inputs=x=no_such_node"]] {
        let out = tf_strip()
            .arg(format!("--checkpoint_dir={}", fixture.display()))
            .arg(format!("--output_dir={}", out_dir.display()))
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("no_such_node") && stderr.lines().count() == 1, "{stderr}");
        assert!(!created.exists(), "{extra:?} left {}", created.display());
    }
}

/// A GraphDef of `nodes` Identity nodes reading one constant: in a debug
/// build, compact spends over a second between opening its output and
/// renaming it into place, a window no busy machine misses.
fn wide_graph(nodes: usize) -> Vec<u8> {
    let mut node = vec![const_node("c", DataType::DtFloat, &[4], vec![0x3f; 16])];
    node.extend((0..nodes).map(|i| NodeBuilder::new("Identity").input("c").ty("T", DataType::DtFloat).build(&format!("id{i}"))));
    GraphDef { node, ..Default::default() }.encode_to_vec()
}

/// Every name in `dir`.
fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Interrupts `tf-strip compact` of a wide graph with `signal` while its
/// output is a temporary file: it must die of the signal (130 or 143 in a
/// shell) leaving no temporary, no output and its input as it was.
fn interrupt_a_write(signal: &str, number: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("wide.pb");
    std::fs::write(&input, wide_graph(50_000)).unwrap();
    let before = sha256_hex(&std::fs::read(&input).unwrap());
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let output = out_dir.join("compact.pb");
    let start = Instant::now();
    let mut child = tf_strip().arg("compact").arg(&input).arg(&output).stderr(Stdio::null()).spawn().unwrap();
    let deadline = start + Duration::from_secs(15);
    while !names(&out_dir).iter().any(|n| n.starts_with('.') && n.ends_with(".tmp")) {
        assert!(child.try_wait().unwrap().is_none(), "compact ended before its temporary file was seen: give the graph more nodes");
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("no temporary file in {} after 15 s", out_dir.display());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Held still, so the signal lands while the temporary is there, however
    // busy the machine; delivered when it resumes.
    kill("STOP", child.id());
    if output.exists() {
        child.kill().unwrap();
        panic!("compact finished before it could be interrupted: give the graph more nodes");
    }
    kill(signal, child.id());
    kill("CONT", child.id());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("tf-strip still running 15 s after SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.signal() == Some(number) || status.code() == Some(128 + number), "{status:?}");
    assert_eq!(names(&out_dir), Vec::<String>::new(), "left behind");
    assert_eq!(sha256_hex(&std::fs::read(&input).unwrap()), before);
}

#[test]
fn an_interrupt_during_a_write_leaves_no_temporary_and_no_output() {
    interrupt_a_write("INT", 2);
}

#[test]
fn a_termination_during_a_write_leaves_no_temporary_and_no_output() {
    interrupt_a_write("TERM", 15);
}

#[test]
fn a_report_printed_into_a_pipe_whose_reader_has_gone_ends_without_a_panic() {
    // The reading end closed before tf-strip writes, as when `| head` has
    // read enough: every write then fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = tf_strip()
        .args(["inspect", "--json"])
        .arg(root().join("testdata/convnet/expected/stripped.pb"))
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!out.status.success(), "a report nobody read is no success");
}
