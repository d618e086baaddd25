"""A seccomp filter for the student's process: the system calls that change what the sandbox is, refused.

Classic BPF built by hand (no libseccomp needed), for x86_64 and aarch64. It refuses, with ``EPERM``:

* the mount table: ``mount``, ``umount2``, ``pivot_root``, ``chroot`` and the new mount API (``open_tree``,
  ``move_mount``, ``fsopen``, ``fsconfig``, ``fsmount``, ``fspick``, ``mount_setattr``);
* namespaces: ``setns``, and ``unshare``/``clone`` with any ``CLONE_NEW*`` flag (``clone3``, whose flags a filter
  cannot read, gets ``ENOSYS`` so that the C library falls back to ``clone``);
* looking into or changing other processes and the kernel: ``ptrace``, ``process_vm_readv``/``writev``, ``keyctl``,
  ``add_key``, ``request_key``, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``kexec_load``,
  ``kexec_file_load``, ``init_module``, ``finit_module``, ``delete_module``, ``io_uring_*`` (whose operations
  bypass seccomp), ``open_by_handle_at``, ``name_to_handle_at``, ``swapon``, ``swapoff``, ``reboot``, ``acct``,
  ``quotactl``, ``syslog``, ``lookup_dcookie`` and, on x86_64, ``iopl``/``ioperm`` and every x32 system call.

A system call made through another architecture's ABI (``int 0x80`` on x86_64) kills the process. On any other
machine the filter is not built: :func:`install` returns a note saying so instead of failing (fail closed is the
caller's choice, through :func:`available`).

Used in two ways: :func:`program` gives the raw filter for ``bwrap --add-seccomp-fd``, and :func:`install` puts it
on the calling process (and, with ``TSYNC``, on all its threads); it survives ``exec`` and is inherited by every
child. Both also set ``no_new_privs``.
"""
import ctypes
import errno
import platform
import struct

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_LD_W_ABS = 0x20     # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15        # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35        # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45       # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06        # BPF_RET | BPF_K

# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET; NEWTIME (0x80) only means that for unshare.
_CLONE_NEW = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_UNSHARE_NEW = _CLONE_NEW | 0x80

_COMMON = ("mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
           "fspick", "mount_setattr", "setns", "ptrace", "process_vm_readv", "process_vm_writev", "keyctl",
           "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load",
           "init_module", "finit_module", "delete_module", "io_uring_setup", "io_uring_enter", "io_uring_register",
           "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog",
           "lookup_dcookie")

# Checked against /usr/include/x86_64-linux-gnu/asm/unistd_64.h and /usr/include/asm-generic/unistd.h.
ARCHES = {
    "x86_64": {
        "audit": 0xC000003E, "seccomp": 317, "x32": 0x40000000,
        "numbers": {"mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "open_tree": 428,
                    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
                    "mount_setattr": 442, "setns": 308, "ptrace": 101, "process_vm_readv": 310,
                    "process_vm_writev": 311, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
                    "perf_event_open": 298, "userfaultfd": 323, "kexec_load": 246, "kexec_file_load": 320,
                    "init_module": 175, "finit_module": 313, "delete_module": 176, "io_uring_setup": 425,
                    "io_uring_enter": 426, "io_uring_register": 427, "open_by_handle_at": 304,
                    "name_to_handle_at": 303, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
                    "quotactl": 179, "syslog": 103, "lookup_dcookie": 212, "iopl": 172, "ioperm": 173,
                    "unshare": 272, "clone": 56, "clone3": 435},
    },
    "aarch64": {
        "audit": 0xC00000B7, "seccomp": 277, "x32": None,
        "numbers": {"mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "open_tree": 428,
                    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
                    "mount_setattr": 442, "setns": 268, "ptrace": 117, "process_vm_readv": 270,
                    "process_vm_writev": 271, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
                    "perf_event_open": 241, "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294,
                    "init_module": 105, "finit_module": 273, "delete_module": 106, "io_uring_setup": 425,
                    "io_uring_enter": 426, "io_uring_register": 427, "open_by_handle_at": 265,
                    "name_to_handle_at": 264, "swapon": 224, "swapoff": 225, "reboot": 142, "acct": 89,
                    "quotactl": 60, "syslog": 116, "lookup_dcookie": 18, "unshare": 97, "clone": 220,
                    "clone3": 435},
    },
}
ARCHES["amd64"] = ARCHES["x86_64"]
ARCHES["arm64"] = ARCHES["aarch64"]


def _insn(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)


def available(machine=None):
    """Whether a filter exists for this machine's architecture."""
    return (machine or platform.machine()) in ARCHES


def program(machine=None):
    """The filter as raw ``struct sock_filter`` bytes (what ``bwrap --add-seccomp-fd`` reads); None for an unknown
    architecture."""
    arch = ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    numbers = arch["numbers"]
    eperm, enosys = _RET_ERRNO | errno.EPERM, _RET_ERRNO | errno.ENOSYS
    code = [_insn(_LD_W_ABS, 4),                      # seccomp_data.arch
            _insn(_JEQ_K, arch["audit"], 1, 0),
            _insn(_RET_K, _RET_KILL_PROCESS),
            _insn(_LD_W_ABS, 0)]                      # seccomp_data.nr
    if arch["x32"]:
        code += [_insn(_JGE_K, arch["x32"], 0, 1), _insn(_RET_K, eperm)]
    for name in _COMMON + (("iopl", "ioperm") if "iopl" in numbers else ()):
        code += [_insn(_JEQ_K, numbers[name], 0, 1), _insn(_RET_K, eperm)]
    code += [_insn(_JEQ_K, numbers["clone3"], 0, 1), _insn(_RET_K, enosys)]
    for name, flags in (("clone", _CLONE_NEW), ("unshare", _UNSHARE_NEW)):
        code += [_insn(_JEQ_K, numbers[name], 0, 4),
                 _insn(_LD_W_ABS, 16),                # low 32 bits of args[0] (little-endian): the flags
                 _insn(_JSET_K, flags, 0, 1),
                 _insn(_RET_K, eperm),
                 _insn(_LD_W_ABS, 0)]                 # not refused: reload nr for the next test
    code.append(_insn(_RET_K, _RET_ALLOW))
    return b"".join(code)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install():
    """Puts the filter on the calling process and all its threads. Returns a one-line note of what was done
    (``"installed"`` or why not); never raises, so that a worker on an unknown machine still runs (the note says
    it is unfiltered)."""
    machine = platform.machine()
    code = program(machine)
    if code is None:
        return f"not installed: no seccomp filter for architecture {machine!r}"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return f"not installed: PR_SET_NO_NEW_PRIVS failed ({errno.errorcode.get(ctypes.get_errno())})"
        buffer = ctypes.create_string_buffer(code, len(code))
        prog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog): every thread, atomically
        libc.syscall.restype = ctypes.c_long
        result = libc.syscall(ctypes.c_long(ARCHES[machine]["seccomp"]), ctypes.c_ulong(1), ctypes.c_ulong(1),
                              ctypes.byref(prog))
        if result != 0:
            if result > 0:
                return f"not installed: thread {result} could not be synchronised"
            if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
                return f"not installed: seccomp refused ({errno.errorcode.get(ctypes.get_errno())})"
            return "installed (this thread only)"
        return "installed"
    except (OSError, AttributeError) as err:
        return f"not installed: {err}"
