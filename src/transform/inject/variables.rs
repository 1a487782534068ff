//! New variables as `tf.compat.v1.get_variable` makes them: the variable, its
//! initializer and `Assign`, its snapshot read, and the `VariableDef` that lets
//! `import_meta_graph` rebuild it (and `global_variables_initializer` cover it).

use prost::Message;

use super::builder::{Ops};
use crate::graph::ops::{CONST, IDENTITY, READ_VARIABLE, VARIABLE_V2, VAR_HANDLE};
use crate::graph::{InputRef, NodeBuilder};
use super::select::VarKind;
use super::InjectError;
use crate::proto::tensorflow::{DataType, SaveSliceInfoDef, VariableDef};

/// Where a partition sits in its full variable.
#[derive(Debug, Clone)]
pub struct Slice {
    pub full_name: String,
    pub full_shape: Vec<u64>,
    pub offset: Vec<u64>,
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub kind: VarKind,
    pub dtype: DataType,
    pub shape: Vec<u64>,
    /// The snapshot: `<name>/read` or `<name>/Read/ReadVariableOp`.
    pub read: String,
    pub def: VariableDef,
    pub slice: Option<Slice>,
}

impl Variable {
    /// The key the saver stores it under.
    pub fn save_name(&self) -> &str {
        self.slice.as_ref().map_or(&self.name, |s| &s.full_name)
    }

    /// `shape_and_slices` for SaveV2/RestoreV2: empty, or `full dims start,len:...`.
    pub fn save_slice_spec(&self) -> String {
        let Some(s) = &self.slice else {
            return String::new();
        };
        let full: Vec<String> = s.full_shape.iter().map(u64::to_string).collect();
        let slices: Vec<String> = s
            .offset
            .iter()
            .zip(&self.shape)
            .map(|(o, n)| format!("{o},{n}"))
            .collect();
        format!("{} {}", full.join(" "), slices.join(":"))
    }

    pub fn encoded_def(&self) -> Vec<u8> {
        self.def.encode_to_vec()
    }
}

pub struct Spec<'a> {
    pub name: &'a str,
    pub kind: VarKind,
    pub dtype: DataType,
    pub shape: &'a [u64],
    pub init: f64,
    pub device: &'a str,
    pub slice: Option<Slice>,
}

/// Creates the variable `spec.name` (an absolute name) filled with `spec.init`.
pub fn create(ops: &mut Ops, spec: Spec) -> Result<Variable, InjectError> {
    let Spec {
        name,
        kind,
        dtype,
        shape,
        init,
        device,
        slice,
    } = spec;
    let mut top = Ops::new(&mut *ops.graph, "");
    let var = match kind {
        VarKind::Ref => NodeBuilder::new(VARIABLE_V2)
            .ty("dtype", dtype)
            .shape("shape", shape),
        VarKind::Resource => NodeBuilder::new(VAR_HANDLE)
            .ty("dtype", dtype)
            .shape("shape", shape)
            .string("shared_name", name),
    };
    let var_name = top.add(name, var.device(device))?;
    if var_name != name {
        return Err(InjectError::NameTaken(name.to_string()));
    }
    let mut scope = Ops::new(&mut *ops.graph, name);
    let initial = initial_value(&mut scope, dtype, shape, init)?;
    let (assign, read) = match kind {
        VarKind::Ref => {
            let assign = scope.add(
                "Assign",
                NodeBuilder::new("Assign")
                    .input(name)
                    .input(&initial)
                    .ty("T", dtype)
                    .boolean("validate_shape", true),
            )?;
            (
                assign,
                scope.add("read", NodeBuilder::new(IDENTITY).input(name).ty("T", dtype))?,
            )
        }
        VarKind::Resource => {
            let assign = scope.add(
                "Assign",
                NodeBuilder::new("AssignVariableOp")
                    .input(name)
                    .input(&initial)
                    .ty("dtype", dtype),
            )?;
            let read = scope.scoped("Read").add(
                READ_VARIABLE,
                NodeBuilder::new(READ_VARIABLE).input(name).ty("dtype", dtype),
            )?;
            (assign, read)
        }
    };
    let def = VariableDef {
        variable_name: InputRef::tensor_name(name, 0),
        initial_value_name: InputRef::tensor_name(&initial, 0),
        initializer_name: assign,
        snapshot_name: InputRef::tensor_name(&read, 0),
        is_resource: kind == VarKind::Resource,
        trainable: false,
        save_slice_info_def: slice.as_ref().map(|s| SaveSliceInfoDef {
            full_name: s.full_name.clone(),
            full_shape: s.full_shape.iter().map(|&d| d as i64).collect(),
            var_offset: s.offset.iter().map(|&d| d as i64).collect(),
            var_shape: shape.iter().map(|&d| d as i64).collect(),
        }),
        ..Default::default()
    };
    Ok(Variable {
        name: name.to_string(),
        kind,
        dtype,
        shape: shape.to_vec(),
        read,
        def,
        slice,
    })
}

fn initial_value(
    scope: &mut Ops,
    dtype: DataType,
    shape: &[u64],
    init: f64,
) -> Result<String, InjectError> {
    let label = if init == 0.0 {
        "Initializer/zeros"
    } else {
        "Initializer/ones"
    };
    if shape.is_empty() {
        return scope.scalar(label, dtype, init);
    }
    let mut init_scope = scope.scoped(label);
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let dims = init_scope.int32s("shape_as_tensor", &dims)?;
    let value = init_scope.scalar(CONST, dtype, init)?;
    scope.add(
        label,
        NodeBuilder::new("Fill")
            .input(dims)
            .input(value)
            .ty("T", dtype)
            .ty("index_type", DataType::DtInt32),
    )
}

/// `var.assign(value)` named `name` in the scope of `ops`.
pub fn assign(
    ops: &mut Ops,
    var: &Variable,
    value: &str,
    name: &str,
) -> Result<String, InjectError> {
    let node = match var.kind {
        VarKind::Ref => NodeBuilder::new("Assign")
            .input(&var.name)
            .input(value)
            .ty("T", var.dtype)
            .boolean("validate_shape", true),
        VarKind::Resource => NodeBuilder::new("AssignVariableOp")
            .input(&var.name)
            .input(value)
            .ty("dtype", var.dtype),
    };
    ops.add(name, node)
}

/// A read of the variable's current value made where `ops` adds nodes (inside
/// a conditional branch it runs only there).
pub fn read_now(
    ops: &mut Ops,
    var_name: &str,
    kind: VarKind,
    dtype: DataType,
) -> Result<String, InjectError> {
    match kind {
        VarKind::Ref => ops.add("read", NodeBuilder::new(IDENTITY).input(var_name).ty("T", dtype)),
        VarKind::Resource => ops.add(
            READ_VARIABLE,
            NodeBuilder::new(READ_VARIABLE)
                .input(var_name)
                .ty("dtype", dtype),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_saved_as_slices_of_the_full_variable() {
        let var = Variable {
            name: "fc1/mask/part_1".into(),
            kind: VarKind::Ref,
            dtype: DataType::DtFloat,
            shape: vec![17, 64],
            read: "fc1/mask/part_1/read".into(),
            def: VariableDef::default(),
            slice: Some(Slice {
                full_name: "fc1/mask".into(),
                full_shape: vec![50, 64],
                offset: vec![17, 0],
            }),
        };
        assert_eq!(var.save_name(), "fc1/mask");
        assert_eq!(var.save_slice_spec(), "50 64 17,17:0,64");
    }
}
