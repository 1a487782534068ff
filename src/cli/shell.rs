//! `tf-strip completions SHELL` and `tf-strip man`: generated from the same
//! clap definitions that parse the flags, so they cannot drift from them.

use std::io::Write;

use clap_complete::{Generator, Shell};
use roff::{bold, roman, Roff};

use super::{command, CliError};
use tf_strip::error::FileError;

const BIN: &str = "tf-strip";

fn stdout_error(source: std::io::Error) -> CliError {
    CliError::Io(FileError { path: "<stdout>".into(), source })
}

/// The completion script for `shell`, on stdout.
pub fn completions(shell: Shell) -> Result<(), CliError> {
    let mut cmd = command();
    cmd.set_bin_name(BIN);
    cmd.build();
    if shell == Shell::Bash {
        escape_subcommand_bin_names(&mut cmd);
    }
    let mut out = Vec::new();
    shell.try_generate(&cmd, &mut out).map_err(stdout_error)?;
    std::io::stdout().write_all(&out).map_err(stdout_error)
}

/// clap_complete 4.6's bash script tracks the subcommand typed so far as the
/// bin name with `-` escaped as `__` (`tf__strip__subcmd__encode`), but labels
/// each subcommand's options by escaping its bin name's `-` as `__subcmd__`
/// (`tf__subcmd__strip__subcmd__encode`), so with a dash in the bin name no
/// subcommand's options ever complete (clap-rs/clap#6421). The labels come
/// from the subcommands' bin names, so those get the escaped spelling the
/// script tracks; the top command's, which `complete` registers, stays `tf-strip`.
fn escape_subcommand_bin_names(cmd: &mut clap::Command) {
    for sub in cmd.get_subcommands_mut() {
        if let Some(name) = sub.get_bin_name().and_then(|n| n.strip_prefix(BIN)) {
            let escaped = format!("{}{name}", BIN.replace('-', "__"));
            sub.set_bin_name(escaped);
        }
        escape_subcommand_bin_names(sub);
    }
}

/// The man page (roff), on stdout: `tf-strip man > tf-strip.1`. One page for
/// everything: the default command's flags under OPTIONS, then a section per
/// subcommand with all of its flags (clap_mangen alone would point to
/// `tf-strip-encode(1)` pages that nothing installs).
pub fn man() -> Result<(), CliError> {
    let mut cmd = command().disable_help_subcommand(true);
    cmd.set_bin_name(BIN);
    cmd.build();
    let page = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    page.render_title(&mut out).map_err(stdout_error)?;
    page.render_name_section(&mut out).map_err(stdout_error)?;
    page.render_synopsis_section(&mut out).map_err(stdout_error)?;
    page.render_description_section(&mut out).map_err(stdout_error)?;
    page.render_options_section(&mut out).map_err(stdout_error)?;

    let subcommands: Vec<clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    let mut list = Roff::new();
    list.control("SH", ["SUBCOMMANDS"]);
    for sub in &subcommands {
        let usage = sub.clone().render_usage().to_string();
        list.control("TP", []).text([bold(usage.trim_start_matches("Usage: "))]);
        if let Some(about) = sub.get_about() {
            list.text([roman(about.to_string())]);
        }
        list.text([roman(format!("Its flags: {} below.", section_title(sub).to_uppercase()))]);
    }
    list.to_writer(&mut out).map_err(stdout_error)?;
    // Each subcommand's arguments under a heading of their own, which
    // clap_mangen renders as one section per heading.
    for sub in subcommands {
        let title = section_title(&sub);
        let sub = sub.mut_args(|arg| arg.help_heading(title.clone()));
        clap_mangen::Man::new(sub).render_options_section(&mut out).map_err(stdout_error)?;
    }
    page.render_extra_section(&mut out).map_err(stdout_error)?;
    page.render_version_section(&mut out).map_err(stdout_error)?;
    std::io::stdout().write_all(&out).map_err(stdout_error)
}

fn section_title(sub: &clap::Command) -> String {
    format!("{BIN} {}", sub.get_name())
}
