//! `tf-strip inspect --json` on checkpoints and on every kind of graph file.

mod common;

use common::*;
use serde_json::Value;

fn inspect(path: &std::path::Path) -> Value {
    let out = tf_strip().arg("inspect").arg("--json").arg(path).output().unwrap();
    assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn checkpoint_reports_agree_with_tensorflow() {
    for f in fixtures() {
        let report = inspect(&f.dir);
        let expected = f.tensors_json();
        let rows = report["tensors"].as_array().unwrap();
        assert_eq!(rows.len(), expected.as_object().unwrap().len(), "{}", f.name);
        for r in rows {
            let want = &expected[r["name"].as_str().unwrap()];
            assert_eq!(r["dtype"], want["dtype"], "{}", f.name);
            assert_eq!(r["shape"], want["shape"], "{}", f.name);
            if let Some(z) = want["zero_fraction"].as_f64() {
                assert!((r["zero_fraction"].as_f64().unwrap() - z).abs() < 1e-12, "{}: {}", f.name, r["name"]);
            }
        }
        let layers = report["pruning"].as_array().unwrap();
        let fixture = read_json(&f.dir.join("fixture.json"));
        assert_eq!(layers.len(), fixture["masked_weights"].as_array().unwrap().len(), "{}: layers", f.name);
        for l in layers {
            let mask = l["mask"].as_str().unwrap();
            let mask_zeros = expected[mask]["zero_fraction"].as_f64().unwrap();
            assert!((l["mask_sparsity"].as_f64().unwrap() - mask_zeros).abs() < 1e-12, "{}: {mask}", f.name);
            assert!(l["masked_weight_sparsity"].as_f64().unwrap() >= mask_zeros, "{}: {mask}", f.name);
            assert!(l["masked_weight"].as_str().unwrap().ends_with("masked_weight"), "{}: {l}", f.name);
            assert!(l["threshold_value"].as_f64().is_some(), "{}: {l}", f.name);
        }
    }
}

#[test]
fn graph_reports_cover_graphdef_meta_and_saved_model() {
    let f = fixtures().into_iter().find(|f| f.name == "mlp90").unwrap();
    let meta = inspect(&tf_strip::checkpoint::meta_path(&f.prefix));
    assert_eq!(meta["kind"], "MetaGraphDef");
    let stripped = inspect(&f.expected("stripped.pb"));
    assert_eq!(stripped["kind"], "GraphDef");
    let saved = inspect(&f.dir.join("saved_model"));
    assert_eq!(saved["kind"], "SavedModel");
    for report in [&meta, &stripped, &saved] {
        let ops: u64 = report["ops"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(ops, report["nodes"].as_u64().unwrap());
    }
    // The stripped graph's folded weights hold the pruning's zeros.
    let consts = stripped["constants"].as_array().unwrap();
    let folded: Vec<&Value> = consts.iter().filter(|c| c["name"].as_str().unwrap().ends_with("masked_weight")).collect();
    assert_eq!(folded.len(), 3);
    for c in folded {
        assert!(c["zero_fraction"].as_f64().unwrap() >= 0.89, "{c}");
    }
    // A SavedModel's variables are a checkpoint of their own.
    let vars = inspect(&f.dir.join("saved_model/variables/variables"));
    assert_eq!(vars["pruning"].as_array().unwrap().len(), 3);
}
