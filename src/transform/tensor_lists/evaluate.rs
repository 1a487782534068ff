//! Whether two tensors are computed alike (an unstack's length and the
//! array's size), by comparing the pure ops that compute them.

use std::collections::HashSet;

use super::key;
use crate::graph::ops::{CONST, IDENTITY};
use crate::graph::{Graph, InputRef, Inputs};
use crate::proto::tensorflow::NodeDef;

/// Two tensors computed alike from the same tensors, by pure ops only.
pub(super) fn same_value(graph: &Graph, a: &InputRef<'_>, b: &InputRef<'_>) -> bool {
    const PURE: [&str; 5] = [CONST, "Shape", "StridedSlice", IDENTITY, "Cast"];
    let mut work = vec![(key(a), key(b))];
    let mut seen = HashSet::new();
    while let Some((x, y)) = work.pop() {
        if x == y || !seen.insert((x.clone(), y.clone())) {
            continue;
        }
        if seen.len() > 64 || x.1 != y.1 {
            return false;
        }
        let (Some(p), Some(q)) = (graph.node(&x.0), graph.node(&y.0)) else { return false };
        let (ap, aq) = (comparable_attrs(p), comparable_attrs(q));
        let (ip, iq): (Vec<_>, Vec<_>) =
            (p.data_inputs().collect(), q.data_inputs().collect());
        if p.op != q.op || !PURE.contains(&p.op.as_str()) || ap != aq || ip.len() != iq.len() {
            return false;
        }
        work.extend(ip.iter().zip(&iq).map(|(l, r)| (key(l), key(r))));
    }
    true
}

/// A node's attributes but its colocation, in key order.
fn comparable_attrs(node: &NodeDef) -> Vec<(&String, &crate::proto::tensorflow::AttrValue)> {
    let mut attrs: Vec<_> = node.attr.iter().filter(|(k, _)| k.as_str() != "_class").collect();
    attrs.sort_by(|l, r| l.0.cmp(r.0));
    attrs
}

