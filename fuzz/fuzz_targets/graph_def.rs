//! Graph loading: binary and text GraphDef / MetaGraphDef parsing, the name
//! index, subgraph extraction and constant decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tf_strip::graph::{extract_subgraph, Graph};
use tf_strip::proto::tensorflow::attr_value::Value;
use tf_strip::proto::tensorflow::{GraphDef, MetaGraphDef};
use tf_strip::{tensor, textformat};

fn exercise(def: GraphDef) {
    for node in &def.node {
        if let Some(Value::Tensor(t)) = node.attr.get("value").and_then(|a| a.value.as_ref()) {
            if let Ok(t) = tensor::from_proto(t) {
                let _ = t.zero_fraction();
            }
        }
    }
    if let Ok(mut g) = Graph::new(def) {
        if let Some(last) = g.nodes().last().map(|n| n.name.clone()) {
            let _ = extract_subgraph(&mut g, &[last]);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(def) = GraphDef::decode(data) {
        exercise(def);
    }
    if let Ok(meta) = MetaGraphDef::decode(data) {
        let _ = tf_strip::graph::variable_defs(&meta);
        exercise(meta.graph_def.unwrap_or_default());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(def) = textformat::parse::<GraphDef>(text) {
            let _ = textformat::print(&def);
            exercise(def);
        }
    }
});
