//! The float constants compact's walk reads (filters, parameters), as its
//! own arrays, found by the graph layer's `const_tensor`.

use super::array::{Array, View};
use crate::graph::{const_tensor, Graph, InputRef};

/// The float constant a data input reads, uncopied.
pub fn const_view(graph: &Graph, input: InputRef<'_>) -> Option<View> {
    View::of(&const_tensor(graph, input)?)
}

/// The float array a data input reads, if it is a constant.
pub fn const_array(graph: &Graph, input: InputRef<'_>) -> Option<Array> {
    Array::of(&const_tensor(graph, input)?)
}
