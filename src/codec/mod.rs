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
    #[error("{}: the decoded bytes are not a GraphDef: {msg}", .path.display())]
    NotGraph { path: PathBuf, msg: String },
    #[error("{}: unrecognised contents, not a binary GraphDef: {msg}", .path.display())]
    NotGraphFile { path: PathBuf, msg: String },
    #[error("{}: {msg}", .path.display())]
    Unsupported { path: PathBuf, msg: String },
}

/// Whether `bytes` start like a container.
pub fn is_container(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}
