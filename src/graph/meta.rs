//! What a MetaGraphDef's collections say about its variables.

use prost::Message;

use crate::proto::tensorflow::collection_def::Kind;
use crate::proto::tensorflow::{MetaGraphDef, VariableDef};

/// Node names listed in a `node_list` collection (`masks`, `thresholds`, ...),
/// without their `:0` suffixes.
pub fn collection_nodes(meta: &MetaGraphDef, key: &str) -> Vec<String> {
    match meta.collection_def.get(key).and_then(|c| c.kind.as_ref()) {
        Some(Kind::NodeList(list)) => list
            .value
            .iter()
            .map(|v| super::node_name(v).to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// The `VariableDef`s of the global `variables` collection; entries that do not
/// parse are skipped, as TensorFlow's own loader would fail on them later anyway.
pub fn variable_defs(meta: &MetaGraphDef) -> Vec<VariableDef> {
    match meta.collection_def.get("variables").and_then(|c| c.kind.as_ref()) {
        Some(Kind::BytesList(list)) => list
            .value
            .iter()
            .filter_map(|b| VariableDef::decode(b.as_ref()).ok())
            .collect(),
        _ => Vec::new(),
    }
}
