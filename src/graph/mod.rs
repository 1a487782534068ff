//! The in-memory model every command works on: a `GraphDef` with an index
//! from node names to positions, and the parsing of TensorFlow's input
//! strings (`node`, `node:1`, `^node`).

mod io;
mod meta;
mod sink;
mod subgraph;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

pub use io::{read_message, write_message, write_message_to, Format, ModelFile, PROTOBUF_LIMIT};
pub use meta::{collection_nodes, variable_defs};
pub use subgraph::{extract_subgraph, reachable_from};

use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{AttrValue, FunctionDef, GraphDef, NodeDef};

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {msg}", .path.display())]
    Parse { path: PathBuf, msg: String },
    #[error("{}: {msg}", .path.display())]
    TooLarge { path: PathBuf, msg: String },
    #[error("the graph has two nodes named `{0}`")]
    DuplicateNode(String),
    #[error("no node named `{name}` in the graph{}", suggestion(.nearest))]
    NoSuchNode { name: String, nearest: Vec<String> },
    #[error("node `{node}` has input `{input}`, which is not in the graph")]
    DanglingInput { node: String, input: String },
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
    pub fn parse(input: &'a str) -> Self {
        if let Some(node) = input.strip_prefix('^') {
            return InputRef {
                node,
                port: 0,
                control: true,
            };
        }
        match input.rsplit_once(':') {
            Some((node, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                InputRef {
                    node,
                    port: port.parse().unwrap_or(u32::MAX),
                    control: false,
                }
            }
            _ => InputRef {
                node: input,
                port: 0,
                control: false,
            },
        }
    }
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

/// The node name of an input or output string (`name:0` and `^name` name `name`).
pub fn node_name(input: &str) -> &str {
    InputRef::parse(input).node
}

/// A `GraphDef` indexed by node name. Node order is kept as TensorFlow wrote it.
#[derive(Debug, Clone)]
pub struct Graph {
    def: GraphDef,
    index: HashMap<String, usize>,
}

impl Graph {
    pub fn new(def: GraphDef) -> Result<Self> {
        let mut index = HashMap::with_capacity(def.node.len());
        for (i, node) in def.node.iter().enumerate() {
            if index.insert(node.name.clone(), i).is_some() {
                return Err(GraphError::DuplicateNode(node.name.clone()));
            }
        }
        Ok(Graph { def, index })
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

    /// Mutable access to every node; names must not change.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut NodeDef> {
        self.def.node.iter_mut()
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
        assert_eq!(InputRef::parse("a/b:1"), InputRef { node: "a/b", port: 1, control: false });
        assert_eq!(InputRef::parse("^a"), InputRef { node: "a", port: 0, control: true });
        assert_eq!(InputRef::parse("a"), InputRef { node: "a", port: 0, control: false });
        assert_eq!(node_name("x:0"), "x");
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let node = NodeDef { name: "a".into(), ..Default::default() };
        let def = GraphDef { node: vec![node.clone(), node], ..Default::default() };
        assert!(matches!(Graph::new(def), Err(GraphError::DuplicateNode(_))));
    }
}
