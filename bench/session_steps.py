#!/usr/bin/env python3
"""Where the time of a small model's inference goes, step by step: tessera's InferenceSession
(profile=True) beside onnxruntime's own per-node profile (SessionOptions.enable_profiling) of
the same model and weights, in the same run, with the same thread count. The per-step figures
that tuning the small models rests on come from here, not from ad-hoc loops.

Each framework runs in a child process of its own virtual environment (as bench/rosetta_peers.py
runs them): tessera from .venv with build/python, onnxruntime from .peers/onnxruntime. Each
child first checks its output against the other's (the reference is onnxruntime's), then runs
the model `--runs` times untimed, then `--rounds` rounds of `--runs` runs: the total per run is
the median over rounds of the round's mean; the per-step figures are the means over every timed
run of a profiled session (profiling adds a little time of its own, so the steps may sum to
more than the total).

  bench/session_steps.py [--workloads kws_infer_b1,mobilenet_infer_b1] [--threads 2]
                         [--rounds 7] [--runs 500] [--markdown]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")
sys.path.insert(0, PEERS)


def child(a):
    """In the framework's own interpreter: prints one JSON object."""
    os.environ.update({"OMP_NUM_THREADS": str(a.threads)})
    import numpy as np
    import workloads as W

    s = W.spec(a.workload)
    x = W.read_inputs(a.data, a.workload)["x"]
    weights = W.read_weights(a.data, s["model"])
    if a.child == "tessera":
        import tessera
        import torchlike

        tessera.set_num_threads(a.threads)
        model = torchlike.build(tessera, s["model"], weights)
        model.eval()
        xt = tessera.from_numpy(x)
        plain = tessera.inference.InferenceSession(model, xt)
        profiled = tessera.inference.InferenceSession(model, xt, profile=True)
        run = lambda: plain(xt)  # noqa: E731
        output = plain(xt).numpy()

        def steps():
            for _ in range(a.runs * a.rounds):
                profiled(xt)
            return [(name, sec / calls * 1e6) for name, calls, sec in profiled.profile() if calls]
    else:
        import onnx_models
        import onnxruntime as ort

        def session(profile):
            so = ort.SessionOptions()
            so.intra_op_num_threads = a.threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if profile:
                so.enable_profiling = True
                so.profile_file_prefix = os.path.join(a.data, f"ort_profile_{a.workload}")
            return ort.InferenceSession(onnx_models.path_for(a.data, a.workload, weights, "steps"), so,
                                        providers=["CPUExecutionProvider"])

        plain = session(False)
        feed = {"input": x}
        run = lambda: plain.run(["output"], feed)  # noqa: E731
        output = plain.run(["output"], feed)[0]

        def steps():
            sess = session(True)
            for _ in range(a.runs):  # (the warm-up is profiled too: skipped below by count)
                sess.run(["output"], feed)
            for _ in range(a.runs * a.rounds):
                sess.run(["output"], feed)
            with open(sess.end_profiling()) as f:
                events = json.load(f)
            per_node = {}
            for e in events:
                if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                    name = f'{e["args"].get("op_name", "?")} ({e["name"][:-len("_kernel_time")]})'
                    per_node.setdefault(name, []).append(e["dur"])
            timed = a.runs * a.rounds
            return [(name, sum(d[-timed:]) / timed) for name, d in per_node.items()]

    for _ in range(a.runs):
        run()
    rounds = []
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        for _ in range(a.runs):
            run()
        rounds.append((time.perf_counter() - t0) / a.runs * 1e6)
    print(json.dumps({"total_us": statistics.median(rounds), "rounds_us": rounds, "steps": steps(),
                      "output": [float(v) for v in np.asarray(output).reshape(-1)]}))


def python_for(fw, a):
    if fw == "tessera":
        return os.path.join(ROOT, ".venv", "bin", "python"), {"PYTHONPATH": os.path.join(a.build, "python")}
    return os.path.join(a.peers, fw, "bin", "python"), {}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="kws_infer_b1,mobilenet_infer_b1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--peers", default=os.path.join(ROOT, ".peers"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a)
    import workloads as W

    names = a.workloads.split(",")
    for name in names:
        if name not in W.WORKLOADS or W.spec(name)["kind"] != "infer":
            sys.exit(f"session_steps: '{name}' is not an inference workload (one of "
                     f"{', '.join(n for n in W.WORKLOADS if W.spec(n)['kind'] == 'infer')})")
    for fw in ("tessera", "onnxruntime"):
        py, _ = python_for(fw, a)
        if not os.path.exists(py):
            sys.exit(f"session_steps: {fw} is not installed ({py} is missing: run `make build` and `make peers`)")
    failed = False
    with tempfile.TemporaryDirectory(prefix="tessera_steps_") as data:
        W.write_data(data, names)
        for name in names:
            got = {}
            for fw in ("onnxruntime", "tessera"):
                py, env = python_for(fw, a)
                cmd = [py, os.path.abspath(__file__), "--child", fw, "--workload", name, "--data", data,
                       "--threads", str(a.threads), "--rounds", str(a.rounds), "--runs", str(a.runs)]
                p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
                if p.returncode != 0:
                    print(f"# {name}: {fw} failed:\n{p.stderr[-2000:]}", flush=True)
                    failed = True
                    continue
                got[fw] = json.loads(p.stdout.strip().splitlines()[-1])
            if len(got) < 2:
                continue
            import numpy as np

            diff = float(np.max(np.abs(np.array(got["tessera"]["output"]) - np.array(got["onnxruntime"]["output"]))))
            if not diff <= 1e-3:
                print(f"# {name}: tessera's output differs from onnxruntime's by {diff:g}", flush=True)
                failed = True
            t, o = got["tessera"]["total_us"], got["onnxruntime"]["total_us"]
            if a.markdown:
                print(f"\n**{name}** ({a.threads} threads; per run: tessera session {t:.1f} us, onnxruntime "
                      f"{o:.1f} us, ratio {t / o:.2f}; outputs agree within {diff:.1e})\n")
                rows = max(len(got["tessera"]["steps"]), len(got["onnxruntime"]["steps"]))
                print("| tessera step | us | onnxruntime node | us |\n|---|---:|---|---:|")
                for k in range(rows):
                    ts = got["tessera"]["steps"][k] if k < len(got["tessera"]["steps"]) else ("", None)
                    on = got["onnxruntime"]["steps"][k] if k < len(got["onnxruntime"]["steps"]) else ("", None)
                    cell = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
                    print(f"| {ts[0]} | {cell(ts[1])} | {on[0]} | {cell(on[1])} |")
                print(f"| **sum of steps** | {sum(v for _, v in got['tessera']['steps']):.1f} | **sum of nodes** | "
                      f"{sum(v for _, v in got['onnxruntime']['steps']):.1f} |")
            else:
                print(json.dumps({"workload": name, "threads": a.threads, "max_output_diff": diff,
                                  **{fw: {k: v for k, v in r.items() if k != "output"} for fw, r in got.items()}}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
