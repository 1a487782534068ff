//! The command line. Without a subcommand, tf-strip takes the flags of
//! TensorFlow's `strip_pruning_vars` and does its job.

mod accelerate;
mod bench;
mod compact;
mod encode;
mod inject;
mod inspect;
mod progress;
mod render;
mod shell;
mod signature;
mod strip;
mod verify;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tf-strip",
    version,
    about = "Strip, inspect and shrink TensorFlow models trained with magnitude pruning, without TensorFlow",
    args_conflicts_with_subcommands = true,
    after_help = "Every multi-word flag is also accepted with dashes: --output-node-names for --output_node_names."
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
    /// or with --tf_loadable a GraphDef that stock TensorFlow loads.
    Encode(encode::EncodeArgs),
    /// Remove output channels and neurons whose weights are all zero, with
    /// everything tied to them, so stock TensorFlow runs a smaller dense graph.
    Compact(compact::CompactArgs),
    /// Restore the .pb, byte for byte, from a container written by `encode`.
    Decode(encode::DecodeArgs),
    /// Add contrib.model_pruning's gradual magnitude pruning to a TF1 training graph.
    Inject(inject::InjectArgs),
    /// Run models in the real TensorFlow on the same inputs and compare every
    /// output with the first model's (exit 1 if any differs).
    Verify(verify::VerifyArgs),
    /// Time models in the real TensorFlow: load, first run, latency, throughput.
    Bench(bench::BenchArgs),
    /// Store the sparse enough weights of a TFLite model's fully connected layers
    /// in TFLite's sparse format, so its sparse kernel runs (no TensorFlow needed).
    Accelerate(accelerate::AccelerateArgs),
    /// Print a shell completion script to stdout
    /// (bash: `tf-strip completions bash > /etc/bash_completion.d/tf-strip`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `tf-strip man > tf-strip.1`.
    Man,
}

/// The command line as parsed, as completed and as documented: the clap
/// definitions with every multi-word long flag in both spellings.
pub fn command() -> clap::Command {
    both_spellings(Cli::command())
}

/// The parsed command line; clap's own errors (exit 2) and `--help` end the process.
pub fn parse() -> Cli {
    Cli::from_arg_matches_mut(&mut command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// Adds `--output-node-names` for `--output_node_names` (and the reverse) to
/// `cmd` and every subcommand: the drop-in flags are TensorFlow's, with
/// underscores, and so are ours beside them, while most other CLIs use
/// dashes; whichever a user types is accepted, and help shows TensorFlow's.
fn both_spellings(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        let names: Vec<String> =
            arg.get_long().into_iter().chain(arg.get_all_aliases().unwrap_or_default()).map(str::to_owned).collect();
        let mut twins: Vec<String> = Vec::new();
        for twin in names.iter().flat_map(|n| [n.replace('-', "_"), n.replace('_', "-")]) {
            if !names.contains(&twin) && !twins.contains(&twin) {
                twins.push(twin);
            }
        }
        arg.visible_aliases(twins)
    })
    .mut_subcommands(both_spellings)
}

/// Everything that stops a command, reported once by `main`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Job(#[from] tf_strip::jobs::JobError),
    #[error(transparent)]
    Io(#[from] tf_strip::error::FileError),
    #[error(transparent)]
    Runner(#[from] tf_strip::runner::RunnerError),
    #[error("{0}")]
    Usage(String),
    /// The command ran and its answer is no: `verify` found these outputs
    /// of these candidate models to differ from the reference.
    #[error("verification failed: {}", differing(.0))]
    VerifyFailed(Vec<(String, std::path::PathBuf)>),
}

fn differing(outputs: &[(String, std::path::PathBuf)]) -> String {
    outputs.iter().map(|(name, model)| format!("{name} ({})", model.display())).collect::<Vec<_>>().join(", ")
}

impl CliError {
    /// 2 for a usage error of `verify` and `bench`, as clap's own; 1 otherwise
    /// (the other commands' exit status is kept as scripts know it).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Runner(e) if e.is_usage() => 2,
            _ => 1,
        }
    }
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Some(Command::Strip(args)) => strip::run(args),
        Some(Command::Inspect(args)) => inspect::run(args),
        Some(Command::Inject(args)) => inject::run(args),
        Some(Command::Compact(args)) => compact::run(args),
        Some(Command::Encode(args)) => encode::encode(args),
        Some(Command::Decode(args)) => encode::decode(args),
        Some(Command::Verify(args)) => verify::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Accelerate(args)) => accelerate::run(args),
        Some(Command::Completions { shell }) => shell::completions(shell),
        Some(Command::Man) => shell::man(),
        None => strip::run(cli.strip),
    }
}
