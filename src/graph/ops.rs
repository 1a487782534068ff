//! What the graph layer knows about TensorFlow ops by name, so that passes
//! and the pruning recogniser ask one table instead of keeping lists of
//! their own: which ops hold a variable or a constant, which pass a value
//! through unchanged, enter a while loop's frame or read a variable.

use crate::proto::tensorflow::NodeDef;

pub const CONST: &str = "Const";
pub const IDENTITY: &str = "Identity";
pub const SNAPSHOT: &str = "Snapshot";
pub const STOP_GRADIENT: &str = "StopGradient";
pub const READ_VARIABLE: &str = "ReadVariableOp";
pub const ENTER: &str = "Enter";
pub const REF_ENTER: &str = "RefEnter";
pub const CONCAT: &str = "ConcatV2";
pub const VARIABLE_V2: &str = "VariableV2";
pub const VARIABLE: &str = "Variable";
pub const VAR_HANDLE: &str = "VarHandleOp";

/// Ops that hold a variable: TF1 ref variables and TF2 resource handles.
const VARIABLE_OPS: [&str; 3] = [VARIABLE_V2, VARIABLE, VAR_HANDLE];

/// Ops whose output is their first input's value, unchanged.
const VALUE_PASSING: [&str; 3] = [IDENTITY, SNAPSHOT, STOP_GRADIENT];

/// Ops that carry their first input into a while loop's frame.
const FRAME_ENTERING: [&str; 2] = [ENTER, REF_ENTER];

/// Elementwise ops of one input besides those that pass their value
/// through: the output has the input's shape.
const UNARY: [&str; 10] = ["PreventGradient", "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "LeakyRelu", "Softplus", "Neg"];

/// Elementwise ops of two inputs, broadcasting.
pub const ELEMENTWISE_BINARY: [&str; 7] = ["Add", "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum"];

/// Ref-typed control-flow ops that forward a ref variable: each the `Ref`
/// twin of a plain op.
const REF_FORWARDING: [&str; 6] = [REF_ENTER, "RefSwitch", "RefMerge", "RefExit", "RefNextIteration", "RefIdentity"];

pub fn is_variable(node: &NodeDef) -> bool {
    VARIABLE_OPS.contains(&node.op.as_str())
}

pub fn is_const(node: &NodeDef) -> bool {
    node.op == CONST
}

/// A variable or a constant: where a stored value starts.
pub fn is_stored(node: &NodeDef) -> bool {
    is_variable(node) || is_const(node)
}

/// `Identity`, `Snapshot`, `StopGradient`: the value passes unchanged.
pub fn passes_value(op: &str) -> bool {
    VALUE_PASSING.contains(&op)
}

/// `Enter`, `RefEnter`: the value enters a while loop's frame.
pub fn enters_frame(op: &str) -> bool {
    FRAME_ENTERING.contains(&op)
}

/// An elementwise op of one input, value-passing ones included.
pub fn is_unary(op: &str) -> bool {
    passes_value(op) || UNARY.contains(&op)
}

/// The spatial axes and the channel axis of a rank-4 image tensor.
pub fn spatial_axes(nchw: bool) -> ([usize; 2], usize) {
    if nchw {
        ([2, 3], 1)
    } else {
        ([1, 2], 3)
    }
}

/// The plain twin of a ref-forwarding op (`RefSwitch` -> `Switch`), which
/// takes its place once the variable it forwards is a constant.
pub fn plain_twin(op: &str) -> Option<&str> {
    REF_FORWARDING.contains(&op).then(|| &op["Ref".len()..])
}

/// How a variable is held: a TF1 ref variable or a TF2 resource handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    Ref,
    Resource,
}

/// How an op of `op` holds its variable, if it is a variable.
pub fn variable_kind(op: &str) -> Option<VarKind> {
    match op {
        VARIABLE_V2 | VARIABLE => Some(VarKind::Ref),
        VAR_HANDLE => Some(VarKind::Resource),
        _ => None,
    }
}

/// Whether an op `read` of an op `variable` reads that variable's value:
/// the `Identity` of a ref variable (`<var>/read`) or the `ReadVariableOp`
/// of a resource handle.
pub fn variable_read(read: &str, variable: &str) -> Option<VarKind> {
    match (read, variable_kind(variable)?) {
        (IDENTITY, VarKind::Ref) => Some(VarKind::Ref),
        (READ_VARIABLE, VarKind::Resource) => Some(VarKind::Resource),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_forwarding_ops_turn_into_their_plain_twins_and_no_other_op_does() {
        assert_eq!(plain_twin("RefSwitch"), Some("Switch"));
        assert_eq!(plain_twin(REF_ENTER), Some(ENTER));
        assert_eq!(plain_twin("RefIdentity"), Some(IDENTITY));
        assert_eq!(plain_twin(IDENTITY), None);
        assert_eq!(plain_twin("RefOther"), None);
    }
}
