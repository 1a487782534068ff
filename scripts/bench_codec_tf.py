"""Times GraphDefs in the real TensorFlow (the pinned TF in .venv): load time
(parse + import + Session), first Session.run, and steady-state Session.run
(median of N), and checks that every graph gives bit-identical outputs to
the first one.

usage: bench_codec_tf.py INPUT_NODE OUTPUT_NODE WIDTH BATCH RUNS GRAPH.pb [GRAPH.pb ...]
prints one JSON object: {graph path: {load_s, first_run_s, steady_s, identical}}
"""
import json, os, sys, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
inp, outp, width, batch, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
graphs = sys.argv[6:]
x = np.random.default_rng(1).standard_normal((batch, width), dtype=np.float32)
results, reference = {}, None
for path in graphs:
    t0 = time.perf_counter()
    gd = tf1.GraphDef()
    with open(path, "rb") as f:
        gd.ParseFromString(f.read())
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(gd, name="")
    sess = tf1.Session(graph=g)
    t1 = time.perf_counter()
    feed = {g.get_tensor_by_name(inp + ":0"): x}
    fetch = g.get_tensor_by_name(outp + ":0")
    y = sess.run(fetch, feed)
    t2 = time.perf_counter()
    times = []
    for _ in range(runs):
        s = time.perf_counter()
        y2 = sess.run(fetch, feed)
        times.append(time.perf_counter() - s)
    if reference is None:
        reference = y
    identical = bool(y.tobytes() == reference.tobytes() and y2.tobytes() == reference.tobytes())
    results[path] = {
        "load_s": t1 - t0,
        "first_run_s": t2 - t1,
        "steady_s": float(np.median(times)),
        "steady_min_s": float(np.min(times)),
        "identical": identical,
    }
    sess.close()
print(json.dumps(results))
