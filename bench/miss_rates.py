"""How often each catalogued bug slips through the tests of its own item, over many grader seeds, in process.

    nice -n 10 .venv/bin/python bench/miss_rates.py [--assignments 01_rnn_cell,02_sentiment,03_char_lm]
                                                    [--seeds 100] [--bugs NAME,...] [--markdown PATH]

A bug must fail at least one test of its own item (``bug.cell``) under EVERY grader seed: CI grades each bug under
one seed of its own, so a bug that slips through on 1% of seeds makes CI flaky. For every bug, the changed
namespace (``calibration.changed_namespace``) is built once, then for seed in range(N) every test of the suite
whose item is ``bug.cell`` runs as the plugin would run it: ``rng = default_rng([seed, crc32(nodeid)])`` with nodeid
``test_<a>.py::<test>`` (the grader's --rootdir is the suite's folder), ``seed``, ``hidden_seed`` a fixed function
of the seed, ``student`` a stand-in whose calls cross the channel encoding and honour ``item(..., uses=...)``. The
bug is caught under a seed if one of those tests raises: CheckFailed (the student's code raising counts, as
``StudentError`` does in the sandbox) or any other exception, counted apart as it may be this runner's fault. The
reference runs on every non-training item over the same seeds and must pass every time.

Not run: the items train_sentiment and train_char_lm, and any test needing the suite-level training fixtures
(``hidden``, ``trained``, ``probe_data``): a miss on an item that also has such tests is an upper bound.

One core (TF threads 1); results in bench/results/miss_rates.md with ``--markdown``.
"""
import argparse
import collections
import hashlib
import importlib
import inspect
import os
import time
import zlib

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import calibration  # noqa: E402  (beside this script; puts the repository on sys.path)
from calibration import Student  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from assignments.common.checklib import CheckFailed  # noqa: E402
from autograder import project  # noqa: E402
from autograder.simulation import catalogue  # noqa: E402

ASSIGNMENTS = ("01_rnn_cell", "02_sentiment", "03_char_lm")
TRAINING_ITEMS = {"train_sentiment", "train_char_lm"}
TRAINING_FIXTURES = {"hidden", "trained", "probe_data"}


def hidden_seed_of(seed):
    """A fixed 64-bit hidden seed per grader seed (the grader derives both from one secret; nothing here needs
    more than being fixed and unrelated to ``seed``)."""
    return int.from_bytes(hashlib.sha256(f"miss_rates:hidden:{seed}".encode()).digest()[:8], "big")


def suite_tests(assignment):
    """[(test name, function, grade_id, uses, fixtures)] in the file's order (pytest's collection order)."""
    suite = importlib.import_module(f"autograder.hidden.{assignment}.test_{assignment}")
    found = []
    for name, fn in sorted(inspect.getmembers(suite, inspect.isfunction), key=lambda m: m[1].__code__.co_firstlineno):
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "item"]
        if name.startswith("test_") and marks:
            found.append((name, fn, marks[0].args[0], tuple(marks[0].kwargs.get("uses", ())),
                          tuple(inspect.signature(fn).parameters)))
    return found


def runnable(test):
    _, _, grade_id, _, fixtures = test
    if grade_id in TRAINING_ITEMS:
        return False, f"item {grade_id} (training)"
    needs = sorted(set(fixtures) & TRAINING_FIXTURES)
    if needs:
        return False, f"needs {', '.join(needs)}"
    unknown = sorted(set(fixtures) - {"student", "rng", "seed", "hidden_seed"})
    if unknown:
        return False, f"needs unknown fixtures {', '.join(unknown)}"
    return True, ""


def run_seed(assignment, namespace, sources, tests, seed, stop_at_first=True, extra=None):
    """Runs ``tests`` under one grader seed on a fresh student (its objects go with it; Keras's global state is
    cleared once per namespace, not per seed: clear_session empties TensorFlow's kernel cache and collects garbage,
    which cost more than the tests themselves, and no test depends on Keras's name counters or unseeded draws);
    returns [(test, kind, message)] for those that raised, kind 'check' (CheckFailed) or 'error' (anything else).
    With ``stop_at_first``, stops at the first CheckFailed (an error does not stop it: a later CheckFailed tells
    whether the bug is caught regardless)."""
    student = Student(assignment, namespace, sources)
    values = {"seed": seed, "hidden_seed": hidden_seed_of(seed), **(extra or {})}
    raised = []
    for name, fn, grade_id, uses, fixtures in tests:
        student.current_item, student.uses = grade_id, uses
        kwargs = {"student": student, **{k: values[k] for k in fixtures if k in values}}
        if "rng" in fixtures:
            kwargs["rng"] = np.random.default_rng([seed, zlib.crc32(f"test_{assignment}.py::{name}".encode())])
        try:
            fn(**kwargs)
        except CheckFailed as err:
            raised.append((name, "check", str(err)))
            if stop_at_first:
                break
        except Exception as err:   # in the grader: GRADER_ERROR, the test is lost all the same
            raised.append((name, "error", f"{type(err).__name__}: {err}"))
    return raised


def hidden_failures(assignment, change=None, seed=0):
    """{item: [messages]} of the hidden tests that fail, under grader seed ``seed``, for the reference with
    ``change`` (a Bug or a Variant; None: the reference) made: every test of every item, the training items' short
    probes and spied runs included (their ``probe_data`` made here as the suite makes it), only the tests of the
    full training runs (fixtures ``hidden`` and ``trained``) left out."""
    suite = importlib.import_module(f"autograder.hidden.{assignment}.test_{assignment}")
    for cache in ("_probes", "_runs"):   # one grading's shared runs (a fresh process per grading in the grader)
        getattr(suite, cache, {}).clear()
    tests = [t for t in suite_tests(assignment) if not set(t[4]) - {"student", "rng", "seed", "hidden_seed",
                                                                     "probe_data"}]
    extra = {}
    if any("probe_data" in t[4] for t in tests):
        extra["probe_data"] = suite.probe_rows(suite.hidden_problem(hidden_seed_of(seed)))
    keras.backend.clear_session()
    import public_checks   # beside this script: the changed answer, on the source or on the built cell
    reference = importlib.import_module(f"solutions.{project.topic(assignment)}")
    namespace = calibration.harness_namespace(assignment, reference)
    sources = answer_sources(assignment)
    if change:
        sources[change.cell] = public_checks.answer_text(assignment, change.cell, change)
        exec(compile(sources[change.cell], change.name, "exec"), namespace)
    failed = {}
    for name, kind, message in run_seed(assignment, namespace, sources, tests, seed, stop_at_first=False,
                                        extra=extra):
        item = next(t[2] for t in tests if t[0] == name)
        failed.setdefault(item, []).append(f"{name} [{kind}] {message}")
    return failed


def answer_sources(assignment, bug=None):
    sources = {}
    with open(project.solution_file(assignment), encoding="utf-8") as f:
        names = project.top_level_definitions(f.read())
    for name in names:
        sources[name] = project.reference_source(assignment, name)
    if bug:
        sources[bug.cell] = catalogue.substitute(sources[bug.cell], bug)
    return sources


def short(message, limit=160):
    message = " ".join(message.split())
    return message if len(message) <= limit else message[:limit - 1] + "…"


def measure(assignment, seeds, only, report):
    reference = importlib.import_module(f"solutions.{project.topic(assignment)}")
    tests = suite_tests(assignment)
    skipped_tests = [(t[0], t[2], why) for t in tests for ok, why in [runnable(t)] if not ok]
    tests = [t for t in tests if runnable(t)[0]]
    out = report[assignment] = {"skipped_tests": skipped_tests, "bugs": [], "skipped_bugs": [], "reference": {}}
    items = sorted({t[2] for t in tests}, key=[t[2] for t in tests].index)

    # The reference first, on every non-training item: any failure is a false failure (or this runner's fault).
    started = time.time()
    keras.backend.clear_session()
    namespace = calibration.harness_namespace(assignment, reference)
    sources = answer_sources(assignment)
    failures = []
    for seed in range(seeds):
        for name, kind, message in run_seed(assignment, namespace, sources, tests, seed, stop_at_first=False):
            failures.append((seed, name, kind, message))
            print(f"  reference seed {seed}: {name} [{kind}] {short(message)}", flush=True)
    out["reference"] = {"seeds": seeds, "items": items, "failures": failures, "seconds": time.time() - started}
    print(f"{assignment} reference: {len(failures)} false failures over {seeds} seeds ({len(tests)} tests, "
          f"{time.time() - started:.0f} s)", flush=True)

    for bug in catalogue.catalogue(assignment):
        if only and bug.name not in only:
            continue
        own = [t for t in tests if t[2] == bug.cell]
        not_run = [name for name, grade_id, _ in skipped_tests if grade_id == bug.cell]
        if not own:
            why = f"every test of {bug.cell} is a training test" if not_run else f"no test has item {bug.cell}"
            out["skipped_bugs"].append((bug.name, bug.cell, why))
            print(f"{assignment} {bug.name} [{bug.cell}] skipped: {why}", flush=True)
            continue
        started = time.time()
        keras.backend.clear_session()
        try:
            namespace = calibration.changed_namespace(assignment, reference, bug)
        except Exception as err:
            out["bugs"].append({"name": bug.name, "cell": bug.cell, "build_error": f"{type(err).__name__}: {err}"})
            print(f"{assignment} {bug.name}: the change could not be applied: {err}", flush=True)
            continue
        sources = answer_sources(assignment, bug)
        misses, errors, first = [], [], collections.Counter()
        for seed in range(seeds):
            raised = run_seed(assignment, namespace, sources, own, seed)
            errors += [(seed, name, message) for name, kind, message in raised if kind == "error"]
            if not raised:
                misses.append(seed)
            else:
                checks = [name for name, kind, _ in raised if kind == "check"]
                first[checks[0] if checks else f"{raised[0][0]} (error only)"] += 1
        row = {"name": bug.name, "cell": bug.cell, "seeds": seeds, "misses": misses, "errors": errors,
               "first": dict(first), "not_run": not_run, "seconds": time.time() - started}
        out["bugs"].append(row)
        print(f"{assignment} {bug.name} [{bug.cell}] misses {len(misses)}/{seeds}"
              + (f" (seeds {misses[:10]}{'…' if len(misses) > 10 else ''})" if misses else "")
              + (f" errors {len(errors)}" if errors else "")
              + f" first catch {dict(first)} ({row['seconds']:.0f} s)", flush=True)
        for seed, name, message in errors[:3]:
            print(f"    error seed {seed} {name}: {short(message)}", flush=True)


def summary_lines(report, command, seconds):
    lines = ["# Miss rates of the catalogued bugs on their own items (in process)", "",
             f"Command: `{command}` ({seconds / 60:.0f} min on this machine, one niced core).", "",
             "A bug is caught under a grader seed if at least one test of its own item raises (CheckFailed, or any "
             "other exception, listed apart); seeds 0..N-1, rng per test from `[seed, crc32('test_<a>.py::<test>')]` "
             "as in the plugin. Training items and tests needing the training fixtures are not run."]
    for assignment, out in report.items():
        ref = out["reference"]
        bugs = [b for b in out["bugs"] if "build_error" not in b]
        missed = [b for b in bugs if b["misses"]]
        lines += ["", f"## {assignment}", "",
                  f"Reference: **{len(ref['failures'])}** false failures over {ref['seeds']} seeds on the items "
                  f"{', '.join(ref['items'])} ({ref['seconds']:.0f} s)."]
        lines += [f"- seed {seed}: {name} [{kind}]: {short(message, 300)}"
                  for seed, name, kind, message in ref["failures"]]
        lines += ["", f"Bugs run: {len(bugs)}; with at least one miss: **{len(missed)}**.", "",
                  "| bug | item | misses / seeds | miss rate | missed seeds | other exceptions | first catching test "
                  "(seeds) | seconds |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for b in sorted(bugs, key=lambda b: (-len(b["misses"]), b["cell"], b["name"])):
            seeds_text = ", ".join(map(str, b["misses"][:12])) + ("…" if len(b["misses"]) > 12 else "")
            first = ", ".join(f"{k} {v}" for k, v in sorted(b["first"].items(), key=lambda kv: -kv[1]))
            note = f" (not run: {', '.join(b['not_run'])})" if b["not_run"] else ""
            lines.append(f"| {b['name']} | {b['cell']}{note} | {len(b['misses'])} / {b['seeds']} | "
                         f"{len(b['misses']) / b['seeds']:.1%} | {seeds_text or '-'} | {len(b['errors'])} | "
                         f"{first or '-'} | {b['seconds']:.0f} |")
        errors = [(b["name"], *e) for b in bugs for e in b["errors"]]
        if errors:
            lines += ["", "Other exceptions (not CheckFailed) raised by tests on bugs:", ""]
            lines += [f"- {name} seed {seed} {test}: {short(message, 300)}"
                      for name, seed, test, message in errors[:40]]
        broken = [b for b in out["bugs"] if "build_error" in b]
        if broken:
            lines += ["", "Bugs whose change could not be applied:", ""]
            lines += [f"- {b['name']} ({b['cell']}): {b['build_error']}" for b in broken]
        if out["skipped_bugs"]:
            lines += ["", "Bugs skipped:", ""]
            lines += [f"- {name} ({cell}): {why}" for name, cell, why in out["skipped_bugs"]]
        if out["skipped_tests"]:
            lines += ["", "Tests not run: " + "; ".join(f"{name} ({item}: {why})"
                                                         for name, item, why in out["skipped_tests"]) + "."]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", default=",".join(ASSIGNMENTS))
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--bugs", help="comma-separated bug names (default: every catalogued bug)")
    parser.add_argument("--markdown", help="write the results here (keeping the notes below the marker)")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    only = set(args.bugs.split(",")) if args.bugs else None
    started = time.time()
    report = {}
    for assignment in args.assignments.split(","):
        measure(assignment, args.seeds, only, report)
    lines = summary_lines(report, "nice -n 10 .venv/bin/python bench/miss_rates.py " + " ".join(
        f"{k} {v}" for k, v in (("--assignments", args.assignments), ("--seeds", args.seeds),
                                ("--bugs", args.bugs)) if v), time.time() - started)
    print("\n".join(["", "SUMMARY"] + [line for line in lines if not line.startswith("Command")]), flush=True)
    if args.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
        calibration.write_report(args.markdown, lines)
        print("wrote", args.markdown)


if __name__ == "__main__":
    main()
