//! README.md runs as written: its ```sh blocks, in order, each with `bash -e`,
//! from a fresh copy of the repository, as a user who cloned it and pastes
//! them into a terminal at its root.
//!
//! "Fresh copy": a temporary folder holding links to the tracked top-level
//! entries of the repository (`git ls-files`), so nothing a test or an
//! earlier run wrote (`out/`, `models/`, `target/`) is there. The commands
//! see what a user's shell has after the install section: `tf-strip` on the
//! PATH (the binary cargo built for these tests), the pinned TensorFlow's
//! `python3` and `saved_model_cli`, `HOME` a temporary folder (the
//! completions block writes into it). Cargo's own commands build into the
//! repository's `target/` (`CARGO_TARGET_DIR`), so `cargo install` and
//! `cargo run --release` reuse the release build `tests/wheel.rs` also
//! makes, and `cargo install` installs into a temporary root.
//!
//! Blocks that a test cannot run are fenced as ```shell instead, and listed
//! in `NOT_RUN` with why; the test fails if the two disagree.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The README's ```shell blocks (by their first line), none of them run here.
const NOT_RUN: &[(&str, &str)] = &[
    ("scripts/build-wheel", "tests/wheel.rs runs it: scripts/build-wheel, pip install of the wheel into a fresh venv, the tf-strip on that venv's PATH"),
    ("scripts/test", "the test suite itself, which runs this test"),
    ("tensorboard --logdir logs", "a server that runs until stopped (and TensorBoard is not in the test venv)"),
    ("tensorflow_model_server", "TensorFlow Serving: a server, and not installable here"),
];

struct Block {
    line: usize,
    runs: bool,
    text: String,
}

/// Every ```sh (run) and ```shell (not run) fence of the README, in order.
fn shell_blocks(readme: &str) -> Vec<Block> {
    enum State {
        Prose,
        Shell(Block),
        Other,
    }
    let mut blocks = Vec::new();
    let mut state = State::Prose;
    for (i, line) in readme.lines().enumerate() {
        let fence = line.strip_prefix("```").map(str::trim);
        state = match (state, fence) {
            (State::Prose, Some("sh")) => State::Shell(Block { line: i + 1, runs: true, text: String::new() }),
            (State::Prose, Some("shell")) => State::Shell(Block { line: i + 1, runs: false, text: String::new() }),
            (State::Prose, Some(_)) => State::Other,
            (State::Shell(b), Some(_)) => {
                blocks.push(b);
                State::Prose
            }
            (State::Other, Some(_)) => State::Prose,
            (State::Shell(mut b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
                State::Shell(b)
            }
            (state, None) => state,
        };
    }
    assert!(matches!(state, State::Prose), "README.md: a code block is never closed");
    blocks
}

/// A temporary folder linking the repository's tracked top-level entries.
fn fresh_checkout(dir: &Path) -> PathBuf {
    let out = Command::new("git").arg("-C").arg(root()).args(["ls-files", "-z"]).output().expect("run git ls-files");
    assert_succeeded(&out, "git ls-files");
    let mut tops: Vec<&[u8]> = out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()).map(|p| p.split(|&b| b == b'/').next().unwrap()).collect();
    tops.sort();
    tops.dedup();
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    for top in tops {
        let name = std::str::from_utf8(top).expect("tracked names are UTF-8");
        std::os::unix::fs::symlink(root().join(name), repo.join(name)).unwrap();
    }
    repo
}

fn bin_dir(program: &Path) -> PathBuf {
    program.parent().expect("a program lives in a folder").to_path_buf()
}

#[test]
fn readme_shell_blocks_run_in_order_in_a_fresh_checkout() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks = shell_blocks(&readme);

    // The not-run blocks are exactly the listed ones.
    let skipped: Vec<&Block> = blocks.iter().filter(|b| !b.runs).collect();
    for b in &skipped {
        assert!(
            NOT_RUN.iter().any(|(first, _)| b.text.starts_with(first)),
            "README.md line {}: a ```shell block not listed in NOT_RUN (fence it ```sh so it runs, or list it with why):\n{}",
            b.line,
            b.text
        );
    }
    for (first, why) in NOT_RUN {
        let n = skipped.iter().filter(|b| b.text.starts_with(first)).count();
        assert_eq!(n, 1, "NOT_RUN lists `{first}` ({why}), which should start exactly one ```shell block of README.md");
    }

    let dir = tempfile::tempdir().unwrap();
    let repo = fresh_checkout(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME").map(PathBuf::from).unwrap_or_else(|| real_home.join(".rustup"));
    let python = python();
    let path = std::env::join_paths(
        [bin_dir(Path::new(env!("CARGO_BIN_EXE_tf-strip"))), bin_dir(Path::new(python.get_program()))]
            .into_iter()
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();

    for b in blocks.iter().filter(|b| b.runs) {
        let out = Command::new("bash")
            .arg("-e")
            .arg("-c")
            .arg(&b.text)
            .current_dir(&repo)
            .env("PATH", &path)
            .env("HOME", &home)
            .env("CARGO_HOME", &cargo_home)
            .env("RUSTUP_HOME", &rustup_home)
            .env("CARGO_TARGET_DIR", root().join("target"))
            .env("CARGO_INSTALL_ROOT", dir.path().join("cargo-install"))
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "README.md line {}: the block exited {:?}:\n{}\n--- stdout\n{}\n--- stderr\n{}",
            b.line,
            out.status.code(),
            b.text,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
