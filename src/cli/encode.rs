//! `tf-strip encode IN.pb OUT`, `tf-strip encode --tf_loadable IN.pb OUT.pb`
//! and `tf-strip decode IN OUT.pb`; the per-tensor encoding table of
//! `inspect --encodings`, and `inspect` of a container.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::render::{container_table, fraction, human_bytes, print_json, table};
use super::signature::{render_saved_model, OutputFormat, SignatureArgs};
use super::CliError;
use tf_strip::codec::{self, loadable, EncodeOptions};
use tf_strip::jobs::encode_loadable_saved_model;

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
    let start = Instant::now();
    let signature = args.signature.spec(args.output_format, &[])?;
    if args.output_format != OutputFormat::Pb && !args.tf_loadable {
        return Err(CliError::Usage(
            "--output_format applies to --tf_loadable (a container is always the container format)".into(),
        ));
    }
    if args.tf_loadable {
        let options = loadable::LoadableOptions::default();
        let (report, saved) = match args.output_format {
            OutputFormat::SavedModel => {
                let (report, saved) = encode_loadable_saved_model(&args.input, &args.output, &options, &signature)?;
                (report, Some(saved))
            }
            OutputFormat::Pb => (codec::encode_loadable_file(&args.input, &args.output, &options)?, None),
            OutputFormat::Pbtxt => {
                return Err(CliError::Usage(
                    "--tf_loadable writes a binary GraphDef or a SavedModel (--output_format=pb or saved_model)".into(),
                ))
            }
        };
        note_text_input(&args.input, report.from_text);
        for w in saved.iter().flat_map(|s| &s.warnings) {
            eprintln!("tf-strip: warning: {w}");
        }
        if args.json {
            match &saved {
                Some(saved) => print_json(&serde_json::json!({ "loadable": report, "saved_model": saved })),
                None => print_json(&report),
            }
            return Ok(());
        }
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
        eprint!(
            "{}",
            table(
                &["constant", "dtype", "elements", "zeros", "dense", "mask+values"],
                &rows
            )
        );
        eprintln!(
            "{} -> {} ({} constants rebuilt once per session); {:.3} s\nwritten to {}",
            human_bytes(report.input_bytes),
            human_bytes(report.output_bytes),
            report.rewritten.len(),
            start.elapsed().as_secs_f64(),
            args.output.display()
        );
        if let Some(saved) = &saved {
            eprint!("{}", render_saved_model(saved));
        }
        return Ok(());
    }
    let opts = EncodeOptions {
        level: args.level,
        canonical_zeros: args.canonical_zeros,
        ..Default::default()
    };
    let report = codec::encode_file(&args.input, &args.output, &opts)?;
    note_text_input(&args.input, report.from_text);
    if args.json {
        print_json(&report);
        return Ok(());
    }
    eprint!("{}", container_table(&report.tensors));
    eprintln!(
        "{} -> {} (graph skeleton {} -> {}; bound: mask entropy + raw nonzeros {}, + signs of -0.0 zeros {}); {:.3} s \
         (read {:.3} s, encode {:.3} s, write {:.3} s)\nwritten to {}",
        human_bytes(report.input_bytes),
        human_bytes(report.output_bytes),
        human_bytes(report.skeleton_bytes),
        human_bytes(report.skeleton_stored),
        human_bytes(report.bound() as u64),
        human_bytes(report.zero_sign_bound() as u64),
        start.elapsed().as_secs_f64(),
        report.read_seconds,
        report.encode_seconds,
        report.write_seconds,
        args.output.display()
    );
    Ok(())
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
    let start = Instant::now();
    let r = codec::decode_file(&args.input, &args.output)?;
    if args.json {
        print_json(&r);
        return Ok(());
    }
    eprintln!(
        "decoded {} ({}) in {:.3} s (read {:.3} s, decode {:.3} s, write {:.3} s) to {}",
        args.input.display(),
        human_bytes(r.output_bytes),
        start.elapsed().as_secs_f64(),
        r.read_seconds,
        r.decode_seconds,
        r.write_seconds,
        args.output.display()
    );
    Ok(())
}

