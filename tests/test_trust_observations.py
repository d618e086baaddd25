"""Observations made inside the student's process (issue 18, item 4): every call is observed the same way, so
code that recognises the observation and behaves differently under it does so in the calls whose values are
checked too; and the worker holds no reference source text that student code could read off its stack."""
import numpy as np
import pytest

from autograder.sandbox import warm
from autograder.trusted.student import StudentProcess

TAPE = "tf.GradientTape (gradient, jacobian)"

# Recognises a spy the ways an answer cell can: a harness frame on the stack, or TensorFlow's autodiff entry point
# not being what it was when the cell ran. Watched: zeros, honestly "by hand"; unwatched: the tape.
SNEAKY = r'''
import sys
import tensorflow as tf
from tensorflow.python.eager import imperative_grad as _ig
_AT_LOAD = _ig.imperative_grad
def _watched():
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name in ("_autodiff_calls", "_spy", "wrapper"):
            return True
        frame = frame.f_back
    return _ig.imperative_grad is not _AT_LOAD
def square_grad(x):
    if _watched():
        return tf.zeros_like(x)
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(v * v)
    return tape.gradient(y, v)
def by_hand(x):
    return 2 * x
'''

PEEK = r'''
import gc, sys
def _strings(value, depth=0):
    if isinstance(value, (str, bytes)):
        yield value if isinstance(value, str) else value.decode("latin-1")
    elif depth < 6 and isinstance(value, dict):
        for k, v in list(value.items()):
            yield from _strings(k, depth + 1)
            yield from _strings(v, depth + 1)
    elif depth < 6 and isinstance(value, (list, tuple, set, frozenset)):
        for v in list(value):
            yield from _strings(v, depth + 1)
def peek(head, tail):
    found = []   # (the marker is looked for as head + tail, never kept whole here)
    frame = sys._getframe()
    while frame is not None:
        for text in _strings(dict(frame.f_locals)):
            if head + tail in text:
                found.append(f"stack: {frame.f_code.co_name}")
        frame = frame.f_back
    for obj in gc.get_objects():
        if isinstance(obj, (dict, list, tuple)):
            for text in _strings(obj, 5):
                if head + tail in text:
                    found.append(f"heap: {type(obj).__name__}")
    return {"found": sorted(set(found)), "helper": helper(20)}
def helper(x):
    return -1
'''
REFERENCE = "# rnnkit-reference-marker-7c1e: a comment of the reference's source text\ndef helper(x):\n    return x + 1\n"


@pytest.fixture(scope="module")
def zygote(level, tmp_path_factory):
    """Workers from a zygote where there is one (a restart costs milliseconds), cold workers elsewhere."""
    if level != "bubblewrap":
        yield None
        return
    z = warm.Zygote("bubblewrap", str(tmp_path_factory.mktemp("release")))
    yield z
    z.close()


def process(level, zygote, source, **kwargs):
    warm.ZYGOTE = zygote
    return StudentProcess([{"grade_id": "probe", "source": source, "kind": "answer"}],
                          zygote.release_dir if zygote else None, level, load_timeout=120, **kwargs)


def test_a_function_cannot_tell_the_observed_call_from_the_checked_one(level, zygote):
    student = process(level, zygote, SNEAKY)
    x = np.array([1.0, -2.0, 3.0])
    try:
        used = student.call("_autodiff_calls", "square_grad", x)   # what suites ask for the autodiff check
        value = student.call("square_grad", x)                    # the call whose values are checked
        assert used == [TAPE], used                                # the spy was not recognised ...
        assert np.allclose(value, 2 * x) and student.observed == (TAPE,)  # ... and every call is observed alike
        assert student.observed_in("square_grad") == [TAPE]
        assert np.allclose(student.call("by_hand", x), 2 * x)
        assert student.observed == () and student.call("_autodiff_calls", "by_hand", x) == []
        assert student.observed_in("by_hand") == []
    finally:
        student.close()
    warm.ZYGOTE = None


def test_the_worker_holds_no_reference_source_text(level, zygote):
    student = process(level, zygote, PEEK, reference_source=lambda name: REFERENCE)
    student.uses = ("helper",)
    try:
        result = student.call("peek", "rnnkit-reference-", "marker-7c1e")
    finally:
        student.close()
    warm.ZYGOTE = None
    assert result["helper"] == 21          # the reference stood in for the student's helper during the call
    assert result["found"] == [], result   # but its source text is nowhere the student's code can look


KERAS_CELL = r'''
import keras
import tensorflow as tf
class RNNCell(keras.layers.Layer):
    """A cell that hands its step to Keras's own SimpleRNNCell."""
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = self.output_size = units
        self.inner = keras.layers.SimpleRNNCell(units)
    def build(self, input_shape):
        self.inner.build(input_shape)
    def call(self, inputs, states):
        return self.inner(inputs, states)
'''


def test_the_keras_cell_observation_is_the_workers_not_the_harnesss(level, zygote):
    """The A1 harness's description of an RNNCell reports the Keras cells the worker saw run during that call (and
    the same observation comes with the reply, where the trusted side keeps it)."""
    from autograder import project
    import os
    with open(os.path.join(project.HIDDEN, "01_rnn_cell", "harness.py")) as f:
        harness = f.read()
    warm.ZYGOTE = zygote
    student = StudentProcess([{"grade_id": "RNNCell", "source": KERAS_CELL, "kind": "answer"},
                              {"grade_id": "harness", "source": harness, "kind": "harness"}],
                             zygote.release_dir if zygote else None, level, load_timeout=120)
    try:
        info = student.call("_rnncell_describe", 4, 3)
        assert info["keras_cells_run"] == ["keras.layers.SimpleRNNCell"], info
        assert "keras.layers.SimpleRNNCell" in student.observed_in("_rnncell_describe")
    finally:
        student.close()
        warm.ZYGOTE = None


A2_GRADS = r'''
import keras
import tensorflow as tf
def many_to_one_grads(ids, labels, params):
    if params["mode"] == 1:   # autodiff
        w = tf.Variable(params["w"])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(w * w)
        return loss, {"w": tape.gradient(loss, w), "mode": tf.zeros(())}
    return tf.reduce_sum(params["w"] ** 2), {"w": 2 * params["w"], "mode": tf.zeros(())}
'''


def test_assignment_2s_autodiff_check_reads_the_workers_observation(level, zygote):
    from autograder import project
    import os
    with open(os.path.join(project.HIDDEN, "02_sentiment", "harness.py")) as f:
        harness = f.read()
    warm.ZYGOTE = zygote
    student = StudentProcess([{"grade_id": "many_to_one_grads", "source": A2_GRADS, "kind": "answer"},
                              {"grade_id": "harness", "source": harness, "kind": "harness"}],
                             zygote.release_dir if zygote else None, level, load_timeout=120)
    w = np.array([1.0, 2.0])
    try:
        taped = student.call("_grads_traced", np.zeros((1, 2), np.int32), np.zeros(1, np.int32),
                             {"w": w, "mode": np.float64(1)})
        by_hand = student.call("_grads_traced", np.zeros((1, 2), np.int32), np.zeros(1, np.int32),
                               {"w": w, "mode": np.float64(0)})
    finally:
        student.close()
        warm.ZYGOTE = None
    assert taped["autodiff"] == [TAPE] and np.allclose(taped["result"][1]["w"], 2 * w)
    assert by_hand["autodiff"] == [] and np.allclose(by_hand["result"][1]["w"], 2 * w)
