//! What `encode` reads: the binary GraphDef in a file, checked to be one
//! TensorFlow would import.

use std::path::Path;

use bytes::Bytes;

use super::JobError;
use crate::codec::{self, CodecError};
use crate::error::FileError;
use crate::filekind::{FileKind, ForeignFile, Wanted};
use crate::graph::{Graph, GraphError};
use crate::proto::tensorflow::GraphDef;

/// The binary GraphDef in a file: the file itself (mapped, shared without
/// a copy), or the binary form of a text GraphDef. A MetaGraphDef, a
/// SavedModel or bytes that are neither are errors: storing them whole would
/// "succeed" with nothing made smaller.
pub struct GraphBytes {
    pub bytes: Bytes,
    pub from_text: bool,
}

impl GraphBytes {
    /// `container`: whether a container is taken (decoded in memory) rather
    /// than refused as already encoded.
    pub fn read(input: &Path, container: bool) -> Result<GraphBytes, JobError> {
        match FileKind::of(input) {
            FileKind::Container if container => {
                let bytes = std::fs::read(input).map_err(FileError::at(input))?;
                let pb = codec::decode(&bytes).map_err(|problem| CodecError::Container { path: input.to_path_buf(), problem })?;
                return checked(input, GraphBytes { bytes: pb.into(), from_text: false });
            }
            FileKind::Unknown => {}
            kind => return Err(GraphError::from(ForeignFile::new(input, kind, Wanted::GraphDef)).into()),
        }
        let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.contains(".meta") || name.starts_with("saved_model.") {
            return Err(CodecError::NotGraphDef { path: input.to_path_buf() }.into());
        }
        let pb = map(input)?;
        let binary = match codec::find_contents(&pb, 1) {
            Ok(_) => return checked(input, GraphBytes { bytes: Bytes::from_owner(pb), from_text: false }),
            Err(e) => e,
        };
        let text = std::str::from_utf8(&pb).ok().and_then(|t| crate::textformat::parse::<GraphDef>(t).ok());
        match text {
            Some(def) => checked(input, GraphBytes { bytes: prost::Message::encode_to_vec(&def).into(), from_text: true }),
            None => Err(CodecError::Unrecognised { path: input.to_path_buf(), source: binary }.into()),
        }
    }
}

/// The file's bytes, memory-mapped (no copy of a large `.pb`).
fn map(path: &Path) -> Result<memmap2::Mmap, FileError> {
    let file = std::fs::File::open(path).map_err(FileError::at(path))?;
    // SAFETY: the map is read-only; like every reader of a file, we assume no
    // one truncates it while we read (the CRCs catch a change of contents).
    unsafe { memmap2::Mmap::map(&file) }.map_err(FileError::at(path))
}

/// A graph TensorFlow's importer would refuse is not stored: its
/// container or rewrite would only fail later, in TensorFlow.
fn checked(input: &Path, pb: GraphBytes) -> Result<GraphBytes, JobError> {
    let def = <GraphDef as prost::Message>::decode(pb.bytes.clone())
        .map_err(|source| CodecError::NotGraphFile { path: input.to_path_buf(), source })?;
    Graph::validate(&def, input)?;
    Ok(pb)
}
