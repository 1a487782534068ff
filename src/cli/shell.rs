//! `tf-strip completions SHELL` and `tf-strip man`: generated from the same
//! clap definitions that parse the flags, so they cannot drift from them.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, CliError};
use tf_strip::error::FileError;

fn stdout_error(source: std::io::Error) -> CliError {
    CliError::Io(FileError { path: "<stdout>".into(), source })
}

/// The completion script for `shell`, on stdout.
pub fn completions(shell: Shell) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "tf-strip", &mut out);
    std::io::stdout().write_all(&out).map_err(stdout_error)
}

/// The man page (roff), on stdout: `tf-strip man > tf-strip.1`.
pub fn man() -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out).map_err(stdout_error)?;
    std::io::stdout().write_all(&out).map_err(stdout_error)
}
