//! Coding one chunk of a tensor's elements, losslessly, bit for bit.
//!
//! * Dense: elements byte-plane shuffled (plane `b` holds byte `b` of every
//!   element); for floating types each element (each part of a complex) is
//!   first rotated left by one bit, so the sign moves to the lowest byte and
//!   the top byte holds exponent bits only. Each plane is a stream.
//! * Sparse: the zero pattern as the run lengths of the majority class before
//!   each element of the minority class (bytes, 255 = "255 more, continue"),
//!   which an order-0 entropy coder brings within a few percent of the mask's
//!   entropy for unstructured masks; then the nonzero elements, as dense.
//!
//! A stream is stored raw or zstd-compressed (zstd's Huffman literals do the
//! entropy coding); near-random planes (mantissas) are detected by their
//! byte entropy and stored raw without trying.

use super::le::{Reader, Writer};
use super::{Flaw, Part, Problem};

pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
/// The element bytes as one stream (wins on small, low-entropy tensors).
pub const PLAIN: u8 = 2;

/// Chunks up to this size also try `PLAIN`.
const TRY_PLAIN: usize = 1 << 18;

const RAW: u8 = 0;
const ZSTD: u8 = 1;

/// How elements are laid out: `size` bytes each; floating parts of `unit`
/// bytes are bit-rotated (0: integers, no rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub size: usize,
    pub unit: usize,
}

impl Layout {
    pub const BYTES: Layout = Layout { size: 1, unit: 0 };

    pub fn valid(self) -> bool {
        matches!(
            (self.size, self.unit),
            (1, 0) | (2, 0) | (2, 2) | (4, 0) | (4, 4) | (8, 0) | (8, 4) | (8, 8) | (16, 0) | (16, 8)
        )
    }
}

/// Order-0 entropy of `bytes` in bits per byte.
pub fn byte_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut hist = [0u64; 256];
    for &b in bytes {
        hist[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    hist.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Appends a stream: mode byte, stored length, data.
pub fn put_stream(w: &mut Writer, raw: &[u8], level: i32) {
    // Sample to skip compressing what cannot compress (mantissa planes).
    let sample = &raw[..raw.len().min(1 << 16)];
    if raw.len() >= 64 && byte_entropy(sample) < 7.9 {
        if let Ok(z) = zstd::bulk::compress(raw, level) {
            if z.len() < raw.len() {
                w.u8(ZSTD);
                w.u64(z.len() as u64);
                w.bytes(&z);
                return;
            }
        }
    }
    w.u8(RAW);
    w.u64(raw.len() as u64);
    w.bytes(raw);
}

/// Reads a stream that decodes to exactly `raw_len` bytes.
pub fn get_stream<'a>(r: &mut Reader<'a>, raw_len: usize, what: &Part) -> Result<std::borrow::Cow<'a, [u8]>, Problem> {
    let mode = r.u8(what)?;
    let stored = r.len(what)?;
    let data = r.take(stored, what)?;
    match mode {
        RAW if stored == raw_len => Ok(data.into()),
        RAW => Err(Problem::Malformed(Flaw::RawLength { part: what.clone(), stored, expected: raw_len })),
        ZSTD => {
            let mut out = Vec::with_capacity(raw_len);
            let zstd = |source| Problem::Malformed(Flaw::Zstd { part: what.clone(), source });
            let mut d = zstd::bulk::Decompressor::new().map_err(zstd)?;
            d.decompress_to_buffer(data, &mut out).map_err(zstd)?;
            if out.len() != raw_len {
                return Err(Problem::Malformed(Flaw::DecodedLength { part: what.clone(), decoded: out.len(), expected: raw_len }));
            }
            Ok(out.into())
        }
        m => Err(Problem::Malformed(Flaw::StreamMode { part: what.clone(), mode: m })),
    }
}

#[inline(always)]
fn rotate<const K: usize, const U: usize>(mut e: [u8; K], left: bool) -> [u8; K] {
    match U {
        2 => {
            for c in e.chunks_exact_mut(2) {
                let x = u16::from_le_bytes([c[0], c[1]]);
                let y = if left { x.rotate_left(1) } else { x.rotate_right(1) };
                c.copy_from_slice(&y.to_le_bytes());
            }
        }
        4 => {
            for c in e.chunks_exact_mut(4) {
                let x = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let y = if left { x.rotate_left(1) } else { x.rotate_right(1) };
                c.copy_from_slice(&y.to_le_bytes());
            }
        }
        8 => {
            for c in e.chunks_exact_mut(8) {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                let x = u64::from_le_bytes(a);
                let y = if left { x.rotate_left(1) } else { x.rotate_right(1) };
                c.copy_from_slice(&y.to_le_bytes());
            }
        }
        _ => {}
    }
    e
}

#[inline(always)]
fn elem<const K: usize>(data: &[u8], i: usize) -> [u8; K] {
    let mut e = [0u8; K];
    e.copy_from_slice(&data[i * K..i * K + K]);
    e
}

/// OR of the element's bytes without the sign bits of its floating parts:
/// zero for +0.0 and -0.0 alike (the sign of a zero is kept apart).
#[inline(always)]
fn magnitude<const K: usize, const U: usize>(e: &[u8]) -> u8 {
    let mut a = 0u8;
    for (b, &x) in e.iter().enumerate().take(K) {
        a |= if U > 0 && b % U == U - 1 { x & 0x7f } else { x };
    }
    a
}

/// Sign bits of the element's floating parts, part `p` at bit `p`.
#[inline(always)]
fn signs<const K: usize, const U: usize>(e: &[u8]) -> u8 {
    let mut s = 0u8;
    for p in 0..parts::<K, U>() {
        s |= (e[p * U + U - 1] >> 7) << p;
    }
    s
}

/// Parts with a sign bit per element.
const fn parts<const K: usize, const U: usize>() -> usize {
    match K.checked_div(U) {
        Some(p) => p,
        None => 0,
    }
}

/// (zero elements, zero elements with a sign bit set).
fn count_zeros<const K: usize, const U: usize>(data: &[u8]) -> (usize, usize) {
    let (mut zeros, mut signed) = (0usize, 0usize);
    for c in data.chunks_exact(K) {
        let z = (magnitude::<K, U>(c) == 0) as usize;
        zeros += z;
        signed += z & (signs::<K, U>(c) != 0) as usize;
    }
    (zeros, signed)
}

/// Calls `f(t)` for every set bit `from + t` with `t < len` of `bits`.
#[inline(always)]
fn for_set_bits(bits: &[u8], from: usize, len: usize, mut f: impl FnMut(usize)) {
    let end = from + len;
    let mut i = from;
    while i < end {
        // Up to 56 bits at a time from an unaligned little-endian word.
        let at = i >> 3;
        let word = match bits.get(at..at + 8) {
            Some(w) => u64::from_le_bytes(w.try_into().unwrap_or_default()),
            None => {
                let mut w = [0u8; 8];
                let tail = bits.get(at..).unwrap_or_default();
                w[..tail.len().min(8)].copy_from_slice(&tail[..tail.len().min(8)]);
                u64::from_le_bytes(w)
            }
        };
        let take = (64 - (i & 7)).min(end - i).min(56);
        let mut v = (word >> (i & 7)) & ((1u64 << take) - 1);
        while v != 0 {
            let t = v.trailing_zeros() as usize;
            f(i + t - from);
            v &= v - 1;
        }
        i += take;
    }
}

/// Sets the sign bits of the zero elements at `out[at..at + count]` from
/// zero-sign bits `zi..` of `bits`.
#[inline(always)]
fn put_zero_signs<const K: usize, const U: usize>(out: &mut [u8], at: usize, count: usize, bits: &[u8], zi: usize) {
    let p = parts::<K, U>();
    if p == 0 || bits.is_empty() {
        return;
    }
    for_set_bits(bits, zi * p, count * p, |t| {
        let (e, part) = (at + t / p, t % p);
        out[e * K + part * U + U - 1] |= 0x80;
    });
}

/// Splits (and rotates) the elements at `idx` (all when `None`) into planes.
fn planes<const K: usize, const U: usize>(data: &[u8], idx: Option<&[u32]>) -> Vec<Vec<u8>> {
    let n = idx.map_or(data.len() / K, <[u32]>::len);
    let mut planes = vec![vec![0u8; n]; K];
    let mut put = |j: usize, i: usize| {
        let e = rotate::<K, U>(elem::<K>(data, i), true);
        for b in 0..K {
            planes[b][j] = e[b];
        }
    };
    match idx {
        Some(idx) => idx.iter().enumerate().for_each(|(j, &i)| put(j, i as usize)),
        None => (0..n).for_each(|i| put(i, i)),
    }
    planes
}

fn put_planes(w: &mut Writer, planes: &[Vec<u8>], level: i32) {
    for p in planes {
        put_stream(w, p, level);
    }
}

fn get_planes<'a, const K: usize>(r: &mut Reader<'a>, n: usize) -> Result<Vec<std::borrow::Cow<'a, [u8]>>, Problem> {
    (0..K).map(|b| get_stream(r, n, &Part::BytePlane(b))).collect()
}

#[inline(always)]
fn gather<const K: usize, const U: usize>(planes: &[&[u8]; K], j: usize) -> [u8; K] {
    let mut e = [0u8; K];
    for b in 0..K {
        e[b] = planes[b][j];
    }
    rotate::<K, U>(e, false)
}

fn encode_dense<const K: usize, const U: usize>(data: &[u8], level: i32) -> Vec<u8> {
    let mut w = Writer::default();
    put_planes(&mut w, &planes::<K, U>(data, None), level);
    w.into_inner()
}

fn encode_sparse<const K: usize, const U: usize>(data: &[u8], zeros: usize, level: i32) -> Vec<u8> {
    let n = data.len() / K;
    let zero_major = zeros * 2 >= n;
    let minority = if zero_major { n - zeros } else { zeros };
    // Branch-free compaction of the positions of the minority class and of the nonzeros.
    let mut minor = vec![0u32; minority + 1];
    let mut nz = vec![0u32; n - zeros + 1];
    let p = parts::<K, U>();
    // One spare byte: the branch-free writes below touch the byte after the last bit.
    let mut zero_signs = vec![0u8; (zeros * p).div_ceil(8) + 1];
    let mut any_sign = 0u8;
    let (mut m, mut j, mut z) = (0usize, 0usize, 0usize);
    for i in 0..n {
        let e = &data[i * K..i * K + K];
        let is_zero = magnitude::<K, U>(e) == 0;
        minor[m] = i as u32;
        m += (is_zero != zero_major) as usize;
        nz[j] = i as u32;
        j += (!is_zero) as usize;
        if p > 0 {
            // Branch-free: a 50% sparse mask would mispredict every other element.
            let s = signs::<K, U>(e) & (0u8.wrapping_sub(is_zero as u8));
            any_sign |= s;
            for b in 0..p {
                let bit = z * p + b;
                zero_signs[bit >> 3] |= ((s >> b) & 1) << (bit & 7);
            }
            z += is_zero as usize;
        }
    }
    zero_signs.truncate((zeros * p).div_ceil(8));
    if any_sign == 0 {
        zero_signs.clear();
    }
    minor.truncate(minority);
    nz.truncate(n - zeros);
    let mut runs = Vec::with_capacity(minority + minority / 8 + 16);
    let mut prev = 0usize;
    for &p in &minor {
        let mut r = p as usize - prev;
        while r >= 255 {
            runs.push(255);
            r -= 255;
        }
        runs.push(r as u8);
        prev = p as usize + 1;
    }
    let mut w = Writer::default();
    w.u8(zero_major as u8);
    w.u64(minority as u64);
    w.u64(runs.len() as u64);
    put_stream(&mut w, &runs, level);
    if p > 0 {
        // Signs of the zeros (-0.0 is common: mask * w for w < 0), or nothing.
        w.u8((!zero_signs.is_empty()) as u8);
        if !zero_signs.is_empty() {
            put_stream(&mut w, &zero_signs, level);
        }
    }
    put_planes(&mut w, &planes::<K, U>(data, Some(&nz)), level);
    w.into_inner()
}

fn decode_dense<const K: usize, const U: usize>(r: &mut Reader<'_>, out: &mut [u8]) -> Result<(), Problem> {
    let n = out.len() / K;
    let owned = get_planes::<K>(r, n)?;
    let planes: [&[u8]; K] = std::array::from_fn(|b| &owned[b][..]);
    for (i, e) in out.chunks_exact_mut(K).enumerate() {
        e.copy_from_slice(&gather::<K, U>(&planes, i));
    }
    Ok(())
}

/// `out` must be all zeros on entry.
fn decode_sparse<const K: usize, const U: usize>(r: &mut Reader<'_>, out: &mut [u8]) -> Result<(), Problem> {
    let n = out.len() / K;
    let zero_major = match r.u8(&Part::SparseChunk)? {
        0 => false,
        1 => true,
        x => return Err(Problem::Malformed(Flaw::MajorityFlag(x))),
    };
    let minority = r.len(&Part::SparseChunk)?;
    let runs_len = r.len(&Part::SparseChunk)?;
    if minority > n || runs_len > n.saturating_add(n / 255 + 1) {
        return Err(Problem::Malformed(Flaw::Counts));
    }
    let runs = get_stream(r, runs_len, &Part::ZeroPattern)?;
    let nnz = if zero_major { minority } else { n - minority };
    let zeros = n - nnz;
    let p = parts::<K, U>();
    let zero_signs = match p {
        0 => Default::default(),
        _ => match r.u8(&Part::ZeroSigns)? {
            0 => Default::default(),
            1 => get_stream(r, (zeros * p).div_ceil(8), &Part::ZeroSigns)?,
            x => return Err(Problem::Malformed(Flaw::ZeroSignFlag(x))),
        },
    };
    let mut zi = 0usize;
    let owned = get_planes::<K>(r, nnz)?;
    // Plain slices: no `Cow` variant check on every byte read.
    let planes: [&[u8]; K] = std::array::from_fn(|b| &owned[b][..]);
    let bad = || Problem::Malformed(Flaw::ZeroPattern);
    let (mut pos, mut acc, mut m, mut j) = (0usize, 0usize, 0usize, 0usize);
    for &b in runs.iter() {
        acc += b as usize;
        if b == 255 {
            continue;
        }
        // `acc` majority elements, then one minority element.
        let end = pos.checked_add(acc).filter(|&e| e < n).ok_or_else(bad)?;
        if zero_major {
            if j >= nnz {
                return Err(bad());
            }
            out[end * K..end * K + K].copy_from_slice(&gather::<K, U>(&planes, j));
            j += 1;
            put_zero_signs::<K, U>(out, pos, acc, &zero_signs, zi);
            zi += acc;
        } else {
            if j + acc > nnz {
                return Err(bad());
            }
            for (t, e) in out[pos * K..end * K].chunks_exact_mut(K).enumerate() {
                e.copy_from_slice(&gather::<K, U>(&planes, j + t));
            }
            j += acc;
            put_zero_signs::<K, U>(out, end, 1, &zero_signs, zi);
            zi += 1;
        }
        m += 1;
        pos = end + 1;
        acc = 0;
    }
    if acc != 0 || m != minority {
        return Err(bad());
    }
    if zero_major {
        // The zeros after the last nonzero.
        put_zero_signs::<K, U>(out, pos, n - pos, &zero_signs, zi);
    }
    if !zero_major {
        // The nonzeros after the last zero.
        if nnz - j != n - pos {
            return Err(bad());
        }
        for (t, e) in out[pos * K..].chunks_exact_mut(K).enumerate() {
            e.copy_from_slice(&gather::<K, U>(&planes, j + t));
        }
        j = nnz;
    }
    if j != nnz {
        return Err(bad());
    }
    Ok(())
}

macro_rules! dispatch {
    ($layout:expr, $f:ident ( $($arg:expr),* )) => {
        match ($layout.size, $layout.unit) {
            (2, 0) => $f::<2, 0>($($arg),*),
            (2, 2) => $f::<2, 2>($($arg),*),
            (4, 0) => $f::<4, 0>($($arg),*),
            (4, 4) => $f::<4, 4>($($arg),*),
            (8, 0) => $f::<8, 0>($($arg),*),
            (8, 4) => $f::<8, 4>($($arg),*),
            (8, 8) => $f::<8, 8>($($arg),*),
            (16, 0) => $f::<16, 0>($($arg),*),
            (16, 8) => $f::<16, 8>($($arg),*),
            _ => $f::<1, 0>($($arg),*),
        }
    };
}

/// (zeros, negative zeros) of elements laid out as `layout`.
pub fn zeros_of(layout: Layout, data: &[u8]) -> (usize, usize) {
    dispatch!(layout, count_zeros(data))
}

/// Encodes one chunk (`data.len()` a multiple of the element size) with the
/// smaller of the two codings; returns (kind, blob, (zeros, negative zeros)).
pub fn encode(data: &[u8], layout: Layout, level: i32) -> (u8, Vec<u8>, (usize, usize)) {
    let counts = zeros_of(layout, data);
    let zeros = counts.0;
    let n = data.len() / layout.size;
    let frac = if n == 0 { 0.0 } else { zeros as f64 / n as f64 };
    let dense = || dispatch!(layout, encode_dense(data, level));
    let sparse = || dispatch!(layout, encode_sparse(data, zeros, level));
    let best = if frac < 0.01 {
        (DENSE, dense())
    } else if frac > 0.3 {
        (SPARSE, sparse())
    } else {
        let (d, s) = (dense(), sparse());
        if s.len() < d.len() {
            (SPARSE, s)
        } else {
            (DENSE, d)
        }
    };
    if data.len() <= TRY_PLAIN {
        let mut w = Writer::default();
        put_stream(&mut w, data, level);
        let plain = w.into_inner();
        if plain.len() < best.1.len() {
            return (PLAIN, plain, counts);
        }
    }
    (best.0, best.1, counts)
}

fn clear_signs<const K: usize, const U: usize>(data: &mut [u8]) {
    if U == 0 {
        return;
    }
    for e in data.chunks_exact_mut(K) {
        if magnitude::<K, U>(e) == 0 {
            for p in 0..parts::<K, U>() {
                e[p * U + U - 1] = 0;
            }
        }
    }
}

/// Turns every -0.0 (in any floating part) into +0.0.
pub fn clear_zero_signs(data: &mut [u8], layout: Layout) {
    dispatch!(layout, clear_signs(data))
}

/// Sizes of both codings of `data`: (dense, sparse, zero elements).
pub fn encode_both(data: &[u8], layout: Layout, level: i32) -> (usize, usize, usize) {
    let zeros = zeros_of(layout, data).0;
    let dense = dispatch!(layout, encode_dense(data, level)).len();
    let sparse = dispatch!(layout, encode_sparse(data, zeros, level)).len();
    (dense, sparse, zeros)
}

/// Decodes a chunk into `out` (zeroed, the chunk's exact byte length).
pub fn decode(kind: u8, blob: &[u8], layout: Layout, out: &mut [u8]) -> Result<(), Problem> {
    if !layout.valid() || out.len() % layout.size != 0 {
        return Err(Problem::Malformed(Flaw::Layout));
    }
    let mut r = Reader::new(blob);
    match kind {
        DENSE => dispatch!(layout, decode_dense(&mut r, out))?,
        SPARSE => dispatch!(layout, decode_sparse(&mut r, out))?,
        PLAIN => {
            let s = get_stream(&mut r, out.len(), &Part::TensorBytes)?;
            out.copy_from_slice(&s);
        }
        k => return Err(Problem::Malformed(Flaw::ChunkCoding(k))),
    }
    if !r.is_empty() {
        return Err(Problem::Malformed(Flaw::ChunkTrailing));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_coding() {
        let mut data = vec![0u8; 4 * 1000];
        for i in (0..1000).step_by(7) {
            data[i * 4..i * 4 + 4].copy_from_slice(&(i as f32 * -0.37).to_le_bytes());
        }
        let layout = Layout { size: 4, unit: 4 };
        for enc in [
            encode_dense::<4, 4>(&data, 3),
            encode_sparse::<4, 4>(&data, zeros_of(layout, &data).0, 3),
        ] {
            let kind = if enc == encode_dense::<4, 4>(&data, 3) {
                DENSE
            } else {
                SPARSE
            };
            let mut out = vec![0u8; data.len()];
            decode(kind, &enc, layout, &mut out).unwrap();
            assert_eq!(out, data);
        }
        // Mostly nonzero: runs of nonzeros between zeros.
        let dense: Vec<u8> = (0..4000u32)
            .map(|i| if i % 20 < 4 { 0 } else { (i % 251) as u8 + 1 })
            .collect();
        let enc = encode_sparse::<4, 4>(&dense, zeros_of(layout, &dense).0, 3);
        let mut out = vec![0u8; dense.len()];
        decode(SPARSE, &enc, layout, &mut out).unwrap();
        assert_eq!(out, dense);
    }
}
