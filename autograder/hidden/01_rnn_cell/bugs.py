"""Realistic student bugs for assignment 1 (RNN cell from scratch), as substitutions in solutions/rnn_cell.py.

``breaks`` lists the broken item and every graded item whose reference body calls it: ``rnn_forward`` calls
``rnn_cell_forward`` and ``rnn_backward`` calls ``rnn_cell_backward``, so their bugs break both.
Several bugs only show with non-square shapes (n, d, h, T all different), a non-symmetric ``W_hh``, a non-zero
bias, float64 inputs, or a check of ``RNNCell``'s initial weights and config; the hidden suite must use them.
"""
from autograder.simulation.catalogue import Bug

FORWARD = {"rnn_cell_forward", "rnn_forward"}
BACKWARD = {"rnn_cell_backward", "rnn_backward"}

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
]
