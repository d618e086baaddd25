"""A neighbour costs nothing (issue 27, item 4): a submission graded beside one that forks as many busy loops as
its limits allow keeps every point, because each submission has its own CPU share (a cgroup) and its budget counts
its own CPU time (autograder/sandbox/cpu.py); and a submission that ran out of time by the wall clock beside another
grading is graded again alone, after the others, and that verdict is the one kept (autograder/grading/batch.py).

The budgets here are shrunk so that the unfair grader fails for certain: beside the hog, a correct submission's
process without a CPU share of its own gets a few thousandths of the cores, and its calls take tens of seconds of
wall clock. Checked by mutation (cgroup.Group.create without the ``cpu`` folder: CPU time still counted, no share):
on Assignment 1 the first correct submission lost 2 points in the first pass (rnn_cell_forward: 0.06 s of CPU
time in 30 s of wall clock), was graded again alone (15/15) and finished after the hog; this test failed."""
import json
import os

import pytest

from autograder.grading import batch
from autograder.sandbox import cgroup, cpu
from autograder.settings import Settings
from autograder.simulation import submissions

A1, A3 = "01_rnn_cell", "03_char_lm"
# At load, before any check: busy loops until the submission's process limit (group_processes) refuses more, then
# sleeps; its loops run until its own CPU time reaches the load timeout, and nothing of it can be graded.
HOG = '''
import subprocess, time
subprocess.Popen(["/bin/sh", "-c", "for i in $(seq 4096); do (while :; do :; done) & done; wait"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(10**6)
'''
# The hog's loops burn its load timeout (CPU seconds) at its share of the cores: several times what the correct
# submissions beside it need of theirs (Assignment 1: about 1.5 CPU-seconds in the sandbox and as many on the
# trusted side, 10 s of wall clock each on this loaded machine, the hog 130 s; Assignment 3: about 15 and 100 s, the
# hog about 300 s). With a wall-clock budget, or no CPU share of their own, the correct ones get a few thousandths of
# the cores while the hog runs and finish after it, if at all. One correct submission on Assignment 3 (its
# grading is long enough to start and end inside the hog's), two on Assignment 1 (the second is graded whole
# while the hog runs). A generous wall_factor: the hog's own load is stopped by its CPU time, not regraded alone.
NEIGHBOURS = {A1: (Settings(call_timeout=3.0, load_timeout=20.0, budget=60.0, wall_factor=10.0, service=False),
                   ("fair-1", "fair-2")),
              A3: (Settings(call_timeout=30.0, load_timeout=80.0, budget=300.0, wall_factor=10.0, service=False),
                   ("fair-1",))}


@pytest.fixture
def shared_cpu():
    kind, note = cgroup.cpu_status()
    if kind != "share":
        pytest.skip(f"this machine gives a submission no CPU share of its own ({note})")


@pytest.mark.parametrize("assignment", [A1, A3])
def test_a_correct_submission_beside_a_hog_keeps_every_point(built, level, shared_cpu, assignment):
    course, answers = built
    if assignment not in answers:
        pytest.skip(f"{assignment} is not built in this run (RNNKIT_TEST_ASSIGNMENTS)")
    reference = answers[assignment]
    settings, fair = NEIGHBOURS[assignment]
    first = next(iter(reference))
    class_ = {"hog": {**reference, first: HOG + reference[first]}, **{student: reference for student in fair}}
    for student, cells in class_.items():
        submissions.submit(course, student, assignment, cells)
    lines = []
    graded, failures = batch.autograde(course, [assignment], list(class_), level, force=True, jobs=2,
                                       echo=lines.append, settings=settings)
    assert failures == 0, lines
    hog = graded[("hog", assignment)]
    assert hog.score == 0 and all("answer cells" in t.message for t in hog.tests), lines  # its own time ran out
    done = [line.split("/")[0] for line in lines if " / " in line]
    assert done[-1] == "hog", lines                                   # the correct ones were graded while it ran
    for student in fair:
        results = graded[(student, assignment)]
        assert results.score == results.max_score, (student, [t.message for t in results.tests if t.message])
        assert results.provenance["student_timeouts"] == []                # not even once, before any regrade
        assert not any("regraded" in line for line in lines if line.startswith(student)), lines


def test_a_timeout_beside_another_grading_is_graded_again_alone_and_that_grade_kept(built, level, monkeypatch):
    """The first pass says a correct submission ran out of time by the wall clock (as if a neighbour had starved
    it; its grade made worse to tell the two apart); it is not recorded, but graded again alone after the others,
    and the alone grade is the one recorded, said in its line and kept on disk."""
    course, answers = built
    for student in ("late-1", "late-2"):
        submissions.submit(course, student, A1, answers[A1])
    real, passes = batch.outcomes, []

    def outcomes(grader, tasks, jobs):
        tasks = list(tasks)
        passes.append((sorted(t.student for t in tasks), jobs))
        for outcome in real(grader, tasks, jobs):
            if len(passes) == 1 and outcome.task.student == "late-1":
                starved = outcome.results.tests[-1]
                outcome.results.provenance["student_timeouts"] = [
                    {"item": starved.item, "by": "wall", "cpu": 0.1, "wall": 60.0}]
                starved.score = 0.0
            yield outcome
    monkeypatch.setattr(batch, "outcomes", outcomes)
    lines = []
    graded, failures = batch.autograde(course, [A1], ["late-1", "late-2"], level, force=True, jobs=2,
                                       echo=lines.append, settings=Settings(service=False))
    assert failures == 0 and passes == [(["late-1", "late-2"], 2), (["late-1"], 1)], passes
    results = graded[("late-1", A1)]
    assert results.score == results.max_score
    on_disk = json.load(open(course.results_file("late-1", A1)))
    assert on_disk["score"] == results.max_score and on_disk["provenance"]["student_timeouts"] == []
    assert os.path.exists(course.log_file("late-1", A1) + ".contended-results.json")
    line = next(line for line in lines if line.startswith("late-1/") and " / " in line)
    assert "regraded alone: this is the alone grade" in line, lines
    assert not any("regraded" in line for line in lines if line.startswith("late-2/")), lines


class _Group:
    """A control group whose CPU time the test sets."""
    cpu = 0.0

    def cpu_seconds(self):
        return self.cpu


def test_a_step_is_charged_its_cpu_time_or_its_wall_clock_over_the_factor(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(cpu.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(cpu, "CPUS", 2)
    group, budget = _Group(), cpu.Budget(10.0, wall_factor=3.0)
    step = budget.step(group, 4.0)
    group.cpu, now[0] = 2.0, 104.0                       # busy at half a core: its CPU time counts, not the clock
    assert step.used() == 2.0 and not step.over()
    group.cpu = 4.0
    assert step.over() and step.ended_by == "cpu"
    step.charge()
    assert budget.spent == 4.0 and budget.by_wall == 0.0
    step = budget.step(group, 4.0)
    now[0] += 6.0                                        # asleep: a third of its wall clock counts
    assert not step.over() and step.wait() == 2.0        # 2 cores could use its 4 s of CPU in 2 s: look again then
    now[0] += 6.0
    assert step.over() and step.ended_by == "wall"
    step.charge()
    assert budget.spent == 8.0 and budget.by_wall == 4.0
    step = budget.step(group, 4.0)                       # 2 s of budget left: the step is shortened to it
    assert step.by_budget and step.allowed == 2.0
    step = cpu.Budget(None, wall_factor=3.0).step(None, 4.0)   # no CPU counted here: the wall clock, as it is
    now[0] += 4.0
    assert step.over() and step.ended_by == "wall" and step.used() == 4.0
