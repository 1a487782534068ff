//! `tf-strip inject IN OUT --pruning_hparams=...`: adds contrib.model_pruning's
//! gradual magnitude pruning to an exported TF1 training graph.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use regex::Regex;

use super::render::print_json;
use super::CliError;
use tf_strip::jobs::inject_file;
use tf_strip::transform::inject::{InjectOptions, InjectReport, PruningHparams, Structure};

#[derive(Debug, Args)]
pub struct InjectArgs {
    /// The training graph: a .meta MetaGraphDef, or a GraphDef (.pb / .pbtxt).
    input: PathBuf,
    /// Where to write the graph with pruning (same kind as IN; .pbtxt/.txt = text).
    output: PathBuf,
    /// contrib.model_pruning hyperparameters, `name=value,...` (get_pruning_hparams keys).
    #[arg(
        long = "pruning_hparams",
        default_value = ""
    )]
    pruning_hparams: String,
    /// Prune only weights whose variable names match (repeatable; searched, not anchored).
    #[arg(long = "weights")]
    weights: Vec<String>,
    /// Leave weights whose variable names match unpruned (repeatable).
    #[arg(long = "exclude")]
    exclude: Vec<String>,
    /// What a mask entry covers.
    #[arg(long, value_enum, default_value = "element")]
    structure: StructureArg,
    /// Make this train op also run the conditional mask update after each step.
    #[arg(long = "train_op")]
    train_op: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StructureArg {
    /// Individual weights (or blocks, with block_height/block_width).
    Element,
    /// Whole output channels (convolutions) and output neurons (matmuls), by L2 norm.
    Channel,
}

fn regexes(flag: &str, patterns: &[String]) -> Result<Vec<Regex>, CliError> {
    patterns
        .iter()
        .map(|p| Regex::new(p).map_err(|e| CliError::Usage(format!("{flag} `{p}`: {e}"))))
        .collect()
}

pub fn run(args: InjectArgs) -> Result<(), CliError> {
    let hparams = PruningHparams::parse(&args.pruning_hparams)
        .map_err(|e| CliError::Usage(format!("invalid --pruning_hparams: {e}")))?;
    let options = InjectOptions {
        hparams,
        weights: regexes("--weights", &args.weights)?,
        exclude: regexes("--exclude", &args.exclude)?,
        structure: match args.structure {
            StructureArg::Element => Structure::Elementwise,
            StructureArg::Channel => Structure::Channel,
        },
        train_op: args.train_op.clone(),
    };
    let report = inject_file(&args.input, &args.output, &options)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        print_json(&report);
    } else {
        print_report(&report, &args.output);
    }
    Ok(())
}

fn print_report(r: &InjectReport, output: &Path) {
    if r.weights.is_empty() {
        println!(
            "every selected weight already has a mask; {} written unchanged",
            output.display()
        );
        return;
    }
    for w in &r.weights {
        println!(
            "masked {} {:?} ({}{}): {} -> {} consumers",
            w.weight,
            w.shape,
            w.kind,
            if w.partitions > 1 {
                format!(", {} partitions", w.partitions)
            } else {
                String::new()
            },
            w.masked_weight,
            w.rewired.len()
        );
    }
    for w in r.weights.iter().filter(|w| !w.unmasked_updates.is_empty()) {
        eprintln!(
            "warning: {} is updated by {} with no gradient inject could trace to its layers, so left unmasked; \
             its pruned entries keep training, though they stay masked",
            w.weight,
            w.unmasked_updates.join(", ")
        );
    }
    for w in &r.already_masked {
        println!("left alone (already masked): {w}");
    }
    if r.created_global_step {
        println!(
            "created `{}` (the graph had none); the train op increments it",
            r.global_step
        );
    }
    match &r.train_op {
        Some(t) => println!(
            "run `{t}` as before: it now runs `{}` after each step",
            r.conditional_mask_update
        ),
        None => println!(
            "run `{}` after every training step",
            r.conditional_mask_update
        ),
    }
    println!(
        "schedule: `{}`; last update step: `{}`",
        r.sparsity, r.last_mask_update_step
    );
    if !r.saver_extended {
        println!(
            "note: a GraphDef has no saver; build a tf.compat.v1.train.Saver() after importing it"
        );
    }
    println!("wrote {}", output.display());
}
