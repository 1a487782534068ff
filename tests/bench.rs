//! `tf-strip bench` against the real TensorFlow: what it measures and how it
//! reports it. Timings are not asserted here (a test on a shared machine
//! cannot tell a slow tool from a busy neighbour): `scripts/bench_runtime`
//! measures them side by side with TensorFlow's Python `Session.run` and
//! BENCHMARKS.md records them.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fixtures, tf_strip};
use serde_json::Value;

fn run_json(cmd: &mut Command, what: &str) -> Value {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    common::assert_succeeded(&out, what);
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().filter(|l| l.starts_with('{') && l.ends_with('}')).unwrap_or(&text))
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

fn bench(models: &[&Path], extra: &[&str]) -> Value {
    run_json(tf_strip().arg("bench").args(models).args(extra).arg("--json"), "tf-strip bench")
}


fn field(r: &Value, i: usize, key: &str) -> f64 {
    r["results"][i][key].as_f64().unwrap_or_else(|| panic!("{key} of result {i}: {r:#}"))
}

#[test]
fn bench_reports_every_model_and_batch_interleaved_with_ratios_to_the_first() {
    let f = fixtures().into_iter().find(|f| f.name == "convnet").unwrap();
    let pb = f.expected("stripped.pb");
    let r = bench(&[&pb, &pb], &["--batch", "1,8", "--runs", "20", "--warmup", "2"]);
    let rows: Vec<(u64, u64)> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["batch"].as_u64().unwrap(), b["runs"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, [(1, 20), (1, 20), (8, 20), (8, 20)]);
    assert_eq!(r["outputs"], serde_json::json!(["softmax_linear/softmax_linear:0"]));
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 0);
    for row in 0..4 {
        let (min, median, p90, max) = (field(&r, row, "min"), field(&r, row, "median"), field(&r, row, "p90"), field(&r, row, "max"));
        assert!(0.0 < min && min <= median && median <= p90 && p90 <= max, "row {row}: {r:#}");
        assert!(field(&r, row, "load") > 0.0 && field(&r, row, "first_run") > 0.0, "row {row}: {r:#}");
        let batch = r["results"][row]["batch"].as_f64().unwrap();
        let throughput = field(&r, row, "throughput");
        assert!((throughput - batch / median).abs() < 1e-6 * throughput, "throughput is batch / median");
    }
    // Each model's ratio is to the first model at the same batch size.
    assert_eq!(field(&r, 0, "median_ratio"), 1.0);
    assert_eq!(field(&r, 2, "median_ratio"), 1.0);
    let ratio = field(&r, 1, "median_ratio");
    assert!((ratio - field(&r, 1, "median") / field(&r, 0, "median")).abs() < 1e-9, "{r:#}");
}
