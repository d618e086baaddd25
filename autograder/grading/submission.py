"""Grades one submission: :func:`grade` turns a :class:`~autograder.grading.job.Task` into an
:class:`~autograder.grading.job.Outcome`.

The hidden suite runs in a trusted process of its own (a warm grader's forked child, or a cold pytest process:
``runner``); what it writes (``records.json``) becomes ``results.json``, written atomically. When the grader
itself could not finish — its process was killed, it crashed, a hidden test raised something other than a failed
check — the outcome is a grader failure: nothing is written as a grade, and the next run grades it again.

Nothing here trusts the submission: its notebook is parsed as data, only its answer cells reach the sandbox, and
the set-up cells come from the instructor's source notebook.
"""
import hashlib
import hmac
import os
import platform
import time
import traceback

from autograder import notebooks, project, scratch
from autograder.course import Course
from autograder.grading.job import GRADED, GRADER_FAILURE, KEPT, Finished, Job, Outcome
from autograder.results import GRADER_ERROR, SubmissionResults
from autograder.sandbox import launch


class GraderFailure(Exception):
    """The grader could not finish grading a submission (never the student's doing): no grade is given."""


def suite_version(assignment):
    """A digest of everything that decides a grade (:func:`project.grading_files`): a change to any of them
    regrades every submission on the next run."""
    return project.digest(project.grading_files(assignment))[:16]


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


def already_graded(course, student, assignment, level):
    """The kept results if this very submission was fully graded by this very grader in a sandbox at least as
    strong as ``level``, else None."""
    try:
        results = SubmissionResults.load(course.results_file(student, assignment))
        digest = hashlib.sha256(notebooks.read_bytes(course.submitted_notebook(student, assignment))).hexdigest()
    except (OSError, ValueError, KeyError, TypeError):  # NotebookError is a ValueError
        return None
    if results.partial:  # a partial grading is never kept as a grade
        return None
    provenance = results.provenance
    if provenance.get("submission_sha256") != digest or provenance.get("suite_version") != suite_version(assignment):
        return None
    if strength(provenance.get("sandbox")) < strength(level):
        return None  # graded in a weaker sandbox than the one now available: regrade
    return results


def strength(level):
    """bubblewrap > unshare > none; anything unknown is weakest."""
    return len(launch.LEVELS) - launch.LEVELS.index(level) if level in launch.LEVELS else -1


def grade(task, runner):
    """Grades ``task`` (unless it is graded and unchanged and not ``force``d) with ``runner`` (see
    :mod:`autograder.grading.pool`); returns its :class:`Outcome`. Never raises for a problem of one submission."""
    started = time.time()
    course = Course(task.course_root)
    if not task.force:
        kept = already_graded(course, task.student, task.assignment, task.level)
        if kept is not None:
            return Outcome(task, KEPT, kept)
    log_path = course.log_file(task.student, task.assignment)

    def log(text):
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "a") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {task.student} {task.assignment}\n{text}\n")
    try:
        results = _grade(course, task, runner, log)
    except GraderFailure as err:
        log(f"[GRADER FAILURE] {err}")
        return Outcome(task, GRADER_FAILURE, reason=str(err), seconds=time.time() - started)
    except Exception as err:  # the grader's own bug or a broken course file: not a grade, and the others go on
        log(f"[GRADER FAILURE] {traceback.format_exc()}")
        return Outcome(task, GRADER_FAILURE, reason=f"the grader's own error: {type(err).__name__}: {err}",
                       seconds=time.time() - started)
    results.execution_time = time.time() - started
    results.save(course.results_file(task.student, task.assignment))
    return Outcome(task, GRADED, results, seconds=results.execution_time)


def _grade(course, task, runner, log):
    settings = task.settings
    assignment = task.assignment
    layout = notebooks.layout(notebooks.read(course.source_notebook(assignment)))
    submitted = course.submitted_notebook(task.student, assignment)
    try:
        data, problem = notebooks.read_bytes(submitted), None
    except notebooks.NotebookError as err:
        data, problem = b"", err
    submission_hash = hashlib.sha256(data).hexdigest()
    seed, hidden_seed = grading_seeds(course.secret(), assignment, submission_hash, task.salt)
    provenance = {"submission_sha256": submission_hash, "assignment": assignment, "student": task.student,
                  "suite_version": suite_version(assignment), "seed": seed, "sandbox": task.level,
                  "budget": settings.budget_for(assignment),
                  "python": platform.python_version(), "tensorflow": _tensorflow_version()}
    if task.items is not None:
        provenance["only_items"] = sorted(task.items)
    try:
        if problem:
            raise problem
        answers = notebooks.answer_cells(notebooks.read(submitted, data))
    except notebooks.NotebookError as err:  # the student's notebook cannot be read: that is a grade (0)
        records, note = [], f"Your notebook could not be graded: {err}"
    else:
        finished = _run_suite(course, task, settings, layout, answers, (seed, hidden_seed), runner, log)
        records, note = [vars(r) for r in finished.records], None
        provenance.update(student_seconds=finished.student_seconds, student_starts=finished.student_starts,
                          student_timeouts=finished.student_timeouts)
    return SubmissionResults.from_records(layout.points, records, note, task.items, provenance=provenance)


def _run_suite(course, task, settings, layout, answers, seeds, runner, log):
    """The hidden suite on the answer cells, in a trusted process; returns its :class:`Finished` or raises
    :class:`GraderFailure`."""
    assignment = task.assignment
    cells = [{"grade_id": g, "source": s, "kind": "setup"} for g, s in layout.setup]
    cells += [{"grade_id": g, "source": answers[g], "kind": "answer"} for g in layout.answers if g in answers]
    if os.path.exists(project.harness(assignment)):
        with open(project.harness(assignment), encoding="utf-8") as f:
            cells.append({"grade_id": "harness", "source": f.read(), "kind": "harness"})
    with scratch.folder("rnnkit-grade-") as tmp:
        job = Job(assignment=assignment, cells=cells, missing=[g for g in layout.answers if g not in answers],
                  release=course.release_dir(assignment), level=task.level, seed=seeds[0], hidden_seed=seeds[1],
                  budget=settings.budget_for(assignment), records=os.path.join(tmp, "records.json"),
                  items=sorted(task.items) if task.items is not None else None, settings=settings)
        job_path = os.path.join(tmp, "job.json")
        job.write(job_path)
        code, output = runner(job_path)
        finished = Finished.read(job.records)
    records = finished.records if finished else []
    log(output + "".join(f"\n[grader error in {r.test}]\n{r.traceback}" for r in records if r.traceback)
        + "".join(f"\n[FLAGGED {r.test}]\n{r.instructor_note}" for r in records if r.instructor_note)
        + (f"\n[student output, last lines]\n{finished.student_output}" if finished else ""))
    if finished is None:
        raise GraderFailure(f"the grading process ended before the hidden suite finished ({describe_exit(code)})")
    if code not in (0, 1):  # 0: every test passed, 1: some failed; anything else is pytest's own trouble
        raise GraderFailure(f"the hidden suite ended with {describe_exit(code)}")
    errors = [r.test for r in records if r.status == GRADER_ERROR]
    if errors:
        raise GraderFailure(f"{len(errors)} hidden test(s) raised an error of the grader's own: {', '.join(errors)}")
    return finished


def describe_exit(code):
    """A process's end in words: ``code`` is an exit code, minus a signal number, or None (never ended)."""
    if code is None:
        return "the process did not end in time, or its end was not seen"
    if code < 0:
        import signal
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _tensorflow_version():
    try:
        from importlib.metadata import version
        return version("tensorflow")
    except Exception:
        return "unknown"
