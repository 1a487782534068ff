//! The transforms past the parsers: graphs that decode fine but are hostile
//! in structure reach strip (freeze, fold, extract), inspect (graph, and
//! checkpoint with the graph as meta), inject (default and fuzzer-chosen
//! hparams), `encode --tf-loadable`, compact and the TensorList rewrite (of
//! the stripped graph and of the graph itself). A graph is either built from a small
//! vocabulary of op names, pruning-style node names (`*/mask`, `*/weights`,
//! `global_step`, ...), inputs (ports, `^control`, self references, cycles,
//! dangling and malformed names) and attrs (dtype, T, shape, small value
//! tensors), or a `testdata/` fixture graph with fuzzer-chosen edits, run
//! against that fixture's checkpoint. An input starting with `P` is a raw
//! MetaGraphDef or GraphDef instead (how scripts/fuzz seeds the fixtures).
//! Errors are fine; anything else is a bug.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tf_strip::checkpoint::{Checkpoint, CheckpointWriter, Slice, Tensor, TensorData};
use tf_strip::transform::loadable::{self, LoadableOptions};
use tf_strip::graph::{collection_nodes, variable_defs, Graph};
use tf_strip::model::{Model, ModelKind};
use tf_strip::proto::tensorflow::attr_value::{ListValue, Value};
use tf_strip::proto::tensorflow::collection_def::{BytesList, Kind, NodeList};
use tf_strip::proto::tensorflow::tensor_shape_proto::Dim;
use tf_strip::proto::tensorflow::{
    AttrValue, CollectionDef, DataType, GraphDef, MetaGraphDef, NodeDef, SaveSliceInfoDef, SaverDef, TensorProto, TensorShapeProto,
    VariableDef,
};
use tf_strip::transform::{self, CompactOptions, InjectOptions, StripOptions, VariableSource};
use tf_strip::transform::inject::{PruningHparams, Structure};

const OPS: &[&str] = &[
    "Const", "VariableV2", "Variable", "VarHandleOp", "ReadVariableOp", "ResourceGather", "Identity", "Snapshot",
    "StopGradient", "Mul", "MatMul", "BatchMatMul", "Conv2D", "DepthwiseConv2dNative", "ConcatV2", "Enter", "Exit",
    "Merge", "Switch", "NextIteration", "LoopCond", "RefEnter", "RefSwitch", "RefMerge", "RefExit",
    "RefNextIteration", "RefIdentity", "Placeholder", "Assign", "AssignVariableOp", "AssignAdd", "NoOp", "Add",
    "ApplyGradientDescent", "ResourceApplyGradientDescent", "Reshape", "Softmax", "SaveV2", "RestoreV2",
    "ScalarSummary", "BiasAdd", "FusedBatchNormV3", "Relu", "Relu6", "AddV2", "MaxPool", "AvgPool", "Mean",
    "Squeeze", "Pad", "Split", "SplitV", "TensorArrayV3", "TensorArrayReadV3", "TensorArrayWriteV3",
    "TensorArrayScatterV3", "TensorArrayGatherV3", "TensorArraySizeV3", "Range", "Shape", "StridedSlice",
];
const NAMES: &[&str] = &["global_step", "x", "input", "out", "softmax", "train_op", "save/Const", "model_pruning"];
const SCOPES: &[&str] = &["fc1", "conv1", "layer", "part", "fc1/weights", "gradients/fc1", "model_pruning", "while"];
const LEAVES: &[&str] = &[
    "weights", "mask", "threshold", "masked_weight", "read", "kernel", "bias", "mask/read", "weights/read",
    "weights/part_0", "weights/part_1", "mask/part_0", "Assign", "axis", "MatMul", "Enter", "Merge",
    "NextIteration", "Switch", "Exit",
];
const ATTRS: &[&str] = &[
    "dtype", "T", "shape", "value", "N", "Tidx", "Tindices", "Tparams", "batch_dims", "transpose_a", "_class",
    "container", "shared_name", "_output_shapes", "data_format", "strides", "padding", "frame_name",
    "element_shape", "dynamic_size", "shrink_axis_mask",
];

#[derive(Arbitrary, Debug)]
enum Name {
    Vocab(u8),
    Scoped(u8, u8),
    Raw(String),
}

impl Name {
    fn render(&self) -> String {
        match self {
            Name::Vocab(i) => pick(NAMES, *i).to_string(),
            Name::Scoped(s, l) => format!("{}/{}", pick(SCOPES, *s), pick(LEAVES, *l)),
            Name::Raw(s) => s.clone(),
        }
    }
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

#[derive(Arbitrary, Debug)]
enum Op {
    Vocab(u8),
    Raw(String),
}

impl Op {
    fn render(&self) -> String {
        match self {
            Op::Vocab(i) => pick(OPS, *i).to_string(),
            Op::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// Another node of the graph (by position, so self references and cycles come easily).
    Node { at: u16, port: u8, control: bool },
    Named { name: Name, port: u8, control: bool },
    Raw(String),
}

impl Input {
    fn render(&self, names: &[String]) -> String {
        let reference = |name: &str, port: u8, control: bool| match (control, port) {
            (true, _) => format!("^{name}"),
            (false, 0) => name.to_string(),
            (false, p) => format!("{name}:{}", p % 4),
        };
        match self {
            Input::Node { at, port, control } if !names.is_empty() => {
                reference(&names[*at as usize % names.len()], *port, *control)
            }
            Input::Node { port, control, .. } => reference("missing", *port, *control),
            Input::Named { name, port, control } => reference(&name.render(), *port, *control),
            Input::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dtype {
    Float,
    Double,
    Int32,
    Int64,
    Bool,
    String,
    Resource,
    FloatRef,
    Half,
    Int8,
    Complex64,
    Raw(i32),
}

impl Dtype {
    fn code(self) -> i32 {
        match self {
            Dtype::Float => DataType::DtFloat as i32,
            Dtype::Double => DataType::DtDouble as i32,
            Dtype::Int32 => DataType::DtInt32 as i32,
            Dtype::Int64 => DataType::DtInt64 as i32,
            Dtype::Bool => DataType::DtBool as i32,
            Dtype::String => DataType::DtString as i32,
            Dtype::Resource => DataType::DtResource as i32,
            Dtype::FloatRef => DataType::DtFloatRef as i32,
            Dtype::Half => DataType::DtHalf as i32,
            Dtype::Int8 => DataType::DtInt8 as i32,
            Dtype::Complex64 => DataType::DtComplex64 as i32,
            Dtype::Raw(t) => t,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Dimension {
    Small(u8),
    Unknown,
    /// Powers of two, so that a few dimensions multiply past any memory (or 64 bits).
    Power(u8),
    Any(i64),
}

fn shape(dims: &[Dimension], unknown_rank: bool) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| Dim {
                size: match d {
                    Dimension::Small(n) => i64::from(n % 6),
                    Dimension::Unknown => -1,
                    Dimension::Power(n) => 1 << (n % 63),
                    Dimension::Any(n) => *n,
                },
                name: String::new(),
            })
            .collect(),
        unknown_rank,
    }
}

#[derive(Arbitrary, Debug)]
enum Content {
    Bytes(Vec<u8>),
    Floats(Vec<f32>),
    Doubles(Vec<f64>),
    Ints(Vec<i32>),
    Int64s(Vec<i64>),
    Bools(Vec<bool>),
    Halfs(Vec<i32>),
    Strings(Vec<Vec<u8>>),
}

#[derive(Arbitrary, Debug)]
struct Value_ {
    dtype: Dtype,
    dims: Vec<Dimension>,
    content: Content,
}

impl Value_ {
    fn proto(&self) -> TensorProto {
        let mut t = TensorProto {
            dtype: self.dtype.code(),
            tensor_shape: Some(shape(&self.dims, false)),
            ..Default::default()
        };
        match &self.content {
            Content::Bytes(b) => t.tensor_content = Bytes::from(b.clone()),
            Content::Floats(v) => t.float_val = v.clone(),
            Content::Doubles(v) => t.double_val = v.clone(),
            Content::Ints(v) => t.int_val = v.clone(),
            Content::Int64s(v) => t.int64_val = v.clone(),
            Content::Bools(v) => t.bool_val = v.clone(),
            Content::Halfs(v) => t.half_val = v.clone(),
            Content::Strings(v) => t.string_val = v.iter().map(|s| Bytes::from(s.clone())).collect(),
        }
        t
    }
}

#[derive(Arbitrary, Debug)]
enum Attr {
    Type(u8, Dtype),
    Shape(u8, Vec<Dimension>, bool),
    Tensor(u8, Value_),
    Int(u8, i64),
    Bool(u8, bool),
    Str(u8, String),
    Colocate(Name),
    Ints(u8, Vec<i64>),
    Shapes(u8, Vec<Vec<Dimension>>),
}

impl Attr {
    fn apply(&self, node: &mut NodeDef) {
        let (key, value) = match self {
            Attr::Type(k, t) => (pick(ATTRS, *k), Value::Type(t.code())),
            Attr::Shape(k, dims, unknown) => (pick(ATTRS, *k), Value::Shape(shape(dims, *unknown))),
            Attr::Tensor(k, v) => (pick(ATTRS, *k), Value::Tensor(v.proto())),
            Attr::Int(k, i) => (pick(ATTRS, *k), Value::I(*i)),
            Attr::Bool(k, b) => (pick(ATTRS, *k), Value::B(*b)),
            Attr::Str(k, s) => (pick(ATTRS, *k), Value::S(Bytes::from(s.clone()))),
            Attr::Colocate(n) => (
                "_class",
                Value::List(ListValue { s: vec![Bytes::from(format!("loc:@{}", n.render()))], ..Default::default() }),
            ),
            Attr::Ints(k, v) => (pick(ATTRS, *k), Value::List(ListValue { i: v.clone(), ..Default::default() })),
            Attr::Shapes(k, v) => (
                pick(ATTRS, *k),
                Value::List(ListValue { shape: v.iter().map(|d| shape(d, false)).collect(), ..Default::default() }),
            ),
        };
        node.attr.insert(key.to_string(), AttrValue { value: Some(value) });
    }
}

#[derive(Arbitrary, Debug)]
struct Node {
    name: Name,
    op: Op,
    inputs: Vec<Input>,
    attrs: Vec<Attr>,
}

impl Node {
    fn build(&self, names: &[String]) -> NodeDef {
        let mut node = NodeDef {
            name: self.name.render(),
            op: self.op.render(),
            input: self.inputs.iter().map(|i| i.render(names)).collect(),
            ..Default::default()
        };
        for a in &self.attrs {
            a.apply(&mut node);
        }
        node
    }
}

/// Edits of a fixture graph; node positions wrap around the current graph.
#[derive(Arbitrary, Debug)]
enum Edit {
    Remove(u16),
    SetOp(u16, Op),
    Rename(u16, Name),
    AddInput(u16, Input),
    RemoveInput(u16, u8),
    ReplaceInput(u16, u8, Input),
    SetAttr(u16, Attr),
    RemoveAttr(u16, u8),
    Add(Node),
    /// A copy of a node under its own name: a duplicate.
    Duplicate(u16),
    DropCollection(u8),
    DropSaver,
}

impl Edit {
    fn apply(&self, meta: &mut MetaGraphDef) {
        let def = meta.graph_def.get_or_insert_with(Default::default);
        let names: Vec<String> = def.node.iter().map(|n| n.name.clone()).collect();
        let len = def.node.len();
        let at = |i: u16| (len > 0).then(|| i as usize % len);
        match self {
            Edit::Remove(i) => {
                if let Some(i) = at(*i) {
                    def.node.remove(i);
                }
            }
            Edit::SetOp(i, op) => at(*i).into_iter().for_each(|i| def.node[i].op = op.render()),
            Edit::Rename(i, name) => at(*i).into_iter().for_each(|i| def.node[i].name = name.render()),
            Edit::AddInput(i, input) => at(*i).into_iter().for_each(|i| def.node[i].input.push(input.render(&names))),
            Edit::RemoveInput(i, k) => at(*i).into_iter().for_each(|i| {
                let inputs = &mut def.node[i].input;
                if !inputs.is_empty() {
                    inputs.remove(*k as usize % inputs.len());
                }
            }),
            Edit::ReplaceInput(i, k, input) => at(*i).into_iter().for_each(|i| {
                let inputs = &mut def.node[i].input;
                if !inputs.is_empty() {
                    let k = *k as usize % inputs.len();
                    inputs[k] = input.render(&names);
                }
            }),
            Edit::SetAttr(i, a) => at(*i).into_iter().for_each(|i| a.apply(&mut def.node[i])),
            Edit::RemoveAttr(i, k) => at(*i).into_iter().for_each(|i| {
                let attrs = &mut def.node[i].attr;
                if let Some(key) = attrs.keys().nth(*k as usize % attrs.len().max(1)).cloned() {
                    attrs.remove(&key);
                }
            }),
            Edit::Add(node) => def.node.push(node.build(&names)),
            Edit::Duplicate(i) => {
                if let Some(i) = at(*i) {
                    let copy = def.node[i].clone();
                    def.node.push(copy);
                }
            }
            Edit::DropCollection(k) => {
                if let Some(key) = meta.collection_def.keys().nth(*k as usize % meta.collection_def.len().max(1)).cloned() {
                    meta.collection_def.remove(&key);
                }
            }
            Edit::DropSaver => meta.saver_def = None,
        }
    }
}

/// One slice of the synthetic checkpoint's partitioned variable, as a
/// `variables` collection entry may claim it.
#[derive(Arbitrary, Debug)]
struct SliceClaim {
    variable: Name,
    full_name: Name,
    offset: Vec<i64>,
    shape: Vec<i64>,
}

#[derive(Arbitrary, Debug)]
enum Hparam {
    Parse(String),
    Name(Name),
    Begin(i64),
    End(i64),
    Frequency(i64),
    Nbins(i64),
    BlockHeight(i64),
    BlockWidth(i64),
    Max(bool),
    Initial(f64),
    Target(f64),
    Decay(f64),
    FunctionBegin(i64),
    FunctionEnd(i64),
    Exponent(f64),
    WeightSparsity(Vec<String>),
    BlockDims(Vec<String>),
    Tpu(bool),
}

impl Hparam {
    fn apply(&self, hp: &mut PruningHparams) {
        match self {
            Hparam::Parse(s) => {
                if let Ok(parsed) = PruningHparams::parse(s) {
                    *hp = parsed;
                }
            }
            Hparam::Name(n) => hp.name = n.render(),
            Hparam::Begin(v) => hp.begin_pruning_step = *v,
            Hparam::End(v) => hp.end_pruning_step = *v,
            Hparam::Frequency(v) => hp.pruning_frequency = *v,
            Hparam::Nbins(v) => hp.nbins = *v,
            Hparam::BlockHeight(v) => hp.block_height = *v,
            Hparam::BlockWidth(v) => hp.block_width = *v,
            Hparam::Max(max) => hp.block_pooling_function = if *max { "MAX" } else { "AVG" }.into(),
            Hparam::Initial(v) => hp.initial_sparsity = *v,
            Hparam::Target(v) => hp.target_sparsity = *v,
            Hparam::Decay(v) => hp.threshold_decay = *v,
            Hparam::FunctionBegin(v) => hp.sparsity_function_begin_step = *v,
            Hparam::FunctionEnd(v) => hp.sparsity_function_end_step = *v,
            Hparam::Exponent(v) => hp.sparsity_function_exponent = *v,
            Hparam::WeightSparsity(v) => hp.weight_sparsity_map = v.clone(),
            Hparam::BlockDims(v) => hp.block_dims_map = v.clone(),
            Hparam::Tpu(v) => hp.use_tpu = *v,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Base {
    Fixture(u8),
    Built { nodes: Vec<Node>, slices: Vec<SliceClaim>, masks: Vec<Name>, saver: bool },
}

#[derive(Arbitrary, Debug)]
struct Case {
    base: Base,
    edits: Vec<Edit>,
    outputs: Vec<Input>,
    keep_devices: bool,
    hparams: Vec<Hparam>,
    channel: bool,
    weights: Option<String>,
    train_op: Option<Input>,
    require_saver: bool,
    min_bytes: u16,
    max_ratio: f64,
}

struct Fixture {
    meta: MetaGraphDef,
    checkpoint: Checkpoint,
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Every fixture's MetaGraphDef and stripped GraphDef, each with the
/// checkpoint TensorFlow wrote beside it.
fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(testdata()).unwrap().map(|e| e.unwrap().path()).collect();
        dirs.sort();
        let mut out = Vec::new();
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            let Some(meta_path) = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|x| x == "meta"))
            else {
                continue;
            };
            let prefix = meta_path.with_extension("");
            let meta = MetaGraphDef::decode(std::fs::read(&meta_path).unwrap().as_slice()).unwrap();
            out.push(Fixture { meta, checkpoint: Checkpoint::open(&prefix).unwrap() });
            if let Ok(pb) = std::fs::read(dir.join("expected/stripped.pb")) {
                let graph = GraphDef::decode(pb.as_slice()).unwrap();
                let meta = MetaGraphDef { graph_def: Some(graph), ..Default::default() };
                out.push(Fixture { meta, checkpoint: Checkpoint::open(&prefix).unwrap() });
            }
        }
        out
    })
}

fn f32s(shape: &[u64], values: &[f32]) -> Tensor {
    Tensor {
        dtype: DataType::DtFloat,
        shape: shape.to_vec(),
        data: TensorData::Pod(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()),
    }
}

/// A checkpoint for the built graphs, holding some of the vocabulary's
/// variables (and one partitioned variable), written once and read from memory.
fn synthetic() -> &'static Checkpoint {
    static CHECKPOINT: OnceLock<Checkpoint> = OnceLock::new();
    CHECKPOINT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tf-strip-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let prefix = dir.join("model.ckpt");
        let mut w = CheckpointWriter::create(&prefix).unwrap();
        let weights = f32s(&[2, 3], &[-1.5, 0.25, 3.0, -0.0, 2.0, -4.0]);
        let mask = f32s(&[2, 3], &[0.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
        for scope in ["fc1", "conv1", "layer"] {
            w.add(&format!("{scope}/weights"), &weights).unwrap();
            w.add(&format!("{scope}/mask"), &mask).unwrap();
            w.add(&format!("{scope}/threshold"), &f32s(&[], &[0.5])).unwrap();
        }
        w.add("x", &f32s(&[3], &[1.0, 2.0, 3.0])).unwrap();
        let step = Tensor { dtype: DataType::DtInt64, shape: vec![], data: TensorData::Pod(7i64.to_le_bytes().to_vec().into()) };
        w.add("global_step", &step).unwrap();
        for (i, rows) in [(0u64, [1.0f32, 2.0]), (1, [3.0, 4.0])] {
            let slice = Slice { start: vec![i, 0], shape: vec![1, 2] };
            w.add_slice("part/weights", &[2, 2], &slice, &f32s(&[1, 2], &rows)).unwrap();
        }
        w.finish().unwrap();
        let read = |p: PathBuf| std::fs::read(p).unwrap();
        let index = read(tf_strip::checkpoint::index_path(&prefix));
        let data = Bytes::from(read(tf_strip::checkpoint::data_path(&prefix, 0, 1)));
        std::fs::remove_dir_all(&dir).unwrap();
        Checkpoint::from_memory(&prefix, &index, vec![data]).unwrap()
    })
}

fn node_list(names: Vec<String>) -> CollectionDef {
    CollectionDef { kind: Some(Kind::NodeList(NodeList { value: names })) }
}

fn built(nodes: &[Node], slices: &[SliceClaim], masks: &[Name], saver: bool) -> MetaGraphDef {
    let names: Vec<String> = nodes.iter().map(|n| n.name.render()).collect();
    let def = GraphDef { node: nodes.iter().map(|n| n.build(&names)).collect(), ..Default::default() };
    let variables: Vec<Bytes> = def
        .node
        .iter()
        .filter(|n| tf_strip::graph::is_variable(n))
        .map(|n| VariableDef { variable_name: format!("{}:0", n.name), trainable: true, ..Default::default() })
        .chain(slices.iter().map(|s| VariableDef {
            variable_name: s.variable.render(),
            save_slice_info_def: Some(SaveSliceInfoDef {
                full_name: s.full_name.render(),
                full_shape: vec![2, 2],
                var_offset: s.offset.clone(),
                var_shape: s.shape.clone(),
            }),
            ..Default::default()
        }))
        .map(|v| v.encode_to_vec().into())
        .collect();
    let mut meta = MetaGraphDef { graph_def: Some(def), ..Default::default() };
    meta.collection_def.insert("variables".into(), CollectionDef { kind: Some(Kind::BytesList(BytesList { value: variables })) });
    meta.collection_def.insert("masks".into(), node_list(masks.iter().map(Name::render).collect()));
    if saver {
        meta.saver_def = Some(SaverDef {
            filename_tensor_name: "save/Const:0".into(),
            save_tensor_name: "save/control_dependency:0".into(),
            restore_op_name: "save/restore_all".into(),
            ..Default::default()
        });
    }
    meta
}

/// What every command does with the graph; the checkpoint backs strip and inspect.
fn exercise(meta: &MetaGraphDef, checkpoint: &Checkpoint, case: Option<&Case>) {
    let def = meta.graph_def.clone().unwrap_or_default();
    let names: Vec<String> = def.node.iter().map(|n| n.name.clone()).collect();

    // What Model::load makes of the file, when it accepts it.
    let model = |with_meta: bool| {
        Graph::new(def.clone()).ok().map(|graph| Model {
            path: "fuzz.meta".into(),
            kind: if with_meta { ModelKind::MetaGraphDef } else { ModelKind::GraphDef },
            graph,
            meta: with_meta.then(|| MetaGraphDef { graph_def: None, ..meta.clone() }),
        })
    };
    if let Some(m) = model(true) {
        let _ = tf_strip::inspect::inspect_graph(&m);
        let _ = tf_strip::inspect::inspect_checkpoint(checkpoint, Some(&m));
    }

    let mut outputs: Vec<String> = case.map_or(Vec::new(), |c| c.outputs.iter().map(|o| o.render(&names)).collect());
    if outputs.is_empty() {
        outputs.extend(names.last().cloned());
    }
    let options = StripOptions {
        outputs,
        keep_devices: case.is_some_and(|c| c.keep_devices),
        masks: collection_nodes(meta, "masks").into_iter().collect(),
    };
    let source = VariableSource::new(checkpoint, &variable_defs(meta));
    if let Ok(mut graph) = Graph::new(def.clone()) {
        if transform::strip(&mut graph, &source, &options).is_ok() {
            let stripped = graph.into_def();
            Graph::new(stripped.clone()).expect("strip's output is a valid graph");
            let _ = loadable::encode(&stripped.encode_to_vec(), &LoadableOptions::default());
            let mut graph = Graph::new(stripped.clone()).expect("valid");
            let compact_options = CompactOptions { outputs: options.outputs.clone(), ..Default::default() };
            if transform::compact(&mut graph, &compact_options).is_ok() {
                Graph::new(graph.into_def()).expect("compact's output is a valid graph");
            }
            let mut graph = Graph::new(stripped).expect("valid");
            if transform::tensor_arrays_to_lists(&mut graph).is_ok() {
                Graph::new(graph.into_def()).expect("tensor_arrays_to_lists' output is a valid graph");
            }
        }
    }
    // Frozen graphs are what compact and the TensorList rewrite read, but
    // they must survive anything.
    if let Ok(mut graph) = Graph::new(def.clone()) {
        if transform::compact(&mut graph, &CompactOptions::default()).is_ok() {
            Graph::new(graph.into_def()).expect("compact's output is a valid graph");
        }
    }
    if let Ok(mut graph) = Graph::new(def.clone()) {
        if transform::tensor_arrays_to_lists(&mut graph).is_ok() {
            Graph::new(graph.into_def()).expect("tensor_arrays_to_lists' output is a valid graph");
        }
    }

    let mut loadable_options = LoadableOptions::default();
    if let Some(c) = case {
        loadable_options.min_bytes = usize::from(c.min_bytes);
        loadable_options.max_ratio = c.max_ratio;
    }
    for opts in [LoadableOptions::default(), loadable_options] {
        if let Ok((pb, _)) = loadable::encode(&def.encode_to_vec(), &opts) {
            let out = GraphDef::decode(pb.as_slice()).expect("encode writes a GraphDef");
            Graph::new(out).expect("encode's output is a valid graph");
        }
    }

    let mut injections = vec![InjectOptions::default()];
    if let Some(c) = case {
        let mut hparams = PruningHparams::default();
        for h in &c.hparams {
            h.apply(&mut hparams);
        }
        injections.push(InjectOptions {
            hparams,
            weights: c.weights.iter().filter_map(|w| regex::Regex::new(w).ok()).collect(),
            exclude: Vec::new(),
            structure: if c.channel { Structure::Channel } else { Structure::Elementwise },
            train_op: c.train_op.as_ref().map(|t| t.render(&names)),
        });
    }
    for (i, opts) in injections.iter().enumerate() {
        // A MetaGraphDef must come with a saver; a bare GraphDef has none.
        let with_meta = case.is_some_and(|c| c.require_saver) && i > 0;
        let Some(mut injected) = model(with_meta) else { break };
        if transform::inject(&mut injected, opts).is_ok() {
            Graph::new(injected.graph.into_def()).expect("inject's output is a valid graph");
        }
    }
}

fuzz_target!(
    init: {
        // The tensors are tiny: worker threads would only contend for the
        // shared cores, and one thread keeps every run deterministic.
        rayon::ThreadPoolBuilder::new().num_threads(1).build_global().unwrap();
    },
    |data: &[u8]| {
    if let Some(raw) = data.strip_prefix(b"P") {
        let meta = match MetaGraphDef::decode(raw) {
            Ok(meta) if meta.graph_def.is_some() => meta,
            _ => match GraphDef::decode(raw) {
                Ok(def) => MetaGraphDef { graph_def: Some(def), ..Default::default() },
                Err(_) => return,
            },
        };
        exercise(&meta, synthetic(), None);
        return;
    }
    let Ok(case) = Case::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let (mut meta, checkpoint) = match &case.base {
        Base::Fixture(i) => {
            let f = &fixtures()[*i as usize % fixtures().len()];
            (f.meta.clone(), &f.checkpoint)
        }
        Base::Built { nodes, slices, masks, saver } => (built(nodes, slices, masks, *saver), synthetic()),
    };
    for edit in &case.edits {
        edit.apply(&mut meta);
    }
    exercise(&meta, checkpoint, Some(&case));
});
