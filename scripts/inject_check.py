#!/usr/bin/env python3
"""TensorFlow's side of tests/inject.rs: builds unpruned TF1 training graphs, trains the
graphs `tf-strip inject` made from them, and runs stripped graphs. Pinned TF 2.21, tf.compat.v1.

usage:
  inject_check.py build OUT_DIR          write <model>.meta and <model>.json for every model
  inject_check.py train CASES.json       train each case, check pruning, print JSON results
  inject_check.py compare CASES.json     run each case's stripped graph, TF's strip and the training graph,
                                         print JSON results
  inject_check.py exact CASES.json       train each case, compare with contrib's float32 values, print JSON

Checks made while training (the reference is computed here, in numpy, from the weights):
at each pruning step every mask's zero count is the schedule's (within one element, block or
channel of round()), masks are 0/1 and equal |W| >= threshold (per block / channel), the
threshold is the k-th largest |W| (pooled block value, channel L2 norm); between pruning steps
masks do not change, masked weights are zero wherever the mask is, and (plain gradient
descent) pruned weights do not move. A trace of every step shows the sort (TopKV2) runs exactly
on the pruning steps.
"""
import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Plain Eigen kernels unless the caller chose (scripts/test exports the suite's choice);
# compare runs every graph it compares in one process, under the same kernels, either way.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.util import _pywrap_util_port  # noqa: E402

tf1 = tf.compat.v1
tf1.disable_v2_behavior()

BATCH = 16


def config():
    return tf1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)


def data(seed, shape, classes, n=512):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + tuple(shape)).astype(np.float32)
    teacher = rng.standard_normal((int(np.prod(shape)), classes)).astype(np.float32)
    y = np.argmax(x.reshape(n, -1) @ teacher, axis=1).astype(np.int32)
    return x, y


# ======================================================================================
# models (unpruned: what a legacy TF1 training script exports)


def dense(x, scope, n_in, n_out, relu, resource=False, partitioner=None):
    with tf1.variable_scope(scope, partitioner=partitioner):
        w = tf1.get_variable("weights", [n_in, n_out], use_resource=resource,
                             initializer=tf1.truncated_normal_initializer(stddev=(1.0 / n_in) ** 0.5))
        b = tf1.get_variable("biases", [n_out], use_resource=resource,
                             initializer=tf1.constant_initializer(0.1))
        h = tf.matmul(x, w) + b
        return tf.nn.relu(h) if relu else h


def mlp(resource=False, partitioned=False, global_step=True):
    x = tf1.placeholder(tf.float32, [None, 32], name="input")
    labels = tf1.placeholder(tf.int32, [None], name="labels")
    h = dense(x, "fc1", 32, 64, True, resource, tf1.fixed_size_partitioner(3) if partitioned else None)
    h = dense(h, "fc2", 64, 64, True, resource)
    logits = dense(h, "fc3", 64, 10, False, resource)
    tf.nn.softmax(logits, name="output")
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
    gs = None
    if global_step and resource:
        gs = tf1.get_variable("global_step", [], tf.int64, tf1.zeros_initializer(), trainable=False, use_resource=True,
                              collections=[tf1.GraphKeys.GLOBAL_VARIABLES, tf1.GraphKeys.GLOBAL_STEP])
    elif global_step:
        gs = tf1.train.get_or_create_global_step()
    train = tf1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
    return {"input_shape": [32], "train_op": train.name, "seed": 7}


def convnet():
    """Conv2D, DepthwiseConv2dNative, a BatchMatMul with a variable operand, MatMul."""
    x = tf1.placeholder(tf.float32, [None, 8, 8, 3], name="input")
    labels = tf1.placeholder(tf.int32, [None], name="labels")
    decay = []
    init = tf1.truncated_normal_initializer(stddev=0.2)
    with tf1.variable_scope("conv1"):
        k = tf1.get_variable("weights", [3, 3, 3, 8], initializer=init)
        decay.append(tf.nn.l2_loss(k) * 1e-4)
        h = tf.nn.relu(tf.nn.conv2d(x, k, [1, 1, 1, 1], "SAME"))
    with tf1.variable_scope("depthwise"):
        k = tf1.get_variable("weights", [3, 3, 8, 2], initializer=init)
        h = tf.nn.relu(tf.nn.depthwise_conv2d(h, k, [1, 1, 1, 1], "SAME"))
    with tf1.variable_scope("conv2"):
        k = tf1.get_variable("weights", [3, 3, 16, 16], initializer=init)
        b = tf1.get_variable("biases", [16], initializer=tf1.zeros_initializer())
        decay.append(tf.nn.l2_loss(k) * 1e-4)
        h = tf.nn.relu(tf.nn.conv2d(h, k, [1, 2, 2, 1], "SAME") + b)
    with tf1.variable_scope("proj"):
        w = tf1.get_variable("weights", [16, 8], initializer=init)
        h = tf.reshape(tf.matmul(tf.reshape(h, [-1, 16, 16]), w), [-1, 128])
    logits = dense(h, "fc", 128, 10, False)
    tf.nn.softmax(logits, name="output")
    loss = tf.add(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)),
                  tf.add_n(decay), name="loss")
    gs = tf1.train.get_or_create_global_step()
    train = tf1.train.MomentumOptimizer(0.05, 0.9).minimize(loss, global_step=gs)
    return {"input_shape": [8, 8, 3], "train_op": train.name, "seed": 11}


def cifar_decay():
    """cifar10.py's shape: a conv layer without weight decay, then an fc weight made by
    `_variable_with_weight_decay` (l2_loss(w) * 0.004 in the `losses` collection), Momentum."""
    x = tf1.placeholder(tf.float32, [None, 8, 8, 3], name="input")
    labels = tf1.placeholder(tf.int32, [None], name="labels")
    with tf1.variable_scope("conv1"):
        k = tf1.get_variable("weights", [5, 5, 3, 8], initializer=tf1.truncated_normal_initializer(stddev=0.1))
        h = tf.nn.relu(tf.nn.conv2d(x, k, [1, 1, 1, 1], "SAME"))
        h = tf.nn.max_pool2d(h, 2, 2, "SAME")
    h = tf.reshape(h, [-1, 128])
    with tf1.variable_scope("fc"):
        w = tf1.get_variable("weights", [128, 10], initializer=tf1.truncated_normal_initializer(stddev=0.1))
        tf1.add_to_collection("losses", tf.multiply(tf.nn.l2_loss(w), 0.004, name="weight_loss"))
        b = tf1.get_variable("biases", [10], initializer=tf1.constant_initializer(0.1))
        logits = tf.matmul(h, w) + b
    tf.nn.softmax(logits, name="output")
    tf1.add_to_collection("losses", tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)))
    loss = tf.add_n(tf1.get_collection("losses"), name="loss")
    gs = tf1.train.get_or_create_global_step()
    train = tf1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=gs)
    return {"input_shape": [8, 8, 3], "train_op": train.name, "seed": 5}


def rnn():
    """A tanh RNN in a TF1 while loop: its kernel reaches the MatMul through Enter."""
    x = tf1.placeholder(tf.float32, [None, 5, 6], name="input")
    labels = tf1.placeholder(tf.int32, [None], name="labels")
    with tf1.variable_scope("rnn"):
        w = tf1.get_variable("kernel", [6 + 16, 16], initializer=tf1.truncated_normal_initializer(stddev=0.3))
        b = tf1.get_variable("bias", [16], initializer=tf1.zeros_initializer())
    steps = tf.transpose(x, [1, 0, 2])

    def body(t, h):
        return t + 1, tf.tanh(tf.matmul(tf.concat([tf.gather(steps, t), h], 1), w) + b)

    _, h = tf1.while_loop(lambda t, h: t < 5, body, [tf.constant(0), tf.zeros([tf.shape(x)[0], 16])])
    logits = dense(h, "fc", 16, 10, False)
    tf.nn.softmax(logits, name="output")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
    gs = tf1.train.get_or_create_global_step()
    train = tf1.train.GradientDescentOptimizer(0.5).minimize(loss, global_step=gs)
    return {"input_shape": [5, 6], "train_op": train.name, "seed": 3}


def no_weights():
    x = tf1.placeholder(tf.float32, [None, 4], name="input")
    v = tf1.get_variable("scale", [4], initializer=tf1.ones_initializer())
    loss = tf.reduce_sum(tf.multiply(x, v), name="loss")
    gs = tf1.train.get_or_create_global_step()
    train = tf1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
    return {"input_shape": [4], "train_op": train.name, "seed": 1}


MODELS = {
    "mlp": lambda: mlp(),
    "mlp_resource": lambda: mlp(resource=True),
    "mlp_partitioned": lambda: mlp(partitioned=True),
    "mlp_no_global_step": lambda: mlp(global_step=False),
    "mlp_no_saver": lambda: mlp(),
    "mlp_sharded": lambda: mlp(),
    "convnet": convnet,
    "rnn": rnn,
    "cifar_decay": cifar_decay,
    "no_weights": no_weights,
}


def build(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, fn in MODELS.items():
        g = tf.Graph()
        with g.as_default():
            tf1.set_random_seed(1)
            info = fn()
            path = os.path.join(out_dir, name + ".meta")
            if name == "mlp_no_saver":
                tf1.train.export_meta_graph(filename=path)
            else:
                tf1.train.Saver(sharded=name == "mlp_sharded").export_meta_graph(path)
        info["meta"] = path
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(info, f)
    print(json.dumps({"models": sorted(MODELS)}))


# ======================================================================================
# the reference


def parse_hparams(s):
    hp = {"name": "model_pruning", "begin_pruning_step": 0, "end_pruning_step": -1,
          "weight_sparsity_map": [], "block_dims_map": [], "threshold_decay": 0.0,
          "pruning_frequency": 10, "block_height": 1, "block_width": 1,
          "block_pooling_function": "AVG", "initial_sparsity": 0.0, "target_sparsity": 0.5,
          "sparsity_function_begin_step": 0, "sparsity_function_end_step": 100,
          "sparsity_function_exponent": 3.0}
    for m in re.finditer(r"(\w+)=(\[[^\]]*\]|[^,]*)", s):
        k, v = m.group(1), m.group(2)
        if v.startswith("["):
            hp[k] = [e for e in re.split(r"[ ,]", v[1:-1]) if e]
        elif isinstance(hp.get(k), (int, float)) and not isinstance(hp.get(k), bool):
            hp[k] = type(hp[k])(v)
        else:
            hp[k] = v
    return hp


def schedule(hp, step):
    """The sparsity at `step`, in float32 as the graph computes it."""
    f = np.float32
    b, e = hp["sparsity_function_begin_step"], hp["sparsity_function_end_step"]
    p = f(step - b) / f(e - b)
    p = min(f(1.0), max(f(0.0), p))
    return f(f(hp["initial_sparsity"] - hp["target_sparsity"]) * np.power(f(1.0) - p, f(hp["sparsity_function_exponent"]))
             + f(hp["target_sparsity"]))


def map_value(hp, weight):
    """The weight's weight_sparsity_map value; a pattern given twice has its last value."""
    found = None
    for entry in hp["weight_sparsity_map"]:
        pattern, value = entry.rsplit(":", 1)
        if re.search(pattern, weight):
            found = float(value)
    return found


def weight_sparsity(hp, weight, s):
    value = map_value(hp, weight)
    return s if value is None else ratio_f32(s, value, hp["target_sparsity"])


def ratio_f32(s, value, target):
    """contrib's `sparsity * (value / target)`, the division of two float32 constants."""
    return np.float32(s * (np.float32(value) / np.float32(target)))


def block_dims(hp, weight, shape):
    dims = [hp["block_height"], hp["block_width"]]
    for entry in hp["block_dims_map"]:
        pattern, value = entry.rsplit(":", 1)
        if re.search(pattern, weight):
            dims = [int(d) for d in value.split("x")]
    squeezed = [d for d in shape if d != 1]
    if len(squeezed) != 2:
        return None
    dims = [squeezed[i] if dims[i] == -1 else dims[i] for i in range(2)]
    return None if dims == [1, 1] else dims


def kept(n, s):
    return int(np.round(np.float32(n) * (np.float32(1.0) - s)))


def units(w, weight, hp, structure, out_axis):
    """What one mask decision covers, as (scores per unit, function unit mask -> full mask)."""
    shape = w.shape
    if structure == "channel":
        c = shape[0] if out_axis == "First" else (shape[-2] * shape[-1] if out_axis == "LastTwo" else shape[-1])
        m = w.reshape(c, -1) if out_axis == "First" else w.reshape(-1, c).T
        norms = np.sqrt(np.sum(np.square(m), axis=1))
        expand = (lambda u: np.broadcast_to(u[:, None], m.shape).reshape(shape)) if out_axis == "First" else \
            (lambda u: np.broadcast_to(u[None, :], (w.size // c, c)).reshape(shape))
        return norms, expand, "channel"
    dims = block_dims(hp, weight, shape)
    if dims is None:
        return np.abs(w).ravel(), lambda u: u.reshape(shape), "element"
    r, c = [d for d in shape if d != 1]
    bh, bw = dims
    assert r % bh == 0 and c % bw == 0, "test blocks must tile the weight"
    blocks = np.abs(w).reshape(r // bh, bh, c // bw, bw)
    pooled = blocks.max(axis=(1, 3)) if hp["block_pooling_function"] == "MAX" else blocks.mean(axis=(1, 3))
    return pooled.ravel(), lambda u: np.repeat(np.repeat(u.reshape(r // bh, c // bw), bh, 0), bw, 1).reshape(shape), "block"


def check_update(hp, structure, wr, w, mask, threshold, old_threshold, step):
    s = weight_sparsity(hp, wr["weight"], schedule(hp, step))
    scores, expand, unit = units(w, wr["weight"], hp, structure, wr["out_axis"])
    k = kept(scores.size, s)
    f, decay = np.float32, hp["threshold_decay"]
    # size * (1 - sparsity) a hair from .5 may round either way: numpy's pow
    # and TensorFlow's differ in the last bit.
    exact_k = f(scores.size) * (f(1.0) - s)
    ks = {k} | ({int(np.floor(exact_k)), int(np.ceil(exact_k))} if abs(exact_k % 1 - 0.5) < 1e-3 else set())
    ranked = np.sort(scores)[::-1]
    refs = [ranked[max(kk - 1, 0)] for kk in sorted(ks)]
    if decay:
        refs = [f(f(r) * f(1 - decay)) + f(f(old_threshold) * f(decay)) for r in refs]
    ref = min(refs, key=lambda r: abs(r - threshold))
    problems = []
    if not set(np.unique(mask)) <= {0.0, 1.0}:
        problems.append("mask is not 0/1")
    exact = unit == "element"
    if not (threshold == ref if exact else np.isclose(threshold, ref, rtol=1e-5)):
        problems.append(f"threshold {threshold!r} != reference {ref!r}")
    # The mask as one decision per unit; it must be constant within each unit.
    index = np.asarray(expand(np.arange(scores.size))).ravel()
    unit_mask = np.bincount(index, weights=mask.ravel(), minlength=scores.size) / np.bincount(index, minlength=scores.size)
    if not set(np.unique(unit_mask)) <= {0.0, 1.0}:
        problems.append(f"mask is not constant within each {unit}")
    # Pooled values and norms are sums whose rounding differs between numpy and
    # TensorFlow: a unit scoring within rounding of the threshold may go either way.
    near = np.zeros_like(scores, dtype=bool) if exact else np.isclose(scores, threshold, rtol=1e-5)
    if np.any(((scores >= threshold) != (unit_mask == 1)) & ~near):
        problems.append(f"mask differs from |W| >= threshold per {unit}")
    zeros = int(np.sum(unit_mask == 0))
    want = scores.size - k
    # A smoothed threshold lags the schedule, by design.
    if not decay and abs(zeros - want) > 1:
        problems.append(f"{zeros} zero {unit}s, schedule says {want} of {scores.size}")
    return problems, {"step": int(step), "sparsity": float(s), "zero_units": zeros, "units": int(scores.size),
                      "mask_zero_fraction": float(np.mean(mask == 0))}


# ======================================================================================
# training


def value_of(g, name, variables):
    v = variables.get(name)
    return v.value() if v is not None else g.get_tensor_by_name(name + ":0")


def train_case(case):
    hp = parse_hparams(case["hparams"])
    model = json.load(open(case["model"]))
    report = case["report"]
    out = {"name": case["name"], "problems": [], "updates": []}
    g = tf.Graph()
    with g.as_default(), tf1.Session(graph=g, config=config()) as sess:
        saver = tf1.train.import_meta_graph(case["meta"])
        variables = {v.op.name: v for v in tf1.global_variables()}
        variables.update({v.name: v for v in tf1.global_variables()})
        for wr in report["weights"]:
            for key in ("mask", "threshold"):
                if wr[key] not in variables and not any(n.startswith(wr[key] + "/part_") for n in variables):
                    out["problems"].append(f"{wr[key]} is not in global_variables()")
        sess.run(tf1.global_variables_initializer())
        # A Saver built after import covers them too (it reads the `variables` collection).
        os.makedirs(os.path.join(case["ckpt_dir"], "fresh"), exist_ok=True)
        fresh = tf1.train.Saver().save(sess, os.path.join(case["ckpt_dir"], "fresh", "model.ckpt"))
        fresh_keys = {name for name, _ in tf.train.list_variables(fresh)}
        out["new_saver_covers_masks"] = all(wr[k] in fresh_keys for wr in report["weights"] for k in ("mask", "threshold"))
        x_in = g.get_tensor_by_name("input:0")
        labels = g.get_tensor_by_name("labels:0")
        loss = g.get_tensor_by_name("loss:0")
        train = g.get_operation_by_name(model["train_op"])
        update = g.get_operation_by_name(report["conditional_mask_update"])
        gstep = value_of(g, report["global_step"], variables)
        last = value_of(g, report["last_mask_update_step"], variables)
        names = [(wr, value_of(g, wr["weight"], variables), value_of(g, wr["mask"], variables),
                  value_of(g, wr["threshold"], variables), g.get_tensor_by_name(wr["masked_weight"] + ":0"))
                 for wr in report["weights"]]
        x, y = data(model["seed"], model["input_shape"], 10)
        losses = []
        previous = None
        frozen = model["train_op"] == "GradientDescent"
        for i in range(case["steps"]):
            j = (i * BATCH) % (len(x) - BATCH)
            feed = {x_in: x[j:j + BATCH], labels: y[j:j + BATCH]}
            # Traced: which ops really ran (a dead branch of the conditional runs none).
            trace = tf1.RunMetadata()
            traced = dict(options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE), run_metadata=trace)
            if case["chained"]:
                losses.append(float(sess.run([train, loss], feed, **traced)[1]))
            else:
                losses.append(float(sess.run([train, loss], feed)[1]))
                sess.run(update, **traced)
            sorted_now = any(n.node_name.endswith("TopKV2") for d in trace.step_stats.dev_stats for n in d.node_stats)
            step, last_step = sess.run([gstep, last])
            values = sess.run([[w, m, t, mw] for _, w, m, t, mw in names])
            updated = last_step == step and step > 0 and (previous is None or previous[0] != last_step)
            if sorted_now != updated:
                out["problems"].append(f"step {step}: the sort ran={sorted_now}, but a mask update happened={updated}")
            for (wr, *_), (w, m, t, mw) in zip(names, values):
                if updated:
                    old_t = previous[1][wr["weight"]][2] if previous else np.float32(0)
                    problems, info = check_update(hp, case["structure"], wr, w, m, t, old_t, step)
                    info["weight"] = wr["weight"]
                    out["updates"].append(info)
                    out["problems"] += [f"{wr['weight']} at step {step}: {p}" for p in problems]
                elif previous is not None:
                    old_mask, old_w, _ = previous[1][wr["weight"]]
                    if not np.array_equal(old_mask, m):
                        out["problems"].append(f"{wr['weight']}: mask changed at step {step} without an update")
                    # With plain gradient descent a pruned weight gets no gradient, as in contrib.
                    elif frozen and not np.array_equal(old_w[m == 0], w[m == 0]):
                        out["problems"].append(f"{wr['weight']}: pruned weights moved at step {step}")
                if np.any(mw[m == 0] != 0):
                    out["problems"].append(f"{wr['weight']}: masked weight nonzero under the mask at step {step}")
            previous = (last_step, {wr["weight"]: (v[1], v[0], v[2]) for (wr, *_), v in zip(names, values)})
        out["loss_first"] = float(np.mean(losses[:20]))
        out["loss_last"] = float(np.mean(losses[-20:]))
        out["final_step"] = int(sess.run(gstep))
        out["final_zero_fraction"] = {wr["weight"]: float(np.mean(v[1] == 0)) for (wr, *_), v in zip(names, values)}
        out["problems"] += check_summaries(sess, hp, names, values, out["final_step"], sess.run(last))
        # The graph's own saver (from saver_def) checkpoints masks and thresholds.
        os.makedirs(case["ckpt_dir"], exist_ok=True)
        prefix = saver.save(sess, os.path.join(case["ckpt_dir"], "model.ckpt"), global_step=out["final_step"])
        stored = dict(tf.train.list_variables(prefix))
        reader = tf.train.load_checkpoint(prefix)
        for (wr, _, m, t, _), v in zip(names, values):
            for key, value in ((wr["mask"], v[1]), (wr["threshold"], v[2])):
                if key not in stored:
                    out["problems"].append(f"checkpoint lacks {key}")
                elif not np.array_equal(reader.get_tensor(key), value):
                    out["problems"].append(f"checkpoint value of {key} differs")
        out["checkpoint_keys"] = sorted(stored)
        # Restoring through the graph's saver brings the masks back.
        sess.run([v.initializer for v in tf1.global_variables()])
        saver.restore(sess, prefix)
        restored = sess.run([n[2] for n in names])
        if not all(np.array_equal(a, v[1]) for a, v in zip(restored, values)):
            out["problems"].append("restore did not bring the masks back")
        rng = np.random.default_rng(99)
        x_eval = rng.standard_normal((4,) + tuple(model["input_shape"])).astype(np.float32)
        probs = sess.run(g.get_tensor_by_name("output:0"), {x_in: x_eval})
        np.save(os.path.join(case["ckpt_dir"], "eval_input.npy"), x_eval)
        np.save(os.path.join(case["ckpt_dir"], "eval_output.npy"), probs)
    return out


def check_summaries(sess, hp, names, values, step, last_step):
    """The pruning summaries, merged as a training loop would, report the schedule and masks."""
    summary = tf1.Summary.FromString(sess.run(tf1.summary.merge_all()))
    got = {v.tag: v.simple_value for v in summary.value}
    scope = hp["name"] + "_summaries"
    want = {f"{scope}/sparsity": float(schedule(hp, step)), f"{scope}/last_mask_update_step": float(last_step)}
    for (wr, *_), v in zip(names, values):
        want[f"{scope}/{wr['mask']}/sparsity"] = float(np.mean(v[1] == 0))
        want[f"{scope}/{wr['threshold']}/threshold"] = float(v[2])
    return [f"summary {tag}: {got.get(tag)} != {value}" for tag, value in want.items()
            if got.get(tag) is None or not np.isclose(got[tag], value, rtol=1e-6)]


# ======================================================================================
# exact references: what TensorFlow 1.15's contrib computes, in float32, op for op


def seq_sum(blocks):
    """Sums the last axis left to right in float32, as TensorFlow's AvgPool accumulates."""
    acc = np.zeros(blocks.shape[:-1], np.float32)
    for i in range(blocks.shape[-1]):
        acc = np.float32(acc + blocks[..., i])
    return acc


def windows(n, b):
    """SAME padding with stride = window b: ceil(n / b) windows, the padding split with
    the smaller half before (so a short window can be the first)."""
    count = -(-n // b)
    before = (count * b - n) // 2
    return [(max(i * b - before, 0), min(i * b - before + b, n)) for i in range(count)]


def pool_rows(a, b, fn):
    """AvgPool / MaxPool of a matrix over windows of b rows (stride b, SAME: a short last window)."""
    out = []
    for lo, hi in windows(a.shape[0], b):
        block = np.moveaxis(a[lo:hi], 0, -1)
        out.append(block.max(axis=-1) if fn == "MAX" else np.float32(seq_sum(block) / np.float32(hi - lo)))
    return np.stack(out)


def factorized_pool(a, bh, bw, fn):
    """contrib's pruning_utils.factorized_pool (use_tpu): rows, then columns."""
    return pool_rows(pool_rows(a, bh, fn).T, bw, fn).T


def plain_pool(a, bh, bw, fn):
    """One AvgPool / MaxPool over bh x bw windows: each window summed in row-major order."""
    return np.array([[a[r0:r1, c0:c1].max() if fn == "MAX" else
                      np.float32(seq_sum(a[r0:r1, c0:c1].reshape(1, -1))[0] / np.float32((r1 - r0) * (c1 - c0)))
                      for c0, c1 in windows(a.shape[1], bw)] for r0, r1 in windows(a.shape[0], bh)], np.float32)


def reference_mask(w, sparsity, pool=None):
    """contrib's `_update_mask` (threshold_decay 0) on |W|, or on |W| pooled in blocks by
    `pool = (bh, bw, function)`: the k-th largest, k = round(size * (1 - sparsity)), and
    the mask |W| >= it, each block's decision expanded back."""
    scores = np.abs(w)
    if pool:
        bh, bw, pooled = pool
        scores = pooled(np.abs(w))
    k = int(np.round(np.float32(scores.size) * (np.float32(1.0) - sparsity)))
    threshold = np.sort(scores.ravel())[::-1][max(k - 1, 0)]
    keep = (scores >= threshold).astype(np.float32)
    if pool:
        keep = np.repeat(np.repeat(keep, bh, 0), bw, 1)[:w.shape[0], :w.shape[1]]
    return threshold, keep, k


def exact_case(case):
    """Trains a chained case step by step, comparing every value the kind of case is about
    with a reference computed here from the same step's inputs, bit for bit."""
    hp = parse_hparams(case["hparams"])
    model = json.load(open(case["model"]))
    report = case["report"]
    kind = case["kind"]
    out = {"name": case["name"], "problems": [], "updates": []}
    g = tf.Graph()
    with g.as_default(), tf1.Session(graph=g, config=config()) as sess:
        tf1.train.import_meta_graph(case["meta"])
        variables = {v.op.name: v for v in tf1.global_variables()}
        sess.run(tf1.global_variables_initializer())
        x_in, labels = g.get_tensor_by_name("input:0"), g.get_tensor_by_name("labels:0")
        train = g.get_operation_by_name(model["train_op"])
        gstep = value_of(g, report["global_step"], variables)
        last = value_of(g, report["last_mask_update_step"], variables)
        out["last_mask_update_step_op"] = g.get_operation_by_name(report["last_mask_update_step"]).type
        weights = {wr["weight"]: (wr, value_of(g, wr["weight"], variables), value_of(g, wr["mask"], variables),
                                  value_of(g, wr["threshold"], variables)) for wr in report["weights"]}
        if kind == "decay":
            wr, w_t, m_t, _ = weights["fc/weights"]
            slot_t = variables["fc/weights/Momentum"].value()
            # The layer's own gradient for W, before inject's mask multiplies it.
            product = [op for op in g.get_operations() if op.name.endswith("fc/weights/masked_weight_grad/Mul")]
            layer_grad = product[0].inputs[0]
            out["layer_gradient"] = layer_grad.name
        x, y = data(model["seed"], model["input_shape"], 10)
        previous_last = 0
        first_old_difference = None
        for i in range(case["steps"]):
            j = (i * BATCH) % (len(x) - BATCH)
            feed = {x_in: x[j:j + BATCH], labels: y[j:j + BATCH]}
            if kind == "decay":
                f = np.float32
                w0, m0, slot0 = sess.run([w_t, m_t, slot_t])
                t = sess.run([train, layer_grad], feed)[1]
                w1, slot1, step = sess.run([w_t, slot_t, gstep])
                # contrib: the layer's gradient through Mul(mask, W), plus l2_loss(W) * 0.004's, unmasked.
                grad = f(t * m0) + f(w0 * f(0.004))
                slot_ref = f(slot0 * f(0.9)) + grad
                w_ref = f(w0 - f(slot_ref * f(0.1)))
                if not np.array_equal(slot1, slot_ref):
                    out["problems"].append(f"step {step}: Momentum slot differs from the reference")
                if not np.array_equal(w1, w_ref):
                    out["problems"].append(f"step {step}: weight differs from the reference")
                # What a regularizer reading mask * W (and a wholly masked gradient) gives.
                old = f(f(f(f(m0 * w0) * f(0.004)) + t) * m0)
                if first_old_difference is None and not np.array_equal(f(slot0 * f(0.9)) + old, slot1):
                    first_old_difference = int(step)
                    pruned = m0 == 0
                    differs = slot1 != f(slot0 * f(0.9)) + old
                    out["pruned_at_first_difference"] = int(np.sum(pruned))
                    out["differing_slots"] = int(np.sum(differs))
                    out["differing_slots_all_pruned"] = bool(np.all(pruned[differs]))
                    # There contrib's slot has W * 0.004 that a masked regularizer would not give.
                    out["max_slot_difference"] = float(np.max(np.abs(slot1 - (f(slot0 * f(0.9)) + old))))
                    out["max_decay_gradient_of_pruned"] = float(np.max(np.abs(f(w0 * f(0.004))[pruned])))
            else:
                sess.run(train, feed)
                step = sess.run(gstep)
            last_step = int(sess.run(last))
            if last_step != step or last_step == previous_last:
                continue
            previous_last = last_step
            sparsity = schedule(hp, step)
            for name, (wr, w_t_, m_t_, thr_t) in weights.items():
                w, m, thr = sess.run([w_t_, m_t_, thr_t])
                s = weight_sparsity(hp, name, sparsity)
                info = {"weight": name, "step": int(step), "kept": int(np.sum(m)), "size": int(m.size)}
                if kind == "tpu":
                    bh, bw = hp["block_height"], hp["block_width"]
                    fn = hp["block_pooling_function"]
                    ref_thr, ref_m, k = reference_mask(w, s, (bh, bw, lambda a: factorized_pool(a, bh, bw, fn)))
                    plain_thr, _, _ = reference_mask(w, s, (bh, bw, lambda a: plain_pool(a, bh, bw, fn)))
                    info["plain_pool_ulps"] = int(abs(int(np.float32(plain_thr).view(np.int32)) -
                                                      int(np.float32(ref_thr).view(np.int32))))
                else:
                    ref_thr, ref_m, k = reference_mask(w, s)
                info["reference_kept_k"] = k
                if map_value(hp, name) is not None:
                    # The same with the ratio divided in float64, as inject did before.
                    _, _, info["float64_ratio_k"] = reference_mask(
                        w, np.float32(sparsity * np.float32(map_value(hp, name) / hp["target_sparsity"])))
                if thr != ref_thr:
                    out["problems"].append(f"{name} at step {step}: threshold {thr!r} != reference {ref_thr!r}")
                if not np.array_equal(m, ref_m):
                    out["problems"].append(f"{name} at step {step}: mask differs from the reference "
                                           f"({int(np.sum(m))} vs {int(np.sum(ref_m))} kept)")
                out["updates"].append(info)
        out["first_step_a_masked_regularizer_differs"] = first_old_difference
        out["final_step"] = int(sess.run(gstep))
    return out


def run_output(gd, x):
    g = tf.Graph()
    with g.as_default():
        tf1.import_graph_def(gd, name="")
    with tf1.Session(graph=g, config=config()) as sess:
        return sess.run("output:0", {"input:0": x})


def compare_case(case):
    """The stripped graph against references run here, in this process, on the same inputs
    (outputs of another process or machine may differ in the last bits): TensorFlow's own
    strip of the same checkpoint, which must give bit-identical outputs, and the training
    graph restored from the checkpoint. The output `train` recorded is a sanity check only."""
    import make_fixtures

    x = np.load(os.path.join(case["ckpt_dir"], "eval_input.npy"))
    recorded = np.load(os.path.join(case["ckpt_dir"], "eval_output.npy"))
    g = tf.Graph()
    with g.as_default(), tf1.Session(graph=g, config=config()) as sess:
        prefix = tf1.train.latest_checkpoint(case["ckpt_dir"])
        tf1.train.import_meta_graph(prefix + ".meta", clear_devices=True).restore(sess, prefix)
        training = sess.run("output:0", {"input:0": x})
    theirs = run_output(make_fixtures.tf_strip(case["ckpt_dir"], ["output"]), x)
    ours_gd = tf1.GraphDef()
    with open(case["stripped"], "rb") as f:
        ours_gd.ParseFromString(f.read())
    ours = run_output(ours_gd, x)
    close = lambda a, b: bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))  # noqa: E731
    return {"name": case["name"], "equal": bool(np.array_equal(ours, theirs)),
            "max_abs_diff": float(np.max(np.abs(ours - theirs))),
            "onednn": bool(_pywrap_util_port.IsMklEnabled()),
            "equal_to_training_graph": bool(np.array_equal(ours, training)),
            "close_to_training_graph": close(ours, training),
            "max_abs_diff_training_graph": float(np.max(np.abs(ours - training))),
            "close_to_recorded": close(training, recorded)}


def main(argv):
    if len(argv) != 2 or argv[0] not in ("build", "train", "compare", "exact"):
        print(__doc__)
        return 1
    if argv[0] == "build":
        build(argv[1])
        return 0
    cases = json.load(open(argv[1]))
    fn = {"train": train_case, "compare": compare_case, "exact": exact_case}[argv[0]]
    print(json.dumps([fn(c) for c in cases]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
