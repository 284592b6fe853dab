#!/usr/bin/env python3
"""The table of ONNX operators tessera imports, in docs/onnx.md, generated from the importer
(tessera._tessera._onnx.operator_names()) and ONNX's operator schemas: for each op, the opsets
tessera reads it in (from 6, or the op's first version, to 23, or its last before removal).

    ops_table.py           rewrites the table between the markers in docs/onnx.md
    ops_table.py --check   fails when the table there differs (the importer changed, the docs did not)
"""
import argparse
import os
import sys

import onnx.defs
from tessera import _tessera

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "onnx.md")
# Ops whose oldest versions in that range tessera does not read (Upsample-1 was experimental, with
# height_scale/width_scale attributes; the attribute check refuses them).
FIRST = {"Upsample": 7}
BEGIN, END = "<!-- onnx-ops:begin (tests/onnx_conformance/ops_table.py) -->", "<!-- onnx-ops:end -->"


def opset_range(op):
    lo, hi = max(_tessera._onnx.min_import_opset, FIRST.get(op, 0)), _tessera._onnx.max_import_opset
    present = []
    for v in range(lo, hi + 1):
        try:
            schema = onnx.defs.get_schema(op, v, "")
        except onnx.defs.SchemaError:
            continue
        if not schema.deprecated:
            present.append(v)
    if not present:
        sys.exit(f"ops_table: the importer runs {op}, which ONNX's schemas do not define in opsets {lo}-{hi}")
    return present[0], present[-1]


MS = "com.microsoft."


def table():
    rows, contrib = [], []
    for op in _tessera._onnx.operator_names():
        if op.startswith(MS):  # ONNX Runtime's operators have one version
            contrib.append(f"`{op[len(MS):]}`")
            continue
        first, last = opset_range(op)
        rows.append(f"| `{op}` | {first}–{last} |")
    header = ["| operator | opsets |", "|---|---|"]
    return "\n".join([BEGIN, f"{len(rows)} operators of the default domain:", "", *header, *rows, "",
                      f"{len(contrib)} operators of ONNX Runtime's domain `com.microsoft` (version 1): "
                      + ", ".join(contrib) + ".", END])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = open(DOC, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{DOC} has no operator table markers ({BEGIN} ... {END})")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + table() + text[end:]
    if args.check:
        if new != text:
            print(f"{DOC}: the operator table is out of date; run tests/onnx_conformance/ops_table.py")
            return 1
        print("docs/onnx.md: the operator table matches the importer")
        return 0
    tmp = DOC + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, DOC)
    print(f"wrote the table of {len(_tessera._onnx.operator_names())} operators into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
