//! The serving signature of a frozen graph: which tensors go in and come out,
//! under which keys, with their dtypes and shapes as the graph declares them.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::SavedModelError;
use crate::graph::{reachable_from, sinks, Attrs, Graph, InputRef};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{tensor_info, DataType, MetaGraphDef, NodeDef, SignatureDef, TensorInfo, TensorShapeProto};
use crate::proto::tensorflow::tensor_shape_proto::Dim;
use crate::graph::Statics;

/// The signature key TensorFlow Serving and `tf.saved_model.load` use by default.
pub const SERVING_KEY: &str = "serving_default";
/// Predict: named tensors in, named tensors out.
pub const PREDICT_METHOD: &str = "tensorflow/serving/predict";

/// What the signature maps: (key, tensor) pairs, tensors as `node` or `node:N`.
#[derive(Debug, Clone, Default)]
pub struct SignatureSpec {
    /// Empty: every placeholder the outputs depend on, keyed by its name.
    pub inputs: Vec<(String, String)>,
    /// Empty: the graph's sinks.
    pub outputs: Vec<(String, String)>,
}

impl SignatureSpec {
    /// Outputs named by node or tensor (`--output_node_names`), each keyed by
    /// its name made a key ([`key_for`]); inputs found from them.
    pub fn with_outputs(names: &[String]) -> Self {
        SignatureSpec { inputs: Vec::new(), outputs: names.iter().map(|n| (key_for(n), n.clone())).collect() }
    }
}

/// A tensor name as a signature key: `node:0` is `node`, `node:N` is
/// `node_N`, and every character other than a letter, digit or `_` becomes
/// `_` (`softmax_linear/softmax_linear` is `softmax_linear_softmax_linear`),
/// so the key is a Python keyword argument of `signatures["serving_default"]`
/// and a plain JSON key for TensorFlow Serving's REST API.
pub fn key_for(tensor: &str) -> String {
    let name = match InputRef::parse(tensor) {
        Some(r) if !r.control && r.port == 0 => r.node.to_string(),
        Some(r) if !r.control => format!("{}_{}", r.node, r.port),
        _ => tensor.to_string(),
    };
    let mut key: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        key.insert(0, '_');
    }
    key
}

/// The `serving_default` signature of `graph`, and warnings about tensors
/// whose dtype the graph does not say.
pub fn serving_signature(graph: &Graph, spec: &SignatureSpec) -> Result<(SignatureDef, Vec<String>), SavedModelError> {
    let outputs = match spec.outputs.is_empty() {
        true => sinks(graph).iter().map(|t| (key_for(t), t.clone())).collect(),
        false => spec.outputs.clone(),
    };
    if outputs.is_empty() {
        return Err(SavedModelError::Signature("the graph has no outputs to serve".into()));
    }
    let fetches: Vec<String> = outputs.iter().map(|(_, t)| tensor_ref(graph, t).map(|(node, _)| node.name.clone())).collect::<Result<_, _>>()?;
    let inputs = match spec.inputs.is_empty() {
        true => {
            let needed = reachable_from(graph, &fetches)?;
            let mut found: Vec<&str> = graph
                .nodes()
                .iter()
                .filter(|n| matches!(n.op.as_str(), "Placeholder" | "PlaceholderV2") && needed.contains(&n.name))
                .map(|n| n.name.as_str())
                .collect();
            found.sort_unstable();
            found.into_iter().map(|n| (key_for(n), n.to_string())).collect()
        }
        false => spec.inputs.clone(),
    };
    let mut warnings = Vec::new();
    // Shapes the graph does not record (a stripped graph has no
    // `_output_shapes`) are inferred from the placeholders and constants.
    let inferred = Statics::infer(graph, &graph.topological_order());
    let mut side = |pairs: &[(String, String)], what: &str| -> Result<BTreeMap<String, TensorInfo>, SavedModelError> {
        let mut map = BTreeMap::new();
        let mut tensors = HashSet::new();
        for (key, tensor) in pairs {
            let (node, port) = tensor_ref(graph, tensor)?;
            let info = tensor_info(graph, &inferred, node, port);
            if info.dtype == DataType::DtInvalid as i32 {
                warnings.push(format!(
                    "signature {what} `{key}` ({}:{port}): the graph does not say its dtype (op {}); it is recorded as DT_INVALID",
                    node.name, node.op
                ));
            }
            if !tensors.insert(InputRef::tensor_name(&node.name, port)) {
                return Err(SavedModelError::Signature(format!("{what} `{}:{port}` is listed twice", node.name)));
            }
            if map.insert(key.clone(), info).is_some() {
                return Err(SavedModelError::Signature(format!(
                    "two {what}s have the key `{key}`; name them with --signature_{what}s KEY=TENSOR,..."
                )));
            }
        }
        Ok(map)
    };
    let signature = SignatureDef {
        inputs: side(&inputs, "input")?,
        outputs: side(&outputs, "output")?,
        method_name: PREDICT_METHOD.into(),
        defaults: BTreeMap::new(),
    };
    Ok((signature, warnings))
}

/// The node and port `tensor` names, which must exist.
fn tensor_ref<'g>(graph: &'g Graph, tensor: &str) -> Result<(&'g NodeDef, u32), SavedModelError> {
    let r = InputRef::parse(tensor)
        .filter(|r| !r.control)
        .ok_or_else(|| SavedModelError::Signature(format!("`{tensor}` is not a tensor name (`node` or `node:N`)")))?;
    Ok((graph.require(r.node)?, r.port))
}

fn tensor_info(graph: &Graph, inferred: &Statics, node: &NodeDef, port: u32) -> TensorInfo {
    let inferred = || {
        let dims = inferred.shape(graph.position(&node.name)?, port)?;
        Some(TensorShapeProto { dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(), unknown_rank: false })
    };
    TensorInfo {
        encoding: Some(tensor_info::Encoding::Name(InputRef::tensor_name(&node.name, port))),
        dtype: output_dtype(node, port) as i32,
        tensor_shape: Some(output_shape(node, port).or_else(inferred).unwrap_or(TensorShapeProto { dim: Vec::new(), unknown_rank: true })),
    }
}

/// The dtype of a node's output as its attributes say it, without the op's
/// definition: the one type attribute ops with a single output (or one type
/// for all outputs) carry. `DT_INVALID` when none does.
fn output_dtype(node: &NodeDef, port: u32) -> DataType {
    let single_output_attrs = ["dtype", "T", "out_type", "output_type", "DstT"];
    let keys: &[&str] = match port {
        0 => &single_output_attrs,
        // Ops whose every output has type T.
        _ if matches!(node.op.as_str(), "Switch" | "RefSwitch" | "Split" | "SplitV" | "Unpack") => &["T"],
        _ => &[],
    };
    keys.iter().find_map(|k| node.dtype_attr(k).ok().flatten()).map_or(DataType::DtInvalid, |d| d.base())
}

/// A placeholder's declared `shape`, else what `_output_shapes` recorded.
fn output_shape(node: &NodeDef, port: u32) -> Option<TensorShapeProto> {
    let declared = match node.attr_value("shape") {
        Some(Value::Shape(s)) if node.op.starts_with("Placeholder") => Some(s.clone()),
        _ => None,
    };
    let recorded = || match node.attr_value("_output_shapes") {
        Some(Value::List(l)) => l.shape.get(port as usize).cloned(),
        _ => None,
    };
    declared.or_else(recorded)
}

/// One signature input or output as `inspect` and the strip report show it.
#[derive(Debug, Clone, Serialize)]
pub struct TensorReport {
    pub key: String,
    pub name: String,
    pub dtype: String,
    /// `None`: unknown rank; `-1`: an unknown dimension.
    pub shape: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub key: String,
    pub method_name: String,
    pub inputs: Vec<TensorReport>,
    pub outputs: Vec<TensorReport>,
}

/// Every signature of a meta graph, in key order.
pub fn describe_signatures(meta: &MetaGraphDef) -> Vec<SignatureReport> {
    meta.signature_def.iter().map(|(key, s)| describe_signature(key, s)).collect()
}

pub fn describe_signature(key: &str, s: &SignatureDef) -> SignatureReport {
    let side = |map: &BTreeMap<String, TensorInfo>| {
        map.iter()
            .map(|(key, info)| TensorReport {
                key: key.clone(),
                name: match &info.encoding {
                    Some(tensor_info::Encoding::Name(n)) => n.clone(),
                    Some(tensor_info::Encoding::CooSparse(c)) => format!("sparse {}", c.values_tensor_name),
                    Some(tensor_info::Encoding::CompositeTensor(_)) => "composite".into(),
                    None => String::new(),
                },
                dtype: DataType::try_from(info.dtype).unwrap_or(DataType::DtInvalid).name().to_string(),
                shape: info.tensor_shape.as_ref().and_then(|s| s.rank().map(|_| s.dim.iter().map(|d| d.size).collect())),
            })
            .collect()
    };
    SignatureReport { key: key.to_string(), method_name: s.method_name.clone(), inputs: side(&s.inputs), outputs: side(&s.outputs) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeBuilder;
    use crate::proto::tensorflow::GraphDef;

    fn graph() -> Graph {
        let x = NodeBuilder::new("Placeholder").ty("dtype", DataType::DtFloat).shape("shape", &[]).build("in/x");
        let unused = NodeBuilder::new("Placeholder").ty("dtype", DataType::DtInt32).build("labels");
        let y = NodeBuilder::new("Softmax").input("in/x").ty("T", DataType::DtFloat).build("out/probs");
        let k = NodeBuilder::new("TopKV2").input("out/probs").ty("T", DataType::DtFloat).build("top");
        Graph::new(GraphDef { node: vec![x, unused, y, k], ..Default::default() }).unwrap()
    }

    #[test]
    fn keys_are_identifiers() {
        assert_eq!(key_for("softmax_linear/softmax_linear"), "softmax_linear_softmax_linear");
        assert_eq!(key_for("out:0"), "out");
        assert_eq!(key_for("top:1"), "top_1");
        assert_eq!(key_for("3d-conv"), "_3d_conv");
    }

    #[test]
    fn inputs_are_the_placeholders_the_outputs_need() {
        let (sig, warnings) = serving_signature(&graph(), &SignatureSpec::with_outputs(&["out/probs".into()])).unwrap();
        assert_eq!(sig.method_name, PREDICT_METHOD);
        assert_eq!(sig.inputs.keys().collect::<Vec<_>>(), ["in_x"]);
        let x = &sig.inputs["in_x"];
        assert_eq!((x.dtype, x.tensor_shape.as_ref().unwrap().unknown_rank), (DataType::DtFloat as i32, false));
        assert_eq!(x.encoding, Some(tensor_info::Encoding::Name("in/x:0".into())));
        assert_eq!(sig.outputs["out_probs"].dtype, DataType::DtFloat as i32);
        // Softmax keeps its input's shape, which the placeholder declares.
        assert_eq!(sig.outputs["out_probs"].tensor_shape, x.tensor_shape);
        assert!(warnings.is_empty());
    }

    #[test]
    fn given_keys_and_unknown_dtypes() {
        let spec = SignatureSpec {
            inputs: vec![("pixels".into(), "in/x:0".into())],
            outputs: vec![("scores".into(), "top:0".into()), ("classes".into(), "top:1".into())],
        };
        let (sig, warnings) = serving_signature(&graph(), &spec).unwrap();
        assert_eq!(sig.inputs.keys().collect::<Vec<_>>(), ["pixels"]);
        assert_eq!(sig.outputs["classes"].dtype, DataType::DtInvalid as i32);
        assert!(warnings.len() == 1 && warnings[0].contains("`classes`"), "{warnings:?}");
    }

    #[test]
    fn default_outputs_are_the_sinks_and_bad_names_are_errors() {
        let (sig, _) = serving_signature(&graph(), &SignatureSpec::default()).unwrap();
        assert_eq!(sig.outputs.keys().collect::<Vec<_>>(), ["labels", "top"]);
        let clash = SignatureSpec { outputs: vec![("a".into(), "top:0".into()), ("a".into(), "top:1".into())], ..Default::default() };
        assert!(serving_signature(&graph(), &clash).unwrap_err().to_string().contains("key `a`"));
        let missing = SignatureSpec::with_outputs(&["out/prob".into()]);
        assert!(serving_signature(&graph(), &missing).unwrap_err().to_string().contains("nearest names: out/probs"));
    }
}
