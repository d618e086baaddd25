"""The grading service, one per instructor account: a second command is graded by the same warm processes (no
TensorFlow imported again), yet a vandal graded by one command leaves nothing for the next submission; several
courses share it within its memory bound; it cannot be impersonated (a folder or socket another user prepared is
refused in one line and the command still grades; both ends check the peer's uid); a command that fails before
grading starts nothing; it ends when idle, when its courses are gone, on --stop and on SIGTERM."""
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import pytest
from nbgrader.api import Gradebook

from autograder import project
from autograder.course import Course
from autograder.grading import batch, client, service
from autograder.sandbox.inside import messages as m
from autograder.settings import Settings
from autograder.simulation import submissions
from tests.test_faults import Proc, grading_child, kill_once, student_worker, zygote
from tests.test_warm import VANDAL

A1 = "01_rnn_cell"


def services():
    report = client.status()
    return [Proc(psutil.Process(report.pid))] if report else []


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
    return [p for p in service_tree() if p.has("autograder.grading.grader") and p.ppid in ours]


def stop_and_wait():
    """Stops this account's service and waits until its processes are gone (a new one must not race them)."""
    tree = [p.proc for p in service_tree()]
    client.stop()
    psutil.wait_procs(tree, timeout=60)


def grade(course, students, level, lines=None, **settings):
    lines = [] if lines is None else lines
    settings = Settings(service=True, **settings)
    graded, failures = batch.autograde(course, [A1], students, level, force=True, echo=lines.append,
                                       settings=settings, grader=client.Client(settings, echo=lines.append))
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
    yield course
    stop_and_wait()


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


def command(course, level, *args, env=None, importtime=True):
    """``rnnkit autograde`` as an instructor (or formgrader's button) runs it, with the service on."""
    env = dict(os.environ, RNNKIT_SERVICE="1", **(env or {}))
    return subprocess.run([sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "autograder.cli",
                           "autograde", *args, "--course-dir", course.root, "--sandbox", level], env=env,
                          capture_output=True, text=True, timeout=600, cwd=project.ROOT)


def test_the_whole_command_runs_in_the_service_and_its_own_process_stays_light(course, level):
    """The command's process imports neither nbgrader nor TensorFlow: the service grades and records; its lines
    and exit status reach the command; a refusal is still one line with exit 2."""
    for _ in range(2):
        run = command(course, level, A1, "--student", "svc-ref", "--force")
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        assert "svc-ref/01_rnn_cell: 15 / 17" in run.stdout and "autograded 1 of 1" in run.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in run.stderr.splitlines() if "|" in line}
    assert "autograder" in imported and not imported & {"nbgrader", "nbformat", "tensorflow", "sqlalchemy"}
    with Gradebook(course.db_url) as gb:
        assert gb.find_submission(A1, "svc-ref").score == 15


def test_a_command_that_fails_before_grading_starts_no_service(course, level, tmp_path):
    stop_and_wait()
    for args in (["--course-dir", str(tmp_path / "nonexistent")], [A1, "--course-dir", str(tmp_path)],
                 ["09_missing", "--course-dir", course.root]):
        run = subprocess.run([sys.executable, "-m", "autograder.cli", "autograde", *args],
                             env=dict(os.environ, RNNKIT_SERVICE="1"), capture_output=True, text=True,
                             timeout=120, cwd=project.ROOT)
        assert run.returncode == 2 and run.stderr.count("\n") == 1 and "built in" in run.stderr, run.stderr
        assert client.status() is None
    assert not os.path.exists(str(tmp_path / "nonexistent"))


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
    assert "grading in this process instead" in run.stdout and "svc-ref/01_rnn_cell: 15 / 17" in run.stdout


def test_a_courses_settings_travel_with_it_and_other_service_settings_get_a_service_of_their_own(course, level):
    grade(course, ["svc-ref"], level)
    before = {p.pid for p in services()}
    assert len(before) == 1
    grade(course, ["svc-ref"], level, call_timeout=90.0)       # a course's own setting: the same service
    assert {p.pid for p in services()} == before
    grade(course, ["svc-ref"], level, service_idle=600.0)      # the service's own: a new one
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
    settings = Settings(service=True, retries=0)
    graded, failures = batch.autograde(course, [A1], ["svc-stuck", "svc-ref"], level, force=True, jobs=2,
                                       echo=echo, settings=settings, grader=client.Client(settings))
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


def course_copy(course, where):
    """A course folder of its own with the same built assignment and the reference's submission."""
    shutil.copytree(course.root, where, ignore=shutil.ignore_patterns("autograded", "feedback", "grader_logs",
                                                                     ".rnnkit-autograde.lock"))
    return Course(where)


def test_several_courses_share_one_service_within_its_memory_bound(course, level, tmp_path):
    """Four course folders graded one after another: one service, one warm grader; what it keeps warm stays
    under the bound (the least recently used zygotes go), and every grade is right."""
    if level != "bubblewrap":
        pytest.skip("zygotes (what the bound evicts) run at the bubblewrap level only")
    stop_and_wait()
    bound = 1.6   # GB: a warm grader (about 0.7) and one zygote (about 0.6), not four zygotes
    courses = [course_copy(course, str(tmp_path / f"course{i}")) for i in range(4)]
    peaks = []
    for other in courses:
        graded = grade(other, ["svc-ref"], level, warm_memory_gb=bound)[("svc-ref", A1)]
        assert graded.score == graded.max_score
        time.sleep(1)   # the warm grader evicts once the grading is answered
        peaks.append(client.status().memory_mb)
        assert len(warm_graders()) == 1 and len(services()) == 1
        assert len(zygote(service_tree())) == 1
    report = client.status()
    assert set(report.courses) == {c.root for c in courses}
    resident_warm = sum(p.proc.memory_info().rss for p in service_tree() if not p.has("autograder.grading.service"))
    print(f"resident after 4 courses: service tree {report.memory_mb:.0f} MB, warm part "
          f"{resident_warm / 2**20:.0f} MB; after each course {peaks}")
    assert resident_warm <= bound * 2**30 * 1.1


def test_a_service_whose_courses_are_gone_ends_and_sigterm_removes_its_socket(course, level, tmp_path):
    stop_and_wait()
    doomed = course_copy(course, str(tmp_path / "doomed"))
    grade(doomed, ["svc-ref"], level)
    (pid,) = {p.pid for p in services()}
    shutil.rmtree(doomed.root)
    assert psutil.wait_procs([psutil.Process(pid)], timeout=60)[0], "the service outlived its course"
    path = client.socket_path()
    assert not os.path.exists(path)
    grade(course, ["svc-ref"], level)
    (pid,) = {p.pid for p in services()}
    os.kill(pid, signal.SIGTERM)
    assert psutil.wait_procs([psutil.Process(pid)], timeout=60)[0]
    assert not os.path.exists(path) and client.status() is None


def test_rnnkit_service_shows_what_runs_and_stops_it(course, level):
    grade(course, ["svc-ref"], level)

    def rnnkit_service(*args):
        return subprocess.run([sys.executable, "-m", "autograder.cli", "service", *args], capture_output=True,
                              text=True, timeout=120, cwd=project.ROOT)
    shown = rnnkit_service()
    assert shown.returncode == 0 and f"{course.root}: last graded" in shown.stdout and "MB resident" in shown.stdout
    assert "idle for" in shown.stdout, shown.stdout
    stopped = rnnkit_service("--stop")
    assert stopped.returncode == 0 and "stopped the grading service" in stopped.stdout
    assert client.status() is None
    assert "no grading service runs" in rnnkit_service().stdout


def test_an_idle_service_ends_by_itself(course, level):
    stop_and_wait()
    grade(course, ["svc-ref"], level, service_idle=10.0)   # long enough to be seen alive on a loaded machine
    tree = [p.proc for p in service_tree()]
    assert services() and len(tree) >= 2
    deadline = time.monotonic() + 60
    while services() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not services()
    gone, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, alive   # its warm graders and zygotes went with it
    assert not os.path.exists(client.socket_path())


# -- impersonation --------------------------------------------------------------------------------------------
def unix_user(name):
    """Makes the real Unix user ``name`` afresh (other work on the machine may hold /etc/passwd's lock a moment)."""
    subprocess.run(["userdel", "-r", name], capture_output=True)
    for _ in range(60):
        made = subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], capture_output=True, text=True)
        if made.returncode == 0 or "already exists" in made.stderr:
            return pwd.getpwnam(name)
        time.sleep(1)
    raise RuntimeError(f"useradd {name}: {made.stderr}")


def remove_user(name):
    for _ in range(60):
        if subprocess.run(["userdel", "-r", name], capture_output=True).returncode in (0, 6, 12):
            return   # removed, or no such user, or no home to remove
        time.sleep(1)


@pytest.fixture(scope="module")
def squatter():
    """A real Unix user who is not the instructor (removed at the end)."""
    yield unix_user("rks_squat")
    remove_user("rks_squat")


FAKE_SERVICE = """
import os, socket, sys
os.makedirs(sys.argv[1], mode=0o777, exist_ok=True)
os.chmod(sys.argv[1], 0o777)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(os.path.join(sys.argv[1], "service.sock"))
os.chmod(os.path.join(sys.argv[1], "service.sock"), 0o777)
listener.listen(8)
print("listening", flush=True)
while True:
    conn, _ = listener.accept()
    data = conn.recv(1 << 16)
    print("got", len(data), flush=True)
    conn.sendall(b'{"type": "Ready", "pid": 1}\\n')
"""


def shared_folder(mode):
    """A folder another user can reach (in the temporary folder itself; the test's own is private)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="rks-shared-"))
    os.chmod(path, mode)
    return path


def as_user(user, argv):
    """Runs ``argv`` as ``user`` (setpriv drops root's uid, gid and groups before exec)."""
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--", *argv]


def test_a_folder_and_socket_another_user_prepared_are_refused_and_the_command_grades(course, level, squatter,
                                                                                       tmp_path):
    """A student makes ``<tmp>/rnnkit-0/`` and listens there before the instructor's first command: the command
    names the folder and its owner in one line, sends the squatter nothing, and grades right with a service in a
    private place of its own."""
    stop_and_wait()
    shared_tmp = shared_folder(0o1777)    # like /tmp
    squat = shared_tmp / f"rnnkit-{os.getuid()}"
    fake = subprocess.Popen(as_user(squatter, ["/usr/bin/python3", "-c", FAKE_SERVICE, str(squat)]),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout.readline().strip() == "listening"
        run = command(course, level, A1, "--student", "svc-ref", "--force", env={"TMPDIR": str(shared_tmp)},
                      importtime=False)
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        refusal = [line for line in run.stdout.splitlines() if str(squat) in line]
        assert refusal == [f"rnnkit: {squat} was made by {squatter.pw_name} (uid {squatter.pw_uid}), not by you: "
                           "not used"], run.stdout
        assert "svc-ref/01_rnn_cell: 15 / 17" in run.stdout
        assert os.lstat(squat).st_uid == squatter.pw_uid and (os.lstat(squat).st_mode & 0o777) == 0o777  # untouched
    finally:
        fake.kill()
        got = fake.communicate()[0]
    assert "got" not in got, got     # not a byte was sent to the squatter
    with Gradebook(course.db_url) as gb:
        assert gb.find_submission(A1, "svc-ref").score == 15
    env = dict(os.environ, TMPDIR=str(shared_tmp))
    subprocess.run([sys.executable, "-m", "autograder.cli", "service", "--stop"], env=env, cwd=project.ROOT,
                   capture_output=True, timeout=120)
    shutil.rmtree(shared_tmp)


# Runs a command as another user in a private mount namespace where this interpreter (under /root, mode 0700, on
# these machines) is reachable: a tmpfs of mode 755 over /root holding only a bind of the interpreter's folder; and
# where the folders in $BINDS ("source:target ...") are mounted over others.
AS_USER = """set -e
uid=$1; gid=$2; shift 2
mount --make-rprivate /
if [ -n "$PYROOT" ]; then
  view=$(mktemp -d)
  mount --bind "$PYROOT" "$view"
  mount -t tmpfs -o mode=755,size=1m tmpfs /root
  mkdir -p "$PYROOT"
  mount --bind "$view" "$PYROOT"
fi
for pair in $BINDS; do mount --bind "${pair%%:*}" "${pair#*:}"; done
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
"""


def as_instructor(user, argv, binds=()):
    """``argv`` run as ``user`` (a non-root instructor), with this project's interpreter; ``binds``: ``(source,
    target)`` folders mounted over others in that view (the instructor's own copies of the checkout's private
    folders, which ``rnnkit build`` makes 0700: an instructor grades from a checkout of their own)."""
    prefix = os.path.realpath(sys.base_prefix)
    pyroot = "/".join(prefix.split("/")[:3]) if prefix.startswith("/root/") else ""
    pairs = " ".join(f"{source}:{target}" for source, target in binds)
    return ["unshare", "-m", "env", f"PYROOT={pyroot}", f"BINDS={pairs}", "sh", "-c", AS_USER, "sh",
            str(user.pw_uid), str(user.pw_gid), *argv]


@pytest.fixture(scope="module")
def instructor():
    """A non-root instructor (a real Unix user, removed at the end)."""
    yield unix_user("rks_prof")
    remove_user("rks_prof")


def test_the_squat_against_a_non_root_instructor_is_refused_and_the_command_grades(course, level, squatter,
                                                                                   instructor):
    """The same squat against an instructor who is not root (who could neither use nor remove the squatter's
    folder): one line naming it, no traceback, the command grades with a service in ~/.cache/rnnkit."""
    stop_and_wait()
    shared_tmp = shared_folder(0o1777)
    squat = shared_tmp / f"rnnkit-{instructor.pw_uid}"
    work = shared_folder(0o755)
    mine = course_copy(course, str(work / "course"))
    home = work / "home"
    home.mkdir()
    private = []   # the instructor's own copies of the checkout's 0700 folders (rnnkit build makes them so)
    for folder in (project.SOLUTIONS, project.HIDDEN):
        copy = work / "checkout" / os.path.relpath(folder, project.ROOT)
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
        private.append((str(copy), folder))
    for path in [home, *pathlib.Path(mine.root).rglob("*"), pathlib.Path(mine.root),
                 *(p for copy, _ in private for p in [pathlib.Path(copy), *pathlib.Path(copy).rglob("*")])]:
        os.lchown(path, instructor.pw_uid, instructor.pw_gid)
    env = dict(os.environ, HOME=str(home), TMPDIR=str(shared_tmp), RNNKIT_SERVICE="1",
               JUPYTER_CONFIG_DIR=str(home / ".jupyter"), JUPYTER_DATA_DIR=str(home / "jupyter-data"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    rnnkit = os.path.join(os.path.dirname(sys.executable), "rnnkit")
    fake = subprocess.Popen(as_user(squatter, ["/usr/bin/python3", "-c", FAKE_SERVICE, str(squat)]),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout.readline().strip() == "listening"
        run = subprocess.run(as_instructor(instructor, [rnnkit, "autograde", A1, "--student", "svc-ref", "--force",
                                                        "--course-dir", mine.root, "--sandbox", level],
                                           binds=private),
                             env=env, capture_output=True, text=True, timeout=900, cwd=str(home))
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stdout + run.stderr[-3000:]
        refusal = [line for line in run.stdout.splitlines() if str(squat) in line]
        assert refusal == [f"rnnkit: {squat} was made by {squatter.pw_name} (uid {squatter.pw_uid}), not by you: "
                           "not used"], run.stdout
        assert "svc-ref/01_rnn_cell: 15 / 17" in run.stdout and "grading in this process" not in run.stdout
        assert os.path.exists(home / ".cache" / "rnnkit" / "service.sock")
    finally:
        fake.kill()
        got = fake.communicate()[0]
        subprocess.run(as_instructor(instructor, [rnnkit, "service", "--stop"]), env=env, capture_output=True,
                       timeout=120, cwd=str(home))
    assert "got" not in got, got
    shutil.rmtree(shared_tmp)
    shutil.rmtree(work)


def test_both_ends_check_the_peers_uid(squatter, tmp_path):
    """A listener of another uid behind a socket file of ours is refused by the client (SO_PEERCRED, not the
    file's owner); a client of another uid gets nothing from the service, and cannot stop it."""
    folder = tmp_path / "ours"
    folder.mkdir(mode=0o700)
    path = str(folder / "service.sock")
    bound = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound.bind(path)                  # the file is ours; the listener will be the squatter's
    listener = subprocess.Popen(as_user(squatter, ["/usr/bin/python3", "-c", (
        "import socket, sys\ns = socket.socket(fileno=int(sys.argv[1]))\ns.listen(4)\nprint('listening', flush=True)\n"
        "conn, _ = s.accept()\nprint('got', len(conn.recv(100)), flush=True)\n"), str(bound.fileno())]),
        pass_fds=[bound.fileno()], stdout=subprocess.PIPE, text=True)
    bound.close()
    try:
        assert listener.stdout.readline().strip() == "listening"
        with pytest.raises(client.ServiceUnavailable, match=f"is served by {squatter.pw_name} .*not by you"):
            client.exchange(path, m.Hello("k"), m.Ready)
        assert "got 0" in listener.communicate(timeout=60)[0]   # it was hung up on without a byte
    finally:
        listener.kill()
        listener.wait()

    shared = shared_folder(0o755)
    server = service.Service(str(shared / "s.sock"), "k", Settings(warm=False))
    os.chmod(shared / "s.sock", 0o777)     # as if anyone could connect: the uid check alone must hold
    serving = threading.Thread(target=server.serve)
    serving.start()
    try:
        other = subprocess.run(as_user(squatter, ["/usr/bin/python3", "-c", (
            "import socket, sys\nc = socket.socket(socket.AF_UNIX)\nc.connect(sys.argv[1])\n"
            "try:\n    c.sendall(b'{\"type\": \"Stop\"}\\n')\n    print(repr(c.recv(100)))\n"
            "except OSError as err:\n    print('hung up:', err)\n"), str(shared / "s.sock")]),
            capture_output=True, text=True, timeout=60)
        assert other.stdout.strip() in ("b''", "hung up: [Errno 32] Broken pipe",
                                        "hung up: [Errno 104] Connection reset by peer"), other.stdout + other.stderr
        assert not server.done.is_set() and serving.is_alive()            # and not stopped
    finally:
        server.done.set()
        serving.join()
        shutil.rmtree(shared)


@pytest.mark.parametrize("forge", ["score", "score and maximum"])
def test_a_score_above_the_maximum_from_a_peer_is_a_grader_failure_never_a_grade(course, forge):
    """A grader that answers 6000 points for a test (a fake peer: the worst case, past every other check), even
    with a maximum raised to match, is not believed: the submission is a grader failure, nothing is recorded."""
    from autograder import notebooks
    from autograder.grading.job import GRADED, Outcome
    from autograder.results import SubmissionResults
    submissions.submit(course, "svc-forged", A1, {})
    points = notebooks.layout(notebooks.read(course.source_notebook(A1))).points

    class Forger:
        def grow(self, jobs):
            pass

        def grade(self, task):
            records = [{"test": f"test_{item}", "item": item, "weight": 1.0, "status": "passed"} for item in points]
            results = SubmissionResults.from_records(points, records, None)
            answer = Outcome(task, GRADED, results).to_dict()   # as a peer sends it
            answer["results"]["tests"][0]["score"] = 6000
            if forge == "score and maximum":
                answer["results"]["tests"][0]["max_score"] = 6000
            return Outcome.from_dict(answer)
    lines = []
    graded, failures = batch.autograde(course, [A1], ["svc-forged"], "none", force=True, echo=lines.append,
                                       settings=Settings(retries=0), grader=Forger())
    assert failures == 1 and graded == {}, lines
    assert any("NOT GRADED, grader failure" in line and "6000, above" in line for line in lines), lines
    assert not os.path.exists(course.results_file("svc-forged", A1))
    with Gradebook(course.db_url) as gb:
        assert all(s.score <= 15 for s in gb.assignment_submissions(A1))


PLANTED = "open({marker!r}, 'a').write(__name__ + '\\n')\n"


@pytest.mark.parametrize("service_on", ["1", "0"], ids=["service", "in-process"])
def test_no_trusted_process_imports_from_the_course_folder(course, level, tmp_path, service_on):
    """A ``csv.py`` and an ``autograder/__init__.py`` planted in the course folder, where the instructor runs the
    command: neither is imported by the command, the service, the warm grader or its gradings."""
    marker = str(tmp_path / "imported")
    planted = [os.path.join(course.root, "csv.py"), os.path.join(course.root, "autograder", "__init__.py")]
    os.makedirs(os.path.dirname(planted[1]), exist_ok=True)
    for path in planted:
        with open(path, "w") as f:
            f.write(PLANTED.format(marker=marker))
    try:
        stop_and_wait()
        run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "rnnkit"), "autograde", A1, "--student",
                              "svc-ref", "--force", "--course-dir", ".", "--sandbox", level],
                             env=dict(os.environ, RNNKIT_SERVICE=service_on), capture_output=True, text=True,
                             timeout=600, cwd=course.root)
        assert run.returncode == 0 and "svc-ref/01_rnn_cell: 15 / 17" in run.stdout, run.stdout + run.stderr[-3000:]
    finally:
        os.remove(planted[0])
        shutil.rmtree(os.path.dirname(planted[1]))
    assert not os.path.exists(marker), open(marker).read()
