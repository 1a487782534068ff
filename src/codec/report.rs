//! What a container holds: the figures `encode` and `inspect CONTAINER`
//! report, and the entropy bound they are measured against.

use rayon::prelude::*;
use serde::Serialize;

use super::chunk::{self, Layout};
use super::decode::{Contents, DecodeOptions};
use super::Problem;
use crate::proto::tensorflow::DataType;

/// One cut tensor in a container.
#[derive(Debug, Clone, Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub bytes: u64,
    pub elements: u64,
    pub zeros: u64,
    /// Bytes its chunks take in the container.
    pub stored: u64,
    /// "sparse", "dense", "plain" or "mixed" (per chunk).
    pub coding: String,
    /// Mask entropy plus the raw nonzero elements, in bytes.
    pub bound: f64,
    /// Zeros stored as -0.0 (`mask * w` for `w < 0`).
    pub negative_zeros: u64,
    /// The entropy of the zeros' signs, in bytes: what keeping -0.0 costs
    /// on top of `bound`.
    pub zero_sign_bound: f64,
}

impl TensorInfo {
    pub(super) fn new(name: &str, dtype: i32, len: usize, layout: Layout, (zeros, negative_zeros): (usize, usize), stored: u64, kinds: &[u8]) -> Self {
        let elements = (len / layout.size) as u64;
        let (zeros, negative_zeros) = (zeros as u64, negative_zeros as u64);
        TensorInfo {
            name: name.to_string(),
            dtype: dtype_name(dtype),
            bytes: len as u64,
            elements,
            zeros,
            stored,
            coding: coding_name(kinds),
            bound: entropy_bound(elements, zeros, layout.size),
            negative_zeros,
            zero_sign_bound: if zeros == 0 {
                0.0
            } else {
                zeros as f64 * h2(negative_zeros as f64 / zeros as f64) / 8.0
            },
        }
    }
}

/// Binary entropy in bits.
pub fn h2(p: f64) -> f64 {
    if p <= 0.0 || p >= 1.0 {
        0.0
    } else {
        -p * p.log2() - (1.0 - p) * (1.0 - p).log2()
    }
}

/// Mask entropy plus raw nonzeros, in bytes.
pub fn entropy_bound(elements: u64, zeros: u64, size: usize) -> f64 {
    if elements == 0 {
        return 0.0;
    }
    let s = zeros as f64 / elements as f64;
    elements as f64 * h2(s) / 8.0 + (elements - zeros) as f64 * size as f64
}

pub(super) fn coding_name(kinds: &[u8]) -> String {
    let name = |k: u8| match k {
        chunk::SPARSE => "sparse",
        chunk::DENSE => "dense",
        _ => "plain",
    };
    match kinds.split_first() {
        None => "empty".into(),
        Some((&k, rest)) if rest.iter().all(|&r| r == k) => name(k).into(),
        _ => "mixed".into(),
    }
}

pub(super) fn dtype_name(dtype: i32) -> String {
    DataType::try_from(dtype)
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| format!("dtype {dtype}"))
}

/// The tensors a container holds and the bytes each takes.
pub fn describe(bytes: &[u8]) -> Result<Vec<TensorInfo>, Problem> {
    // Zeros and bounds are not in the table of contents: decode (checking
    // every CRC) and count them, rather than report figures we do not know.
    let opts = DecodeOptions::default();
    let contents = Contents::read(bytes, &opts)?;
    let mut out = vec![0u8; contents.toc.total_len];
    contents.decode_into(bytes, &opts, &mut out)?;
    Ok(contents
        .toc
        .tensors
        .par_iter()
        .map(|t| {
            let kinds: Vec<u8> = t.chunks.iter().map(|c| c.kind).collect();
            let zeros = chunk::zeros_of(t.layout, &out[t.offset..t.offset + t.len]);
            let stored = t.chunks.iter().map(|c| c.blob.len as u64).sum();
            TensorInfo::new(&t.name, t.dtype, t.len, t.layout, zeros, stored, &kinds)
        })
        .collect())
}
