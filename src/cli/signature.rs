//! `--output_format` and the serving signature flags, shared by strip and
//! compact and `encode --tf-loadable`.

use clap::{Args, ValueEnum};

use super::render::{human_bytes, signature_table};
use super::CliError;
use tf_strip::saved_model::{key_for, SavedModelSummary, SignatureSpec};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A binary GraphDef.
    #[default]
    Pb,
    /// A text GraphDef (as --as_text).
    Pbtxt,
    /// A SavedModel directory (saved_model.pb, variables/) for TensorFlow Serving.
    #[value(name = "saved_model")]
    SavedModel,
}

impl OutputFormat {
    /// The format `--as_text` asks for on top of this one.
    pub fn with_as_text(self, as_text: bool) -> Result<OutputFormat, CliError> {
        match (self, as_text) {
            (OutputFormat::SavedModel, true) => {
                Err(CliError::Usage("--as_text writes a GraphDef; it cannot be used with --output_format=saved_model".into()))
            }
            (OutputFormat::Pb, true) => Ok(OutputFormat::Pbtxt),
            (format, _) => Ok(format),
        }
    }
}

#[derive(Debug, Args, Default)]
pub struct SignatureArgs {
    /// With --output_format=saved_model: the serving signature's inputs as
    /// KEY=TENSOR (comma-separated or repeated; a bare TENSOR is keyed by its
    /// name). Default: every placeholder the outputs need, keyed by its name.
    #[arg(long = "signature_inputs", value_name = "KEY=TENSOR", value_delimiter = ',')]
    inputs: Vec<String>,
    /// With --output_format=saved_model: the signature's outputs as KEY=TENSOR.
    /// Default: the output nodes, keyed by their names (`/` becomes `_`).
    #[arg(long = "signature_outputs", value_name = "KEY=TENSOR", value_delimiter = ',')]
    outputs: Vec<String>,
}

fn pairs(values: &[String], flag: &str) -> Result<Vec<(String, String)>, CliError> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((key, tensor)) if !key.is_empty() && !tensor.is_empty() => Ok((key.to_string(), tensor.to_string())),
            Some(_) => Err(CliError::Usage(format!("--{flag}: `{v}` is not KEY=TENSOR"))),
            None => Ok((key_for(v), v.clone())),
        })
        .collect()
}

impl SignatureArgs {
    /// The signature; its outputs `default_outputs` unless given.
    pub fn spec(&self, format: OutputFormat, default_outputs: &[String]) -> Result<SignatureSpec, CliError> {
        if format != OutputFormat::SavedModel && !(self.inputs.is_empty() && self.outputs.is_empty()) {
            return Err(CliError::Usage(
                "--signature_inputs and --signature_outputs describe a SavedModel: add --output_format=saved_model".into(),
            ));
        }
        let mut spec = SignatureSpec::with_outputs(default_outputs);
        spec.inputs = pairs(&self.inputs, "signature_inputs")?;
        if !self.outputs.is_empty() {
            spec.outputs = pairs(&self.outputs, "signature_outputs")?;
        }
        Ok(spec)
    }
}

/// What a SavedModel was written with, for a report on stderr.
pub fn render_saved_model(s: &SavedModelSummary) -> String {
    format!(
        "SavedModel written to {} (saved_model.pb {}, tag serve):\n{}",
        s.dir,
        human_bytes(s.bytes),
        signature_table(std::slice::from_ref(&s.signature))
    )
}
