//! The command line. Without a subcommand, tf-strip takes the flags of
//! TensorFlow's `strip_pruning_vars` and does its job.

mod encode;
mod inject;
mod inspect;
mod progress;
mod render;
mod strip;

use clap::{Parser, Subcommand};


#[derive(Debug, Parser)]
#[command(
    name = "tf-strip",
    version,
    about = "Strip, inspect and shrink TensorFlow models trained with magnitude pruning, without TensorFlow",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    strip: strip::StripArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Freeze a pruned checkpoint into an inference .pb with the masks folded in
    /// (the default command; takes strip_pruning_vars' flags).
    Strip(strip::StripArgs),
    /// Show what a checkpoint, GraphDef, MetaGraphDef or SavedModel holds.
    Inspect(inspect::InspectArgs),
    /// Store a GraphDef as small as its information: a lossless sparse container,
    /// or with --tf-loadable a GraphDef that stock TensorFlow loads.
    Encode(encode::EncodeArgs),
    /// Restore the .pb, byte for byte, from a container written by `encode`.
    Decode(encode::DecodeArgs),
    /// Add contrib.model_pruning's gradual magnitude pruning to a TF1 training graph.
    Inject(inject::InjectArgs),
}

/// Everything that stops a command, reported once by `main`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Codec(#[from] tf_strip::codec::CodecError),
    #[error(transparent)]
    Job(#[from] tf_strip::jobs::JobError),
    #[error(transparent)]
    Io(#[from] tf_strip::error::FileError),
    #[error("{0}")]
    Usage(String),
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Some(Command::Strip(args)) => strip::run(args),
        Some(Command::Inspect(args)) => inspect::run(args),
        Some(Command::Inject(args)) => inject::run(args),
        Some(Command::Encode(args)) => encode::encode(args),
        Some(Command::Decode(args)) => encode::decode(args),
        None => strip::run(cli.strip),
    }
}
