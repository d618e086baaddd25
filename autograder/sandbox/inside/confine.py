"""Sets up the file system view of a sandbox from inside fresh namespaces, then becomes the student's process.

Two uses:

* ``python -I confine.py SPEC_JSON ARGV...``: the entry point of the ``unshare`` level, run as root of new mount,
  PID, network, IPC and UTS namespaces (in a user namespace of its own when the grader is not root). It makes every
  mount read-only, gives the sandbox a private size-limited ``/tmp`` and ``/dev/shm``, hides the project, puts the
  scratch folder on a size-limited tmpfs with the released files bound read-only into it, drops to an unprivileged
  user without capabilities, installs the seccomp filter and ``exec``\\s ARGV.
* :func:`reveal` from the grader's side (``preexec_fn``) when a root grader drops to an unprivileged user: folders
  that user could not reach (a Python under ``/root``) are shown alone on an otherwise empty tmpfs.

Standard library and :mod:`seccomp` only (it runs with the sandbox's interpreter, outside the project's imports).
"""
import ctypes
import json
import os
import stat
import sys

if __package__:
    from . import seccomp
else:  # run as a script inside the sandbox
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import seccomp  # noqa: E402

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
AT_RECURSIVE, MOUNT_ATTR_RDONLY = 0x8000, 0x1
_MOUNT_SETATTR = 442  # the same number on x86_64 and on the generic table (aarch64)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype=None, flags=0, data=None):
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source} on {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def set_readonly(path, recursive=True, readonly=True):
    """Makes the mount at ``path`` (and every mount below it) read-only, keeping its other (maybe locked) flags."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY if readonly else 0, 0 if readonly else MOUNT_ATTR_RDONLY, 0, 0)
    _libc.syscall.restype = ctypes.c_long
    result = _libc.syscall(ctypes.c_long(_MOUNT_SETATTR), ctypes.c_int(-100), path.encode(),
                           ctypes.c_uint(AT_RECURSIVE if recursive else 0), ctypes.byref(attr),
                           ctypes.c_size_t(ctypes.sizeof(attr)))
    if result == 0:
        return
    if not readonly:
        _check(result, f"mount_setattr {path}")
    # kernels before 5.12: remount each mount read-only, one by one, with the flags it already has
    targets = [path]
    if recursive:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4].encode().decode("unicode_escape") for line in f]
        targets += [p for p in points if p != path and p.startswith(path.rstrip("/") + "/")]
    for target in targets:
        flags = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | 8 | 1024 | 2048)  # nosuid nodev noexec noatime nodiratime
        try:
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            if target == path:
                raise


def tmpfs(target, size_mb, mode=0o755, uid=0, gid=0):
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={int(size_mb * 2**20)},mode={mode:o},uid={uid},gid={gid}")


def bind_fd(fd, target, readonly=True):
    """Binds what ``fd`` (an ``O_PATH`` descriptor opened earlier) points to on ``target``, creating it."""
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    if readonly:
        set_readonly(target)


def _under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _reachable(path, uid):
    """Whether ``uid`` (with no supplementary groups) may walk down to ``path``."""
    current = "/"
    for part in path.strip("/").split("/"):
        info = os.stat(current)
        if not (info.st_mode & (stat.S_IXUSR if info.st_uid == uid else stat.S_IXOTH)):
            return False, current
        current = os.path.join(current, part)
    return True, None


def reveal(paths, uid):
    """Makes each folder of ``paths`` reachable by ``uid``: an unreachable ancestor (``/root`` is 0700) is covered by
    an empty read-only tmpfs in which only the folders asked for are bound back (read-only). Needs root in a
    private mount namespace."""
    fds = {p: os.open(p, os.O_PATH) for p in paths if os.path.exists(p)}
    covers = set()
    for path in fds:
        ok, blocked = _reachable(path, uid)
        if not ok:
            covers.add(blocked)
    covers = {c for c in covers if not any(o != c and _under(c, o) for o in covers)}
    for cover in sorted(covers):
        tmpfs(cover, 1)
    for path, fd in fds.items():
        if any(_under(path, c) for c in covers):
            bind_fd(fd, path)
    for cover in covers:
        set_readonly(cover, recursive=False)
    for fd in fds.values():
        os.close(fd)
    return sorted(covers)


def drop_capabilities(uid, gid):
    """Empties the capability bounding set, then becomes ``uid``/``gid`` with no supplementary groups (which clears
    the permitted and effective sets too). Needs root (or root of a user namespace that maps ``uid``)."""
    for cap in range(64):
        if _libc.prctl(24, cap, 0, 0, 0) != 0 and cap > 40:  # PR_CAPBSET_DROP; EINVAL past the last capability
            break
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def confine(spec):
    """Builds the ``unshare`` level's view (see the module docstring) in the current (new) mount namespace."""
    workdir, uid, gid = spec["workdir"], spec["uid"], spec["gid"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = {p: os.open(p, os.O_PATH) for p in spec["keep"] if os.path.exists(p)}
    entries = {name: os.open(os.path.join(workdir, name), os.O_PATH | os.O_NOFOLLOW) for name in os.listdir(workdir)}
    set_readonly("/")
    if spec["userns"]:
        set_readonly("/proc", recursive=False, readonly=False)  # for our own uid_map below; read-only again after
    covers = []
    for folder, size, mode in (("/tmp", spec["tmp_mb"], 0o1777), ("/dev/shm", spec["shm_mb"], 0o1777)):
        if os.path.isdir(folder):
            tmpfs(folder, size, mode)
    for folder in spec["mask"]:
        if os.path.isdir(folder):
            tmpfs(folder, 1)
            covers.append(folder)
    for path, fd in keep.items():
        if any(_under(path, c) for c in covers + ["/tmp"]) or not os.path.exists(path):
            bind_fd(fd, path)
    for folder in spec.get("hide", ()):  # inside what was bound back: the project's packages in site-packages
        if os.path.isdir(folder):
            tmpfs(folder, 1)
            covers.append(folder)
    # the scratch folder: a size-limited tmpfs that the student owns, the released files read-only inside it
    os.makedirs(workdir, exist_ok=True)
    tmpfs(workdir, spec["scratch_mb"], 0o755, *((uid, gid) if not spec["userns"] else (0, 0)))
    for name, fd in entries.items():
        bind_fd(fd, os.path.join(workdir, name))
    for folder in covers:
        set_readonly(folder, recursive=False)
    if not spec["userns"]:
        covers += reveal(list(keep), uid)
    for fd in list(keep.values()) + list(entries.values()):
        os.close(fd)
    os.chdir(workdir)
    if spec["userns"]:
        # A user namespace of its own in which the student is ``uid`` (the grader's user outside) and has no
        # capabilities once it execs; the mounts above become locked (cannot be made writable or uncovered).
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} 0 1")
        _write("/proc/self/gid_map", f"{gid} 0 1")
        set_readonly("/proc", recursive=False)
        for cap in range(64):  # the bounding set, for exec; permitted and effective empty with a uid that is not 0
            if _libc.prctl(24, cap, 0, 0, 0) != 0 and cap > 40:
                break
    else:
        drop_capabilities(uid, gid)


def main():
    spec = json.loads(sys.argv[1])
    argv = sys.argv[2:]
    confine(spec)
    note = seccomp.install()
    if not note.startswith("installed"):
        print(f"rnnkit sandbox: seccomp filter {note}", file=sys.stderr)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
