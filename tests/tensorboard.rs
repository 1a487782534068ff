//! `tf-strip inspect MODEL --tensorboard LOGDIR`: TensorFlow's own
//! `summary_iterator` reads the events file back, and the graph in it is the
//! model's.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Runs `inspect --json --tensorboard` on `model` into a fresh logdir and
/// returns the one events file written there.
fn write_events(model: &Path, logdir: &Path) -> PathBuf {
    let out = tf_strip().arg("inspect").arg("--json").arg(model).arg("--tensorboard").arg(logdir).output().unwrap();
    assert!(out.status.success(), "{}: {}", model.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("stdout stays the JSON report");
    let files: Vec<PathBuf> = std::fs::read_dir(logdir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    files[0].clone()
}

/// What TensorFlow reads from `events`, checked against `model`'s graph (`kind` as tf_oracle.py takes it).
fn assert_tensorflow_reads_graph(events: &Path, kind: &str, model: &Path) {
    let answer = oracle(&["read-events", events.to_str().unwrap(), kind, model.to_str().unwrap()]);
    let events = answer["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{answer}");
    assert_eq!(events[0]["what"], "file_version");
    assert_eq!(events[0]["file_version"], "brain.Event:2");
    assert_eq!(events[1]["what"], "graph_def");
    assert_eq!(events[1]["graph_equal"], true, "{}: the events file's graph differs", model.display());
    assert_eq!(events[1]["step"], 0);
    assert!(events[1]["wall_time"].as_f64().unwrap() > 1.5e9, "{answer}");
}

#[test]
fn stripped_graph_reads_back_in_tensorflow() {
    let f = fixtures().into_iter().find(|f| f.name == "convnet").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stripped = f.expected("stripped.pb");
    let events = write_events(&stripped, &dir.path().join("logs"));
    assert_tensorflow_reads_graph(&events, "graph", &stripped);

    // A container holds the same graph.
    let container = dir.path().join("stripped.tfsparse");
    let out = tf_strip().arg("encode").arg(&stripped).arg(&container).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = write_events(&container, &dir.path().join("container_logs"));
    assert_tensorflow_reads_graph(&events, "graph", &stripped);
}

#[test]
fn training_graph_reads_back_in_tensorflow() {
    let f = fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let meta = tf_strip::checkpoint::meta_path(&f.prefix);
    let events = write_events(&meta, &dir.path().join("meta"));
    assert_tensorflow_reads_graph(&events, "meta", &meta);
    // A checkpoint directory: its .meta graph.
    let events = write_events(&f.dir, &dir.path().join("checkpoint"));
    assert_tensorflow_reads_graph(&events, "meta", &meta);
    let saved = f.dir.join("saved_model");
    let events = write_events(&saved, &dir.path().join("saved_model"));
    assert_tensorflow_reads_graph(&events, "saved_model", &saved.join("saved_model.pb"));
}

#[test]
fn checkpoint_without_graph_is_one_clear_error() {
    let f = fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The SavedModel's variables are a checkpoint with no .meta beside them.
    let vars = f.dir.join("saved_model/variables/variables");
    let logdir = dir.path().join("logs");
    let out = tf_strip().arg("inspect").arg(&vars).arg("--tensorboard").arg(&logdir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no .meta graph") && stderr.contains("variables"), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("error")).count(), 1, "{stderr}");
    assert!(!logdir.exists() || std::fs::read_dir(&logdir).unwrap().next().is_none());
}
