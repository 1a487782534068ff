//! Building nodes: one builder for every pass that adds ops (inject's
//! pruning machinery, the TF-loadable rebuild, freezing), so attributes are
//! typed the same way everywhere and inputs are written by `InputRef`.

use crate::proto::tensorflow::attr_value::{ListValue, Value};
use crate::proto::tensorflow::{AttrValue, DataType, NodeDef, TensorShapeProto};

use super::InputRef;

/// A node under construction; `build` names it.
#[derive(Debug, Clone)]
pub struct NodeBuilder(NodeDef);

impl NodeBuilder {
    pub fn new(op: &str) -> Self {
        NodeBuilder(NodeDef { op: op.into(), ..Default::default() })
    }

    /// Output 0 of a node, or any input string (`node:1`, `^node`).
    pub fn input(mut self, input: impl Into<String>) -> Self {
        self.0.input.push(input.into());
        self
    }

    pub fn inputs<S: Into<String>>(mut self, inputs: impl IntoIterator<Item = S>) -> Self {
        self.0.input.extend(inputs.into_iter().map(Into::into));
        self
    }

    /// Output `port` of `node`.
    pub fn output(self, node: &str, port: u32) -> Self {
        self.input(InputRef::output(node, port).to_string())
    }

    /// A control input: this node runs after `node`.
    pub fn after(self, node: &str) -> Self {
        self.input(InputRef::control_of(node).to_string())
    }

    pub fn device(mut self, device: &str) -> Self {
        self.0.device = device.to_string();
        self
    }

    pub fn attr(mut self, key: &str, value: Value) -> Self {
        self.0.attr.insert(key.into(), AttrValue { value: Some(value) });
        self
    }

    pub fn ty(self, key: &str, dtype: DataType) -> Self {
        self.attr(key, Value::Type(dtype as i32))
    }

    pub fn int(self, key: &str, i: i64) -> Self {
        self.attr(key, Value::I(i))
    }

    pub fn boolean(self, key: &str, b: bool) -> Self {
        self.attr(key, Value::B(b))
    }

    pub fn string(self, key: &str, s: &str) -> Self {
        self.attr(key, Value::S(s.as_bytes().to_vec().into()))
    }

    pub fn ints(self, key: &str, values: &[i64]) -> Self {
        self.attr(key, Value::List(ListValue { i: values.to_vec(), ..Default::default() }))
    }

    pub fn types(self, key: &str, dtypes: &[DataType]) -> Self {
        let ty = dtypes.iter().map(|&d| d as i32).collect();
        self.attr(key, Value::List(ListValue { r#type: ty, ..Default::default() }))
    }

    pub fn shape(self, key: &str, dims: &[u64]) -> Self {
        self.attr(key, Value::Shape(TensorShapeProto::from_dims(dims)))
    }

    pub fn build(mut self, name: &str) -> NodeDef {
        self.0.name = name.to_string();
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_written_as_tensorflow_writes_them() {
        let n = NodeBuilder::new("Identity").input("a").output("b", 0).output("c", 2).after("d").ty("T", DataType::DtFloat).build("x");
        assert_eq!(n.input, ["a", "b", "c:2", "^d"]);
        assert_eq!((n.name.as_str(), n.op.as_str()), ("x", "Identity"));
        assert_eq!(n.attr["T"].value, Some(Value::Type(DataType::DtFloat as i32)));
    }
}
