#!/usr/bin/env python3
"""Multiply-adds per example and parameters of frozen GraphDefs, as scripts/bench_compact
reports them beside its speedups.

usage: .venv/bin/python scripts/graph_flops.py MODEL.pb [MODEL.pb ...]

Prints JSON {path: {"macs": N, "params": N}}. MACs count Conv2D, DepthwiseConv2dNative and
MatMul (the work `tf-strip compact` removes; bias, BN, ReLU and pooling are ignored) from the
statically inferred shapes, so every placeholder needs known dimensions but the leading one.
Params are the elements of the float Const nodes (weights, biases, BN parameters).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1


def graph_cost(graph_def):
    """(macs, params) of one example through `graph_def`."""
    graph = tf.Graph()
    with graph.as_default():
        tf1.import_graph_def(graph_def, name="")
    macs = 0
    for op in graph.get_operations():
        out = op.outputs[0].shape if op.outputs else None
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):
            _, h, w, _ = out.as_list()
            kh, kw, cin, m = op.inputs[1].shape.as_list()
            # Conv2D's filter is [kh, kw, in, out], the depthwise one's [kh, kw, in, multiplier]:
            # either way each output position costs one multiply-add per filter element.
            macs += h * w * kh * kw * cin * m
        elif op.type == "MatMul":
            a, b = op.inputs[0].shape.as_list(), op.inputs[1].shape.as_list()
            k = a[0] if op.get_attr("transpose_a") else a[1]
            n = b[0] if op.get_attr("transpose_b") else b[1]
            macs += k * n
    params = 0
    for node in graph_def.node:
        if node.op == "Const" and node.attr["dtype"].type in (tf.float32.as_datatype_enum, tf.float16.as_datatype_enum):
            params += int(np.prod([d.size for d in node.attr["value"].tensor.tensor_shape.dim]))
    return macs, params


def file_cost(path):
    graph_def = tf1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    return graph_cost(graph_def)


if __name__ == "__main__":
    report = {}
    for path in sys.argv[1:]:
        macs, params = file_cost(path)
        report[path] = {"macs": macs, "params": params}
    print(json.dumps(report, indent=1))
