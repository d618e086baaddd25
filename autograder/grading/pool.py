"""Local grading: warm graders (trusted processes that import TensorFlow, pytest and the grader once) and the
scheduler that lends them out, one submission at a time.

A cold grading starts a pytest process and a sandboxed worker, and each imports TensorFlow (about 7 CPU-seconds
apiece on 2 cores). A warm grader (``python -m autograder.grading.pool``) pays that once:

* for each submission it forks a child that runs the hidden suite with ``pytest.main`` and exits; the parent has
  imported modules but run no TensorFlow op and holds no submission's data, so every child starts from the same
  clean state and nothing of one grading reaches the next (the child's memory dies with it). The child's address
  space is limited (``Settings.trusted_memory_gb``);
* at the ``bubblewrap`` level it keeps a zygote in the sandbox (:mod:`autograder.sandbox.warm`) per assignment, so
  the child's student processes start in milliseconds, each in namespaces of its own.

A runner is a function ``job path -> (exit code, output)``: :func:`run_cold`, or :meth:`WarmGrader.run`. Protocol
on a warm grader's stdin/stdout: one JSON line per job, ``{"job": path}`` -> ``{"code": exit code, "output": ...}``;
everything else (level, release, limits) is in the job file, written once. A warm grader that dies (killed, out of
memory) fails only the grading it was doing, as a grader failure, and the next grading starts a new one.
"""
from concurrent.futures import ThreadPoolExecutor, as_completed
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time

from autograder import project
from autograder.grading import submission
from autograder.grading.job import GRADER_FAILURE, Job, Outcome
from autograder.settings import Settings


def trusted_env():
    """The environment of a trusted grading process: the project's root on the path, for ``solutions`` and the
    hidden suites, which no installed package contains (so that no installed copy can reach a sandbox)."""
    path = os.pathsep.join(p for p in (project.ROOT, os.environ.get("PYTHONPATH")) if p)
    # No pytest plugin but rnnkit's own runs in a trusted grader (loading every installed one cost ~1 s a grading).
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path,
                PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")


def limit_trusted_memory(settings):
    """An address-space limit on a trusted grading process: a submission that makes the grader hold too much
    (a flood of replies, a huge value) fails that grading, never the machine."""
    limit = int(settings.trusted_memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _suite_args(job_path):
    job = Job.read(job_path)
    return job, job.pytest_args(job_path, project.suite(job.assignment))


def run_cold(job_path):
    """One suite in a fresh pytest process: ``(exit code, output)``."""
    job, args = _suite_args(job_path)
    settings = job.settings
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", *args], capture_output=True, text=True,
                              timeout=settings.suite_timeout, env=trusted_env(), cwd=os.path.dirname(job_path),
                              preexec_fn=lambda: limit_trusted_memory(settings))
        return proc.returncode, proc.stdout[-20000:] + proc.stderr[-20000:]
    except subprocess.TimeoutExpired:
        return None, f"the hidden suite did not finish within {settings.suite_timeout:g} s"


class WarmGrader:
    """The grading side's handle on one warm grader process; :meth:`run` is a runner."""

    def __init__(self):
        self.proc = None  # started on the first grading: a run that keeps every result imports nothing
        self.lock = threading.Lock()

    def _start(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.grading.pool"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=trusted_env(),
                                     text=True, start_new_session=True)

    def run(self, job_path):
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            try:
                self.proc.stdin.write(json.dumps({"job": job_path}) + "\n")
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
            except (OSError, ValueError):
                line = ""
            if not line:  # it died while grading: this grading failed; the next one starts a new warm grader
                code = self.proc.wait()
                self.proc = None
                return code, f"the warm grader died while grading ({submission.describe_exit(code)})"
        reply = json.loads(line)
        return reply["code"], reply["output"]

    def close(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class Pool:
    """Runners lent out one grading at a time: ``size`` warm graders (more with :meth:`grow`), or :func:`run_cold`
    when ``settings.warm`` is off. A grading waits for a free warm grader."""

    def __init__(self, size, settings=Settings()):
        self.warm = settings.warm
        self.free, self.size = [], 0
        self.available = threading.Condition()
        self.grow(size)

    def grow(self, size):
        with self.available:
            while self.warm and self.size < size:
                self.free.append(WarmGrader())
                self.size += 1
                self.available.notify()

    def grade(self, task):
        """Grades ``task`` with a free runner; returns its :class:`Outcome`."""
        if not self.warm:
            return submission.grade(task, run_cold)
        with self.available:
            self.available.wait_for(lambda: self.free)
            grader = self.free.pop()
        try:
            return submission.grade(task, grader.run)
        finally:
            with self.available:
                self.free.append(grader)
                self.available.notify()

    def close(self):
        with self.available:
            for grader in self.free:
                grader.close()
            self.free = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


SERVING = None   # in the grading service's own process: its warm graders (see autograder.grading.service)


def schedule(tasks, jobs=1, settings=Settings(), echo=print):
    """Grades ``tasks`` (of one course) on this machine, ``jobs`` at a time; yields each :class:`Outcome` as it is
    ready. With ``settings.service`` the course's warm grading service grades them (started on first use, see
    :mod:`autograder.grading.service`); otherwise, or if it cannot start, warm graders of this run's own."""
    tasks = list(tasks)
    if not tasks:
        return
    jobs = min(max(1, jobs), len(tasks))
    with contextlib.ExitStack() as stack:
        grade = None
        if SERVING is not None:
            SERVING.grow(jobs)
            grade = SERVING.grade
        elif settings.service and settings.warm:
            from autograder.grading import service
            client = service.Client(tasks[0].course_root, settings, jobs)
            try:
                client.ready()
                grade = client.grade
            except service.ServiceUnavailable as err:
                echo(f"{err}; grading in this process instead")
        if grade is None:
            grade = stack.enter_context(Pool(jobs, settings)).grade
        threads = stack.enter_context(ThreadPoolExecutor(max_workers=jobs))
        futures = {threads.submit(grade, task): task for task in tasks}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as err:  # a bug of the grader's own: this submission is not graded, the rest go on
                yield Outcome(futures[future], GRADER_FAILURE, reason=f"{type(err).__name__}: {err}")


# -- the warm grader process ---------------------------------------------------------------------------------
def _grade_in_child(job_path, job, zygote):
    """In the forked child: run the suite in this process and exit with pytest's code; output to a file."""
    import pytest
    from autograder.sandbox import warm
    workdir = os.path.dirname(job_path)
    fd = os.open(os.path.join(workdir, "pytest-output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(workdir)
    warm.ZYGOTE = zygote
    try:
        limit_trusted_memory(job.settings)
        code = pytest.main(job.pytest_args(job_path, project.suite(job.assignment)))
    except BaseException:
        code = 3
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def _wait(pid, timeout):
    from autograder.sandbox import launch
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    launch.kill_tree(pid)
    os.waitpid(pid, 0)
    return None


def serve():
    import numpy  # noqa: F401  (the imports every suite pays: once, here, with no op run)
    import tensorflow  # noqa: F401
    import keras  # noqa: F401
    import pytest  # noqa: F401
    import nbformat  # noqa: F401
    import autograder.trusted.plugin  # noqa: F401
    from autograder.sandbox import warm
    zygotes = {}
    for line in sys.stdin:
        job_path = json.loads(line)["job"]
        job = Job.read(job_path)
        zygote = None
        if job.level == "bubblewrap" and job.release:
            key = job.release
            if key not in zygotes or not zygotes[key].alive():
                if key in zygotes:
                    zygotes[key].close()
                try:
                    zygotes[key] = warm.Zygote("bubblewrap", key, job.sandbox_limits())
                except OSError:
                    zygotes.pop(key, None)
            zygote = zygotes.get(key)
        pid = os.fork()
        if pid == 0:
            _grade_in_child(job_path, job, zygote)
        code = _wait(pid, job.settings.suite_timeout)
        try:
            with open(os.path.join(os.path.dirname(job_path), "pytest-output.txt"), errors="replace") as f:
                output = f.read()[-40000:]
        except OSError:
            output = ""
        if code is None:
            output += f"\nthe hidden suite did not finish within {job.settings.suite_timeout:g} s"
        sys.stdout.write(json.dumps({"code": code, "output": output}) + "\n")
        sys.stdout.flush()
    for zygote in zygotes.values():
        zygote.close()


if __name__ == "__main__":
    serve()
