//! A command whose output has no checkpoint beside it (compact) needs every
//! variable frozen into a constant first: a graph that still reads one would
//! be written "successfully" and fail in TensorFlow (`Could not find
//! variable ...`).

use std::path::PathBuf;

use crate::transform::loadable::is_rebuild_cache;
use crate::model::{Model, ModelKind};
use crate::graph::is_variable;

/// How many variable names the message shows.
const SHOWN: usize = 3;

#[derive(Debug, thiserror::Error)]
#[error(
    "{}: not a frozen graph: it reads {} variable{} ({}{}), which the written graph could not restore; {}",
    .path.display(), .variables.len(), if .variables.len() == 1 { "" } else { "s" },
    .variables.iter().take(SHOWN).map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "),
    if .variables.len() > SHOWN { ", ..." } else { "" },
    if *.saved_model { SAVED_MODEL } else { CHECKPOINT }
)]
pub struct Unfrozen {
    pub path: PathBuf,
    pub variables: Vec<String>,
    pub saved_model: bool,
}

const CHECKPOINT: &str =
    "freeze it from its checkpoint first: tf-strip --checkpoint_dir=DIR --output_node_names=... (add --compact to compact it too)";
const SAVED_MODEL: &str = "tf-strip does not yet freeze a SavedModel natively: freeze it in TensorFlow \
     (convert_variables_to_constants_v2 for a TF2 model) and give the frozen GraphDef";

/// Refuses a model whose graph, or a function of its library, holds a
/// variable. A TF2 SavedModel's `VarHandleOp`s sit in the main graph, feeding
/// the `StatefulPartitionedCall` whose function reads them, so they count.
/// The caches `encode --tf-loadable` adds fill themselves and do not.
pub fn require_frozen(model: &Model) -> Result<(), Unfrozen> {
    let def = model.graph.def();
    let functions = def.library.iter().flat_map(|l| &l.function).flat_map(|f| &f.node_def);
    let variables: Vec<String> = def
        .node
        .iter()
        .chain(functions)
        .filter(|n| is_variable(n) && !is_rebuild_cache(n))
        .map(|n| n.name.clone())
        .collect();
    match variables.is_empty() {
        true => Ok(()),
        false => Err(Unfrozen { path: model.path.clone(), variables, saved_model: model.kind == ModelKind::SavedModel }),
    }
}
