"""Realistic student bugs for assignment 3 (character-level language model), as substitutions in
solutions/char_lm.py.

``train_char_lm`` calls the iterators and ``clip_gradients`` and trains the student's own ``CharRNNLM``; the hidden
suite checks it by recording what it feeds the model (batches, states, weight updates, under random sampling with
clipping always active and under sequential sampling with clipping never active) and by the held-out perplexity
of the model it trains. So a bug in a piece that training uses also costs the points of ``train_char_lm`` when it
changes what training does under those settings (labels not shifted, per-tensor or unconditional clipping, a model
that ignores the state it is given, since the held-out text arrives one step at a time), and breaks its own item
alone when it does not (an offset that is always 0, a model that fails only in float64, a gradient cut inside the
model, whose updates are still those of its own gradients). ``generate`` is checked against the student's own
model, so model bugs that still run leave it whole, while a model that cannot run at all breaks it too.
"""
from autograder.simulation.catalogue import Bug

MODEL_USERS = {"CharRNNLM", "train_char_lm", "generate"}

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
]
