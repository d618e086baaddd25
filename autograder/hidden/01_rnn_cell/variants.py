"""Correct solutions of assignment 1 other than the reference, as substitutions in solutions/rnn_cell.py: each must
score full marks on every item. Together they prove that no check depends on how the reference happens to be
written: not on a loop or a vectorised form, not on matmul vs einsum, not on calling the earlier answer functions
or inlining them, not on Python lists vs tf.TensorArray, not on the initialisers' spelling, and not on the names a
student chooses (variables called ``grad``, ``gradients``, ``tape``, strings naming GradientTape or SimpleRNNCell).
"""
from autograder.simulation.catalogue import Variant

# ---- TensorFlow's and Keras's own functions (bench/a1_builtins.py measures their false failures: the goal is none)
CELL_BODY = "    A = X_t @ W_xh + H_prev @ W_hh + b_h  # pre-activation, (n, h)\n    return tf.tanh(A)"
SEQ_BODY = ("    H_t = H0\n    states = []\n    for t in range(X.shape[1]):\n"
            "        H_t = rnn_cell_forward(X[:, t], H_t, W_xh, W_hh, b_h)\n        states.append(H_t)\n"
            "    return tf.stack(states, axis=1)")
CALL_BODY = ("        h_prev = states[0]\n"
             "        h = tf.tanh(tf.matmul(inputs, self.kernel) + tf.matmul(h_prev, self.recurrent_kernel) + self.bias)\n"
             "        return h, [h]")


VARIANTS = [
    Variant("fwd_concatenated_weights", "rnn_cell_forward",
            "    A = X_t @ W_xh + H_prev @ W_hh + b_h  # pre-activation, (n, h)\n    return tf.tanh(A)",
            "    XH = tf.concat([X_t, H_prev], axis=1)         # [X_t, H_prev]: (n, d + h)\n"
            "    W = tf.concat([W_xh, W_hh], axis=0)           # [W_xh; W_hh]: (d + h, h)\n"
            "    A = tf.linalg.matmul(XH, W) + b_h[None, :]\n"
            "    return 2 * tf.sigmoid(2 * A) - 1               # tanh(a) = 2 sigmoid(2a) - 1",
            "One product of the concatenated inputs and stacked weights, tanh written through the sigmoid."),
    Variant("seq_inlined_tensorarray", "rnn_forward",
            "    H_t = H0\n    states = []\n    for t in range(X.shape[1]):\n"
            "        H_t = rnn_cell_forward(X[:, t], H_t, W_xh, W_hh, b_h)\n        states.append(H_t)\n"
            "    return tf.stack(states, axis=1)",
            "    XW = tf.einsum('ntd,dh->nth', X, W_xh) + b_h   # every step's input projection at once\n"
            "    T = tf.shape(X)[1]\n"
            "    states = tf.TensorArray(X.dtype, size=T)\n"
            "    H_t = H0\n"
            "    for t in tf.range(T):\n"
            "        H_t = tf.tanh(XW[:, t] + tf.einsum('nh,hk->nk', H_t, W_hh))\n"
            "        states = states.write(t, H_t)\n"
            "    return tf.transpose(states.stack(), [1, 0, 2])  # (T, n, h) -> (n, T, h)",
            "Inlines the step (does not call rnn_cell_forward), projects all inputs with einsum, collects the states "
            "in a tf.TensorArray over tf.range and transposes from time-major."),
    Variant("out_tensordot", "output_layer",
            "    return H @ W_hq + b_q",
            "    O = tf.tensordot(H, W_hq, axes=[[len(H.shape) - 1], [0]])\n    return tf.nn.bias_add(O, b_q)",
            "Contracts the last axis with tensordot and adds the bias with tf.nn.bias_add."),
    Variant("bwd_named_like_autodiff", "rnn_cell_backward",
            "    dA = dH_t * (1 - tf.square(H_t))  # back through tanh, using the cached output\n"
            "    dX_t = dA @ tf.transpose(W_xh)\n    dH_prev = dA @ tf.transpose(W_hh)\n"
            "    dW_xh = tf.transpose(X_t) @ dA\n    dW_hh = tf.transpose(H_prev) @ dA\n"
            "    db_h = tf.reduce_sum(dA, axis=0)  # b_h was broadcast over the batch\n"
            "    return dX_t, dH_prev, dW_xh, dW_hh, db_h",
            "    tape_free = 'no GradientTape, no tf.gradients, no jacobian: by hand'\n"
            "    grad = dH_t * (1.0 - H_t * H_t)\n"
            "    gradients = {'grad': grad}\n"
            "    gradients['X_t'] = tf.matmul(grad, W_xh, transpose_b=True)\n"
            "    gradients['H_prev'] = tf.matmul(grad, W_hh, transpose_b=True)\n"
            "    gradients['W_xh'] = tf.einsum('nd,nh->dh', X_t, grad)\n"
            "    gradients['W_hh'] = tf.matmul(H_prev, grad, transpose_a=True)\n"
            "    gradients['b_h'] = tf.einsum('nh->h', grad)\n"
            "    return tuple(gradients[k] for k in ('X_t', 'H_prev', 'W_xh', 'W_hh', 'b_h'))",
            "Names its variables grad, gradients and tape_free, mentions GradientTape in a string, and uses "
            "transpose_a/transpose_b and einsum: no static check on names may fire."),
    Variant("bptt_tensorarray_reversed", "rnn_backward",
            "    T = X.shape[1]\n    dW_xh = tf.zeros_like(W_xh)\n    dW_hh = tf.zeros_like(W_hh)\n"
            "    db_h = tf.zeros_like(W_hh[0])  # (h,) in the weights' dtype\n    dXs = []\n"
            "    dH_next = tf.zeros_like(H0)  # nothing flows back from beyond the last step\n"
            "    for t in reversed(range(T)):\n        dH_t = dH[:, t] + dH_next\n"
            "        H_prev = H[:, t - 1] if t > 0 else H0\n"
            "        dX_t, dH_next, dW_xh_t, dW_hh_t, db_h_t = rnn_cell_backward(dH_t, X[:, t], H_prev, H[:, t], W_xh, W_hh)\n"
            "        dXs.append(dX_t)\n        dW_xh = dW_xh + dW_xh_t\n        dW_hh = dW_hh + dW_hh_t\n"
            "        db_h = db_h + db_h_t\n"
            "    dX = tf.stack(dXs[::-1], axis=1)  # collected from the last step to the first\n"
            "    return dX, dH_next, dW_xh, dW_hh, db_h",
            "    T = X.shape[1]\n"
            "    H_prevs = tf.concat([H0[:, None], H[:, :-1]], axis=1)   # the state each step started from\n"
            "    grads = {'dX': tf.TensorArray(X.dtype, size=T), 'W_xh': [], 'W_hh': [], 'b_h': []}\n"
            "    carried = tf.zeros_like(H0)\n"
            "    for t in range(T - 1, -1, -1):\n"
            "        grad = rnn_cell_backward(dH[:, t] + carried, X[:, t], H_prevs[:, t], H[:, t], W_xh, W_hh)\n"
            "        grads['dX'] = grads['dX'].write(t, grad[0])\n"
            "        carried = grad[1]\n"
            "        for key, g in zip(('W_xh', 'W_hh', 'b_h'), grad[2:]):\n"
            "            grads[key].append(g)\n"
            "    dX = tf.transpose(grads['dX'].stack(), [1, 0, 2])\n"
            "    return dX, carried, tf.add_n(grads['W_xh']), tf.add_n(grads['W_hh']), tf.add_n(grads['b_h'])",
            "Collects dX in a tf.TensorArray written at index t, sums the weight gradients with tf.add_n, takes "
            "every H_prev from one concatenation, and names its variables grad and grads."),
    Variant("cell_initializer_objects", "RNNCell",
            "        d = input_shape[-1]\n"
            '        self.kernel = self.add_weight(shape=(d, self.units), initializer="glorot_uniform", name="kernel")\n'
            "        self.recurrent_kernel = self.add_weight(\n"
            '            shape=(self.units, self.units), initializer="orthogonal", name="recurrent_kernel")\n'
            '        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")',
            "        # the weights of keras.layers.SimpleRNNCell, same names and initialisers (but not SimpleRNNCell itself)\n"
            "        self.kernel = self.add_weight(name='kernel', shape=(int(input_shape[-1]), self.units),\n"
            "                                      initializer=keras.initializers.GlorotUniform())\n"
            "        self.recurrent_kernel = self.add_weight(name='recurrent_kernel', shape=(self.units, self.units),\n"
            "                                                initializer=keras.initializers.Orthogonal(gain=1.0))\n"
            "        self.bias = self.add_weight(name='bias', shape=(self.units,), initializer=keras.initializers.Zeros())\n"
            "        self.built = True",
            "Initialiser objects instead of strings, weights created in another order of arguments."),
    Variant("cell_calls_rnn_cell_forward", "RNNCell",
            "        h_prev = states[0]\n"
            "        h = tf.tanh(tf.matmul(inputs, self.kernel) + tf.matmul(h_prev, self.recurrent_kernel) + self.bias)\n"
            "        return h, [h]",
            "        (h_prev,) = states   # a tuple or a list holding one state\n"
            "        h = rnn_cell_forward(inputs, h_prev, self.kernel, self.recurrent_kernel, self.bias)\n"
            "        return h, (h,)",
            "Reuses the student's rnn_cell_forward (graded with its reference, see uses=) and returns the new "
            "state as a tuple."),
    Variant("bwd_tf_function", "rnn_cell_backward",
            "def rnn_cell_backward(dH_t, X_t, H_prev, H_t, W_xh, W_hh):",
            "@tf.function(reduce_retracing=True)\ndef rnn_cell_backward(dH_t, X_t, H_prev, H_t, W_xh, W_hh):",
            "The hand derivation compiled with @tf.function: no tape runs, so no autodiff may be observed."),
    Variant("builtin_keras_ops_cell", "rnn_cell_forward", CELL_BODY,
            "    return keras.activations.tanh(tf.nn.bias_add(tf.linalg.matmul(X_t, W_xh) + keras.ops.matmul(H_prev, W_hh), b_h))",
            "keras.activations.tanh, tf.nn.bias_add, tf.linalg.matmul and keras.ops.matmul."),
    Variant("builtin_math_tanh_einsum", "rnn_cell_forward", CELL_BODY,
            "    return tf.math.tanh(tf.einsum('nd,dh->nh', X_t, W_xh) + tf.einsum('nh,hk->nk', H_prev, W_hh) + b_h)",
            "tf.math.tanh and tf.einsum."),
    Variant("builtin_scan", "rnn_forward", SEQ_BODY,
            "    step = lambda H_t, X_t: rnn_cell_forward(X_t, H_t, W_xh, W_hh, b_h)\n"
            "    H = tf.scan(step, tf.transpose(X, [1, 0, 2]), initializer=H0)   # time-major (T, n, h)\n"
            "    return tf.transpose(H, [1, 0, 2])",
            "tf.scan over the time-major sequence."),
    Variant("builtin_einsum_output", "output_layer", "    return H @ W_hq + b_q",
            "    return keras.ops.add(tf.einsum('...h,hq->...q', H, W_hq), b_q)",
            "tf.einsum with an ellipsis and keras.ops.add."),
    Variant("builtin_matmul_transposes", "rnn_cell_backward",
            "    dX_t = dA @ tf.transpose(W_xh)\n    dH_prev = dA @ tf.transpose(W_hh)\n"
            "    dW_xh = tf.transpose(X_t) @ dA\n    dW_hh = tf.transpose(H_prev) @ dA\n",
            "    dX_t = tf.linalg.matmul(dA, W_xh, transpose_b=True)\n    dH_prev = tf.linalg.matmul(dA, W_hh, adjoint_b=True)\n"
            "    dW_xh = tf.tensordot(X_t, dA, axes=[[0], [0]])\n    dW_hh = tf.linalg.matmul(H_prev, dA, transpose_a=True)\n",
            "tf.linalg.matmul with transpose_b/adjoint_b/transpose_a and tf.tensordot."),
    Variant("builtin_keras_ops_call", "RNNCell", CALL_BODY,
            "        h = keras.ops.tanh(keras.ops.matmul(inputs, self.kernel)\n"
            "                           + keras.ops.matmul(states[0], self.recurrent_kernel) + self.bias)\n"
            "        return h, [h]",
            "keras.ops.tanh and keras.ops.matmul in call."),
]
