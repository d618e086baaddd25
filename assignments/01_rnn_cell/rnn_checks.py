"""The public checks of Assignment 1 that need more than a comparison (released with the notebook; no solution in
it: the truth comes from NumPy, finite differences, tf.GradientTape and Keras).

Tolerances are the hidden suite's, so that what passes here passes there on the same properties: float64 values
to ``rtol=1e-9``, float64 gradients to 1e-9 against the tape, float32 results to 1e-4 of the float64 truth.
"""

import numpy as np
import tensorflow as tf
import keras

from checklib import CheckFailed, check_close, check_gradients, numeric_gradient, rel_error, to_array
from publiccheck import autodiff_watch, call, watching

F64 = {"rtol": 1e-9, "atol": 1e-11}   # float64 values (the hidden suite's)
F32 = {"rtol": 1e-4, "atol": 1e-5}    # float32 values against the float64 truth
TAPE_TOL = 1e-9                       # float64 gradients against tf.GradientTape
FD_TOL = 1e-7                         # against centred differences (their own error is ~1e-10)
F32_GRAD_TOL = 1e-4                   # float32 gradients against the float64 truth

FLOAT32_SIZE = (" The difference has the size of float32 rounding: somewhere the computation runs in float32 "
                "although the inputs are float64 (a tf.cast, or a tensor made by tf.constant, tf.zeros or tf.ones "
                "without dtype=, which default to float32).")


def check_float64(got, expected, name, causes=None):
    """check_close at the hidden suite's float64 tolerance; names a float32 detour when the error has its size."""
    try:
        return check_close(got, expected, name, causes=causes, **F64)
    except CheckFailed as failure:
        error = rel_error(to_array(got, name, np.float64), expected) if np.shape(got) == np.shape(expected) else 1
        raise CheckFailed(str(failure) + ("." + FLOAT32_SIZE if 1e-12 < error < 1e-5 else "")) from None


def cell_forward_differs(rnn_cell_forward):
    """'' if the student's rnn_cell_forward reproduces the step in float64, else a sentence saying it does not."""
    rng = np.random.default_rng(11)
    X_t, H_prev, W_xh, W_hh, b_h = (rng.standard_normal(s) for s in ((3, 4), (3, 5), (4, 5), (5, 5), (5,)))
    try:
        got = call(rnn_cell_forward, *(tf.constant(a) for a in (X_t, H_prev, W_xh, W_hh, b_h)))
        check_float64(got, np.tanh(X_t @ W_xh + H_prev @ W_hh + b_h), "H_t")
    except CheckFailed as failure:
        return f" Your rnn_cell_forward already differs in float64 ({str(failure)[:160]}): fix it first (its check " \
               "says how)."
    return ""


# ------------------------------------------------------------------------------------------------ likely causes
# When a value is wrong, the numbers say where; these say why. Each maps a sentence to the values a common mistake
# computes from the check's own inputs (check_close(..., causes=...) names the first one the result equals), so a
# different mistake is never named: the inputs are chosen so that no two of these give the same values.

def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def step_causes(X_t, H_prev, W_xh, W_hh, b_h):
    """{sentence: values} of the common mistakes in rnn_cell_forward on these inputs (NumPy)."""
    A = X_t @ W_xh + H_prev @ W_hh + b_h
    return {
        "these are ReLU of the pre-activation X_t W_xh + H_prev W_hh + b_h: the activation is tanh (tf.tanh), not "
        "ReLU": np.maximum(A, 0),
        "these are the logistic sigmoid of the pre-activation X_t W_xh + H_prev W_hh + b_h: the activation is tanh "
        "(tf.tanh), not the sigmoid": _sigmoid(A),
        "these are the pre-activation X_t W_xh + H_prev W_hh + b_h itself: apply tf.tanh to it": A,
        "these are tanh(X_t W_xh + H_prev W_hh^T + b_h): W_hh is used transposed; with row vectors the previous "
        "state multiplies it from the left as it is, H_prev @ W_hh": np.tanh(X_t @ W_xh + H_prev @ W_hh.T + b_h),
        "these are tanh(X_t W_xh + H_prev W_hh) + b_h: the bias belongs inside the tanh":
            np.tanh(X_t @ W_xh + H_prev @ W_hh) + b_h,
    }


def sequence_causes(X, H0, W_xh, W_hh, b_h):
    """{sentence: values} of the common mistakes in rnn_forward's loop on these inputs (NumPy)."""
    def run(X, start_from_H0=False):
        H_t, states = H0, []
        for t in range(X.shape[1]):
            H_t = np.tanh(X[:, t] @ W_xh + (H0 if start_from_H0 else H_t) @ W_hh + b_h)
            states.append(H_t)
        return np.stack(states, axis=1)
    backwards = run(X[:, ::-1])
    return {
        "H is the recurrence run over X from the last step to the first: step t = 0, 1, ..., T - 1 reads X[:, t] in "
        "this order (does the loop run over reversed(range(T))?)": backwards,
        "H is the recurrence run over X from the last step to the first, stored back in time order: step t = 0, 1, "
        "..., T - 1 reads X[:, t] in this order, starting from H0": backwards[:, ::-1],
        "every step starts from H0: step t must start from the state the step before produced, H[:, t - 1] (only "
        "the first step starts from H0)": run(X, start_from_H0=True),
    }


def cell_step_causes(x, h_prev, K, R, b):
    """{sentence: values} of the common mistakes in RNNCell.call on these inputs and weights (NumPy)."""
    A = x @ K + h_prev @ R + b
    return {
        "these are tanh(inputs @ kernel + h_prev @ recurrent_kernel) without the bias: add self.bias inside the tanh "
        "(a zero initial bias hides this; here the weights are random)": np.tanh(x @ K + h_prev @ R),
        "these are what the transposed recurrent_kernel gives: the step is h_prev @ self.recurrent_kernel, "
        "untransposed, as in SimpleRNNCell": np.tanh(x @ K + h_prev @ R.T + b),
        "these are tanh(inputs @ kernel + h_prev @ recurrent_kernel) + bias: the bias belongs inside the tanh":
            np.tanh(x @ K + h_prev @ R) + b,
        "these are the pre-activation itself: apply tf.tanh to it": A,
        "these are ReLU of the pre-activation: the activation is tanh, as in SimpleRNNCell": np.maximum(A, 0),
        "these are the sigmoid of the pre-activation: the activation is tanh, as in SimpleRNNCell": _sigmoid(A),
        "these are h_prev, the state the step was given: return the new h, as (h, [h]), so that the state "
        "advances": h_prev,
    }


# ------------------------------------------------------------------------------------------------ spies
KERAS_RECURRENT = ("SimpleRNNCell", "GRUCell", "LSTMCell", "SimpleRNN", "GRU", "LSTM")


def keras_cells_watch():
    """Records the Keras recurrent cells and layers whose ``call`` runs inside the block."""
    return watching([(getattr(keras.layers, name), "call", f"keras.layers.{name}") for name in KERAS_RECURRENT
                     if hasattr(keras.layers, name)])


def alone(watch, func, *args, complaint):
    """``call(func, *args)``; fails with ``complaint(what ran)`` if something ``watch`` records ran meanwhile."""
    with watch() as seen:
        result = call(func, *args)
    if seen:
        raise CheckFailed(complaint(", ".join(sorted(set(seen)))))
    return result


def on_its_own(layer, *args):
    """``call(layer, *args)``; fails if a Keras recurrent cell or layer ran meanwhile (RNNCell computes the step)."""
    return alone(keras_cells_watch, layer, *args, complaint=lambda ran: (
        f"RNNCell ran {ran}: it must compute the step itself with its own weights, tf.tanh(inputs @ self.kernel + "
        "h_prev @ self.recurrent_kernel + self.bias), not through a Keras recurrent cell or layer"))


def by_hand(backward, *args):
    """``call(backward, *args)``; fails if automatic differentiation ran meanwhile (the item is the derivation)."""
    return alone(autodiff_watch, backward, *args, complaint=lambda ran: (
        f"{backward.__name__} ran {ran}: this part is the derivation by hand, and the hidden tests give it no points "
        "while automatic differentiation computes the gradients. Write each gradient as a product of tensors (the "
        "chain rule above), without a tape"))


# ------------------------------------------------------------------------------------------------ the patterns

def pattern_hint(wrong, names, sequence, carried_back, one_step_right=False, flows_forward=False):
    """What the set of wrong gradients usually means (names in the backward's order: dX, dH_start, dW_xh, dW_hh,
    db_h). ``carried_back`` is False when a loss on the last state alone sends nothing back to the start;
    ``one_step_right`` is True when the same backward is right on a sequence of one step; ``flows_forward`` when a
    loss on the first state alone gives later inputs a gradient."""
    dX, dH, dW_xh, dW_hh, db = names
    if sequence and flows_forward:
        return (f" With a loss on the first step's state alone, {dX}[:, 1:] is not zero, though later inputs cannot "
                "change that state: the gradient was carried forward in time. Visit the steps from the last to the "
                "first (reversed(range(T))), so that the dH_prev carried back from step t + 1 is there when step t "
                "needs it.")
    if wrong == {dH} and sequence:   # the others right: the carry works, only what is returned for H0 is wrong
        return f" Only {dH} is wrong: it is what flows back out of the first step (the dH_prev of the step that " \
               "started from H0), not what reaches H[:, 0]."
    if sequence and carried_back is False:
        return (f" The gradient from later steps is not carried back: with a loss on the last state alone, {dH} "
                "comes out as zeros, yet H0 reaches the last state through every step. At each step add the dH_prev "
                "returned by the step after it (dH_next) to that step's own dH[:, t].")
    if sequence and one_step_right and wrong == set(names):
        return (" All five gradients are wrong over several steps but right over one, so each step's own backward "
                "is right and the way back through time is not: look at what reaches each step, its own dH[:, t] "
                "plus the dH_prev carried back from step t + 1.")
    if wrong == set(names):
        return (" All five gradients are wrong, and all five pass through dA = dH_t * tanh'(A): look at tanh' first. "
                "tanh'(A) = 1 - tanh(A)**2 = 1 - H_t**2 with the H_t given, which is already tanh(A) (tanh(H_t) "
                "applies it twice).")
    if wrong == {db}:
        return (f" Only {db} is wrong: b_h was added to every row{' at every step' if sequence else ''}, so its "
                "gradient is the sum of dA over the batch (axis 0): not a mean, not over the hidden units.")
    if wrong == {dW_hh} and sequence:
        return (f" Only {dW_hh} is wrong, and it is the only gradient that uses the state each step started from: "
                "step t starts from H[:, t - 1] and the first step from H0 (in Python, H[:, -1] at t = 0 is the last "
                "state, not H0).")
    if wrong == {dW_hh}:
        return f" Only {dW_hh} is wrong: it is H_prev^T dA, an (h, h) matrix; with square shapes a swapped product " \
               "fits too."
    if wrong == {dH, dW_hh}:
        return f" {dH} and {dW_hh} are wrong, the others right: look at the two products with W_hh."
    if wrong == {dH} and not sequence:
        return f" Only {dH} is wrong: it is dA W_hh^T; with a square W_hh, dA W_hh fits the shapes too."
    if wrong == {dX} and not sequence:
        return (f" Only {dX} is wrong: it is dA W_xh^T, with the same dA = dH_t * (1 - H_t**2) that the weight "
                "gradients use.")
    if wrong == {dX} and sequence:
        return f" Only {dX} is wrong: check its time order (dX[:, t] belongs to X[:, t]; the backward loop meets " \
               "the steps from last to first)."
    if sequence and wrong >= {dW_xh, dW_hh, db} and dX not in wrong:
        return " The weight gradients are wrong while dX is right: W_xh, W_hh and b_h serve every step, so their " \
               "gradients are sums over the steps (add each step's part, do not overwrite)."
    return ""


def right_on_one_step(backward, numpy_forward, inputs, upstream, names):
    """Whether ``backward`` gives the right gradients on the first step of the sequence alone (T = 1), where the
    order in which a loop visits the steps cannot matter."""
    first = {key: (value[:, :1] if key == "X" else value) for key, value in inputs.items()}
    up = upstream[:, :1]
    numeric = {n: numeric_gradient(lambda x, key=key: numpy_forward(**{**first, key: x}), value.copy(), up)
               for n, (key, value) in zip(names, first.items())}
    X, H_start, W_xh, W_hh, _ = first.values()
    grads = by_hand(backward, *(tf.constant(a) for a in (up, X, H_start, numpy_forward(**first), W_xh, W_hh)))
    try:
        check_gradients(dict(zip(names, grads)), numeric, tol=FD_TOL, against="centred finite differences")
    except CheckFailed:
        return False
    return True


# ------------------------------------------------------------------------------------------------ the check

def check_rnn_backward(backward, forward, numpy_forward, inputs, upstream, names, step_forward=None):
    """Checks ``backward(upstream, X, H_start, H, W_xh, W_hh)`` against the forward pass it belongs to.

    Every message reports all five gradients at once (which are right, which are wrong), and says what the pattern
    usually means: a wrong ``dW_hh`` and ``dH_prev`` with the others right, for instance, points at the product
    with ``W_hh``.

    Args:
        backward: the student's backward function (rnn_cell_backward or rnn_backward).
        forward: the student's forward function of the same five inputs, for the GradientTape comparison.
        numpy_forward: the same forward pass written in NumPy, for the finite differences.
        inputs: dict of the five float64 inputs (X, H_start, W_xh, W_hh, b_h), in the forward's argument order.
        upstream: float64 gradient flowing into the forward's output.
        names: the five gradients' names, in the order the backward returns them.
        step_forward: the student's rnn_cell_forward, which ``forward`` calls (named when it is what differs).
    """
    X, H_start, W_xh, W_hh, _ = inputs.values()
    sequence = np.ndim(X) == 3
    H = numpy_forward(**inputs)  # the cache
    name = backward.__name__
    numeric = {n: numeric_gradient(lambda x, key=key: numpy_forward(**{**inputs, key: x}), value.copy(), upstream)
               for n, (key, value) in zip(names, inputs.items())}
    for dtype in (np.float32, np.float64):
        grads = by_hand(backward, *(tf.constant(a, dtype) for a in (upstream, X, H_start, H, W_xh, W_hh)))
        if not isinstance(grads, (tuple, list)) or len(grads) != 5:
            count = f" of {len(grads)}" if isinstance(grads, (tuple, list)) else ""
            raise CheckFailed(f"{name} must return a tuple of 5 gradients ({', '.join(names)}), got "
                              f"{type(grads).__name__}{count}")
        numpy_made = [n for n, g in zip(names, grads) if not tf.is_tensor(g)]
        if numpy_made:
            kind = type(grads[names.index(numpy_made[0])]).__name__
            raise CheckFailed(f"{name} returned {', '.join(numpy_made)} as {kind}, not as TensorFlow tensors: keep "
                              "every step in TensorFlow operations")
        wrong_shape = [f"{n} {tuple(g.shape)} instead of {v.shape}" for n, g, v in zip(names, grads, inputs.values())
                       if tuple(g.shape) != v.shape]
        if wrong_shape:
            raise CheckFailed(f"{name}: every gradient has the shape of what it is the gradient of; got "
                              f"{'; '.join(wrong_shape)}")
        wrong_dtype = [f"{n} is {g.dtype.name}" for n, g in zip(names, grads) if g.dtype != tf.as_dtype(dtype)]
        if wrong_dtype:
            raise CheckFailed(f"{name} with {np.dtype(dtype).name} inputs must return {np.dtype(dtype).name} "
                              f"gradients, but {', '.join(wrong_dtype)}")
        if dtype == np.float32:
            float32 = dict(zip(names, grads))
    got = dict(zip(names, grads))  # the float64 ones
    try:
        check_gradients(got, numeric, tol=FD_TOL, against="centred finite differences", what=name)
    except CheckFailed as failure:
        carried_back, flows_forward = None, False
        if sequence and X.shape[1] > 1:   # a loss on H_T alone must still reach H0
            last_only = np.zeros_like(upstream)
            last_only[:, -1] = upstream[:, -1]
            probe = by_hand(backward, *(tf.constant(a) for a in (last_only, X, H_start, H, W_xh, W_hh)))
            carried_back = bool(np.any(to_array(probe[1], names[1])))
            first_only = np.zeros_like(upstream)   # a loss on H[:, 0] alone: no later input can change it
            first_only[:, 0] = upstream[:, 0]
            probe = to_array(by_hand(backward, *(tf.constant(a) for a in (first_only, X, H_start, H, W_xh, W_hh)))[0],
                             names[0])
            truth = numeric_gradient(lambda x: numpy_forward(**{**inputs, "X": x}), X.copy(), first_only)
            # the first step's own gradient right (at either end of dX: the loop may also stack it in reverse), and
            # the other inputs given one: carried forward in time; a dX merely reversed gives the others nothing
            if probe.shape == truth.shape:
                for own, others in ((probe[:, 0], probe[:, 1:]), (probe[:, -1], probe[:, :-1])):
                    if rel_error(own, truth[:, 0]) < 1e-6 and np.any(np.abs(others) > 1e-12):
                        flows_forward = True
        one_step_right = sequence and X.shape[1] > 1 and failure.wrong == set(names) and \
            right_on_one_step(backward, numpy_forward, inputs, upstream, names)
        hint = pattern_hint(failure.wrong, names, sequence, carried_back, one_step_right, flows_forward)
        raise CheckFailed(str(failure) + ("." + hint if hint else "")) from None
    try:
        check_gradients(float32, numeric, tol=F32_GRAD_TOL, against="the float64 truth", what=f"{name} in float32")
    except CheckFailed as failure:
        raise CheckFailed(f"{failure}: with float32 inputs the computation must stay in float32 and give the same "
                          "gradients to float32 precision") from None
    variables = [tf.constant(value) for value in inputs.values()]
    with tf.GradientTape() as tape:
        tape.watch(variables)
        loss = tf.reduce_sum(call(forward, *variables) * upstream)
    auto = tape.gradient(loss, variables)
    cut = [n for n, g in zip(names, auto) if g is None]
    if cut:
        raise CheckFailed(f"no gradient flows back through your {forward.__name__} to {', '.join(cut)}: keep it in "
                          "TensorFlow operations (its own check says where)")
    try:
        check_gradients(got, dict(zip(names, auto)), tol=TAPE_TOL, what=name,
                        against=f"tf.GradientTape through your {forward.__name__}; the finite differences agree with "
                                f"{name}, so look at {forward.__name__}")
    except CheckFailed as failure:
        step = step_forward or (None if sequence else forward)
        differs = cell_forward_differs(step) if step is not None else ""
        raise CheckFailed(str(failure) + ("." + differs if differs else "")) from None
