#!/usr/bin/env python3
"""Checks that ops::trace::traced_op_names() (tessera/ops/trace.cpp) lists every name the ops'
sources record: the literal ones (`ts.record("conv2d", ...)`) and the names the reductions pass
on (`reduce(ReduceOp::Sum, ..., "sum")`, `name = is_max ? "argmax" : "argmin"`). The C++ test
Onnx.EveryTracedOpHasAnExporterEntry then holds ONNX export to an entry for each, so a new traced
op cannot go without one. (UnaryOp/BinaryOp names come from backend.cpp's op_name tables.)"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
trace_cpp = (root / "tessera/ops/trace.cpp").read_text()
block = re.search(r"for \(const char\* n : \{(.*?)\}\)", trace_cpp, re.S)
if not block:
    sys.exit("check_traced_ops: trace.cpp has no list of traced op names")
listed = set(re.findall(r'"([a-z_0-9]+)"', block.group(1)))
recorded = {}
for src in sorted((root / "tessera").rglob("*.cpp")):
    text = src.read_text()
    names = set(re.findall(r'\brecord\("([a-z_0-9]+)"', text))
    if re.search(r"\brecord\(name\b", text):  # the name comes from a variable: its literal sources
        names |= set(re.findall(r'reduce\(ReduceOp::\w+,[^;]*?"([a-z_0-9]+)"\)', text))
        names |= set(re.findall(r'const char\* name = [^;]*?\? "([a-z_0-9]+)" : "([a-z_0-9]+)"', text) and
                     sum(re.findall(r'const char\* name = [^;]*?\? "([a-z_0-9]+)" : "([a-z_0-9]+)"', text), ()))
    for n in names:
        recorded.setdefault(n, src.relative_to(root))
missing = sorted(set(recorded) - listed)
for n in missing:
    print(f"{recorded[n]} records '{n}', which ops::trace::traced_op_names() (trace.cpp) does not list")
print(f"{len(set(recorded) & listed)} recorded op names listed")
sys.exit(1 if missing or not recorded else 0)
