//! What the user has to add or fix on the command line of `verify` and
//! `bench`: each case with the names and numbers it is about.

use crate::proto::tensorflow::DataType;

const SHAPE_HINT: &str = "(--batch sets only a leading unknown dimension)";

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("`{0}` is not a tensor name (`node` or `node:N`)")]
    TensorName(String),
    #[error("every model is a checkpoint, whose training graph has no obvious outputs: name them with --outputs")]
    NoDefaultOutputs,
    #[error("no outputs to compare: name them with --outputs")]
    NoOutputs,
    /// `flag` names a placeholder that no output reads.
    #[error("{flag} names `{name}`, which the outputs do not need (their placeholders: {})", .placeholders.join(", "))]
    UnneededInput { flag: &'static str, name: String, placeholders: Vec<String> },
    #[error("--inputs gives `{name}` as {given}, but the placeholder is {dtype}")]
    InputType { name: String, given: DataType, dtype: DataType },
    #[error(
        "input `{name}` of shape [{}] ({dtype}) would take {}, more than can be allocated; lower --batch or --input_shapes",
        join(.shape), .bytes.map_or("over 2^64 bytes".to_string(), |b| format!("{b} bytes"))
    )]
    InputTooLarge { name: String, shape: Vec<u64>, dtype: DataType, bytes: Option<u64> },
    #[error("--input_shapes gives `{name}` the shape [{}], which does not fit its declared {}", join(.given), show(.declared))]
    ShapeMismatch { name: String, given: Vec<u64>, declared: Vec<i64> },
    #[error("placeholder `{name}`: dimension {dim} of {} is unknown; give its shape with --input_shapes {name}:D0,D1,... {SHAPE_HINT}", show(.declared))]
    UnknownDimension { name: String, dim: usize, declared: Vec<i64> },
    #[error("placeholder `{0}`: its rank is unknown; give its shape with --input_shapes {0}:D0,D1,... {SHAPE_HINT}")]
    UnknownRank(String),
    #[error("verify needs two models or more: the reference first")]
    TooFewModels,
    #[error("--iterations makes random input sets; it cannot go with --inputs")]
    IterationsWithInputs,
    #[error("bench needs a model and batch sizes of at least 1")]
    NothingToBench,
    #[error("bench needs at least 1 timed run, or a finite time of more than 0 seconds")]
    NoTimedRuns,
}

fn join(dims: &[u64]) -> String {
    dims.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// A declared shape, `?` for an unknown dimension.
pub(super) fn show(dims: &[i64]) -> String {
    let dims: Vec<String> = dims.iter().map(|&d| if d < 0 { "?".into() } else { d.to_string() }).collect();
    format!("shape [{}]", dims.join(","))
}
