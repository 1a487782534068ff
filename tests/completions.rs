//! `tf-strip completions SHELL` and `tf-strip man`: generated from the clap
//! definitions, so they name every subcommand; in a real bash the script
//! completes every flag of every subcommand; the man page holds every flag.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::cli::{every_command, long_flags};
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

/// What the bash script's completion function offers for each command line
/// (words typed, the last one being completed), in one real bash: the
/// function is the one `complete -p tf-strip` names after sourcing the script.
fn bash_completions(lines: &[Vec<String>]) -> Vec<Vec<String>> {
    let script = stdout_of(&["completions", "bash"]);
    let mut driver = format!("{script}\nf=$(complete -p tf-strip | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n");
    for words in lines {
        let (cur, prev) = (&words[words.len() - 1], &words[words.len() - 2]);
        driver += &format!(
            "COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=()\n\
             \"$f\" tf-strip '{cur}' '{prev}'; echo \"${{COMPREPLY[*]}}\"\n",
            words = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            cword = words.len() - 1,
            line = words.join(" "),
        );
    }
    let mut bash = Command::new("bash").arg("--norc").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    bash.stdin.take().unwrap().write_all(driver.as_bytes()).unwrap();
    let out = bash.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && out.stderr.is_empty(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    let offered: Vec<Vec<String>> = stdout.lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect();
    assert_eq!(offered.len(), lines.len(), "{stdout}");
    offered
}

#[test]
fn bash_completes_the_tf_loadable_flag_of_encode_in_both_spellings() {
    let words = ["tf-strip", "encode", "--tf"].map(str::to_owned).to_vec();
    let offered = &bash_completions(&[words])[0];
    assert!(offered.contains(&"--tf_loadable".into()) && offered.contains(&"--tf-loadable".into()), "{offered:?}");
}

/// For every flag name (aliases too) of every command, the default one
/// included: `tf-strip [SUB] --NAME` less its last letter offers `--NAME`.
#[test]
fn bash_completes_every_flag_of_every_command() {
    let mut lines = Vec::new();
    let mut wanted = Vec::new();
    for sub in every_command() {
        for name in long_flags(sub.as_deref()).into_iter().flatten() {
            let typed = format!("--{}", &name[..name.len() - 1]);
            lines.push(["tf-strip"].into_iter().chain(sub.as_deref()).chain([typed.as_str()]).map(str::to_owned).collect::<Vec<_>>());
            wanted.push(format!("--{name}"));
        }
    }
    assert!(wanted.len() > 60, "only {} flags found in the help", wanted.len());
    for ((words, want), offered) in lines.iter().zip(&wanted).zip(bash_completions(&lines)) {
        assert!(offered.contains(want), "{}: offered {offered:?}, not {want}", words.join(" "));
    }
}

/// The page as roff writes a flag: `\-\-name`, bold where it is listed.
fn roff_flag(name: &str) -> String {
    format!("\\fB\\-\\-{}", name.replace('-', "\\-"))
}

#[test]
fn man_page_lists_every_flag_of_every_subcommand_in_its_own_section() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH tf-strip 1"), "{}", &page[..page.len().min(400)]);
    let sections: Vec<(&str, &str)> = page
        .split("\n.SH ")
        .skip(1)
        .map(|s| s.split_once('\n').unwrap_or((s, "")))
        .collect();
    for sub in every_command() {
        let title = sub.as_ref().map_or("OPTIONS".to_string(), |s| format!("\"TF-STRIP {}\"", s.to_uppercase()));
        let (_, body) = sections.iter().find(|(t, _)| *t == title).unwrap_or_else(|| panic!("no section {title}"));
        for names in long_flags(sub.as_deref()) {
            assert!(body.contains(&roff_flag(&names[0])), "{title} does not list --{}", names[0]);
        }
    }
}

#[test]
fn man_page_refers_to_no_other_page() {
    let page = stdout_of(&["man"]);
    let reference = regex::Regex::new(r"[a-z]\((?:1|8)\)").unwrap();
    assert!(!reference.is_match(&page), "{:?}", reference.find(&page));
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = tf_strip().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}
