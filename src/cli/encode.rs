//! `tf-strip encode IN.pb OUT`, `tf-strip encode --tf_loadable IN.pb OUT.pb`
//! and `tf-strip decode IN OUT.pb`; the per-tensor encoding table of
//! `inspect --encodings`, and `inspect` of a container.

use std::path::{Path, PathBuf};

use clap::Args;

use super::render::{container_table, fraction, human_bytes, print_json, table};
use super::signature::{render_saved_model, OutputFormat, SignatureArgs};
use super::CliError;
use tf_strip::transform::loadable::{LoadableOptions, LoadableReport};
use tf_strip::codec::{EncodeOptions, EncodeReport};
use tf_strip::jobs::{decode_file, encode_file, EncodeJob, Encoded, Encoding};

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// The GraphDef (.pb) to encode.
    input: PathBuf,
    /// The container (or, with --tf_loadable, the GraphDef or SavedModel directory) to write.
    output: PathBuf,
    /// Write a GraphDef that stock TensorFlow loads, each large sparse constant
    /// stored as a packed bitmask and its nonzeros and rebuilt once per session.
    #[arg(long = "tf_loadable")]
    tf_loadable: bool,
    /// zstd level of the zero-pattern and value streams.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(zstd_levels()))]
    level: i32,
    /// Store every -0.0 as +0.0 (same values; decode then restores the .pb with
    /// those sign bits cleared, not byte-identical). Saves one bit per negative zero.
    #[arg(long = "canonical_zeros", conflicts_with = "tf_loadable")]
    canonical_zeros: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// With --tf_loadable: `saved_model` writes OUTPUT as a SavedModel directory
    /// serving the rewritten graph (default outputs: the graph's sinks).
    #[arg(long = "output_format", value_enum, default_value_t)]
    output_format: OutputFormat,
    #[command(flatten)]
    signature: SignatureArgs,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The container written by `tf-strip encode`.
    input: PathBuf,
    /// The .pb to write (byte-identical to the one encoded).
    output: PathBuf,
    /// Print the timings as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// zstd's own levels: negative ones are its fast modes, 0 its default.
fn zstd_levels() -> std::ops::RangeInclusive<i64> {
    let levels = zstd::compression_level_range();
    i64::from(*levels.start())..=i64::from(*levels.end())
}

pub fn encode(args: EncodeArgs) -> Result<(), CliError> {
    let signature = args.signature.spec(args.output_format, &[])?;
    let encoding = match (args.tf_loadable, args.output_format) {
        (false, OutputFormat::Pb) => Encoding::Container(EncodeOptions {
            level: args.level,
            canonical_zeros: args.canonical_zeros,
            ..Default::default()
        }),
        (false, _) => {
            return Err(CliError::Usage(
                "--output_format applies to --tf_loadable (a container is always the container format)".into(),
            ))
        }
        (true, OutputFormat::Pb) => Encoding::Loadable(LoadableOptions::default()),
        (true, OutputFormat::SavedModel) => Encoding::LoadableSavedModel(LoadableOptions::default(), signature),
        (true, OutputFormat::Pbtxt) => {
            return Err(CliError::Usage(
                "--tf_loadable writes a binary GraphDef or a SavedModel (--output_format=pb or saved_model)".into(),
            ))
        }
    };
    let job = EncodeJob { input: args.input.clone(), output: args.output.clone(), encoding };
    let summary = encode_file(&job)?;
    note_text_input(&args.input, summary.encoded.from_text());
    if let Encoded::LoadableSavedModel { saved_model, .. } = &summary.encoded {
        for w in &saved_model.warnings {
            eprintln!("tf-strip: warning: {w}");
        }
    }
    if args.json {
        match &summary.encoded {
            // Printed through a `serde_json::Value` since it was first
            // written, so with its keys sorted; scripts may diff it.
            Encoded::LoadableSavedModel { .. } => print_json(&serde_json::to_value(&summary).unwrap_or_default()),
            _ => print_json(&summary),
        }
        return Ok(());
    }
    match &summary.encoded {
        Encoded::Container(report) => eprint!("{}", render_container(report, summary.seconds, &args.output)),
        Encoded::Loadable(report) => eprint!("{}", render_loadable(report, summary.seconds, &args.output)),
        Encoded::LoadableSavedModel { loadable, saved_model } => {
            eprint!("{}", render_loadable(loadable, summary.seconds, &args.output));
            eprint!("{}", render_saved_model(saved_model));
        }
    }
    Ok(())
}

fn render_loadable(report: &LoadableReport, seconds: f64, output: &Path) -> String {
    let rows: Vec<Vec<String>> = report
        .rewritten
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.dtype.clone(),
                r.elements.to_string(),
                fraction(r.elements - r.nonzeros, r.elements),
                human_bytes(r.dense_bytes),
                human_bytes(r.sparse_bytes),
            ]
        })
        .collect();
    let mut s = table(&["constant", "dtype", "elements", "zeros", "dense", "mask+values"], &rows);
    s.push_str(&format!(
        "{} -> {} ({} constants rebuilt once per session); {:.3} s\nwritten to {}\n",
        human_bytes(report.input_bytes),
        human_bytes(report.output_bytes),
        report.rewritten.len(),
        seconds,
        output.display()
    ));
    s
}

fn render_container(report: &EncodeReport, seconds: f64, output: &Path) -> String {
    let mut s = container_table(&report.tensors);
    s.push_str(&format!(
        "{} -> {} (graph skeleton {} -> {}; bound: mask entropy + raw nonzeros {}, + signs of -0.0 zeros {}); {:.3} s \
         (read {:.3} s, encode {:.3} s, write {:.3} s)\nwritten to {}\n",
        human_bytes(report.input_bytes),
        human_bytes(report.output_bytes),
        human_bytes(report.skeleton_bytes),
        human_bytes(report.skeleton_stored),
        human_bytes(report.bound() as u64),
        human_bytes(report.zero_sign_bound() as u64),
        seconds,
        report.read_seconds,
        report.encode_seconds,
        report.write_seconds,
        output.display()
    ));
    s
}

/// The output is binary whatever the input was; say so rather than surprise.
fn note_text_input(input: &Path, from_text: bool) {
    if from_text {
        eprintln!(
            "note: {} is a text GraphDef; what is written holds its binary form (decode gives a binary .pb)",
            input.display()
        );
    }
}

pub fn decode(args: DecodeArgs) -> Result<(), CliError> {
    let r = decode_file(&args.input, &args.output)?;
    if args.json {
        print_json(&r);
        return Ok(());
    }
    eprintln!(
        "decoded {} ({}) in {:.3} s (read {:.3} s, decode {:.3} s, write {:.3} s) to {}",
        args.input.display(),
        human_bytes(r.output_bytes),
        r.seconds,
        r.read_seconds,
        r.decode_seconds,
        r.write_seconds,
        args.output.display()
    );
    Ok(())
}
