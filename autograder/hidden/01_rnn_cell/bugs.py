"""Realistic student bugs for assignment 1 (RNN cell from scratch), as substitutions in solutions/rnn_cell.py.

Each bug must cost points on its own cell only: ``rnn_forward`` is graded with the reference ``rnn_cell_forward``,
``rnn_backward`` with the reference ``rnn_cell_backward`` and ``RNNCell`` with the reference ``rnn_cell_forward``
(``item(..., uses=...)``). Several bugs only show with non-square shapes (n, d, h, T all different), a
non-symmetric ``W_hh``, a non-zero bias or H0, float64 inputs checked to ~1e-9, float32 inputs, a cache the
forward pass did not produce, autodiff observed at run time, or a check of ``RNNCell``'s initial weights and
config; the hidden suite uses all of them. Every sentence of every docstring has at least one bug here.
"""
from autograder.simulation.catalogue import Bug, with_hints

# The body of rnn_backward, replaced whole by the autodiff shortcut below.
BPTT_BODY = """    T = X.shape[1]
    dW_xh = tf.zeros_like(W_xh)
    dW_hh = tf.zeros_like(W_hh)
    db_h = tf.zeros_like(W_hh[0])  # (h,) in the weights' dtype
    dXs = []
    dH_next = tf.zeros_like(H0)  # nothing flows back from beyond the last step
    for t in reversed(range(T)):
        dH_t = dH[:, t] + dH_next
        H_prev = H[:, t - 1] if t > 0 else H0
        dX_t, dH_next, dW_xh_t, dW_hh_t, db_h_t = rnn_cell_backward(dH_t, X[:, t], H_prev, H[:, t], W_xh, W_hh)
        dXs.append(dX_t)
        dW_xh = dW_xh + dW_xh_t
        dW_hh = dW_hh + dW_hh_t
        db_h = db_h + db_h_t
    dX = tf.stack(dXs[::-1], axis=1)  # collected from the last step to the first
    return dX, dH_next, dW_xh, dW_hh, db_h
"""
# A tape through the forward pass, rebuilt from the cache: b_h is not an argument, so each step's bias is
# recovered as atanh(H_t) - X_t W_xh - H_{t-1} W_hh. Its values are right (the cache checks pass); only the
# run-time observation of autodiff catches it.
BPTT_TAPE = """    T = X.shape[1]
    biases = [tf.atanh(H[:, t]) - X[:, t] @ W_xh - (H[:, t - 1] if t > 0 else H0) @ W_hh for t in range(T)]
    with tf.GradientTape() as tape:
        tape.watch([X, H0, W_xh, W_hh] + biases)
        H_t, states = H0, []
        for t in range(T):
            H_t = tf.tanh(X[:, t] @ W_xh + H_t @ W_hh + biases[t])
            states.append(H_t)
        loss = tf.reduce_sum(tf.stack(states, axis=1) * dH)
    dX, dH0, dW_xh, dW_hh, *d_biases = tape.gradient(loss, [X, H0, W_xh, W_hh] + biases)
    return dX, dH0, dW_xh, dW_hh, tf.reduce_sum(tf.add_n(d_biases), axis=0)
"""

# The step's backward pass, as the reference writes it: the autodiff bugs below replace it.
CELL_BACKWARD_BODY = """    dA = dH_t * (1 - tf.square(H_t))  # back through tanh, using the cached output
    dX_t = dA @ tf.transpose(W_xh)
    dH_prev = dA @ tf.transpose(W_hh)
    dW_xh = tf.transpose(X_t) @ dA
    dW_hh = tf.transpose(H_prev) @ dA
    db_h = tf.reduce_sum(dA, axis=0)  # b_h was broadcast over the batch
"""
CELL_TAPE = """    b = tf.atanh(H_t) - X_t @ W_xh - H_prev @ W_hh  # the bias, recovered from the cache
    with tf.GradientTape() as tape:
        tape.watch([X_t, H_prev, W_xh, W_hh, b])
        loss = tf.reduce_sum(tf.tanh(X_t @ W_xh + H_prev @ W_hh + b) * dH_t)
    dX_t, dH_prev, dW_xh, dW_hh, db = tape.gradient(loss, [X_t, H_prev, W_xh, W_hh, b])
    db_h = tf.reduce_sum(db, axis=0)
"""
# One step of BPTT by a tape, inside an otherwise hand-written loop over the steps.
BPTT_STEP_CALL = ("        dX_t, dH_next, dW_xh_t, dW_hh_t, db_h_t = rnn_cell_backward(dH_t, X[:, t], H_prev, H[:, t], "
                  "W_xh, W_hh)\n")
BPTT_STEP_TAPE = """        X_t = X[:, t]
        b_t = tf.atanh(H[:, t]) - X_t @ W_xh - H_prev @ W_hh
        with tf.GradientTape() as tape:
            tape.watch([X_t, H_prev, W_xh, W_hh, b_t])
            H_t = tf.tanh(X_t @ W_xh + H_prev @ W_hh + b_t)
        dX_t, dH_next, dW_xh_t, dW_hh_t, db = tape.gradient(H_t, [X_t, H_prev, W_xh, W_hh, b_t],
                                                            output_gradients=dH_t)
        db_h_t = tf.reduce_sum(db, axis=0)
"""

BUGS = [
    # rnn_cell_forward (rnn_forward calls it)
    Bug("fwd_missing_bias", "rnn_cell_forward",
        "H_prev @ W_hh + b_h", "H_prev @ W_hh", "Leaves out the bias b_h from the pre-activation."),
    Bug("fwd_relu", "rnn_cell_forward",
        "tf.tanh(A)", "tf.nn.relu(A)", "Uses ReLU instead of tanh as the activation."),
    Bug("fwd_sigmoid", "rnn_cell_forward",
        "tf.tanh(A)", "tf.sigmoid(A)", "Uses the logistic sigmoid instead of tanh as the activation."),
    Bug("fwd_transposed_W_hh", "rnn_cell_forward",
        "H_prev @ W_hh", "H_prev @ tf.transpose(W_hh)", "Multiplies the previous state by W_hh transposed (column-vector habit); only symmetric W_hh hides it."),
    Bug("fwd_no_recurrence", "rnn_cell_forward",
        "X_t @ W_xh + H_prev @ W_hh + b_h", "X_t @ W_xh + b_h", "Ignores H_prev, so the cell has no memory of earlier steps."),

    # rnn_forward
    Bug("seq_off_by_one", "rnn_forward",
        "        H_t = rnn_cell_forward(X[:, t], H_t, W_xh, W_hh, b_h)\n        states.append(H_t)",
        "        states.append(H_t)\n        H_t = rnn_cell_forward(X[:, t], H_t, W_xh, W_hh, b_h)",
        "Stores the state before updating it, returning H_0..H_{T-1} instead of H_1..H_T."),
    Bug("seq_state_not_carried", "rnn_forward",
        "rnn_cell_forward(X[:, t], H_t,", "rnn_cell_forward(X[:, t], H0,", "Starts every step from H0 instead of the previous step's state."),
    Bug("seq_time_major", "rnn_forward",
        "tf.stack(states, axis=1)", "tf.stack(states)", "Stacks the states along axis 0, returning (T, n, h) instead of batch-major (n, T, h)."),
    Bug("seq_cast_float32", "rnn_forward",
        "return tf.stack(states, axis=1)", "return tf.cast(tf.stack(states, axis=1), tf.float32)", "Casts the result to float32, so float64 inputs come back as float32."),

    # output_layer
    Bug("out_2d_only", "output_layer",
        "H @ W_hq", "tf.tensordot(H, W_hq, axes=[[1], [0]])", "Contracts axis 1 of H, which is the hidden axis only for 2-D input and the time axis for (n, T, h)."),
    Bug("out_missing_bias", "output_layer",
        "H @ W_hq + b_q", "H @ W_hq", "Leaves out the output bias b_q."),

    # rnn_cell_backward (rnn_backward calls it)
    Bug("bwd_no_tanh_derivative", "rnn_cell_backward",
        "dH_t * (1 - tf.square(H_t))", "dH_t", "Skips the derivative of tanh, treating the activation as the identity."),
    Bug("bwd_tanh_of_cache", "rnn_cell_backward",
        "tf.square(H_t)", "tf.square(tf.tanh(H_t))", "Computes 1 - tanh(H_t)^2, applying tanh a second time to the cache that is already tanh(A)."),
    Bug("bwd_sigmoid_derivative", "rnn_cell_backward",
        "(1 - tf.square(H_t))", "H_t * (1 - H_t)", "Uses the sigmoid's derivative H(1 - H) instead of tanh's 1 - H^2."),
    Bug("bwd_W_hh_not_transposed", "rnn_cell_backward",
        "dA @ tf.transpose(W_hh)", "dA @ W_hh", "Sends dA W_hh back to H_prev instead of dA W_hh^T (shapes fit because W_hh is square)."),
    Bug("bwd_dW_hh_transposed", "rnn_cell_backward",
        "tf.transpose(H_prev) @ dA", "tf.transpose(dA) @ H_prev", "Computes dA^T H_prev, the transpose of dW_hh (shapes fit because W_hh is square)."),
    Bug("bwd_db_wrong_axis", "rnn_cell_backward",
        "tf.reduce_sum(dA, axis=0)", "tf.reduce_sum(dA, axis=1)", "Sums dA over the hidden units instead of the batch, giving db_h of shape (n,)."),
    Bug("bwd_db_mean", "rnn_cell_backward",
        "tf.reduce_sum(dA, axis=0)", "tf.reduce_mean(dA, axis=0)", "Averages dA over the batch instead of summing, though b_h was added to every row."),

    # rnn_backward
    Bug("bptt_overwrite", "rnn_backward",
        "dW_xh = dW_xh + dW_xh_t\n        dW_hh = dW_hh + dW_hh_t\n        db_h = db_h + db_h_t",
        "dW_xh = dW_xh_t\n        dW_hh = dW_hh_t\n        db_h = db_h_t", "Overwrites the weight gradients at each step instead of summing them, keeping only the first step's."),
    Bug("bptt_last_step_only", "rnn_backward",
        "    dH_next = tf.zeros_like(H0)  # nothing flows back from beyond the last step\n"
        "    for t in reversed(range(T)):\n        dH_t = dH[:, t] + dH_next",
        "    dH_next = dH[:, -1]\n    for t in reversed(range(T)):\n        dH_t = dH_next", "Uses only the last step's upstream gradient, as if the loss depended on H_T alone."),
    Bug("bptt_zero_gradients", "rnn_backward",
        "dH_t = dH[:, t] + dH_next", "dH_t = dH_next", "Never adds the per-step upstream dH[:, t], so only zeros flow back and every gradient is zero."),
    Bug("bptt_h_prev_wraps", "rnn_backward",
        "H[:, t - 1] if t > 0 else H0", "H[:, t - 1]", "Takes H[:, -1] (the last state) as the first step's H_prev instead of H0."),
    Bug("bptt_dX_reversed", "rnn_backward",
        "tf.stack(dXs[::-1], axis=1)", "tf.stack(dXs, axis=1)", "Returns dX in reverse time order, as collected by the backward loop."),
    Bug("bptt_dH0_wrong", "rnn_backward",
        "return dX, dH_next,", "return dX, dH_t,", "Returns the gradient on H_1 as dH0 instead of what flows back out of the first step."),
    Bug("bptt_zeros_float32", "rnn_backward",
        "dH_next = tf.zeros_like(H0)", "dH_next = tf.zeros(H0.shape)", "Creates the initial gradient with tf.zeros, which defaults to float32, so float64 inputs fail."),

    # RNNCell
    Bug("cell_transposed_recurrent", "RNNCell",
        "tf.matmul(h_prev, self.recurrent_kernel)", "tf.matmul(h_prev, tf.transpose(self.recurrent_kernel))",
        "Multiplies the previous state by the transposed recurrent_kernel, unlike SimpleRNNCell."),
    Bug("cell_state_not_updated", "RNNCell",
        "return h, [h]", "return h, states", "Returns the incoming states instead of [h], so the state never advances."),
    Bug("cell_missing_bias", "RNNCell",
        " + self.bias", "", "Leaves out the bias in call (invisible while the bias is still at its zero initial value)."),
    Bug("cell_drops_kwargs", "RNNCell",
        "super().__init__(**kwargs)", "super().__init__()", "Does not pass **kwargs to Layer, so dtype='float64' (and name) are silently ignored."),
    Bug("cell_config_without_units", "RNNCell",
        'return {**super().get_config(), "units": self.units}', "return super().get_config()", "Leaves units out of get_config, so the cell cannot be re-created with from_config."),
    Bug("cell_recurrent_glorot", "RNNCell",
        'initializer="orthogonal"', 'initializer="glorot_uniform"', "Initialises recurrent_kernel with glorot_uniform instead of orthogonal, unlike SimpleRNNCell."),
    Bug("cell_kernel_shape_swapped", "RNNCell",
        "shape=(d, self.units)", "shape=(self.units, d)", "Creates the kernel as (units, d), the column-vector layout, so inputs @ kernel no longer fits."),

    # ---- round 2: one bug per contract sentence not yet covered
    # rnn_cell_forward
    Bug("fwd_float32_detour", "rnn_cell_forward",
        "return tf.tanh(A)", "return tf.cast(tf.tanh(tf.cast(A, tf.float32)), A.dtype)",
        "Computes tanh in float32 and casts back: the dtype looks right but float64 inputs lose 9 digits."),
    Bug("fwd_bias_outside_tanh", "rnn_cell_forward",
        "A = X_t @ W_xh + H_prev @ W_hh + b_h", "A = X_t @ W_xh + H_prev @ W_hh",
        "Adds the bias after the activation, tanh(X W_xh + H W_hh) + b_h."),
    Bug("fwd_cast_float64", "rnn_cell_forward",
        "return tf.tanh(A)", "return tf.cast(tf.tanh(A), tf.float64)",
        "Casts the result to float64, so float32 inputs come back as float64."),

    # rnn_forward
    Bug("seq_reversed_time", "rnn_forward",
        "for t in range(X.shape[1]):", "for t in reversed(range(X.shape[1])):",
        "Runs the steps from the last input to the first."),
    Bug("seq_T_from_batch", "rnn_forward",
        "for t in range(X.shape[1]):", "for t in range(X.shape[0]):",
        "Counts the steps along axis 0 (the batch) instead of axis 1 (time)."),
    Bug("seq_includes_H0", "rnn_forward",
        "    states = []\n", "    states = [H0]\n",
        "Returns H_0..H_T, T + 1 states, instead of H_1..H_T."),
    Bug("seq_zero_initial_state", "rnn_forward",
        "    H_t = H0\n", "    H_t = tf.zeros_like(H0)\n",
        "Starts from a zero state instead of the given H0."),

    # output_layer
    Bug("out_cast_float32", "output_layer",
        "return H @ W_hq + b_q", "return tf.cast(H @ W_hq + b_q, tf.float32)",
        "Casts the output to float32, so float64 hidden states come back as float32."),
    Bug("out_last_step_only", "output_layer",
        "    return H @ W_hq + b_q", "    if len(H.shape) == 3:\n        H = H[:, -1]\n    return H @ W_hq + b_q",
        "Reads out only the last step of an (n, T, h) sequence, returning (n, q) instead of (n, T, q)."),
    Bug("out_flattened", "output_layer",
        "return H @ W_hq + b_q", "return tf.reshape(H, (-1, H.shape[-1])) @ W_hq + b_q",
        "Flattens (n, T, h) to (n T, h) for the product and never restores the leading axes."),
    Bug("out_bias_through_weights", "output_layer",
        "return H @ W_hq + b_q", "return (H + tf.reduce_mean(b_q)) @ W_hq",
        "Adds a scalar bias to the hidden states before the product instead of b_q after it."),

    # rnn_cell_backward
    Bug("bwd_db_float64", "rnn_cell_backward",
        "tf.reduce_sum(dA, axis=0)", "tf.reduce_sum(tf.cast(dA, tf.float64), axis=0)",
        "Sums db_h in float64 'for precision', so float32 inputs get a float64 bias gradient."),
    Bug("bwd_gradient_tape", "rnn_cell_backward",
        "    dA = dH_t * (1 - tf.square(H_t))  # back through tanh, using the cached output\n"
        "    dX_t = dA @ tf.transpose(W_xh)\n    dH_prev = dA @ tf.transpose(W_hh)\n"
        "    dW_xh = tf.transpose(X_t) @ dA\n    dW_hh = tf.transpose(H_prev) @ dA\n"
        "    db_h = tf.reduce_sum(dA, axis=0)  # b_h was broadcast over the batch\n",
        "    b = tf.atanh(H_t) - X_t @ W_xh - H_prev @ W_hh  # the bias, recovered from the cache\n"
        "    with tf.GradientTape() as tape:\n        tape.watch([X_t, H_prev, W_xh, W_hh, b])\n"
        "        loss = tf.reduce_sum(tf.tanh(X_t @ W_xh + H_prev @ W_hh + b) * dH_t)\n"
        "    dX_t, dH_prev, dW_xh, dW_hh, db = tape.gradient(loss, [X_t, H_prev, W_xh, W_hh, b])\n"
        "    db_h = tf.reduce_sum(db, axis=0)\n",
        "Lets tf.GradientTape differentiate a forward pass rebuilt from the cache: right values, not by hand."),

    # rnn_backward
    Bug("bptt_no_carry", "rnn_backward",
        "dH_t = dH[:, t] + dH_next", "dH_t = dH[:, t]",
        "Forgets the gradient carried back from step t + 1: each step sees only its own upstream dH."),
    Bug("bptt_db_float64", "rnn_backward",
        "db_h = tf.zeros_like(W_hh[0])", "db_h = tf.zeros_like(W_hh[0], dtype=tf.float64)",
        "Starts the bias gradient in float64, so float32 inputs fail or get a float64 db_h."),
    Bug("bptt_gradient_tape", "rnn_backward", BPTT_BODY, BPTT_TAPE,
        "Differentiates a forward pass rebuilt from the cache with tf.GradientTape instead of BPTT by hand."),

    # RNNCell
    Bug("cell_kernel_glorot_normal", "RNNCell",
        'shape=(d, self.units), initializer="glorot_uniform"', 'shape=(d, self.units), initializer="glorot_normal"',
        "Initialises the kernel with glorot_normal instead of glorot_uniform, unlike SimpleRNNCell."),
    Bug("cell_config_units_only", "RNNCell",
        'return {**super().get_config(), "units": self.units}', 'return {"units": self.units}',
        "Returns only units from get_config, so from_config loses the name and dtype of the cell."),
    Bug("cell_wraps_keras_cell", "RNNCell",
        "        h_prev = states[0]\n"
        "        h = tf.tanh(tf.matmul(inputs, self.kernel) + tf.matmul(h_prev, self.recurrent_kernel) + self.bias)\n"
        "        return h, [h]",
        "        inner = keras.layers.SimpleRNNCell(self.units, dtype=self.dtype_policy)\n"
        "        inner.kernel, inner.recurrent_kernel, inner.bias = self.kernel, self.recurrent_kernel, self.bias\n"
        "        inner.built = True\n"
        "        return inner.call(inputs, states)",
        "Delegates the step to a keras.layers.SimpleRNNCell holding its weights instead of computing it."),
    Bug("bwd_recomputes_without_bias", "rnn_cell_backward",
        "dH_t * (1 - tf.square(H_t))", "dH_t * (1 - tf.square(tf.tanh(X_t @ W_xh + H_prev @ W_hh)))",
        "Recomputes tanh(A) instead of using the cache H_t, and without b_h (which is not an argument)."),
    Bug("cell_bias_ones", "RNNCell",
        'initializer="zeros"', 'initializer="ones"',
        "Initialises the bias with ones instead of zeros, unlike SimpleRNNCell."),

    # ---- round 3: automatic differentiation in other forms (each must lose the whole item, not one test)
    Bug("bwd_tape_tf_function", "rnn_cell_backward",
        CELL_BACKWARD_BODY, CELL_TAPE,
        "Wraps a tf.GradientTape derivation in @tf.function, so the tape runs only while a new input signature "
        "is traced.", more=(("def rnn_cell_backward(", "@tf.function\ndef rnn_cell_backward("),)),
    Bug("bptt_tape_per_step", "rnn_backward",
        BPTT_STEP_CALL, BPTT_STEP_TAPE,
        "Walks the steps backwards by hand but lets tf.GradientTape differentiate each step instead of calling "
        "rnn_cell_backward."),

    # ---- round 4: a type the docstring promises, and the direction of the way back
    Bug("fwd_numpy_step", "rnn_cell_forward",
        "A = X_t @ W_xh + H_prev @ W_hh + b_h  # pre-activation, (n, h)\n    return tf.tanh(A)",
        "A = np.matmul(X_t, W_xh) + np.matmul(H_prev, W_hh) + np.asarray(b_h)\n    return np.tanh(A)",
        "Computes the step with NumPy functions, so it returns a NumPy array through which no gradient flows (the "
        "values are right)."),
    Bug("cell_state_returned_bare", "RNNCell",
        "return h, [h]", "return h, h",
        "Returns the new state as a bare tensor, (h, h), instead of the list of states (h, [h]) that call promises "
        "(keras.layers.RNN happens to accept it)."),
    Bug("bptt_first_to_last", "rnn_backward",
        "for t in reversed(range(T)):", "for t in range(T):",
        "Runs the backward loop from the first step to the last, so each step meets a gradient carried back from a "
        "step it has not reached yet."),
]

# ---- hints for students (autograder/diagnosis.py): one per cause, shared by the bugs that have it, each completing
# "This pattern usually comes from ...". Several bugs per hint let a signature seen with one of them speak for a cause.
DTYPE_KEPT = ("a result that does not keep the inputs' dtype: a tf.cast, or a tensor made by tf.zeros, tf.ones or "
              "tf.constant without dtype= (they make float32); use tf.zeros_like(x) or dtype=x.dtype")
FLOAT32_DETOUR = ("a step computed in float32 although the inputs are float64 (a cast there and back, or a float32 "
                  "constant): the dtype looks right, but nine digits are lost")
ACTIVATION = "the activation: the cell applies tanh to the pre-activation (not ReLU, not the sigmoid)"
BIAS = "the bias: b_h is added inside the tanh, to every row of X_t W_xh + H_prev W_hh"
RECURRENT_ORDER = ("the order of the product with the recurrent weights: with row vectors the previous state "
                   "multiplies them from the left, H_prev @ W_hh, untransposed")
STATE_CARRIED = ("a state that is not carried from step to step: each step starts from the state the step before it "
                 "produced (the first step from the given H0)")
RECURRENCE = ("the loop over the steps: in order t = 0..T-1, step t reads X[:, t] and starts from the state the step "
              "before produced, the first step from the given H0")
STATES_RETURNED = ("which states H holds and how they are stacked: one per step t = 0..T-1, the state after each "
                   "step (not the initial H0), along axis 1 as (n, T, h), with T = X.shape[1]")
OUTPUT_AXES = ("the leading axes of H: O = H @ W_hq + b_q applies the same weights to the last axis, for (n, h) and "
               "(n, T, h) alike (@ broadcasts over the leading axes)")
OUTPUT_BIAS = "the output bias: O = H W_hq + b_q adds b_q after the product"
TANH_PRIME = ("the derivative of tanh: dA = dH_t * (1 - H_t**2), with the cache H_t as given (it is already "
              "tanh(A): neither apply tanh again nor recompute it)")
BACKWARD_PRODUCTS = ("a product of the backward pass with a factor untransposed or swapped: dH_prev = dA W_hh^T and "
                     "dW_hh = H_prev^T dA (square shapes fit either way)")
BIAS_GRADIENT = "the bias gradient: b_h was added to every row, so db_h is the sum of dA over the batch (axis 0)"
AUTODIFF = ("automatic differentiation (tf.GradientTape, tf.gradients) in the backward pass: the item is the "
            "derivation by hand, and earns nothing while a tape computes the gradients")
GRADIENT_FLOW = ("the gradient's way back: at each step add its own dH[:, t] to the dH_prev carried back from step "
                 "t + 1 (zeros for the last step) and pass the sum to the step's backward pass")
SHARED_WEIGHTS = "the shared weights: W_xh, W_hh and b_h serve every step, so their gradients are sums over the steps"
FIRST_STATE = ("the state a step started from: step t starts from H[:, t - 1], the first step from H0 (in Python "
               "H[:, -1] is the last state)")
BACKWARD_RETURNS = ("what rnn_backward returns: dX in the time order of X (the loop meets the steps from last to "
                    "first), and dH0 as what flows back out of the first step")
INITIAL_WEIGHTS = "the initial weights: as in SimpleRNNCell, kernel glorot_uniform, recurrent_kernel orthogonal, bias zeros"
CONFIG = ("the layer's arguments and config: pass **kwargs on to keras.layers.Layer.__init__ and build get_config "
          "from super().get_config() plus units")

STATES_OF_CALL = "the new states returned by call: (h, [h]), a list holding the new h, so that the state advances"
LEFT_TENSORFLOW = ("a step computed with NumPy (np.tanh, np.dot, .numpy()): it returns a NumPy array, through which no "
                   "gradient flows; use tf.tanh and @")
BACKWARD_ORDER = ("the direction of the backward loop: from the last step to the first (reversed(range(T))), so "
                  "that the gradient carried back from step t + 1 is there when step t needs it")
CELL_STEP = ("the step computed in call: h = tanh(inputs @ kernel + h_prev @ recurrent_kernel + bias), every term "
             "present and no weight transposed, as SimpleRNNCell computes it")

HINTS = {
    "fwd_cast_float64": DTYPE_KEPT, "seq_cast_float32": DTYPE_KEPT, "out_cast_float32": DTYPE_KEPT,
    "bwd_db_float64": DTYPE_KEPT, "bptt_db_float64": DTYPE_KEPT, "bptt_zeros_float32": DTYPE_KEPT,
    "fwd_float32_detour": FLOAT32_DETOUR,
    "fwd_relu": ACTIVATION, "fwd_sigmoid": ACTIVATION,
    "fwd_missing_bias": BIAS, "fwd_bias_outside_tanh": BIAS,
    "fwd_transposed_W_hh": RECURRENT_ORDER, "cell_transposed_recurrent": CELL_STEP,
    "fwd_no_recurrence": STATE_CARRIED,
    "seq_state_not_carried": RECURRENCE, "seq_zero_initial_state": RECURRENCE, "seq_reversed_time": RECURRENCE,
    "cell_state_not_updated": STATES_OF_CALL, "cell_state_returned_bare": STATES_OF_CALL,
    "fwd_numpy_step": LEFT_TENSORFLOW, "bptt_first_to_last": BACKWARD_ORDER,
    "seq_off_by_one": STATES_RETURNED, "seq_includes_H0": STATES_RETURNED, "seq_time_major": STATES_RETURNED,
    "seq_T_from_batch": STATES_RETURNED,
    "out_2d_only": OUTPUT_AXES, "out_last_step_only": OUTPUT_AXES, "out_flattened": OUTPUT_AXES,
    "out_missing_bias": OUTPUT_BIAS, "out_bias_through_weights": OUTPUT_BIAS,
    "bwd_no_tanh_derivative": TANH_PRIME, "bwd_tanh_of_cache": TANH_PRIME, "bwd_sigmoid_derivative": TANH_PRIME,
    "bwd_recomputes_without_bias": TANH_PRIME,
    "bwd_W_hh_not_transposed": BACKWARD_PRODUCTS, "bwd_dW_hh_transposed": BACKWARD_PRODUCTS,
    "bwd_db_wrong_axis": BIAS_GRADIENT, "bwd_db_mean": BIAS_GRADIENT,
    "bwd_gradient_tape": AUTODIFF, "bwd_tape_tf_function": AUTODIFF, "bptt_gradient_tape": AUTODIFF,
    "bptt_tape_per_step": AUTODIFF,
    "bptt_last_step_only": GRADIENT_FLOW, "bptt_zero_gradients": GRADIENT_FLOW, "bptt_no_carry": GRADIENT_FLOW,
    "bptt_overwrite": SHARED_WEIGHTS,
    "bptt_h_prev_wraps": FIRST_STATE,
    "bptt_dX_reversed": BACKWARD_RETURNS, "bptt_dH0_wrong": BACKWARD_RETURNS,
    "cell_missing_bias": CELL_STEP,
    "cell_drops_kwargs": CONFIG, "cell_config_without_units": CONFIG, "cell_config_units_only": CONFIG,
    "cell_recurrent_glorot": INITIAL_WEIGHTS, "cell_kernel_glorot_normal": INITIAL_WEIGHTS, "cell_bias_ones": INITIAL_WEIGHTS,
    "cell_kernel_shape_swapped": "the kernel's shape: (d, units), so that inputs @ kernel fits with row vectors",
    "cell_wraps_keras_cell": "a Keras recurrent cell doing the step: RNNCell must compute it itself, with its own weights",
}
BUGS = with_hints(BUGS, HINTS)
