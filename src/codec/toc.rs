//! The container's header and table of contents: one type, [`Toc`], written
//! by [`Toc::write`] and read and validated, all of it, by [`Toc::read`], so
//! that encoder and decoder cannot disagree on the layout and nothing behind
//! the table is trusted before it has been checked.

use super::chunk::Layout;
use super::le::{Reader, Writer};
use super::{Flaw, Part, Problem};

pub const MAGIC: &[u8; 8] = b"TFSPARSE";
pub const VERSION: u16 = 1;
pub const HEADER: usize = 32;

/// Chunks hold at most this many elements (the encoder's largest chunk).
pub const MAX_CHUNK_ELEMENTS: u64 = 1 << 24;

/// A stored blob: where it starts in the data section (after the table of
/// contents), its length and its CRC. `at` is not stored; it follows from
/// the lengths before it, and [`Toc::place_blobs`] or [`Toc::read`] sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Blob {
    pub at: usize,
    pub len: usize,
    pub crc: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkEntry {
    /// `chunk::DENSE`, `SPARSE` or `PLAIN`.
    pub kind: u8,
    pub elements: u64,
    pub blob: Blob,
}

/// One `tensor_content` cut out of the `.pb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// The node it belongs to (at most 64 KiB of it).
    pub name: String,
    /// Its byte range in the `.pb`.
    pub offset: usize,
    pub len: usize,
    pub dtype: i32,
    pub layout: Layout,
    /// CRC of its bytes in the `.pb`.
    pub raw_crc: u32,
    pub chunks: Vec<ChunkEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toc {
    /// Length and CRC of the original `.pb`.
    pub total_len: usize,
    pub total_crc: u32,
    /// The `.pb` without the cut ranges: its length, and its stored blob.
    pub skeleton_len: usize,
    pub skeleton: Blob,
    /// In file order, not overlapping.
    pub tensors: Vec<TensorEntry>,
}

impl Toc {
    /// Every blob, in the order they are stored: the skeleton, then each
    /// tensor's chunks.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.skeleton).chain(self.tensors.iter().flat_map(|t| t.chunks.iter().map(|c| &c.blob)))
    }

    /// Lays the blobs out one after another, in storage order.
    pub fn place_blobs(&mut self) {
        let mut at = 0;
        let blobs = std::iter::once(&mut self.skeleton)
            .chain(self.tensors.iter_mut().flat_map(|t| t.chunks.iter_mut().map(|c| &mut c.blob)));
        for blob in blobs {
            blob.at = at;
            at += blob.len;
        }
    }

    /// Header and table of contents, to be followed by the blobs.
    pub fn write(&self) -> Vec<u8> {
        let mut toc = Writer::default();
        toc.u64(self.skeleton_len as u64);
        toc.u64(self.skeleton.len as u64);
        toc.u32(self.skeleton.crc);
        toc.u32(self.tensors.len() as u32);
        for t in &self.tensors {
            toc.str(&t.name);
            toc.u64(t.offset as u64);
            toc.u64(t.len as u64);
            toc.i32(t.dtype);
            toc.u8(t.layout.size as u8);
            toc.u8(t.layout.unit as u8);
            toc.u32(t.raw_crc);
            toc.u32(t.chunks.len() as u32);
            for c in &t.chunks {
                toc.u8(c.kind);
                toc.u64(c.elements);
                toc.u64(c.blob.len as u64);
                toc.u32(c.blob.crc);
            }
        }
        let toc = toc.into_inner();
        let mut out = Writer::with_capacity(HEADER + toc.len());
        out.bytes(MAGIC);
        out.u16(VERSION);
        out.u16(0);
        out.u32(toc.len() as u32);
        out.u64(self.total_len as u64);
        out.u32(self.total_crc);
        let crc = crc32c::crc32c_append(crc32c::crc32c(out.as_slice()), &toc);
        out.u32(crc);
        out.bytes(&toc);
        out.into_inner()
    }

    /// Reads the header and table of contents of `bytes`, a whole container,
    /// and checks everything they say against each other and the file:
    /// lengths, ranges, chunk sizes, and (with `verify`) the header CRC.
    /// Returns the table and where the data section starts.
    pub fn read(bytes: &[u8], max_output: u64, verify: bool) -> Result<(Toc, usize), Problem> {
        if !bytes.starts_with(MAGIC) {
            return Err(if MAGIC.starts_with(bytes) && !bytes.is_empty() {
                Problem::Truncated(Part::Header)
            } else {
                Problem::BadMagic
            });
        }
        let mut r = Reader::new(bytes);
        let header = &Part::Header;
        r.take(MAGIC.len(), header)?;
        let version = r.u16(header)?;
        if version != VERSION {
            return Err(Problem::Version(version));
        }
        let flags = r.u16(header)?;
        let toc_len = r.u32(header)? as usize;
        let total_len = r.u64(header)?;
        let total_crc = r.u32(header)?;
        let toc_crc = r.u32(header)?;
        let toc = r.take(toc_len, &Part::Toc)?;
        if verify && crc32c::crc32c_append(crc32c::crc32c(&bytes[..HEADER - 4]), toc) != toc_crc {
            return Err(Problem::Checksum(Part::HeaderOrToc));
        }
        if flags != 0 {
            return Err(Problem::Malformed(Flaw::Flags(flags)));
        }
        if total_len > max_output {
            return Err(Problem::TooLarge(total_len, max_output));
        }
        let total_len = usize::try_from(total_len).map_err(|_| Problem::TooLarge(total_len, usize::MAX as u64))?;

        let mut t = Reader::new(toc);
        let what = &Part::Toc;
        let skeleton_len = t.len(what)?;
        let skeleton = Blob { at: 0, len: t.len(what)?, crc: t.u32(what)? };
        let n = t.u32(what)? as usize;
        // Capacities from the file are capped by what the table could hold.
        let mut tensors = Vec::with_capacity(n.min(toc_len / 16));
        let (mut end_of_previous, mut cut_total) = (0usize, 0usize);
        for _ in 0..n {
            let name = t.str(what)?;
            let offset = t.len(what)?;
            let len = t.len(what)?;
            let dtype = t.i32(what)?;
            let layout = Layout { size: t.u8(what)? as usize, unit: t.u8(what)? as usize };
            let raw_crc = t.u32(what)?;
            let n_chunks = t.u32(what)? as usize;
            let bad = |flaw: fn(String) -> Flaw| Problem::Malformed(flaw(name.clone()));
            if !layout.valid() || len % layout.size != 0 {
                return Err(bad(Flaw::TensorLayout));
            }
            if offset < end_of_previous || offset.checked_add(len).is_none_or(|e| e > total_len) {
                return Err(bad(Flaw::TensorRange));
            }
            end_of_previous = offset + len;
            cut_total += len;
            let mut chunks = Vec::with_capacity(n_chunks.min(toc_len / 21));
            let mut elements_total = 0u64;
            for _ in 0..n_chunks {
                let kind = t.u8(what)?;
                let elements = t.u64(what)?;
                let blob = Blob { at: 0, len: t.len(what)?, crc: t.u32(what)? };
                if elements > MAX_CHUNK_ELEMENTS {
                    return Err(bad(Flaw::ChunkTooLarge));
                }
                elements_total += elements;
                chunks.push(ChunkEntry { kind, elements, blob });
            }
            if elements_total.checked_mul(layout.size as u64) != Some(len as u64) {
                return Err(bad(Flaw::ChunksLength));
            }
            tensors.push(TensorEntry { name, offset, len, dtype, layout, raw_crc, chunks });
        }
        if !t.is_empty() {
            return Err(Problem::Malformed(Flaw::TocTrailing));
        }
        if skeleton_len.checked_add(cut_total) != Some(total_len) {
            return Err(Problem::Malformed(Flaw::Lengths));
        }
        let mut toc = Toc { total_len, total_crc, skeleton_len, skeleton, tensors };
        let data_start = HEADER + toc_len;
        let data_len = toc
            .blobs()
            .try_fold(0usize, |sum, b| sum.checked_add(b.len))
            .ok_or(Problem::Malformed(Flaw::BlobOverflow))?;
        let end = data_start.checked_add(data_len).ok_or(Problem::Malformed(Flaw::BlobOverflow))?;
        if end > bytes.len() {
            return Err(Problem::Truncated(Part::Data { present: bytes.len(), needed: end }));
        }
        if end < bytes.len() {
            return Err(Problem::Malformed(Flaw::DataTrailing(bytes.len() - end)));
        }
        toc.place_blobs();
        Ok((toc, data_start))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A table whose ranges and chunk sizes are consistent, as an encoder makes them.
    fn arb_toc() -> impl Strategy<Value = Toc> {
        let layouts = prop::sample::select(vec![(1, 0), (2, 2), (4, 0), (4, 4), (8, 8), (8, 4), (16, 8)]);
        let tensor = (
            "[a-z/_0-9]{0,12}",
            0usize..64,
            layouts,
            any::<i32>(),
            any::<u32>(),
            prop::collection::vec((0u8..3, 0u64..40, 0usize..50, any::<u32>()), 0..4),
        );
        (prop::collection::vec(tensor, 0..6), 0usize..100, any::<u32>(), any::<u32>(), 0usize..80).prop_map(
            |(tensors, gap, total_crc, skeleton_crc, skeleton_blob)| {
                let mut at = 0;
                let tensors: Vec<TensorEntry> = tensors
                    .into_iter()
                    .map(|(name, before, (size, unit), dtype, raw_crc, chunks)| {
                        let chunks: Vec<ChunkEntry> = chunks
                            .into_iter()
                            .map(|(kind, elements, len, crc)| ChunkEntry { kind, elements, blob: Blob { at: 0, len, crc } })
                            .collect();
                        let len = chunks.iter().map(|c| c.elements as usize).sum::<usize>() * size;
                        let offset = at + before;
                        at = offset + len;
                        TensorEntry { name, offset, len, dtype, layout: Layout { size, unit }, raw_crc, chunks }
                    })
                    .collect();
                let cut: usize = tensors.iter().map(|t| t.len).sum();
                let total_len = at + gap;
                let skeleton = Blob { at: 0, len: skeleton_blob, crc: skeleton_crc };
                let mut toc = Toc { total_len, total_crc, skeleton_len: total_len - cut, skeleton, tensors };
                toc.place_blobs();
                toc
            },
        )
    }

    fn container(toc: &Toc) -> Vec<u8> {
        let mut bytes = toc.write();
        let data: usize = toc.blobs().map(|b| b.len).sum();
        bytes.resize(bytes.len() + data, 0);
        bytes
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back(toc in arb_toc()) {
            let bytes = container(&toc);
            let (read, data_start) = Toc::read(&bytes, u64::MAX, true).unwrap();
            prop_assert_eq!(&read, &toc);
            prop_assert_eq!(data_start, toc.write().len());
        }

        #[test]
        fn a_cut_or_flipped_table_is_an_error_not_a_panic(toc in arb_toc(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut bytes = container(&toc);
            let n = bytes.len();
            prop_assert!(Toc::read(&bytes[..at.index(n)], u64::MAX, true).is_err());
            let i = at.index(toc.write().len());
            bytes[i] ^= 1 << bit;
            prop_assert!(Toc::read(&bytes, u64::MAX, true).is_err());
        }
    }
}
