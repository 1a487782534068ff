//! `tf-strip inspect PATH`: a checkpoint (directory or prefix), a GraphDef,
//! a MetaGraphDef or a SavedModel.

use std::path::{Path, PathBuf};

use clap::Args;

use super::render::{human_bytes, percent, print_json, shape, table};
use super::CliError;
use tf_strip::checkpoint::{self, Checkpoint};
use tf_strip::graph::ModelFile;
use tf_strip::inspect::{inspect_checkpoint, inspect_graph, PrunedLayer, TensorRow, Totals};

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
}

fn is_graph(path: &Path) -> bool {
    path.join("saved_model.pb").is_file()
        || path.join("saved_model.pbtxt").is_file()
        || (path.is_file()
            && ["pb", "pbtxt", "pbtext", "meta", "txt"]
                .iter()
                .any(|e| path.extension().is_some_and(|x| x == *e)))
}

pub fn run(args: InspectArgs) -> Result<(), CliError> {
    if super::encode::is_container_file(&args.path) {
        return super::encode::inspect_container(&args.path, args.json);
    }
    if args.encodings {
        return super::encode::print_encodings(&args.path, args.json);
    }
    if is_graph(&args.path) {
        let (file, model) = ModelFile::load(&args.path)?;
        let report = inspect_graph(&file, &model)?;
        if args.json {
            print_json(&report);
            return Ok(());
        }
        print!("{} {} ({} nodes)\n\n", report.kind, report.path, report.nodes);
        let ops: Vec<Vec<String>> = report.ops.iter().map(|(op, n)| vec![op.clone(), n.to_string()]).collect();
        println!("{}", table(&["op", "count"], &ops));
        print_tensors("constant", &report.constants, &report.totals);
        print_pruning(&report.pruning);
        return Ok(());
    }

    let resolved = checkpoint::resolve_prefix(&args.path)?;
    for w in &resolved.warnings {
        eprintln!("tf-strip: warning: {w}");
    }
    let ckpt = Checkpoint::open(&resolved.prefix)?;
    let meta_path = checkpoint::meta_path(&resolved.prefix);
    let meta = match meta_path.is_file() {
        true => Some(ModelFile::load(&meta_path)?.1),
        false => None,
    };
    let report = inspect_checkpoint(&ckpt, meta.as_ref().and_then(ModelFile::graph_def))?;
    if args.json {
        print_json(&report);
        return Ok(());
    }
    print!("checkpoint {} ({} data shard{})\n\n", report.prefix, report.shards, if report.shards == 1 { "" } else { "s" });
    print_tensors("tensor", &report.tensors, &report.totals);
    print_pruning(&report.pruning);
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
