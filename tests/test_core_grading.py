"""The grading core without TensorFlow or a sandbox (seconds): the typed unit, the outcome of one grading, the
scheduler's retries, the lock, the gradebook check and atomic writes. Runners here are fakes that stand for the
trusted grading process: they write what the plugin would write, or die the ways a process dies."""
import errno
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder import project, settings as settings_module
from autograder.course import Course
from autograder.errors import RnnkitError
from autograder.grading import batch, pool, submission
from autograder.grading.job import GRADED, GRADER_FAILURE, KEPT, Finished, Job, Outcome, Record, Task
from autograder.results import FAILED, GRADER_ERROR, PASSED, SubmissionResults, write_atomically
from autograder.settings import Settings
from tests.test_units import cell

A = "01_rnn_cell"


SOURCE = [cell("code", "setup", "import math", locked=True, grade=False, solution=False),
          cell("code", "f", "def f(x):\n    return x", solution=True, grade=False),
          cell("code", "test_f", "check(f)", grade=True, solution=False, locked=True, points=3),
          cell("code", "g", "def g(x):\n    return x", solution=True, grade=False),
          cell("code", "test_g", "check(g)", grade=True, solution=False, locked=True, points=2)]


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory):
    """A gradebook as nbgrader's generate_assignment leaves it (made once: nbgrader runs alembic to make one)."""
    from nbgrader.api import Gradebook
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with Gradebook(f"sqlite:///{path}") as gb:
        gb.update_or_create_assignment(A)
    return path


@pytest.fixture
def course(tmp_path, empty_gradebook):
    course = Course(str(tmp_path / "course"))
    for path in (course.source_notebook(A), os.path.join(course.release_dir(A), f"{A}.ipynb")):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(cells=SOURCE), path)
    shutil.copy(empty_gradebook, course.path("gradebook.db"))
    return course


def submit(course, student, source_of_f="def f(x):\n    return x"):
    cells = [nbformat.from_dict(dict(c)) for c in SOURCE]
    cells[1].source = source_of_f
    path = course.submitted_notebook(student, A)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


class Runner:
    """A stand-in for the trusted grading process: writes the plugin's Finished (every test passes unless the
    answer cell says FAIL) or dies as ``die`` says, and counts its calls."""

    def __init__(self, die=None):
        self.die, self.calls = die, []

    def __call__(self, job_path):
        job = Job.read(job_path)
        self.calls.append(job)
        if self.die:
            how = self.die(len(self.calls))
            if how == "killed":
                return -9, "killed"
            if how == "grader error":
                Finished([Record("test_f", "f", status=GRADER_ERROR, traceback="KeyError")]).write(job.records)
                return 1, ""
        answers = {c["grade_id"]: c["source"] for c in job.cells if c["kind"] == "answer"}
        status = {g: FAILED if "FAIL" in answers.get(g, "") else PASSED for g in ("f", "g")}
        Finished([Record("test_f", "f", doc="f works", status=status["f"], message="f is wrong"),
                  Record("test_g", "g", status=status["g"])]).write(job.records)
        return (1 if FAILED in status.values() else 0), "pytest output"


def task(course, student, **changes):
    return Task(course.root, student, A, "bubblewrap", **changes)


# -- one grading -------------------------------------------------------------------------------------------------
def test_a_grading_writes_results_and_a_second_one_keeps_them_without_running(course):
    submit(course, "ada", "def f(x):\n    return x  # FAIL")
    runner = Runner()
    first = submission.grade(task(course, "ada"), runner)
    assert first.status == GRADED and len(runner.calls) == 1
    results = SubmissionResults.load(course.results_file("ada", A))
    assert results.score == 2 and results.max_score == 5 and results.items()["f"].lost
    assert results.tests[0].name == "f: f" and results.tests[0].description == "f works"
    second = submission.grade(task(course, "ada"), runner)
    assert second.status == KEPT and len(runner.calls) == 1
    assert submission.grade(task(course, "ada", force=True), runner).status == GRADED and len(runner.calls) == 2


def test_the_job_carries_the_settings_seeds_and_cells_once(course):
    submit(course, "ada")
    runner = Runner()
    settings = Settings(call_timeout=7.0, budget=99.0)
    submission.grade(task(course, "ada", settings=settings), runner)
    job = runner.calls[0]
    assert job.settings == settings and job.budget == 99.0 and job.assignment == A
    assert [c["kind"] for c in job.cells] == ["setup", "answer", "answer", "harness"] and job.missing == []
    assert job.sandbox_limits().cpu_seconds == 99 * settings.threads + 60
    assert isinstance(job.seed, int) and job.seed != job.hidden_seed


@pytest.mark.parametrize("death", ["killed", "grader error"])
def test_a_grader_failure_is_an_outcome_never_a_grade(course, death):
    submit(course, "ada")
    outcome = submission.grade(task(course, "ada"), Runner(die=lambda n: death))
    assert outcome.status == GRADER_FAILURE and outcome.results is None
    assert ("SIGKILL" in outcome.reason) if death == "killed" else ("test_f" in outcome.reason)
    assert not os.path.exists(course.results_file("ada", A))          # nothing that could be kept as a grade
    assert "GRADER FAILURE" in open(course.log_file("ada", A)).read()  # the instructor's log says what happened


def test_the_graders_own_error_is_a_failure_that_names_it(course):
    submit(course, "ada")

    def broken(job_path):
        raise ValueError("a bug of the grader")
    outcome = submission.grade(task(course, "ada"), broken)
    assert outcome.status == GRADER_FAILURE and "ValueError: a bug of the grader" in outcome.reason
    assert not os.path.exists(course.results_file("ada", A))
    assert "Traceback" in open(course.log_file("ada", A)).read()


def test_a_malformed_secret_is_refused_in_one_line_before_grading(course, fake_runners, monkeypatch):
    submit(course, "ada")
    monkeypatch.setenv("RNNKIT_SECRET", "prof-secret")
    with pytest.raises(RnnkitError, match="RNNKIT_SECRET must hold .* hex digits"):
        run(course, ["ada"])
    assert fake_runners["runner"].calls == [] and not os.path.exists(course.results_file("ada", A))


def test_an_unreadable_or_partial_finished_file_is_a_failure(course):
    submit(course, "ada")

    def truncated(job_path):
        job = Job.read(job_path)
        with open(job.records, "w") as f:
            f.write('{"records": [{"test": "t"')
        return 0, ""
    assert submission.grade(task(course, "ada"), truncated).status == GRADER_FAILURE
    assert submission.grade(task(course, "ada"), lambda job_path: (5, "no tests ran")).status == GRADER_FAILURE


def test_typed_units_survive_every_hop():
    settings = Settings(memory_gb=3.0, warm=False)
    t = Task("/c", "ada", A, "unshare", force=True, items=("f",), salt="2", settings=settings)
    assert Task.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    outcome = Outcome(t, GRADER_FAILURE, reason="killed", seconds=2.0)
    back = Outcome.from_dict(json.loads(json.dumps(outcome.to_dict())))
    assert back == outcome and back.failed and back.task.settings.memory_gb == 3.0


# -- many gradings -------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_runners(monkeypatch):
    """Every local runner is one shared fake (the pool's warm graders are not started)."""
    holder = {"runner": Runner()}
    monkeypatch.setattr(pool, "run_cold", lambda job_path: holder["runner"](job_path))
    return holder


def run(course, students, **kwargs):
    lines = []
    kwargs.setdefault("settings", Settings(warm=False))
    graded, failures = batch.autograde(course, [A], students, "bubblewrap", echo=lines.append, **kwargs)
    return graded, failures, lines


def test_a_grader_failure_is_retried_within_the_run(course, fake_runners):
    for student in ("ada", "bob"):
        submit(course, student)
    fake_runners["runner"] = Runner(die=lambda n: "killed" if n == 1 else None)  # the first grading is killed
    graded, failures, lines = run(course, ["ada", "bob"], jobs=1)
    assert failures == 0 and len(graded) == 2
    assert all(r.score == 5 for r in graded.values())
    assert sum("trying again" in line for line in lines) == 1


def test_a_failure_that_persists_is_counted_not_kept_and_graded_by_the_next_plain_run(course, fake_runners):
    submit(course, "ada")
    submit(course, "bob")
    fake_runners["runner"] = Runner(die=lambda n: "killed")
    graded, failures, lines = run(course, ["ada", "bob"])
    assert failures == 2 and graded == {}
    assert sum("NOT GRADED, grader failure" in line for line in lines) == 2
    assert not os.path.exists(course.results_file("ada", A))
    fake_runners["runner"] = Runner()                  # the machine is healthy again: no --force needed
    graded, failures, lines = run(course, ["ada", "bob"])
    assert failures == 0 and all(r.score == 5 for r in graded.values()), lines


def test_a_failed_regrade_keeps_the_earlier_grade_of_the_same_submission(course, fake_runners):
    submit(course, "ada")
    run(course, ["ada"])
    before = open(course.results_file("ada", A)).read()
    fake_runners["runner"] = Runner(die=lambda n: "killed")
    graded, failures, lines = run(course, ["ada"], force=True)
    assert failures == 1 and "NOT REGRADED" in lines[-1] and "5 / 5" in lines[-1]
    assert open(course.results_file("ada", A)).read() == before


def test_an_older_submissions_grade_leaves_the_feedback_folder_when_the_new_one_fails(course, fake_runners):
    submit(course, "ada")
    run(course, ["ada"])
    submit(course, "ada", "def f(x):\n    return x + 0  # resubmitted")
    fake_runners["runner"] = Runner(die=lambda n: "killed")
    _, failures, _ = run(course, ["ada"])
    assert failures == 1 and not os.path.exists(course.results_file("ada", A))
    assert os.path.exists(course.log_file("ada", A) + ".previous-results.json")


def test_a_damaged_results_file_is_said_and_graded_again(course, fake_runners):
    submit(course, "ada")
    run(course, ["ada"])
    with open(course.results_file("ada", A), "r+") as f:
        f.truncate(40)
    graded, failures, lines = run(course, ["ada"])
    assert failures == 0 and graded[("ada", A)].score == 5
    assert any("unreadable" in line for line in lines) and len(fake_runners["runner"].calls) == 2


def test_a_bug_in_the_scheduler_costs_one_submission_only(course, fake_runners, monkeypatch):
    for student in ("ada", "bob"):
        submit(course, student)
    real = submission.grade

    def grade(task, runner):
        if task.student == "ada":
            raise RuntimeError("a bug")
        return real(task, runner)
    monkeypatch.setattr(submission, "grade", grade)
    graded, failures, lines = run(course, ["ada", "bob"], settings=Settings(warm=False, retries=0))
    assert failures == 1 and list(graded) == [("bob", A)]
    assert any("ada" in line and "RuntimeError: a bug" in line for line in lines)


def test_a_gradebook_that_cannot_be_written_loses_nothing_and_the_next_run_records_it(course, fake_runners,
                                                                                    monkeypatch):
    from autograder.grading import gradebook
    submit(course, "ada")
    real = gradebook.record

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(gradebook, "record", full_disk)
    graded, failures, lines = run(course, ["ada"])
    assert failures == 1 and "NOT RECORDED" in lines[-1] and "No space" in lines[-1]
    assert SubmissionResults.load(course.results_file("ada", A)).score == 5   # the grading itself is kept
    monkeypatch.setattr(gradebook, "record", real)
    graded, failures, lines = run(course, ["ada"])
    assert failures == 0 and "unchanged, kept" in lines[-1] and len(fake_runners["runner"].calls) == 1
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url) as gb:
        assert gb.find_submission(A, "ada")                               # recorded by the plain rerun


FAKE_WARM_GRADER = """
import json, sys
for number, line in enumerate(sys.stdin):
    if number == 1:
        sys.exit(-9 % 256)          # dies on its second job, as a killed process would
    request = json.loads(line)
    print(json.dumps({"type": "JobAnswer", "id": request["id"], "code": 0, "output": "graded " + request["job"]}),
          flush=True)
"""


def test_a_warm_grader_that_dies_fails_one_grading_and_the_next_starts_a_new_one(monkeypatch):
    started = []

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", FAKE_WARM_GRADER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        started.append(self.proc.pid)
    monkeypatch.setattr(pool.WarmGrader, "_start", start)
    grader = pool.WarmGrader()
    assert grader.run("/job/1") == (0, "graded /job/1")
    code, output = grader.run("/job/2")
    assert code == 247 and "died while grading" in output and grader.proc is None
    assert grader.run("/job/3") == (0, "graded /job/3") and len(started) == 2
    grader.close()


# -- the course: a lock, the gradebook ------------------------------------------------------------------------------
def test_two_runs_on_one_course_do_not_overlap(course):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from autograder.course import Course; from autograder.grading import batch\n"
        f"with batch.exclusive(Course({course.root!r})):\n    print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True, cwd=project.ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RnnkitError, match=f"pid {holder.pid}"):
            with batch.exclusive(course):
                pass
    finally:
        holder.kill()
        holder.wait()
    with batch.exclusive(course):  # a killed holder leaves no stale lock
        pass


def test_a_damaged_gradebook_stops_the_run_before_grading_and_says_how_to_restore_it(course, fake_runners):
    submit(course, "ada")
    import sqlite3
    db = sqlite3.connect(course.path("gradebook.db"))
    db.execute("create table t (x)")
    db.executemany("insert into t values (?)", [("x" * 500,)] * 200)
    db.commit()
    db.close()
    batch.check_gradebook(course)                    # healthy: backed up
    assert os.path.getsize(course.path("gradebook.db.bak")) > 50000
    with open(course.path("gradebook.db"), "r+b") as f:
        f.seek(30000)
        f.write(b"\xff" * 8000)                      # a torn write
    with pytest.raises(RnnkitError, match="damaged.*gradebook.db.bak"):
        run(course, ["ada"])
    assert not fake_runners["runner"].calls          # nothing graded into a broken gradebook
    open(course.path("gradebook.db"), "w").close()   # truncated to nothing
    with pytest.raises(RnnkitError, match="is empty, but its backup"):
        batch.check_gradebook(course)


def test_atomic_writes_leave_the_old_file_whole_when_the_disk_is_full(tmp_path, monkeypatch):
    path = str(tmp_path / "results.json")
    write_atomically(path, "old")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, "new" * 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert open(path).read() == "old" and os.listdir(tmp_path) == ["results.json"]


# -- settings ------------------------------------------------------------------------------------------------------
def test_settings_come_from_nbgrader_config_and_the_environment_wins(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Rnnkit.call_timeout = 30\n"
                                                 "c.Rnnkit.warm = False\nc.CourseDirectory.course_id = 'x'\n")
    assert settings_module.load(str(tmp_path), environ={}) == Settings(call_timeout=30.0, warm=False)
    got = settings_module.load(str(tmp_path), environ={"RNNKIT_CALL_TIMEOUT": "12", "RNNKIT_WARM": "1"})
    assert got.call_timeout == 12.0 and got.warm is True
    assert settings_module.load(None, environ={}) == Settings()
    with pytest.raises(RnnkitError, match="RNNKIT_MEMORY_GB: 'lots' is not a float"):
        settings_module.load(str(tmp_path), environ={"RNNKIT_MEMORY_GB": "lots"})
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Rnnkit.call_timout = 30\n")
    with pytest.raises(RnnkitError, match="call_timout is not a setting"):
        settings_module.load(str(tmp_path), environ={})


def test_the_readme_lists_every_setting():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    assert settings_module.table() in readme


def test_the_service_answers_its_own_error_instead_of_hanging_up(tmp_path, course):
    """A service whose grading raises tells the client why (a grader failure with the reason), so the run's line
    and log say what went wrong instead of 'the grading service was lost'."""
    import socket
    from autograder.grading import service
    from autograder.sandbox.inside import messages as m
    path = str(tmp_path / "s.sock")
    server = service.Service(path, "k", Settings(warm=False))
    server.pool.grade = lambda task: (_ for _ in ()).throw(ValueError("the service's bug"))
    mine, theirs = socket.socketpair()
    mine.sendall(m.encode_line(m.GradeTask("k", task(course, "ada").to_dict())))
    server._handle(theirs)
    reply = m.decode(mine.makefile("rb").readline(), m.Graded)
    outcome = Outcome.from_dict(reply.outcome)
    assert outcome.status == GRADER_FAILURE and "ValueError: the service's bug" in outcome.reason
    server.listener.close()


def test_a_stopped_service_leaves_its_successors_socket_alone(tmp_path, course):
    """A client stops an old service and starts a new one on the same path at once: the old one, ending after
    that, must not remove the new one's socket (it did, on a loaded machine, and every later command started yet
    another service)."""
    from autograder.grading import service
    path = str(tmp_path / "s.sock")
    old = service.Service(path, "old", Settings(warm=False))
    os.unlink(path)                                                  # what Client._start does before starting
    new = service.Service(path, "new", Settings(warm=False))
    old.done.set()
    old.serve()
    assert os.path.exists(path)
    new.done.set()
    new.serve()
    assert not os.path.exists(path)
