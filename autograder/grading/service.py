"""The grading service: one per instructor account, it keeps a warm grader between commands, so that a TA's regrade
does not wait for TensorFlow.

``rnnkit autograde`` (and so formgrader's button, ``nbgrader autograde`` on an rnnkit course and ``rnnkit
validate``) reaches it through :mod:`autograder.grading.client`, which starts it on first use. A connection carries
one request (:mod:`autograder.sandbox.inside.messages`): a whole command (``Autograde``: the service takes the
course's lock, grades and records exactly as the command would, and sends its lines back), one submission
(``GradeTask``), ``Hello``, ``Status`` or ``Stop``. Before it reads a byte it checks the client's uid
(``SO_PEERCRED``): only this account's own processes are served (at level ``none`` a root grader's student runs
as another uid).

Warm never means shared: each submission is still graded in a forked child of the warm grader whose memory dies
with it, and each student process is a fresh worker with its own root, ``/tmp``, ``/dev`` and limits; the service
only keeps them alive between commands. What stays warm is bounded (``Settings.warm_memory_gb``, see
:mod:`autograder.grading.grader`). It runs the grader's code as it was when it started: a client whose code,
interpreter, secret or service settings differ (:func:`~autograder.grading.client.key`) stops it and starts a new
one, so an edited hidden suite is never graded by an old one.

It ends by itself after ``Settings.service_idle`` seconds without work, when every course folder it graded is gone,
on ``rnnkit service --stop`` and on SIGTERM; it removes its socket as it ends.
"""
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback

import psutil

from autograder.errors import RnnkitError
from autograder.grading import pool
from autograder.grading.client import peer_uid
from autograder.grading.job import GRADER_FAILURE, Outcome, Task
from autograder.sandbox.inside import messages as m
from autograder.settings import Settings

REQUESTS = (m.Hello, m.Stop, m.Status, m.GradeTask, m.Autograde)


class Service:
    """Serves this account's commands on the socket ``path`` until idle, stopped, or its courses are gone."""

    def __init__(self, path, service_key, settings):
        self.path, self.key, self.settings = path, service_key, settings
        self.pool = pool.Pool(1, settings.warm)
        self.busy, self.last = 0, time.monotonic()
        self.courses = {}   # course folder -> when it was last graded (monotonic)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self.listener.bind(path)
        finally:
            os.umask(old)
        self.inode = os.stat(path).st_ino   # a successor binds the same path: only our own socket is removed
        self.listener.listen(64)
        self.listener.settimeout(1.0)

    def serve(self):
        while not self.done.is_set() and not self._over():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:   # interrupted (a signal): look again
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        self.listener.close()
        try:
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.pool.close()

    def _over(self):
        """Idle for too long, or every course it graded is gone."""
        with self.lock:
            if self.busy:
                return False
            if self.courses and not any(os.path.isdir(root) for root in self.courses):
                return True
            return time.monotonic() - self.last > self.settings.service_idle

    def _working(self, course_root=None):
        with self.lock:
            self.busy += 1
            if course_root:
                self.courses[course_root] = time.monotonic()

    def _rested(self, course_root=None):
        with self.lock:
            self.busy -= 1
            self.last = time.monotonic()
            if course_root:
                self.courses[course_root] = self.last

    def _handle(self, conn):
        with conn:
            try:
                if peer_uid(conn) != os.getuid() or self.done.is_set():   # not ours, or stopping: not a byte read
                    return
                request = m.decode(conn.makefile("rb").readline(), *REQUESTS)
            except (OSError, m.MessageError) as err:
                print(f"rnnkit service: request refused: {err}", file=sys.stderr, flush=True)
                return
            try:
                self._answer(conn, request)
            except OSError:
                pass   # the client went away (its run retries)

    def _answer(self, conn, request):
        def send(reply):
            conn.sendall(m.encode_line(reply))
        if isinstance(request, m.Stop):
            self.done.set()
            return send(m.Stopped())
        if isinstance(request, m.Status):
            return send(self.status())
        if request.key != self.key:
            return send(m.Stale(os.getpid()))
        if isinstance(request, m.Hello):
            return send(m.Ready(os.getpid()))
        if isinstance(request, m.Autograde):
            self._working(request.course_root)
            try:
                return self._autograde(send, request)
            finally:
                self._rested(request.course_root)
        task = Task.from_dict(request.task)
        self._working(task.course_root)
        try:
            self.pool.grow(request.jobs)
            try:
                outcome = self.pool.grade(task)
            except Exception as err:  # said to the client, never a silent hang-up
                outcome = Outcome(task, GRADER_FAILURE, reason=f"the grading service's own error: "
                                  f"{type(err).__name__}: {err}")
            send(m.Graded(outcome.to_dict()))
        finally:
            self._rested(task.course_root)

    def status(self):
        """What runs: courses, resident memory (this process and everything below it), idle time."""
        now = time.monotonic()
        me = psutil.Process()
        memory = 0
        for proc in [me] + me.children(recursive=True):
            try:
                memory += proc.memory_info().rss
            except psutil.Error:
                pass
        with self.lock:
            return m.StatusReport(os.getpid(), {root: round(now - when, 1) for root, when in self.courses.items()},
                                  round(memory / 2**20, 1), 0.0 if self.busy else round(now - self.last, 1),
                                  self.busy)

    def _autograde(self, send, run):
        """One ``rnnkit autograde``, as the command would run it, with this service's warm grader; its lines sent
        as they come. A client that went away does not stop the run: every submission is still graded and
        recorded."""
        from autograder import workflow
        from autograder.course import Course

        def echo(line):
            try:
                send(m.Echo(str(line)))
            except OSError:
                pass
        try:
            _, failures, _ = workflow.autograde(Course(run.course_root), run.assignments, run.students,
                                                sandbox=run.sandbox, force=run.force, jobs=run.jobs, echo=echo,
                                                settings=Settings.from_dict(run.settings), grader=self.pool)
            reply = m.Done(failures)
        except RnnkitError as err:
            reply = m.Refused(str(err))
        except Exception:
            reply = m.Crashed(traceback.format_exc())
        try:
            send(reply)
        except OSError:
            pass


def main(path, service_key, settings_json):
    if os.fork():  # a daemon: the starting command's child returns at once, the service belongs to no command
        os._exit(0)
    service = Service(path, service_key, Settings.from_dict(json.loads(settings_json)))
    signal.signal(signal.SIGTERM, lambda *_: service.done.set())   # ends as --stop does: socket removed
    service.serve()


if __name__ == "__main__":
    main(*sys.argv[1:4])
