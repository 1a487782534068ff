"""The Python side of scripts/bench_accelerate (BENCHMARKS.md, issue 20).

    bench_accelerate.py convert FROZEN.pb OUT_DIR
        Converts the MLP (input `input`, output `output`) with TensorFlow's
        TFLite converter at batch 1: plainly into OUT_DIR/dense.tflite, with
        Optimize.EXPERIMENTAL_SPARSITY into OUT_DIR/converter_sparsity.tflite.

    bench_accelerate.py time [--runs R] [--warmup K] [--batch B ...]
                             [--table-batch B ...] [--table-sparsity S ...] S=DIR ...
        Times, in this one process and with LiteRT's interpreter (one thread,
        its default XNNPACK delegate on), each DIR's models at each batch:
        dense.tflite (the converter's), forced.tflite (every FC sparse,
        `accelerate --min_sparsity 0`), converter_sparsity.tflite, and
        ours-bB.tflite (`accelerate --batch B`; timed once with whichever of
        the others it is byte for byte). Runs are interleaved (dense, forced,
        converter, dense, ...) so that the drift of a shared machine falls on
        every model alike; times are medians of R runs of `invoke()`.
        Every model's output is checked against dense.tflite's on the same input
        (and ours-from-sparsity-b1.tflite's, the rewrite of the converter's
        sparse model): a difference above 1e-5 fails the run.
        Prints two markdown tables: the speedup of `accelerate` over the
        converter's dense model (the table sparsities and batches), and the
        speedup of TFLite's sparse kernel (forced) at every sparsity and batch,
        with the smallest sparsity from which it wins at each batch.
"""
import argparse
import hashlib
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
TOLERANCE = 1e-5


def convert(frozen, out_dir):
    import tensorflow as tf

    for name, optimizations in (("dense", []), ("converter_sparsity", [tf.lite.Optimize.EXPERIMENTAL_SPARSITY])):
        converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            frozen, input_arrays=["input"], output_arrays=["output"], input_shapes={"input": [1, 2048]})
        converter.optimizations = optimizations
        with open(os.path.join(out_dir, f"{name}.tflite"), "wb") as f:
            f.write(converter.convert())


class Model:
    """One .tflite in LiteRT's interpreter, resized to a batch on demand."""

    def __init__(self, path):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=1)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.times = []

    def at_batch(self, x):
        self.interpreter.resize_tensor_input(self.input["index"], list(x.shape))
        self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(self.input["index"], x)
        self.times = []

    def run(self):
        start = time.perf_counter()
        self.interpreter.invoke()
        self.times.append(time.perf_counter() - start)
        return self.interpreter.get_tensor(self.output["index"])

    def median_ms(self):
        return statistics.median(self.times) * 1e3


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def time_models(a):
    import numpy as np

    rng = np.random.default_rng(0)
    results = {}  # (sparsity, batch) -> {"dense", "forced", "converter", "ours", "diff"}
    for spec in a.dirs:
        sparsity, folder = spec.split("=", 1)
        path = lambda name: os.path.join(folder, name)  # noqa: E731
        timed = {name: Model(path(f"{name}.tflite")) for name in ("dense", "forced", "converter_sparsity")}
        by_digest = {digest(path(f"{name}.tflite")): name for name in timed}
        ours = {}
        for b in a.batch:
            d = digest(path(f"ours-b{b}.tflite"))
            if d not in by_digest:
                by_digest[d] = f"ours-b{b}"
                timed[f"ours-b{b}"] = Model(path(f"ours-b{b}.tflite"))
            ours[b] = by_digest[d]
        checked = Model(path("ours-from-sparsity-b1.tflite"))
        for b in a.batch:
            x = rng.uniform(-1, 1, (b, 2048)).astype(np.float32)
            for m in (*timed.values(), checked):
                m.at_batch(x)
            want = timed["dense"].run()
            diff = max(float(np.abs(m.run() - want).max()) for m in (*timed.values(), checked))
            if diff > TOLERANCE:
                sys.exit(f"bench_accelerate: {folder} at batch {b}: outputs differ from dense.tflite's by {diff:.3g}")
            for m in timed.values():
                m.times = []
                for _ in range(a.warmup):
                    m.run()
                m.times = []
            for _ in range(a.runs):
                for m in timed.values():
                    m.run()
            ms = {name: m.median_ms() for name, m in timed.items()}
            results[(sparsity, b)] = {"dense": ms["dense"], "forced": ms["forced"], "converter": ms["converter_sparsity"],
                                      "ours": ms[ours[b]], "ours_is": ours[b], "diff": diff}
            print(f"bench_accelerate: {sparsity} batch {b}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in ms.items()), file=sys.stderr)
        del timed, checked
    return results


def report(a, results):
    sparsities = [s.split("=", 1)[0] for s in a.dirs]
    print(f"TFLite (LiteRT {litert_version()}), one thread, XNNPACK on; medians of {a.runs} interleaved runs after {a.warmup} warm-up runs.\n")
    print("| model | sparsity | batch | dense ms | ours ms | speedup | converter-sparsity ms | max abs diff |")
    print("|---|---|---|---|---|---|---|---|")
    for s in sparsities:
        if s not in a.table_sparsity:
            continue
        for b in a.table_batch:
            r = results[(s, b)]
            kind = {"dense": " (left dense)", "forced": ""}.get(r["ours_is"], "")
            print(f"| MLP 2048x6 (25M) | {float(s):.0%} | {b} | {r['dense']:.3f} | {r['ours']:.3f}{kind} | "
                  f"{r['dense'] / r['ours']:.2f}x | {r['converter']:.3f} | {r['diff']:.1e} |")
    print("\nTFLite's sparse FULLY_CONNECTED kernel (every layer sparse) vs the converter's dense model, speedup:\n")
    print("| sparsity | " + " | ".join(f"batch {b}" for b in a.batch) + " |")
    print("|---|" + "---|" * len(a.batch))
    for s in sparsities:
        print(f"| {float(s):.0%} | " + " | ".join(f"{results[(s, b)]['dense'] / results[(s, b)]['forced']:.2f}" for b in a.batch) + " |")
    print()
    for b in a.batch:
        print(f"batch {b}: the sparse kernel is {a.margin:.2f}x as fast or faster from {wins_from(sparsities, results, b, a.margin)}")


def wins_from(sparsities, results, batch, margin):
    """The smallest measured sparsity from which (at it and every higher one)
    the sparse kernel beats dense by `margin`."""
    found = "none measured"
    for s in sorted(sparsities, key=float, reverse=True):
        r = results[(s, batch)]
        if r["dense"] / r["forced"] < margin:
            break
        found = f"{float(s):.0%}"
    return found


def litert_version():
    import importlib.metadata

    return importlib.metadata.version("ai-edge-litert")


def main():
    if sys.argv[1:2] == ["convert"]:
        return convert(*sys.argv[2:])
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["time"])
    p.add_argument("dirs", nargs="+", metavar="S=DIR")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, action="append")
    p.add_argument("--table-batch", type=int, action="append")
    p.add_argument("--table-sparsity", action="append")
    p.add_argument("--margin", type=float, default=1.1)
    a = p.parse_args()
    a.batch = a.batch or [1]
    a.table_batch = a.table_batch or a.batch
    a.table_sparsity = a.table_sparsity or [s.split("=", 1)[0] for s in a.dirs]
    report(a, time_models(a))


if __name__ == "__main__":
    main()
