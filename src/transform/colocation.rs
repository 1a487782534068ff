//! Colocation constraints (`_class: ["loc:@node"]`) must name nodes that
//! exist, or TensorFlow refuses to import the graph.

use std::collections::HashSet;

use crate::graph::Graph;
use crate::proto::tensorflow::attr_value::Value;

/// Removes `loc:@X` entries whose `X` is gone, and the attribute when empty.
pub fn drop_dangling_colocation(graph: &mut Graph) {
    let names: HashSet<String> = graph.nodes().iter().map(|n| n.name.clone()).collect();
    for node in graph.nodes_mut() {
        let Some(Value::List(list)) = node.attr.get_mut("_class").and_then(|a| a.value.as_mut()) else {
            continue;
        };
        list.s.retain(|s| match s.strip_prefix(b"loc:@") {
            Some(target) => std::str::from_utf8(target).is_ok_and(|t| names.contains(t)),
            None => true,
        });
        if list.s.is_empty() {
            node.attr.remove("_class");
        }
    }
}
