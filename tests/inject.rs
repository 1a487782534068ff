//! `tf-strip inject` against real TensorFlow: unpruned TF1 training graphs
//! (scripts/inject_check.py builds them), injected, trained with their own
//! training loop, checked at every step against a numpy reference, saved with
//! their own saver, stripped, and run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};
use tf_strip::graph::{self, collection_nodes, Format, Graph};
use tf_strip::proto::tensorflow::{GraphDef, MetaGraphDef};

/// The unpruned models, built once per test binary.
fn models() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("inject-models");
        run_check(&["build", dir.to_str().unwrap()]);
        dir
    })
}

fn run_check(args: &[&str]) -> Value {
    let out = python()
        .arg(root().join("scripts/inject_check.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inject_check.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inject_check.py prints JSON")
}

fn inject(input: &Path, output: &Path, args: &[&str]) -> Output {
    tf_strip()
        .arg("inject")
        .arg(input)
        .arg(output)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Case {
    name: &'static str,
    model: &'static str,
    hparams: &'static str,
    args: &'static [&'static str],
    steps: u32,
}

impl Case {
    fn chained(&self) -> bool {
        self.args.contains(&"--train_op")
    }

    fn structure(&self) -> &'static str {
        if self.args.contains(&"--structure=channel") {
            "channel"
        } else {
            "element"
        }
    }
}

const CASES: &[Case] = &[
    Case {
        name: "mlp",
        model: "mlp",
        hparams: "end_pruning_step=150,pruning_frequency=10,target_sparsity=0.8,sparsity_function_end_step=80,\
                  weight_sparsity_map=[fc3/.*:0.5]",
        args: &["--train_op", "GradientDescent"],
        steps: 300,
    },
    Case {
        // The training loop runs the conditional update itself, as contrib users did.
        name: "convnet",
        model: "convnet",
        hparams: "name=prune,begin_pruning_step=16,pruning_frequency=8,target_sparsity=0.7,\
                  sparsity_function_begin_step=16,sparsity_function_end_step=96",
        args: &[],
        steps: 200,
    },
    Case {
        name: "convnet_channel",
        model: "convnet",
        hparams: "pruning_frequency=10,target_sparsity=0.5,sparsity_function_end_step=60",
        args: &["--structure=channel", "--train_op", "Momentum"],
        steps: 200,
    },
    Case {
        name: "resource",
        model: "mlp_resource",
        hparams: "pruning_frequency=10,target_sparsity=0.8,sparsity_function_end_step=80,threshold_decay=0.5",
        args: &["--train_op", "GradientDescent"],
        steps: 200,
    },
    Case {
        name: "partitioned",
        model: "mlp_partitioned",
        hparams: "pruning_frequency=5,target_sparsity=0.75,sparsity_function_end_step=60",
        args: &["--train_op", "GradientDescent", "--weights", "fc1", "--weights", "fc2"],
        steps: 200,
    },
    Case {
        name: "blocks",
        model: "mlp",
        hparams: "pruning_frequency=10,target_sparsity=0.6,sparsity_function_end_step=60,block_height=-1,\
                  block_width=1,block_dims_map=[fc1/.*:1x4,fc2/.*:4x4]",
        args: &["--train_op", "GradientDescent"],
        steps: 200,
    },
    Case {
        name: "blocks_max",
        model: "mlp",
        hparams: "pruning_frequency=10,target_sparsity=0.5,sparsity_function_end_step=60,block_height=4,\
                  block_width=4,block_pooling_function=MAX",
        args: &["--exclude", "fc3"],
        steps: 200,
    },
    Case {
        // The kernel of an RNN in a while loop, read through Enter.
        name: "rnn",
        model: "rnn",
        hparams: "pruning_frequency=5,target_sparsity=0.6,sparsity_function_end_step=40",
        args: &["--train_op", "GradientDescent"],
        steps: 200,
    },
    Case {
        // Saver(sharded=True): the masks join the first shard's SaveV2.
        name: "sharded_saver",
        model: "mlp_sharded",
        hparams: "pruning_frequency=10,target_sparsity=0.6,sparsity_function_end_step=50",
        args: &["--train_op", "GradientDescent"],
        steps: 200,
    },
    Case {
        // No global step in the graph: inject creates one and the train op increments it.
        name: "created_global_step",
        model: "mlp_no_global_step",
        hparams: "pruning_frequency=10,target_sparsity=0.5,sparsity_function_end_step=50",
        args: &["--train_op", "GradientDescent"],
        steps: 200,
    },
];

#[test]
fn injected_graphs_prune_on_schedule_in_tensorflow() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for c in CASES {
        let out_meta = tmp.path().join(format!("{}.meta", c.name));
        let hp = format!("--pruning_hparams={}", c.hparams);
        let mut args = vec![hp.as_str(), "--json"];
        args.extend(c.args);
        let out = inject(
            &models().join(format!("{}.meta", c.model)),
            &out_meta,
            &args,
        );
        assert!(out.status.success(), "{}: {}", c.name, stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        cases.push(json!({
            "name": c.name,
            "meta": out_meta,
            "model": models().join(format!("{}.json", c.model)),
            "report": report,
            "hparams": c.hparams,
            "chained": c.chained(),
            "structure": c.structure(),
            "steps": c.steps,
            "ckpt_dir": tmp.path().join(c.name),
            "stripped": tmp.path().join(c.name).join("strip/pruning_stripped.pb"),
        }));
    }
    let cases_file = tmp.path().join("cases.json");
    std::fs::write(&cases_file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let results = run_check(&["train", cases_file.to_str().unwrap()]);
    for (c, r) in CASES.iter().zip(results.as_array().unwrap()) {
        let problems = r["problems"].as_array().unwrap();
        assert!(problems.is_empty(), "{}: {problems:#?}", c.name);
        let updates = r["updates"].as_array().unwrap();
        assert!(
            updates.len() >= 3,
            "{}: only {} mask updates checked",
            c.name,
            updates.len()
        );
        let (first, last) = (
            r["loss_first"].as_f64().unwrap(),
            r["loss_last"].as_f64().unwrap(),
        );
        assert!(last < first, "{}: loss went from {first} to {last}", c.name);
        assert_eq!(r["new_saver_covers_masks"], true, "{}", c.name);
        let keys: Vec<&str> = r["checkpoint_keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for w in cases[CASES.iter().position(|x| x.name == c.name).unwrap()]["report"]["weights"]
            .as_array()
            .unwrap()
        {
            for key in ["mask", "threshold"] {
                assert!(
                    keys.contains(&w[key].as_str().unwrap()),
                    "{}: checkpoint lacks {}",
                    c.name,
                    w[key]
                );
            }
        }
        // Every weight reached the end of the schedule.
        for u in updates.iter().rev().take(2) {
            let (zeros, units) = (
                u["zero_units"].as_f64().unwrap(),
                u["units"].as_f64().unwrap(),
            );
            assert!(
                zeros / units > 0.3,
                "{}: final sparsity {}",
                c.name,
                zeros / units
            );
        }
        if c.structure() == "channel" {
            assert!(
                updates.iter().all(|u| u["units"].as_u64().unwrap() <= 16),
                "{}: not channels",
                c.name
            );
        }
        eprintln!(
            "{}: {} updates checked, loss {first:.3} -> {last:.3}, final zero fractions {}",
            c.name,
            updates.len(),
            r["final_zero_fraction"]
        );
    }

    // `tf-strip --checkpoint_dir` on the checkpoint the graph's own saver wrote.
    for c in CASES {
        let dir = tmp.path().join(c.name);
        let out = tf_strip()
            .arg(format!("--checkpoint_dir={}", dir.display()))
            .arg("--output_node_names=output")
            .arg(format!("--output_dir={}", dir.join("strip").display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: strip failed: {}",
            c.name,
            stderr(&out)
        );
    }
    // Channels pruned in training go with `--compact`, and the graph still
    // computes what the training graph restored from the checkpoint computes.
    for c in CASES.iter().filter(|c| c.structure() == "channel") {
        let dir = tmp.path().join(c.name);
        let compacted = dir.join("compact");
        let out = tf_strip()
            .arg(format!("--checkpoint_dir={}", dir.display()))
            .args(["--output_node_names=output", "--compact", "--json"])
            .arg(format!("--output_dir={}", compacted.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: strip --compact failed: {}", c.name, stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let flops = &report["compact"]["flops"];
        assert!(flops[1].as_u64() < flops[0].as_u64(), "{}: nothing compacted: {report:#}", c.name);
        let out = tf_strip()
            .arg("verify")
            .arg(&dir)
            .arg(compacted.join("pruning_stripped.pb"))
            .args(["--outputs", "output", "--batch", "4", "--atol", "1e-5", "--rtol", "1e-5"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: verify against the training graph: {}", c.name, stderr(&out));
        eprintln!("{}: --compact: FLOPs {} -> {}", c.name, flops[0], flops[1]);
    }
    // References run in the same process as the stripped graph (another process's or
    // machine's outputs may differ in the last bits): TensorFlow's own strip of the same
    // checkpoint, bit for bit, and the training graph restored from it.
    let compared = run_check(&["compare", cases_file.to_str().unwrap()]);
    for r in compared.as_array().unwrap() {
        assert_eq!(
            r["equal"], true,
            "{}: stripped outputs differ from TensorFlow's strip by {}",
            r["name"], r["max_abs_diff"]
        );
        // The training graph computes `mask * weight`; the stripped graph holds it as a
        // Const. With Eigen's kernels that makes no difference to the bits, but oneDNN
        // chooses its matmul kernel by whether the weight is a Const (`is_filter_const`)
        // and rounds differently (the rnn case, ~3e-8), so with oneDNN: a tolerance.
        let training = if r["onednn"] == true { "close_to_training_graph" } else { "equal_to_training_graph" };
        assert_eq!(
            r[training], true,
            "{}: stripped outputs differ from the training graph's by {}",
            r["name"], r["max_abs_diff_training_graph"]
        );
        assert_eq!(
            r["close_to_recorded"], true,
            "{}: the restored training graph disagrees with the output recorded after training",
            r["name"]
        );
    }
}

fn read_meta(path: &Path) -> MetaGraphDef {
    graph::read_message(path).unwrap()
}

#[test]
fn the_graph_has_contribs_structure() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mlp.meta");
    let r = inject(
        &models().join("mlp.meta"),
        &out,
        &["--pruning_hparams=target_sparsity=0.9"],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    let meta = read_meta(&out);
    let g = Graph::new(meta.graph_def.clone().unwrap()).unwrap();
    let op = |n: &str| g.require(n).unwrap().op.clone();
    assert_eq!(op("fc1/mask"), "VariableV2");
    assert_eq!(op("fc1/threshold"), "VariableV2");
    let mw = g.require("fc1/weights/masked_weight").unwrap();
    assert_eq!(
        (mw.op.as_str(), mw.input.as_slice()),
        (
            "Mul",
            &["fc1/mask/read".to_string(), "fc1/weights/read".to_string()][..]
        )
    );
    assert_eq!(
        g.require("fc1/MatMul").unwrap().input[1],
        "fc1/weights/masked_weight"
    );
    // The optimizer still updates the variable itself, with the gradient masked.
    let apply = g
        .require("GradientDescent/update_fc1/weights/ApplyGradientDescent")
        .unwrap();
    assert_eq!(apply.input[0], "fc1/weights");
    let grad = g.require(&apply.input[2]).unwrap();
    assert_eq!(
        (grad.op.as_str(), grad.input[1].as_str()),
        ("Mul", "fc1/mask/read")
    );
    for n in [
        "model_pruning/sparsity",
        "model_pruning/last_mask_update_step",
        "model_pruning/mask_update",
        "model_pruning/conditional_mask_update",
        "model_pruning/fc1/mask_assign",
        "model_pruning/fc1/threshold_assign",
        "model_pruning/fc1/weights_pruning_ops/TopKV2",
        "model_pruning_summaries/sparsity",
        "model_pruning_summaries/fc1/mask/sparsity",
        "model_pruning_summaries/fc1/threshold/threshold",
    ] {
        assert!(g.contains(n), "missing {n}");
    }
    assert_eq!(
        collection_nodes(&meta, "masks"),
        ["fc1/mask", "fc2/mask", "fc3/mask"]
    );
    assert_eq!(
        collection_nodes(&meta, "thresholds"),
        ["fc1/threshold", "fc2/threshold", "fc3/threshold"]
    );
    assert_eq!(
        collection_nodes(&meta, "kernel"),
        ["fc1/weights", "fc2/weights", "fc3/weights"]
    );
    assert_eq!(collection_nodes(&meta, "masked_weights").len(), 3);
    let vars: Vec<String> = graph::variable_defs(&meta)
        .into_iter()
        .map(|v| v.variable_name)
        .collect();
    for v in [
        "fc1/mask:0",
        "fc3/threshold:0",
        "model_pruning/last_mask_update_step:0",
    ] {
        assert!(vars.iter().any(|x| x == v), "variables lacks {v}");
    }
}

#[test]
fn inject_twice_is_inject_once() {
    let tmp = tempfile::tempdir().unwrap();
    let once = tmp.path().join("once.meta");
    let twice = tmp.path().join("twice.meta");
    let hp = "--pruning_hparams=target_sparsity=0.7";
    assert!(inject(&models().join("mlp_resource.meta"), &once, &[hp])
        .status
        .success());
    let again = inject(&once, &twice, &[hp]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already has a mask"));
    assert_eq!(
        std::fs::read(&once).unwrap(),
        std::fs::read(&twice).unwrap()
    );
}

#[test]
fn a_graphdef_gets_the_same_rewrite_without_a_saver() {
    let tmp = tempfile::tempdir().unwrap();
    let pbtxt = tmp.path().join("train.pbtxt");
    let def = read_meta(&models().join("mlp.meta")).graph_def.unwrap();
    graph::write_message(&pbtxt, &def, Format::Text).unwrap();
    let out = tmp.path().join("pruned.pbtxt");
    let r = inject(&pbtxt, &out, &["--pruning_hparams=target_sparsity=0.5"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(String::from_utf8_lossy(&r.stdout).contains("no saver"));
    let g = Graph::new(graph::read_message::<GraphDef>(&out).unwrap()).unwrap();
    assert!(
        g.contains("fc2/weights/masked_weight")
            && g.contains("model_pruning/conditional_mask_update")
    );
}

#[test]
fn bad_inputs_are_clear_errors_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mlp = models().join("mlp.meta");
    let cases: Vec<(PathBuf, Vec<&str>, &str)> = vec![
        (
            mlp.clone(),
            vec!["--pruning_hparams=target_sparsity=1.5"],
            "target_sparsity must be in range [0,1)",
        ),
        (
            mlp.clone(),
            vec!["--pruning_hparams=sparsity=0.5"],
            "Unknown hyperparameter type for sparsity",
        ),
        (
            mlp.clone(),
            vec!["--pruning_hparams=pruning_frequency=ten"],
            "Could not parse hparam 'pruning_frequency' of type 'int' with value 'ten'",
        ),
        (
            mlp.clone(),
            vec!["--pruning_hparams=begin_pruning_step=10,end_pruning_step=5"],
            "Pruning must begin before it can end. begin_step=10, end_step=5.",
        ),
        (
            mlp.clone(),
            vec!["--weights", "conv9"],
            "--weights `conv9` matches no prunable weight (prunable weights: fc1/weights",
        ),
        (
            mlp.clone(),
            vec!["--exclude", "nothing_here"],
            "--exclude `nothing_here` matches no prunable weight",
        ),
        (
            mlp.clone(),
            vec!["--train_op", "Adam"],
            "no node named `Adam`",
        ),
        (
            models().join("no_weights.meta"),
            vec![],
            "no prunable weight",
        ),
        (
            models().join("mlp_no_global_step.meta"),
            vec![],
            "the graph has no global step",
        ),
        (
            models().join("mlp_no_saver.meta"),
            vec![],
            "has no saver_def",
        ),
        (tmp.path().join("missing.meta"), vec![], "missing.meta"),
    ];
    for (input, args, message) in cases {
        let out = tmp.path().join("out.meta");
        let r = inject(&input, &out, &args);
        let err = stderr(&r);
        assert!(!r.status.success(), "{args:?}: succeeded");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?}: wrote {}", out.display());
    }
}

/// Injects `model` with `hparams` (and `--train_op`), trains it step by step in
/// TensorFlow, and returns how it compares with contrib's values, which
/// `inject_check.py exact` computes in float32 from the same step's inputs.
fn train_exactly(
    tmp: &Path,
    kind: &str,
    model: &str,
    train_op: &str,
    hparams: &str,
    steps: u32,
) -> (MetaGraphDef, Value) {
    let meta = tmp.join(format!("{kind}.meta"));
    let hp = format!("--pruning_hparams={hparams}");
    let out = inject(
        &models().join(format!("{model}.meta")),
        &meta,
        &[&hp, "--json", "--train_op", train_op],
    );
    assert!(out.status.success(), "{kind}: {}", stderr(&out));
    let case = json!([{
        "name": kind,
        "kind": kind,
        "meta": meta,
        "model": models().join(format!("{model}.json")),
        "report": serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        "hparams": hparams,
        "steps": steps,
    }]);
    let cases = tmp.join(format!("{kind}.json"));
    std::fs::write(&cases, serde_json::to_vec(&case).unwrap()).unwrap();
    let result = run_check(&["exact", cases.to_str().unwrap()])[0].clone();
    let problems = result["problems"].as_array().unwrap();
    assert!(problems.is_empty(), "{kind}: {problems:#?}");
    (read_meta(&meta), result)
}

fn updates_of<'r>(result: &'r Value, weight: &str) -> Vec<&'r Value> {
    result["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["weight"] == weight)
        .collect()
}

#[test]
fn pruned_weights_still_decay_under_l2_as_in_contrib() {
    let tmp = tempfile::tempdir().unwrap();
    // cifar10's `_variable_with_weight_decay`: l2_loss(fc/weights) * 0.004; default hparams.
    let (meta, r) = train_exactly(tmp.path(), "decay", "cifar_decay", "Momentum", "", 40);
    let g = Graph::new(meta.graph_def.unwrap()).unwrap();
    let input = |n: &str, i: usize| g.require(n).unwrap().input[i].clone();
    // The layer and its gradient ops read mask * W; the regularizer and its gradient read W.
    assert_eq!(input("fc/MatMul", 1), "fc/weights/masked_weight");
    assert_eq!(
        input("gradients/fc/MatMul_grad/MatMul", 1),
        "fc/weights/masked_weight"
    );
    assert_eq!(input("fc/L2Loss", 0), "fc/weights/read");
    assert_eq!(input("gradients/fc/L2Loss_grad/mul", 0), "fc/weights/read");
    // Only the layer's part of the gradient is masked, before the sum.
    let product = "gradients/fc/weights/masked_weight_grad/Mul";
    assert_eq!(
        g.require(product).unwrap().input,
        [
            "gradients/fc/MatMul_grad/tuple/control_dependency_1",
            "fc/mask/read"
        ]
    );
    let apply = g
        .require("Momentum/update_fc/weights/ApplyMomentum")
        .unwrap();
    let sum = g.require(&apply.input[3]).unwrap();
    assert_eq!(sum.op, "AddN");
    assert!(sum.input.iter().any(|i| i == product), "{:?}", sum.input);
    assert!(sum
        .input
        .iter()
        .any(|i| i == "gradients/fc/L2Loss_grad/mul"));

    // Every step's Momentum slot and weight equal the reference bit for bit
    // (checked in inject_check.py); a regularizer reading mask * W would have
    // given other slots from the first step after the first pruning.
    assert_eq!(r["first_step_a_masked_regularizer_differs"], 11);
    let pruned = r["pruned_at_first_difference"].as_u64().unwrap();
    assert!(pruned > 0);
    assert_eq!(r["differing_slots"].as_u64().unwrap(), pruned);
    assert_eq!(r["differing_slots_all_pruned"], true);
    let masks = updates_of(&r, "fc/weights");
    assert_eq!(masks.len(), 4, "{masks:?}");
    for u in &masks {
        assert_eq!(u["kept"], u["reference_kept_k"], "{u}");
    }
    eprintln!(
        "decay: 40 steps, slots and weights equal the reference; at step 11 the {} pruned entries of fc/weights \
         have slots up to {:e} away from a masked regularizer's (their W * 0.004: up to {:e}); fc/mask keeps {}",
        pruned,
        r["max_slot_difference"].as_f64().unwrap(),
        r["max_decay_gradient_of_pruned"].as_f64().unwrap(),
        masks
            .iter()
            .map(|u| format!("{} at step {}", u["kept"], u["step"]))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn weight_sparsity_map_ratio_is_computed_in_float32() {
    let tmp = tempfile::tempdir().unwrap();
    // 0.65f / 0.8f = 0.81249994: at step 50, 640 * (1 - 0.4625 * ratio) is
    // 399.5 (kept 400, half to even) in float32, 399.49997 with 0.8125.
    let hparams =
        "weight_sparsity_map=[fc3/weights:0.65],target_sparsity=0.8,sparsity_function_end_step=200";
    let (_, r) = train_exactly(tmp.path(), "float32", "mlp", "GradientDescent", hparams, 60);
    let fc3 = updates_of(&r, "fc3/weights");
    let at50 = fc3.iter().find(|u| u["step"] == 50).unwrap();
    assert_eq!(at50["kept"], 400);
    assert_eq!(at50["reference_kept_k"], 400);
    assert_eq!(at50["float64_ratio_k"], 399);
    assert_eq!(fc3.len(), 6);
    eprintln!(
        "float32: fc3/mask keeps {} (of 640) at step 50, the reference {}, a float64 ratio {}; every threshold and mask equal the reference",
        at50["kept"], at50["reference_kept_k"], at50["float64_ratio_k"]
    );
}

#[test]
fn use_tpu_pools_blocks_in_two_passes_and_keeps_the_step_in_a_resource_variable() {
    let tmp = tempfile::tempdir().unwrap();
    // fc3 is 64x10: its 4-wide column windows are SAME-padded.
    let hparams =
        "use_tpu=True,block_height=4,block_width=4,pruning_frequency=10,target_sparsity=0.6,\
                   sparsity_function_end_step=60";
    let (meta, r) = train_exactly(tmp.path(), "tpu", "mlp", "GradientDescent", hparams, 80);
    let g = Graph::new(meta.graph_def.unwrap()).unwrap();
    assert_eq!(
        g.require("model_pruning/last_mask_update_step").unwrap().op,
        "VarHandleOp"
    );
    assert_eq!(r["last_mask_update_step_op"], "VarHandleOp");
    let pools: Vec<_> = g
        .nodes()
        .iter()
        .filter(|n| n.op == "AvgPool" && n.name.starts_with("model_pruning/fc1/"))
        .collect();
    assert_eq!(pools.len(), 2, "two passes per weight");
    // Every threshold and mask equal a numpy factorized_pool reference; one
    // AvgPool over 4x4 blocks would differ in the last bits.
    let updates = r["updates"].as_array().unwrap();
    assert_eq!(updates.len(), 24);
    let ulps: Vec<u64> = updates
        .iter()
        .map(|u| u["plain_pool_ulps"].as_u64().unwrap())
        .collect();
    assert!(ulps.iter().any(|&u| u > 0), "{ulps:?}");
    eprintln!(
        "use_tpu: 24 updates equal the factorized reference; a one-pass AvgPool's thresholds differ in {} of them by {:?} ulps",
        ulps.iter().filter(|&&u| u > 0).count(),
        ulps
    );
}

#[test]
fn what_contrib_accepts_is_accepted_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let mlp = models().join("mlp.meta");
    let out = tmp.path().join("out.meta");
    for (hparams, warning) in [
        (
            "block_pooling_function=MIN",
            "warning: block_pooling_function=MIN is neither AVG nor MAX; accepted because no weight is block-pruned",
        ),
        (
            "weight_sparsity_map=[fc3/weights:0.5,fc3/weights:0.7],target_sparsity=0.8",
            "warning: weight_sparsity_map gives `fc3/weights` more than once; the last value applies",
        ),
    ] {
        let r = inject(&mlp, &out, &[&format!("--pruning_hparams={hparams}")]);
        assert!(r.status.success(), "{hparams}: {}", stderr(&r));
        assert!(stderr(&r).contains(warning), "{hparams}: {}", stderr(&r));
    }
    // The last value: the ratio's numerator.
    let g = Graph::new(read_meta(&out).graph_def.unwrap()).unwrap();
    let x = g
        .require("model_pruning/fc3/weights_pruning_ops/weight_sparsity/x")
        .unwrap();
    let t = match x.attr["value"].value.as_ref().unwrap() {
        tf_strip::proto::tensorflow::attr_value::Value::Tensor(t) => {
            tf_strip::tensor::from_proto(t).unwrap()
        }
        other => panic!("{other:?}"),
    };
    let tf_strip::tensor::TensorData::Pod(bytes) = &t.data else {
        panic!("{t:?}")
    };
    assert_eq!(bytes[..], 0.7f32.to_le_bytes());

    // A block-pruned weight needs a known pooling function, as in contrib.
    let r = inject(
        &mlp,
        &out,
        &["--pruning_hparams=block_height=4,block_pooling_function=MIN"],
    );
    assert!(!r.status.success());
    assert!(
        stderr(&r).contains("Unknown pooling function for block sparsity: MIN"),
        "{}",
        stderr(&r)
    );

    // The library returns the warnings and prints nothing.
    let mut model = tf_strip::model::Model::load(&mlp).unwrap();
    let options = tf_strip::transform::inject::InjectOptions {
        hparams: tf_strip::transform::inject::PruningHparams::parse("block_pooling_function=avg")
            .unwrap(),
        ..Default::default()
    };
    let report = tf_strip::transform::inject(&mut model, &options).unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].starts_with("block_pooling_function=avg"));
}
