"""Failure signatures of catalogued changes, graded in process: which tests of an item fail, and with what message.

    from signatures import grade_change
    records = grade_change("01_rnn_cell", bug, seed)   # [{"item", "test", "doc", "status", "message"}]

Each call builds a fresh namespace (the harness, the reference, the change applied) and a fresh student stand-in
(``calibration.Student``), then runs every test of the change's own item as the plugin would under ``seed`` (rng
per test from ``[seed, crc32('test_<a>.py::<test>')]``), without stopping at the first failure. A fresh namespace
per seed matters for code that keeps state between calls (a ``tf.function`` traces once per input signature): in
the grader, every submission starts in a fresh process. Used by ``bench/diagnosis.py`` and the tests of the
Assignment 1 suite; training items are not run (see ``miss_rates.runnable``).
"""
import importlib
import zlib

import calibration  # noqa: F401  (beside this script; puts the repository on sys.path)
from calibration import Student
import numpy as np
import keras

from assignments.common.checklib import CheckFailed
from autograder import project
import miss_rates


def records_of(assignment, namespace, sources, tests, seed):
    """Runs ``tests`` (miss_rates.suite_tests rows) under ``seed``; one record per test, in the plugin's form."""
    student = Student(assignment, namespace, sources)
    values = {"seed": seed, "hidden_seed": miss_rates.hidden_seed_of(seed)}
    out = []
    for name, fn, grade_id, uses, fixtures in tests:
        student.current_item, student.uses = grade_id, uses
        kwargs = {"student": student, **{k: values[k] for k in fixtures if k in values}}
        if "rng" in fixtures:
            kwargs["rng"] = np.random.default_rng([seed, zlib.crc32(f"test_{assignment}.py::{name}".encode())])
        weight = next((m.kwargs.get("weight", 1.0) for m in getattr(fn, "pytestmark", []) if m.name == "item"), 1.0)
        record = {"item": grade_id, "test": name, "doc": (fn.__doc__ or "").strip().split("\n")[0],
                  "weight": weight, "status": "passed", "message": ""}
        try:
            fn(**kwargs)
        except CheckFailed as err:
            record.update(status="failed", message=str(err))
        except Exception as err:   # the grader would report a grader error: the test is lost all the same
            record.update(status="grader error", message=f"{type(err).__name__}: {err}")
        out.append(record)
    return out


def item_tests(assignment, items):
    """The runnable tests of ``items`` (grade_ids), in the suite's order."""
    return [t for t in miss_rates.suite_tests(assignment) if t[2] in items and miss_rates.runnable(t)[0]]


def grade_change(assignment, change, seed, items=None, clear=True):
    """Records of the tests of ``change.cell`` (or of ``items``) for the reference with ``change`` applied (None:
    the reference itself, on ``items``). ``clear``: clear Keras's session first (it empties TensorFlow's caches and
    collects garbage, which can cost more than the tests: a runner over many seeds clears once per change)."""
    reference = importlib.import_module(f"solutions.{project.topic(assignment)}")
    if clear:
        keras.backend.clear_session()
    if change is None:
        namespace = calibration.harness_namespace(assignment, reference)
    else:
        namespace = calibration.changed_namespace(assignment, reference, change)
    sources = miss_rates.answer_sources(assignment, change)
    return records_of(assignment, namespace, sources, item_tests(assignment, items or {change.cell}), seed)
