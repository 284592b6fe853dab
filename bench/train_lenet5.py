#!/usr/bin/env python3
"""LeNet-5 on Fashion-MNIST, batch 64, SGD lr 0.01 momentum 0.9, 2 epochs: `tessera train` against
the same recipe in PyTorch, in one run, with the same thread count. Prints one JSON line with the
time per epoch (training plus the test-set pass), the test accuracy and the peak memory of each.

  bench/train_lenet5.py --tessera build/tools/tessera [--threads 2] [--epochs 2]
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile

TORCH = r'''
import gzip, json, resource, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
threads, epochs = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads); torch.manual_seed(0)
d = "/usr/share/datasets/fashion-mnist/"
def idx(p, off): return np.frombuffer(gzip.open(d + p).read(), np.uint8, offset=off)
norm = lambda x: (torch.tensor(x).float() / 255 - 0.2860) / 0.3530
xtr = norm(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)); ytr = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8)).long()
xte = norm(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)); yte = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8)).long()
net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
times = []
for ep in range(epochs):
    t = time.time(); perm = torch.randperm(60000)
    net.train()
    for i in range(0, 60000, 64):
        b = perm[i:i + 64]; loss = F.cross_entropy(net(xtr[b]), ytr[b]); opt.zero_grad(); loss.backward(); opt.step()
    net.eval()
    with torch.no_grad():
        acc = sum((net(xte[i:i + 64]).argmax(1) == yte[i:i + 64]).sum().item() for i in range(0, 10000, 64)) / 10000
    times.append(time.time() - t)
print(json.dumps({"epoch_s": times, "accuracy": acc, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        r = subprocess.run([a.tessera, "--threads", str(a.threads), "train", "--epochs", str(a.epochs), "--out", out,
                            "--workers", "1"], check=True, capture_output=True, text=True)
        ours_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    epoch_s = [float(x) for x in re.findall(r"^epoch \d+/\d+\s+([\d.]+)s", r.stdout, re.M)]
    acc = float(re.search(r"test accuracy: ([\d.]+)", r.stdout).group(1))
    t = subprocess.run([sys.executable, "-c", TORCH, str(a.threads), str(a.epochs)], check=True, capture_output=True, text=True)
    theirs = json.loads(t.stdout.strip().splitlines()[-1])
    print(json.dumps({"workload": "lenet5_fashion_mnist", "threads": a.threads, "epochs": a.epochs,
                      "tessera_epoch_s": epoch_s, "torch_epoch_s": [round(x, 2) for x in theirs["epoch_s"]],
                      "ratio_epoch_time": round(sum(epoch_s) / sum(theirs["epoch_s"]), 3),
                      "tessera_accuracy": acc, "torch_accuracy": theirs["accuracy"],
                      "tessera_peak_rss_mb": round(ours_rss, 1), "torch_peak_rss_mb": round(theirs["peak_rss_mb"], 1)}))


if __name__ == "__main__":
    sys.exit(main())
