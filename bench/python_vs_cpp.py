#!/usr/bin/env python3
"""The Rosetta CNN training step (batch 64, SGD momentum) written in Python against the same step
in C++ (bench/micro.cpp's cifar_cnn_train_step_b64), alternating rounds in one run.

  PYTHONPATH=build/python .venv/bin/python bench/python_vs_cpp.py --micro build/bench/tessera_micro
"""
import argparse
import json
import statistics
import subprocess
import time

import tessera as ts
from tessera import nn


def python_step_ms(rounds=12):
    model = nn.Sequential(
        nn.Conv2d(3, 50, 3, padding=1), nn.ReLU(), nn.Conv2d(50, 50, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
        nn.Dropout(0.25), nn.Conv2d(50, 100, 3, padding=1), nn.ReLU(), nn.Conv2d(100, 100, 3, padding=1),
        nn.MaxPool2d(2), nn.ReLU(), nn.Dropout(0.25), nn.Flatten(), nn.Linear(6400, 512), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(512, 10))
    opt = ts.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = ts.rand(64, 3, 32, 32), ts.randint(0, 10, (64,))
    times = []
    for i in range(rounds + 1):
        t = time.perf_counter()
        loss = ts.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--micro", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    ts.set_num_threads(a.threads)
    py, cpp = float("inf"), float("inf")
    for _ in range(a.rounds):
        out = subprocess.run([a.micro, "--threads", str(a.threads), "--filter", "cifar_cnn_train_step_b64"],
                             check=True, capture_output=True, text=True).stdout
        cpp = min(cpp, json.loads(out.splitlines()[0])["ms"])
        py = min(py, python_step_ms())
    print(json.dumps({"workload": "cifar_cnn_train_step_b64", "python_ms": round(py, 2), "cpp_ms": round(cpp, 2),
                      "python_over_cpp": round(py / cpp, 3), "threads": a.threads}))


if __name__ == "__main__":
    main()
