#!/usr/bin/env python3
"""Runs tessera's micro-benchmarks and the same workloads in PyTorch, in one run, with the
same thread count, and prints one JSON line per workload with both times and the ratio
(tessera time / PyTorch time: below 1 means tessera is faster).

Each workload alternates tessera and PyTorch for --rounds rounds and keeps each side's best
median, so a noisy neighbour on a shared machine skews neither side.

  bench/run_micro.py --tessera build/bench/tessera_micro [--threads 2] [--markdown]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def time_ms(f, min_time):
    f()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_time:
        a = time.perf_counter()
        f()
        times.append((time.perf_counter() - a) * 1e3)
        if len(times) >= 1000:
            break
    return statistics.median(times)


def run_tessera(args, name, min_time):
    cmd = [args.tessera, "--threads", str(args.threads), "--min-time", str(min_time), "--filter", name]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def torch_workloads(torch):
    F = torch.nn.functional
    w = {}
    for n in (1024, 4096):
        a, b = torch.randn(n, n), torch.randn(n, n)
        w[f"matmul_{n}"] = (lambda a=a, b=b: torch.matmul(a, b))
    N = 16 << 20
    a, b = torch.randn(N), torch.randn(N)
    w["add_16M"] = lambda a=a, b=b: a + b
    w["mul_16M"] = lambda a=a, b=b: a * b
    w["sum_16M"] = lambda a=a: a.sum()
    x = torch.randn(4096, 4096)
    w["softmax_4096x4096"] = lambda: torch.softmax(x, -1)
    for name, c, o, hw, grad_input in (("conv1_3x50x32", 3, 50, 32, False), ("conv2_50x50x32", 50, 50, 32, True),
                                       ("conv3_50x100x16", 50, 100, 16, True),
                                       ("conv4_100x100x16", 100, 100, 16, True)):
        xi = torch.randn(64, c, hw, hw, requires_grad=grad_input)
        wt = (torch.randn(o, c, 3, 3) * 0.1).requires_grad_()
        bt = torch.zeros(o, requires_grad=True)
        gy = torch.randn(64, o, hw, hw)

        def step(xi=xi, wt=wt, bt=bt, gy=gy):
            y = F.conv2d(xi, wt, bt, padding=1)
            inputs = [xi, wt, bt] if xi.requires_grad else [wt, bt]
            torch.autograd.grad(y, inputs, gy)
        w[f"{name}_fwd_bwd"] = step
    xp = torch.randn(64, 50, 32, 32, requires_grad=True)

    def pool_step():
        y = F.max_pool2d(xp, 2)
        torch.autograd.grad(y, [xp], y.detach())
    w["maxpool2x2_64x50x32_fwd_bwd"] = pool_step
    xb, rm, rv = torch.randn(64, 50, 32, 32), torch.zeros(50), torch.ones(50)
    gb, bb = torch.ones(50), torch.zeros(50)
    w["batchnorm_train_64x50x32"] = lambda: F.batch_norm(xb, rm, rv, gb, bb, training=True)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 50, 3, padding=1), nn.ReLU(), nn.Conv2d(50, 50, 3, padding=1), nn.MaxPool2d(2),
                        nn.ReLU(), nn.Dropout(0.25), nn.Conv2d(50, 100, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(100, 100, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(), nn.Dropout(0.25), nn.Flatten(),
                        nn.Linear(6400, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    xc, yc = torch.rand(64, 3, 32, 32), torch.randint(0, 10, (64,))

    def cnn_step():
        loss = F.cross_entropy(net(xc), yc)
        opt.zero_grad()
        loss.backward()
        opt.step()
    w["cifar_cnn_train_step_b64"] = cnn_step
    xl, gl, bl = torch.randn(4096, 1024), torch.ones(1024), torch.zeros(1024)
    w["layernorm_4096x1024"] = lambda: F.layer_norm(xl, (1024,), gl, bl)
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True, help="path to the tessera_micro binary")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--filter", default="")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("run_micro.py: PyTorch is not importable by %s (use Debian's /usr/bin/python3 "
                 "with python3-torch installed)" % sys.executable)
    torch.set_num_threads(args.threads)
    listed = subprocess.run([args.tessera, "--list"] + (["--filter", args.filter] if args.filter else []),
                            check=True, capture_output=True, text=True).stdout
    names = [l.strip() for l in listed.splitlines() if l.strip()]
    torch.manual_seed(0)
    theirs = torch_workloads(torch)
    rows = []
    for name in names:
        f = theirs.get(name)
        if f is None:
            continue
        ours, t_ms = None, float("inf")
        for _ in range(args.rounds):
            r = json.loads(run_tessera(args, name, args.min_time).splitlines()[0])
            ours = r if ours is None or r["ms"] < ours["ms"] else ours
            t_ms = min(t_ms, time_ms(f, args.min_time))
        row = {"name": name, "tessera_ms": ours["ms"], "torch_ms": round(t_ms, 4),
               "ratio": round(ours["ms"] / t_ms, 3), "tessera_" + ours["unit"].replace("/", "_per_"): ours["metric"],
               "threads": args.threads, "torch": torch.__version__}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.markdown:
        print("\n| workload | tessera ms | PyTorch ms | ratio (tessera/PyTorch) |")
        print("|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['name']} | {r['tessera_ms']:.3f} | {r['torch_ms']:.3f} | {r['ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
