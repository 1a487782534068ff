//! What each encoding would take for every large constant of a `.pb`: the
//! figures `inspect --encodings` reports.

use rayon::prelude::*;
use serde::Serialize;

use super::chunk;
use super::encode::{layout_of, EncodeOptions};
use super::report::{dtype_name, entropy_bound};
use super::wire;

/// Per tensor, the bytes each encoding would take.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub name: String,
    pub dtype: String,
    pub elements: u64,
    pub zeros: u64,
    /// As in the `.pb`.
    pub raw: u64,
    /// zstd -3 of the raw bytes.
    pub zstd: u64,
    /// Byte planes, entropy-coded.
    pub dense: u64,
    /// Zero pattern plus nonzero byte planes.
    pub sparse: u64,
    /// One bit per element plus the raw nonzeros (the TF-loadable form).
    pub bitmask: u64,
    /// Mask entropy plus the raw nonzeros.
    pub bound: f64,
}

/// Estimates every large constant of a serialized GraphDef.
pub fn analyze(pb: &[u8], opts: &EncodeOptions) -> Vec<Estimate> {
    let contents = wire::find_contents(pb, opts.min_tensor_bytes.max(1)).unwrap_or_default();
    contents
        .par_iter()
        .map(|c| {
            let data = &pb[c.offset..c.offset + c.len];
            let layout = layout_of(c.dtype, c.len);
            let (dense, sparse, zeros) = chunk::encode_both(data, layout, opts.level);
            let elements = (c.len / layout.size) as u64;
            Estimate {
                name: c.node.clone(),
                dtype: dtype_name(c.dtype),
                elements,
                zeros: zeros as u64,
                raw: c.len as u64,
                zstd: zstd::bulk::compress(data, 3).map_or(c.len as u64, |z| z.len() as u64),
                dense: dense as u64,
                sparse: sparse as u64,
                bitmask: elements.div_ceil(8) + (elements - zeros as u64) * layout.size as u64,
                bound: entropy_bound(elements, zeros as u64, layout.size),
            }
        })
        .collect()
}

