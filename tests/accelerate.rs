//! `tf-strip accelerate` on models TensorFlow's own converter writes (mlp90,
//! stripped, converted plainly and with Optimize.EXPERIMENTAL_SPARSITY), run
//! before and after in TFLite's interpreter in one Python process
//! (`scripts/tflite_accelerate_check.py`); and on damaged and foreign files.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn sha256_of(path: &Path) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}

/// `tf-strip accelerate IN OUT ARGS... --json`: its report, after asserting
/// it succeeded and left its input as it was.
fn accelerate(input: &Path, output: &Path, args: &[&str]) -> Value {
    let before = sha256_of(input);
    let out = tf_strip().arg("accelerate").arg(input).arg(output).args(args).arg("--json").output().unwrap();
    assert_succeeded(&out, &format!("accelerate {}", input.display()));
    assert_eq!(sha256_of(input), before, "{}: the input was modified", input.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn decisions(report: &Value) -> Vec<&str> {
    report["layers"].as_array().unwrap().iter().map(|l| l["decision"].as_str().unwrap()).collect()
}

/// Per fixture: the accelerated models compute what the converter's do, in
/// TFLite's interpreter, every FULLY_CONNECTED reading a sparse weight; every
/// other op (convnet's convolutions, pooling, reshapes) as it was.
#[test]
fn accelerated_models_compute_the_converters_outputs_with_sparse_weights_and_no_densify() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["mlp90", "convnet"] {
        let dir = tmp.path().join(name);
        let (f, converted) = converted(name, &dir);
        for variant in ["plain", "sparsity"] {
            let what = format!("{name} {variant}");
            let model = converted(variant);
            let fast = dir.join(format!("accelerated-{variant}.tflite"));
            // Every weight, whatever its zeros: the rewrite itself is under test.
            let report = accelerate(&model, &fast, &["--min_sparsity", "0"]);
            let r = python_script("tflite_accelerate_check.py", &[Path::new("compare"), &f.dir, &model, &fast]);
            for (tensor, d) in r["outputs"].as_object().unwrap() {
                assert_eq!(d["allclose"], true, "{what}: {tensor} differs beyond 1e-5: {d}");
                assert!(d["max_abs"].as_f64().unwrap() <= 1e-5, "{what}: {tensor}: {d}");
            }
            let ops = |side: &str| r["ops"][side].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_string()).collect::<Vec<_>>();
            let (before, after) = (ops("original"), ops("accelerated"));
            let densify = |ops: &[String]| ops.iter().filter(|o| *o == "DENSIFY").count();
            let removed = report["densify_removed"].as_u64().unwrap() as usize;
            let taken = decisions(&report).iter().filter(|d| **d == "converter_sparse").count();
            assert_eq!(removed, taken, "{what}: one DENSIFY per converter copy taken: {report:#}");
            assert_eq!(densify(&after), densify(&before) - removed, "{what}");
            let others = |ops: &[String]| ops.iter().filter(|o| *o != "DENSIFY").cloned().collect::<Vec<_>>();
            assert_eq!(others(&after), others(&before), "{what}: the other ops, in order");
            match variant {
                "plain" => assert_eq!(densify(&before), 0, "{what}"),
                _ => assert!(taken > 0, "{what}: the converter stored no weight sparse: {report:#}"),
            }
            let weights = r["fc_weights"]["accelerated"].as_array().unwrap();
            assert_eq!(weights.len(), decisions(&report).len(), "{what}: {report:#}");
            assert!(!decisions(&report).contains(&"left"), "{what}: {report:#}");
            for w in weights {
                assert_eq!(w["sparse"], true, "{what}: {w}");
                assert_eq!(w["format"], serde_json::json!([0, 1]), "{what}: dense then CSR: {w}");
                assert_eq!(w["version"], 8, "{what}: {w}");
            }
        }
    }
}

#[test]
fn mlp90s_weights_at_90_percent_are_stored_sparse_at_batch_1_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let converted = converted("mlp90", tmp.path()).1;
    for (variant, decision, densify) in [("plain", "sparse", 0), ("sparsity", "converter_sparse", 3)] {
        let report = accelerate(&converted(variant), &tmp.path().join(format!("fast-{variant}.tflite")), &[]);
        assert_eq!(report["min_sparsity"], 0.875);
        assert_eq!(decisions(&report), [decision; 3], "{variant}: {report:#}");
        assert_eq!(report["densify_removed"], densify, "{variant}: {report:#}");
        for layer in report["layers"].as_array().unwrap() {
            assert_eq!(layer["reason"], "90.0% zeros >= 87.5%", "{variant}: {layer}");
        }
    }
}

#[test]
fn the_default_threshold_follows_batch_and_min_sparsity_overrides_it() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = converted("mlp90", tmp.path()).1("plain");
    let out = tmp.path().join("batch8.tflite");
    // mlp90's weights are 90% zeros: enough at batch 1, not at batch 8.
    let report = accelerate(&plain, &out, &["--batch", "8"]);
    assert_eq!(report["min_sparsity"], 0.925);
    assert_eq!(decisions(&report), ["left"; 3], "{report:#}");
    assert!(report["layers"][0]["reason"].as_str().unwrap().contains("< 92.5%"), "{report:#}");
    assert_eq!(sha256_of(&out), sha256_of(&plain), "nothing rewritten: the model is written as it was");
    assert!(report["warnings"][0].as_str().unwrap().contains("no FULLY_CONNECTED weight was rewritten"), "{report:#}");
    let report = accelerate(&plain, &out, &["--batch", "8", "--min_sparsity", "0.5"]);
    assert_eq!(decisions(&report), ["sparse"; 3], "{report:#}");
}

#[test]
fn quantized_conversions_are_left_as_they_are_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let converted = converted("mlp90", tmp.path()).1;
    for (variant, reason) in [("int8", "the weight is int8"), ("float16", "dequantized at run time")] {
        let model = converted(variant);
        let out = tmp.path().join(format!("accelerated-{variant}.tflite"));
        let report = accelerate(&model, &out, &["--min_sparsity", "0"]);
        assert_eq!(decisions(&report), ["left"; 3], "{variant}: {report:#}");
        for layer in report["layers"].as_array().unwrap() {
            assert!(layer["reason"].as_str().unwrap().contains(reason), "{variant}: {layer}");
        }
        assert_eq!(sha256_of(&out), sha256_of(&model), "{variant}: written unchanged");
    }
}

/// A failed run: exit 1, one line naming `file` and saying `says`, no output.
fn assert_refused(input: &Path, output: &Path, says: &str) {
    let out = tf_strip().arg("accelerate").arg(input).arg(output).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = format!("{}: {stderr}", input.display());
    assert_eq!(out.status.code(), Some(1), "{what}");
    assert_eq!(stderr.lines().count(), 1, "{what}");
    assert!(stderr.starts_with("tf-strip: error: ") && !stderr.contains("panicked"), "{what}");
    assert!(stderr.contains(&*input.to_string_lossy()) && stderr.contains(says), "{what}");
    assert!(!output.exists() || output == input, "{what}: an output was written");
}

#[test]
fn malformed_tflite_files_get_exit_1_and_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = converted("mlp90", tmp.path()).1("plain");
    let good = std::fs::read(&plain).unwrap();
    let root = u32::from_le_bytes(good[..4].try_into().unwrap()) as usize;
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = good.clone();
        edit(&mut bytes);
        bytes
    };
    // A fixed generator: the same "random" bytes on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..good.len() - 8)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        ("truncated-12.tflite", good[..12].to_vec()),
        ("truncated-third.tflite", good[..good.len() / 3].to_vec()),
        ("truncated-half.tflite", good[..good.len() / 2].to_vec()),
        // filekind knows a TFLite file by a root offset below 64 KiB.
        ("root-past-end.tflite", with(&|b| {
            b.truncate(1000);
            b[..4].copy_from_slice(&2000u32.to_le_bytes())
        })),
        ("vtable-outside.tflite", with(&|b| b[root..root + 4].copy_from_slice(&i32::MIN.to_le_bytes()))),
        ("vtable-at-itself.tflite", with(&|b| b[root..root + 4].copy_from_slice(&0i32.to_le_bytes()))),
        ("noise-after-identifier.tflite", with(&|b| b[8..].copy_from_slice(&noise))),
    ];
    for (name, bytes) in corpus {
        let input = tmp.path().join(name);
        std::fs::write(&input, bytes).unwrap();
        assert_refused(&input, &tmp.path().join(format!("out-{name}")), "not a valid TFLite model");
    }
}

#[test]
fn foreign_files_missing_files_and_an_output_naming_the_input_get_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    assert_succeeded(&strip_fixture(&f, tmp.path(), &[]), "strip mlp90");
    let pb = tmp.path().join("pruning_stripped.pb");
    let out = tmp.path().join("out.tflite");
    let h5 = tmp.path().join("model.h5");
    std::fs::write(&h5, b"\x89HDF\r\n\x1a\n and then some").unwrap();
    assert_refused(&h5, &out, "an HDF5 file");
    assert_refused(&tmp.path().join("missing.tflite"), &out, "no such file");
    let before = sha256_of(&pb);
    assert_refused(&pb, &pb, "the output would overwrite an input");
    assert_eq!(sha256_of(&pb), before);
}
