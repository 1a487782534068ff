//! Reading the LevelDB-style SSTable that holds a bundle's `.index`.
//!
//! Layout: data blocks, an (empty) metaindex block, an index block whose values
//! are handles of the data blocks, and a 48-byte footer. Every block carries a
//! 5-byte trailer (compression type, masked CRC32C). Every offset and length
//! read here comes from an untrusted file, so all of them are bounds-checked.

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

impl BlockHandle {
    pub fn decode(buf: &mut &[u8]) -> Result<Self, String> {
        let offset = read_varint(buf, "block handle offset")?;
        let size = read_varint(buf, "block handle size")?;
        Ok(BlockHandle { offset, size })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        prost::encoding::encode_varint(self.offset, out);
        prost::encoding::encode_varint(self.size, out);
    }
}

fn read_varint(buf: &mut &[u8], what: &str) -> Result<u64, String> {
    prost::encoding::decode_varint(buf).map_err(|_| format!("bad varint in {what}"))
}

fn read_varint32(buf: &mut &[u8], what: &str) -> Result<usize, String> {
    let v = read_varint(buf, what)?;
    u32::try_from(v)
        .map(|v| v as usize)
        .map_err(|_| format!("{what} {v} does not fit in 32 bits"))
}

/// All key/value pairs of a table, in file order, after checking that keys
/// strictly increase.
pub fn read_table(file: &[u8]) -> Result<Vec<Record>, String> {
    if file.len() < FOOTER_LEN {
        return Err(format!(
            "file is {} bytes, shorter than the {FOOTER_LEN}-byte table footer (truncated?)",
            file.len()
        ));
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let magic = u64::from_le_bytes(footer[40..48].try_into().map_err(|_| "footer")?);
    if magic != MAGIC {
        return Err("not an sstable (bad magic number)".into());
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
                    return Err(format!(
                        "keys are not strictly increasing: {:?} after {:?}",
                        String::from_utf8_lossy(&key),
                        String::from_utf8_lossy(prev)
                    ));
                }
            }
            entries.push((key, value));
        }
    }
    Ok(entries)
}

/// Verifies the trailer's CRC and undoes compression.
fn read_block(file: &[u8], handle: BlockHandle, what: &str) -> Result<Vec<u8>, String> {
    let start = usize::try_from(handle.offset).map_err(|_| format!("{what} offset overflows"))?;
    let size = usize::try_from(handle.size).map_err(|_| format!("{what} size overflows"))?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN))
        .ok_or_else(|| format!("{what} at offset {start} size {size} overflows"))?;
    if end > file.len() {
        return Err(format!(
            "truncated block read: {what} at offset {start} size {size} runs past the end of the file ({} bytes)",
            file.len()
        ));
    }
    let data = &file[start..start + size];
    let kind = file[start + size];
    let stored = u32::from_le_bytes(
        file[start + size + 1..end]
            .try_into()
            .map_err(|_| "block trailer")?,
    );
    let actual = crc::mask(crc32c::crc32c_append(crc32c::crc32c(data), &[kind]));
    if stored != actual {
        return Err(format!("block checksum mismatch in {what} at offset {start}"));
    }
    match kind {
        NO_COMPRESSION => Ok(data.to_vec()),
        SNAPPY_COMPRESSION => snap::raw::Decoder::new()
            .decompress_vec(data)
            .map_err(|e| format!("corrupted snappy-compressed {what} at offset {start}: {e}")),
        other => Err(format!("{what} at offset {start} has unknown compression type {other}")),
    }
}

/// Decodes the prefix-compressed entries of one block.
fn block_entries(block: &[u8], what: &str) -> Result<Vec<Record>, String> {
    if block.len() < 4 {
        return Err(format!("{what} is {} bytes, too short for its restart count", block.len()));
    }
    let num_restarts = u32::from_le_bytes(
        block[block.len() - 4..]
            .try_into()
            .map_err(|_| "restart count")?,
    ) as usize;
    let restarts_len = num_restarts
        .checked_mul(4)
        .and_then(|n| n.checked_add(4))
        .filter(|&n| n <= block.len())
        .ok_or_else(|| format!("{what}: restart array ({num_restarts} entries) out of range"))?;
    let entries_end = block.len() - restarts_len;
    for r in 0..num_restarts {
        let at = entries_end + 4 * r;
        let offset = u32::from_le_bytes(block[at..at + 4].try_into().map_err(|_| "restart")?);
        if offset as usize > entries_end {
            return Err(format!("{what}: restart point {offset} out of range"));
        }
    }

    let mut rest = &block[..entries_end];
    let mut out: Vec<Record> = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    while !rest.is_empty() {
        let shared = read_varint32(&mut rest, "shared key length")?;
        let non_shared = read_varint32(&mut rest, "key length")?;
        let value_len = read_varint32(&mut rest, "value length")?;
        if shared > key.len() {
            return Err(format!(
                "{what}: entry shares {shared} bytes with a previous key of {} bytes",
                key.len()
            ));
        }
        let needed = non_shared
            .checked_add(value_len)
            .filter(|&n| n <= rest.len())
            .ok_or_else(|| format!("{what}: entry runs past the end of the block"))?;
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
