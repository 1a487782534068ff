//! `extract_sub_graph`: the nodes an output set needs, data and control
//! inputs alike, in the graph's original order; and a graph's sinks, the
//! outputs a user would fetch when none are named.

use std::collections::HashSet;

use super::{input_refs, node_name, Graph, GraphError, InputRef, Result};

/// Names of every node the `outputs` depend on, the outputs included.
pub fn reachable_from(graph: &Graph, outputs: &[String]) -> Result<HashSet<String>> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = Vec::new();
    for out in outputs {
        let name = node_name(out);
        graph.require(name)?;
        if seen.insert(name.to_string()) {
            stack.push(name.to_string());
        }
    }
    while let Some(name) = stack.pop() {
        let node = graph.require(&name)?;
        for input in &node.input {
            let dep = node_name(input);
            if !graph.contains(dep) {
                return Err(GraphError::DanglingInput {
                    node: name.clone(),
                    input: input.clone(),
                });
            }
            if seen.insert(dep.to_string()) {
                stack.push(dep.to_string());
            }
        }
    }
    Ok(seen)
}

/// The subgraph that computes `outputs`: its nodes, the library functions
/// they call, and the graph's versions.
pub fn extract_subgraph(graph: &mut Graph, outputs: &[String]) -> Result<()> {
    let keep = reachable_from(graph, outputs)?;
    graph.retain(|n| keep.contains(&n.name));
    graph.prune_library();
    Ok(())
}

/// Ops that end a graph without computing anything a user would fetch: the
/// saver's, initializers and assignments, summaries.
fn is_bookkeeping(op: &str) -> bool {
    op == "NoOp"
        || op.starts_with("Assign")
        || op.contains("Save")
        || op.contains("Restore")
        || op.contains("Summary")
        || op.ends_with("Initializer")
}

/// Every node no other node consumes (by data or control edge), but bookkeeping ones.
pub fn sinks(graph: &Graph) -> Vec<String> {
    let consumed: HashSet<&str> = graph.nodes().iter().flat_map(|n| input_refs(n).map(|r| r.node)).collect();
    graph
        .nodes()
        .iter()
        .filter(|n| !consumed.contains(n.name.as_str()) && !is_bookkeeping(&n.op))
        .map(|n| InputRef::tensor_name(&n.name, 0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorflow::{GraphDef, NodeDef};

    fn node(name: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: "Op".into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn follows_data_and_control_inputs_in_order() {
        let def = GraphDef {
            node: vec![
                node("a", &[]),
                node("unused", &["a"]),
                node("c", &[]),
                node("b", &["a:0", "^c"]),
            ],
            ..Default::default()
        };
        let mut g = Graph::new(def).unwrap();
        extract_subgraph(&mut g, &["b".to_string()]).unwrap();
        let names: Vec<_> = g.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "c", "b"]);
    }

    #[test]
    fn unknown_output_suggests_names() {
        let def = GraphDef { node: vec![node("softmax", &[])], ..Default::default() };
        let mut g = Graph::new(def).unwrap();
        let err = extract_subgraph(&mut g, &["softmx".to_string()]).unwrap_err().to_string();
        assert!(err.contains("nearest names: softmax"), "{err}");
    }
}
