"""Compares two stripped GraphDefs: same node names, ops and inputs, and
byte-identical constant contents (so -0.0 must stay -0.0).
usage: bench_compare.py OURS.pb THEIRS.pb     prints 'identical' or the first difference"""
import sys
import numpy as np
from tensorflow.core.framework import graph_pb2
from tensorflow.python.framework import tensor_util


def load(path):
    g = graph_pb2.GraphDef()
    with open(path, "rb") as f:
        g.ParseFromString(f.read())
    return g


ours, theirs = load(sys.argv[1]), load(sys.argv[2])
if [n.name for n in ours.node] != [n.name for n in theirs.node]:
    sys.exit("different node sets")
for a, b in zip(ours.node, theirs.node):
    if a.op != b.op or list(a.input) != list(b.input):
        sys.exit(f"{a.name}: different op or inputs")
    if a.op == "Const":
        x, y = tensor_util.MakeNdarray(a.attr["value"].tensor), tensor_util.MakeNdarray(b.attr["value"].tensor)
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            sys.exit(f"{a.name}: constant values differ")
print("identical")
