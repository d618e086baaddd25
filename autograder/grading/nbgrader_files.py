"""nbgrader's files beside a submission (``timestamp.txt``, ``submission_secret.txt``): read as small regular files
only (a link planted there must not copy another file anywhere), checked once, and copied into ``autograded/`` as
nbgrader's autograde does."""
import datetime
import os

from nbgrader import utils as nbgrader_utils

from autograder import notebooks


def _timestamp_text(course, student, assignment):
    """The submission's ``timestamp.txt`` (nbgrader writes it), if it is a small regular file: a symbolic link
    planted there must not copy another file into ``autograded/``."""
    return _small_text(course, student, assignment, "timestamp.txt")


def _small_text(course, student, assignment, name):
    path = os.path.join(os.path.dirname(course.submitted_notebook(student, assignment)), name)
    try:
        return notebooks.read_bytes(path, limit=256).decode("ascii").strip() or None
    except (notebooks.NotebookError, UnicodeDecodeError):
        return None


def submission_problems(course, student, assignment):
    """One line per problem with a submission's nbgrader files (what nbgrader's own collect writes beside the
    notebook), or an empty list. None of them stops grading; each is said once."""
    folder = os.path.dirname(course.submitted_notebook(student, assignment))
    problems = []
    consequences = {"timestamp.txt": "no submission time: the notebook's modification time is used",
                    "submission_secret.txt": "not submitted through nbgrader's exchange: its feedback cannot be "
                                             "released, only generated"}
    for name, what in consequences.items():
        path = os.path.join(folder, name)
        if not os.path.lexists(path):
            problems.append(f"{name} is missing ({what})")
        elif _small_text(course, student, assignment, name) is None:
            problems.append(f"{name} is not a small regular text file ({what})")
    stamp = _timestamp_text(course, student, assignment)
    if stamp:
        try:
            nbgrader_utils.parse_utc(stamp)
        except (ValueError, OverflowError):
            problems.append(f"timestamp.txt does not hold a time ({stamp[:40]!r}); the notebook's modification "
                            "time is used")
    return problems


def copy_nbgrader_files(course, student, assignment, target=None):
    """``timestamp.txt`` and ``submission_secret.txt`` into ``autograded/``, as nbgrader's autograde does: its
    ``release_feedback`` needs the secret (students fetch their feedback with it). Only small regular files."""
    target = target or course.autograded_dir(student, assignment)
    folder = os.path.dirname(course.submitted_notebook(student, assignment))
    for name in ("timestamp.txt", "submission_secret.txt"):
        try:   # byte for byte: the student's nbgrader hashes the secret exactly as it wrote it
            data = notebooks.read_bytes(os.path.join(folder, name), limit=256)
            data.decode("ascii")
        except (notebooks.NotebookError, UnicodeDecodeError):
            data = None
        path = os.path.join(target, name)
        if os.path.lexists(path):
            os.unlink(path)
        if data and data.strip():
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as f:
                f.write(data)


def submission_time(course, student, assignment):
    """When the submission was handed in: nbgrader's ``timestamp.txt``, else (missing or malformed; said once by
    ``rnnkit collect``) the notebook's modification time, so that it never shows as missing."""
    stamp = _timestamp_text(course, student, assignment)
    try:
        return nbgrader_utils.parse_utc(stamp) if stamp else _mtime(course, student, assignment)
    except (ValueError, OverflowError):
        return _mtime(course, student, assignment)


def _mtime(course, student, assignment):
    try:
        seconds = os.lstat(course.submitted_notebook(student, assignment)).st_mtime
    except OSError:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)
