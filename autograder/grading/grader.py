"""The warm grader process (``python -P -m autograder.grading.grader``, started by
:class:`autograder.grading.pool.WarmGrader`): it imports TensorFlow, pytest and the grader once, then reads jobs
on stdin (:class:`~autograder.sandbox.inside.messages.JobRequest`) and answers each on stdout
(:class:`~autograder.sandbox.inside.messages.JobAnswer`) when its grading ends.

* For each job it forks a child that runs the hidden suite with ``pytest.main`` and exits; the parent has imported
  modules but run no TensorFlow op and holds no submission's data, so every child starts from the same clean state
  and nothing of one grading reaches another (the child's memory dies with it). The child's address space is
  limited (``Settings.trusted_memory_gb``). The parent does not wait for one child before forking the next: ``-j 2``
  is two children of one warm grader, not two warm graders. It is one thread with one ``select`` loop (jobs in,
  children's ends, deadlines), so that nothing else runs in it when it forks.
* At the ``bubblewrap`` level it keeps a zygote in the sandbox (:mod:`autograder.sandbox.warm`) per released
  assignment, shared by the children grading that assignment at once: each child talks to it over a connection of
  its own and each worker it spawns is fresh, in namespaces of its own. The first job's zygote starts before the
  grader imports TensorFlow itself, so that the two imports share the machine's cores.
* What it keeps warm is bounded (``Settings.warm_memory_gb``, resident memory of this process and its zygotes):
  past the bound, the zygotes used least recently that no grading is using are closed; a zygote whose released
  folder is gone (its course removed) is closed at once.
"""
from dataclasses import dataclass
import os
import select
import signal
import sys
import time

import psutil

from autograder import project
from autograder.grading.job import Job
from autograder.grading.pool import limit_trusted_memory, mapped_bytes
from autograder.sandbox import launch, warm
from autograder.sandbox.inside import messages as m

PR_SET_PDEATHSIG = 1


def _grade_in_child(job_path, job, zygote, conn):
    """In the forked child: run the suite in this process and exit with pytest's code; output to a file."""
    import ctypes
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the warm grader killed: so is this
    import pytest
    workdir = os.path.dirname(job_path)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the jobs are the warm grader's to read
    fd = os.open(os.path.join(workdir, "pytest-output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(workdir)
    if zygote is not None:
        zygote.connect(conn)   # its own connection: the other gradings' requests never meet this one's
    warm.ZYGOTE = zygote
    try:
        if os.getppid() == 1:  # the warm grader died before the death signal was asked for
            raise SystemExit(3)
        limit_trusted_memory(job.settings, mapped_bytes())
        code = pytest.main(job.pytest_args(job_path, project.suite(job.assignment)))
    except BaseException as err:
        print(f"the grading child stopped: {type(err).__name__}: {err}", file=sys.stderr)
        code = 3
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def _import_once():
    import numpy  # noqa: F401  (the imports every suite pays: once, here, with no op run)
    import tensorflow  # noqa: F401
    import keras  # noqa: F401
    import pytest  # noqa: F401
    import autograder.trusted.plugin  # noqa: F401


def _resident(pid):
    """Resident bytes of process ``pid`` and everything below it (0 once it is gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


@dataclass
class _Running:
    """One grading under way: its child's pid is the key of ``_Grader.running``."""
    request: int
    job_path: str
    deadline: float
    pidfd: int            # None on an older kernel: the loop looks every 50 ms
    timeout: float
    zygote: tuple         # the key of the zygote it uses, or None


class _Grader:
    """The warm grader's loop: reads jobs, forks a child per job, answers each when its child ends or overruns."""

    def __init__(self):
        self.zygotes = {}     # (release folder, limits) -> warm.Zygote, least recently used first
        self.running = {}     # child pid -> _Running
        self.imported = False
        self.bound = None     # bytes: the latest job's Settings.warm_memory_gb

    def _zygote(self, job):
        if job.level != "bubblewrap" or not job.release:
            return None, None
        limits = job.sandbox_limits()
        key = (job.release, repr(limits))
        if key not in self.zygotes or not self.zygotes[key].alive():
            if key in self.zygotes:
                self.zygotes.pop(key).close()
            try:
                self.zygotes[key] = warm.Zygote("bubblewrap", job.release, limits)
            except OSError:
                return None, None
        self.zygotes[key] = self.zygotes.pop(key)   # the most recently used goes last
        return key, self.zygotes[key]

    def evict(self):
        """Closes zygotes no grading uses: those of a release that is gone, then the least recently used while
        what this process keeps warm is over the bound."""
        used = {entry.zygote for entry in self.running.values()}
        for key in [k for k in self.zygotes if k not in used and not os.path.isdir(k[0])]:
            self.zygotes.pop(key).close()
        while self.bound is not None:
            idle = [k for k in self.zygotes if k not in used]
            # this process and its zygotes (below it), without the grading children under way (transient)
            kept = _resident(os.getpid()) - sum(_resident(pid) for pid in self.running)
            if not idle or kept <= self.bound:
                return
            self.zygotes.pop(idle[0]).close()

    def start(self, request):
        """Forks the child that grades one job (or answers at once if the job cannot be read)."""
        request_id, job_path = request.id, request.job
        try:
            job = Job.read(job_path)
        except (OSError, ValueError, TypeError) as err:
            return self.answer(request_id, 3, f"the warm grader could not read the job: {type(err).__name__}: {err}")
        self.bound = int(job.settings.warm_memory_gb * 2**30)
        key, zygote = self._zygote(job)
        conn = None
        if zygote is not None:
            try:
                conn = zygote.attach()
            except warm.ZygoteError:
                zygote = None   # its workers start cold: seconds, not a grade
        if not self.imported:  # after the first zygote started: the two import TensorFlow at once
            _import_once()
            self.imported = True
        pid = os.fork()
        if pid == 0:
            for other in self.running.values():   # nothing of the other gradings' in this one
                if other.pidfd is not None:
                    os.close(other.pidfd)
            for other in self.zygotes.values():
                if other is not zygote:
                    other.control.close()
            _grade_in_child(job_path, job, zygote, conn)
        if conn is not None:
            conn.close()
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None  # an older kernel: the loop looks every 50 ms
        timeout = job.settings.suite_timeout
        self.running[pid] = _Running(request_id, job_path, time.monotonic() + timeout, pidfd, timeout,
                                     key if zygote is not None else None)
        self.evict()

    def answer(self, request_id, code, output):
        data = m.encode_line(m.JobAnswer(request_id, code, output))
        while data:
            data = data[os.write(1, data):]

    def finish(self, pid, code):
        entry = self.running.pop(pid)
        if entry.pidfd is not None:
            os.close(entry.pidfd)
        try:
            with open(os.path.join(os.path.dirname(entry.job_path), "pytest-output.txt"), errors="replace") as f:
                output = f.read()[-40000:]
        except OSError:
            output = ""
        if code is None:
            output += f"\nthe hidden suite did not finish within {entry.timeout:g} s"
        self.answer(entry.request, code, output)
        self.evict()

    def reap(self):
        now = time.monotonic()
        for pid, entry in list(self.running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.finish(pid, os.waitstatus_to_exitcode(status))
            elif now >= entry.deadline:
                launch.kill_tree(pid)
                os.waitpid(pid, 0)
                self.finish(pid, None)

    def serve(self):
        buffered, open_ = b"", True
        while open_ or self.running:
            deadlines = [entry.deadline for entry in self.running.values()]
            wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            if any(entry.pidfd is None for entry in self.running.values()):
                wait = 0.05 if wait is None else min(wait, 0.05)
            watched = [entry.pidfd for entry in self.running.values() if entry.pidfd is not None] + [0] * open_
            ready, _, _ = select.select(watched, [], [], wait)
            if open_ and 0 in ready:
                data = os.read(0, 1 << 16)
                if not data:   # the handle closed: end once the gradings under way are answered
                    open_ = False
                buffered += data
                while b"\n" in buffered:
                    line, buffered = buffered.split(b"\n", 1)
                    if line.strip():
                        try:
                            request = m.decode(line, m.JobRequest)
                        except m.MessageError as err:   # not a job: said on stderr, nothing graded
                            print(f"rnnkit warm grader: {err}", file=sys.stderr)
                            continue
                        self.start(request)
            self.reap()
        for zygote in self.zygotes.values():
            zygote.close()


def serve():
    _Grader().serve()


if __name__ == "__main__":
    serve()
