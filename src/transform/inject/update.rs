//! One weight's new threshold and mask (contrib's `_update_mask` and
//! `_maybe_update_block_mask`), plus channel pruning: the k-th largest of
//! |W|, of |W| pooled over blocks, or of each output channel's L2 norm, with
//! the threshold smoothed by `threshold_decay`.

use super::builder::{Ops};
use crate::graph::NodeBuilder;
use super::hparams::HparamsError;
use super::select::OutAxis;
use super::InjectError;
use crate::proto::tensorflow::DataType;

const F32: DataType = DataType::DtFloat;
const I32: DataType = DataType::DtInt32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Structure {
    /// Individual weights, or blocks of them (`block_height` x `block_width`).
    #[default]
    Elementwise,
    /// Whole output channels of convolutions and output neurons of matmuls.
    Channel,
}

pub struct Update<'a> {
    /// The weight's name, for messages.
    pub name: &'a str,
    /// Its current value.
    pub weight: &'a str,
    pub shape: &'a [u64],
    pub dtype: DataType,
    pub sparsity: &'a str,
    pub threshold: &'a str,
    pub decay: f64,
    /// Block height and width, -1 for the whole dimension.
    pub block: [i64; 2],
    pub pooling: &'a str,
    /// Pool in two passes, rows then columns (`use_tpu`: contrib's `factorized_pool`).
    pub factorized: bool,
    pub structure: Structure,
    pub out_axis: OutAxis,
}

/// Returns the smoothed threshold and the new mask (same shape and dtype as the weight).
pub fn new_mask(ops: &mut Ops, u: &Update) -> Result<(String, String), InjectError> {
    if u.structure == Structure::Channel {
        return channel_mask(ops, u);
    }
    let abs = ops.unary("Abs", u.weight, u.dtype)?;
    let squeezed: Vec<u64> = u.shape.iter().copied().filter(|&d| d != 1).collect();
    if let [rows, cols] = squeezed[..] {
        let bh = if u.block[0] == -1 {
            rows
        } else {
            u.block[0] as u64
        };
        let bw = if u.block[1] == -1 {
            cols
        } else {
            u.block[1] as u64
        };
        if (bh, bw) != (1, 1) {
            return block_mask(ops, u, &abs, [rows, cols], [bh, bw]);
        }
    }
    let n = u.shape.iter().product();
    let smoothed = kth_largest(ops, u, &abs, n)?;
    let mask = at_least(ops, &abs, &smoothed, u.dtype)?;
    Ok((smoothed, mask))
}

/// The smoothed threshold keeping `round(n * (1 - sparsity))` of `values`.
fn kth_largest(ops: &mut Ops, u: &Update, values: &str, n: u64) -> Result<String, InjectError> {
    let size = ops.scalar("Size", I32, n as f64)?;
    let size_f = ops.cast(&size, I32, F32)?;
    let one = ops.scalar("sub/x", F32, 1.0)?;
    let density = ops.binary("Sub", &one, u.sparsity, F32)?;
    let kept = ops.binary("Mul", &size_f, &density, F32)?;
    let kept = ops.unary("Round", &kept, F32)?;
    let k = ops.cast(&kept, F32, I32)?;
    let flat = ops.reshape(values, &[-1], u.dtype)?;
    let sorted = ops.add(
        "TopKV2",
        NodeBuilder::new("TopKV2")
            .input(flat)
            .input(&size)
            .ty("T", u.dtype)
            .boolean("sorted", true),
    )?;
    let one = ops.scalar("sub_1/y", I32, 1.0)?;
    let last = ops.binary("Sub", &k, &one, I32)?;
    let zero = ops.scalar("Maximum/y", I32, 0.0)?;
    let index = ops.binary("Maximum", &last, &zero, I32)?;
    let axis = ops.scalar("GatherV2/axis", I32, 0.0)?;
    let current = ops.add(
        "GatherV2",
        NodeBuilder::new("GatherV2")
            .input(sorted)
            .input(index)
            .input(axis)
            .ty("Tparams", u.dtype)
            .ty("Tindices", I32)
            .ty("Taxis", I32),
    )?;
    let keep = ops.scalar("Mul_1/y", u.dtype, 1.0 - u.decay)?;
    let current = ops.binary("Mul", &current, &keep, u.dtype)?;
    let decay = ops.scalar("Mul_2/y", u.dtype, u.decay)?;
    let previous = ops.binary("Mul", u.threshold, &decay, u.dtype)?;
    ops.add(
        "AddN",
        NodeBuilder::new("AddN")
            .input(current)
            .input(previous)
            .ty("T", u.dtype)
            .int("N", 2),
    )
}

fn at_least(
    ops: &mut Ops,
    values: &str,
    threshold: &str,
    dtype: DataType,
) -> Result<String, InjectError> {
    let keep = ops.binary("GreaterEqual", values, threshold, dtype)?;
    ops.cast(&keep, DataType::DtBool, dtype)
}

/// Pools |W| (squeezed to rows x cols) over blocks, thresholds the pooled
/// matrix, and expands each block's decision back to W's shape.
fn block_mask(
    ops: &mut Ops,
    u: &Update,
    abs: &str,
    [rows, cols]: [u64; 2],
    [bh, bw]: [u64; 2],
) -> Result<(String, String), InjectError> {
    let pool = match u.pooling {
        "AVG" => "AvgPool",
        "MAX" => "MaxPool",
        other => {
            return Err(InjectError::Hparams(HparamsError(format!(
                "Unknown pooling function for block sparsity: {other}"
            ))))
        }
    };
    let (pr, pc) = (rows.div_ceil(bh), cols.div_ceil(bw));
    let pooled = if u.factorized {
        // contrib's use_tpu path (`factorized_pool`): two 1-D poolings, so
        // an AVG block is an average of row averages, which rounds
        // differently from one AvgPool over the block.
        let image = ops.reshape(abs, &[1, 1, rows as i64, cols as i64], u.dtype)?;
        let by_rows = pool_op(ops, pool, &image, [1, bh], u.dtype)?;
        let swapped = transpose(ops, &by_rows, u.dtype)?;
        let by_cols = pool_op(ops, pool, &swapped, [1, bw], u.dtype)?;
        transpose(ops, &by_cols, u.dtype)?
    } else {
        let image = ops.reshape(abs, &[1, rows as i64, cols as i64, 1], u.dtype)?;
        pool_op(ops, pool, &image, [bh, bw], u.dtype)?
    };
    let pooled = ops.reshape(&pooled, &[pr as i64, pc as i64], u.dtype)?;
    let smoothed = kth_largest(ops, u, &pooled, pr * pc)?;
    let block_mask = at_least(ops, &pooled, &smoothed, u.dtype)?;
    let cells = ops.reshape(&block_mask, &[pr as i64, 1, pc as i64, 1], u.dtype)?;
    let tiled = tile(ops, &cells, &[1, bh as i64, 1, bw as i64], u.dtype)?;
    let expanded = ops.reshape(&tiled, &[(pr * bh) as i64, (pc * bw) as i64], u.dtype)?;
    let begin = ops.int32s("Slice/begin", &[0, 0])?;
    let size = ops.int32s("Slice/size", &[rows as i64, cols as i64])?;
    let cropped = ops.add(
        "Slice",
        NodeBuilder::new("Slice")
            .input(expanded)
            .input(begin)
            .input(size)
            .ty("T", u.dtype)
            .ty("Index", I32),
    )?;
    let mask = ops.reshape(&cropped, &dims(u.shape), u.dtype)?;
    Ok((smoothed, mask))
}

/// `pool` (AvgPool or MaxPool) over NHWC windows of `window`, stride = window, SAME padding.
fn pool_op(
    ops: &mut Ops,
    pool: &str,
    x: &str,
    [h, w]: [u64; 2],
    dtype: DataType,
) -> Result<String, InjectError> {
    let window = [1, h as i64, w as i64, 1];
    ops.add(
        pool,
        NodeBuilder::new(pool)
            .input(x)
            .ty("T", dtype)
            .ints("ksize", &window)
            .ints("strides", &window)
            .string("padding", "SAME")
            .string("data_format", "NHWC"),
    )
}

/// Swaps the last two axes of a rank-4 tensor.
fn transpose(ops: &mut Ops, x: &str, dtype: DataType) -> Result<String, InjectError> {
    let perm = ops.int32s("transpose/perm", &[0, 1, 3, 2])?;
    ops.add(
        "transpose",
        NodeBuilder::new("Transpose")
            .input(x)
            .input(perm)
            .ty("T", dtype)
            .ty("Tperm", I32),
    )
}

/// Thresholds the L2 norm of each output channel; a channel is kept or
/// dropped whole.
fn channel_mask(ops: &mut Ops, u: &Update) -> Result<(String, String), InjectError> {
    let n: u64 = u.shape.iter().product();
    let rank = u.shape.len();
    let channels: u64 = match (u.out_axis, rank) {
        (_, 0) => 1,
        (OutAxis::First, _) => u.shape[0],
        (OutAxis::LastTwo, r) if r >= 2 => u.shape[r - 2] * u.shape[r - 1],
        (_, r) => u.shape[r - 1],
    };
    if u.out_axis == OutAxis::First && rank > 2 {
        return Err(InjectError::BatchedChannels { operand: u.name.to_string(), rank });
    }
    let rest = n / channels.max(1);
    let (matrix, reduce, cell, multiples) = match u.out_axis {
        OutAxis::First => ([channels, rest], 1, [channels, 1], [1, rest]),
        _ => ([rest, channels], 0, [1, channels], [rest, 1]),
    };
    let w = ops.reshape(u.weight, &dims(&matrix), u.dtype)?;
    let squares = ops.unary("Square", &w, u.dtype)?;
    let axis = ops.scalar("Sum/reduction_indices", I32, reduce as f64)?;
    let sums = ops.add(
        "Sum",
        NodeBuilder::new("Sum")
            .input(squares)
            .input(axis)
            .ty("T", u.dtype)
            .ty("Tidx", I32)
            .boolean("keep_dims", false),
    )?;
    let norms = ops.unary("Sqrt", &sums, u.dtype)?;
    let smoothed = kth_largest(ops, u, &norms, channels)?;
    let keep = at_least(ops, &norms, &smoothed, u.dtype)?;
    let keep = ops.reshape(&keep, &dims(&cell), u.dtype)?;
    let tiled = tile(ops, &keep, &dims(&multiples), u.dtype)?;
    let mask = ops.reshape(&tiled, &dims(u.shape), u.dtype)?;
    Ok((smoothed, mask))
}

fn tile(ops: &mut Ops, x: &str, multiples: &[i64], dtype: DataType) -> Result<String, InjectError> {
    let m = ops.int32s("Tile/multiples", multiples)?;
    ops.add(
        "Tile",
        NodeBuilder::new("Tile")
            .input(x)
            .input(m)
            .ty("T", dtype)
            .ty("Tmultiples", I32),
    )
}

fn dims(shape: &[u64]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}
