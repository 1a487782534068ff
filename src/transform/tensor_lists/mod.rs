//! TF1's TensorArray ops, as `dynamic_rnn` and `tf.while_loop` build them,
//! rewritten into TF2's TensorList ops. TensorFlow computes the same with
//! either; TFLite's converter turns TensorList loops into builtin ops but
//! keeps TensorArrays as TensorFlow ops, which run only where an app links
//! the Flex delegate.
//!
//! A TensorArray is a resource handle plus a float "flow" scalar that is
//! threaded through the loop to order its reads and writes. A TensorList is
//! a variant value threaded the same way. So each op takes the list where it
//! took the flow, the flow's path (Enter, Merge, Switch, NextIteration,
//! Exit, Identity) is retyped to `variant`, and the handle's Enters go. An
//! array is rewritten whole or not at all, and the report says why not.

mod evaluate;
mod recognise;
mod rewrite;

use serde::Serialize;

use super::colocation::drop_dangling_colocation;
use super::Result;
use crate::graph::{Graph, InputRef, Readers};
use rewrite::{apply, Plan};

#[derive(Debug, Clone, Default, Serialize)]
pub struct TensorListReport {
    /// The TensorArrays now TensorLists.
    pub rewritten: Vec<String>,
    /// Those left as they were, with why.
    pub kept: Vec<KeptArray>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeptArray {
    pub name: String,
    pub reason: String,
}

/// Rewrites every TensorArray whose uses have TensorList equivalents.
pub fn tensor_arrays_to_lists(graph: &mut Graph) -> Result<TensorListReport> {
    let mut report = TensorListReport::default();
    let arrays: Vec<String> =
        graph.nodes().iter().filter(|n| n.op == "TensorArrayV3").map(|n| n.name.clone()).collect();
    for name in arrays {
        let uses = Uses::of(graph);
        match plan(graph, &uses, &name) {
            Ok(plan) => {
                apply(graph, plan)?;
                report.rewritten.push(name);
            }
            Err(reason) => report.kept.push(KeptArray { name, reason: reason.to_string() }),
        }
    }
    if !report.rewritten.is_empty() {
        drop_dangling_colocation(graph);
    }
    Ok(report)
}

/// The graph's readers index, asked by node name.
struct Uses<'g> {
    graph: &'g Graph,
    readers: Readers,
}

impl<'g> Uses<'g> {
    fn of(graph: &'g Graph) -> Self {
        Uses { graph, readers: Readers::of(graph) }
    }

    /// `(reader, input slot)` of each data input reading output `port` of `node`.
    fn readers(&self, node: &str, port: u32) -> Vec<(String, usize)> {
        let Some(at) = self.graph.position(node) else { return Vec::new() };
        self.readers.of_output(at, port).map(|u| (self.graph.nodes()[u.reader].name.clone(), u.slot)).collect()
    }

    /// Whether something waits on `node` by a control input.
    fn waited_on(&self, node: &str) -> bool {
        self.graph.position(node).is_some_and(|at| self.readers.has_control_readers(at))
    }
}

/// The TensorArray ops rewritten, and which data input carries the flow.
fn flow_input(op: &str) -> Option<usize> {
    match op {
        "TensorArrayReadV3" | "TensorArrayGatherV3" => Some(2),
        "TensorArrayWriteV3" | "TensorArrayScatterV3" => Some(3),
        "TensorArraySizeV3" => Some(1),
        _ => None,
    }
}

/// Why an array is left a TensorArray.
#[derive(Debug, thiserror::Error)]
enum Reason {
    #[error("it is gone")]
    Gone,
    #[error(transparent)]
    Attr(#[from] crate::graph::GraphError),
    #[error("it has no dtype")]
    NoDtype,
    #[error("it grows past its size (dynamic_size), which a TensorList reserved at a size cannot")]
    DynamicSize,
    #[error("it has no size input")]
    NoSize,
    #[error("`{0}` lacks its flow input")]
    NoFlowInput(String),
    #[error("`{0}` takes a flow that is not this array's")]
    ForeignFlow(String),
    #[error("it is scattered into other than once, whole, right after it is made")]
    PartialScatter,
    #[error("something waits on it, and a TensorList made from a whole tensor needs no array")]
    WaitedOn,
    #[error("something waits on its handle's Enter `{0}`")]
    HandleEnterWaitedOn(String),
    #[error("a reader of `{0}` is gone")]
    ReaderGone(String),
    #[error("its handle is read by `{reader}` ({op})")]
    HandleReadBy { reader: String, op: String },
    #[error("its flow is read by `{reader}` ({op})")]
    FlowReadBy { reader: String, op: String },
    #[error("its flow passes `{0}`, which is not of type float")]
    FlowNotFloat(String),
    #[error("`{0}` merges its flow with another value")]
    FlowMerged(String),
    #[error(
        "its element shape {0} is not fully known, and no value written to it is a loop variable whose initial value would give it"
    )]
    UnknownElementShape(String),
    #[error("`{node}` lacks input {input}")]
    MissingInput { node: String, input: usize },
}

/// An array's rewrite, or why it has none.
fn plan(graph: &Graph, uses: &Uses, name: &str) -> Result<Plan, Reason> {
    let array = recognise::rewritable(graph, uses, name)?;
    rewrite::plan(graph, uses, array)
}

fn key(r: &InputRef<'_>) -> (String, u32) {
    (r.node.to_string(), r.port)
}

#[cfg(test)]
mod tests;
