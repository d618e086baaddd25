"""Realistic student bugs for assignment 3 (character-level language model), as substitutions in
solutions/char_lm.py.

Each bug must cost points on its own item only. ``train_char_lm`` and ``generate`` are graded with the reference
of every item they call (``item(..., uses=...)``: the iterators, ``clip_gradients``, ``perplexity`` and
``CharRNNLM`` run as the reference inside those tests), so a bug in an earlier item never reaches them.
"""
from autograder.simulation.catalogue import Bug, with_hints


BUGS = [
    # The first bug of each cell is the one the demo's simulated class uses.
    Bug("gen_ignores_temperature", "generate",
        "z = scores / temperature", "z = scores", "Samples from softmax(logits) whatever the temperature, so tau changes nothing."),
    Bug("model_ignores_state", "CharRNNLM",
        "H = self.begin_state(tf.shape(X)[0]) if state is None else tf.cast(state, self.compute_dtype)",
        "H = self.begin_state(tf.shape(X)[0])", "Starts every call from zeros, ignoring the state passed in, so nothing is remembered across calls."),
    Bug("clip_per_tensor", "clip_gradients",
        "return [g * scale for g in grads]", "return [tf.clip_by_norm(g, theta) for g in grads]",
        "Clips each gradient tensor to norm theta separately instead of scaling all of them by the global norm."),

    # build_char_vocab
    Bug("vocab_ties_first_seen", "build_char_vocab",
        "key=lambda c: (-counts[c], ord(c))", "key=lambda c: -counts[c]", "Breaks ties in the counts by first appearance instead of by code point."),
    Bug("vocab_alphabetical", "build_char_vocab",
        "idx_to_char = sorted(counts, key=lambda c: (-counts[c], ord(c)))", "idx_to_char = sorted(counts)",
        "Orders the characters alphabetically, ignoring how often they occur."),

    # seq_data_iter_random (train_char_lm calls it when use_random_iter is true)
    Bug("random_labels_not_shifted", "seq_data_iter_random",
        "Y = np.stack([corpus[s + 1:s + num_steps + 1] for s in batch])",
        "Y = np.stack([corpus[s:s + num_steps] for s in batch])", "Uses the inputs themselves as labels instead of the next characters."),
    Bug("random_overlapping_windows", "seq_data_iter_random",
        "starts = offset + num_steps * rng.permutation(num_subseqs)",
        "starts = rng.integers(0, len(corpus) - num_steps - 1, num_subseqs)", "Draws start positions independently, so subsequences overlap and some text is never used in an epoch."),
    Bug("random_not_shuffled", "seq_data_iter_random",
        "starts = offset + num_steps * rng.permutation(num_subseqs)",
        "starts = offset + num_steps * np.arange(num_subseqs)", "Forgets to shuffle: the subsequences come in corpus order, so the batches are not random samples."),

    # seq_data_iter_sequential (train_char_lm calls it when use_random_iter is false)
    Bug("sequential_no_offset", "seq_data_iter_sequential",
        "offset = int(rng.integers(0, num_steps))", "offset = 0", "Always starts at the first character, so every epoch cuts the text at the same places."),

    # clip_gradients (train_char_lm calls it)
    Bug("clip_always", "clip_gradients",
        "scale = tf.minimum(tf.cast(1.0, norm.dtype), tf.cast(theta, norm.dtype) / norm)",
        "scale = tf.cast(theta, norm.dtype) / norm", "Rescales the gradients to norm theta even when their norm is already below it (small steps blown up)."),

    # CharRNNLM (train_char_lm trains it; generate runs it)
    Bug("model_one_hot_wrong_axis", "CharRNNLM",
        "tf.one_hot(X, self.vocab_size, dtype=self.compute_dtype)",
        "tf.one_hot(X, self.vocab_size, axis=1, dtype=self.compute_dtype)", "One-hot encodes along axis 1, giving (n, V, T) inputs that the matrix products cannot use."),
    Bug("model_one_hot_float32", "CharRNNLM",
        "tf.one_hot(X, self.vocab_size, dtype=self.compute_dtype)", "tf.one_hot(X, self.vocab_size)",
        "One-hot encodes in float32 always, so a float64 model fails (the gradient check runs in float64)."),
    Bug("model_gradient_cut_every_step", "CharRNNLM",
        "tf.matmul(H, self.W_hh)", "tf.matmul(tf.stop_gradient(H), self.W_hh)", "Stops the gradient at every time step, so backpropagation never reaches earlier steps."),
    Bug("model_transposed_W_hh", "CharRNNLM",
        "tf.matmul(H, self.W_hh)", "tf.matmul(H, self.W_hh, transpose_b=True)", "Multiplies the state by W_hh transposed (column-vector habit); it still learns, but it is not the model."),

    # perplexity
    Bug("perplexity_exp_of_sum", "perplexity",
        "np.mean(losses.numpy(), dtype=np.float64)", "np.sum(losses.numpy(), dtype=np.float64)", "Takes exp of the summed cross-entropy instead of the mean."),
    Bug("perplexity_log_of_softmax", "perplexity",
        "losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(Y, tf.int32), logits=logits)",
        "losses = -tf.math.log(tf.reduce_sum(tf.nn.softmax(logits) * tf.one_hot(Y, logits.shape[-1], "
        "dtype=logits.dtype), axis=-1))", "Takes the log of a softmax, which underflows to log(0) = -inf for large logits."),
    Bug("perplexity_mean_of_exp", "perplexity",
        "float(np.exp(np.mean(losses.numpy(), dtype=np.float64)))",
        "float(np.mean(np.exp(losses.numpy()), dtype=np.float64))", "Averages the per-character perplexities instead of exponentiating the mean cross-entropy."),

    # train_char_lm
    Bug("train_state_carried_across_random_batches", "train_char_lm",
        "if use_random_iter or state is None:", "if state is None:", "Carries the state from one random batch to the next, though they are unrelated stretches of text."),
    Bug("train_state_never_carried", "train_char_lm",
        "if use_random_iter or state is None:", "if True:", "Resets the state for every batch even with sequential sampling, throwing away the context."),
    Bug("train_no_clipping", "train_char_lm",
        "grads = clip_gradients(tape.gradient(loss, model.trainable_variables), theta)",
        "grads = tape.gradient(loss, model.trainable_variables)", "Never clips the gradients."),
    Bug("train_loss_sum", "train_char_lm",
        "loss = tf.reduce_mean(", "loss = tf.reduce_sum(", "Minimises the summed cross-entropy of the batch, so the step size grows with n * T."),
    Bug("train_seed_ignored", "train_char_lm",
        "rng = np.random.default_rng(seed)", "rng = np.random.default_rng()", "Creates an unseeded generator, so the seed argument changes nothing and runs cannot be repeated."),

    # generate
    Bug("gen_no_warm_up", "generate",
        "if len(ids) > 1:", "if False:", "Does not run the model over the prefix, so generation starts from the initial state at its last character."),
    Bug("gen_prefix_fed_twice", "generate",
        "_, state = model(tf.constant([ids[:-1]], tf.int32), state)",
        "_, state = model(tf.constant([ids], tf.int32), state)", "Warms up on the whole prefix and then feeds its last character again."),
    Bug("gen_multiplies_temperature", "generate",
        "z = scores / temperature", "z = scores * temperature", "Multiplies the logits by the temperature instead of dividing, inverting its effect."),
    Bug("gen_argmax_when_sampling", "generate",
        "ids.append(int(rng.choice(len(p), p=p / p.sum())))", "ids.append(int(np.argmax(p)))", "Takes the most likely character even at a positive temperature."),
    Bug("gen_rng_ignored", "generate",
        "rng = np.random.default_rng() if rng is None else rng", "rng = np.random.default_rng()", "Ignores the rng argument, so sampling cannot be repeated."),

    # ---- added for round 2: one bug per contract sentence not covered above
    # build_char_vocab: every character as it appears, descending count, ties by code point, ids consistent
    Bug("vocab_lowercases", "build_char_vocab",
        "counts = collections.Counter(text)", "counts = collections.Counter(text.lower())",
        "Lower-cases the text first, so 'A' and 'a' share an id and upper-case letters vanish."),
    Bug("vocab_drops_punctuation", "build_char_vocab",
        "counts = collections.Counter(text)", "counts = collections.Counter(c for c in text if c.isalnum() or c == ' ')",
        "Keeps only letters, digits and spaces, dropping punctuation and line breaks."),
    Bug("vocab_ties_reverse_code_point", "build_char_vocab",
        "key=lambda c: (-counts[c], ord(c))", "key=lambda c: (-counts[c], -ord(c))", "Breaks ties by descending code point."),
    Bug("vocab_ascending_count", "build_char_vocab",
        "key=lambda c: (-counts[c], ord(c))", "key=lambda c: (counts[c], ord(c))", "Puts the rarest character first."),
    Bug("vocab_ids_from_one", "build_char_vocab",
        "char_to_idx = {c: i for i, c in enumerate(idx_to_char)}", "char_to_idx = {c: i + 1 for i, c in enumerate(idx_to_char)}",
        "Numbers the characters from 1 (reserving 0), so char_to_idx and idx_to_char disagree."),

    # seq_data_iter_random: one random order of all subsequences, full batches only
    Bug("random_rows_consecutive", "seq_data_iter_random",
        "starts = offset + num_steps * rng.permutation(num_subseqs)",
        "starts = offset + num_steps * (rng.permutation(num_subseqs // batch_size)[:, None] * batch_size"
        " + np.arange(batch_size)).ravel()",
        "Shuffles the order of the batches but keeps neighbouring windows together inside each batch."),
    Bug("random_shuffles_within_batches_only", "seq_data_iter_random",
        "batch = starts[b * batch_size:(b + 1) * batch_size]",
        "batch = np.sort(starts)[b * batch_size:(b + 1) * batch_size][rng.permutation(batch_size)]",
        "Shuffles the rows inside each batch only: the batches still walk through the corpus in order."),
    Bug("random_keeps_partial_batch", "seq_data_iter_random",
        "for b in range(num_subseqs // batch_size):", "for b in range(-(-num_subseqs // batch_size)):",
        "Also yields the last, incomplete batch, whose shape is not (n, T)."),
    Bug("random_one_subsequence_too_many", "seq_data_iter_random",
        "num_subseqs = (len(corpus) - offset - 1) // num_steps", "num_subseqs = (len(corpus) - offset) // num_steps",
        "Counts (L - offset) // T subsequences, forgetting that the labels need one more token after the last one."),
    Bug("random_int64_batches", "seq_data_iter_random",
        "yield tf.constant(X, tf.int32), tf.constant(Y, tf.int32)", "yield tf.constant(X), tf.constant(Y)",
        "Yields the corpus's own integer dtype (int64) instead of int32."),

    # seq_data_iter_sequential: contiguous streams, one per row
    Bug("sequential_rows_interleaved", "seq_data_iter_sequential",
        "Xs = corpus[offset:offset + used].reshape(batch_size, stream_len)",
        "Xs = corpus[offset:offset + used].reshape(stream_len, batch_size).T",
        "Reshapes in the wrong order, so neighbouring characters land in different rows."),
    Bug("sequential_labels_not_shifted", "seq_data_iter_sequential",
        "Ys = corpus[offset + 1:offset + 1 + used].reshape(batch_size, stream_len)",
        "Ys = corpus[offset:offset + used].reshape(batch_size, stream_len)", "Uses the inputs as labels."),
    Bug("sequential_partial_last_batch", "seq_data_iter_sequential",
        "for t in range(0, (stream_len // num_steps) * num_steps, num_steps):",
        "for t in range(0, stream_len, num_steps):", "Yields a last batch shorter than num_steps."),

    # clip_gradients: the global norm, only when above theta, every form of gradient
    Bug("clip_squared_norm", "clip_gradients",
        "norm = tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in grads))",
        "norm = sum(tf.reduce_sum(tf.square(g)) for g in grads)", "Compares theta with the squared norm."),
    Bug("clip_sum_of_norms", "clip_gradients",
        "norm = tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in grads))", "norm = sum(tf.norm(g) for g in grads)",
        "Adds up the norms of the tensors instead of taking the norm of all entries together."),
    Bug("clip_returns_norm_too", "clip_gradients",
        "return [g * scale for g in grads]", "return [g * scale for g in grads], norm",
        "Returns (grads, norm) like tf.clip_by_global_norm instead of the list of gradients."),
    Bug("clip_python_float_scale", "clip_gradients",
        "    grads = [tf.convert_to_tensor(g) for g in grads]\n"
        "    norm = tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in grads))\n"
        "    scale = tf.minimum(tf.cast(1.0, norm.dtype), tf.cast(theta, norm.dtype) / norm)\n",
        "    norm = float(tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in grads)))\n"
        "    scale = min(1.0, theta / norm)\n",
        "Scales by a Python float without making the gradients dense: a tf.IndexedSlices (the gradient of a "
        "tf.gather) cannot be multiplied by one."),

    # CharRNNLM: the equations, the state, the initial weights
    Bug("model_no_hidden_bias", "CharRNNLM",
        "H = tf.tanh(XW[:, t] + tf.matmul(H, self.W_hh) + self.b_h)", "H = tf.tanh(XW[:, t] + tf.matmul(H, self.W_hh))",
        "Leaves b_h out of the recurrence."),
    Bug("model_relu", "CharRNNLM",
        "H = tf.tanh(XW[:, t] + tf.matmul(H, self.W_hh) + self.b_h)",
        "H = tf.nn.relu(XW[:, t] + tf.matmul(H, self.W_hh) + self.b_h)", "Uses ReLU instead of tanh."),
    Bug("model_returns_first_state", "CharRNNLM",
        "return logits, H", "return logits, outputs[0]", "Returns the state after the first step instead of the last."),
    Bug("model_W_hh_glorot", "CharRNNLM",
        'initializer="orthogonal"', 'initializer="glorot_uniform"', "Initialises W_hh Glorot-uniform instead of orthogonal."),
    Bug("model_random_output_bias", "CharRNNLM",
        'self.b_q = self.add_weight(shape=(vocab_size,), initializer="zeros", name="b_q")',
        'self.b_q = self.add_weight(shape=(vocab_size,), initializer="random_normal", name="b_q")',
        "Starts the output bias at random values instead of zeros."),
    Bug("model_begin_state_float32", "CharRNNLM",
        "return tf.zeros((batch_size, self.units), dtype=self.compute_dtype)", "return tf.zeros((batch_size, self.units))",
        "Makes the initial state float32 whatever the model's dtype."),

    # perplexity
    Bug("perplexity_base_2", "perplexity",
        "float(np.exp(np.mean(losses.numpy(), dtype=np.float64)))",
        "float(2.0 ** np.mean(losses.numpy(), dtype=np.float64))", "Raises 2 to a cross-entropy measured in nats."),
    Bug("perplexity_softmax_as_logits", "perplexity",
        "logits=logits)", "logits=tf.nn.softmax(logits))", "Feeds probabilities where the loss expects logits."),

    # train_char_lm: every argument, the stream across epochs, the state each epoch, the reported perplexity
    Bug("train_rng_per_epoch", "train_char_lm",
        "    for _ in range(epochs):\n", "    for _ in range(epochs):\n        rng = np.random.default_rng(seed)\n",
        "Re-creates the generator every epoch, so every epoch cuts and orders the text in the same way."),
    Bug("train_history_last_batch", "train_char_lm",
        "history.append(float(np.exp(total / max(count, 1))))", "history.append(float(np.exp(float(loss))))",
        "Reports the last batch's perplexity as the epoch's."),
    Bug("train_history_mean_of_perplexities", "train_char_lm",
        "total += float(loss) * int(tf.size(Y))", "total += float(np.exp(float(loss))) * int(tf.size(Y))",
        "Averages the batches' perplexities (then takes exp of that) instead of exp of the mean cross-entropy."),
    Bug("train_state_kept_across_epochs", "train_char_lm",
        "    for _ in range(epochs):\n        state, total, count = None, 0.0, 0\n",
        "    state = None\n    for _ in range(epochs):\n        total, count = 0.0, 0\n",
        "Carries the sequential state from the end of one epoch into the start of the next."),
    Bug("train_theta_fixed", "train_char_lm",
        "model.trainable_variables), theta)", "model.trainable_variables), 1.0)", "Clips at 1 whatever theta says."),
    Bug("train_learning_rate_fixed", "train_char_lm",
        "w.assign_sub(learning_rate * g)", "w.assign_sub(0.1 * g)", "Steps with a fixed learning rate of 0.1."),
    Bug("train_iterators_swapped", "train_char_lm",
        "sampler = seq_data_iter_random if use_random_iter else seq_data_iter_sequential",
        "sampler = seq_data_iter_sequential if use_random_iter else seq_data_iter_random",
        "Uses the random iterator when asked for sequential sampling and vice versa."),
    Bug("train_batch_size_fixed", "train_char_lm",
        "sampler(corpus, batch_size, num_steps, rng)", "sampler(corpus, 32, num_steps, rng)",
        "Always uses batches of 32 rows."),
    Bug("train_gradient_ascent", "train_char_lm",
        "w.assign_sub(learning_rate * g)", "w.assign_add(learning_rate * g)", "Adds the gradient instead of subtracting it."),
    Bug("train_one_epoch", "train_char_lm",
        "for _ in range(epochs):", "for _ in range(1):", "Makes one pass whatever epochs says."),

    # generate
    Bug("gen_drops_prefix", "generate",
        'return "".join(idx_to_char[i] for i in ids)', 'return "".join(idx_to_char[i] for i in ids[len(prefix):])',
        "Returns only the new characters, without the prefix."),
    Bug("gen_one_short", "generate",
        "for _ in range(num_chars):", "for _ in range(num_chars - 1):", "Generates one character too few."),
    Bug("gen_state_not_fed_back", "generate",
        "logits, state = model(tf.constant([[ids[-1]]], tf.int32), state)",
        "logits, _ = model(tf.constant([[ids[-1]]], tf.int32), state)",
        "Does not keep the new state, so every step restarts from the state after the prefix."),

    # ---- round 4: types and edge cases the docstrings promise
    Bug("random_yields_numpy", "seq_data_iter_random",
        "yield tf.constant(X, tf.int32), tf.constant(Y, tf.int32)", "yield X.astype(np.int32), Y.astype(np.int32)",
        "Yields NumPy arrays instead of the int32 tensors the docstring promises (the values are right)."),
    Bug("sequential_stream_one_too_long", "seq_data_iter_sequential",
        "stream_len = (len(corpus) - offset - 1) // batch_size",
        "stream_len = (len(corpus) - offset) // batch_size",
        "Makes each stream one id too long whenever L - offset is a multiple of batch_size, so its labels run out."),
    Bug("sequential_offset_from_global_random", "seq_data_iter_sequential",
        "offset = int(rng.integers(0, num_steps))", "offset = int(np.random.randint(0, num_steps))",
        "Draws the offset with NumPy's global generator instead of the rng argument, so a seed repeats nothing."),
    Bug("gen_rng_none_crashes", "generate",
        "rng = np.random.default_rng() if rng is None else rng", "rng = rng",
        "Samples with rng as given, so the default rng=None crashes although the docstring promises a fresh one."),
    Bug("gen_first_char_from_first_step", "generate",
        "    if len(ids) > 1:  # warm up on all but the last prefix character, which is the first input of the loop\n"
        "        _, state = model(tf.constant([ids[:-1]], tf.int32), state)\n"
        "    for _ in range(num_chars):\n"
        "        logits, state = model(tf.constant([[ids[-1]]], tf.int32), state)\n",
        "    logits, state = model(tf.constant([ids], tf.int32), state)   # the whole prefix at once\n"
        "    for k in range(num_chars):\n"
        "        if k:\n"
        "            logits, state = model(tf.constant([[ids[-1]]], tf.int32), state)\n"
        "        else:\n"
        "            logits = logits[:, :1]\n",
        "Takes the first new character from the logits of the prefix's first step instead of its last one."),
]

# ---- hints for students (autograder/diagnosis.py): one per cause, shared by the bugs that have it, each completing
# "This pattern usually comes from ...". Several bugs per hint let a signature seen with one of them speak for a cause.
CHAR_ORDER = ("the order of the ids: characters by descending count, ties by code point (ord), numbered 0, 1, 2, ... "
              "so that idx_to_char[char_to_idx[c]] == c")
CHAR_SET = ("which characters get an id: every character of the text as it is, upper and lower case apart, "
            "punctuation, spaces and line breaks included")
LABELS_SHIFTED = "the labels: Y is X shifted by one, the character that follows each input character"
RANDOM_WINDOWS = ("the random iterator's windows: the text after the offset cut into non-overlapping windows of "
                  "num_steps, each used once, in one random order over all of them (not per batch)")
WINDOW_COUNT = ("how many windows and batches fit: the labels need one character after the last window "
                "((L - offset - 1) // num_steps windows, streams of (L - offset - 1) // batch_size), and only full "
                "batches of num_steps columns and batch_size rows")
BATCH_DTYPE = ("the batches' type and dtype: int32 TensorFlow tensors whatever the corpus's integer dtype "
               "(tf.constant(x, tf.int32)), not NumPy arrays")
STREAMS = ("the sequential iterator's streams: from an offset drawn in [0, num_steps) with the rng given, the text "
           "reshaped into batch_size contiguous rows, so that row j of a batch continues row j of the batch before")
GLOBAL_NORM = ("the global norm: the square root of the sum of the squares of every entry of every gradient, and one "
               "scale min(1, theta / norm) for all of them")
CLIP_RETURNS = ("what clip_gradients returns: a list of tensors, one per gradient, not (grads, norm); a "
                "tf.IndexedSlices cannot be multiplied by a Python float (tf.convert_to_tensor makes it dense)")
MODEL_STEP = ("the step in call: at each step t = 0..T-1, H = tanh(X[:, t] W_xh + H W_hh + b_h), every term present, "
              "W_hh untransposed, and the gradient flowing through every step")
MODEL_STATE = ("the state in call: start from the state passed in (begin_state only when it is None) and return the "
               "state after the last step")
MODEL_DTYPE = ("the model's dtype: the one-hot inputs and begin_state in self.compute_dtype (tf.one_hot and tf.zeros "
               "make float32 without dtype=)")
MODEL_INPUTS = "the one-hot inputs: tf.one_hot(X, vocab_size) adds the last axis, (n, T) -> (n, T, V)"
MODEL_INIT = "the initial weights: W_xh and W_hq Glorot-uniform, W_hh orthogonal, b_h and b_q zeros"
# base 2 and softmax-as-logits fail the same tests the same way: one hint names both
PERPLEXITY = ("the formula: exp (base e) of the MEAN cross-entropy, computed from the logits themselves (not a sum, "
              "not a mean of exps, not 2 ** ..., not from softmax probabilities)")
TRAIN_STATE = ("the state between batches: begin_state at every epoch's start and for every random batch; with "
               "sequential sampling the state carried from batch to batch (through tf.stop_gradient)")
TRAIN_RNG = "the generator: one np.random.default_rng(seed) for the whole run, made once before the first epoch"
TRAIN_REPORTED = ("the perplexity reported per epoch: exp of the mean cross-entropy over all the epoch's predicted "
                  "characters")
TRAIN_STEP = ("the update: the batch's MEAN cross-entropy, its gradients clipped with clip_gradients(grads, theta), "
              "then w -= learning_rate * g")
TRAIN_ARGUMENTS = ("an argument not honoured: epochs, batch_size and use_random_iter (True: the random iterator) as "
                   "given")
SAMPLING = ("the sampling: argmax at temperature 0, else one draw from softmax(logits / temperature) with the rng "
            "given (a fresh np.random.default_rng() when rng is None)")
GEN_STATE = ("the state while generating: warm up on the prefix from begin_state(1), each character once and in "
             "order, take every new character (the first one too) from the logits of the last step fed, and feed it "
             "back in with the state the last call returned")
GEN_RETURNS = "what generate returns: the prefix followed by exactly num_chars new characters"

HINTS = {
    "vocab_ties_first_seen": CHAR_ORDER, "vocab_alphabetical": CHAR_ORDER, "vocab_ties_reverse_code_point": CHAR_ORDER,
    "vocab_ascending_count": CHAR_ORDER, "vocab_ids_from_one": CHAR_ORDER,
    "vocab_lowercases": CHAR_SET, "vocab_drops_punctuation": CHAR_SET,
    "random_labels_not_shifted": LABELS_SHIFTED, "sequential_labels_not_shifted": LABELS_SHIFTED,
    "random_overlapping_windows": RANDOM_WINDOWS, "random_not_shuffled": RANDOM_WINDOWS,
    "random_rows_consecutive": RANDOM_WINDOWS, "random_shuffles_within_batches_only": RANDOM_WINDOWS,
    "random_keeps_partial_batch": WINDOW_COUNT, "random_one_subsequence_too_many": WINDOW_COUNT,
    "sequential_partial_last_batch": WINDOW_COUNT,
    "random_int64_batches": BATCH_DTYPE,
    "sequential_no_offset": STREAMS, "sequential_rows_interleaved": STREAMS,
    "clip_per_tensor": GLOBAL_NORM, "clip_always": GLOBAL_NORM, "clip_squared_norm": GLOBAL_NORM,
    "clip_sum_of_norms": GLOBAL_NORM,
    "clip_returns_norm_too": CLIP_RETURNS, "clip_python_float_scale": CLIP_RETURNS,
    "model_transposed_W_hh": MODEL_STEP, "model_no_hidden_bias": MODEL_STEP, "model_relu": MODEL_STEP,
    "model_gradient_cut_every_step": MODEL_STEP,
    "model_ignores_state": MODEL_STATE, "model_returns_first_state": MODEL_STATE,
    "model_one_hot_float32": MODEL_DTYPE, "model_begin_state_float32": MODEL_DTYPE,
    "model_one_hot_wrong_axis": MODEL_INPUTS,
    "model_W_hh_glorot": MODEL_INIT, "model_random_output_bias": MODEL_INIT,
    "perplexity_exp_of_sum": PERPLEXITY, "perplexity_mean_of_exp": PERPLEXITY, "perplexity_base_2": PERPLEXITY,
    "perplexity_log_of_softmax": PERPLEXITY, "perplexity_softmax_as_logits": PERPLEXITY,
    "train_state_carried_across_random_batches": TRAIN_STATE, "train_state_never_carried": TRAIN_STATE,
    "train_state_kept_across_epochs": TRAIN_STATE,
    "train_seed_ignored": TRAIN_RNG, "train_rng_per_epoch": TRAIN_RNG,
    "train_history_last_batch": TRAIN_REPORTED, "train_history_mean_of_perplexities": TRAIN_REPORTED,
    "train_no_clipping": TRAIN_STEP, "train_loss_sum": TRAIN_STEP, "train_theta_fixed": TRAIN_STEP,
    "train_learning_rate_fixed": TRAIN_STEP, "train_gradient_ascent": TRAIN_STEP,
    "train_iterators_swapped": TRAIN_ARGUMENTS, "train_batch_size_fixed": TRAIN_ARGUMENTS,
    "train_one_epoch": TRAIN_ARGUMENTS,
    "gen_ignores_temperature": SAMPLING, "gen_multiplies_temperature": SAMPLING, "gen_argmax_when_sampling": SAMPLING,
    "gen_rng_ignored": SAMPLING,
    "gen_no_warm_up": GEN_STATE, "gen_prefix_fed_twice": GEN_STATE, "gen_state_not_fed_back": GEN_STATE,
    "gen_drops_prefix": GEN_RETURNS, "gen_one_short": GEN_RETURNS,
    "random_yields_numpy": BATCH_DTYPE, "sequential_stream_one_too_long": WINDOW_COUNT,
    "sequential_offset_from_global_random": STREAMS, "gen_rng_none_crashes": SAMPLING,
    "gen_first_char_from_first_step": GEN_STATE,
}
BUGS = with_hints(BUGS, HINTS)
