#!/usr/bin/env python3
"""Checks that every ```cpp (```c, ```python) block in the docs that starts with `// examples/NAME.cpp` is
exactly that file, so the examples the docs show are the ones ctest builds and runs."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
bad, seen = [], 0
for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
    for block in re.findall(r"```(?:cpp|python|c|java)\n(.*?)```", doc.read_text(), re.S):
        m = re.match(r"(?://|#|/\*) ((?:java/)?examples/[\w/]+\.(?:cpp|py|c|java))\b", block)
        if not m:
            continue
        seen += 1
        src = root / m.group(1)
        if not src.exists() or src.read_text() != block:
            bad.append(f"{doc.name}: the block for {m.group(1)} differs from the file")
for b in bad:
    print(b)
print(f"{seen - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad or seen == 0 else 0)
