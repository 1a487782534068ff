//! No command that writes replaces what it reads: an output that is an input
//! by its own name, through a symlink or a hard link (or, for a SavedModel,
//! a folder holding it) is refused with one line, before any work, and the
//! input is left as it was.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::*;

/// `input` under its own name, through a symlink, and through a hard link,
/// the two links made beside it.
fn aliases(input: &Path) -> [PathBuf; 3] {
    let name = input.file_name().unwrap().to_string_lossy();
    let symlink = input.with_file_name(format!("symlink-{name}"));
    let hard = input.with_file_name(format!("hard-{name}"));
    std::os::unix::fs::symlink(input, &symlink).unwrap();
    std::fs::hard_link(input, &hard).unwrap();
    [input.to_path_buf(), symlink, hard]
}

fn hashes(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|f| sha256_hex(&std::fs::read(f).unwrap())).collect()
}

/// Runs tf-strip with `args`, which write `output`: exit 1, one line naming
/// `output` and saying it would overwrite an input, every file of `inputs`
/// unchanged, nothing new in `output`'s folder.
fn assert_refused(args: &[OsString], output: &Path, inputs: &[PathBuf]) {
    let before = hashes(inputs);
    let folder = output.parent().unwrap();
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        names
    };
    let files_before = listing();
    let out = tf_strip().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(
        stderr.starts_with(&format!("tf-strip: error: {}: the output would overwrite an input", output.display())),
        "{args:?}: {stderr}"
    );
    assert_eq!(hashes(inputs), before, "{args:?} changed an input");
    assert_eq!(listing(), files_before, "{args:?} left files behind");
}

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

#[test]
fn strip_refuses_to_write_over_its_checkpoint_graph_by_path_symlink_or_hard_link() {
    let tmp = tempfile::tempdir().unwrap();
    let f = copy_fixture("mlp90", tmp.path());
    let meta = f.dir.join("model.ckpt-45.meta");
    let inputs: Vec<PathBuf> = std::fs::read_dir(&f.dir).unwrap().map(|e| e.unwrap().path()).collect();
    for output in aliases(&meta) {
        for command in [None, Some("strip")] {
            let mut args: Vec<OsString> = command.into_iter().map(OsString::from).collect();
            args.extend(os(&[
                &format!("--checkpoint_dir={}", f.dir.display()),
                &"--output_node_names=output",
                &format!("--output_dir={}", f.dir.display()),
                &format!("--filename={}", output.file_name().unwrap().to_string_lossy()),
            ]));
            assert_refused(&args, &output, &inputs);
        }
    }
}

#[test]
fn graph_commands_refuse_to_write_over_their_input_by_path_symlink_or_hard_link() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph/model.pb");
    std::fs::create_dir(graph.parent().unwrap()).unwrap();
    std::fs::copy(root().join("testdata/mlp90/expected/stripped.pb"), &graph).unwrap();
    let meta = tmp.path().join("meta/model.meta");
    std::fs::create_dir(meta.parent().unwrap()).unwrap();
    std::fs::copy(root().join("testdata/mlp90/model.ckpt-45.meta"), &meta).unwrap();
    let container = tmp.path().join("container/model.tfsparse");
    std::fs::create_dir(container.parent().unwrap()).unwrap();
    assert_succeeded(&tf_strip().arg("encode").arg(&graph).arg(&container).output().unwrap(), "encode");

    let saved_model = ["--output_format=saved_model"];
    let runs: [(&[&str], &Path, &[&str]); 7] = [
        (&["compact"], &graph, &[]),
        (&["compact"], &graph, &saved_model),
        (&["encode"], &graph, &[]),
        (&["encode", "--tf-loadable"], &graph, &[]),
        (&["encode", "--tf-loadable"], &graph, &saved_model),
        (&["decode"], &container, &[]),
        (&["inject"], &meta, &[]),
    ];
    for (command, input, flags) in runs {
        let links = aliases(input);
        for output in &links {
            let mut args = os(&[&command[0]]);
            args.extend(command[1..].iter().chain(flags).map(OsString::from));
            args.extend(os(&[&input, output]));
            assert_refused(&args, output, &links);
        }
        // A SavedModel replaces a directory whole: not one holding the input.
        if !flags.is_empty() {
            let folder = input.parent().unwrap();
            let mut args = os(&[&command[0]]);
            args.extend(command[1..].iter().chain(flags).map(OsString::from));
            args.extend(os(&[&input, &folder]));
            let before = hashes(&links);
            let out = tf_strip().args(&args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(stderr.contains("would overwrite an input") && stderr.lines().count() == 1, "{stderr}");
            assert_eq!(hashes(&links), before);
        }
        for link in &links[1..] {
            std::fs::remove_file(link).unwrap();
        }
    }
}

#[test]
fn inspect_refuses_a_tensorboard_logdir_that_is_its_input_by_path_symlink_or_hard_link() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("model.pb");
    std::fs::copy(root().join("testdata/mlp90/expected/stripped.pb"), &graph).unwrap();
    let links = aliases(&graph);
    for logdir in &links {
        let args = os(&[&"inspect", &graph, &"--tensorboard", logdir]);
        assert_refused(&args, logdir, &links);
    }
}
