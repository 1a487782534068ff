//! What a MetaGraphDef's collections say about its nodes and variables,
//! read in one place.

use prost::Message;

use crate::proto::tensorflow::collection_def::Kind;
use crate::proto::tensorflow::{MetaGraphDef, VariableDef};

/// A collection's entries as the graph layer reads them.
enum Entries {
    /// A `node_list`'s node names, without their `:N` suffixes.
    Nodes(Vec<String>),
    /// A `bytes_list`'s `VariableDef`s; entries that do not parse are
    /// skipped, as TensorFlow's own loader would fail on them later anyway.
    Variables(Vec<VariableDef>),
    None,
}

fn entries(meta: &MetaGraphDef, key: &str) -> Entries {
    match meta.collection_def.get(key).and_then(|c| c.kind.as_ref()) {
        Some(Kind::NodeList(list)) => Entries::Nodes(list.value.iter().map(|v| super::node_name(v).to_string()).collect()),
        Some(Kind::BytesList(list)) => {
            Entries::Variables(list.value.iter().filter_map(|b| VariableDef::decode(b.as_ref()).ok()).collect())
        }
        _ => Entries::None,
    }
}

/// Node names listed in a `node_list` collection (`masks`, `thresholds`, ...),
/// without their `:0` suffixes.
pub fn collection_nodes(meta: &MetaGraphDef, key: &str) -> Vec<String> {
    match entries(meta, key) {
        Entries::Nodes(names) => names,
        _ => Vec::new(),
    }
}

/// The `VariableDef`s of the global `variables` collection.
pub fn variable_defs(meta: &MetaGraphDef) -> Vec<VariableDef> {
    match entries(meta, "variables") {
        Entries::Variables(defs) => defs,
        _ => Vec::new(),
    }
}

/// Node names a collection lists, whether as a node list or as `VariableDef`s.
pub fn collection_names(meta: &MetaGraphDef, key: &str) -> Vec<String> {
    match entries(meta, key) {
        Entries::Nodes(names) => names,
        Entries::Variables(defs) => defs.iter().map(|d| super::node_name(&d.variable_name).to_string()).collect(),
        Entries::None => Vec::new(),
    }
}
