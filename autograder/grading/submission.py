"""Grades one submission: runs the hidden suite in its own trusted process and writes ``results.json`` (the
Gradescope format, with a provenance block) atomically.

Nothing here trusts the submission: its notebook is parsed as data, only its answer cells reach the sandbox, and
the set-up cells come from the instructor's source notebook.
"""
import hashlib
import hmac
import json
import os
import platform
import tempfile
import time

from autograder import notebooks, project
from autograder.grading import pool
from autograder.results import SubmissionResults


def suite_version(assignment):
    """A digest of everything that decides a grade (:func:`project.grading_files`): a change to any of them
    regrades every submission on the next run."""
    digest = hashlib.sha256()
    for path in project.grading_files(assignment):
        with open(path, "rb") as f:
            digest.update(os.path.relpath(path, project.ROOT).encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:16]


def timeouts():
    """Seconds a single call and the loading of the cells may take (RNNKIT_CALL_TIMEOUT, RNNKIT_LOAD_TIMEOUT)."""
    return {"call_timeout": float(os.environ.get("RNNKIT_CALL_TIMEOUT", 120)),
            "load_timeout": float(os.environ.get("RNNKIT_LOAD_TIMEOUT", 180))}


# Wall-clock seconds the reference's code took inside the sandbox over a whole grading (loading included:
# ``provenance.student_seconds``) on 2 cores under a load of about 12, i.e. six jobs per core; a submission gets
# BUDGET_FACTOR times that, at least BUDGET_FLOOR, so that a busy machine never fails a correct submission.
REFERENCE_SECONDS = {"01_rnn_cell": 20, "02_sentiment": 135, "03_char_lm": 105}
BUDGET_FACTOR, BUDGET_FLOOR = 3, 180


def budget(assignment):
    """Seconds of wall clock the student's code may use over one grading (RNNKIT_BUDGET overrides)."""
    if os.environ.get("RNNKIT_BUDGET"):
        return float(os.environ["RNNKIT_BUDGET"])
    return float(max(BUDGET_FLOOR, BUDGET_FACTOR * REFERENCE_SECONDS.get(assignment, 60)))


def grading_seeds(secret, assignment, submission_hash, salt=""):
    """``(seed, hidden_seed)`` of one grading: fixed for a given course and submission, so a regrade reproduces it.

    ``seed`` drives inputs the student's code may see (it can cross into the sandbox); ``hidden_seed`` drives
    held-out data, never leaves the trusted side and is not written into results. Both are keyed with the
    course's secret. ``salt`` gives other grader seeds to the validation (``rnnkit validate``)."""
    def derive(purpose, hex_digits):
        message = f"{assignment}:{submission_hash}:{purpose}:{salt}".encode()
        return int(hmac.new(secret, message, hashlib.sha256).hexdigest()[:hex_digits], 16)
    # 32 bits for the public seed (Keras takes no more); 64 for the hidden one, out of reach of a search by brute force
    return derive("public", 8), derive("hidden", 16)


def grade_submission(course, assignment, student, level, log=None, items=None, salt="", runner=None):
    """Grades ``course.submitted/<student>/<assignment>``; returns the :class:`SubmissionResults` (also written).

    ``items`` restricts grading to some graded items (the bug-catalogue tests use it to skip training checks a
    bug cannot reach); such partial results are marked in their provenance and never kept as a grade. ``runner``
    runs the suite (a warm grader's, see :mod:`autograder.grading.pool`; default: a fresh pytest process).
    """
    started = time.time()
    layout = notebooks.layout(notebooks.read(course.source_notebook(assignment)))
    submitted = course.submitted_notebook(student, assignment)
    try:
        data, problem = notebooks.read_bytes(submitted), None
    except notebooks.NotebookError as err:
        data, problem = b"", err
    submission_hash = hashlib.sha256(data).hexdigest()
    seed, hidden_seed = grading_seeds(course.secret(), assignment, submission_hash, salt)
    provenance = {"submission_sha256": submission_hash, "assignment": assignment, "student": student,
                  "suite_version": suite_version(assignment), "seed": seed, "sandbox": level,
                  "budget": budget(assignment),
                  "python": platform.python_version(), "tensorflow": _tensorflow_version()}
    if items is not None:
        provenance["only_items"] = sorted(items)
    try:
        if problem:
            raise problem
        answers = notebooks.answer_cells(notebooks.read(submitted, data))
    except notebooks.NotebookError as err:
        records, note = [], f"Your notebook could not be graded: {err}"
    else:
        records, note, usage = _run_suite(course, assignment, layout, answers, level, (seed, hidden_seed), log,
                                          items, runner)
        provenance.update(usage)  # the student's seconds, and processes started [all, without a zygote]
    results = SubmissionResults.from_records(layout.points, records, note, items, provenance=provenance)
    results.execution_time = time.time() - started
    results.save(course.results_file(student, assignment))
    return results


def _run_suite(course, assignment, layout, answers, level, seeds, log, items, runner):
    cells = [{"grade_id": g, "source": s, "kind": "setup"} for g, s in layout.setup]
    cells += [{"grade_id": g, "source": answers[g], "kind": "answer"} for g in layout.answers if g in answers]
    if os.path.exists(project.harness(assignment)):
        with open(project.harness(assignment), encoding="utf-8") as f:
            cells.append({"grade_id": "harness", "source": f.read(), "kind": "harness"})
    with tempfile.TemporaryDirectory(prefix="rnnkit-grade-") as tmp:
        job = {"assignment": assignment, "cells": cells, "missing": [g for g in layout.answers if g not in answers],
               "assignment_dir": course.release_dir(assignment), "level": level, "seed": seeds[0], "hidden_seed": seeds[1],
               "results": os.path.join(tmp, "records.json"), "threads": min(os.cpu_count() or 1, 4),
               "timeouts": timeouts(), "items": sorted(items) if items is not None else None,
               "budget": budget(assignment)}
        job["limits"] = {"cpu_seconds": int(job["budget"] * job["threads"]) + 60}  # CPU backstop of the budget
        job_file = os.path.join(tmp, "job.json")
        with open(os.open(job_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:  # the grader's eyes only
            json.dump(job, f)
        args = [project.suite(assignment), "-p", "autograder.trusted.plugin", f"--rnnkit-job={job_file}", "-q",
                "-p", "no:cacheprovider", "--no-header", "--durations=8", "-o", "addopts=",
                f"--rootdir={os.path.dirname(project.suite(assignment))}"]
        _, output = (runner or pool.run_cold)(args, tmp, level=level, release=course.release_dir(assignment))
        try:
            with open(job["results"]) as f:
                finished = json.load(f)
            records = finished["tests"]
        except (OSError, ValueError, KeyError):
            finished, records = {}, None
        if log:  # the instructor's log: pytest's output, grader tracebacks, what the student's code printed
            log(output + "".join(f"\n[grader error in {r['test']}]\n{r['traceback']}" for r in records or []
                                 if r.get("traceback"))
                + "".join(f"\n[FLAGGED {r['test']}]\n{r['instructor_note']}" for r in records or []
                          if r.get("instructor_note"))
                + f"\n[student output, last lines]\n{finished.get('student_output', '')}")
    if records is None:
        return [], "The grader failed before it could check your work (your instructor has the log).", {}
    return records, None, {key: finished[key] for key in ("student_seconds", "student_starts") if key in finished}


def _tensorflow_version():
    try:
        from importlib.metadata import version
        return version("tensorflow")
    except Exception:
        return "unknown"
