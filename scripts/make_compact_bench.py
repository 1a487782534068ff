#!/usr/bin/env python3
"""Deterministic generator of the models scripts/bench_compact times (issue 12's speed target
of `tf-strip compact`), written by real TensorFlow (tf.compat.v1) as frozen GraphDefs.

usage: .venv/bin/python scripts/make_compact_bench.py OUT_DIR [--model resnet50|vgg16 ...]
       .venv/bin/python scripts/make_compact_bench.py OUT_DIR --widths-variant [--deltas -1,0,1]

For each model, OUT_DIR/MODEL/ gets
  pruned.pb        the full-width network with half of the chosen channels pruned: their
                   filters zeroed and, so that their activations are exactly 0, their bias,
                   BN beta and BN moving_mean zeroed too (BN(0) = (0 - mean) * gamma /
                   sqrt(var + eps) + beta = 0, ReLU(0) = 0);
  pruned_const.pb  the same weights, but the pruned channels keep bias, beta and mean: their
                   activations are positive constants (beta in [0.1, 0.3], |mean| <= 0.05,
                   gamma <= 1 and var >= 0.8 make BN(0) >= 0.044; VGG biases are >= 0.05);
  limit.pb         the same network built directly at the reduced widths: pruned.pb's weights
                   with the pruned channels (and the consumers' matching input channels)
                   sliced out, so it computes what pruned.pb computes (verify checks that);
and OUT_DIR/models.json the multiply-adds and parameters at full and reduced width.
Every graph: Placeholder `input` float32 [None, H, W, 3] (NHWC), logits `output`.

The networks:
  resnet50  tf_slim's resnet_v1_50 at 224x224 in inference form: conv1 7x7/2 64 (explicit pad,
            as slim's conv2d_same) + BN + ReLU, max pool 3x3/2 SAME, bottleneck units [3, 4, 6,
            3] of depth 256/512/1024/2048, depth_bottleneck 64/128/256/512, the stride (2, 2, 2,
            1) in each block's last unit on its 3x3 conv, a 1x1 projection shortcut where the
            depth changes and a 1x1/stride max-pool subsample otherwise, FusedBatchNormV3
            (eps 1e-5) after every conv, ReLU after the residual add, Mean over [1, 2], a 1x1
            logits conv with bias, Squeeze. Pruned: half of each unit's conv1 and conv2
            outputs (the depth_bottleneck channels).
  vgg16     13 conv3x3 SAME + bias + ReLU (64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512
            x3, M; 2x2/2 VALID max pools) at 112x112, a Reshape flatten (3x3x512), fc 512 +
            ReLU, fc 512 + ReLU, fc 1000. Pruned: half of every conv's outputs and of fc1's and
            fc2's neurons.
Channels pruned: the half of a layer's output channels with the lowest L1 norm of the filter.
Weights are He-initialised (std sqrt(2 / fan_in)); the last BN of each residual branch has
gamma in [0.1, 0.2], so the activations stay of order 1 through the 16 residual adds.

--widths-variant writes OUT_DIR/vgg16_widths/limit_{31,32,33}.pb instead: the reduced VGG with
every pruned layer at half width minus one, exactly half (multiples of 32) and plus one, to
measure whether channel counts that are multiples of 8 run faster (`compact --round_to`);
--deltas 7,8,9 gives limit_{39,40,41}.pb (40, 72, 136, 264: multiples of 8, not of 16).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from graph_flops import graph_cost  # noqa: E402

tf1 = tf.compat.v1

SEEDS = {"resnet50": 50, "vgg16": 16, "vgg16_widths": 1616}
BN_EPSILON = 1e-5  # slim's resnet_arg_scope
PER_CHANNEL = ("b", "gamma", "beta", "mean", "var")


# --- parameters: a flat {layer name: {"w": filter [kh, kw, in, out] or [in, out], ...}} ---

def he(rng, shape):
    fan_in = int(np.prod(shape[:-1]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def conv_bn(rng, k, cin, cout, gamma=(0.5, 1.0)):
    f32 = lambda a: np.asarray(a, np.float32)
    return {"w": he(rng, [k, k, cin, cout]), "gamma": f32(rng.uniform(*gamma, cout)),
            "beta": f32(rng.uniform(0.1, 0.3, cout)), "mean": f32(rng.uniform(-0.05, 0.05, cout)),
            "var": f32(rng.uniform(0.8, 1.2, cout))}


def dense(rng, shape):
    return {"w": he(rng, shape), "b": rng.uniform(0.05, 0.2, shape[-1]).astype(np.float32)}


def resnet_units():
    """(scope, depth_in, depth, depth_bottleneck, stride) of every bottleneck unit."""
    depth_in = 64
    for b, (base, units, stride) in enumerate([(64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)]):
        for u in range(units):
            scope = f"resnet_v1_50/block{b + 1}/unit_{u + 1}/bottleneck_v1"
            yield scope, depth_in, base * 4, base, stride if u == units - 1 else 1
            depth_in = base * 4


def resnet50_params(rng):
    p = {"resnet_v1_50/conv1": conv_bn(rng, 7, 3, 64)}
    for scope, depth_in, depth, base, _ in resnet_units():
        if depth != depth_in:
            p[f"{scope}/shortcut"] = conv_bn(rng, 1, depth_in, depth)
        p[f"{scope}/conv1"] = conv_bn(rng, 1, depth_in, base)
        p[f"{scope}/conv2"] = conv_bn(rng, 3, base, base)
        p[f"{scope}/conv3"] = conv_bn(rng, 1, base, depth, gamma=(0.1, 0.2))
    p["resnet_v1_50/logits"] = dense(rng, [1, 1, 2048, 1000])
    return p


def resnet50_plan():
    """(pruned layer, the layer that reads its output channels)."""
    for scope, *_ in resnet_units():
        yield f"{scope}/conv1", f"{scope}/conv2"
        yield f"{scope}/conv2", f"{scope}/conv3"


VGG_CONVS = [("conv1", [64, 64]), ("conv2", [128, 128]), ("conv3", [256] * 3), ("conv4", [512] * 3),
             ("conv5", [512] * 3)]


def vgg_layers():
    return [f"vgg_16/{g}/{g}_{i + 1}" for g, widths in VGG_CONVS for i in range(len(widths))] + \
        ["vgg_16/fc1", "vgg_16/fc2", "vgg_16/fc3"]


def vgg16_params(rng, widths=None):
    """widths: output channels of every layer but fc3 (default VGG-16's, fc 512)."""
    names = vgg_layers()
    widths = widths or [w for _, ws in VGG_CONVS for w in ws] + [512, 512]
    p, cin = {}, 3
    for name, cout in zip(names, widths + [1000]):
        # fc1's filter keeps the flattened 3x3 map's spatial axes, so its input channels are
        # axis -2 like a conv's; the graph reshapes it to [3*3*C, 512].
        shape = [3, 3, cin, cout] if "conv" in name or name.endswith("fc1") else [cin, cout]
        p[name] = dense(rng, shape)
        cin = cout
    return p


def vgg16_plan():
    names = vgg_layers()
    return zip(names[:-1], names[1:])


# --- pruning and slicing ---

def lowest_l1_half(w):
    l1 = np.abs(w).reshape(-1, w.shape[-1]).sum(axis=0)
    return np.sort(np.argsort(l1, kind="stable")[: w.shape[-1] // 2])


def prune(params, plan, exact):
    """Copies of params with half of each planned layer's outputs zeroed; the dropped indices."""
    out = {k: {a: v.copy() for a, v in layer.items()} for k, layer in params.items()}
    dropped = {}
    for name, _ in plan:
        layer = out[name]
        drop = lowest_l1_half(params[name]["w"])
        dropped[name] = drop
        layer["w"][..., drop] = 0
        if exact:
            for a in ("b", "beta", "mean"):
                if a in layer:
                    layer[a][drop] = 0
    return out, dropped


def slice_out(params, plan, dropped):
    """params without the dropped output channels and the consumers' matching inputs."""
    out = {k: dict(layer) for k, layer in params.items()}
    for name, consumer in plan:
        n = params[name]["w"].shape[-1]
        keep = np.setdiff1d(np.arange(n), dropped[name])
        layer = out[name]
        layer["w"] = np.take(layer["w"], keep, axis=-1)
        for a in PER_CHANNEL:
            if a in layer:
                layer[a] = layer[a][keep]
        out[consumer] = dict(out[consumer], w=np.take(out[consumer]["w"], keep, axis=-2))
    return out


# --- graphs ---

def conv(x, layer, stride=1, padding="SAME"):
    return tf.nn.conv2d(x, tf.constant(layer["w"], name="weights"), [1, stride, stride, 1], padding,
                        name="Conv2D")


def conv_same(x, layer, stride):
    """slim's conv2d_same: SAME at stride 1, else explicit symmetric padding and VALID."""
    if stride == 1:
        return conv(x, layer)
    k = layer["w"].shape[0]
    beg = (k - 1) // 2
    x = tf.pad(x, [[0, 0], [beg, k - 1 - beg], [beg, k - 1 - beg], [0, 0]])
    return conv(x, layer, stride, "VALID")


def batch_norm(x, layer):
    with tf1.name_scope("BatchNorm"):
        c = lambda a: tf.constant(layer[a], name=a)
        y, _, _ = tf1.nn.fused_batch_norm(x, c("gamma"), c("beta"), c("mean"), c("var"),
                                          epsilon=BN_EPSILON, is_training=False)
    return y


def conv_bn_op(x, p, name, stride=1, relu=True):
    with tf1.name_scope(name + "/"):
        y = batch_norm(conv_same(x, p[name], stride), p[name])
        return tf.nn.relu(y, name="Relu") if relu else y


def resnet50_graph(p):
    x = tf1.placeholder(tf.float32, [None, 224, 224, 3], name="input")
    net = conv_bn_op(x, p, "resnet_v1_50/conv1", stride=2)
    net = tf.nn.max_pool2d(net, 3, 2, "SAME", name="resnet_v1_50/pool1/MaxPool")
    for scope, depth_in, depth, _, stride in resnet_units():
        if depth == depth_in:
            shortcut = net if stride == 1 else tf.nn.max_pool2d(net, 1, stride, "SAME",
                                                                name=f"{scope}/shortcut/MaxPool")
        else:
            shortcut = conv_bn_op(net, p, f"{scope}/shortcut", stride, relu=False)
        residual = conv_bn_op(net, p, f"{scope}/conv1")
        residual = conv_bn_op(residual, p, f"{scope}/conv2", stride)
        residual = conv_bn_op(residual, p, f"{scope}/conv3", relu=False)
        net = tf.nn.relu(shortcut + residual, name=f"{scope}/Relu")
    net = tf.reduce_mean(net, [1, 2], keepdims=True, name="resnet_v1_50/pool5")
    with tf1.name_scope("resnet_v1_50/logits/"):
        logits = tf.nn.bias_add(conv(net, p["resnet_v1_50/logits"]),
                                tf.constant(p["resnet_v1_50/logits"]["b"], name="biases"))
    logits = tf.squeeze(logits, [1, 2], name="resnet_v1_50/SpatialSqueeze")
    return tf.identity(logits, name="output")


def vgg16_graph(p):
    net = tf1.placeholder(tf.float32, [None, 112, 112, 3], name="input")
    for g, widths in VGG_CONVS:
        for i in range(len(widths)):
            name = f"vgg_16/{g}/{g}_{i + 1}"
            with tf1.name_scope(name + "/"):
                net = tf.nn.relu(tf.nn.bias_add(conv(net, p[name]), tf.constant(p[name]["b"], name="biases")),
                                 name="Relu")
        net = tf.nn.max_pool2d(net, 2, 2, "VALID", name=f"vgg_16/pool{g[-1]}/MaxPool")
    fc1 = p["vgg_16/fc1"]["w"]
    net = tf.reshape(net, [-1, int(np.prod(fc1.shape[:3]))], name="vgg_16/flatten")
    for name in ("vgg_16/fc1", "vgg_16/fc2", "vgg_16/fc3"):
        layer = p[name]
        with tf1.name_scope(name + "/"):
            w = tf.constant(layer["w"].reshape(-1, layer["w"].shape[-1]), name="weights")
            net = tf.nn.bias_add(tf.matmul(net, w, name="MatMul"), tf.constant(layer["b"], name="biases"))
            if name != "vgg_16/fc3":
                net = tf.nn.relu(net, name="Relu")
    return tf.identity(net, name="output")


MODELS = {
    "resnet50": (resnet50_params, resnet50_plan, resnet50_graph),
    "vgg16": (vgg16_params, vgg16_plan, vgg16_graph),
}


def write_graph(build, params, path):
    graph = tf.Graph()
    with graph.as_default():
        build(params)
    graph_def = graph.as_graph_def()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(graph_def.SerializeToString(deterministic=True))  # map fields (attrs) sorted
    os.replace(tmp, path)
    return graph_cost(graph_def)


def make_model(out_dir, model):
    make_params, plan, build = MODELS[model]
    params = make_params(np.random.default_rng(SEEDS[model]))
    plan = list(plan())
    d = os.path.join(out_dir, model)
    os.makedirs(d, exist_ok=True)
    exact, dropped = prune(params, plan, exact=True)
    full_macs, full_params = write_graph(build, exact, os.path.join(d, "pruned.pb"))
    write_graph(build, prune(params, plan, exact=False)[0], os.path.join(d, "pruned_const.pb"))
    macs, n = write_graph(build, slice_out(exact, plan, dropped), os.path.join(d, "limit.pb"))
    return {"full": {"macs": full_macs, "params": full_params}, "reduced": {"macs": macs, "params": n},
            "macs_ratio": full_macs / macs, "pruned_layers": len(plan),
            "pruned_channels": int(sum(len(v) for v in dropped.values()))}


def make_widths_variant(out_dir, deltas):
    d = os.path.join(out_dir, "vgg16_widths")
    os.makedirs(d, exist_ok=True)
    half = [w // 2 for _, ws in VGG_CONVS for w in ws] + [256, 256]
    report = {}
    for delta in deltas:
        params = vgg16_params(np.random.default_rng(SEEDS["vgg16_widths"]), [w + delta for w in half])
        name = f"limit_{32 + delta}.pb"
        macs, n = write_graph(vgg16_graph, params, os.path.join(d, name))
        report[name] = {"widths": [w + delta for w in half], "macs": macs, "params": n}
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--model", action="append", choices=sorted(MODELS))
    ap.add_argument("--widths-variant", action="store_true")
    ap.add_argument("--deltas", type=lambda v: [int(d) for d in v.split(",")], default=[-1, 0, 1],
                    help="--widths-variant's widths: half width plus each of these")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    if a.widths_variant:
        report, path = make_widths_variant(a.out_dir, a.deltas), os.path.join(a.out_dir, "vgg16_widths", "models.json")
    else:
        report = {m: make_model(a.out_dir, m) for m in a.model or sorted(MODELS)}
        path = os.path.join(a.out_dir, "models.json")
    if os.path.exists(path):  # a run for some models keeps the others' entries
        with open(path) as f:
            report = {**json.load(f), **report}
    with open(path, "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
