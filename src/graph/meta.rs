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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorflow::collection_def::{BytesList, NodeList};
    use crate::proto::tensorflow::CollectionDef;

    #[test]
    fn collections_are_read_as_node_lists_or_variable_defs() {
        let mut meta = MetaGraphDef::default();
        let nodes = NodeList { value: vec!["a:0".into(), "^b".into(), "c:1".into()] };
        meta.collection_def.insert("masks".into(), CollectionDef { kind: Some(Kind::NodeList(nodes)) });
        let def = VariableDef { variable_name: "w:0".into(), ..Default::default() };
        let bytes = BytesList { value: vec![def.encode_to_vec().into(), b"\xff".to_vec().into()] };
        meta.collection_def.insert("variables".into(), CollectionDef { kind: Some(Kind::BytesList(bytes)) });

        assert_eq!(collection_nodes(&meta, "masks"), ["a", "b", "c"]);
        assert_eq!(collection_names(&meta, "masks"), ["a", "b", "c"]);
        assert!(collection_nodes(&meta, "variables").is_empty());
        assert_eq!(collection_names(&meta, "variables"), ["w"]);
        assert_eq!(variable_defs(&meta).len(), 1);
        assert!(collection_names(&meta, "absent").is_empty());
    }
}
