"""Rosetta workload 3 (shared/rosetta.md): the IMDB sentiment GRU training step on random data of
the real shapes (vocabulary 30,000, 150 tokens, embedding 125, one GRU layer of 100 units,
batch-first, last step -> dense 2, Adam 1e-3, batch 64), in tessera and in PyTorch in the same
run, alternating rounds; best of 5 steps each after a warm-up.
Run: PYTHONPATH=build/python .venv/bin/python bench/rosetta_gru.py [--threads N]"""
import argparse
import json
import time

import numpy as np
import tessera as ts
import torch

V, L, E, H, B = 30000, 150, 125, 100, 64


def build(lib, x, y):
    emb, gru, fc = lib.nn.Embedding(V, E), lib.nn.GRU(E, H, batch_first=True), lib.nn.Linear(H, 2)
    params = list(emb.parameters()) + list(gru.parameters()) + list(fc.parameters())
    opt = lib.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    xt, yt = lib.tensor(x), lib.tensor(y)

    def step():
        out, _ = gru(emb(xt))
        loss = lib.nn.functional.cross_entropy(fc(out[:, -1]), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ts.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (B, L)), rng.integers(0, 2, B)
    steps = {"tessera": build(ts, x, y), "torch": build(torch, x, y)}
    times = {k: [] for k in steps}
    for s in steps.values():
        s()  # warm-up
    for _ in range(5):
        for k, s in steps.items():
            t0 = time.perf_counter()
            s()
            times[k].append(time.perf_counter() - t0)
    best = {k: round(min(v) * 1000, 1) for k, v in times.items()}
    print(json.dumps({"workload": "rosetta_imdb_gru_train_step_b64", "threads": a.threads, "tessera_ms": best["tessera"],
                      "torch_ms": best["torch"], "ratio": round(best["tessera"] / best["torch"], 3),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
