#!/usr/bin/env python3
"""Compare two builds of tessera_micro on the same workloads (a regression check, not a peer
benchmark): each round runs both binaries back to back, alternating which goes first, and the
medians per side are reported as JSON lines with the ratio new/base.

usage: bench/ab_micro.py BASE_BINARY NEW_BINARY [--rounds N] [--threads N] [--min-time S] [NAME ...]
"""
import argparse
import json
import statistics
import subprocess
import sys


def measure(binary, name, threads, min_time):
    out = subprocess.run([binary, "--threads", str(threads), "--min-time", str(min_time), "--filter", name],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        row = json.loads(line)
        if row["name"] == name:
            return row["ms"]
    raise SystemExit(f"ab_micro: {binary} reported no workload named {name!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("names", nargs="*", help="workload names (default: every workload NEW lists)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.3)
    args = ap.parse_intermixed_args()
    names = args.names or subprocess.run([args.new, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        times = {"base": [], "new": []}
        for r in range(args.rounds):
            order = ("base", "new") if r % 2 == 0 else ("new", "base")
            for side in order:
                times[side].append(measure(getattr(args, side), name, args.threads, args.min_time))
        base, new = statistics.median(times["base"]), statistics.median(times["new"])
        print(json.dumps({"name": name, "base_ms": round(base, 3), "new_ms": round(new, 3),
                          "new/base": round(new / base, 3)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
