#!/usr/bin/env python3
"""Compare our .proto definitions against the ones compiled into TensorFlow.

Usage:
    check_protos.py DESCRIPTOR_SET_FILE

DESCRIPTOR_SET_FILE is the encoded google.protobuf.FileDescriptorSet written
by build.rs, e.g. target/debug/build/tf-strip-*/out/file_descriptor_set.bin.
Run it with a Python that has TensorFlow installed (e.g. .venv/bin/python).

Every message and enum reachable from the root messages TensorFlow writes into
the files we read (GraphDef, MetaGraphDef, SavedModel, BundleHeaderProto,
BundleEntryProto, CheckpointState, OpList, TrackableObjectGraph), plus every
`tensorflow.*` type we define, is compared: defining file and syntax, fields
(name, number, type, cardinality, presence, packing, referenced type, oneof,
json name, default, deprecation), oneofs, reserved ranges/names, map-entry
flag, and enum values. Exits 1 and lists every difference if any is found.

Messages we only write (WRITE_ONLY: tensorboard's Event) may leave out fields
we never set; every field they do declare must match TensorFlow's.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from google.protobuf import descriptor_pb2, descriptor_pool  # noqa: E402

# TensorFlow's generated modules register their descriptors in the default pool.
from tensorflow.core.framework import graph_pb2, op_def_pb2  # noqa: E402
from tensorflow.core.protobuf import (  # noqa: E402
    meta_graph_pb2,
    saved_model_pb2,
    saver_pb2,
    tensor_bundle_pb2,
    trackable_object_graph_pb2,
)
from tensorflow.core.util import event_pb2  # noqa: E402, F401 (registers tensorflow.Event)
from tensorflow.python.training import checkpoint_state_pb2  # noqa: E402

# Written, never read: a field left out loses nothing.
WRITE_ONLY = {"tensorflow.Event"}

ROOTS = [
    graph_pb2.GraphDef,
    meta_graph_pb2.MetaGraphDef,
    saved_model_pb2.SavedModel,
    tensor_bundle_pb2.BundleHeaderProto,
    tensor_bundle_pb2.BundleEntryProto,
    checkpoint_state_pb2.CheckpointState,
    op_def_pb2.OpList,
    saver_pb2.SaverDef,
    trackable_object_graph_pb2.TrackableObjectGraph,
]


def file_syntax(file_desc):
    fp = descriptor_pb2.FileDescriptorProto()
    file_desc.CopyToProto(fp)
    return fp.syntax or "proto2"


def describe_message(d):
    """Normalised, comparable view of a message descriptor."""
    proto = descriptor_pb2.DescriptorProto()
    d.CopyToProto(proto)
    fields = {}
    for f in d.fields:
        opts = f.GetOptions()
        fields[f.name] = {
            "number": f.number,
            "type": f.type,
            "repeated": f.is_repeated,
            "required": f.is_required,
            "has_presence": f.has_presence,
            "packed": f.is_packed if f.is_repeated else False,
            "packed_option": opts.packed if opts.HasField("packed") else None,
            "message_type": f.message_type.full_name if f.message_type else None,
            "enum_type": f.enum_type.full_name if f.enum_type else None,
            "oneof": f.containing_oneof.name if f.containing_oneof else None,
            "json_name": f.json_name,
            "default": (
                repr(f.default_value)
                if not f.is_repeated and f.message_type is None
                else None
            ),
            "deprecated": opts.deprecated,
        }
    return {
        "file": d.file.name,
        "syntax": file_syntax(d.file),
        "map_entry": d.GetOptions().map_entry,
        "fields": fields,
        "oneofs": sorted(o.name for o in d.oneofs),
        "reserved_ranges": sorted((r.start, r.end) for r in proto.reserved_range),
        "reserved_names": sorted(proto.reserved_name),
        "nested_types": sorted(n.name for n in d.nested_types),
        "nested_enums": sorted(e.name for e in d.enum_types),
    }


def describe_enum(e):
    proto = descriptor_pb2.EnumDescriptorProto()
    e.CopyToProto(proto)
    return {
        "file": e.file.name,
        "closed": e.is_closed,
        "values": {v.name: v.number for v in e.values},
        "reserved_ranges": sorted((r.start, r.end) for r in proto.reserved_range),
        "reserved_names": sorted(proto.reserved_name),
    }


def reachable(roots):
    """Full names of all messages/enums reachable from the roots (TF side)."""
    messages, enums = {}, {}
    stack = [r.DESCRIPTOR for r in roots]
    while stack:
        d = stack.pop()
        if d.full_name in messages:
            continue
        messages[d.full_name] = d
        for e in d.enum_types:
            enums[e.full_name] = e
        stack.extend(d.nested_types)
        for f in d.fields:
            if f.message_type is not None:
                stack.append(f.message_type)
            if f.enum_type is not None:
                enums[f.enum_type.full_name] = f.enum_type
    return messages, enums


def load_ours(path):
    with open(path, "rb") as fh:
        fds = descriptor_pb2.FileDescriptorSet.FromString(fh.read())
    pool = descriptor_pool.DescriptorPool()
    for fp in fds.file:  # protox emits files in dependency order
        pool.Add(fp)
    ours_messages, ours_enums = {}, {}

    def walk(prefix, msgs, enum_list):
        for e in enum_list:
            ours_enums[prefix + e.name] = None
        for m in msgs:
            name = prefix + m.name
            ours_messages[name] = None
            walk(name + ".", m.nested_type, m.enum_type)

    for fp in fds.file:
        prefix = (fp.package + ".") if fp.package else ""
        walk(prefix, fp.message_type, fp.enum_type)
    return pool, ours_messages, ours_enums


def diff_dicts(kind, name, theirs, ours, out):
    for key in sorted(set(theirs) | set(ours)):
        t, o = theirs.get(key, "<missing>"), ours.get(key, "<missing>")
        if key == "fields":
            for fname in sorted(set(t) | set(o)):
                if fname not in o:
                    if name in WRITE_ONLY:
                        continue
                    out.append(f"{kind} {name}: field '{fname}' missing in ours ({t[fname]})")
                elif fname not in t:
                    out.append(f"{kind} {name}: field '{fname}' not in TensorFlow ({o[fname]})")
                else:
                    for attr in sorted(t[fname]):
                        if t[fname][attr] != o[fname].get(attr):
                            out.append(
                                f"{kind} {name}.{fname}: {attr} differs: "
                                f"TF={t[fname][attr]!r} ours={o[fname].get(attr)!r}"
                            )
        elif key == "values":
            for vname in sorted(set(t) | set(o)):
                if t.get(vname) != o.get(vname):
                    out.append(
                        f"{kind} {name}: value {vname} differs: "
                        f"TF={t.get(vname)!r} ours={o.get(vname)!r}"
                    )
        elif t != o:
            out.append(f"{kind} {name}: {key} differs: TF={t!r} ours={o!r}")


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    tf_pool = descriptor_pool.Default()
    our_pool, our_messages, our_enums = load_ours(argv[1])
    tf_messages, tf_enums = reachable(ROOTS)

    # Also compare everything we define in package tensorflow.
    msg_names = set(tf_messages) | {n for n in our_messages if n.startswith("tensorflow.")}
    enum_names = set(tf_enums) | {n for n in our_enums if n.startswith("tensorflow.")}

    diffs = []
    kinds = [
        ("message", msg_names, "FindMessageTypeByName", describe_message),
        ("enum", enum_names, "FindEnumTypeByName", describe_enum),
    ]
    for kind, names, find, describe in kinds:
        for name in sorted(names):
            try:
                theirs = getattr(tf_pool, find)(name)
            except KeyError:
                diffs.append(f"{kind} {name}: defined by us but not by TensorFlow")
                continue
            try:
                ours = getattr(our_pool, find)(name)
            except KeyError:
                diffs.append(f"{kind} {name}: missing in ours")
                continue
            diff_dicts(kind, name, describe(theirs), describe(ours), diffs)

    if diffs:
        print(f"{len(diffs)} difference(s):")
        for d in diffs:
            print("  " + d)
        return 1
    print(
        f"OK: {len(msg_names)} messages and {len(enum_names)} enums match "
        f"TensorFlow's descriptors (TF roots: {', '.join(r.DESCRIPTOR.name for r in ROOTS)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
