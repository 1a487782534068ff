#!/usr/bin/env python3
"""TensorFlow's side of tests/accelerate.rs.

    tflite_accelerate_check.py convert FIXTURE_DIR FROZEN.pb OUT_DIR
        Converts FROZEN.pb with TensorFlow's TFLite converter: plainly, with
        Optimize.EXPERIMENTAL_SPARSITY, with Optimize.DEFAULT (int8 weights)
        and with float16 weights, into OUT_DIR/{plain,sparsity,int8,float16}.tflite.
        Prints {"plain": PATH, "sparsity": PATH, "int8": PATH, "float16": PATH}.

    tflite_accelerate_check.py compare FIXTURE_DIR ORIGINAL.tflite ACCELERATED.tflite
        Runs both models in tf.lite.Interpreter, in this process, on the
        fixture's recorded inputs. Prints one JSON document:
          {"outputs": {name: {"max_abs", "max_rel", "allclose"}},
           "ops": {"original": [builtin op names], "accelerated": [...]},
           "fc_weights": {"original": [WEIGHT], "accelerated": [WEIGHT]}}
          WEIGHT = {"name", "sparse": bool, "format": [dimension formats]}
        read with TensorFlow's own flatbuffer schema (schema_py_generated).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from saved_model_check import fixture_inputs  # noqa: E402
from tflite_check import differences, fixture_outputs, run_by_names  # noqa: E402


def convert(fixture_dir, frozen, out_dir):
    import tensorflow as tf

    feeds = fixture_inputs(fixture_dir)
    outputs = fixture_outputs(fixture_dir)
    written = {}
    variants = (
        ("plain", [], []),
        ("sparsity", [tf.lite.Optimize.EXPERIMENTAL_SPARSITY], []),
        ("int8", [tf.lite.Optimize.DEFAULT], []),
        ("float16", [tf.lite.Optimize.DEFAULT], [tf.float16]),
    )
    for name, optimizations, types in variants:
        converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            frozen,
            input_arrays=[n.split(":")[0] for n in feeds],
            output_arrays=outputs,
            input_shapes={n.split(":")[0]: list(v.shape) for n, v in feeds.items()},
        )
        converter.optimizations = optimizations
        converter.target_spec.supported_types = types
        path = os.path.join(out_dir, f"{name}.tflite")
        with open(path, "wb") as f:
            f.write(converter.convert())
        written[name] = path
    return written


def structure(model):
    """Builtin op names and the FULLY_CONNECTED weights of a flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = schema.Model.GetRootAsModel(model, 0)
    codes = [m.OperatorCodes(i) for i in range(m.OperatorCodesLength())]
    code_of = [max(c.BuiltinCode(), c.DeprecatedBuiltinCode()) for c in codes]
    ops, weights = [], []
    g = m.Subgraphs(0)
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        name = names.get(code_of[op.OpcodeIndex()], "?")
        ops.append(name)
        if name == "FULLY_CONNECTED":
            w = g.Tensors(op.Inputs(1))
            s = w.Sparsity()
            formats = [s.DimMetadata(d).Format() for d in range(s.DimMetadataLength())] if s else []
            weights.append({"name": w.Name().decode(), "sparse": s is not None, "format": formats,
                            "version": codes[op.OpcodeIndex()].Version()})
    return ops, weights


def compare(fixture_dir, original, accelerated):
    feeds = fixture_inputs(fixture_dir)
    fetches = [f"{n}:0" for n in fixture_outputs(fixture_dir)]
    result = {"outputs": {}, "ops": {}, "fc_weights": {}}
    got = {}
    for what, path in (("original", original), ("accelerated", accelerated)):
        with open(path, "rb") as f:
            model = f.read()
        result["ops"][what], result["fc_weights"][what] = structure(model)
        got[what] = run_by_names(model, feeds, fetches)
    result["outputs"] = {f: differences(got["accelerated"][f], got["original"][f]) for f in fetches}
    return result


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    print(json.dumps({"convert": convert, "compare": compare}[command](*args)))
