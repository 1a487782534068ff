//! The questions every pass asks of a graph, answered once (as the Graph
//! Transform Tool's `transform_utils.h` does for its transforms): a node's
//! data and control inputs, who reads each node, the source behind an input
//! through ops that pass its value along, and fresh node names.

use std::collections::HashSet;

use super::ops::{enters_frame, passes_value, READ_VARIABLE};
use super::{Graph, InputRef};
use crate::proto::tensorflow::NodeDef;

/// A node's inputs, parsed (`Graph::new` refused any that do not parse).
pub trait Inputs {
    /// Every input, data and control, in order.
    fn input_refs(&self) -> impl Iterator<Item = InputRef<'_>>;

    /// The data inputs (`node`, `node:N`), in order.
    fn data_inputs(&self) -> impl Iterator<Item = InputRef<'_>> {
        self.input_refs().filter(|r| !r.control)
    }

    /// The control inputs (`^node`), in order.
    fn control_inputs(&self) -> impl Iterator<Item = InputRef<'_>> {
        self.input_refs().filter(|r| r.control)
    }

    /// The `i`-th data input.
    fn data_input(&self, i: usize) -> Option<InputRef<'_>> {
        self.data_inputs().nth(i)
    }

    /// The input at `slot` of `NodeDef.input`, data or control.
    fn input_at(&self, slot: usize) -> Option<InputRef<'_>>;

    /// The data inputs as written, for copying them to another node unchanged
    /// (`x:0` stays `x:0`).
    fn data_inputs_as_written(&self) -> impl Iterator<Item = &String>;

    /// The control inputs as written.
    fn control_inputs_as_written(&self) -> impl Iterator<Item = &String>;
}

impl Inputs for NodeDef {
    fn input_refs(&self) -> impl Iterator<Item = InputRef<'_>> {
        self.input.iter().filter_map(|i| InputRef::parse(i))
    }

    fn input_at(&self, slot: usize) -> Option<InputRef<'_>> {
        self.input.get(slot).and_then(|i| InputRef::parse(i))
    }

    fn data_inputs_as_written(&self) -> impl Iterator<Item = &String> {
        self.input.iter().filter(|i| InputRef::parse(i).is_some_and(|r| !r.control))
    }

    fn control_inputs_as_written(&self) -> impl Iterator<Item = &String> {
        self.input.iter().filter(|i| InputRef::parse(i).is_some_and(|r| r.control))
    }
}

/// `(node position, output port)` of each data input of `node`, in order; an
/// input whose node is missing ends the list (extraction reports those).
pub fn data_input_positions(graph: &Graph, node: &NodeDef) -> Vec<(usize, u32)> {
    node.data_inputs().map_while(|r| Some((graph.position(r.node)?, r.port))).collect()
}

/// One input of a node reading another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    /// The reading node's position in `Graph::nodes()`.
    pub reader: usize,
    /// Which of its inputs (index into `NodeDef.input`).
    pub slot: usize,
    /// The output read (0 for a control input).
    pub port: u32,
    pub control: bool,
}

/// Who reads each node, by data and by control input: built once per
/// graph, indexed by node position. Positions stay valid while nodes are
/// replaced or added (not when removed).
#[derive(Debug, Clone, Default)]
pub struct Readers {
    uses: Vec<Vec<Use>>,
}

impl Readers {
    /// Inputs naming no node of the graph are nobody's reads.
    pub fn of(graph: &Graph) -> Self {
        let mut uses = vec![Vec::new(); graph.nodes().len()];
        for (reader, node) in graph.nodes().iter().enumerate() {
            for (slot, input) in node.input.iter().enumerate() {
                let Some(r) = InputRef::parse(input) else { continue };
                let Some(producer) = graph.position(r.node) else { continue };
                uses[producer].push(Use { reader, slot, port: r.port, control: r.control });
            }
        }
        Readers { uses }
    }

    /// Every input reading the node at `producer`, in graph order.
    pub fn uses(&self, producer: usize) -> &[Use] {
        self.uses.get(producer).map_or(&[], Vec::as_slice)
    }

    /// The nodes reading any output of `producer` by a data input, each once,
    /// in graph order.
    pub fn data_readers(&self, producer: usize) -> impl Iterator<Item = usize> + '_ {
        let data = self.uses(producer).iter().filter(|u| !u.control);
        // A node's inputs come together, so a repeat follows its first.
        let mut last = None;
        data.filter_map(move |u| (last.replace(u.reader) != Some(u.reader)).then_some(u.reader))
    }

    /// The names of the nodes reading the node `name` by a data input, each
    /// once, in graph order.
    pub fn data_reader_names(&self, graph: &Graph, name: &str) -> Vec<String> {
        graph.position(name).into_iter().flat_map(|p| self.data_readers(p)).map(|r| graph.nodes()[r].name.clone()).collect()
    }

    /// The data inputs reading output `port` of `producer`.
    pub fn of_output(&self, producer: usize, port: u32) -> impl Iterator<Item = &Use> + '_ {
        self.uses(producer).iter().filter(move |u| !u.control && u.port == port)
    }

    /// Whether some node waits on `producer` by a control input.
    pub fn has_control_readers(&self, producer: usize) -> bool {
        self.uses(producer).iter().any(|u| u.control)
    }
}

/// Which ops a walk back to a value's source goes through, as each caller
/// says: `Through::VALUE | Through::READ`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Through(u8);

impl Through {
    /// `Identity`, `Snapshot`, `StopGradient` (so also a ref variable's read).
    pub const VALUE: Through = Through(1);
    /// `ReadVariableOp`, a resource variable's read.
    pub const READ: Through = Through(2);
    /// `Enter`, `RefEnter`, into a while loop's frame.
    pub const ENTER: Through = Through(4);
    /// Stop at an op's first input unless it is a data input of output 0
    /// (otherwise the first input is followed whatever it is).
    pub const OUTPUT_0_ONLY: Through = Through(8);

    pub const fn union(self, other: Through) -> Through {
        Through(self.0 | other.0)
    }

    fn has(self, flag: Through) -> bool {
        self.0 & flag.0 != 0
    }

    /// Whether a walk goes through a node of `op`.
    pub fn passes(self, op: &str) -> bool {
        (self.has(Through::VALUE) && passes_value(op))
            || (self.has(Through::READ) && op == READ_VARIABLE)
            || (self.has(Through::ENTER) && enters_frame(op))
    }
}

impl std::ops::BitOr for Through {
    type Output = Through;
    fn bitor(self, other: Through) -> Through {
        self.union(other)
    }
}

/// The nodes from the one `start` names back to the source of its value:
/// `start`'s node, then while a node's op is one `through` passes, the node
/// of its first input. The last node yielded is where the walk stopped: the
/// source, or a passing node whose input is missing, or that closes a cycle.
/// Iterative with a visited set, so any chain length or cycle is safe.
pub fn behind<'g>(graph: &'g Graph, start: &str, through: Through) -> Behind<'g> {
    Behind { graph, next: graph.node(start), through, seen: HashSet::new() }
}

pub struct Behind<'g> {
    graph: &'g Graph,
    next: Option<&'g NodeDef>,
    through: Through,
    seen: HashSet<&'g str>,
}

impl<'g> Iterator for Behind<'g> {
    type Item = &'g NodeDef;

    fn next(&mut self) -> Option<&'g NodeDef> {
        let node = self.next.take()?;
        if !self.seen.insert(&node.name) {
            return None;
        }
        if self.through.passes(&node.op) {
            let first = node.input.first().and_then(|i| InputRef::parse(i));
            let strict = self.through.has(Through::OUTPUT_0_ONLY);
            self.next = first.filter(|r| !strict || (!r.control && r.port == 0)).and_then(|r| self.graph.node(r.node));
        }
        Some(node)
    }
}

impl Graph {
    /// `base` if no node has that name and `taken` does not hold it, else
    /// the first free `base_1`, `base_2`, ...
    pub fn fresh_name(&self, base: &str, taken: impl Fn(&str) -> bool) -> String {
        let free = |name: &str| !self.contains(name) && !taken(name);
        if free(base) {
            return base.to_string();
        }
        (1..).map(|i| format!("{base}_{i}")).find(|n| free(n)).unwrap_or_else(|| base.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testing::{graph, op, ref_variable};

    #[test]
    fn readers_are_indexed_by_data_and_control_input() {
        let g = graph(vec![
            ref_variable("w", &[1]),
            op("read", "Identity", &["w"]),
            op("sq", "Mul", &["read", "read:0"]),
            op("wait", "NoOp", &["^read"]),
            op("split", "Split", &["w", "read"]),
            op("second", "Identity", &["split:1"]),
        ]);
        let read = g.position("read").unwrap();
        let names = |it: Vec<usize>| it.into_iter().map(|i| g.nodes()[i].name.as_str()).collect::<Vec<_>>();
        assert_eq!(names(Readers::of(&g).data_readers(read).collect()), ["sq", "split"]);
        let readers = Readers::of(&g);
        assert!(readers.has_control_readers(read));
        assert!(!readers.has_control_readers(g.position("w").unwrap()));
        let split = g.position("split").unwrap();
        assert_eq!(readers.of_output(split, 1).map(|u| (u.reader, u.slot)).collect::<Vec<_>>(), [(g.position("second").unwrap(), 0)]);
        assert_eq!(readers.of_output(split, 0).count(), 0);
        assert_eq!(readers.uses(read).len(), 4);
    }

    #[test]
    fn data_and_control_inputs_are_told_apart() {
        let n = op("n", "Add", &["a", "b:1", "^c"]);
        assert_eq!(n.data_inputs().map(|r| r.to_string()).collect::<Vec<_>>(), ["a", "b:1"]);
        assert_eq!(n.control_inputs().map(|r| r.node).collect::<Vec<_>>(), ["c"]);
        assert_eq!(n.data_input(1), Some(InputRef::output("b", 1)));
        assert_eq!(n.control_inputs_as_written().collect::<Vec<_>>(), ["^c"]);
    }

    fn walked<'g>(g: &'g Graph, start: &str, through: Through) -> Vec<&'g str> {
        behind(g, start, through).map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn walks_stop_at_the_first_op_the_caller_does_not_pass() {
        let g = graph(vec![
            ref_variable("w", &[1]),
            op("read", "Identity", &["w"]),
            op("enter", "Enter", &["read"]),
            op("handle_read", "ReadVariableOp", &["enter"]),
        ]);
        assert_eq!(walked(&g, "handle_read", Through::VALUE), ["handle_read"]);
        assert_eq!(walked(&g, "handle_read", Through::READ), ["handle_read", "enter"]);
        assert_eq!(walked(&g, "handle_read", Through::READ | Through::ENTER | Through::VALUE), ["handle_read", "enter", "read", "w"]);
        assert_eq!(walked(&g, "missing", Through::VALUE), Vec::<&str>::new());
    }

    #[test]
    fn strict_walks_follow_only_output_0_data_inputs() {
        let g = graph(vec![
            op("c", "Const", &[]),
            op("a", "Identity", &["c:1"]),
            op("b", "Identity", &["^c"]),
            op("d", "Identity", &["c:0"]),
        ]);
        assert_eq!(walked(&g, "a", Through::VALUE), ["a", "c"]);
        assert_eq!(walked(&g, "b", Through::VALUE), ["b", "c"]);
        assert_eq!(walked(&g, "a", Through::VALUE | Through::OUTPUT_0_ONLY), ["a"]);
        assert_eq!(walked(&g, "b", Through::VALUE | Through::OUTPUT_0_ONLY), ["b"]);
        assert_eq!(walked(&g, "d", Through::VALUE | Through::OUTPUT_0_ONLY), ["d", "c"]);
    }

    #[test]
    fn walks_end_on_cycles_and_long_chains_without_recursion() {
        // A cycle of Identities TensorFlow's importer refuses, built past `Graph::new`'s check.
        let mut g = graph(vec![op("x", "Identity", &[]), op("y", "Identity", &["x"])]);
        let mut x = g.node("x").unwrap().clone();
        x.input.push("y".into());
        g.replace(x).unwrap();
        assert_eq!(walked(&g, "y", Through::VALUE), ["y", "x"]);

        let mut nodes = vec![op("n0", "Const", &[])];
        nodes.extend((1..100_000).map(|i| op(&format!("n{i}"), "Identity", &[&format!("n{}", i - 1)])));
        let g = graph(nodes);
        assert_eq!(behind(&g, "n99999", Through::VALUE).last().map(|n| n.name.as_str()), Some("n0"));
    }

    #[test]
    fn fresh_names_skip_nodes_and_names_already_given() {
        let g = graph(vec![op("a", "Const", &[]), op("a_1", "Const", &[])]);
        assert_eq!(g.fresh_name("b", |_| false), "b");
        assert_eq!(g.fresh_name("a", |_| false), "a_2");
        assert_eq!(g.fresh_name("a", |n| n == "a_2"), "a_3");
    }
}
