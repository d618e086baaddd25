"""The notebooks as a student meets them: a quiet set-up, checks that explain instead of crashing, and runs that
never raise outside answer cells, with the stubs and with the reference.

The guard itself (``assignments/common/publiccheck.py``) is tested directly first (fast, no kernel); then the built
notebooks are executed in a Jupyter kernel: the released ones with their stubs, the source ones with the reference
(set-up, answer and check cells; the whole notebook top to bottom for Assignment 1, and for the other two with
``RNNKIT_SLOW=1``, since each takes minutes), and a few realistic bugs get the sentence they deserve.
"""
import os
import re
import shutil
import subprocess
import sys

import nbformat
import numpy as np
import pytest
import tensorflow as tf
from nbclient import NotebookClient

from autograder import notebooks, project
from tests.conftest import assignments

COMMON = os.path.join(project.ASSIGNMENTS, "common")
sys.path.insert(0, COMMON)   # the notebooks import these modules by their bare names, as students do
import publiccheck  # noqa: E402
from checklib import CheckFailed, check_gradients, to_array  # noqa: E402

ANSI = re.compile(r"\x1b\[")
SLOW = pytest.mark.skipif(not os.environ.get("RNNKIT_SLOW"), reason="minutes per notebook: set RNNKIT_SLOW=1")


# ------------------------------------------------------------------------------------------------ the guard alone

@pytest.fixture(autouse=True)
def _fresh_guard():
    publiccheck._passed.clear()
    publiccheck._failures.clear()


def stub(x):
    """A released answer: the body is nbgrader's stub."""
    raise NotImplementedError()


def test_a_stub_says_not_implemented_yet_and_the_cell_goes_on(capsys):
    with publiccheck.public_check("stub"):
        publiccheck.call(stub, 1)
    out = capsys.readouterr().out.strip()
    assert out == "✗ stub is not implemented yet: write its body in the answer cell above, then run that cell and " \
                  "this one again."
    assert publiccheck.is_stub(stub) and not publiccheck.is_stub(test_cells_after_a_failed_part_skip_politely)


def test_a_check_that_needs_an_unfinished_part_names_it(capsys):
    def uses_stub(x):
        return stub(x) + 1
    with publiccheck.public_check("uses_stub"):
        publiccheck.call(uses_stub, 1)
    assert capsys.readouterr().out.strip() == \
        "✗ uses_stub: its check needs stub, which is not implemented yet (finish stub first)."


def test_a_shape_error_becomes_one_sentence_with_the_call_and_the_shapes(capsys):
    def rnn_step(X_t, W_xh):
        A = X_t @ W_xh
        return tf.tanh(A)
    with publiccheck.public_check("rnn_step"):
        publiccheck.call(rnn_step, tf.zeros((2, 3)), tf.zeros((5, 4), tf.float32))
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and not ANSI.search(out) and "{{function_node" not in out
    assert out.startswith("✗ rnn_step: rnn_step(X_t=float32 tensor (2, 3), W_xh=float32 tensor (5, 4)) raised "
                          "InvalidArgumentError in ")
    assert re.search(r"in rnn_step, line \d+ of its cell: Matrix size-incompatible: In\[0\]: \[2,3\]", out)


def test_keras_errors_lose_their_colour_codes(capsys):
    def build(units):
        return keras_layer(units)(tf.zeros((2,)))
    import keras
    keras_layer = keras.layers.Dense
    with publiccheck.public_check("build"):
        publiccheck.call(build, 3)
    out = capsys.readouterr().out.strip()
    assert out.startswith("✗ build: build(units=3) raised ") and not ANSI.search(out) and "\n" not in out


def test_numpy_inside_a_forward_pass_is_caught_where_it_happens():
    def forward(X, W):
        return np.tanh(X @ W)
    with pytest.raises(CheckFailed, match=r"forward returned a NumPy array .*not a TensorFlow tensor.*np\.tanh"):
        publiccheck.call_tf(forward, tf.ones((2, 3)), tf.ones((3, 4)))

    def forward_cut(X, W):
        return tf.constant(np.tanh(X @ W))
    with pytest.raises(CheckFailed, match=r"no gradient flows from the result of forward_cut back to X, W"):
        publiccheck.call_tf(forward_cut, tf.ones((2, 3)), tf.ones((3, 4)))

    def forward_ok(X, params):
        return tf.tanh(X @ params["W"])
    assert publiccheck.call_tf(forward_ok, tf.ones((2, 3)), {"W": tf.ones((3, 4))}).shape == (2, 4)


def test_every_gradient_of_a_backward_pass_is_reported_in_one_message():
    rng = np.random.default_rng(0)
    truth = {name: rng.standard_normal((3, 2)) for name in ("dX", "dH0", "dW_xh", "dW_hh", "db_h")}
    got = dict(truth, dW_hh=truth["dW_hh"].T.copy().reshape(3, 2) + 1, db_h=np.zeros((3, 2)))
    with pytest.raises(CheckFailed) as failure:
        check_gradients(got, truth, against="finite differences", what="rnn_backward")
    message = str(failure.value)
    assert message.startswith("2 of 5 gradients of rnn_backward are wrong")
    assert all(name in message for name in truth) and message.count("✗") == 2 and message.count("✓") == 3
    assert "db_h ✗ all zeros" in message


def test_the_gradient_of_a_gather_is_a_legitimate_gradient():
    W = tf.Variable(np.arange(12.0).reshape(4, 3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.gather(W, [0, 2, 2]))
    grad = tape.gradient(loss, W)
    assert isinstance(grad, tf.IndexedSlices)
    assert np.array_equal(to_array(grad), [[1, 1, 1], [0, 0, 0], [2, 2, 2], [0, 0, 0]])


def test_cells_after_a_failed_part_skip_politely(capsys):
    with publiccheck.public_check("stub"):
        publiccheck.call(stub, 1)
    capsys.readouterr()
    assert not publiccheck.ready("stub", "never_checked")
    assert capsys.readouterr().out.strip() == ("Skipped: this cell needs stub (not implemented yet), never_checked "
                                               "(its checks have not run yet). Run it again once those checks print ✓.")
    with publiccheck.public_check("fine"):
        pass
    assert publiccheck.ready("fine") and "✓ fine looks right" in capsys.readouterr().out


def test_tensorflow_starts_quietly():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from quiet import quiet_tensorflow; quiet_tensorflow(); "
            "import tensorflow as tf; print(float(tf.reduce_sum(tf.ones((1, 3)) @ tf.ones((3, 2)))))")
    done = subprocess.run([sys.executable, "-c", code, COMMON], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "6.0"
    assert done.stderr == ""


# ------------------------------------------------------------------------------------------------ in a kernel

def execute(notebook, folder, timeout=900):
    """Runs ``notebook`` in a fresh kernel from ``folder`` (errors kept in the outputs); returns it."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}   # the notebook must quiet itself
    env["MPLBACKEND"] = "Agg"
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    client.execute(env=env)
    return notebook


def outputs(cell):
    """(stdout text, stderr text, [error names]) of an executed code cell."""
    out = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stdout")
    err = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stderr")
    errors = [f"{o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"]
    return out, err, errors


def copy_folder(source, tmp_path, name):
    target = tmp_path / name
    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize("assignment", assignments())
def test_released_notebook_with_the_stubs_says_not_implemented_and_raises_nothing(built, tmp_path, assignment):
    course, _ = built
    folder = copy_folder(course.release_dir(assignment), tmp_path, assignment)
    notebook = execute(nbformat.read(folder / f"{assignment}.ipynb", as_version=4), folder)
    checks = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kind, grade_id = notebooks.cell_kind(cell), notebooks.nbgrader_meta(cell).get("grade_id")
        out, err, errors = outputs(cell)
        assert not errors, f"{assignment}: cell {grade_id} raised {errors}"
        assert not err, f"{assignment}: cell {grade_id} wrote to stderr: {err[:500]}"
        assert not ANSI.search(out) and "Traceback" not in out, f"{assignment}: cell {grade_id} printed {out[:500]}"
        if kind == notebooks.CHECK:
            checks += 1
            item = notebooks.checked_item(cell)
            assert out.strip() == f"✗ {item} is not implemented yet: write its body in the answer cell above, then " \
                                  "run that cell and this one again.", f"{assignment}: {grade_id} printed {out!r}"
    assert checks == len(notebooks.layout(notebook).answers)


def _checks_only(notebook):
    """The set-up, answer and check cells of a source notebook (no demonstrations or training runs)."""
    keep = (notebooks.SETUP, notebooks.ANSWER, notebooks.CHECK)
    notebook.cells = [c for c in notebook.cells if c.cell_type == "code" and notebooks.cell_kind(c) in keep]
    return notebook


def _assert_all_checks_pass(notebook, assignment):
    passed = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
        out, err, errors = outputs(cell)
        assert not errors, f"{assignment}: cell {grade_id} raised {errors}"
        assert not err, f"{assignment}: cell {grade_id} wrote to stderr: {err[:500]}"
        assert "✗" not in out and "Skipped" not in out, f"{assignment}: cell {grade_id} printed {out[:500]}"
        if notebooks.cell_kind(cell) == notebooks.CHECK:
            assert f"✓ {notebooks.checked_item(cell)} looks right" in out, f"{assignment}: {grade_id} printed {out!r}"
            passed += 1
    assert passed == len(notebooks.layout(notebook).answers)


@pytest.mark.parametrize("assignment", ["02_sentiment", "03_char_lm"])   # Assignment 1 runs whole, below
def test_source_notebook_checks_pass_with_the_reference(built, tmp_path, assignment):
    if assignment not in assignments():
        pytest.skip(f"{assignment} not selected")
    course, _ = built
    folder = copy_folder(course.source_dir(assignment), tmp_path, assignment)
    notebook = _checks_only(nbformat.read(folder / f"{assignment}.ipynb", as_version=4))
    _assert_all_checks_pass(execute(notebook, folder), assignment)


def _full_run(built, tmp_path, assignment):
    course, _ = built
    folder = copy_folder(course.source_dir(assignment), tmp_path, assignment)
    notebook = execute(nbformat.read(folder / f"{assignment}.ipynb", as_version=4), folder, timeout=1800)
    _assert_all_checks_pass(notebook, assignment)


def test_assignment_1_runs_top_to_bottom_with_the_reference(built, tmp_path):
    if "01_rnn_cell" not in assignments():
        pytest.skip("01_rnn_cell not selected")
    _full_run(built, tmp_path, "01_rnn_cell")   # about ten seconds


@pytest.mark.slow
@SLOW
@pytest.mark.parametrize("assignment", ["02_sentiment", "03_char_lm"])
def test_long_notebooks_run_top_to_bottom_with_the_reference(built, tmp_path, assignment):
    if assignment not in assignments():
        pytest.skip(f"{assignment} not selected")
    _full_run(built, tmp_path, assignment)


# ------------------------------------------------------------------------------------------------ realistic bugs

A1_BUGS = [
    # (item, answer cell source, what the check must say)
    ("rnn_cell_forward", '''
def rnn_cell_forward(X_t, H_prev, W_xh, W_hh, b_h):
    """NumPy's tanh inside: right values, but the result has left TensorFlow."""
    return np.tanh(X_t @ W_xh + H_prev @ W_hh + b_h)
''', r"^✗ rnn_cell_forward: rnn_cell_forward returned a NumPy array \(float32 \(1, 2\)\), not a TensorFlow tensor: .*np\.tanh"),
    ("rnn_forward", '''
def rnn_forward(X, H0, W_xh, W_hh, b_h):
    """Slices time on the wrong axis: X[t] is the t-th sequence, not the t-th step."""
    H_t, states = H0, []
    for t in range(X.shape[1]):
        H_t = rnn_cell_forward(X[t], H_t, W_xh, W_hh, b_h)
        states.append(H_t)
    return tf.stack(states, axis=1)
''', r"^✗ rnn_forward: rnn_forward\(X=float32 tensor \(2, 4, 3\), H0=float32 tensor \(2, 5\), W_xh=float32 tensor "
     r"\(3, 5\), W_hh=float32 tensor \(5, 5\), b_h=float32 tensor \(5,\)\) raised InvalidArgumentError in "
     r"rnn_cell_forward, line \d+ of its cell: .*Incompatible shapes"),
    ("rnn_cell_backward", '''
def rnn_cell_backward(dH_t, X_t, H_prev, H_t, W_xh, W_hh):
    """dW_hh with the factors swapped: the right shape, the wrong values."""
    dA = dH_t * (1 - H_t ** 2)
    return (dA @ tf.transpose(W_xh), dA @ tf.transpose(W_hh), tf.transpose(X_t) @ dA, tf.transpose(dA) @ H_prev,
            tf.reduce_sum(dA, axis=0))
''', r"^✗ rnn_cell_backward: 1 of 5 gradients of rnn_cell_backward are wrong \(norm-wise relative error vs centred "
     r"finite differences, tolerance 1e-07\): dX_t ✓ \S+; dH_prev ✓ \S+; dW_xh ✓ \S+; dW_hh ✗ relative error \S+; "
     r"db_h ✓ \S+\. Only dW_hh is wrong: it is H_prev\^T dA"),
]

GATHER_FORWARD = '''
def many_to_one_forward(ids, params):
    """A correct forward that looks the rows of W_xh up with tf.gather and picks H_L with gather too."""
    ids = tf.convert_to_tensor(ids)
    H = tf.zeros((tf.shape(ids)[0], tf.shape(params["W_hh"])[0]), dtype=params["W_xh"].dtype)
    states = [H]
    for t in range(ids.shape[1]):
        H = tf.tanh(tf.gather(params["W_xh"], ids[:, t]) + H @ params["W_hh"] + params["b_h"])
        states.append(H)
    lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
    H_L = tf.gather(tf.stack(states, axis=1), lengths, batch_dims=1)
    return H_L @ params["W_hq"] + params["b_q"]
'''

FIT_SHUFFLE = '''
def train_sentiment(model, X, y, *, epochs, batch_size, learning_rate, seed):
    """fit(shuffle=True) after set_random_seed: Keras 3 on TensorFlow repeats one order every epoch."""
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return {key: [float(v) for v in history.history[key]] for key in ("loss", "accuracy")}
'''
RMSPROP = '''
def train_sentiment(model, X, y, *, epochs, batch_size, learning_rate, seed):
    """RMSprop where the contract asks for Adam."""
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rows = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
    history = model.fit(rows.batch(batch_size), epochs=epochs, shuffle=False, verbose=0)
    return {key: [float(v) for v in history.history[key]] for key in ("loss", "accuracy")}
'''
A2_CASES = [
    # correct, in another legitimate TensorFlow form: its own check and the gradients' check pass
    ("many_to_one_forward", GATHER_FORWARD, r"^✓ many_to_one_forward looks right$"),
    ("many_to_one_grads", GATHER_FORWARD, r"^✓ many_to_one_grads looks right$"),
    # the Keras trap the notebook warns about: the public check sees the repeated order
    ("build_sentiment_model", None, r"^✓ build_sentiment_model looks right"),
    ("train_sentiment", FIT_SHUFFLE, r"^✗ train_sentiment: both epochs saw the rows in the same order"),
    ("train_sentiment", RMSPROP, r"^✗ train_sentiment: one optimizer step .* Adam's first step moves each entry by"),
    # mistakes as a student writes them: each check names the cause in the kernel too
    ("build_vocab", '''
def build_vocab(token_lists, min_freq=1):
    """Counts a token once per sentence (a set), not every occurrence."""
    counts = {}
    for tokens in token_lists:
        for token in set(tokens):
            counts[token] = counts.get(token, 0) + 1
    vocab = {"<pad>": 0, "<unk>": 1}
    for token in sorted(counts, key=lambda t: (-counts[t], t)):
        if counts[token] >= min_freq:
            vocab[token] = len(vocab)
    return vocab
''', r"^✗ build_vocab: .*count every occurrence of a token, not the sentences it appears in"),
    ("many_to_one_forward", '''
def many_to_one_forward(ids, params):
    """Classifies from the state after the last column: the padding is read as words."""
    X = tf.one_hot(ids, tf.shape(params["W_xh"])[0], dtype=params["W_xh"].dtype)
    H = tf.zeros((tf.shape(ids)[0], tf.shape(params["W_hh"])[0]), dtype=params["W_xh"].dtype)
    for t in range(ids.shape[1]):
        H = tf.tanh(X[:, t] @ params["W_xh"] + H @ params["W_hh"] + params["b_h"])
    return H @ params["W_hq"] + params["b_q"]
''', r"^✗ many_to_one_forward: logits \(float64\): the logits come from the state after the last column"),
]


def _bug_notebook(source_path, cases):
    """Set-up and reference answers, then for each case its answer cell (None: the reference's) and the item's check
    cell, then the reference answer again (so that the next case's check sees a correct rest)."""
    notebook = nbformat.read(source_path, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    setup = [c for c in cells if notebooks.cell_kind(c) == notebooks.SETUP]
    answers = {notebooks.nbgrader_meta(c)["grade_id"]: c for c in cells if notebooks.cell_kind(c) == notebooks.ANSWER}
    checks = {notebooks.checked_item(c): c for c in cells if notebooks.cell_kind(c) == notebooks.CHECK}
    out = list(setup) + list(answers.values())
    marks = []
    for item, source, _ in cases:
        out.append(nbformat.v4.new_code_cell(answers[item].source if source is None else source))
        marks.append(len(out))
        out += [nbformat.v4.new_code_cell(checks[item].source), nbformat.v4.new_code_cell(answers[item].source)]
    notebook.cells = out
    return notebook, marks


A3_CASES = [
    ("perplexity", '''
def perplexity(logits, Y):
    """exp of the SUM of the cross-entropies."""
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(Y, tf.int32), logits=logits)
    return float(tf.exp(tf.reduce_sum(tf.cast(nll, tf.float64))))
''', r"^✗ perplexity: .*exp of the SUM of the 6 cross-entropies"),
    ("clip_gradients", '''
def clip_gradients(grads, theta):
    """Each tensor clipped on its own."""
    return [tf.clip_by_norm(tf.convert_to_tensor(g), theta) for g in grads]
''', r"^✗ clip_gradients: .*clips every tensor on its own"),
]


@pytest.mark.parametrize("assignment, cases", [("01_rnn_cell", A1_BUGS), ("02_sentiment", A2_CASES),
                                               ("03_char_lm", A3_CASES)])
def test_realistic_bugs_get_the_sentence_that_points_at_them(built, tmp_path, assignment, cases):
    if assignment not in assignments():
        pytest.skip(f"{assignment} not selected")
    course, _ = built
    folder = copy_folder(course.source_dir(assignment), tmp_path, assignment)
    notebook, marks = _bug_notebook(folder / f"{assignment}.ipynb", cases)
    notebook = execute(notebook, folder)
    for cell in notebook.cells:
        assert not outputs(cell)[2], f"cell raised {outputs(cell)[2]}"
    for (item, _, expected), index in zip(cases, marks):
        out, err, _ = outputs(notebook.cells[index])
        assert not err and not ANSI.search(out)
        verdicts = [line for line in out.splitlines() if line.startswith(("✓", "✗"))]
        assert len(verdicts) == 1 and re.search(expected, verdicts[0]), f"{item}: {out!r}"
