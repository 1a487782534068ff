//! One recogniser of the pruning structure: what `inspect` reports as pruned
//! layers is what `strip` folds, on every fixture.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

fn json(args: &[String]) -> Value {
    let out = tf_strip().args(args).arg("--json").output().unwrap();
    assert!(out.status.success(), "tf-strip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names(list: &Value, key: &str) -> BTreeSet<String> {
    list.as_array().unwrap().iter().filter_map(|v| v[key].as_str().map(String::from)).collect()
}

#[test]
fn inspect_and_strip_find_the_same_pruned_layers_on_every_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    for f in pruned_fixtures() {
        let dir = f.dir.display().to_string();
        let inspected = json(&["inspect".into(), dir.clone()]);
        let stripped = json(&[
            format!("--checkpoint_dir={dir}"),
            format!("--output_node_names={}", f.outputs.join(",")),
            format!("--output_dir={}", tmp.path().join(&f.name).display()),
        ]);
        let reported = names(&inspected["pruning"], "masked_weight");
        let folded = names(&stripped["masked_weights"], "name");
        assert!(!folded.is_empty(), "{}: nothing folded", f.name);
        assert_eq!(reported, folded, "{}: inspect and strip disagree", f.name);
        // Every reported layer names a mask and a weight the checkpoint holds.
        for layer in inspected["pruning"].as_array().unwrap() {
            assert!(layer["mask"].as_str().is_some_and(|m| m.ends_with("mask")), "{}: {layer}", f.name);
        }
    }
}
