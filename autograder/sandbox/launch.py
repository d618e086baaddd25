"""How a student process is started: the sandbox command, its resource limits, and cleaning up after it.

Three levels; the strongest available is used and named in every result:

* ``bubblewrap``: Debian's ``bwrap``. A fresh mount namespace that shows only the system's libraries, the Python
  installation, the worker's own code and a scratch copy of the released assignment folder; no network, its own
  PIDs, a private /tmp. ``solutions/``, the hidden suites, the gradebook and other students' work do not exist in it.
* ``unshare``: util-linux's ``unshare`` with a user and a network namespace: no network, but the file system is
  visible (an honest student gains nothing; a dishonest one could read the reference).
* ``none``: a plain subprocess; only the resource limits and the trusted-side verdicts protect the grade.
"""
from dataclasses import dataclass
import functools
import glob
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

from autograder.errors import RnnkitError

WORKER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inside")  # the only project folder the sandbox sees
LEVELS = ("bubblewrap", "unshare", "none")


@dataclass(frozen=True)
class Limits:
    memory_gb: float = 4.0        # address space of the student process (TensorFlow alone maps ~1.9 GB)
    cpu_seconds: int = 1800       # a backstop; wall-clock timeouts per call are the real limit
    file_mb: int = 64             # largest file the student process may write (in its scratch folder)
    processes: int = 4096         # threads count here too, and TensorFlow starts many


def _set_limits(limits):
    def apply():
        memory = int(limits.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * 2**20, limits.file_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _bwrap_command(workdir):
    # Mounts apply in order: the private /tmp first, so that a Python installed under /tmp stays visible.
    binds = ["--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for path in ("/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"):
        binds += ["--ro-bind-try", path, path]
    for prefix in sorted({os.path.realpath(sys.base_prefix), sys.base_prefix, sys.prefix}):
        binds += ["--ro-bind", prefix, prefix]
    for device in glob.glob("/dev/nvidia*"):  # a GPU grader keeps its GPU
        binds += ["--dev-bind", device, device]
    return ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", *binds,
            "--ro-bind", WORKER_DIR, "/sandbox", "--bind", workdir, "/work/assignment",
            "--proc", "/proc", "--dev", "/dev", "--chdir", "/work/assignment",
            sys.executable, "-I", "/sandbox/worker.py"]


def _unshare_command(workdir):
    return ["unshare", "--user", "--map-root-user", "--net", "--kill-child", "--fork",
            sys.executable, "-I", os.path.join(WORKER_DIR, "worker.py")]


def _plain_command(workdir):
    return [sys.executable, "-I", os.path.join(WORKER_DIR, "worker.py")]


_COMMANDS = {"bubblewrap": _bwrap_command, "unshare": _unshare_command, "none": _plain_command}


@functools.lru_cache(maxsize=None)
def _works(level):
    if level == "none":
        return True
    if shutil.which({"bubblewrap": "bwrap", "unshare": "unshare"}[level]) is None:
        return False
    with tempfile.TemporaryDirectory() as workdir:
        command = _COMMANDS[level](workdir)[:-2] + ["-c", "pass"]
        try:
            return subprocess.run(command, capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


def best_level(required=None):
    """The strongest isolation this machine provides, or ``required`` (an error if it is not available)."""
    if required:
        if required not in LEVELS:
            raise RnnkitError(f"unknown sandbox level {required!r}; choose one of {', '.join(LEVELS)}")
        if not _works(required):
            raise RnnkitError(f"sandbox level {required!r} is not available on this machine "
                               "(for bubblewrap: sudo apt-get install bubblewrap)")
        return required
    return next(level for level in LEVELS if _works(level))


def worker_env():
    """A minimal environment: nothing of the grader's leaks in (no tokens, no paths to the course)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": "/tmp/matplotlib", "KERAS_HOME": "/tmp/keras", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("CUDA_VISIBLE_DEVICES", "TF_ENABLE_ONEDNN_OPTS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def start(level, workdir, limits=Limits()):
    """Starts the worker at ``level`` with its scratch folder ``workdir``; returns the Popen."""
    command = _COMMANDS[level](workdir)
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=workdir, env=worker_env(), preexec_fn=_set_limits(limits),
                            start_new_session=True)


def become_subreaper():
    """Orphans of student processes are re-parented to us rather than to init, so :func:`kill_tree` finds them."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _children():
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            table.setdefault(ppid, []).append(int(entry))
    return table


def kill_tree(pid, include_root=True):
    """Kills every descendant of ``pid`` (and ``pid`` with its process group, if ``include_root``).

    In a grading process, which has no children but student processes, ``kill_tree(os.getpid(), False)`` also
    reaches the ones that escaped their group (see :func:`become_subreaper`).
    """
    targets = []
    if os.path.isdir("/proc"):
        table, stack = _children(), [pid]
        while stack:
            children = table.get(stack.pop(), [])
            targets += children
            stack += children
    if include_root:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        targets.append(pid)
    for child in targets:
        try:
            os.kill(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
