"""Scratch folders in the system's temporary folder that a killed process does not leave behind for good.

A grading's folder (``rnnkit-grade-``) and a zygote's copy of the release (``rnnkit-zygote-``) are removed by the
process that made them when it is done; a process killed with SIGKILL (an operator, the OOM killer, a fault test)
cannot remove them. So each folder is named after the process that owns it (``<prefix><pid>-<random>``), and
making a new one first removes the folders of the same kind whose owner no longer runs (this user's, and for a
root grader those it handed to a sandbox's uid).
"""
import contextlib
import os
import shutil
import stat
import tempfile

import psutil


def _owner(name, prefix):
    """The pid a folder of ours is named after, or None (not one of ours, or named the older way)."""
    pid, dash, _ = name[len(prefix):].partition("-")
    return int(pid) if dash and pid.isdigit() else None


def remove_orphans(prefix):
    """Removes this user's ``prefix`` folders whose owning process is gone."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        pid = _owner(name, prefix) if name.startswith(prefix) else None
        if pid is None or psutil.pid_exists(pid):
            continue
        path = os.path.join(root, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and _ours(info.st_uid):
            shutil.rmtree(path, ignore_errors=True)


def _ours(uid):
    """This user's, or (for a root grader) a sandbox's: a root grader hands a folder to the unprivileged uid its
    sandbox runs as (see :mod:`autograder.sandbox.launch`)."""
    from autograder.sandbox.launch import SANDBOX_UID_BASE
    return uid == os.getuid() or (os.getuid() == 0 and uid >= SANDBOX_UID_BASE)


def make(prefix):
    """A new private folder named after this process (after removing the orphans of ``prefix``)."""
    remove_orphans(prefix)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")


@contextlib.contextmanager
def folder(prefix):
    """``with folder(prefix) as path``: :func:`make`, removed at the end of the block."""
    path = make(prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
