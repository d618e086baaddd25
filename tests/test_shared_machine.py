"""A shared machine whose students have shells: real Unix users share one exchange, as on a JupyterHub server.

One course per module: the instructor (root) builds and releases Assignment 1; rkt_alice submits the reference with
nbgrader's own submit run as her Unix user; rkt_bob does too, then sets his timestamp.txt and folder time back;
rkt_mallory submits as rkt_alice, and writes folders of her own into inbound/ by hand (links to the course's
source notebook, /etc/shadow, the secret and the gradebook, a FIFO, a dangling link, a 5 GB sparse file, odd
names, ids with escape sequences and look-alike separators); the instructor's own user plays three more students
(the demo's way) whose notebooks are malformed or made of millions of short lines. Then rnnkit collect, autograde
and feedback, and nbgrader's own autograde step.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import cli, collect as collecting, intake, nbgrader_autograde, notebooks, project, workflow
from autograder.course import Course
from autograder.nbgrader_students import Student
from autograder.simulation import submissions

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd"),
                                reason="makes Unix users: needs root")

A1 = "01_rnn_cell"
USERS = ("rkt_alice", "rkt_bob", "rkt_mallory")
ODD_NAMES = ["x+01_rnn_cell+notatime", "ev\x1b]0;pwned\x07il+01_rnn_cell+2026-12-07 10:00:00.000000 UTC+r1",
             "rkt_alice\u2215x+01_rnn_cell+2026-12-07 10:00:00.000000 UTC+r2"]
LINKS = {"shadow": "/etc/shadow", "secret": "{course}/.rnnkit-secret", "gradebook.db": "{course}/gradebook.db",
         "dangling": "/nonexistent/rkt", "other": "{exchange}/rnnkit/inbound"}

# Run as a student: this interpreter (under /root, which they cannot reach) imports nbgrader as root, then becomes
# the student (groups, gid, uid) before it touches anything, as runuser would; from then on every file it makes is
# the student's and every check of the kernel is made against the student.
AS_USER = """
import json, os, pwd, sys
from traitlets.config import Config
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeSubmit
spec = json.loads(sys.argv[1])
user = pwd.getpwnam(spec["user"])
os.setgroups([]); os.setgid(user.pw_gid); os.setuid(user.pw_uid)
os.environ["HOME"] = user.pw_dir
os.chdir(user.pw_dir)
def exchange(kind, student):
    config = Config()
    config.Exchange.root = spec["exchange"]
    config.Exchange.cache = os.path.join(user.pw_dir, ".cache-nbgrader")
    config.Exchange.assignment_dir = user.pw_dir
    config.CourseDirectory.course_id = "rnnkit"
    config.CourseDirectory.assignment_id = spec["assignment"]
    config.CourseDirectory.student_id = student
    cls = {"fetch": ExchangeFetchAssignment, "submit": ExchangeSubmit}[kind]
    cls(coursedir=CourseDirectory(config=config), authenticator=Authenticator(config=config), config=config).start()
exec(spec["code"])
"""


def as_user(user, exchange, code, check=True):
    proc = subprocess.run([sys.executable, "-c", AS_USER, json.dumps(dict(user=user, exchange=exchange,
                                                                          assignment=A1, code=code))],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def submit_as(user, exchange, notebook_text, student=None):
    """``nbgrader fetch_assignment`` and ``nbgrader submit`` as ``user`` (claiming ``student``)."""
    as_user(user, exchange, f"""
exchange("fetch", {user!r})
with open(os.path.join("{A1}", "{A1}.ipynb"), "w") as f:
    f.write({notebook_text!r})
exchange("submit", {(student or user)!r})
""")


def _filled(course, answers):
    notebook = nbformat.read(os.path.join(course.release_dir(A1), f"{A1}.ipynb"), as_version=4)
    for cell in notebook.cells:
        grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
        if answers and grade_id in answers and cell.cell_type == "code":
            cell.source = answers[grade_id]
    return nbformat.writes(notebook)


def _malformed(kind, notebook):
    """The notebook's JSON (a dict) made malformed as students' notebooks were."""
    cell = next(c for c in notebook["cells"] if notebooks.cell_kind(nbformat.from_dict(c)) == notebooks.ANSWER)
    if kind == "meta":
        cell["metadata"]["nbgrader"] = "solution"
    elif kind == "gradeid":
        cell["metadata"]["nbgrader"]["grade_id"] = ["rnn_cell_forward"]
    elif kind == "oldformat":
        notebook["nbformat"] = 3
    elif kind == "huge":   # 6.6 million comment lines in one string: 19.9 MB, under the 20 MB limit
        cell["source"] = "".join(cell["source"]) + "\n" + "#\n" * 6_600_000
    return notebook


def _submit_malformed(homes, exchange, kind, answers):
    student = Student(homes, kind, exchange, in_process=True)
    path = student.work(A1, answers)
    with open(path) as f:
        notebook = _malformed(kind, json.load(f))
    with open(path, "w") as f:
        json.dump(notebook, f)
    student.submit(A1)


@pytest.fixture(scope="module")
def machine(level):
    base = tempfile.mkdtemp(prefix="shared-machine-", dir=os.environ.get("TMPDIR"))
    os.chmod(base, 0o755)   # the students' homes and the exchange live here; the course is private inside it
    for user in USERS:
        subprocess.run(["userdel", "-r", user], capture_output=True)
        subprocess.run(["useradd", "-m", "-d", os.path.join(base, "home", user), "-s", "/bin/sh", user], check=True)
    course, exchange = Course(os.path.join(base, "course")), os.path.join(base, "exchange")
    try:
        common = ["--course-dir", course.root]
        assert cli.main(["build", A1, *common]) == 0
        assert cli.main(["release", A1, *common, "--exchange", exchange]) == 0
        reference = submissions.reference_answers(course, A1)
        started = time.time()
        submit_as("rkt_alice", exchange, _filled(course, reference))
        # bob hands in by hand what nbgrader's submit would, with his own time: 2020, and the folder two hours back
        as_user("rkt_bob", exchange, f"""
import time
folder = os.path.join(spec["exchange"], "rnnkit", "inbound", "rkt_bob+{A1}+2020-01-01 00:00:00.000000 UTC+r")
os.mkdir(folder)
for name, text in (("{A1}.ipynb", {_filled(course, reference)!r}), ("submission_secret.txt", "00" * 64),
                   ("timestamp.txt", "2020-01-01 00:00:00.000000 UTC")):
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)
    os.utime(os.path.join(folder, name), (time.time() - 7200, time.time() - 7200))
os.utime(folder, (time.time() - 7200, time.time() - 7200))
""")
        time.sleep(1.1)   # nbgrader tells submissions apart by their time stamp
        submit_as("rkt_mallory", exchange, _filled(course, None), student="rkt_alice")
        links = {name: target.format(course=course.root, exchange=exchange) for name, target in LINKS.items()}
        as_user("rkt_mallory", exchange, f"""
import time
inbound = os.path.join(spec["exchange"], "rnnkit", "inbound")
now = time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC", time.gmtime())
mine = os.path.join(inbound, "rkt_mallory+{A1}+" + now + "+planted")
os.mkdir(mine)
os.symlink({course.source_notebook(A1)!r}, os.path.join(mine, "{A1}.ipynb"))
for name, target in {json.dumps(links)}.items():
    os.symlink(target, os.path.join(mine, name))
os.mkfifo(os.path.join(mine, "fifo"))
with open(os.path.join(mine, "sparse.bin"), "wb") as f:
    f.truncate(5 * 2**30)
with open(os.path.join(mine, "timestamp.txt"), "w") as f:
    f.write(now)
for name in {ODD_NAMES!r}:
    os.mkdir(os.path.join(inbound, name))
os.mkfifo(os.path.join(inbound, "rkt_mallory+{A1}+" + now + "+fifo"))
os.symlink("/nonexistent", os.path.join(inbound, "rkt_mallory+{A1}+" + now + "+dangling"))
""")
        planted = next(p for p in os.listdir(os.path.join(exchange, "rnnkit", "inbound")) if p.endswith("+planted"))
        os.link(course.source_notebook(A1), os.path.join(exchange, "rnnkit", "inbound", planted, "hard.ipynb"))
        # the instructor's own user plays three more students, as the demo does (never flagged)
        homes = os.path.join(base, "instructor-homes")
        for kind in ("meta", "gradeid", "oldformat", "huge"):
            _submit_malformed(homes, exchange, kind, reference)
        collected = []
        workflow.collect(course, A1, echo=collected.append)
        graded = []
        _, failures, _ = workflow.autograde(course, [A1], jobs=2, echo=graded.append, sandbox=level)
        feedback = []
        clock = time.time()
        workflow.feedback(course, [A1], echo=feedback.append)
        feedback_seconds = time.time() - clock
        reported = []
        workflow.report(course, [A1], echo=reported.append)
        yield dict(course=course, exchange=exchange, base=base, collected=collected, graded=graded,
                   failures=failures, feedback=feedback, feedback_seconds=feedback_seconds, reported=reported,
                   started=started, planted=planted)
    finally:
        for user in USERS:
            subprocess.run(["userdel", "-r", user], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _score(course, student):
    with Gradebook(course.db_url) as gb:
        return gb.find_submission(A1, student).score


def _every_file(*folders):
    for folder in folders:
        for dirpath, _, filenames in os.walk(folder):
            for name in filenames:
                yield os.path.join(dirpath, name)


def test_links_and_special_files_are_refused_each_in_one_line(machine):
    lines = [line for line in machine["collected"] if "+planted" in line]
    for name in list(LINKS) + [f"{A1}.ipynb"]:
        assert any(f"{name}: a symbolic link, not taken" in line for line in lines), (name, lines)
    assert any("fifo: a FIFO, not taken" in line for line in lines)
    assert any("sparse.bin: 5120.0 MB, over the limit" in line for line in lines)
    assert any("hard.ipynb: a hard link (2 names), not taken" in line for line in lines)
    folder = machine["course"].path("submitted", "rkt_mallory", A1)
    assert sorted(os.listdir(folder)) == ["timestamp.txt"]   # nothing else of hers was a regular file


def test_no_byte_from_outside_the_submission_reaches_the_course(machine):
    course = machine["course"]
    secret = course.secret().hex().encode()
    with open("/etc/shadow", "rb") as f:
        shadow = f.read().split(b"\n")[0]
    reference = submissions.reference_answers(course, A1)
    solution_line = next(line for line in reference["rnn_cell_forward"].splitlines() if "tf." in line).encode()
    folders = [course.path(name) for name in ("submitted", "autograded", "feedback", "quarantine")]
    for path in _every_file(*folders, os.path.join(machine["exchange"], "rnnkit", "feedback")):
        with open(path, "rb") as f:
            data = f.read()
        assert secret not in data and shadow not in data, path
        if "rkt_mallory" in path:
            assert solution_line not in data, path
    for folder in folders:
        assert intake.strange_entries(folder) == []
    assert os.path.getsize(course.path("submitted", "rkt_mallory", A1, "timestamp.txt")) < 100


def test_odd_inbound_entries_cost_one_line_each_and_stop_nothing(machine):
    lines = machine["collected"]
    assert any(line.startswith("inbound/x+01_rnn_cell+notatime: not collected: its name holds no time")
               for line in lines)
    for name in ("fifo", "dangling"):
        assert any(line.startswith("inbound/rkt_mallory+01_rnn_cell+") and line.split(":")[0].endswith(name)
                   or f"+{name}: not collected" in line for line in lines), name
    for fragment in ("ev\\x1b]0;pwned\\x07il", "rkt_alice\\u2215x"):   # refused, shown escaped
        assert any(fragment in line and "characters nbgrader and Unix logins do not use" in line for line in lines)
    assert not any("\x1b" in line or "\u2215" in line or "\x07" in line
                   for line in lines + machine["graded"] + machine["reported"])
    assert set(machine["course"].students(A1)) == {"rkt_alice", "rkt_bob", "rkt_mallory", "meta", "gradeid",
                                                   "oldformat", "huge"}


def test_a_submission_owned_by_another_user_is_flagged_and_not_graded_as_theirs(machine):
    course = machine["course"]
    flag = "FLAGGED rkt_alice/01_rnn_cell: submitted by rkt_mallory, not by rkt_alice (cheating attempt?)"
    for step in ("collected", "graded", "reported"):
        assert any(line.startswith(flag) for line in machine[step]), step
    assert _score(course, "rkt_alice") == pytest.approx(15)   # her own submission, not mallory's stubs
    assert os.path.isfile(course.path("quarantine", "rkt_alice", A1, f"{A1}.ipynb"))
    assert not any(line.startswith("FLAGGED rkt_bob") and "submitted by" in line for line in machine["collected"])
    for student in ("meta", "huge"):   # the instructor's own user playing students: never flagged
        assert not any(line.startswith(f"FLAGGED {student}/") for line in machine["collected"])


def test_the_time_is_the_file_systems_and_a_forged_one_is_flagged(machine):
    course = machine["course"]
    assert any(line.startswith("FLAGGED rkt_bob/01_rnn_cell: timestamp.txt says 2020-01-01 00:00:00 UTC but the "
                               "exchange recorded") for line in machine["collected"] + machine["graded"])
    with Gradebook(course.db_url) as gb:
        stamp = gb.find_submission(A1, "rkt_bob").timestamp
    arrived = datetime.datetime.fromtimestamp(machine["started"], datetime.timezone.utc).replace(tzinfo=None)
    assert stamp >= arrived - datetime.timedelta(seconds=5)   # not 2020, not two hours back


def test_the_course_and_the_answers_are_private(machine):
    course = machine["course"]
    for path in (course.root, course.path("source"), course.path("submitted"), course.path("autograded"),
                 course.path("feedback"), course.path("submitted", "rkt_alice", A1)):
        assert os.stat(path).st_mode & 0o077 == 0, path
    probe = as_user("rkt_mallory", machine["exchange"], f"""
for path in {[course.path("gradebook.db"), course.source_notebook(A1), project.solution_file(A1),
              project.suite(A1)]!r}:
    try:
        open(path).read(1)
        print("READ", path)
    except PermissionError:
        pass
print("checked")
""")
    assert "checked" in probe.stdout and "READ" not in probe.stdout, probe.stdout


def test_a_malformed_notebook_is_the_students_with_one_line(machine):
    assert machine["failures"] == 0   # none of them is a grader failure, so no run retries them
    course = machine["course"]
    for student in ("meta", "gradeid", "oldformat"):
        assert _score(course, student) == 0
        with open(course.results_file(student, A1)) as f:
            outputs = " ".join(t["output"] for t in json.load(f)["tests"])
        assert "NOT GRADED" not in outputs and "grader failure" not in outputs
    for fragment in ("nbgrader metadata that is a str", "grade_id that is not a name", "notebook format"):
        with pytest.raises(notebooks.NotebookError, match=fragment):
            student = {"nbgrader metadata that is a str": "meta", "grade_id that is not a name": "gradeid",
                       "notebook format": "oldformat"}[fragment]
            notebooks.read(course.submitted_notebook(student, A1))


def test_millions_of_short_lines_are_refused_and_feedback_stays_bounded(machine):
    course = machine["course"]
    assert os.path.getsize(course.submitted_notebook("huge", A1)) > 13 * 2**20
    with pytest.raises(notebooks.NotebookError, match="6,600,0.. lines .* over the grader's limit of 2,000 lines"):
        notebooks.read(course.submitted_notebook("huge", A1))
    assert _score(course, "huge") == 0
    page = course.path("feedback", "huge", A1, f"{A1}.html")
    assert os.path.getsize(page) < 2 * 2**20   # rendered without the 6.6 million lines
    assert not any("no feedback" in line for line in machine["feedback"]), machine["feedback"]


def test_nbgrader_autograde_step_drops_what_a_link_copied(machine, tmp_path):
    """After a plain ``nbgrader collect`` (or a folder copied by hand) submitted/ may hold links: nbgrader copies
    them into autograded/ before rnnkit's preprocessor runs, which removes the copies and says so."""
    root = tmp_path / "course"
    submitted, autograded = root / "submitted" / "eve" / A1, root / "autograded" / "eve" / A1
    submitted.mkdir(parents=True)
    autograded.mkdir(parents=True)
    (submitted / "shadow").symlink_to("/etc/shadow")
    (autograded / "shadow").write_text("what nbgrader copied")
    said = []
    nbgrader_autograde._remove_strange_copies(str(root), "eve", A1, said.append)
    assert not (autograded / "shadow").exists()
    assert said and "shadow in submitted/ is not a regular file" in said[0]
    assert any(line.startswith("FLAGGED eve/01_rnn_cell: shadow in submitted/")
               for line in collecting.flags(Course(str(root)), A1))


def test_nbgrader_collect_and_formgraders_button_use_the_same_safe_collect(machine):
    """``nbgrader collect`` in the course (formgrader's Collect button calls the same class) is rnnkit's."""
    course = machine["course"]
    log = course.nbgrader("collect", A1)
    assert "FLAGGED rkt_alice/01_rnn_cell: submitted by rkt_mallory" in log
    assert "shadow: a symbolic link, not taken" in log and "fifo: a FIFO, not taken" in log
    assert intake.strange_entries(course.path("submitted")) == []
    assert sorted(os.listdir(course.path("submitted", "rkt_mallory", A1))) == ["timestamp.txt"]


def test_accepting_a_flagged_submission_grades_it_as_theirs(machine):
    """The instructor's word (last: it changes the course)."""
    course = machine["course"]
    lines = []
    workflow.collect(course, A1, echo=lines.append, accept=["rkt_alice"])
    assert any("accepted as theirs" in line for line in lines)
    assert not any(line.startswith("FLAGGED rkt_alice") for line in lines)
    with open(course.submitted_notebook("rkt_alice", A1)) as f:
        assert "NotImplementedError" in f.read()   # mallory's stubs, now graded as alice's by the instructor's word
    assert not os.path.exists(course.path("quarantine", "rkt_alice", A1))
