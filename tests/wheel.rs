//! The pip wheel: `scripts/build-wheel` (maturin) builds it, pip installs it
//! into a fresh venv, and the `tf-strip` it puts on the PATH writes the same
//! bytes as the cargo-built binary.
//!
//! The wheel's cargo build is the release build in `target/release`, so it
//! is incremental: measured on the project's 2-core machine (shared), the
//! first build took 4 min (dependencies and crate in release), one after a
//! change to the library 3 min 17 s, one with nothing changed 2 s; the rest
//! of the test (venv, pip install, two strips) 15 s.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn strip(mut cmd: Command, output_dir: &Path) -> Vec<u8> {
    let checkpoint = root().join("testdata/convnet");
    run(cmd
        .arg(format!("--checkpoint_dir={}", checkpoint.display()))
        .arg("--output_node_names=softmax_linear/softmax_linear")
        .arg(format!("--output_dir={}", output_dir.display())));
    std::fs::read(output_dir.join("pruning_stripped.pb")).unwrap()
}

#[test]
fn pip_installed_binary_strips_like_the_cargo_built_one() {
    let dir = tempfile::tempdir().unwrap();
    let printed = run(Command::new(root().join("scripts/build-wheel")).arg(dir.path().join("wheels")));
    let wheel = Path::new(printed.lines().last().expect("build-wheel prints the wheel").trim());
    assert!(wheel.is_file() && wheel.starts_with(dir.path().join("wheels")), "{}", wheel.display());

    // A venv of the interpreter the project venv was made from, as a user's would be.
    let base = run(python().args(["-c", "import sys; print(sys._base_executable)"]));
    let venv = dir.path().join("venv");
    run(Command::new(base.trim()).args(["-m", "venv"]).arg(&venv));
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--no-index", "--quiet", "--disable-pip-version-check"])
        .arg(wheel));
    let bin = venv.join("bin");
    assert!(bin.join("tf-strip").is_file(), "pip put no tf-strip into {}", bin.display());

    // Found on the PATH, as after `source venv/bin/activate`.
    let path = std::env::join_paths(
        std::iter::once(bin.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut installed = Command::new("tf-strip");
    installed.env("PATH", &path);
    let from_pip = strip(installed, &dir.path().join("pip"));
    let from_cargo = strip(tf_strip(), &dir.path().join("cargo"));
    assert!(from_pip == from_cargo, "the pip-installed tf-strip wrote different bytes");

    assert_eq!(run(Command::new(bin.join("tf-strip")).arg("--version")), run(tf_strip().arg("--version")));
}
