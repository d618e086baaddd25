"""Hidden suite of Assignment 1 (RNN cell from scratch). Trusted: every input is chosen here, every expected value
comes from solutions/rnn_cell.py or from autodiff / finite differences computed here."""
import numpy as np
import tensorflow as tf
import keras

from assignments.common.checklib import (CheckFailed, check_close, check_dtype, check_gradient, check_shape,
                                         numeric_gradient, to_array)
from autograder.trusted.suite import forbid_names, item
from solutions import rnn_cell as ref

AUTODIFF = {"GradientTape", "gradients", "jacobian", "batch_jacobian", "gradient", "grad", "vjp"}
NO_AUTODIFF = "the backward pass must be derived by hand (no automatic differentiation)"
GRAD_NAMES = ("dX", "dH_prev", "dW_xh", "dW_hh", "db_h")
SEQ_GRAD_NAMES = ("dX", "dH0", "dW_xh", "dW_hh", "db_h")


def problem(rng, n=4, T=6, d=3, h=5, dtype=np.float64):
    """Random, non-square, non-symmetric inputs: transposes and swapped arguments show."""
    def draw(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(dtype)
    return {"X": draw(n, T, d), "H0": draw(n, h, scale=0.5), "W_xh": draw(d, h, scale=0.6),
            "W_hh": draw(h, h, scale=0.4), "b_h": draw(h, scale=0.3)}


def cell_args(p, t=0):
    return p["X"][:, t], p["H0"], p["W_xh"], p["W_hh"], p["b_h"]


def seq_args(p):
    return p["X"], p["H0"], p["W_xh"], p["W_hh"], p["b_h"]


def tape_gradients(forward, inputs, upstream):
    """d sum(forward(*inputs) * upstream) / d inputs, by tf.GradientTape on the reference (float64)."""
    variables = [tf.Variable(x) for x in inputs]
    with tf.GradientTape() as tape:
        out = forward(*variables)
        loss = tf.reduce_sum(out * upstream)
    return [g.numpy() for g in tape.gradient(loss, variables)]


def check_all_gradients(got, expected, names, tol, fn):
    if not isinstance(got, (list, tuple)) or len(got) != len(names):
        raise CheckFailed(f"{fn} must return a tuple of {len(names)} gradients ({', '.join(names)}), "
                          f"got {type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, list) else ""))
    for name, g, e in zip(names, got, expected):
        check_gradient(g, e, name=f"{fn}: {name}", tol=tol)


# ---------------------------------------------------------------------------------------------------- forward
@item("rnn_cell_forward", weight=1)
def test_cell_forward_shape_and_dtype(student, rng):
    """returns (n, h) in the inputs' dtype (float64 and float32)"""
    for dtype in (np.float64, np.float32):
        p = problem(rng, n=4, d=3, h=5, dtype=dtype)
        got = student.call("rnn_cell_forward", *cell_args(p))
        check_shape(got, (4, 5), f"rnn_cell_forward output ({np.dtype(dtype).name} inputs)")
        check_dtype(got, dtype, f"rnn_cell_forward output ({np.dtype(dtype).name} inputs)")


@item("rnn_cell_forward", weight=2)
def test_cell_forward_values(student, rng):
    """H_t matches tanh(X_t W_xh + H_prev W_hh + b_h) on random inputs"""
    p = problem(rng, n=5, d=3, h=4)
    got = student.call("rnn_cell_forward", *cell_args(p))
    check_close(got, ref.rnn_cell_forward(*cell_args(p)), "H_t", rtol=1e-6, atol=1e-8)


@item("rnn_cell_forward", weight=1)
def test_cell_forward_float32_values(student, rng):
    """float32 inputs give float32 values of the same equation"""
    p = problem(rng, n=3, d=6, h=2, dtype=np.float32)
    got = student.call("rnn_cell_forward", *cell_args(p))
    check_close(got, ref.rnn_cell_forward(*cell_args(p)), "H_t (float32)", rtol=1e-4, atol=1e-5)


@item("rnn_forward", weight=1, uses=["rnn_cell_forward"])
def test_forward_shape_and_dtype(student, rng):
    """returns (n, T, h) in the inputs' dtype"""
    for dtype in (np.float64, np.float32):
        p = problem(rng, n=2, T=5, d=3, h=4, dtype=dtype)
        got = student.call("rnn_forward", *seq_args(p))
        check_shape(got, (2, 5, 4), f"rnn_forward output ({np.dtype(dtype).name} inputs)")
        check_dtype(got, dtype, f"rnn_forward output ({np.dtype(dtype).name} inputs)")


@item("rnn_forward", weight=3, uses=["rnn_cell_forward"])
def test_forward_values(student, rng):
    """H[:, t-1] is H_t for t = 1..T, starting from the given H0"""
    p = problem(rng, n=3, T=7, d=4, h=5)
    got = to_array(student.call("rnn_forward", *seq_args(p)), "rnn_forward output")
    expected = ref.rnn_forward(*seq_args(p)).numpy()
    if got.shape == expected.shape and np.allclose(got[:, 1:], expected[:, :-1], atol=1e-6):
        raise CheckFailed("rnn_forward: your H[:, t] is the reference's H[:, t-1]: return H_1..H_T, "
                          "the states after each step, not H_0..H_{T-1}")
    check_close(got, expected, "H", rtol=1e-6, atol=1e-8)


@item("output_layer", weight=1)
def test_output_layer_2d(student, rng):
    """O = H W_hq + b_q on (n, h)"""
    H, W, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    check_close(student.call("output_layer", H, W, b), ref.output_layer(H, W, b), "O for (n, h) input")


@item("output_layer", weight=1)
def test_output_layer_3d(student, rng):
    """O = H W_hq + b_q on (n, T, h), keeping dtype"""
    H, W, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 6, 5), (5, 3), (3,)))
    got = student.call("output_layer", H, W, b)
    check_dtype(got, np.float32, "O for float32 input")
    check_close(got, ref.output_layer(H, W, b), "O for (n, T, h) input", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------- backward
def cell_problem(rng):
    p = problem(rng, n=4, d=3, h=5)
    X_t, H_prev, W_xh, W_hh, b_h = cell_args(p)
    H_t = ref.rnn_cell_forward(X_t, H_prev, W_xh, W_hh, b_h).numpy()
    dH_t = rng.standard_normal(H_t.shape)
    return p, dH_t, X_t, H_prev, H_t, W_xh, W_hh, b_h


@item("rnn_cell_backward", weight=3)
def test_cell_backward_matches_autodiff(student, rng):
    """all five gradients match tf.GradientTape on the forward pass (float64)"""
    _, dH_t, X_t, H_prev, H_t, W_xh, W_hh, b_h = cell_problem(rng)
    got = student.call("rnn_cell_backward", dH_t, X_t, H_prev, H_t, W_xh, W_hh)
    expected = tape_gradients(ref.rnn_cell_forward, (X_t, H_prev, W_xh, W_hh, b_h), dH_t)
    check_all_gradients(got, expected, GRAD_NAMES, 1e-7, "rnn_cell_backward")


@item("rnn_cell_backward", weight=1)
def test_cell_backward_matches_finite_differences(student, rng):
    """gradients match centred finite differences (relative error < 1e-6)"""
    _, dH_t, X_t, H_prev, H_t, W_xh, W_hh, b_h = cell_problem(rng)
    got = student.call("rnn_cell_backward", dH_t, X_t, H_prev, H_t, W_xh, W_hh)
    inputs = [X_t.copy(), H_prev.copy(), W_xh.copy(), W_hh.copy(), b_h.copy()]
    expected = []
    for i in range(5):
        def f(x, i=i):
            args = list(inputs)
            args[i] = x
            return ref.rnn_cell_forward(*args)
        expected.append(numeric_gradient(f, inputs[i].copy(), dH_t))
    check_all_gradients(got, expected, GRAD_NAMES, 1e-6, "rnn_cell_backward")


@item("rnn_cell_backward", weight=1)
def test_cell_backward_uses_cache(student, rng):
    """uses the cached H_t for tanh' = 1 - H_t^2 and is written by hand"""
    forbid_names(student.source("rnn_cell_backward"), AUTODIFF, NO_AUTODIFF)
    _, dH_t, X_t, H_prev, H_t, W_xh, W_hh, _ = cell_problem(rng)
    H_t = np.tanh(rng.standard_normal(H_t.shape))  # a cache the forward pass did not produce
    got = student.call("rnn_cell_backward", dH_t, X_t, H_prev, H_t, W_xh, W_hh)
    expected = [g.numpy() for g in ref.rnn_cell_backward(dH_t, X_t, H_prev, H_t, W_xh, W_hh)]
    try:
        check_all_gradients(got, expected, GRAD_NAMES, 1e-7, "rnn_cell_backward")
    except CheckFailed as err:
        raise CheckFailed(f"{err}\n(this check passes a cache H_t of its own: the backward pass must use the "
                          "given H_t for tanh' = 1 - H_t^2, not recompute the forward pass)") from None


def seq_problem(rng, n=3, T=5, d=3, h=4):
    p = problem(rng, n=n, T=T, d=d, h=h)
    H = ref.rnn_forward(*seq_args(p)).numpy()
    return p, H


def seq_forward_of(p):
    """rnn_forward as a function of (X, H0, W_xh, W_hh, b_h)."""
    return lambda X, H0, W_xh, W_hh, b_h: ref.rnn_forward(X, H0, W_xh, W_hh, b_h)


@item("rnn_backward", weight=3, uses=["rnn_cell_backward"])
def test_backward_matches_autodiff(student, rng):
    """BPTT gradients match tf.GradientTape through the whole sequence (float64)"""
    p, H = seq_problem(rng)
    dH = rng.standard_normal(H.shape)
    got = student.call("rnn_backward", dH, p["X"], p["H0"], H, p["W_xh"], p["W_hh"])
    expected = tape_gradients(seq_forward_of(p), seq_args(p), dH)
    check_all_gradients(got, expected, SEQ_GRAD_NAMES, 1e-7, "rnn_backward")


@item("rnn_backward", weight=1, uses=["rnn_cell_backward"])
def test_backward_last_step_only(student, rng):
    """a loss on H_T alone still reaches every step, H0 and the weights"""
    p, H = seq_problem(rng, T=6)
    dH = np.zeros_like(H)
    dH[:, -1] = rng.standard_normal(dH[:, -1].shape)
    got = student.call("rnn_backward", dH, p["X"], p["H0"], H, p["W_xh"], p["W_hh"])
    expected = tape_gradients(seq_forward_of(p), seq_args(p), dH)
    check_all_gradients(got, expected, SEQ_GRAD_NAMES, 1e-7, "rnn_backward (loss on the last step only)")


@item("rnn_backward", weight=1, uses=["rnn_cell_backward"])
def test_backward_matches_finite_differences(student, rng):
    """gradients of W_hh, H0 and X match centred finite differences"""
    p, H = seq_problem(rng, n=2, T=4, d=2, h=3)
    dH = rng.standard_normal(H.shape)
    got = student.call("rnn_backward", dH, p["X"], p["H0"], H, p["W_xh"], p["W_hh"])
    if not isinstance(got, list) or len(got) != 5:
        raise CheckFailed("rnn_backward must return a tuple (dX, dH0, dW_xh, dW_hh, db_h)")
    for index, name in ((3, "W_hh"), (1, "H0"), (0, "X")):
        key = ("X", "H0", "W_xh", "W_hh", "b_h")[index]

        def f(x, key=key):
            return ref.rnn_forward(*seq_args({**p, key: x}))
        check_gradient(got[index], numeric_gradient(f, p[key].copy(), dH), f"rnn_backward: d{name}", tol=1e-6)


@item("rnn_backward", weight=1, uses=["rnn_cell_backward"])
def test_backward_uses_cache_and_no_autodiff(student, rng):
    """uses the cached hidden states and is written by hand"""
    forbid_names(student.source("rnn_backward"), AUTODIFF, NO_AUTODIFF)
    p, H = seq_problem(rng)
    H = np.tanh(rng.standard_normal(H.shape))  # a cache of its own
    dH = rng.standard_normal(H.shape)
    got = student.call("rnn_backward", dH, p["X"], p["H0"], H, p["W_xh"], p["W_hh"])
    expected = [g.numpy() for g in ref.rnn_backward(dH, p["X"], p["H0"], H, p["W_xh"], p["W_hh"])]
    try:
        check_all_gradients(got, expected, SEQ_GRAD_NAMES, 1e-7, "rnn_backward")
    except CheckFailed as err:
        raise CheckFailed(f"{err}\n(this check passes hidden states H of its own: BPTT must use the given "
                          "cache, not recompute the forward pass)") from None


# ---------------------------------------------------------------------------------------------------- RNNCell
@item("RNNCell", weight=1)
def test_rnncell_interface(student):
    """state_size == output_size == units; weights kernel (d, u), recurrent_kernel (u, u), bias (u,)"""
    forbid_names(student.source("RNNCell"), {"SimpleRNNCell", "SimpleRNN", "GRUCell", "LSTMCell"},
                 "RNNCell must compute the step itself, not wrap a Keras cell")
    info = student.call("_rnncell_describe", 7, 3)
    for key in ("state_size", "output_size"):
        if info[key] not in (7, [7]):
            raise CheckFailed(f"RNNCell(7).{key} should be 7, got {info[key]!r}")
    shapes = {name: tuple(shape) for name, shape in info["weights"]}
    wanted = {"kernel": (3, 7), "recurrent_kernel": (7, 7), "bias": (7,)}
    if shapes != wanted:
        raise CheckFailed(f"RNNCell(7) on 3 input features should have weights {wanted}, got {shapes}")


@item("RNNCell", weight=2)
def test_rnncell_matches_simple_rnn(student, rng):
    """keras.layers.RNN(RNNCell(u)) equals keras.layers.SimpleRNN(u) with the same weights"""
    X = rng.standard_normal((3, 6, 4)).astype(np.float32)
    kernel, recurrent, bias = (rng.standard_normal(s).astype(np.float32) * 0.5 for s in ((4, 5), (5, 5), (5,)))
    got = student.call("_rnncell_run", X, kernel, recurrent, bias)
    if not isinstance(got, list) or len(got) != 2:
        raise CheckFailed("keras.layers.RNN(RNNCell(u), return_state=True) should return (sequence, state)")
    simple = keras.layers.SimpleRNN(5, return_sequences=True, return_state=True)
    simple.build(X.shape)
    simple.set_weights([kernel, recurrent, bias])
    sequence, state = simple(X)
    check_close(got[0], sequence.numpy(), "outputs of keras.layers.RNN(RNNCell(5))", rtol=1e-4, atol=1e-5)
    check_close(got[1], state.numpy(), "final state of keras.layers.RNN(RNNCell(5))", rtol=1e-4, atol=1e-5)


@item("RNNCell", weight=1)
def test_rnncell_initialised_and_configured_like_simple_rnn_cell(student):
    """starts like SimpleRNNCell (orthogonal recurrent kernel, zero bias), keeps units in its config and honours dtype"""
    info = student.call("_rnncell_fresh", 6, 4)
    weights = info["weights"]
    recurrent = to_array(weights.get("recurrent_kernel"), "initial recurrent_kernel")
    if recurrent.shape != (6, 6) or not np.allclose(recurrent.T @ recurrent, np.eye(6), atol=1e-4):
        raise CheckFailed("the initial recurrent_kernel should be orthogonal (initializer='orthogonal'), as in "
                          "SimpleRNNCell: it keeps the state's norm steady at the start of training")
    if np.any(to_array(weights.get("bias"), "initial bias")):
        raise CheckFailed("the initial bias should be zeros (initializer='zeros'), as in SimpleRNNCell")
    if info["config_units"] != 6 or info["clone_units"] != 6:
        raise CheckFailed(f"get_config() should include units=6 so that from_config re-creates the cell; "
                          f"got units={info['config_units']!r}, re-created units={info['clone_units']!r}")
    if any(dtype != "float64" for dtype in info["float64_weights"]):
        raise CheckFailed(f"RNNCell(6, dtype='float64') should create float64 weights, got {info['float64_weights']}:"
                          " pass **kwargs on to keras.layers.Layer.__init__")
