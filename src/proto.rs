//! TensorFlow protobuf messages (package `tensorflow`) generated at build time
//! from `proto/**/*.proto`, plus the runtime descriptor pool used for protobuf
//! text format and a few small helpers on the generated types.
//!
//! * Binary: every message implements [`prost::Message`] (`encode_to_vec`,
//!   `decode`). `bytes` fields are [`bytes::Bytes`]; map fields are
//!   [`std::collections::BTreeMap`], so re-serialization is deterministic.
//! * Text format (`.pbtxt`): every message implements
//!   [`prost_reflect::ReflectMessage`], backed by [`DESCRIPTOR_POOL`]; use
//!   [`crate::textformat`] to parse and print, which keeps map order stable.

use std::fmt;
use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

/// Generated code for protobuf package `tensorflow`.
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    missing_docs,
    rustdoc::all,
    unreachable_pub
)]
pub mod tensorflow {
    include!(concat!(env!("OUT_DIR"), "/tensorflow.rs"));
}

use tensorflow::{DataType, TensorShapeProto};

/// Encoded `google.protobuf.FileDescriptorSet` of every `.proto` under
/// `proto/` (with imports and source info), produced by `build.rs`.
pub static FILE_DESCRIPTOR_SET_BYTES: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// Descriptors of all TensorFlow messages (and the well-known types they use).
///
/// Look a message up with e.g.
/// `DESCRIPTOR_POOL.get_message_by_name("tensorflow.GraphDef")`, or from a
/// generated type via `ReflectMessage::descriptor`.
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET_BYTES)
        .expect("descriptor set embedded by build.rs must be valid")
});

/// Protobuf refuses to parse messages of 2 GiB or more.
pub const PROTOBUF_LIMIT: u64 = (1 << 31) - 1;

/// Offset between a dtype and its legacy reference variant (`DT_X_REF = DT_X + 100`).
const REF_OFFSET: i32 = 100;

impl DataType {
    /// Size in bytes of one element for fixed-size, byte-aligned dtypes.
    ///
    /// `None` for variable-size or opaque dtypes (string, resource, variant),
    /// sub-byte dtypes (int4/uint4/int2/uint2/float4), `DT_INVALID`, and the
    /// `_REF` variants (use [`DataType::base`] first).
    pub fn byte_size(self) -> Option<usize> {
        use DataType::*;
        Some(match self {
            DtBool | DtInt8 | DtUint8 | DtQint8 | DtQuint8 => 1,
            DtFloat8E5m2 | DtFloat8E4m3fn | DtFloat8E4m3fnuz | DtFloat8E4m3b11fnuz
            | DtFloat8E5m2fnuz => 1,
            DtInt16 | DtUint16 | DtQint16 | DtQuint16 | DtHalf | DtBfloat16 => 2,
            DtInt32 | DtUint32 | DtQint32 | DtFloat => 4,
            DtInt64 | DtUint64 | DtDouble | DtComplex64 => 8,
            DtComplex128 => 16,
            _ => return None,
        })
    }

    /// Whether this is one of the legacy `DT_*_REF` values.
    pub fn is_ref(self) -> bool {
        (self as i32) > REF_OFFSET
    }

    /// The non-reference dtype (`DT_FLOAT_REF` -> `DT_FLOAT`); identity otherwise.
    pub fn base(self) -> DataType {
        if self.is_ref() {
            DataType::try_from(self as i32 - REF_OFFSET).unwrap_or(DataType::DtInvalid)
        } else {
            self
        }
    }

    /// The short name TensorFlow's Python API prints for this dtype
    /// (`tf.DType.name`): `float32`, `float16`, `bfloat16`, `int8`, ...,
    /// `complex64`, `bool`, `string`; ref variants get a `_ref` suffix.
    /// `DT_INVALID` is `"invalid"`.
    pub fn name(self) -> &'static str {
        use DataType::*;
        match self {
            DtInvalid => "invalid",
            DtFloat => "float32",
            DtDouble => "float64",
            DtInt32 => "int32",
            DtUint8 => "uint8",
            DtInt16 => "int16",
            DtInt8 => "int8",
            DtString => "string",
            DtComplex64 => "complex64",
            DtInt64 => "int64",
            DtBool => "bool",
            DtQint8 => "qint8",
            DtQuint8 => "quint8",
            DtQint32 => "qint32",
            DtBfloat16 => "bfloat16",
            DtQint16 => "qint16",
            DtQuint16 => "quint16",
            DtUint16 => "uint16",
            DtComplex128 => "complex128",
            DtHalf => "float16",
            DtResource => "resource",
            DtVariant => "variant",
            DtUint32 => "uint32",
            DtUint64 => "uint64",
            DtFloat8E5m2 => "float8_e5m2",
            DtFloat8E4m3fn => "float8_e4m3fn",
            DtFloat8E4m3fnuz => "float8_e4m3fnuz",
            DtFloat8E4m3b11fnuz => "float8_e4m3b11fnuz",
            DtFloat8E5m2fnuz => "float8_e5m2fnuz",
            DtInt4 => "int4",
            DtUint4 => "uint4",
            DtInt2 => "int2",
            DtUint2 => "uint2",
            DtFloat4E2m1fn => "float4_e2m1fn",
            DtFloatRef => "float32_ref",
            DtDoubleRef => "float64_ref",
            DtInt32Ref => "int32_ref",
            DtUint8Ref => "uint8_ref",
            DtInt16Ref => "int16_ref",
            DtInt8Ref => "int8_ref",
            DtStringRef => "string_ref",
            DtComplex64Ref => "complex64_ref",
            DtInt64Ref => "int64_ref",
            DtBoolRef => "bool_ref",
            DtQint8Ref => "qint8_ref",
            DtQuint8Ref => "quint8_ref",
            DtQint32Ref => "qint32_ref",
            DtBfloat16Ref => "bfloat16_ref",
            DtQint16Ref => "qint16_ref",
            DtQuint16Ref => "quint16_ref",
            DtUint16Ref => "uint16_ref",
            DtComplex128Ref => "complex128_ref",
            DtHalfRef => "float16_ref",
            DtResourceRef => "resource_ref",
            DtVariantRef => "variant_ref",
            DtUint32Ref => "uint32_ref",
            DtUint64Ref => "uint64_ref",
            DtFloat8E5m2Ref => "float8_e5m2_ref",
            DtFloat8E4m3fnRef => "float8_e4m3fn_ref",
            DtFloat8E4m3fnuzRef => "float8_e4m3fnuz_ref",
            DtFloat8E4m3b11fnuzRef => "float8_e4m3b11fnuz_ref",
            DtFloat8E5m2fnuzRef => "float8_e5m2fnuz_ref",
            DtInt4Ref => "int4_ref",
            DtUint4Ref => "uint4_ref",
            DtInt2Ref => "int2_ref",
            DtUint2Ref => "uint2_ref",
            DtFloat4E2m1fnRef => "float4_e2m1fn_ref",
        }
    }

    /// Inverse of [`DataType::name`]; also accepts the proto enum names
    /// (`DT_FLOAT`) and the aliases `half`, `float`, `double`.
    pub fn from_name(name: &str) -> Option<DataType> {
        if let Some(dt) = DataType::from_str_name(name) {
            return Some(dt);
        }
        match name {
            "half" => return Some(DataType::DtHalf),
            "float" => return Some(DataType::DtFloat),
            "double" => return Some(DataType::DtDouble),
            _ => {}
        }
        (0..=133)
            .filter_map(|v| DataType::try_from(v).ok())
            .find(|dt| dt.name() == name)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TensorShapeProto {
    /// A fully known shape with the given dimension sizes (empty = scalar).
    pub fn from_dims(dims: &[u64]) -> TensorShapeProto {
        TensorShapeProto {
            dim: dims
                .iter()
                .map(|&size| tensorflow::tensor_shape_proto::Dim {
                    size: i64::try_from(size).unwrap_or(i64::MAX),
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }
    }

    /// Number of dimensions, or `None` if the rank is unknown.
    pub fn rank(&self) -> Option<usize> {
        (!self.unknown_rank).then_some(self.dim.len())
    }

    /// The dimension sizes if the shape is fully known: `None` for unknown
    /// rank, any unknown (`-1`) dimension, or any invalid (< -1) dimension.
    pub fn dims(&self) -> Option<Vec<u64>> {
        if self.unknown_rank {
            return None;
        }
        self.dim
            .iter()
            .map(|d| u64::try_from(d.size).ok())
            .collect()
    }

    /// Whether rank and every dimension are known (and valid).
    pub fn is_fully_defined(&self) -> bool {
        self.dims().is_some()
    }

    /// Total number of elements (1 for a scalar), or `None` if the shape is
    /// not fully known, has invalid dimensions, or the product overflows u64.
    pub fn num_elements(&self) -> Option<u64> {
        if self.unknown_rank {
            return None;
        }
        self.dim.iter().try_fold(1u64, |acc, d| {
            let size = u64::try_from(d.size).ok()?;
            acc.checked_mul(size)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::tensorflow::*;
    use super::*;
    use prost::Message;
    use prost_reflect::{DynamicMessage, ReflectMessage};

    fn sample_node() -> NodeDef {
        let mut node = NodeDef {
            name: "dense/kernel/Read".into(),
            op: "Identity".into(),
            input: vec!["dense/kernel".into(), "^init".into()],
            device: "/device:CPU:0".into(),
            experimental_debug_info: Some(node_def::ExperimentalDebugInfo {
                original_node_names: vec!["orig".into()],
                original_func_names: vec!["f".into()],
            }),
            experimental_type: Some(FullTypeDef {
                type_id: FullTypeId::TftProduct as i32,
                args: vec![FullTypeDef {
                    type_id: FullTypeId::TftTensor as i32,
                    args: vec![],
                    attr: Some(full_type_def::Attr::S("x".into())),
                }],
                attr: None,
            }),
            ..Default::default()
        };
        let tensor = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto::from_dims(&[2, 2])),
            tensor_content: bytes::Bytes::from(vec![0u8; 16]),
            ..Default::default()
        };
        let attrs = [
            ("T", attr_value::Value::Type(DataType::DtFloat as i32)),
            ("value", attr_value::Value::Tensor(tensor)),
            ("s", attr_value::Value::S(bytes::Bytes::from_static(b"abc"))),
            ("i", attr_value::Value::I(-7)),
            ("f", attr_value::Value::F(0.5)),
            ("b", attr_value::Value::B(true)),
            ("p", attr_value::Value::Placeholder("T".into())),
            (
                "fn",
                attr_value::Value::Func(NameAttrList {
                    name: "body".into(),
                    attr: [(
                        "k".to_string(),
                        AttrValue {
                            value: Some(attr_value::Value::I(1)),
                        },
                    )]
                    .into(),
                }),
            ),
            (
                "list",
                attr_value::Value::List(attr_value::ListValue {
                    i: vec![1, 2, 3],
                    r#type: vec![DataType::DtInt32 as i32, DataType::DtHalf as i32],
                    shape: vec![TensorShapeProto {
                        dim: vec![],
                        unknown_rank: true,
                    }],
                    ..Default::default()
                }),
            ),
        ];
        for (k, v) in attrs {
            node.attr
                .insert(k.to_string(), AttrValue { value: Some(v) });
        }
        node
    }

    fn sample_graph() -> GraphDef {
        GraphDef {
            node: vec![
                sample_node(),
                NodeDef {
                    name: "init".into(),
                    op: "NoOp".into(),
                    ..Default::default()
                },
            ],
            versions: Some(VersionDef {
                producer: 1882,
                min_consumer: 12,
                bad_consumers: vec![],
            }),
            library: Some(FunctionDefLibrary {
                function: vec![FunctionDef {
                    signature: Some(OpDef {
                        name: "body".into(),
                        ..Default::default()
                    }),
                    ret: [("out".to_string(), "x:output:0".to_string())].into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn proto_node_def_binary_round_trip() {
        let node = sample_node();
        let bytes = node.encode_to_vec();
        let decoded = NodeDef::decode(bytes.as_slice()).expect("decode NodeDef");
        assert_eq!(decoded, node);
        assert_eq!(
            decoded.encode_to_vec(),
            bytes,
            "re-encoding is byte-identical"
        );
    }

    #[test]
    fn proto_graph_def_text_format_round_trip() {
        let graph = sample_graph();
        let text = graph.transcode_to_dynamic().to_text_format();
        assert!(text.contains("name:\"dense/kernel/Read\""), "{text}");
        let parsed = DynamicMessage::parse_text_format(graph.descriptor(), &text)
            .expect("parse text format");
        let back: GraphDef = parsed.transcode_to().expect("transcode to GraphDef");
        assert_eq!(back, graph);

        // Pretty (multi-line, TF-like) output parses back too.
        let opts = prost_reflect::text_format::FormatOptions::new().pretty(true);
        let pretty = graph
            .transcode_to_dynamic()
            .to_text_format_with_options(&opts);
        let parsed = DynamicMessage::parse_text_format(graph.descriptor(), &pretty).unwrap();
        assert_eq!(parsed.transcode_to::<GraphDef>().unwrap(), graph);
    }

    #[test]
    fn proto_parses_tf_style_pbtxt() {
        let text = r#"
node {
  name: "Const"
  op: "Const"
  attr { key: "dtype" value { type: DT_FLOAT } }
  attr {
    key: "value"
    value {
      tensor {
        dtype: DT_FLOAT
        tensor_shape { dim { size: 2 } }
        float_val: 1.5
        float_val: -2
      }
    }
  }
}
versions { producer: 1882 }
"#;
        let desc = DESCRIPTOR_POOL
            .get_message_by_name("tensorflow.GraphDef")
            .unwrap();
        let graph: GraphDef = DynamicMessage::parse_text_format(desc, text)
            .unwrap()
            .transcode_to()
            .unwrap();
        let node = &graph.node[0];
        let Some(attr_value::Value::Tensor(t)) = &node.attr["value"].value else {
            panic!("expected tensor attr");
        };
        assert_eq!(t.dtype(), DataType::DtFloat);
        assert_eq!(t.float_val, vec![1.5, -2.0]);
        assert_eq!(t.tensor_shape.as_ref().unwrap().num_elements(), Some(2));
        assert_eq!(graph.versions.unwrap().producer, 1882);
    }

    #[test]
    fn proto_map_ordering_is_deterministic() {
        let keys = ["zeta", "alpha", "mid", "beta", "_class"];
        let build = |order: &[&str]| {
            let mut sig = SignatureDef {
                method_name: "m".into(),
                ..Default::default()
            };
            for k in order {
                sig.inputs.insert(
                    k.to_string(),
                    TensorInfo {
                        encoding: Some(tensor_info::Encoding::Name(format!("{k}:0"))),
                        dtype: DataType::DtFloat as i32,
                        tensor_shape: None,
                    },
                );
            }
            sig
        };
        let a = build(&keys);
        let mut rev = keys;
        rev.reverse();
        let b = build(&rev);
        assert_eq!(a, b);
        let bytes = a.encode_to_vec();
        assert_eq!(
            bytes,
            b.encode_to_vec(),
            "binary encoding independent of insertion order"
        );
        // BTreeMap iterates sorted, so the map entries are encoded sorted by key.
        let keys_in_order: Vec<&String> = a.inputs.keys().collect();
        assert_eq!(keys_in_order, ["_class", "alpha", "beta", "mid", "zeta"]);
        let positions: Vec<usize> = ["_class", "alpha", "beta", "mid", "zeta"]
            .iter()
            .map(|k| find(&bytes, format!("{k}:0").as_bytes()).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));

        // Through text format and back (prost-reflect's DynamicMessage keeps
        // maps in a HashMap, so the *text* lists entries in arbitrary order;
        // converting back to the generated type restores sorted order).
        let text = a.transcode_to_dynamic().to_text_format();
        let back: SignatureDef = DynamicMessage::parse_text_format(a.descriptor(), &text)
            .unwrap()
            .transcode_to()
            .unwrap();
        assert_eq!(back.encode_to_vec(), bytes);
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn proto_descriptor_pool_has_key_messages() {
        for name in [
            "tensorflow.GraphDef",
            "tensorflow.MetaGraphDef",
            "tensorflow.SavedModel",
            "tensorflow.BundleHeaderProto",
            "tensorflow.BundleEntryProto",
            "tensorflow.CheckpointState",
            "tensorflow.OpList",
            "tensorflow.TrackableObjectGraph",
            "tensorflow.SaverDef",
            "tensorflow.VariableDef",
            "google.protobuf.Any",
        ] {
            assert!(
                DESCRIPTOR_POOL.get_message_by_name(name).is_some(),
                "{name} missing"
            );
        }
        assert_eq!(
            MetaGraphDef::default().descriptor().full_name(),
            "tensorflow.MetaGraphDef"
        );
    }

    #[test]
    fn proto_dtype_helpers() {
        assert_eq!(DataType::DtFloat.byte_size(), Some(4));
        assert_eq!(DataType::DtHalf.byte_size(), Some(2));
        assert_eq!(DataType::DtBfloat16.byte_size(), Some(2));
        assert_eq!(DataType::DtComplex128.byte_size(), Some(16));
        assert_eq!(DataType::DtFloat8E4m3fn.byte_size(), Some(1));
        assert_eq!(DataType::DtBool.byte_size(), Some(1));
        for dt in [
            DataType::DtString,
            DataType::DtVariant,
            DataType::DtResource,
            DataType::DtInt4,
            DataType::DtUint4,
            DataType::DtInvalid,
            DataType::DtFloatRef,
        ] {
            assert_eq!(dt.byte_size(), None, "{dt:?}");
        }
        assert_eq!(DataType::DtFloat.name(), "float32");
        assert_eq!(DataType::DtHalf.to_string(), "float16");
        assert_eq!(DataType::DtFloatRef.name(), "float32_ref");
        assert_eq!(DataType::DtFloatRef.base(), DataType::DtFloat);
        assert!(DataType::DtUint2Ref.is_ref() && !DataType::DtUint2.is_ref());
        assert_eq!(DataType::DtUint2Ref.base(), DataType::DtUint2);
        for v in (0..=33).chain(101..=133) {
            let dt = DataType::try_from(v).unwrap();
            assert_eq!(DataType::from_name(dt.name()), Some(dt));
            assert_eq!(DataType::from_name(dt.as_str_name()), Some(dt));
        }
        assert_eq!(DataType::from_name("nope"), None);
    }

    #[test]
    fn proto_shape_helpers() {
        let dim = |size: i64| tensor_shape_proto::Dim {
            size,
            name: String::new(),
        };
        let scalar = TensorShapeProto::default();
        assert_eq!(scalar.num_elements(), Some(1));
        assert_eq!(scalar.dims(), Some(vec![]));
        assert_eq!(scalar.rank(), Some(0));
        let s = TensorShapeProto::from_dims(&[3, 4, 5]);
        assert_eq!(s.dims(), Some(vec![3, 4, 5]));
        assert_eq!(s.num_elements(), Some(60));
        let zero = TensorShapeProto::from_dims(&[0, 7]);
        assert_eq!(zero.num_elements(), Some(0));
        let unknown_dim = TensorShapeProto {
            dim: vec![dim(-1), dim(3)],
            unknown_rank: false,
        };
        assert_eq!(unknown_dim.dims(), None);
        assert_eq!(unknown_dim.num_elements(), None);
        assert_eq!(unknown_dim.rank(), Some(2));
        let invalid = TensorShapeProto {
            dim: vec![dim(-5)],
            unknown_rank: false,
        };
        assert_eq!(invalid.num_elements(), None);
        let unknown_rank = TensorShapeProto {
            dim: vec![],
            unknown_rank: true,
        };
        assert_eq!(unknown_rank.num_elements(), None);
        assert_eq!(unknown_rank.rank(), None);
        let huge = TensorShapeProto {
            dim: vec![dim(i64::MAX), dim(4)],
            unknown_rank: false,
        };
        assert_eq!(huge.num_elements(), None);
    }

    #[test]
    fn proto_bytes_fields_are_zero_copy() {
        let tensor = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto::from_dims(&[1024])),
            tensor_content: bytes::Bytes::from(vec![7u8; 4096]),
            ..Default::default()
        };
        let encoded = bytes::Bytes::from(tensor.encode_to_vec());
        let decoded = TensorProto::decode(encoded.clone()).unwrap();
        let range = encoded.as_ptr_range();
        assert!(
            range.contains(&decoded.tensor_content.as_ptr()),
            "tensor_content should borrow"
        );
    }
}
