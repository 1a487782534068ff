//! Opening a bundle: the whole `.index` is parsed and validated up front, so
//! that reading a tensor later can only fail on its data (CRC, strings).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{Advice, Mmap, UncheckedAdvice};
use prost::Message;

use crate::tensor::{byte_swap, swap_unit};
use super::fault::{IndexError, TensorFault, BUNDLE_VERSION};
use super::{crc, data_path, index_path, slice_key, table, CheckpointError, Result, Tensor, TensorData};
use crate::proto::tensorflow::bundle_header_proto::Endianness;
use crate::proto::tensorflow::{BundleEntryProto, BundleHeaderProto, DataType, TensorShapeProto};

/// Tensors at least this large are mapped in with one call before reading.
const PREFAULT_BYTES: usize = 1 << 20;

/// Where a tensor's bytes live in the data shards.
#[derive(Debug, Clone, Copy)]
struct Stored {
    shard: usize,
    offset: usize,
    size: usize,
    masked_crc: u32,
}

/// One part of a partitioned variable: where it sits in the full tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub start: Vec<u64>,
    pub shape: Vec<u64>,
}

/// What the index says about a tensor, without reading it.
#[derive(Debug, Clone)]
pub struct EntryInfo {
    pub dtype: DataType,
    pub shape: Vec<u64>,
    /// Empty unless the tensor was saved as a partitioned variable.
    pub slices: Vec<Slice>,
    stored: Vec<Stored>,
}

impl EntryInfo {
    pub fn num_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Bytes the tensor takes in the data files.
    pub fn stored_bytes(&self) -> u64 {
        self.stored.iter().map(|s| s.size as u64).sum()
    }
}

/// An open V2 checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    prefix: PathBuf,
    index_path: PathBuf,
    data_paths: Vec<PathBuf>,
    header: BundleHeaderProto,
    entries: BTreeMap<String, EntryInfo>,
    shards: Vec<Shard>,
}

/// A data file: its bytes, and the mapping behind them when it is mmapped.
#[derive(Debug)]
struct Shard {
    bytes: Bytes,
    map: Option<Arc<Mmap>>,
}

/// Lets `Bytes` views share the mapping that `Checkpoint::release` advises.
struct SharedMap(Arc<Mmap>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Checkpoint {
    /// Opens `<prefix>.index` and every data shard it names.
    pub fn open(prefix: impl AsRef<Path>) -> Result<Self> {
        let prefix = prefix.as_ref().to_path_buf();
        let index_path = index_path(&prefix);
        let index_bytes =
            std::fs::read(&index_path).map_err(|e| CheckpointError::io(&index_path, e))?;
        Self::parse(prefix, &index_bytes, map_file)
    }

    /// A checkpoint held in memory: the `.index` bytes and the data shards in
    /// order. `prefix` only names things in messages.
    pub fn from_memory(prefix: impl AsRef<Path>, index: &[u8], shards: Vec<Bytes>) -> Result<Self> {
        let prefix = prefix.as_ref().to_path_buf();
        let mut shards = shards.into_iter().map(|bytes| Shard { bytes, map: None });
        Self::parse(prefix, index, |path| {
            shards.next().ok_or_else(|| CheckpointError::MissingShard(path.to_path_buf()))
        })
    }

    fn parse(prefix: PathBuf, index_bytes: &[u8], mut load_shard: impl FnMut(&Path) -> Result<Shard>) -> Result<Self> {
        let index_path = index_path(&prefix);
        let corrupt = |source: IndexError| CheckpointError::Index { path: index_path.clone(), source };
        let records = table::read_table(index_bytes).map_err(|e| corrupt(e.into()))?;

        let mut records = records.into_iter();
        let header = match records.next() {
            Some((key, value)) if key.is_empty() => BundleHeaderProto::decode(value.as_slice())
                .map_err(|e| corrupt(IndexError::HeaderDoesNotParse(e)))?,
            _ => return Err(corrupt(IndexError::NoHeader)),
        };
        let num_shards = check_header(&header).map_err(corrupt)?;

        let data_paths: Vec<PathBuf> = (0..num_shards)
            .map(|i| data_path(&prefix, i, num_shards))
            .collect();
        let shards = data_paths
            .iter()
            .map(|p| load_shard(p))
            .collect::<Result<Vec<_>>>()?;
        let shard_lens: Vec<usize> = shards.iter().map(|s| s.bytes.len()).collect();

        let mut slice_records: HashMap<Vec<u8>, BundleEntryProto> = HashMap::new();
        let mut full: Vec<(String, BundleEntryProto)> = Vec::new();
        for (key, value) in records {
            let entry = BundleEntryProto::decode(value.as_slice()).map_err(|source| {
                corrupt(IndexError::EntryDoesNotParse { key: String::from_utf8_lossy(&key).into_owned(), source })
            })?;
            if key.first() == Some(&0) {
                slice_records.insert(key, entry);
            } else {
                let name = String::from_utf8(key)
                    .map_err(|e| corrupt(IndexError::NameNotUtf8(e)))?;
                full.push((name, entry));
            }
        }

        let mut entries = BTreeMap::new();
        for (name, entry) in full {
            let info = validate_entry(&name, &entry, &slice_records, &shard_lens)
                .map_err(|fault| CheckpointError::bad_tensor(&index_path, &name, fault))?;
            entries.insert(name, info);
        }
        Ok(Checkpoint {
            prefix,
            index_path,
            data_paths,
            header,
            entries,
            shards,
        })
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    pub fn header(&self) -> &BundleHeaderProto {
        &self.header
    }

    pub fn data_paths(&self) -> &[PathBuf] {
        &self.data_paths
    }

    /// Tensors in name order (slices of partitioned variables appear once, under the full name).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &EntryInfo)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn entry(&self, name: &str) -> Option<&EntryInfo> {
        self.entries.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    fn entry_or_err(&self, name: &str) -> Result<&EntryInfo> {
        self.entries
            .get(name)
            .ok_or_else(|| CheckpointError::NoSuchTensor {
                prefix: self.prefix.clone(),
                name: name.to_string(),
            })
    }

    /// The whole tensor; partitioned variables are reassembled from their slices.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self.entry_or_err(name)?;
        if info.slices.is_empty() {
            return self.read_stored(name, info.dtype, &info.shape, info.stored[0]);
        }
        let elem = info.dtype.byte_size().ok_or_else(|| {
            self.bad(name, TensorFault::PartitionedUnsupported(info.dtype))
        })?;
        let total = usize::try_from(info.num_elements())
            .ok()
            .and_then(|n| n.checked_mul(elem))
            .ok_or_else(|| self.bad(name, TensorFault::TooLarge))?;
        let mut out = vec![0u8; total];
        for (slice, stored) in info.slices.iter().zip(&info.stored) {
            let part = self.read_stored(name, info.dtype, &slice.shape, *stored)?;
            let TensorData::Pod(bytes) = part.data else {
                return Err(self.bad(name, TensorFault::SliceNotPlain));
            };
            copy_slice_into(&mut out, &info.shape, slice, &bytes, elem);
        }
        Ok(Tensor {
            dtype: info.dtype,
            shape: info.shape.clone(),
            data: TensorData::Pod(Bytes::from(out)),
        })
    }

    /// The parts of a partitioned variable as stored, in the index's order.
    pub fn slices(&self, name: &str) -> Result<Vec<(Slice, Tensor)>> {
        let info = self.entry_or_err(name)?;
        info.slices
            .iter()
            .zip(&info.stored)
            .map(|(slice, stored)| {
                Ok((
                    slice.clone(),
                    self.read_stored(name, info.dtype, &slice.shape, *stored)?,
                ))
            })
            .collect()
    }

    /// The part of a partitioned variable that starts at `start`.
    pub fn slice(&self, name: &str, start: &[u64]) -> Result<Tensor> {
        let info = self.entry_or_err(name)?;
        let (slice, stored) = info
            .slices
            .iter()
            .zip(&info.stored)
            .find(|(s, _)| s.start == start)
            .ok_or_else(|| self.bad(name, TensorFault::NoSliceAt(start.to_vec())))?;
        self.read_stored(name, info.dtype, &slice.shape, *stored)
    }

    /// Tells the OS that a tensor's pages will not be read again soon, so a
    /// pass over a large checkpoint does not keep all of it resident. Views
    /// of the tensor stay valid: the pages are read again if touched.
    pub fn release(&self, name: &str) {
        let Some(info) = self.entries.get(name) else { return };
        for at in &info.stored {
            if let Some(map) = &self.shards[at.shard].map {
                // SAFETY: the mapping is read-only, so dropping its pages
                // loses nothing; they are re-read from the file on access.
                let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, at.offset, at.size) };
            }
        }
    }

    fn bad(&self, name: &str, fault: TensorFault) -> CheckpointError {
        CheckpointError::bad_tensor(&self.index_path, name, fault)
    }

    fn read_stored(&self, name: &str, dtype: DataType, shape: &[u64], at: Stored) -> Result<Tensor> {
        let path = &self.data_paths[at.shard];
        let bad = |fault: TensorFault| CheckpointError::bad_tensor(path, name, fault);
        let shard = &self.shards[at.shard];
        if let (Some(map), true) = (&shard.map, at.size >= PREFAULT_BYTES) {
            // One call maps the whole range, instead of a page fault every few pages.
            let _ = map.advise_range(Advice::PopulateRead, at.offset, at.size);
        }
        let raw = shard.bytes.slice(at.offset..at.offset + at.size);
        let big_endian = self.header.endianness == Endianness::Big as i32;
        let checksum_mismatch = || bad(TensorFault::DataChecksum { size: at.size, offset: at.offset });
        let data = if dtype == DataType::DtString {
            let (strings, crc) =
                decode_strings(&raw, shape.iter().product(), big_endian).map_err(bad)?;
            if crc::mask(crc) != at.masked_crc {
                return Err(checksum_mismatch());
            }
            TensorData::Strings(strings)
        } else if crc::mask(crc::crc32c_parallel(&raw)) != at.masked_crc {
            return Err(checksum_mismatch());
        } else if big_endian {
            let unit = swap_unit(dtype).ok_or_else(|| bad(TensorFault::CannotByteSwap(dtype)))?;
            TensorData::Pod(Bytes::from(byte_swap(&raw, unit)))
        } else {
            TensorData::Pod(raw)
        };
        Ok(Tensor {
            dtype,
            shape: shape.to_vec(),
            data,
        })
    }
}

fn map_file(path: &Path) -> Result<Shard> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CheckpointError::MissingShard(path.to_path_buf()),
        _ => CheckpointError::io(path, e),
    })?;
    let len = file.metadata().map_err(|e| CheckpointError::io(path, e))?.len();
    if len == 0 {
        return Ok(Shard { bytes: Bytes::new(), map: None });
    }
    // SAFETY: the map is read-only and private to this process. TensorFlow
    // writes checkpoints to a temporary name and renames them, so a file we
    // open is complete and not rewritten in place underneath us.
    let map = Arc::new(unsafe { Mmap::map(&file) }.map_err(|e| CheckpointError::io(path, e))?);
    Ok(Shard {
        bytes: Bytes::from_owner(SharedMap(map.clone())),
        map: Some(map),
    })
}

fn check_header(header: &BundleHeaderProto) -> Result<usize, IndexError> {
    if let Some(v) = &header.version {
        if v.min_consumer > BUNDLE_VERSION {
            return Err(IndexError::ReaderTooOld { min_consumer: v.min_consumer });
        }
        if v.bad_consumers.contains(&BUNDLE_VERSION) {
            return Err(IndexError::ReaderExcluded);
        }
    }
    if Endianness::try_from(header.endianness).is_err() {
        return Err(IndexError::UnknownEndianness(header.endianness));
    }
    match usize::try_from(header.num_shards) {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err(IndexError::ImplausibleShards(header.num_shards)),
    }
}

pub(crate) fn shape_of(shape: Option<&TensorShapeProto>) -> Result<Vec<u64>, TensorFault> {
    let Some(shape) = shape else {
        return Ok(Vec::new());
    };
    if shape.unknown_rank {
        return Err(TensorFault::UnknownRank);
    }
    let dims: Vec<u64> = shape
        .dim
        .iter()
        .map(|d| u64::try_from(d.size).map_err(|_| TensorFault::NegativeDimension(d.size)))
        .collect::<Result<_, _>>()?;
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| TensorFault::ElementCountOverflows(dims.clone()))?;
    Ok(dims)
}

fn validate_entry(
    name: &str,
    entry: &BundleEntryProto,
    slice_records: &HashMap<Vec<u8>, BundleEntryProto>,
    shard_lens: &[usize],
) -> Result<EntryInfo, TensorFault> {
    let dtype = DataType::try_from(entry.dtype)
        .ok()
        .filter(|d| *d != DataType::DtInvalid)
        .ok_or(TensorFault::UnknownDtype(entry.dtype))?;
    let shape = shape_of(entry.shape.as_ref())?;
    let num_elements: u64 = shape.iter().product();

    if entry.slices.is_empty() {
        let stored = validate_stored(entry, dtype, num_elements, shard_lens)?;
        return Ok(EntryInfo {
            dtype,
            shape,
            slices: Vec::new(),
            stored: vec![stored],
        });
    }

    let mut slices = Vec::with_capacity(entry.slices.len());
    let mut stored = Vec::with_capacity(entry.slices.len());
    let mut covered: u64 = 0;
    for proto in &entry.slices {
        if proto.extent.len() != shape.len() {
            return Err(TensorFault::SliceRank { slice: proto.extent.len(), tensor: shape.len() });
        }
        let mut start = Vec::with_capacity(shape.len());
        let mut extent = Vec::with_capacity(shape.len());
        for (d, &dim) in shape.iter().enumerate() {
            let (s, len) = slice_key::extent(proto, d);
            let s = u64::try_from(s).map_err(|_| TensorFault::NegativeSliceStart(s))?;
            let len = match len {
                None => dim,
                Some(l) => u64::try_from(l).map_err(|_| TensorFault::NegativeSliceLength(l))?,
            };
            if s.checked_add(len).is_none_or(|end| end > dim) {
                return Err(TensorFault::SliceExceedsDimension { start: s, len, dim: d, size: dim });
            }
            start.push(s);
            extent.push(len);
        }
        let key = slice_key::encode(name, proto);
        let record = slice_records
            .get(&key)
            .ok_or_else(|| TensorFault::SliceNotStored(start.clone()))?;
        if record.dtype != entry.dtype {
            return Err(TensorFault::SliceDtype { start, dtype: record.dtype, expected: entry.dtype });
        }
        let part_shape = shape_of(record.shape.as_ref())?;
        if part_shape != extent {
            return Err(TensorFault::SliceShape { start, shape: part_shape, expected: extent });
        }
        let elements: u64 = extent.iter().product();
        stored.push(validate_stored(record, dtype, elements, shard_lens)?);
        covered = covered.saturating_add(elements);
        slices.push(Slice {
            start,
            shape: extent,
        });
    }
    if covered != num_elements {
        return Err(TensorFault::SlicesDoNotCover { covered, elements: num_elements });
    }
    Ok(EntryInfo {
        dtype,
        shape,
        slices,
        stored,
    })
}

fn validate_stored(
    entry: &BundleEntryProto,
    dtype: DataType,
    num_elements: u64,
    shard_lens: &[usize],
) -> Result<Stored, TensorFault> {
    let shard = usize::try_from(entry.shard_id)
        .ok()
        .filter(|&s| s < shard_lens.len())
        .ok_or(TensorFault::ShardOutOfRange { shard: entry.shard_id, shards: shard_lens.len() })?;
    let offset =
        usize::try_from(entry.offset).map_err(|_| TensorFault::BadOffset(entry.offset))?;
    let size = usize::try_from(entry.size).map_err(|_| TensorFault::BadSize(entry.size))?;
    if offset.checked_add(size).is_none_or(|end| end > shard_lens[shard]) {
        return Err(TensorFault::BeyondShard { offset, size, shard, shard_len: shard_lens[shard] });
    }
    match dtype {
        DataType::DtString => {
            // Each element takes at least its one-byte length.
            if num_elements > size as u64 {
                return Err(TensorFault::StringsCannotFit { count: num_elements, size });
            }
        }
        _ => {
            let elem = dtype
                .byte_size()
                .ok_or(TensorFault::NotStorable(dtype))?;
            let expected = num_elements.checked_mul(elem as u64);
            if expected != Some(size as u64) {
                return Err(TensorFault::StoredSize { size, elements: num_elements, elem });
            }
        }
    }
    Ok(Stored {
        shard,
        offset,
        size,
        masked_crc: entry.crc32c,
    })
}

/// `[varint64 len]*n [masked crc32c of the lengths] [bytes]*n`. Both the
/// lengths' checksum and the entry's checksum see each length as a u32 (u64
/// when it does not fit), not as its varint; the entry's checksum, returned
/// here unmasked, goes on over the 4 checksum bytes and the string bytes.
pub(super) fn decode_strings(raw: &Bytes, n: u64, big_endian: bool) -> Result<(Vec<Bytes>, u32), TensorFault> {
    let mut rest: &[u8] = raw;
    // `n <= raw.len()` was checked when the index was opened.
    let mut lengths = Vec::with_capacity(n as usize);
    let mut len_crc = 0u32;
    for _ in 0..n {
        let len = prost::encoding::decode_varint(&mut rest).map_err(|_| TensorFault::BadStringLength)?;
        len_crc = extend_with_length(len_crc, len, big_endian);
        lengths.push(len);
    }
    if rest.len() < 4 {
        return Err(TensorFault::NoLengthsChecksum);
    }
    let stored = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    if crc::unmask(stored) != len_crc {
        return Err(TensorFault::LengthsChecksum);
    }
    let mut entry_crc = crc32c::crc32c_append(len_crc, &rest[..4]);
    let mut pos = raw.len() - rest.len() + 4;
    let mut out = Vec::with_capacity(lengths.len());
    for len in lengths {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&e| e <= raw.len())
            .ok_or(TensorFault::StringPastEnd(len))?;
        entry_crc = crc32c::crc32c_append(entry_crc, &raw[pos..end]);
        out.push(raw.slice(pos..end));
        pos = end;
    }
    if pos != raw.len() {
        return Err(TensorFault::BytesAfterStrings(raw.len() - pos));
    }
    Ok((out, entry_crc))
}

pub(super) fn extend_with_length(crc: u32, len: u64, big_endian: bool) -> u32 {
    match (u32::try_from(len), big_endian) {
        (Ok(l), false) => crc32c::crc32c_append(crc, &l.to_le_bytes()),
        (Ok(l), true) => crc32c::crc32c_append(crc, &l.to_be_bytes()),
        (Err(_), false) => crc32c::crc32c_append(crc, &len.to_le_bytes()),
        (Err(_), true) => crc32c::crc32c_append(crc, &len.to_be_bytes()),
    }
}

/// Copies a slice's row-major bytes into its place in the full tensor.
fn copy_slice_into(full: &mut [u8], shape: &[u64], slice: &Slice, bytes: &[u8], elem: usize) {
    let rank = shape.len();
    if rank == 0 {
        full.copy_from_slice(bytes);
        return;
    }
    let mut strides = vec![elem; rank];
    for d in (0..rank - 1).rev() {
        strides[d] = strides[d + 1] * shape[d + 1] as usize;
    }
    let run = slice.shape[rank - 1] as usize * elem;
    if run == 0 {
        return;
    }
    let runs: u64 = slice.shape[..rank - 1].iter().product();
    let mut index = vec![0u64; rank - 1];
    for r in 0..runs as usize {
        let mut at = slice.start[rank - 1] as usize * elem;
        for d in 0..rank - 1 {
            at += (slice.start[d] + index[d]) as usize * strides[d];
        }
        full[at..at + run].copy_from_slice(&bytes[r * run..(r + 1) * run]);
        for d in (0..rank - 1).rev() {
            index[d] += 1;
            if index[d] < slice.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_land_where_they_belong() {
        // A 3x4 tensor of u8 split into rows [0,2) and [2,3), then columns.
        let shape = [3u64, 4];
        let mut full = vec![0u8; 12];
        let top = Slice {
            start: vec![0, 0],
            shape: vec![2, 4],
        };
        copy_slice_into(&mut full, &shape, &top, &[1, 2, 3, 4, 5, 6, 7, 8], 1);
        let bottom_left = Slice {
            start: vec![2, 0],
            shape: vec![1, 2],
        };
        copy_slice_into(&mut full, &shape, &bottom_left, &[9, 10], 1);
        let bottom_right = Slice {
            start: vec![2, 2],
            shape: vec![1, 2],
        };
        copy_slice_into(&mut full, &shape, &bottom_right, &[11, 12], 1);
        assert_eq!(full, (1..=12).collect::<Vec<u8>>());
    }

    #[test]
    fn strings_reject_lies() {
        // One string claiming 100 bytes in a 6-byte record.
        let mut raw = vec![100u8];
        let crc = crc::mask(crc32c::crc32c(&100u32.to_le_bytes()));
        raw.extend_from_slice(&crc.to_le_bytes());
        raw.push(b'x');
        let err = decode_strings(&Bytes::from(raw), 1, false).unwrap_err();
        assert!(matches!(err, TensorFault::StringPastEnd(100)), "{err}");
    }
}
