//! `inject` from file to file: a training graph in, the same graph with
//! contrib.model_pruning's machinery out.

use std::path::Path;

use super::JobError;
use crate::graph::{Format, ModelFile};
use crate::model::{Model, ModelKind};
use crate::overwrite::check_not_an_input;
use crate::transform::{inject, InjectOptions, InjectReport};
use crate::error::FileError;
use crate::filekind::FileKind;

/// Injects pruning into the training graph in `input` (a `.meta`
/// MetaGraphDef or a GraphDef) and writes it to `output`, in the format its
/// name says. A graph in which nothing changes is copied byte for byte: a
/// re-encoding may order fields differently from TensorFlow's writer.
pub fn inject_file(input: &Path, output: &Path, options: &InjectOptions) -> Result<InjectReport, JobError> {
    check_not_an_input(output, &[ModelFile::file_of(input)])?;
    let mut model = Model::load(input)?;
    if model.kind == ModelKind::SavedModel {
        return Err(JobError::InjectSavedModel { path: model.path });
    }
    let path = model.path.clone();
    let report = inject(&mut model, options).map_err(|source| JobError::Inject { path: path.clone(), source })?;
    let format = Format::from_path(output);
    // A container's bytes are not the GraphDef it holds.
    let unchanged = report.weights.is_empty() && Format::from_path(&path) == format && FileKind::of(&path) != FileKind::Container;
    if !unchanged {
        model.write(output, format)?;
    } else {
        let bytes = std::fs::read(&path).map_err(|source| JobError::Io(FileError { path: path.clone(), source }))?;
        crate::atomic::write_file(output, &bytes).map_err(|source| JobError::Io(FileError { path: output.to_path_buf(), source }))?;
    }
    Ok(report)
}
