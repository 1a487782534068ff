#!/usr/bin/env python3
"""Deterministic generator of tf-strip's test fixtures, written by real TensorFlow.

usage: .venv/bin/python scripts/make_fixtures.py OUT_DIR [FIXTURE ...]

Each fixture is built in its own Python process (TensorFlow's v1/v2 behaviour switches are
process-global), then a second fresh process computes what TensorFlow reads back from it
(`expected/`). Everything is seeded and single-threaded (and the workers use the pure-Python
protobuf backend, see WORKER_ENV), so a second run gives byte-identical files, .meta included.
Savers use save_relative_paths=True, so `checkpoint` names `model.ckpt-N` relative to its
directory; the TF1 Saver of TF 2.21 writes no timestamp lines there (if it ever does, they
are pinned to FIXED_TIMESTAMP).

Since tf.contrib does not exist in TF 2.x, the contrib.model_pruning graph structure is
re-implemented below (our own code, following /work/shared/reference/model-pruning.md):
per pruned weight in variable scope S: S/mask (ones, non-trainable), S/threshold (scalar
zero, non-trainable), S/weights/masked_weight = Mul(mask, weights); collections masks,
thresholds, masked_weights, kernel; the `model_pruning` name scope with the cubic sparsity
schedule driven by global_step, model_pruning/last_mask_update_step, per-weight update ops
(top_k over |W| flattened), the mask_update NoOp inside a tf.cond conditional update, and the
scalar summaries. Training runs the conditional update after every step, so masks really
become sparse. contrib's MaskedBasicLSTMCell and MaskedLSTMCell are rebuilt the same way
(`masked_lstm_cells`); under dynamic_rnn their masked kernel is computed inside the while loop,
which TensorFlow's own strip cannot strip: those fixtures say `"tf_strip": false` (and why) in
fixture.json, get no expected/stripped.pb, and record the training graph's outputs.

The canonical-bytes rule for expected/tensors.json is implemented (once) in
scripts/tf_oracle.py: numeric/bool = little-endian raw element bytes (bool one byte, bfloat16
two raw bytes, complex as (re, im) pairs); string = per element u64-LE length + bytes.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # importing tf_oracle must not leave scripts/__pycache__

FIXTURES = ["convnet", "mlp90", "resource", "partitioned", "sharded", "controlflow", "dtypes", "lstm",
            "lstm_peephole", "vgg", "resnet", "inception", "mobilenet"]
FIXED_TIMESTAMP = "1577836800.0"  # replaces Saver's wall-clock timestamps in `checkpoint`
IO_BATCH = 2

WORKER_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # Plain Eigen kernels, so a rerun on this machine gives the same outputs/*.bin. Those are
    # still this CPU's last bits: tests compare them with a tolerance only, and run
    # stripped.pb in their own process as the exact reference.
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "CUDA_VISIBLE_DEVICES": "",
    # The default upb protobuf backend serialises map fields in hash-table order, and TF
    # stores each tf.cond's CondContextDef (with its `external_values` map) as opaque bytes in
    # the .meta's `cond_context` collection, so .meta files would differ from run to run.
    # The pure-Python backend keeps insertion order: reproducible .meta files.
    "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python",
}


# ========================================================================================
# driver


def run_worker(stage, out_dir, name):
    env = dict(os.environ)
    env.update(WORKER_ENV)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", stage, out_dir, name]
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"make_fixtures: {stage} {name} failed (exit {r.returncode})")
    for line in r.stdout.splitlines():
        print(f"  [{name}/{stage}] {line}")


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 1
    if argv[0] == "--worker":
        stage, out_dir, name = argv[1], argv[2], argv[3]
        os.environ.update(WORKER_ENV)
        if stage == "build":
            BUILDERS[name](os.path.join(out_dir, name))
        elif stage == "expected":
            make_expected(os.path.join(out_dir, name))
        else:
            raise SystemExit(f"unknown stage {stage}")
        return 0
    out_dir = argv[0]
    names = argv[1:] or FIXTURES
    for n in names:
        if n not in FIXTURES:
            raise SystemExit(f"unknown fixture {n}; known: {', '.join(FIXTURES)}")
    os.makedirs(out_dir, exist_ok=True)
    for n in names:
        d = os.path.join(out_dir, n)
        if os.path.exists(d):
            shutil.rmtree(d)
        print(f"== {n}")
        run_worker("build", out_dir, n)
        run_worker("expected", out_dir, n)
    total = 0
    for root, _, files in os.walk(out_dir):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"total size of {out_dir}: {total} bytes")
    if total > 15 * 1024 * 1024:
        raise SystemExit("testdata is over 15 MB")
    return 0


# ========================================================================================
# common TensorFlow helpers (imported lazily: the driver process never loads TF)


def tf_modules():
    import numpy as np
    import tensorflow as tf

    return np, tf, tf.compat.v1


def session_config(cpus=1):
    _, _, tf1 = tf_modules()
    return tf1.ConfigProto(
        intra_op_parallelism_threads=1,
        inter_op_parallelism_threads=1,
        device_count={"CPU": cpus},
    )


def fix_checkpoint_state(d):
    """Pin wall-clock timestamps in `checkpoint`, if any, for reproducibility. (The TF1
    Saver of TF 2.21 writes none: only model_checkpoint_path/all_model_checkpoint_paths.)"""
    p = os.path.join(d, "checkpoint")
    lines = []
    with open(p) as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("all_model_checkpoint_timestamps", "last_preserved_timestamp"):
                line = f"{key}: {FIXED_TIMESTAMP}\n"
            lines.append(line)
    with open(p, "w") as f:
        f.writelines(lines)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n")


def save_fixture(sess, saver, d, global_step, fixture):
    """Save like a TF1 user (model.ckpt-N + .meta + checkpoint) and write fixture.json."""
    os.makedirs(d, exist_ok=True)
    path = saver.save(sess, os.path.join(d, "model.ckpt"), global_step=global_step)
    fix_checkpoint_state(d)
    fixture = dict(fixture)
    fixture["prefix"] = os.path.basename(path)
    write_json(os.path.join(d, "fixture.json"), fixture)
    return path


# ========================================================================================
# contrib.model_pruning, re-implemented (graph structure per model-pruning.md)

MASK_COLLECTION = "masks"
THRESHOLD_COLLECTION = "thresholds"
MASKED_WEIGHT_COLLECTION = "masked_weights"
WEIGHT_COLLECTION = "kernel"
MASKED_WEIGHT_NAME = "weights/masked_weight"

DEFAULT_HPARAMS = dict(
    name="model_pruning",
    begin_pruning_step=0,
    end_pruning_step=-1,
    threshold_decay=0.0,
    pruning_frequency=10,
    nbins=256,
    block_height=1,
    block_width=1,
    block_pooling_function="AVG",
    initial_sparsity=0.0,
    target_sparsity=0.5,
    sparsity_function_begin_step=0,
    sparsity_function_end_step=100,
    sparsity_function_exponent=3.0,
    use_tpu=False,
)


def parse_hparams(s):
    hp = dict(DEFAULT_HPARAMS)
    for item in filter(None, s.split(",")):
        k, v = item.split("=", 1)
        if k not in hp:
            raise ValueError(f"unknown pruning hparam {k}")
        t = type(hp[k])
        hp[k] = (v.lower() == "true") if t is bool else t(v)
    return hp


def _is_partitioned(v):
    _, _, tf1 = tf_modules()
    from tensorflow.python.ops.variables import PartitionedVariable

    return isinstance(v, PartitionedVariable)


def _op_name(v):
    return v.name if _is_partitioned(v) else v.op.name


def _in_collection(obj, name):
    _, _, tf1 = tf_modules()
    # identity, not ==: with TF2 tensor equality `==` is elementwise
    return any(o is obj for o in tf1.get_collection_ref(name))


def apply_mask(x, scope=""):
    """contrib's pruning.apply_mask: mask + threshold variables in `scope` (partitioned like
    the scope says) and `<name scope>/weights/masked_weight = Mul(mask, x)`."""
    _, tf, tf1 = tf_modules()
    dtype = x.dtype.base_dtype
    # auxiliary_name_scope=False: re-entering the layer's scope object must not open a new
    # name scope (TF 2.x would open `S/S_1/` and shift later op names such as `S/S` to `S/S_2`;
    # TF1.x, which contrib ran on, stayed in `S/`). Variable names are the same either way.
    with tf1.variable_scope(scope, auxiliary_name_scope=False):
        mask = tf1.get_variable(
            "mask", x.get_shape(), initializer=tf1.ones_initializer(), trainable=False, dtype=dtype
        )
    with tf1.variable_scope(scope, auxiliary_name_scope=False):
        threshold = tf1.get_variable(
            "threshold", [], initializer=tf1.zeros_initializer(), trainable=False, dtype=dtype
        )
    masked_weights = tf.multiply(mask, x, MASKED_WEIGHT_NAME)
    if not _in_collection(mask, MASK_COLLECTION):
        tf1.add_to_collection(THRESHOLD_COLLECTION, threshold)
        tf1.add_to_collection(MASK_COLLECTION, mask)
        tf1.add_to_collection(MASKED_WEIGHT_COLLECTION, masked_weights)
        tf1.add_to_collection(WEIGHT_COLLECTION, x)
    return masked_weights


class Pruning:
    """The parts of contrib's Pruning class a magnitude-pruned model's graph contains."""

    def __init__(self, hparams, global_step=None):
        _, tf, tf1 = tf_modules()
        self.spec = parse_hparams(hparams) if isinstance(hparams, str) else dict(hparams)
        s = self.spec
        assert s["begin_pruning_step"] >= 0
        assert s["end_pruning_step"] == -1 or s["begin_pruning_step"] < s["end_pruning_step"]
        assert 0 <= s["sparsity_function_begin_step"] < s["sparsity_function_end_step"]
        assert 0 <= s["threshold_decay"] < 1 and 0 <= s["target_sparsity"] < 1
        gs = global_step if global_step is not None else tf1.train.get_global_step()
        self._global_step = tf.cast(gs, tf.int32)
        self._sparsity = self._setup_sparsity()
        self._assign_ops = []
        self._last_update_step = self._setup_last_update_step()

    def _setup_sparsity(self):
        _, tf, tf1 = tf_modules()
        s = self.spec
        begin, end = s["sparsity_function_begin_step"], s["sparsity_function_end_step"]
        with tf1.name_scope(s["name"]):
            p = tf.minimum(
                1.0,
                tf.maximum(
                    0.0, tf1.div(tf.cast(self._global_step - begin, tf.float32), end - begin)
                ),
            )
            sparsity = tf.add(
                tf.multiply(
                    s["initial_sparsity"] - s["target_sparsity"],
                    tf.pow(1 - p, s["sparsity_function_exponent"]),
                ),
                s["target_sparsity"],
                name="sparsity",
            )
        return sparsity

    def _setup_last_update_step(self):
        _, tf, tf1 = tf_modules()
        with tf1.variable_scope(self.spec["name"]) as scope:
            try:
                v = tf1.get_variable(
                    "last_mask_update_step",
                    [],
                    initializer=tf1.zeros_initializer(),
                    trainable=False,
                    dtype=tf.int32,
                )
            except ValueError:
                scope.reuse_variables()
                v = tf1.get_variable("last_mask_update_step", dtype=tf.int32)
        return v

    def _update_mask(self, weights, threshold):
        """Elementwise: k = round(size*(1-sparsity)); threshold = k-th largest |W|."""
        _, tf, tf1 = tf_modules()
        decay = self.spec["threshold_decay"]
        with tf1.name_scope(_op_name(weights) + "_pruning_ops"):
            w = weights.as_tensor() if _is_partitioned(weights) else weights
            abs_weights = tf.abs(w)
            size = tf.size(abs_weights)
            k = tf.cast(tf.round(tf.cast(size, tf.float32) * (1 - self._sparsity)), tf.int32)
            sorted_abs, _ = tf.nn.top_k(tf.reshape(abs_weights, [-1]), k=size)
            current_threshold = tf.gather(sorted_abs, tf.maximum(k - 1, 0))
            smoothed_threshold = tf.add_n(
                [
                    tf.multiply(current_threshold, 1 - decay),
                    tf.multiply(threshold, decay),
                ]
            )
            new_mask = tf.cast(tf.greater_equal(abs_weights, smoothed_threshold), w.dtype.base_dtype)
        return smoothed_threshold, new_mask

    @staticmethod
    def _variable_assign(var, new_value):
        _, _, tf1 = tf_modules()
        return tf1.assign(var, new_value, name=var.op.name + "_assign")

    def _partitioned_variable_assign(self, pvar, new_value):
        np, tf, tf1 = tf_modules()
        parts = list(pvar)
        full = pvar.get_shape().as_list()
        axis = 0
        if len(parts) > 1:
            for part in parts:
                less = [a < b for a, b in zip(part.get_shape().as_list(), full)]
                assert sum(less) == 1, "exactly one partitioned axis"
                axis = less.index(True)
        sizes = np.array([p.get_shape().as_list()[axis] for p in parts], dtype=np.int32)
        values = tf.split(new_value, tf.convert_to_tensor(sizes, dtype=tf.int32), axis=axis)
        ops = [self._variable_assign(p, v) for p, v in zip(parts, values)]
        return tf.group(*ops, name=pvar.name + "_group_assign")

    def _get_mask_assign_ops(self):
        _, _, tf1 = tf_modules()
        masks = tf1.get_collection(MASK_COLLECTION)
        weights = tf1.get_collection(WEIGHT_COLLECTION)
        thresholds = tf1.get_collection(THRESHOLD_COLLECTION)
        assert len(masks) == len(thresholds) == len(weights)
        for mask, threshold, weight in zip(masks, thresholds, weights):
            new_threshold, new_mask = self._update_mask(weight, threshold)
            self._assign_ops.append(self._variable_assign(threshold, new_threshold))
            if _is_partitioned(mask):
                self._assign_ops.append(self._partitioned_variable_assign(mask, new_mask))
            else:
                self._assign_ops.append(self._variable_assign(mask, new_mask))

    def mask_update_op(self):
        _, tf, tf1 = tf_modules()
        with tf1.name_scope(self.spec["name"]):
            if not self._assign_ops:
                self._get_mask_assign_ops()
            with tf.control_dependencies(
                [
                    tf1.assign(
                        self._last_update_step,
                        self._global_step,
                        name="last_mask_update_step_assign",
                    )
                ]
            ):
                with tf.control_dependencies(self._assign_ops):
                    return tf.no_op("mask_update")

    def conditional_mask_update_op(self):
        _, tf, tf1 = tf_modules()
        s = self.spec

        def maybe_update_masks():
            with tf1.name_scope(s["name"]):
                in_range = tf.logical_and(
                    tf.greater_equal(self._global_step, s["begin_pruning_step"]),
                    tf.logical_or(
                        tf.less_equal(self._global_step, s["end_pruning_step"]),
                        tf.less(s["end_pruning_step"], 0),
                    ),
                )
                is_pruning_step = tf.less_equal(
                    tf.add(self._last_update_step, s["pruning_frequency"]), self._global_step
                )
                return tf.logical_and(in_range, is_pruning_step)

        return tf1.cond(maybe_update_masks(), self.mask_update_op, lambda: tf.no_op())

    def add_pruning_summaries(self):
        _, tf, tf1 = tf_modules()
        with tf1.name_scope(self.spec["name"] + "_summaries"):
            tf1.summary.scalar("sparsity", self._sparsity)
            tf1.summary.scalar("last_mask_update_step", self._last_update_step)
            masks = tf1.get_collection(MASK_COLLECTION)
            thresholds = tf1.get_collection(THRESHOLD_COLLECTION)
            for mask, threshold in zip(masks, thresholds):
                tf1.summary.scalar(_op_name(mask) + "/sparsity", tf.nn.zero_fraction(mask))
                tf1.summary.scalar(_op_name(threshold) + "/threshold", threshold)


def mask_sparsities(sess):
    _, tf, tf1 = tf_modules()
    masks = tf1.get_collection(MASK_COLLECTION)
    vals = sess.run([tf.convert_to_tensor(m) if _is_partitioned(m) else m.value() for m in masks])
    return {_op_name(m): float((v == 0).mean()) for m, v in zip(masks, vals)}


def train_pruned(sess, train_op, update_op, feeds_fn, steps, target, tol=0.02):
    """GradientDescent steps, the conditional mask update after each; checks final sparsity."""
    for step in range(steps):
        sess.run(train_op, feeds_fn(step))
        sess.run(update_op)
    sp = mask_sparsities(sess)
    for name, z in sp.items():
        if abs(z - target) > tol:
            raise SystemExit(f"mask {name} reached sparsity {z}, wanted {target}")
    print("mask sparsity: " + ", ".join(f"{k}={v:.4f}" for k, v in sp.items()))
    return sp


def synthetic_data(seed, n_features_shape, n_classes, n=256):
    """A fixed random teacher: inputs ~ N(0,1), labels = argmax of a random linear map."""
    np, _, _ = tf_modules()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + tuple(n_features_shape), dtype=np.float32)
    teacher = rng.standard_normal((int(np.prod(n_features_shape)), n_classes)).astype(np.float32)
    y = np.argmax(x.reshape(n, -1) @ teacher, axis=1).astype(np.int32)
    return x, y


def batches(x, y, batch):
    def fn(step):
        i = (step * batch) % (len(x) - batch + 1)
        return x[i : i + batch], y[i : i + batch]

    return fn


def pruned_fixture_meta(output_nodes, inputs, hparams, steps, extra=None):
    _, _, tf1 = tf_modules()
    mw = [t.op.name for t in tf1.get_collection(MASKED_WEIGHT_COLLECTION)]
    meta = {
        "inputs": inputs,
        "output_nodes": output_nodes,
        "pruned": True,
        "masked_weights": mw,
        "pruning_hparams": hparams,
        "train_steps": steps,
    }
    meta.update(extra or {})
    return meta


def fc_layer(x, scope_name, n_in, n_out, relu=True, stddev=None, partitioner=None):
    """A pruned fully connected layer: S/weights, S/biases, S/mask, S/threshold."""
    _, tf, tf1 = tf_modules()
    with tf1.variable_scope(scope_name, partitioner=partitioner) as scope:
        w = tf1.get_variable(
            "weights",
            [n_in, n_out],
            initializer=tf1.truncated_normal_initializer(stddev=stddev or (1.0 / n_in) ** 0.5),
        )
        b = tf1.get_variable("biases", [n_out], initializer=tf1.constant_initializer(0.1))
        h = tf.matmul(x, apply_mask(w, scope)) + b
        return tf.nn.relu(h, name=scope.name) if relu else h


def softmax_head(logits, labels):
    """`output` (softmax) and the mean cross-entropy `loss` of a classifier."""
    _, tf, _ = tf_modules()
    probs = tf.nn.softmax(logits, name="output")
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
        name="loss",
    )
    return probs, loss


def pruning_train_ops(loss, hparams, learning_rate=0.1, summaries=True):
    """global_step, an SGD step on `loss`, and contrib's conditional mask update
    (with its summaries and the loss's, as contrib's examples had)."""
    _, tf, tf1 = tf_modules()
    gs = tf1.train.get_or_create_global_step()
    train_op = tf1.train.GradientDescentOptimizer(learning_rate).minimize(loss, global_step=gs)
    p = Pruning(hparams, global_step=gs)
    update = p.conditional_mask_update_op()
    if summaries:
        p.add_pruning_summaries()
        tf1.summary.scalar("loss", loss)
        tf1.summary.merge_all()
    return gs, train_op, update


# ========================================================================================
# fixtures


def build_convnet(d):
    """cifar10_pruning-style convnet on 12x12x3 inputs, every layer pruned to 0.8."""
    np, tf, tf1 = tf_modules()
    tf1.disable_v2_behavior()
    hparams = (
        "name=model_pruning,begin_pruning_step=0,end_pruning_step=-1,pruning_frequency=4,"
        "target_sparsity=0.8,sparsity_function_begin_step=0,sparsity_function_end_step=24"
    )
    steps, batch, n_classes = 40, 16, 10
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(1)
        images = tf1.placeholder(tf.float32, [None, 12, 12, 3], name="input")
        labels = tf1.placeholder(tf.int32, [None], name="labels")

        def var_on_cpu(name, shape, initializer):
            with tf.device("/cpu:0"):
                return tf1.get_variable(name, shape, initializer=initializer, dtype=tf.float32)

        def var_with_weight_decay(name, shape, stddev, wd):
            var = var_on_cpu(name, shape, tf1.truncated_normal_initializer(stddev=stddev))
            if wd is not None:
                weight_decay = tf.multiply(tf.nn.l2_loss(var), wd, name="weight_loss")
                tf1.add_to_collection("losses", weight_decay)
            return var

        with tf1.variable_scope("conv1") as scope:
            kernel = var_with_weight_decay("weights", [5, 5, 3, 16], stddev=5e-2, wd=0.0)
            conv = tf.nn.conv2d(images, apply_mask(kernel, scope), [1, 1, 1, 1], padding="SAME")
            biases = var_on_cpu("biases", [16], tf1.constant_initializer(0.0))
            conv1 = tf.nn.relu(tf.nn.bias_add(conv, biases), name=scope.name)
        pool1 = tf.nn.max_pool2d(conv1, 3, 2, padding="SAME", name="pool1")
        norm1 = tf.nn.lrn(pool1, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name="norm1")
        with tf1.variable_scope("conv2") as scope:
            kernel = var_with_weight_decay("weights", [5, 5, 16, 16], stddev=5e-2, wd=0.0)
            conv = tf.nn.conv2d(norm1, apply_mask(kernel, scope), [1, 1, 1, 1], padding="SAME")
            biases = var_on_cpu("biases", [16], tf1.constant_initializer(0.1))
            conv2 = tf.nn.relu(tf.nn.bias_add(conv, biases), name=scope.name)
        norm2 = tf.nn.lrn(conv2, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name="norm2")
        pool2 = tf.nn.max_pool2d(norm2, 3, 2, padding="SAME", name="pool2")
        with tf1.variable_scope("local3") as scope:
            reshape = tf.reshape(pool2, [-1, 3 * 3 * 16])
            weights = var_with_weight_decay("weights", [144, 48], stddev=0.04, wd=0.004)
            biases = var_on_cpu("biases", [48], tf1.constant_initializer(0.1))
            local3 = tf.nn.relu(
                tf.matmul(reshape, apply_mask(weights, scope)) + biases, name=scope.name
            )
        with tf1.variable_scope("local4") as scope:
            weights = var_with_weight_decay("weights", [48, 32], stddev=0.04, wd=0.004)
            biases = var_on_cpu("biases", [32], tf1.constant_initializer(0.1))
            local4 = tf.nn.relu(
                tf.matmul(local3, apply_mask(weights, scope)) + biases, name=scope.name
            )
        with tf1.variable_scope("softmax_linear") as scope:
            weights = var_with_weight_decay("weights", [32, n_classes], stddev=1 / 32.0, wd=None)
            biases = var_on_cpu("biases", [n_classes], tf1.constant_initializer(0.0))
            softmax_linear = tf.add(
                tf.matmul(local4, apply_mask(weights, scope)), biases, name=scope.name
            )
        xent = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=softmax_linear),
            name="cross_entropy",
        )
        tf1.add_to_collection("losses", xent)
        loss = tf.add_n(tf1.get_collection("losses"), name="total_loss")
        gs, train_op, update = pruning_train_ops(loss, hparams, learning_rate=0.05)
        saver = tf1.train.Saver(save_relative_paths=True)
        x, y = synthetic_data(11, (12, 12, 3), n_classes)
        fb = batches(x, y, batch)
        with tf1.Session(config=session_config()) as sess:
            sess.run(tf1.global_variables_initializer())
            train_pruned(
                sess,
                train_op,
                update,
                lambda i: dict(zip((images, labels), fb(i))),
                steps,
                0.8,
            )
            meta = pruned_fixture_meta(
                [softmax_linear.op.name],
                {"input:0": {"dtype": "float32", "shape": [-1, 12, 12, 3]}},
                hparams,
                steps,
                {"description": "cifar10_pruning-style convnet, ref variables, 0.8 sparsity"},
            )
            save_fixture(sess, saver, d, gs, meta)


def build_mlp(d, hparams, target, sizes, steps, seed, description, partitioner=None,
              devices=None, sharded=False, cpus=1, saved_model=False):
    """Pruned MLP with ref variables. `devices[i]` places layer i; `partitioner` applies to
    the variable scope of the first layer (weights, mask and biases partitioned)."""
    np, tf, tf1 = tf_modules()
    tf1.disable_v2_behavior()
    batch = 16
    g = tf.Graph()
    with g.as_default(), tf.device(devices[0] if devices else None):
        tf1.set_random_seed(seed)
        x_in = tf1.placeholder(tf.float32, [None, sizes[0]], name="input")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        h = x_in
        n_layers = len(sizes) - 1
        for i in range(n_layers):
            dev = devices[i] if devices else None
            with tf.device(dev):
                h = fc_layer(
                    h,
                    f"fc{i + 1}",
                    sizes[i],
                    sizes[i + 1],
                    relu=i < n_layers - 1,
                    partitioner=partitioner if i == 0 else None,
                )
        logits = tf.identity(h, name="logits")
        probs, loss = softmax_head(logits, labels)
        gs, train_op, update = pruning_train_ops(loss, hparams)
        saver = tf1.train.Saver(sharded=sharded, save_relative_paths=True)
        x, y = synthetic_data(seed + 100, (sizes[0],), sizes[-1])
        fb = batches(x, y, batch)
        with tf1.Session(config=session_config(cpus)) as sess:
            sess.run(tf1.global_variables_initializer())
            train_pruned(
                sess, train_op, update, lambda i: dict(zip((x_in, labels), fb(i))), steps, target
            )
            meta = pruned_fixture_meta(
                [probs.op.name],
                {"input:0": {"dtype": "float32", "shape": [-1, sizes[0]]}},
                hparams,
                steps,
                {"description": description},
            )
            save_fixture(sess, saver, d, gs, meta)
            if saved_model:
                # The same trained graph as a TF1 SavedModel, for `inspect` on a SavedModel dir.
                tf1.saved_model.simple_save(
                    sess, os.path.join(d, "saved_model"), {"input": x_in}, {"output": probs}
                )


def build_mlp90(d):
    hp = (
        "name=model_pruning,begin_pruning_step=0,end_pruning_step=-1,pruning_frequency=5,"
        "target_sparsity=0.9,sparsity_function_begin_step=0,sparsity_function_end_step=30"
    )
    build_mlp(d, hp, 0.9, [64, 128, 128, 10], 45, 21, "MLP 64-128-128-10, ref variables, 0.9 "
              "(also exported as a TF1 SavedModel in saved_model/)", saved_model=True)


def build_partitioned(d):
    _, _, tf1 = tf_modules()
    hp = (
        "name=model_pruning,begin_pruning_step=0,end_pruning_step=-1,pruning_frequency=5,"
        "target_sparsity=0.75,sparsity_function_begin_step=0,sparsity_function_end_step=20"
    )
    build_mlp(
        d,
        hp,
        0.75,
        [50, 64, 10],
        30,
        31,
        "MLP 50-64-10, fc1 variable scope partitioned with fixed_size_partitioner(3) "
        "(weights 17/17/16 rows, mask the same, biases 22/21/21), ref variables, 0.75",
        partitioner=tf1.fixed_size_partitioner(3),
    )


def build_sharded(d):
    hp = (
        "name=model_pruning,begin_pruning_step=0,end_pruning_step=-1,pruning_frequency=5,"
        "target_sparsity=0.7,sparsity_function_begin_step=0,sparsity_function_end_step=20"
    )
    build_mlp(
        d,
        hp,
        0.7,
        [32, 64, 10],
        30,
        41,
        "MLP 32-64-10, fc1 on /cpu:0 and fc2 on /cpu:1, Saver(sharded=True): 2 data files",
        devices=["/cpu:0", "/cpu:1"],
        sharded=True,
        cpus=2,
    )
    shards = sorted(f for f in os.listdir(d) if ".data-" in f)
    print("data files: " + " ".join(shards))
    if len(shards) != 2 or not shards[0].endswith("data-00000-of-00002"):
        raise SystemExit(f"sharded fixture did not produce 2 shards: {shards}")


def build_controlflow(d):
    """Pruned MLP whose inference path runs through TF1 control flow: a tf.while_loop
    applies the masked fc2 three times (its weights enter the loop through Enter) and a
    tf.cond on a placeholder_with_default scales by a variable (Switch). Ref variables, 0.8."""
    np, tf, tf1 = tf_modules()
    tf1.disable_v2_behavior()
    hp = (
        "name=model_pruning,begin_pruning_step=0,end_pruning_step=-1,pruning_frequency=5,"
        "target_sparsity=0.8,sparsity_function_begin_step=0,sparsity_function_end_step=20"
    )
    seed, steps = 51, 30
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(seed)
        x_in = tf1.placeholder(tf.float32, [None, 24], name="input")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        h = fc_layer(x_in, "fc1", 24, 32)
        with tf1.variable_scope("fc2") as scope:
            w = tf1.get_variable("weights", [32, 32], initializer=tf1.truncated_normal_initializer(stddev=0.15))
            b = tf1.get_variable("biases", [32], initializer=tf1.constant_initializer(0.1))
            mw = apply_mask(w, scope)
        _, h = tf1.while_loop(
            lambda i, h: i < 3, lambda i, h: (i + 1, tf.nn.relu(tf.matmul(h, mw) + b)), [tf.constant(0), h]
        )
        use_scale = tf1.placeholder_with_default(True, [], name="use_scale")
        with tf1.variable_scope("gate"):
            scale = tf1.get_variable("scale", [32], initializer=tf1.constant_initializer(0.5))
        h = tf1.cond(use_scale, lambda: h * scale, lambda: h)
        logits = fc_layer(h, "fc3", 32, 10, relu=False)
        probs, loss = softmax_head(logits, labels)
        gs, train_op, update = pruning_train_ops(loss, hp, summaries=False)
        saver = tf1.train.Saver(save_relative_paths=True)
        x, y = synthetic_data(seed + 100, (24,), 10)
        fb = batches(x, y, 16)
        with tf1.Session(config=session_config()) as sess:
            sess.run(tf1.global_variables_initializer())
            train_pruned(sess, train_op, update, lambda i: dict(zip((x_in, labels), fb(i))), steps, 0.8)
            meta = pruned_fixture_meta(
                [probs.op.name],
                {"input:0": {"dtype": "float32", "shape": [-1, 24]}},
                hp,
                steps,
                {"description": "MLP 24-32-(32 x3 in a while_loop)-cond-10, ref variables, 0.8"},
            )
            save_fixture(sess, saver, d, gs, meta)


def masked_lstm_cells():
    """contrib's MaskedBasicLSTMCell and MaskedLSTMCell (model_pruning/python/layers/rnn_cells.py
    of TF 1.15), rebuilt on the TF1 cells TF 2.x still ships: `build` adds `mask` (ones) and
    `threshold` (zero) beside the parent's `kernel`/`bias` and the Mul `weights/masked_weight`,
    registered in the four collections; `call` is the parent's with the masked kernel. Under
    dynamic_rnn the cell is built inside the while loop: the variables go outside it (TF1
    creates variables in the init scope), the Mul stays in the loop, mask and kernel enter it
    through Enter."""
    _, tf, tf1 = tf_modules()
    from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl

    class MaskedKernel:
        def build(self, inputs_shape):
            super().build(inputs_shape)
            self.built = False
            input_depth = tf.compat.dimension_value(tf.TensorShape(inputs_shape)[-1])
            h_depth = self._num_units
            self._mask = self.add_variable(
                name="mask",
                shape=[input_depth + h_depth, 4 * h_depth],
                initializer=tf1.ones_initializer(),
                trainable=False,
                dtype=self.dtype,
            )
            self._threshold = self.add_variable(
                name="threshold", shape=[], initializer=tf1.zeros_initializer(), trainable=False,
                dtype=self.dtype,
            )
            self._masked_kernel = tf.multiply(self._mask, self._kernel, MASKED_WEIGHT_NAME)
            if not _in_collection(self._mask, MASK_COLLECTION):
                tf1.add_to_collection(MASK_COLLECTION, self._mask)
                tf1.add_to_collection(MASKED_WEIGHT_COLLECTION, self._masked_kernel)
                tf1.add_to_collection(THRESHOLD_COLLECTION, self._threshold)
                tf1.add_to_collection(WEIGHT_COLLECTION, self._kernel)
            self.built = True

    class MaskedBasicLSTMCell(MaskedKernel, rnn_cell_impl.BasicLSTMCell):
        def call(self, inputs, state):
            c, h = state
            one = tf.constant(1, dtype=tf.int32)
            gate_inputs = tf.matmul(tf.concat([inputs, h], 1), self._masked_kernel)
            gate_inputs = tf.nn.bias_add(gate_inputs, self._bias)
            i, j, f, o = tf.split(value=gate_inputs, num_or_size_splits=4, axis=one)
            forget_bias = tf.constant(self._forget_bias, dtype=f.dtype)
            new_c = tf.add(
                tf.multiply(c, tf.sigmoid(tf.add(f, forget_bias))),
                tf.multiply(tf.sigmoid(i), self._activation(j)),
            )
            new_h = tf.multiply(self._activation(new_c), tf.sigmoid(o))
            return new_h, rnn_cell_impl.LSTMStateTuple(new_c, new_h)

    class MaskedLSTMCell(MaskedKernel, rnn_cell_impl.LSTMCell):
        def call(self, inputs, state):
            c_prev, m_prev = state
            lstm_matrix = tf.matmul(tf.concat([inputs, m_prev], 1), self._masked_kernel)
            lstm_matrix = tf.nn.bias_add(lstm_matrix, self._bias)
            i, j, f, o = tf.split(value=lstm_matrix, num_or_size_splits=4, axis=1)
            sigmoid = tf.sigmoid
            if self._use_peepholes:
                c = sigmoid(f + self._forget_bias + self._w_f_diag * c_prev) * c_prev + sigmoid(
                    i + self._w_i_diag * c_prev
                ) * self._activation(j)
            else:
                c = sigmoid(f + self._forget_bias) * c_prev + sigmoid(i) * self._activation(j)
            if self._cell_clip is not None:
                c = tf.clip_by_value(c, -self._cell_clip, self._cell_clip)
            if self._use_peepholes:
                m = sigmoid(o + self._w_o_diag * c) * self._activation(c)
            else:
                m = sigmoid(o) * self._activation(c)
            if self._num_proj is not None:
                m = tf.matmul(m, self._proj_kernel)
                if self._proj_clip is not None:
                    m = tf.clip_by_value(m, -self._proj_clip, self._proj_clip)
            return m, rnn_cell_impl.LSTMStateTuple(c, m)

    return MaskedBasicLSTMCell, MaskedLSTMCell


TF_STRIP_FAILS_IN_LOOPS = (
    "TensorFlow's strip_pruning_vars cannot strip this model: it evaluates every *masked_weight* "
    "node in a session, and this one is inside the dynamic_rnn while loop, so evaluating it asks "
    "for the input placeholder (InvalidArgumentError); there is no expected/stripped.pb"
)


def build_lstm_fixture(d, cell_fn, seed, description, passes=None):
    """A pruned LSTM classifier over [-1, 6, 8] sequences: the cell under tf.nn.dynamic_rnn
    (scope `rnn`), its last output through the pruned fc `fc` (16x10), softmax `output`.
    `passes`: run dynamic_rnn that many times inside an outer tf.while_loop, each pass starting
    from the previous final state (the masked kernel is then two loops deep)."""
    _, tf, tf1 = tf_modules()
    from tensorflow.python.keras.layers.legacy_rnn.rnn_cell_impl import LSTMStateTuple

    tf1.disable_v2_behavior()
    hp = (
        "name=model_pruning,begin_pruning_step=0,end_pruning_step=-1,pruning_frequency=5,"
        "target_sparsity=0.8,sparsity_function_begin_step=0,sparsity_function_end_step=25"
    )
    steps, time_steps, depth, units = 40, 6, 8, 16
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(seed)
        x_in = tf1.placeholder(tf.float32, [None, time_steps, depth], name="input")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        cell = cell_fn(units)
        if passes is None:
            outputs, _ = tf1.nn.dynamic_rnn(cell, x_in, dtype=tf.float32)
            last = outputs[:, -1, :]
        else:
            batch = tf.shape(x_in)[0]

            def one_pass(i, c, h):
                _, state = tf1.nn.dynamic_rnn(cell, x_in, initial_state=LSTMStateTuple(c, h))
                return i + 1, state.c, state.h

            zeros = tf.zeros(tf.stack([batch, units]))
            _, _, last = tf1.while_loop(
                lambda i, c, h: i < passes, one_pass, [tf.constant(0), zeros, zeros], name="passes"
            )
        logits = fc_layer(last, "fc", units, 10, relu=False)
        probs, loss = softmax_head(logits, labels)
        gs, train_op, update = pruning_train_ops(loss, hp, learning_rate=0.5)
        saver = tf1.train.Saver(save_relative_paths=True)
        x, y = synthetic_data(seed + 100, (time_steps, depth), 10)
        fb = batches(x, y, 16)
        with tf1.Session(config=session_config()) as sess:
            sess.run(tf1.global_variables_initializer())
            train_pruned(sess, train_op, update, lambda i: dict(zip((x_in, labels), fb(i))), steps, 0.8)
            meta = pruned_fixture_meta(
                [probs.op.name],
                {"input:0": {"dtype": "float32", "shape": [-1, time_steps, depth]}},
                hp,
                steps,
                {"description": description, "tf_strip": False, "tf_strip_failure": TF_STRIP_FAILS_IN_LOOPS},
            )
            save_fixture(sess, saver, d, gs, meta)


def build_lstm(d):
    basic, _ = masked_lstm_cells()
    build_lstm_fixture(
        d, lambda units: basic(units), 71,
        "MaskedBasicLSTMCell(16) under dynamic_rnn over 6 steps of 8 features, fc 16x10, ref "
        "variables, 0.8; the masked kernel is computed inside the while loop",
    )


def build_lstm_peephole(d):
    _, full = masked_lstm_cells()
    build_lstm_fixture(
        d,
        lambda units: full(units, use_peepholes=True, cell_clip=3.0, num_proj=units),
        81,
        "MaskedLSTMCell(16, use_peepholes, cell_clip=3, num_proj=16) under dynamic_rnn, run twice "
        "in an outer while_loop (the masked kernel is two loops deep), fc 16x10, ref variables, 0.8",
        passes=2,
    )


def build_resource(d):
    """Resource variables (VarHandleOp/ReadVariableOp), control flow v2 (tf.cond -> If),
    an unpruned embedding read with ResourceGather feeding two pruned layers."""
    np, tf, tf1 = tf_modules()
    tf1.disable_eager_execution()
    tf1.enable_resource_variables()
    hparams = (
        "name=model_pruning,begin_pruning_step=0,end_pruning_step=-1,pruning_frequency=5,"
        "target_sparsity=0.8,sparsity_function_begin_step=0,sparsity_function_end_step=20"
    )
    steps, batch, vocab, emb_dim, n_ids, n_dense, n_classes = 30, 16, 32, 8, 4, 16, 10
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(51)
        ids = tf1.placeholder(tf.int32, [None, n_ids], name="ids")
        dense = tf1.placeholder(tf.float32, [None, n_dense], name="input")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        with tf1.variable_scope("embedding"):
            emb = tf1.get_variable(
                "embeddings", [vocab, emb_dim], initializer=tf1.random_normal_initializer(stddev=0.5)
            )
        looked_up = tf.nn.embedding_lookup(emb, ids)  # ResourceGather
        feats = tf.concat([tf.reshape(looked_up, [-1, n_ids * emb_dim]), dense], 1, name="features")
        h = fc_layer(feats, "fc1", n_ids * emb_dim + n_dense, 64)
        logits = tf.identity(fc_layer(h, "fc2", 64, n_classes, relu=False), name="logits")
        probs, loss = softmax_head(logits, labels)
        gs, train_op, update = pruning_train_ops(loss, hparams)
        saver = tf1.train.Saver(save_relative_paths=True)
        rng = np.random.default_rng(52)
        n = 256
        xi = rng.integers(0, vocab, size=(n, n_ids), dtype=np.int32)
        xd = rng.standard_normal((n, n_dense), dtype=np.float32)
        teacher_e = rng.standard_normal((vocab, n_classes)).astype(np.float32)
        teacher_d = rng.standard_normal((n_dense, n_classes)).astype(np.float32)
        y = np.argmax(teacher_e[xi].sum(1) + xd @ teacher_d, axis=1).astype(np.int32)

        def feeds(step):
            i = (step * batch) % (n - batch + 1)
            return {ids: xi[i : i + batch], dense: xd[i : i + batch], labels: y[i : i + batch]}

        with tf1.Session(config=session_config()) as sess:
            sess.run(tf1.global_variables_initializer())
            train_pruned(sess, train_op, update, feeds, steps, 0.8)
            meta = pruned_fixture_meta(
                [probs.op.name],
                {
                    "ids:0": {"dtype": "int32", "shape": [-1, n_ids], "max_value": vocab - 1},
                    "input:0": {"dtype": "float32", "shape": [-1, n_dense]},
                },
                hparams,
                steps,
                {
                    "description": "resource variables (VarHandleOp/ReadVariableOp), "
                    "control flow v2 cond, embedding via ResourceGather, 0.8"
                },
            )
            save_fixture(sess, saver, d, gs, meta)


def build_dtypes(d):
    """Every checkpointable POD dtype + strings, as TF1 ref variables saved by Saver."""
    np, tf, tf1 = tf_modules()
    tf1.disable_v2_behavior()
    import ml_dtypes

    f32 = np.array(
        [-0.0, np.nan, np.inf, -np.inf, 1.5, -2.25, 3.4028235e38, 1e-45, 0.0], dtype=np.float32
    )
    values = {
        "float/f16": np.array([[0.5, -0.0, 65504.0], [np.nan, -np.inf, 6e-8]], dtype=np.float16),
        "float/bf16": np.array([1.0, -0.0, 3.140625, np.inf, np.nan, 0.0], dtype=ml_dtypes.bfloat16),
        "float/f32": f32,
        "float/f64": np.array([[np.pi, -0.0], [np.nan, -1e-308]], dtype=np.float64),
        "float/scalar_f32": np.array(2.5, dtype=np.float32),
        "float/empty_f32": np.zeros((0, 3), dtype=np.float32),
        "int/i8": np.array([-128, 0, 127, -1], dtype=np.int8),
        "int/i16": np.array([-32768, 0, 32767, 258], dtype=np.int16),
        "int/i32": np.array([[-2147483648, 0], [2147483647, 16909060]], dtype=np.int32),
        "int/i64": np.array([-(2**63), 0, 2**63 - 1, 72623859790382856], dtype=np.int64),
        "int/u8": np.array([0, 1, 255, 128], dtype=np.uint8),
        "int/u16": np.array([0, 65535, 258], dtype=np.uint16),
        "int/u32": np.array([0, 4294967295, 16909060], dtype=np.uint32),
        "int/u64": np.array([0, 2**64 - 1, 72623859790382856], dtype=np.uint64),
        "bool/b": np.array([[True, False, True], [False, False, True]], dtype=bool),
        "complex/c64": np.array([1 + 2j, -0.0 - 1j, np.nan + 0j], dtype=np.complex64),
        "complex/c128": np.array([[3.5 - 4.25j], [0j]], dtype=np.complex128),
        "str/scalar": np.array(b"hello, checkpoint", dtype=object),
        "str/vector": np.array(
            [b"", b"\xff\xfe\x00\x80 not utf-8", b"x" * 200, "\u00fcn\u00efc\u00f6d\u00e9".encode()],
            dtype=object,
        ),
        "str/matrix": np.array([[b"a", b"bc"], [b"", b"def"]], dtype=object),
        "str/empty": np.zeros((0,), dtype=object),
    }
    dtype_of = {
        "float/bf16": tf.bfloat16,
        "str/scalar": tf.string,
        "str/vector": tf.string,
        "str/matrix": tf.string,
        "str/empty": tf.string,
    }
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(61)
        variables = []
        for name, v in values.items():
            dt = dtype_of.get(name) or tf.as_dtype(v.dtype)
            init = tf.constant(v if dt != tf.string else v.tolist() if v.ndim else v.item(), dtype=dt,
                               shape=v.shape)
            variables.append(tf1.Variable(init, name=name, trainable=False))
        gs = tf1.train.get_or_create_global_step()
        saver = tf1.train.Saver(save_relative_paths=True)
        with tf1.Session(config=session_config()) as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(tf1.assign(gs, 7))
            got = sess.run(variables)
            for (name, v), r in zip(values.items(), got):
                if v.dtype == object:
                    assert np.asarray(r, dtype=object).tolist() == v.tolist(), name
                else:
                    assert np.asarray(r).tobytes() == v.tobytes(), name
            save_fixture(
                sess,
                saver,
                d,
                gs,
                {
                    "inputs": {},
                    "output_nodes": [],
                    "pruned": False,
                    "masked_weights": [],
                    "description": "one ref variable per dtype (+ scalar, empty, -0/NaN/inf, "
                    "non-UTF-8 and >127-byte strings), no pruning",
                },
            )


# ----------------------------------------------------------------------------------------
# channel-pruned fixtures (for `compact`): whole output channels zeroed by the masks

# How each channel-pruned weight's channels lie, by weight op name, filled as the layers are
# built: "out" = the last axis (Conv2D [kh,kw,in,out], MatMul [in,out]), "depthwise" = the
# last two (DepthwiseConv2dNative [kh,kw,in,mult], channel i*mult+m), "in" = MatMul rows
# (the logits layer: its outputs are the graph's, so only its inputs are pruned).
CHANNEL_LAYOUT = {}
BN_MOMENTUM = 0.9  # below Keras' 0.99, so 40 steps move the moving statistics well off 0 and 1
BN_EPSILON = 1e-3


def batch_norm(x, training):
    """What tf.compat.v1.layers.batch_normalization(fused=True) builds, in variable scope
    `bn` (Keras 3 dropped that function, and tf-keras would pull in the non-cpu tensorflow
    wheel): gamma, beta, moving_mean, moving_variance; training: FusedBatchNormV3 on batch
    statistics, moving-average updates in UPDATE_OPS; inference: FusedBatchNormV3 with
    is_training=false on the moving statistics."""
    _, tf, tf1 = tf_modules()
    n = x.get_shape().as_list()[-1]
    with tf1.variable_scope("bn"):
        # Random scale and offset, as a trained model has them (40 steps barely move them
        # from ones and zeros): batch norm of an all-zero channel is then a nonzero constant.
        gamma = tf1.get_variable("gamma", [n], initializer=tf1.random_uniform_initializer(0.5, 1.5))
        beta = tf1.get_variable("beta", [n], initializer=tf1.random_normal_initializer(stddev=0.2))
        mean = tf1.get_variable("moving_mean", [n], initializer=tf1.zeros_initializer(), trainable=False)
        var = tf1.get_variable("moving_variance", [n], initializer=tf1.ones_initializer(), trainable=False)
        if not training:
            y, _, _ = tf1.nn.fused_batch_norm(
                x, gamma, beta, mean=mean, variance=var, epsilon=BN_EPSILON, is_training=False
            )
            return y
        y, batch_mean, batch_var = tf1.nn.fused_batch_norm(x, gamma, beta, epsilon=BN_EPSILON, is_training=True)
        for moving, batch in ((mean, batch_mean), (var, batch_var)):
            update = tf1.assign_sub(moving, (moving - batch) * (1 - BN_MOMENTUM))
            tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS, update)
        return y


def conv_block(x, scope_name, k, n_out, stride=1, norm="bias", act="relu", training=False,
               multiplier=None):
    """A channel-pruned convolution, SAME padding, NHWC: S/weights (and S/mask, S/threshold,
    S/weights/masked_weight), then S/biases (BiasAdd) or S/bn (fused batch norm), then the
    activation (named S). `multiplier`: a depthwise convolution with that channel multiplier
    (n_out is then in * multiplier)."""
    _, tf, tf1 = tf_modules()
    n_in = x.get_shape().as_list()[-1]
    with tf1.variable_scope(scope_name) as scope:
        shape = [k, k, n_in, multiplier] if multiplier else [k, k, n_in, n_out]
        w = tf1.get_variable(
            "weights", shape, initializer=tf1.truncated_normal_initializer(stddev=(2.0 / (k * k * n_in)) ** 0.5)
        )
        CHANNEL_LAYOUT[w.op.name] = "depthwise" if multiplier else "out"
        strides = [1, stride, stride, 1]
        if multiplier:
            y = tf.nn.depthwise_conv2d(x, apply_mask(w, scope), strides, padding="SAME")
        else:
            y = tf.nn.conv2d(x, apply_mask(w, scope), strides, padding="SAME")
        if norm == "bias":
            # Random like trained biases: an all-zero channel's relu(bias) is then often nonzero.
            b = tf1.get_variable(
                "biases", [y.get_shape().as_list()[-1]], initializer=tf1.random_normal_initializer(stddev=0.1)
            )
            y = tf.nn.bias_add(y, b)
        elif norm == "bn":
            y = batch_norm(y, training)
        if act == "relu":
            return tf.nn.relu(y, name=scope.name)
        if act == "relu6":
            return tf.nn.relu6(y, name=scope.name)
        return y


def pruned_fc(x, scope_name, n_out, relu=True, layout="out"):
    """fc_layer, its weights' channels pruned along `layout` (see CHANNEL_LAYOUT)."""
    _, tf, tf1 = tf_modules()
    h = fc_layer(x, scope_name, x.get_shape().as_list()[-1], n_out, relu=relu)
    CHANNEL_LAYOUT[scope_name + "/weights"] = layout
    return h


def global_pool_logits(x, n_classes):
    """Global average pooling, then the logits layer (input rows pruned only)."""
    _, tf, _ = tf_modules()
    pooled = tf.reduce_mean(x, axis=[1, 2], name="global_pool")
    return pruned_fc(pooled, "logits", n_classes, relu=False, layout="in")


def channel_matrix(v, layout):
    """The weight as [elements per channel, channels]."""
    if layout == "depthwise":
        return v.reshape(-1, v.shape[-2] * v.shape[-1])
    if layout == "in":
        return v.T
    return v.reshape(-1, v.shape[-1])


def channel_masks(sess):
    """For every channel-pruned weight, a mask zeroing the half of its channels with the
    lowest L1 norm (stable order on ties), and those channels' indices."""
    np, _, tf1 = tf_modules()
    weights = tf1.get_collection(WEIGHT_COLLECTION)
    out = {}
    for w, v in zip(weights, sess.run(weights)):
        layout = CHANNEL_LAYOUT[w.op.name]
        l1 = np.abs(channel_matrix(v, layout)).sum(axis=0)
        zeroed = np.sort(np.argsort(l1, kind="stable")[: len(l1) // 2])
        keep = np.ones(len(l1), dtype=np.float32)
        keep[zeroed] = 0
        if layout == "in":
            mask = np.broadcast_to(keep[:, None], v.shape)
        else:
            mask = np.broadcast_to(keep, (v.size // len(l1), len(l1))).reshape(v.shape)
        out[w.op.name] = (np.ascontiguousarray(mask, dtype=np.float32), [int(i) for i in zeroed])
    return out


def zero_channels(sess):
    """Per masked weight: its layout, channel count and the channels whose mask * weight is
    all zero, as the saved checkpoint has them."""
    np, _, tf1 = tf_modules()
    weights = tf1.get_collection(WEIGHT_COLLECTION)
    masked = sess.run(tf1.get_collection(MASKED_WEIGHT_COLLECTION))
    out = {}
    for w, v in zip(weights, masked):
        layout = CHANNEL_LAYOUT[w.op.name]
        m = channel_matrix(v, layout)
        zero = [int(i) for i in np.flatnonzero(~m.any(axis=0))]
        out[w.op.name] = {"layout": layout, "channels": m.shape[1], "zero_channels": zero}
    return out


def build_channel_pruned(d, model_fn, input_shape, seed, description, dense_steps=20, masked_steps=20,
                         learning_rate=0.1):
    """Train `model_fn(images, training) -> logits` on seeded synthetic data for `dense_steps`,
    set every mask to zero the lowest-L1 half of its weight's channels (Variable.load: no new
    ops), train `masked_steps` more with the masks applied (the weights under zero masks get
    no gradient and keep their values; biases and batch-norm parameters go on training). Then
    build the model again in a fresh graph with training=False (batch norm on its moving
    statistics), restore the trained variables into it and save that: the .meta is the
    inference graph, with the same masks, pruning ops and train op as the training graph.
    contrib's (elementwise) mask update is in the graph but never run: the masks are the
    generator's, whole channels."""
    np, tf, tf1 = tf_modules()
    import tempfile

    tf1.disable_v2_behavior()
    hparams = (
        "name=model_pruning,begin_pruning_step=0,end_pruning_step=-1,pruning_frequency=10,"
        "target_sparsity=0.5,sparsity_function_begin_step=0,sparsity_function_end_step=40"
    )
    steps, n_classes = dense_steps + masked_steps, 10

    def build(training):
        CHANNEL_LAYOUT.clear()
        tf1.set_random_seed(seed)
        images = tf1.placeholder(tf.float32, [None] + list(input_shape), name="input")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        probs, loss = softmax_head(model_fn(images, training), labels)
        gs, train_op, update = pruning_train_ops(loss, hparams, learning_rate=learning_rate)
        return images, labels, probs, loss, gs, train_op

    x, y = synthetic_data(seed + 100, input_shape, n_classes)
    fb = batches(x, y, 16)
    with tempfile.TemporaryDirectory() as tmp, tf.Graph().as_default():
        images, labels, _, loss, _, train_op = build(training=True)
        bn_updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
        saver = tf1.train.Saver()
        with tf1.Session(config=session_config()) as sess:
            sess.run(tf1.global_variables_initializer())
            losses = []
            for step in range(steps):
                if step == dense_steps:
                    masks = channel_masks(sess)
                    for m, w in zip(tf1.get_collection(MASK_COLLECTION), tf1.get_collection(WEIGHT_COLLECTION)):
                        m.load(masks[w.op.name][0], sess)
                feeds = dict(zip((images, labels), fb(step)))
                losses.append(sess.run([loss, train_op] + bn_updates, feeds)[0])
            if not all(np.isfinite(losses)):
                raise SystemExit(f"training diverged: losses {losses}")
            print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f} over {steps} steps")
            trained = saver.save(sess, os.path.join(tmp, "trained"))
        with tf.Graph().as_default():
            images, _, probs, _, gs, _ = build(training=False)
            saver = tf1.train.Saver(save_relative_paths=True)
            with tf1.Session(config=session_config()) as sess:
                saver.restore(sess, trained)
                channels = zero_channels(sess)
                for name, c in channels.items():
                    want = masks[name][1]
                    if c["zero_channels"] != want:
                        raise SystemExit(f"{name}: zero channels {c['zero_channels']}, masks zero {want}")
                    print(f"{name} ({c['layout']}): {c['channels']} channels, {len(want)} zero")
                meta = pruned_fixture_meta(
                    [probs.op.name],
                    {"input:0": {"dtype": "float32", "shape": [-1] + list(input_shape)}},
                    hparams,
                    steps,
                    {"description": description, "channel_pruning": channels},
                )
                save_fixture(sess, saver, d, gs, meta)


def build_vgg(d):
    def model(x, training):
        _, tf, _ = tf_modules()
        h = conv_block(x, "conv1_1", 3, 16)
        h = conv_block(h, "conv1_2", 3, 16)
        h = tf.nn.max_pool2d(h, 2, 2, padding="SAME", name="pool1")
        h = conv_block(h, "conv2_1", 3, 32)
        h = conv_block(h, "conv2_2", 3, 32)
        h = tf.nn.max_pool2d(h, 2, 2, padding="SAME", name="pool2")
        h = tf.reshape(h, [-1, 4 * 4 * 32], name="flatten")
        h = pruned_fc(h, "fc1", 64)
        return pruned_fc(h, "logits", 10, relu=False, layout="in")

    build_channel_pruned(
        d, model, (16, 16, 3), 91,
        "VGG-style: conv3x3 (BiasAdd, relu) x2, maxpool, x2, maxpool, flatten Reshape, fc1 512x64 "
        "relu, logits 64x10; half of every layer's output channels zeroed by the masks (the "
        "logits' input rows)",
    )


def build_resnet(d):
    def model(x, training):
        _, tf, _ = tf_modules()

        def conv_bn(h, name, k, n, act="relu"):
            return conv_block(h, name, k, n, norm="bn", act=act, training=training)

        def bottleneck(h, name, mid, out, project):
            shortcut = conv_bn(h, name + "/shortcut", 1, out, act=None) if project else h
            r = conv_bn(h, name + "/conv1", 1, mid)
            r = conv_bn(r, name + "/conv2", 3, mid)
            r = conv_bn(r, name + "/conv3", 1, out, act=None)
            return tf.nn.relu(tf.add(r, shortcut, name=name + "/add"), name=name + "/out")

        h = conv_bn(x, "stem", 3, 16)
        h = bottleneck(h, "block1", 8, 32, project=True)
        h = bottleneck(h, "block2", 8, 32, project=False)
        return global_pool_logits(h, 10)

    build_channel_pruned(
        d, model, (16, 16, 3), 93,
        "ResNet-style: stem conv3x3 16, two bottleneck blocks 1x1 8 -> 3x3 8 -> 1x1 32 (the first "
        "with a 1x1 projection shortcut), fused batch norm after every conv (inference graph: "
        "FusedBatchNormV3 is_training=false), relu, residual AddV2, global average pool, logits "
        "32x10; half of every conv's output channels zeroed by the masks (the logits' input rows)",
    )


def build_inception(d):
    def model(x, training):
        _, tf, _ = tf_modules()
        h = conv_block(x, "stem", 3, 16)
        left, right = tf.split(h, 2, axis=3, name="stem_split")
        h = tf.concat([conv_block(left, "split_a", 3, 8), conv_block(right, "split_b", 1, 8)], 3, name="split_concat")
        h = tf.nn.max_pool2d(h, 2, 2, padding="SAME", name="pool")
        b0 = conv_block(h, "mixed/branch0_1x1", 1, 8)
        b1 = conv_block(conv_block(h, "mixed/branch1_1x1", 1, 8), "mixed/branch1_3x3", 3, 12)
        b2 = tf.nn.max_pool2d(h, 3, 1, padding="SAME", name="mixed/branch2_pool")
        b2 = conv_block(b2, "mixed/branch2_1x1", 1, 8)
        h = tf.concat([b0, b1, b2], 3, name="mixed/concat")
        h = conv_block(h, "post", 1, 16)
        return global_pool_logits(h, 10)

    build_channel_pruned(
        d, model, (16, 16, 3), 95,
        "Inception-style: stem conv3x3 16 split in two along channels (Split) into a 3x3 and a 1x1 "
        "conv of 8, concatenated back (ConcatV2), maxpool, an inception block (1x1 8; 1x1 8 -> 3x3 "
        "12; 3x3 maxpool -> 1x1 8) joined by ConcatV2 (28 channels), 1x1 conv 16 on the "
        "concatenation, global average pool, logits 16x10; all BiasAdd + relu; half of every "
        "layer's output channels zeroed by the masks (the logits' input rows)",
    )


def build_mobilenet(d):
    def model(x, training):
        def separable(h, name, n_out, stride, norm, multiplier):
            h = conv_block(h, name + "/depthwise", 3, None, stride, norm, "relu6", training, multiplier)
            return conv_block(h, name + "/pointwise", 1, n_out, 1, norm, "relu6", training)

        h = conv_block(x, "conv0", 3, 16, stride=2, norm="bn", act="relu6", training=training)
        h = separable(h, "block1", 32, 1, "bn", 1)
        h = separable(h, "block2", 32, 2, "bias", 2)
        return global_pool_logits(h, 10)

    build_channel_pruned(
        d, model, (32, 32, 3), 97,
        "MobileNet-style: conv3x3 16 stride 2 (fused batch norm, relu6), a depthwise separable "
        "block (depthwise 3x3 [3,3,16,1] -> batch norm -> relu6 -> 1x1 conv 32 -> batch norm -> "
        "relu6), a strided one with channel multiplier 2 and biases (depthwise [3,3,32,2] stride 2 "
        "-> BiasAdd -> relu6 -> 1x1 conv 32 -> BiasAdd -> relu6), global average pool, logits "
        "32x10; inference graph (FusedBatchNormV3 is_training=false); half of every layer's output "
        "channels zeroed by the masks (depthwise channel i*mult+m; the logits' input rows)",
    )


BUILDERS = {
    "convnet": build_convnet,
    "mlp90": build_mlp90,
    "resource": build_resource,
    "partitioned": build_partitioned,
    "sharded": build_sharded,
    "controlflow": build_controlflow,
    "dtypes": build_dtypes,
    "lstm": build_lstm,
    "lstm_peephole": build_lstm_peephole,
    "vgg": build_vgg,
    "resnet": build_resnet,
    "inception": build_inception,
    "mobilenet": build_mobilenet,
}


# ========================================================================================
# expected/: what TensorFlow reads back


def tf_strip(ckpt_dir, outs):
    """TensorFlow's own strip path, exactly as /work/shared/bench/tf_strip_reference.py:
    import_meta_graph(clear_devices=True), restore, convert_variables_to_constants, fold every
    node whose name contains 'masked_weight' into a Const, extract_sub_graph."""
    _, tf, tf1 = tf_modules()
    path = tf1.train.latest_checkpoint(ckpt_dir)
    with tf.Graph().as_default():
        saver = tf1.train.import_meta_graph(path + ".meta", clear_devices=True)
        with tf1.Session(config=session_config()) as s:
            saver.restore(s, path)
            gd = tf1.graph_util.convert_variables_to_constants(
                s, tf1.get_default_graph().as_graph_def(), outs
            )
    with tf.Graph().as_default():
        tf1.import_graph_def(gd, name="")
        with tf1.Session(config=session_config()) as s:
            vals = {n.name: s.run(n.name + ":0") for n in gd.node if "masked_weight" in n.name}
    new = tf1.GraphDef()
    for n in gd.node:
        if n.name in vals:
            c = new.node.add()
            c.op = "Const"
            c.name = n.name
            c.attr["dtype"].CopyFrom(n.attr["T"])
            c.attr["value"].tensor.CopyFrom(tf1.make_tensor_proto(vals[n.name]))
        else:
            new.node.add().CopyFrom(n)
    return tf1.graph_util.extract_sub_graph(new, outs)


def make_inputs(fixture, seed):
    np, _, _ = tf_modules()
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in sorted(fixture["inputs"]):
        spec = fixture["inputs"][name]
        shape = [IO_BATCH if s < 0 else s for s in spec["shape"]]
        if spec["dtype"] == "float32":
            feeds[name] = rng.standard_normal(shape, dtype=np.float32)
        elif spec["dtype"] == "int32":
            feeds[name] = rng.integers(0, spec["max_value"] + 1, size=shape, dtype=np.int32)
        else:
            raise ValueError(spec["dtype"])
    return feeds


def le_bytes(a):
    np, _, _ = tf_modules()
    a = np.ascontiguousarray(a)
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def make_expected(d):
    import hashlib

    np, tf, tf1 = tf_modules()
    tf1.disable_eager_execution()
    import tf_oracle

    with open(os.path.join(d, "fixture.json")) as f:
        fixture = json.load(f)
    prefix = os.path.join(d, fixture["prefix"])
    exp = os.path.join(d, "expected")
    tensors = tf_oracle.read_checkpoint_json(prefix)
    write_json(os.path.join(exp, "tensors.json"), tensors)
    print(f"tensors.json: {len(tensors)} keys")
    if not fixture["pruned"]:
        return
    outs = fixture["output_nodes"]
    # Fixtures TensorFlow's own strip cannot strip (fixture.json says so and why) get no
    # stripped.pb; their recorded outputs are the training graph's.
    tf_strips = fixture.get("tf_strip", True)
    if tf_strips:
        stripped = tf_strip(d, outs)
        with open(os.path.join(exp, "stripped.pb"), "wb") as f:
            f.write(stripped.SerializeToString(deterministic=True))
        ops = sorted({n.op for n in stripped.node})
        print(f"stripped.pb: {len(stripped.node)} nodes, ops {' '.join(ops)}")
    else:
        try:
            tf_strip(d, outs)
        except tf.errors.InvalidArgumentError as e:
            why = [line for line in e.message.splitlines() if "placeholder" in line]
            if not why:
                raise
            print(f"TensorFlow's strip fails, as fixture.json says: {why[0].strip()}")
        else:
            raise SystemExit("TensorFlow's strip succeeded on a fixture marked tf_strip: false")

    feeds = make_inputs(fixture, seed=1000 + sum(map(ord, os.path.basename(d))))
    fetches = [o + ":0" for o in outs]
    io = {"inputs": {}, "outputs": {}}
    for i, (name, v) in enumerate(feeds.items()):
        rel = f"inputs/{i}.bin"
        os.makedirs(os.path.join(exp, "inputs"), exist_ok=True)
        with open(os.path.join(exp, rel), "wb") as f:
            f.write(le_bytes(v))
        io["inputs"][name] = {"dtype": v.dtype.name, "shape": list(v.shape), "file": rel}

    if tf_strips:
        with tf.Graph().as_default() as g:
            tf1.import_graph_def(stripped, name="")
            with tf1.Session(graph=g, config=session_config()) as s:
                got = s.run(fetches, feeds)
    # the ORIGINAL training graph, restored from the checkpoint, on the same inputs
    with tf.Graph().as_default() as g:
        path = tf1.train.latest_checkpoint(d)
        saver = tf1.train.import_meta_graph(path + ".meta", clear_devices=True)
        with tf1.Session(graph=g, config=session_config()) as s:
            saver.restore(s, path)
            orig = s.run(fetches, feeds)
    if not tf_strips:
        got = orig
    same, maxdiff = True, 0.0
    for i, (name, v, o) in enumerate(zip(fetches, got, orig)):
        rel = f"outputs/{i}.bin"
        os.makedirs(os.path.join(exp, "outputs"), exist_ok=True)
        with open(os.path.join(exp, rel), "wb") as f:
            f.write(le_bytes(v))
        io["outputs"][name] = {
            "dtype": v.dtype.name,
            "shape": list(v.shape),
            "file": rel,
            "sha256": hashlib.sha256(le_bytes(v)).hexdigest(),
        }
        same = same and le_bytes(v) == le_bytes(o)
        maxdiff = max(maxdiff, float(np.max(np.abs(v.astype(np.float64) - o.astype(np.float64)))))
    io["original_graph"] = {
        "how": "import_meta_graph(clear_devices=True) + Saver.restore of the checkpoint, "
        "same feeds and fetches",
        "bit_identical": bool(same),
        "max_abs_diff": maxdiff,
    }
    if not tf_strips:
        del io["original_graph"]["bit_identical"], io["original_graph"]["max_abs_diff"]
        io["original_graph"]["outputs"] = "recorded above: TensorFlow's own strip fails on this fixture"
    write_json(os.path.join(exp, "io.json"), io)
    if tf_strips:
        print(f"outputs vs original graph: bit_identical={same} max_abs_diff={maxdiff}")
    if maxdiff > 1e-5:
        raise SystemExit("stripped graph disagrees with the original graph")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
