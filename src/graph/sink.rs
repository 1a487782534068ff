//! Encoding a message straight into a file. prost encodes into a `BufMut`;
//! this one stages small fields and writes large byte fields (tensor
//! contents) directly from their buffers, so a 400 MB graph is never copied
//! into a second 400 MB buffer on its way out.

use std::io::{self, Write};
use std::mem::MaybeUninit;

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut};

const STAGE: usize = 1 << 20;
/// Byte runs at least this long skip the staging buffer.
const DIRECT: usize = 64 << 10;

pub struct StreamSink<'a, W: Write> {
    out: &'a mut W,
    staged: Vec<u8>,
    written: u64,
    error: Option<io::Error>,
}

impl<'a, W: Write> StreamSink<'a, W> {
    pub fn new(out: &'a mut W) -> Self {
        StreamSink {
            out,
            staged: Vec::with_capacity(STAGE),
            written: 0,
            error: None,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            match self.out.write_all(bytes) {
                Ok(()) => self.written += bytes.len() as u64,
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn flush_staged(&mut self) {
        let staged = std::mem::take(&mut self.staged);
        self.write(&staged);
        self.staged = staged;
        self.staged.clear();
    }

    /// Flushes what is staged; returns the bytes written, or the first error.
    pub fn finish(mut self) -> io::Result<u64> {
        self.flush_staged();
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.written),
        }
    }
}

// SAFETY: `chunk_mut` hands out the spare capacity of `staged`, and
// `advance_mut` only extends `staged` over bytes the caller initialised there.
unsafe impl<W: Write> BufMut for StreamSink<'_, W> {
    fn remaining_mut(&self) -> usize {
        usize::MAX - self.staged.len()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        let len = self.staged.len() + cnt;
        debug_assert!(len <= self.staged.capacity());
        self.staged.set_len(len);
        if self.staged.len() >= STAGE {
            self.flush_staged();
        }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.staged.capacity() - self.staged.len() < 64 {
            self.flush_staged();
        }
        let spare: &mut [MaybeUninit<u8>] = self.staged.spare_capacity_mut();
        UninitSlice::uninit(spare)
    }

    fn put<T: Buf>(&mut self, mut src: T)
    where
        Self: Sized,
    {
        if src.remaining() < DIRECT {
            while src.has_remaining() {
                let n = src.chunk().len();
                self.put_slice_staged(&src.chunk()[..n]);
                src.advance(n);
            }
            return;
        }
        self.flush_staged();
        while src.has_remaining() {
            let n = src.chunk().len();
            self.write(&src.chunk()[..n]);
            src.advance(n);
        }
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() < DIRECT {
            self.put_slice_staged(src);
        } else {
            self.flush_staged();
            self.write(src);
        }
    }
}

impl<W: Write> StreamSink<'_, W> {
    fn put_slice_staged(&mut self, src: &[u8]) {
        if self.staged.len() + src.len() > STAGE {
            self.flush_staged();
        }
        self.staged.extend_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorflow::{TensorProto, TensorShapeProto};
    use prost::Message;

    #[test]
    fn streams_the_same_bytes_as_encode_to_vec() {
        for size in [0usize, 10, DIRECT - 1, DIRECT, 3 * STAGE + 5] {
            let t = TensorProto {
                dtype: 1,
                tensor_shape: Some(TensorShapeProto::from_dims(&[size as u64])),
                tensor_content: (0..size).map(|i| i as u8).collect::<Vec<u8>>().into(),
                string_val: vec![bytes::Bytes::from(vec![7u8; size / 3])],
                ..Default::default()
            };
            let mut out = Vec::new();
            let mut sink = StreamSink::new(&mut out);
            t.encode(&mut sink).unwrap();
            let n = sink.finish().unwrap();
            assert_eq!(out, t.encode_to_vec(), "size {size}");
            assert_eq!(n as usize, out.len());
        }
    }
}
