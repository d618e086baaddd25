'''Correct alternatives to the reference of assignment 3 (character-level language model), as substitutions in
solutions/char_lm.py: other valid choices a student may make. Each must score full marks on every item.'''
from autograder import build, project
from autograder.simulation.catalogue import Variant

# the answer cell as built (each method body between the solution markers)
with open(project.solution_file("03_char_lm"), encoding="utf-8") as _f:
    _MODEL = build.solution_cell(["CharRNNLM"], _f.read(), "03_char_lm")
# from the first weight to the end of call: the whole model body after the two attributes
_MODEL_SPAN = _MODEL[_MODEL.index("        self.W_xh = self.add_weight("):_MODEL.index("        return logits, H\n")
                     + len("        return logits, H\n")]

_MODEL_WEIGHTS = '''        self.W_xh = self.add_weight(shape=(vocab_size, units), initializer="glorot_uniform", name="W_xh")
        self.W_hh = self.add_weight(shape=(units, units), initializer="orthogonal", name="W_hh")
        self.b_h = self.add_weight(shape=(units,), initializer="zeros", name="b_h")
        self.W_hq = self.add_weight(shape=(units, vocab_size), initializer="glorot_uniform", name="W_hq")
        self.b_q = self.add_weight(shape=(vocab_size,), initializer="zeros", name="b_q")
'''

_MODEL_KERAS_LAYERS = '''        # Keras's SimpleRNN holds W_xh (kernel), W_hh (recurrent_kernel) and b_h with exactly these initialisers;
        # the Dense head holds W_hq and b_q. They take the model's dtype.
        self.rnn = keras.layers.SimpleRNN(units, return_sequences=True, return_state=True, dtype=self.dtype_policy)
        self.head = keras.layers.Dense(vocab_size, dtype=self.dtype_policy)

    def begin_state(self, batch_size):
        return tf.zeros((batch_size, self.units), dtype=self.compute_dtype)

    def call(self, X, state=None):
        inputs = tf.one_hot(X, self.vocab_size, dtype=self.compute_dtype)
        H = self.begin_state(tf.shape(X)[0]) if state is None else tf.cast(state, self.compute_dtype)
        outputs, H = self.rnn(inputs, initial_state=[H])
        return self.head(outputs), H
'''

_MODEL_LOOP = '''        XW = tf.matmul(inputs, self.W_xh)                                        # (n, T, units): all steps at once
        outputs = []
        for t in range(inputs.shape[1]):
            H = tf.tanh(XW[:, t] + tf.matmul(H, self.W_hh) + self.b_h)
            outputs.append(H)
        logits = tf.matmul(tf.stack(outputs, axis=1), self.W_hq) + self.b_q     # (n, T, V)
        return logits, H
'''

_TRAIN_BODY = '''    rng = np.random.default_rng(seed)
    sampler = seq_data_iter_random if use_random_iter else seq_data_iter_sequential
    history = []
    for _ in range(epochs):
        state, total, count = None, 0.0, 0
        for X, Y in sampler(corpus, batch_size, num_steps, rng):
            if use_random_iter or state is None:
                state = model.begin_state(batch_size)
            else:
                state = tf.stop_gradient(state)
            with tf.GradientTape() as tape:
                logits, state = model(X, state)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))
            grads = clip_gradients(tape.gradient(loss, model.trainable_variables), theta)
            for w, g in zip(model.trainable_variables, grads):
                w.assign_sub(learning_rate * g)
            total += float(loss) * int(tf.size(Y))
            count += int(tf.size(Y))
        history.append(float(np.exp(total / max(count, 1))))
    return history
'''

_TRAIN_KERAS = '''    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    generator = np.random.default_rng(seed)
    iterate = seq_data_iter_random if use_random_iter else seq_data_iter_sequential

    @tf.function(reduce_retracing=True)
    def step(X, Y, state):
        with tf.GradientTape() as tape:
            logits, new_state = model(X, state)
            loss = loss_fn(Y, logits)
        grads = clip_gradients(tape.gradient(loss, model.trainable_variables), theta)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, new_state

    history = []
    for epoch in range(epochs):
        losses = []
        state = None
        for X, Y in iterate(corpus, batch_size, num_steps, generator):
            if use_random_iter or state is None:
                state = model.begin_state(batch_size)
            loss, state = step(X, Y, tf.stop_gradient(state))
            losses.append(float(loss))
        history.append(float(np.exp(np.mean(losses))))    # every batch has n*T characters: mean of means
    return history
'''

_TRAIN_EAGER_LOOP = '''    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        batches = (seq_data_iter_random if use_random_iter else seq_data_iter_sequential)(
            corpus, batch_size, num_steps, rng)
        nll_sum, chars = 0.0, 0
        state = model.begin_state(batch_size)
        for X, Y in batches:
            if use_random_iter:
                state = model.begin_state(batch_size)
            state = tf.stop_gradient(state)
            with tf.GradientTape() as tape:
                logits, state = model(X, state)
                per_char = keras.losses.sparse_categorical_crossentropy(Y, logits, from_logits=True)
                loss = tf.reduce_sum(per_char) / tf.cast(tf.size(per_char), per_char.dtype)
            grads = tape.gradient(loss, model.trainable_variables)
            grads = clip_gradients(grads, theta)
            for variable, grad in zip(model.trainable_variables, grads):
                variable.assign(variable - learning_rate * grad)
            nll_sum += float(tf.reduce_sum(per_char))
            chars += int(tf.size(per_char))
        history.append(float(np.exp(nll_sum / chars)) if chars else float("nan"))
    return history
'''

_TRAIN_GLOBAL_CLIPNORM = '''    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, global_clipnorm=theta)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        iterator = seq_data_iter_random if use_random_iter else seq_data_iter_sequential
        state, nll, chars = None, 0.0, 0
        for X, Y in iterator(corpus, batch_size, num_steps, rng):
            if use_random_iter:
                state = None
            elif state is not None:
                state = tf.stop_gradient(state)
            with tf.GradientTape() as tape:
                logits, state = model(X, state)
                loss = loss_fn(Y, logits)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            nll += float(loss) * int(tf.size(Y))
            chars += int(tf.size(Y))
        history.append(float(np.exp(nll / chars)))
    return history
'''

_GEN_BODY = '''    state = model.begin_state(1)
    if len(ids) > 1:  # warm up on all but the last prefix character, which is the first input of the loop
        _, state = model(tf.constant([ids[:-1]], tf.int32), state)
    for _ in range(num_chars):
        logits, state = model(tf.constant([[ids[-1]]], tf.int32), state)
        scores = logits[0, -1].numpy().astype(np.float64)
        if temperature == 0:
            ids.append(int(np.argmax(scores)))
        else:
            z = scores / temperature
            p = np.exp(z - z.max())
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
'''

_GEN_WHOLE_PREFIX = '''    logits, state = model(tf.constant([ids], tf.int32), model.begin_state(1))   # the whole prefix at once
    for _ in range(num_chars):
        scores = tf.cast(logits[0, -1], tf.float64).numpy()
        if temperature > 0:
            probs = tf.nn.softmax(scores / temperature).numpy()
            cumulative = np.cumsum(probs)
            choice = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), len(probs) - 1)
        else:
            choice = int(scores.argmax())
        ids.append(choice)
        logits, state = model(tf.constant([[choice]], tf.int32), state)
'''

_GEN_TF_SOFTMAX = '''            p = tf.nn.softmax(tf.constant(scores) / temperature).numpy()   # float64, as scores
            ids.append(int(rng.choice(len(p), p=p)))
'''

VARIANTS = [
    Variant("vocab_ties_by_string_order", "build_char_vocab",
            "idx_to_char = sorted(counts, key=lambda c: (-counts[c], ord(c)))",
            "idx_to_char = [c for c, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]",
            "Sorts (char, count) pairs; comparing one-character strings is comparing code points."),
    Variant("random_iter_python_shuffle", "seq_data_iter_random",
            "starts = offset + num_steps * rng.permutation(num_subseqs)",
            "starts = list(range(offset, offset + num_steps * num_subseqs, num_steps))\n    rng.shuffle(starts)",
            "Shuffles a Python list of start positions in place with rng.shuffle."),
    Variant("sequential_iter_row_loop", "seq_data_iter_sequential",
            "        X = Xs[:, t:t + num_steps]\n        Y = Ys[:, t:t + num_steps]\n",
            "        X = np.stack([corpus[offset + j * stream_len + t:offset + j * stream_len + t + num_steps]\n"
            "                      for j in range(batch_size)])\n"
            "        Y = np.stack([corpus[offset + j * stream_len + t + 1:offset + j * stream_len + t + num_steps + 1]\n"
            "                      for j in range(batch_size)])\n",
            "Slices every row from the corpus in a loop instead of reshaping into streams."),
    Variant("clip_with_tf_clip_by_global_norm", "clip_gradients",
            "    norm = tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in grads))\n"
            "    scale = tf.minimum(tf.cast(1.0, norm.dtype), tf.cast(theta, norm.dtype) / norm)\n"
            "    return [g * scale for g in grads]\n",
            "    clipped, _ = tf.clip_by_global_norm(grads, theta)\n    return clipped\n",
            "TensorFlow's own global-norm clipping."),
    Variant("clip_tf_clip_by_global_norm_as_given", "clip_gradients",
            "    grads = [tf.convert_to_tensor(g) for g in grads]\n"
            "    norm = tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in grads))\n"
            "    scale = tf.minimum(tf.cast(1.0, norm.dtype), tf.cast(theta, norm.dtype) / norm)\n"
            "    return [g * scale for g in grads]\n",
            "    clipped, _ = tf.clip_by_global_norm(grads, theta)\n    return clipped\n",
            "tf.clip_by_global_norm on the gradients as given: a tf.IndexedSlices counts by its values (a repeated "
            "index twice) and comes back as IndexedSlices."),
    Variant("clip_tf_linalg_global_norm", "clip_gradients",
            "    grads = [tf.convert_to_tensor(g) for g in grads]\n"
            "    norm = tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in grads))\n",
            "    norm = tf.linalg.global_norm(grads)\n"
            "    grads = [tf.convert_to_tensor(g) for g in grads]\n",
            "The global norm from tf.linalg.global_norm (IndexedSlices by their values), then dense gradients scaled."),
    Variant("model_keras_simple_rnn", "CharRNNLM", _MODEL_SPAN, _MODEL_KERAS_LAYERS,
            "keras.layers.SimpleRNN and Dense hold the five weights (same shapes and initialisers)."),
    Variant("model_gather_rows", "CharRNNLM",
            "XW = tf.matmul(inputs, self.W_xh)", "XW = tf.gather(self.W_xh, tf.cast(X, tf.int32))",
            "Looks up rows of W_xh (the same as one-hot times W_xh); its gradient is a tf.IndexedSlices."),
    Variant("perplexity_log_softmax_gather", "perplexity",
            "losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(Y, tf.int32), logits=logits)",
            "log_p = tf.nn.log_softmax(tf.convert_to_tensor(logits), axis=-1)\n"
            "    losses = -tf.gather(log_p, tf.cast(Y, tf.int32), batch_dims=2)",
            "log_softmax and a gather of the true ids instead of the fused loss."),
    Variant("perplexity_keras_sparse_categorical_crossentropy", "perplexity",
            "losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(Y, tf.int32), logits=logits)",
            "losses = keras.losses.sparse_categorical_crossentropy(Y, logits, from_logits=True)",
            "Keras's sparse categorical cross-entropy from logits."),
    Variant("perplexity_keras_loss_object_tf_exp", "perplexity",
            "    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(Y, tf.int32), logits=logits)\n"
            "    return float(np.exp(np.mean(losses.numpy(), dtype=np.float64)))\n",
            "    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(Y, logits)\n"
            "    return float(tf.exp(loss))\n",
            "A Keras loss object (mean over all positions) and tf.exp, in the logits' dtype."),
    Variant("perplexity_one_hot_softmax_cross_entropy", "perplexity",
            "losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(Y, tf.int32), logits=logits)",
            "logits = tf.convert_to_tensor(logits)\n"
            "    losses = tf.nn.softmax_cross_entropy_with_logits(\n"
            "        labels=tf.one_hot(Y, tf.shape(logits)[-1], dtype=logits.dtype), logits=logits)",
            "tf.nn.softmax_cross_entropy_with_logits on one-hot labels."),
    Variant("train_sgd_global_clipnorm", "train_char_lm", _TRAIN_BODY, _TRAIN_GLOBAL_CLIPNORM,
            "keras.optimizers.SGD(learning_rate, global_clipnorm=theta) clips by the global norm itself, in place "
            "of clip_gradients; a Keras loss object; state=None for a fresh state."),
    Variant("train_keras_sgd_tf_function", "train_char_lm", _TRAIN_BODY, _TRAIN_KERAS,
            "keras.optimizers.SGD and a Keras loss inside a tf.function step; the mean of equal-sized batch means."),
    Variant("train_assign_and_sum_of_nll", "train_char_lm", _TRAIN_BODY, _TRAIN_EAGER_LOOP,
            "Adds the per-character losses up over the epoch; assigns w - lr * g."),
    Variant("generate_tf_softmax_float64", "generate",
            "            z = scores / temperature\n"
            "            p = np.exp(z - z.max())\n"
            "            ids.append(int(rng.choice(len(p), p=p / p.sum())))\n", _GEN_TF_SOFTMAX,
            "tf.nn.softmax of the float64 logits over the temperature, sampled with rng.choice."),
    Variant("generate_whole_prefix_inverse_cdf", "generate", _GEN_BODY, _GEN_WHOLE_PREFIX,
            "Runs the whole prefix at once and samples by inverting the cumulative distribution with rng.random()."),
]
