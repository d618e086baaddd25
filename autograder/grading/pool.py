"""Warm graders: trusted processes that import TensorFlow, pytest and the grader once and grade many submissions.

A cold grading starts a pytest process and a sandboxed worker, and each imports TensorFlow (about 7 CPU-seconds
apiece on 2 cores). A warm grader (``python -m autograder.grading.pool``) pays that once:

* for each submission it forks a child that runs the hidden suite with ``pytest.main`` and exits; the parent has
  imported modules but run no TensorFlow op and holds no submission's data, so every child starts from the same
  clean state and nothing of one grading reaches the next (the child's memory dies with it);
* at the ``bubblewrap`` level it keeps a zygote in the sandbox (:mod:`autograder.sandbox.warm`) per assignment, so
  the child's student processes start in milliseconds, each in namespaces of its own.

Verdicts, seeds and the course secret stay where they were: in the trusted child, which is the same plugin and
suite as a cold grading (``RNNKIT_WARM=0`` grades cold, for comparison).

Protocol on the warm grader's stdin/stdout: one JSON line per job, ``{"job": path, "args": [pytest args],
"cwd": dir, "level": ..., "release": dir}`` -> ``{"code": exit code, "output": pytest's output}``.
"""
import json
import os
import subprocess
import sys
import threading
import time

from autograder import project

SUITE_TIMEOUT = 60 * 60   # a whole suite; per-call limits and the submission's budget are far shorter


def enabled():
    return os.environ.get("RNNKIT_WARM", "1") != "0"


def trusted_env():
    """The environment of a trusted grading process: the project's root on the path, for ``solutions`` and the
    hidden suites, which no installed package contains (so that no installed copy can reach a sandbox)."""
    path = os.pathsep.join(p for p in (project.ROOT, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path)


def run_cold(args, cwd):
    """One suite in a fresh pytest process: ``(exit code, output)``."""
    command = [sys.executable, "-m", "pytest", *args]
    env = trusted_env()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=SUITE_TIMEOUT, env=env, cwd=cwd)
        return proc.returncode, proc.stdout[-20000:] + proc.stderr[-20000:]
    except subprocess.TimeoutExpired:
        return None, f"the hidden suite did not finish within {SUITE_TIMEOUT} s"


class WarmGrader:
    """The grading side's handle on one warm grader process; ``run`` has the signature of :func:`run_cold`."""

    def __init__(self):
        self.proc = None  # started on the first grading: a run that keeps every result imports nothing
        self.lock = threading.Lock()

    def run(self, args, cwd, level=None, release=None):
        with self.lock:
            if self.proc is None:
                self.proc = subprocess.Popen([sys.executable, "-m", "autograder.grading.pool"],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, env=trusted_env(), text=True,
                                             start_new_session=True)
            if self.proc.poll() is not None:
                return run_cold(args, cwd)  # the warm grader died (never by a student's hand): grade cold
            self.proc.stdin.write(json.dumps({"args": args, "cwd": cwd, "level": level, "release": release}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            return run_cold(args, cwd)
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
    """``size`` warm graders (cold runs when RNNKIT_WARM=0), lent out one grading at a time."""

    def __init__(self, size):
        self.free = [WarmGrader() for _ in range(size)] if enabled() else []
        self.lock = threading.Lock()

    def runner(self):
        """A function with the signature of :func:`run_cold` (and ``level``, ``release``), and a way to return it."""
        with self.lock:
            grader = self.free.pop() if self.free else None
        if grader is None:
            return (lambda args, cwd, level=None, release=None: run_cold(args, cwd)), (lambda: None)

        def give_back():
            with self.lock:
                self.free.append(grader)
        return grader.run, give_back

    def close(self):
        for grader in self.free:
            grader.close()
        self.free = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- the warm grader process ---------------------------------------------------------------------------------
def _grade_in_child(request, zygote):
    """In the forked child: run the suite in this process and exit with pytest's code; output to a file."""
    import pytest
    from autograder.sandbox import warm
    log = os.path.join(request["cwd"], "pytest-output.txt")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(request["cwd"])
    warm.ZYGOTE = zygote
    try:
        code = pytest.main(request["args"])
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
    from autograder.sandbox import launch, warm
    zygotes = {}
    for line in sys.stdin:
        request = json.loads(line)
        zygote = None
        if request.get("level") == "bubblewrap" and request.get("release"):
            key = request["release"]
            if key not in zygotes or not zygotes[key].alive():
                if key in zygotes:
                    zygotes[key].close()
                try:
                    zygotes[key] = warm.Zygote("bubblewrap", key, launch.Limits())
                except OSError:
                    zygotes.pop(key, None)
            zygote = zygotes.get(key)
        pid = os.fork()
        if pid == 0:
            _grade_in_child(request, zygote)
        code = _wait(pid, SUITE_TIMEOUT)
        try:
            with open(os.path.join(request["cwd"], "pytest-output.txt"), errors="replace") as f:
                output = f.read()[-40000:]
        except OSError:
            output = ""
        if code is None:
            output += f"\nthe hidden suite did not finish within {SUITE_TIMEOUT} s"
        sys.stdout.write(json.dumps({"code": code, "output": output}) + "\n")
        sys.stdout.flush()
    for zygote in zygotes.values():
        zygote.close()


if __name__ == "__main__":
    serve()
