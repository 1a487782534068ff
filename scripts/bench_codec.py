"""Sparse storage benchmark (run through scripts/bench_codec).

For each sparsity: makes the pruned checkpoint with /work/shared/bench/make_pruned_ckpt.py
(cached in the scratch dir), strips it with target/release/tf-strip, then measures side by
side: our container vs gzip -9 / zstd -19 / xz -9 / zstd -3 (sizes and times; cached per
.pb, since they take minutes), the entropy bounds, encode/decode speed (best of N, wall,
whole CLI including reading and the synced write, and the in-library part), the
TF-loadable .pb's size, and TensorFlow load / first-run / steady-state Session.run times
against the dense .pb. Prints Markdown tables and writes results.json in the scratch dir.
"""
import argparse, hashlib, json, os, platform, resource, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_STRIP = os.path.join(ROOT, "target", "release", "tf-strip")
PY = os.path.join(ROOT, ".venv", "bin", "python")
MAKE = os.environ.get("TF_STRIP_BENCH_MAKE", "/work/shared/bench/make_pruned_ckpt.py")
MB = 1e6

ap = argparse.ArgumentParser()
ap.add_argument("--sparsities", default="0.9,0.5,0.75,0.95,0.99,0.0")
ap.add_argument("--width", type=int, default=2048)
ap.add_argument("--depth", type=int, default=6)
ap.add_argument("--scratch", default=os.environ.get("TF_STRIP_BENCH_DIR", "/tmp/tfs-codec-bench"))
ap.add_argument("--repeat", type=int, default=5)
ap.add_argument("--tf-runs", type=int, default=200)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--no-reference", action="store_true", help="skip gzip/zstd/xz (minutes per model)")
ap.add_argument("--no-tf", action="store_true", help="skip the TensorFlow timings")
a = ap.parse_args()
os.makedirs(a.scratch, exist_ok=True)
# Eigen's kernels: bench_codec_tf.py checks the TF-loadable graph's outputs bit for bit against
# the dense graph's in the same process, which holds only when the kernels do not depend on
# whether a weight is a Const (oneDNN's matmul does: `is_filter_const`).
env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kw)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr.decode()[-3000:]}")
    return r


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = run(cmd)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return r, wall, cpu


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def model(s):
    tag = f"{a.width}x{a.depth}-{s}"
    ckpt = os.path.join(a.scratch, f"ckpt-{tag}")
    if not os.path.isfile(os.path.join(ckpt, "checkpoint")):
        print(f"making {ckpt}", file=sys.stderr)
        run([PY, MAKE, ckpt, str(a.width), str(a.depth), str(s)])
    out = os.path.join(a.scratch, f"pb-{tag}")
    pb = os.path.join(out, "pruning_stripped.pb")
    if not os.path.isfile(pb):
        run([TF_STRIP, f"--checkpoint_dir={ckpt}", "--output_node_names=output", f"--output_dir={out}"])
    return tag, pb


def reference(tag, pb):
    """gzip -9, zstd -19, xz -9, zstd -3 of the .pb (single-threaded), cached by content."""
    digest = sha(pb)
    cache = os.path.join(a.scratch, f"ref-{tag}.json")
    if os.path.isfile(cache):
        with open(cache) as f:
            ref = json.load(f)
        if ref.get("sha256") == digest:
            return ref
    ref = {"sha256": digest}
    for name, cmd in [("zstd -3", ["zstd", "-3", "-T1", "-c", pb]), ("gzip -9", ["gzip", "-9", "-c", pb]),
                      ("zstd -19", ["zstd", "-19", "-T1", "-c", pb]), ("xz -9", ["xz", "-9", "-T1", "-c", pb])]:
        print(f"{tag}: {name}", file=sys.stderr)
        r, wall, cpu = timed(cmd)
        ref[name] = {"bytes": len(r.stdout), "wall_s": wall, "cpu_s": cpu}
    with open(cache, "w") as f:
        json.dump(ref, f)
    return ref


def ours(tag, pb):
    enc = os.path.join(a.scratch, f"c-{tag}.tfsparse")
    dec = os.path.join(a.scratch, f"d-{tag}.pb")
    best = {}
    for _ in range(a.repeat):
        r, wall, _ = timed([TF_STRIP, "encode", "--json", pb, enc])
        rep = json.loads(r.stdout)
        if wall < best.get("encode_wall", 1e9):
            best["encode_wall"], best["encode_lib"] = wall, rep["encode_seconds"]
    for _ in range(a.repeat):
        r, wall, _ = timed([TF_STRIP, "decode", "--json", enc, dec])
        d = json.loads(r.stdout)
        if wall < best.get("decode_wall", 1e9):
            best["decode_wall"], best["decode_lib"] = wall, d["decode_seconds"]
    identical = sha(dec) == sha(pb)
    os.remove(dec)
    canon = os.path.join(a.scratch, f"z-{tag}.tfsparse")
    run([TF_STRIP, "encode", "--canonical-zeros", pb, canon])
    best["canonical_bytes"] = os.path.getsize(canon)
    elements = sum(t["elements"] for t in rep["tensors"])
    zeros = sum(t["zeros"] for t in rep["tensors"])
    return {
        "bytes": os.path.getsize(enc),
        "identical": identical,
        "bound": sum(t["bound"] for t in rep["tensors"]),
        "zero_sign_bound": sum(t["zero_sign_bound"] for t in rep["tensors"]),
        "negative_zeros": sum(t["negative_zeros"] for t in rep["tensors"]),
        "elements": elements,
        "zeros": zeros,
        "bitmask_plus_values": sum(t["elements"] / 8 + (t["elements"] - t["zeros"]) * 4 for t in rep["tensors"]),
        **best,
    }


def loadable(tag, pb):
    out = os.path.join(a.scratch, f"l-{tag}.pb")
    r, wall, _ = timed([TF_STRIP, "encode", "--tf-loadable", "--json", pb, out])
    res = {"bytes": os.path.getsize(out), "encode_wall": wall,
           "rewritten": len(json.loads(r.stdout)["rewritten"])}
    if not a.no_tf:
        r = run([PY, os.path.join(ROOT, "scripts", "bench_codec_tf.py"), "input", "output", str(a.width),
                 str(a.batch), str(a.tf_runs), pb, out])
        tf = json.loads(r.stdout.decode().strip().splitlines()[-1])
        res["tf_dense"], res["tf_loadable"] = tf[pb], tf[out]
    return res


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


machine = {
    "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
    "cores": os.cpu_count(),
    "kernel": platform.release(),
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "load_before": load(),
}
results = {}
for s in a.sparsities.split(","):
    tag, pb = model(s)
    res = {"pb_bytes": os.path.getsize(pb)}
    res["ours"] = ours(tag, pb)
    res["loadable"] = loadable(tag, pb)
    if not a.no_reference:
        res["reference"] = reference(tag, pb)
    results[s] = res
    print(f"{tag} done (load {load()})", file=sys.stderr)
machine["load_after"] = load()
with open(os.path.join(a.scratch, "results.json"), "w") as f:
    json.dump({"machine": machine, "results": results}, f, indent=1)


def mb(x):
    return f"{x / MB:.2f} MB"


print(f"Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}; {machine['date']}; "
      f"load average {machine['load_before']} before, {machine['load_after']} after.\n")
print("| sparsity | .pb | ours | bound B: mask H + 32 bit/nonzero | ours / B | B + H(signs of the zeros) | ours / that "
      "| ours --canonical-zeros | that / B | gzip -9 | zstd -19 | xz -9 | zstd -3 | decode identical |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for s, r in results.items():
    o, ref = r["ours"], r.get("reference", {})
    full = o["bound"] + o["zero_sign_bound"]
    cell = lambda k: f"{mb(ref[k]['bytes'])} ({ref[k]['wall_s']:.1f} s; {ref[k]['cpu_s']:.1f} s CPU)" if k in ref else "-"
    print(f"| {float(s):.0%} | {mb(r['pb_bytes'])} | **{mb(o['bytes'])}** | {mb(o['bound'])} | {o['bytes'] / o['bound']:.3f}x "
          f"| {mb(full)} | {o['bytes'] / full:.3f}x | {mb(o['canonical_bytes'])} | {o['canonical_bytes'] / o['bound']:.3f}x "
          f"| {cell('gzip -9')} | {cell('zstd -19')} | {cell('xz -9')} "
          f"| {cell('zstd -3')} | {o['identical']} |")
print()
print("| sparsity | encode, CLI wall | encode, library | decode, CLI wall | decode, library |")
print("|---|---|---|---|---|")
for s, r in results.items():
    o, n = r["ours"], r["pb_bytes"]
    sp = lambda t: f"{t:.3f} s = {n / t / MB:.0f} MB/s"
    print(f"| {float(s):.0%} | {sp(o['encode_wall'])} | {sp(o['encode_lib'])} | {sp(o['decode_wall'])} | {sp(o['decode_lib'])} |")
print()
print(f"TF-loadable .pb (batch {a.batch}; steady state = median of {a.tf_runs} Session.run after the first, the two graphs run in turn):\n")
print("| sparsity | TF-loadable .pb | 1 bit/element + nonzeros | ratio | steady dense | steady loadable | ratio "
      "| load dense / loadable | first run dense / loadable | outputs bit-identical |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s, r in results.items():
    l, o = r["loadable"], r["ours"]
    row = f"| {float(s):.0%} | {mb(l['bytes'])} | {mb(o['bitmask_plus_values'])} | {l['bytes'] / o['bitmask_plus_values']:.3f}x "
    if "tf_dense" in l:
        d, t = l["tf_dense"], l["tf_loadable"]
        row += (f"| {d['steady_s'] * 1e3:.2f} ms | {t['steady_s'] * 1e3:.2f} ms | {t['steady_s'] / d['steady_s']:.3f} "
                f"| {d['load_s']:.2f} s / {t['load_s']:.2f} s | {d['first_run_s']:.2f} s / {t['first_run_s']:.2f} s "
                f"| {d['identical'] and t['identical']} |")
    else:
        row += "| - | - | - | - | - | - |"
    print(row)
