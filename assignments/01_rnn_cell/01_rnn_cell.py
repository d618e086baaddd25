# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 1 — A recurrent cell from scratch
#
# A recurrent neural network reads a sequence one step at a time and carries a *hidden state* from each step to
# the next. In this assignment you build the simplest such network, the vanilla (Elman) RNN, with nothing but
# TensorFlow's basic operations:
#
# 1. one step of the cell, then the cell unrolled over a whole sequence, then the output layer;
# 2. the backward pass of one step and backpropagation through time (BPTT) over the sequence, derived by hand;
# 3. the same cell as a Keras layer that `keras.layers.RNN` can run, checked against Keras's own `SimpleRNN`;
# 4. an experiment showing why gradients through many steps vanish or explode, and a short written answer.
#
# **How this notebook is graded.** Each answer cell holds the signature and docstring of one function or class;
# write the body where it says `raise NotImplementedError()`. The cell after it runs *public checks*: they
# print a line starting with ✓ when your code passes, and otherwise a line starting with ✗ and one sentence that
# says what to look at (which call failed, with which shapes, or which value or gradient is wrong). Cells that
# need a part whose checks have not passed yet say so and skip. Your score comes from a hidden test suite that
# runs your functions on other random inputs, so passing the public checks is a good sign, not a guarantee. Do
# not rename the functions or change their signatures, and keep everything in TensorFlow operations (`tf.tanh`,
# `tf.matmul` or `@`, `tf.transpose`, `tf.reduce_sum`, `tf.stack`, `tf.zeros_like`, ...): no NumPy inside your
# functions and no `tf.GradientTape` in your backward passes (the backward parts are derivations by hand: a
# gradient computed by automatic differentiation earns none of their points, and their checks tell you so). Every
# function must return tensors of its inputs' dtype, so that it works in `float32` and in `float64`. Beware that
# `tf.zeros`, `tf.ones` and `tf.constant` make `float32` tensors unless you pass `dtype=`: write
# `tf.zeros_like(x)` or `tf.zeros(shape, dtype=x.dtype)` to keep the inputs' dtype. The checks compare `float64`
# results to 9 digits, as the hidden tests do, so a computation that slips into `float32` shows.
#
# **Time.** Run top to bottom with a correct solution, the whole notebook takes about 15 seconds on a 2-core
# CPU, most of it importing TensorFlow (measured: 9 s of CPU time; no GPU needed).

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
from quiet import quiet_tensorflow
quiet_tensorflow()   # before TensorFlow is imported: hides its start-up log lines, which are not errors

import numpy as np
import tensorflow as tf
import keras
import matplotlib.pyplot as plt

from checklib import CheckFailed, check_close, check_dtype, check_gradient, check_shape, numeric_gradient, rel_error
from publiccheck import CallFailed, call, call_tf, public_check, ready
from rnn_checks import (cell_forward_differs, cell_step_causes, check_float64, check_rnn_backward, on_its_own,
                        sequence_causes, step_causes)

keras.utils.set_random_seed(0)

# %% [markdown]
# ## The equations
#
# We use row vectors, as the book *Dive into Deep Learning* does: a minibatch of $n$ examples is a matrix with one
# example per row, and a layer multiplies from the right. With $d$ input features, $h$ hidden units and $q$
# outputs, one step of the RNN reads the inputs $\mathbf{X}_t \in \mathbb{R}^{n \times d}$ and the previous hidden
# state $\mathbf{H}_{t-1} \in \mathbb{R}^{n \times h}$:
#
# $$\mathbf{H}_t = \tanh\left(\mathbf{X}_t \mathbf{W}_{xh} + \mathbf{H}_{t-1} \mathbf{W}_{hh} + \mathbf{b}_h\right),
# \qquad \mathbf{O}_t = \mathbf{H}_t \mathbf{W}_{hq} + \mathbf{b}_q,$$
#
# with $\mathbf{W}_{xh} \in \mathbb{R}^{d \times h}$, $\mathbf{W}_{hh} \in \mathbb{R}^{h \times h}$,
# $\mathbf{b}_h \in \mathbb{R}^{h}$ (added to every row), $\mathbf{W}_{hq} \in \mathbb{R}^{h \times q}$ and
# $\mathbf{b}_q \in \mathbb{R}^{q}$. The same weights serve every time step: that sharing is what lets one cell
# read sequences of any length.
#
# The two products inside the $\tanh$ are really one. Put the inputs and the state side by side, and stack the two
# weight matrices on top of each other:
#
# $$\mathbf{X}_t \mathbf{W}_{xh} + \mathbf{H}_{t-1} \mathbf{W}_{hh}
# = \begin{bmatrix} \mathbf{X}_t & \mathbf{H}_{t-1} \end{bmatrix}
#   \begin{bmatrix} \mathbf{W}_{xh} \\ \mathbf{W}_{hh} \end{bmatrix},$$
#
# an $n \times (d + h)$ matrix times a $(d + h) \times h$ one. This is why some libraries store a single weight
# matrix for a recurrent layer. The next cell checks the identity on small random matrices.

# %% nbgrader={"grade": false, "grade_id": "demo_concatenation", "locked": true, "schema_version": 3, "solution": false, "task": false}
demo_rng = np.random.default_rng(1)
n, d, h = 2, 3, 4
X_t, H_prev = demo_rng.standard_normal((n, d)), demo_rng.standard_normal((n, h))
W_xh, W_hh = demo_rng.standard_normal((d, h)), demo_rng.standard_normal((h, h))

two_products = X_t @ W_xh + H_prev @ W_hh
XH = np.concatenate([X_t, H_prev], axis=1)   # [X_t, H_{t-1}]: (n, d + h)
W = np.concatenate([W_xh, W_hh], axis=0)     # [W_xh; W_hh]:   (d + h, h)
one_product = XH @ W
print(f"[X_t, H_prev] is {XH.shape}, [W_xh; W_hh] is {W.shape}, their product is {one_product.shape}")
print(f"largest difference from X_t W_xh + H_prev W_hh: {np.max(np.abs(one_product - two_products)):.1e}")

# %% [markdown]
# ## Part 1 — One step of the cell (2 points)
#
# Implement `rnn_cell_forward`, the equation for $\mathbf{H}_t$ above. `b_h` has shape `(h,)`: broadcasting adds
# it to every row.

# %% nbgrader={"grade": false, "grade_id": "rnn_cell_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution rnn_cell_forward

# %% nbgrader={"grade": true, "grade_id": "test_rnn_cell_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with public_check("rnn_cell_forward"):
    # A tiny example you can check by hand: X_t W_xh = [1, 2], H_prev W_hh = [0, 0.5], so the pre-activation
    # X_t W_xh + H_prev W_hh + b_h is [-1, 1] and H_t = [tanh(-1), tanh(1)] = [-0.762, 0.762]. When the values are
    # wrong, causes= names the common mistake they equal (ReLU, the sigmoid, W_hh transposed, ...), if any.
    tiny_inputs = [np.array(a) for a in ([[1.0, 2.0]], [[0.5, -1.0]], np.eye(2), [[0.0, 1.0], [0.0, 0.0]],
                                         [-2.0, -1.5])]
    tiny = call_tf(rnn_cell_forward, *(tf.constant(a, tf.float32) for a in tiny_inputs))
    check_close(tiny, [[np.tanh(-1.0), np.tanh(1.0)]], "H_t of the tiny example", causes=step_causes(*tiny_inputs))

    # Random, non-square inputs (n, d, h all different) in float32 and float64, against the equation in NumPy
    # (float64 to 1e-9, as the hidden tests do); call_tf also checks that the result is a tensor that gradients can
    # flow back through.
    check_rng = np.random.default_rng(10)
    n, d, h = 4, 3, 5
    X_t, H_prev = check_rng.standard_normal((n, d)), check_rng.standard_normal((n, h))
    W_xh, W_hh = 0.5 * check_rng.standard_normal((d, h)), 0.5 * check_rng.standard_normal((h, h))
    b_h = check_rng.standard_normal(h)
    expected = np.tanh(X_t @ W_xh + H_prev @ W_hh + b_h)
    for dtype in (np.float32, np.float64):
        got = call_tf(rnn_cell_forward, *(tf.constant(a, dtype) for a in (X_t, H_prev, W_xh, W_hh, b_h)))
        check_shape(got, (n, h), "H_t")
        check_dtype(got, dtype, "H_t")
        causes = step_causes(X_t, H_prev, W_xh, W_hh, b_h)
        if dtype == np.float64:
            check_float64(got, expected, "H_t (float64)", causes=causes)
        else:
            check_close(got, expected, "H_t (float32)", causes=causes)

# %% [markdown]
# ## Part 2 — The whole sequence (2 points)
#
# `rnn_forward` runs the cell over sequences of $T$ steps, starting from the state `H0`, and returns every hidden
# state $\mathbf{H}_1, \dots, \mathbf{H}_T$ (not $\mathbf{H}_0$) stacked along axis 1. Sequences are batch-major:
# `X` has shape `(n, T, d)`, so the inputs of one step are `X[:, t]`, an `(n, d)` matrix. Python counts from 0 and
# the equations from 1: `X[:, 0]` is $\mathbf{X}_1$, and `H[:, 0]` must be $\mathbf{H}_1$, the state *after* the
# first step. In code, this notebook always counts the Python way: step `t` (for `t` in `range(T)`) reads
# `X[:, t]`, starts from `H[:, t - 1]` (from `H0` when `t == 0`: in Python `H[:, -1]` would be the *last* state)
# and produces `H[:, t]`. Call your `rnn_cell_forward` at each step; a Python `for` loop over the steps is fine
# here.

# %% nbgrader={"grade": false, "grade_id": "rnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution rnn_forward

# %% nbgrader={"grade": true, "grade_id": "test_rnn_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with public_check("rnn_forward"):
    # Random, non-square inputs in float32 and float64, against the recurrence written out in NumPy.
    check_rng = np.random.default_rng(20)
    n, T, d, h = 2, 4, 3, 5
    X, H0 = check_rng.standard_normal((n, T, d)), check_rng.standard_normal((n, h))
    W_xh, W_hh = 0.5 * check_rng.standard_normal((d, h)), 0.5 * check_rng.standard_normal((h, h))
    b_h = check_rng.standard_normal(h)
    H_t, expected = H0, []
    for t in range(T):
        H_t = np.tanh(X[:, t] @ W_xh + H_t @ W_hh + b_h)
        expected.append(H_t)
    expected = np.stack(expected, axis=1)
    for dtype in (np.float32, np.float64):
        got = call_tf(rnn_forward, *(tf.constant(a, dtype) for a in (X, H0, W_xh, W_hh, b_h)))
        if isinstance(got, (list, tuple)):
            raise CheckFailed(f"rnn_forward returned a Python {type(got).__name__} of {len(got)} tensors: stack the "
                              f"states into one (n, T, h) tensor, tf.stack(states, axis=1)")
        shape_causes = {(T, n, h): "time-major: stack the states along axis 1, tf.stack(states, axis=1), for (n, T, h)",
                        (n, T + 1, h): "one state too many: H holds the states after the T steps, without H0",
                        (n, n, h): f"{n} steps ran, the batch size: the number of steps is X.shape[1] (X is (n, T, d))"}
        if tuple(np.shape(got)) in shape_causes:
            raise CheckFailed(f"H: expected shape {(n, T, h)}, got {tuple(np.shape(got))}: "
                              f"{shape_causes[tuple(np.shape(got))]}")
        got_array = check_shape(got, (n, T, h), "H")
        check_dtype(got, dtype, "H")
        if np.allclose(got_array[:, 0], H0):
            raise CheckFailed("H[:, 0] equals H0: H must hold the state after each step t = 0..T-1, not H0 and the "
                              "states before each step")
        # The same recurrence reading the inputs one step late, X[:, t - 1] at step t (X[:, -1] at t = 0).
        H_t, late = H0, []
        for t in range(T):
            H_t = np.tanh(X[:, t - 1] @ W_xh + H_t @ W_hh + b_h)
            late.append(H_t)
        if np.allclose(got_array, np.stack(late, axis=1), rtol=1e-4, atol=1e-5):
            raise CheckFailed("step t reads X[:, t - 1]: with Python's counting from 0, the inputs of step t are "
                              "X[:, t] (X[:, 0] is X_1), and X[:, -1] at t = 0 is the last step's input")
        causes = sequence_causes(X, H0, W_xh, W_hh, b_h)   # the loop's common mistakes: backwards in time, ...
        try:
            if dtype == np.float64:
                check_float64(got, expected, "H (float64)", causes=causes)
            else:
                check_close(got, expected, "H (float32)", causes=causes)
        except CheckFailed as failure:
            differs = cell_forward_differs(rnn_cell_forward)
            raise CheckFailed(str(failure) + ("." + differs if differs else "")) from None

# %% [markdown]
# ## Part 3 — The output layer (1 point)
#
# `output_layer` maps hidden states to outputs, $\mathbf{O} = \mathbf{H} \mathbf{W}_{hq} + \mathbf{b}_q$. It must
# work on the states of one step, shape `(n, h)`, and on a whole sequence of them, shape `(n, T, h)`, where the same
# weights apply at every step.

# %% nbgrader={"grade": false, "grade_id": "output_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution output_layer

# %% nbgrader={"grade": true, "grade_id": "test_output_layer", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
with public_check("output_layer"):
    # One step (n, h) and a whole sequence (n, T, h), in float32 and float64, against NumPy.
    check_rng = np.random.default_rng(30)
    n, T, h, q = 2, 3, 4, 5
    H = check_rng.standard_normal((n, T, h))
    W_hq, b_q = check_rng.standard_normal((h, q)), check_rng.standard_normal(q)
    for dtype in (np.float32, np.float64):
        W, b = tf.constant(W_hq, dtype), tf.constant(b_q, dtype)
        for states, shape in ((H[:, 0], (n, q)), (H, (n, T, q))):
            try:
                got = call_tf(output_layer, tf.constant(states, dtype), W, b)
            except CallFailed as failure:
                if states.ndim == 2:
                    raise
                raise CheckFailed(f"{failure}. It works for the states of one step, (n, h), but not for a sequence, "
                                  "(n, T, h): contract the LAST axis of H with W_hq (H @ W_hq does, for both)") from None
            if states.ndim == 3 and np.shape(got) in ((n, q), (n * T, q)):
                raise CheckFailed(f"O for H of shape {states.shape}: expected shape {shape}, got {tuple(np.shape(got))}: "
                                  + ("only the last step's outputs" if np.shape(got) == (n, q) else "the time axis was "
                                     "merged into the batch") + "; O holds every step's outputs, (n, T, q)")
            check_shape(got, shape, f"O for H of shape {states.shape}")
            check_dtype(got, dtype, "O")
            what = f"O for H of shape {states.shape} ({np.dtype(dtype).name})"
            offset = (np.asarray(got, np.float64) - states @ W_hq).reshape(-1, q)   # b_q in every row, if right
            if not np.allclose(offset, b_q, rtol=1e-4, atol=1e-5) and np.allclose(offset, offset[0], atol=1e-5):
                raise CheckFailed(f"{what}: O - H W_hq is the same vector in every row but not b_q "
                                  f"({np.round(offset[0], 4)} instead of {np.round(b_q, 4)}): the bias is added after "
                                  "the product, O = H W_hq + b_q")
            right = states @ W_hq + b_q
            softmax = np.exp(right - right.max(axis=-1, keepdims=True))
            causes = {"these are probabilities (each row sums to 1): O = H W_hq + b_q, with no softmax":
                      softmax / softmax.sum(axis=-1, keepdims=True)}
            if dtype == np.float64:
                check_float64(got, right, what, causes=causes)
            else:
                check_close(got, right, what, causes=causes)

# %% [markdown]
# ## Part 4 — The backward pass of one step (3 points)
#
# Now the gradients, by hand. Suppose some loss $L$ depends on $\mathbf{H}_t$ and you are given its gradient
# `dH_t` $= \partial L / \partial \mathbf{H}_t$, an `(n, h)` matrix. Write the step as two stages,
# $\mathbf{A} = \mathbf{X}_t \mathbf{W}_{xh} + \mathbf{H}_{t-1} \mathbf{W}_{hh} + \mathbf{b}_h$ and
# $\mathbf{H}_t = \tanh(\mathbf{A})$, and go back through them:
#
# * $\tanh$ acts elementwise, and its derivative can be read off its output:
#   $\tanh'(a) = 1 - \tanh(a)^2$. The forward pass already computed $\tanh(\mathbf{A}) = \mathbf{H}_t$, which is
#   why `H_t` is an argument (the *cache*).
# * For a product $\mathbf{Y} = \mathbf{P} \mathbf{Q}$ with upstream gradient $\mathrm{d}\mathbf{Y}$, each factor's
#   gradient is $\mathrm{d}\mathbf{Y}$ multiplied by the *transpose* of the other factor, on the side that makes the
#   shapes fit. Check every result's shape against the shape of the thing it is the gradient of.
# * The bias was added to each of the $n$ rows, so its gradient collects a contribution from each row.
#
# Return the five gradients in the order of the docstring. The checks compare them with numeric gradients and with
# `tf.GradientTape` in `float64`; do not use a tape in your function.

# %% nbgrader={"grade": false, "grade_id": "rnn_cell_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution rnn_cell_backward

# %% nbgrader={"grade": true, "grade_id": "test_rnn_cell_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Shapes and dtypes in float32 and float64; values in float64 against numeric gradients of the step written in
# NumPy, then against tf.GradientTape through your own rnn_cell_forward.
check_rng = np.random.default_rng(40)
n, d, h = 3, 4, 5
inputs = {"X_t": check_rng.standard_normal((n, d)), "H_prev": check_rng.standard_normal((n, h)),
          "W_xh": 0.5 * check_rng.standard_normal((d, h)), "W_hh": 0.5 * check_rng.standard_normal((h, h)),
          "b_h": 0.5 * check_rng.standard_normal(h)}
dH_t = check_rng.standard_normal((n, h))
names = ["dX_t", "dH_prev", "dW_xh", "dW_hh", "db_h"]

def numpy_step(X_t, H_prev, W_xh, W_hh, b_h):
    return np.tanh(X_t @ W_xh + H_prev @ W_hh + b_h)


with public_check("rnn_cell_backward"):
    check_rnn_backward(rnn_cell_backward, rnn_cell_forward, numpy_step, inputs, dH_t, names)

# %% [markdown]
# ## Part 5 — Backpropagation through time (4 points)
#
# Over a sequence, the loss can depend on every hidden state, so `dH` has shape `(n, T, h)`: `dH[:, t]` is the
# gradient that reaches the state `H[:, t]` *directly* (for instance from an output read off at that step). But
# `H[:, t]` also feeds the next step, which produces `H[:, t + 1]`, so the total gradient on `H[:, t]` is its direct
# part `dH[:, t]` plus the `dH_prev` that the backward pass of step `t + 1` sends back. (Indices are Python's, as
# in Part 2: step `t` reads `X[:, t]`, starts from `H[:, t - 1]`, or `H0` when `t == 0`, and produces `H[:, t]`.)
# Hence BPTT walks the steps from last to first:
#
# * at each step, add the gradient coming back from the later step to that step's own `dH[:, t]` (nothing comes
#   back to the last step: start from zeros made with `tf.zeros_like(H0)`, which keeps the dtype), and call your
#   `rnn_cell_backward` with the step's inputs `X[:, t]`, the state it started from (`H0` for the first step) and
#   the state it produced, `H[:, t]`;
# * `W_xh`, `W_hh` and `b_h` are shared by all steps: their gradients are **sums** over the steps;
# * `dX` has a slice per step, in the same time order as `X`; `dH0` is what flows back out of the first step.
#
# The picture shows the computation unrolled over four steps, with a loss $\ell_t$ read off every output (as a
# model that predicts something at every step has; a model that classifies a whole sequence has a loss on the last
# step only, and then `dH` is zero except at `dH[:, -1]`). Black arrows are the forward pass, red dashed arrows
# the way the gradient travels back: into each $\mathbf{H}_t$ from its own loss, and from $\mathbf{H}_{t+1}$
# through $\mathbf{W}_{hh}^\top$ and $\tanh'$. Each black $\mathbf{W}_{hh}$ arrow is the *same* matrix, which
# is why its gradient adds up one term per step.

# %% nbgrader={"grade": false, "grade_id": "demo_unrolled_graph", "locked": true, "schema_version": 3, "solution": false, "task": false}
def draw_unrolled(T=4):
    """The RNN unrolled over T steps: forward edges in black, the gradient's way back in red."""
    fig, ax = plt.subplots(figsize=(11, 4.6))
    rows = {"X": 0.0, "H": 1.6, "O": 3.2, "L": 4.5}
    colors = {"X": "#dbe9f6", "H": "#fde0c5", "O": "#d9f0d3", "L": "#eeeeee"}

    def node(x, row, label):
        ax.add_patch(plt.Circle((x, rows[row]), 0.36, facecolor=colors[row], edgecolor="black", zorder=3))
        ax.text(x, rows[row], label, ha="center", va="center", fontsize=11, zorder=4)

    def edge(x0, r0, x1, r1, label="", color="black", rad=0.0, dx=0.0, dy=0.0, style="-"):
        ax.annotate("", xy=(x1, rows[r1]), xytext=(x0, rows[r0]),
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=1.4, ls=style, shrinkA=15, shrinkB=15,
                                    connectionstyle=f"arc3,rad={rad}"), zorder=2)
        if label:
            ax.text((x0 + x1) / 2 + dx, (rows[r0] + rows[r1]) / 2 + dy, label, color=color, fontsize=9, ha="center",
                    va="center", zorder=5)

    node(0, "H", r"$\mathbf{H}_0$")
    for t in range(1, T + 1):
        x = 2.2 * t
        node(x, "X", rf"$\mathbf{{X}}_{t}$")
        node(x, "H", rf"$\mathbf{{H}}_{t}$")
        node(x, "O", rf"$\mathbf{{O}}_{t}$")
        node(x, "L", rf"$\ell_{t}$")
        edge(x, "X", x, "H", r"$\mathbf{W}_{xh}$" if t == 1 else "", dx=-0.45)
        edge(x - 2.2, "H", x, "H", r"$\mathbf{W}_{hh}$", dy=0.22)
        edge(x, "H", x, "O", r"$\mathbf{W}_{hq}$" if t == 1 else "", dx=-0.45)
        edge(x, "O", x, "L", rf"$\mathbf{{Y}}_{t}$" if t == 1 else "", dx=-0.4)
        # the way back: from each loss to its output and state, and from each state to the one before
        edge(x + 0.25, "L", x + 0.25, "H", color="tab:red", style="--")
        edge(x, "H", x - 2.2, "H", r"$\cdot\,\mathbf{W}_{hh}^\top$" if t == T else "", color="tab:red",
             rad=0.45, dy=1.0, style="--")
    ax.text(2.2 * T + 0.7, rows["H"] + 0.9,
            "total gradient on $\\mathbf{H}_t$ =\n  its own part (from $\\ell_t$)\n"
            "+ what comes back from $\\mathbf{H}_{t+1}$", color="tab:red", fontsize=9, va="center")
    ax.text(0.0, -0.9, "forward: the same $\\mathbf{W}_{xh}, \\mathbf{W}_{hh}, \\mathbf{b}_h, \\mathbf{W}_{hq}, "
            "\\mathbf{b}_q$ at every step (black)      backward: BPTT walks the red arrows from step $T$ down to 1;\n"
            "a shared weight collects one term per step, so its gradient is a sum over $t$", fontsize=9)
    ax.set_xlim(-0.7, 2.2 * T + 3.4)
    ax.set_ylim(-1.3, 5.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("The RNN unrolled over time, and the way back of backpropagation through time")
    return fig
draw_unrolled()
plt.show()

# %% nbgrader={"grade": false, "grade_id": "rnn_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution rnn_backward

# %% nbgrader={"grade": true, "grade_id": "test_rnn_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Shapes and dtypes in float32 and float64; values in float64 against numeric gradients of the sequence written in
# NumPy, then against tf.GradientTape through your own rnn_forward. The upstream gradient is random on every step.
check_rng = np.random.default_rng(50)
n, T, d, h = 2, 4, 3, 5
inputs = {"X": check_rng.standard_normal((n, T, d)), "H0": check_rng.standard_normal((n, h)),
          "W_xh": 0.5 * check_rng.standard_normal((d, h)), "W_hh": 0.5 * check_rng.standard_normal((h, h)),
          "b_h": 0.5 * check_rng.standard_normal(h)}
dH = check_rng.standard_normal((n, T, h))
names = ["dX", "dH0", "dW_xh", "dW_hh", "db_h"]

def numpy_sequence(X, H0, W_xh, W_hh, b_h):
    H_t, states = H0, []
    for t in range(X.shape[1]):
        H_t = np.tanh(X[:, t] @ W_xh + H_t @ W_hh + b_h)
        states.append(H_t)
    return np.stack(states, axis=1)


with public_check("rnn_backward"):
    check_rnn_backward(rnn_backward, rnn_forward, numpy_sequence, inputs, dH, names, step_forward=rnn_cell_forward)

# %% [markdown]
# ### Checking a gradient numerically
#
# When a backward pass is wrong, the quickest way to find out is to compare it with *centred differences*: nudge
# one entry $x_i$ of a parameter by $\pm\epsilon$ and see how the loss moves,
# $\partial L / \partial x_i \approx \left(L(x_i + \epsilon) - L(x_i - \epsilon)\right) / 2\epsilon$. With
# $L = \sum \mathbf{H} \odot \mathrm{d}\mathbf{H}$ (the gradient of that sum with respect to $\mathbf{H}$ is exactly
# $\mathrm{d}\mathbf{H}$), `checklib.numeric_gradient` does this for every entry. We report the *relative error*
# $\lVert a - b \rVert / (\lVert a \rVert + \lVert b \rVert)$ over the whole array (per entry, entries that happen
# to be near zero would blow it up). In `float64`, a correct backward pass gives about $10^{-10}$ against centred
# differences (their own error) and about $10^{-15}$ against `tf.GradientTape`; the checks fail above $10^{-7}$
# and $10^{-9}$ respectively, and a real bug usually gives $10^{-2}$ or more. A value near $10^{-8}$ means that
# some step ran in `float32`: its rounding alone gives about $10^{-7}$ to $10^{-3}$, which is why gradients are
# checked in `float64`. The next cell runs this on your `rnn_forward` and `rnn_backward`.

# %% nbgrader={"grade": false, "grade_id": "demo_gradient_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
demo_rng = np.random.default_rng(60)
n, T, d, h = 2, 5, 3, 4
params = {"X": demo_rng.standard_normal((n, T, d)), "H0": demo_rng.standard_normal((n, h)),
          "W_xh": 0.5 * demo_rng.standard_normal((d, h)), "W_hh": 0.5 * demo_rng.standard_normal((h, h)),
          "b_h": 0.5 * demo_rng.standard_normal(h)}
dH = demo_rng.standard_normal((n, T, h))

def forward_with(name, value):
    """rnn_forward with one parameter replaced by ``value``."""
    return rnn_forward(*(tf.constant(value if key == name else p) for key, p in params.items()))

if ready("rnn_forward", "rnn_backward"):
    H = forward_with("X", params["X"])
    analytic = rnn_backward(tf.constant(dH), tf.constant(params["X"]), tf.constant(params["H0"]), H,
                            tf.constant(params["W_xh"]), tf.constant(params["W_hh"]))
    for (name, value), grad in zip(params.items(), analytic):
        numeric = numeric_gradient(lambda x: forward_with(name, x), value.copy(), dH)
        print(f"d{name:<5} relative error (norm-wise) {rel_error(grad, numeric):.1e}")

# %% [markdown]
# ## Part 6 — The cell as a Keras layer (3 points)
#
# `keras.layers.RNN` runs the time loop for any *cell*: a layer with attributes `state_size` and `output_size`
# whose `call(inputs, states)` does one step. `inputs` is one step's `(n, d)` slice; `states` is a tuple (or list)
# holding the previous state; `call` returns the step's output and the list of new states. For our cell the output
# and the single state are the same tensor $\mathbf{h}_t$.
#
# Write `RNNCell` so that `keras.layers.RNN(RNNCell(units))` computes exactly what
# `keras.layers.SimpleRNN(units)` does: create the weights in `build` with `self.add_weight`, named and initialised
# as in the docstring (`SimpleRNNCell` uses the same names and initialisers, so weights can be copied between the
# two layers), and implement `get_config` so that the layer can be re-created from its config. Do not use
# `SimpleRNNCell` or `SimpleRNN` inside your class.

# %% nbgrader={"grade": false, "grade_id": "RNNCell", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution RNNCell

# %% nbgrader={"grade": true, "grade_id": "test_RNNCell", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with public_check("RNNCell"):
    # The cell's attributes, config and initial weights, then keras.layers.RNN(RNNCell) against keras.layers.SimpleRNN
    # with the same random weights (a non-zero bias too), in float32 and float64.
    check_rng = np.random.default_rng(70)
    n, T, d, units = 3, 6, 4, 5
    cell = call(RNNCell, units)
    if isinstance(cell, (keras.layers.SimpleRNNCell, keras.layers.SimpleRNN)):
        raise CheckFailed("RNNCell must be written from scratch, not derived from SimpleRNNCell or SimpleRNN")
    for attribute in ("state_size", "output_size"):
        if getattr(cell, attribute, None) != units:
            raise CheckFailed(f"RNNCell({units}).{attribute} should be {units}, got {getattr(cell, attribute, None)!r}")
    if cell.get_config().get("units") != units:
        raise CheckFailed(f"RNNCell({units}).get_config() should contain 'units': {units}, got {cell.get_config()}")
    if RNNCell.from_config(cell.get_config()).units != units:
        raise CheckFailed("RNNCell.from_config(cell.get_config()) does not give back a cell of the same size")
    # **kwargs reach keras.layers.Layer, and from_config(get_config()) gives back the same layer, name and dtype too.
    named = call(RNNCell, units, name="check_cell", dtype="float64")
    if named.name != "check_cell" or named.dtype != "float64":
        raise CheckFailed(f"RNNCell({units}, name='check_cell', dtype='float64') made a layer named {named.name!r} "
                          f"with dtype {named.dtype}: pass **kwargs on to keras.layers.Layer.__init__")
    config = named.get_config()
    clone = call(RNNCell.from_config, config)
    if clone.name != "check_cell" or clone.dtype != "float64":
        missing = [key for key in ("name", "dtype") if key not in config]
        raise CheckFailed(f"RNNCell.from_config(cell.get_config()) should give back the same layer, named 'check_cell' "
                          f"with dtype float64, got {clone.name!r} with dtype {clone.dtype}"
                          f"{' (get_config() has no ' + ' and no '.join(map(repr, missing)) + ')' if missing else ''}: "
                          "start get_config from super().get_config() (the base layer's name, dtype, ...) and add "
                          "units")
    cell.build((n, d))   # fresh weights: glorot_uniform kernel, orthogonal recurrent_kernel, zero bias
    fresh = {w.name: np.asarray(w) for w in cell.weights}
    K, R, b = (fresh.get(name, np.zeros(0)) for name in ("kernel", "recurrent_kernel", "bias"))
    if K.shape != (d, units) or not np.any(K) or np.max(np.abs(K)) > np.sqrt(6 / (d + units)):
        raise CheckFailed(f"kernel should be ({d}, {units}) with glorot_uniform values in "
                          f"±{np.sqrt(6 / (d + units)):.3f}")
    if R.shape != (units, units) or not np.allclose(R @ R.T, np.eye(units), atol=1e-5):
        raise CheckFailed(f"recurrent_kernel should be ({units}, {units}) and orthogonal (initializer='orthogonal')")
    if b.shape != (units,) or np.any(b):
        raise CheckFailed(f"bias should be ({units},) and start at zeros")
    # The initial distributions, on a cell large enough for them to show (768 kernel values, as the hidden tests).
    wide = call(RNNCell, 32)
    wide.build((None, 24))
    fresh = {w.name: np.asarray(w) for w in wide.weights}
    K, R = fresh["kernel"], fresh["recurrent_kernel"]
    limit = np.sqrt(6 / (24 + 32))   # glorot_uniform: uniform in ±limit, standard deviation limit / sqrt(3)
    top, spread = np.abs(K).max(), K.std() / (limit / np.sqrt(3))
    if top > limit * (1 + 1e-5) or top < 0.9 * limit or not 0.85 < spread < 1.15:
        normal = top > limit * (1 + 1e-5) and 0.85 < spread < 1.15
        raise CheckFailed(f"RNNCell(32)'s initial kernel on 24 features should be glorot_uniform, as in "
                          f"SimpleRNNCell: uniform in ±{limit:.3f} with standard deviation {limit / np.sqrt(3):.3f}; "
                          f"got values up to {top:.3f} with standard deviation {K.std():.3f}"
                          + (" (the right spread, but beyond the limit: a normal initialiser such as glorot_normal; "
                             "use initializer='glorot_uniform')" if normal else ""))
    if np.linalg.norm(R - np.eye(32)) < 1:
        raise CheckFailed("RNNCell(32)'s initial recurrent_kernel is the identity: it should be a random orthogonal "
                          "matrix (initializer='orthogonal'), as in SimpleRNNCell")

    # One step, calling the cell directly as keras.layers.RNN will: states is a list (or a tuple) holding h_prev. The
    # weights are random (a bias still at zero would hide a missing one).
    K, R, b = (0.5 * check_rng.standard_normal(s) for s in ((d, units), (units, units), (units,)))
    weights_by_name = {w.name: w for w in cell.weights}
    for name, value in (("kernel", K), ("recurrent_kernel", R), ("bias", b)):
        weights_by_name[name].assign(value.astype(np.float32))
    x_t, h_prev = check_rng.standard_normal((n, d)), check_rng.standard_normal((n, units))
    expected_step = np.tanh(x_t @ K + h_prev @ R + b)
    causes = cell_step_causes(x_t, h_prev, K, R, b)   # the common mistakes: no bias, a transposed weight, ...
    h_prev_t = tf.constant(h_prev, tf.float32)
    for states, shown in (([h_prev_t], "[h_prev]"), ((h_prev_t,), "(h_prev,)")):
        step = on_its_own(cell, tf.constant(x_t, tf.float32), states)   # no Keras recurrent cell may run in it
        if not isinstance(step, (tuple, list)) or len(step) != 2:
            kind = f"a tensor of shape {tuple(step.shape)}" if tf.is_tensor(step) else f"a {type(step).__name__}"
            raise CheckFailed(f"cell(inputs, {shown}) returned {kind}: call must return two things, the output and "
                              "the list of new states, (h, [h]); keras.layers.RNN unpacks them")
        output, new_states = step
        if tuple(np.shape(output)) == (1, n, units):
            raise CheckFailed(f"cell(inputs, {shown}) gives an output of shape {(1, n, units)} instead of "
                              f"{(n, units)}: states is a list (or tuple) holding h_prev, so use states[0], not states "
                              "itself")
        check_close(output, expected_step, f"the output of cell(inputs, {shown})", causes=causes)
        if not isinstance(new_states, (list, tuple)) or len(new_states) != 1:
            raise CheckFailed("call must return (h, [h]): its second value is the list of new states, holding h")
        check_close(new_states[0], expected_step, f"the new state of cell(inputs, {shown}) (it must be [h])",
                    causes=causes)

    for dtype in ("float32", "float64"):
        x = check_rng.standard_normal((n, T, d)).astype(dtype)
        ours = keras.layers.RNN(call(RNNCell, units, dtype=dtype), return_sequences=True, dtype=dtype)
        reference = keras.layers.SimpleRNN(units, return_sequences=True, dtype=dtype)
        on_its_own(ours, x), reference(x)   # builds both layers
        expected_weights = {"kernel": (d, units), "recurrent_kernel": (units, units), "bias": (units,)}
        got_weights = {w.name: tuple(w.shape) for w in ours.cell.weights}
        if got_weights != expected_weights:
            raise CheckFailed(f"RNNCell's weights should be {expected_weights} (name: shape), got {got_weights}")
        weights = [check_rng.standard_normal(shape).astype(dtype) for shape in expected_weights.values()]
        ours.cell.set_weights(weights)
        reference.cell.set_weights(weights)
        if any(w.dtype != dtype for w in ours.cell.weights):
            made = [w.dtype for w in ours.cell.weights]
            raise CheckFailed(f"RNNCell(units, dtype='{dtype}') made weights of dtype {made}: "
                              "pass **kwargs on to keras.layers.Layer.__init__")
        got = on_its_own(ours, x)
        check_dtype(got, dtype, "RNN(RNNCell) output")
        tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
        check_close(got, reference(x), f"RNN(RNNCell) output vs SimpleRNN ({dtype})", **tolerance)

# %% [markdown]
# ## Part 7 — Gradients through many steps
#
# How much does the last state $\mathbf{H}_T$ depend on an earlier state $\mathbf{H}_t$? The chain rule through the
# steps in between gives a product of one Jacobian per step,
#
# $$\frac{\partial \mathbf{H}_T}{\partial \mathbf{H}_t}
# = \prod_{k=t+1}^{T} \frac{\partial \mathbf{H}_k}{\partial \mathbf{H}_{k-1}},$$
#
# where each factor multiplies by $\mathbf{W}_{hh}$ and by $\tanh'(\mathbf{A}_k) = 1 - \mathbf{H}_k^2$.
#
# The cell below measures the size (Frobenius norm) of this Jacobian for every $t$ in a sequence of 40 steps,
# using your `rnn_cell_forward` and `tf.GradientTape`. The recurrent weights are a random orthogonal matrix times a
# *scale*, so that multiplying by $\mathbf{W}_{hh}$ changes the length of any vector by exactly that scale; the
# inputs are small, so the states stay near 0 for a while, where $\tanh' \approx 1$. The dashed lines show
# $\sqrt{h}\cdot\text{scale}^{T-t}$, what the norm would be if $\tanh$ were the identity.
#
# Do not be surprised that the red curve (scale 1.3) is flat over its first distances, about 1 to 8: the states
# grow with every step, and over the last steps they are large (entries up to 0.7 to 0.9 in magnitude), where
# $\tanh' = 1 - \mathbf{H}_k^2$ is well below 1. Those last factors stretch vectors little or not at all; further
# back, where the states were still small, every factor stretches them by about 1.3 and the curve climbs
# parallel to its dashed line.

# %% nbgrader={"grade": false, "grade_id": "demo_gradient_norms", "locked": true, "schema_version": 3, "solution": false, "task": false}
def jacobian_norms(scale, T=40, h=16, d=4, seed=0):
    """Frobenius norms of dH_T/dH_t for t = 0..T-1, with W_hh = scale * (a random orthogonal matrix)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((h, h)))
    W_xh, W_hh, b_h = tf.constant(0.1 * rng.standard_normal((d, h))), tf.constant(scale * Q), tf.zeros(h, tf.float64)
    # h identical copies of one sequence: with upstream gradient I on H_T, copy i receives row i of dH_T/dH_t.
    X = tf.constant(np.repeat(0.001 * rng.standard_normal((1, T, d)), h, axis=0))
    H_t, states = tf.zeros((h, h), tf.float64), []
    with tf.GradientTape() as tape:
        for t in range(T):
            tape.watch(H_t)
            states.append(H_t)   # states[t] is H_t
            H_t = rnn_cell_forward(X[:, t], H_t, W_xh, W_hh, b_h)
    grads = tape.gradient(H_t, states, output_gradients=tf.eye(h, dtype=tf.float64))
    return np.array([float(tf.norm(g)) for g in grads])


if ready("rnn_cell_forward"):
    T, h = 40, 16
    distance = T - np.arange(T)   # T - t for t = 0..T-1
    fig, ax = plt.subplots(figsize=(6, 4))
    for scale, color in ((0.7, "tab:blue"), (1.3, "tab:red")):
        ax.semilogy(distance, jacobian_norms(scale, T, h), "o-", color=color, markersize=3, label=f"scale {scale}")
        ax.semilogy(distance, np.sqrt(h) * scale ** distance.astype(float), "--", color=color, alpha=0.5)
    ax.set_xlabel("distance T − t (steps)")
    ax.set_ylabel("‖∂H_T / ∂H_t‖")
    ax.set_title("Gradients through time vanish or explode geometrically")
    ax.legend()
    plt.show()

# %% [markdown]
# **Written answer (2 points).** Using the plot and the product formula above, explain in a few sentences why the
# norm of $\partial \mathbf{H}_T / \partial \mathbf{H}_t$ shrinks for the small scale and grows for the large one,
# and what this means for training an RNN on a task where the output at step $T$ depends on an input many steps
# earlier.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_vanishing_gradients", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# The Jacobian is a product of $T - t$ factors, one per step, and each factor multiplies by $\mathbf{W}_{hh}$
# (which here stretches every vector by exactly the scale) and by $\tanh' = 1 - \mathbf{H}_k^2 \le 1$. Its norm
# therefore behaves like $(\text{scale}\cdot\gamma)^{T-t}$, with $\gamma \le 1$ the typical $\tanh$ slope: a
# geometric sequence in the distance, a straight line on the log plot. With scale 0.7 every factor shrinks
# vectors, so the norm decays exponentially ($0.7^{40} \approx 10^{-6}$); with scale 1.3 every factor stretches
# them while the states are small, so it grows exponentially. Growth of the states is bounded, though: with scale
# 1.3 they grow until they approach $\pm 1$ in the last steps, where $\tanh$ saturates and its slope becomes small.
# Those last factors shrink vectors, which is why the red curve is flat at short distances and then climbs parallel
# to its dashed line, below it.
#
# For learning, the gradient of a loss at step $T$ with respect to the weights is a sum of terms, one per earlier
# step, each carrying such a product. When the products vanish, the terms from distant steps are negligible next
# to the nearby ones: the weights receive almost no signal about how an input long ago affected the output, so
# long-range dependencies are learned very slowly or not at all. When they explode, the updates become huge and
# erratic and training diverges unless the gradients are clipped. Keeping every factor close to norm 1 is hard
# with a plain $\tanh$ cell, which motivates gradient clipping, truncated BPTT, careful initialisation and gated
# cells (LSTM, GRU) whose additive memory path lets gradients flow over many steps.
# ### END SOLUTION

# %% [markdown]
# ## Wrap-up
#
# You have written an RNN's forward and backward passes by hand, checked them against automatic differentiation
# and finite differences, turned the cell into a Keras layer that matches `SimpleRNN`, and seen why plain RNNs
# struggle with long-range dependencies. Before submitting, restart the kernel and run every cell from the top:
# every public check should print its ✓ line.
