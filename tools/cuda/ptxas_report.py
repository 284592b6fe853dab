#!/usr/bin/env python3
"""Compiles every CUDA file of a tessera build again with `ptxas -v` and reports, per file, the
kernels, the most registers any of them uses and every kernel that spills (no GPU needed).

    tools/cuda/ptxas_report.py build [--markdown]

It reads the compile commands of the build (CMAKE_EXPORT_COMPILE_COMMANDS) and writes objects to
a temporary folder, so the build itself is untouched. Exit status 1 when a tessera kernel spills.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor


def report(entry, tmp):
    args = shlex.split(entry["command"])
    if args[0].endswith("ccache"):
        args = args[1:]
    out = os.path.join(tmp, os.path.basename(entry["file"]) + ".o")
    i = args.index("-o")
    args[i + 1] = out
    args = [a for k, a in enumerate(args) if not (a in ("-MD",) or (k > 0 and args[k - 1] in ("-MT", "-MF")) or a in ("-MT", "-MF"))]
    r = subprocess.run(args + ["-Xptxas", "-v"], cwd=entry["directory"], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"ptxas_report: compiling {entry['file']} failed:\n{r.stderr[-2000:]}")
    kernels, regs, spills, cur = 0, 0, [], None
    for line in r.stderr.splitlines():
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            cur = m.group(1)
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and cur and (int(m.group(1)) or int(m.group(2))):
            spills.append((cur, int(m.group(1)), int(m.group(2))))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            kernels += 1
            regs = max(regs, int(m.group(1)))
    return os.path.basename(entry["file"]), kernels, regs, spills


def demangle(name):
    try:
        return subprocess.run(["c++filt", name], capture_output=True, text=True).stdout.strip()
    except OSError:
        return name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    a = ap.parse_args()
    entries = [e for e in json.load(open(os.path.join(a.build, "compile_commands.json"))) if e["file"].endswith(".cu")]
    if not entries:
        sys.exit("ptxas_report: the build has no CUDA files (configure with the CUDA toolkit present)")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(a.jobs) as pool:
        rows = sorted(pool.map(lambda e: report(e, tmp), entries))
    ours_spill = False
    if a.markdown:
        print("| file | kernels | most registers | kernels that spill |\n|---|---|---|---|")
    for f, n, regs, spills in rows:
        names = [f"{demangle(k)[:100]} ({s}/{l} bytes)" for k, s, l in spills]
        ours_spill |= any("tessera::" in demangle(k) for k, _, _ in spills)
        if a.markdown:
            print(f"| {f} | {n} | {regs} | {'; '.join(names) or 'none'} |")
        else:
            print(json.dumps({"file": f, "kernels": n, "max_registers": regs, "spilling": names}))
    sys.exit(1 if ours_spill else 0)


if __name__ == "__main__":
    main()
