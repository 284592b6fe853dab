#!/usr/bin/env python3
"""Writes one valid file per reader as the seeds of the reader and safetensors fuzzers (run.sh
and build.sh in this folder): build-fuzz/corpus_idx (uint8 images, int32 values, gzip),
corpus_cifar10, corpus_cifar100, corpus_csv, corpus_checkpoint (a Linear(3, 2) with SGD momentum,
as readers_fuzz.cpp loads it) and corpus (safetensors). Needs tessera importable (PYTHONPATH=build/python).

    PYTHONPATH=build/python .venv/bin/python tests/fuzz/reader_seeds.py [build-fuzz]
"""
import gzip
import os
import struct
import sys

import tessera as ts


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main(out):
    images = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">III", 3, 4, 4) + bytes(range(48))
    values = struct.pack(">BBBB", 0, 0, 0x0C, 1) + struct.pack(">I", 2) + struct.pack(">ii", 256, -2)
    write(os.path.join(out, "corpus_idx"), "images.idx", images)
    write(os.path.join(out, "corpus_idx"), "values.idx", values)
    write(os.path.join(out, "corpus_idx"), "images.idx.gz", gzip.compress(images))
    write(os.path.join(out, "corpus_cifar10"), "two.bin", bytes([3]) + bytes(3072) + bytes([7]) + bytes(range(256)) * 12)
    write(os.path.join(out, "corpus_cifar100"), "two.bin", bytes([1, 42]) + bytes(3072) + bytes([2, 9]) + bytes(3072))
    write(os.path.join(out, "corpus_csv"), "table.csv", b"a,b,label\n1.5,2,0\n-3,4e2,1\n0.25,7,2\n")
    model = ts.nn.Linear(3, 2)
    opt = ts.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(ts.randn(4, 3)).sum().backward()
    opt.step()
    os.makedirs(os.path.join(out, "corpus_checkpoint"), exist_ok=True)
    ts.train.save_checkpoint(os.path.join(out, "corpus_checkpoint", "linear.ckpt"), model, opt, epoch=2, step=7)
    os.makedirs(os.path.join(out, "corpus"), exist_ok=True)
    ts.save({"a": ts.randn(3, 4), "b": ts.arange(5)}, os.path.join(out, "corpus", "seed.safetensors"))
    print("wrote the reader seeds into", out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build-fuzz")
