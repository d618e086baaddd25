"""The narrow channel: plain values only, and no student value can pose as a tagged form."""
import ast
import base64
import functools
import marshal
import types

import numpy as np
import pytest

from autograder import project
from autograder.sandbox.inside import channel


def roundtrip(value, **kwargs):
    return channel.decode(channel.loads(channel.dumps(channel.encode(value, **kwargs))))


def test_arrays_keep_dtype_and_shape():
    for array in (np.arange(6, dtype=np.int32).reshape(2, 3), np.ones((2, 0, 3), np.float32), np.float64(2.5),
                  np.array(1.5), np.arange(12.0).reshape(3, 4).T):  # a 0-d array, a non-contiguous one
        back = roundtrip(array)
        assert np.asarray(back).dtype == np.asarray(array).dtype and np.array_equal(back, array)
        assert np.shape(back) == np.shape(array)


def test_nested_values():
    value = {"loss": [1.0, 0.5], "ids": (np.zeros(2, np.int32), "text"), 3: None}
    back = roundtrip(value)
    assert back["loss"] == [1.0, 0.5] and back["ids"][1] == "text" and back[3] is None


def test_object_arrays_are_refused():
    with pytest.raises(TypeError):
        channel.encode(np.array([object()], dtype=object))


def test_unknown_objects_stay_behind_as_handles():
    kept = []
    data = channel.encode(object(), keep=lambda obj: kept.append(obj) or len(kept))
    back = channel.decode(data)
    assert isinstance(back, channel.Ref) and back.ref == 1 and kept


def test_a_students_dict_cannot_pose_as_a_tagged_form():
    sneaky = {"__nd__": "not an array"}
    assert roundtrip(sneaky) == sneaky


def test_markers_arrive_as_numpy_and_rng():
    args = channel.decode(channel.encode([channel.numpy_arg(np.ones(2)), channel.rng_arg(3)]),
                          tensor=lambda a: ("tensor", a))
    assert isinstance(args[0], np.ndarray)
    assert args[1].integers(1000) == np.random.default_rng(3).integers(1000)


# ---------------------------------------------------------------------------------------------------------------
# The channel as hostile student code uses it (issue 18, item 3): the payloads find the worker's reply stream on
# the stack, as an answer cell can, and write on it.
import time  # noqa: E402

from assignments.common.checklib import CheckFailed  # noqa: E402
from autograder.sandbox import warm  # noqa: E402
from autograder.trusted import student as student_module  # noqa: E402
from autograder.trusted.student import StudentError, StudentProcess, StudentTimeout  # noqa: E402

FORGER = r'''
import json, sys, threading, time
def _find(name):
    frame = sys._getframe()
    while frame is not None:
        if name in frame.f_locals:
            return frame.f_locals[name]
        frame = frame.f_back
def _write(data):
    out = _find("self").out
    out.write(data)
    out.flush()
def forge_then_stall():
    _write(json.dumps({"id": _find("request_id"), "ok": True, "value": 42}).encode() + b"\n")
    time.sleep(600)
def forge_and_return():
    _write(json.dumps({"id": _find("request_id"), "ok": True, "value": 42}).encode() + b"\n")
    return 7
def wrong(kind):
    rid = _find("request_id")
    line = {"other id": {"id": rid + 1000, "ok": True, "value": 1}, "string id": {"id": str(rid), "ok": True, "value": 1},
            "list": [rid, True], "ok not bool": {"id": rid, "ok": "yes", "value": 1},
            "error not text": {"id": rid, "ok": False, "error": 5}, "no value": {"id": rid, "ok": True},
            "bad value": {"id": rid, "ok": True, "value": {"__nd__": "not base64!"}}}.get(kind)
    _write(b"not json\n" if line is None else json.dumps(line).encode() + b"\n")
    time.sleep(2)   # the real reply comes after the forged line, if at all
    return 1
def oversized(megabytes):
    _write(b"x" * int(megabytes * 2**20))
    return 1
def flood(lines, size):
    out = _find("self").out
    def run():
        time.sleep(0.5)       # after this call's reply
        for _ in range(lines):
            out.write(b"{" + b" " * size + b"}\n")
        out.flush()
    threading.Thread(target=run).start()
    return 1
def echo(x):
    return x
def fine():
    return 3
'''


@pytest.fixture(scope="module")
def channel_zygote(level, tmp_path_factory):
    """Workers from a zygote where there is one (a restart costs milliseconds), cold workers elsewhere."""
    if level != "bubblewrap":
        yield None
        return
    z = warm.Zygote("bubblewrap", str(tmp_path_factory.mktemp("release")))
    yield z
    z.close()


@pytest.fixture
def forger(level, channel_zygote):
    warm.ZYGOTE = channel_zygote
    process = StudentProcess([{"grade_id": "forger", "source": FORGER, "kind": "answer"}],
                             channel_zygote.release_dir if channel_zygote else None, level,
                             load_timeout=120, call_timeout=5)
    yield process
    process.close()
    warm.ZYGOTE = None


def test_a_process_that_stops_reading_cannot_hold_the_grader_in_write(forger):
    """A fake reply, then no more reading: the next request (larger than a pipe holds) times out on sending,
    within the call's timeout, and the check after it runs in a fresh process."""
    assert forger.call("forge_then_stall") == 42     # a forged value is only a value: checked like any other
    started = time.monotonic()
    with pytest.raises(StudentTimeout, match="did not take the grader's request within 5 s"):
        forger.call("echo", np.zeros(2**20))           # 8 MB of float64, far over a pipe's 64 kB
    assert time.monotonic() - started < 5 * forger.clock.wall_factor + 10   # it sleeps: stopped by the wall clock
    assert forger.call("fine") == 3


def test_an_extra_line_is_the_students_error(forger):
    assert forger.call("forge_and_return") == 42       # the forged line came first; the real one is unsolicited
    # the real reply comes either between calls (unsolicited) or while the next call waits (another request's)
    with pytest.raises(StudentError, match="not replies to its requests|a reply to another request"):
        for _ in range(50):
            forger.call("fine")
            time.sleep(0.1)
    assert forger.call("fine") == 3                    # in a fresh process


@pytest.mark.parametrize("kind", ["other id", "string id", "list", "ok not bool", "error not text", "no value",
                                  "not json", "bad value"])
def test_malformed_or_wrong_replies_fail_the_check_not_the_grader(forger, kind):
    with pytest.raises(CheckFailed) as info:
        forger.call("wrong", kind)
    assert isinstance(info.value, StudentError), info.value
    assert forger.call("fine") == 3


def test_an_oversized_reply_fails_the_check(forger, monkeypatch):
    monkeypatch.setattr(student_module, "MAX_REPLY_BYTES", 2**20)
    forger.call("fine")  # a process started with the smaller bound
    with pytest.raises(StudentError, match="more than 1 MB in one reply"):
        forger.call("oversized", 3)
    assert forger.call("fine") == 3


def _rss_mb():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) / 1024


def test_a_flood_of_unsolicited_lines_keeps_the_graders_memory_bounded(forger):
    """600 lines of 1 MB written while nobody waits: dropped and counted as they come, never queued."""
    forger.call("fine")
    before = _rss_mb()
    assert forger.call("flood", 600, 2**20) == 1
    for _ in range(600):
        if forger.inbox.unsolicited >= 600:
            break
        time.sleep(0.1)
    assert forger.inbox.unsolicited == 600
    assert _rss_mb() - before < 150, (before, _rss_mb())   # an unbounded queue holds 600 MB here
    with pytest.raises(StudentError, match="wrote 600 line"):
        forger.call("fine")
    assert forger.call("fine") == 3


def _constants(code):
    """Every constant of a code object and of the code objects nested in it, at any depth."""
    for value in code.co_consts:
        if isinstance(value, types.CodeType):
            yield from _constants(value)
        else:
            yield value


@pytest.mark.parametrize("assignment", project.assignments())
def test_the_reference_sent_for_uses_carries_no_docstring_at_any_depth(assignment):
    """What a ``uses=`` item sends the worker (the reference's code object) holds no docstring of the reference:
    not the function's, not a nested function's or class's, not a method's."""
    with open(project.solution_file(assignment), encoding="utf-8") as f:
        source = f.read()
    docstrings = {ast.get_docstring(node, clean=False) for node in ast.walk(ast.parse(source))
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))} - {None}
    names = list(project.top_level_definitions(source))
    process = StudentProcess([], None, "none", reference_source=functools.partial(project.reference_source,
                                                                                  assignment))
    checked = 0
    for name in names:
        sent = process._reference_code(name)
        code = marshal.loads(base64.b64decode(sent["code"]))
        found = {value for value in _constants(code) if isinstance(value, str)} & docstrings
        assert not found, (name, sorted(found)[:1])
        checked += 1
    assert checked and docstrings   # something was looked at
