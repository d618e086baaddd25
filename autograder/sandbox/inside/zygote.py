"""A warm start for student processes: imports TensorFlow once, then forks one fresh worker per request.

Started inside the sandbox like the worker (``python -I zygote.py CONTROL_FD``). It runs no student code itself.
Each request on the control socket carries three pipe ends (requests in, replies out, student output) and the
limits; the zygote forks, and the child, before it runs a line of student code:

* enters new user, mount, PID, IPC and network namespaces (so it is PID 1 of its own namespace: every process the
  student starts dies with it, and no other worker is visible or signalable; and no loopback port or abstract Unix
  socket of a worker alive beside it, another grading's, can be reached);
* makes every mount it inherited read-only in its own mount namespace (the sandbox's root and ``/dev`` are tmpfs
  that every worker of this zygote would otherwise share: a file written or a folder renamed there would reach the
  next submission);
* mounts a fresh size-limited tmpfs on ``/tmp``, ``/dev/shm`` and its scratch folder ``/work/assignment``, with
  a copy of the released files the sandbox shows there, and a fresh ``/dev`` (the zygote's device nodes bound
  into a new tmpfs that is then made read-only, a ``devpts`` instance of its own on ``/dev/pts``);
* sets its resource limits, cannot regain privileges (no_new_privs) and installs the seccomp filter if there is one;
* then serves the grader exactly as a cold worker does (:mod:`worker`).

Nothing of one student's worker survives into the next: the namespaces, the tmpfs mounts and every process in them
go away when the worker ends, and the zygote's own memory is only ever copied. A worker cannot read or trace the
zygote: it lives in a nested user namespace without capabilities, and the zygote is not dumpable besides.

Control messages (:mod:`messages`, one each way; the pipes travel as SCM_RIGHTS with ``Spawn``):
    Spawn(limits, threads)                  -> Spawned(pid)
    Poll(pid)                               -> Exited(code: its exit code, or None while it runs)
    Kill(pid)                               -> Exited(code: its exit code, -9 if killed here)
    Attach() with one socket as SCM_RIGHTS  -> (no answer: the socket is a new connection)
    Ping()                                  -> Pong()
A message that is not one of these ends its connection (and that connection's workers).

Several gradings may use one zygote at once: each has a control connection of its own (``attach`` hands the zygote
a new one), so requests and replies of two gradings never meet on one socket. The zygote serves every connection
in one loop, a request at a time; a worker belongs to the connection that spawned it (``poll`` and ``kill`` of
another connection's worker find nothing), and the workers of a connection that closes (its grading ended, or was
killed) are killed with it. No worker holds any control connection.
"""
import ctypes
import os
import resource
import select
import signal
import socket
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import confine  # noqa: E402  (beside this file, in the sandbox too)
import messages as m  # noqa: E402

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x08000000, \
    0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
DEV_KB = 64          # the fresh /dev holds device nodes and links only; read-only once they are in place
SHM_MB = 64          # the fresh /dev/shm (as launch.SHM_MB)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
SCRATCH = "/work/assignment"
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def _mount_tmpfs(target, megabytes, mode="1777"):
    _check(_libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                       f"size={int(megabytes * 1024)}k,mode={mode}".encode()), f"tmpfs on {target}")


def _devices():
    """What the sandbox's ``/dev`` holds, to rebuild it fresh: device nodes as ``O_PATH`` descriptors (bound back
    into the new ``/dev``: a user namespace cannot create device nodes) and symbolic links as their targets.
    Anything else there (files, folders) is not carried over."""
    nodes, links = {}, {}
    for name in sorted(os.listdir("/dev")):
        path = os.path.join("/dev", name)
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            links[name] = os.readlink(path)
        elif stat.S_ISCHR(info.st_mode):
            nodes[name] = os.open(path, os.O_PATH | os.O_NOFOLLOW)
    return nodes, links


def _fresh_dev(nodes, links, shm_mb):
    """A new ``/dev`` of this worker's own: the device nodes, the links, its own ``/dev/shm`` and ``/dev/pts``; the
    folder itself read-only."""
    _mount_tmpfs("/dev", DEV_KB / 1024, "755")
    for name, fd in nodes.items():
        path = os.path.join("/dev", name)
        open(path, "w").close()
        _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND, None), f"bind {path}")
        os.close(fd)
    for name, target in links.items():
        os.symlink(target, os.path.join("/dev", name))
    os.mkdir("/dev/shm")
    _mount_tmpfs("/dev/shm", shm_mb)
    os.mkdir("/dev/pts")
    # a pseudo-terminal instance of its own (no other worker's terminals listed); without it, no terminals at all
    _libc.mount(b"devpts", b"/dev/pts", b"devpts", MS_NOSUID | MS_NOEXEC, b"newinstance,ptmxmode=0666,mode=0620")
    confine.set_readonly("/dev", recursive=False)


def _read_tree(folder):
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not name.endswith(".ipynb") and os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    found[os.path.relpath(path, folder)] = f.read()
    return found


def _installation_under(folder):
    """The folders of this Python installation (prefixes, the import path) that lie under ``folder``, outermost
    only: a project checked out under /tmp keeps its virtualenv when a fresh tmpfs covers /tmp."""
    paths = {p for p in sys.path + [sys.prefix, sys.base_prefix, sys.exec_prefix] if p}
    paths |= {os.path.realpath(p) for p in paths}
    inside = [p for p in paths if p.startswith(folder.rstrip("/") + "/") and os.path.isdir(p)]
    return sorted(p for p in inside if not any(p != q and p.startswith(q + "/") for q in inside))


def isolate(limits):
    """In the forked child: new namespaces, fresh tmpfs mounts, the released files; returns in the new PID
    namespace's first process (the caller's original process waits for it and exits with its code)."""
    uid, gid = os.getuid(), os.getgid()
    _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc files (uid_map) writable; the zygote stays closed
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")    # the same unprivileged uid inside: never root, not even in here
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")
    released = _read_tree(SCRATCH)  # the released files the sandbox shows read-only, before a tmpfs covers them
    kept = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in _installation_under("/tmp")}
    nodes, links = _devices()
    # Everything this worker inherited becomes read-only (in its own mount namespace only; /proc keeps its own
    # per-process rules): the zygote's root, /dev, /tmp and scratch folder are the same tmpfs for every worker,
    # so a write there would be seen by the next submission. Only the fresh mounts below are writable.
    confine.set_readonly("/")
    confine.set_readonly("/proc", recursive=False, readonly=False)
    _mount_tmpfs("/tmp", limits["tmp_mb"])
    for path, fd in kept.items():  # a checkout (and its venv) under /tmp stays visible, read-only, over the tmpfs
        os.makedirs(path, exist_ok=True)
        # a bind keeps the read-only (and locked) flags of the sandbox's own read-only mount of it
        _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None),
               f"bind {path}")
        os.close(fd)
    _mount_tmpfs(SCRATCH, limits["scratch_mb"])
    _fresh_dev(nodes, links, SHM_MB)
    for relative, data in released.items():
        path = os.path.join(SCRATCH, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    inner = os.fork()
    if inner:  # the outer child: wait for the namespace's first process and pass its fate on
        _, status = os.waitpid(inner, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the outer child killed: this namespace dies too
    os.chdir(SCRATCH)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities():
    """Gives up every capability the new user namespace granted (needed only for the mounts above)."""
    _check(_libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), (_CapData * 2)()), "capset")


def apply_limits(limits):
    def both(kind, value):
        resource.setrlimit(kind, (int(value), int(value)))
    both(resource.RLIMIT_AS, limits["memory_gb"] * 2**30)
    both(resource.RLIMIT_CPU, limits["cpu_seconds"])
    both(resource.RLIMIT_FSIZE, limits["file_mb"] * 2**20)
    both(resource.RLIMIT_NPROC, limits["processes"])
    both(resource.RLIMIT_CORE, 0)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    try:
        import seccomp  # beside this file, where the sandbox provides one
    except ImportError:
        return
    seccomp.install()


def serve_child(fds, request):
    """The forked child: becomes an isolated worker on the three pipes and never returns."""
    try:
        requests, replies, output = fds
        for fd, target in ((requests, 0), (replies, 1), (output, 2)):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        isolate(request.limits)
        drop_capabilities()
        apply_limits(request.limits)
        import worker
        worker.main()
        code = 0
    except BaseException as err:  # nothing of the zygote's must run on: report and leave
        try:
            os.write(2, f"rnnkit zygote: the worker could not start: {type(err).__name__}: {err}\n".encode())
        except OSError:
            pass
        code = 70
    os._exit(code)


def _reap(children):
    """Keeps the exit codes of the workers that ended by themselves (no zombies left between requests)."""
    for pid, (owner, code) in list(children.items()):
        if code is None:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children[pid] = (owner, os.waitstatus_to_exitcode(status))


def _kill(pid, children):
    owner, code = children[pid]
    if code is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        children[pid] = (owner, -signal.SIGKILL)


def main():
    first = socket.socket(fileno=int(sys.argv[1]))  # SOCK_SEQPACKET: one message per request
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    import numpy  # noqa: F401  (what every worker imports anyway: paid once, here)
    import tensorflow  # noqa: F401
    import keras  # noqa: F401
    import worker  # noqa: F401
    connections = {first.fileno(): first}
    children = {}  # pid -> (the connection's fd that spawned it, exit code once it ended or None while it runs)
    while connections:
        ready, _, _ = select.select(list(connections), [], [])
        for fd in ready:
            control = connections[fd]
            try:
                message, fds, _, _ = socket.recv_fds(control, 1 << 16, 3)
            except OSError:
                message, fds = b"", []
            _reap(children)
            try:
                request = m.decode(message, *REQUESTS) if message else None
            except m.MessageError:
                request = None   # not a request of ours: the connection ends as if it had closed
            if request is None:  # that grading went away: so do its workers
                for fd2 in fds:
                    os.close(fd2)
                del connections[fd]
                control.close()
                for pid, (owner, _) in list(children.items()):
                    if owner == fd:
                        _kill(pid, children)
                        del children[pid]
                continue
            if isinstance(request, m.Attach):  # no answer: the grader does not wait for it
                if len(fds) == 1:
                    attached = socket.socket(fileno=fds.pop())
                    connections[attached.fileno()] = attached
                for fd2 in fds:
                    os.close(fd2)
                continue
            if isinstance(request, m.Spawn):
                pid = os.fork()
                if pid == 0:
                    for other in connections.values():
                        other.close()
                    serve_child(fds, request)
                children[pid] = (fd, None)
                reply = m.Spawned(pid)
            elif isinstance(request, m.Poll):
                owner, code = children.get(request.pid, (None, None))
                reply = m.Exited(code if owner == fd else None)
            elif isinstance(request, m.Kill):
                if children.get(request.pid, (None,))[0] == fd:
                    _kill(request.pid, children)
                    reply = m.Exited(children.pop(request.pid)[1])
                else:
                    reply = m.Exited(None)
            else:
                reply = m.Pong()
            for fd2 in fds:
                os.close(fd2)
            try:
                control.send(m.encode(reply))
            except OSError:
                pass  # it went away meanwhile: its end is read as such next time round


REQUESTS = (m.Spawn, m.Poll, m.Kill, m.Attach, m.Ping)


if __name__ == "__main__":
    main()
