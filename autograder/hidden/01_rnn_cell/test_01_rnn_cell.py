"""Hidden suite of Assignment 1 (RNN cell from scratch). Trusted: every input is chosen here, every expected value
comes from solutions/rnn_cell.py or from autodiff / finite differences computed here.

Each graded item's docstring (solutions/rnn_cell.py) is its contract; each test's docstring names the sentence it
checks. Tolerances and their measured distributions: bench/results/01_rnn_cell.md (``calibrate.py`` beside this
file). Anti-shortcut checks judge behaviour (a cache the forward pass did not produce; TensorFlow's autodiff or a
Keras recurrent cell observed running in the sandbox), never the names a student chose. The backward items are
derivations by hand: autodiff observed while they run fails every test of the item (see ``call_by_hand``).
"""
import weakref

import numpy as np
import tensorflow as tf
import keras

from assignments.common.checklib import (CheckFailed, check_close, check_dtype, check_gradient, check_gradients,
                                         check_shape, left_tensorflow, numeric_gradient, to_array, type_name,
                                         type_phrase)
from autograder.trusted.suite import item
from solutions import rnn_cell as ref

GRAD_NAMES = ("dX_t", "dH_prev", "dW_xh", "dW_hh", "db_h")
SEQ_GRAD_NAMES = ("dX", "dH0", "dW_xh", "dW_hh", "db_h")
DTYPES = (np.float64, np.float32)

# Tolerances (measured: bench/results/01_rnn_cell.md). float64 values and gradients against the reference or the
# tape agree to ~1e-15 for every correct variant; a computation that silently drops to float32 is off by ~1e-7.
F64 = {"rtol": 1e-9, "atol": 1e-11}
F32 = {"rtol": 1e-4, "atol": 1e-5}
TAPE_TOL = 1e-9      # norm-wise relative error of a float64 gradient against the tape or the reference
FD_TOL = 1e-6        # against centred differences (their own error is ~1e-10)
F32_GRAD_TOL = 1e-4  # a float32 gradient against the float64 truth


FLOAT32_ROUNDING = ("The difference has the size of float32 rounding: with float64 inputs, some step runs in float32 "
                    "(a tf.cast, or tf.constant/tf.zeros/tf.ones without dtype=)")
CELL_FLOAT32 = ("The difference has the size of float32 rounding: the cell computed in float32 although "
                "dtype='float64' was asked (is dtype passed on with **kwargs to keras.layers.Layer.__init__? is "
                "anything cast to float32?)")


def check_float64(got, expected, what, why=FLOAT32_ROUNDING):
    """check_close at F64; when the error has the size of float32 rounding, the message says so (``why``)."""
    try:
        return check_close(got, expected, what, **F64)
    except CheckFailed as failure:
        array, truth = to_array(got, what, np.float64), to_array(expected, what, np.float64)
        error = np.linalg.norm(array - truth) / (np.linalg.norm(array) + np.linalg.norm(truth)) \
            if array.shape == truth.shape else 1.0
        if 1e-12 < error < 1e-5:
            raise CheckFailed(f"{failure}. {why}") from None
        raise


def problem(rng, n=4, T=6, d=3, h=5, dtype=np.float64, scale=1.0):
    """Random, non-square, non-symmetric inputs with a non-zero H0 and bias: transposes and swapped arguments show."""
    def draw(*shape, s=1.0):
        return (scale * s * rng.standard_normal(shape)).astype(dtype)
    return {"X": draw(n, T, d), "H0": draw(n, h, s=0.5), "W_xh": draw(d, h, s=0.6),
            "W_hh": draw(h, h, s=0.4), "b_h": draw(h, s=0.3)}


def cell_args(p, t=0):
    return p["X"][:, t], p["H0"], p["W_xh"], p["W_hh"], p["b_h"]


def seq_args(p):
    return p["X"], p["H0"], p["W_xh"], p["W_hh"], p["b_h"]


def as_dtype(arrays, dtype):
    return [np.asarray(a).astype(dtype) for a in arrays]


def tape_gradients(forward, inputs, upstream):
    """d sum(forward(*inputs) * upstream) / d inputs, by tf.GradientTape on the reference (float64)."""
    variables = [tf.Variable(x) for x in inputs]
    with tf.GradientTape() as tape:
        out = forward(*variables)
        loss = tf.reduce_sum(out * upstream)
    return [g.numpy() for g in tape.gradient(loss, variables)]


def five(got, names, fn):
    if not isinstance(got, (list, tuple)) or len(got) != len(names):
        raise CheckFailed(f"{fn} must return a tuple of {len(names)} gradients ({', '.join(names)}), "
                          f"got {type_phrase(type_name(got))}"
                          + (f" of length {len(got)}" if isinstance(got, list) else ""))
    return got


def check_all_gradients(got, expected, names, tol, fn):
    """All five gradients at once, each right (✓) or wrong (✗) in one message, so that the pattern shows."""
    got = five(got, names, fn)
    check_gradients(dict(zip(names, got)), dict(zip(names, expected)), tol=tol, what=fn,
                    against="the true gradients")


# A backward item is a derivation by hand: its points pay for the derivation, so a gradient computed by automatic
# differentiation earns none of them. The worker observes every call alike (TensorFlow's autodiff entry points,
# StudentProcess.observed_in); each test of a backward item checks values AND fails when autodiff has been observed
# in any call of that function in this grading run (a tf.function traces, and so shows its tape, only on a new
# input signature). An observation can only take points away: no point rests on "nothing observed" alone.
_AUTODIFF_SEEN = weakref.WeakKeyDictionary()   # student -> {function name: labels}, for stand-ins without observed_in


def autodiff_message(fn, used):
    return (f"{fn} ran {', '.join(used)}: this item is the derivation by hand, so none of its checks can pass while "
            "automatic differentiation computes the gradients (write each gradient as a product of tensors, as the "
            "docstring's equations do)")


def call_by_hand(student, fn, *args):
    """``student.call(fn, *args)`` for a backward item; fails if automatic differentiation ran in this call or in any
    earlier call of ``fn`` in this grading run. The observation rides on the very call whose values are checked."""
    if hasattr(student, "observed_in"):   # the grader's StudentProcess: every call comes observed
        value = student.call(fn, *args)
        used = [label for label in student.observed_in(fn) if label.startswith("tf.")]
    else:   # an in-process stand-in (bench/calibration.py): the harness's spy, on the same inputs
        used = student.call("_autodiff_calls", fn, *args) or []
        value = student.call(fn, *args)
    seen = _AUTODIFF_SEEN.setdefault(student, {}).setdefault(fn, set())
    seen.update(str(u) for u in used)
    if seen:
        raise CheckFailed(autodiff_message(fn, sorted(seen)))
    return value


# ---------------------------------------------------------------------------------------------------- forward
def check_float32_backward(student, fn, args, reference, names):
    """The student's ``fn`` on float32 copies of ``args`` against the float64 reference: shape, dtype, gradient."""
    expected = [g.numpy() for g in reference(*args)]
    got = five(call_by_hand(student, fn, *as_dtype(args, np.float32)), names, fn)
    for name, g, e in zip(names, got, expected):
        check_shape(g, e.shape, f"{fn}: {name} (float32 inputs)")
        check_dtype(g, np.float32, f"{fn}: {name} (float32 inputs)")
        check_gradient(g, e, f"{fn}: {name} (float32 inputs)", tol=F32_GRAD_TOL)


@item("rnn_cell_forward", weight=1)
def test_cell_forward_shape_and_dtype(student, rng):
    """returns H_t of shape (n, h) in the inputs' dtype (float64 and float32)"""
    for dtype in DTYPES:
        for n in (4, 1):
            p = problem(rng, n=n, d=3, h=5, dtype=dtype)
            got = student.call("rnn_cell_forward", *cell_args(p))
            what = f"rnn_cell_forward output ({np.dtype(dtype).name} inputs, n={n})"
            check_shape(got, (n, 5), what)
            check_dtype(got, dtype, what)
    # a tensor, so that gradients can flow through it (rnn_forward and the gradient checks rely on it)
    is_tensor, kind = student.call("_returned_type", "rnn_cell_forward", *cell_args(p))
    if not is_tensor:
        raise CheckFailed(left_tensorflow("rnn_cell_forward", type_phrase(kind)))


@item("rnn_cell_forward", weight=2)
def test_cell_forward_values(student, rng):
    """H_t = tanh(X_t W_xh + H_prev W_hh + b_h), computed in float64 when the inputs are float64"""
    for scale, what in ((1.0, "H_t"), (3.0, "H_t with large pre-activations (tanh saturates)")):
        p = problem(rng, n=5, d=3, h=4, scale=scale)
        got = student.call("rnn_cell_forward", *cell_args(p))
        check_float64(got, ref.rnn_cell_forward(*cell_args(p)), what)


@item("rnn_cell_forward", weight=1)
def test_cell_forward_float32_values(student, rng):
    """float32 inputs give float32 values of the same equation"""
    p = problem(rng, n=3, d=6, h=2, dtype=np.float32)
    got = student.call("rnn_cell_forward", *cell_args(p))
    check_close(got, ref.rnn_cell_forward(*cell_args(p)), "H_t (float32)", **F32)


@item("rnn_forward", weight=1, uses=["rnn_cell_forward"])
def test_forward_shape_and_dtype(student, rng):
    """returns H of shape (n, T, h) (batch-major, H_0 not included) in the inputs' dtype, for any T"""
    for dtype in DTYPES:
        for n, T in ((2, 5), (3, 1)):
            p = problem(rng, n=n, T=T, d=3, h=4, dtype=dtype)
            got = student.call("rnn_forward", *seq_args(p))
            what = f"rnn_forward output ({np.dtype(dtype).name} inputs, n={n}, T={T})"
            check_shape(got, (n, T, 4), what)
            check_dtype(got, dtype, what)


@item("rnn_forward", weight=3, uses=["rnn_cell_forward"])
def test_forward_values(student, rng):
    """H[:, t] is the state after step t (t = 0..T-1), from X[:, t] and the state of the step before, starting from
    the given H0"""
    for dtype, T, tol in ((np.float64, 7, F64), (np.float32, 4, F32)):
        p = problem(rng, n=3, T=T, d=4, h=5, dtype=dtype)
        got = to_array(student.call("rnn_forward", *seq_args(p)), "rnn_forward output")
        expected = ref.rnn_forward(*seq_args(p)).numpy()
        if got.shape == expected.shape and np.allclose(got[:, 1:], expected[:, :-1], atol=1e-5):
            raise CheckFailed("rnn_forward: your H[:, t] is the reference's H[:, t-1]: return H_1..H_T, "
                              "the states after each step, not H_0..H_{T-1}")
        if dtype == np.float64:
            check_float64(got, expected, "H (float64)")
        else:
            check_close(got, expected, f"H ({np.dtype(dtype).name})", **tol)


@item("output_layer", weight=1)
def test_output_layer_2d(student, rng):
    """O = H W_hq + b_q on (n, h) gives (n, q) in H's dtype"""
    for dtype, tol in ((np.float64, F64), (np.float32, F32)):
        H, W, b = as_dtype((rng.standard_normal(s) for s in ((4, 5), (5, 3), (3,))), dtype)
        got = student.call("output_layer", H, W, b)
        check_shape(got, (4, 3), f"O for (n, h) input ({np.dtype(dtype).name})")
        check_dtype(got, dtype, f"O for (n, h) input ({np.dtype(dtype).name})")
        check_close(got, ref.output_layer(H, W, b), f"O for (n, h) input ({np.dtype(dtype).name})", **tol)


@item("output_layer", weight=1)
def test_output_layer_3d(student, rng):
    """O = H W_hq + b_q on (n, T, h) gives (n, T, q), the same weights at every step, in H's dtype"""
    for dtype, tol in ((np.float32, F32), (np.float64, F64)):
        H, W, b = as_dtype((rng.standard_normal(s) for s in ((2, 6, 5), (5, 3), (3,))), dtype)
        got = student.call("output_layer", H, W, b)
        check_shape(got, (2, 6, 3), f"O for (n, T, h) input ({np.dtype(dtype).name})")
        check_dtype(got, dtype, f"O for (n, T, h) input ({np.dtype(dtype).name})")
        check_close(got, ref.output_layer(H, W, b), f"O for (n, T, h) input ({np.dtype(dtype).name})", **tol)


# ---------------------------------------------------------------------------------------------------- backward
def cell_problem(rng, n=4, d=3, h=5):
    p = problem(rng, n=n, d=d, h=h)
    X_t, H_prev, W_xh, W_hh, b_h = cell_args(p)
    H_t = ref.rnn_cell_forward(X_t, H_prev, W_xh, W_hh, b_h).numpy()
    dH_t = rng.standard_normal(H_t.shape)
    return dH_t, X_t, H_prev, H_t, W_xh, W_hh, b_h


@item("rnn_cell_backward", weight=1)
def test_cell_backward_by_hand(student, rng):
    """is derived by hand: no automatic differentiation runs while it computes, and its gradients are right
    (checked first, with shapes of its own, so that a tf.function traces here)"""
    dH_t, X_t, H_prev, H_t, W_xh, W_hh, b_h = cell_problem(rng, n=2, d=6, h=3)
    got = call_by_hand(student, "rnn_cell_backward", dH_t, X_t, H_prev, H_t, W_xh, W_hh)
    expected = tape_gradients(ref.rnn_cell_forward, (X_t, H_prev, W_xh, W_hh, b_h), dH_t)
    check_all_gradients(got, expected, GRAD_NAMES, TAPE_TOL, "rnn_cell_backward")


@item("rnn_cell_backward", weight=3)
def test_cell_backward_matches_autodiff(student, rng):
    """all five gradients match tf.GradientTape on the forward pass (float64)"""
    dH_t, X_t, H_prev, H_t, W_xh, W_hh, b_h = cell_problem(rng)
    got = call_by_hand(student, "rnn_cell_backward", dH_t, X_t, H_prev, H_t, W_xh, W_hh)
    expected = tape_gradients(ref.rnn_cell_forward, (X_t, H_prev, W_xh, W_hh, b_h), dH_t)
    check_all_gradients(got, expected, GRAD_NAMES, TAPE_TOL, "rnn_cell_backward")


@item("rnn_cell_backward", weight=1)
def test_cell_backward_shapes_and_float32(student, rng):
    """returns (dX_t, dH_prev, dW_xh, dW_hh, db_h) of shapes (n, d), (n, h), (d, h), (h, h), (h,), in the inputs'
    dtype (float32 too)"""
    dH_t, X_t, H_prev, H_t, W_xh, W_hh, _ = cell_problem(rng)
    args = (dH_t, X_t, H_prev, H_t, W_xh, W_hh)
    check_float32_backward(student, "rnn_cell_backward", args, ref.rnn_cell_backward, GRAD_NAMES)


@item("rnn_cell_backward", weight=1)
def test_cell_backward_matches_finite_differences(student, rng):
    """gradients match centred finite differences of the step"""
    dH_t, X_t, H_prev, H_t, W_xh, W_hh, b_h = cell_problem(rng)
    got = call_by_hand(student, "rnn_cell_backward", dH_t, X_t, H_prev, H_t, W_xh, W_hh)
    inputs = [X_t.copy(), H_prev.copy(), W_xh.copy(), W_hh.copy(), b_h.copy()]
    expected = []
    for i in range(5):
        def f(x, i=i):
            args = list(inputs)
            args[i] = x
            return ref.rnn_cell_forward(*args)
        expected.append(numeric_gradient(f, inputs[i].copy(), dH_t))
    check_all_gradients(got, expected, GRAD_NAMES, FD_TOL, "rnn_cell_backward")


@item("rnn_cell_backward", weight=1)
def test_cell_backward_uses_cache(student, rng):
    """takes tanh'(A) = 1 - H_t^2 from the given cache H_t, without recomputing the forward pass"""
    dH_t, X_t, H_prev, H_t, W_xh, W_hh, _ = cell_problem(rng)
    H_t = np.tanh(rng.standard_normal(H_t.shape))  # a cache the forward pass did not produce
    got = call_by_hand(student, "rnn_cell_backward", dH_t, X_t, H_prev, H_t, W_xh, W_hh)
    expected = [g.numpy() for g in ref.rnn_cell_backward(dH_t, X_t, H_prev, H_t, W_xh, W_hh)]
    try:
        check_all_gradients(got, expected, GRAD_NAMES, TAPE_TOL, "rnn_cell_backward")
    except CheckFailed as err:
        raise CheckFailed(f"{err}\n(this check passes a cache H_t of its own: the backward pass must use the "
                          "given H_t for tanh' = 1 - H_t^2, not recompute the forward pass)") from None


def seq_problem(rng, n=3, T=5, d=3, h=4):
    p = problem(rng, n=n, T=T, d=d, h=h)
    H = ref.rnn_forward(*seq_args(p)).numpy()
    return p, H


def seq_forward(X, H0, W_xh, W_hh, b_h):
    return ref.rnn_forward(X, H0, W_xh, W_hh, b_h)


def backward_args(p, H, dH):
    return dH, p["X"], p["H0"], H, p["W_xh"], p["W_hh"]


@item("rnn_backward", weight=1, uses=["rnn_cell_backward"])
def test_backward_by_hand(student, rng):
    """is derived by hand: no automatic differentiation runs while it computes, and its gradients are right
    (checked first, with shapes of its own, so that a tf.function traces here)"""
    p, H = seq_problem(rng, n=2, T=3, d=5, h=2)
    dH = rng.standard_normal(H.shape)
    got = call_by_hand(student, "rnn_backward", *backward_args(p, H, dH))
    expected = tape_gradients(seq_forward, seq_args(p), dH)
    check_all_gradients(got, expected, SEQ_GRAD_NAMES, TAPE_TOL, "rnn_backward (T=3)")


@item("rnn_backward", weight=3, uses=["rnn_cell_backward"])
def test_backward_matches_autodiff(student, rng):
    """BPTT gradients match tf.GradientTape through the whole sequence (float64), for T = 5 and T = 1"""
    for T in (5, 1):
        p, H = seq_problem(rng, T=T)
        dH = rng.standard_normal(H.shape)
        got = call_by_hand(student, "rnn_backward", *backward_args(p, H, dH))
        expected = tape_gradients(seq_forward, seq_args(p), dH)
        check_all_gradients(got, expected, SEQ_GRAD_NAMES, TAPE_TOL, f"rnn_backward (T={T})")


@item("rnn_backward", weight=1, uses=["rnn_cell_backward"])
def test_backward_last_step_only(student, rng):
    """the gradient reaching H_t includes what flows back from step t + 1: a loss on H_T alone still reaches every
    step, H0 and the weights"""
    p, H = seq_problem(rng, T=6)
    dH = np.zeros_like(H)
    dH[:, -1] = rng.standard_normal(dH[:, -1].shape)
    got = call_by_hand(student, "rnn_backward", *backward_args(p, H, dH))
    expected = tape_gradients(seq_forward, seq_args(p), dH)
    check_all_gradients(got, expected, SEQ_GRAD_NAMES, TAPE_TOL, "rnn_backward (loss on the last step only)")


@item("rnn_backward", weight=1, uses=["rnn_cell_backward"])
def test_backward_matches_finite_differences(student, rng):
    """all five gradients match centred finite differences of the sequence"""
    p, H = seq_problem(rng, n=2, T=4, d=2, h=3)
    dH = rng.standard_normal(H.shape)
    got = five(call_by_hand(student, "rnn_backward", *backward_args(p, H, dH)), SEQ_GRAD_NAMES, "rnn_backward")
    for index, key in enumerate(("X", "H0", "W_xh", "W_hh", "b_h")):
        def f(x, key=key):
            return ref.rnn_forward(*seq_args({**p, key: x}))
        check_gradient(got[index], numeric_gradient(f, p[key].copy(), dH), f"rnn_backward: d{key}", tol=FD_TOL)


@item("rnn_backward", weight=1, uses=["rnn_cell_backward"])
def test_backward_shapes_and_float32(student, rng):
    """returns (dX, dH0, dW_xh, dW_hh, db_h) of shapes (n, T, d), (n, h), (d, h), (h, h), (h,), in the inputs'
    dtype (float32 too)"""
    p, H = seq_problem(rng, n=2, T=4, d=3, h=5)
    args = backward_args(p, H, rng.standard_normal(H.shape))
    check_float32_backward(student, "rnn_backward", args, ref.rnn_backward, SEQ_GRAD_NAMES)


@item("rnn_backward", weight=1, uses=["rnn_cell_backward"])
def test_backward_uses_cache(student, rng):
    """uses the given hidden states H (and H0 for the first step) as the cache, without recomputing the forward"""
    p, H = seq_problem(rng)
    H = np.tanh(rng.standard_normal(H.shape))  # a cache of its own
    dH = rng.standard_normal(H.shape)
    got = call_by_hand(student, "rnn_backward", *backward_args(p, H, dH))
    expected = [g.numpy() for g in ref.rnn_backward(*backward_args(p, H, dH))]
    try:
        check_all_gradients(got, expected, SEQ_GRAD_NAMES, TAPE_TOL, "rnn_backward")
    except CheckFailed as err:
        raise CheckFailed(f"{err}\n(this check passes hidden states H of its own: BPTT must use the given "
                          "cache, not recompute the forward pass)") from None


# ---------------------------------------------------------------------------------------------------- RNNCell
# A student's RNNCell may call their rnn_cell_forward: its reference stands in, so a bug there costs that item only.
@item("RNNCell", weight=1, uses=["rnn_cell_forward"])
def test_rnncell_interface(student):
    """state_size == output_size == units; weights kernel (d, u), recurrent_kernel (u, u), bias (u,); the step is
    computed by the cell itself, not by a Keras recurrent cell or layer"""
    info = student.call("_rnncell_describe", 7, 3)
    for key in ("state_size", "output_size"):
        if info[key] not in (7, [7]):
            raise CheckFailed(f"RNNCell(7).{key} should be 7, got {info[key]!r}")
    shapes = {name: tuple(shape) for name, shape in info["weights"]}
    wanted = {"kernel": (3, 7), "recurrent_kernel": (7, 7), "bias": (7,)}
    if shapes != wanted:
        raise CheckFailed(f"RNNCell(7) on 3 input features should have weights {wanted}, got {shapes}")
    if info["keras_cells_run"]:
        raise CheckFailed(f"RNNCell ran {', '.join(info['keras_cells_run'])}: it must compute the step itself "
                          "with its own weights, not through a Keras recurrent cell or layer")


@item("RNNCell", weight=2, uses=["rnn_cell_forward"])
def test_rnncell_matches_simple_rnn(student, rng):
    """keras.layers.RNN(RNNCell(u)) equals keras.layers.SimpleRNN(u) with the same weights, in float32 and float64"""
    for dtype, tol in ((np.float32, F32), (np.float64, F64)):
        name = np.dtype(dtype).name
        X = rng.standard_normal((3, 6, 4)).astype(dtype)
        kernel, recurrent, bias = (rng.standard_normal(s).astype(dtype) * 0.5 for s in ((4, 5), (5, 5), (5,)))
        got = student.call("_rnncell_run", X, kernel, recurrent, bias)
        if not isinstance(got, list) or len(got) != 2:
            raise CheckFailed("keras.layers.RNN(RNNCell(u), return_state=True) should return (sequence, state)")
        simple = keras.layers.SimpleRNN(5, return_sequences=True, return_state=True, dtype=name)
        simple.build(X.shape)
        simple.set_weights([kernel, recurrent, bias])
        sequence, state = simple(X)
        for value, expected, what in ((got[0], sequence, "outputs"), (got[1], state, "final state")):
            label = f"{what} of keras.layers.RNN(RNNCell(5, dtype='{name}'))"
            check_dtype(value, dtype, label)
            if dtype == np.float64:
                check_float64(value, expected.numpy(), label, why=CELL_FLOAT32)
            else:
                check_close(value, expected.numpy(), label, **tol)


@item("RNNCell", weight=1, uses=["rnn_cell_forward"])
def test_rnncell_call(student, rng):
    """call(inputs, states) takes states as a tuple or a list holding h_prev and returns (h, [h])"""
    x = rng.standard_normal((3, 4))
    h_prev = 0.5 * rng.standard_normal((3, 5))
    kernel, recurrent, bias = (0.5 * rng.standard_normal(s) for s in ((4, 5), (5, 5), (5,)))
    expected = np.tanh(x @ kernel + h_prev @ recurrent + bias)
    replies = student.call("_rnncell_step", x, h_prev, kernel, recurrent, bias)
    for kind in ("list", "tuple"):
        reply = replies[kind]
        check_float64(reply["output"], expected, f"RNNCell.call output (states given as a {kind})", why=CELL_FLOAT32)
        if reply.get("bare"):
            raise CheckFailed(f"RNNCell.call must return (h, [h]): its second value is the list of new states, "
                              f"holding h; it returned a bare tensor (states given as a {kind})")
        if len(reply["states"]) != 1:
            raise CheckFailed(f"RNNCell.call should return (h, [h]): the new states hold one tensor, got "
                              f"{len(reply['states'])} (states given as a {kind})")
        check_float64(reply["states"][0], expected, f"RNNCell.call new state (states given as a {kind}; it must be "
                      "[h])", why=CELL_FLOAT32)


@item("RNNCell", weight=1, uses=["rnn_cell_forward"])
def test_rnncell_initial_weights(student, seed):
    """starts like SimpleRNNCell: kernel glorot_uniform, recurrent_kernel orthogonal, bias zeros"""
    units, d = 32, 24
    weights = student.call("_rnncell_fresh", units, d, seed)["weights"]
    kernel = to_array(weights.get("kernel"), "initial kernel", np.float64)
    limit = np.sqrt(6 / (d + units))  # glorot_uniform: U(-limit, limit), std limit / sqrt(3)
    if kernel.shape != (d, units):
        raise CheckFailed(f"the initial kernel should have shape {(d, units)}, got {kernel.shape}")
    spread = kernel.std() / (limit / np.sqrt(3))
    if np.abs(kernel).max() > limit * (1 + 1e-5) or np.abs(kernel).max() < 0.9 * limit or not 0.85 < spread < 1.15:
        raise CheckFailed(f"the initial kernel should be glorot_uniform, as in SimpleRNNCell: uniform in ±{limit:.3f}"
                          f" for d={d}, units={units}; got values up to {np.abs(kernel).max():.3f} with standard "
                          f"deviation {kernel.std():.3f} (expected {limit / np.sqrt(3):.3f})")
    recurrent = to_array(weights.get("recurrent_kernel"), "initial recurrent_kernel", np.float64)
    if recurrent.shape != (units, units) or not np.allclose(recurrent.T @ recurrent, np.eye(units), atol=1e-4) \
            or np.linalg.norm(recurrent - np.eye(units)) < 1:
        raise CheckFailed("the initial recurrent_kernel should be a random orthogonal matrix "
                          "(initializer='orthogonal'), as in SimpleRNNCell: it keeps the state's norm steady at the "
                          "start of training")
    if np.any(to_array(weights.get("bias"), "initial bias")):
        raise CheckFailed("the initial bias should be zeros (initializer='zeros'), as in SimpleRNNCell")


@item("RNNCell", weight=1, uses=["rnn_cell_forward"])
def test_rnncell_config_and_kwargs(student, seed):
    """get_config includes units and the base layer's config, so from_config re-creates the cell; **kwargs (name,
    dtype) reach keras.layers.Layer"""
    info = student.call("_rnncell_fresh", 6, 4, seed)
    # **kwargs first: a cell that drops them also loses its name on the config round trip
    if info["named"] != "probe_cell":
        raise CheckFailed(f"RNNCell(6, name='probe_cell') should be named 'probe_cell', got {info['named']!r}: "
                          "pass **kwargs on to keras.layers.Layer.__init__")
    if any(dtype != "float64" for dtype in info["float64_weights"]):
        raise CheckFailed(f"RNNCell(6, dtype='float64') should create float64 weights, got {info['float64_weights']}:"
                          " pass **kwargs on to keras.layers.Layer.__init__")
    if info["config_units"] != 6 or info["clone_units"] != 6:
        raise CheckFailed(f"get_config() should include units=6 so that from_config re-creates the cell; "
                          f"got units={info['config_units']!r}, re-created units={info['clone_units']!r}")
    if info["config_name"] != info["name"] or info["clone_name"] != info["name"] or info["clone_dtype"] != info["dtype"]:
        raise CheckFailed(f"from_config(get_config()) should give back the same layer: name {info['name']!r} and "
                          f"dtype {info['dtype']!r}, got {info['clone_name']!r} and {info['clone_dtype']!r} "
                          "(start get_config from super().get_config())")
