//! The in-memory model every command works on: a `GraphDef` with an index
//! from node names to positions, and the parsing of TensorFlow's input
//! strings (`node`, `node:1`, `^node`).

mod attrs;
mod builder;
mod constants;
mod io;
mod meta;
pub mod ops;
mod query;
mod sink;
pub mod statics;
mod subgraph;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

pub use attrs::Attrs;
pub use builder::NodeBuilder;
pub use constants::{const_behind, const_float_shape, const_int, const_ints, const_tensor, packed_ints};
pub use io::{read_message, write_message, write_message_to, Format, ModelFile};
pub use meta::{collection_names, collection_nodes, variable_defs};
pub use ops::is_variable;
pub use query::{behind, data_input_positions, Behind, Inputs, Readers, Through, Use};
pub use statics::Statics;
pub use subgraph::{extract_subgraph, reachable_from, sinks};

use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{AttrValue, FunctionDef, GraphDef, NodeDef};

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Io(#[from] crate::error::FileError),
    /// A file named as text that does not parse as text.
    #[error("{}: not a text-format {what}: {source}", .path.display())]
    NotText {
        path: PathBuf,
        /// The message type, as `tensorflow.GraphDef`.
        what: String,
        #[source]
        source: crate::textformat::TextFormatError,
    },
    /// A file that parses neither as binary nor as text; the binary error is
    /// the one shown (a binary name says binary was meant).
    #[error("{}: unrecognised contents, neither a binary nor a text {what} (as binary: {source})", .path.display())]
    Unrecognised {
        path: PathBuf,
        what: String,
        #[source]
        source: prost::DecodeError,
    },
    /// A container that does not decode, or not to a GraphDef.
    #[error(transparent)]
    Codec(#[from] crate::codec::CodecError),
    #[error("{}: cannot write it as text: {source}", .path.display())]
    Print {
        path: PathBuf,
        #[source]
        source: crate::textformat::TextFormatError,
    },
    #[error(transparent)]
    Foreign(#[from] crate::filekind::ForeignFile),
    #[error(
        "{}: the output would be {bytes} bytes, over protobuf's 2 GiB limit, so TensorFlow could not load it; \
         store it sparse-encoded (`tf-strip encode --tf-loadable`, which TensorFlow loads, or the `--encode` container)",
        .path.display()
    )]
    TooLarge { path: PathBuf, bytes: u64 },
    #[error("the graph has two nodes named `{0}`")]
    DuplicateNode(String),
    #[error("no node named `{name}` in the graph{}", suggestion(.nearest))]
    NoSuchNode { name: String, nearest: Vec<String> },
    #[error("node `{node}` has input `{input}`, which is not in the graph")]
    DanglingInput { node: String, input: String },
    #[error("node `{node}`: its attribute `{key}` is not {want}")]
    Attr { node: String, key: String, want: String },
    #[error("node `{node}` has input `{input}`, which is not `name`, `name:N` or `^name`")]
    BadInput { node: String, input: String },
    #[error(
        "the graph has a cycle through `{}` ({}); TensorFlow rejects it: only a while loop's \
         NextIteration may feed back into a Merge",
        .cycle[0], .cycle.join(" -> ")
    )]
    Cycle { cycle: Vec<String> },
    /// A graph in a file that is not a valid graph: the file, then what is wrong.
    #[error("{}: {source}", .path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: Box<GraphError>,
    },
}

impl GraphError {
    /// The error about a graph read from `path`, naming the file.
    pub fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            e @ (GraphError::Io(_)
            | GraphError::NotText { .. }
            | GraphError::Unrecognised { .. }
            | GraphError::Codec(_)
            | GraphError::Print { .. }
            | GraphError::Foreign(_)
            | GraphError::TooLarge { .. }
            | GraphError::Invalid { .. }) => e,
            e => GraphError::Invalid { path: path.to_path_buf(), source: Box::new(e) },
        }
    }
}

fn suggestion(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!("; nearest names: {}", nearest.join(", "))
    }
}

pub type Result<T, E = GraphError> = std::result::Result<T, E>;

/// A reference to a node's output as written in `NodeDef.input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputRef<'a> {
    pub node: &'a str,
    pub port: u32,
    pub control: bool,
}

impl<'a> InputRef<'a> {
    /// Parses an input string as TensorFlow's `ParseTensorName` does, but
    /// strictly: `None` for an empty node name, a node name holding `:`, or a
    /// port that is not a number of at most `i32::MAX` (TensorFlow's `int`),
    /// never a silent default.
    pub fn parse(input: &'a str) -> Option<Self> {
        if let Some(node) = input.strip_prefix('^') {
            let valid = !node.is_empty() && !node.contains(':');
            return valid.then_some(InputRef { node, port: 0, control: true });
        }
        let (node, port) = match input.rsplit_once(':') {
            Some((node, digits)) => {
                let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                let port = digits.parse::<u32>().ok().filter(|&p| numeric && p <= i32::MAX as u32)?;
                (node, port)
            }
            None => (input, 0),
        };
        let valid = !node.is_empty() && !node.contains(':');
        valid.then_some(InputRef { node, port, control: false })
    }
}

impl<'a> InputRef<'a> {
    /// Output `port` of `node`.
    pub fn output(node: &'a str, port: u32) -> Self {
        InputRef { node, port, control: false }
    }

    /// A control dependency on `node`.
    pub fn control_of(node: &'a str) -> Self {
        InputRef { node, port: 0, control: true }
    }

    /// The tensor name of output `port` of `node` as collections,
    /// signatures and feeds write it: always with its port (`node:0`).
    pub fn tensor_name(node: &str, port: u32) -> String {
        format!("{node}:{port}")
    }
}

/// As TensorFlow writes it in `NodeDef.input`: `node`, `node:1` or `^node`.
impl std::fmt::Display for InputRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.control, self.port) {
            (true, _) => write!(f, "^{}", self.node),
            (false, 0) => f.write_str(self.node),
            (false, port) => write!(f, "{}:{port}", self.node),
        }
    }
}

/// The inputs of a node of a `Graph`, parsed: `Graph::new` refused any graph
/// with an input that does not parse.
pub fn input_refs(node: &NodeDef) -> impl Iterator<Item = InputRef<'_>> {
    Inputs::input_refs(node)
}

/// A `Const` node holding `value`, with its tensor encoded as
/// `tf.make_tensor_proto` encodes it.
pub fn const_node(name: &str, value: &crate::tensor::Tensor) -> NodeDef {
    let mut node = NodeDef {
        name: name.to_string(),
        op: "Const".into(),
        ..Default::default()
    };
    node.attr.insert(
        "dtype".into(),
        AttrValue {
            value: Some(Value::Type(value.dtype as i32)),
        },
    );
    node.attr.insert(
        "value".into(),
        AttrValue {
            value: Some(Value::Tensor(crate::tensor::to_proto(value))),
        },
    );
    node
}

/// The node name of an input or output string (`name:0` and `^name` name
/// `name`); a string that does not parse is its own name, which no node has.
pub fn node_name(input: &str) -> &str {
    InputRef::parse(input).map_or(input, |r| r.node)
}

/// A `GraphDef` indexed by node name. Node order is kept as TensorFlow wrote it.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    def: GraphDef,
    index: HashMap<String, usize>,
}

impl Graph {
    /// Indexes `def`, refusing what TensorFlow's importer refuses: two nodes
    /// of one name, an input that does not parse, a cycle outside while loops.
    pub fn new(def: GraphDef) -> Result<Self> {
        let index = checked_index(&def)?;
        Ok(Graph { def, index })
    }

    /// The checks of `new`, for a graph read from `path` (errors name the file).
    pub fn validate(def: &GraphDef, path: &std::path::Path) -> Result<()> {
        checked_index(def).map(drop).map_err(|e| e.in_file(path))
    }

    pub fn def(&self) -> &GraphDef {
        &self.def
    }

    pub fn into_def(self) -> GraphDef {
        self.def
    }

    pub fn nodes(&self) -> &[NodeDef] {
        &self.def.node
    }

    pub fn node(&self, name: &str) -> Option<&NodeDef> {
        self.index.get(name).map(|&i| &self.def.node[i])
    }

    /// Where the node is in `nodes()`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The node, or an error suggesting the closest names that do exist.
    pub fn require(&self, name: &str) -> Result<&NodeDef> {
        self.node(name).ok_or_else(|| GraphError::NoSuchNode {
            name: name.to_string(),
            nearest: self.nearest_names(name, 3),
        })
    }

    /// Node names closest to `name`, for "did you mean" messages.
    pub fn nearest_names(&self, name: &str, n: usize) -> Vec<String> {
        let mut scored: Vec<(usize, &str)> = self
            .def
            .node
            .iter()
            .map(|node| (strsim::levenshtein(name, &node.name), node.name.as_str()))
            .collect();
        scored.sort();
        scored.into_iter().take(n).map(|(_, s)| s.to_string()).collect()
    }

    /// Replaces the node of the same name, keeping its position.
    pub fn replace(&mut self, node: NodeDef) -> Result<()> {
        let i = *self.index.get(&node.name).ok_or_else(|| GraphError::NoSuchNode {
            name: node.name.clone(),
            nearest: Vec::new(),
        })?;
        self.def.node[i] = node;
        Ok(())
    }

    /// Adds a node at the end of the graph.
    pub fn add(&mut self, node: NodeDef) -> Result<()> {
        if self.index.contains_key(&node.name) {
            return Err(GraphError::DuplicateNode(node.name));
        }
        self.index.insert(node.name.clone(), self.def.node.len());
        self.def.node.push(node);
        Ok(())
    }

    /// Keeps only the nodes for which `keep` is true, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&NodeDef) -> bool) {
        self.def.node.retain(|n| keep(n));
        self.index = self
            .def
            .node
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
    }

    /// Drops library functions (and their gradients) that no node calls,
    /// directly or through other functions.
    pub fn prune_library(&mut self) {
        let Some(library) = self.def.library.as_mut() else { return };
        let bodies: HashMap<&str, &FunctionDef> =
            library.function.iter().filter_map(|f| Some((f.signature.as_ref()?.name.as_str(), f))).collect();
        let mut used: HashSet<String> = HashSet::new();
        let mut work: Vec<String> = self.def.node.iter().flat_map(called_functions).collect();
        while let Some(name) = work.pop() {
            if let Some(f) = bodies.get(name.as_str()) {
                if used.insert(name.clone()) {
                    work.extend(f.node_def.iter().flat_map(called_functions));
                }
            }
        }
        library.function.retain(|f| f.signature.as_ref().is_some_and(|s| used.contains(&s.name)));
        library.gradient.retain(|g| used.contains(&g.function_name));
        if library.function.is_empty() && library.gradient.is_empty() && library.registered_gradients.is_empty() {
            self.def.library = None;
        }
    }

    /// Node indices with every node after its inputs (a while loop's back
    /// edge excepted, as TensorFlow's importer orders them).
    pub fn topological_order(&self) -> Vec<usize> {
        kahn_order(&self.def, &self.index)
    }

    /// Mutable access to every node but its name, which the index keys on.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = NodeMut<'_>> {
        self.def.node.iter_mut().map(NodeMut::of)
    }
}

/// A node of a `Graph` open for change, all but its name: renaming goes
/// through `retain` and `add`, which keep the name index right.
pub struct NodeMut<'a> {
    pub name: &'a str,
    pub op: &'a mut String,
    pub input: &'a mut Vec<String>,
    pub device: &'a mut String,
    pub attr: &'a mut std::collections::BTreeMap<String, AttrValue>,
}

impl<'a> NodeMut<'a> {
    fn of(node: &'a mut NodeDef) -> Self {
        // Exhaustive, so that a field added to NodeDef is a decision here.
        let NodeDef { name, op, input, device, attr, experimental_debug_info: _, experimental_type: _ } = node;
        NodeMut { name, op, input, device, attr }
    }
}

fn checked_index(def: &GraphDef) -> Result<HashMap<String, usize>> {
    let mut index = HashMap::with_capacity(def.node.len());
    for (i, node) in def.node.iter().enumerate() {
        if index.insert(node.name.clone(), i).is_some() {
            return Err(GraphError::DuplicateNode(node.name.clone()));
        }
    }
    for node in &def.node {
        if let Some(bad) = node.input.iter().find(|i| InputRef::parse(i).is_none()) {
            return Err(GraphError::BadInput { node: node.name.clone(), input: bad.clone() });
        }
    }
    check_acyclic(def, &index)?;
    Ok(index)
}

/// Kahn's topological sort under TensorFlow's importer rule: a `Merge` fed by
/// a `NextIteration` (a while loop's back edge) is ready after its control
/// inputs and any one data input. Inputs not in the graph are someone else's
/// error (extraction reports them) and do not count. Returns the nodes in
/// order; those left out are on or behind a cycle.
fn kahn_order(def: &GraphDef, index: &HashMap<String, usize>) -> Vec<usize> {
    let nodes = &def.node;
    let mut pending = vec![0i64; nodes.len()];
    let mut outputs: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let mut controls = 0;
        let mut back_edge = false;
        for input in node.input_refs() {
            let Some(&p) = index.get(input.node) else { continue };
            outputs[p].push(i);
            pending[i] += 1;
            if input.control {
                controls += 1;
            } else if matches!(nodes[p].op.as_str(), "NextIteration" | "RefNextIteration") {
                back_edge = true;
            }
        }
        if back_edge && matches!(node.op.as_str(), "Merge" | "RefMerge") {
            pending[i] = controls + 1;
        }
    }
    // Reversed so that independent nodes come out in file order.
    let mut ready: Vec<usize> = (0..nodes.len()).rev().filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(n) = ready.pop() {
        order.push(n);
        for &o in &outputs[n] {
            pending[o] -= 1;
            if pending[o] == 0 {
                ready.push(o);
            }
        }
    }
    order
}

fn check_acyclic(def: &GraphDef, index: &HashMap<String, usize>) -> Result<()> {
    let nodes = &def.node;
    let producer = |input: &str| InputRef::parse(input).and_then(|r| index.get(r.node).copied());
    let mut done = vec![false; nodes.len()];
    for i in kahn_order(def, index) {
        done[i] = true;
    }
    let Some(start) = done.iter().position(|d| !d) else { return Ok(()) };
    // Every node left has an input left; walking back along those must come
    // round to a node already on the path: that part of the path is a cycle.
    let mut path = vec![start];
    let mut on_path: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    loop {
        let last = path[path.len() - 1];
        let Some(next) = nodes[last].input.iter().filter_map(|i| producer(i)).find(|&p| !done[p]) else {
            // Unreachable for a node left pending; name it rather than loop.
            return Err(GraphError::Cycle { cycle: vec![nodes[last].name.clone()] });
        };
        if let Some(&at) = on_path.get(&next) {
            let mut cycle: Vec<String> = path[at..].iter().rev().map(|&i| nodes[i].name.clone()).collect();
            cycle.push(cycle[0].clone());
            return Err(GraphError::Cycle { cycle });
        }
        on_path.insert(next, path.len());
        path.push(next);
    }
}

/// Function names a node may call: its op (a call of a library function)
/// and every function-valued attribute (`If` branches, `While` bodies, ...).
fn called_functions(node: &NodeDef) -> Vec<String> {
    let mut names = vec![node.op.clone()];
    for attr in node.attr.values() {
        match &attr.value {
            Some(Value::Func(f)) => names.push(f.name.clone()),
            Some(Value::List(list)) => names.extend(list.func.iter().map(|f| f.name.clone())),
            _ => {}
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_refs() {
        assert_eq!(InputRef::parse("a/b:1"), Some(InputRef { node: "a/b", port: 1, control: false }));
        assert_eq!(InputRef::parse("^a"), Some(InputRef { node: "a", port: 0, control: true }));
        assert_eq!(InputRef::parse("a"), Some(InputRef { node: "a", port: 0, control: false }));
        assert_eq!(InputRef::parse("a:2147483647").map(|r| r.port), Some(i32::MAX as u32));
        for bad in ["a:x", "a:99999999999", "a:2147483648", "a:", ":1", "", "^", "^a:1", "a:+1", "a:b:1"] {
            assert_eq!(InputRef::parse(bad), None, "{bad}");
        }
        assert_eq!(node_name("x:0"), "x");
    }

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn graph(nodes: Vec<NodeDef>) -> Result<Graph> {
        Graph::new(GraphDef { node: nodes, ..Default::default() })
    }

    #[test]
    fn cycles_are_rejected_naming_a_node_on_them() {
        let err = graph(vec![node("x", "Identity", &["x"])]).unwrap_err();
        assert!(matches!(&err, GraphError::Cycle { cycle } if cycle == &["x", "x"]), "{err}");
        // Downstream of the cycle, upstream of it, and a control edge closing it.
        let err = graph(vec![
            node("c", "Const", &[]),
            node("a", "Mul", &["c", "b"]),
            node("b", "Identity", &["^a"]),
            node("out", "Identity", &["a"]),
        ])
        .unwrap_err();
        assert!(matches!(&err, GraphError::Cycle { cycle } if cycle.len() == 3 && cycle.contains(&"a".to_string())), "{err}");
        // A loop through Enter without a NextIteration is no while loop.
        let err = graph(vec![node("e", "Enter", &["m"]), node("m", "Merge", &["e", "e"])]).unwrap_err();
        assert!(err.to_string().contains("cycle through"), "{err}");
    }

    #[test]
    fn while_loop_back_edges_are_legal() {
        graph(vec![
            node("x", "Const", &[]),
            node("enter", "Enter", &["x"]),
            node("merge", "Merge", &["enter", "next"]),
            node("switch", "Switch", &["merge", "cond"]),
            node("cond", "LoopCond", &["merge"]),
            node("body", "Identity", &["switch:1"]),
            node("next", "NextIteration", &["body"]),
            node("exit", "Exit", &["switch"]),
        ])
        .unwrap();
    }

    #[test]
    fn long_chains_are_checked_without_recursion() {
        let mut nodes = vec![node("n0", "Const", &[])];
        nodes.extend((1..200_000).map(|i| node(&format!("n{i}"), "Identity", &[&format!("n{}", i - 1)])));
        assert_eq!(graph(nodes).unwrap().nodes().len(), 200_000);
    }

    #[test]
    fn inputs_that_do_not_parse_are_errors() {
        let err = graph(vec![node("a", "Const", &[]), node("b", "Identity", &["a:99999999999"])]).unwrap_err();
        assert!(err.to_string().contains("`a:99999999999`, which is not"), "{err}");
    }

    /// Node names as TensorFlow allows them (`[A-Za-z0-9.][A-Za-z0-9_.\-/>]*`).
    const NODE_NAME: &str = "[A-Za-z0-9.][A-Za-z0-9_./>-]{0,16}";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn an_input_written_then_parsed_is_the_same_input(node in NODE_NAME, port in 0..=i32::MAX as u32, control: bool) {
            let r = if control { InputRef::control_of(&node) } else { InputRef::output(&node, port) };
            let written = r.to_string();
            proptest::prop_assert_eq!(InputRef::parse(&written), Some(r));
            proptest::prop_assert_eq!(node_name(&written), node.as_str());
        }

        #[test]
        fn a_parsed_input_is_written_back_as_it_was_but_for_the_port_0_suffix(node in NODE_NAME, form in 0..4u8, port in 1..=i32::MAX as u32) {
            let input = match form {
                0 => node.clone(),
                1 => format!("{node}:0"),
                2 => format!("{node}:{port}"),
                _ => format!("^{node}"),
            };
            let written = InputRef::parse(&input).map(|r| r.to_string());
            let canonical = if form == 1 { node.clone() } else { input.clone() };
            proptest::prop_assert_eq!(written, Some(canonical));
        }

        #[test]
        fn any_string_parses_to_nothing_or_to_an_input_that_round_trips(input in "\\^?[a-z:0-9^]{0,6}(:[0-9+-]{0,11})?|\\PC{0,12}") {
            if let Some(r) = InputRef::parse(&input) {
                proptest::prop_assert!(!r.node.is_empty() && !r.node.contains(':'));
                let written = r.to_string();
                proptest::prop_assert_eq!(InputRef::parse(&written), Some(r));
            }
        }
    }

    #[test]
    fn nodes_mut_changes_all_but_names_and_lookups_still_find_them() {
        let mut g = graph(vec![node("a", "Const", &[]), node("b", "Identity", &["a"])]).unwrap();
        for n in g.nodes_mut() {
            *n.op = format!("{}2", n.op);
            n.input.push(InputRef::control_of(n.name).to_string());
            n.device.push_str("/cpu:0");
        }
        let b = g.node("b").unwrap();
        assert_eq!((b.op.as_str(), b.input.as_slice(), b.device.as_str()), ("Identity2", &["a".to_string(), "^b".to_string()][..], "/cpu:0"));
        assert_eq!(g.position("a"), Some(0));
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let node = NodeDef { name: "a".into(), ..Default::default() };
        let def = GraphDef { node: vec![node.clone(), node], ..Default::default() };
        assert!(matches!(Graph::new(def), Err(GraphError::DuplicateNode(_))));
    }
}
