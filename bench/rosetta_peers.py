#!/usr/bin/env python3
"""The Rosetta workloads (shared/rosetta.md) and small inference models in tessera and, in the
same run, in every peer framework installed (`make peers` puts them in .peers/): PyTorch 2.x
(eager, channels_last, torch.compile), TensorFlow (tf.function, XLA), JAX (jit), MXNet 1.9
(hybridized), onnxruntime and OpenVINO (inference).

Each framework variant runs in a worker process of its own virtual environment
(bench/peers/worker.py). Every worker first shows that its loss falls (training) or that its
output matches the reference (inference: PyTorch eager's, else onnxruntime's); one that fails
is reported and left out. Then the workers are timed in rounds, one after another in a rotating
order, with the same thread count; each figure is the median over rounds of each round's
median step. Training workloads also report peak memory (resident memory above what the worker
held before it built the model).

  bench/rosetta_peers.py [--workloads cnn_train,gru_train,...] [--frameworks tessera,torch,...]
                         [--threads 2] [--rounds 5] [--markdown] [--json results.json]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")
sys.path.insert(0, PEERS)
import workloads as W  # noqa: E402

FRAMEWORKS = ["tessera", "torch", "tensorflow", "jax", "mxnet", "onnxruntime", "openvino"]
PROBLEMS = []  # what went wrong, for --strict


def problem(msg):
    PROBLEMS.append(msg)
    print("# " + msg, flush=True)


def python_for(fw, args):
    """The interpreter (and extra environment) of a framework, or None when it is not installed."""
    if fw == "tessera":
        py = os.path.join(ROOT, ".venv", "bin", "python")
        pkg = os.path.join(args.build, "python")
        return (py, {"PYTHONPATH": pkg}) if os.path.exists(py) and os.path.isdir(pkg) else None
    py = os.path.join(args.peers, fw, "bin", "python")
    return (py, {}) if os.path.exists(py) else None


class Worker:
    def __init__(self, fw, variant, workload, args, data_dir):
        py, env = python_for(fw, args)
        self.fw, self.variant, self.label = fw, variant, f"{fw}/{variant}"
        self.p = subprocess.Popen([py, os.path.join(PEERS, "worker.py"), "--fw", fw, "--workload", workload,
                                   "--variant", variant, "--threads", str(args.threads), "--data", data_dir],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env={**os.environ, **env})
        self.info = self.read()

    def read(self):
        line = self.p.stdout.readline()
        if not line:
            return {"error": f"the {self.label} worker exited (status {self.p.wait()})"}
        return json.loads(line)

    def ask(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        return self.read()

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write('{"op": "quit"}\n')
                self.p.stdin.flush()
                self.p.wait(timeout=30)
            except Exception:  # noqa: BLE001
                self.p.kill()


def list_variants(fw, args):
    py, env = python_for(fw, args)
    code = ("import sys, json; sys.path.insert(0, %r); import importlib, workloads as W; "
            "m = importlib.import_module('fw_%s'); print(json.dumps({w: m.variants(w) for w in W.WORKLOADS}))" % (PEERS, fw))
    r = subprocess.run([py, "-c", code], capture_output=True, text=True, env={**os.environ, **env})
    if r.returncode != 0:
        print(f"# {fw}: not usable ({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})")
        return {}
    return json.loads(r.stdout.strip().splitlines()[-1])


def check(workers, kind):
    """Drops the workers whose loss does not fall or whose output does not match the reference."""
    ok, results = [], {}
    for w in workers:
        r = w.ask(op="check")
        if "error" in r:
            problem(f"{w.label}: {r['error']}")
            continue
        results[w] = r
    if kind == "train":
        for w, r in results.items():
            losses = r["losses"]
            if all(math.isfinite(v) for v in losses) and min(losses[-3:]) < losses[0]:
                ok.append(w)
            else:
                problem(f"{w.label}: the loss did not fall: {[round(v, 4) for v in losses]}")
        return ok, None
    ref = next((w for w in results if w.label == "torch/eager"), None) or \
        next((w for w in results if w.fw == "onnxruntime"), None) or next(iter(results), None)
    if ref is None:
        return [], None
    want = results[ref]["output"]
    scale = max(1.0, max(abs(v) for v in want))
    for w, r in results.items():
        got = r["output"]
        err = max((abs(a - b) for a, b in zip(got, want)), default=math.inf) if len(got) == len(want) else math.inf
        if err <= 2e-3 * scale:
            ok.append(w)
        else:
            problem(f"{w.label}: output differs from {ref.label}'s by {err:.3g} (scale {scale:.3g})")
    return ok, ref.label


def run_workload(name, args, variants, data_dir):
    s = W.spec(name)
    workers = []
    for fw in args.frameworks:
        for v in variants.get(fw, {}).get(name, []):
            w = Worker(fw, v, name, args, data_dir)
            if w.info.get("ready"):
                workers.append(w)
            else:
                problem(f"{w.label}: {w.info.get('error')}")
                w.close()
    try:
        workers, ref = check(workers, s["kind"])
        per_round = {w: [] for w in workers}
        for r in range(args.rounds):
            order = workers[r % len(workers):] + workers[:r % len(workers)] if workers else []
            for w in order:
                t = w.ask(op="time", steps=s["steps"])
                if "times" in t:
                    per_round[w].append(statistics.median(t["times"]))
        rows = []
        for w in workers:
            if not per_round[w]:
                continue
            row = {"workload": name, "framework": w.info["framework"], "version": w.info["version"],
                   "variant": w.variant, "ms": statistics.median(per_round[w]) * 1e3,
                   "rounds_ms": [round(v * 1e3, 3) for v in per_round[w]], "threads": args.threads}
            if s["kind"] == "train":
                row["peak_mb"] = w.ask(op="memory")["peak_bytes"] / 2**20
            if ref:
                row["checked_against"] = ref
            rows.append(row)
        return rows
    finally:
        for w in workers:
            w.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(W.WORKLOADS))
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peers", default=os.path.join(ROOT, ".peers"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a framework failed a check or did not run")
    args = ap.parse_args()
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    names = [n for n in args.workloads.split(",") if n]
    for n in names:
        W.spec(n)
    unknown = [f for f in args.frameworks if f not in FRAMEWORKS]
    if unknown:
        raise SystemExit(f"unknown frameworks {unknown}; known: {FRAMEWORKS}")
    missing = [f for f in args.frameworks if python_for(f, args) is None]
    for f in missing:
        print(f"# {f}: not installed (make peers)")
    args.frameworks = [f for f in args.frameworks if f not in missing]
    variants = {fw: list_variants(fw, args) for fw in args.frameworks}
    rows = []
    with tempfile.TemporaryDirectory(prefix="tessera-peers-") as data_dir:
        W.write_data(data_dir, names)
        for name in names:
            t0 = time.time()
            got = run_workload(name, args, variants, data_dir)
            base = next((r["ms"] for r in got if r["framework"] == "tessera"), None)
            for r in got:
                r["ratio_to_tessera"] = r["ms"] / base if base else None
                print(json.dumps(r), flush=True)
            print(f"# {name}: {time.time() - t0:.0f} s", flush=True)
            rows += got
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    if args.markdown:
        print(markdown(rows))
    if args.strict and (PROBLEMS or missing or not rows):
        raise SystemExit(f"rosetta_peers: {len(PROBLEMS)} problems, {len(missing)} frameworks missing, {len(rows)} rows")


def markdown(rows):
    out = []
    for name in dict.fromkeys(r["workload"] for r in rows):
        rs = sorted((r for r in rows if r["workload"] == name), key=lambda r: r["ms"])
        train = "peak_mb" in rs[0]
        out.append(f"\n**{name}**\n")
        out.append("| framework | version | variant | ms (median) | tessera / this |" + (" peak MB |" if train else ""))
        out.append("|---|---|---|---:|---:|" + ("---:|" if train else ""))
        t = next((r["ms"] for r in rs if r["framework"] == "tessera"), None)
        for r in rs:
            ratio = f"{t / r['ms']:.2f}" if t else ""
            mem = f" {r['peak_mb']:.0f} |" if train else ""
            out.append(f"| {r['framework']} | {r['version']} | {r['variant']} | {r['ms']:.2f} | {ratio} |{mem}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
