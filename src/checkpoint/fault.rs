//! What can be wrong inside a checkpoint's files, said with the values that
//! are wrong; `CheckpointError` adds the file and the tensor.

use std::string::FromUtf8Error;

use super::table::TableError;
use crate::proto::tensorflow::DataType;

/// The bundle format version this reader understands (`kTensorBundleVersion`).
pub(super) const BUNDLE_VERSION: i32 = 1;

/// What is wrong with a `.index` as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("bundle header does not parse: {0}")]
    HeaderDoesNotParse(#[source] prost::DecodeError),
    #[error("no bundle header (the empty key) in the index")]
    NoHeader,
    #[error("bundle needs a reader of version {min_consumer} or newer; this one is {BUNDLE_VERSION}")]
    ReaderTooOld { min_consumer: i32 },
    #[error("bundle excludes reader version {BUNDLE_VERSION}")]
    ReaderExcluded,
    #[error("unknown endianness {0}")]
    UnknownEndianness(i32),
    #[error("implausible number of shards {0}")]
    ImplausibleShards(i32),
    #[error("entry {key:?} does not parse: {source}")]
    EntryDoesNotParse {
        key: String,
        #[source]
        source: prost::DecodeError,
    },
    #[error("tensor name is not UTF-8: {0}")]
    NameNotUtf8(#[source] FromUtf8Error),
}

/// What is wrong with one tensor: its entry in the index, its bytes in a
/// data shard, or what a writer was given for it.
#[derive(Debug, thiserror::Error)]
pub enum TensorFault {
    // The index entry.
    #[error("unknown dtype {0}")]
    UnknownDtype(i32),
    #[error("shape has unknown rank")]
    UnknownRank,
    #[error("negative dimension {0}")]
    NegativeDimension(i64),
    #[error("element count of shape {0:?} overflows")]
    ElementCountOverflows(Vec<u64>),
    #[error("slice has rank {slice} but the tensor has rank {tensor}")]
    SliceRank { slice: usize, tensor: usize },
    #[error("slice starts at negative index {0}")]
    NegativeSliceStart(i64),
    #[error("slice has negative length {0}")]
    NegativeSliceLength(i64),
    #[error("slice [{start}, {start}+{len}) exceeds dimension {dim} of size {size}")]
    SliceExceedsDimension { start: u64, len: u64, dim: usize, size: u64 },
    #[error("slice starting at {0:?} is listed but not stored")]
    SliceNotStored(Vec<u64>),
    #[error("slice at {start:?} has dtype {dtype} not {expected}")]
    SliceDtype { start: Vec<u64>, dtype: i32, expected: i32 },
    #[error("slice at {start:?} is stored with shape {shape:?}, expected {expected:?}")]
    SliceShape { start: Vec<u64>, shape: Vec<u64>, expected: Vec<u64> },
    #[error("slices hold {covered} elements but the tensor has {elements}")]
    SlicesDoNotCover { covered: u64, elements: u64 },
    #[error("shard id {shard} out of range (the bundle has {shards} shards)")]
    ShardOutOfRange { shard: i32, shards: usize },
    #[error("bad offset {0}")]
    BadOffset(i64),
    #[error("bad size {0}")]
    BadSize(i64),
    #[error("bytes [{offset}, {offset}+{size}) lie beyond the end of data shard {shard} ({shard_len} bytes)")]
    BeyondShard { offset: usize, size: usize, shard: usize, shard_len: usize },
    #[error("{count} strings cannot fit in {size} bytes")]
    StringsCannotFit { count: u64, size: usize },
    #[error("dtype {0} cannot be stored in a checkpoint")]
    NotStorable(DataType),
    #[error("stored size {size} does not match {elements} elements of {elem} bytes")]
    StoredSize { size: usize, elements: u64, elem: usize },

    // The bytes in a data shard.
    #[error("data checksum mismatch ({size} bytes at offset {offset})")]
    DataChecksum { size: usize, offset: usize },
    #[error("cannot byte-swap {0} tensors")]
    CannotByteSwap(DataType),
    #[error("bad string length varint")]
    BadStringLength,
    #[error("string tensor is truncated before its length checksum")]
    NoLengthsChecksum,
    #[error("string lengths checksum mismatch")]
    LengthsChecksum,
    #[error("string of length {0} runs past the tensor's bytes")]
    StringPastEnd(u64),
    #[error("{0} unexpected bytes after the strings")]
    BytesAfterStrings(usize),

    // Reading a tensor as asked.
    #[error("partitioned {0} tensors are not supported")]
    PartitionedUnsupported(DataType),
    #[error("tensor too large for this machine")]
    TooLarge,
    #[error("slice is not a plain tensor")]
    SliceNotPlain,
    #[error("no slice starts at {0:?}")]
    NoSliceAt(Vec<u64>),

    // What a writer was given.
    #[error("tensor names must be non-empty and not start with a NUL byte")]
    BadName,
    #[error("added twice")]
    AddedTwice,
    #[error("slice shape does not match the tensor given")]
    SliceShapeMismatch,
    #[error("already added as a whole tensor")]
    AlreadyWhole,
    #[error("{0:?} is not a fixed-size dtype")]
    NotFixedSize(DataType),
    #[error("byte length does not match shape and dtype")]
    ByteLength,
    #[error("string count does not match shape")]
    StringCount,
}
