"""Grading many submissions: every submission of nbgrader's ``submitted/<student>/<assignment>/`` layout.

One run, in order: take the course's lock (one ``rnnkit autograde`` at a time per course: a second one says who
holds it and stops), check the gradebook and back it up, hand every submission as a
:class:`~autograder.grading.job.Task` to a grader (the one the caller passes down, such as the grading service's
warm :class:`~autograder.grading.pool.Pool`; else a pool of this run's own; or
:func:`autograder.grading.distributed.schedule` on a Dask cluster), ``jobs`` at a time, and record each
:class:`~autograder.grading.job.Outcome` as it comes back:

* graded or kept: the autograded notebook and the gradebook (a kept result is recorded again, so a gradebook that
  missed a write catches up);
* a grader failure (its process killed, the grader's own error): retried within the run (``Settings.retries``);
  if it fails again it is NOT a grade: the gradebook shows it as not graded, an earlier grade of the same
  submission stays as it was, the run's last line counts it, the exit status is 1, and the next run grades it
  again without ``--force``.

Results are written as each submission finishes, so an interrupted run loses nothing already graded, and the
next run skips what is graded and unchanged (``--force`` regrades).
"""
from concurrent.futures import ThreadPoolExecutor, as_completed
import contextlib
import dataclasses
import fcntl
import os
import sqlite3

from autograder import grades, notebooks, settings as settings_module
from autograder.errors import RnnkitError
from autograder.grading import distributed, gradebook, pool, submission
from autograder.grading.job import GRADED, GRADER_FAILURE, KEPT, Outcome, Task
from autograder.progress import Progress
from autograder.results import SubmissionResults


@contextlib.contextmanager
def exclusive(course):
    """One ``rnnkit autograde`` per course at a time (an advisory lock the kernel drops with its holder, so a
    killed run never leaves a stale lock)."""
    os.makedirs(course.root, exist_ok=True)
    fd = os.open(course.path(".rnnkit-autograde.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise RnnkitError(f"another `rnnkit autograde` is grading {course.root} (pid {holder}); wait for it to "
                              "finish, or stop it, then run again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def check_gradebook(course):
    """Refuses to grade into a damaged ``gradebook.db`` (one line saying what to do), then backs it up to
    ``gradebook.db.bak``, so that manual grades survive whatever happens to the database during the run."""
    path, backup = course.path("gradebook.db"), course.path("gradebook.db.bak")
    if not os.path.exists(path):
        return
    if os.path.getsize(path) == 0 and os.path.exists(backup) and os.path.getsize(backup) > 0:
        raise RnnkitError(f"{path} is empty, but its backup from the last run is not: restore it "
                          f"(cp {backup} {path}) and run again")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as err:
        verdict = str(err)
    if verdict != "ok":
        hint = f"restore its backup (cp {backup} {path})" if os.path.exists(backup) else "restore it from a backup"
        raise RnnkitError(f"{path} is damaged ({verdict}): {hint} and run again; every results.json is kept and "
                          "is recorded again")
    with contextlib.closing(sqlite3.connect(path)) as source, contextlib.closing(sqlite3.connect(backup)) as copy:
        source.backup(copy)


def tasks(course, assignments, students, level, force, items, salts, settings, echo):
    """The :class:`Task` of every submission to grade (a student named without a submission is said and skipped)."""
    todo = []
    for assignment in assignments:
        if not os.path.exists(course.source_notebook(assignment)):
            raise RnnkitError(f"assignment '{assignment}' is not built in {course.root}: run `rnnkit build` first")
        found = course.students(assignment)
        for student in students or found:
            if student not in found:
                echo(f"{student}/{assignment}: no submission in {course.path('submitted')}")
                continue
            results_file = course.results_file(student, assignment)
            if os.path.exists(results_file):
                try:
                    SubmissionResults.load(results_file)
                except (OSError, ValueError) as err:
                    echo(f"{student}/{assignment}: its results.json is unreadable ({err}); it is graded again")
            chosen = (items or {}).get(student)
            todo.append(Task(course.root, student, assignment, level, force,
                             tuple(chosen) if chosen is not None else None, (salts or {}).get(student, ""),
                             settings))
    return todo


def outcomes(grader, tasks, jobs):
    """Grades ``tasks`` with ``grader`` (``grade(task) -> Outcome`` and ``grow(jobs)``), ``jobs`` at a time; yields
    each :class:`Outcome` as it is ready. A bug of the grader's own costs its submission only."""
    tasks = list(tasks)
    if not tasks:
        return
    jobs = min(max(1, jobs), len(tasks))
    grader.grow(jobs)
    with ThreadPoolExecutor(max_workers=jobs) as threads:
        futures = {threads.submit(grader.grade, task): task for task in tasks}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as err:
                yield Outcome(futures[future], GRADER_FAILURE, reason=f"{type(err).__name__}: {err}")


def autograde(course, assignments, students=None, level="bubblewrap", force=False, jobs=1, echo=print,
              items=None, dask=None, salts=None, settings=None, dask_security=None, grader=None):
    """Grades the submissions; returns ``({(student, assignment): SubmissionResults}, failures)``: the graded and
    kept results, and how many submissions were NOT graded (grader failures, or results that could not be
    recorded).

    Never stops on one bad submission. ``jobs`` submissions are graded at once by ``grader``, or ``dask`` (a
    ``tls://`` scheduler address, or ``local``) sends one task per submission to a Dask cluster (``jobs`` workers
    for ``local``). ``items`` (``{student: [grade_id, ...]}``) grades some submissions in part; ``salts``
    (``{student: text}``) gives them other grader seeds (``rnnkit validate``). ``settings``: the course's
    (:func:`autograder.settings.load`) by default. ``grader``: who grades (a :class:`~autograder.grading.pool.Pool`
    or a :class:`~autograder.grading.client.Client`); by default a pool of this run's own, closed at its end.
    """
    settings = settings or settings_module.load(course.root)
    with exclusive(course):
        check_gradebook(course)
        course.secret()   # a malformed secret is refused in one line before anything is graded
        todo = tasks(course, assignments, students, level, force, items, salts, settings, echo)
        graded = {}

        def schedule(todo, jobs):
            if dask:
                return distributed.schedule(todo, dask, workers=max(1, jobs), security=dask_security)
            return outcomes(grader, todo, jobs)
        with contextlib.ExitStack() as stack, Progress(len(todo), "autograde", echo) as progress:
            if grader is None and not dask and todo:
                grader = stack.enter_context(pool.Pool(jobs, settings.warm))
            contended = []
            for attempt in range(settings.retries + 1):
                crowded = min(max(1, jobs), len(todo)) > 1
                retry = []
                for outcome in schedule(todo, jobs):
                    if outcome.failed and attempt < settings.retries:
                        echo(f"{_name(outcome)}: grader failure ({outcome.reason}); trying again")
                        retry.append(outcome.task)
                        continue
                    if crowded and neighbour_timeouts(outcome):
                        contended.append(outcome)   # recorded once it is graded alone, after the others
                        continue
                    results = _record(course, outcome, progress)
                    if results is not None:
                        graded[outcome.task.key] = results
                todo = retry
                if not todo:
                    break
            graded.update(_regrade_alone(course, contended, settings, schedule, progress, echo))
    return graded, progress.failures


def neighbour_timeouts(outcome):
    """The items of a graded outcome that ran out of time by the wall clock (a neighbour's doing, possibly: see
    :mod:`autograder.sandbox.cpu`); a timeout by the submission's own CPU time is its own, wherever it ran."""
    if outcome.status != GRADED:
        return []
    timeouts = outcome.results.provenance.get("student_timeouts") or []
    return sorted({str(t.get("item") or "the answer cells") for t in timeouts if t.get("by") == "wall"})


def _regrade_alone(course, contended, settings, schedule, progress, echo):
    """Grades again, one at a time and after all the others, the submissions that ran out of time by the wall clock
    beside another grading; the alone verdict is the one kept (a grader failure then is not a grade, and the
    contended grade is not kept either). Returns ``{key: SubmissionResults}`` of those recorded."""
    graded = {}
    for outcome in contended:
        items = ", ".join(neighbour_timeouts(outcome))
        echo(f"{_name(outcome)}: ran out of time beside another grading ({items}); grading it again alone")
        results_file = course.results_file(outcome.task.student, outcome.task.assignment)
        log = course.log_file(outcome.task.student, outcome.task.assignment)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        if os.path.exists(results_file):   # never kept in place of the alone verdict
            os.replace(results_file, log + ".contended-results.json")
        task, alone = dataclasses.replace(outcome.task, force=True), None
        for attempt in range(settings.retries + 1):
            alone = list(schedule([task], 1))[0]
            if not alone.failed or attempt == settings.retries:
                break
            echo(f"{_name(alone)}: grader failure ({alone.reason}); trying again")
        note = f"timed out beside another grading ({items}), regraded alone: this is the alone grade"
        results = _record(course, alone, progress, note=note)
        if results is not None:
            graded[alone.task.key] = results
    return graded


def _name(outcome):
    return f"{outcome.task.student}/{outcome.task.assignment}"


def _record(course, outcome, progress, note=""):
    """Writes one outcome into the course (autograded notebook, gradebook) and says it in one line (``note``: why it
    was graded as it was, if anything is to be said); returns its :class:`SubmissionResults`, or None if it is not a
    grade."""
    student, assignment = outcome.task.student, outcome.task.assignment
    log = course.log_file(student, assignment)
    results = None if outcome.failed else outcome.results
    wrong = results is not None and over_maximum(course, outcome.task.assignment, results)
    if wrong:
        outcome = Outcome(outcome.task, GRADER_FAILURE, reason=wrong, seconds=outcome.seconds)
    if outcome.failed:
        _not_graded(course, outcome, progress)
        return None
    try:
        notebook = gradebook.autograded_notebook(course, student, assignment, results)
        gradebook.record(course, student, assignment, results, notebook)
    except Exception as err:  # a full disk, a locked database: results.json is kept and recorded on the next run
        progress.done(f"{_name(outcome)}: graded ({results.score:g} / {results.max_score:g}) but NOT RECORDED in "
                      f"the gradebook: {type(err).__name__}: {err}; run `rnnkit autograde` again to record it",
                      failed=True)
        return None
    note = ("unchanged, kept" if outcome.status == KEPT else f"{outcome.seconds:.1f} s") + (f"; {note}" if note else "")
    if results.flagged:
        note += f"; FLAGGED for review ({', '.join(t.name for t in results.flagged)}): the reason is in {log}"
    progress.done(grades.summary_line(course, student, assignment, note, results.note))
    return results


def over_maximum(course, assignment, results):
    """Why ``results`` cannot be a grade, or None: a test scored above its maximum, an item above its points or
    the total above the assignment's, as the course's source notebook sets them. Every outcome passes here before
    it is recorded, whoever graded it."""
    points = notebooks.layout(notebooks.read(course.source_notebook(assignment))).points
    for test in results.tests:
        if test.score > test.max_score + EPSILON:
            return f"{test.name} scored {test.score:g}, above its maximum {test.max_score:g}"
    for item, got in results.items().items():
        if got.score > points.get(item, 0.0) + EPSILON:
            return f"item {item} scored {got.score:g}, above its {points.get(item, 0.0):g} point(s)"
    if results.score > sum(points.values()) + EPSILON:
        return f"a total of {results.score:g}, above the assignment's {sum(points.values()):g}"
    return None


EPSILON = 1e-6   # points are rounded (results.points): a sum may differ from the maximum in its last digits


def _not_graded(course, outcome, progress):
    """A grader failure is not a grade: an earlier grade of this very submission stays; otherwise the gradebook
    shows the submission as not graded and an older submission's results leave the feedback folder."""
    student, assignment, task = outcome.task.student, outcome.task.assignment, outcome.task
    earlier = submission.already_graded(course, student, assignment, task.level)
    if earlier is not None and over_maximum(course, assignment, earlier):
        earlier = None   # not a grade either: it leaves the feedback folder below
    where = f"the log is {course.log_file(student, assignment)}"
    if earlier is not None:
        progress.done(f"{_name(outcome)}: NOT REGRADED, grader failure ({outcome.reason}); its earlier grade "
                      f"{earlier.score:g} / {earlier.max_score:g} of this same submission is kept; {where}",
                      failed=True)
        return
    stale = course.results_file(student, assignment)
    if os.path.exists(stale):  # another submission's grade, or a damaged file: out of what feedback copies
        os.makedirs(os.path.dirname(course.log_file(student, assignment)), exist_ok=True)
        os.replace(stale, course.log_file(student, assignment) + ".previous-results.json")
    try:
        gradebook.record_not_graded(course, student, assignment, outcome.reason)
    except Exception as err:
        where += f"; the gradebook could not be marked ({type(err).__name__}: {err})"
    progress.done(f"{_name(outcome)}: NOT GRADED, grader failure, not the student's ({outcome.reason}); run "
                  f"`rnnkit autograde` again to grade it; {where}", failed=True)
