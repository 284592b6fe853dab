#!/usr/bin/env python3
"""The thread policy under contention: tessera's 2-thread time over its 1-thread time while
another process keeps one core busy (issue 13's target: at most 1.5x), for a chain of small ops
(the case spinning OpenMP teams made 100x slower), a batch-1 CNN, the keyword spotter (whose
LSTM shares its input projections with a helper thread) and the Rosetta CNN training step. Run with the build's Python path: PYTHONPATH=build/python python bench/busy_core.py"""
import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import numpy as np  # noqa: E402

import tessera as ts  # noqa: E402


def spin(stop):
    while not stop.is_set():
        pass


def small_ops():
    x = ts.randn(16384)

    def run():
        y = x
        for _ in range(200):
            y = y * 1.0001 + 0.5
        return y.sum().item()
    return run


def cnn_b1():
    import torchlike
    m = torchlike.build(ts, "mobilenet").eval()
    x = ts.randn(1, 3, 96, 96)

    def run():
        with ts.no_grad():
            return m(x)
    return run


def kws_b1():
    import torchlike
    import workloads as W
    m = torchlike.build(ts, "kws", W.weights("kws")).eval()
    x = ts.randn(1, W.KWS_FRAMES, W.KWS_FEATURES)

    def run():
        with ts.no_grad():
            return m(x)
    return run


def cnn_train():
    import torchlike
    import workloads as W
    m = torchlike.build(ts, "cnn")
    rng = np.random.default_rng(0)
    data = {"x": rng.standard_normal((W.CNN_BATCH, 3, 32, 32)).astype(np.float32),
            "y": rng.integers(0, 10, W.CNN_BATCH)}
    return torchlike.train_step(ts, m, "cnn_train", data)


def median_ms(fn, seconds):
    fn()
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    rows = []
    stop = mp.Event()
    hog = mp.Process(target=spin, args=(stop,), daemon=True)
    hog.start()
    try:
        for name, make in (("200 small elementwise ops (16K floats)", small_ops),
                           ("MobileNet-style CNN, batch 1, eager", cnn_b1),
                           ("keyword spotter (conv + LSTM), batch 1, eager", kws_b1),
                           ("Rosetta CNN training step", cnn_train)):
            fn = make()
            r = {}
            for threads in (1, 2):
                ts.set_num_threads(threads)
                r[threads] = median_ms(fn, a.seconds)
            rows.append({"workload": name, "ms_1_thread": r[1], "ms_2_threads": r[2], "ratio": r[2] / r[1]})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        stop.set()
        hog.join()
    if a.markdown:
        print("| workload (one core busy) | 1 thread ms | 2 threads ms | ratio |\n|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['workload']} | {r['ms_1_thread']:.3f} | {r['ms_2_threads']:.3f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
