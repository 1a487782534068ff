//! `tf-strip --checkpoint_dir=DIR --output_node_names=a,b --output_dir=DIR`:
//! strip_pruning_vars' flags, defaults and output, without TensorFlow.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};

use super::progress::Steps;
use super::render::{fraction, human_bytes, percent, render_tensor_lists, shape, show, table};
use super::signature::{render_saved_model, OutputFormat, SignatureArgs};
use super::CliError;
use tf_strip::graph::Format;
use tf_strip::jobs::{strip_checkpoint, StripJob, GraphOutput, StripSummary};

/// Above this much checkpoint data, a terminal shows progress.
const BIG_CHECKPOINT: u64 = 64 << 20;

#[derive(Debug, Args, Default)]
pub struct StripArgs {
    /// Directory with the checkpoint (its `checkpoint` file names the latest).
    #[arg(long = "checkpoint_dir", default_value = "")]
    checkpoint_dir: String,
    /// Comma-separated names of the output nodes.
    #[arg(long = "output_node_names", default_value = "")]
    output_node_names: String,
    /// Directory to write the stripped graph to (created if missing).
    #[arg(long = "output_dir", default_value = "")]
    output_dir: String,
    /// File name of the stripped graph [default: pruning_stripped.pb; with --encode
    /// pruning_stripped.tfsparse; with --output_format=saved_model the directory
    /// pruning_stripped_saved_model].
    #[arg(long)]
    filename: Option<String>,
    /// A specific checkpoint prefix (e.g. DIR/model.ckpt-1000) instead of the latest.
    #[arg(long, visible_alias = "input_checkpoint")]
    checkpoint: Option<PathBuf>,
    /// MetaGraphDef to use instead of the checkpoint's own `.meta`.
    #[arg(long = "input_meta_graph")]
    input_meta_graph: Option<PathBuf>,
    /// GraphDef (.pb or .pbtxt) to use instead of the checkpoint's `.meta`.
    #[arg(long = "input_graph", conflicts_with = "input_meta_graph")]
    input_graph: Option<PathBuf>,
    /// Write the graph in text format.
    #[arg(long = "as_text", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true")]
    as_text: bool,
    /// Keep device placements (TensorFlow's tool clears them).
    #[arg(long = "keep_devices", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true")]
    keep_devices: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Write the sparse container (`tf-strip decode` restores the .pb) instead of
    /// the .pb; the default file name becomes pruning_stripped.tfsparse.
    #[arg(long, conflicts_with = "as_text")]
    encode: bool,
    /// Also remove all-zero channels and neurons (`tf-strip compact`).
    #[arg(long)]
    compact: bool,
    #[command(flatten)]
    compact_flags: super::compact::CompactFlags,
    /// Also rewrite the sparse MatMuls that TensorFlow runs faster sparse
    /// (`tf-strip accelerate`), after --compact.
    #[arg(long)]
    accelerate: bool,
    #[command(flatten)]
    accelerate_flags: super::accelerate::AccelerateFlags,
    /// Rewrite TF1 TensorArrays (dynamic_rnn's loops) into TensorLists, which
    /// TFLite's converter turns into builtin ops; TensorFlow computes the same.
    #[arg(long = "tensor_lists")]
    tensor_lists: bool,
    /// What to write: a binary GraphDef, a text one, or a SavedModel directory
    /// TensorFlow Serving loads.
    #[arg(long = "output_format", value_enum, default_value_t)]
    output_format: OutputFormat,
    #[command(flatten)]
    signature: SignatureArgs,
}

fn output_names(args: &StripArgs) -> Result<Vec<String>, CliError> {
    let names: Vec<String> = args
        .output_node_names
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Err(CliError::Usage(
            "need at least one output node: pass --output_node_names=name1,name2".into(),
        ));
    }
    Ok(names)
}

pub fn run(args: StripArgs) -> Result<(), CliError> {
    let outputs = output_names(&args)?;
    let checkpoint = match (&args.checkpoint, args.checkpoint_dir.as_str()) {
        (Some(prefix), _) => prefix.clone(),
        (None, "") => {
            return Err(CliError::Usage(
                "no checkpoint given: pass --checkpoint_dir=DIR (or --checkpoint=PREFIX)".into(),
            ))
        }
        (None, dir) => PathBuf::from(dir),
    };
    if args.compact_flags.given() && !args.compact {
        return Err(CliError::Usage("--round_to and --no_border_constants shape --compact: add --compact".into()));
    }
    if args.accelerate_flags.given() && !args.accelerate {
        return Err(CliError::Usage("--batch, --min_sparsity, --threads and --python shape --accelerate: add --accelerate".into()));
    }
    let format = args.output_format.with_as_text(args.as_text)?;
    let signature = args.signature.spec(format, &outputs)?;
    let write = match (format, args.encode) {
        (OutputFormat::Pb, true) => GraphOutput::Container,
        (_, true) => return Err(CliError::Usage("--encode writes the sparse container; it cannot be used with --output_format".into())),
        (OutputFormat::Pb, false) => GraphOutput::Graph(Format::Binary),
        (OutputFormat::Pbtxt, false) => GraphOutput::Graph(Format::Text),
        (OutputFormat::SavedModel, false) => GraphOutput::SavedModel(signature),
    };
    let filename = args.filename.as_deref().unwrap_or(match write {
        GraphOutput::Container => "pruning_stripped.tfsparse",
        GraphOutput::SavedModel(_) => "pruning_stripped_saved_model",
        GraphOutput::Graph(_) => "pruning_stripped.pb",
    });
    let dir = if args.output_dir.is_empty() { Path::new(".") } else { Path::new(&args.output_dir) };
    let job = StripJob {
        checkpoint,
        graph: args.input_graph.clone().or_else(|| args.input_meta_graph.clone()),
        outputs,
        keep_devices: args.keep_devices,
        output: dir.join(filename),
        write,
        compact: args.compact.then(|| args.compact_flags.options(Vec::new())),
        tensor_lists: args.tensor_lists,
        accelerate: args.accelerate.then(|| args.accelerate_flags.options()),
    };
    let summary = strip_checkpoint(&job, &Steps::for_bytes(BIG_CHECKPOINT))?;
    show(&summary.warnings, &summary, args.json, || {
        let mut text = render(&summary);
        if let Some(c) = &summary.report.compact {
            text += &format!("Compacted:\n{}", super::compact::render(c));
        }
        if let Some(a) = &summary.report.accelerate {
            text += &format!("Accelerated:\n{}", super::accelerate::render_tf(a));
        }
        if let Some(t) = &summary.tensor_lists {
            text += &render_tensor_lists(t);
        }
        if let Some(saved) = &summary.written.saved_model {
            text += &render_saved_model(saved);
        }
        text
    });
    Ok(())
}

fn render(summary: &StripSummary) -> String {
    let r = &summary.report.strip;
    let rows: Vec<Vec<String>> = r
        .masked_weights
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.dtype.clone(),
                shape(&m.shape),
                m.elements.to_string(),
                fraction(m.zeros, m.elements),
            ]
        })
        .collect();
    let mut s = format!(
        "tf-strip: checkpoint {}\n          graph {}\n\
         Froze {} variables; folded {} masked weights:\n",
        summary.inputs.checkpoint,
        summary.inputs.graph,
        r.variables_frozen,
        r.masked_weights.len()
    );
    s.push_str(&table(&["masked weight", "dtype", "shape", "elements", "zeros"], &rows));
    let zeros = r.params - r.nonzeros;
    s.push_str(&format!(
        "Nodes {} -> {}; params {}, nonzeros {} ({} zeros); {} in, {} out; {:.3} s\n\
         Final graph written to {}\n",
        r.nodes_in,
        r.nodes_out,
        r.params,
        r.nonzeros,
        percent((r.params > 0).then(|| zeros as f64 / r.params as f64)),
        human_bytes(summary.bytes_in),
        human_bytes(summary.written.bytes_out),
        summary.seconds,
        summary.written.output
    ));
    s
}
