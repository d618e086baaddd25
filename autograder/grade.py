"""Grades one submission: runs the hidden suite in its own trusted process, turns its records into points, and
writes ``results.json`` (the Gradescope format, with a provenance block) atomically.

Nothing here trusts the submission: its notebook is parsed as data, only its answer cells reach the sandbox, and
the set-up cells come from the instructor's source notebook.
"""
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from autograder import notebooks, paths

SUITE_TIMEOUT = 60 * 60   # a whole suite; per-call limits are far shorter


def suite_version(assignment):
    """A digest of everything that decides a grade: the hidden suite, its harness, the reference."""
    digest = hashlib.sha256()
    for path in paths.grading_files(assignment):
        with open(path, "rb") as f:
            digest.update(os.path.basename(path).encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]


def timeouts():
    """Seconds a single call and the loading of the cells may take (RNNKIT_CALL_TIMEOUT, RNNKIT_LOAD_TIMEOUT)."""
    return {"call_timeout": float(os.environ.get("RNNKIT_CALL_TIMEOUT", 120)),
            "load_timeout": float(os.environ.get("RNNKIT_LOAD_TIMEOUT", 180))}


def submission_seed(submission_hash, assignment):
    """The seed of every grader-chosen input: fixed for a given submission, so a regrade reproduces it."""
    return int(hashlib.sha256(f"{assignment}:{submission_hash}".encode()).hexdigest()[:8], 16)


def grade_submission(course, assignment, student, level, log=None, items=None):
    """Grades ``course.submitted/<student>/<assignment>`` and returns the results dictionary (also written).

    ``items`` restricts grading to some graded items (the bug-catalogue tests use it to skip training checks a
    bug cannot reach); such partial results are marked in their provenance and never kept as a grade.
    """
    started = time.time()
    source_nb = notebooks.read(course.source_notebook(assignment))
    layout = notebooks.layout(source_nb)
    submitted = course.submitted_notebook(student, assignment)
    with open(submitted, "rb") as f:
        submission_hash = hashlib.sha256(f.read()).hexdigest()
    seed = submission_seed(submission_hash, assignment)
    provenance = {"submission_sha256": submission_hash, "assignment": assignment, "student": student,
                  "suite_version": suite_version(assignment), "seed": seed, "sandbox": level,
                  "python": platform.python_version(), "tensorflow": _tensorflow_version()}
    if items is not None:
        provenance["only_items"] = sorted(items)
    try:
        answers = notebooks.answer_cells(notebooks.read(submitted))
    except notebooks.NotebookError as err:
        records, note = [], f"Your notebook could not be graded: {err}"
    else:
        records, note = _run_suite(course, assignment, student, layout, answers, level, seed, log, items)
    results = score(layout, records, note, items)
    results["execution_time"] = round(time.time() - started, 1)
    results["provenance"] = provenance
    _write_atomically(course.results_file(student, assignment), results)
    return results


def _run_suite(course, assignment, student, layout, answers, level, seed, log, items):
    cells = [{"grade_id": g, "source": s, "kind": "setup"} for g, s in layout.setup]
    cells += [{"grade_id": g, "source": answers[g], "kind": "answer"} for g in layout.answers if g in answers]
    if os.path.exists(paths.harness(assignment)):
        with open(paths.harness(assignment), encoding="utf-8") as f:
            cells.append({"grade_id": "harness", "source": f.read(), "kind": "harness"})
    with tempfile.TemporaryDirectory(prefix="rnnkit-grade-") as tmp:
        job = {"cells": cells, "missing": [g for g in layout.answers if g not in answers],
               "assignment_dir": course.release_dir(assignment), "level": level, "seed": seed,
               "results": os.path.join(tmp, "records.json"), "threads": min(os.cpu_count() or 1, 4),
               "timeouts": timeouts(), "items": sorted(items) if items is not None else None}
        job_file = os.path.join(tmp, "job.json")
        with open(job_file, "w") as f:
            json.dump(job, f)
        command = [sys.executable, "-m", "pytest", paths.suite(assignment), "-p", "autograder.plugin",
                   f"--rnnkit-job={job_file}", "-q", "-p", "no:cacheprovider", "--no-header", "--durations=8",
                   "-o", "addopts=", f"--rootdir={os.path.dirname(paths.suite(assignment))}"]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=SUITE_TIMEOUT, env=env,
                                  cwd=tmp)
            output = proc.stdout[-20000:] + proc.stderr[-20000:]
        except subprocess.TimeoutExpired:
            output = f"the hidden suite did not finish within {SUITE_TIMEOUT} s"
        if log:
            log(output)
        try:
            with open(job["results"]) as f:
                return json.load(f)["tests"], None
        except (OSError, ValueError, KeyError):
            return [], "The grader failed before it could check your work (your instructor has the log)."


def score(layout, records, note=None, items=None):
    """Points per test: an item's points shared among its tests by weight; a test scores all or nothing."""
    tests, total = [], 0.0
    graded = [a for a in layout.answers if items is None or a in items]
    for grade_id in graded:
        mine = [r for r in records if r["item"] == grade_id]
        weights = sum(r["weight"] for r in mine)
        points = layout.points.get(grade_id, 0.0)
        if not mine:  # the suite never ran: the whole item is lost, with the reason
            tests.append(_test(grade_id, f"{grade_id}: not graded", 0.0, points, note or "no hidden test ran"))
            continue
        for r in mine:
            max_score = points * r["weight"] / weights
            got = max_score if r["passed"] else 0.0
            total += got
            name = f"{grade_id}: {r['doc'] or r['test']}"
            tests.append(_test(grade_id, name, got, max_score, "passed" if r["passed"] else r.get("message", "")))
    max_total = sum(layout.points.get(a, 0.0) for a in graded)
    results = {"score": round(total, 6), "max_score": max_total, "visibility": "visible",
               "stdout_visibility": "hidden", "tests": tests}
    if note:
        results["output"] = note
    internal = [r for r in records if r.get("internal_error")]
    if internal:
        results["internal_errors"] = len(internal)
    return results


def _test(grade_id, name, got, max_score, output):
    return {"name": name, "score": got, "max_score": max_score, "output": output,
            "visibility": "visible", "tags": [grade_id, f"test_{grade_id}"]}


def item_scores(results):
    """grade_id -> (score, max_score), summed over the item's tests."""
    items = {}
    for test in results["tests"]:
        got, most = items.get(test["tags"][0], (0.0, 0.0))
        items[test["tags"][0]] = (got + test["score"], most + test["max_score"])
    return {key: (round(got, 6), round(most, 6)) for key, (got, most) in items.items()}


def _tensorflow_version():
    try:
        from importlib.metadata import version
        return version("tensorflow")
    except Exception:
        return "unknown"


def _write_atomically(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".results-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
