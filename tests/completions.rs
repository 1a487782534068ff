//! `tf-strip completions SHELL` and `tf-strip man`: generated from the clap
//! definitions, so they name every subcommand; bash accepts the bash script.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

const SUBCOMMANDS: [&str; 10] =
    ["strip", "inspect", "compact", "encode", "decode", "inject", "verify", "bench", "completions", "man"];

fn stdout_of(args: &[&str]) -> String {
    let out = tf_strip().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in SUBCOMMANDS {
        assert!(text.contains(sub), "{args:?} does not name `{sub}`");
    }
    text
}

#[test]
fn every_shell_gets_a_script_naming_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        stdout_of(&["completions", shell]);
    }
}

#[test]
fn bash_script_parses() {
    let script = stdout_of(&["completions", "bash"]);
    let mut bash = Command::new("bash").arg("-n").stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    bash.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = bash.wait_with_output().unwrap();
    assert!(out.status.success(), "bash -n: {}", String::from_utf8_lossy(&out.stderr));
    assert!(script.contains("-o default tf-strip"), "no `complete` line for tf-strip");
}

#[test]
fn man_page_is_roff() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH tf-strip 1"), "{}", &page[..page.len().min(400)]);
    assert!(page.contains(".SH SUBCOMMANDS") && page.contains("checkpoint_dir"));
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = tf_strip().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}
