//! TFLite flatbuffers, read and rewritten natively: `accelerate` stores the
//! weights of fully connected layers sparse, for TFLite's sparse kernel.

mod accelerate;
mod patch;
mod read;
pub mod schema;

use std::path::{Path, PathBuf};

pub use accelerate::{accelerate, default_min_sparsity, AccelerateOptions, AccelerateReport, Decision, LayerReport};

/// Why the bytes are not a TFLite model tf-strip can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    pub fn in_file(self, path: &Path) -> TfLiteError {
        TfLiteError::Invalid { path: path.to_path_buf(), reason: self.0 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TfLiteError {
    #[error("{}: not a valid TFLite model: {reason}", .path.display())]
    Invalid { path: PathBuf, reason: String },
    /// Not a TFLite file at all (a GraphDef, a zip, nothing).
    #[error(transparent)]
    Foreign(#[from] crate::filekind::ForeignFile),
}

/// Checks `bytes` as `accelerate` reads them (every table, vector and index
/// in range), so that a damaged file is refused here, with the reason,
/// before a runtime that trusts it is given it.
pub fn check(bytes: &[u8]) -> Result<(), Invalid> {
    read::Model::read(bytes).map(|_| ())
}

#[cfg(test)]
mod tests;
