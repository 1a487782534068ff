//! Keys of partitioned-variable slices: TensorFlow's OrderedCode encoding of
//! `(0, name, rank, start0, len0, start1, len1, ...)`. The leading 0 makes every
//! slice key sort before ordinary tensor names.

use crate::proto::tensorflow::tensor_slice_proto::extent::HasLengthHack;
use crate::proto::tensorflow::TensorSliceProto;

/// One dimension of a slice; `None` length means the whole dimension.
pub fn extent(slice: &TensorSliceProto, dim: usize) -> (i64, Option<i64>) {
    match slice.extent.get(dim) {
        Some(e) => (e.start, e.has_length_hack.map(|HasLengthHack::Length(l)| l)),
        None => (0, None),
    }
}

pub fn encode(name: &str, slice: &TensorSliceProto) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 8 + 4 * slice.extent.len());
    write_num_increasing(&mut out, 0);
    write_string(&mut out, name.as_bytes());
    write_num_increasing(&mut out, slice.extent.len() as u64);
    for d in 0..slice.extent.len() {
        let (start, length) = extent(slice, d);
        write_signed_num_increasing(&mut out, start);
        write_signed_num_increasing(&mut out, length.unwrap_or(-1));
    }
    out
}

fn write_num_increasing(out: &mut Vec<u8>, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push((8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            0x00 => out.extend_from_slice(&[0x00, 0xff]),
            0xff => out.extend_from_slice(&[0xff, 0x00]),
            b => out.push(b),
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Self-delimiting, order-preserving signed varint: the first byte's leading
/// bits (after the sign bit) say how many bytes follow.
fn write_signed_num_increasing(out: &mut Vec<u8>, v: i64) {
    // Header bits for an encoding of `len` bytes, over its first two bytes.
    const HEADER: [[u8; 2]; 11] = [
        [0, 0],
        [0x80, 0],
        [0xc0, 0],
        [0xe0, 0],
        [0xf0, 0],
        [0xf8, 0],
        [0xfc, 0],
        [0xfe, 0],
        [0xff, 0],
        [0xff, 0x80],
        [0xff, 0xc0],
    ];
    let magnitude = if v < 0 { !v } else { v } as u64;
    let bits = 64 - magnitude.leading_zeros() as usize;
    let len = bits / 7 + 1;
    if len == 1 {
        out.push(HEADER[1][0] ^ (v as u8));
        return;
    }
    let sign = if v < 0 { 0xff } else { 0x00 };
    let mut buf = [sign; 10];
    buf[2..].copy_from_slice(&v.to_be_bytes());
    let begin = &mut buf[10 - len..];
    begin[0] ^= HEADER[len][0];
    begin[1] ^= HEADER[len][1];
    out.extend_from_slice(begin);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_signed_num_increasing(&mut out, v);
        out
    }

    #[test]
    fn signed_encoding_matches_ordered_code() {
        assert_eq!(signed(0), [0x80]);
        assert_eq!(signed(-1), [0x7f]);
        assert_eq!(signed(63), [0xbf]);
        assert_eq!(signed(64), [0xc0, 0x40]);
        assert_eq!(signed(-64), [0x40]);
        assert_eq!(signed(-65), [0x3f, 0xbf]);
    }

    #[test]
    fn signed_encoding_preserves_order() {
        let values = [
            i64::MIN,
            -1 << 40,
            -70000,
            -65,
            -64,
            -1,
            0,
            1,
            63,
            64,
            8191,
            8192,
            1 << 40,
            i64::MAX,
        ];
        for w in values.windows(2) {
            assert!(signed(w[0]) < signed(w[1]), "{} vs {}", w[0], w[1]);
        }
        assert_eq!(signed(i64::MAX).len(), 10);
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        write_string(&mut out, &[b'a', 0, 0xff]);
        assert_eq!(out, [b'a', 0, 0xff, 0xff, 0, 0, 1]);
    }
}
