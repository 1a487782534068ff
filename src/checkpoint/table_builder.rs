//! Writing an SSTable the way TensorFlow's BundleWriter does: no compression
//! (Android and pre-1.1 readers lack Snappy), 256 KiB blocks, a restart every
//! 16 keys, an index block with a restart per key and shortest separators.

use super::crc;
use super::table::{BlockHandle, FOOTER_LEN, MAGIC, NO_COMPRESSION};

const BLOCK_SIZE: usize = 256 * 1024;
const RESTART_INTERVAL: usize = 16;

struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    interval: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    fn new(interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            counter: 0,
            interval,
            last_key: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.interval {
            key.iter()
                .zip(&self.last_key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        for n in [shared, key.len() - shared, value.len()] {
            prost::encoding::encode_varint(n as u64, &mut self.buf);
        }
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        *self = BlockBuilder::new(self.interval);
        out
    }
}

/// Builds a whole table in memory; `.index` files are small (one entry per
/// tensor), and the caller writes the result atomically.
pub struct TableBuilder {
    out: Vec<u8>,
    data: BlockBuilder,
    index: BlockBuilder,
    last_key: Vec<u8>,
    pending_handle: Option<BlockHandle>,
}

impl TableBuilder {
    pub fn new() -> Self {
        TableBuilder {
            out: Vec::new(),
            data: BlockBuilder::new(RESTART_INTERVAL),
            index: BlockBuilder::new(1),
            last_key: Vec::new(),
            pending_handle: None,
        }
    }

    /// Keys must be added in strictly increasing order; the bundle writer sorts them.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(self.last_key.is_empty() || key > &self.last_key[..]);
        if let Some(handle) = self.pending_handle.take() {
            let sep = shortest_separator(&self.last_key, key);
            self.add_index_entry(&sep, handle);
        }
        if !self.data.is_empty() && key.len() + value.len() >= 2 * BLOCK_SIZE {
            self.flush();
            if let Some(handle) = self.pending_handle.take() {
                let sep = shortest_separator(&self.last_key, key);
                self.add_index_entry(&sep, handle);
            }
        }
        self.data.add(key, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        if self.data.size_estimate() >= BLOCK_SIZE {
            self.flush();
        }
    }

    fn add_index_entry(&mut self, key: &[u8], handle: BlockHandle) {
        let mut v = Vec::new();
        handle.encode(&mut v);
        self.index.add(key, &v);
    }

    fn flush(&mut self) {
        if self.data.is_empty() {
            return;
        }
        let block = self.data.finish();
        self.pending_handle = Some(self.write_block(&block));
    }

    fn write_block(&mut self, contents: &[u8]) -> BlockHandle {
        let handle = BlockHandle {
            offset: self.out.len() as u64,
            size: contents.len() as u64,
        };
        self.out.extend_from_slice(contents);
        let crc = crc::mask(crc32c::crc32c_append(
            crc32c::crc32c(contents),
            &[NO_COMPRESSION],
        ));
        self.out.push(NO_COMPRESSION);
        self.out.extend_from_slice(&crc.to_le_bytes());
        handle
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        let metaindex = BlockBuilder::new(RESTART_INTERVAL).finish();
        let metaindex_handle = self.write_block(&metaindex);
        if let Some(handle) = self.pending_handle.take() {
            let succ = short_successor(&self.last_key);
            self.add_index_entry(&succ, handle);
        }
        let index = self.index.finish();
        let index_handle = self.write_block(&index);
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        metaindex_handle.encode(&mut footer);
        index_handle.encode(&mut footer);
        footer.resize(FOOTER_LEN - 8, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        self.out.extend_from_slice(&footer);
        self.out
    }
}

/// A short key `k` with `start <= k < limit` (LevelDB's bytewise comparator).
fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let common = start
        .iter()
        .zip(limit)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = start.to_vec();
    if common < start.len().min(limit.len()) {
        let byte = start[common];
        if byte < 0xff && byte + 1 < limit[common] {
            out[common] += 1;
            out.truncate(common + 1);
        }
    }
    out
}

/// A short key `>= key`.
fn short_successor(key: &[u8]) -> Vec<u8> {
    match key.iter().position(|&b| b != 0xff) {
        Some(i) => {
            let mut out = key[..=i].to_vec();
            out[i] += 1;
            out
        }
        None => key.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{read_table, Record, TableError};
    use super::*;

    #[test]
    fn separators() {
        assert_eq!(shortest_separator(b"abcd", b"abzz"), b"abd");
        assert_eq!(shortest_separator(b"abc", b"abcd"), b"abc");
        assert_eq!(shortest_separator(b"ab1", b"ab2"), b"ab1");
        assert_eq!(short_successor(b"abc"), b"b");
        assert_eq!(short_successor(&[0xff, 0xff]), vec![0xff, 0xff]);
    }

    #[test]
    fn round_trip_many_blocks() {
        let mut b = TableBuilder::new();
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..5000u32)
            .map(|i| (format!("key/{i:08}").into_bytes(), vec![(i % 251) as u8; (i % 300) as usize]))
            .collect();
        for (k, v) in &entries {
            b.add(k, v);
        }
        let bytes = b.finish();
        assert_eq!(read_table(&bytes).unwrap(), entries);
    }

    fn arb_entries() -> impl proptest::strategy::Strategy<Value = std::collections::BTreeMap<Vec<u8>, Vec<u8>>> {
        use proptest::prelude::*;
        // Tensor-name-like keys share prefixes (what the blocks' prefix
        // compression and the index's separators work on); raw bytes reach 0xff.
        let key = prop_oneof![
            "(layer[0-9]{0,2}/){0,3}[a-z_]{0,6}".prop_map(String::into_bytes),
            prop::collection::vec(prop_oneof![any::<u8>(), Just(0xffu8)], 0..12),
        ];
        // Now and then a value large enough to fill a block on its own.
        let value = prop_oneof![
            20 => prop::collection::vec(any::<u8>(), 0..64),
            1 => (BLOCK_SIZE / 4..3 * BLOCK_SIZE, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        ];
        prop::collection::btree_map(key, value, 0..200)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        #[test]
        fn every_entry_written_reads_back_in_key_order(entries in arb_entries()) {
            let mut b = TableBuilder::new();
            for (k, v) in &entries {
                b.add(k, v);
            }
            let read = read_table(&b.finish()).unwrap();
            let written: Vec<Record> = entries.into_iter().collect();
            proptest::prop_assert!(read == written, "{} entries read, {} written", read.len(), written.len());
        }
    }

    #[test]
    fn huge_value_gets_its_own_block() {
        let mut b = TableBuilder::new();
        b.add(b"a", b"x");
        let big = vec![7u8; 2 * BLOCK_SIZE];
        b.add(b"b", &big);
        b.add(b"c", b"y");
        let got = read_table(&b.finish()).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].1, big);
    }

    #[test]
    fn corruption_is_detected() {
        let mut b = TableBuilder::new();
        b.add(b"a", b"hello");
        let mut bytes = b.finish();
        bytes[2] ^= 1;
        assert!(matches!(read_table(&bytes), Err(TableError::ChecksumMismatch { .. })));
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        assert!(matches!(read_table(&bytes), Err(TableError::BadMagic)));
        assert!(matches!(read_table(&bytes[..10]), Err(TableError::ShorterThanFooter { len: 10 })));
    }
}
