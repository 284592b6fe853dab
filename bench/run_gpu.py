#!/usr/bin/env python3
"""The GPU benchmarks beside PyTorch on the same GPU, in one run: tessera_gpu_bench's workloads
and the same ones in PyTorch (eager, channels_last where it applies, and torch.compile), with
the ratio tessera / fastest PyTorch variant. One JSON line per workload; --out also writes them.

  bench/run_gpu.py --tessera build/bench/tessera_gpu_bench [--rounds 2] [--min-time 0.5]
                   [--compile] [--budget-s 240] [--out results.json]

Rounds alternate between tessera and PyTorch and keep each side's best median. Outputs are
checked before timing: PyTorch's training losses must fall (tessera's are checked by its test
suite), and tessera's ResNet-50 logits must match torchvision's on the same weights and input
(fp32; exit status 1 when they do not). --budget-s stops starting new workloads once that many
seconds have passed (a GPU lease is short).
"""
import argparse
import json
import subprocess
import sys
import time


def time_ms(torch, f, min_time):
    f()
    f()
    torch.cuda.synchronize()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < min_time:
        a = time.perf_counter()
        f()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - a) * 1e3)
        if len(times) >= 2000:
            break
    times.sort()
    return times[len(times) // 2]


def cifar_cnn(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 50, 3, padding=1), nn.ReLU(), nn.Conv2d(50, 50, 3, padding=1), nn.MaxPool2d(2),
                         nn.ReLU(), nn.Dropout(0.25), nn.Conv2d(50, 100, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(100, 100, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(), nn.Dropout(0.25),
                         nn.Flatten(), nn.Linear(6400, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))


class ImdbGru:
    def __init__(self, torch):
        nn = torch.nn
        self.emb, self.gru, self.fc = nn.Embedding(30000, 125), nn.GRU(125, 100, batch_first=True), nn.Linear(100, 2)
        self.mods = nn.ModuleList([self.emb, self.gru, self.fc]).cuda()

    def __call__(self, tokens):
        out, _ = self.gru(self.emb(tokens))
        return self.fc(out[:, -1])


def training_step(torch, model, opt, x, y):
    F = torch.nn.functional

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    return step


def torch_variants(torch, name, compile_too):
    """name -> {variant: callable}; each callable runs one (synchronized by the timer) call."""
    dev = torch.device("cuda")
    v = {}
    if name in ("copy_256M", "add_256M"):
        n = 256 << 20
        a, b = torch.randn(n, device=dev), torch.randn(n, device=dev)
        v["eager"] = (lambda: b.copy_(a)) if name == "copy_256M" else (lambda: a + b)
    elif name == "cifar_cnn_train_step_b64":
        x, y = torch.rand(64, 3, 32, 32, device=dev), torch.randint(0, 10, (64,), device=dev)
        for variant in ["eager", "channels_last"] + (["compile"] if compile_too else []):
            net = cifar_cnn(torch).to(dev)
            xi = x
            if variant == "channels_last":
                net, xi = net.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
            model = torch.compile(net) if variant == "compile" else net
            opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
            step = training_step(torch, model, opt, xi, y)
            first = float(step())
            for _ in range(20):
                last = float(step())
            assert last < first, f"PyTorch {variant}: the CNN's loss did not fall ({first} -> {last})"
            v[variant] = step
    elif name.startswith("resnet50_infer_b64"):
        import torchvision
        dt = torch.float32 if name.endswith("fp32") else torch.bfloat16
        host = torch.randn(64, 3, 224, 224).pin_memory()
        for variant in ["eager", "channels_last"] + (["compile"] if compile_too and dt == torch.float32 else []):
            net = torchvision.models.resnet50().to(dev).to(dt).eval()
            fmt = torch.channels_last if variant != "eager" else torch.contiguous_format
            net = net.to(memory_format=fmt)
            model = torch.compile(net) if variant == "compile" else net

            def infer(model=model, fmt=fmt):
                with torch.no_grad():
                    return model(host.to(dev, non_blocking=True).to(dt).contiguous(memory_format=fmt)).cpu()
            v[variant] = infer
    elif name == "gru_train_step_b64":
        tokens = torch.randint(0, 30000, (64, 150), device=dev)
        y = torch.randint(0, 2, (64,), device=dev)
        m = ImdbGru(torch)
        step = training_step(torch, m, torch.optim.Adam(m.mods.parameters(), lr=1e-3), tokens, y)
        first = float(step())
        for _ in range(20):
            last = float(step())
        assert last < first, f"PyTorch: the GRU's loss did not fall ({first} -> {last})"
        v["eager"] = step
    return v


def check_resnet50(torch, binary):
    """tessera's ResNet-50 on the GPU against torchvision's, on the same weights and input."""
    import os
    import tempfile
    import torchvision
    from safetensors.torch import load_file, save_file
    torch.manual_seed(0)
    net = torchvision.models.resnet50().eval()
    x = torch.randn(4, 3, 224, 224)
    with tempfile.TemporaryDirectory() as d:
        w, xi, out = (os.path.join(d, f) for f in ("w.safetensors", "x.safetensors", "logits.safetensors"))
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, w)
        save_file({"x": x}, xi)
        subprocess.run([binary, "--resnet50-logits", w, xi, out], check=True)
        ours = load_file(out)["logits"]
    with torch.no_grad():
        ref = net.cuda()(x.cuda()).cpu()
    err = float((ours - ref).abs().max())
    ok = bool(torch.allclose(ours, ref, rtol=2e-3, atol=2e-3))
    return {"name": "resnet50_logits_vs_torchvision", "max_abs_diff": err, "ok": ok}


def run_tessera(binary, name, min_time):
    out = subprocess.run([binary, "--filter", name, "--min-time", str(min_time)], check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        r = json.loads(line)
        if r["name"] == name:
            return r
    raise RuntimeError(f"tessera_gpu_bench printed no result for {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True, help="path to the tessera_gpu_bench binary")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--filter", default="")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    ap.add_argument("--budget-s", type=float, default=1e9)
    ap.add_argument("--out", help="also write the JSON lines here")
    args = ap.parse_args()
    import torch
    if not torch.cuda.is_available():
        sys.exit("run_gpu.py: PyTorch sees no CUDA device")
    start = time.time()
    names = subprocess.run([args.tessera, "--list"], check=True, capture_output=True, text=True).stdout.split()
    out = open(args.out, "w") if args.out else None
    failed = False
    if not args.filter or "resnet50" in args.filter:
        row = check_resnet50(torch, args.tessera)
        failed = not row["ok"]
        print(json.dumps(row), flush=True)
        if out:
            out.write(json.dumps(row) + "\n")
    for name in names:
        if args.filter and args.filter not in name:
            continue
        if time.time() - start > args.budget_s:
            print(json.dumps({"name": name, "skipped": "time budget spent"}), flush=True)
            continue
        torch.manual_seed(0)
        variants = torch_variants(torch, name, args.compile)
        ours, theirs = None, {}
        for _ in range(args.rounds):
            r = run_tessera(args.tessera, name, args.min_time)
            ours = r if ours is None or r["ms"] < ours["ms"] else ours
            for k, f in variants.items():
                theirs[k] = min(theirs.get(k, float("inf")), time_ms(torch, f, args.min_time))
        best = min(theirs, key=theirs.get)
        row = {"name": name, "tessera_ms": ours["ms"], "tessera_" + ours["unit"].replace("/", "_per_"): ours["metric"],
               **{f"torch_{k}_ms": round(t, 4) for k, t in theirs.items()},
               "ratio_to_fastest_torch": round(ours["ms"] / theirs[best], 3), "fastest_torch": best,
               "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
        print(json.dumps(row), flush=True)
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()
        del variants
        torch.cuda.empty_cache()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
