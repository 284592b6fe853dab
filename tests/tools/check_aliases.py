#!/usr/bin/env python3
"""Checks that tessera/ops/aliases.h declares every function of tessera/ops/ops.h at namespace
scope (tessera::matmul beside tessera::ops::matmul), so the two spellings never drift apart."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
ops = (root / "tessera/ops/ops.h").read_text()
names = set(re.findall(r"^(?:Tensor|std::vector<Tensor>|std::pair<Tensor, Tensor>|std::tuple<[^>]*>|bool|DType|Tensor&)"
                       r"\s+([a-z_0-9]+)\(", ops, re.M))
aliased = set(re.findall(r"using ops::([a-z_0-9]+);", (root / "tessera/ops/aliases.h").read_text()))
# Names that a namespace of tessera already takes (tessera::log: the TensorBoard writer).
names -= {"log"}
missing, stale = sorted(names - aliased), sorted(aliased - names)
for n in missing:
    print(f"aliases.h lacks `using ops::{n};`")
for n in stale:
    print(f"aliases.h names ops::{n}, which ops.h does not declare")
print(f"{len(names & aliased)} ops aliased")
sys.exit(1 if missing or stale or not names else 0)
