//! What strip and compact report, in one shape: the files read, the time,
//! the warnings, what was written, and the passes' reports.

use super::Written;
use crate::transform::TensorListReport;

/// A graph job's report; `Inputs` names the files read and `Report` is the
/// report of the job's own passes. Its JSON is flat: the inputs', the
/// output's and the report's fields beside `bytes_in`, `seconds` and
/// `warnings`, as scripts read it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary<Inputs, Report> {
    #[serde(flatten)]
    pub inputs: Inputs,
    /// Bytes of the files read.
    pub bytes_in: u64,
    pub seconds: f64,
    /// For the user: about the inputs (a `checkpoint` file naming a path on
    /// another machine), the passes (nothing compacted) and the output.
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub written: Written,
    #[serde(flatten)]
    pub report: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensor_lists: Option<TensorListReport>,
}
