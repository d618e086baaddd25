"""How a student process is started: the sandbox command, its resource limits, and cleaning up after it.

Three levels; the strongest available is used and named in every result. What each one covers (each line is
checked from inside the sandbox by ``tests/test_sandbox_hostile.py``):

``bubblewrap`` (Debian's ``bwrap``, >= 0.8 for the tmpfs sizes)
  * the student runs as uid/gid 65534 in a user namespace of its own, with no capabilities (``CapEff`` 0,
    ``--cap-drop ALL``, no ``setuid``), ``no_new_privs``, no nested user namespaces, and the seccomp filter of
    :mod:`autograder.sandbox.inside.seccomp` (no ``mount``, ``ptrace``, ``unshare``, ``setns``, ``bpf``, ``keyctl``
    ...). A grader running as root starts ``bwrap`` itself as an unprivileged uid of its own (``SANDBOX_UID_BASE`` +
    a per-process offset), so the student is nobody outside the namespace too and RLIMIT_NPROC holds.
  * a file system that shows only ``/usr``, ``/lib*``, ``/bin``, ``/sbin``, ``/etc``, the Python installation
    (interpreter prefix and the virtualenv), read-only; the project's ``solutions``, ``autograder`` and
    ``assignments`` packages are masked wherever they sit under a bound folder (a non-editable install), and so are
    the project folder and a course folder under it. The worker's own code is at ``/sandbox`` (read-only).
  * ``/work/assignment``: a tmpfs of ``Limits.scratch_mb`` (256 MB) with the released files bound read-only in it;
    ``/tmp`` a private tmpfs of ``Limits.tmp_mb`` (256 MB), ``/dev/shm`` one of ``SHM_MB``. Filling them fails
    with ``ENOSPC`` inside. These are the only writable places: the root and ``/dev`` are read-only. A warm
    worker (:mod:`autograder.sandbox.warm`) gets all of them fresh, ``/dev`` included, and sees everything else
    read-only, so nothing one submission writes reaches the next.
  * no network (own network namespace), own PID, IPC and UTS namespaces: it cannot see or signal any process of the
    grader or of another submission, nor read their ``/proc/<pid>/environ``; a minimal environment.
``unshare`` (util-linux's ``unshare``)
  * own network, PID (with its own ``/proc``), mount, IPC and UTS namespaces; the same seccomp filter; the same
    minimal environment, size-limited private ``/tmp``, ``/dev/shm`` and scratch folder (released files read-only).
  * every mount is read-only, so the real release folder, the course, the virtualenv and the rest of the system
    cannot be written; the project folder is hidden (empty tmpfs) except the interpreter and the worker's code.
  * the student runs without capabilities: a root grader's worker is dropped to an unprivileged uid of its own
    (no user namespace needed); a non-root grader's worker runs as uid 65534 in a nested user namespace (locked
    mounts) that maps to the grader's own user.
  * NOT covered: the rest of the file system stays readable with the permissions of that user (a course folder
    outside the project, world-readable files elsewhere). For a non-root grader, RLIMIT_NPROC counts the
    grader's own processes too.
``none`` (a plain subprocess)
  * resource limits (address space, CPU time, file size, processes, no core files), a minimal environment, its own
    session, the seccomp filter (no ``mount``, ``ptrace``, namespaces ...); for a root grader an unprivileged uid of
    its own (only what "others" may read or write, no capabilities, RLIMIT_NPROC holds), in a private mount
    namespace where only the interpreter is shown in folders that uid could not reach (``/root``).
  * NOT covered: no network isolation; the whole file system is visible (``solutions/``, the hidden suites,
    the course and its gradebook, the grader's job file unless the grader runs as root), and writable wherever
    that user may write (for a non-root grader: the course, the release folder, the virtualenv, the project);
    other processes of the same user can be seen, read (``/proc/<pid>/environ``) and signalled (for a non-root
    grader: the grader itself and the workers of other submissions); ``/tmp`` and the scratch folder are the
    machine's, limited only by RLIMIT_FSIZE per file; RLIMIT_NPROC does not hold for a non-root grader's other
    processes. Only the trusted-side verdicts protect the grade.

At every level, a submission's processes together have one memory and process budget where the machine offers a
control group the grader may use (:mod:`autograder.sandbox.cgroup`: ``Limits.group_memory_gb``,
``Limits.group_processes``); otherwise each process has ``RLIMIT_AS`` and together they have ``RLIMIT_NPROC``, and
:func:`gaps` says so.

Public API, for the grader and for a future pre-forked worker: :func:`start`, :func:`command` (the same sandbox
around any argv, e.g. another entry point than ``worker.py``), :func:`inside_path`, :func:`best_level`,
:class:`Limits`, :data:`LEVELS`, :func:`kill_tree`, :func:`become_subreaper`, :func:`worker_env`, :func:`gaps` (what
this machine leaves out of a level's description, e.g. no seccomp filter for an unknown architecture: the sandbox
still starts, unfiltered, and says so here).
"""
from dataclasses import dataclass
import functools
import glob
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

from autograder import project
from autograder.errors import RnnkitError
from autograder.sandbox import cgroup
from autograder.sandbox.inside import confine, seccomp

WORKER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inside")  # the only project folder the sandbox sees
LEVELS = ("bubblewrap", "unshare", "none")
SANDBOX_DIR = "/sandbox"                  # WORKER_DIR, as bubblewrap shows it
SANDBOX_WORKDIR = "/work/assignment"      # the scratch folder, as bubblewrap shows it
INSIDE_UID = INSIDE_GID = 65534           # who the student is, seen from inside a user namespace
SANDBOX_UID_BASE = 0x10000000             # a root grader's sandboxes run as BASE + 64 * (grader pid) + n outside
SHM_MB = 64                               # private /dev/shm
MASKED_PACKAGES = ("solutions", "autograder", "assignments")  # never visible under a bound folder
_starts = itertools.count()


@dataclass(frozen=True)
class Limits:
    """The limits of one student process, built by :meth:`autograder.settings.Settings.sandbox_limits` (their
    only home: no default here)."""
    memory_gb: float              # address space of each student process (TensorFlow alone maps ~1.9 GB)
    cpu_seconds: int              # a backstop; wall-clock timeouts per call are the real limit
    file_mb: int                  # largest file the student process may write (in its scratch folder)
    processes: int                # RLIMIT_NPROC: threads count here too (a worker runs about 40 on 2 cores)
    tmp_mb: int                   # size of the private /tmp (bubblewrap, unshare)
    scratch_mb: int               # size of the scratch folder (bubblewrap, unshare)
    group_memory_gb: float        # resident memory of all of a submission's processes together (a cgroup)
    group_processes: int          # processes and threads of a submission together (a cgroup)

    def __post_init__(self):
        for name, value in vars(self).items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive number, not {value!r}")


@dataclass
class Command:
    """What :func:`start` runs: ``argv`` with ``pass_fds`` kept open, ``preexec`` run in the child before ``exec``
    (resource limits, dropping root). Call :meth:`close` once the process has started."""
    argv: list
    pass_fds: tuple
    preexec: object
    uid: int = None

    def close(self):
        for fd in self.pass_fds:
            try:
                os.close(fd)
            except OSError:
                pass


def _is_root():
    return os.geteuid() == 0


def _sandbox_uid():
    """A root grader's sandboxes each get an unprivileged uid of their own (per grader process and start), so that
    RLIMIT_NPROC counts one sandbox only and two sandboxes cannot signal or write each other at any level."""
    return SANDBOX_UID_BASE + (os.getpid() % 4194304) * 64 + next(_starts) % 64


def _prefixes():
    """The Python installation the worker runs: interpreter prefix, virtualenv, and where their links lead."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    found |= {os.path.realpath(p) for p in found}
    found.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    return sorted(p for p in found if os.path.isdir(p))


def _under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _masks(bound):
    """Folders to hide because they lie under a bound folder: the project's packages in any site-packages (a
    non-editable install) and the project's own secret folders. A folder that holds the worker's own code is not
    hidden whole: its other sub-folders are."""
    candidates = set()
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            candidates |= {os.path.join(entry, name) for name in MASKED_PACKAGES}
    for path in (project.SOLUTIONS, project.HIDDEN, project.ASSIGNMENTS, os.path.dirname(project.HIDDEN),
                 os.path.join(project.ROOT, "course")):
        candidates |= {path, os.path.realpath(path)}
    masks = set()
    for folder in candidates:
        if not os.path.isdir(folder) or not any(_under(folder, b) for b in bound):
            continue
        if not _under(WORKER_DIR, folder):
            masks.add(folder)
            continue
        for top, dirs, _ in os.walk(folder):
            for name in list(dirs):
                full = os.path.join(top, name)
                if full == WORKER_DIR or not _under(WORKER_DIR, full):
                    dirs.remove(name)
                    if full != WORKER_DIR:
                        masks.add(full)
    return sorted(masks)


@functools.lru_cache(maxsize=None)
def _bwrap_options():
    try:
        text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(word for word in text.split() if word.startswith("--"))


def _seccomp_fd():
    code = seccomp.program()
    if code is None:
        return None
    read, write = os.pipe()
    os.write(write, code)
    os.close(write)
    return read


def _bwrap_argv(workdir, argv, limits, seccomp_fd, nested=False):
    options = _bwrap_options()
    size = lambda mb: ["--size", str(int(mb * 2**20))] if "--size" in options else []  # noqa: E731
    args = ["bwrap", "--unshare-all", "--unshare-user", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_GID),
            "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if "--disable-userns" in options and not nested:
        args.append("--disable-userns")
    # Mounts apply in order: the private /tmp first, so that a Python installed under /tmp stays visible.
    args += [*size(limits.tmp_mb), "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    bound = ["/usr"]
    for path in ("/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"):
        if os.path.lexists(path):
            args += ["--ro-bind-try", path, path]
            bound.append(path)
    for prefix in _prefixes():
        args += ["--ro-bind", prefix, prefix]
        bound.append(prefix)
    for mask in _masks(bound):
        args += ["--size", "4096"] * ("--size" in options) + ["--tmpfs", mask, "--remount-ro", mask]
    for device in glob.glob("/dev/nvidia*"):  # a GPU grader keeps its GPU
        args += ["--dev-bind", device, device]
    args += ["--proc", "/proc", "--dev", "/dev", *size(SHM_MB), "--tmpfs", "/dev/shm",
             "--ro-bind", WORKER_DIR, SANDBOX_DIR]
    # the scratch folder: a size-limited tmpfs, the released files read-only inside it
    args += [*size(limits.scratch_mb), "--perms", "0755", "--tmpfs", SANDBOX_WORKDIR]
    for name in sorted(os.listdir(workdir)):
        args += ["--ro-bind", os.path.join(workdir, name), os.path.join(SANDBOX_WORKDIR, name)]
    # bubblewrap's own root and /dev are writable tmpfs of no size limit: read-only once every mount point is made
    # (a zygote's workers, which share them, each also make every mount they inherit read-only)
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SANDBOX_WORKDIR]
    if seccomp_fd is not None:
        args += ["--add-seccomp-fd", str(seccomp_fd)]
    return args + ["--", *argv]


def _unshare_argv(workdir, argv, limits, uid):
    root = _is_root()
    spec = {"workdir": workdir, "uid": uid if root else INSIDE_UID, "gid": uid if root else INSIDE_GID,
            "userns": not root, "keep": _prefixes() + [WORKER_DIR], "mask": [project.ROOT],
            "hide": _masks(_prefixes()),
            "tmp_mb": limits.tmp_mb, "shm_mb": SHM_MB, "scratch_mb": limits.scratch_mb}
    user = [] if root else ["--user", "--map-root-user"]
    return ["unshare", *user, "--net", "--pid", "--mount", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc",
            sys.executable, "-I", os.path.join(WORKER_DIR, "confine.py"), json.dumps(spec), *argv]


def inside_path(level, name):
    """Where the file ``name`` of the worker's folder (``autograder/sandbox/inside/``) is, seen from inside."""
    return os.path.join(SANDBOX_DIR if level == "bubblewrap" else WORKER_DIR, name)


def worker_argv(level):
    return [sys.executable, "-I", inside_path(level, "worker.py")]


def _preexec(limits, level, uid, reveal, group=None):
    def apply():
        if group is not None:  # first, as root: every process the sandbox starts is born in the group
            group.join()
        memory = int(limits.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * 2**20, limits.file_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None and level != "unshare":
            # a private mount namespace in which what the unprivileged uid must reach (a Python under /root) is
            # shown alone, then drop root for good
            confine._check(confine._libc.unshare(confine.CLONE_NEWNS), "unshare")
            confine.mount(None, "/", None, confine.MS_REC | confine.MS_PRIVATE)
            confine.reveal(reveal, uid)
            confine.drop_capabilities(uid, uid)
        if level == "none":
            seccomp.install()
    return apply


def _chown_tree(path, uid):
    for top, dirs, files in os.walk(path):
        for name in [top] + [os.path.join(top, n) for n in dirs + files]:
            os.lchown(name, uid, uid)


def command(level, workdir, argv, limits, nested=False, group=None):
    """The :class:`Command` that runs ``argv`` (paths as seen inside: see :func:`inside_path`) at ``level`` with the
    scratch folder ``workdir`` (the grader's copy of the released folder).

    ``nested`` (bubblewrap only) is for a zygote (:mod:`autograder.sandbox.warm`): its children enter namespaces
    of their own, so bubblewrap must allow a nested user namespace and leave the seccomp filter to each child,
    which installs it on itself before any student code runs. ``group`` (a :class:`cgroup.Group`) is joined before
    ``exec``: one memory and process budget for everything the sandbox starts."""
    uid = _sandbox_uid() if _is_root() else None
    if uid is not None:
        _chown_tree(workdir, uid)
    fds = ()
    if level == "bubblewrap":
        fd = None if nested else _seccomp_fd()
        fds = (fd,) if fd is not None else ()
        full = _bwrap_argv(workdir, argv, limits, fd, nested)
    elif level == "unshare":
        full = _unshare_argv(workdir, argv, limits, uid)
    elif level == "none":
        full = list(argv)
    else:
        raise RnnkitError(f"unknown sandbox level {level!r}; choose one of {', '.join(LEVELS)}")
    reveal = _prefixes() + [WORKER_DIR, workdir, os.path.dirname(shutil.which("bwrap") or "/usr/bin/bwrap")]
    return Command(full, fds, _preexec(limits, level, uid, reveal, group), uid)


# The probe's own: enough for ``python -c pass`` whatever else this user runs (a student's come from the settings).
PROBE_LIMITS = Limits(memory_gb=2.0, cpu_seconds=60, file_mb=1, processes=1024, tmp_mb=16, scratch_mb=16,
                      group_memory_gb=1.0, group_processes=64)


@functools.lru_cache(maxsize=None)
def _works(level):
    if level == "none":
        return True
    if shutil.which({"bubblewrap": "bwrap", "unshare": "unshare"}[level]) is None:
        return False
    workdir = tempfile.mkdtemp(prefix="rnnkit-probe-")
    try:
        cmd = command(level, workdir, [sys.executable, "-I", "-c", "pass"], PROBE_LIMITS)
        try:
            return subprocess.run(cmd.argv, capture_output=True, timeout=60, preexec_fn=cmd.preexec,
                                  pass_fds=cmd.pass_fds, env=worker_env()).returncode == 0
        finally:
            cmd.close()
    except (OSError, subprocess.TimeoutExpired, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def gaps(level):
    """What this machine leaves out of ``level``'s description above (one line each; empty when nothing is)."""
    found = []
    if not seccomp.available():
        found.append(f"no seccomp filter for this machine's architecture ({seccomp.platform.machine()})")
    if level == "none" and not _is_root():
        found.append("the grader is not root, so the student runs as the grader's own user")
    kind, note = cgroup.status()
    if kind == "none":
        found.append(f"no cgroup for a submission's memory and processes together ({note}): memory is limited per "
                     "process (RLIMIT_AS) and the processes by RLIMIT_NPROC")
    cpu_kind, cpu_note = cgroup.cpu_status()
    if cpu_kind != "share":
        found.append(f"no CPU share of its own for a submission ({cpu_note}): a neighbour graded beside it takes "
                     "cores by its number of processes" + ("; timeouts count wall-clock seconds, and one that ran out "
                                                           "beside another grading is graded again alone"
                                                           if cpu_kind == "none" else ""))
    if level == "bubblewrap":
        options = _bwrap_options()
        if "--size" not in options:
            found.append("bubblewrap < 0.8: /tmp and the scratch folder have no size limit")
        if "--disable-userns" not in options:
            found.append("bubblewrap < 0.8: nested user namespaces are refused by the seccomp filter only")
    return found


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


def start(level, workdir, limits, argv=None, group=None):
    """Starts the worker (or ``argv``) at ``level`` with its scratch folder ``workdir``, in the control ``group`` if
    one is given; returns the Popen, with pipes on stdin, stdout and stderr."""
    cmd = command(level, workdir, argv or worker_argv(level), limits, group=group)
    try:
        return subprocess.Popen(cmd.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=workdir, env=worker_env(), preexec_fn=cmd.preexec, pass_fds=cmd.pass_fds,
                                start_new_session=True)
    finally:
        cmd.close()


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
