"""Grading many submissions: every submission of nbgrader's ``submitted/<student>/<assignment>/`` layout.

Each submission is graded on its own (its own trusted pytest process and sandbox, forked by a warm grader or on a
Dask worker), so a broken one costs only its own points. Results are written as each submission finishes; an interrupted run loses nothing already graded,
and the next run skips what is graded and unchanged (``--force`` regrades).
"""
from concurrent.futures import ThreadPoolExecutor, as_completed
import hashlib
import os
import time

from autograder import notebooks
from autograder.grading import distributed, gradebook, pool, submission
from autograder.progress import Progress
from autograder.errors import RnnkitError
from autograder.results import SubmissionResults
from autograder.sandbox import launch


def _already_graded(course, student, assignment, level):
    """The kept results if this very submission was fully graded by this very grader in a sandbox at least as
    strong as ``level``, else None."""
    try:
        results = SubmissionResults.load(course.results_file(student, assignment))
        digest = hashlib.sha256(notebooks.read_bytes(course.submitted_notebook(student, assignment))).hexdigest()
    except (OSError, ValueError, KeyError):  # NotebookError is a ValueError
        return None
    if results.partial:  # a partial grading is never kept as a grade
        return None
    provenance = results.provenance
    if provenance.get("submission_sha256") != digest or \
            provenance.get("suite_version") != submission.suite_version(assignment):
        return None
    if _strength(provenance.get("sandbox")) < _strength(level):
        return None  # graded in a weaker sandbox than the one now available: regrade
    return results


def _strength(level):
    """bubblewrap > unshare > none; anything unknown is weakest."""
    return len(launch.LEVELS) - launch.LEVELS.index(level) if level in launch.LEVELS else -1


def grade_one(course, assignment, student, level, force=False, items=None, runner=None, salt=""):
    """Grades one submission unless it is graded and unchanged; returns ``(results, kept?)``."""
    results = None if force else _already_graded(course, student, assignment, level)
    skipped = results is not None
    if results is None:
        log_path = course.log_file(student, assignment)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)

        def log(text):
            with open(log_path, "a") as f:
                f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {student} {assignment}\n{text}\n")
        results = submission.grade_submission(course, assignment, student, level, log=log, items=items,
                                              runner=runner, salt=salt)
    return results, skipped


def _grade_pooled(graders, course, assignment, student, level, force, items, salt):
    run, give_back = graders.runner()
    try:
        return grade_one(course, assignment, student, level, force, items, runner=run, salt=salt)
    finally:
        give_back()


def _local_results(course, todo, level, force, jobs, items, salts):
    """Yields ``(student, assignment, (results, kept) or the exception)`` as local warm graders finish."""
    with pool.Pool(min(max(1, jobs), len(todo))) as graders, ThreadPoolExecutor(max_workers=max(1, jobs)) as threads:
        futures = {threads.submit(_grade_pooled, graders, course, a, s, level, force, (items or {}).get(s),
                                  (salts or {}).get(s, "")): (s, a)
                   for s, a in todo}
        for future in as_completed(futures):
            student, assignment = futures[future]
            try:
                yield student, assignment, future.result()
            except Exception as err:
                yield student, assignment, err


def autograde(course, assignments, students=None, level="bubblewrap", force=False, jobs=1, echo=print,
              items=None, dask=None, salts=None):
    """Grades the submissions; returns ``({(student, assignment): SubmissionResults}, failures)``.

    Never stops on one bad submission; each result is written as soon as it is ready. ``jobs`` local warm graders
    grade at once, or ``dask`` (a scheduler address, or ``local``) sends one task per submission to a Dask cluster
    (``jobs`` workers for ``local``). ``items`` (``{student: [grade_id, ...]}``) grades some submissions in part;
    ``salts`` (``{student: text}``) gives them other grader seeds (``rnnkit validate``).
    """
    todo = []
    for assignment in assignments:
        if not os.path.exists(course.source_notebook(assignment)):
            raise RnnkitError(f"assignment '{assignment}' is not built in {course.root}: run `rnnkit build` first")
        found = course.students(assignment)
        for student in students or found:
            if student not in found:
                echo(f"{student}/{assignment}: no submission in {course.path('submitted')}")
                continue
            todo.append((student, assignment))
    if dask:
        outcomes = distributed.results(course, todo, level, force, dask, workers=max(1, jobs), items=items,
                                       salts=salts)
    else:
        outcomes = _local_results(course, todo, level, force, jobs, items, salts)
    graded = {}
    with Progress(len(todo), "autograde", echo) as progress:
        for student, assignment, outcome in outcomes:
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                results, skipped = outcome
                notebook = gradebook.autograded_notebook(course, student, assignment, results)
                gradebook.record(course, student, assignment, results, notebook)
            except Exception as err:  # the grader's own failure: say it, keep going with the others
                progress.done(f"{student}/{assignment}: NOT GRADED: {type(err).__name__}: {err}", failed=True)
                continue
            graded[(student, assignment)] = results
            note = "unchanged, kept" if skipped else f"{results.execution_time:.1f} s"
            if results.internal_errors:
                note += f"; {results.internal_errors} grader error(s), see {course.log_file(student, assignment)}"
            if results.flagged:
                note += (f"; FLAGGED for review ({', '.join(t.name for t in results.flagged)}): the reason is in "
                         f"{course.log_file(student, assignment)}")
            progress.done(f"{student}/{assignment}: {results.score:g} / {results.max_score:g} ({note})"
                          + (f" - {results.note}" if results.note else ""))
    return graded, progress.failures
