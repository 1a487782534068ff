//! `verify` and `bench` on `.tflite` models, run by LiteRT's C API (the
//! pinned ai-edge-litert's libLiteRt.so, found through the pinned Python, or
//! `LITERT_DIR`) beside TensorFlow: fixtures stripped and converted by
//! TensorFlow's own converter (`common::converted`).

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::Value;

/// `tf-strip COMMAND MODELS... ARGS...`, LiteRT looked for through the pinned Python.
fn run(command: &str, models: &[&Path], args: &[&str]) -> Output {
    tf_strip().arg(command).args(models).args(args).arg("--python").arg(python_path()).output().unwrap()
}

fn json(out: &Output, what: &str) -> Value {
    assert_succeeded(out, what);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: no JSON ({e})"))
}

/// What the command printed on stderr, as lines, once it failed with exit 1.
fn failure_lines(out: &Output, what: &str) -> Vec<String> {
    assert_eq!(out.status.code(), Some(1), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).lines().map(str::to_string).collect()
}

#[test]
fn verify_of_fixtures_pb_against_their_tflite_conversions_passes() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["mlp90", "convnet"] {
        let dir = tmp.path().join(name);
        let (_, converted) = converted(name, &dir);
        let pb = dir.join("pruning_stripped.pb");
        let (plain, sparsity) = (converted("plain"), converted("sparsity"));
        let r = json(&run("verify", &[&pb, &plain, &sparsity], &["--json"]), name);
        assert_eq!(r["passed"], true, "{name}: {r:#}");
        let kinds: Vec<&str> = r["models"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["graph_def", "tflite", "tflite"], "{name}");
        for c in r["comparisons"].as_array().unwrap() {
            for o in c["outputs"].as_array().unwrap() {
                assert!(o["elements"].as_u64().unwrap() > 0, "{name}: nothing compared: {o}");
                assert!(o["max_abs"].as_f64().unwrap() <= 1e-5, "{name}: {o}");
            }
        }
        // Two .tflite alone, without TensorFlow's graph: paired by their own names.
        let r = json(&run("verify", &[&plain, &sparsity], &["--json", "--batch", "3"]), name);
        assert_eq!(r["passed"], true, "{name}: {r:#}");
    }
}

#[test]
fn verify_of_a_tflite_against_a_different_one_fails_naming_the_differing_output() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, converted) = converted("mlp90", tmp.path());
    // int8 weights: every output moves by more than 1e-5.
    let (plain, int8) = (converted("plain"), converted("int8"));
    let out = run("verify", &[&plain, &int8], &[]);
    let lines = failure_lines(&out, "verify plain against int8");
    assert_eq!(
        lines.last().unwrap(),
        &format!("tf-strip: error: verification failed: output:0 ({})", int8.display()),
        "{lines:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("output:0") && l.ends_with("FAIL")), "{stdout}");
}

#[test]
fn bench_of_a_pb_and_its_tflite_prints_a_row_for_each() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, converted) = converted("mlp90", tmp.path());
    let (pb, plain) = (tmp.path().join("pruning_stripped.pb"), converted("plain"));
    let args = ["--runs", "3", "--loads", "1", "--warmup", "1", "--threads", "1", "--batch", "1,4"];
    let out = run("bench", &[&pb, &plain], &args);
    assert_succeeded(&out, "bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (model, batch) in [(&pb, 1), (&plain, 1), (&pb, 4), (&plain, 4)] {
        let row = format!("{} ", model.display());
        assert!(
            stdout.lines().any(|l| l.starts_with(&row) && l.split_whitespace().nth(1) == Some(&batch.to_string())),
            "no row for {} at batch {batch}:\n{stdout}",
            model.display()
        );
    }
}

#[test]
fn a_truncated_tflite_gets_one_error_line_naming_it_and_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, converted) = converted("mlp90", tmp.path());
    let plain = converted("plain");
    let good = std::fs::read(&plain).unwrap();
    for keep in [12, good.len() / 3, good.len() / 2] {
        let cut = tmp.path().join(format!("truncated-{keep}.tflite"));
        std::fs::write(&cut, &good[..keep]).unwrap();
        let (verify, bench): (&[&Path], &[&Path]) = (&[&plain, &cut], &[&cut]);
        for (command, models, args) in [("verify", verify, &[][..]), ("bench", bench, &["--runs", "1"][..])] {
            let lines = failure_lines(&run(command, models, args), command);
            assert_eq!(lines.len(), 1, "{command} {keep}: {lines:?}");
            assert!(lines[0].starts_with(&format!("tf-strip: error: {}: ", cut.display())), "{command} {keep}: {lines:?}");
        }
    }
}
