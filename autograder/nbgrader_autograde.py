"""nbgrader's own ``autograde`` (and formgrader's Autograde button) on an rnnkit course: the trusted grade.

The course's ``nbgrader_config.py`` (written by ``rnnkit build``) replaces the two preprocessor lists of nbgrader's
``Autograde`` converter: the sanitising pass keeps the submission as it is, and the grading pass is
:class:`TrustedGrade`, which runs ``rnnkit autograde ASSIGNMENT --student S --force`` in a process of its own (the
hidden suite in the sandbox, as from the command line), then hands nbgrader rnnkit's autograded notebook to write.
No student code runs in a kernel; nbgrader's ``SaveAutoGrades`` never runs, so only rnnkit writes autograded scores.

When rnnkit cannot grade (the sandbox the course requires is missing, nothing is built, ...), nbgrader's command
fails with rnnkit's one-line reason and the gradebook keeps every grade it had. ``rnnkit autograde`` then grades
again (nbgrader's ``--force`` removed the autograded folder before any hook could run).
"""
import os
import subprocess
import sys

import nbformat
from nbconvert.preprocessors import Preprocessor

EXIT_REFUSED = 2   # autograder.cli.EXIT_USAGE: rnnkit refused, with one line on stderr


class RnnkitRefused(Exception):
    """rnnkit could not grade; the message is its one-line reason."""


def _course_root(preprocessor):
    node = preprocessor
    while node is not None:
        coursedir = getattr(node, "coursedir", None)
        if coursedir is not None:
            return os.path.abspath(coursedir.root)
        node = getattr(node, "parent", None)
    return os.getcwd()   # nbgrader's converters run in the course's root


def grade(course_root, assignment, student, log=None):
    """Runs rnnkit's grader on one submission; returns its exit status (0 graded, 1 graded with submissions
    recorded as NOT graded); raises :class:`RnnkitRefused` when rnnkit refused."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    command = [sys.executable, "-m", "autograder.cli", "autograde", assignment, "--student", student, "--force",
               "--course-dir", course_root]
    proc = subprocess.run(command, cwd=course_root, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    if log:
        for line in lines[-20:]:
            log(f"rnnkit: {line}")
    if proc.returncode in (0, 1):
        return proc.returncode
    reason = next((line.split("error: ", 1)[-1] for line in reversed(proc.stderr.splitlines())
                   if "error:" in line), None) if proc.returncode == EXIT_REFUSED else None
    raise RnnkitRefused(
        f"rnnkit could not grade {student}/{assignment}, so nbgrader wrote no grade and the gradebook is as it "
        f"was: {reason or (lines[-1] if lines else f'exit {proc.returncode}')}")


def _remove_strange_copies(course_root, student, assignment, log):
    """nbgrader copied every file of ``submitted/S/A/`` into ``autograded/S/A/`` before any preprocessor ran,
    following links: what it copied from a link or a special file (never there after ``rnnkit collect``; possible
    after nbgrader's own collect or a folder copied by hand) is removed and said, so that no byte from outside the
    submission reaches the feedback."""
    from autograder import intake
    submitted = os.path.join(course_root, "submitted", student, assignment)
    autograded = os.path.join(course_root, "autograded", student, assignment)
    for relpath in intake.strange_entries(submitted):
        copy = os.path.join(autograded, relpath)
        if os.path.lexists(copy) and not os.path.isdir(copy):
            os.unlink(copy)
        log(f"rnnkit: {student}/{assignment}: {intake.shown(relpath)} in submitted/ is not a regular file: not "
            "taken (collect with `rnnkit collect`, which takes regular files only)")


class TrustedGrade(Preprocessor):
    """The grading pass of ``nbgrader autograde`` on an rnnkit course: rnnkit's trusted grader instead of running
    the notebook in a kernel. Returns the autograded notebook rnnkit wrote (what formgrader and feedback show)."""

    enabled = True   # nbconvert preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        root = _course_root(self)
        student, assignment = info["student"], info["assignment"]
        _remove_strange_copies(root, student, assignment, self.log.error)
        try:
            status = grade(root, assignment, student, log=self.log.info)
        except RnnkitRefused as err:
            self.log.error(str(err))
            raise
        if status:
            self.log.warning(f"rnnkit could not grade {student}/{assignment}: it is recorded as NOT graded "
                             f"(see {os.path.join(root, 'grader_logs')})")
        path = os.path.join(root, "autograded", student, assignment, f"{info['notebook']}.ipynb")
        with open(path, encoding="utf-8") as f:
            return nbformat.read(f, as_version=4), resources
