"""A student process killed from outside (the machine's OOM killer, an operator, its zygote gone) while student
code runs costs the student nothing the first time: the call runs again in a fresh process; a second such death
fails the check as any crash does (issue 17's need, built in autograder/trusted/student.py)."""
import os
import signal
import threading
import time

import pytest

from autograder.sandbox import warm
from autograder.trusted.student import StudentError, StudentKilled, StudentProcess

# The victim names its own process, so that the test finds it from outside at every level (bubblewrap, a zygote's
# worker in namespaces of its own, or a plain subprocess) without knowing how it was started.
VICTIM = r'''
import ctypes, time
def victim(seconds):
    libc = ctypes.CDLL(None)
    libc.prctl(15, b"rnnkit-victim", 0, 0, 0)   # PR_SET_NAME: killable from now on ...
    time.sleep(seconds)
    libc.prctl(15, b"python", 0, 0, 0)          # ... until the call ends
    return 5
'''


def _named(name):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == name:
                    found.append(int(pid))
        except OSError:
            pass
    return found


def killer(times, target=None):
    """Kills the victim (or ``target()``'s pid) with SIGKILL, ``times`` times, as soon as it runs."""
    killed = []

    def run():
        deadline = time.monotonic() + 120
        while len(killed) < times and time.monotonic() < deadline:
            pids = _named("rnnkit-victim")
            if pids:
                if target is not None:
                    pids = [target()]
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                killed.append(pids)
                while _named("rnnkit-victim"):   # gone before the next round
                    time.sleep(0.05)
            time.sleep(0.05)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, killed


def victim(level, zygote=None):
    warm.ZYGOTE = zygote
    return StudentProcess([{"grade_id": "victim", "source": VICTIM, "kind": "answer"}],
                          zygote.release_dir if zygote else None, level, load_timeout=120, call_timeout=60)


def test_a_worker_killed_from_outside_once_costs_nothing(level):
    student = victim(level)
    thread, killed = killer(1)
    try:
        assert student.call("victim", 3) == 5                  # the second run, in a fresh process
        assert len(killed) == 1 and student.starts == 2 and student.retried_kills == 1
    finally:
        student.close()
        thread.join(5)


def test_a_worker_killed_twice_fails_the_check(level):
    student = victim(level)
    thread, killed = killer(2)
    try:
        with pytest.raises(StudentKilled, match="SIGKILL") as info:   # both runs are killed: a long sleep costs
            student.call("victim", 20)                                   # nothing and outlasts a slow /proc scan
        assert isinstance(info.value, StudentError) and len(killed) == 2 and student.retried_kills == 1
        assert student.call("victim", 0) == 5                  # the next check runs as usual
    finally:
        student.close()
        thread.join(5)


def test_a_zygote_killed_mid_grading_costs_nothing(level, tmp_path):
    """The zygote dies (and its running worker with it) during a call: the call runs again in a cold worker, and
    later calls start cold too."""
    if level != "bubblewrap":
        pytest.skip(f"warm workers need bubblewrap (this machine offers '{level}')")
    zygote = warm.Zygote("bubblewrap", str(tmp_path))
    student = victim(level, zygote)
    try:
        assert student.call("victim", 0) == 5 and student.cold_starts == 0   # a warm worker first
        thread, killed = killer(1, target=lambda: zygote.proc.pid)
        assert student.call("victim", 3) == 5
        assert killed and student.retried_kills == 1 and student.cold_starts == 1
        student.close()
        assert student.call("victim", 0) == 5 and student.cold_starts == 2   # no zygote: cold, and fine
        thread.join(5)
    finally:
        student.close()
        zygote.close()
        warm.ZYGOTE = None
