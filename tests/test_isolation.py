"""What the sandbox hides and stops, checked on a bare student process (no hidden suite involved)."""
import os
import socket
import time

import pytest

from autograder import project
from autograder.settings import Settings
from autograder.trusted.student import StudentError, StudentProcess


def process(level, source, **kwargs):
    cells = [{"grade_id": "probe", "source": source, "kind": "answer"}]
    return StudentProcess(cells, None, level, load_timeout=120, **kwargs)


def test_the_sandbox_hides_the_course_and_the_network(level):
    if level != "bubblewrap":
        pytest.skip(f"needs bubblewrap (this machine offers '{level}'); CI requires it")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    source = f'''
import os, socket
def probe():
    seen = {{p: os.path.exists(p) for p in {[project.SOLUTIONS, project.HIDDEN, os.path.expanduser("~")]!r}}}
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
        network = "reached the grader's loopback"
    except OSError as err:
        network = "blocked"
    return {{"seen": seen, "network": network, "env": sorted(os.environ)}}
'''
    student = process(level, source)
    try:
        result = student.call("probe")
    finally:
        student.close()
        server.close()
    assert not any(result["seen"].values()), result["seen"]
    assert result["network"] == "blocked"
    assert "RNNKIT_REQUIRE_SANDBOX" not in result["env"]


def test_escaped_children_are_killed_when_grading_ends():
    source = '''
import subprocess
def spawn():
    return subprocess.Popen(["sleep", "300"], start_new_session=True).pid   # leaves the process group
'''
    student = process("none", source)
    pid = student.call("spawn")
    assert os.path.exists(f"/proc/{pid}")
    student.close()
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the escaped child survived the student process")


def test_memory_limit_turns_a_bomb_into_a_failed_check():
    student = process("none", "def bomb():\n    return len(bytearray(8 * 2**30))\n",
                      limits=Settings(memory_gb=3.0).sandbox_limits())
    try:
        with pytest.raises(StudentError, match="MemoryError"):
            student.call("bomb")
    finally:
        student.close()


def test_fallback_is_announced(built, capsys):
    from autograder import cli
    course, _ = built
    cli.main(["autograde", "--course-dir", course.root, "--sandbox", "none", "--student", "nobody"])
    captured = capsys.readouterr()
    assert "plain subprocess with resource limits only" in captured.out + captured.err
