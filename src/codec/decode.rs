//! Decoding a container back to the `.pb` it was made from, byte for byte:
//! the skeleton and every chunk decoded in parallel into their places, each
//! CRC checked while its bytes are in cache.

use std::path::Path;

use bytes::Bytes;
use rayon::prelude::*;

use super::chunk;
use super::le::Reader;
use super::toc::{Blob, ChunkEntry, TensorEntry, Toc};
use super::{CodecError, Flaw, Part, Problem};
use crate::proto::tensorflow::GraphDef;

#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Refuse containers that claim a larger output.
    pub max_output: u64,
    /// Check CRCs (turned off only to fuzz the parsers behind them).
    pub verify: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_output: 1 << 40,
            verify: true,
        }
    }
}

/// A container's table of contents and where its data starts.
pub(super) struct Contents {
    pub toc: Toc,
    data_start: usize,
}

impl Contents {
    pub fn read(bytes: &[u8], opts: &DecodeOptions) -> Result<Self, Problem> {
        let (toc, data_start) = Toc::read(bytes, opts.max_output, opts.verify)?;
        Ok(Contents { toc, data_start })
    }

    /// Decodes `bytes`, the container this table was read from, into `out`:
    /// `total_len` bytes, all zero.
    pub(super) fn decode_into(&self, bytes: &[u8], opts: &DecodeOptions, out: &mut [u8]) -> Result<(), Problem> {
        let p = &self.toc;
        if out.len() != p.total_len {
            return Err(Problem::Malformed(Flaw::OutputBuffer { got: out.len(), expected: p.total_len }));
        }
        // In range: `Toc::read` checked that the blobs fill the data section.
        let blob = |b: &Blob| &bytes[self.data_start + b.at..self.data_start + b.at + b.len];
        if opts.verify {
            let sk = blob(&p.skeleton);
            if crc32c::crc32c(sk) != p.skeleton.crc {
                return Err(Problem::Checksum(Part::Skeleton));
            }
            let jobs: Vec<(&TensorEntry, &ChunkEntry)> = p
                .tensors
                .iter()
                .flat_map(|t| t.chunks.iter().map(move |c| (t, c)))
                .collect();
            jobs.par_iter().try_for_each(|(t, c)| {
                if crc32c::crc32c(blob(&c.blob)) != c.blob.crc {
                    return Err(Problem::Checksum(Part::Tensor(t.name.clone())));
                }
                Ok(())
            })?;
        }
        // Disjoint slices: skeleton gaps and chunks.
        let mut gaps: Vec<&mut [u8]> = Vec::with_capacity(p.tensors.len() + 1);
        let mut jobs: Vec<(&TensorEntry, &ChunkEntry, &mut [u8])> = Vec::new();
        {
            let mut rest: &mut [u8] = out;
            let mut at = 0usize;
            for t in &p.tensors {
                let (gap, tail) = rest.split_at_mut(t.offset - at);
                gaps.push(gap);
                let (mut body, tail) = tail.split_at_mut(t.len);
                for c in &t.chunks {
                    let (piece, more) = body.split_at_mut(c.elements as usize * t.layout.size);
                    jobs.push((t, c, piece));
                    body = more;
                }
                rest = tail;
                at = t.offset + t.len;
            }
            gaps.push(rest);
        }
        let verify = opts.verify;
        let skeleton_blob = blob(&p.skeleton);
        let skeleton_len = p.skeleton_len;
        let (skel, chunks) = rayon::join(
            move || -> Result<Vec<u32>, Problem> {
                let mut r = Reader::new(skeleton_blob);
                let skeleton = chunk::get_stream(&mut r, skeleton_len, &Part::Skeleton)?;
                if !r.is_empty() {
                    return Err(Problem::Malformed(Flaw::SkeletonTrailing));
                }
                let mut at = 0;
                let mut crcs = Vec::with_capacity(gaps.len());
                for gap in gaps {
                    gap.copy_from_slice(&skeleton[at..at + gap.len()]);
                    at += gap.len();
                    crcs.push(if verify { crc32c::crc32c(gap) } else { 0 });
                }
                Ok(crcs)
            },
            || {
                // Each chunk's CRC is taken while its bytes are still in cache.
                jobs.into_par_iter()
                    .map(|(t, c, piece)| {
                        chunk::decode(c.kind, blob(&c.blob), t.layout, piece)
                            .map_err(|e| Problem::Malformed(Flaw::Chunk { tensor: t.name.clone(), problem: Box::new(e) }))?;
                        Ok(if verify { crc32c::crc32c(piece) } else { 0 })
                    })
                    .collect::<Result<Vec<u32>, Problem>>()
            },
        );
        let gap_crcs = skel?;
        let chunk_crcs = chunks?;
        if verify {
            let mut chunk_crcs = chunk_crcs.into_iter();
            let (mut total, mut prev_end) = (0u32, 0usize);
            for (t, gap_crc) in p.tensors.iter().zip(&gap_crcs) {
                let gap_len = t.offset - prev_end;
                prev_end = t.offset + t.len;
                total = crc32c::crc32c_combine(total, *gap_crc, gap_len);
                let mut crc = 0u32;
                for c in &t.chunks {
                    let len = c.elements as usize * t.layout.size;
                    crc = crc32c::crc32c_combine(crc, chunk_crcs.next().unwrap_or_default(), len);
                }
                if crc != t.raw_crc {
                    return Err(Problem::Checksum(Part::DecodedTensor(t.name.clone())));
                }
                total = crc32c::crc32c_combine(total, crc, t.len);
            }
            let last_gap = p.total_len - prev_end;
            total = crc32c::crc32c_combine(total, gap_crcs.last().copied().unwrap_or_default(), last_gap);
            if total != p.total_crc {
                return Err(Problem::Checksum(Part::DecodedFile));
            }
        }
        Ok(())
    }
}

/// Decodes a container to the exact bytes of the `.pb` it was made from.
pub fn decode(bytes: &[u8]) -> Result<Vec<u8>, Problem> {
    decode_with(bytes, &DecodeOptions::default())
}

pub fn decode_with(bytes: &[u8], opts: &DecodeOptions) -> Result<Vec<u8>, Problem> {
    let contents = Contents::read(bytes, opts)?;
    let mut out = vec![0u8; contents.toc.total_len];
    contents.decode_into(bytes, opts, &mut out)?;
    Ok(out)
}

/// The length of the `.pb` a container decodes to (its header and table of
/// contents checked).
pub fn decoded_len(bytes: &[u8], opts: &DecodeOptions) -> Result<usize, Problem> {
    Ok(Contents::read(bytes, opts)?.toc.total_len)
}

/// Decodes into `out`, which must be `decoded_len` bytes, all zero (a fresh
/// allocation or a fresh file's memory map).
pub fn decode_into(bytes: &[u8], opts: &DecodeOptions, out: &mut [u8]) -> Result<(), Problem> {
    Contents::read(bytes, opts)?.decode_into(bytes, opts, out)
}

/// Decodes a container straight to a `GraphDef`, with no file in between;
/// `path` names the container in errors.
pub fn decode_graph_def(path: &Path, bytes: &[u8]) -> Result<GraphDef, CodecError> {
    let pb = decode(bytes).map_err(|problem| CodecError::Container { path: path.to_path_buf(), problem })?;
    // From `Bytes`, prost gives every `tensor_content` as a view into `pb`.
    <GraphDef as prost::Message>::decode(Bytes::from(pb)).map_err(|source| CodecError::NotGraph { path: path.to_path_buf(), source })
}

