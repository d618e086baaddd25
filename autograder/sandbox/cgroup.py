"""One memory and process budget for all of a submission's processes together: a control group, where the machine
offers one the grader may use.

Per-process limits (``RLIMIT_AS``) do not add up to a budget: a submission that starts many processes, each under
the limit, can take the machine's memory. A control group counts every process of the student's worker together
(threads, children, the pages they write in the sandbox's tmpfs), and the kernel's OOM killer acts inside it alone.

Which kind is used, in this order (:func:`status` says which, and why not the others):

* **cgroup v2**: the grader's own cgroup (``0::/path`` in ``/proc/self/cgroup``, under the cgroup2 mount) when its
  ``cgroup.subtree_control`` already enables ``memory`` and ``pids`` for children (a delegated sub-tree: systemd's
  ``Delegate=yes``, a container's own cgroup) and the grader may create folders there. ``memory.max``,
  ``memory.swap.max`` 0, ``pids.max``.
* **cgroup v1**: the ``memory`` and ``pids`` hierarchies, where the grader may create a child of its own cgroup
  (a root grader on a machine that mounts them). ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``,
  so swap cannot extend it), ``pids.max``.
* **none**: the fallback is per process: ``RLIMIT_AS`` for each process and ``RLIMIT_NPROC`` (``Limits.processes``)
  for their number, with every tmpfs of the sandbox size-limited. It bounds a submission's memory only by their
  product.

Each group also gets the submission's own **CPU share** where the machine lets the grader use the ``cpu``
controller (v2: ``cpu.weight``, when the parent enables ``cpu`` for its children; v1: ``cpu.shares`` in the
``cpu`` hierarchy), and its CPU time is counted (v2: ``cpu.stat``'s ``usage_usec``, kept by every v2 group; v1:
``cpuacct.usage``). A share is the default weight, the same as one ordinary process of the machine's: a submission
that forks a thousand busy loops weighs as much as one, so a neighbour graded beside it keeps its part of the
cores; and its budget (:mod:`autograder.sandbox.cpu`) counts the CPU time of its own processes, which a neighbour
cannot make larger. :func:`cpu_status` says whether both hold here, and why not.

A group lives as long as one student process: :class:`~autograder.trusted.student.StudentProcess` creates it when it
starts a worker (a cold worker joins it before ``exec``; a warm worker is moved into it, with the process it forked,
before it reads its cells) and removes it when the worker ends. Whether the kernel's OOM killer acted in it tells a
submission that outgrew its own budget (the student's doing) from a kill from outside (retried once).
"""
import itertools
import os
import signal
import time

_groups = itertools.count()
_probed = _cpu_probed = None


def _read(path):
    with open(path) as f:
        return f.read()


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _own_cgroups():
    """{controller or "" (v2): path of this process's cgroup in that hierarchy}."""
    found = {}
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            found[name] = path
    return found


def _mounts():
    """[(mount point, root inside the hierarchy, fstype, super options)] of the cgroup file systems."""
    found = []
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if rest and rest[0] in ("cgroup", "cgroup2"):
            found.append((fields[4], fields[3], rest[0], set(rest[2].split(",")) if len(rest) > 2 else set()))
    return found


def _folder(point, root, path):
    if root != "/" and (path == root or path.startswith(root.rstrip("/") + "/")):
        path = path[len(root.rstrip("/")):] or "/"
    return os.path.join(point, path.lstrip("/"))


def _v2_base():
    own = _own_cgroups()
    if "" not in own:
        return None, "no cgroup v2 hierarchy"
    for point, root, kind, _ in _mounts():
        if kind == "cgroup2":
            base = _folder(point, root, own[""])
            try:
                enabled = set(_read(os.path.join(base, "cgroup.subtree_control")).split())
                available = set(_read(os.path.join(base, "cgroup.controllers")).split())
            except OSError as err:
                return None, f"cgroup v2 at {base} is not readable ({err.strerror})"
            if {"memory", "pids"} <= enabled:
                return base, None
            return None, (f"cgroup v2 at {base} does not delegate memory and pids to its children (controllers "
                          f"available there: {' '.join(sorted(available)) or 'none'})")
    return None, "no cgroup v2 mount"


CPU_V1 = ("cpu", "cpuacct")     # optional: a share and a count of CPU time
V1_SHARES, V2_WEIGHT = 1024, 100  # the kernel's default weights: one ordinary process's


def _v1_bases():
    own = _own_cgroups()
    bases = {}
    for point, root, kind, options in _mounts():
        for controller in ("memory", "pids", *CPU_V1):
            if kind == "cgroup" and controller in options and controller in own:
                bases[controller] = _folder(point, root, own[controller])
    if set(CPU_V1) - set(bases):   # a CPU share needs both: a share nobody counts is no budget
        for controller in CPU_V1:
            bases.pop(controller, None)
    missing = {"memory", "pids"} - set(bases)
    if missing:
        return None, f"no cgroup v1 {' or '.join(sorted(missing))} hierarchy"
    return bases, None


class Group:
    """One control group (two folders under cgroup v1) for one student process and what it starts."""

    def __init__(self, kind, folders, memory_bytes, processes):
        self.kind, self.folders = kind, folders   # folders: {controller: folder}; v2: {"": folder}
        self.memory_bytes, self.processes = int(memory_bytes), int(processes)

    @classmethod
    def create(cls, memory_bytes, processes):
        """A new group with these limits, or None where the machine offers none (see :func:`status`)."""
        kind = status()[0]
        if kind == "none":
            return None
        name = f"rnnkit-{os.getpid()}-{next(_groups)}"
        if kind == "v2":
            base, _ = _v2_base()
            folders = {"": os.path.join(base, name)}
        else:
            bases, _ = _v1_bases()
            if cpu_status()[0] == "none":
                bases = {c: b for c, b in bases.items() if c not in CPU_V1}
            folders = {c: os.path.join(b, name) for c, b in bases.items()}
        group = cls(kind, folders, memory_bytes, processes)
        try:
            for folder in group._unique():
                os.mkdir(folder)
            group._limit()
        except OSError:
            group.close()
            return None
        return group

    def _unique(self):
        """The group's folders, each once (v1 hierarchies may be mounted together, as ``cpu,cpuacct`` often are)."""
        return list(dict.fromkeys(self.folders.values()))

    def _limit(self):
        if self.kind == "v2":
            folder = self.folders[""]
            _write(os.path.join(folder, "memory.max"), str(self.memory_bytes))
            if os.path.exists(os.path.join(folder, "memory.swap.max")):
                _write(os.path.join(folder, "memory.swap.max"), "0")
            _write(os.path.join(folder, "pids.max"), str(self.processes))
            if os.path.exists(os.path.join(folder, "cpu.weight")):
                _write(os.path.join(folder, "cpu.weight"), str(V2_WEIGHT))
            return
        memory = self.folders["memory"]
        _write(os.path.join(memory, "memory.limit_in_bytes"), str(self.memory_bytes))
        if os.path.exists(os.path.join(memory, "memory.memsw.limit_in_bytes")):
            _write(os.path.join(memory, "memory.memsw.limit_in_bytes"), str(self.memory_bytes))
        _write(os.path.join(self.folders["pids"], "pids.max"), str(self.processes))
        if "cpu" in self.folders:
            _write(os.path.join(self.folders["cpu"], "cpu.shares"), str(V1_SHARES))

    def cpu_seconds(self):
        """CPU time all of the group's processes have used so far, dead ones included; None where it is not
        counted (see :func:`cpu_status`)."""
        try:
            if self.kind == "v2":
                for line in _read(os.path.join(self.folders[""], "cpu.stat")).splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
                return None
            if "cpuacct" in self.folders:
                return int(_read(os.path.join(self.folders["cpuacct"], "cpuacct.usage"))) / 1e9
        except (OSError, ValueError):
            pass
        return None

    def add(self, pid):
        """Moves process ``pid`` (all its threads) into the group; its later children are born in it."""
        for folder in self._unique():
            _write(os.path.join(folder, "cgroup.procs"), str(pid))

    def join(self):
        """Puts the calling process in the group (in a ``preexec_fn``, before ``exec`` and dropping root)."""
        self.add(os.getpid())

    def pids(self):
        found = set()
        for folder in self._unique():
            try:
                found |= {int(p) for p in _read(os.path.join(folder, "cgroup.procs")).split()}
            except OSError:
                pass
        return found

    def oom_kills(self):
        """How many processes the kernel's OOM killer ended in this group because it reached its memory limit."""
        name = "memory.events" if self.kind == "v2" else "memory.oom_control"
        folder = self.folders["" if self.kind == "v2" else "memory"]
        try:
            for line in _read(os.path.join(folder, name)).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def close(self):
        """Kills whatever still runs in the group and removes it. Its CPU share is raised first: a process must run
        to die, and a thousand busy loops killed at their own sliver of the cores took tens of seconds to go."""
        for name, weight in (("cpu.shares", V1_SHARES * 256), ("cpu.weight", V2_WEIGHT * 100)):
            folder = self.folders.get("cpu" if name == "cpu.shares" else "")
            if folder and os.path.exists(os.path.join(folder, name)):
                try:
                    _write(os.path.join(folder, name), str(weight))
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for folder in self._unique():
            while os.path.isdir(folder):
                for pid in self.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    os.rmdir(folder)
                except OSError:
                    if time.monotonic() > deadline:
                        break  # left behind, empty once its processes are reaped
                    time.sleep(0.02)


def status():
    """``(kind, note)``: "v2", "v1" or "none", and for "none" why (what this machine offers)."""
    global _probed
    if _probed is None:
        _probed = _probe()
    return _probed


def _remove_stale(bases):
    """Removes the empty groups of graders that are gone (killed before they could remove their own)."""
    for base in bases:
        try:
            names = [n for n in os.listdir(base) if n.startswith("rnnkit-")]
        except OSError:
            continue
        for name in names:
            owner = name.split("-")[1]
            if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
                try:
                    os.rmdir(os.path.join(base, name))
                except OSError:
                    pass  # not empty yet, or not ours to remove


def _probe():
    notes = []
    for kind, find in (("v2", _v2_base), ("v1", _v1_bases)):
        try:
            base, why = find()
        except (OSError, ValueError) as err:
            base, why = None, f"cgroup {kind}: {err}"
        if base is None:
            notes.append(why)
            continue
        folders = {"": base} if kind == "v2" else base
        _remove_stale(folders.values())
        probe = {c: os.path.join(b, f"rnnkit-probe-{os.getpid()}") for c, b in folders.items() if c not in CPU_V1}
        try:
            for folder in probe.values():
                os.mkdir(folder)
        except OSError as err:
            notes.append(f"cgroup {kind}: cannot create a group ({err.strerror})")
            continue
        finally:
            for folder in probe.values():
                try:
                    os.rmdir(folder)
                except OSError:
                    pass
        return kind, f"cgroup {kind}"
    return "none", "; ".join(notes)


def cpu_status():
    """``(kind, note)``: "share" where each group gets its own CPU share and its CPU time is counted, "count" where
    it is counted only (cgroup v2 whose parent does not enable ``cpu`` for its children), "none" where neither is;
    the note says which, or why not."""
    global _cpu_probed
    if _cpu_probed is None:
        _cpu_probed = _probe_cpu()
    return _cpu_probed



def _probe_cpu():
    kind, note = status()
    if kind == "none":
        return "none", f"no cgroup ({note})"
    if kind == "v2":
        base, _ = _v2_base()
        if "cpu" in set(_read(os.path.join(base, "cgroup.subtree_control")).split()):
            return "share", "cgroup v2 cpu.weight, CPU time from cpu.stat"
        return "count", (f"cgroup v2 at {base} does not enable cpu for its children: CPU time is counted, "
                         "but a submission has no CPU share of its own")
    bases, _ = _v1_bases()
    if not set(CPU_V1) <= set(bases):
        return "none", "no cgroup v1 cpu and cpuacct hierarchies"
    probe = [os.path.join(bases[c], f"rnnkit-probe-cpu-{os.getpid()}") for c in CPU_V1]
    try:
        for folder in dict.fromkeys(probe):
            os.mkdir(folder)
    except OSError as err:
        return "none", f"cgroup v1 cpu: cannot create a group ({err.strerror})"
    finally:
        for folder in dict.fromkeys(probe):
            try:
                os.rmdir(folder)
            except OSError:
                pass
    _remove_stale(dict.fromkeys(bases[c] for c in CPU_V1))
    return "share", "cgroup v1 cpu.shares, CPU time from cpuacct.usage"
