//! Encoding a serialized GraphDef into a container: cut every large
//! `tensor_content`, code each in chunks in parallel, and zstd the rest.

use rayon::prelude::*;
use serde::Serialize;

use super::chunk::{self, Layout};
use super::le;
use super::report::TensorInfo;
use super::toc::{Blob, ChunkEntry, TensorEntry, Toc};
use super::wire;
use crate::proto::tensorflow::DataType;

#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// zstd level of the zero-pattern and value streams.
    pub level: i32,
    /// `tensor_content` fields shorter than this stay in the skeleton.
    pub min_tensor_bytes: usize,
    /// Elements per independently coded chunk (at most 2^24).
    pub chunk_elements: usize,
    /// Store every -0.0 as +0.0 (equal values; the decoded .pb then differs
    /// from the input in those sign bits only). Saves one bit per zero that a
    /// stripped model's `mask * w` made negative.
    pub canonical_zeros: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            level: 1,
            min_tensor_bytes: 1024,
            chunk_elements: 1 << 20,
            canonical_zeros: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EncodeReport {
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub skeleton_bytes: u64,
    pub skeleton_stored: u64,
    pub tensors: Vec<TensorInfo>,
    /// The input was a text GraphDef; the container holds its binary form.
    pub from_text: bool,
    /// Filled in by `encode_file`: reading, encoding, writing.
    pub read_seconds: f64,
    pub encode_seconds: f64,
    pub write_seconds: f64,
}

impl EncodeReport {
    /// Sum of the tensors' bounds: mask entropy plus raw nonzeros.
    pub fn bound(&self) -> f64 {
        self.tensors.iter().map(|t| t.bound).sum()
    }

    /// The entropy of the zeros' signs, summed.
    pub fn zero_sign_bound(&self) -> f64 {
        self.tensors.iter().map(|t| t.zero_sign_bound).sum()
    }
}

pub(super) fn layout_of(dtype: i32, len: usize) -> Layout {
    let Ok(dt) = DataType::try_from(dtype) else {
        return Layout::BYTES;
    };
    let dt = dt.base();
    let Some(size) = dt.byte_size() else {
        return Layout::BYTES;
    };
    if len % size != 0 {
        return Layout::BYTES;
    }
    let unit = match dt {
        DataType::DtComplex64 | DataType::DtComplex128 => size / 2,
        _ if crate::tensor::is_floating(dt) => size,
        _ => 0,
    };
    let layout = Layout { size, unit };
    if layout.valid() {
        layout
    } else {
        Layout::BYTES
    }
}

fn blob_of(bytes: &[u8]) -> Blob {
    Blob { at: 0, len: bytes.len(), crc: crc32c::crc32c(bytes) }
}

struct EncodedChunk {
    kind: u8,
    elements: u64,
    blob: Vec<u8>,
    /// (zeros, negative zeros), for the report.
    zeros: (usize, usize),
}

/// Encodes a serialized GraphDef. Bytes that are not a binary GraphDef are
/// still stored losslessly (all as skeleton).
pub fn encode(pb: &[u8], opts: &EncodeOptions) -> (Vec<u8>, EncodeReport) {
    let contents = wire::find_contents(pb, opts.min_tensor_bytes.max(1)).unwrap_or_default();
    let per_chunk = opts.chunk_elements.clamp(1, 1 << 24);
    let canonical;
    let pb = if opts.canonical_zeros {
        let mut owned = pb.to_vec();
        let mut rest: &mut [u8] = &mut owned;
        let mut at = 0;
        let mut parts = Vec::with_capacity(contents.len());
        for c in &contents {
            let (_, tail) = rest.split_at_mut(c.offset - at);
            let (body, tail) = tail.split_at_mut(c.len);
            parts.push((body, layout_of(c.dtype, c.len)));
            rest = tail;
            at = c.offset + c.len;
        }
        parts
            .into_par_iter()
            .for_each(|(body, layout)| chunk::clear_zero_signs(body, layout));
        canonical = owned;
        &canonical[..]
    } else {
        pb
    };

    // Skeleton: the file without the cut ranges.
    let cut: usize = contents.iter().map(|c| c.len).sum();
    let mut skeleton = Vec::with_capacity(pb.len() - cut);
    let mut at = 0;
    for c in &contents {
        skeleton.extend_from_slice(&pb[at..c.offset]);
        at = c.offset + c.len;
    }
    skeleton.extend_from_slice(&pb[at..]);

    let jobs: Vec<(usize, usize, usize)> = contents
        .iter()
        .enumerate()
        .flat_map(|(t, c)| {
            let layout = layout_of(c.dtype, c.len);
            let step = per_chunk * layout.size;
            (0..c.len.div_ceil(step).max(1)).map(move |k| (t, k * step, ((k + 1) * step).min(c.len)))
        })
        .collect();
    let level = opts.level;
    let (skel_blob, (encoded_chunks, crcs)) = rayon::join(
        || {
            let mut w = le::Writer::default();
            let skel_level = match skeleton.len() {
                n if n < (1 << 20) => 19,
                n if n < (16 << 20) => 9,
                _ => level,
            };
            chunk::put_stream(&mut w, &skeleton, skel_level);
            w.into_inner()
        },
        || {
            rayon::join(
                || {
                    jobs.par_iter()
                        .map(|&(t, a, b)| {
                            let c = &contents[t];
                            let layout = layout_of(c.dtype, c.len);
                            let data = &pb[c.offset + a..c.offset + b];
                            let (kind, blob, zeros) = chunk::encode(data, layout, level);
                            EncodedChunk { kind, elements: (data.len() / layout.size) as u64, blob, zeros }
                        })
                        .collect::<Vec<_>>()
                },
                || {
                    let total = crc32c::crc32c(pb);
                    let per: Vec<u32> = contents
                        .par_iter()
                        .map(|c| crc32c::crc32c(&pb[c.offset..c.offset + c.len]))
                        .collect();
                    (total, per)
                },
            )
        },
    );
    let (total_crc, raw_crcs) = crcs;

    let mut chunks: Vec<Vec<EncodedChunk>> = contents.iter().map(|_| Vec::new()).collect();
    for (&(t, _, _), chunk) in jobs.iter().zip(encoded_chunks) {
        chunks[t].push(chunk);
    }
    let mut infos = Vec::with_capacity(contents.len());
    let mut entries = Vec::with_capacity(contents.len());
    for ((c, raw_crc), chunks) in contents.into_iter().zip(raw_crcs).zip(&chunks) {
        let layout = layout_of(c.dtype, c.len);
        let zeros = chunks.iter().fold((0, 0), |(z, n), c| (z + c.zeros.0, n + c.zeros.1));
        let kinds: Vec<u8> = chunks.iter().map(|c| c.kind).collect();
        let stored = chunks.iter().map(|c| c.blob.len() as u64).sum();
        infos.push(TensorInfo::new(&c.node, c.dtype, c.len, layout, zeros, stored, &kinds));
        let chunks = chunks
            .iter()
            .map(|c| ChunkEntry { kind: c.kind, elements: c.elements, blob: blob_of(&c.blob) })
            .collect();
        entries.push(TensorEntry { name: c.node, offset: c.offset, len: c.len, dtype: c.dtype, layout, raw_crc, chunks });
    }
    let mut toc = Toc {
        total_len: pb.len(),
        total_crc,
        skeleton_len: skeleton.len(),
        skeleton: blob_of(&skel_blob),
        tensors: entries,
    };
    toc.place_blobs();
    let head = toc.write();
    let data: usize = toc.blobs().map(|b| b.len).sum();
    let mut out = Vec::with_capacity(head.len() + data);
    out.extend_from_slice(&head);
    out.extend_from_slice(&skel_blob);
    for c in chunks.iter().flatten() {
        out.extend_from_slice(&c.blob);
    }
    let report = EncodeReport {
        input_bytes: pb.len() as u64,
        output_bytes: out.len() as u64,
        skeleton_bytes: skeleton.len() as u64,
        skeleton_stored: skel_blob.len() as u64,
        from_text: false,
        tensors: infos,
        read_seconds: 0.0,
        encode_seconds: 0.0,
        write_seconds: 0.0,
    };
    (out, report)
}

