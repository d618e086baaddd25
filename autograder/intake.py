"""A submission is data, never a path: reading a folder a student wrote, and the names students give.

Everything under the exchange's ``inbound/`` was made by a student who has a shell on this machine, and may be a
symbolic link (to the course's source notebook, ``/etc/shadow``, another student's folder), a FIFO that blocks a
reader, a device, a sparse file of gigabytes or a hard link to a file the student could not read. Only regular
files are taken, each opened relative to its folder's descriptor with ``O_NOFOLLOW`` (a link is never followed,
even one swapped in after the folder was listed), checked with ``fstat`` on the open descriptor, and read up to a
bound. Anything else is refused with one line naming it; the others are still taken.
"""
import fnmatch
import os
import re
import stat
from dataclasses import dataclass, field

from autograder import notebooks

MAX_FILE_BYTES = notebooks.MAX_NOTEBOOK_BYTES   # one file of a submission (the notebook is the largest)
MAX_TOTAL_BYTES = 64 * 2**20                    # a whole submission
MAX_FILES = 500
MAX_DEPTH = 8
IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")   # nbgrader's CourseDirectory.ignore

# Student ids: what nbgrader and Unix logins use (letters, digits, ``_ . @ -``), never a separator, a control
# character or a look-alike of either; anything else is refused where it enters (collect) and shown escaped.
STUDENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")


def valid_student_id(name):
    return isinstance(name, str) and STUDENT_ID.fullmatch(name) is not None and ".." not in name


def shown(name):
    """``name`` as one safe line of ASCII: control characters, escape sequences and look-alikes (``∕``) escaped."""
    text = name if isinstance(name, str) else os.fsdecode(name)
    if valid_student_id(text):
        return text
    return text.encode("unicode_escape").decode("ascii")


@dataclass
class File:
    relpath: str
    data: bytes
    uid: int
    mode: int
    ctime: float


@dataclass
class Tree:
    """What was taken from a submitted folder: regular files only, and one line per entry refused."""
    files: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    uid: int = None          # the folder's owner
    ctime: float = 0.0       # the folder's own change time

    @property
    def arrived(self):
        """The last time the file system recorded a change of the folder or of a file taken from it: a student can
        set modification times back (``touch -d``), never change times."""
        return max([self.ctime] + [f.ctime for f in self.files])

    def owners(self):
        return {self.uid} | {f.uid for f in self.files}


def _ignored(name):
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED)


def _kind(mode):
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return what
    return "not a regular file"


def read_tree(path):
    """Reads the folder ``path`` as data (see the module's docstring); returns a :class:`Tree`.

    Raises OSError only when ``path`` itself cannot be opened as a folder (a link, a file, gone)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        tree = Tree(uid=info.st_uid, ctime=info.st_ctime)
        budget = [MAX_TOTAL_BYTES]
        _walk(fd, "", 0, tree, budget)
        return tree
    finally:
        os.close(fd)


def _walk(dir_fd, prefix, depth, tree, budget):
    for name in sorted(os.listdir(dir_fd)):
        relpath = prefix + name
        if _ignored(name):
            continue
        if len(tree.files) >= MAX_FILES:
            tree.refused.append(f"{shown(relpath)}: more than {MAX_FILES} files in the submission, not taken")
            return
        try:
            info = os.lstat(name, dir_fd=dir_fd)
            if stat.S_ISDIR(info.st_mode):
                if depth >= MAX_DEPTH:
                    tree.refused.append(f"{shown(relpath)}: folders nested over {MAX_DEPTH} deep, not taken")
                    continue
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                try:
                    _walk(sub, relpath + "/", depth + 1, tree, budget)
                finally:
                    os.close(sub)
                continue
            if not stat.S_ISREG(info.st_mode):
                tree.refused.append(f"{shown(relpath)}: {_kind(info.st_mode)}, not taken")
                continue
            taken = _read_file(dir_fd, name, relpath, budget)
            if isinstance(taken, str):
                tree.refused.append(taken)
            else:
                tree.files.append(taken)
        except OSError as err:
            tree.refused.append(f"{shown(relpath)}: cannot be read ({err.strerror or err}), not taken")


def _read_file(dir_fd, name, relpath, budget):
    """A :class:`File`, or the one line that refuses it. The descriptor is opened without following a link and
    without blocking (a FIFO swapped in after ``lstat``), and checked again with ``fstat``."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return f"{shown(relpath)}: {_kind(info.st_mode)}, not taken"
        if info.st_nlink != 1:   # a hard link to a file of someone else's (the course's, another student's)
            return f"{shown(relpath)}: a hard link ({info.st_nlink} names), not taken"
        limit = min(MAX_FILE_BYTES, budget[0])
        if info.st_size > limit:
            return (f"{shown(relpath)}: {info.st_size / 2**20:.1f} MB, over the limit of {limit / 2**20:.0f} MB "
                    f"{'per file' if limit == MAX_FILE_BYTES else 'left for the submission'}, not taken")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:   # it grew while read
            return f"{shown(relpath)}: grew over the limit while read, not taken"
        budget[0] -= size
        return File(relpath, b"".join(chunks), info.st_uid, info.st_mode, info.st_ctime)
    finally:
        os.close(fd)


def strange_entries(path):
    """Entries under ``path`` that are neither regular files nor folders (relative paths, without following any
    link): what must never be copied with a grader's rights."""
    found = []
    for dirpath, dirnames, filenames in os.walk(path):   # os.walk never descends into a linked folder
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            mode = os.lstat(full).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.append(os.path.relpath(full, path))
    return sorted(found)
