"""The public check of a hand-written RNN backward pass, shared by the step and the sequence (released with the
notebook; no solution in it: the truth comes from NumPy finite differences and from tf.GradientTape)."""
import numpy as np
import tensorflow as tf

from checklib import CheckFailed, check_gradients, numeric_gradient
from publiccheck import call


def check_rnn_backward(backward, forward, numpy_forward, inputs, upstream, names):
    """Checks ``backward(upstream, X, H_start, H, W_xh, W_hh)`` against the forward pass it belongs to.

    Every message reports all five gradients at once (which are right, which are wrong): the pattern tells where
    to look. A wrong ``dW_hh`` and ``dH_prev`` with the others right, for instance, points at the product with
    ``W_hh``.

    Args:
        backward: the student's backward function (rnn_cell_backward or rnn_backward).
        forward: the student's forward function of the same five inputs, for the GradientTape comparison.
        numpy_forward: the same forward pass written in NumPy, for the finite differences.
        inputs: dict of the five float64 inputs (X, H_start, W_xh, W_hh, b_h), in the forward's argument order.
        upstream: float64 gradient flowing into the forward's output.
        names: the five gradients' names, in the order the backward returns them.
    """
    X, H_start, W_xh, W_hh, _ = inputs.values()
    H = numpy_forward(**inputs)  # the cache
    name = backward.__name__
    for dtype in (np.float32, np.float64):
        grads = call(backward, *(tf.constant(a, dtype) for a in (upstream, X, H_start, H, W_xh, W_hh)))
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
    got = dict(zip(names, grads))  # the float64 ones
    numeric = {n: numeric_gradient(lambda x, key=key: numpy_forward(**{**inputs, key: x}), value.copy(), upstream)
               for n, (key, value) in zip(names, inputs.items())}
    check_gradients(got, numeric, tol=1e-7, against="centred finite differences", what=name)
    variables = [tf.constant(value) for value in inputs.values()]
    with tf.GradientTape() as tape:
        tape.watch(variables)
        loss = tf.reduce_sum(call(forward, *variables) * upstream)
    auto = tape.gradient(loss, variables)
    cut = [n for n, g in zip(names, auto) if g is None]
    if cut:
        raise CheckFailed(f"no gradient flows back through your {forward.__name__} to {', '.join(cut)}: keep it in "
                          "TensorFlow operations (its own check says where)")
    check_gradients(got, dict(zip(names, auto)), tol=1e-7, what=name,
                    against=f"tf.GradientTape through your {forward.__name__}; the finite differences agree with "
                            f"{name}, so look at {forward.__name__}")
