#!/usr/bin/env python3
"""ONNX's own conformance cases, run through onnx.backend.test's runner on tessera
(tessera.onnx.backend) and, in the same run, on onnxruntime (onnxruntime.backend).

The cases come from the pinned `onnx` package (python/requirements.txt): its node cases are
generated in memory from onnx.backend.test.case.node (the wheel no longer ships them as files);
the pytorch-converted, pytorch-operator and simple model cases are the files it ships. In scope:
node cases of the default domain in opsets 7 to 23, and every model case. ("real" cases download
models and are not run.)

    run.py --check     every tessera failure must be listed in exclusions.txt with its reason, every
                       listed case must still fail (so the list stays exact), and tessera must pass
                       95% of the cases onnxruntime passes
    run.py --update    rewrites exclusions.txt from this run (reasons: the error messages, except
                       hand-written ones starting "known:", which are kept)
    run.py -k PATTERN  only the cases whose name matches (a regular expression), with messages
"""
import argparse
import contextlib
import io
import os
import re
import signal
import sys
import time
import unittest
import warnings

import numpy as np
import onnx
from onnx.backend.test import runner as onnx_runner
from onnx.backend.test.case import node as onnx_node_cases
from onnx.backend.test.loader import load_model_tests

HERE = os.path.dirname(os.path.abspath(__file__))
EXCLUSIONS = os.path.join(HERE, "exclusions.txt")
MIN_OPSET, MAX_OPSET = 7, 23
GOAL = 0.95  # of the cases onnxruntime passes (issue 14)
# Ops the importer runs that no passing case in scope uses (their cases are random, or at opsets
# newer than 23), and the test that checks each instead (which must name the op).
TESTED_ELSEWHERE = {
    op: "python/tests/test_onnx_backend.py"
    for op in ("Bernoulli", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
               "DequantizeLinear", "Optional", "OptionalHasElement", "OptionalGetElement", "ReduceLogSum",
               "ReduceLogSumExp")
}
CONTRIB_TEST = "python/tests/test_onnx_contrib.py"  # ONNX Runtime's operators, against onnxruntime
CASE_SECONDS = 120  # one case running longer than this fails (a hang is a defect too)


def default_opset(model):
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    others = [o.domain for o in model.opset_import if o.domain not in ("", "ai.onnx")]
    return (versions[0] if versions else None), others


def in_scope(case):
    opset, others = default_opset(case.model)
    return opset is not None and not others and MIN_OPSET <= opset <= MAX_OPSET


_node_cases = None


def node_cases():
    global _node_cases
    if _node_cases is None:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            _node_cases = [c for c in onnx_node_cases.collect_testcases() if in_scope(c)]
    return _node_cases


def scoped_loader(kind="node", **kwargs):
    if kind == "node":
        return node_cases()
    if kind == "real":  # these download models from the internet
        return []
    return load_model_tests(kind=kind, **kwargs)


def graph_ops(graph):
    ops = set()
    for node in graph.node:
        ops.add(node.op_type)
        for a in node.attribute:
            if a.HasField("g"):
                ops |= graph_ops(a.g)
            for g in a.graphs:
                ops |= graph_ops(g)
    return ops


def case_ops():
    """Test name (as the runner calls it, on CPU) -> the op types its model uses."""
    r = {}
    for case in node_cases():
        r[case.name + "_cpu"] = graph_ops(case.model.graph)
    for kind in ("simple", "pytorch-converted", "pytorch-operator"):
        for case in load_model_tests(kind=kind):
            r[case.name + "_cpu"] = graph_ops(onnx.load(os.path.join(case.model_dir, "model.onnx")).graph)
    return r


class Outcomes(unittest.TestResult):
    """name -> ("pass" | "fail", first line of the message), skips left out."""

    def __init__(self, verbose=False):
        super().__init__()
        self.outcomes = {}
        self.verbose = verbose
        self.slow = []

    def startTest(self, test):
        super().startTest(test)
        import tessera

        tessera.manual_seed(0)  # the random ops' cases (Bernoulli, training Dropout) give the same draws every run
        self._t0 = time.perf_counter()
        signal.alarm(CASE_SECONDS)

    def stopTest(self, test):
        signal.alarm(0)
        self.slow.append((time.perf_counter() - self._t0, test._testMethodName))
        super().stopTest(test)

    def _record(self, test, outcome, err=None):
        name = test._testMethodName
        message = ""
        if err is not None:
            exc = err[1]
            text = str(exc).strip() or type(exc).__name__
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            message = f"{type(exc).__name__}: " + " ".join(lines[:4])
            message = re.sub(r"\s+", " ", message)[:300]
        self.outcomes[name] = (outcome, message)
        if self.verbose:
            print(f"{outcome:5} {name} {message}", file=sys.stderr, flush=True)

    def addSuccess(self, test):
        self._record(test, "pass")

    def addFailure(self, test, err):
        self._record(test, "fail", err)

    def addError(self, test, err):
        self._record(test, "fail", err)

    def addSkip(self, test, reason):
        pass


def _timeout(signum, frame):
    raise TimeoutError(f"the case ran longer than {CASE_SECONDS} s")


def run_backend(backend, pattern=None, verbose=False):
    onnx_runner.load_model_tests = scoped_loader
    tests = onnx_runner.Runner(backend, __name__)
    if pattern:
        tests.include(pattern)
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for case_class in tests.test_cases.values():
        suite.addTests(loader.loadTestsFromTestCase(case_class))
    result = Outcomes(verbose)
    signal.signal(signal.SIGALRM, _timeout)
    with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        suite.run(result)
    return result


def read_exclusions():
    """name -> reason, from lines `test_name_cpu: reason` (# comments and blank lines skipped)."""
    listed = {}
    if not os.path.exists(EXCLUSIONS):
        return listed
    with open(EXCLUSIONS) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, reason = line.partition(":")
            if not sep or not reason.strip():
                sys.exit(f"{EXCLUSIONS}:{n}: expected 'test_name: reason', got {line!r}")
            listed[name.strip()] = reason.strip()
    return listed


def write_exclusions(failures, listed, header):
    tmp = EXCLUSIONS + ".tmp"
    with open(tmp, "w") as f:
        f.write(header)
        for name in sorted(failures):
            kept = listed.get(name, "")
            f.write(f"{name}: {kept if kept.startswith('known:') else failures[name]}\n")
    os.replace(tmp, EXCLUSIONS)


HEADER = """# ONNX conformance cases (onnx.backend.test, from the pinned onnx package) that tessera fails,
# one per line with the reason. tests/onnx_conformance/run.py --check fails when a case fails that is
# not listed here, or a listed case passes; --update rewrites this file from a run: each reason is
# the case's error message unless a hand-written one (starting "known:") is kept. In scope: node cases of the default domain in opsets 7-23, and the
# pytorch-converted, pytorch-operator and simple model cases.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--no-onnxruntime", action="store_true", help="run tessera alone")
    ap.add_argument("-k", dest="pattern", help="only cases whose name matches this regular expression")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    import tessera.onnx.backend as tessera_backend

    t0 = time.perf_counter()
    mine = run_backend(tessera_backend.TesseraBackend, args.pattern, args.verbose or bool(args.pattern))
    t1 = time.perf_counter()
    print(f"onnx {onnx.__version__}: {len(mine.outcomes)} cases in scope; tessera passes "
          f"{sum(o == 'pass' for o, _ in mine.outcomes.values())} ({t1 - t0:.0f} s)")
    passed = {n for n, (o, _) in mine.outcomes.items() if o == "pass"}
    failures = {n: m for n, (o, m) in mine.outcomes.items() if o != "pass"}
    share = None

    if not args.no_onnxruntime:
        import onnxruntime
        import onnxruntime.backend as ort_backend

        onnxruntime.set_default_logger_severity(4)  # its own failures are counted, not printed

        theirs = run_backend(ort_backend, args.pattern)
        ort_passed = {n for n, (o, _) in theirs.outcomes.items() if o == "pass"}
        both = passed & ort_passed
        share = len(both) / max(1, len(ort_passed))
        print(f"onnxruntime {onnxruntime.__version__} passes {len(ort_passed)} ({time.perf_counter() - t1:.0f} s); "
              f"tessera passes {len(both)} of those: {100 * share:.1f}% (the goal: {100 * GOAL:.0f}%); "
              f"{len(passed - ort_passed)} that onnxruntime fails")

    slowest = sorted(mine.slow, reverse=True)[:5]
    print("slowest on tessera: " + ", ".join(f"{n} {1000 * s:.0f} ms" for s, n in slowest))

    listed = read_exclusions()
    if args.update:
        if args.pattern:
            sys.exit("--update needs the whole run (no -k)")
        write_exclusions(failures, listed, HEADER)
        print(f"wrote {EXCLUSIONS}: {len(failures)} cases")
        return 0
    if args.check:
        if args.pattern:
            listed = {n: r for n, r in listed.items() if n in mine.outcomes}
        unlisted = sorted(set(failures) - set(listed))
        stale = sorted(set(listed) & passed)
        unknown = sorted(set(listed) - set(mine.outcomes))
        for n in unlisted:
            print(f"FAIL (not in exclusions.txt) {n}: {failures[n]}")
        for n in stale:
            print(f"PASSES but listed in exclusions.txt: {n}")
        for n in unknown:
            print(f"listed in exclusions.txt but not a case in scope: {n}")
        if not args.pattern:  # every op the importer claims passes at least one case
            ops = case_ops()
            covered = set().union(*(ops.get(n, set()) for n in passed))
            root = os.path.dirname(os.path.dirname(HERE))
            names = tessera_backend._tessera._onnx.operator_names()
            # ONNX Runtime's operators (com.microsoft.X) have no cases here: their test names each.
            where = dict(TESTED_ELSEWHERE, **{op: CONTRIB_TEST for op in names if op.startswith("com.microsoft.")})
            elsewhere = {op for op, f in where.items()
                         if f'"{op.split(".")[-1]}"' in open(os.path.join(root, f), encoding="utf-8").read()}
            untested = sorted(set(names) - covered - elsewhere)
            if untested:
                print(f"conformance: the importer runs ops that no passing case uses: {', '.join(untested)}")
                return 1
        if share is not None and not args.pattern and share < GOAL:
            print(f"conformance: tessera passes {100 * share:.1f}% of the cases onnxruntime passes; the goal is "
                  f"{100 * GOAL:.0f}%")
            return 1
        if unlisted or stale or unknown:
            print(f"conformance: {len(unlisted)} unlisted failures, {len(stale)} listed cases that pass, "
                  f"{len(unknown)} unknown names (run.py --update rewrites the list)")
            return 1
        print(f"conformance: every failure is listed ({len(failures)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
