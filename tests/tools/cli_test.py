#!/usr/bin/env python3
"""The tessera command end to end: --help, bad flags and missing files (one line, non-zero exit),
info, and train -> eval on a small synthetic MNIST-format dataset written here."""
import gzip
import os
import random
import struct
import subprocess
import sys
import tempfile

exe = sys.argv[1]
failures = []
checks = 0


def run(*args):
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=600)


def check(cond, what):
    global checks
    checks += 1
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def write_idx(path, dims, data):
    header = struct.pack(">BBBB", 0, 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(path, "wb") as f:
        f.write(header + bytes(data))


r = run("--help")
check(r.returncode == 0 and "train" in r.stdout and "eval" in r.stdout, "--help lists the commands")
r = run("train", "--help")
check(r.returncode == 0 and "--epochs" in r.stdout and "--data-dir" in r.stdout, "train --help lists its options")
r = run("train", "--epochs", "many")
check(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--epochs" in r.stderr, "a bad flag: one line, exit 2")
r = run("train", "--bogus")
check(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, "an unknown flag: one line, exit 2")
r = run("train", "--data", "mnist", "--data-dir", "/nonexistent/dir")
check(r.returncode == 1 and r.stderr.startswith("tessera: error: /nonexistent/dir") and len(r.stderr.strip().splitlines()) == 1,
      "a missing dataset folder: one line naming it, exit 1")
r = run("eval", "--checkpoint", "/nonexistent.ckpt", "--data", "mnist", "--data-dir", "/nonexistent/dir")
check(r.returncode == 1 and "tessera: error:" in r.stderr, "eval of a missing file fails cleanly")
r = run("info")
check(r.returncode == 0 and "oneDNN" in r.stdout and "threads" in r.stdout, "info prints the build and libraries")

with tempfile.TemporaryDirectory() as d:
    rng = random.Random(0)
    for split, n in (("train", 512), ("t10k", 128)):
        labels = [i % 10 for i in range(n)]
        # Each class lights a different band of rows: learnable in one epoch.
        pixels = []
        for lab in labels:
            img = [rng.randrange(0, 40) for _ in range(784)]
            for row in range(lab * 2 + 4, lab * 2 + 7):
                for col in range(28):
                    img[row * 28 + col] = 255
            pixels += img
        write_idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz"), (n, 28, 28), pixels)
        write_idx(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"), (n,), labels)
    out = os.path.join(d, "run")
    r = run("--threads", "2", "train", "--data", "mnist", "--data-dir", d, "--epochs", "2", "--batch-size", "32", "--out", out)
    check(r.returncode == 0 and "test accuracy:" in r.stdout, "train runs and reports the test accuracy")
    acc = float(r.stdout.split("test accuracy:")[1].split()[0]) if "test accuracy:" in r.stdout else 0
    check(acc > 0.9, f"the synthetic task is learned (accuracy {acc})")
    for f in ("model.safetensors", "last.ckpt", "best.ckpt", "log.csv"):
        check(os.path.exists(os.path.join(out, f)), f"train writes {f}")
    for run_dir in ("train", "validation"):
        files = os.listdir(os.path.join(out, run_dir)) if os.path.isdir(os.path.join(out, run_dir)) else []
        check(any("tfevents" in f for f in files), f"train writes TensorBoard events into {run_dir}/")
    check("tensorboard --logdir" in r.stdout, "train says where the TensorBoard logs are")
    r = run("eval", "--checkpoint", os.path.join(out, "model.safetensors"), "--data", "mnist", "--data-dir", d)
    check(r.returncode == 0 and "accuracy" in r.stdout, "eval loads model.safetensors")
    r = run("eval", "--checkpoint", os.path.join(out, "best.ckpt"), "--data", "mnist", "--data-dir", d)
    check(r.returncode == 0 and "accuracy" in r.stdout, "eval loads a checkpoint")
    # The ONNX model train writes (the best weights, as model.safetensors) gives the same accuracy.
    check(os.path.exists(os.path.join(out, "model.onnx")), "train writes model.onnx")
    acc_st = run("eval", "--checkpoint", os.path.join(out, "model.safetensors"), "--data", "mnist", "--data-dir", d)
    r = run("eval", "--checkpoint", os.path.join(out, "model.onnx"), "--data", "mnist", "--data-dir", d)
    check(r.returncode == 0 and r.stdout.split("accuracy")[1] == acc_st.stdout.split("accuracy")[1],
          f"eval of model.onnx matches model.safetensors: {r.stdout} vs {acc_st.stdout}")
    onnx_path = os.path.join(out, "exported.onnx")
    r = run("export", "--checkpoint", os.path.join(out, "best.ckpt"), "--data", "mnist", "--out", onnx_path)
    check(r.returncode == 0 and os.path.exists(onnx_path) and "[batch, 1, 28, 28]" in r.stdout,
          f"export writes an ONNX file: {r.stdout} {r.stderr}")
    try:
        import numpy as np
        import onnxruntime as ort
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        logits = sess.run(None, {"images": np.zeros((5, 1, 28, 28), np.float32)})[0]
        check(logits.shape == (5, 10), f"onnxruntime runs the exported model at batch 5: {logits.shape}")
    except ImportError as e:
        check(False, f"onnxruntime is importable for the export check: {e}")
    r = run("export", "--checkpoint", os.path.join(d, "nope.ckpt"), "--out", onnx_path)
    check(r.returncode != 0 and "nope.ckpt" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          f"export of a missing file: one line naming it: {r.stderr}")
    r = run("train", "--data", "mnist", "--data-dir", d, "--epochs", "1", "--batch-size", "32", "--precision", "bfloat16",
            "--out", os.path.join(d, "bf16"))
    check(r.returncode == 0 and "test accuracy:" in r.stdout and "training time" in r.stdout,
          f"train --precision bfloat16 runs: {r.stdout[-300:]} {r.stderr}")
    r = run("train", "--precision", "int8")
    check(r.returncode == 2 and "--precision" in r.stderr, "a bad --precision: one line, exit 2")
    r = run("train", "--data", "mnist", "--data-dir", d, "--epochs", "3", "--batch-size", "32", "--out", out, "--resume")
    check(r.returncode == 0 and "resuming from" in r.stdout and "epoch 3/3" in r.stdout and "epoch 1/3" not in r.stdout,
          "--resume continues after the saved epoch")
    with open(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(b"\x1f\x8b garbage")
    r = run("eval", "--checkpoint", os.path.join(out, "best.ckpt"), "--data", "mnist", "--data-dir", d)
    check(r.returncode == 1 and "t10k-labels-idx1-ubyte.gz" in r.stderr, "a corrupt dataset file is named in the error")

print(f"{checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
