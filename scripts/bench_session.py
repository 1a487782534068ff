"""Times a frozen GraphDef with TensorFlow's own Python API, the independent
check of `tf-strip bench` (tests/bench.rs, BENCHMARKS.md).

usage: bench_session.py MODEL.pb --input NAME:D0,D1,... [--input ...] --output NAME
                        [--warmup K] [--runs R] [--loads L] [--threads N]

As `tf-strip bench` does: an empty session first (TensorFlow's process set-up
is not the model's load time); L loads of read + parse + import + Session,
each followed by one timed first run; then K untimed and R timed runs on the
last session, inputs uniform in [-1, 1): through `sess.make_callable(fetches,
feed_list)` (`median`, ...: TensorFlow's own run, as tf-strip's C API call
times it), and through `sess.run(fetch, feed_dict)` (`run_median`, ...:
that plus the Python client's per-call work of parsing feeds and fetches).
`client_cpu_per_run` and `tensorflow_cpu_per_run` split the CPU time of
the make_callable runs between this thread (the Python client: feeds in,
results out, waiting) and TensorFlow's threads (the model's ops).
Then the same timing of an Identity graph of the same feeds (`floor_median`):
what a call costs the Python client and TensorFlow's run machinery when the
model computes nothing, measured in this process.
With --write-floor PATH, writes that Identity graph and exits (so the
C API side can time its own floor on the same graph).
Prints JSON, times in seconds: load and first_run are medians over the loads.
"""
import argparse, json, os, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("--input", action="append", required=True)
p.add_argument("--output", action="append", required=True)
p.add_argument("--warmup", type=int, default=5)
p.add_argument("--runs", type=int, default=100)
p.add_argument("--loads", type=int, default=3)
p.add_argument("--threads", type=int, default=0)
p.add_argument("--write-floor")
a = p.parse_args()

config = tf1.ConfigProto(intra_op_parallelism_threads=a.threads, inter_op_parallelism_threads=a.threads)
rng = np.random.default_rng(0)
inputs = {}
for spec in a.input:
    name, dims = spec.rsplit(":", 1)
    inputs[name if ":" in name else name + ":0"] = rng.uniform(-1, 1, [int(d) for d in dims.split(",")]).astype(np.float32)
fetches = [o if ":" in o else o + ":0" for o in a.output]


def floor_graph():
    """Placeholders shaped as the feeds, each fetched through an Identity
    named as the model's output of the same position (so that `tf-strip
    bench MODEL FLOOR` feeds and fetches both alike)."""
    g = tf.Graph()
    with g.as_default():
        for i, (name, v) in enumerate(inputs.items()):
            x = tf1.placeholder(tf.float32, [None] + list(v.shape[1:]), name=name.split(":")[0])
            tf.identity(x, name=fetches[i].split(":")[0] if i < len(fetches) else f"floor_{i}")
    return g


if a.write_floor:
    with open(a.write_floor, "wb") as f:
        f.write(floor_graph().as_graph_def().SerializeToString())
    raise SystemExit(0)

tf1.Session(graph=tf.Graph(), config=config).close()

def load():
    start = time.perf_counter()
    with open(a.model, "rb") as f:
        gd = tf1.GraphDef.FromString(f.read())
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(gd, name="")
    sess = tf1.Session(graph=g, config=config)
    loaded = time.perf_counter() - start
    feed = {g.get_tensor_by_name(n): v for n, v in inputs.items()}
    out = [g.get_tensor_by_name(n) for n in fetches]
    start = time.perf_counter()
    sess.run(out, feed)
    return sess, feed, out, loaded, time.perf_counter() - start

loads, firsts = [], []
for _ in range(a.loads):
    sess, feed, out, loaded, first = load()
    loads.append(loaded)
    firsts.append(first)
def timed(call):
    """Per-run wall times, and the CPU time per run of this (the client's)
    thread and of TensorFlow's threads."""
    for _ in range(a.warmup):
        call()
    times = []
    client, process = time.thread_time(), time.process_time()
    for _ in range(a.runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    client, process = time.thread_time() - client, time.process_time() - process
    return np.array(times), client / a.runs, (process - client) / a.runs


names = list(feed)
run_callable = sess.make_callable(out, feed_list=names)
values = [feed[n] for n in names]
direct, client_cpu, tf_cpu = timed(lambda: run_callable(*values))
via_run, _, _ = timed(lambda: sess.run(out, feed))
fg = floor_graph()
floor_sess = tf1.Session(graph=fg, config=config)
floor_out = [op.outputs[0] for op in fg.get_operations() if op.type == "Identity"]
floor_call = floor_sess.make_callable(floor_out, feed_list=[fg.get_tensor_by_name(n) for n in inputs])
floor, _, _ = timed(lambda: floor_call(*values))
print(json.dumps({
    "load": float(np.median(loads)), "first_run": float(np.median(firsts)), "runs": a.runs,
    "median": float(np.median(direct)), "p90": float(np.quantile(direct, 0.9)),
    "min": float(direct.min()), "max": float(direct.max()),
    "run_median": float(np.median(via_run)), "run_min": float(via_run.min()),
    "floor_median": float(np.median(floor)),
    "client_cpu_per_run": client_cpu, "tensorflow_cpu_per_run": tf_cpu,
}))
