//! What the graph layer knows about TensorFlow ops by name, so that passes
//! and the pruning recogniser ask one table instead of keeping lists of
//! their own.

use crate::proto::tensorflow::NodeDef;

/// Ops that hold a variable: TF1 ref variables and TF2 resource handles.
const VARIABLE_OPS: [&str; 3] = ["VariableV2", "Variable", "VarHandleOp"];

pub fn is_variable(node: &NodeDef) -> bool {
    VARIABLE_OPS.contains(&node.op.as_str())
}
