"""Times GraphDefs in the real TensorFlow (the pinned TF in .venv): load time
(parse + import + Session), first Session.run, and steady-state Session.run,
and checks that every graph gives bit-identical outputs to the first one.

A tiny graph is imported and run first, so that TensorFlow's one-time start-up
is charged to no one. Steady state: the graphs' sessions are run in turn, RUNS
rounds, so that drift in the machine's load hits all alike; median and min.

usage: bench_codec_tf.py INPUT_NODE OUTPUT_NODE WIDTH BATCH RUNS GRAPH.pb [GRAPH.pb ...]
prints one JSON object: {graph path: {load_s, first_run_s, steady_s, steady_min_s, identical}}
"""
import json, os, sys, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# "identical" compares graphs run in this process; with oneDNN the TF-loadable graph's
# computed weights select other matmul kernels than the dense graph's Consts, so use Eigen's.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
inp, outp, width, batch, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
graphs = sys.argv[6:]
x = np.random.default_rng(1).standard_normal((batch, width), dtype=np.float32)

# Warm-up: TensorFlow's first session in a process pays for thread pools etc.
warm = tf.Graph()
with warm.as_default():
    a = tf1.placeholder(tf.float32, [None, 4])
    b = tf.matmul(a, tf.ones([4, 4]))
with tf1.Session(graph=warm) as s:
    s.run(b, {a: np.ones((1, 4), np.float32)})

results, sessions, reference = {}, [], None
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
    if reference is None:
        reference = y
    results[path] = {"load_s": t1 - t0, "first_run_s": t2 - t1, "identical": y.tobytes() == reference.tobytes()}
    sessions.append((path, sess, fetch, feed, []))

for _ in range(runs):
    for path, sess, fetch, feed, times in sessions:
        s = time.perf_counter()
        y = sess.run(fetch, feed)
        times.append(time.perf_counter() - s)
        if y.tobytes() != reference.tobytes():
            results[path]["identical"] = False
for path, sess, _, _, times in sessions:
    results[path]["steady_s"] = float(np.median(times))
    results[path]["steady_min_s"] = float(np.min(times))
    sess.close()
print(json.dumps(results))
