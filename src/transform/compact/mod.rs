//! `compact`: removes the output channels of convolutions and the output
//! neurons of matmuls whose weights are all zero, with everything tied to
//! them, so the graph stays dense and stock TensorFlow runs a smaller model.
//! Exact: a removed channel is one whose every use either ignores it or can
//! take its constant value into a bias (see `flow` for the rules).
//!
//! Assumes finite activations, as any pruning does: a zero filter times an
//! infinite input is NaN in TensorFlow and simply absent here.

mod array;
mod border;
mod constants;
mod flow;
mod ops;
mod rewrite;

use std::collections::{BTreeMap, HashSet};

pub use flow::Reason;
pub use rewrite::{Fold, FoldKind};
use flow::{Analysis, Decision};

use crate::graph::ops::spatial_axes;
use crate::graph::{const_float_shape, node_name, sinks, Graph, GraphError, Inputs, Statics};

#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Output node names (`name` or `name:N`); default: the graph's sinks.
    pub outputs: Vec<String>,
    /// Keep channel counts at multiples of this (1: as few as possible).
    pub round_to: usize,
    /// A constant channel before a padded convolution goes, its effect kept
    /// by an added constant of the output's spatial shape (only where spatial
    /// sizes are static); without, such channels stay.
    pub border_constants: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeptChannels {
    pub reason: Reason,
    pub channels: usize,
}

/// One convolution, depthwise convolution or matmul.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerReport {
    pub node: String,
    pub op: String,
    pub in_channels: [usize; 2],
    pub out_channels: [usize; 2],
    /// Filter elements, before and after.
    pub params: [u64; 2],
    /// Per example, a multiply-add counted as 2; `None` where the spatial
    /// size is not static.
    pub flops: Option<[u64; 2]>,
    /// Output channels whose filter is all zeros (what pruning left).
    pub zero_channels: usize,
    /// Of those, the ones that stay, by reason.
    pub kept: Vec<KeptChannels>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CompactReport {
    pub layers: Vec<LayerReport>,
    /// Elements of all float constants, before and after.
    pub params: [u64; 2],
    /// Sum over layers whose FLOPs are known.
    pub flops: [u64; 2],
    /// Ops channels did not cross, as (op, node).
    pub barriers: Vec<(String, String)>,
    /// Where removed constant channels went.
    pub folds: Vec<Fold>,
    pub nodes: [usize; 2],
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions { outputs: Vec::new(), round_to: 1, border_constants: true }
    }
}

pub type Result<T, E = GraphError> = std::result::Result<T, E>;

const LAYERS: [&str; 3] = ["Conv2D", "DepthwiseConv2dNative", "MatMul"];

pub fn compact(graph: &mut Graph, options: &CompactOptions) -> Result<CompactReport> {
    let outputs = if options.outputs.is_empty() { sinks(graph) } else { options.outputs.clone() };
    let mut output_nodes = HashSet::new();
    for out in &outputs {
        graph.require(node_name(out))?;
        output_nodes.extend(graph.position(node_name(out)));
    }
    let order = graph.topological_order();
    let shapes = Statics::infer(graph, &order);
    let analysis = Analysis::run(graph, &order, &shapes, &output_nodes, options.border_constants);
    let decision = analysis.decide(options.round_to);
    let before: Vec<(usize, Vec<usize>)> = layer_filters(graph);
    let params_before = rewrite::float_params(graph);
    let nodes_before = graph.nodes().len();

    let done = rewrite::apply(graph, &analysis, &decision)?;

    let after: std::collections::HashMap<usize, Vec<usize>> = layer_filters(graph).into_iter().collect();
    let layers = before
        .into_iter()
        .map(|(node, filter)| layer_report(graph, &shapes, &analysis, &decision, node, &filter, after.get(&node).unwrap_or(&filter)))
        .collect::<Vec<_>>();
    let total = |k: usize| layers.iter().filter_map(|l| l.flops.map(|f| f[k])).sum();
    let mut barriers = analysis.barriers.clone();
    barriers.sort();
    barriers.dedup();
    Ok(CompactReport {
        flops: [total(0), total(1)],
        layers,
        params: [params_before, rewrite::float_params(graph)],
        barriers,
        folds: done.folds,
        nodes: [nodes_before, graph.nodes().len()],
    })
}

/// Filter shapes of the layers with a float constant filter.
fn layer_filters(graph: &Graph) -> Vec<(usize, Vec<usize>)> {
    graph
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| LAYERS.contains(&n.op.as_str()))
        .filter_map(|(i, n)| Some((i, const_float_shape(graph, n.input_at(1)?)?)))
        .collect()
}

fn layer_report(
    graph: &Graph,
    shapes: &Statics,
    analysis: &Analysis,
    decision: &Decision,
    node: usize,
    before: &[usize],
    after: &[usize],
) -> LayerReport {
    let n = &graph.nodes()[node];
    let transposed = n.op == "MatMul" && n.input.len() > 1 && matches!(
        crate::graph::Attrs::bool_attr(n, "transpose_b"),
        Ok(Some(true))
    );
    // (in, out) channels and the multiply-adds per output position.
    let channels = |f: &[usize]| -> ([usize; 2], u64) {
        match (n.op.as_str(), f) {
            ("MatMul", [k, m]) if transposed => ([*m, *k], (k * m) as u64),
            ("MatMul", [k, m]) => ([*k, *m], (k * m) as u64),
            ("DepthwiseConv2dNative", [h, w, c, m]) => ([*c, c * m], (h * w * c * m) as u64),
            (_, [h, w, i, o]) => ([*i, *o], (h * w * i * o) as u64),
            _ => ([0, 0], 0),
        }
    };
    let ((c0, m0), (c1, m1)) = (channels(before), channels(after));
    let positions = match n.op.as_str() {
        "MatMul" => Some(1),
        _ => shapes.shape(node, 0).and_then(|s| {
            let (spatial, _) = spatial_axes(ops::is_nchw(n));
            let (h, w) = (s.get(spatial[0])?, s.get(spatial[1])?);
            (*h >= 0 && *w >= 0).then(|| (h * w) as u64)
        }),
    };
    let producer = analysis.producers.iter().find(|p| p.node == node);
    let mut kept: BTreeMap<Reason, usize> = BTreeMap::new();
    if let Some(p) = producer {
        for (&id, _) in p.ids.iter().zip(&p.zero).filter(|(_, &z)| z) {
            if let Some(reason) = decision.reason(id) {
                *kept.entry(reason.clone()).or_insert(0) += 1;
            }
        }
    }
    LayerReport {
        node: n.name.clone(),
        op: n.op.clone(),
        in_channels: [c0[0], c1[0]],
        out_channels: [c0[1], c1[1]],
        params: [before.iter().product::<usize>() as u64, after.iter().product::<usize>() as u64],
        flops: positions.map(|p| [2 * p * m0, 2 * p * m1]),
        zero_channels: producer.map_or(0, |p| p.zero.iter().filter(|&&z| z).count()),
        kept: kept.into_iter().map(|(reason, channels)| KeptChannels { reason, channels }).collect(),
    }
}

#[cfg(test)]
mod tests;
