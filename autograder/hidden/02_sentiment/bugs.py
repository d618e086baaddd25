"""Realistic student bugs for assignment 2 (many-to-one sentiment classifier), as substitutions in
solutions/sentiment.py.

Every bug costs points on its own item only: the hidden suite builds the vocabulary and ids of its training check
on the trusted side, trains the student's model with the reference train_sentiment (``uses``), checks
train_sentiment on a model the harness builds (so a softmax output and a loss with from_logits=False cannot cancel
out), and lets many_to_one_grads call the reference forward pass.
Several bugs only show with rows of different lengths (including empty and full ones), repeated tokens within a
sentence, tied counts, non-symmetric W_hh, float64 parameters, or a second training run with another seed; the
hidden suite uses all of them.
"""
from autograder.simulation.catalogue import Bug, with_hints

TRAINING = {"build_sentiment_model", "train_sentiment"}

BUGS = [
    # The first bug of each cell is the one the demo's simulated class uses.
    Bug("fwd_first_state", "many_to_one_forward",
        "tf.one_hot(lengths - 1, T, dtype=dtype)", "tf.one_hot(tf.zeros_like(lengths), T, dtype=dtype)",
        "Classifies from the hidden state after the first word instead of the last real one."),
    Bug("grads_W_hh_not_transposed", "many_to_one_grads",
        "dH_next = dA @ tf.transpose(W_hh)", "dH_next = dA @ W_hh", "Sends the gradient back to H_{t-1} through W_hh instead of W_hh transposed."),
    Bug("model_no_mask", "build_sentiment_model",
        "keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True)",
        "keras.layers.Embedding(vocab_size, embed_dim)", "Forgets mask_zero=True, so the RNN reads the padding as words and classifies from H_T."),

    # build_vocab
    Bug("vocab_ties_first_seen", "build_vocab",
        "key=lambda token: (-counts[token], token)", "key=lambda token: -counts[token]", "Sorts by count only, so tied tokens keep the order in which they were first seen."),
    Bug("vocab_ascending_counts", "build_vocab",
        "(-counts[token], token)", "(counts[token], token)", "Sorts the tokens from the rarest to the most frequent."),
    Bug("vocab_min_freq_strict", "build_vocab",
        "counts[token] >= min_freq", "counts[token] > min_freq", "Keeps only tokens seen more than min_freq times instead of at least min_freq times."),
    Bug("vocab_no_reserved_ids", "build_vocab",
        'vocab = {"<pad>": 0, "<unk>": 1}', "vocab = {}", "Forgets to reserve ids 0 and 1 for '<pad>' and '<unk>', so real words start at 0."),
    Bug("vocab_counts_sentences", "build_vocab",
        "for token in tokens:", "for token in set(tokens):", "Counts in how many sentences a token appears instead of how often it appears."),

    # encode
    Bug("encode_truncates_one_short", "encode",
        "tokens[:max_len]", "tokens[:max_len - 1]", "Off by one: keeps max_len - 1 tokens of every sentence."),
    Bug("encode_pads_front", "encode",
        "ids[i, :len(row)] = row", "ids[i, max_len - len(row):] = row", "Puts the padding before the words instead of after them."),
    Bug("encode_unknown_as_padding", "encode",
        "vocab.get(token, 1)", "vocab.get(token, 0)", "Maps unknown tokens to the padding id 0 instead of '<unk>' (1)."),
    Bug("encode_int64", "encode",
        "dtype=np.int32", "dtype=np.int64", "Returns int64 ids instead of int32."),

    # many_to_one_forward
    Bug("fwd_padding_counted", "many_to_one_forward",
        'H_last = tf.einsum("nt,nth->nh", pick, tf.stack(states, axis=1))', "H_last = states[-1]",
        "Classifies from the state after the last column, counting the padding as input."),
    Bug("fwd_length_off_by_one", "many_to_one_forward",
        "tf.one_hot(lengths - 1, T, dtype=dtype)", "tf.one_hot(lengths, T, dtype=dtype)",
        "Off by one: picks the state after the first padding id (and H_0 for a full row)."),
    Bug("fwd_transposed_W_hh", "many_to_one_forward",
        "H @ W_hh", "H @ tf.transpose(W_hh)", "Multiplies the previous state by W_hh transposed; only a symmetric W_hh hides it."),
    Bug("fwd_softmax_output", "many_to_one_forward",
        'return H_last @ params["W_hq"] + params["b_q"]',
        'return tf.nn.softmax(H_last @ params["W_hq"] + params["b_q"])', "Returns probabilities instead of logits."),
    Bug("fwd_hardcoded_float32", "many_to_one_forward",
        "dtype, T = W_xh.dtype, ids.shape[1]", "dtype, T = tf.float32, ids.shape[1]", "Builds the one-hot inputs and H_0 in float32 whatever the params' dtype, so float64 fails."),

    # many_to_one_grads
    Bug("grads_loss_summed", "many_to_one_grads",
        "loss = -tf.reduce_sum(Y * log_p) / n\n    dlogits = (tf.exp(log_p) - Y) / n",
        "loss = -tf.reduce_sum(Y * log_p)\n    dlogits = tf.exp(log_p) - Y", "Sums the loss (and its gradients) over the batch instead of averaging."),
    Bug("grads_no_tanh_derivative", "many_to_one_grads",
        "dA = dH * (1 - states[t + 1] ** 2)", "dA = dH", "Forgets the tanh derivative 1 - H_t^2."),
    Bug("grads_tanh_derivative_of_previous_state", "many_to_one_grads",
        "(1 - states[t + 1] ** 2)", "(1 - states[t] ** 2)", "Takes tanh' from H_{t-1} instead of H_t (off by one in the cache)."),
    Bug("grads_one_step_only", "many_to_one_grads",
        "dH = dH_next + pick[:, t:t + 1] * dH_last", "dH = pick[:, t:t + 1] * dH_last", "Drops the gradient coming back from H_{t+1}: backpropagates through one step only."),
    Bug("grads_autodiff", "many_to_one_grads",
        "    return loss, grads",
        "    variables = {k: tf.Variable(v) for k, v in params.items()}\n"
        "    with tf.GradientTape() as tape:\n"
        "        logits = many_to_one_forward(ids, variables)\n"
        "        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))\n"
        "    return loss, tape.gradient(loss, variables)",
        "Lets tf.GradientTape compute the gradients the assignment asks to derive by hand."),

    # build_sentiment_model
    Bug("model_bag_of_words", "build_sentiment_model",
        "keras.layers.SimpleRNN(units)", "keras.layers.GlobalAveragePooling1D()", "Averages the word embeddings instead of reading them in order."),
    Bug("model_softmax_output", "build_sentiment_model",
        "keras.layers.Dense(num_classes)", 'keras.layers.Dense(num_classes, activation="softmax")',
        "Ends the model with a softmax, so it returns probabilities instead of logits."),

    # train_sentiment
    Bug("train_from_logits_false", "train_sentiment",
        "SparseCategoricalCrossentropy(from_logits=True)", "SparseCategoricalCrossentropy()", "Treats the model's logits as probabilities in the loss."),
    Bug("train_seed_ignored", "train_sentiment",
        "    keras.utils.set_random_seed(seed)\n    model.compile(", "    model.compile(", "Never uses the seed, so a run cannot be repeated."),
    Bug("train_one_epoch", "train_sentiment",
        "epochs=epochs", "epochs=1", "Ignores the epochs argument and trains for one epoch."),

    # --- added in round 2: every sentence of every docstring
    Bug("vocab_min_freq_ignored", "build_vocab",
        "if counts[token] >= min_freq and token not in vocab:", "if token not in vocab:",
        "Ignores min_freq and keeps every token."),
    Bug("vocab_ids_skip_one", "build_vocab",
        "vocab[token] = len(vocab)", "vocab[token] = len(vocab) + 1", "Numbers the words from 3, leaving a gap after '<unk>'."),
    Bug("vocab_ties_reverse_alphabetical", "build_vocab",
        "key=lambda token: (-counts[token], token)", "key=lambda token: (-counts[token], [-ord(c) for c in token])",
        "Breaks ties in reverse alphabetical order."),
    Bug("encode_width_of_longest", "encode",
        "np.zeros((len(token_lists), max_len), dtype=np.int32)",
        "np.zeros((len(token_lists), min(max_len, max(map(len, token_lists), default=0))), dtype=np.int32)",
        "Pads only up to the longest sentence, so the width is below max_len when every sentence is shorter."),
    Bug("encode_keeps_last_tokens", "encode",
        "tokens[:max_len]", "tokens[-max_len:]", "Cuts long sentences from the front, keeping their last max_len tokens."),
    Bug("fwd_no_hidden_bias", "many_to_one_forward",
        "H = tf.tanh(X[:, t] @ W_xh + H @ W_hh + b_h)", "H = tf.tanh(X[:, t] @ W_xh + H @ W_hh)", "Forgets b_h in the recurrence."),
    Bug("fwd_relu", "many_to_one_forward",
        "H = tf.tanh(", "H = tf.nn.relu(", "Uses ReLU instead of tanh in the recurrence."),
    Bug("fwd_H0_ones", "many_to_one_forward",
        "H = tf.zeros((tf.shape(ids)[0], tf.shape(W_hh)[0]), dtype=dtype)",
        "H = tf.ones((tf.shape(ids)[0], tf.shape(W_hh)[0]), dtype=dtype)", "Starts the recurrence from H_0 = 1 instead of 0."),
    Bug("grads_input_off_by_one", "many_to_one_grads",
        "dW_xh += tf.transpose(X[:, t]) @ dA", "dW_xh += tf.transpose(X[:, t - 1]) @ dA", "Pairs dA_t with the input of the step before."),
    Bug("grads_autodiff_via_forward_alias", "many_to_one_grads",
        "    return loss, grads",
        "    tape_cls = getattr(tf, 'Gradient' + 'Tape')\n"
        "    variables = {k: tf.Variable(v) for k, v in params.items()}\n"
        "    with tape_cls() as t:\n"
        "        out = many_to_one_forward(ids, variables)\n"
        "        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, out))\n"
        "    return loss, t.gradient(loss, variables)",
        "Hides tf.GradientTape behind getattr: still automatic differentiation."),
    Bug("grads_missing_b_h", "many_to_one_grads",
        "grads.update(W_xh=dW_xh, W_hh=dW_hh, b_h=db_h)", "grads.update(W_xh=dW_xh, W_hh=dW_hh)", "Forgets to return the gradient of b_h."),
    Bug("grads_hardcoded_float32", "many_to_one_grads",
        "dtype, T = W_xh.dtype, ids.shape[1]", "dtype, T = tf.float32, ids.shape[1]", "Builds everything in float32, so float64 parameters fail."),
    Bug("model_units_from_embed_dim", "build_sentiment_model",
        "keras.layers.SimpleRNN(units)", "keras.layers.SimpleRNN(embed_dim)", "Gives the recurrent layer embed_dim units instead of units."),
    Bug("model_embedding_width_units", "build_sentiment_model",
        "keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True)",
        "keras.layers.Embedding(vocab_size, units, mask_zero=True)", "Makes the embeddings units wide instead of embed_dim."),
    Bug("model_two_classes_always", "build_sentiment_model",
        "keras.layers.Dense(num_classes)", "keras.layers.Dense(2)", "Ignores num_classes and always returns 2 logits."),
    Bug("train_lr_ignored", "train_sentiment",
        "keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0)",
        "keras.optimizers.Adam(global_clipnorm=1.0)", "Never passes learning_rate, so Adam keeps its default 0.001."),
    Bug("train_rmsprop", "train_sentiment",
        "keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0)",
        "keras.optimizers.RMSprop(learning_rate=learning_rate)",
        "Uses RMSprop instead of Adam, whose first step is about 3.2 times learning_rate."),
    Bug("train_sgd", "train_sentiment",
        "keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0)",
        "keras.optimizers.SGD(learning_rate=learning_rate)",
        "Uses plain SGD instead of Adam, so learning_rate is not the size of a step."),
    Bug("train_batch_size_ignored", "train_sentiment",
        "rows.batch(batch_size)", "rows.batch(32)", "Hard-codes batches of 32 rows instead of batch_size."),
    Bug("train_no_shuffle", "train_sentiment",
        ".shuffle(len(X), seed=seed, reshuffle_each_iteration=True)", "",
        "Trains on the rows in the same order every epoch, so the seed changes nothing."),
    Bug("train_shuffle_once", "train_sentiment",
        "seed=seed, reshuffle_each_iteration=True)", "seed=seed, reshuffle_each_iteration=False)",
        "Shuffles the rows once, so every epoch sees them in the same order."),
    Bug("train_fit_shuffle_after_global_seed", "train_sentiment",
        "model.fit(rows.batch(batch_size), epochs=epochs, shuffle=False, verbose=0)",
        "model.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)",
        "Relies on model.fit(shuffle=True), which repeats one order every epoch once the global seed is set."),
    Bug("train_history_after_each_epoch", "train_sentiment",
        "    history = model.fit(rows.batch(batch_size), epochs=epochs, shuffle=False, verbose=0)\n"
        "    return {\"loss\": [float(v) for v in history.history[\"loss\"]],\n"
        "            \"accuracy\": [float(v) for v in history.history[\"accuracy\"]]}",
        "    history = {\"loss\": [], \"accuracy\": []}\n"
        "    for _ in range(epochs):\n"
        "        model.fit(rows.batch(batch_size), epochs=1, shuffle=False, verbose=0)\n"
        "        loss, accuracy = model.evaluate(X, y, batch_size=batch_size, verbose=0)\n"
        "        history[\"loss\"].append(float(loss))\n"
        "        history[\"accuracy\"].append(float(accuracy))\n"
        "    return history",
        "Reports the loss and accuracy measured after each epoch, not their means while the epoch trained."),

    # ---- round 4: the reading direction, an output activation, shuffles that do not mix every row, the return type
    Bug("model_reads_backwards", "build_sentiment_model",
        "keras.layers.SimpleRNN(units),", "keras.layers.SimpleRNN(units, go_backwards=True),",
        "Reads each sentence from its last word to its first (go_backwards=True)."),
    Bug("model_relu_logits", "build_sentiment_model",
        "keras.layers.Dense(num_classes),", 'keras.layers.Dense(num_classes, activation="relu"),',
        "Puts a ReLU on the output layer, so no logit is ever negative."),
    Bug("train_shuffle_buffer_of_a_batch", "train_sentiment",
        ".shuffle(len(X), seed=seed,", ".shuffle(batch_size, seed=seed,",
        "Shuffles with a buffer of batch_size rows, which only mixes nearby rows: the order stays close to the "
        "data's."),
    Bug("train_batches_shuffled_whole", "train_sentiment",
        "rows = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(len(X), seed=seed, reshuffle_each_iteration=True)\n"
        "    history = model.fit(rows.batch(batch_size),",
        "rows = tf.data.Dataset.from_tensor_slices((X, y)).batch(batch_size)\n"
        "    rows = rows.shuffle(len(X), seed=seed, reshuffle_each_iteration=True)\n"
        "    history = model.fit(rows,",
        "Batches before shuffling, so whole batches change places but every batch holds the same rows every epoch."),
    Bug("train_returns_fit_history", "train_sentiment",
        "    return {\"loss\": [float(v) for v in history.history[\"loss\"]],\n"
        "            \"accuracy\": [float(v) for v in history.history[\"accuracy\"]]}",
        "    return history",
        "Returns the History object of model.fit instead of the dict of lists."),
    Bug("grads_db_h_mean", "many_to_one_grads",
        "db_h += tf.reduce_sum(dA, axis=0)", "db_h += tf.reduce_mean(dA, axis=0)",
        "Averages the bias gradient over the batch although dlogits already holds the 1/n."),
    Bug("grads_dW_hh_from_new_state", "many_to_one_grads",
        "dW_hh += tf.transpose(states[t]) @ dA", "dW_hh += tf.transpose(states[t + 1]) @ dA",
        "Builds dW_hh from the state step t made instead of the one it started from."),
]

# ---- hints for students (autograder/diagnosis.py): one per cause, shared by the bugs that have it, each completing
# "This pattern usually comes from ...". Several bugs per hint let a signature seen with one of them speak for a cause.
VOCAB_ORDER = ("the order of the ids: '<pad>' 0, '<unk>' 1, then the tokens numbered 2, 3, ... without gaps, by "
               "descending count, ties in alphabetical order")
VOCAB_ENTRIES = ("which entries the vocabulary holds: '<pad>' (0) and '<unk>' (1) always, then every token counted at "
                 "least min_freq times over all the sentences (a token twice in one sentence counts twice)")
ENCODE_WIDTH = ("the rows' width: every row is max_len ids wide, and a longer sentence keeps its first max_len "
                "tokens")
ENCODE_ROWS = ("the ids in a row: the sentence's ids first (a token not in vocab as 1, '<unk>'), then the padding "
               "id 0 up to max_len")
ENCODE_DTYPE = "the ids' dtype: np.zeros(..., dtype=np.int32) (NumPy's default integer is int64)"
DTYPE_KEPT = ("a tensor built in float32 whatever the params' dtype: take the dtype from the params (W_xh.dtype) "
              "for the one-hot inputs, H_0 and every constant")
RECURRENCE = ("the recurrence: H[:, t] = tanh(X[:, t] W_xh + H[:, t-1] W_hh + b_h) for t = 0..T-1 from a zero state, "
              "with every term present and W_hh untransposed")
LOGITS_READ = ("the logits returned: H[:, L-1] W_hq + b_q with no softmax, H[:, L-1] the state after the row's last "
               "real token (L = its number of non-zero ids; the zero state for an empty row), not the state after the "
               "padding")
BPTT = ("the way back through time: for t = T-1 down to 0, dH = what step t+1 sends back plus the output's share, "
        "dA = dH * (1 - H[:, t]^2) with H[:, t] the state after step t, dW_xh += X[:, t]^T dA, "
        "dW_hh += H[:, t-1]^T dA, and dA W_hh^T goes back to step t-1")
BIAS_GRADIENT = ("the bias gradient: b_h is added to every row, so db_h += the sum over the batch of dA (dlogits "
                 "already holds the 1/n of the mean)")
LOSS_MEAN = "the mean over the batch: loss = -(1/n) sum_i log p[i, label_i], so dlogits = (p - Y) / n"
AUTODIFF = ("automatic differentiation (tf.GradientTape, tf.gradients) in many_to_one_grads: the item is the "
            "derivation by hand, and earns nothing while a tape computes the gradients")
GRADS_RETURNED = ("the gradients returned: a dict with every key of params (W_xh, W_hh, b_h, W_hq, b_q), each of "
                  "its parameter's shape and dtype")
MODEL_SIZES = ("the layers' sizes: Embedding(vocab_size, embed_dim), a recurrent layer of `units` units, "
               "Dense(num_classes)")
MODEL_READS = ("how the model reads a sentence: Embedding(mask_zero=True) so that padding is skipped, then a "
               "recurrent layer that reads the words in order, first to last (not an average of them, not "
               "go_backwards)")
LOGITS_ONLY = ("logits and the loss: the last Dense layer has no activation (no softmax, no ReLU), the model "
               "returns logits and the loss applies the softmax (SparseCategoricalCrossentropy(from_logits=True))")
TRAIN_ARGUMENTS = ("an argument not honoured: epochs, batch_size and learning_rate go to model.fit and "
                   "keras.optimizers.Adam as given")
OPTIMIZER = ("the optimizer: keras.optimizers.Adam(learning_rate=learning_rate), whose first step moves each weight "
             "by about learning_rate")
SHUFFLING = ("the shuffling: keras.utils.set_random_seed(seed) first, then the rows (not whole batches) shuffled "
             "anew every epoch, every row mixed with every other (a tf.data.Dataset of the rows with a buffer of "
             "len(X) and reshuffle_each_iteration=True, then .batch; fit(shuffle=True) repeats one order)")
HISTORY = ("what is reported: a dict of plain lists from fit's history (not the History object), the mean loss and "
           "accuracy over each epoch's batches while it trained, not an evaluation after the epoch")

HINTS = {
    "vocab_ties_first_seen": VOCAB_ORDER, "vocab_ties_reverse_alphabetical": VOCAB_ORDER,
    "vocab_ascending_counts": VOCAB_ORDER, "vocab_ids_skip_one": VOCAB_ORDER,
    "vocab_min_freq_strict": VOCAB_ENTRIES, "vocab_no_reserved_ids": VOCAB_ENTRIES,
    "vocab_counts_sentences": VOCAB_ENTRIES, "vocab_min_freq_ignored": VOCAB_ENTRIES,
    "encode_truncates_one_short": ENCODE_WIDTH, "encode_keeps_last_tokens": ENCODE_WIDTH,
    "encode_width_of_longest": ENCODE_WIDTH,
    "encode_pads_front": ENCODE_ROWS, "encode_unknown_as_padding": ENCODE_ROWS, "encode_int64": ENCODE_DTYPE,
    "fwd_transposed_W_hh": RECURRENCE, "fwd_no_hidden_bias": RECURRENCE, "fwd_relu": RECURRENCE,
    "fwd_H0_ones": RECURRENCE,
    "fwd_first_state": LOGITS_READ, "fwd_padding_counted": LOGITS_READ, "fwd_length_off_by_one": LOGITS_READ,
    "fwd_softmax_output": LOGITS_READ,
    "fwd_hardcoded_float32": DTYPE_KEPT, "grads_hardcoded_float32": DTYPE_KEPT,
    "grads_W_hh_not_transposed": BPTT, "grads_no_tanh_derivative": BPTT, "grads_tanh_derivative_of_previous_state": BPTT,
    "grads_one_step_only": BPTT, "grads_input_off_by_one": BPTT,
    "grads_loss_summed": LOSS_MEAN,
    "grads_autodiff": AUTODIFF, "grads_autodiff_via_forward_alias": AUTODIFF,
    "grads_missing_b_h": GRADS_RETURNED,
    "model_units_from_embed_dim": MODEL_SIZES, "model_embedding_width_units": MODEL_SIZES,
    "model_two_classes_always": MODEL_SIZES,
    "model_no_mask": MODEL_READS, "model_bag_of_words": MODEL_READS,
    "model_softmax_output": LOGITS_ONLY, "train_from_logits_false": LOGITS_ONLY,
    "train_one_epoch": TRAIN_ARGUMENTS, "train_lr_ignored": TRAIN_ARGUMENTS, "train_batch_size_ignored": TRAIN_ARGUMENTS,
    "train_rmsprop": OPTIMIZER, "train_sgd": OPTIMIZER,
    "train_seed_ignored": SHUFFLING, "train_no_shuffle": SHUFFLING, "train_shuffle_once": SHUFFLING,
    "train_fit_shuffle_after_global_seed": SHUFFLING,
    "train_history_after_each_epoch": HISTORY, "train_returns_fit_history": HISTORY,
    "model_reads_backwards": MODEL_READS, "model_relu_logits": LOGITS_ONLY,
    "train_shuffle_buffer_of_a_batch": SHUFFLING, "train_batches_shuffled_whole": SHUFFLING,
    "grads_db_h_mean": BIAS_GRADIENT, "grads_dW_hh_from_new_state": BPTT,
}
BUGS = with_hints(BUGS, HINTS)
