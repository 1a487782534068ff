//! `encode --tf-loadable --output_format=saved_model`: the TF-loadable
//! rewrite of a GraphDef, served from a SavedModel directory.

use std::path::Path;

use prost::Message;

use super::JobError;
use crate::codec::loadable::{LoadableOptions, LoadableReport};
use crate::codec::loadable_graph;
use crate::graph::{Graph, GraphError};
use crate::overwrite::check_not_an_input;
use crate::saved_model::{write_saved_model, SavedModelSummary, SignatureSpec};

pub fn encode_loadable_saved_model(
    input: &Path,
    dir: &Path,
    opts: &LoadableOptions,
    signature: &SignatureSpec,
) -> Result<(LoadableReport, SavedModelSummary), JobError> {
    check_not_an_input(dir, &[input])?;
    crate::saved_model::check_destination(dir)?;
    let (bytes, report) = loadable_graph(input, opts)?;
    // Our own encoding of a graph that was valid: it decodes.
    let def = crate::proto::tensorflow::GraphDef::decode(bytes::Bytes::from(bytes))
        .map_err(|e| GraphError::Parse { path: input.to_path_buf(), msg: e.to_string() })?;
    let graph = Graph::new(def).map_err(|e| e.in_file(input))?;
    let summary = write_saved_model(&graph, signature, dir, None)?;
    Ok((report, summary))
}
