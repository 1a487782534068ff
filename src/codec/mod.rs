//! Sparse-encoded storage of GraphDefs: a container as small as the model's
//! information, decoded byte-identical to the `.pb` it came from
//! ([`encode`], [`decode`]); and a GraphDef that stock TensorFlow loads whose
//! large sparse constants are rebuilt from a packed bitmask and their
//! nonzero values ([`loadable`]).
//!
//! # Container format, version 1
//!
//! All integers little-endian; CRCs are CRC-32C (Castagnoli).
//!
//! ```text
//! header (32 bytes)
//!   0  magic      8 bytes  "TFSPARSE"
//!   8  version    u16      1
//!  10  flags      u16      0 (reserved)
//!  12  toc_len    u32      bytes of the table of contents that follows
//!  16  total_len  u64      length of the original .pb
//!  24  total_crc  u32      CRC of the original .pb
//!  28  toc_crc    u32      CRC of header bytes 0..28 followed by the TOC
//! table of contents (toc_len bytes)
//!   skeleton:  raw_len u64, blob_len u64, blob_crc u32
//!   n_tensors  u32
//!   per tensor, in file order:
//!     name (u16 length + UTF-8), offset u64, len u64 (its range in the .pb),
//!     dtype i32, element size u8, float unit u8, raw_crc u32 (CRC of its bytes),
//!     n_chunks u32, per chunk: coding u8 (0 dense, 1 sparse, 2 plain), elements u64,
//!     blob_len u64, blob_crc u32
//! blobs, concatenated in TOC order: the skeleton, then every chunk
//! ```
//!
//! The skeleton is the `.pb` with every cut tensor range removed; decoding
//! splices the decoded tensors back at their offsets, so the output is the
//! input byte for byte by construction, and the whole-file CRC checks it.
//! A blob is a stream (mode u8: 0 raw / 1 zstd, stored length u64, data);
//! chunk blobs are described in [`chunk`].

mod chunk;
mod format;
pub mod loadable;
mod wire;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::proto::tensorflow::{DataType, GraphDef};
use chunk::Layout;
use format::{Reader, Writer};

pub const MAGIC: &[u8; 8] = b"TFSPARSE";
pub const VERSION: u16 = 1;
const HEADER: usize = 32;

/// What is wrong with a container's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("not a tf-strip sparse container (no TFSPARSE magic)")]
    BadMagic,
    #[error("container version {0} is not supported (this tf-strip reads version {VERSION})")]
    Version(u16),
    #[error("truncated: the file ends inside {0}")]
    Truncated(String),
    #[error("checksum mismatch in {0}: the file is corrupted")]
    Checksum(String),
    #[error("malformed container: {0}")]
    Malformed(String),
    #[error("it would decode to {0} bytes, over the limit of {1}")]
    TooLarge(u64, u64),
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{}: {problem}", .path.display())]
    Container { path: PathBuf, problem: Problem },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the decoded bytes are not a GraphDef: {msg}", .path.display())]
    NotGraph { path: PathBuf, msg: String },
    #[error("{}: not a binary GraphDef: {msg}", .path.display())]
    NotGraphFile { path: PathBuf, msg: String },
    #[error("{}: {msg}", .path.display())]
    Unsupported { path: PathBuf, msg: String },
    #[error("{}: {source}", .path.display())]
    Loadable {
        path: PathBuf,
        #[source]
        source: loadable::LoadableError,
    },
}

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
    fn new(name: &str, dtype: i32, len: usize, layout: Layout, (zeros, negative_zeros): (usize, usize), stored: u64, kinds: &[u8]) -> Self {
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

fn layout_of(dtype: i32, len: usize) -> Layout {
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

fn coding_name(kinds: &[u8]) -> String {
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

fn dtype_name(dtype: i32) -> String {
    DataType::try_from(dtype)
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| format!("dtype {dtype}"))
}

/// Whether `bytes` start like a container.
pub fn is_container(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// (coding, elements, blob, (zeros, negative zeros)).
type EncodedChunk = (u8, u64, Vec<u8>, (usize, usize));

struct EncodedTensor {
    content: wire::Content,
    layout: Layout,
    raw_crc: u32,
    chunks: Vec<EncodedChunk>,
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
            let mut w = Writer::default();
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
                            (kind, (data.len() / layout.size) as u64, blob, zeros)
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

    let mut tensors: Vec<EncodedTensor> = contents
        .into_iter()
        .zip(raw_crcs)
        .map(|(content, raw_crc)| EncodedTensor {
            layout: layout_of(content.dtype, content.len),
            content,
            raw_crc,
            chunks: Vec::new(),
        })
        .collect();
    for (&(t, _, _), chunk) in jobs.iter().zip(encoded_chunks) {
        tensors[t].chunks.push(chunk);
    }

    let mut toc = Writer::default();
    toc.u64(skeleton.len() as u64);
    toc.u64(skel_blob.len() as u64);
    toc.u32(crc32c::crc32c(&skel_blob));
    toc.u32(tensors.len() as u32);
    let mut infos = Vec::with_capacity(tensors.len());
    for t in &tensors {
        let c = &t.content;
        toc.str(&c.node);
        toc.u64(c.offset as u64);
        toc.u64(c.len as u64);
        toc.i32(c.dtype);
        toc.u8(t.layout.size as u8);
        toc.u8(t.layout.unit as u8);
        toc.u32(t.raw_crc);
        toc.u32(t.chunks.len() as u32);
        for (kind, n, blob, _) in &t.chunks {
            toc.u8(*kind);
            toc.u64(*n);
            toc.u64(blob.len() as u64);
            toc.u32(crc32c::crc32c(blob));
        }
        let zeros: usize = t.chunks.iter().map(|c| c.3 .0).sum();
        let negative_zeros: usize = t.chunks.iter().map(|c| c.3 .1).sum();
        let kinds: Vec<u8> = t.chunks.iter().map(|c| c.0).collect();
        let stored = t.chunks.iter().map(|c| c.2.len() as u64).sum();
        infos.push(TensorInfo::new(&c.node, c.dtype, c.len, t.layout, (zeros, negative_zeros), stored, &kinds));
    }
    let toc = toc.into_inner();

    let blobs: usize = skel_blob.len() + tensors.iter().flat_map(|t| &t.chunks).map(|c| c.2.len()).sum::<usize>();
    let mut out = Writer::with_capacity(HEADER + toc.len() + blobs);
    out.bytes(MAGIC);
    out.u16(VERSION);
    out.u16(0);
    out.u32(toc.len() as u32);
    out.u64(pb.len() as u64);
    out.u32(total_crc);
    let mut h = crc32c::crc32c(&out.as_slice()[..28]);
    h = crc32c::crc32c_append(h, &toc);
    out.u32(h);
    out.bytes(&toc);
    out.bytes(&skel_blob);
    for t in &tensors {
        for c in &t.chunks {
            out.bytes(&c.2);
        }
    }
    let out = out.into_inner();
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

struct ChunkEntry {
    kind: u8,
    elements: u64,
    blob: (usize, usize),
    crc: u32,
}

struct TensorEntry {
    name: String,
    offset: usize,
    len: usize,
    dtype: i32,
    layout: Layout,
    raw_crc: u32,
    chunks: Vec<ChunkEntry>,
}

struct Parsed {
    total_len: usize,
    total_crc: u32,
    skeleton_len: usize,
    skeleton: (usize, usize),
    skeleton_crc: u32,
    tensors: Vec<TensorEntry>,
}

fn parse(bytes: &[u8], opts: &DecodeOptions) -> Result<Parsed, Problem> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(if MAGIC.starts_with(bytes) && !bytes.is_empty() {
            Problem::Truncated("the header".into())
        } else {
            Problem::BadMagic
        });
    }
    let mut r = Reader::new(bytes);
    r.take(8, "the header")?;
    let version = r.u16("the header")?;
    if version != VERSION {
        return Err(Problem::Version(version));
    }
    let flags = r.u16("the header")?;
    let toc_len = r.u32("the header")? as usize;
    let total_len = r.u64("the header")?;
    let total_crc = r.u32("the header")?;
    let toc_crc = r.u32("the header")?;
    let toc = r.take(toc_len, "the table of contents")?;
    if opts.verify && crc32c::crc32c_append(crc32c::crc32c(&bytes[..28]), toc) != toc_crc {
        return Err(Problem::Checksum("the header or table of contents".into()));
    }
    if flags != 0 {
        return Err(Problem::Malformed(format!("unknown flags {flags:#x}")));
    }
    if total_len > opts.max_output {
        return Err(Problem::TooLarge(total_len, opts.max_output));
    }
    let total_len = usize::try_from(total_len).map_err(|_| Problem::TooLarge(total_len, usize::MAX as u64))?;

    let mut t = Reader::new(toc);
    let mut blob_at = HEADER + toc_len;
    let mut next_blob = |len: usize| -> Result<(usize, usize), Problem> {
        let start = blob_at;
        blob_at = blob_at
            .checked_add(len)
            .ok_or_else(|| Problem::Malformed("blob length overflows".into()))?;
        Ok((start, len))
    };
    let what = "the table of contents";
    let skeleton_len = t.len(what)?;
    let skeleton = next_blob(t.len(what)?)?;
    let skeleton_crc = t.u32(what)?;
    let n = t.u32(what)? as usize;
    let mut tensors = Vec::with_capacity(n.min(toc_len / 16));
    let mut end_of_previous = 0usize;
    let mut cut_total = 0usize;
    for _ in 0..n {
        let name = t.str(what)?;
        let offset = t.len(what)?;
        let len = t.len(what)?;
        let dtype = t.i32(what)?;
        let layout = Layout {
            size: t.u8(what)? as usize,
            unit: t.u8(what)? as usize,
        };
        let raw_crc = t.u32(what)?;
        let n_chunks = t.u32(what)? as usize;
        let bad = |msg: &str| Problem::Malformed(format!("tensor `{name}`: {msg}"));
        if !layout.valid() || len % layout.size != 0 {
            return Err(bad("bad element layout"));
        }
        if offset < end_of_previous || offset.checked_add(len).is_none_or(|e| e > total_len) {
            return Err(bad("its byte range overlaps another or lies outside the file"));
        }
        end_of_previous = offset + len;
        cut_total += len;
        let mut chunks = Vec::with_capacity(n_chunks.min(toc_len / 21));
        let mut elements_total = 0u64;
        for _ in 0..n_chunks {
            let kind = t.u8(what)?;
            let elements = t.u64(what)?;
            let blob = next_blob(t.len(what)?)?;
            let crc = t.u32(what)?;
            elements_total = elements_total
                .checked_add(elements)
                .ok_or_else(|| bad("element count overflows"))?;
            if elements > 1 << 24 {
                return Err(bad("a chunk is too large"));
            }
            chunks.push(ChunkEntry {
                kind,
                elements,
                blob,
                crc,
            });
        }
        if elements_total.checked_mul(layout.size as u64) != Some(len as u64) {
            return Err(bad("its chunks do not add up to its length"));
        }
        tensors.push(TensorEntry {
            name,
            offset,
            len,
            dtype,
            layout,
            raw_crc,
            chunks,
        });
    }
    if !t.is_empty() {
        return Err(Problem::Malformed("trailing bytes in the table of contents".into()));
    }
    if skeleton_len.checked_add(cut_total) != Some(total_len) {
        return Err(Problem::Malformed(
            "the skeleton and tensors do not add up to the file length".into(),
        ));
    }
    if blob_at > bytes.len() {
        return Err(Problem::Truncated(format!(
            "the data ({} of {} bytes present)",
            bytes.len(),
            blob_at
        )));
    }
    if blob_at < bytes.len() {
        return Err(Problem::Malformed(format!(
            "{} unexpected bytes after the data",
            bytes.len() - blob_at
        )));
    }
    Ok(Parsed {
        total_len,
        total_crc,
        skeleton_len,
        skeleton,
        skeleton_crc,
        tensors,
    })
}

fn blob(bytes: &[u8], (at, len): (usize, usize)) -> &[u8] {
    &bytes[at..at + len]
}

/// Decodes a container to the exact bytes of the `.pb` it was made from.
pub fn decode(bytes: &[u8]) -> Result<Vec<u8>, Problem> {
    decode_with(bytes, &DecodeOptions::default())
}

pub fn decode_with(bytes: &[u8], opts: &DecodeOptions) -> Result<Vec<u8>, Problem> {
    let p = parse(bytes, opts)?;
    let mut out = vec![0u8; p.total_len];
    decode_parsed(bytes, &p, opts, &mut out)?;
    Ok(out)
}

/// The length of the `.pb` a container decodes to (its header and table of
/// contents checked).
pub fn decoded_len(bytes: &[u8], opts: &DecodeOptions) -> Result<usize, Problem> {
    Ok(parse(bytes, opts)?.total_len)
}

/// Decodes into `out`, which must be `decoded_len` bytes, all zero (a fresh
/// allocation or a fresh file's memory map).
pub fn decode_into(bytes: &[u8], opts: &DecodeOptions, out: &mut [u8]) -> Result<(), Problem> {
    let p = parse(bytes, opts)?;
    if out.len() != p.total_len {
        return Err(Problem::Malformed(format!(
            "output buffer of {} bytes, expected {}",
            out.len(),
            p.total_len
        )));
    }
    decode_parsed(bytes, &p, opts, out)
}

fn decode_parsed(bytes: &[u8], p: &Parsed, opts: &DecodeOptions, out: &mut [u8]) -> Result<(), Problem> {
    if opts.verify {
        let sk = blob(bytes, p.skeleton);
        if crc32c::crc32c(sk) != p.skeleton_crc {
            return Err(Problem::Checksum("the graph skeleton".into()));
        }
        let jobs: Vec<(&TensorEntry, &ChunkEntry)> = p
            .tensors
            .iter()
            .flat_map(|t| t.chunks.iter().map(move |c| (t, c)))
            .collect();
        jobs.par_iter().try_for_each(|(t, c)| {
            if crc32c::crc32c(blob(bytes, c.blob)) != c.crc {
                return Err(Problem::Checksum(format!("tensor `{}`", t.name)));
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
    let skeleton_blob = blob(bytes, p.skeleton);
    let skeleton_len = p.skeleton_len;
    let (skel, chunks) = rayon::join(
        move || -> Result<Vec<u32>, Problem> {
            let mut r = Reader::new(skeleton_blob);
            let skeleton = chunk::get_stream(&mut r, skeleton_len, "the graph skeleton")?;
            if !r.is_empty() {
                return Err(Problem::Malformed("trailing bytes after the skeleton".into()));
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
                    chunk::decode(c.kind, blob(bytes, c.blob), t.layout, piece)
                        .map_err(|e| Problem::Malformed(format!("tensor `{}`: {e}", t.name)))?;
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
                return Err(Problem::Checksum(format!("the decoded tensor `{}`", t.name)));
            }
            total = crc32c::crc32c_combine(total, crc, t.len);
        }
        let last_gap = p.total_len - prev_end;
        total = crc32c::crc32c_combine(total, gap_crcs.last().copied().unwrap_or_default(), last_gap);
        if total != p.total_crc {
            return Err(Problem::Checksum("the decoded file".into()));
        }
    }
    Ok(())
}

/// Decodes a container straight to a `GraphDef`, with no file in between.
pub fn decode_graph_def(bytes: &[u8]) -> Result<GraphDef, CodecError> {
    let path = PathBuf::from("<memory>");
    let pb = decode(bytes).map_err(|problem| CodecError::Container {
        path: path.clone(),
        problem,
    })?;
    <GraphDef as prost::Message>::decode(pb.as_slice()).map_err(|e| CodecError::NotGraph {
        path,
        msg: e.to_string(),
    })
}

/// The tensors a container holds and the bytes each takes.
pub fn describe(bytes: &[u8]) -> Result<Vec<TensorInfo>, Problem> {
    // Zeros and bounds are not in the table of contents: decode (checking
    // every CRC) and count them, rather than report figures we do not know.
    let opts = DecodeOptions::default();
    let p = parse(bytes, &opts)?;
    let mut out = vec![0u8; p.total_len];
    decode_parsed(bytes, &p, &opts, &mut out)?;
    Ok(p.tensors
        .par_iter()
        .map(|t| {
            let kinds: Vec<u8> = t.chunks.iter().map(|c| c.kind).collect();
            let zeros = chunk::zeros_of(t.layout, &out[t.offset..t.offset + t.len]);
            let stored = t.chunks.iter().map(|c| c.blob.1 as u64).sum();
            TensorInfo::new(&t.name, t.dtype, t.len, t.layout, zeros, stored, &kinds)
        })
        .collect())
}

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

/// The file's bytes, memory-mapped (no copy of a large `.pb`).
fn map(path: &Path) -> Result<memmap2::Mmap, CodecError> {
    let io = |source| CodecError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the map is read-only; like every reader of a file, we assume no
    // one truncates it while we read (the CRCs catch a change of contents).
    unsafe { memmap2::Mmap::map(&file) }.map_err(io)
}

fn read(path: &Path) -> Result<Vec<u8>, CodecError> {
    std::fs::read(path).map_err(|source| CodecError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CodecError> {
    crate::atomic::write_file(path, bytes).map_err(|source| CodecError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The binary GraphDef in `input`: the file itself, or the binary form of a
/// text GraphDef. A MetaGraphDef, a SavedModel or bytes that are neither are
/// errors: storing them whole would "succeed" with nothing made smaller.
enum GraphBytes {
    Mapped(memmap2::Mmap),
    FromText(Vec<u8>),
}

impl std::ops::Deref for GraphBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            GraphBytes::Mapped(m) => m,
            GraphBytes::FromText(v) => v,
        }
    }
}

fn graph_input(input: &Path) -> Result<GraphBytes, CodecError> {
    let unsupported = |msg: String| CodecError::Unsupported { path: input.to_path_buf(), msg };
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.contains(".meta") || name.starts_with("saved_model.") {
        return Err(unsupported(
            "a MetaGraphDef or SavedModel, not a GraphDef; strip it into one first \
             (`tf-strip --checkpoint_dir=DIR --output_node_names=... --encode` does both)"
                .into(),
        ));
    }
    let pb = map(input)?;
    if is_container(&pb) {
        return Err(unsupported("already a tf-strip sparse container".into()));
    }
    let binary = match wire::find_contents(&pb, 1) {
        Ok(_) => return Ok(GraphBytes::Mapped(pb)),
        Err(e) => e,
    };
    let text = std::str::from_utf8(&pb).ok().and_then(|t| crate::textformat::parse::<GraphDef>(t).ok());
    match text {
        Some(def) => Ok(GraphBytes::FromText(prost::Message::encode_to_vec(&def))),
        None => Err(CodecError::NotGraphFile {
            path: input.to_path_buf(),
            msg: format!("{binary}, and not a text GraphDef either"),
        }),
    }
}

/// `tf-strip encode IN.pb OUT`.
pub fn encode_file(input: &Path, output: &Path, opts: &EncodeOptions) -> Result<EncodeReport, CodecError> {
    let t0 = std::time::Instant::now();
    let pb = graph_input(input)?;
    let read_seconds = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let (bytes, mut report) = encode(&pb, opts);
    let t2 = std::time::Instant::now();
    write(output, &bytes)?;
    report.from_text = matches!(pb, GraphBytes::FromText(_));
    report.read_seconds = read_seconds;
    report.encode_seconds = (t2 - t1).as_secs_f64();
    report.write_seconds = t2.elapsed().as_secs_f64();
    Ok(report)
}

/// `tf-strip encode --tf-loadable IN.pb OUT.pb`.
pub fn encode_loadable_file(
    input: &Path,
    output: &Path,
    opts: &loadable::LoadableOptions,
) -> Result<loadable::LoadableReport, CodecError> {
    let pb = graph_input(input)?;
    let (bytes, mut report) = loadable::encode(&pb, opts).map_err(|source| CodecError::Loadable {
        path: input.to_path_buf(),
        source,
    })?;
    write(output, &bytes)?;
    report.from_text = matches!(pb, GraphBytes::FromText(_));
    Ok(report)
}

/// `tf-strip decode IN OUT.pb`.
pub fn decode_file(input: &Path, output: &Path) -> Result<DecodeReport, CodecError> {
    let t0 = std::time::Instant::now();
    let bytes = read(input)?;
    let t1 = std::time::Instant::now();
    let container = |problem| CodecError::Container {
        path: input.to_path_buf(),
        problem,
    };
    let opts = DecodeOptions::default();
    let len = decoded_len(&bytes, &opts).map_err(container)?;
    // Decoded straight into the memory map of the output's temporary file
    // (its pages read as zeros): no copy through a buffer. The pages are the
    // page cache's, so the rename needs no msync (atomic.rs: no fsync).
    let io = |source| CodecError::Io {
        path: output.to_path_buf(),
        source,
    };
    let mut out = crate::atomic::AtomicFile::create(output).map_err(io)?;
    let file = out.file().map_err(io)?;
    file.set_len(len as u64).map_err(io)?;
    if len > 0 {
        // SAFETY: the file is our own fresh temporary file, mapped once.
        let mut m = unsafe { memmap2::MmapOptions::new().populate().map_mut(file) }.map_err(io)?;
        decode_into(&bytes, &opts, &mut m).map_err(container)?;
    }
    let t2 = std::time::Instant::now();
    out.commit().map_err(io)?;
    Ok(DecodeReport {
        input_bytes: bytes.len() as u64,
        output_bytes: len as u64,
        read_seconds: (t1 - t0).as_secs_f64(),
        decode_seconds: (t2 - t1).as_secs_f64(),
        write_seconds: t2.elapsed().as_secs_f64(),
    })
}

/// Where `decode_file`'s time went.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeReport {
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub read_seconds: f64,
    /// Decoding into the output file's memory map.
    pub decode_seconds: f64,
    /// Renaming the output file into place.
    pub write_seconds: f64,
}
