"""Warm student processes keep every guarantee of a cold one: each worker forked by the zygote is fresh (its own
/tmp, scratch folder and PID namespace), unprivileged, filtered, and cannot reach the zygote or the next worker.
Checked from inside, as the student's code sees it."""
import copy
import os
import time

import psutil
import pytest

from autograder.sandbox import warm
from autograder.sandbox.inside import messages as m
from autograder.settings import Settings
from autograder.trusted.student import StudentError, StudentProcess

PROBE = '''
import ctypes, os, signal, subprocess
def probe(marker):
    status = open("/proc/self/status").read()
    field = lambda name: status.split(name + ":")[1].split()[0]
    seen = {"tmp": os.listdir("/tmp"), "scratch": sorted(os.listdir("."))}
    open("/tmp/left-behind", "w").write("x")
    open("left-behind.txt", "w").write("x")
    subprocess.Popen(["sleep", marker], start_new_session=True)          # a process left running
    libc = ctypes.CDLL(None, use_errno=True)
    me = int(os.readlink("/proc/self"))                                  # this worker, as the outer /proc names it
    def parent(pid):
        try:
            return int(open(f"/proc/{pid}/status").read().split("PPid:")[1].split()[0])
        except OSError:
            return None
    mine = {me, parent(me)} | {int(p) for p in os.listdir("/proc") if p.isdigit() and parent(p) == me}
    others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in mine]
    readable = []
    for pid in others:                                                  # the zygote's memory and environment
        for name in ("environ", "mem"):
            try:
                open(f"/proc/{pid}/{name}", "rb").read(1)
                readable.append(f"{pid}/{name}")
            except OSError:
                pass
    killed = []
    for pid in range(2, 64):                                            # signal whatever can be named
        try:
            os.kill(pid, signal.SIGKILL if pid != os.getpid() else 0)
            killed.append(pid)
        except OSError:
            pass
    try:
        open(os.path.join(__import__("sys").prefix, "rnnkit-probe.pth"), "w").close()
        prefix_writable = True
    except OSError:
        prefix_writable = False
    return {"prefix_writable": prefix_writable, "cap": field("CapEff"), "uid": int(field("Uid")), "pid": os.getpid(), "seen": seen,
            "unshare": libc.unshare(0x10000000), "mount": libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None),
            "readable": readable, "others": others, "cwd": os.getcwd()}
'''


@pytest.fixture(scope="module")
def zygote(level, tmp_path_factory):
    if level != "bubblewrap":
        pytest.skip(f"warm workers need bubblewrap (this machine offers '{level}'); CI requires it")
    release = tmp_path_factory.mktemp("release")
    (release / "helper.py").write_text("VALUE = 1\n")
    z = warm.Zygote("bubblewrap", str(release))
    yield z
    z.close()


def student(zygote, source=PROBE):
    warm.ZYGOTE = zygote
    return StudentProcess([{"grade_id": "probe", "source": source, "kind": "answer"}], zygote.release_dir,
                          "bubblewrap", load_timeout=120)


def sleepers(marker):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:2] == [b"sleep", marker.encode()]:
                found.append(pid)
        except OSError:
            pass
    return found


def test_each_warm_worker_is_fresh_unprivileged_and_alone(zygote):
    results = []
    for marker in ("4242.1", "4242.2"):
        process = student(zygote)
        try:
            results.append(process.call("probe", marker))
            assert isinstance(process.proc, warm.Child)  # it really came from the zygote
        finally:
            process.close()
        for _ in range(50):   # the worker's PID namespace went with it, the sleeper too
            if not sleepers(marker):
                break
            time.sleep(0.1)
        assert not sleepers(marker), f"a process of the worker survived it ({marker})"
    for result in results:
        assert result["cap"] == "0000000000000000" and result["uid"] != 0
        assert not result["prefix_writable"]                            # the Python installation is read-only
        assert result["pid"] == 1 and result["cwd"] == "/work/assignment"
        assert result["unshare"] != 0 and result["mount"] != 0          # the seccomp filter holds
        assert result["others"] and not result["readable"], result        # the zygote is not readable
        assert "left-behind" not in result["seen"]["tmp"] and "left-behind.txt" not in result["seen"]["scratch"]
        assert "helper.py" in result["seen"]["scratch"]                 # the released files are there
    assert zygote.alive()  # signalling everything it could name did not reach the zygote


def test_a_crashed_or_hung_warm_worker_costs_one_check(zygote):
    process = student(zygote, "import os\ndef die():\n    os._exit(3)\ndef hang():\n    while True: pass\n"
                              "def fine():\n    return 7\n")
    process.call_timeout = 3
    try:
        with pytest.raises(StudentError, match="exit code 3"):
            process.call("die")
        with pytest.raises(StudentError, match="did not finish within 3 s"):
            process.call("hang")
        assert process.call("fine") == 7 and process.starts == 3
    finally:
        process.close()
    assert zygote.alive()


def test_grading_through_the_warm_graders_starts_no_cold_worker(built, level):
    """The whole path: batch -> warm grader -> forked pytest child -> zygote. A forked child is not the zygote's
    parent, so nothing there may treat the zygote as gone (it once fell back to cold workers for that reason)."""
    if level != "bubblewrap":
        pytest.skip(f"warm workers need bubblewrap (this machine offers '{level}')")
    from tests.conftest import grade_class
    course, answers = built
    results = grade_class(course, "01_rnn_cell", {"warm-a": answers["01_rnn_cell"], "warm-b": None}, level)
    for student, res in results.items():
        starts, cold = res.provenance["student_starts"]
        assert starts >= 1 and cold == 0, (student, res.provenance)
    assert results["warm-a"].score == results["warm-a"].max_score


# Hostile payloads of the "neighbours in the warm pool" class (issue 18, item 1): a first submission writes and
# renames wherever it can, a second one in the same warm run must find the root it would have found cold.
VANDAL = r'''
import os
MARK = "rnnkit-vandal"
def _places():
    points = {line.split()[4] for line in open("/proc/self/mountinfo")}
    places = points | {"/", "/dev", "/tmp", "/dev/shm", os.getcwd(), os.path.expanduser("~"), "/work"}
    for top in ("/", "/dev", "/work"):
        try:
            places |= {os.path.join(top, n) for n in os.listdir(top) if os.path.isdir(os.path.join(top, n))}
        except OSError:
            pass
    return sorted(p for p in places if os.path.isdir(p) and not p.startswith(("/proc", "/sys")))
def vandal():
    done = []
    for place in _places():
        try:
            with open(os.path.join(place, MARK), "wb") as f:
                f.write(b"\0" * 2**20)
            done.append(f"write {place}")
        except OSError:
            pass
        try:
            os.mkdir(os.path.join(place, MARK + ".d"))
            done.append(f"mkdir {place}")
        except OSError:
            pass
        try:
            os.symlink("/nonexistent", os.path.join(place, MARK + ".l"))
            done.append(f"symlink {place}")
        except OSError:
            pass
        try:
            entries = os.listdir(place)
        except OSError:
            continue
        for name in entries:
            if not name.startswith(MARK):
                try:
                    os.rename(os.path.join(place, name), os.path.join(place, f"{MARK}-{name}"))
                    done.append(f"rename {os.path.join(place, name)}")
                except OSError:
                    pass
    return done
def view():
    """What a fresh worker sees where the vandal wrote."""
    seen = {}
    for place in _places():
        try:
            seen[place] = sorted(os.listdir(place))
        except OSError as err:
            seen[place] = f"unreadable: {err.errno}"
    with open("/dev/null", "w") as f:
        f.write("x")
    import helper
    return {"seen": seen, "helper": helper.VALUE, "urandom": len(open("/dev/urandom", "rb").read(8))}
'''


def test_nothing_one_warm_worker_writes_reaches_the_next(zygote):
    """Every place a warm worker may write (its /tmp, /dev/shm, scratch folder, $HOME) is its own and fresh; the
    root, /dev and everything else is read-only, so a vandal's writes and renames never reach the next worker."""
    def run(fn):
        process = student(zygote, VANDAL)
        try:
            value = process.call(fn)
            assert isinstance(process.proc, warm.Child)
            return value
        finally:
            process.close()
    before = run("view")
    done = run("vandal")
    after = run("view")
    assert after == before, {p: (before["seen"].get(p), after["seen"].get(p)) for p in after["seen"]
                             if before["seen"].get(p) != after["seen"].get(p)}
    assert not any("rnnkit-vandal" in str(entries) for entries in after["seen"].values())
    written = sorted({line.split(" ", 1)[1] for line in done if not line.startswith("rename")})
    # the vandal could write only where a worker gets fresh, size-limited space of its own
    assert set(written) <= {"/tmp", "/dev/shm", "/work/assignment"}, written
    assert {"/tmp", "/dev/shm", "/work/assignment"} <= set(written), written  # and those work
    assert after["helper"] == 1 and after["urandom"] == 8


def test_a_vandal_graded_first_costs_the_next_submission_nothing(built, level):
    """The whole path, one warm grader and one zygote for both: a submission whose answer cell writes and renames
    wherever it can is graded first; the correct submission graded next by the same zygote gets full marks."""
    if level != "bubblewrap":
        pytest.skip(f"warm workers need bubblewrap (this machine offers '{level}')")
    from tests.conftest import grade_class
    course, answers = built
    reference = answers["01_rnn_cell"]
    vandal = dict(reference, rnn_cell_forward=reference["rnn_cell_forward"] + "\n" + VANDAL + "\nvandal()\n")
    results = grade_class(course, "01_rnn_cell", {"vandal-a": vandal, "victim-b": reference}, level, jobs=1)
    for student, res in results.items():
        assert res.provenance["student_starts"][1] == 0, (student, res.provenance)   # both warm
    assert results["victim-b"].score == results["victim-b"].max_score, [
        (t.name, t.message[:200]) for t in results["victim-b"].tests if t.score < t.max_score]


def test_a_fresh_warm_worker_still_starts_in_milliseconds(zygote):
    """The fresh root costs little: a worker from the zygote answers its first call far sooner than a cold one,
    which imports TensorFlow (seconds). The bound is loose for a shared machine; the figure is in the README."""
    times = []
    for _ in range(5):
        process = student(zygote, "def fine():\n    return 1\n")
        started = time.monotonic()
        try:
            assert process.call("fine") == 1 and isinstance(process.proc, warm.Child)
        finally:
            process.close()
        times.append(time.monotonic() - started)
    assert sorted(times)[2] < 1.0, times


def test_gradings_sharing_a_zygote_each_have_a_connection_of_their_own(zygote):
    """A warm grader's concurrent gradings share its zygote, each over a connection of its own: one grading cannot
    poll or end another's worker, and the workers of a grading whose connection closes (it ended, or its process
    was killed) end with it, while the zygote serves the others."""
    def handle(conn):
        mine = copy.copy(zygote)
        mine.control = conn
        return mine
    first, second = handle(zygote.attach()), handle(zygote.attach())
    worker = first.spawn(Settings().sandbox_limits(), 2)
    pids = worker.host_pids()
    assert pids and all(psutil.pid_exists(p) for p in pids)
    assert second._ask(m.Kill(worker.pid), m.Exited).code is None      # not the second grading's worker
    assert second._ask(m.Poll(worker.pid), m.Exited).code is None
    assert first._ask(m.Poll(worker.pid), m.Exited).code is None        # still running
    assert all(psutil.pid_exists(p) for p in pids)
    first.control.close()                                                     # the first grading is gone
    gone, alive = psutil.wait_procs([psutil.Process(p) for p in pids if psutil.pid_exists(p)], timeout=30)
    assert not alive, alive
    other = second.spawn(Settings().sandbox_limits(), 2)                       # the zygote serves the second
    assert second._ask(m.Poll(other.pid), m.Exited).code is None
    assert other.kill() == -9 and zygote.alive()
    second.control.close()


# Two gradings of one assignment now run side by side on one zygote: their workers are alive at the same time, so
# nothing they can open for each other may be shared (issue 18's neighbours, concurrent this time).
NEIGHBOUR = r'''
import socket
def listen():
    """Opens what a neighbour could reach: a loopback TCP port and an abstract Unix socket."""
    global held
    tcp = socket.socket()
    try:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        port = tcp.getsockname()[1]
    except OSError:
        port = None
    unix = socket.socket(socket.AF_UNIX)
    unix.bind("\0rnnkit-neighbour")
    unix.listen()
    held = (tcp, unix)
    return port
def reach(port):
    """What of the neighbour's this worker reaches."""
    reached = []
    if port is not None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            reached.append("tcp")
        except OSError:
            pass
    try:
        probe = socket.socket(socket.AF_UNIX)
        probe.connect("\0rnnkit-neighbour")
        reached.append("abstract unix socket")
    except OSError:
        pass
    return reached
'''


def test_workers_alive_at_once_cannot_reach_each_other(zygote):
    """Each worker has a network namespace of its own: a loopback port or an abstract Unix socket one student's
    code opens is not there for another worker of the same zygote, even while both run."""
    first, second = student(zygote, NEIGHBOUR), student(zygote, NEIGHBOUR)
    try:
        port = first.call("listen")
        reached = second.call("reach", port)
        assert isinstance(first.proc, warm.Child) and isinstance(second.proc, warm.Child)
        assert reached == [], reached
        # the probe itself works: the port was opened, and the worker reaches its own abstract socket (not its own
        # port: in a network namespace of its own the loopback interface is down)
        assert port is not None and first.call("reach", port) == ["abstract unix socket"]
    finally:
        first.close()
        second.close()
