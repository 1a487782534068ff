//! Adding inject's nodes (built with `graph::NodeBuilder`) under a name scope
//! that makes names unique the way TensorFlow does (`x`, `x_1`, ...), with an
//! optional control input put on every node, which is how ops join a branch
//! of a Switch/Merge conditional (a dead control input makes the node dead).

use crate::graph::ops::CONCAT;
use crate::graph::{const_node, Graph, InputRef, NodeBuilder};
use crate::proto::tensorflow::{DataType, NodeDef};
use crate::tensor::Tensor;

use super::InjectError;

/// Adds nodes to a graph under a name scope.
pub(super) struct Ops<'g> {
    pub graph: &'g mut Graph,
    scope: String,
    control: Option<String>,
}

impl<'g> Ops<'g> {
    pub fn new(graph: &'g mut Graph, scope: &str) -> Self {
        Ops {
            graph,
            scope: scope.trim_end_matches('/').to_string(),
            control: None,
        }
    }

    /// The same graph under `scope/sub`, keeping the branch control input.
    pub fn scoped(&mut self, sub: &str) -> Ops<'_> {
        let scope = join(&self.scope, sub);
        Ops {
            graph: &mut *self.graph,
            scope,
            control: self.control.clone(),
        }
    }

    /// The same graph under an absolute scope, with every node also
    /// depending on `control`.
    pub fn branch(&mut self, scope: &str, control: &str) -> Ops<'_> {
        Ops {
            graph: &mut *self.graph,
            scope: scope.to_string(),
            control: Some(InputRef::control_of(control).to_string()),
        }
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The first free name `scope/name`, `scope/name_1`, ...
    pub fn unique(&self, name: &str) -> String {
        self.graph.fresh_name(&join(&self.scope, name), |_| false)
    }

    /// Adds `node` as `scope/name` (made unique) and returns its name.
    pub fn add(&mut self, name: &str, node: NodeBuilder) -> Result<String, InjectError> {
        self.insert(name, node.build(""))
    }

    pub fn constant(&mut self, name: &str, value: Tensor) -> Result<String, InjectError> {
        self.insert(name, const_node("", &value))
    }

    fn insert(&mut self, name: &str, mut def: NodeDef) -> Result<String, InjectError> {
        def.name = self.unique(name);
        if let Some(c) = &self.control {
            def.input.push(c.clone());
        }
        let out = def.name.clone();
        self.graph.add(def)?;
        Ok(out)
    }

    pub fn scalar(
        &mut self,
        name: &str,
        dtype: DataType,
        value: f64,
    ) -> Result<String, InjectError> {
        self.constant(name, scalar_of(dtype, value)?)
    }

    pub fn int32s(&mut self, name: &str, values: &[i64]) -> Result<String, InjectError> {
        let narrow: Vec<i32> = values.iter().map(|&v| v as i32).collect();
        self.constant(name, Tensor::from_i32s(&[values.len() as u64], &narrow))
    }

    pub fn unary(&mut self, op: &str, x: &str, dtype: DataType) -> Result<String, InjectError> {
        self.add(op, NodeBuilder::new(op).input(x).ty("T", dtype))
    }

    pub fn binary(
        &mut self,
        op: &str,
        a: &str,
        b: &str,
        dtype: DataType,
    ) -> Result<String, InjectError> {
        self.add(op, NodeBuilder::new(op).input(a).input(b).ty("T", dtype))
    }

    pub fn cast(&mut self, x: &str, from: DataType, to: DataType) -> Result<String, InjectError> {
        self.add(
            "Cast",
            NodeBuilder::new("Cast").input(x).ty("SrcT", from).ty("DstT", to),
        )
    }

    pub fn concat(
        &mut self,
        inputs: &[String],
        axis: usize,
        dtype: DataType,
    ) -> Result<String, InjectError> {
        let axis = self.scalar("concat/axis", DataType::DtInt32, axis as f64)?;
        let node = NodeBuilder::new(CONCAT)
            .inputs(inputs.iter().cloned())
            .input(axis);
        let node = node
            .ty("T", dtype)
            .ty("Tidx", DataType::DtInt32)
            .int("N", inputs.len() as i64);
        self.add("concat", node)
    }

    pub fn reshape(
        &mut self,
        x: &str,
        shape: &[i64],
        dtype: DataType,
    ) -> Result<String, InjectError> {
        let s = self.int32s("Reshape/shape", shape)?;
        self.add(
            "Reshape",
            NodeBuilder::new("Reshape")
                .input(x)
                .input(s)
                .ty("T", dtype)
                .ty("Tshape", DataType::DtInt32),
        )
    }
}

pub(super) fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}/{name}")
    }
}

/// A scalar `value` of one of the floating and integer dtypes inject works with.
fn scalar_of(dtype: DataType, value: f64) -> Result<Tensor, InjectError> {
    Ok(match dtype {
        DataType::DtFloat => Tensor::from_values(&[], &[value as f32]),
        DataType::DtDouble => Tensor::from_values(&[], &[value]),
        DataType::DtHalf => Tensor::from_values(&[], &[half::f16::from_f64(value)]),
        DataType::DtBfloat16 => Tensor::from_values(&[], &[half::bf16::from_f64(value)]),
        DataType::DtInt32 => Tensor::from_values(&[], &[value as i32]),
        DataType::DtInt64 => Tensor::from_values(&[], &[value as i64]),
        other => {
            return Err(InjectError::ConstantType(other))
        }
    })
}
