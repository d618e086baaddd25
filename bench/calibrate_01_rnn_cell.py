"""Calibration of Assignment 1's hidden suite, in process (no sandbox start, so hundreds of gradings are cheap).

    .venv/bin/python bench/calibrate_01_rnn_cell.py --seeds 30 --bug-seeds 5 [--out bench/results/01_rnn_cell.md]

Runs every test of the suite, over N grader seeds, on the reference, every correct variant (variants.py) and every
catalogued bug (bugs.py), as the sandbox would: answer cells exec'd in one namespace, the harness in a copy of it,
values through the channel's encoding, and ``item(..., uses=...)`` honoured (the earlier items' reference stands
in during a call). Every value or gradient comparison is recorded as its *ratio to the tolerance* (check_close:
max |got - expected| / (atol + rtol |expected|); check_gradient: relative error / tol; 1 is the threshold).
Reported: for correct submissions, failures (must be 0) and the largest ratio per test; for each bug, the items
that lost points (must be its own only), over how many seeds it was caught, and the smallest ratio among the
checks that caught it (the nearest wrong answer).
"""
import argparse
import importlib
import inspect
import os
import sys
import time
import zlib
from collections import defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from assignments.common import checklib  # noqa: E402
from autograder import project  # noqa: E402
from autograder.sandbox.inside import channel  # noqa: E402
from autograder.simulation import catalogue  # noqa: E402

A = "01_rnn_cell"
suite = importlib.import_module(f"autograder.hidden.{A}.test_{A}")
CELLS = ["rnn_cell_forward", "rnn_forward", "output_layer", "rnn_cell_backward", "rnn_backward", "RNNCell"]
RATIOS = []  # (test, check name, ratio) of the test being run


def _close(got, expected, name="the result", rtol=1e-5, atol=1e-6):
    try:
        g = checklib.to_array(got, name, np.float64)
        e = checklib.to_array(expected, name, np.float64)
        if g.shape == e.shape and np.all(np.isfinite(g)):
            RATIOS.append((name, float(np.max(np.abs(g - e) / (atol + rtol * np.abs(e))))))
    except checklib.CheckFailed:
        pass
    return checklib.check_close(got, expected, name, rtol=rtol, atol=atol)


def _gradient(got, expected, name="the gradient", tol=1e-7):
    try:
        g = checklib.to_array(got, name, np.float64)
        e = checklib.to_array(expected, name, np.float64)
        if g.shape == e.shape and np.all(np.isfinite(g)):
            RATIOS.append((name, checklib.rel_error(g, e) / tol))
    except checklib.CheckFailed:
        pass
    return checklib.check_gradient(got, expected, name, tol=tol)


suite.check_close, suite.check_gradient = _close, _gradient


class Sandbox:
    """One submission's namespaces, as the worker holds them."""

    def __init__(self, answers):
        self.namespace = {"__name__": "__main__", "np": np, "tf": tf, "keras": keras}
        for cell in CELLS:
            exec(compile(answers[cell], f"<cell {cell}>", "exec"), self.namespace)
        self.harness = dict(self.namespace)
        with open(project.harness(A), encoding="utf-8") as f:
            exec(compile(f.read(), "<cell harness>", "exec"), self.harness)
        self.uses = ()
        self.objects = {}

    def call(self, name, *args, timeout=None, **kwargs):
        def keep(obj):
            self.objects[len(self.objects) + 1] = obj
            return len(self.objects)
        args = channel.decode(channel.encode(list(args)), tf.constant, self.objects.__getitem__)
        fn = (self.harness if name.startswith("_") else self.namespace)[name]
        saved = []
        if self.uses:
            defined = dict(self.namespace)
            for used in self.uses:
                exec(compile(project.reference_source(A, used), f"<reference {used}>", "exec"), defined)
            saved = [(ns, u, ns.get(u)) for ns in (self.namespace, self.harness) for u in self.uses]
            for ns, u, _ in saved:
                ns[u] = defined[u]
        try:
            value = fn(*args, **kwargs)
        except Exception as err:
            raise checklib.CheckFailed(f"your {name} raised {type(err).__name__}: {err}") from None
        finally:
            for ns, u, old in saved:
                ns[u] = old
        return channel.decode(channel.encode(value, keep=keep))


def tests():
    found = []
    for name, fn in sorted(inspect.getmembers(suite, inspect.isfunction), key=lambda m: m[1].__code__.co_firstlineno):
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "item"]
        if name.startswith("test_") and marks:
            found.append((name, fn, marks[0].args[0], marks[0].kwargs.get("uses", ())))
    return found


def grade(answers, seed):
    """{test: (item, passed, message, [(check, ratio)])} for one submission and grader seed."""
    box = Sandbox(answers)
    out = {}
    for name, fn, item_, uses in tests():
        box.uses = tuple(uses)
        RATIOS.clear()
        params = inspect.signature(fn).parameters
        kwargs = {"student": box}
        if "rng" in params:
            kwargs["rng"] = np.random.default_rng([seed, zlib.crc32(f"test_{A}.py::{name}".encode())])
        if "seed" in params:
            kwargs["seed"] = seed
        try:
            fn(**kwargs)
            out[name] = (item_, True, "", list(RATIOS))
        except checklib.CheckFailed as err:
            out[name] = (item_, False, str(err), list(RATIOS))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--bug-seeds", type=int, default=10)
    parser.add_argument("--out")
    parser.add_argument("--only", help="comma-separated bug or variant names")
    options = parser.parse_args()
    started = time.time()
    reference = {cell: project.reference_source(A, cell) for cell in CELLS}
    seeds = [int(s) for s in np.random.default_rng(2026).integers(0, 2**32, options.seeds)]
    only = set(options.only.split(",")) if options.only else None
    correct = [("reference", reference)] + [(f"variant {v.name}", catalogue.apply(reference, v))
                                           for v in catalogue.variants(A) if not only or v.name in only]
    lines = ["# Assignment 1 (01_rnn_cell): calibration of the hidden suite", "",
             f"Command: `.venv/bin/python bench/calibrate_01_rnn_cell.py --seeds {options.seeds} "
             f"--bug-seeds {options.bug_seeds}{' --out ' + options.out if options.out else ''}` "
             f"(in process: the same tests, namespaces, channel encoding and `uses` as the sandbox).", "",
             "Every comparison is recorded as its ratio to its tolerance (1 = the threshold; check_close: max "
             "|got - expected| / (atol + rtol |expected|), check_gradient: norm-wise relative error / tol).", ""]
    worst = defaultdict(float)
    failures = []
    for label, answers in correct:
        for seed in seeds:
            for test, (item_, passed, message, ratios) in grade(answers, seed).items():
                if not passed:
                    failures.append(f"{label} seed {seed}: {test}: {message}")
                for _, r in ratios:
                    worst[test] = max(worst[test], r)
        print(label, "done", flush=True)
    lines += [f"## Correct submissions: reference + {len(correct) - 1} variants, {len(seeds)} grader seeds each", "",
              f"False failures: **{len(failures)}** of {len(correct) * len(seeds)} gradings.", ""]
    lines += [f"- {f}" for f in failures[:20]]
    nearest = defaultdict(lambda: (np.inf, ""))
    bug_lines, problems = [], []
    bug_seeds = seeds[:options.bug_seeds]
    for bug in catalogue.catalogue(A):
        if only and bug.name not in only:
            continue
        caught, collateral, smallest = 0, set(), np.inf
        for seed in bug_seeds:
            results = grade(catalogue.apply(reference, bug), seed)
            lost = {item_ for item_, passed, _, _ in results.values() if not passed}
            caught += bug.cell in lost
            collateral |= lost - {bug.cell}
            for test, (item_, passed, message, ratios) in results.items():
                if not passed and item_ == bug.cell:
                    failing = [r for _, r in ratios if r > 1]
                    if failing:
                        smallest = min(smallest, min(failing))
                        if min(failing) < nearest[test][0]:
                            nearest[test] = (min(failing), bug.name)
        how = f"{smallest:.1e}" if np.isfinite(smallest) else "shape, dtype, error or behaviour"
        bug_lines.append(f"| {bug.name} | {bug.cell} | {caught}/{len(bug_seeds)} | "
                         f"{', '.join(sorted(collateral)) or '-'} | {how} |")
        if caught < len(bug_seeds) or collateral:
            problems.append(bug.name)
        print(bug.name, caught, sorted(collateral), flush=True)
    lines += ["## Tolerances: largest ratio of a correct submission vs smallest ratio of a bug that failed there", "",
              "| test | correct: max ratio | nearest bug: min ratio | that bug | margin (×) |", "|---|---|---|---|---|"]
    for name, _, item_, _ in tests():
        near, who = nearest[name]
        margin = f"{near / worst[name]:.0e}" if np.isfinite(near) and worst[name] > 0 else "-"
        lines.append(f"| {name} | {worst[name]:.1e} | {near:.1e} | {who or '-'} | {margin} |")
    lines += ["", f"## Bugs ({len(bug_lines)}), {len(bug_seeds)} grader seeds each", "",
              f"Not caught on every seed or costing another item: **{len(problems)}** {problems or ''}", "",
              "| bug | its item | caught | collateral items | smallest failing ratio |", "|---|---|---|---|---|"]
    lines += bug_lines
    lines += ["", f"Took {time.time() - started:.0f} s on this machine (2 cores, shared)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if options.out:
        with open(options.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 1 if failures or problems else 0


if __name__ == "__main__":
    sys.exit(main())
