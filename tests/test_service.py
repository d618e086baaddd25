"""The grading service that stays warm between commands: a second command is graded by the same warm processes
(no TensorFlow imported again), yet a vandal graded by one command leaves nothing for the next submission; a
client with other code or settings gets a service of its own; a service lost mid-grading costs no grade; an idle
service ends by itself."""
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
from nbgrader.api import Gradebook

from autograder.grading import batch, service
from autograder.settings import Settings
from autograder.simulation import submissions
from tests.test_faults import Proc, grading_child, kill_once, student_worker, zygote
from tests.test_warm import VANDAL

A1 = "01_rnn_cell"


class Watch:
    """The course's service process (a daemon, nobody's child: found through its socket) and its descendants."""
    course = None


def services():
    pid = service.pid(Watch.course.root)
    return [Proc(psutil.Process(pid))] if pid else []


def service_tree():
    found = []
    for root in services():
        for proc in [root.proc] + root.proc.children(recursive=True):
            try:
                found.append(Proc(proc))
            except psutil.Error:
                pass
    return found


def warm_graders():
    ours = {p.pid for p in services()}
    return [p for p in service_tree() if p.has("autograder.grading.pool") and p.ppid in ours]


def grade(course, students, level, lines=None, **settings):
    lines = [] if lines is None else lines
    graded, failures = batch.autograde(course, [A1], students, level, force=True, echo=lines.append,
                                       settings=Settings(service=True, **settings))
    assert failures == 0, lines
    return graded


SLEEPER = "import time\ntime.sleep(3600)\n"   # an answer cell that never ends: its grading stays under way


@pytest.fixture(scope="module")
def course(built):
    course, answers = built
    reference = answers[A1]
    first = next(iter(reference))
    submissions.submit(course, "svc-ref", A1, reference)
    submissions.submit(course, "svc-vandal", A1, {**reference, first: VANDAL + "\nvandal()\n" + reference[first]})
    submissions.submit(course, "svc-stuck", A1, {**reference, first: SLEEPER + reference[first]})
    Watch.course = course
    yield course
    service.stop(course.root)


def test_a_second_command_is_graded_warm_and_a_vandal_leaves_nothing_behind(course, level):
    first = grade(course, ["svc-ref"], level)[("svc-ref", A1)]
    pids = ({p.pid for p in services()}, {p.pid for p in warm_graders()})
    assert len(pids[0]) == 1 and len(pids[1]) == 1
    vandal = grade(course, ["svc-vandal"], level)[("svc-vandal", A1)]
    again = grade(course, ["svc-ref"], level)[("svc-ref", A1)]
    assert ({p.pid for p in services()}, {p.pid for p in warm_graders()}) == pids   # the same warm processes
    assert first.score == again.score == first.max_score
    assert [t.score for t in again.tests] == [t.score for t in first.tests]
    assert vandal.score == vandal.max_score   # the vandal's answers are the reference's too


# A warm A1 grading is over in about a second: kill soon after its suite starts, or the kill lands on an idle
# service after the command has returned (seen in CI) and proves nothing.
KILL_EARLY = {"among": service_tree, "settle": 0.2}


def command(course, level, *args):
    """``rnnkit autograde`` as an instructor (or formgrader's button) runs it, with the service on."""
    env = dict(os.environ, RNNKIT_SERVICE="1")
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "autograder.cli", "autograde", *args,
                           "--course-dir", course.root, "--sandbox", level], env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_whole_command_runs_in_the_service_and_its_own_process_stays_light(course, level):
    """The command's process imports neither nbgrader nor TensorFlow: the service grades and records; its lines
    and exit status reach the command; a refusal is still one line with exit 2."""
    for _ in range(2):
        run = command(course, level, A1, "--student", "svc-ref", "--force")
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        assert "svc-ref/01_rnn_cell: 15 / 15" in run.stdout and "autograded 1 of 1" in run.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in run.stderr.splitlines() if "|" in line}
    assert "autograder" in imported and not imported & {"nbgrader", "nbformat", "tensorflow", "sqlalchemy"}
    with Gradebook(course.db_url) as gb:
        assert gb.find_submission(A1, "svc-ref").score == 15
    refused = command(course, level, "09_missing")
    assert refused.returncode == 2 and "assignment '09_missing' is not built" in refused.stderr


def test_a_service_killed_during_a_command_leaves_the_command_to_grade(course, level):
    """The service dies while it runs the command: the command says so and grades in its own process."""
    killed, stop = [], threading.Event()
    watcher = threading.Thread(target=kill_once, args=(lambda procs: services(), killed, stop),
                               kwargs=KILL_EARLY)
    watcher.start()
    try:
        run = command(course, level, A1, "--student", "svc-ref", "--force")
    finally:
        stop.set()
        watcher.join()
    assert killed and run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "grading in this process instead" in run.stdout and "svc-ref/01_rnn_cell: 15 / 15" in run.stdout


def test_other_settings_get_a_service_of_their_own(course, level):
    grade(course, ["svc-ref"], level)
    before = {p.pid for p in services()}
    assert len(before) == 1
    grade(course, ["svc-ref"], level, call_timeout=90.0)
    after = {p.pid for p in services()}
    assert len(after) == 1 and after != before


def test_a_service_killed_mid_grading_costs_no_grade(course, level):
    killed, stop = [], threading.Event()
    watcher = threading.Thread(target=kill_once, args=(lambda procs: services(), killed, stop),
                               kwargs=KILL_EARLY)
    watcher.start()
    lines = []
    try:
        results = grade(course, ["svc-ref"], level, lines)[("svc-ref", A1)]
    finally:
        stop.set()
        watcher.join()
    assert killed and any("grading service was lost while grading" in line for line in lines), lines
    assert results.score == results.max_score


def test_an_idle_service_ends_by_itself(course, level):
    grade(course, ["svc-ref"], level, service_idle=10.0)   # long enough to be seen alive on a loaded machine
    tree = [p.proc for p in service_tree()]
    assert services() and len(tree) >= 2
    deadline = time.monotonic() + 60
    while services() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not services()
    gone, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, alive   # its warm graders and zygotes went with it
    assert not os.path.exists(service.socket_path(course.root))


def test_two_gradings_at_once_share_one_warm_grader_and_a_killed_one_fails_alone(course, level):
    """-j 2 is two forked children of ONE warm grader (and, at the bubblewrap level, one zygote). A submission whose
    answer cell never ends keeps its grading under way while the other one is graded, fully, by the same warm
    grader; then the stuck grading's child is killed: that submission alone is a grader failure (never a grade),
    its student worker goes with it, and the same warm grader grades the next submission."""
    seen = {}

    def echo(line):   # called as each grading ends: the reference's ends while the stuck one is under way
        if line.startswith("svc-ref/") and not seen:
            tree = service_tree()
            seen.update(graders={p.pid for p in warm_graders()}, children=grading_child(tree),
                        zygotes={p.pid for p in zygote(tree)}, workers=student_worker(tree))
            for child in seen["children"]:
                child.proc.send_signal(signal.SIGKILL)
        lines.append(line)
    lines = []
    graded, failures = batch.autograde(course, [A1], ["svc-stuck", "svc-ref"], level, force=True, jobs=2,
                                       echo=echo, settings=Settings(service=True, retries=0))
    assert seen, lines
    (grader,) = seen["graders"]                                     # one warm grader for both gradings
    assert [c.ppid for c in seen["children"]] == [grader], seen       # the stuck grading: its child, still there
    assert failures == 1 and ("svc-ref", A1) in graded and ("svc-stuck", A1) not in graded, lines
    assert graded[("svc-ref", A1)].score == graded[("svc-ref", A1)].max_score
    assert any(line.startswith("svc-stuck/") and "NOT GRADED, grader failure" in line and "SIGKILL" in line
               for line in lines), lines
    assert not os.path.exists(course.results_file("svc-stuck", A1))
    if level == "bubblewrap":
        assert len(seen["zygotes"]) == 1 and graded[("svc-ref", A1)].provenance["student_starts"][1] == 0
        # the killed grading's worker ends with its connection to the zygote (the sleeper would not end itself)
        gone, alive = psutil.wait_procs([w.proc for w in seen["workers"]], timeout=30)
        assert seen["workers"] and not alive, alive
    again = grade(course, ["svc-ref"], level, retries=0)[("svc-ref", A1)]
    assert {p.pid for p in warm_graders()} == {grader}               # the same warm grader, still serving
    assert again.score == again.max_score
