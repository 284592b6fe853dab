"""One epoch over a map-style dataset written in Python (60,000 items of 1x28x28 float32 numpy
arrays and int labels, batch 64, shuffled), through tessera.data.DataLoader and through
torch.utils.data.DataLoader in the same run; best of 3 rounds each, alternating.
Run: PYTHONPATH=build/python .venv/bin/python bench/python_dataloader.py"""
import json
import time

import numpy as np
import tessera as ts
import torch

N = 60000
images = np.random.default_rng(0).random((N, 1, 28, 28), dtype=np.float32)
labels = np.random.default_rng(1).integers(0, 10, N)


class Items:
    def __len__(self):
        return N

    def __getitem__(self, i):
        return images[i], int(labels[i])


class TsItems(Items, ts.data.Dataset):
    pass


class TorchItems(Items, torch.utils.data.Dataset):
    pass


def epoch(loader):
    t0 = time.perf_counter()
    n = 0
    for x, y in loader:
        n += y.shape[0]
    assert n == N
    return time.perf_counter() - t0


def main():
    results = {"tessera_workers_2": [], "tessera_workers_0": [], "torch_workers_0": [], "torch_workers_2": []}
    loaders = {
        "tessera_workers_2": ts.data.DataLoader(TsItems(), batch_size=64, shuffle=True, num_workers=2),
        "tessera_workers_0": ts.data.DataLoader(TsItems(), batch_size=64, shuffle=True, num_workers=0),
        "torch_workers_0": torch.utils.data.DataLoader(TorchItems(), batch_size=64, shuffle=True, num_workers=0),
        "torch_workers_2": torch.utils.data.DataLoader(TorchItems(), batch_size=64, shuffle=True, num_workers=2),
    }
    for _ in range(3):
        for k, loader in loaders.items():
            results[k].append(epoch(loader))
    best = {k: round(min(v), 3) for k, v in results.items()}
    best["ratio_tessera2_vs_best_torch"] = round(best["tessera_workers_2"] / min(best["torch_workers_0"],
                                                                                  best["torch_workers_2"]), 3)
    print(json.dumps({"workload": "python_dataset_epoch_60k_b64", **best, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
