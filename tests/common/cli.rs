//! The command line as its own `--help` lists it, so that tests of every
//! subcommand and every flag cover new ones without a hand-kept list.

use regex::Regex;

use super::tf_strip;

fn help(args: &[&str]) -> String {
    let out = tf_strip().args(args).arg("--help").output().expect("run tf-strip --help");
    assert!(out.status.success(), "{args:?} --help: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands `tf-strip --help` lists, `help` aside.
pub fn subcommands() -> Vec<String> {
    let text = help(&[]);
    let listed = text.split("Commands:\n").nth(1).expect("a Commands: section");
    listed
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// A command's long flags, each with its aliases (primary first), as
/// `tf-strip [SUB] --help` shows them; `help` and `version` aside.
pub fn long_flags(sub: Option<&str>) -> Vec<Vec<String>> {
    let flag = Regex::new(r"^\s+(?:-\w, )?--([a-z0-9_-]+)").unwrap();
    // After the flag's help, on its line (short help) or one of its own (long help).
    let aliases = Regex::new(r"\[alias(?:es)?: ([^\]]*)\]$").unwrap();
    let mut flags: Vec<Vec<String>> = Vec::new();
    for line in help(sub.as_slice()).lines() {
        if let Some(m) = flag.captures(line) {
            flags.push(vec![m[1].to_string()]);
        }
        if let (Some(m), Some(last)) = (aliases.captures(line), flags.last_mut()) {
            last.extend(m[1].split(", ").filter_map(|a| a.strip_prefix("--")).map(str::to_owned));
        }
    }
    flags.retain(|names| !["help", "version"].contains(&names[0].as_str()));
    flags
}

/// `None` (the default command: strip's flags without a subcommand), then every subcommand.
pub fn every_command() -> Vec<Option<String>> {
    std::iter::once(None).chain(subcommands().into_iter().map(Some)).collect()
}
