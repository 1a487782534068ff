//! `tf-strip decode IN OUT.pb`: the `.pb` a container was made from, byte
//! for byte.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::JobError;
use crate::codec::{self, CodecError, DecodeOptions};
use crate::error::FileError;
use crate::filekind::{FileKind, ForeignFile, Wanted};
use crate::graph::GraphError;
use crate::overwrite::check_not_an_input;

/// Where `decode_file`'s time went.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeSummary {
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub read_seconds: f64,
    /// Decoding into the output file's memory map.
    pub decode_seconds: f64,
    /// Renaming the output file into place.
    pub write_seconds: f64,
    /// The whole job.
    #[serde(skip)]
    pub seconds: f64,
}

/// Decodes the container `input` into `output`. Nothing is written on
/// failure, and no input is ever overwritten.
pub fn decode_file(input: &Path, output: &Path) -> Result<DecodeSummary, JobError> {
    let start = Instant::now();
    check_not_an_input(output, &[input])?;
    let t0 = Instant::now();
    match FileKind::of(input) {
        FileKind::Container => {}
        kind => return Err(GraphError::from(ForeignFile::new(input, kind, Wanted::Container)).into()),
    }
    let bytes = std::fs::read(input).map_err(FileError::at(input))?;
    let t1 = Instant::now();
    let container = |problem| CodecError::Container { path: input.to_path_buf(), problem };
    let opts = DecodeOptions::default();
    let len = codec::decoded_len(&bytes, &opts).map_err(container)?;
    // Decoded straight into the memory map of the output's temporary file
    // (its pages read as zeros): no copy through a buffer. The pages are the
    // page cache's, so the rename needs no msync (atomic.rs: no fsync).
    let io = |source| FileError { path: output.to_path_buf(), source };
    let mut out = crate::atomic::AtomicFile::create(output).map_err(io)?;
    let file = out.file().map_err(io)?;
    file.set_len(len as u64).map_err(io)?;
    if len > 0 {
        // SAFETY: the file is our own fresh temporary file, mapped once.
        let mut m = unsafe { memmap2::MmapOptions::new().populate().map_mut(file) }.map_err(io)?;
        codec::decode_into(&bytes, &opts, &mut m).map_err(container)?;
    }
    let t2 = Instant::now();
    out.commit().map_err(io)?;
    Ok(DecodeSummary {
        input_bytes: bytes.len() as u64,
        output_bytes: len as u64,
        read_seconds: (t1 - t0).as_secs_f64(),
        decode_seconds: (t2 - t1).as_secs_f64(),
        write_seconds: t2.elapsed().as_secs_f64(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
