"""Hostile student code against the sandbox itself (issue 8, classes 1, 4, 5, 7): what the student's process can do
to the grader, the course and other submissions, checked from inside at every level this machine offers.

One student process per level runs one probe that tries everything and reports plain facts (then a thread bomb):
each test below asserts one class on those facts, for the levels whose docstring in
:mod:`autograder.sandbox.launch` claims it. ``none`` claims little, and nothing at all for a non-root grader.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile

import pytest

from autograder import project
from autograder.sandbox import launch
from autograder.settings import Settings
try:
    from autograder.sandbox.inside import seccomp
except ImportError:  # only when these tests are run against an older sandbox, to show what they catch
    seccomp = None
from autograder.trusted.student import StudentError, StudentProcess

ROOT_GRADER = os.geteuid() == 0
SECRET = "rnnkit-hostile-secret-4f1c"
BOMB_LIMIT = 400  # RLIMIT_NPROC given to the student process of these tests

PROBE = r'''
import ctypes, errno, json, os, signal, socket, subprocess, sys, sysconfig, threading, time

def _try(fn):
    try:
        value = fn()
        return {"ok": True, "value": value}
    except BaseException as err:
        return {"ok": False, "error": f"{type(err).__name__}: {err}"[:300],
                "errno": getattr(err, "errno", None)}

def _status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields

def _fill(folder, cap_mb):
    """Writes 16 MB files into ``folder`` until an error or ``cap_mb``; returns (MB written, errno)."""
    written, error, chunk, paths = 0, None, b"\0" * 2**24, []
    try:
        while written < cap_mb:
            path = os.path.join(folder, f"fill-{len(paths)}")
            paths.append(path)
            with open(path, "wb") as f:
                f.write(chunk)
            written += 16
    except OSError as err:
        error = err.errno
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
    return written, error

def _reachable(path):
    """Exists and, for a folder, lists something: a folder this user may not read (0700) is not reachable."""
    try:
        return os.path.exists(path) and (not os.path.isdir(path) or bool(os.listdir(path)))
    except PermissionError:
        return False

def probe(spec):
    spec = json.loads(spec)
    status = _status()
    facts = {"CapEff": status["CapEff"][0], "CapPrm": status["CapPrm"][0], "CapBnd": status["CapBnd"][0],
             "Uid": status["Uid"],
             "Seccomp": status.get("Seccomp", ["?"])[0], "NoNewPrivs": status.get("NoNewPrivs", ["?"])[0]}
    libc = ctypes.CDLL(None, use_errno=True)
    remount = {}
    for target in (sys.prefix, "/etc", "/usr"):
        rc = libc.mount(None, target.encode(), None, ctypes.c_ulong(32 | 4096), None)  # MS_REMOUNT | MS_BIND
        remount[target] = rc == 0
    facts["remount_syscall"] = remount
    facts["remount_cli"] = _try(lambda: subprocess.run(["mount", "-o", "remount,bind,rw", sys.prefix],
                                                       capture_output=True, timeout=20).returncode)
    facts["unshare_userns"] = libc.unshare(0x10000000) == 0
    pth = {}
    for folder in (sysconfig.get_paths()["purelib"], sys.prefix, spec["venv_site"]):
        path = os.path.join(folder, "zz_rnnkit_hostile_test.pth")
        pth[folder] = _try(lambda: open(path, "w").write("# harmless: written by a hostile test\n"))
        if pth[folder]["ok"]:
            os.unlink(path)
    facts["pth"] = pth
    facts["secret_paths"] = {p: _reachable(p) for p in spec["secret_paths"]}
    facts["secret_files"] = {p: _try(lambda: open(p).read()[:20]) for p in spec["secret_files"]}
    facts["kill_outside"] = _try(lambda: os.kill(spec["sleep_pid"], signal.SIGKILL))
    facts["grader_visible"] = os.path.exists(f"/proc/{spec['grader_pid']}")
    facts["grader_environ"] = _try(lambda: open(f"/proc/{spec['grader_pid']}/environ", "rb").read().decode("latin-1"))
    facts["grader_mem"] = _try(lambda: open(f"/proc/{spec['grader_pid']}/mem", "rb").close())
    facts["job_file"] = _try(lambda: open(spec["job_file"]).read())
    facts["secret_in_env"] = any(spec["secret"] in v for v in os.environ.values())
    facts["release_write"] = _try(lambda: open(spec["release_file"], "a").write("# hostile\n"))
    facts["network"] = _try(lambda: socket.create_connection(("127.0.0.1", spec["port"]), timeout=3).close())
    if spec["fill"]:
        facts["fill_tmp"] = _fill("/tmp", 1024)
        facts["fill_scratch"] = _fill(os.getcwd(), 1024)
        facts["fill_shm"] = _fill("/dev/shm", 1024) if os.path.isdir("/dev/shm") else (0, None)
        facts["df"] = _try(lambda: subprocess.run(["df", "-m", "/tmp", os.getcwd()], capture_output=True,
                                                  text=True, timeout=20).stdout)
    return facts

def bomb(cap, forever=False):
    """Starts sleeping threads until the system refuses one (or ``cap``); returns how many started. With
    ``forever``, the refusal is not caught: the call raises, as a student's runaway code would."""
    threading.stack_size(64 * 1024)
    stop, threads, error = threading.Event(), [], None
    try:
        while len(threads) < cap:
            thread = threading.Thread(target=stop.wait, daemon=True)
            thread.start()
            threads.append(thread)
    except RuntimeError as err:
        if forever:
            raise
        error = str(err)
    finally:
        if not forever:
            stop.set()
            for thread in threads:
                thread.join()
    return {"started": len(threads), "error": error}
'''


def _available(level):
    required = os.environ.get("RNNKIT_REQUIRE_SANDBOX")
    if launch._works(level):
        return
    if required == level:
        pytest.fail(f"RNNKIT_REQUIRE_SANDBOX={level} but that level does not work here")
    pytest.skip(f"sandbox level '{level}' is not available on this machine")


def _claims(level, *, root_only_at_none=True):
    """Whether ``level`` claims to stop the attack (``none`` claims it only for a root grader, if at all)."""
    if level == "none" and (root_only_at_none is None or not ROOT_GRADER):
        pytest.skip("the 'none' level does not claim this (see autograder/sandbox/launch.py)")


@pytest.fixture(scope="module", params=launch.LEVELS)
def inside(request, tmp_path_factory):
    """``(level, facts, bomb result, bomb_forever outcome, sleep alive after, release file text)``."""
    level = request.param
    _available(level)
    base = tmp_path_factory.mktemp(f"hostile-{level}")
    os.chmod(base, 0o755)
    release = base / "release"
    (release / "data").mkdir(parents=True)
    (release / "checklib.py").write_text("X = 1\n")
    (release / "data" / "corpus.txt").write_text("public\n")
    job = base / "job.json"
    job.write_text(json.dumps({"secret": SECRET}))
    os.chmod(job, 0o600)
    # a non-editable install: the project's packages in the site-packages of a bound prefix
    fake_prefix = base / "prefix"
    site = fake_prefix / "lib" / "python3" / "site-packages"
    for relative in ("solutions/rnn_cell.py", "autograder/hidden/01_rnn_cell/test_01_rnn_cell.py",
                     "assignments/01_rnn_cell/generators.py", "autograder/sandbox/inside/worker.py"):
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(f"SECRET = {SECRET!r}\n")
    for folder, _, _ in os.walk(base):
        os.chmod(folder, 0o755)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    sleeper = subprocess.Popen(["sleep", "300"])
    spec = {"secret_paths": [project.SOLUTIONS, project.HIDDEN, str(site / "solutions"),
                             str(site / "autograder" / "hidden"), str(site / "assignments")],
            "secret_files": [os.path.join(project.SOLUTIONS, "rnn_cell.py"), str(site / "solutions" / "rnn_cell.py"),
                             glob.glob(os.path.join(project.HIDDEN, "*", "test_*.py"))[0]],
            "venv_site": next(p for p in sys.path if p.endswith("site-packages")),
            "sleep_pid": sleeper.pid, "grader_pid": os.getpid(), "job_file": str(job), "secret": SECRET,
            "release_file": str(release / "checklib.py"), "port": server.getsockname()[1],
            "fill": level != "none"}
    cells = [{"grade_id": "probe", "source": PROBE, "kind": "answer"}]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNKIT_HOSTILE_SECRET", SECRET)
        original = getattr(launch, "_prefixes", None)
        if original:
            mp.setattr(launch, "_prefixes", lambda: original() + [str(fake_prefix)])
        mp.syspath_prepend(str(site))
        student = StudentProcess(cells, str(release), level, load_timeout=180, call_timeout=120,
                                 limits=Settings(processes=BOMB_LIMIT).sandbox_limits())
        try:
            facts = student.call("probe", json.dumps(spec))
            bombed = student.call("bomb", 3000)
            try:
                forever = student.call("bomb", 5000, True)
            except StudentError as err:
                forever = err
        finally:
            student.close()
            server.close()
    alive = sleeper.poll() is None
    sleeper.kill()
    sleeper.wait()
    yield level, facts, bombed, forever, alive, (release / "checklib.py").read_text()


# -- class 1: no privilege inside, no escape as root ---------------------------------------------------------------
def test_student_has_no_privilege_and_cannot_remount_or_write_the_venv(inside):
    level, facts, *_ = inside
    _claims(level)
    assert not any(facts["remount_syscall"].values()), facts["remount_syscall"]
    assert not facts["remount_cli"]["ok"] or facts["remount_cli"]["value"] != 0, facts["remount_cli"]
    assert not any(attempt["ok"] for attempt in facts["pth"].values()), facts["pth"]
    assert not facts["unshare_userns"]
    assert int(facts["CapEff"], 16) == 0 and int(facts["CapPrm"], 16) == 0, facts
    assert int(facts["CapBnd"], 16) == 0, facts  # not even through an exec
    assert all(int(uid) != 0 for uid in facts["Uid"]), facts["Uid"]
    assert seccomp is not None, "no seccomp filter module"
    if seccomp.available():
        assert facts["Seccomp"] == "2" and facts["NoNewPrivs"] == "1", facts


# -- class 4 (part): solutions and hidden suites unreachable, editable install or not -------------------------------
def test_solutions_and_hidden_suites_are_unreachable(inside):
    level, facts, *_ = inside
    _claims(level, root_only_at_none=None)
    assert not any(facts["secret_paths"].values()), facts["secret_paths"]
    assert not any(read["ok"] for read in facts["secret_files"].values()), facts["secret_files"]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    """The files of the wheel that ``pip install .`` would install (built from a copy: no build/ in the project)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(project.ROOT, name), source)
    for name in ("autograder", "assignments", "solutions"):
        shutil.copytree(os.path.join(project.ROOT, name), source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, cwd=source)
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr[-300:]}")
    return zipfile.ZipFile(glob.glob(str(tmp_path / "wheel" / "*.whl"))[0]).namelist()


def test_the_wheel_ships_no_hidden_suites(wheel_names):
    assert not [n for n in wheel_names if n.startswith("autograder/hidden/")]
    assert "autograder/sandbox/inside/worker.py" in wheel_names


def test_the_wheel_ships_no_solutions(wheel_names):
    assert not [n for n in wheel_names if n.startswith("solutions/")]


# -- class 5: other processes, the release folder, the grader's secrets ---------------------------------------------
def test_student_cannot_signal_a_process_outside(inside):
    level, facts, _, _, alive, _ = inside
    _claims(level)
    assert alive and not facts["kill_outside"]["ok"], facts["kill_outside"]
    if level != "none":
        assert not facts["grader_visible"]


def test_student_cannot_write_the_release_folder(inside):
    level, facts, *_, release_text = inside
    _claims(level)
    assert not facts["release_write"]["ok"] and release_text == "X = 1\n", facts["release_write"]


def test_student_cannot_read_the_graders_environment_job_or_memory(inside):
    level, facts, *_ = inside
    _claims(level)
    assert not facts["secret_in_env"]
    for what in ("grader_environ", "grader_mem", "job_file"):
        assert not facts[what]["ok"], (what, facts[what])


def test_no_network(inside):
    level, facts, *_ = inside
    _claims(level, root_only_at_none=None)
    assert not facts["network"]["ok"]


# -- class 7: budgets at the sandbox level ---------------------------------------------------------------------------
def test_tmp_scratch_and_shm_are_size_limited(inside):
    level, facts, *_ = inside
    _claims(level, root_only_at_none=None)
    sizes = [getattr(launch, name, 256) for name in ("TMP_MB", "SCRATCH_MB", "SHM_MB")]  # 256: an older launch
    for name, limit in zip(("fill_tmp", "fill_scratch", "fill_shm"), sizes):
        written, error = facts[name]
        assert error == 28 and written <= limit, (name, facts[name], facts.get("df"))  # ENOSPC


def test_a_thread_bomb_is_stopped_and_fails_only_its_check(inside):
    level, _, bombed, forever, *_ = inside
    _claims(level)
    assert bombed["error"] and bombed["started"] < BOMB_LIMIT, bombed
    assert isinstance(forever, StudentError) and "thread" in str(forever), forever


# -- the public API: the same sandbox around any argv --------------------------------------------------------------
@pytest.mark.parametrize("level", launch.LEVELS)
def test_command_runs_another_entry_point_in_the_same_sandbox(level, tmp_path):
    _available(level)
    if not hasattr(launch, "command"):
        pytest.fail("launch.command is missing")
    (tmp_path / "helper.py").write_text("VALUE = 7\n")
    os.chmod(tmp_path, 0o755)
    code = ("import os, sys; sys.path.insert(0, os.getcwd()); import helper; "
            "print(helper.VALUE, os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])")
    proc = launch.start(level, str(tmp_path), Settings().sandbox_limits(), argv=[sys.executable, "-I", "-c", code])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    value, uid, caps = out.decode().split()
    assert value == "7"
    if level != "none" or ROOT_GRADER:
        assert uid != "0" and int(caps, 16) == 0
    assert launch.inside_path(level, "worker.py").endswith("/worker.py")
    assert all(isinstance(line, str) for line in launch.gaps(level))
    assert os.path.isfile(os.path.join(launch.WORKER_DIR, "seccomp.py"))


def test_the_seccomp_filter_is_built_for_known_machines_and_skipped_with_a_note_elsewhere():
    assert seccomp is not None, "no seccomp filter module"
    for machine in ("x86_64", "aarch64"):
        code = seccomp.program(machine)
        assert code and len(code) % 8 == 0 and len(code) // 8 < 4096
    assert seccomp.program("sparc64") is None
    script = "import platform, seccomp; platform.machine = lambda: 'sparc64'; print(seccomp.install())"
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {launch.WORKER_DIR!r}); "
                          + script], capture_output=True, text=True, timeout=60)
    assert "not installed" in out.stdout and "sparc64" in out.stdout, out.stdout + out.stderr
