"""One framework running one workload variant, driven by the orchestrator (bench/rosetta_peers.py)
over stdin/stdout, one JSON object per line each way:

  {"op": "check"}            -> training: the losses of 10 steps on the fixed batch;
                                inference: the output (flattened) and its shape
  {"op": "time", "steps": n} -> the seconds of each of n steps
  {"op": "memory"}           -> the peak resident memory since the worker started, less the
                                resident memory right before the model was built (bytes)
  {"op": "quit"}

usage: worker.py --fw torch --workload cnn_train --variant eager --threads 2 --data DIR
The thread settings are made before the framework is imported."""
import argparse
import importlib
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fw", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    n = str(a.threads)
    os.environ.update({"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
                       "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1", "MXNET_CPU_WORKER_NTHREADS": "1",
                       "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}",
                       "TF_CPP_MIN_LOG_LEVEL": "2"})
    out = sys.stdout
    sys.stdout = sys.stderr  # frameworks that print must not break the protocol

    def reply(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        import workloads as W
        fw = importlib.import_module("fw_" + a.fw)
        fw.setup(a.threads)
        s = W.spec(a.workload)
        data = W.read_inputs(a.data, a.workload)
        weights = W.read_weights(a.data, s["model"]) if s["kind"] == "infer" else None
        base_rss = status_bytes("VmRSS")
        t0 = time.perf_counter()
        step = fw.make(a.workload, a.variant, data, weights, a.data)
        reply({"ready": True, "framework": fw.NAME, "version": fw.version(), "build_s": time.perf_counter() - t0})
    except Exception as e:  # noqa: BLE001 - reported to the orchestrator, which goes on without us
        reply({"ready": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]})
        return
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "check":
                t0 = time.perf_counter()
                if s["kind"] == "train":
                    reply({"losses": [step() for _ in range(10)], "s": time.perf_counter() - t0})
                else:
                    y = step()
                    reply({"output": [float(v) for v in y.reshape(-1)], "shape": list(y.shape),
                           "s": time.perf_counter() - t0})
            elif cmd["op"] == "time":
                times = []
                for _ in range(cmd["steps"]):
                    t0 = time.perf_counter()
                    step()
                    times.append(time.perf_counter() - t0)
                reply({"times": times})
            elif cmd["op"] == "memory":
                reply({"peak_bytes": status_bytes("VmHWM") - base_rss})
            elif cmd["op"] == "quit":
                return
        except Exception as e:  # noqa: BLE001
            reply({"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]})


if __name__ == "__main__":
    main()
