"""Reference solution of assignment 1: a vanilla RNN cell from scratch.

Forward and backward passes in TensorFlow, row-vector convention (``X @ W``), batch-major ``(n, T, d)``. The
backward passes are derived by hand (no autodiff) and use the forward pass's hidden states as their cache.
Every function keeps its inputs' dtype and computes in it (float64 stays float64 throughout: gradients are
checked in float64 to ~1e-9). ``rnnkit build`` inlines these bodies into the notebook, so they use
only ``np``, ``tf``, ``keras`` and the other answer functions.
"""
import tensorflow as tf
import keras


def rnn_cell_forward(X_t, H_prev, W_xh, W_hh, b_h):
    """One step of a vanilla RNN: H_t = tanh(X_t W_xh + H_prev W_hh + b_h).

    Args:
        X_t: (n, d) inputs at step t.
        H_prev: (n, h) hidden state H_{t-1} of the previous step.
        W_xh: (d, h) input-to-hidden weights.
        W_hh: (h, h) hidden-to-hidden weights.
        b_h: (h,) hidden bias.

    Returns:
        H_t: (n, h) new hidden state, in the inputs' dtype (float32 or float64), computed in that dtype.
    """
    # rnnkit-canary: solution-only
    A = X_t @ W_xh + H_prev @ W_hh + b_h  # pre-activation, (n, h)
    return tf.tanh(A)


def rnn_forward(X, H0, W_xh, W_hh, b_h):
    """Runs the cell over a whole sequence: H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h) for t = 1..T (any T >= 1).

    In Python's counting, step t (t = 0..T-1) reads X[:, t], starts from H[:, t - 1] (H0 when t = 0) and produces
    H[:, t]: X[:, 0] is X_1 of the equation and H[:, 0] is H_1. Gradients flow from H back to every argument, so
    that tf.GradientTape can check rnn_backward against it (a Keras layer holding copies of the weights cuts them).

    Args:
        X: (n, T, d) input sequences; X[:, t] is the input of step t.
        H0: (n, h) initial hidden state H_0.
        W_xh: (d, h) input-to-hidden weights.
        W_hh: (h, h) hidden-to-hidden weights.
        b_h: (h,) hidden bias.

    Returns:
        H: (n, T, h) hidden states H_1..H_T (H_0 not included): H[:, t] is the state after step t. In the inputs'
        dtype.
    """
    H_t = H0
    states = []
    for t in range(X.shape[1]):
        H_t = rnn_cell_forward(X[:, t], H_t, W_xh, W_hh, b_h)
        states.append(H_t)
    return tf.stack(states, axis=1)


def output_layer(H, W_hq, b_q):
    """Affine read-out of hidden states: O = H W_hq + b_q.

    Args:
        H: (n, h) hidden states of one step, or (n, T, h) of every step.
        W_hq: (h, q) hidden-to-output weights.
        b_q: (q,) output bias.

    Returns:
        O: (n, q) or (n, T, q), matching H's leading axes, in H's dtype.
    """
    # matmul broadcasts W_hq over any leading axes of H, so one line serves 2-D and 3-D.
    return H @ W_hq + b_q


def rnn_cell_backward(dH_t, X_t, H_prev, H_t, W_xh, W_hh):
    """Backward pass of one step H_t = tanh(A), A = X_t W_xh + H_prev W_hh + b_h, derived by hand.

    Given the upstream gradient dL/dH_t, returns dL/dX_t, dL/dH_prev, dL/dW_xh, dL/dW_hh and dL/db_h. The
    cached output gives the derivative of tanh without recomputing A: tanh'(A) = 1 - tanh(A)^2 = 1 - H_t^2, using
    the H_t passed in as it is (it is already tanh(A); do not recompute it from X_t and H_prev). Every gradient is a product of tensors written out by hand: no automatic
    differentiation (tf.GradientTape, tf.gradients, ...) runs inside.

    Args:
        dH_t: (n, h) upstream gradient dL/dH_t.
        X_t: (n, d) inputs of the step.
        H_prev: (n, h) hidden state H_{t-1} the step started from.
        H_t: (n, h) hidden state the step produced (the forward cache).
        W_xh: (d, h) input-to-hidden weights.
        W_hh: (h, h) hidden-to-hidden weights.

    Returns:
        Tuple (dX_t, dH_prev, dW_xh, dW_hh, db_h) of shapes (n, d), (n, h), (d, h), (h, h), (h,), in the inputs'
        dtype.
    """
    dA = dH_t * (1 - tf.square(H_t))  # back through tanh, using the cached output
    dX_t = dA @ tf.transpose(W_xh)
    dH_prev = dA @ tf.transpose(W_hh)
    dW_xh = tf.transpose(X_t) @ dA
    dW_hh = tf.transpose(H_prev) @ dA
    db_h = tf.reduce_sum(dA, axis=0)  # b_h was broadcast over the batch
    return dX_t, dH_prev, dW_xh, dW_hh, db_h


def rnn_backward(dH, X, H0, H, W_xh, W_hh):
    """Backpropagation through time for rnn_forward.

    In Python's counting, as in rnn_forward: step t (t = 0..T-1) read X[:, t], started from H[:, t - 1] (H0 when
    t = 0) and produced H[:, t]. The gradient reaching H[:, t] is its own upstream dH[:, t] plus the gradient
    carried back from step t + 1 (nothing for the last step); the weights are shared by every step, so their
    gradients are summed over t. The given H and H0 are the cache, used as they are (the forward pass is not
    recomputed). Derived by hand: no automatic differentiation runs inside.

    Args:
        dH: (n, T, h) upstream gradient dL/dH on every hidden state H_1..H_T.
        X: (n, T, d) input sequences.
        H0: (n, h) initial hidden state.
        H: (n, T, h) hidden states H_1..H_T from rnn_forward (the cache).
        W_xh: (d, h) input-to-hidden weights.
        W_hh: (h, h) hidden-to-hidden weights.

    Returns:
        Tuple (dX, dH0, dW_xh, dW_hh, db_h) of shapes (n, T, d), (n, h), (d, h), (h, h), (h,), in the inputs'
        dtype: dX[:, t] is the gradient on X[:, t] (the time order of X), dH0 is what flows back out of the first
        step.
    """
    T = X.shape[1]
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


class RNNCell(keras.layers.Layer):
    """A vanilla RNN cell for ``keras.layers.RNN``: h_t = tanh(x_t kernel + h_{t-1} recurrent_kernel + bias).

    Same weights and initialisers as ``keras.layers.SimpleRNNCell``: ``kernel`` (d, units) glorot_uniform,
    ``recurrent_kernel`` (units, units) orthogonal, ``bias`` (units,) zeros, so ``keras.layers.RNN(RNNCell(u))``
    computes what ``keras.layers.SimpleRNN(u)`` does with the same weights, in float32 or float64. The cell
    computes the step itself with its own weights: no Keras recurrent cell or layer runs inside it.

    Args:
        units: size h of the hidden state (and of the output).
        **kwargs: passed to ``keras.layers.Layer`` (name, dtype, ...).
    """

    def __init__(self, units, **kwargs):
        """Stores the size; ``keras.layers.RNN`` reads ``state_size`` and ``output_size``.

        Args:
            units: size h of the hidden state.
            **kwargs: base layer arguments.
        """
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        """Creates the weights once the input size d is known.

        Args:
            input_shape: shape of one step's input, (n, d).
        """
        d = input_shape[-1]
        self.kernel = self.add_weight(shape=(d, self.units), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs, states):
        """One step: h = tanh(inputs kernel + h_prev recurrent_kernel + bias).

        Args:
            inputs: (n, d) inputs of the step.
            states: tuple or list holding one tensor, h_prev of shape (n, units).

        Returns:
            Tuple (h, [h]): the output (n, units) and the new state list.
        """
        h_prev = states[0]
        h = tf.tanh(tf.matmul(inputs, self.kernel) + tf.matmul(h_prev, self.recurrent_kernel) + self.bias)
        return h, [h]

    def get_config(self):
        """Returns the base layer's config (name, dtype, ...) plus ``units``, so that ``RNNCell.from_config`` re-creates
        the same cell."""
        return {**super().get_config(), "units": self.units}
