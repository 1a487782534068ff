//! `tf-strip encode IN OUT`: a GraphDef into the sparse container, or with
//! `--tf_loadable` into a GraphDef (or a SavedModel) that stock TensorFlow
//! loads.

use std::path::{Path, PathBuf};
use std::time::Instant;

use prost::Message;

use super::graph_bytes::GraphBytes;
use super::JobError;
use crate::transform::loadable::{self, LoadableOptions, LoadableReport};
use crate::codec::{encode, CodecError, EncodeOptions, EncodeReport};
use crate::error::FileError;
use crate::graph::Graph;
use crate::overwrite::check_not_an_input;
use crate::saved_model::{check_destination, write_saved_model, SavedModelSummary, SignatureSpec};

#[derive(Debug, Clone)]
pub struct EncodeJob {
    /// A GraphDef, binary or text; for a TF-loadable rewrite also a container.
    pub input: PathBuf,
    /// The file (for a SavedModel, the directory) to write.
    pub output: PathBuf,
    pub encoding: Encoding,
}

/// What the GraphDef is encoded into.
#[derive(Debug, Clone)]
pub enum Encoding {
    /// The sparse container, which `decode` restores byte for byte.
    Container(EncodeOptions),
    /// A GraphDef stock TensorFlow loads, each large sparse constant stored
    /// as a packed bitmask and its nonzeros and rebuilt once per session.
    Loadable(LoadableOptions),
    /// That GraphDef, served from a SavedModel directory.
    LoadableSavedModel(LoadableOptions, SignatureSpec),
}

/// The report of the encoding done; its JSON is the report's own.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Encoded {
    Container(EncodeReport),
    Loadable(LoadableReport),
    LoadableSavedModel { loadable: LoadableReport, saved_model: SavedModelSummary },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EncodeSummary {
    #[serde(flatten)]
    pub encoded: Encoded,
    /// The whole job (the container's report also splits it into reading,
    /// encoding and writing).
    #[serde(skip)]
    pub seconds: f64,
}

impl Encoded {
    /// Whether the input was a text GraphDef (what is written holds its binary form).
    pub fn from_text(&self) -> bool {
        match self {
            Encoded::Container(r) => r.from_text,
            Encoded::Loadable(r) | Encoded::LoadableSavedModel { loadable: r, .. } => r.from_text,
        }
    }
}

/// Encodes `job.input` into `job.output`. Nothing is written on failure,
/// and no input is ever overwritten.
pub fn encode_file(job: &EncodeJob) -> Result<EncodeSummary, JobError> {
    let start = Instant::now();
    check_not_an_input(&job.output, &[&job.input])?;
    let encoded = match &job.encoding {
        Encoding::Container(options) => Encoded::Container(encode_container(&job.input, &job.output, options)?),
        Encoding::Loadable(options) => {
            let (bytes, report) = loadable_graph(&job.input, options)?;
            crate::atomic::write_file(&job.output, &bytes).map_err(FileError::at(&job.output))?;
            Encoded::Loadable(report)
        }
        Encoding::LoadableSavedModel(options, signature) => {
            check_destination(&job.output)?;
            let (loadable, saved_model) = loadable_saved_model(&job.input, &job.output, options, signature)?;
            Encoded::LoadableSavedModel { loadable, saved_model }
        }
    };
    Ok(EncodeSummary { encoded, seconds: start.elapsed().as_secs_f64() })
}

fn encode_container(input: &Path, output: &Path, options: &EncodeOptions) -> Result<EncodeReport, JobError> {
    let t0 = Instant::now();
    let pb = GraphBytes::read(input, false)?;
    let read_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let (bytes, mut report) = encode(&pb.bytes, options);
    let t2 = Instant::now();
    crate::atomic::write_file(output, &bytes).map_err(FileError::at(output))?;
    report.from_text = pb.from_text;
    report.read_seconds = read_seconds;
    report.encode_seconds = (t2 - t1).as_secs_f64();
    report.write_seconds = t2.elapsed().as_secs_f64();
    Ok(report)
}

/// The TF-loadable rewrite of the GraphDef in `input`, encoded.
fn loadable_graph(input: &Path, options: &LoadableOptions) -> Result<(Vec<u8>, LoadableReport), JobError> {
    let pb = GraphBytes::read(input, true)?;
    let (bytes, mut report) = loadable::encode_bytes(pb.bytes, options)
        .map_err(|source| JobError::Loadable { path: input.to_path_buf(), source })?;
    report.from_text = pb.from_text;
    Ok((bytes, report))
}

fn loadable_saved_model(
    input: &Path,
    dir: &Path,
    options: &LoadableOptions,
    signature: &SignatureSpec,
) -> Result<(LoadableReport, SavedModelSummary), JobError> {
    let (bytes, report) = loadable_graph(input, options)?;
    // Our own encoding of a graph that was valid: it decodes.
    let def = crate::proto::tensorflow::GraphDef::decode(bytes::Bytes::from(bytes))
        .map_err(|source| CodecError::NotGraph { path: input.to_path_buf(), source })?;
    let graph = Graph::new(def).map_err(|e| e.in_file(input))?;
    let summary = write_saved_model(&graph, signature, dir, None)?;
    Ok((report, summary))
}
