//! The MetaGraphDef collections inject reads and extends.

use prost::Message;

use super::masks::Masked;
use super::variables::Variable;
use crate::graph::node_name;
use crate::proto::tensorflow::collection_def::{BytesList, Kind, NodeList};
use crate::proto::tensorflow::{CollectionDef, MetaGraphDef, VariableDef};

pub fn add_nodes(meta: &mut MetaGraphDef, key: &str, values: impl IntoIterator<Item = String>) {
    let entry = meta
        .collection_def
        .entry(key.to_string())
        .or_insert_with(|| CollectionDef {
            kind: Some(Kind::NodeList(NodeList::default())),
        });
    if let Some(Kind::NodeList(list)) = &mut entry.kind {
        list.value.extend(values);
    }
}

pub fn add_variables(meta: &mut MetaGraphDef, key: &str, defs: impl IntoIterator<Item = Vec<u8>>) {
    let entry = meta
        .collection_def
        .entry(key.to_string())
        .or_insert_with(|| CollectionDef {
            kind: Some(Kind::BytesList(BytesList::default())),
        });
    if let Some(Kind::BytesList(list)) = &mut entry.kind {
        list.value.extend(defs.into_iter().map(Into::into));
    }
}

/// Node names a collection lists, whether as a node list or as `VariableDef`s.
pub fn names(meta: &MetaGraphDef, key: &str) -> Vec<String> {
    match meta.collection_def.get(key).and_then(|c| c.kind.as_ref()) {
        Some(Kind::NodeList(list)) => list
            .value
            .iter()
            .map(|v| node_name(v).to_string())
            .collect(),
        Some(Kind::BytesList(list)) => list
            .value
            .iter()
            .filter_map(|b| VariableDef::decode(b.as_ref()).ok())
            .map(|d| node_name(&d.variable_name).to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// Renames tensor entries (`name:N`) of node-list collections; entries naming
/// the op itself keep naming whatever op now has the name.
pub fn rename_tensors(meta: &mut MetaGraphDef, from: &str, to: &str) {
    for c in meta.collection_def.values_mut() {
        if let Some(Kind::NodeList(list)) = &mut c.kind {
            for v in &mut list.value {
                if let Some(port) = v.strip_prefix(from).and_then(|rest| rest.strip_prefix(':')) {
                    *v = format!("{to}:{port}");
                }
            }
        }
    }
}

/// The collections contrib's `apply_mask` and `add_pruning_summaries` fill,
/// and the global `variables` that `Saver()` and `global_variables_initializer()` read.
pub fn record(
    meta: &mut MetaGraphDef,
    masked: &[Masked],
    summaries: &[String],
    new_vars: &[&Variable],
) {
    add_nodes(meta, "masks", masked.iter().map(Masked::mask_entry));
    add_nodes(
        meta,
        "thresholds",
        masked.iter().map(|m| format!("{}:0", m.threshold.name)),
    );
    add_nodes(
        meta,
        "masked_weights",
        masked.iter().map(|m| format!("{}:0", m.masked_weight)),
    );
    add_nodes(meta, "kernel", masked.iter().map(Masked::weight_entry));
    add_nodes(
        meta,
        "summaries",
        summaries.iter().map(|s| format!("{s}:0")),
    );
    add_variables(meta, "variables", new_vars.iter().map(|v| v.encoded_def()));
}
