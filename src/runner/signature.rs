//! The placeholders given outputs need,
//! with their dtypes and shapes made concrete.

use super::{runnable, ModelFault, Result, RunnerError, Source, UsageError};
use crate::graph::{reachable_from, InputRef};
use crate::proto::tensorflow::attr_value::Value;
use crate::proto::tensorflow::{DataType, NodeDef, TensorShapeProto};

/// `node` or `node:N` as a fetch or feed name, `node:N`.
pub(super) fn tensor_name(name: &str) -> Result<String> {
    match InputRef::parse(name).filter(|r| !r.control) {
        Some(r) => Ok(InputRef::tensor_name(r.node, r.port)),
        None => Err(RunnerError::Usage(UsageError::TensorName(name.to_string()))),
    }
}

/// A placeholder to feed: its name, dtype and shape as the graph declares it
/// (`None` = unknown rank, `-1` = unknown dimension).
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub dtype: DataType,
    pub shape: Option<Vec<i64>>,
}

/// The placeholders `fetches` depend on, through data and control edges, in
/// name order. `PlaceholderWithDefault` is left to its default. None for a
/// `.tflite`, whose inputs `prepare` pairs with the graphs'.
pub fn placeholders(source: &Source, fetches: &[String]) -> Result<Vec<InputSpec>> {
    let Some(graph) = source.graph() else { return Ok(Vec::new()) };
    let needed = reachable_from(graph, fetches).map_err(|e| e.in_file(&source.path))?;
    let mut found: Vec<&NodeDef> = graph
        .nodes()
        .iter()
        .filter(|n| matches!(n.op.as_str(), "Placeholder" | "PlaceholderV2") && needed.contains(&n.name))
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.into_iter().map(|n| spec(source, n)).collect()
}

fn spec(source: &Source, node: &NodeDef) -> Result<InputSpec> {
    let dtype = match node.attr.get("dtype").and_then(|a| a.value.as_ref()) {
        Some(Value::Type(t)) => DataType::try_from(*t).unwrap_or(DataType::DtInvalid),
        _ => DataType::DtInvalid,
    };
    if !runnable(dtype) {
        return Err(RunnerError::Model {
            path: source.path.clone(),
            fault: ModelFault::Unfeedable { placeholder: node.name.clone(), dtype },
        });
    }
    let declared = |shape: &TensorShapeProto| (!shape.unknown_rank).then(|| shape.dim.iter().map(|d| d.size).collect());
    let from_attr = match node.attr.get("shape").and_then(|a| a.value.as_ref()) {
        Some(Value::Shape(s)) => declared(s),
        _ => None,
    };
    let from_output_shapes = match node.attr.get("_output_shapes").and_then(|a| a.value.as_ref()) {
        Some(Value::List(l)) => l.shape.first().and_then(declared),
        _ => None,
    };
    Ok(InputSpec { name: node.name.clone(), dtype, shape: from_attr.or(from_output_shapes) })
}

/// The concrete shape of every input: `overrides` (`--input_shapes`) first,
/// else the declared shape with a leading unknown dimension set to `batch`.
/// Any other unknown dimension is an error naming the placeholder.
pub fn resolve_shapes(specs: &[InputSpec], overrides: &[(String, Vec<u64>)], batch: u64) -> Result<Vec<Vec<u64>>> {
    for (name, _) in overrides {
        if !specs.iter().any(|s| &s.name == name) {
            let placeholders = specs.iter().map(|s| s.name.clone()).collect();
            return Err(RunnerError::Usage(UsageError::UnneededInput { flag: "--input_shapes", name: name.clone(), placeholders }));
        }
    }
    specs
        .iter()
        .map(|s| {
            let given = overrides.iter().rev().find(|(n, _)| n == &s.name).map(|(_, d)| d);
            let declared = s.shape.as_deref();
            match (given, declared) {
                (Some(g), Some(d)) => {
                    let fits = g.len() == d.len() && g.iter().zip(d).all(|(&g, &d)| d < 0 || g as i64 == d);
                    if fits {
                        Ok(g.clone())
                    } else {
                        Err(RunnerError::Usage(UsageError::ShapeMismatch { name: s.name.clone(), given: g.clone(), declared: d.to_vec() }))
                    }
                }
                (Some(g), None) => Ok(g.clone()),
                (None, Some(d)) => d
                    .iter()
                    .enumerate()
                    .map(|(i, &size)| match (i, u64::try_from(size)) {
                        (_, Ok(size)) => Ok(size),
                        (0, Err(_)) => Ok(batch),
                        (dim, Err(_)) => Err(RunnerError::Usage(UsageError::UnknownDimension { name: s.name.clone(), dim, declared: d.to_vec() })),
                    })
                    .collect(),
                (None, None) => Err(RunnerError::Usage(UsageError::UnknownRank(s.name.clone()))),
            }
        })
        .collect()
}
