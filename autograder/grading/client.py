"""The instructor's side of the grading service (:mod:`autograder.grading.service`): where this account's service
listens, how a command makes sure it is its own, and the requests a command sends it.

One service per instructor account, whatever the course folder. Its socket lives in a folder this process creates
itself (``<tmp>/rnnkit-<uid>/``, mode 0700): a folder or socket somebody else prepared there (a student's, on a
shared machine, before the instructor's first command of the day) is never used, never ``chmod``-ed: the command
says so in one line naming it and its owner, and uses a private place of the instructor's own instead
(``$XDG_RUNTIME_DIR/rnnkit`` or ``~/.cache/rnnkit``), or grades in its own process. Every connection checks who
listens (``SO_PEERCRED``: the service's uid must be ours) before it sends or trusts a byte; the service checks its
clients the same way.
"""
import hashlib
import json
import os
import pwd
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

from autograder import project, settings as settings_module
from autograder.errors import RnnkitError
from autograder.grading.job import GRADER_FAILURE, Outcome
from autograder.sandbox.inside import messages as m

START_TIMEOUT = 60    # seconds for a new service to listen (it imports no TensorFlow before its first grading)
SOCKET = "service.sock"


class ServiceUnavailable(OSError):
    """No service of ours could be reached or started: grade in this process instead."""


class ServiceLost(ServiceUnavailable):
    """The service went away in the middle of a command: what it recorded stays; the command grades the rest."""


def _owner(uid):
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _private_folder(path):
    """``path`` as a folder of ours alone: made now (mode 0700), or made before by us and still 0700 and ours.
    Raises ServiceUnavailable naming a folder somebody else prepared (it is never changed)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ServiceUnavailable(f"{path} is not a folder (owned by {_owner(info.st_uid)}): not used")
    if info.st_uid != os.getuid():
        raise ServiceUnavailable(f"{path} was made by {_owner(info.st_uid)}, not by you: not used")
    if stat.S_IMODE(info.st_mode) != 0o700:
        raise ServiceUnavailable(f"{path} (owned by {_owner(info.st_uid)}) has mode "
                                 f"{stat.S_IMODE(info.st_mode):o}, not 700: not used")
    return path


def places():
    """Where this account's service may listen, first choice first: the shared temporary folder, then places
    only this account can write to."""
    found = [os.path.join(tempfile.gettempdir(), f"rnnkit-{os.getuid()}")]
    if os.environ.get("XDG_RUNTIME_DIR"):
        found.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "rnnkit"))
    found.append(os.path.join(os.path.expanduser("~"), ".cache", "rnnkit"))
    return found


def socket_path(echo=print):
    """The socket of this account's service, in the first place that is ours; a place somebody else prepared is
    said in one line (``echo``) and passed over. Raises ServiceUnavailable when no place is ours."""
    for folder in places():
        try:
            if not os.path.isdir(os.path.dirname(folder)):
                os.makedirs(os.path.dirname(folder), mode=0o700)
            path = os.path.join(_private_folder(folder), SOCKET)
        except ServiceUnavailable as err:
            echo(f"rnnkit: {err}")
            continue
        except OSError:
            continue
        if len(path.encode()) < 108:   # what a Unix socket's address holds
            return path
    raise ServiceUnavailable("no private folder for the grading service")


def peer_uid(conn):
    """The uid of the process at the other end of a connected Unix socket (the kernel's word, not the peer's)."""
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def connect(path, timeout=5):
    """A connection to the service at ``path``, once the kernel says it is ours (socket and listener)."""
    info = os.lstat(path)
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise ServiceUnavailable(f"{path} (owned by {_owner(info.st_uid)}) is not a socket of yours: not used")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        conn.connect(path)
        uid = peer_uid(conn)
        if uid != os.getuid():
            raise ServiceUnavailable(f"{path} is served by {_owner(uid)}, not by you: not used")
    except BaseException:
        conn.close()
        raise
    return conn


def exchange(path, request, *expected, timeout=None):
    """Sends one request and reads its one answer (of the types ``expected``)."""
    with connect(path) as conn:
        conn.settimeout(timeout)
        conn.sendall(m.encode_line(request))
        reply = conn.makefile("rb").readline()
    if not reply:
        raise ConnectionError("the grading service closed the connection without an answer")
    return m.decode(reply, *expected)


def key(settings):
    """What a service must share with its client: the grader's code, the interpreter, the course secret's source
    (a digest, never the secret) and the service's own settings (the course's travel with each request)."""
    digest = hashlib.sha256(project.digest(project.code_files("autograder", "solutions", "assignments")).encode())
    digest.update(f"{sys.executable}\0{settings_module.secret()}\0{settings.service_idle}\0"
                  f"{settings.warm_memory_gb}".encode())
    return digest.hexdigest()[:24]


class Client:
    """A command's handle on this account's service. It is a grader (:meth:`grade`, :meth:`grow`) that a run may
    be handed, and :meth:`autograde` runs a whole ``rnnkit autograde`` in the service."""

    def __init__(self, settings, jobs=1, echo=print):
        self.settings, self.jobs, self.echo = settings, max(1, jobs), echo
        self.path, self.key = None, key(settings)
        self.lock = threading.Lock()

    def grow(self, jobs):
        self.jobs = max(self.jobs, jobs)

    def ready(self):
        """Makes sure a service of ours with our key listens (stopping one with another key); raises
        ServiceUnavailable."""
        with self.lock:
            if self.path is None:
                self.path = socket_path(self.echo)
            try:
                reply = exchange(self.path, m.Hello(self.key), m.Ready, m.Stale, timeout=10)
                if isinstance(reply, m.Ready):
                    return
                exchange(self.path, m.Stop(), m.Stopped, timeout=10)
            except FileNotFoundError:
                pass
            except ServiceUnavailable:
                raise
            except (OSError, ValueError):
                pass
            self._start()

    def _start(self):
        try:
            os.unlink(self.path)   # ours (the folder is ours alone): a dead service's
        except FileNotFoundError:
            pass
        from autograder.grading.pool import trusted_command, trusted_env
        log = os.path.join(os.path.dirname(self.path), "service.log")
        with open(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as out:
            # it forks once more and this process returns at once: nobody's child
            subprocess.run(trusted_command("autograder.grading.service", self.path, self.key,
                                           json.dumps(self.settings.to_dict())),
                           stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=trusted_env(), cwd=project.ROOT,
                           start_new_session=True, timeout=START_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if isinstance(exchange(self.path, m.Hello(self.key), m.Ready, m.Stale, timeout=10), m.Ready):
                    return
            except ServiceUnavailable:
                raise
            except (OSError, ValueError):
                time.sleep(0.05)
        raise ServiceUnavailable(f"the grading service did not start within {START_TIMEOUT} s (see {log})")

    def autograde(self, course_root, assignments, students, sandbox, force, settings):
        """Runs ``rnnkit autograde`` of ``course_root`` in the service, echoing its lines; returns the number of
        submissions NOT graded. Raises :class:`RnnkitError` with the run's one-line refusal,
        :class:`ServiceUnavailable` when no service of ours answers and :class:`ServiceLost` when it went away
        during the run."""
        self.ready()
        request = m.Autograde(self.key, os.path.abspath(course_root), list(assignments), students, sandbox, force,
                              self.jobs, settings.to_dict())
        try:
            with connect(self.path) as conn:
                conn.settimeout(None)
                conn.sendall(m.encode_line(request))
                for line in conn.makefile("rb"):
                    reply = m.decode(line, m.Echo, m.Done, m.Refused, m.Crashed, m.Stale)
                    if isinstance(reply, m.Echo):
                        self.echo(reply.line)
                    elif isinstance(reply, m.Done):
                        return reply.failures
                    elif isinstance(reply, m.Refused):
                        raise RnnkitError(reply.error)
                    elif isinstance(reply, m.Crashed):
                        raise RuntimeError(f"the grading service failed:\n{reply.traceback}")
                    else:   # replaced by another client's service in between
                        return self.autograde(course_root, assignments, students, sandbox, force, settings)
        except (OSError, ValueError) as err:
            raise ServiceLost(f"the grading service was lost during the run ({err})") from None
        raise ServiceLost("the grading service was lost during the run (it closed the connection)")

    def grade(self, task):
        """The task's :class:`Outcome`; a service lost mid-grading is a grader failure (retried by the run)."""
        self.ready()
        try:
            reply = exchange(self.path, m.GradeTask(self.key, task.to_dict(), self.jobs), m.Graded, m.Stale)
        except (OSError, ValueError) as err:
            return Outcome(task, GRADER_FAILURE, reason=f"the grading service was lost while grading ({err})")
        if isinstance(reply, m.Stale):  # replaced by another client's service in between: go round once more
            return self.grade(task)
        return Outcome.from_dict(reply.outcome)


def _quiet(line):
    pass


def status():
    """This account's service's :class:`~autograder.sandbox.inside.messages.StatusReport`, or None."""
    try:
        return exchange(socket_path(_quiet), m.Status(), m.StatusReport, timeout=30)
    except (OSError, ValueError):
        return None


def stop():
    """Ends this account's service, if one runs; returns whether one did."""
    try:
        exchange(socket_path(_quiet), m.Stop(), m.Stopped, timeout=30)
        return True
    except (OSError, ValueError):
        return False
