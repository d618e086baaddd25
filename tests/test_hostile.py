"""Hostile submissions gain nothing: whatever the student's code does in its own process, the verdicts are made
on the trusted side, and a crash or a hang costs only the item being checked."""
import os

import pytest

from autograder import project
from tests.conftest import grade_class

A1 = "01_rnn_cell"
WRONG_FORWARD = '''
import numpy, numpy.testing, tensorflow
numpy.allclose = lambda *args, **kwargs: True            # make every comparison say yes
numpy.testing.assert_allclose = lambda *args, **kwargs: None
numpy.array_equal = lambda *args, **kwargs: True
print('{"ok": true, "value": null}')                     # a fake protocol line
def rnn_cell_forward(X_t, H_prev, W_xh, W_hh, b_h):
    return tensorflow.zeros_like(H_prev)
'''
LIAR = '''
class Always:
    def __eq__(self, other): return True
    def __array__(self, *args, **kwargs): raise TypeError("no")
    shape = property(lambda self: (4, 3))
def output_layer(H, W_hq, b_q):
    return Always()
'''
READ_SOLUTIONS = f'''
exec(open({os.path.join(project.SOLUTIONS, "rnn_cell.py")!r}).read())   # would define the reference RNNCell
'''
EXIT_IN_CELL = '''
import sys
sys.exit(0)
'''
HANG = '''
def rnn_cell_forward(X_t, H_prev, W_xh, W_hh, b_h):
    while True:
        pass
'''
DIE = '''
import os
def rnn_cell_backward(dH_t, X_t, H_prev, H_t, W_xh, W_hh):
    os._exit(0)
'''
SETUP_TAMPERING = '''
import numpy as np
np.allclose = lambda *args, **kwargs: True
'''


def items(results):
    return {item: s.score for item, s in results.items().items()}


@pytest.fixture(scope="module")
def hostile_results(built, level):
    course, answers = built
    reference = answers[A1]

    def tamper_setup(notebook):  # the student edits the locked set-up cell too: the grader runs the released one
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup":
                cell.source += "\n" + SETUP_TAMPERING
        return notebook

    class_ = {
        "liar": ({**reference, "rnn_cell_forward": WRONG_FORWARD, "output_layer": LIAR}, tamper_setup),
        "reader": {**reference, "RNNCell": READ_SOLUTIONS},
        "quitter": {**reference, "rnn_cell_forward": HANG, "rnn_cell_backward": DIE, "output_layer": EXIT_IN_CELL},
    }
    os.environ["RNNKIT_CALL_TIMEOUT"] = "8"   # keep the hang short; read when the job is written
    try:
        return grade_class(course, A1, class_, level), level
    finally:
        del os.environ["RNNKIT_CALL_TIMEOUT"]


def test_monkeypatching_and_fake_output_gain_nothing(hostile_results):
    results, _ = hostile_results
    scores = items(results["liar"])
    # zeros of the right shape and dtype earn the shape check (0.5 of 2 points) and nothing else; rnn_forward,
    # graded with the reference cell, keeps its points (one bug, one item)
    assert scores["rnn_cell_forward"] == 0.5
    assert scores["rnn_forward"] == 2
    assert scores["output_layer"] == 0
    assert scores["rnn_cell_backward"] == 3 and scores["rnn_backward"] == 4  # untouched items keep their points


def test_reading_the_reference_from_disk_fails_in_the_sandbox(hostile_results):
    results, level = hostile_results
    if level != "bubblewrap":
        pytest.skip(f"needs bubblewrap (this machine offers '{level}'); CI requires it")
    assert items(results["reader"])["RNNCell"] == 0
    outputs = [t.message for t in results["reader"].item_tests("RNNCell")]
    assert any("No such file or directory" in o for o in outputs), outputs


def test_exit_hang_and_crash_cost_only_their_items(hostile_results):
    results, _ = hostile_results
    scores = items(results["quitter"])
    assert scores["rnn_cell_forward"] == 0 and scores["rnn_cell_backward"] == 0  # the hang, the crash
    assert scores["output_layer"] == 0                                            # sys.exit in the cell
    # the grader went on: items built on the broken ones run with their reference and keep their points
    assert scores["rnn_forward"] == 2 and scores["rnn_backward"] == 4 and scores["RNNCell"] == 3
    messages = " ".join(t.message for t in results["quitter"].tests)
    assert "did not finish within 8 s" in messages
    assert "died while running your rnn_cell_backward" in messages
    assert "SystemExit" in messages


def test_sleeping_just_under_the_timeout_runs_out_the_submissions_budget(level):
    """A correct function that sleeps just under the per-call timeout on every call would hold a grading slot for
    an hour; the budget of the whole submission ends it, and the remaining checks say why."""
    from autograder.trusted.student import StudentProcess, StudentTimeout
    cells = [{"grade_id": "slow", "kind": "answer",
              "source": "import time\ndef slow():\n    time.sleep(4)\n    return 1\ndef other():\n    return 2\n"}]
    student = StudentProcess(cells, None, level, load_timeout=300, call_timeout=5)
    try:
        assert student.call("slow") == 1                     # loading (TensorFlow) and one sleep, unbudgeted
        student.budget = student.spent + 1                   # as if earlier sleepy calls had left 1 s (3 s asleep)
        with pytest.raises(StudentTimeout, match="time budget of the whole submission .* ran out while it ran"):
            student.call("slow")                             # stopped when the budget runs out, not at 5 s
        with pytest.raises(StudentTimeout, match="used up the time budget"):
            student.call("other")                            # nothing left: not even started
    finally:
        student.close()
