"""Local grading: a warm grader (a trusted process that imports TensorFlow, pytest and the grader once) and the
scheduler that lends it out, several submissions at a time.

A cold grading starts a pytest process and a sandboxed worker, and each imports TensorFlow (about 7 CPU-seconds
apiece on 2 cores). A warm grader (``python -m autograder.grading.pool``) pays that once:

* for each submission it forks a child that runs the hidden suite with ``pytest.main`` and exits; the parent has
  imported modules but run no TensorFlow op and holds no submission's data, so every child starts from the same
  clean state and nothing of one grading reaches another (the child's memory dies with it). The child's address
  space is limited (``Settings.trusted_memory_gb``). The parent does not wait for one child before forking the
  next: ``-j 2`` is two children of one warm grader, not two warm graders (each of which imported TensorFlow and
  started zygotes of its own). It is one thread with one ``select`` loop (jobs in, children's ends, deadlines), so
  that nothing else runs in it when it forks;
* at the ``bubblewrap`` level it keeps a zygote in the sandbox (:mod:`autograder.sandbox.warm`) per assignment,
  shared by the children grading that assignment at once: each child talks to it over a connection of its own and
  each worker it spawns is fresh, in namespaces of its own. The first job's zygote starts before the grader imports
  TensorFlow itself, so that the two imports share the machine's cores instead of following each other.

A runner is a function ``job path -> (exit code, output)``: :func:`run_cold`, or :meth:`WarmGrader.run` (which
several threads may call at once). Protocol on a warm grader's stdin/stdout: one JSON line per job, ``{"id": n,
"job": path}`` -> ``{"id": n, "code": exit code, "output": ...}``, answers in the order the gradings end;
everything else (level, release, limits) is in the job file, written once. A grading child that dies (killed, out
of memory) fails only its own grading; a warm grader that dies fails the gradings it was doing (its children die
with it), each as a grader failure, and the next grading starts a new one.
"""
from concurrent.futures import ThreadPoolExecutor, as_completed
import contextlib
import itertools
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time

from autograder import project
from autograder.grading.job import GRADER_FAILURE, Job, Outcome
from autograder.settings import Settings


def trusted_env():
    """The environment of a trusted grading process: the project's root on the path, for ``solutions`` and the
    hidden suites, which no installed package contains (so that no installed copy can reach a sandbox)."""
    path = os.pathsep.join(p for p in (project.ROOT, os.environ.get("PYTHONPATH")) if p)
    # No pytest plugin but rnnkit's own runs in a trusted grader (loading every installed one cost ~1 s a grading).
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path,
                PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")


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


def _mapped():
    """Bytes of address space this process has mapped (VmSize)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def _describe_exit(code):
    from autograder.grading import submission
    return submission.describe_exit(code)


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
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.grading.pool"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=trusted_env(),
                                     text=True, start_new_session=True)

    def _read(self, session):
        """Hands each answer to the job it is for; at the end of the process, fails every job still open."""
        for line in session.proc.stdout:
            try:
                reply = json.loads(line)
                slot = session.pending.pop(reply["id"])
            except (ValueError, KeyError, TypeError):
                continue  # not an answer to anything asked
            slot[1] = (reply["code"], reply["output"])
            slot[0].set()
        code = session.proc.wait()
        with self.lock:  # it died (or was closed) while grading these: they failed; the next run starts a new one
            session.dead = True
            if self.session is session:
                self.session, self.proc = None, None
            left, session.pending = list(session.pending.values()), {}
        for slot in left:
            slot[1] = (code, f"the warm grader died while grading ({_describe_exit(code)})")
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
                session.proc.stdin.write(json.dumps({"id": request, "job": job_path}) + "\n")
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
    side by side, or :func:`run_cold` when ``settings.warm`` is off. A grading beyond ``size`` waits its turn."""

    def __init__(self, size, settings=Settings()):
        self.warm = settings.warm
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
        from autograder.grading import submission
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


SERVING = None   # in the grading service's own process: its Pool (see autograder.grading.service)


def schedule(tasks, jobs=1, settings=Settings(), echo=print):
    """Grades ``tasks`` (of one course) on this machine, ``jobs`` at a time; yields each :class:`Outcome` as it is
    ready. With ``settings.service`` the course's warm grading service grades them (started on first use, see
    :mod:`autograder.grading.service`); otherwise, or if it cannot start, a warm grader of this run's own."""
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
PR_SET_PDEATHSIG = 1


def _grade_in_child(job_path, job, zygote, conn):
    """In the forked child: run the suite in this process and exit with pytest's code; output to a file."""
    import ctypes
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the warm grader killed: so is this
    import pytest
    from autograder.sandbox import warm
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
        limit_trusted_memory(job.settings, _mapped())
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


class _Grader:
    """The warm grader's loop: reads jobs, forks a child per job, answers each when its child ends or overruns."""

    def __init__(self):
        self.zygotes = {}     # release folder -> warm.Zygote
        self.running = {}     # child pid -> (request id, job path, deadline, pidfd or None, seconds allowed)
        self.imported = False

    def _zygote(self, job):
        from autograder.sandbox import warm
        if job.level != "bubblewrap" or not job.release:
            return None
        key = job.release
        if key not in self.zygotes or not self.zygotes[key].alive():
            if key in self.zygotes:
                self.zygotes.pop(key).close()
            try:
                self.zygotes[key] = warm.Zygote("bubblewrap", key, job.sandbox_limits())
            except OSError:
                return None
        return self.zygotes[key]

    def start(self, request):
        """Forks the child that grades one job (or answers at once if the job cannot be read)."""
        from autograder.sandbox import warm
        request_id, job_path = request["id"], request["job"]
        try:
            job = Job.read(job_path)
        except (OSError, ValueError, TypeError) as err:
            return self.answer(request_id, 3, f"the warm grader could not read the job: {type(err).__name__}: {err}")
        zygote, conn = self._zygote(job), None
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
                if other[3] is not None:
                    os.close(other[3])
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
        self.running[pid] = (request_id, job_path, time.monotonic() + timeout, pidfd, timeout)

    def answer(self, request_id, code, output):
        data = (json.dumps({"id": request_id, "code": code, "output": output}) + "\n").encode()
        while data:
            data = data[os.write(1, data):]

    def finish(self, pid, code):
        request_id, job_path, _, pidfd, timeout = self.running.pop(pid)
        if pidfd is not None:
            os.close(pidfd)
        try:
            with open(os.path.join(os.path.dirname(job_path), "pytest-output.txt"), errors="replace") as f:
                output = f.read()[-40000:]
        except OSError:
            output = ""
        if code is None:
            output += f"\nthe hidden suite did not finish within {timeout:g} s"
        self.answer(request_id, code, output)

    def reap(self):
        from autograder.sandbox import launch
        now = time.monotonic()
        for pid, (_, _, deadline, _, _) in list(self.running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.finish(pid, os.waitstatus_to_exitcode(status))
            elif now >= deadline:
                launch.kill_tree(pid)
                os.waitpid(pid, 0)
                self.finish(pid, None)

    def serve(self):
        buffered, open_ = b"", True
        while open_ or self.running:
            deadlines = [entry[2] for entry in self.running.values()]
            wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            if any(entry[3] is None for entry in self.running.values()):
                wait = 0.05 if wait is None else min(wait, 0.05)
            watched = [entry[3] for entry in self.running.values() if entry[3] is not None] + [0] * open_
            ready, _, _ = select.select(watched, [], [], wait)
            if open_ and 0 in ready:
                data = os.read(0, 1 << 16)
                if not data:   # the handle closed: end once the gradings under way are answered
                    open_ = False
                buffered += data
                while b"\n" in buffered:
                    line, buffered = buffered.split(b"\n", 1)
                    if line.strip():
                        self.start(json.loads(line))
            self.reap()
        for zygote in self.zygotes.values():
            zygote.close()


def serve():
    _Grader().serve()


if __name__ == "__main__":
    serve()
