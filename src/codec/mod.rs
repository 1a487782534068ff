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
mod decode;
mod encode;
mod estimate;
mod le;
mod report;
#[cfg(test)]
mod tests;
mod toc;
mod wire;

use std::path::PathBuf;

pub use decode::{decode, decode_graph_def, decode_into, decode_with, decoded_len, DecodeOptions};
pub use encode::{encode, EncodeOptions, EncodeReport};
pub use estimate::{analyze, Estimate};
pub use report::{describe, entropy_bound, h2, TensorInfo};
pub use toc::{MAGIC, VERSION};
// For `jobs::encode`, telling a binary GraphDef from a text one.
pub(crate) use wire::find_contents;
pub use wire::WireError;

/// What is wrong with a container's bytes.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("not a tf-strip sparse container (no TFSPARSE magic)")]
    BadMagic,
    #[error("container version {0} is not supported (this tf-strip reads version {VERSION})")]
    Version(u16),
    #[error("truncated: the file ends inside {0}")]
    Truncated(Part),
    #[error("checksum mismatch in {0}: the file is corrupted")]
    Checksum(Part),
    #[error("malformed container: {0}")]
    Malformed(Flaw),
    #[error("it would decode to {0} bytes, over the limit of {1}")]
    TooLarge(u64, u64),
}

/// A place in a container, as errors name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Part {
    #[error("the header")]
    Header,
    #[error("the header or table of contents")]
    HeaderOrToc,
    #[error("the table of contents")]
    Toc,
    #[error("the data ({present} of {needed} bytes present)")]
    Data { present: usize, needed: usize },
    #[error("the graph skeleton")]
    Skeleton,
    /// A tensor's stored chunks.
    #[error("tensor `{0}`")]
    Tensor(String),
    #[error("the decoded tensor `{0}`")]
    DecodedTensor(String),
    #[error("the decoded file")]
    DecodedFile,
    #[error("sparse chunk")]
    SparseChunk,
    #[error("zero pattern")]
    ZeroPattern,
    #[error("zero signs")]
    ZeroSigns,
    #[error("byte plane {0}")]
    BytePlane(usize),
    #[error("tensor bytes")]
    TensorBytes,
}

/// How a container's structure contradicts itself or its format.
#[derive(Debug, thiserror::Error)]
pub enum Flaw {
    #[error("{part}: length {len} too large")]
    Length { part: Part, len: u64 },
    #[error("unknown flags {0:#x}")]
    Flags(u16),
    #[error("tensor `{0}`: bad element layout")]
    TensorLayout(String),
    #[error("tensor `{0}`: its byte range overlaps another or lies outside the file")]
    TensorRange(String),
    #[error("tensor `{0}`: a chunk is too large")]
    ChunkTooLarge(String),
    #[error("tensor `{0}`: its chunks do not add up to its length")]
    ChunksLength(String),
    #[error("trailing bytes in the table of contents")]
    TocTrailing,
    #[error("the skeleton and tensors do not add up to the file length")]
    Lengths,
    #[error("blob lengths overflow")]
    BlobOverflow,
    #[error("{0} unexpected bytes after the data")]
    DataTrailing(usize),
    #[error("{part}: {stored} raw bytes, expected {expected}")]
    RawLength { part: Part, stored: usize, expected: usize },
    #[error("{part}: zstd: {source}")]
    Zstd {
        part: Part,
        #[source]
        source: std::io::Error,
    },
    #[error("{part}: decodes to {decoded} bytes, expected {expected}")]
    DecodedLength { part: Part, decoded: usize, expected: usize },
    #[error("{part}: unknown stream mode {mode}")]
    StreamMode { part: Part, mode: u8 },
    #[error("sparse chunk: bad majority flag {0}")]
    MajorityFlag(u8),
    #[error("sparse chunk: counts exceed the chunk")]
    Counts,
    #[error("bad zero-sign flag {0}")]
    ZeroSignFlag(u8),
    #[error("zero pattern does not match the chunk size")]
    ZeroPattern,
    #[error("bad element layout")]
    Layout,
    #[error("unknown chunk coding {0}")]
    ChunkCoding(u8),
    #[error("trailing bytes in a chunk")]
    ChunkTrailing,
    #[error("output buffer of {got} bytes, expected {expected}")]
    OutputBuffer { got: usize, expected: usize },
    #[error("trailing bytes after the skeleton")]
    SkeletonTrailing,
    /// A chunk of `tensor` that does not decode.
    #[error("tensor `{tensor}`: {}", within(.problem))]
    Chunk {
        tensor: String,
        #[source]
        problem: Box<Problem>,
    },
}

/// A problem inside a malformed part, without saying "malformed" twice.
fn within(problem: &Problem) -> String {
    match problem {
        Problem::Malformed(flaw) => flaw.to_string(),
        other => other.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{}: {problem}", .path.display())]
    Container {
        path: PathBuf,
        #[source]
        problem: Problem,
    },
    #[error("{}: the decoded bytes are not a GraphDef: {source}", .path.display())]
    NotGraph {
        path: PathBuf,
        #[source]
        source: prost::DecodeError,
    },
    /// Bytes that look like protobuf but do not decode as a GraphDef.
    #[error("{}: unrecognised contents, not a binary GraphDef: {source}", .path.display())]
    NotGraphFile {
        path: PathBuf,
        #[source]
        source: prost::DecodeError,
    },
    /// Bytes that are neither protobuf nor text.
    #[error("{}: unrecognised contents, not a binary GraphDef: {source}, and not a text GraphDef either", .path.display())]
    Unrecognised {
        path: PathBuf,
        #[source]
        source: WireError,
    },
    #[error(
        "{}: a MetaGraphDef or SavedModel, not a GraphDef; strip it into one first \
         (`tf-strip --checkpoint_dir=DIR --output_node_names=... --encode` does both)",
        .path.display()
    )]
    NotGraphDef { path: PathBuf },
}

/// Whether `bytes` start like a container.
pub fn is_container(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}
