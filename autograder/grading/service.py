"""A grading service that stays warm between commands, so that a TA's regrade does not wait for TensorFlow.

``rnnkit autograde`` (and so formgrader's button, ``nbgrader autograde`` on an rnnkit course and ``rnnkit
validate``) finds the course's service through the course folder, starts it on first use and hands it one
:class:`~autograder.grading.job.Task` per connection; the service grades it with its warm grader
(:class:`~autograder.grading.pool.Pool`) and answers with the :class:`~autograder.grading.job.Outcome`. It ends by
itself after ``Settings.service_idle`` seconds without work.

Warm never means shared: the service keeps the same warm grader a single run would (each submission is still
graded in a forked child whose memory dies with it, and each student process is a fresh worker with its own root,
``/tmp``, ``/dev`` and limits); it only keeps them alive between commands. It runs the grader's code as it was
when it started: a client whose code, settings, secret or interpreter differ (its :func:`key`) stops it and starts
a new one, so an edited hidden suite is never graded by an old one.

The socket lives in a folder of the instructor's own (``/tmp/rnnkit-<uid>/``, mode 0700; the socket 0600): the
sandbox sees no ``/tmp`` of the host, and at level ``none`` a root grader's student runs as another uid. A client
that cannot reach or start the service grades in its own process, as before.

A whole ``rnnkit autograde`` runs in the service too (:meth:`Client.autograde`): the command's process only passes
its arguments and prints the lines the run sends back, so a regrade pays neither nbgrader's nor nbformat's imports
in a new process; the service takes the course's lock, grades and records exactly as the command would.

Protocol (JSON lines): ``{"key": ..., "task": Task, "jobs": n}`` -> ``{"outcome": Outcome}``;
``{"key": ..., "autograde": {...}}`` -> ``{"echo": line}`` ... then ``{"done": {"failures": n}}``, ``{"error":
one line}`` or ``{"crash": traceback}``; ``{"stale": true}`` when the keys differ; ``{"stop": true}`` ends the
service.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from autograder import project
from autograder.errors import RnnkitError
from autograder.grading.job import GRADER_FAILURE, Outcome, Task

START_TIMEOUT = 60    # seconds for a new service to listen (it imports no TensorFlow before its first grading)


def socket_path(course_root):
    """Short (a socket path must fit in 108 bytes), private to this user, one per course folder."""
    folder = os.path.join(tempfile.gettempdir(), f"rnnkit-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    digest = hashlib.sha256(os.path.realpath(course_root).encode()).hexdigest()[:16]
    return os.path.join(folder, f"{digest}.sock")


def key(settings):
    """What the service must share with its client: the grader's code, the settings, the interpreter and the
    course secret's source (a digest, never the secret)."""
    digest = hashlib.sha256(project.digest(project.code_files("autograder", "solutions", "assignments")).encode())
    digest.update(json.dumps(settings.to_dict(), sort_keys=True).encode())
    digest.update(sys.executable.encode() + os.environ.get("RNNKIT_SECRET", "").encode())
    return digest.hexdigest()[:24]


# -- the client ----------------------------------------------------------------------------------------------------
class ServiceUnavailable(OSError):
    """No service could be reached or started: grade in this process instead."""


class ServiceLost(ServiceUnavailable):
    """The service went away in the middle of a command: what it recorded stays; the command grades the rest."""


def _exchange(path, request, timeout=None):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(path)
        conn.settimeout(timeout)
        conn.sendall((json.dumps(request) + "\n").encode())
        reply = conn.makefile("rb").readline()
    if not reply:
        raise ConnectionError("the grading service closed the connection without an answer")
    return json.loads(reply)


class Client:
    """The client of one course's service; :meth:`grade` is safe to call from several threads."""

    def __init__(self, course_root, settings, jobs=1):
        self.course_root, self.settings, self.jobs = course_root, settings, max(1, jobs)
        self.path, self.key = socket_path(course_root), key(settings)
        self.lock = threading.Lock()

    def ready(self):
        """Makes sure a service with our key listens (stopping one with another key); raises ServiceUnavailable."""
        with self.lock:
            try:
                reply = _exchange(self.path, {"key": self.key, "hello": True}, timeout=10)
                if not reply.get("stale"):
                    return
                _exchange(self.path, {"stop": True}, timeout=10)
            except (OSError, ValueError):
                pass
            self._start()

    def _start(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        log = os.path.join(self.course_root, "grader_logs", "service.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        from autograder.grading.pool import trusted_env
        with open(log, "a") as out:  # it forks once more and this process returns at once: nobody's child
            subprocess.run([sys.executable, "-m", "autograder.grading.service", self.course_root, self.path,
                            self.key, json.dumps(self.settings.to_dict())], stdin=subprocess.DEVNULL,
                           stdout=out, stderr=out, env=trusted_env(), cwd=self.course_root, start_new_session=True,
                           timeout=START_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if not _exchange(self.path, {"key": self.key, "hello": True}, timeout=10).get("stale"):
                    return
            except (OSError, ValueError):
                time.sleep(0.05)
        raise ServiceUnavailable(f"the grading service did not start within {START_TIMEOUT} s (see {log})")

    def autograde(self, assignments, students, sandbox, force, echo=print):
        """Runs ``rnnkit autograde`` in the service, echoing its lines; returns the number of submissions NOT
        graded. Raises :class:`RnnkitError` with the run's one-line refusal, :class:`ServiceUnavailable` when no
        service answers and :class:`ServiceLost` when it went away during the run."""
        self.ready()
        request = {"key": self.key, "autograde": {"course_root": self.course_root, "assignments": assignments,
                                                  "students": students, "sandbox": sandbox, "force": force,
                                                  "jobs": self.jobs}}
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(5)
                conn.connect(self.path)
                conn.settimeout(None)
                conn.sendall((json.dumps(request) + "\n").encode())
                for line in conn.makefile("rb"):
                    reply = json.loads(line)
                    if "echo" in reply:
                        echo(reply["echo"])
                    elif "done" in reply:
                        return reply["done"]["failures"]
                    elif "error" in reply:
                        raise RnnkitError(reply["error"])
                    elif "crash" in reply:
                        raise RuntimeError(f"the grading service failed:\n{reply['crash']}")
                    elif reply.get("stale"):   # replaced by another client's service in between
                        return self.autograde(assignments, students, sandbox, force, echo)
        except (OSError, ValueError) as err:
            raise ServiceLost(f"the grading service was lost during the run ({err})") from None
        raise ServiceLost("the grading service was lost during the run (it closed the connection)")

    def grade(self, task):
        """The task's :class:`Outcome`; a service lost mid-grading is a grader failure (retried by the run)."""
        self.ready()
        try:
            reply = _exchange(self.path, {"key": self.key, "task": task.to_dict(), "jobs": self.jobs})
        except (OSError, ValueError) as err:
            return Outcome(task, GRADER_FAILURE, reason=f"the grading service was lost while grading ({err})")
        if reply.get("stale"):  # replaced by another client's service in between: go round once more
            return self.grade(task)
        return Outcome.from_dict(reply["outcome"])


def pid(course_root):
    """The process id of the course's service, or None if none answers."""
    try:
        return _exchange(socket_path(course_root), {"key": None, "hello": True}, timeout=10).get("pid")
    except (OSError, ValueError):
        return None


def stop(course_root):
    """Ends the course's service, if one runs (``rnnkit autograde`` needs none of this: it ends when idle)."""
    try:
        _exchange(socket_path(course_root), {"stop": True}, timeout=30)
        return True
    except (OSError, ValueError):
        return False


# -- the service ---------------------------------------------------------------------------------------------------
class Service:
    def __init__(self, course_root, path, service_key, settings):
        from autograder.grading import pool
        self.path, self.key, self.settings = path, service_key, settings
        self.pool = pool.Pool(1, settings)
        self.busy, self.last = 0, time.monotonic()
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
        from autograder.grading import pool
        pool.SERVING = self.pool   # while it serves, a run inside the service grades with this warm grader
        try:
            self._serve()
        finally:
            pool.SERVING = None

    def _serve(self):
        while not self.done.is_set():
            with self.lock:
                idle = not self.busy and time.monotonic() - self.last > self.settings.service_idle
            if idle:
                break
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        self.listener.close()
        try:
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.pool.close()

    def _handle(self, conn):
        with conn:
            try:
                request = json.loads(conn.makefile("rb").readline() or b"{}")
            except ValueError:
                return
            if request.get("stop"):
                self.done.set()
                conn.sendall(b'{"stopped": true}\n')
                return
            if request.get("key") != self.key:
                conn.sendall((json.dumps({"stale": True, "pid": os.getpid()}) + "\n").encode())
                return
            if request.get("autograde"):
                with self.lock:
                    self.busy += 1
                try:
                    self._autograde(conn, request["autograde"])
                finally:
                    with self.lock:
                        self.busy -= 1
                        self.last = time.monotonic()
                return
            if not request.get("task"):
                conn.sendall((json.dumps({"ready": True, "pid": os.getpid()}) + "\n").encode())
                return
            with self.lock:
                self.busy += 1
            try:
                task = Task.from_dict(request["task"])
                self.pool.grow(int(request.get("jobs", 1)))
                try:
                    outcome = self.pool.grade(task)
                except Exception as err:  # said to the client, never a silent hang-up
                    outcome = Outcome(task, GRADER_FAILURE, reason=f"the grading service's own error: "
                                      f"{type(err).__name__}: {err}")
                conn.sendall((json.dumps({"outcome": outcome.to_dict()}) + "\n").encode())
            except (OSError, ValueError, KeyError, TypeError):
                pass  # the client went away (its run retries) or sent no task we can read
            finally:
                with self.lock:
                    self.busy -= 1
                    self.last = time.monotonic()


    def _autograde(self, conn, run):
        """One ``rnnkit autograde``, as the command would run it, its lines sent as they come. A client that went
        away does not stop the run: every submission is still graded and recorded."""
        from autograder import workflow
        from autograder.course import Course

        def send(reply):
            try:
                conn.sendall((json.dumps(reply) + "\n").encode())
            except OSError:
                pass
        try:
            _, failures, _ = workflow.autograde(Course(run["course_root"]), run["assignments"], run["students"],
                                                sandbox=run["sandbox"], force=run["force"], jobs=run["jobs"],
                                                echo=lambda line: send({"echo": str(line)}), settings=self.settings)
            send({"done": {"failures": failures}})
        except RnnkitError as err:
            send({"error": str(err)})
        except Exception:
            send({"crash": traceback.format_exc()})


def main(course_root, path, service_key, settings_json):
    from autograder.settings import Settings
    if os.fork():  # a daemon: the starting command's child returns at once, the service belongs to no command
        os._exit(0)
    Service(course_root, path, service_key, Settings.from_dict(json.loads(settings_json))).serve()


if __name__ == "__main__":
    main(*sys.argv[1:5])
