"""The trusted side's handle on one student's sandboxed process.

The grader calls the student's functions by name with values it chose; what comes back is decoded into plain
NumPy arrays, lists, dicts and numbers (or opaque :class:`~autograder.sandbox.inside.channel.Ref` handles) and checked on
this side. A call that raises, hangs or kills the process fails only the check that made it: the process is
started afresh for the next call. A process killed by SIGKILL that the grader did not send (the machine's OOM
killer, an operator, its zygote gone) costs nothing the first time: the call runs again in a fresh process, and only
a second such death fails the check.

The channel is the student's to garble, never the grader's to hang on. Every request carries an id and its reply
must carry it back; at most one reply line is kept (the one answering the request being waited for), and lines
that nobody asked for are dropped and counted, so that a flood costs the grader no memory. Requests are written
with the call's deadline (a process that stops reading its requests is stopped like one that stops answering).
A reply that is unsolicited, too long, malformed, of the wrong shape or for another request fails the check that
was waiting (:class:`StudentError`), never the grader.
"""
import ast
import base64
import collections
import importlib.util
import marshal
import os
import select
import shutil
import threading
import time

from assignments.common.checklib import CheckFailed, error_cause
from autograder import scratch
from autograder.sandbox import cgroup, cpu, launch, warm
from autograder.sandbox.inside import channel
from autograder.settings import Settings

MAX_REPLY_BYTES = 64 * 2**20   # one reply line (an answer with arrays in base64)
OUTPUT_TAIL_CHARS = 4000


class StudentError(CheckFailed):
    """The student's code failed (raised, hung, crashed, or returned something unreadable)."""


class StudentTimeout(StudentError):
    """The student's code did not finish in time."""


class StudentKilled(StudentError):
    """The student process was killed by SIGKILL that did not come from the grader: the machine's OOM killer or an
    operator (or a zygote that went away with its workers). Retried once in a fresh process before it counts."""


KILLED_CODES = (-9, 128 + 9)   # SIGKILL seen directly, or passed on by bubblewrap or a zygote's worker as 128 + 9


class StudentProcess:
    """A sandboxed process running one submission's answer cells.

    Args:
        cells: ``[{"grade_id", "source", "kind"}]`` in notebook order; ``kind`` is ``"setup"`` for the released
            set-up cells and ``"answer"`` for the student's answer cells. ``missing`` lists answer cells the
            submission lacks.
        assignment_dir: the released assignment folder; its files (not its notebooks) are copied into the
            sandbox's working folder so that set-up cells find ``checklib.py``, ``data/``, ...
        level: isolation level (see :mod:`autograder.sandbox.launch`).
    """

    def __init__(self, cells, assignment_dir, level, limits=None, missing=(),
                 load_timeout=None, call_timeout=None, threads=None, reference_source=None, budget=None,
                 wall_factor=None):
        self.cells = list(cells)
        self.missing = set(missing)
        self.assignment_dir = assignment_dir
        defaults = Settings()   # what is not given is the settings' default (their only home)
        self.level, self.limits = level, limits or defaults.sandbox_limits()
        self.load_timeout = defaults.load_timeout if load_timeout is None else load_timeout
        self.call_timeout = defaults.call_timeout if call_timeout is None else call_timeout
        self.threads = defaults.threads if threads is None else threads
        # Seconds the student's code may be charged over the whole grading (loading and every call together, restarts
        # included; None: no budget): its own CPU time where the machine counts it, see autograder.sandbox.cpu.
        self.clock = cpu.Budget(budget, defaults.wall_factor if wall_factor is None else wall_factor)
        self.timeouts = []   # [{"item", "by": "cpu" or "wall", "cpu", "wall"}]: a "wall" one may be a neighbour's doing
        self.cell_errors = {}
        self.broken = None   # set when the cells themselves cannot be loaded: no point in retrying
        self.proc = None
        self.workdir = None
        self.output = collections.deque(maxlen=64)
        self.starts = self.cold_starts = 0   # processes started, and how many of them without a zygote
        self.current_item = None
        self.loading = False
        self.timed_out = {}  # fn -> message: a function that hung once is not run again (each run costs a restart)
        # Earlier items that the item being checked builds on: their reference replaces the student's in each call
        # (``item(..., uses=...)``), so that one bug costs points on one item only.
        self.uses = ()
        self.reference_source = reference_source
        self.request_id = 0          # ids of requests, over every process of this grading (never reused)
        self.retried_kills = 0       # calls run again because their process was killed from outside
        # What the worker observed running (worker.OBSERVED: autodiff, Keras recurrent cells) during the last call,
        # and during every call of each function in this grading run. Observed inside the student's process, so
        # forgeable there: use it only to take points away (see ``observed_in``).
        self.observed = ()
        self.observations = collections.defaultdict(set)
        self._compiled = {}
        self.inbox = None
        self.unsolicited_seen = 0    # unsolicited lines of the current process already reported
        self.group = None            # the current process's control group (cgroup.Group), where the machine has one

    @property
    def budget(self):
        """Seconds the whole grading may be charged (None: no budget)."""
        return self.clock.seconds

    @budget.setter
    def budget(self, seconds):
        self.clock.seconds = seconds

    @property
    def spent(self):
        """Seconds charged so far (see :mod:`autograder.sandbox.cpu`)."""
        return self.clock.spent

    # -- what the suites use -------------------------------------------------------------------------------
    def observed_in(self, fn):
        """Everything :data:`~autograder.sandbox.inside.worker.OBSERVED` that ran during any call of ``fn`` so far
        in this grading run (restarts included), sorted. Every call is observed the same way, so a function that
        hides what it runs from the observation does so in the calls whose values are checked too. It is observed
        inside the student's process: a verdict may use it only to fail a check, never to pass one."""
        return sorted(self.observations.get(fn, ()))

    def call(self, fn, *args, timeout=None, **kwargs):
        """Runs the student's ``fn(*args, **kwargs)`` in the sandbox and returns the decoded result; what the
        worker observed running meanwhile is in :attr:`observed` afterwards."""
        if fn == "_autodiff_calls":
            # Suites written before every call came observed ask for a spy; there is none to ask: this is a plain
            # call of the function, indistinguishable from any other, and its observation is the answer.
            inner, *rest = args
            self.call(inner, *rest, timeout=timeout, **kwargs)
            return [label for label in self.observed if label.startswith("tf.")]
        self.observed = ()
        if fn in self.timed_out:
            raise StudentError(self.timed_out[fn] + " earlier in this grading run, so it was not run again")
        self._check_budget()
        self._ensure_started()
        self._explain_if_undefined(fn)
        request = {"op": "call", "fn": fn, "args": channel.encode(list(args)),
                   "kwargs": channel.encode(kwargs) if kwargs else {}}
        if self.uses and self.reference_source:
            request["reference"] = {name: self._reference_code(name) for name in self.uses}
        # harness functions (named _...) exercise an item through Keras: name the item, not the harness
        what = f"your {fn}" if not fn.startswith("_") else f"your {self.current_item or 'code'}"
        try:
            try:
                reply = self._ask(request, timeout or self.call_timeout, what)
            except StudentKilled:
                # Killed from outside while it ran (the OOM killer, an operator, a zygote gone): not the student's
                # doing until it happens again, so the call runs once more in a fresh process.
                self.retried_kills += 1
                self._ensure_started()
                reply = self._ask(request, timeout or self.call_timeout, what)
        except StudentTimeout as err:
            self.timed_out[fn] = str(err).split(";")[0]
            raise
        self.observed = tuple(reply.get("observed", ()))
        self.observations[fn].update(self.observed)
        if not reply.get("ok"):
            error = str(reply.get('error', 'unknown error'))
            raise StudentError(f"{what} raised an error:\n{error}{error_cause(error)}")
        try:
            return channel.decode(reply.get("value"))
        except Exception as err:
            self.close()  # what else it writes on the channel is not to be read either
            raise StudentError(f"{fn} returned a value the grader cannot read ({type(err).__name__})") from None

    def _reference_code(self, name):
        """The reference definition of ``name`` compiled here, for the worker to run: its code object without a
        docstring at any depth, never its source text (which student code could read off the worker's stack or
        memory). Its bytecode can still be disassembled in there: see the README on ``uses``."""
        if name not in self._compiled:
            code = compile(without_docstrings(self.reference_source(name)), f"<reference {name}>", "exec")
            self._compiled[name] = {"magic": importlib.util.MAGIC_NUMBER.hex(),
                                    "code": base64.b64encode(marshal.dumps(code)).decode("ascii")}
        return self._compiled[name]

    def close(self):
        if self.group is not None:
            # first, all at once: a worker ending its PID namespace waits for every process in it to die (and a
            # zygote waits for that worker), at the group's own sliver of the cores
            self.group.close()
            self.group = None
        if isinstance(self.proc, warm.Child):
            self.proc.kill()  # its PID namespace goes with it
        elif self.proc is not None:
            launch.kill_tree(self.proc.pid)
            try:
                self.proc.wait(timeout=10)
            except Exception:
                pass
        self.proc = None
        self.inbox = None
        self.unsolicited_seen = 0
        self.loading = False
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def student_output(self):
        """The last lines the student's code printed (for the instructor's log)."""
        return "".join(self.output)[-OUTPUT_TAIL_CHARS:]

    # -- the process -----------------------------------------------------------------------------------------
    def _explain_if_undefined(self, fn):
        for name in (fn, self.current_item):
            self._explain_cell(name)

    def _explain_cell(self, fn):
        if fn in self.missing:
            raise StudentError(f"the answer cell '{fn}' is missing from your notebook (deleted, or its nbgrader "
                               "metadata changed); restore it from the released notebook")
        if self.cell_errors.get(fn):
            raise StudentError(f"your answer cell '{fn}' failed when it ran:\n{self.cell_errors[fn]}")

    def start(self):
        """Starts the process and sends it the cells without waiting: TensorFlow loads on both sides at once."""
        self.close()
        self.starts += 1
        self.group = cgroup.Group.create(self.limits.group_memory_gb * 2**30, self.limits.group_processes)
        self.proc = self._spawn_warm()
        if self.proc is None:
            self.cold_starts += 1
            self.proc = self._spawn_cold()
        self.inbox = _Inbox()
        threading.Thread(target=self.inbox.read, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._drain_output, args=(self.proc,), daemon=True).start()
        os.set_blocking(self.proc.stdin.fileno(), False)  # written with a deadline (see _send)
        cells = [{"grade_id": c["grade_id"], "source": c["source"], "kind": c["kind"]} for c in self.cells]
        self.loading = True
        try:
            self._send({"op": "load", "cells": cells, "threads": self.threads}, self.load_timeout,
                       "your answer cells")
        except StudentError as err:  # it did not even read its cells: nothing can be graded
            self.broken = f"{err} (while running your notebook's cells; nothing could be graded)"

    def _spawn_warm(self):
        """A worker forked by this grading process's zygote, if it has one for this sandbox and release."""
        zygote = warm.ZYGOTE
        if zygote is None or zygote.level != self.level or zygote.release_dir != self.assignment_dir:
            return None
        try:
            child = zygote.spawn(self.limits, self.threads)
        except warm.ZygoteError:
            return None  # a cold start costs seconds, not a grade
        if self.group is not None and not self._into_group(child):
            child.kill()
            return None  # not in its budget: a cold worker is born in it
        return child

    def _into_group(self, child):
        """Moves a warm worker (and the process it forks for its PID namespace) into the group before it reads a
        line of the student's: until then nothing of the student's runs, so nothing can escape the move."""
        try:
            pids = child.host_pids()   # the zygote's child, and the first process of its own PID namespace once forked
            for pid in pids:
                self.group.add(pid)
            if len(pids) == 1:  # moved before it forked: its child is born in the group, or was forked meanwhile
                for pid in set(child.host_pids()) - set(pids):
                    self.group.add(pid)
        except OSError:
            return False
        return bool(pids)

    def _spawn_cold(self):
        self.workdir = scratch.make("rnnkit-student-")
        if self.assignment_dir:
            shutil.copytree(self.assignment_dir, self.workdir, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__"))
        return launch.start(self.level, self.workdir, self.limits, group=self.group)

    def _ensure_started(self):
        if self.broken:
            raise StudentError(self.broken)
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        if not self.loading:
            return
        self.loading = False
        try:
            try:
                reply = self._receive(self.load_timeout, "your answer cells")
            except StudentKilled:  # killed from outside while the cells ran: once more, in a fresh process
                self.retried_kills += 1
                self.start()
                self.loading = False
                if self.broken:
                    raise StudentError(self.broken) from None
                reply = self._receive(self.load_timeout, "your answer cells")
        except StudentError as err:
            self.broken = f"{err} (while running your notebook's cells; nothing could be graded)"
            raise StudentError(self.broken) from None
        self.cell_errors = {c["grade_id"]: c["error"] for c in reply.get("cells", [])}
        setup_errors = [c for c in self.cells if c["kind"] == "setup" and self.cell_errors.get(c["grade_id"])]
        if setup_errors:
            cell = setup_errors[0]["grade_id"]
            self.broken = (f"the set-up cell '{cell}' failed in the grader, so nothing could be graded:\n"
                           f"{self.cell_errors[cell]}")
            raise StudentError(self.broken)

    def _window(self, timeout):
        """The :class:`cpu.Step` of a step given ``timeout`` seconds (shortened by what is left of the budget)."""
        return self.clock.step(self.group, timeout)

    def _timed_out(self, step, what, doing="did not finish"):
        step.charge()
        self.timeouts.append({"item": self.current_item, "by": step.ended_by, "cpu": round(step.cpu_used, 2),
                              "wall": round(step.wall(), 2)})
        used = step.describe()
        self.close()
        if step.by_budget:
            self.clock.spent = max(self.clock.spent, self.budget)
            return StudentTimeout(f"{what} was stopped: the time budget of the whole submission ({self.budget:g} s"
                                  f"{' of CPU time' if step.counted else ''}) ran out while it ran ({used}); look "
                                  "for slow or sleeping code")
        if not step.counted:
            return StudentTimeout(f"{what} {doing} within {step.timeout:g} s (an infinite loop, or far too slow); "
                                  "the grader stopped it")
        if step.ended_by == "cpu":
            return StudentTimeout(f"{what} {doing} within {step.timeout:g} s of CPU time (an infinite loop, or far "
                                  "too slow); the grader stopped it")
        return StudentTimeout(f"{what} {doing} within {step.timeout:g} s of CPU time or {step.timeout * step.factor:g}"
                              f" s of wall clock ({used}: look for sleeping or waiting code); the grader stopped it")

    def _send(self, request, timeout, what, window=None):
        """Writes ``request`` (given the next id) before the step's deadline: a process that does not read its
        requests cannot hold the grader in ``write()``."""
        step = window or self._window(timeout)
        self.request_id += 1
        request["id"] = self.request_id
        data = memoryview(channel.dumps(request))
        self.inbox.expect(self.request_id)
        fd = self.proc.stdin.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        try:
            while data:
                if step.over():
                    raise self._timed_out(step, what, "did not take the grader's request")
                if not poller.poll(step.wait() * 1000):
                    continue
                try:
                    data = data[os.write(fd, data):]
                except BlockingIOError:
                    continue
                except OSError:
                    return  # the process is gone (its reply pipe says how)
        finally:
            step.charge()

    def _ask(self, request, timeout, what):
        """Sends ``request`` and waits for its reply, both within ``timeout`` (and the submission's budget)."""
        self._check_unsolicited(what)
        window = self._window(timeout)
        self._send(request, timeout, what, window)
        return self._receive(timeout, what, window)

    def _check_budget(self):
        if self.clock.exhausted():
            # charged mostly by the wall clock: it may have been a neighbour's doing (see autograder.sandbox.cpu)
            by = "wall" if self.clock.by_wall >= self.clock.spent / 10 else "cpu"
            self.timeouts.append({"item": self.current_item, "by": by, "cpu": None, "wall": None})
            raise StudentTimeout(f"your code used up the time budget of the whole submission ({self.budget:g} s, "
                                 "several times what the reference needs), so this check was not run; look for "
                                 "slow or sleeping code in the items that took long")

    def _check_unsolicited(self, what):
        """Lines nobody asked for (written by student code between two calls) fail the next check: the process is
        started afresh, since its code still writes on the grader's channel."""
        count = self.inbox.unsolicited if self.proc is not None else 0
        if count > self.unsolicited_seen:
            self.unsolicited_seen = count
            self.close()
            raise StudentError(f"your code wrote {count} line(s) on the grader's channel that were not replies to "
                               f"its requests (before {what} ran); a notebook must not write to the process's "
                               "original standard output, so this check was not run")

    def _receive(self, timeout, what, window=None):
        step = window or self._window(timeout)
        line = _Inbox.TIMEOUT
        while line is _Inbox.TIMEOUT and not step.over():
            line = self.inbox.take(step.wait())
        step.charge()
        if line is _Inbox.TIMEOUT:
            raise self._timed_out(step, what)
        if line is _Inbox.ENDED:
            code = self.proc.wait() if self.proc else None
            out_of_memory = self.group is not None and self.group.oom_kills() > 0
            self.close()
            if out_of_memory:  # the kernel ended it for outgrowing the submission's own budget: the student's doing
                raise StudentError(f"the student process was stopped while running {what}: it used more than "
                                   f"{self.limits.group_memory_gb:g} GB of memory with all its processes together")
            message = f"the student process died while running {what} ({_describe_exit(code, self.limits)})"
            if code in KILLED_CODES:
                raise StudentKilled(message)
            raise StudentError(message)
        if line is _Inbox.TOO_LONG:
            self.close()
            raise StudentError(f"{what} sent back more than {MAX_REPLY_BYTES // 2**20} MB in one reply")
        problem = None
        try:
            reply = channel.loads(line)
        except ValueError:
            reply, problem = None, "a line that is not JSON"
        if problem is None:
            problem = _reply_problem(reply, self.request_id)
        if problem:
            self.close()
            raise StudentError(f"{what} sent back something the grader cannot read ({problem}); the process's "
                               "original standard output is the grader's channel")
        if self.group is not None and self.group.oom_kills() > 0:  # one of its processes was, and it answered
            self.close()
            raise StudentError(f"a process of your code was stopped while {what} ran: together they used more "
                               f"than {self.limits.group_memory_gb:g} GB of memory")
        return reply

    def _drain_output(self, proc):
        kept = 0
        for chunk in iter(lambda: proc.stderr.read1(8192), b""):
            if kept < 1 << 20:  # keep at most 1 MB; the rest is read and dropped so the student never blocks
                self.output.append(chunk.decode("utf-8", "replace"))
                kept += len(chunk)


class _Inbox:
    """The replies of one student process, as its reader thread sees them: at most one line kept (the reply to the
    request being waited for); anything else is dropped and counted in ``unsolicited``."""
    TIMEOUT, ENDED, TOO_LONG = object(), object(), object()

    def __init__(self):
        self.cond = threading.Condition()
        self.expected = None   # the id of the request whose reply is awaited, until its line arrives
        self.line = None       # that line
        self.ended = None      # ENDED or TOO_LONG once the stream is done with
        self.unsolicited = 0

    def expect(self, request_id):
        with self.cond:
            self.expected, self.line = request_id, None

    def read(self, stream):
        """The reader thread: one line at a time, never more than MAX_REPLY_BYTES of it."""
        try:
            while True:
                line = stream.readline(MAX_REPLY_BYTES + 1)
                if not line:
                    self._end(self.ENDED)
                    return
                if not line.endswith(b"\n"):
                    self._end(self.TOO_LONG)
                    return
                with self.cond:
                    if self.expected is not None and self.line is None:
                        self.line = line
                        self.cond.notify_all()
                    else:
                        self.unsolicited += 1
                del line
        except (OSError, ValueError):  # the stream was closed under us: the process is gone
            self._end(self.ENDED)

    def _end(self, why):
        with self.cond:
            self.ended = why
            self.cond.notify_all()

    def take(self, timeout):
        """The awaited line, or TIMEOUT, ENDED, TOO_LONG."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.line is None and self.ended is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return self.TIMEOUT
                self.cond.wait(left)
            line, self.line, self.expected = self.line, None, None
            return line if line is not None else self.ended


def _reply_problem(reply, request_id):
    """What is wrong with a decoded reply to request ``request_id`` (None if nothing)."""
    if not isinstance(reply, dict):
        return f"a {type(reply).__name__} instead of a reply"
    if reply.get("id") != request_id or type(reply.get("id")) is not int:
        return "a reply to another request"
    if type(reply.get("ok")) is not bool:
        return "a reply without a yes/no 'ok'"
    if not reply["ok"] and not isinstance(reply.get("error"), str):
        return "a failure without a message"
    if reply["ok"] and "value" not in reply and "cells" not in reply:
        return "a reply without a value"
    if not (isinstance(reply.get("observed", []), list) and all(isinstance(o, str) for o in reply.get("observed", []))):
        return "a malformed observation"
    if "cells" in reply and not (isinstance(reply["cells"], list) and all(
            isinstance(c, dict) and isinstance(c.get("grade_id"), str) and isinstance(c.get("error"), (str, type(None)))
            for c in reply["cells"])):
        return "a malformed list of cells"
    return None


def without_docstrings(source):
    """The module ``source`` as a syntax tree without the docstring of the module or of any function or class in
    it, however deeply nested (a body left empty gets ``pass``)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.fix_missing_locations(tree)


def _describe_exit(code, limits):
    if code is None:
        return "no exit code"
    if 128 < code < 160:  # a signal, as bubblewrap and a zygote's worker pass it on
        code = 128 - code
    if code < 0:
        name = {9: "SIGKILL", 6: "SIGABRT", 11: "SIGSEGV", 24: "SIGXCPU", 25: "SIGXFSZ"}.get(-code, f"signal {-code}")
        return f"killed by {name}; the limits are {limits.memory_gb:g} GB of memory and {limits.cpu_seconds} s of CPU"
    return f"exit code {code}: did your code call os._exit?"
