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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorflow::attr_value::ListValue;
    use crate::transform::testing::*;

    #[test]
    fn only_constraints_naming_missing_nodes_go() {
        let class = |targets: &[&str]| {
            let s = targets.iter().map(|t| format!("loc:@{t}").into_bytes().into()).collect();
            Value::List(ListValue { s, ..Default::default() })
        };
        let mut kept = op("a", "Identity", &[]);
        kept.attr.insert("_class".into(), crate::proto::tensorflow::AttrValue { value: Some(class(&["b", "gone"])) });
        let mut dropped = op("b", "Identity", &[]);
        dropped.attr.insert("_class".into(), crate::proto::tensorflow::AttrValue { value: Some(class(&["gone"])) });
        let mut g = graph(vec![kept, dropped]);
        drop_dangling_colocation(&mut g);
        assert_eq!(g.node("a").unwrap().attr["_class"].value, Some(class(&["b"])));
        assert!(!g.node("b").unwrap().attr.contains_key("_class"));
    }
}
