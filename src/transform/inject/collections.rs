//! The MetaGraphDef collections inject extends (reading them is the graph layer's: `collection_names`).

use super::masks::Masked;
use super::variables::Variable;
use crate::graph::InputRef;
use crate::proto::tensorflow::collection_def::{BytesList, Kind, NodeList};
use crate::proto::tensorflow::{CollectionDef, MetaGraphDef};

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

/// Renames tensor entries (`name:N`) of node-list collections; entries naming
/// the op itself keep naming whatever op now has the name.
pub fn rename_tensors(meta: &mut MetaGraphDef, from: &str, to: &str) {
    for c in meta.collection_def.values_mut() {
        if let Some(Kind::NodeList(list)) = &mut c.kind {
            for v in &mut list.value {
                let tensor = InputRef::parse(v).filter(|r| r.node == from && !r.control && v.contains(':'));
                if let Some(r) = tensor {
                    *v = InputRef::tensor_name(to, r.port);
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
        masked.iter().map(|m| InputRef::tensor_name(&m.threshold.name, 0)),
    );
    add_nodes(
        meta,
        "masked_weights",
        masked.iter().map(|m| InputRef::tensor_name(&m.masked_weight, 0)),
    );
    add_nodes(meta, "kernel", masked.iter().map(Masked::weight_entry));
    add_nodes(
        meta,
        "summaries",
        summaries.iter().map(|s| InputRef::tensor_name(s, 0)),
    );
    add_variables(meta, "variables", new_vars.iter().map(|v| v.encoded_def()));
}
