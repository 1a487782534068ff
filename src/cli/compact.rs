//! `tf-strip compact IN.pb OUT.pb`: remove all-zero channels and neurons.

use std::path::PathBuf;

use clap::{ArgAction, Args};

use super::progress::Steps;
use super::render::{percent, render_tensor_lists, show, table, written_line};
use super::signature::{render_saved_model, OutputFormat, SignatureArgs};
use super::CliError;
use tf_strip::graph::Format;
use tf_strip::jobs::{compact_file, CompactJob, GraphOutput};
use tf_strip::transform::compact::{FoldKind, Reason};
use tf_strip::transform::{CompactOptions, CompactReport};

/// Above this much graph, a terminal shows progress.
const BIG_GRAPH: u64 = 64 << 20;

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// A frozen GraphDef (.pb, .pbtxt, or a container from encode), e.g. what strip writes, or a SavedModel of one.
    input: PathBuf,
    /// The compacted GraphDef (or, with --output_format=saved_model, SavedModel directory) to write.
    output: PathBuf,
    /// Output nodes, comma-separated; they keep their shapes. Default: the graph's sinks.
    #[arg(long = "output_node_names", visible_alias = "outputs", default_value = "")]
    output_node_names: String,
    #[command(flatten)]
    shape: CompactFlags,
    /// Also rewrite TF1 TensorArrays into TensorLists, which TFLite's
    /// converter turns into builtin ops.
    #[arg(long = "tensor_lists")]
    tensor_lists: bool,
    /// Write the graph in text format.
    #[arg(long = "as_text", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true")]
    as_text: bool,
    /// What to write: a binary GraphDef, a text one, or a SavedModel directory
    /// TensorFlow Serving loads.
    #[arg(long = "output_format", value_enum, default_value_t)]
    output_format: OutputFormat,
    #[command(flatten)]
    signature: SignatureArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// What `compact` and `strip --compact` share.
#[derive(Debug, Args, Default)]
pub struct CompactFlags {
    /// Keep every layer's channel count a multiple of N (where it has that many).
    #[arg(long = "round_to", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    round_to: u64,
    /// Keep constant channels that reach a padded convolution, instead of
    /// removing them and adding their exact border constant after it.
    #[arg(long = "no_border_constants")]
    no_border_constants: bool,
}

impl CompactFlags {
    /// Whether any flag was given (on strip they need --compact).
    pub fn given(&self) -> bool {
        self.round_to != 1 || self.no_border_constants
    }

    pub fn options(&self, outputs: Vec<String>) -> CompactOptions {
        CompactOptions { outputs, round_to: self.round_to as usize, border_constants: !self.no_border_constants }
    }
}

pub fn run(args: CompactArgs) -> Result<(), CliError> {
    let outputs: Vec<String> =
        args.output_node_names.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    let format = args.output_format.with_as_text(args.as_text)?;
    let write = match format {
        OutputFormat::Pb => GraphOutput::Graph(Format::Binary),
        OutputFormat::Pbtxt => GraphOutput::Graph(Format::Text),
        OutputFormat::SavedModel => GraphOutput::SavedModel(args.signature.spec(format, &outputs)?),
    };
    let job = CompactJob {
        input: args.input.clone(),
        output: args.output.clone(),
        write,
        options: args.shape.options(outputs),
        tensor_lists: args.tensor_lists,
    };
    let summary = compact_file(&job, &Steps::for_bytes(BIG_GRAPH))?;
    show(&summary.warnings, &summary, args.json, || {
        let mut text = render(&summary.report);
        if let Some(t) = &summary.tensor_lists {
            text += &render_tensor_lists(t);
        }
        if let Some(saved) = &summary.written.saved_model {
            text += &render_saved_model(saved);
        }
        text + &written_line(summary.bytes_in, &summary.written, summary.seconds, "Compacted graph")
    });
    Ok(())
}

/// The per-layer table and totals, also printed by `strip --compact`.
pub fn render(r: &CompactReport) -> String {
    let arrow = |[a, b]: [usize; 2]| if a == b { a.to_string() } else { format!("{a} -> {b}") };
    let mflops = |f: Option<[u64; 2]>| f.map_or("?".into(), |[a, b]| format!("{:.2} -> {:.2}", a as f64 / 1e6, b as f64 / 1e6));
    let rows: Vec<Vec<String>> = r
        .layers
        .iter()
        .map(|l| {
            let kept = l.kept.iter().map(|k| format!("{} {}", k.channels, reason(&k.reason))).collect::<Vec<_>>();
            vec![
                l.node.clone(),
                l.op.clone(),
                arrow(l.in_channels),
                arrow(l.out_channels),
                format!("{} -> {}", l.params[0], l.params[1]),
                mflops(l.flops),
                format!("{}/{}", l.zero_channels, l.out_channels[0]),
                if kept.is_empty() { "-".into() } else { kept.join("; ") },
            ]
        })
        .collect();
    let mut s = table(
        &["layer", "op", "in", "out", "params", "MFLOPs", "zero out", "zero channels kept, why"],
        &rows,
    );
    let ratio = |[a, b]: [u64; 2]| percent((a > 0).then(|| b as f64 / a as f64));
    s.push_str(&format!(
        "Params {} -> {} ({}); FLOPs per example {} -> {} ({}); nodes {} -> {}\n",
        r.params[0],
        r.params[1],
        ratio(r.params),
        r.flops[0],
        r.flops[1],
        ratio(r.flops),
        r.nodes[0],
        r.nodes[1],
    ));
    for f in &r.folds {
        s.push_str(&match f.kind {
            FoldKind::Bias => format!("Constant channels into {} folded into the bias {}\n", f.layer, f.into),
            FoldKind::Border => format!("Constant channels into {} (padded) replaced by the border constant {}\n", f.layer, f.into),
        });
    }
    if !r.barriers.is_empty() {
        let ops: Vec<String> = r.barriers.iter().map(|(op, node)| format!("{op} ({node})")).collect();
        s.push_str(&format!("Channels stop at ops compact does not rewrite: {}\n", ops.join(", ")));
    }
    s
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::GraphOutput { node } => format!("graph output {node}"),
        Reason::Barrier { op, node } => format!("barrier {op} {node}"),
        Reason::ConstantThroughPadding { node } => format!("constant through padding at {node}"),
        Reason::ResidualCoupling { node } => format!("residual coupling at {node}"),
        Reason::KeepOne => "the layer keeps one".into(),
        Reason::RoundTo { multiple } => format!("round to {multiple}"),
        Reason::Live => "coupled to a live channel".into(),
    }
}
