//! Which channels can go. Every output channel of a `Conv2D` or `MatMul`
//! with a constant filter gets an id; ids flow forward through the ops that
//! keep channels apart (biases, batch norm, activations, pooling, concat,
//! split, flatten), residual adds merge the ids of their two operands, and a
//! depthwise convolution passes its input's ids on. Along the way each
//! channel's value is tracked where it is a known constant (zero after an
//! all-zero filter, then `relu(beta)` after a batch norm, ...).
//!
//! A channel is kept when any place it reaches needs it: a graph output, an
//! op this pass does not know (a barrier), a consumer that reads it while its
//! value is not a known constant, or one that cannot fold the constant
//! exactly (a padded convolution sees it only away from the border). All
//! other channels go, and each place records the edit that removes them.

use std::collections::{HashMap, HashSet};

use super::array::{Array, View};
use super::constants::{const_array, const_view};
use super::ops::{bias_after, binary_value, is_nchw, unary_value};
use crate::graph::ops::{is_unary, spatial_axes, CONCAT, ELEMENTWISE_BINARY};
use crate::graph::statics::{normalise, squeezed};
use crate::graph::{const_ints, data_input_positions, packed_ints, Attrs, Graph, InputRef, Inputs, Readers, Statics};
use crate::proto::tensorflow::NodeDef;

pub type Id = usize;

/// The channel axis of one tensor: which channel sits at each position and
/// its value where that is a known constant. A flatten repeats each id once
/// per spatial position.
#[derive(Debug, Clone, PartialEq)]
pub struct Channels {
    pub axis: usize,
    pub rank: usize,
    pub ids: Vec<Id>,
    pub values: Vec<Option<f32>>,
}

/// Why a channel stays.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A graph output has it; outputs keep their shapes.
    GraphOutput { node: String },
    /// It reaches an op this pass does not rewrite.
    Barrier { op: String, node: String },
    /// It is a nonzero constant where a padded window reads it: the border
    /// sees the padding's zeros instead, so no bias can stand in for it.
    ConstantThroughPadding { node: String },
    /// A residual add joins it with a channel of another branch that stays.
    ResidualCoupling { node: String },
    /// Every layer keeps at least one channel.
    KeepOne,
    /// `--round_to`: channel counts stay multiples of it.
    RoundTo { multiple: usize },
    /// Its values depend on the input.
    Live,
}

/// One rewrite a removal asks for; applied by `rewrite` once the removed
/// set is known.
#[derive(Debug, Clone)]
pub enum Edit {
    /// The constant input `input` of `node` loses its slices along `axis`
    /// whose channel goes.
    Slice { node: usize, input: usize, axis: usize, ids: Vec<Id> },
    /// A removed input channel of a convolution or matmul (input 0, filter
    /// input 1) that is a nonzero constant contributes the same to every
    /// output position, which goes into a bias; or, behind padding, the same
    /// to every position but the border, which an added constant of the
    /// output's spatial shape restores exactly.
    Fold { node: usize, in_axis: usize, out_axis: usize, ids: Vec<Id>, values: Vec<Option<f32>>, border: Option<Border> },
    /// A `Reshape` whose last target dimension counts these positions.
    ReshapeLast { node: usize, ids: Vec<Id> },
    /// A `Split`/`SplitV` along the channels: its output sizes.
    Split { node: usize, outputs: Vec<Vec<Id>> },
}

/// The static spatial sizes of a padded convolution, input and output, and
/// the node after which its border constant is added: its bias or batch
/// norm, or the layer itself when that is a graph output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Border {
    pub input: [usize; 2],
    pub output: [usize; 2],
    pub after: usize,
}

/// A convolution or matmul whose output channels have ids.
#[derive(Debug, Clone)]
pub struct Producer {
    pub node: usize,
    pub ids: Vec<Id>,
    /// Channels whose filter slice is all zeros.
    pub zero: Vec<bool>,
}

#[derive(Debug, Default)]
pub struct Analysis {
    parent: Vec<Id>,
    blocks: Vec<(Id, Reason)>,
    pub tensors: HashMap<(usize, u32), Channels>,
    pub edits: Vec<Edit>,
    pub producers: Vec<Producer>,
    /// Ops that stopped channels, as (op, node).
    pub barriers: Vec<(String, String)>,
    pub readers: Readers,
}

/// The removed channels and why each kept channel stays.
#[derive(Debug)]
pub struct Decision {
    roots: Vec<Id>,
    kept: HashMap<Id, Reason>,
}

impl Decision {
    pub fn removed(&self, id: Id) -> bool {
        !self.kept.contains_key(&self.roots[id])
    }

    pub fn keep(&self, ids: &[Id]) -> Vec<bool> {
        ids.iter().map(|&id| !self.removed(id)).collect()
    }

    pub fn reason(&self, id: Id) -> Option<&Reason> {
        self.kept.get(&self.roots[id])
    }
}

impl Analysis {
    /// `borders`: whether a padded convolution's constant input channels may
    /// go, replaced by a border constant (where spatial sizes are static).
    pub fn run(graph: &Graph, order: &[usize], shapes: &Statics, outputs: &HashSet<usize>, borders: bool) -> Analysis {
        let mut consumed = HashSet::new();
        for node in graph.nodes() {
            consumed.extend(data_input_positions(graph, node));
        }
        let readers = Readers::of(graph);
        let mut a = Analysis::default();
        for &i in order {
            let node = &graph.nodes()[i];
            let cx = Context { graph, shapes, consumed: &consumed, readers: &readers, outputs, borders, index: i, node };
            a.visit(&cx);
            if outputs.contains(&i) {
                let held: Vec<Id> =
                    a.tensors.iter().filter(|((n, _), _)| *n == i).flat_map(|(_, c)| c.ids.clone()).collect();
                for id in held {
                    a.block(id, Reason::GraphOutput { node: node.name.clone() });
                }
            }
        }
        Analysis { readers, ..a }
    }

    /// Decides, keeping at least one channel per layer and, with
    /// `round_to > 1`, channel counts at its multiples where the layer has
    /// that many.
    pub fn decide(&self, round_to: usize) -> Decision {
        let roots: Vec<Id> = (0..self.parent.len()).map(|id| self.find(id)).collect();
        let mut kept: HashMap<Id, Reason> = HashMap::new();
        for (id, reason) in &self.blocks {
            let slot = kept.entry(roots[*id]).or_insert_with(|| reason.clone());
            // The most telling reason: outputs and barriers before a plain live channel.
            if reason < slot {
                *slot = reason.clone();
            }
        }
        let mut decision = Decision { roots, kept };
        loop {
            let mut changed = false;
            for p in &self.producers {
                let keep = decision.keep(&p.ids);
                let count = keep.iter().filter(|&&k| k).count();
                let multiple = round_to.max(1);
                let want = count.max(1).div_ceil(multiple) * multiple;
                let want = want.min(p.ids.len());
                let reason = if count == 0 && want == 1 || multiple == 1 {
                    Reason::KeepOne
                } else {
                    Reason::RoundTo { multiple }
                };
                for (&id, _) in p.ids.iter().zip(&keep).filter(|(_, &k)| !k).take(want.saturating_sub(count)) {
                    decision.kept.insert(decision.roots[id], reason.clone());
                    changed = true;
                }
            }
            if !changed {
                return decision;
            }
        }
    }

    fn fresh(&mut self, n: usize) -> Vec<Id> {
        let start = self.parent.len();
        self.parent.extend(start..start + n);
        (start..start + n).collect()
    }

    fn find(&self, mut id: Id) -> Id {
        while self.parent[id] != id {
            id = self.parent[id];
        }
        id
    }

    fn union(&mut self, a: Id, b: Id) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The older id is the root, so chains stay as short as the adds are deep.
            let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[child] = root;
        }
    }

    fn block(&mut self, id: Id, reason: Reason) {
        self.blocks.push((id, reason));
    }

    fn block_all(&mut self, c: &Channels, reason: &Reason) {
        for &id in &c.ids {
            self.block(id, reason.clone());
        }
    }

    fn barrier(&mut self, cx: &Context, inputs: &[Channels]) {
        if inputs.is_empty() {
            return;
        }
        let reason = Reason::Barrier { op: cx.node.op.clone(), node: cx.node.name.clone() };
        for c in inputs {
            self.block_all(c, &reason);
        }
        // An output's own op (a softmax) keeps its channels as the output does.
        if !cx.outputs.contains(&cx.index) {
            self.barriers.push((cx.node.op.clone(), cx.node.name.clone()));
        }
    }

    fn set(&mut self, cx: &Context, port: u32, c: Channels) {
        self.tensors.insert((cx.index, port), c);
    }

    fn visit(&mut self, cx: &Context) {
        let inputs = data_input_positions(cx.graph, cx.node);
        let channels: Vec<Option<Channels>> = inputs.iter().map(|k| self.tensors.get(k).cloned()).collect();
        let with: Vec<Channels> = channels.iter().flatten().cloned().collect();
        if with.is_empty() && !matches!(cx.node.op.as_str(), "Conv2D" | "MatMul") {
            return;
        }
        let handled = match cx.node.op.as_str() {
            "Conv2D" => self.conv(cx, channels.first().cloned().flatten()),
            "MatMul" => self.matmul(cx, channels.first().cloned().flatten()),
            "DepthwiseConv2dNative" => self.depthwise(cx, &channels),
            "BiasAdd" => self.bias_add(cx, &channels),
            op if op.starts_with("FusedBatchNorm") => self.batch_norm(cx, &channels),
            op if is_unary(op) && channels.first().is_some_and(Option::is_some) => {
                let mut c = with[0].clone();
                c.values = c.values.iter().map(|v| v.and_then(|v| unary_value(cx.node, v))).collect();
                self.set(cx, 0, c);
                true
            }
            op if ELEMENTWISE_BINARY.contains(&op) => self.binary(cx, &channels),
            "MaxPool" | "AvgPool" => self.pool(cx, &channels),
            "Mean" => self.mean(cx, &channels),
            "Squeeze" => self.squeeze(cx, &channels),
            "Pad" | "PadV2" | "MirrorPad" => self.pad(cx, &channels),
            "Reshape" => self.reshape(cx, &channels),
            CONCAT => self.concat(cx, &channels),
            "Split" | "SplitV" => self.split(cx, &channels),
            _ => false,
        };
        if !handled {
            self.barrier(cx, &with);
        }
    }

    /// Input channels of a convolution or matmul: a zero goes freely, a
    /// constant folds into a bias where every output position sees it whole.
    fn consume(&mut self, cx: &Context, x: &Channels, in_axis: usize, out_axis: usize, unpadded: bool) {
        let mut fold = false;
        let border = if unpadded { None } else { cx.border() };
        for (&id, v) in x.ids.iter().zip(&x.values) {
            match v {
                Some(v) if *v == 0.0 => {}
                Some(v) if v.is_finite() && unpadded && !cx.outputs.contains(&cx.index) => fold = true,
                Some(v) if v.is_finite() && border.is_some() => fold = true,
                Some(v) if v.is_finite() && !unpadded => {
                    self.block(id, Reason::ConstantThroughPadding { node: cx.node.name.clone() })
                }
                Some(v) if v.is_finite() => self.block(id, Reason::GraphOutput { node: cx.node.name.clone() }),
                _ => self.block(id, Reason::Live),
            }
        }
        self.edits.push(Edit::Slice { node: cx.index, input: 1, axis: in_axis, ids: x.ids.clone() });
        if fold {
            self.edits.push(Edit::Fold {
                node: cx.index,
                in_axis,
                out_axis,
                ids: x.ids.clone(),
                values: x.values.clone(),
                border,
            });
        }
    }

    fn produce(&mut self, cx: &Context, filter: &View, out_axis: usize, channels: Channels) {
        let n = filter.shape[out_axis];
        let ids = self.fresh(n);
        let zero = filter.zero_slices(out_axis);
        let values = zero.iter().map(|&z| z.then_some(0.0)).collect();
        self.edits.push(Edit::Slice { node: cx.index, input: 1, axis: out_axis, ids: ids.clone() });
        self.producers.push(Producer { node: cx.index, ids: ids.clone(), zero });
        self.set(cx, 0, Channels { ids, values, ..channels });
    }

    fn conv(&mut self, cx: &Context, x: Option<Channels>) -> bool {
        let Some(filter) = cx.filter_view().filter(|f| f.shape.len() == 4) else { return false };
        let axis = if is_nchw(cx.node) { 1 } else { 3 };
        if let Some(x) = &x {
            if x.rank != 4 || x.axis != axis || x.ids.len() != filter.shape[2] {
                return false;
            }
            let unpadded = cx.unpadded(&filter.shape);
            self.consume(cx, x, 2, 3, unpadded);
        }
        self.produce(cx, &filter, 3, Channels { axis, rank: 4, ids: Vec::new(), values: Vec::new() });
        true
    }

    fn matmul(&mut self, cx: &Context, a: Option<Channels>) -> bool {
        let Some(w) = cx.filter_view().filter(|w| w.shape.len() == 2) else { return false };
        if cx.node.bool_attr("transpose_a").ok().flatten().unwrap_or(false) {
            return false;
        }
        let tb = cx.node.bool_attr("transpose_b").ok().flatten().unwrap_or(false);
        let (in_axis, out_axis) = if tb { (1, 0) } else { (0, 1) };
        if let Some(a) = &a {
            if a.rank != 2 || a.axis != 1 || a.ids.len() != w.shape[in_axis] {
                return false;
            }
            self.consume(cx, a, in_axis, out_axis, true);
        }
        self.produce(cx, &w, out_axis, Channels { axis: 1, rank: 2, ids: Vec::new(), values: Vec::new() });
        true
    }

    /// A depthwise convolution keeps channels apart: its outputs
    /// `c * m .. c * m + m` (multiplier `m`) read input channel `c` only, so
    /// they carry its id and go with it.
    fn depthwise(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let Some(Some(x)) = channels.first() else { return false };
        let Some(filter) = cx.filter().filter(|f| f.shape.len() == 4) else { return false };
        let axis = if is_nchw(cx.node) { 1 } else { 3 };
        if x.rank != 4 || x.axis != axis || x.ids.len() != filter.shape[2] {
            return false;
        }
        let unpadded = cx.unpadded(&filter.shape);
        let m = filter.shape[3];
        // As a [kh, kw, in * m] filter, output position c * m + j is slice c * m + j.
        let flat = Array { shape: vec![filter.shape[0], filter.shape[1], x.ids.len() * m], data: filter.data.clone() };
        let sums = flat.sum_along(2);
        let Some(zero) = cx.filter_view().map(|v| v.reshaped(flat.shape.clone()).zero_slices(2)) else { return false };
        let mut c = Channels { ids: Vec::new(), values: Vec::new(), ..x.clone() };
        for (k, (&id, &v)) in x.ids.iter().zip(&x.values).enumerate() {
            for p in k * m..(k + 1) * m {
                c.ids.push(id);
                c.values.push(if zero[p] {
                    Some(0.0)
                } else {
                    match v {
                        Some(0.0) => Some(0.0),
                        Some(v) if unpadded => Some((v as f64 * sums[p]) as f32),
                        Some(_) => {
                            self.block(id, Reason::ConstantThroughPadding { node: cx.node.name.clone() });
                            None
                        }
                        None => None,
                    }
                });
            }
        }
        self.edits.push(Edit::Slice { node: cx.index, input: 1, axis: 2, ids: x.ids.clone() });
        self.set(cx, 0, c);
        true
    }

    fn bias_add(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let Some(Some(x)) = channels.first() else { return false };
        let axis = if is_nchw(cx.node) { 1 } else { x.rank - 1 };
        let Some(b) = cx.constant(1).filter(|b| b.shape == [x.ids.len()]) else { return false };
        if x.axis != axis || channels.get(1).is_some_and(Option::is_some) {
            return false;
        }
        let mut c = x.clone();
        for (v, &b) in c.values.iter_mut().zip(&b.data) {
            *v = v.map(|v| v + b);
        }
        self.edits.push(Edit::Slice { node: cx.index, input: 1, axis: 0, ids: x.ids.clone() });
        self.set(cx, 0, c);
        true
    }

    /// Inference-form batch norm: `(x - mean) * scale / sqrt(var + eps) + offset`
    /// per channel, its four parameters constants of the channel count.
    fn batch_norm(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let Some(Some(x)) = channels.first() else { return false };
        let training = cx.node.bool_attr("is_training").ok().flatten().unwrap_or(true);
        let axis = if is_nchw(cx.node) { 1 } else { 3 };
        let extra_outputs = (1..6).any(|p| cx.consumed.contains(&(cx.index, p)));
        let params: Option<Vec<Array>> =
            (1..5).map(|k| cx.constant(k).filter(|a| a.shape == [x.ids.len()])).collect();
        let (Some(params), false, false) = (params, training, extra_outputs) else { return false };
        if x.axis != axis || x.rank != 4 || channels[1..].iter().any(Option::is_some) {
            return false;
        }
        let eps = cx.node.float_attr("epsilon").ok().flatten().unwrap_or(1e-4);
        let mut c = x.clone();
        for (k, v) in c.values.iter_mut().enumerate() {
            let [scale, offset, mean, var] = [0, 1, 2, 3].map(|p| params[p].data[k]);
            *v = v.map(|v| (v - mean) * (scale / (var + eps).sqrt()) + offset);
        }
        for input in 1..5 {
            self.edits.push(Edit::Slice { node: cx.index, input, axis: 0, ids: x.ids.clone() });
        }
        self.set(cx, 0, c);
        true
    }

    fn binary(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let op = cx.node.op.as_str();
        match channels {
            [Some(a), Some(b)] => {
                if a.rank != b.rank || a.axis != b.axis || a.ids.len() != b.ids.len() {
                    return false;
                }
                let mut c = a.clone();
                for k in 0..a.ids.len() {
                    self.union(a.ids[k], b.ids[k]);
                    c.values[k] = match (a.values[k], b.values[k]) {
                        (Some(x), Some(y)) => binary_value(op, x, y),
                        (Some(z), _) | (_, Some(z)) if op == "Mul" && z == 0.0 => Some(0.0),
                        (Some(_), None) | (None, Some(_)) => {
                            let id = if a.values[k].is_some() { a.ids[k] } else { b.ids[k] };
                            self.block(id, Reason::ResidualCoupling { node: cx.node.name.clone() });
                            None
                        }
                        (None, None) => None,
                    };
                }
                self.set(cx, 0, c);
                true
            }
            [Some(x), None] | [None, Some(x)] => {
                let const_first = channels[0].is_none();
                let Some(k) = cx.constant(usize::from(!const_first)) else { return false };
                let Some(per) = PerChannel::of(&k, x) else { return false };
                let mut c = x.clone();
                for (i, v) in c.values.iter_mut().enumerate() {
                    let k = per.uniform.then(|| per.value(&k, i));
                    *v = match (*v, k) {
                        (_, Some(k)) if op == "Mul" && k == 0.0 => Some(0.0),
                        (Some(v), Some(k)) if const_first => binary_value(op, k, v),
                        (Some(v), Some(k)) => binary_value(op, v, k),
                        _ => None,
                    };
                }
                if let Some(axis) = per.axis {
                    self.edits.push(Edit::Slice { node: cx.index, input: usize::from(!const_first), axis, ids: x.ids.clone() });
                }
                self.set(cx, 0, c);
                true
            }
            _ => false,
        }
    }

    fn pool(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let Some(Some(x)) = channels.first() else { return false };
        let axis = if is_nchw(cx.node) { 1 } else { 3 };
        let along = |key: &str| cx.node.ints_attr(key).ok().flatten().and_then(|v| v.get(axis).copied());
        if x.rank != 4 || x.axis != axis || along("ksize") != Some(1) || along("strides") != Some(1) {
            return false;
        }
        // A window of one constant is that constant; TensorFlow's pools skip padding.
        self.set(cx, 0, x.clone());
        true
    }

    fn mean(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let Some(Some(x)) = channels.first() else { return false };
        let Some(axes) = cx.data_input(1).and_then(|i| const_ints(cx.graph, i)).and_then(|a| normalise(&a, x.rank)) else {
            return false;
        };
        if axes.contains(&x.axis) {
            return false;
        }
        let keep_dims = cx.node.bool_attr("keep_dims").ok().flatten().unwrap_or(false);
        let mut c = x.clone();
        if !keep_dims {
            c.axis -= axes.iter().filter(|&&a| a < x.axis).count();
            c.rank -= axes.len();
        }
        self.set(cx, 0, c);
        true
    }

    fn squeeze(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let Some(Some(x)) = channels.first() else { return false };
        let Some(dims) = cx.input_shape(0).and_then(|s| squeezed(cx.node, s)) else { return false };
        if dims.contains(&x.axis) {
            return false;
        }
        let mut c = x.clone();
        c.axis -= dims.iter().filter(|&&a| a < x.axis).count();
        c.rank -= dims.len();
        self.set(cx, 0, c);
        true
    }

    fn pad(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let Some(Some(x)) = channels.first() else { return false };
        let Some(pads) = cx.data_input(1).and_then(|i| const_ints(cx.graph, i)).filter(|p| p.len() == 2 * x.rank) else {
            return false;
        };
        if pads[2 * x.axis] != 0 || pads[2 * x.axis + 1] != 0 {
            return false;
        }
        let padded = pads.iter().any(|&p| p != 0);
        let fill = match cx.node.op.as_str() {
            "PadV2" => cx.constant(2).filter(|a| a.data.len() == 1).map(|a| a.data[0]),
            "MirrorPad" => None,
            _ => Some(0.0),
        };
        let mut c = x.clone();
        for (k, v) in c.values.iter_mut().enumerate() {
            // Mirroring a constant repeats it; zeros around a constant of
            // another value make it one no longer.
            let stays = !padded || cx.node.op == "MirrorPad" || (v.is_some() && *v == fill);
            if !stays && v.is_some() {
                self.block(x.ids[k], Reason::ConstantThroughPadding { node: cx.node.name.clone() });
                *v = None;
            }
        }
        self.set(cx, 0, c);
        true
    }

    /// A flatten of an image (`[N, H, W, C]` to `[N, H*W*C]`, or NCHW's
    /// `[N, C*H*W]`), or a reshape keeping the channels last.
    fn reshape(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let Some(Some(x)) = channels.first() else { return false };
        let Some(shape_input) = cx.data_input(1) else { return false };
        let Some(target) = const_ints(cx.graph, shape_input).or_else(|| packed_ints(cx.graph, shape_input)) else {
            return false;
        };
        let Some(&last) = target.last() else { return false };
        let channels_count = x.ids.len() as i64;
        let out_shape = cx.shapes.shape(cx.index, 0);
        let out_last = out_shape.and_then(|s| s.last().copied()).filter(|&d| d >= 0);
        let known_last = if last >= 0 { Some(last) } else { out_last };
        let mut c = if x.axis + 1 == x.rank && known_last == Some(channels_count) {
            Channels { axis: target.len() - 1, rank: target.len(), ..x.clone() }
        } else if x.rank == 4 && target.len() == 2 && (x.axis == 3 || x.axis == 1) {
            let Some(len) = known_last.filter(|&l| l > 0 && l % channels_count == 0) else { return false };
            let positions = (len / channels_count) as usize;
            let mut c = Channels { axis: 1, rank: 2, ids: Vec::new(), values: Vec::new() };
            for p in 0..len as usize {
                let k = if x.axis == 3 { p % x.ids.len() } else { p / positions };
                c.ids.push(x.ids[k]);
                c.values.push(x.values[k]);
            }
            c
        } else {
            return false;
        };
        if last >= 0 {
            if const_ints(cx.graph, shape_input).is_none() {
                return false;
            }
            self.edits.push(Edit::ReshapeLast { node: cx.index, ids: c.ids.clone() });
        }
        c.rank = target.len();
        self.set(cx, 0, c);
        true
    }

    fn concat(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let n = channels.len().saturating_sub(1);
        let Some(rank) = channels[..n].iter().flatten().map(|c| c.rank).next() else { return false };
        let Some(axis) = cx.data_input(n).and_then(|i| const_ints(cx.graph, i)).and_then(|a| normalise(&a, rank)).and_then(|a| a.first().copied())
        else {
            return false;
        };
        let mut out = Channels { axis, rank, ids: Vec::new(), values: Vec::new() };
        for (k, c) in channels[..n].iter().enumerate() {
            match c {
                Some(c) if c.axis == axis && c.rank == rank => {
                    out.ids.extend(&c.ids);
                    out.values.extend(&c.values);
                }
                Some(_) => return false,
                // An operand from elsewhere keeps its channels: fresh ids, kept.
                None => {
                    let Some(d) = cx.input_shape(k).and_then(|s| s.get(axis).copied()).filter(|&d| d >= 0) else {
                        return false;
                    };
                    let ids = self.fresh(d as usize);
                    for &id in &ids {
                        self.block(id, Reason::Live);
                    }
                    out.values.extend(std::iter::repeat_n(None, ids.len()));
                    out.ids.extend(ids);
                }
            }
        }
        self.set(cx, 0, out);
        true
    }

    fn split(&mut self, cx: &Context, channels: &[Option<Channels>]) -> bool {
        let (value, axis_input) = if cx.node.op == "Split" { (1, 0) } else { (0, 2) };
        let Some(Some(x)) = channels.get(value) else { return false };
        let axis = cx.data_input(axis_input).and_then(|i| const_ints(cx.graph, i)).and_then(|a| normalise(&a, x.rank));
        if axis.as_deref() != Some(&[x.axis]) || channels.iter().enumerate().any(|(k, c)| k != value && c.is_some()) {
            return false;
        }
        let len = x.ids.len() as i64;
        let sizes: Vec<i64> = if cx.node.op == "Split" {
            let Some(n) = cx.node.int_attr("num_split").ok().flatten().filter(|&n| n > 0 && len % n == 0) else {
                return false;
            };
            vec![len / n; n as usize]
        } else {
            let Some(mut sizes) = cx.data_input(1).and_then(|i| const_ints(cx.graph, i)) else { return false };
            let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
            if let Some(s) = sizes.iter_mut().find(|s| **s < 0) {
                *s = len - known;
            }
            sizes
        };
        if sizes.iter().any(|&s| s < 0) || sizes.iter().sum::<i64>() != len {
            return false;
        }
        let mut start = 0;
        let mut outputs = Vec::new();
        for (port, &size) in sizes.iter().enumerate() {
            let end = start + size as usize;
            let part = Channels { ids: x.ids[start..end].to_vec(), values: x.values[start..end].to_vec(), ..x.clone() };
            outputs.push(part.ids.clone());
            self.set(cx, port as u32, part);
            start = end;
        }
        self.edits.push(Edit::Split { node: cx.index, outputs });
        true
    }
}

/// A constant operand of a binary op that varies along the channel axis of
/// `x` or not at all (then `axis` is `None`); `uniform` when it varies along
/// nothing else, so a constant channel stays constant.
struct PerChannel {
    axis: Option<usize>,
    uniform: bool,
}

impl PerChannel {
    fn of(k: &Array, x: &Channels) -> Option<PerChannel> {
        let offset = x.rank.checked_sub(k.shape.len())?;
        let mut per = PerChannel { axis: None, uniform: true };
        for (j, &d) in k.shape.iter().enumerate() {
            if j + offset == x.axis && d == x.ids.len() && d != 1 {
                per.axis = Some(j);
            } else if j + offset == x.axis && d != 1 {
                return None;
            } else if d != 1 {
                per.uniform = false;
            }
        }
        Some(per)
    }

    fn value(&self, k: &Array, channel: usize) -> f32 {
        k.data[if self.axis.is_some() { channel } else { 0 }]
    }
}

struct Context<'a> {
    graph: &'a Graph,
    shapes: &'a Statics,
    consumed: &'a HashSet<(usize, u32)>,
    readers: &'a Readers,
    outputs: &'a HashSet<usize>,
    borders: bool,
    index: usize,
    node: &'a NodeDef,
}

impl<'a> Context<'a> {
    fn data_input(&self, k: usize) -> Option<InputRef<'a>> {
        self.node.data_input(k)
    }

    fn constant(&self, k: usize) -> Option<Array> {
        const_array(self.graph, self.data_input(k)?)
    }

    fn filter(&self) -> Option<Array> {
        self.constant(1)
    }

    fn filter_view(&self) -> Option<View> {
        const_view(self.graph, self.data_input(1)?)
    }

    fn input_shape(&self, k: usize) -> Option<&Vec<i64>> {
        let (n, p) = *data_input_positions(self.graph, self.node).get(k)?;
        self.shapes.shape(n, p)
    }

    /// The spatial sizes of a convolution's input and output, if static.
    fn border(&self) -> Option<Border> {
        if !self.borders {
            return None;
        }
        let (spatial, _) = spatial_axes(is_nchw(self.node));
        let hw = |s: &Vec<i64>| -> Option<[usize; 2]> {
            let [h, w] = spatial.map(|a| s.get(a).copied().and_then(|d| usize::try_from(d).ok()));
            Some([h?, w?])
        };
        // After the layer's bias, so that the two still fuse; before it when
        // the bias is a graph output, whose value must not change.
        let after = match bias_after(self.graph, self.readers, self.index) {
            Some((f, _, _)) if !self.outputs.contains(&f) => f,
            _ if !self.outputs.contains(&self.index) => self.index,
            _ => return None,
        };
        Some(Border { input: hw(self.input_shape(0)?)?, output: hw(self.shapes.shape(self.index, 0)?)?, after })
    }

    /// Whether every output position of this window op reads only real
    /// input: `VALID`, a 1x1 window, or explicit padding of zeros.
    fn unpadded(&self, filter_shape: &[usize]) -> bool {
        let one_by_one = filter_shape[0] == 1 && filter_shape[1] == 1;
        match self.node.string_attr("padding").ok().flatten() {
            Some("VALID") => true,
            Some("SAME") => one_by_one,
            Some("EXPLICIT") => {
                self.node.ints_attr("explicit_paddings").ok().flatten().is_some_and(|p| p.iter().all(|&p| p == 0))
            }
            _ => false,
        }
    }
}
