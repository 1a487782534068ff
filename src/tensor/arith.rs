//! The arithmetic a pruned model needs outside TensorFlow, with TensorFlow's
//! rounding: IEEE products for f32/f64, and for the half types the product of
//! the widened values rounded back (round to nearest even), as Eigen does.

use bytes::Bytes;
use half::{bf16, f16};
use rayon::prelude::*;

use super::{count_zeros, Tensor, TensorData};
use crate::proto::tensorflow::DataType;

/// Why two tensors cannot be multiplied.
#[derive(Debug, thiserror::Error)]
pub enum ArithError {
    #[error("multiplying {0} tensors is not supported")]
    Unsupported(DataType),
    #[error("string tensors cannot be multiplied")]
    Strings,
    #[error("operands differ: {}{:?} vs {}{:?}", .a.0, .a.1, .b.0, .b.1)]
    OperandsDiffer { a: (DataType, Vec<u64>), b: (DataType, Vec<u64>) },
}

/// Writes `x * y` elementwise into `out` (all three the same length).
fn multiply_into(dtype: DataType, x: &[u8], y: &[u8], out: &mut [u8]) -> Result<(), ArithError> {
    match dtype {
        DataType::DtFloat => zip_map::<4>(x, y, out, |p, q| (f32::from_le_bytes(p) * f32::from_le_bytes(q)).to_le_bytes()),
        DataType::DtDouble => zip_map::<8>(x, y, out, |p, q| (f64::from_le_bytes(p) * f64::from_le_bytes(q)).to_le_bytes()),
        DataType::DtHalf => zip_map::<2>(x, y, out, |p, q| {
            f16::from_f32(f16::from_le_bytes(p).to_f32() * f16::from_le_bytes(q).to_f32()).to_le_bytes()
        }),
        DataType::DtBfloat16 => zip_map::<2>(x, y, out, |p, q| {
            bf16::from_f32(bf16::from_le_bytes(p).to_f32() * bf16::from_le_bytes(q).to_f32()).to_le_bytes()
        }),
        other => return Err(ArithError::Unsupported(other)),
    }
    Ok(())
}

fn zip_map<const N: usize>(x: &[u8], y: &[u8], out: &mut [u8], f: impl Fn([u8; N], [u8; N]) -> [u8; N]) {
    for ((o, x), y) in out.chunks_exact_mut(N).zip(x.chunks_exact(N)).zip(y.chunks_exact(N)) {
        let mut p = [0u8; N];
        let mut q = [0u8; N];
        p.copy_from_slice(x);
        q.copy_from_slice(y);
        o.copy_from_slice(&f(p, q));
    }
}

/// Work is split in chunks of this many bytes (a multiple of every element size).
const CHUNK: usize = 1 << 20;

/// A string tensor is the one kind `pod_bytes` refuses at one byte per element.
fn pod(t: &Tensor) -> Result<&Bytes, ArithError> {
    t.pod_bytes().map_err(|_| ArithError::Strings)
}

/// `a * b` for same-shape tensors (a mask and its weight), in parallel.
pub fn multiply(a: &Tensor, b: &Tensor) -> Result<Tensor, ArithError> {
    if a.dtype != b.dtype || a.shape != b.shape {
        return Err(ArithError::OperandsDiffer { a: (a.dtype, a.shape.clone()), b: (b.dtype, b.shape.clone()) });
    }
    let (x, y) = (pod(a)?, pod(b)?);
    let mut out = vec![0u8; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
        .try_for_each(|(o, (x, y))| multiply_into(a.dtype, x, y, o))?;
    Ok(Tensor {
        dtype: a.dtype,
        shape: a.shape.clone(),
        data: TensorData::Pod(Bytes::from(out)),
    })
}

/// How many elements of `x * y` are zero, without materialising the product.
pub fn count_zero_products(dtype: DataType, x: &[u8], y: &[u8]) -> Option<u64> {
    if x.len() != y.len() {
        return None;
    }
    x.par_chunks(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .map(|(x, y)| {
            let mut out = vec![0u8; x.len()];
            multiply_into(dtype, x, y, &mut out).ok()?;
            count_zeros(dtype, &out)
        })
        .sum()
}

/// A one-element real tensor's value (thresholds), widened to f64.
pub fn scalar_f64(t: &Tensor) -> Option<f64> {
    let TensorData::Pod(b) = &t.data else { return None };
    Some(match (t.dtype, b.len()) {
        (DataType::DtFloat, 4) => f32::from_le_bytes(b[..4].try_into().ok()?) as f64,
        (DataType::DtDouble, 8) => f64::from_le_bytes(b[..8].try_into().ok()?),
        (DataType::DtHalf, 2) => f16::from_le_bytes([b[0], b[1]]).to_f64(),
        (DataType::DtBfloat16, 2) => bf16::from_le_bytes([b[0], b[1]]).to_f64(),
        _ => return None,
    })
}
