#!/usr/bin/env python3
"""Writes seed files for onnx_fuzz: the small models of ONNX's node conformance cases (the pinned
onnx package) and tessera's own ONNX test files, one file each, into the folder given."""
import os
import sys
import warnings

import numpy as np
import onnx.backend.test.case.node as node_cases


def main(out):
    os.makedirs(out, exist_ok=True)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases()
    n = 0
    for case in cases:
        data = case.model.SerializeToString()
        if len(data) <= 4096:  # small ones: the fuzzer mutates them fastest
            with open(os.path.join(out, case.name + ".onnx"), "wb") as f:
                f.write(data)
            n += 1
    here = os.path.dirname(os.path.abspath(__file__))
    own = os.path.join(here, "..", "data", "onnx")
    for name in sorted(os.listdir(own)) if os.path.isdir(own) else []:
        if name.endswith(".onnx") and os.path.getsize(os.path.join(own, name)) <= 65536:
            with open(os.path.join(own, name), "rb") as src, open(os.path.join(out, "tessera_" + name), "wb") as dst:
                dst.write(src.read())
            n += 1
    print(f"wrote {n} seeds into {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build-fuzz/onnx_corpus")
