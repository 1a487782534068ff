//! Little-endian writer and a bounds-checked reader for the container.

use super::{Flaw, Part, Problem};

#[derive(Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn with_capacity(n: usize) -> Self {
        Writer(Vec::with_capacity(n))
    }
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    /// A string of at most 64 KiB (longer ones are cut at a char boundary).
    pub fn str(&mut self, s: &str) {
        let mut end = s.len().min(u16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.u16(end as u16);
        self.bytes(&s.as_bytes()[..end]);
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }
    pub fn take(&mut self, n: usize, what: &Part) -> Result<&'a [u8], Problem> {
        if self.buf.len() - self.pos < n {
            return Err(Problem::Truncated(what.clone()));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self, what: &Part) -> Result<[u8; N], Problem> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    pub fn u8(&mut self, what: &Part) -> Result<u8, Problem> {
        Ok(self.arr::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &Part) -> Result<u16, Problem> {
        Ok(u16::from_le_bytes(self.arr(what)?))
    }
    pub fn u32(&mut self, what: &Part) -> Result<u32, Problem> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    pub fn i32(&mut self, what: &Part) -> Result<i32, Problem> {
        Ok(i32::from_le_bytes(self.arr(what)?))
    }
    pub fn u64(&mut self, what: &Part) -> Result<u64, Problem> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    /// A u64 length that must fit this machine's `usize`.
    pub fn len(&mut self, what: &Part) -> Result<usize, Problem> {
        let v = self.u64(what)?;
        usize::try_from(v).map_err(|_| Problem::Malformed(Flaw::Length { part: what.clone(), len: v }))
    }
    pub fn str(&mut self, what: &Part) -> Result<String, Problem> {
        let n = self.u16(what)? as usize;
        Ok(String::from_utf8_lossy(self.take(n, what)?).into_owned())
    }
}
