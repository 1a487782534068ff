//! Reading a node's attributes by type. Absent is `Ok(None)` (TensorFlow
//! then uses the op's default); present with another type is an error naming
//! the node, since it means the file is not what the op says.

use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef, TensorProto};

use super::{GraphError, Result};

fn wrong(node: &NodeDef, key: &str, want: &str) -> GraphError {
    GraphError::Attr { node: node.name.clone(), key: key.to_string(), want: want.to_string() }
}

/// Typed reads of `NodeDef.attr`.
pub trait Attrs {
    fn attr_value(&self, key: &str) -> Option<&Value>;
    fn dtype_attr(&self, key: &str) -> Result<Option<DataType>>;
    fn int_attr(&self, key: &str) -> Result<Option<i64>>;
    fn bool_attr(&self, key: &str) -> Result<Option<bool>>;
    fn float_attr(&self, key: &str) -> Result<Option<f32>>;
    /// A string attribute (`padding`, `data_format`); not UTF-8 is an error.
    fn string_attr(&self, key: &str) -> Result<Option<&str>>;
    fn ints_attr(&self, key: &str) -> Result<Option<&[i64]>>;
    /// A `Const`'s `value`.
    fn tensor_value(&self) -> Result<&TensorProto>;
}

impl Attrs for NodeDef {
    fn attr_value(&self, key: &str) -> Option<&Value> {
        self.attr.get(key)?.value.as_ref()
    }

    fn dtype_attr(&self, key: &str) -> Result<Option<DataType>> {
        match self.attr_value(key) {
            None => Ok(None),
            Some(Value::Type(t)) => DataType::try_from(*t).map(Some).map_err(|_| wrong(self, key, "a known dtype")),
            Some(_) => Err(wrong(self, key, "a dtype")),
        }
    }

    fn int_attr(&self, key: &str) -> Result<Option<i64>> {
        match self.attr_value(key) {
            None => Ok(None),
            Some(Value::I(i)) => Ok(Some(*i)),
            Some(_) => Err(wrong(self, key, "an int")),
        }
    }

    fn bool_attr(&self, key: &str) -> Result<Option<bool>> {
        match self.attr_value(key) {
            None => Ok(None),
            Some(Value::B(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong(self, key, "a bool")),
        }
    }

    fn float_attr(&self, key: &str) -> Result<Option<f32>> {
        match self.attr_value(key) {
            None => Ok(None),
            Some(Value::F(f)) => Ok(Some(*f)),
            Some(_) => Err(wrong(self, key, "a float")),
        }
    }

    fn string_attr(&self, key: &str) -> Result<Option<&str>> {
        match self.attr_value(key) {
            None => Ok(None),
            Some(Value::S(s)) => std::str::from_utf8(s).map(Some).map_err(|_| wrong(self, key, "a UTF-8 string")),
            Some(_) => Err(wrong(self, key, "a string")),
        }
    }

    fn ints_attr(&self, key: &str) -> Result<Option<&[i64]>> {
        match self.attr_value(key) {
            None => Ok(None),
            Some(Value::List(l)) => Ok(Some(&l.i)),
            Some(_) => Err(wrong(self, key, "a list of ints")),
        }
    }

    fn tensor_value(&self) -> Result<&TensorProto> {
        match self.attr_value("value") {
            Some(Value::Tensor(t)) => Ok(t),
            _ => Err(wrong(self, "value", "a tensor")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeBuilder;

    #[test]
    fn absent_is_none_and_mistyped_is_an_error() {
        let n = NodeBuilder::new("Gather").int("batch_dims", 1).ty("T", DataType::DtFloat).build("g");
        assert_eq!(n.int_attr("batch_dims").unwrap(), Some(1));
        assert_eq!(n.dtype_attr("T").unwrap(), Some(DataType::DtFloat));
        assert_eq!(n.bool_attr("validate").unwrap(), None);
        let err = n.dtype_attr("batch_dims").unwrap_err().to_string();
        assert!(err.contains("`g`") && err.contains("batch_dims") && err.contains("a dtype"), "{err}");
        assert!(n.tensor_value().is_err());
    }
}
