#!/usr/bin/env python3
"""TensorFlow as the oracle for tf-strip's Rust tests.

Run with the pinned TensorFlow venv (`.venv/bin/python scripts/tf_oracle.py ...`).
Every subcommand prints one JSON document on stdout and exits 0; on failure it prints
`{"error": "..."}` on stdout, a message on stderr, and exits 1.

Subcommands
  read-ckpt PREFIX
      What TensorFlow's `tf.train.load_checkpoint(PREFIX)` reads: the same JSON as
      testdata/<fixture>/expected/tensors.json (see CANONICAL BYTES below).
  same-proto KIND A B          KIND = graph | meta | saved_model
      Parse A and B with TensorFlow's python protos (binary, or text format when the file
      name ends with .pbtxt/.pbtext) and print {"equal": bool, "diff": "..."}; `diff` is a
      unified diff of the text formats, cut after the first differences ("" when equal).
      Equality is protobuf message equality (order of repeated fields matters, map order
      does not). Does not load the TensorFlow runtime, only its generated protos.
  read-events EVENTS KIND MODEL    KIND = graph | meta | saved_model
      Read the events file EVENTS with `tf.compat.v1.train.summary_iterator` and print
      {"events": [{"wall_time", "step", "what", "file_version"?, "graph_equal"?}]}, one
      entry per event; `what` is the Event's oneof case, and for a graph_def event
      `graph_equal` says whether its GraphDef equals MODEL's graph (MODEL parsed as KIND;
      a meta graph's or the SavedModel's first meta graph's graph_def).

CANONICAL BYTES (what "sha256" hashes; shared with scripts/make_fixtures.py)
  * numeric and bool tensors: the raw element bytes in row-major order, little-endian
    (`np.ascontiguousarray(v).astype(v.dtype.newbyteorder('<')).tobytes()`); bool is one
    byte per element (0/1), bfloat16 and float16 are their 2 raw bytes, complex64/128 are
    (re, im) pairs of float32/float64. NaN payloads and the sign of zero are kept as stored.
  * string tensors: for each element in row-major order, its length as u64 little-endian
    followed by its bytes.
  * "zero_fraction": for numeric dtypes (ints, floats, bfloat16, complex), the number of
    elements equal to zero (-0.0 counts as zero, NaN does not; complex: both parts zero)
    divided by the element count, as a double; 0.0 for an empty tensor. null for bool and
    string.
  * "dtype": numpy-style name: float16 bfloat16 float32 float64 int8 int16 int32 int64
    uint8 uint16 uint32 uint64 bool complex64 complex128 string (TensorFlow's DType.name).
  * "shape": list of dimensions ([] for a scalar).
"""
import hashlib
import json
import os
import struct
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

NON_NUMERIC = ("bool", "string")


class OracleError(Exception):
    pass


# ----------------------------------------------------------------------------------------
# canonical bytes


def canonical_bytes(value, dtype_name):
    """Canonical bytes of a tensor value (see module docstring)."""
    import numpy as np

    if dtype_name == "string":
        flat = np.asarray(value, dtype=object).reshape(-1)
        out = bytearray()
        for e in flat:
            b = e if isinstance(e, bytes) else bytes(e)
            out += struct.pack("<Q", len(b))
            out += b
        return bytes(out)
    a = np.ascontiguousarray(value)
    if dtype_name == "bfloat16":
        # ml_dtypes' bfloat16 has no byte-order variants; its raw bytes are host order.
        if sys.byteorder != "little":
            raise OracleError("bfloat16 canonical bytes need a little-endian host")
        return a.tobytes()
    if dtype_name == "bool":
        return a.astype(np.uint8).tobytes()
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def zero_fraction(value, dtype_name):
    import numpy as np

    if dtype_name in NON_NUMERIC:
        return None
    a = np.asarray(value)
    if a.size == 0:
        return 0.0
    if dtype_name in ("bfloat16", "float16"):
        a = a.astype(np.float32)
    return float(np.count_nonzero(a == 0)) / float(a.size)


def tensor_record(value, dtype_name, shape):
    return {
        "dtype": dtype_name,
        "shape": [int(d) for d in shape],
        "sha256": hashlib.sha256(canonical_bytes(value, dtype_name)).hexdigest(),
        "zero_fraction": zero_fraction(value, dtype_name),
    }


def read_checkpoint_json(prefix):
    """{key: record} for every key tf.train.load_checkpoint(prefix) lists."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    shapes = reader.get_variable_to_shape_map()
    out = {}
    for name in sorted(shapes):
        dtype_name = dtypes[name].name
        out[name] = tensor_record(reader.get_tensor(name), dtype_name, shapes[name])
    return out


# ----------------------------------------------------------------------------------------
# protos without the TensorFlow runtime


def _proto_modules():
    """Import TensorFlow's generated *_pb2 modules without running tensorflow/__init__.py
    (which loads the whole runtime and takes seconds). Falls back to a normal import."""
    if "tensorflow" not in sys.modules:
        import importlib.util
        import types

        spec = importlib.util.find_spec("tensorflow")
        if spec is not None and spec.origin:
            stub = types.ModuleType("tensorflow")
            stub.__path__ = [os.path.dirname(spec.origin)]
            sys.modules["tensorflow"] = stub
            try:
                from tensorflow.core.framework import graph_pb2
                from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

                return graph_pb2, meta_graph_pb2, saved_model_pb2
            except Exception:  # pragma: no cover - fall back to the real package
                for k in [k for k in sys.modules if k == "tensorflow" or k.startswith("tensorflow.")]:
                    del sys.modules[k]
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    return graph_pb2, meta_graph_pb2, saved_model_pb2


def _is_text(path):
    return path.endswith(".pbtxt") or path.endswith(".pbtext")


def load_proto(kind, path):
    from google.protobuf import text_format

    graph_pb2, meta_graph_pb2, saved_model_pb2 = _proto_modules()
    cls = {
        "graph": graph_pb2.GraphDef,
        "meta": meta_graph_pb2.MetaGraphDef,
        "saved_model": saved_model_pb2.SavedModel,
    }.get(kind)
    if cls is None:
        raise OracleError(f"unknown KIND {kind!r} (graph|meta|saved_model)")
    msg = cls()
    try:
        if _is_text(path):
            with open(path, "r", encoding="utf-8") as f:
                text_format.Parse(f.read(), msg)
        else:
            with open(path, "rb") as f:
                msg.ParseFromString(f.read())
    except OSError as e:
        raise OracleError(f"cannot read {path}: {e}")
    except Exception as e:
        raise OracleError(f"cannot parse {path} as {cls.__name__}: {e}")
    return msg


def cmd_same_proto(kind, a, b):
    import difflib

    from google.protobuf import text_format

    ma, mb = load_proto(kind, a), load_proto(kind, b)
    equal = ma == mb
    diff = ""
    if not equal:
        ta = text_format.MessageToString(ma).splitlines()
        tb = text_format.MessageToString(mb).splitlines()
        lines = list(difflib.unified_diff(ta, tb, fromfile=a, tofile=b, n=3, lineterm=""))
        width = 240  # tensor_content lines can be huge; keep the diff readable
        lines = [l if len(l) <= width else l[:width] + f"...(+{len(l) - width} chars)" for l in lines]
        limit = 120
        if len(lines) > limit:
            lines = lines[:limit] + [f"... ({len(lines) - limit} more diff lines)"]
        diff = "\n".join(lines)
        if not diff:
            diff = "messages differ but their text formats are identical (unknown fields?)"
    return {"equal": bool(equal), "diff": diff}


# ----------------------------------------------------------------------------------------
# graphs


# ----------------------------------------------------------------------------------------
# events files


def cmd_read_events(events, kind, model):
    import tensorflow as tf  # the real package, before load_proto's stub could stand in

    graph_pb2, _, _ = _proto_modules()
    msg = load_proto(kind, model)
    if kind == "meta":
        want = msg.graph_def
    elif kind == "saved_model":
        want = msg.meta_graphs[0].graph_def
    else:
        want = msg
    out = []
    for e in tf.compat.v1.train.summary_iterator(events):
        entry = {"wall_time": e.wall_time, "step": e.step, "what": e.WhichOneof("what")}
        if entry["what"] == "file_version":
            entry["file_version"] = e.file_version
        if entry["what"] == "graph_def":
            entry["graph_equal"] = graph_pb2.GraphDef.FromString(e.graph_def) == want
        out.append(entry)
    return {"events": out}


# ----------------------------------------------------------------------------------------

USAGE = """usage: tf_oracle.py read-ckpt PREFIX
       tf_oracle.py same-proto graph|meta|saved_model A B
       tf_oracle.py read-events EVENTS graph|meta|saved_model MODEL"""


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__ if argv else USAGE)
        return 0 if argv else 1
    cmd, args = argv[0], argv[1:]
    arity = {"read-ckpt": 1, "same-proto": 3, "read-events": 3}
    if cmd not in arity:
        raise OracleError(f"unknown subcommand {cmd!r}\n{USAGE}")
    if len(args) != arity[cmd]:
        raise OracleError(f"{cmd} takes {arity[cmd]} arguments, got {len(args)}\n{USAGE}")
    if cmd == "read-ckpt":
        try:
            result = read_checkpoint_json(args[0])
        except OracleError:
            raise
        except Exception as e:
            raise OracleError(f"TensorFlow cannot read checkpoint {args[0]}: {e}")
    elif cmd == "read-events":
        result = cmd_read_events(*args)
    else:
        result = cmd_same_proto(*args)
    sys.stdout.write(json.dumps(result, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OracleError as e:
        msg = str(e)
    except Exception as e:  # unexpected: still a clean exit 1 with a message
        msg = f"{type(e).__name__}: {e}"
    sys.stdout.write(json.dumps({"error": msg}) + "\n")
    sys.stderr.write(f"tf_oracle: {msg}\n")
    sys.exit(1)
