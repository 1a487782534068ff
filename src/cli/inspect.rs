//! `tf-strip inspect PATH`: a checkpoint (directory or prefix), a GraphDef,
//! a MetaGraphDef or a SavedModel.

use std::path::{Path, PathBuf};

use clap::Args;

use super::render::{container_table, fraction, human_bytes, percent, print_json, shape, signature_table, table};
use super::CliError;
use tf_strip::codec;
use tf_strip::inspect::{PrunedLayer, TensorRow, Totals};
use tf_strip::jobs::{inspect_path, write_tensorboard, Inspection};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Checkpoint directory or prefix, .pb/.pbtxt, .meta, or SavedModel directory.
    path: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// For a graph: the bytes each sparse/dense encoding would take per constant.
    #[arg(long)]
    encodings: bool,
    /// Also write the graph into a TensorBoard events file in LOGDIR
    /// (`tensorboard --logdir LOGDIR` shows it on the Graphs tab).
    #[arg(long, value_name = "LOGDIR")]
    tensorboard: Option<PathBuf>,
}

pub fn run(args: InspectArgs) -> Result<(), CliError> {
    // First, so a model without a graph fails before any report is printed.
    if let Some(logdir) = &args.tensorboard {
        let events = write_tensorboard(&args.path, logdir)?;
        eprintln!("tensorboard: wrote {} (tensorboard --logdir {})", events.display(), logdir.display());
    }
    report(&args)
}

fn report(args: &InspectArgs) -> Result<(), CliError> {
    match inspect_path(&args.path, args.encodings)? {
        Inspection::Container { bytes, tensors } => print_container(&args.path, bytes, &tensors, args.json),
        Inspection::Encodings(estimates) => print_encodings(&estimates, args.json),
        Inspection::Graph(report) if args.json => print_json(&report),
        Inspection::Graph(report) => {
            print!("{} {} ({} nodes)\n\n", report.kind, report.path, report.nodes);
            let ops: Vec<Vec<String>> = report.ops.iter().map(|(op, n)| vec![op.clone(), n.to_string()]).collect();
            println!("{}", table(&["op", "count"], &ops));
            if !report.signatures.is_empty() {
                println!("{}", signature_table(&report.signatures));
            }
            print_tensors("constant", &report.constants, &report.totals);
            print_pruning(&report.pruning);
        }
        Inspection::Checkpoint { report, warnings } => {
            for w in &warnings {
                eprintln!("tf-strip: warning: {w}");
            }
            if args.json {
                print_json(&report);
                return Ok(());
            }
            let shards = if report.shards == 1 { "" } else { "s" };
            print!("checkpoint {} ({} data shard{shards})\n\n", report.prefix, report.shards);
            print_tensors("tensor", &report.tensors, &report.totals);
            print_pruning(&report.pruning);
        }
    }
    Ok(())
}

fn print_tensors(what: &str, rows: &[TensorRow], totals: &Totals) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let name = match r.partitions {
                0 => r.name.clone(),
                n => format!("{} ({n} parts)", r.name),
            };
            vec![name, r.dtype.clone(), shape(&r.shape), human_bytes(r.bytes), percent(r.zero_fraction)]
        })
        .collect();
    print!("{}", table(&[what, "dtype", "shape", "bytes", "zeros"], &cells));
    let zero_fraction = (totals.elements > 0).then(|| totals.zeros as f64 / totals.elements as f64);
    print!(
        "total: {} {what}s, {} elements, {} zeros, {}\n\n",
        totals.tensors,
        totals.elements,
        percent(zero_fraction),
        human_bytes(totals.bytes)
    );
}

fn print_pruning(layers: &[PrunedLayer]) {
    if layers.is_empty() {
        println!("no pruning structure (weight/mask/threshold) found");
        return;
    }
    let rows: Vec<Vec<String>> = layers
        .iter()
        .map(|l| {
            vec![
                l.weight.clone(),
                l.mask.clone(),
                l.threshold_value.map_or_else(|| "-".into(), |t| format!("{t:.6}")),
                l.elements.to_string(),
                percent(Some(l.mask_sparsity)),
                percent(Some(l.masked_weight_sparsity)),
            ]
        })
        .collect();
    println!("pruned layers:");
    print!(
        "{}",
        table(&["weight", "mask", "threshold", "elements", "mask zeros", "mask*weight zeros"], &rows)
    );
}

/// `inspect CONTAINER`: the tensors it holds and what each takes.
fn print_container(path: &Path, bytes: u64, tensors: &[codec::TensorInfo], json: bool) {
    if json {
        print_json(&tensors);
        return;
    }
    print!(
        "tf-strip sparse container {} ({})\n\n{}",
        path.display(),
        human_bytes(bytes),
        container_table(tensors)
    );
}

/// `inspect --encodings GRAPH`: per large constant, the bytes each encoding would take.
fn print_encodings(est: &[codec::Estimate], json: bool) {
    if json {
        print_json(&est);
        return;
    }
    let rows: Vec<Vec<String>> = est
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.dtype.clone(),
                e.elements.to_string(),
                fraction(e.zeros, e.elements),
                human_bytes(e.raw),
                human_bytes(e.zstd),
                human_bytes(e.dense),
                human_bytes(e.sparse),
                human_bytes(e.bitmask),
                human_bytes(e.bound as u64),
            ]
        })
        .collect();
    println!("bytes each encoding would take (constants of at least 1 KiB):");
    print!(
        "{}",
        table(
            &[
                "constant",
                "dtype",
                "elements",
                "zeros",
                "raw",
                "zstd -3",
                "planes",
                "sparse",
                "bitmask+values",
                "entropy bound"
            ],
            &rows
        )
    );
    let sum = |f: fn(&codec::Estimate) -> u64| est.iter().map(f).sum::<u64>();
    println!(
        "total: raw {}, zstd -3 {}, planes {}, sparse {}, bitmask+values (tf-loadable) {}, bound {}",
        human_bytes(sum(|e| e.raw)),
        human_bytes(sum(|e| e.zstd)),
        human_bytes(sum(|e| e.dense)),
        human_bytes(sum(|e| e.sparse)),
        human_bytes(sum(|e| e.bitmask)),
        human_bytes(est.iter().map(|e| e.bound).sum::<f64>() as u64)
    );
}
