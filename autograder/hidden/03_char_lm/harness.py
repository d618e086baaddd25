"""Runs inside the student's sandbox after their answer cells (Assignment 3). No verdicts here, and no text whose
perplexity is graded: the grader sends held-out text one time step at a time (``_lm_step``), so the next character
has not reached this process when the model's prediction of it is sent back."""


def _lm_dtype_name(x):
    dtype = getattr(x, "dtype", None)
    dtype = getattr(dtype, "as_numpy_dtype", dtype)
    return str(np.dtype(dtype)) if dtype is not None else "unknown"


def _lm_build(vocab_size, units, seed, dtype="float32"):
    """The student's model with seeded initial weights (a Ref on the trusted side). One call on a dummy batch
    creates any weights that Keras layers make lazily, so that every weight exists from the start."""
    keras.utils.set_random_seed(int(seed))
    model = CharRNNLM(int(vocab_size), int(units), dtype=str(dtype))
    model(tf.zeros((1, 2), tf.int32))
    return model


def _lm_describe(model, batch_size=3):
    """Shapes and dtypes of the trainable weights (in the model's order) and of ``begin_state``."""
    state = model.begin_state(int(batch_size))
    return {"shapes": [[int(s) for s in v.shape] for v in model.trainable_variables],
            "dtypes": [_lm_dtype_name(v) for v in model.trainable_variables],
            "state": np.asarray(state), "state_dtype": _lm_dtype_name(state)}


def _lm_weights(model):
    return [np.asarray(v.numpy()) for v in model.trainable_variables]


def _lm_set_weights(model, weights):
    for variable, value in zip(model.trainable_variables, weights):
        variable.assign(tf.cast(value, variable.dtype))


def _lm_forward(model, X, state=None, weights=None):
    """``model(X, state)`` after assigning ``weights`` (if given): [logits, final state]."""
    if weights is not None:
        _lm_set_weights(model, weights)
    logits, new_state = model(tf.cast(X, tf.int32), state)
    return [logits, new_state]


def _lm_forward_many(model, X, states, weight_sets):
    """``_lm_forward`` for each (state, weights) pair, in one call: [[logits, final state], ...]."""
    return [_lm_forward(model, X, state, weights) for state, weights in zip(states, weight_sets)]


def _lm_vjp(model, X, state, upstream_logits, upstream_state):
    """Gradients of ``sum(logits * upstream_logits) + sum(new_state * upstream_state)`` by GradientTape, with
    respect to every trainable weight (model order) and to the initial state. Missing gradients come back as
    zeros, so that a forward pass that leaves the tape shows as such."""
    state = tf.convert_to_tensor(state)
    with tf.GradientTape() as tape:
        tape.watch(state)
        logits, new_state = model(tf.cast(X, tf.int32), state)
        objective = (tf.reduce_sum(logits * tf.cast(upstream_logits, logits.dtype))
                     + tf.reduce_sum(new_state * tf.cast(upstream_state, new_state.dtype)))
    sources = list(model.trainable_variables) + [state]
    grads = tape.gradient(objective, sources)
    return [np.zeros(s.shape, _lm_dtype_name(s)) if g is None else np.asarray(tf.convert_to_tensor(g))
            for s, g in zip(sources, grads)]


def _lm_step(model, x_column, state=None):
    """One time step for many parallel streams: ids (S,) -> [logits of the next id (S, V), new state]."""
    logits, new_state = model(tf.reshape(tf.cast(x_column, tf.int32), (-1, 1)), state)
    return [logits[:, -1], new_state]


def _lm_collect(name, corpus, batch_size, num_steps, seed, limit=5000):
    """Every batch one epoch of the student's iterator ``name`` yields, as {"batches": [[X, Y], ...], "kinds":
    [[kind of X, kind of Y], ...]}: "tensor" for a TensorFlow tensor, else the Python type's name (the channel
    carries both as arrays, so the kind says which one was yielded)."""
    batches, kinds = [], []
    for pair in globals()[name](corpus, int(batch_size), int(num_steps), np.random.default_rng(int(seed))):
        batches.append(list(pair) if isinstance(pair, (tuple, list)) else pair)
        kinds.append([("tensor" if tf.is_tensor(v) else type(v).__name__) for v in
                      (pair if isinstance(pair, (tuple, list)) else [pair])])
        if len(batches) >= limit:
            break
    return {"batches": batches, "kinds": kinds}


def _lm_clip_sparse(grads, theta, sparse):
    """``clip_gradients`` on gradients of which those at positions ``sparse`` arrive as ``tf.IndexedSlices`` (as
    the tape gives them for a ``tf.gather``; one row split in two slices of the same index, which the dense form
    sums). What comes back is made dense here: every form TensorFlow legitimately produces is accepted."""
    given = []
    for k, g in enumerate(grads):
        g = tf.convert_to_tensor(g)
        if k in sparse:
            rows = g.shape[0]
            values = tf.concat([g[:1] * 0.25, g[1:], g[:1] * 0.75], axis=0)
            indices = tf.constant(list(range(rows)) + [0], tf.int64)
            g = tf.IndexedSlices(values, indices, tf.constant(g.shape, tf.int64))
        given.append(g)
    result = clip_gradients(given, theta)
    if isinstance(result, (list, tuple)):
        return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in result]
    return result


def _lm_train_spy(vocab_size, units, corpus, settings, init_seed, weights=None):
    """Trains a model with the student's train_char_lm and records every call of the model: its inputs X, the
    state it was given (None if none), the state it returned and the weights it ran with. ``weights`` (in the
    model's order) replace the initial ones. Calls inside a ``tf.function`` are recorded too (through
    ``tf.py_function``, which runs when the graph does, in program order)."""
    keras.utils.set_random_seed(int(init_seed))
    log = []

    def record(given, X, state, new_state, *variables):
        log.append({"X": np.asarray(X), "state": np.asarray(state) if given else None,
                    "new_state": np.asarray(new_state), "weights": [np.asarray(v) for v in variables]})
        return np.int32(0)

    class SpiedCharLM(CharRNNLM):
        recording = False

        def call(self, X, state=None):
            logits, new_state = super().call(X, state)
            if self.recording:
                given = state is not None
                inputs = [X, state if given else new_state, new_state] + [tf.convert_to_tensor(v) for v in
                                                                           self.trainable_variables]
                if tf.executing_eagerly():
                    record(given, *[np.asarray(x) for x in inputs])
                else:
                    done = tf.py_function(lambda *a: record(given, *[x.numpy() for x in a]), inputs, Tout=tf.int32)
                    with tf.control_dependencies([done]):   # the recording runs before the result is used
                        logits, new_state = tf.identity(logits), tf.identity(new_state)
            return logits, new_state

    model = SpiedCharLM(int(vocab_size), int(units))
    model(tf.zeros((1, 2), tf.int32))  # creates lazily built weights before the first update is recorded
    if weights is not None:
        _lm_set_weights(model, weights)
    model.recording = True
    history = train_char_lm(model, corpus, **settings)
    return {"history": history, "log": log, "final": [np.asarray(v.numpy()) for v in model.trainable_variables]}
