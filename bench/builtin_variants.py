"""False failures of the correct variants (TensorFlow's own functions among them) over many grader seeds, in process.

    nice -n 10 .venv/bin/python bench/builtin_variants.py [--assignments 02_sentiment,03_char_lm] [--seeds 30]
                                                          [--variants NAME,...] [--markdown PATH]

Issue 19, item 1: every correct variant (``autograder/hidden/<a>/variants.py``) must get full marks under every
grader seed. For each variant, every test of its own item runs as in ``bench/miss_rates.py`` (rng per test from
``[seed, crc32(nodeid)]``, a stand-in student over the channel encoding, ``uses`` honoured), including the spied
training runs (A2's ``probe_data`` comes from the suite's own ``hidden_problem`` of a fixed hidden seed per grader
seed); only the tests that train on the whole hidden set under the grader's budget (fixtures ``hidden`` with
``seed``, ``trained``) are left out: ``rnnkit validate`` runs those. Any exception is a false failure.
"""
import argparse
import importlib
import os
import time
import zlib

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import calibration  # noqa: E402
from calibration import Student  # noqa: E402
import miss_rates  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

from autograder import project  # noqa: E402
from autograder.simulation import catalogue  # noqa: E402

LEFT_OUT = {"trained", "seed"}   # whole training runs under the grader's budget (``hidden`` alone is cheap)


def own_tests(assignment, item):
    return [t for t in miss_rates.suite_tests(assignment) if t[2] == item and not set(t[4]) & LEFT_OUT]


def grade(assignment, change, seeds):
    """[(seed, test, exception name, message)] of every test of ``change.cell`` that raised, over ``seeds``."""
    suite = importlib.import_module(f"autograder.hidden.{assignment}.test_{assignment}")
    reference = importlib.import_module(f"solutions.{project.topic(assignment)}")
    keras.backend.clear_session()
    namespace = calibration.changed_namespace(assignment, reference, change)
    sources = miss_rates.answer_sources(assignment)
    tests = own_tests(assignment, change.cell)
    failures = []
    for seed in seeds:
        getattr(suite, "_probes", {}).clear()   # A2 caches its probe runs per grading
        student = Student(assignment, namespace, sources)
        hidden_seed = miss_rates.hidden_seed_of(seed)
        hidden = None
        for name, fn, grade_id, uses, fixtures in tests:
            student.current_item, student.uses = grade_id, uses
            kwargs = {"student": student}
            if "rng" in fixtures:
                kwargs["rng"] = np.random.default_rng([seed, zlib.crc32(f"test_{assignment}.py::{name}".encode())])
            if "hidden_seed" in fixtures:
                kwargs["hidden_seed"] = hidden_seed
            if {"hidden", "probe_data"} & set(fixtures):
                hidden = hidden if hidden is not None else suite.hidden_problem(hidden_seed)
                kwargs["hidden"] = hidden
                if "probe_data" in fixtures:
                    kwargs["probe_data"] = suite.probe_rows(hidden)
                kwargs = {k: v for k, v in kwargs.items() if k in fixtures or k == "student"}
            try:
                fn(**kwargs)
            except Exception as err:
                failures.append((seed, name, type(err).__name__, " ".join(str(err).split())[:300]))
    return failures, [t[0] for t in tests]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", default="02_sentiment,03_char_lm")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--variants")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    only = set(args.variants.split(",")) if args.variants else None
    started = time.time()
    lines = ["# Correct variants over many grader seeds (in process)", "",
             f"Command: `nice -n 10 .venv/bin/python bench/builtin_variants.py --assignments {args.assignments} "
             f"--seeds {args.seeds}" + (f" --variants {args.variants}" if args.variants else "") + "`", "",
             "Every test of the variant's own item except the full training runs under the grader's budget "
             "(those run in `rnnkit validate`). A failure is any exception.", ""]
    total = bad = 0
    for assignment in args.assignments.split(","):
        lines += [f"## {assignment}", "", "| variant | item | tests | seeds | false failures | first failure |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for variant in catalogue.variants(assignment):
            if only and variant.name not in only:
                continue
            t0 = time.time()
            failures, tests = grade(assignment, variant, range(args.seeds))
            total, bad = total + 1, bad + bool(failures)
            first = f"seed {failures[0][0]} {failures[0][1]}: {failures[0][3]}" if failures else "-"
            lines.append(f"| {variant.name} | {variant.cell} | {len(tests)} | {args.seeds} | {len(failures)} | "
                         f"{first.replace('|', '/')} |")
            print(lines[-1], f"({time.time() - t0:.0f} s)", flush=True)
        lines.append("")
    lines.insert(4, f"**{total - bad} of {total}** variants with no false failure ({(time.time() - started) / 60:.0f} "
                    "min, one niced core).")
    print("\n".join(lines))
    if args.markdown:
        calibration.write_report(args.markdown, lines)
        print("wrote", args.markdown)


if __name__ == "__main__":
    main()
