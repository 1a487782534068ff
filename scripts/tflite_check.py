#!/usr/bin/env python3
"""Converts a stripped model with TensorFlow's own TFLite converter, runs the
TFLite interpreter on a fixture's recorded inputs and compares with the frozen
GraphDef run by TensorFlow in this process (tests/tflite.rs).

    tflite_check.py FIXTURE_DIR FROZEN.pb [SAVED_MODEL_DIR]

Converts FROZEN.pb with `tf.compat.v1.lite.TFLiteConverter.from_frozen_graph`
(input arrays and shapes from the fixture's inputs, output arrays the
fixture's outputs) and, when given, SAVED_MODEL_DIR with
`tf.lite.TFLiteConverter.from_saved_model`. Each conversion is tried with
TFLite's builtin ops first, then with `SELECT_TF_OPS` added. Prints one JSON
document:
  {"frozen_graph": RESULT, "saved_model": RESULT}
  RESULT = {"ops": "builtins" | "select_tf_ops" | null,   (null: did not convert)
            "errors": ["OPS: ERROR TYPE: [TFLite error codes] first lines", one per failed conversion],
            "flex_ops": [the TensorFlow ops the model runs through the Flex delegate],
            "run_error": null | why the interpreter could not run it,
            "outputs": {name: {"max_abs", "max_rel", "allclose"}}}
`allclose` is numpy's, rtol = atol = 1e-5. TensorFlow's pip interpreter has no
Flex delegate, so a model that needs SELECT_TF_OPS converts but does not run here.
"""
import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from saved_model_check import fixture_inputs, run_frozen  # noqa: E402


def fixture_outputs(fixture_dir):
    with open(os.path.join(fixture_dir, "fixture.json")) as f:
        return json.load(f)["output_nodes"]


def convert(make_converter):
    """(flatbuffer or None, "builtins" | "select_tf_ops" | None, errors)."""
    import tensorflow as tf

    errors = []
    for ops in ("builtins", "select_tf_ops"):
        try:
            converter = make_converter()  # from_frozen_graph refuses a graph with variables here
            if ops == "select_tf_ops":
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
            return converter.convert(), ops, errors
        except Exception as e:  # the converter raises several types; all mean "did not convert"
            codes = sorted(set(re.findall(r"Error code: (\w+)", str(e))))
            lines = [l for l in str(e).splitlines() if "error" in l.lower()] or str(e).splitlines()[:1]
            errors.append(f"{ops}: {type(e).__name__}: [{', '.join(codes)}] {' | '.join(lines[:3])[:600]}")
    return None, None, errors


def flex_ops(model):
    """The custom (Flex) operator codes of a TFLite flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.Model.GetRootAsModel(model, 0)
    codes = (m.OperatorCodes(i).CustomCode() for i in range(m.OperatorCodesLength()))
    return sorted({c.decode() for c in codes if c})


def differences(got, want):
    import numpy as np

    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return {"max_abs": None, "max_rel": None, "allclose": False, "shape": [list(got.shape), list(want.shape)]}
    diff = np.abs(got - want)
    rel = diff / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
    return {
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "max_rel": float(rel.max()) if rel.size else 0.0,
        "allclose": bool(np.allclose(got, want, rtol=1e-5, atol=1e-5)),
    }


def run_by_names(model, feeds, fetches):
    """Runs a converted frozen graph: tensors found by their graph names."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=model)
    interpreter.allocate_tensors()
    by_name = {d["name"]: d for d in interpreter.get_input_details()}
    for name, value in feeds.items():
        interpreter.set_tensor(by_name[name.split(":")[0]]["index"], value)
    interpreter.invoke()
    outs = {d["name"]: d for d in interpreter.get_output_details()}
    return {f: interpreter.get_tensor(outs[f.split(":")[0]]["index"]) for f in fetches}


def run_signature(model, feeds, saved_model):
    """Runs a converted SavedModel through its serving signature: {tensor name: value}."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    sig = saved.meta_graphs[0].signature_def["serving_default"]
    key_of = {info.name: key for key, info in sig.inputs.items()}
    runner = tf.lite.Interpreter(model_content=model).get_signature_runner("serving_default")
    got = runner(**{key_of[name]: value for name, value in feeds.items()})
    return {sig.outputs[key].name: value for key, value in got.items()}


def main(fixture_dir, frozen, saved_model=None):
    import tensorflow as tf

    feeds = fixture_inputs(fixture_dir)
    fetches = [f"{n}:0" for n in fixture_outputs(fixture_dir)]
    reference = run_frozen(frozen, feeds, fetches)
    result = {}

    def from_frozen():
        return tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            frozen,
            input_arrays=[n.split(":")[0] for n in feeds],
            output_arrays=[f.split(":")[0] for f in fetches],
            input_shapes={n.split(":")[0]: list(v.shape) for n, v in feeds.items()},
        )

    sources = [("frozen_graph", from_frozen, lambda m: run_by_names(m, feeds, fetches))]
    if saved_model:
        sources.append(
            (
                "saved_model",
                lambda: tf.lite.TFLiteConverter.from_saved_model(saved_model),
                lambda m: run_signature(m, feeds, saved_model),
            )
        )
    for what, make, run in sources:
        model, ops, errors = convert(make)
        entry = {"ops": ops, "errors": errors, "flex_ops": [], "run_error": None, "outputs": {}}
        if model is not None:
            entry["flex_ops"] = flex_ops(model)
            try:
                got = run(model)
            except RuntimeError as e:
                entry["run_error"] = str(e).splitlines()[0][:300]
            else:
                entry["outputs"] = {f: differences(got[f], reference[f]) for f in fetches}
        result[what] = entry
    return result


if __name__ == "__main__":
    try:
        print(json.dumps(main(*sys.argv[1:4])))
    except Exception as e:  # one JSON answer for the Rust test, whatever failed
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        print(f"tflite_check.py: {e}", file=sys.stderr)
        sys.exit(1)
