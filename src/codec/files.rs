//! The commands' file jobs: `encode`, `encode --tf-loadable` and `decode`
//! from one file to another, every output written through `atomic`.

use std::path::Path;

use bytes::Bytes;
use serde::Serialize;

use super::decode::{Contents, DecodeOptions};
use super::encode::{encode, EncodeOptions, EncodeReport};
use super::{loadable, wire, CodecError};
use crate::proto::tensorflow::GraphDef;
use crate::error::FileError;
use crate::overwrite::check_not_an_input;
use crate::filekind::{FileKind, ForeignFile, Wanted};
use crate::graph::Graph;

/// The file's bytes, memory-mapped (no copy of a large `.pb`).
fn map(path: &Path) -> Result<memmap2::Mmap, CodecError> {
    let io = |source| CodecError::Io(FileError { path: path.to_path_buf(), source });
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the map is read-only; like every reader of a file, we assume no
    // one truncates it while we read (the CRCs catch a change of contents).
    unsafe { memmap2::Mmap::map(&file) }.map_err(io)
}

fn read(path: &Path) -> Result<Vec<u8>, CodecError> {
    std::fs::read(path).map_err(|source| CodecError::Io(FileError { path: path.to_path_buf(), source }))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CodecError> {
    crate::atomic::write_file(path, bytes).map_err(|source| CodecError::Io(FileError { path: path.to_path_buf(), source }))
}

/// The binary GraphDef in `input`: the file itself (mapped, shared without
/// a copy), or the binary form of a text GraphDef. A MetaGraphDef, a
/// SavedModel or bytes that are neither are errors: storing them whole would
/// "succeed" with nothing made smaller.
struct GraphBytes {
    bytes: Bytes,
    from_text: bool,
}

/// `container`: whether a container is taken (decoded in memory) rather
/// than refused as already encoded.
fn graph_input(input: &Path, container: bool) -> Result<GraphBytes, CodecError> {
    let unsupported = |msg: String| CodecError::Unsupported { path: input.to_path_buf(), msg };
    match FileKind::of(input) {
        FileKind::Container if container => {
            let pb = super::decode(&read(input)?).map_err(|problem| CodecError::Container { path: input.to_path_buf(), problem })?;
            return checked(input, GraphBytes { bytes: pb.into(), from_text: false });
        }
        FileKind::Unknown => {}
        kind => return Err(ForeignFile::new(input, kind, Wanted::GraphDef).into()),
    }
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.contains(".meta") || name.starts_with("saved_model.") {
        return Err(unsupported(
            "a MetaGraphDef or SavedModel, not a GraphDef; strip it into one first \
             (`tf-strip --checkpoint_dir=DIR --output_node_names=... --encode` does both)"
                .into(),
        ));
    }
    let pb = map(input)?;
    let binary = match wire::find_contents(&pb, 1) {
        Ok(_) => return checked(input, GraphBytes { bytes: Bytes::from_owner(pb), from_text: false }),
        Err(e) => e,
    };
    let text = std::str::from_utf8(&pb).ok().and_then(|t| crate::textformat::parse::<GraphDef>(t).ok());
    match text {
        Some(def) => checked(input, GraphBytes { bytes: prost::Message::encode_to_vec(&def).into(), from_text: true }),
        None => Err(CodecError::NotGraphFile {
            path: input.to_path_buf(),
            msg: format!("{binary}, and not a text GraphDef either"),
        }),
    }
}

/// A graph TensorFlow's importer would refuse is not stored: its
/// container or rewrite would only fail later, in TensorFlow.
fn checked(input: &Path, pb: GraphBytes) -> Result<GraphBytes, CodecError> {
    let def = <GraphDef as prost::Message>::decode(pb.bytes.clone())
        .map_err(|e| CodecError::NotGraphFile { path: input.to_path_buf(), msg: e.to_string() })?;
    Graph::validate(&def, input)?;
    Ok(pb)
}

/// `tf-strip encode IN.pb OUT`.
pub fn encode_file(input: &Path, output: &Path, opts: &EncodeOptions) -> Result<EncodeReport, CodecError> {
    check_not_an_input(output, &[input])?;
    let t0 = std::time::Instant::now();
    let pb = graph_input(input, false)?;
    let read_seconds = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let (bytes, mut report) = encode(&pb.bytes, opts);
    let t2 = std::time::Instant::now();
    write(output, &bytes)?;
    report.from_text = pb.from_text;
    report.read_seconds = read_seconds;
    report.encode_seconds = (t2 - t1).as_secs_f64();
    report.write_seconds = t2.elapsed().as_secs_f64();
    Ok(report)
}

/// `tf-strip encode --tf-loadable IN.pb OUT.pb`.
pub fn encode_loadable_file(
    input: &Path,
    output: &Path,
    opts: &loadable::LoadableOptions,
) -> Result<loadable::LoadableReport, CodecError> {
    check_not_an_input(output, &[input])?;
    let (bytes, report) = loadable_graph(input, opts)?;
    write(output, &bytes)?;
    Ok(report)
}

/// The TF-loadable rewrite of the GraphDef in `input`, encoded, for a caller
/// that writes it in another form (a SavedModel).
pub fn loadable_graph(input: &Path, opts: &loadable::LoadableOptions) -> Result<(Vec<u8>, loadable::LoadableReport), CodecError> {
    let pb = graph_input(input, true)?;
    let (bytes, mut report) = loadable::encode_bytes(pb.bytes, opts).map_err(|source| CodecError::Loadable {
        path: input.to_path_buf(),
        source,
    })?;
    report.from_text = pb.from_text;
    Ok((bytes, report))
}

/// `tf-strip decode IN OUT.pb`.
pub fn decode_file(input: &Path, output: &Path) -> Result<DecodeReport, CodecError> {
    check_not_an_input(output, &[input])?;
    let t0 = std::time::Instant::now();
    match FileKind::of(input) {
        FileKind::Container => {}
        kind => return Err(ForeignFile::new(input, kind, Wanted::Container).into()),
    }
    let bytes = read(input)?;
    let t1 = std::time::Instant::now();
    let container = |problem| CodecError::Container {
        path: input.to_path_buf(),
        problem,
    };
    let opts = DecodeOptions::default();
    let contents = Contents::read(&bytes, &opts).map_err(container)?;
    let len = contents.toc.total_len;
    // Decoded straight into the memory map of the output's temporary file
    // (its pages read as zeros): no copy through a buffer. The pages are the
    // page cache's, so the rename needs no msync (atomic.rs: no fsync).
    let io = |source| CodecError::Io(FileError { path: output.to_path_buf(), source });
    let mut out = crate::atomic::AtomicFile::create(output).map_err(io)?;
    let file = out.file().map_err(io)?;
    file.set_len(len as u64).map_err(io)?;
    if len > 0 {
        // SAFETY: the file is our own fresh temporary file, mapped once.
        let mut m = unsafe { memmap2::MmapOptions::new().populate().map_mut(file) }.map_err(io)?;
        contents.decode_into(&bytes, &opts, &mut m).map_err(container)?;
    }
    let t2 = std::time::Instant::now();
    out.commit().map_err(io)?;
    Ok(DecodeReport {
        input_bytes: bytes.len() as u64,
        output_bytes: len as u64,
        read_seconds: (t1 - t0).as_secs_f64(),
        decode_seconds: (t2 - t1).as_secs_f64(),
        write_seconds: t2.elapsed().as_secs_f64(),
    })
}

/// Where `decode_file`'s time went.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeReport {
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub read_seconds: f64,
    /// Decoding into the output file's memory map.
    pub decode_seconds: f64,
    /// Renaming the output file into place.
    pub write_seconds: f64,
}
