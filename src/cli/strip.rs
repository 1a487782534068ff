//! `tf-strip --checkpoint_dir=DIR --output_node_names=a,b --output_dir=DIR`:
//! strip_pruning_vars' flags, defaults and output, without TensorFlow.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{ArgAction, Args};

use super::progress::Steps;
use super::render::{human_bytes, percent, print_json, shape, table};
use super::CliError;
use tf_strip::atomic::AtomicFile;
use tf_strip::checkpoint::{self, Checkpoint};
use tf_strip::graph::{self, collection_nodes, variable_defs, write_message_to, Format, Graph, ModelFile};
use tf_strip::proto::tensorflow::{GraphDef, VariableDef};
use tf_strip::transform::{strip, StripOptions, StripReport, VariableSource};

/// Above this much checkpoint data, a terminal shows progress.
const BIG_CHECKPOINT: u64 = 64 << 20;

#[derive(Debug, Args, Default)]
pub struct StripArgs {
    /// Directory with the checkpoint (its `checkpoint` file names the latest).
    #[arg(long = "checkpoint_dir", visible_alias = "checkpoint-dir", default_value = "")]
    checkpoint_dir: String,
    /// Comma-separated names of the output nodes.
    #[arg(long = "output_node_names", visible_alias = "output-node-names", default_value = "")]
    output_node_names: String,
    /// Directory to write the stripped graph to (created if missing).
    #[arg(long = "output_dir", visible_alias = "output-dir", default_value = "")]
    output_dir: String,
    /// File name of the stripped graph.
    #[arg(long, default_value = "pruning_stripped.pb")]
    filename: String,
    /// A specific checkpoint prefix (e.g. DIR/model.ckpt-1000) instead of the latest.
    #[arg(long, visible_alias = "input_checkpoint", visible_alias = "input-checkpoint")]
    checkpoint: Option<PathBuf>,
    /// MetaGraphDef to use instead of the checkpoint's own `.meta`.
    #[arg(long = "input_meta_graph", visible_alias = "input-meta-graph")]
    input_meta_graph: Option<PathBuf>,
    /// GraphDef (.pb or .pbtxt) to use instead of the checkpoint's `.meta`.
    #[arg(long = "input_graph", visible_alias = "input-graph", conflicts_with = "input_meta_graph")]
    input_graph: Option<PathBuf>,
    /// Write the graph in text format.
    #[arg(long = "as_text", visible_alias = "as-text", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true")]
    as_text: bool,
    /// Keep device placements (TensorFlow's tool clears them).
    #[arg(long = "keep_devices", visible_alias = "keep-devices", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true")]
    keep_devices: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Write the sparse container (`tf-strip decode` restores the .pb) instead of
    /// the .pb; the default file name becomes pruning_stripped.tfsparse.
    #[arg(long, conflicts_with = "as_text")]
    encode: bool,
}

/// The graph to strip and what its MetaGraphDef says about variables.
struct Source {
    path: PathBuf,
    graph: GraphDef,
    variables: Vec<VariableDef>,
    masks: HashSet<String>,
}

fn load_graph(args: &StripArgs, prefix: &Path) -> Result<Source, CliError> {
    if let Some(path) = &args.input_graph {
        let (path, model) = ModelFile::load(path)?;
        let graph = model.graph_def().cloned().unwrap_or_default();
        return Ok(Source { path, graph, variables: Vec::new(), masks: HashSet::new() });
    }
    let path = match &args.input_meta_graph {
        Some(p) => p.clone(),
        None => {
            let meta = checkpoint::meta_path(prefix);
            if !meta.is_file() {
                return Err(CliError::Usage(format!(
                    "{}: the checkpoint's MetaGraphDef is missing; pass --input_meta_graph or --input_graph",
                    meta.display()
                )));
            }
            meta
        }
    };
    let (path, model) = ModelFile::load(&path)?;
    let meta = model.meta_graph().ok_or_else(|| {
        CliError::Usage(format!("{}: not a MetaGraphDef (use --input_graph for a GraphDef)", path.display()))
    })?;
    Ok(Source {
        graph: meta.graph_def.clone().unwrap_or_default(),
        variables: variable_defs(meta),
        masks: collection_nodes(meta, "masks").into_iter().collect(),
        path,
    })
}

fn resolve_checkpoint(args: &StripArgs) -> Result<PathBuf, CliError> {
    let given = match (&args.checkpoint, args.checkpoint_dir.as_str()) {
        (Some(prefix), _) => prefix.clone(),
        (None, "") => {
            return Err(CliError::Usage(
                "no checkpoint given: pass --checkpoint_dir=DIR (or --checkpoint=PREFIX)".into(),
            ))
        }
        (None, dir) => PathBuf::from(dir),
    };
    let resolved = checkpoint::resolve_prefix(&given)?;
    for w in &resolved.warnings {
        eprintln!("tf-strip: warning: {w}");
    }
    Ok(resolved.prefix)
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

/// Refuses to overwrite any file the job reads.
fn check_not_an_input(output: &Path, inputs: &[PathBuf]) -> Result<(), CliError> {
    let Ok(out) = output.canonicalize() else { return Ok(()) };
    for input in inputs {
        if input.canonicalize().is_ok_and(|i| i == out) {
            return Err(CliError::Usage(format!(
                "{}: the output would overwrite an input file; choose another --output_dir or --filename",
                output.display()
            )));
        }
    }
    Ok(())
}

fn open_output(dir: &str, filename: &str) -> Result<(PathBuf, AtomicFile), CliError> {
    let dir = if dir.is_empty() { Path::new(".") } else { Path::new(dir) };
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io { path: dir.to_path_buf(), source })?;
    let path = dir.join(filename);
    let file = AtomicFile::create(&path).map_err(|source| CliError::Io { path: dir.to_path_buf(), source })?;
    Ok((path, file))
}

pub fn run(args: StripArgs) -> Result<(), CliError> {
    let start = Instant::now();
    let outputs = output_names(&args)?;
    let prefix = resolve_checkpoint(&args)?;
    let source = load_graph(&args, &prefix)?;
    let mut graph = Graph::new(source.graph).map_err(|e| e.in_file(&source.path))?;
    for name in &outputs {
        graph.require(graph::node_name(name))?;
    }

    let ckpt = Checkpoint::open(&prefix)?;
    let mut inputs: Vec<PathBuf> = ckpt.data_paths().to_vec();
    inputs.push(checkpoint::index_path(&prefix));
    inputs.push(source.path.clone());
    let filename = match args.encode && args.filename == "pruning_stripped.pb" {
        true => "pruning_stripped.tfsparse",
        false => args.filename.as_str(),
    };
    let (out_path, mut out) = open_output(&args.output_dir, filename)?;
    check_not_an_input(&out_path, &inputs)?;

    let bytes_in: u64 = inputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let steps = Steps::new(bytes_in > BIG_CHECKPOINT);
    steps.step("freezing variables and folding masks");
    let options = StripOptions { outputs, keep_devices: args.keep_devices, masks: source.masks };
    let variables = VariableSource::new(&ckpt, &source.variables);
    let report = strip(&mut graph, &variables, &options)?;

    steps.step("writing the stripped graph");
    let format = if args.as_text { Format::Text } else { Format::Binary };
    let bytes_out = if args.encode {
        let mut pb = Vec::new();
        write_message_to(&mut pb, &out_path, graph.def(), format)?;
        let (container, _) = tf_strip::codec::encode(&pb, &Default::default());
        std::io::Write::write_all(&mut out, &container)
            .map_err(|source| CliError::Io { path: out_path.clone(), source })?;
        container.len() as u64
    } else {
        write_message_to(&mut out, &out_path, graph.def(), format)?
    };
    out.commit().map_err(|source| CliError::Io { path: out_path.clone(), source })?;
    drop(steps);
    // The process ends right after the report: unmapping hundreds of MB of
    // folded weights one by one would only delay the exit.
    std::mem::forget(graph);

    let summary = Summary {
        checkpoint: prefix.display().to_string(),
        graph: source.path.display().to_string(),
        output: out_path.display().to_string(),
        bytes_in,
        bytes_out,
        seconds: start.elapsed().as_secs_f64(),
        report,
    };
    if args.json {
        print_json(&summary);
    } else {
        eprint!("{}", summary.render());
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct Summary {
    checkpoint: String,
    graph: String,
    output: String,
    bytes_in: u64,
    bytes_out: u64,
    seconds: f64,
    #[serde(flatten)]
    report: StripReport,
}

impl Summary {
    fn render(&self) -> String {
        let r = &self.report;
        let rows: Vec<Vec<String>> = r
            .masked_weights
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    m.dtype.clone(),
                    shape(&m.shape),
                    m.elements.to_string(),
                    percent((m.elements > 0).then(|| m.zeros as f64 / m.elements as f64)),
                ]
            })
            .collect();
        let mut s = format!(
            "tf-strip: checkpoint {}\n          graph {}\n\
             Froze {} variables; folded {} masked weights:\n",
            self.checkpoint,
            self.graph,
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
            human_bytes(self.bytes_in),
            human_bytes(self.bytes_out),
            self.seconds,
            self.output
        ));
        s
    }
}
