"""One memory and process budget for all of a submission's processes together (issue 18, item 2): where the machine
offers a control group (autograder/sandbox/cgroup.py), processes that each stay under the per-process limit cannot
add up past the submission's budget; the kernel stops them inside the group, and the check fails as the student's
doing (it is not retried as a kill from outside would be). Where there is none, the fallback is named."""
import os
import subprocess
import sys

import pytest

from autograder.sandbox import cgroup, launch, warm
from autograder.settings import Settings
from autograder.trusted.student import StudentError, StudentProcess

# Eight children of 300 MB each: every one far under the 4 GB address-space limit, 2.4 GB together.
HOG = r'''
import os, time
def hog(children, megabytes):
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            block = b"\1" * (megabytes * 2**20)   # written, so resident
            time.sleep(60)
            os._exit(0)
        pids.append(pid)
    time.sleep(5)
    return "still here"
def small():
    return 1
'''


@pytest.fixture
def budget():
    kind, note = cgroup.status()
    if kind == "none":
        assert any("no cgroup" in gap for gap in launch.gaps("none")), launch.gaps("none")
        pytest.skip(f"this machine offers no cgroup the grader may use ({note}); the gap is announced")
    return kind


@pytest.mark.parametrize("warm_start", [False, True])
def test_processes_together_cannot_outgrow_the_submissions_memory(level, budget, warm_start, tmp_path):
    if warm_start and level != "bubblewrap":
        pytest.skip(f"warm workers need bubblewrap (this machine offers '{level}')")
    limits = Settings(group_memory_gb=1.0).sandbox_limits()
    zygote = warm.Zygote("bubblewrap", str(tmp_path)) if warm_start else None
    warm.ZYGOTE = zygote
    student = StudentProcess([{"grade_id": "hog", "source": HOG, "kind": "answer"}], str(tmp_path) if zygote
                             else None, level, limits=limits, load_timeout=120, call_timeout=60)
    try:
        assert student.call("small") == 1 and student.group is not None
        assert (student.cold_starts == 0) == warm_start
        folders = list(student.group.folders.values())
        with pytest.raises(StudentError, match="more than 1 GB of memory"):
            student.call("hog", 8, 300)
        assert student.retried_kills == 0                         # its own budget: not retried
        assert not any(os.path.exists(f) for f in folders)        # the group went with the process
        assert student.call("small") == 1                         # the next check runs in a fresh process
    finally:
        student.close()
        if zygote:
            zygote.close()
        warm.ZYGOTE = None


def test_groups_of_graders_that_died_are_removed(budget):
    """A grader killed before it removed its groups leaves them empty; the next grader's probe removes them (and
    never a group of a grader that still runs)."""
    group = cgroup.Group.create(2**30, 64)
    stale = {c: os.path.join(os.path.dirname(f), "rnnkit-4194999-7") for c, f in group.folders.items()}
    try:
        for folder in stale.values():
            os.mkdir(folder)
        cgroup._probe()
        assert not any(os.path.exists(f) for f in stale.values())
        assert all(os.path.isdir(f) for f in group.folders.values())    # ours: this process runs
    finally:
        group.close()
        for folder in stale.values():
            if os.path.isdir(folder):
                os.rmdir(folder)
    assert not any(os.path.exists(f) for f in group.folders.values())


def test_a_group_has_a_cpu_share_of_its_own_and_counts_its_cpu_time(budget):
    """Issue 27, item 4: a submission's processes share the cores as one (its group's weight is one ordinary
    process's), and their CPU time, dead processes' included, is what its timeouts count (tests/test_neighbours.py
    grades beside a hog)."""
    kind, note = cgroup.cpu_status()
    if kind == "none":
        assert any("no CPU share" in gap for gap in launch.gaps("none")), launch.gaps("none")
        pytest.skip(f"this machine gives a submission no CPU share of its own ({note}); the gap is announced")
    group = cgroup.Group.create(2**30, 64)
    try:
        if kind == "share":
            share = group.folders["cpu"] if group.kind == "v1" else group.folders[""]
            name, weight = ("cpu.shares", cgroup.V1_SHARES) if group.kind == "v1" else ("cpu.weight", cgroup.V2_WEIGHT)
            assert open(os.path.join(share, name)).read().strip() == str(weight)
        assert group.cpu_seconds() == 0.0
        busy = "import time\nstart = time.process_time()\nwhile time.process_time() - start < 0.5:\n    pass\n"
        subprocess.run([sys.executable, "-c", busy], preexec_fn=group.join, check=True)   # ended: still counted
        assert group.cpu_seconds() >= 0.5
    finally:
        group.close()
