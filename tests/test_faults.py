"""Faults from outside, the way a machine has them: a process of the grader's killed with SIGKILL in the middle of a
grading (the kernel's OOM killer, an operator, a lost machine). Each ends with every submission holding the grade
it deserves — in the same run (a grader failure is retried) or after a plain rerun — and a line that says what
happened. The victims are found as a person would find them: by their command lines, under this process."""
import os
import signal
import threading
import time

import psutil
import pytest

from autograder.grading import batch
from autograder.settings import Settings
from autograder.simulation import submissions

A1 = "01_rnn_cell"


class Proc:
    """A snapshot of one process (processes come and go while we look: a vanished one is left out)."""

    def __init__(self, proc):
        with proc.oneshot():
            self.pid, self.ppid, self.name, self.cmdline = proc.pid, proc.ppid(), proc.name(), proc.cmdline()
        self.proc = proc

    def has(self, word):
        return any(word in part for part in self.cmdline)


def _descendants():
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            found.append(Proc(proc))
        except psutil.Error:
            pass
    return found


def warm_grader(procs):
    """The warm grader: ``python -m autograder.grading.grader`` whose parent is not one itself."""
    pids = {p.pid for p in procs if p.has("autograder.grading.grader")}
    return [p for p in procs if p.pid in pids and p.ppid not in pids]


def grading_child(procs):
    """A warm grader's forked child, which runs the hidden suite (same command line as its parent)."""
    pids = {p.pid for p in procs if p.has("autograder.grading.grader")}
    return [p for p in procs if p.pid in pids and p.ppid in pids]


def zygote(procs):
    """The zygote's Python inside the sandbox (its parent is bubblewrap, not another zygote)."""
    pids = {p.pid for p in procs if p.has("zygote.py") and "python" in p.name}   # not bubblewrap's own
    return [p for p in procs if p.pid in pids and p.ppid not in pids]


def student_worker(procs):
    """A student's process: a worker forked by the zygote, or a cold worker.py."""
    zygotes = {p.pid for p in zygote(procs)}
    return [p for p in procs if (p.ppid in zygotes and p.pid not in zygotes) or p.has("worker.py")]


def kill_once(find, killed, stop, settle=1.5, among=None, under_way=grading_child):
    """Kills the first process ``find`` picks among ours (``among``: another tree of processes) once a grading is
    under way (by default: a suite is running in a warm grader's child)."""
    among = among or _descendants
    while not stop.is_set():
        procs = among()
        victims = find(procs)
        if victims and under_way(procs):
            time.sleep(settle)  # well inside the grading
            victims = find(among())
            if victims:
                try:
                    victims[0].proc.send_signal(signal.SIGKILL)
                    killed.append(victims[0].pid)
                    return
                except psutil.Error:
                    pass
        time.sleep(0.05)


# In the act, not after a settle: a grading is under way once its suite has a student process (a warm A1 grading
# is over in about a second, so a kill after a fixed delay may land after it).
IN_THE_ACT = {"settle": 0, "under_way": lambda procs: grading_child(procs) and student_worker(procs)}


@pytest.fixture(scope="module")
def reference_class(built):
    course, answers = built
    for student in ("fault-a", "fault-c"):
        submissions.submit(course, student, A1, answers[A1])
    return course


@pytest.mark.parametrize("find", [warm_grader, grading_child, zygote, student_worker], ids=lambda f: f.__name__)
def test_a_process_killed_mid_grading_costs_no_grade(reference_class, level, find):
    if find in (zygote, student_worker) and level != "bubblewrap":
        pytest.skip("zygotes exist at the bubblewrap level only")
    course = reference_class
    killed, stop, lines = [], threading.Event(), []
    watcher = threading.Thread(target=kill_once, args=(find, killed, stop), kwargs=IN_THE_ACT)
    watcher.start()
    try:
        graded, failures = batch.autograde(course, [A1], ["fault-a"], level, force=True, jobs=1,
                                           echo=lines.append, settings=Settings(service=False))
    finally:
        stop.set()
        watcher.join()
    assert killed, f"no {find.__name__} process was seen while grading"
    assert failures == 0, lines
    results = graded[("fault-a", A1)]
    assert results.score == results.max_score, [t.message for t in results.tests if not t.passed]


def test_without_retries_a_killed_grading_is_not_kept_and_the_next_plain_run_grades_it(reference_class, level):
    course = reference_class
    killed, stop, lines = [], threading.Event(), []
    watcher = threading.Thread(target=kill_once, args=(grading_child, killed, stop), kwargs=IN_THE_ACT)
    watcher.start()
    try:
        graded, failures = batch.autograde(course, [A1], ["fault-c"], level, echo=lines.append,
                                           settings=Settings(retries=0, service=False))
    finally:
        stop.set()
        watcher.join()
    assert killed and failures == 1 and not graded
    assert "NOT GRADED, grader failure" in lines[-1] and "SIGKILL" in lines[-1]
    assert not os.path.exists(course.results_file("fault-c", A1))
    lines = []
    graded, failures = batch.autograde(course, [A1], ["fault-c"], level, echo=lines.append)  # no --force
    assert failures == 0 and "kept" not in lines[-1]
    assert graded[("fault-c", A1)].score == graded[("fault-c", A1)].max_score


def test_the_cold_path_grades_as_the_warm_one(built, level):
    """``warm = False`` (``RNNKIT_WARM=0``): a pytest process and a sandbox worker per submission, same grade."""
    course, answers = built
    from autograder.simulation import catalogue
    bug = catalogue.catalogue(A1)[0]
    submissions.submit(course, "cold-bug", A1, catalogue.apply(answers[A1], bug))
    results = {}
    for warm in (True, False):
        graded, failures = batch.autograde(course, [A1], ["cold-bug"], level, force=True, echo=lambda *_: None,
                                           settings=Settings(warm=warm, service=False))
        assert failures == 0
        results[warm] = graded[("cold-bug", A1)]
    assert results[False].items()[bug.cell].lost
    assert [(t.name, t.score) for t in results[True].tests] == [(t.name, t.score) for t in results[False].tests]


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_the_trusted_side_has_a_memory_limit(reference_class, level, warm):
    """The trusted process that grades one submission runs under ``trusted_memory_gb``: a grading that needs more
    (a flood of replies held, a huge value) ends as a grader failure of that submission, never the machine's."""
    graded, failures = batch.autograde(reference_class, [A1], ["fault-c"], level, force=True, echo=lambda *_: None,
                                       settings=Settings(trusted_memory_gb=0.05, warm=warm, service=False,
                                                         retries=0))
    assert failures == 1 and not graded
