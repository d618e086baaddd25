"""Collecting submissions from nbgrader's exchange without trusting anything a student wrote there.

nbgrader's own collect copies ``inbound/<student>+<assignment>+<time>+<random>/`` with ``shutil.copytree``, which
follows links with the collecting user's rights, and takes the student's id from the folder's name and the time from
the student's ``timestamp.txt``. This collect keeps nbgrader's layout (``submitted/<student>/<assignment>/``,
``timestamp.txt``, ``submission_secret.txt``, the latest submission wins) and:

* reads each inbound folder as data (:mod:`autograder.intake`): regular files only, bounded, one line per entry
  refused, and one bad entry never stops the others;
* takes the time from the file system: the last change time of the folder or of a file taken from it, which the
  student cannot set back; this is the ``timestamp.txt`` written into ``submitted/`` (nbgrader's autograde and
  rnnkit's gradebook read it, so lateness counts it), and a student's ``timestamp.txt`` more than a minute away
  from it is flagged;
* checks identity: a folder (or a file in it) owned by a user who is neither the student it names nor the
  instructor collecting is flagged, collected into ``quarantine/<student>/<assignment>/`` and not graded until the
  instructor accepts it (``rnnkit collect ASSIGNMENT --accept STUDENT``). A class whose every student is played by
  the instructor's own Unix user (the demo, the tests) is never flagged.

Each submission's record (what was collected, from where, when, what was flagged) is
``intake/<assignment>/<student>.json`` in the (private) course folder.
"""
import datetime
import json
import os
import pwd
import shutil
import tempfile

from nbgrader import utils as nbgrader_utils
from nbgrader.exchange.default.collect import ExchangeCollect as NbgraderExchangeCollect

from autograder import intake, permissions
from autograder.errors import RnnkitError

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"   # nbgrader's Exchange.timestamp_format
CLOCK_SLACK = 60                              # seconds a student's timestamp.txt may differ from the exchange's
NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")


def login(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def utc(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


class Inbound:
    """One folder of ``inbound/``, read as data."""

    def __init__(self, name, student, tree):
        self.name, self.student, self.tree = name, student, tree
        self.arrived = tree.arrived
        me = os.geteuid()
        self.strangers = sorted({login(uid) for uid in tree.owners() if uid != me and login(uid) != student})

    def describe(self):
        return {"inbound": self.name, "arrived": self.arrived, "owners": sorted(login(u) for u in self.tree.owners())}


def _parse_name(name, assignment):
    """``(student, None)`` for nbgrader's ``student+assignment+time[+random]``, ``(None, reason)`` when the name
    is of this assignment but not nbgrader's form, ``(None, None)`` for another assignment's."""
    parts = name.rsplit("+", 3)
    if len(parts) == 4 and parts[1] != assignment and name.rsplit("+", 2)[1] == assignment:
        parts = name.rsplit("+", 2)      # student+assignment+time, with a '+' in the student's id
    if len(parts) < 3 or parts[1] != assignment:
        return None, None
    try:
        nbgrader_utils.parse_utc(parts[2])
    except (ValueError, OverflowError):
        return None, "its name holds no time (nbgrader's submit names it student+assignment+time+random)"
    if not intake.valid_student_id(parts[0]):
        return None, (f"the student id '{intake.shown(parts[0])}' has characters nbgrader and Unix logins do not use "
                      "(letters, digits and _ . @ - only)")
    return parts[0], None


def scan(inbound, assignment, echo):
    """``{student: [Inbound, ...]}`` of this assignment's folders in ``inbound``; one line per entry refused."""
    found = {}
    try:
        names = sorted(os.listdir(inbound))
    except OSError as err:
        raise RnnkitError(f"cannot read the exchange's inbound folder {inbound}: {err.strerror}") from None
    for name in names:
        student, reason = _parse_name(name, assignment)
        where = f"inbound/{intake.shown(name)}"
        if reason:
            echo(f"{where}: not collected: {reason}")
            continue
        if student is None:
            continue
        try:
            tree = intake.read_tree(os.path.join(inbound, name))
        except OSError as err:
            echo(f"{where}: not collected: not a folder nbgrader's submit made ({err.strerror or err})")
            continue
        for line in tree.refused:
            echo(f"{where}: {line}")
        found.setdefault(student, []).append(Inbound(name, student, tree))
    return found


def _record_path(course, student, assignment):
    return course.path("intake", assignment, f"{student}.json")


def load_record(course, student, assignment):
    try:
        with open(_record_path(course, student, assignment)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save_record(course, student, assignment, record):
    path = _record_path(course, student, assignment)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".record-")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)


def _claimed_time(tree):
    data = next((f.data for f in tree.files if f.relpath == "timestamp.txt"), None)
    try:
        return nbgrader_utils.parse_utc(data.decode("ascii").strip()) if data else None
    except (UnicodeDecodeError, ValueError, OverflowError):
        return None


def _time_note(entry):
    """One line when the student's ``timestamp.txt`` is missing, malformed or more than a minute away from the
    time the exchange recorded, else None."""
    arrived = utc(entry.arrived).replace(tzinfo=None)
    claimed = _claimed_time(entry.tree)
    recorded = arrived.strftime("%Y-%m-%d %H:%M:%S")
    if claimed is None:
        return f"timestamp.txt is missing or holds no time; the exchange's time ({recorded} UTC) is used"
    if abs((claimed - arrived).total_seconds()) > CLOCK_SLACK:
        return (f"timestamp.txt says {claimed:%Y-%m-%d %H:%M:%S} UTC but the exchange recorded {recorded} UTC: "
                "the exchange's time is used")
    return None


def _write_folder(target, entry, gid):
    """``target`` becomes exactly the files taken from ``entry`` (private modes), with ``timestamp.txt`` the time
    the exchange recorded; replaced as a whole, so a reader never sees half of it."""
    parent = os.path.dirname(target)
    folder_mode, file_mode = permissions.modes(gid)
    with permissions.private_umask():
        os.makedirs(parent, exist_ok=True)
        permissions.make_private(parent, gid)
        fresh = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(target)}-collect-")
        stamp = utc(entry.arrived).strftime(TIMESTAMP_FORMAT).encode()
        files = [(f.relpath, f.data) for f in entry.tree.files if f.relpath != "timestamp.txt"]
        for relpath, data in files + [("timestamp.txt", stamp)]:
            path = os.path.join(fresh, relpath)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, file_mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        for dirpath, dirnames, filenames in os.walk(fresh):
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), file_mode)
            for name in dirnames:
                permissions.make_private(os.path.join(dirpath, name), gid)
        permissions.make_private(fresh, gid)
        old = None
        if os.path.lexists(target):
            old = target + ".old-" + os.path.basename(fresh)
            os.rename(target, old)
        os.rename(fresh, target)
        if old:
            shutil.rmtree(old) if os.path.isdir(old) and not os.path.islink(old) else os.unlink(old)


def collect(course, assignment, inbound, echo=print, group=None):
    """Collects every submission of ``assignment`` from the exchange folder ``inbound`` (see the module's
    docstring); returns ``(collected, quarantined)``: the students whose submission was (re)collected, and those
    whose newest submission awaits the instructor's word."""
    gid = permissions.ta_gid(group)
    collected, quarantined = [], []
    for student, entries in sorted(scan(inbound, assignment, echo).items()):
        record = load_record(course, student, assignment)
        trusted = sorted((e for e in entries if not e.strangers), key=lambda e: e.arrived)
        doubtful = sorted((e for e in entries if e.strangers), key=lambda e: e.arrived)
        last = record.get("collected") or {}
        folder = os.path.dirname(course.submitted_notebook(student, assignment))
        if trusted and (not os.path.isdir(folder) or trusted[-1].arrived > last.get("arrived", 0)
                        or (trusted[-1].arrived == last.get("arrived") and trusted[-1].name != last.get("inbound"))):
            entry = trusted[-1]
            _write_folder(folder, entry, gid)
            record["collected"] = dict(entry.describe(), time_note=_time_note(entry))
            collected.append(student)
        if doubtful:
            entry = doubtful[-1]
            known = {(r.get("inbound"), r.get("arrived")) for r in (record.get("collected") or {},
                                                                     record.get("quarantined") or {})}
            if (entry.name, entry.arrived) not in known:
                _write_folder(course.path("quarantine", student, assignment), entry, gid)
                record["quarantined"] = dict(entry.describe(), strangers=entry.strangers,
                                             time_note=_time_note(entry))
        if record:
            _save_record(course, student, assignment, record)
        pending = record.get("quarantined")
        if pending and pending.get("inbound") != (record.get("collected") or {}).get("inbound"):
            quarantined.append(student)
    return collected, quarantined


def accept(course, assignment, student, echo=print, group=None):
    """The instructor's word: the quarantined submission of ``student`` becomes the one graded as theirs."""
    record = load_record(course, student, assignment)
    source = course.path("quarantine", student, assignment)
    if not record.get("quarantined") or not os.path.isdir(source):
        raise RnnkitError(f"no submission of {intake.shown(student)}/{assignment} awaits acceptance "
                          f"(see {course.path('quarantine')})")
    target = os.path.dirname(course.submitted_notebook(student, assignment))
    gid = permissions.ta_gid(group)
    with permissions.private_umask():
        os.makedirs(os.path.dirname(target), exist_ok=True)
        permissions.make_private(os.path.dirname(target), gid)
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.rename(source, target)
    record["collected"] = dict(record.pop("quarantined"), accepted=True)
    _save_record(course, student, assignment, record)
    echo(f"{student}/{assignment}: the submission owned by {', '.join(record['collected']['strangers'])} is "
         "accepted as theirs and will be graded")


def flags(course, assignment):
    """The lines an instructor must see about ``assignment``'s submissions (collect, autograde and report print
    them): submissions awaiting acceptance, times that disagree, student folders with names that are not ids."""
    lines = []
    for path in sorted(_listdir(course.path("intake", assignment))):
        student = path[:-len(".json")]
        record = load_record(course, student, assignment)
        pending = record.get("quarantined")
        if pending and pending.get("inbound") != (record.get("collected") or {}).get("inbound"):
            lines.append(f"FLAGGED {student}/{assignment}: submitted by {', '.join(pending['strangers'])}, not by "
                         f"{student} (cheating attempt?): kept in {course.path('quarantine', student, assignment)} "
                         f"and not graded; if it is theirs: rnnkit collect {assignment} --accept {student}")
        note = (record.get("collected") or {}).get("time_note")
        if note and note.startswith("timestamp.txt says"):   # a disagreement, not a missing file
            lines.append(f"FLAGGED {student}/{assignment}: {note}")
    for name in _listdir(course.path("submitted")):
        if not intake.valid_student_id(name):
            lines.append(f"FLAGGED submitted/{intake.shown(name)}: not a student id (letters, digits and _ . @ - "
                         "only); not graded")
            continue
        strange = intake.strange_entries(course.path("submitted", name, assignment))
        if strange:
            lines.append(f"FLAGGED {name}/{assignment}: {', '.join(map(intake.shown, strange))} in submitted/ "
                         "not regular files (not collected by rnnkit collect?): never read, never copied by rnnkit")
    return lines


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


class ExchangeCollect(NbgraderExchangeCollect):
    """nbgrader's collect (``nbgrader collect``, formgrader's Collect button) on an rnnkit course: rnnkit's own,
    through ``c.ExchangeFactory.collect`` in the course's config."""

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")

    def copy_files(self):
        from autograder.course import Course
        from autograder import settings
        course = Course(self.coursedir.root)
        group = settings.load(course.root).ta_group
        collected, _ = collect(course, self.coursedir.assignment_id, self.inbound_path, echo=self.log.warning,
                               group=group)
        for line in flags(course, self.coursedir.assignment_id):
            self.log.warning(line)
        self.log.info(f"Collected {len(collected)} submission(s) of '{self.coursedir.assignment_id}'")
