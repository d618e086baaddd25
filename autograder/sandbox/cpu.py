"""How much time a step of a student's process has used: its own CPU time, with a wall-clock safety net.

A budget in wall-clock seconds lets a neighbour decide a grade: a submission graded beside one that forks a
thousand busy loops gets a sliver of the cores and runs out of time with correct code. Where the machine counts the
CPU time of a submission's control group (:func:`autograder.sandbox.cgroup.cpu_status`), a step is charged

    max(CPU seconds of all the group's processes, wall-clock seconds / wall_factor)

so that code that computes is charged what it computed (a neighbour cannot make that larger, and the group's own
CPU share keeps the neighbour from starving it), while code that sleeps, waits or hangs without computing is still
stopped, ``wall_factor`` times later than busy code. Where CPU time is not counted, a step is charged its wall
clock, as before. Which of the two stopped a step is kept (:attr:`Step.ended_by`): only a stop by the wall clock
can be a neighbour's doing, and the grading run regrades such a submission alone
(:mod:`autograder.grading.batch`).
"""
import os
import time

CPUS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
SHORTEST_WAIT = 0.02   # seconds between two looks at the group's CPU time, at least


class Budget:
    """The time a whole submission's student code may be charged, and what it has been charged so far.

    Args:
        seconds: the budget (None: no budget).
        wall_factor: how many wall-clock seconds count as one second of charge where CPU time is counted.
    """

    def __init__(self, seconds, wall_factor):
        if wall_factor < 1:
            raise ValueError(f"wall_factor must be at least 1, not {wall_factor!r}")
        self.seconds, self.wall_factor = seconds, float(wall_factor)
        self.spent = 0.0          # seconds charged, over every step and process of the grading
        self.by_wall = 0.0        # the part of them charged by the wall clock beyond the CPU time used

    def left(self):
        return None if self.seconds is None else max(self.seconds - self.spent, 0.0)

    def exhausted(self):
        return self.seconds is not None and self.spent >= self.seconds

    def step(self, group, timeout):
        """A :class:`Step` allowed ``timeout`` seconds, or what is left of the budget if that is less."""
        return Step(self, group, timeout)


class Step:
    """One step (loading the cells, one call) of one student process in ``group`` (a ``cgroup.Group`` or None)."""

    def __init__(self, budget, group, timeout):
        self.budget, self.group, self.timeout = budget, group, float(timeout)
        left = budget.left()
        self.allowed = self.timeout if left is None else min(self.timeout, left)
        self.by_budget = self.allowed < self.timeout
        self.started = time.monotonic()
        self.cpu_start = group.cpu_seconds() if group is not None else None
        self.counted = self.cpu_start is not None
        self.factor = budget.wall_factor if self.counted else 1.0
        self.cpu_used = 0.0
        self.charged = self.charged_by_wall = 0.0   # already added to the budget
        self.ended_by = None   # "cpu" or "wall" once the step ran out of time

    def wall(self):
        return time.monotonic() - self.started

    def cpu(self):
        """CPU seconds of the group since the step began (the last value seen once the group is gone)."""
        if self.counted:
            now = self.group.cpu_seconds()
            if now is not None:
                self.cpu_used = max(now - self.cpu_start, 0.0)
        return self.cpu_used

    def used(self):
        """Seconds charged so far: ``max(cpu, wall / factor)``, or the wall clock where CPU is not counted."""
        return max(self.cpu(), self.wall() / self.factor) if self.counted else self.wall()

    def over(self):
        """Whether the step has used what it was allowed; sets :attr:`ended_by`."""
        if self.counted and self.cpu() >= self.allowed:
            self.ended_by = "cpu"
        elif self.wall() >= self.allowed * self.factor:
            self.ended_by = "wall"
        return self.ended_by is not None

    def wait(self):
        """Wall-clock seconds to wait before the step could have run out (the group's CPU time grows at most
        ``CPUS`` seconds a second): a waiter looks again then, never in a busy loop."""
        by_wall = self.allowed * self.factor - self.wall()
        if self.counted:
            by_wall = min(by_wall, (self.allowed - self.cpu()) / CPUS)
        return max(by_wall, SHORTEST_WAIT)

    def charge(self):
        """Adds to the budget what the step used since the last charge (call it once the step's waiting ends)."""
        used = self.used()
        beyond = max(used - self.cpu_used, 0.0) if self.counted else used
        self.budget.spent += used - self.charged
        self.budget.by_wall += beyond - self.charged_by_wall
        self.charged, self.charged_by_wall = used, beyond
        return used

    def describe(self):
        """What the step used, in words, for messages: CPU time and wall clock where both are known."""
        if self.counted:
            return f"{self.cpu_used:.1f} s of CPU time in {self.wall():.1f} s"
        return f"{self.wall():.1f} s"
