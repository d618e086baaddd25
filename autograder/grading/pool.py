"""Local grading: a warm grader (a trusted process that imports TensorFlow, pytest and the grader once, see
:mod:`autograder.grading.grader`) and the :class:`Pool` that lends it out, several submissions at a time.

A cold grading starts a pytest process and a sandboxed worker, and each imports TensorFlow (about 7 CPU-seconds
apiece on 2 cores). A warm grader pays that once, and grades each submission in a forked child of its own.

A runner is a function ``job path -> (exit code, output)``: :func:`run_cold`, or :meth:`WarmGrader.run` (which
several threads may call at once). A warm grader's pipe carries one message each way per job
(:class:`~autograder.sandbox.inside.messages.JobRequest` -> :class:`~autograder.sandbox.inside.messages.JobAnswer`,
answers in the order the gradings end); everything else (level, release, limits) is in the job file, written once.
A grading child that dies (killed, out of memory) fails only its own grading; a warm grader that dies fails the
gradings it was doing (its children die with it), each as a grader failure, and the next grading starts a new one.

The pool decides nothing about where grading runs: whoever owns a run (:mod:`autograder.grading.batch`) or the
grading service hands it tasks.
"""
import itertools
import os
import resource
import subprocess
import sys
import threading

from autograder import project
from autograder.grading import submission
from autograder.grading.job import Job
from autograder.sandbox.inside import messages as m


def trusted_env():
    """The environment of a trusted grading process: the project's root on the path, for ``solutions`` and the
    hidden suites, which no installed package contains (so that no installed copy can reach a sandbox)."""
    path = os.pathsep.join(p for p in (project.ROOT, os.environ.get("PYTHONPATH")) if p)
    # No pytest plugin but rnnkit's own runs in a trusted grader (loading every installed one cost ~1 s a grading).
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path,
                PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")


def trusted_command(module, *args):
    """The argv of a trusted process running ``module``: ``-P`` keeps the working folder (a course folder, where
    anyone who can write there could plant a ``csv.py``) off its import path; the project comes from PYTHONPATH."""
    return [sys.executable, "-P", "-m", module, *args]


HEADROOM_MB = 256   # address space a grading child needs beyond what the warm grader has mapped already


def limit_trusted_memory(settings, mapped=0):
    """An address-space limit on a trusted grading process: a submission that makes the grader hold too much
    (a flood of replies, a huge value) fails that grading, never the machine.

    ``mapped``: bytes the process has mapped already (a forked child of the warm grader). A limit without room
    above them is refused (MemoryError: a grader failure) rather than set: the first thread the suite started
    could not begin to run, and ``Thread.start`` would wait for it until the suite's timeout."""
    limit = int(settings.trusted_memory_gb * 2**30)
    if mapped and limit < mapped + HEADROOM_MB * 2**20:
        raise MemoryError(f"trusted_memory_gb = {settings.trusted_memory_gb:g} leaves no room above the "
                          f"{mapped / 2**30:.2f} GB the warm grader has mapped already")
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def mapped_bytes():
    """Bytes of address space this process has mapped (VmSize)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def _suite_args(job_path):
    job = Job.read(job_path)
    return job, job.pytest_args(job_path, project.suite(job.assignment))


def run_cold(job_path):
    """One suite in a fresh pytest process: ``(exit code, output)``."""
    job, args = _suite_args(job_path)
    settings = job.settings
    try:
        proc = subprocess.run(trusted_command("pytest", *args), capture_output=True, text=True,
                              timeout=settings.suite_timeout, env=trusted_env(), cwd=os.path.dirname(job_path),
                              preexec_fn=lambda: limit_trusted_memory(settings))
        return proc.returncode, proc.stdout[-20000:] + proc.stderr[-20000:]
    except subprocess.TimeoutExpired:
        return None, f"the hidden suite did not finish within {settings.suite_timeout:g} s"


class _Session:
    """One warm grader process and the jobs it has been given and not yet answered."""

    def __init__(self, proc):
        self.proc = proc
        self.pending = {}   # request id -> [threading.Event, (code, output)]
        self.dead = False


class WarmGrader:
    """The grading side's handle on one warm grader process; :meth:`run` is a runner, safe to call from several
    threads at once (each call's job is graded alongside the others')."""

    def __init__(self):
        self.proc = None  # started on the first grading: a run that keeps every result imports nothing
        self.session = None
        self.lock = threading.Lock()
        self.ids = itertools.count(1)

    def _start(self):
        self.proc = subprocess.Popen(trusted_command("autograder.grading.grader"), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=trusted_env(),
                                     cwd=project.ROOT, start_new_session=True)

    def _read(self, session):
        """Hands each answer to the job it is for; at the end of the process, fails every job still open."""
        for line in session.proc.stdout:
            try:
                reply = m.decode(line, m.JobAnswer)
                slot = session.pending.pop(reply.id)
            except (m.MessageError, KeyError):
                continue  # not an answer to anything asked
            slot[1] = (reply.code, reply.output)
            slot[0].set()
        code = session.proc.wait()
        with self.lock:  # it died (or was closed) while grading these: they failed; the next run starts a new one
            session.dead = True
            if self.session is session:
                self.session, self.proc = None, None
            left, session.pending = list(session.pending.values()), {}
        for slot in left:
            slot[1] = (code, f"the warm grader died while grading ({submission.describe_exit(code)})")
            slot[0].set()

    def run(self, job_path):
        with self.lock:
            if self.session is None:
                self._start()
                self.session = _Session(self.proc)
                threading.Thread(target=self._read, args=(self.session,), daemon=True).start()
            session, request = self.session, next(self.ids)
            slot = session.pending[request] = [threading.Event(), None]
            try:
                session.proc.stdin.write(m.encode_line(m.JobRequest(request, job_path)))
                session.proc.stdin.flush()
            except (OSError, ValueError):
                pass  # it is dying: its reader fails this job with the others
        slot[0].wait()
        return slot[1]

    def close(self):
        with self.lock:
            session, self.session, self.proc = self.session, None, None
        if session is None:
            return
        try:
            session.proc.stdin.close()
            session.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            session.proc.kill()


class Pool:
    """Runners lent out to ``size`` gradings at once (more with :meth:`grow`): one warm grader that grades them
    side by side, or :func:`run_cold` when not ``warm``. A grading beyond ``size`` waits its turn."""

    def __init__(self, size, warm=True):
        self.warm = warm
        self.grader = WarmGrader() if self.warm else None
        self.size, self.busy = 0, 0
        self.available = threading.Condition()
        self.grow(size)

    def grow(self, size):
        with self.available:
            self.size = max(self.size, size)
            self.available.notify_all()

    def grade(self, task):
        """Grades ``task`` with a free runner; returns its :class:`Outcome`."""
        if not self.warm:
            return submission.grade(task, run_cold)
        with self.available:
            self.available.wait_for(lambda: self.busy < self.size)
            self.busy += 1
        try:
            return submission.grade(task, self.grader.run)
        finally:
            with self.available:
                self.busy -= 1
                self.available.notify()

    def close(self):
        if self.grader is not None:
            self.grader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
