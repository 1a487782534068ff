//! Reading the LevelDB-style SSTable that holds a bundle's `.index`.
//!
//! Layout: data blocks, an (empty) metaindex block, an index block whose values
//! are handles of the data blocks, and a 48-byte footer. Every block carries a
//! 5-byte trailer (compression type, masked CRC32C). Every offset and length
//! read here comes from an untrusted file, so all of them are bounds-checked.

use bytes::Buf;

use super::crc;

pub const FOOTER_LEN: usize = 48;
pub const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
pub const BLOCK_TRAILER_LEN: usize = 5;
pub const NO_COMPRESSION: u8 = 0;
pub const SNAPPY_COMPRESSION: u8 = 1;

/// A key and its value, as stored.
pub type Record = (Vec<u8>, Vec<u8>);

/// Where a block sits in the file (its size excludes the trailer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

/// What is wrong with a table. `block` says which block ("index block",
/// "data block"), `start` where it begins in the file.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("file is {len} bytes, shorter than the {FOOTER_LEN}-byte table footer (truncated?)")]
    ShorterThanFooter { len: usize },
    #[error("not an sstable (bad magic number)")]
    BadMagic,
    #[error("bad varint in {field}")]
    BadVarint { field: &'static str },
    #[error("{field} {value} does not fit in 32 bits")]
    Not32Bits { field: &'static str, value: u64 },
    #[error("keys are not strictly increasing: {key:?} after {previous:?}")]
    KeysNotIncreasing { key: String, previous: String },
    #[error("{block} offset overflows")]
    OffsetOverflows { block: &'static str },
    #[error("{block} size overflows")]
    SizeOverflows { block: &'static str },
    #[error("{block} at offset {start} size {size} overflows")]
    EndOverflows { block: &'static str, start: usize, size: usize },
    #[error("truncated block read: {block} at offset {start} size {size} runs past the end of the file ({file_len} bytes)")]
    Truncated { block: &'static str, start: usize, size: usize, file_len: usize },
    #[error("block checksum mismatch in {block} at offset {start}")]
    ChecksumMismatch { block: &'static str, start: usize },
    #[error("corrupted snappy-compressed {block} at offset {start}: {source}")]
    Snappy {
        block: &'static str,
        start: usize,
        #[source]
        source: snap::Error,
    },
    #[error("{block} at offset {start} has unknown compression type {kind}")]
    UnknownCompression { block: &'static str, start: usize, kind: u8 },
    #[error("{block} is {len} bytes, too short for its restart count")]
    NoRestartCount { block: &'static str, len: usize },
    #[error("{block}: restart array ({count} entries) out of range")]
    RestartsOutOfRange { block: &'static str, count: usize },
    #[error("{block}: restart point {offset} out of range")]
    RestartPointOutOfRange { block: &'static str, offset: u32 },
    #[error("{block}: entry shares {shared} bytes with a previous key of {previous} bytes")]
    SharesTooMuch { block: &'static str, shared: usize, previous: usize },
    #[error("{block}: entry runs past the end of the block")]
    EntryPastEnd { block: &'static str },
}

type Result<T, E = TableError> = std::result::Result<T, E>;

impl BlockHandle {
    pub fn decode(buf: &mut &[u8]) -> Result<Self> {
        let offset = read_varint(buf, "block handle offset")?;
        let size = read_varint(buf, "block handle size")?;
        Ok(BlockHandle { offset, size })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        prost::encoding::encode_varint(self.offset, out);
        prost::encoding::encode_varint(self.size, out);
    }
}

fn read_varint(buf: &mut &[u8], field: &'static str) -> Result<u64> {
    prost::encoding::decode_varint(buf).map_err(|_| TableError::BadVarint { field })
}

fn read_varint32(buf: &mut &[u8], field: &'static str) -> Result<usize> {
    let value = read_varint(buf, field)?;
    u32::try_from(value)
        .map(|v| v as usize)
        .map_err(|_| TableError::Not32Bits { field, value })
}

/// All key/value pairs of a table, in file order, after checking that keys
/// strictly increase.
pub fn read_table(file: &[u8]) -> Result<Vec<Record>> {
    if file.len() < FOOTER_LEN {
        return Err(TableError::ShorterThanFooter { len: file.len() });
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let magic = (&footer[40..]).get_u64_le();
    if magic != MAGIC {
        return Err(TableError::BadMagic);
    }
    let mut handles = &footer[..40];
    let _metaindex = BlockHandle::decode(&mut handles)?;
    let index = BlockHandle::decode(&mut handles)?;

    let index_block = read_block(file, index, "index block")?;
    let mut entries: Vec<Record> = Vec::new();
    for (_separator, handle_bytes) in block_entries(&index_block, "index block")? {
        let mut h = handle_bytes.as_slice();
        let handle = BlockHandle::decode(&mut h)?;
        let block = read_block(file, handle, "data block")?;
        for (key, value) in block_entries(&block, "data block")? {
            if let Some((prev, _)) = entries.last() {
                if key <= *prev {
                    return Err(TableError::KeysNotIncreasing {
                        key: String::from_utf8_lossy(&key).into_owned(),
                        previous: String::from_utf8_lossy(prev).into_owned(),
                    });
                }
            }
            entries.push((key, value));
        }
    }
    Ok(entries)
}

/// Verifies the trailer's CRC and undoes compression.
fn read_block(file: &[u8], handle: BlockHandle, block: &'static str) -> Result<Vec<u8>> {
    let start = usize::try_from(handle.offset).map_err(|_| TableError::OffsetOverflows { block })?;
    let size = usize::try_from(handle.size).map_err(|_| TableError::SizeOverflows { block })?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN))
        .ok_or(TableError::EndOverflows { block, start, size })?;
    if end > file.len() {
        return Err(TableError::Truncated { block, start, size, file_len: file.len() });
    }
    let data = &file[start..start + size];
    let kind = file[start + size];
    let stored = (&file[start + size + 1..end]).get_u32_le();
    let actual = crc::mask(crc32c::crc32c_append(crc32c::crc32c(data), &[kind]));
    if stored != actual {
        return Err(TableError::ChecksumMismatch { block, start });
    }
    match kind {
        NO_COMPRESSION => Ok(data.to_vec()),
        SNAPPY_COMPRESSION => snap::raw::Decoder::new()
            .decompress_vec(data)
            .map_err(|source| TableError::Snappy { block, start, source }),
        kind => Err(TableError::UnknownCompression { block, start, kind }),
    }
}

/// Decodes the prefix-compressed entries of one block.
fn block_entries(bytes: &[u8], block: &'static str) -> Result<Vec<Record>> {
    if bytes.len() < 4 {
        return Err(TableError::NoRestartCount { block, len: bytes.len() });
    }
    let count = (&bytes[bytes.len() - 4..]).get_u32_le() as usize;
    let restarts_len = count
        .checked_mul(4)
        .and_then(|n| n.checked_add(4))
        .filter(|&n| n <= bytes.len())
        .ok_or(TableError::RestartsOutOfRange { block, count })?;
    let entries_end = bytes.len() - restarts_len;
    for r in 0..count {
        let offset = (&bytes[entries_end + 4 * r..]).get_u32_le();
        if offset as usize > entries_end {
            return Err(TableError::RestartPointOutOfRange { block, offset });
        }
    }

    let mut rest = &bytes[..entries_end];
    let mut out: Vec<Record> = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    while !rest.is_empty() {
        let shared = read_varint32(&mut rest, "shared key length")?;
        let non_shared = read_varint32(&mut rest, "key length")?;
        let value_len = read_varint32(&mut rest, "value length")?;
        if shared > key.len() {
            return Err(TableError::SharesTooMuch { block, shared, previous: key.len() });
        }
        let needed = non_shared
            .checked_add(value_len)
            .filter(|&n| n <= rest.len())
            .ok_or(TableError::EntryPastEnd { block })?;
        key.truncate(shared);
        key.extend_from_slice(&rest[..non_shared]);
        let value = rest[non_shared..needed].to_vec();
        rest = &rest[needed..];
        out.push((key.clone(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TensorFlow's bundle writer never compresses, but other LevelDB-table
    /// writers use Snappy, and TensorFlow's reader takes it.
    #[test]
    fn snappy_blocks_are_accepted() {
        // One entry ("key" -> "value") and a single restart at 0.
        let mut block = vec![0u8, 3, 5];
        block.extend_from_slice(b"keyvalue");
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        let compressed = snap::raw::Encoder::new().compress_vec(&block).unwrap();
        let mut file = compressed.clone();
        file.push(SNAPPY_COMPRESSION);
        let crc = crc::mask(crc32c::crc32c_append(crc32c::crc32c(&compressed), &[SNAPPY_COMPRESSION]));
        file.extend_from_slice(&crc.to_le_bytes());
        let handle = BlockHandle { offset: 0, size: compressed.len() as u64 };
        assert_eq!(read_block(&file, handle, "block").unwrap(), block);
        assert_eq!(block_entries(&block, "block").unwrap(), vec![(b"key".to_vec(), b"value".to_vec())]);
    }
}
