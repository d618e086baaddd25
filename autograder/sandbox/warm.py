"""The trusted side's handle on a zygote (:mod:`autograder.sandbox.inside.zygote`): student processes that start
in milliseconds, because TensorFlow was imported once, in a sandbox, before any student code existed.

One zygote serves one assignment, and every grading of it that a warm grader runs at once: each grading (a forked
child of the warm grader) talks to it over a control connection of its own (:meth:`Zygote.attach`), so that two
gradings' requests never meet on one socket, and the workers of a grading that ends or is killed go with its
connection. It runs in the same sandbox as a cold worker (at
the ``bubblewrap`` level only: there the zygote's children can enter namespaces of their own), and each child it
forks is a fresh worker isolated from every other (see the zygote's docstring). At the other levels, and whenever a
zygote is not available, :class:`~autograder.trusted.student.StudentProcess` starts a cold worker as before.
"""
from dataclasses import asdict
import os
import shutil
import socket
import subprocess
import sys
import time

from autograder import scratch
from autograder.sandbox import launch
from autograder.sandbox.inside import messages as m
from autograder.settings import Settings

CONTROL_TIMEOUT = 60   # seconds the zygote may take to answer (a spawn is a fork: milliseconds)
ZYGOTE = None          # the zygote of this grading process, set by the warm grader before a suite runs


class ZygoteError(OSError):
    """The zygote is gone or does not answer: start a cold worker instead."""


class Zygote:
    """A zygote in the sandbox at ``level`` whose children see the released folder ``release_dir``."""

    def __init__(self, level, release_dir, limits=None):
        self.level, self.release_dir = level, release_dir
        self.limits = limits or Settings().sandbox_limits()   # the settings' defaults (their only home)
        limits = self.limits
        self.workdir = scratch.make("rnnkit-zygote-")
        if release_dir:
            shutil.copytree(release_dir, self.workdir, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__"))
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control.settimeout(CONTROL_TIMEOUT)
        argv = [sys.executable, "-I", launch.inside_path(level, "zygote.py"), str(theirs.fileno())]
        cmd = launch.command(level, self.workdir, argv, limits, nested=True)
        try:
            self.proc = subprocess.Popen(cmd.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, cwd=self.workdir, env=launch.worker_env(),
                                         preexec_fn=cmd.preexec, pass_fds=(*cmd.pass_fds, theirs.fileno()),
                                         start_new_session=True)
        finally:
            cmd.close()
            theirs.close()

    def _ask(self, request, *expected, fds=()):
        # (no self.proc.poll() here: a forked grading child is not the zygote's parent, and poll() would report a
        # living zygote as exited; the socket says whether it is there)
        try:
            socket.send_fds(self.control, [m.encode(request)], list(fds))
            reply = self.control.recv(1 << 16)
        except OSError as err:
            raise ZygoteError(f"the zygote does not answer: {err}") from None
        if not reply:
            raise ZygoteError("the zygote closed its control socket")
        try:
            return m.decode(reply, *expected)
        except m.MessageError as err:
            raise ZygoteError(f"the zygote answered out of turn: {err}") from None

    def attach(self):
        """A new control connection to the zygote, for one grading: ``connect(conn)`` makes this handle use it (in
        the forked grading child, before its suite runs). Raises :class:`ZygoteError`."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:  # no answer to wait for (the zygote may still be importing TensorFlow): the grading's first request
            # waits on its own connection, which the zygote serves once it has read this one
            socket.send_fds(self.control, [m.encode(m.Attach())], [theirs.fileno()])
        except OSError as err:
            mine.close()
            raise ZygoteError(f"the zygote does not answer: {err}") from None
        finally:
            theirs.close()
        mine.settimeout(CONTROL_TIMEOUT)
        return mine

    def connect(self, conn):
        """In a grading child: talk to the zygote over ``conn`` (from :meth:`attach`) only; the warm grader's own
        connection is closed in this process."""
        self.control.close()
        self.control = conn

    def spawn(self, limits, threads):
        """A fresh isolated worker: a Popen-like :class:`Child` with pipes on stdin, stdout and stderr."""
        requests, replies, output = os.pipe(), os.pipe(), os.pipe()
        theirs = (requests[0], replies[1], output[1])
        try:
            reply = self._ask(m.Spawn(asdict(limits), threads), m.Spawned, fds=theirs)
        except ZygoteError:
            for fd in (*requests, *replies, *output):
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                try:
                    os.close(fd)
                except OSError:
                    pass
        return Child(self, reply.pid, os.fdopen(requests[1], "wb"), os.fdopen(replies[0], "rb"),
                     os.fdopen(output[0], "rb"))

    def alive(self):
        """Whether the zygote still runs (in the process that started it)."""
        return self.proc.poll() is None

    def close(self):
        launch.kill_tree(self.proc.pid)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.control.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Child:
    """A worker forked by a zygote, with the parts of ``subprocess.Popen`` that the student handle uses."""

    def __init__(self, zygote, pid, stdin, stdout, stderr):
        self.zygote, self.pid = zygote, pid
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode = None

    def poll(self):
        return self.returncode

    def host_pids(self):
        """The worker's processes as this side's ``/proc`` names them (its PID in the zygote's namespace is
        ``self.pid``): the zygote's child and everything it forked. Empty if it is not found."""
        table = launch._children()
        below, stack = [], [self.zygote.proc.pid]
        while stack:
            children = table.get(stack.pop(), [])
            below += children
            stack += children
        for pid in below:
            try:
                with open(f"/proc/{pid}/status") as f:
                    nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
            except (OSError, StopIteration):
                continue
            if len(nspid) == 2 and int(nspid[1]) == self.pid:
                found, stack = [pid], [pid]
                while stack:
                    children = table.get(stack.pop(), [])
                    found += children
                    stack += children
                return found
        return []

    def kill(self):
        """Ends the worker (and with it its PID namespace: every process it started); returns its exit code."""
        if self.returncode is None:
            try:
                code = self.zygote._ask(m.Kill(self.pid), m.Exited).code
            except ZygoteError:
                code = None
            self.returncode = -9 if code is None else code
        for stream in (self.stdin, self.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass
        return self.returncode

    def wait(self, timeout=None):
        """After the worker closed its reply pipe: give it a moment to exit by itself, then end it."""
        deadline = time.monotonic() + (2 if timeout is None else min(timeout, 2))
        while time.monotonic() < deadline:
            try:
                code = self.zygote._ask(m.Poll(self.pid), m.Exited).code
            except ZygoteError:
                break
            if code is not None:
                self.returncode = code
                break
            time.sleep(0.05)
        return self.kill()
