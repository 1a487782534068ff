//! NumPy's `.npy` (format versions 1-3) and `np.savez`'s `.npz` (a stored,
//! uncompressed zip of `.npy` files), for `--inputs`. What numpy writes for
//! the dtypes TensorFlow can be fed here, C order, little-endian.

use std::path::Path;

use bytes::Bytes;

use super::{Result, RunnerError};
use crate::error::FileError;
use crate::proto::tensorflow::DataType;
use crate::tensor::{Tensor, TensorData};

/// What is wrong with a `.npy` or `.npz` file.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("not a .npy file (no \\x93NUMPY magic)")]
    NoMagic,
    #[error("truncated or unknown .npy header")]
    BadHeader,
    #[error("the .npy header is not text")]
    HeaderNotText,
    #[error("the .npy header has no descr string")]
    NoDescr,
    #[error("Fortran-order arrays are not supported; save np.ascontiguousarray(a)")]
    FortranOrder,
    #[error("dtype `{0}` is not supported (float32/64, int32/64, uint8, int8, little-endian)")]
    UnsupportedDtype(String),
    #[error("the .npy header's shape is not a tuple of sizes")]
    BadShape,
    #[error("the shape's size overflows")]
    SizeOverflows,
    #[error("{len} data bytes for shape {shape:?} of {descr}, which needs {expected}")]
    DataSize { len: usize, shape: Vec<u64>, descr: String, expected: u64 },
    #[error("not a zip file (.npz)")]
    NotZip,
    #[error("truncated zip directory")]
    TruncatedDirectory,
    #[error("{0} is compressed (np.savez_compressed); save with np.savez")]
    Compressed(String),
    #[error("{0}: truncated")]
    MemberTruncated(String),
    #[error("{name}: {source}")]
    Member {
        name: String,
        #[source]
        source: Box<NpyError>,
    },
}

fn bad(path: &Path) -> impl FnOnce(NpyError) -> RunnerError + '_ {
    move |source| RunnerError::Npy { path: path.to_path_buf(), source }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    Ok(std::fs::read(path).map_err(FileError::at(path))?)
}

pub fn read_npy(path: &Path) -> Result<Tensor> {
    parse_npy(&read(path)?).map_err(bad(path))
}

fn parse_npy(bytes: &[u8]) -> Result<Tensor, NpyError> {
    let rest = bytes.strip_prefix(b"\x93NUMPY").ok_or(NpyError::NoMagic)?;
    let (header, data) = match rest {
        [1, _, a, b, rest @ ..] => split(rest, u16::from_le_bytes([*a, *b]) as usize),
        [2 | 3, _, a, b, c, d, rest @ ..] => split(rest, u32::from_le_bytes([*a, *b, *c, *d]) as usize),
        _ => None,
    }
    .ok_or(NpyError::BadHeader)?;
    let header = std::str::from_utf8(header).map_err(|_| NpyError::HeaderNotText)?;
    let descr = field(header, "descr")
        .and_then(|v| v.strip_prefix('\''))
        .and_then(|v| v.split('\'').next())
        .ok_or(NpyError::NoDescr)?;
    if field(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(NpyError::FortranOrder);
    }
    let dtype = match descr {
        "<f4" => DataType::DtFloat,
        "<f8" => DataType::DtDouble,
        "<i4" => DataType::DtInt32,
        "<i8" => DataType::DtInt64,
        "|u1" => DataType::DtUint8,
        "|i1" => DataType::DtInt8,
        other => return Err(NpyError::UnsupportedDtype(other.to_string())),
    };
    let shape = shape(header).ok_or(NpyError::BadShape)?;
    let expected = shape
        .iter()
        .try_fold(dtype.byte_size().unwrap_or(1) as u64, |acc, &d| acc.checked_mul(d))
        .ok_or(NpyError::SizeOverflows)?;
    if data.len() as u64 != expected {
        return Err(NpyError::DataSize { len: data.len(), shape, descr: descr.to_string(), expected });
    }
    Ok(Tensor { dtype, shape, data: TensorData::Pod(Bytes::copy_from_slice(data)) })
}

fn split(rest: &[u8], len: usize) -> Option<(&[u8], &[u8])> {
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The value text after `'key':` in the header's Python dict literal.
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    Some(header[at..].trim_start().strip_prefix(':')?.trim_start())
}

fn shape(header: &str) -> Option<Vec<u64>> {
    let tuple = field(header, "shape")?.strip_prefix('(')?;
    let inner = &tuple[..tuple.find(')')?];
    inner.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| d.parse().ok()).collect()
}

/// Every array of an `.npz`, named by its key (the member name without `.npy`).
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let bytes = read(path)?;
    let members = zip_members(&bytes).map_err(bad(path))?;
    members
        .into_iter()
        .map(|(name, data)| {
            let t = parse_npy(data)
                .map_err(|e| NpyError::Member { name: name.clone(), source: Box::new(e) })
                .map_err(bad(path))?;
            Ok((name.strip_suffix(".npy").unwrap_or(&name).to_string(), t))
        })
        .collect()
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The members of a zip file, from its central directory; numpy writes
/// ZIP64 extra fields (`force_zip64`), whose sizes replace 0xFFFFFFFF ones.
fn zip_members(b: &[u8]) -> Result<Vec<(String, &[u8])>, NpyError> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let eocd = (0..b.len().saturating_sub(21)).rev().find(|&i| b[i..].starts_with(EOCD)).ok_or(NpyError::NotZip)?;
    let truncated = || NpyError::TruncatedDirectory;
    let count = u16_at(b, eocd + 10).ok_or_else(truncated)?;
    let mut at = u32_at(b, eocd + 16).ok_or_else(truncated)? as usize;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if !b.get(at..).is_some_and(|r| r.starts_with(b"PK\x01\x02")) {
            return Err(truncated());
        }
        let method = u16_at(b, at + 10).ok_or_else(truncated)?;
        let mut size = u32_at(b, at + 20).ok_or_else(truncated)?;
        let (name_len, extra_len, comment_len) = (
            u16_at(b, at + 28).ok_or_else(truncated)?,
            u16_at(b, at + 30).ok_or_else(truncated)?,
            u16_at(b, at + 32).ok_or_else(truncated)?,
        );
        let mut local = u32_at(b, at + 42).ok_or_else(truncated)?;
        let name = b.get(at + 46..at + 46 + name_len).ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = b.get(at + 46 + name_len..at + 46 + name_len + extra_len).ok_or_else(truncated)?;
        zip64(extra, u32_at(b, at + 24).ok_or_else(truncated)?, &mut size, &mut local);
        if method != 0 {
            return Err(NpyError::Compressed(name));
        }
        let local = local as usize;
        let data_at = local
            + 30
            + u16_at(b, local + 26).ok_or_else(truncated)?
            + u16_at(b, local + 28).ok_or_else(truncated)?;
        let data = b.get(data_at..data_at.saturating_add(size as usize)).ok_or_else(|| NpyError::MemberTruncated(name.clone()))?;
        out.push((name, data));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// Applies a ZIP64 extended-information field: its values appear, in this
/// order, only for the fields that are 0xFFFFFFFF in the directory entry.
fn zip64(mut extra: &[u8], uncompressed: u64, size: &mut u64, local: &mut u64) {
    while let (Some(id), Some(len)) = (u16_at(extra, 0), u16_at(extra, 2)) {
        let Some(body) = extra.get(4..4 + len) else { return };
        if id == 1 {
            let mut at = 0;
            for field in [None, Some(&mut *size), Some(&mut *local)] {
                let is_max = match &field {
                    None => uncompressed == u32::MAX as u64,
                    Some(v) => **v == u32::MAX as u64,
                };
                if is_max {
                    let Some(v) = u64_at(body, at) else { return };
                    if let Some(f) = field {
                        *f = v;
                    }
                    at += 8;
                }
            }
            return;
        }
        extra = &extra[4 + len..];
    }
}
