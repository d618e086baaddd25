"""The public check of a hand-written RNN backward pass, shared by the step and the sequence (released with the
notebook; no solution in it: the truth comes from NumPy finite differences and from tf.GradientTape)."""
import numpy as np
import tensorflow as tf

from checklib import CheckFailed, check_dtype, check_gradient, check_shape, numeric_gradient


def check_rnn_backward(backward, forward, numpy_forward, inputs, upstream, names):
    """Checks ``backward(upstream, X, H_start, H, W_xh, W_hh)`` against the forward pass it belongs to.

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
    for dtype in (np.float32, np.float64):
        grads = backward(*(tf.constant(a, dtype) for a in (upstream, X, H_start, H, W_xh, W_hh)))
        if not isinstance(grads, (tuple, list)) or len(grads) != 5:
            raise CheckFailed(f"{backward.__name__} must return a tuple of 5 gradients: ({', '.join(names)})")
        for grad, name, value in zip(grads, names, inputs.values()):
            check_shape(grad, value.shape, name)
            check_dtype(grad, dtype, name)
    for grad, name, (key, value) in zip(grads, names, inputs.items()):  # grads are the float64 ones
        numeric = numeric_gradient(lambda x: numpy_forward(**{**inputs, key: x}), value.copy(), upstream)
        check_gradient(grad, numeric, f"{name} (vs numeric gradient)", tol=1e-7)
    variables = [tf.constant(value) for value in inputs.values()]
    with tf.GradientTape() as tape:
        tape.watch(variables)
        loss = tf.reduce_sum(forward(*variables) * upstream)
    for grad, name, auto in zip(grads, names, tape.gradient(loss, variables)):
        check_gradient(grad, auto, f"{name} (vs GradientTape through your {forward.__name__}; the numeric check "
                                   f"passed, so look at {forward.__name__})", tol=1e-7)
    print(f"✓ {backward.__name__} looks right")
