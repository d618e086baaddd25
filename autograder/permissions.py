"""Private by default: who may read a course and the checkout's answers on a machine students share.

The course folder holds the reference answers (``source/``), everybody's grades and the hidden cells
(``gradebook.db``) and everybody's work; the checkout holds ``solutions/`` and the hidden suites. Each is readable by
the instructor alone, or also by a TA group when the course names one (``c.Rnnkit.ta_group``). Students reach only
the exchange, whose modes are nbgrader's.
"""
import contextlib
import grp
import os
import stat

from autograder import project
from autograder.errors import RnnkitError

# The folders of a course whose content is private; release/ is what students get anyway, and an exchange the
# course folder holds (the demo's) keeps nbgrader's modes.
PRIVATE = ("source", "submitted", "autograded", "feedback", "quarantine", "intake", "grader_logs", "exports")
PRIVATE_FILES = ("gradebook.db", "gradebook.db.bak", ".rnnkit-secret")


def ta_gid(group):
    """The gid of the TA group ``group`` (None for no group); one line when the group does not exist."""
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise RnnkitError(f"c.Rnnkit.ta_group names the group '{group}', which does not exist on this machine "
                          f"(create it with `groupadd {group}`, or remove the setting)") from None


def modes(gid):
    """``(folder mode, file mode)``: the instructor's alone, or shared with the TA group (who grade in formgrader,
    so they write the gradebook too; new files keep the group through the set-group-id bit)."""
    return (0o700, 0o600) if gid is None else (0o2770, 0o660)


@contextlib.contextmanager
def private_umask():
    """What rnnkit creates inside meanwhile is the instructor's alone (groups get it by an explicit chmod)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def make_private(path, gid=None):
    """Gives ``path`` (a folder or a file, never followed if a link) the private mode; returns True when it
    changed. Raises :class:`RnnkitError` with the command that fixes it when this user may not."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise RnnkitError(f"{path} is a symbolic link: a course's private folders must be real folders (remove it)")
    folder, plain = modes(gid)
    wanted = folder if stat.S_ISDIR(info.st_mode) else plain
    if stat.S_IMODE(info.st_mode) == wanted and (gid is None or info.st_gid == gid):
        return False
    try:
        if gid is not None and info.st_gid != gid:
            os.chown(path, -1, gid)
        os.chmod(path, wanted)
    except PermissionError:
        group = f"chgrp {gid} {path} && " if gid is not None else ""
        raise RnnkitError(f"{path} is readable by other users and this user may not change that: run "
                          f"`{group}chmod {oct(wanted)[2:]} {path}` as its owner") from None
    return True


def private_course(course, group=None):
    """The course folder, its private folders and files (see :data:`PRIVATE`) readable by the instructor and the
    TA group only; returns True when a mode changed."""
    gid = ta_gid(group)
    changed = make_private(course.root, gid)
    for name in PRIVATE + PRIVATE_FILES:
        changed = make_private(course.path(name), gid) or changed
    return changed


def private_checkout(echo=print):
    """The checkout's ``solutions/`` and ``autograder/hidden/`` readable by their owner only (the trusted grader
    reads them; the sandbox never does). Says so once, when it changed a mode."""
    changed = [path for path in (project.SOLUTIONS, project.HIDDEN)
               if os.path.isdir(path) and make_private(path)]
    if changed:
        echo("made " + " and ".join(changed) + " readable by their owner only (the reference answers and the "
             "hidden tests; other users of this machine could read them)")
    return changed
