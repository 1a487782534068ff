#!/usr/bin/env python3
"""Loads a SavedModel tf-strip wrote the two ways TensorFlow's Python offers and
compares what its serving signature computes with a frozen GraphDef run in this
process on a fixture's recorded inputs (tests/saved_model.rs).

    saved_model_check.py FIXTURE_DIR FROZEN.pb SAVED_MODEL_DIR

Prints one JSON document:
  {"signature": {"inputs": {key: name}, "outputs": {key: name}, "method_name": ...},
   "v1_loader": {key: {"bit_identical": bool, "max_abs": float}},
   "v2_load":   {key: {"bit_identical": bool, "max_abs": float}}}
`v1_loader` is `tf.compat.v1.saved_model.loader.load` in a session, `v2_load`
`tf.saved_model.load(...).signatures["serving_default"]` called eagerly. On
failure it prints {"error": "..."} and exits 1.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def fixture_inputs(fixture_dir):
    """The recorded inputs of a fixture: {"input:0": ndarray}."""
    import numpy as np

    with open(os.path.join(fixture_dir, "expected", "io.json")) as f:
        io = json.load(f)
    feeds = {}
    for name, spec in io["inputs"].items():
        path = os.path.join(fixture_dir, "expected", spec["file"])
        value = np.fromfile(path, dtype=np.dtype(spec["dtype"]).newbyteorder("<"))
        feeds[name] = value.reshape(spec["shape"])
    return feeds


def run_frozen(graph_path, feeds, fetches):
    """Runs a frozen GraphDef in a TF1 session: {fetch: ndarray}."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(graph_path, "rb") as f:
        graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            values = sess.run(list(fetches), feed_dict=feeds)
    return dict(zip(fetches, values))


def compare(got, want):
    import numpy as np

    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        raise ValueError(f"{got.dtype}{list(got.shape)} vs {want.dtype}{list(want.shape)}")
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return {
        "bit_identical": got.tobytes() == want.tobytes(),
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "allclose": bool(np.allclose(got, want, rtol=1e-5, atol=1e-5)),
    }


def main(fixture_dir, frozen, saved_model):
    import tensorflow as tf

    feeds = fixture_inputs(fixture_dir)
    with tf.Graph().as_default() as g, tf.compat.v1.Session(graph=g) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], saved_model)
        sig = meta.signature_def["serving_default"]
        inputs = {k: v.name for k, v in sig.inputs.items()}
        outputs = {k: v.name for k, v in sig.outputs.items()}
        keys = sorted(outputs)
        by_input = {inputs[k]: k for k in inputs}
        missing = set(feeds) - set(by_input)
        if missing or len(by_input) != len(feeds):
            raise ValueError(f"signature inputs {sorted(by_input)} are not the fixture's {sorted(feeds)}")
        v1 = sess.run([outputs[k] for k in keys], feed_dict=feeds)
    reference = run_frozen(frozen, feeds, [outputs[k] for k in keys])

    loaded = tf.saved_model.load(saved_model)
    serve = loaded.signatures["serving_default"]
    v2 = serve(**{by_input[name]: tf.constant(value) for name, value in feeds.items()})
    return {
        "signature": {"inputs": inputs, "outputs": outputs, "method_name": sig.method_name},
        "v1_loader": {k: compare(v, reference[outputs[k]]) for k, v in zip(keys, v1)},
        "v2_load": {k: compare(v2[k].numpy(), reference[outputs[k]]) for k in keys},
    }


if __name__ == "__main__":
    try:
        print(json.dumps(main(*sys.argv[1:4])))
    except Exception as e:  # one JSON answer for the Rust test, whatever failed
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        print(f"saved_model_check.py: {e}", file=sys.stderr)
        sys.exit(1)
