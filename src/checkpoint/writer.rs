//! Writing a single-shard V2 checkpoint that TensorFlow reads back.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;

use super::reader::{extend_with_length, Slice};
use super::table_builder::TableBuilder;
use super::{crc, data_path, index_path, slice_key, CheckpointError, Result, TensorFault, Tensor, TensorData};
use crate::atomic::{self, AtomicFile};
use crate::proto::tensorflow::tensor_slice_proto::{extent::HasLengthHack, Extent};
use crate::proto::tensorflow::{
    BundleEntryProto, BundleHeaderProto, DataType, TensorShapeProto,
    TensorSliceProto, VersionDef,
};

/// Tensors are appended to the data file as they are added; the index is
/// written by `finish`, last, as TensorFlow does, so a checkpoint without an
/// index is never mistaken for a complete one.
pub struct CheckpointWriter {
    prefix: PathBuf,
    data: AtomicFile,
    data_path: PathBuf,
    offset: u64,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
}

impl CheckpointWriter {
    pub fn create(prefix: impl AsRef<Path>) -> Result<Self> {
        let prefix = prefix.as_ref().to_path_buf();
        let data_path = data_path(&prefix, 0, 1);
        let data = AtomicFile::create(&data_path).map_err(|e| CheckpointError::io(&data_path, e))?;
        Ok(CheckpointWriter {
            prefix,
            data,
            data_path,
            offset: 0,
            entries: BTreeMap::new(),
        })
    }

    pub fn add(&mut self, name: &str, tensor: &Tensor) -> Result<()> {
        if name.is_empty() || name.as_bytes()[0] == 0 {
            return Err(self.invalid(name, TensorFault::BadName));
        }
        if self.entries.contains_key(name.as_bytes()) {
            return Err(self.invalid(name, TensorFault::AddedTwice));
        }
        let entry = self.append(name, tensor)?;
        self.entries.insert(name.as_bytes().to_vec(), entry);
        Ok(())
    }

    /// Adds one part of a partitioned variable; `full_shape` is the whole variable's.
    pub fn add_slice(&mut self, name: &str, full_shape: &[u64], slice: &Slice, part: &Tensor) -> Result<()> {
        if slice.shape != part.shape || slice.start.len() != full_shape.len() {
            return Err(self.invalid(name, TensorFault::SliceShapeMismatch));
        }
        let proto = TensorSliceProto {
            extent: slice
                .start
                .iter()
                .zip(&slice.shape)
                .map(|(&start, &len)| Extent {
                    start: start as i64,
                    has_length_hack: Some(HasLengthHack::Length(len as i64)),
                })
                .collect(),
        };
        let entry = self.append(name, part)?;
        self.entries.insert(slice_key::encode(name, &proto), entry);
        let full = self
            .entries
            .entry(name.as_bytes().to_vec())
            .or_insert_with(|| BundleEntryProto {
                dtype: part.dtype as i32,
                shape: Some(TensorShapeProto::from_dims(full_shape)),
                ..Default::default()
            });
        if full.slices.is_empty() && full.size != 0 {
            return Err(self.invalid(name, TensorFault::AlreadyWhole));
        }
        full.slices.push(proto);
        Ok(())
    }

    fn invalid(&self, name: &str, fault: TensorFault) -> CheckpointError {
        CheckpointError::bad_tensor(&self.prefix, name, fault)
    }

    fn append(&mut self, name: &str, tensor: &Tensor) -> Result<BundleEntryProto> {
        let encoded;
        let (bytes, crc): (&[u8], u32) = match &tensor.data {
            TensorData::Pod(b) => {
                let elem = tensor.dtype.byte_size().ok_or_else(|| self.invalid(name, TensorFault::NotFixedSize(tensor.dtype)))?;
                if b.len() as u64 != tensor.num_elements() * elem as u64 {
                    return Err(self.invalid(name, TensorFault::ByteLength));
                }
                (b, crc32c::crc32c(b))
            }
            TensorData::Strings(s) => {
                if s.len() as u64 != tensor.num_elements() || tensor.dtype != DataType::DtString {
                    return Err(self.invalid(name, TensorFault::StringCount));
                }
                let crc;
                (encoded, crc) = encode_strings(s);
                (&encoded, crc)
            }
        };
        self.data
            .write_all(bytes)
            .map_err(|e| CheckpointError::io(&self.data_path, e))?;
        let entry = BundleEntryProto {
            dtype: tensor.dtype as i32,
            shape: Some(TensorShapeProto::from_dims(&tensor.shape)),
            shard_id: 0,
            offset: self.offset as i64,
            size: bytes.len() as i64,
            crc32c: crc::mask(crc),
            slices: Vec::new(),
        };
        self.offset += bytes.len() as u64;
        Ok(entry)
    }

    pub fn finish(self) -> Result<()> {
        let index_path = index_path(&self.prefix);
        let header = BundleHeaderProto {
            num_shards: 1,
            endianness: 0,
            version: Some(VersionDef {
                producer: 1,
                min_consumer: 0,
                bad_consumers: Vec::new(),
            }),
        };
        let mut table = TableBuilder::new();
        table.add(b"", &header.encode_to_vec());
        for (key, entry) in &self.entries {
            table.add(key, &entry.encode_to_vec());
        }
        self.data
            .commit()
            .map_err(|e| CheckpointError::io(&self.data_path, e))?;
        atomic::write_file(&index_path, &table.finish()).map_err(|e| CheckpointError::io(&index_path, e))
    }
}

/// The inverse of the reader's `decode_strings`; returns the bytes and their unmasked entry CRC.
fn encode_strings(strings: &[bytes::Bytes]) -> (Vec<u8>, u32) {
    let mut out = Vec::new();
    let mut crc = 0u32;
    for s in strings {
        prost::encoding::encode_varint(s.len() as u64, &mut out);
        crc = extend_with_length(crc, s.len() as u64, false);
    }
    let lengths_crc = crc::mask(crc).to_le_bytes();
    out.extend_from_slice(&lengths_crc);
    crc = crc32c::crc32c_append(crc, &lengths_crc);
    for s in strings {
        out.extend_from_slice(s);
        crc = crc32c::crc32c_append(crc, s);
    }
    (out, crc)
}

#[cfg(test)]
mod tests {
    use super::super::reader::decode_strings;
    use super::*;
    use bytes::Bytes;

    #[test]
    fn strings_round_trip() {
        let strings: Vec<Bytes> = vec![Bytes::from_static(b""), Bytes::from(vec![0xffu8; 300]), Bytes::from_static(b"abc")];
        let (bytes, crc) = encode_strings(&strings);
        let (back, crc2) = decode_strings(&Bytes::from(bytes), 3, false).unwrap();
        assert_eq!(back, strings);
        assert_eq!(crc, crc2);
    }
}
