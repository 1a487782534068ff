//! TFLite: every pruned fixture's stripped graph (and, for the channel-pruned
//! ones, its compacted graph; for the LSTMs, the one `--tensor_lists`
//! writes), as a frozen `.pb` and as our SavedModel, through TensorFlow's own converter
//! (`scripts/tflite_check.py`), run by the TFLite interpreter and compared
//! with TensorFlow's outputs on the same inputs in the same process. What
//! converts and how is asserted as it is, and documented in README ("TFLite").

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// The fixtures whose graphs hold TF1 TensorArrays (`dynamic_rnn`), which
/// TFLite has no builtin for; `--tensor_lists` rewrites them into what it has.
const TENSOR_ARRAYS: [&str; 2] = ["lstm", "lstm_peephole"];

fn assert_matches_tensorflow(name: &str, what: &str, r: &Value) {
    assert_eq!(r["ops"], "builtins", "{name}: {what}: {r:#}");
    assert_runs_builtin_ops_only(name, what, r);
}

/// A model of builtin ops only, which TFLite runs without TensorFlow: for
/// lstm_peephole's SavedModel (its batch unknown, its TensorList read in a
/// nested loop) the converter gets there only with SELECT_TF_OPS allowed,
/// and then needs none.
fn assert_runs_builtin_ops_only(name: &str, what: &str, r: &Value) {
    assert!(r["ops"] == "builtins" || r["ops"] == "select_tf_ops", "{name}: {what}: {r:#}");
    assert_eq!(r["flex_ops"], serde_json::json!([]), "{name}: {what}");
    let outputs = r["outputs"].as_object().unwrap();
    assert!(!outputs.is_empty(), "{name}: {what}: {r:#}");
    for (tensor, d) in outputs {
        assert_eq!(d["allclose"], true, "{name}: {what}: {tensor} differs from TensorFlow's beyond 1e-5: {d}");
    }
}

fn assert_needs_flex(name: &str, what: &str, r: &Value) {
    assert_eq!(r["ops"], "select_tf_ops", "{name}: {what}: {r:#}");
    let errors = r["errors"].as_array().unwrap();
    assert!(errors[0].as_str().unwrap().contains("ERROR_NEEDS_FLEX_OPS"), "{name}: {what}: {errors:?}");
    let flex: Vec<&str> = r["flex_ops"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(flex.contains(&"FlexTensorArrayV3"), "{name}: {what}: {flex:?}");
    assert!(flex.iter().all(|op| op.starts_with("FlexTensorArray")), "{name}: {what}: only TensorArrays need TensorFlow: {flex:?}");
    // TensorFlow's pip interpreter links no Flex delegate.
    assert!(r["run_error"].as_str().unwrap().contains("Flex delegate"), "{name}: {what}: {r:#}");
}

/// The fixtures whose masks zero whole channels, which compact narrows.
const CHANNEL_PRUNED: [&str; 4] = ["inception", "mobilenet", "resnet", "vgg"];

fn strip_both(f: &Fixture, out: &Path, extra: &[&str]) {
    assert_succeeded(&strip_fixture(f, out, extra), &f.name);
    let saved: Vec<&str> = extra.iter().copied().chain(["--output_format=saved_model"]).collect();
    assert_succeeded(&strip_fixture(f, out, &saved), &f.name);
}

#[test]
fn stripped_graphs_convert_to_tflite_and_compute_tensorflows_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = pruned_fixtures();
    assert_eq!(fixtures.len(), 12, "every pruned fixture in testdata/");
    for f in &fixtures {
        let variants: &[(&str, &[&str])] = if CHANNEL_PRUNED.contains(&f.name.as_str()) {
            &[("stripped", &[]), ("compacted", &["--compact"])]
        } else if TENSOR_ARRAYS.contains(&f.name.as_str()) {
            &[("stripped", &[]), ("tensor_lists", &["--tensor_lists"])]
        } else {
            &[("stripped", &[])]
        };
        for (variant, extra) in variants {
            let out = tmp.path().join(&f.name).join(variant);
            strip_both(f, &out, extra);
            if *variant == "tensor_lists" {
                // TensorFlow computes with the TensorLists what the training graph computes.
                let pb = out.join("pruning_stripped.pb");
                let verified = tf_strip().arg("verify").arg(&f.dir).arg(&pb).args(["--batch", "4"]).output().unwrap();
                assert_succeeded(&verified, &format!("{}: verify of the training graph against --tensor_lists", f.name));
            }
            let r = python_script(
                "tflite_check.py",
                &[&f.dir, &out.join("pruning_stripped.pb"), &out.join("pruning_stripped_saved_model")],
            );
            for kind in ["frozen_graph", "saved_model"] {
                let what = format!("{variant} {kind}");
                match (TENSOR_ARRAYS.contains(&f.name.as_str()), *variant) {
                    (true, "stripped") => assert_needs_flex(&f.name, &what, &r[kind]),
                    (true, _) => assert_runs_builtin_ops_only(&f.name, &what, &r[kind]),
                    (false, _) => assert_matches_tensorflow(&f.name, &what, &r[kind]),
                }
            }
        }
    }
}

/// The TF-loadable rebuild keeps each sparse weight in a resource variable
/// it fills on the first run: TFLite's converter takes it for an unfrozen
/// graph (`from_frozen_graph`) or cannot mark the variable initialized
/// (`from_saved_model`), so it does not convert; the plain stripped graph does.
#[test]
fn the_tf_loadable_rebuild_does_not_convert() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pruned_fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    assert_succeeded(&strip_fixture(&f, tmp.path(), &[]), "strip");
    let (loadable, saved) = (tmp.path().join("loadable.pb"), tmp.path().join("loadable_saved_model"));
    let pb = tmp.path().join("pruning_stripped.pb");
    assert_succeeded(&tf_strip().args(["encode", "--tf-loadable"]).arg(&pb).arg(&loadable).output().unwrap(), "encode");
    let out = tf_strip().args(["encode", "--tf-loadable", "--output_format=saved_model"]).arg(&pb).arg(&saved).output().unwrap();
    assert_succeeded(&out, "encode to a SavedModel");
    let r = python_script("tflite_check.py", &[&f.dir, &loadable, &saved]);
    for what in ["frozen_graph", "saved_model"] {
        assert_eq!(r[what]["ops"], Value::Null, "{what}: {r:#}");
        assert_eq!(r[what]["errors"].as_array().unwrap().len(), 2, "{what}: builtins and select_tf_ops both fail");
    }
    assert!(r["frozen_graph"]["errors"][0].as_str().unwrap().contains("Please freeze the graph"), "{r:#}");
    assert!(r["saved_model"]["errors"][0].as_str().unwrap().contains("initialized variables"), "{r:#}");
}
