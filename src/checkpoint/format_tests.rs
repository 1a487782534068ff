//! Bundles built entry by entry: the variants TensorFlow's own writer does not
//! produce here (big-endian data, Snappy blocks), and index entries that lie,
//! from the list of what a reader must reject (the format reference, drawn
//! from TensorFlow's CVEs and fuzzers): each an error naming the tensor, never
//! a panic or a huge allocation.

use std::path::Path;

use prost::Message;

use super::table_builder::TableBuilder;
use super::{data_path, index_path, slice_key, Checkpoint};
use crate::proto::tensorflow::tensor_slice_proto::{extent::HasLengthHack, Extent};
use crate::proto::tensorflow::{
    tensor_shape_proto::Dim, BundleEntryProto, BundleHeaderProto, DataType, TensorShapeProto, TensorSliceProto,
};

fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
    Some(TensorShapeProto {
        dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(),
        unknown_rank: false,
    })
}

fn float_entry(dims: &[i64], offset: i64, size: i64) -> BundleEntryProto {
    BundleEntryProto {
        dtype: DataType::DtFloat as i32,
        shape: shape(dims),
        offset,
        size,
        ..Default::default()
    }
}

/// Writes a one-shard bundle of 64 data bytes whose index holds `entries`.
fn write_bundle(dir: &Path, num_shards: i32, entries: &[(Vec<u8>, BundleEntryProto)]) -> std::path::PathBuf {
    let prefix = dir.join("bad");
    for shard in 0..num_shards.max(1) as usize {
        std::fs::write(data_path(&prefix, shard, num_shards.max(1) as usize), [0u8; 64]).unwrap();
    }
    let header = BundleHeaderProto { num_shards, ..Default::default() };
    let mut table = TableBuilder::new();
    table.add(b"", &header.encode_to_vec());
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, entry) in &sorted {
        table.add(key, &entry.encode_to_vec());
    }
    std::fs::write(index_path(&prefix), table.finish()).unwrap();
    prefix
}

fn open_error(num_shards: i32, entries: &[(Vec<u8>, BundleEntryProto)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let prefix = write_bundle(dir.path(), num_shards, entries);
    match Checkpoint::open(&prefix) {
        Ok(ckpt) => {
            let names: Vec<String> = ckpt.entries().map(|(n, _)| n.to_string()).collect();
            names
                .iter()
                .find_map(|n| ckpt.tensor(n).err())
                .map(|e| e.to_string())
                .unwrap_or_else(|| panic!("accepted a malformed bundle: {entries:?}"))
        }
        Err(e) => e.to_string(),
    }
}

fn one(entry: BundleEntryProto) -> Vec<(Vec<u8>, BundleEntryProto)> {
    vec![(b"w".to_vec(), entry)]
}

#[test]
fn rejects_unknown_dtype() {
    let mut e = float_entry(&[4], 0, 16);
    e.dtype = 250;
    assert!(open_error(1, &one(e.clone())).contains("unknown dtype 250"));
    // 127 is a reference dtype: it names a graph edge, never stored data.
    e.dtype = 127;
    let err = open_error(1, &one(e));
    assert!(err.contains("cannot be stored"), "{err}");
}

#[test]
fn rejects_negative_and_overflowing_shapes() {
    assert!(open_error(1, &one(float_entry(&[-3], 0, 16))).contains("negative dimension"));
    let err = open_error(1, &one(float_entry(&[1 << 40, 1 << 40], 0, 16)));
    assert!(err.contains("overflows"), "{err}");
}

#[test]
fn rejects_ranges_outside_the_shard() {
    assert!(open_error(1, &one(float_entry(&[4], 60, 16))).contains("beyond the end"));
    assert!(open_error(1, &one(float_entry(&[4], i64::MAX, 16))).contains("beyond the end"));
    assert!(open_error(1, &one(float_entry(&[4], -1, 16))).contains("bad offset"));
}

#[test]
fn rejects_size_that_does_not_match_the_shape() {
    assert!(open_error(1, &one(float_entry(&[5], 0, 16))).contains("does not match"));
}

#[test]
fn rejects_shard_ids_and_counts_out_of_range() {
    let mut e = float_entry(&[4], 0, 16);
    e.shard_id = 1;
    assert!(open_error(1, &one(e)).contains("shard id 1 out of range"));
    assert!(open_error(0, &one(float_entry(&[4], 0, 16))).contains("implausible number of shards"));
}

#[test]
fn rejects_absurd_string_counts_without_allocating() {
    let e = BundleEntryProto {
        dtype: DataType::DtString as i32,
        shape: shape(&[1 << 40]),
        size: 64,
        ..Default::default()
    };
    assert!(open_error(1, &one(e)).contains("cannot fit"));
}

#[test]
fn rejects_bad_slices() {
    let slice = |start: i64, len: i64| TensorSliceProto {
        extent: vec![Extent { start, has_length_hack: Some(HasLengthHack::Length(len)) }],
    };
    for (s, msg) in [
        (slice(-1, 2), "negative index"),
        (slice(2, 9), "exceeds dimension"),
        (slice(i64::MAX, i64::MAX), "exceeds dimension"),
        (slice(0, 2), "listed but not stored"),
    ] {
        let full = BundleEntryProto {
            dtype: DataType::DtFloat as i32,
            shape: shape(&[4]),
            slices: vec![s],
            ..Default::default()
        };
        let err = open_error(1, &one(full));
        assert!(err.contains(msg), "{err} should say {msg}");
    }
    // A stored slice that does not cover the tensor.
    let s = slice(0, 2);
    let full = BundleEntryProto {
        dtype: DataType::DtFloat as i32,
        shape: shape(&[4]),
        slices: vec![s.clone()],
        ..Default::default()
    };
    let part = float_entry(&[2], 0, 8);
    let err = open_error(1, &[(b"w".to_vec(), full), (slice_key::encode("w", &s), part)]);
    assert!(err.contains("slices hold 2 elements"), "{err}");
}

#[test]
fn rejects_data_that_fails_its_checksum() {
    let mut e = float_entry(&[4], 0, 16);
    e.crc32c = 12345;
    assert!(open_error(1, &one(e)).contains("data checksum mismatch"));
}

#[test]
fn big_endian_bundles_are_byte_swapped() {
    use super::crc;
    use crate::proto::tensorflow::bundle_header_proto::Endianness;

    let values = [1.5f32, -2.0, 0.0];
    let stored: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    let entry = BundleEntryProto {
        crc32c: crc::mask(crc32c::crc32c(&stored)),
        ..float_entry(&[3], 0, 12)
    };
    let header = BundleHeaderProto { num_shards: 1, endianness: Endianness::Big as i32, ..Default::default() };
    let mut table = TableBuilder::new();
    table.add(b"", &header.encode_to_vec());
    table.add(b"w", &entry.encode_to_vec());
    let ckpt = Checkpoint::from_memory("be", &table.finish(), vec![stored.into()]).unwrap();
    let bits: Vec<u32> = ckpt.tensor("w").unwrap().f32s().unwrap().into_iter().map(f32::to_bits).collect();
    assert_eq!(bits, values.map(f32::to_bits));
}
