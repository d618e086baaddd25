"""Correct solutions of assignment 2 other than the reference, as substitutions in solutions/sentiment.py: each must
score full marks on every item (tests/test_grading.py)."""
from autograder.simulation.catalogue import Variant

VARIANTS = [
    Variant("vocab_counter_and_sorted_items", "build_vocab",
            "    counts = {}\n    for tokens in token_lists:\n        for token in tokens:\n"
            "            counts[token] = counts.get(token, 0) + 1\n",
            "    import collections\n    counts = collections.Counter(t for tokens in token_lists for t in tokens)\n",
            "collections.Counter instead of a dict of counts."),
    Variant("encode_pad_sequences", "encode",
            "    ids = np.zeros((len(token_lists), max_len), dtype=np.int32)\n"
            "    for i, tokens in enumerate(token_lists):\n"
            "        row = [vocab.get(token, 1) for token in tokens[:max_len]]\n"
            "        ids[i, :len(row)] = row\n    return ids",
            "    rows = [[vocab.get(token, 1) for token in tokens] for tokens in token_lists]\n"
            "    return keras.utils.pad_sequences(rows, maxlen=max_len, dtype='int32', padding='post', "
            "truncating='post', value=0)",
            "keras.utils.pad_sequences (post padding and truncation) instead of a loop."),
    Variant("fwd_gather_and_last_state_gather", "many_to_one_forward",
            "    X = tf.one_hot(ids, tf.shape(W_xh)[0], dtype=dtype)                  # (n, T, V)\n"
            "    H = tf.zeros((tf.shape(ids)[0], tf.shape(W_hh)[0]), dtype=dtype)     # the state before step 0\n"
            "    states = []\n"
            "    for t in range(T):\n"
            "        H = tf.tanh(X[:, t] @ W_xh + H @ W_hh + b_h)\n"
            "        states.append(H)\n"
            "    lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)         # (n,) real tokens per row\n"
            "    # one_hot(L - 1) picks the state of step L - 1; for L = 0 it is all zeros, which gives the zero "
            "state\n"
            "    pick = tf.one_hot(lengths - 1, T, dtype=dtype)                       # (n, T)\n"
            "    H_last = tf.einsum(\"nt,nth->nh\", pick, tf.stack(states, axis=1))     # (n, h)\n",
            "    XW = tf.gather(W_xh, ids)                                 # (n, T, h): the rows of W_xh\n"
            "    H = tf.zeros((tf.shape(ids)[0], tf.shape(W_hh)[0]), dtype=dtype)\n"
            "    states = [H]                                              # H_0, H_1, ..., H_T\n"
            "    for t in range(T):\n"
            "        H = tf.tanh(XW[:, t] + tf.matmul(H, W_hh) + b_h)\n"
            "        states.append(H)\n"
            "    lengths = tf.math.count_nonzero(ids, axis=1, dtype=tf.int32)\n"
            "    H_last = tf.gather(tf.stack(states, axis=1), lengths, batch_dims=1)   # H_L, H_0 for L = 0\n",
            "tf.gather of the rows of W_xh instead of one-hot products, and of H_L by its length."),
    Variant("grads_named_gradients_grad", "many_to_one_grads",
            "    grads.update(W_xh=dW_xh, W_hh=dW_hh, b_h=db_h)\n    return loss, grads",
            "    gradients = dict(grads, W_xh=dW_xh, W_hh=dW_hh, b_h=db_h)\n"
            "    for name, grad in list(gradients.items()):  # names that say 'gradient' are not autodiff\n"
            "        gradients[name] = tf.cast(grad, dtype)\n    return loss, gradients",
            "Hand-written gradients in a dict named gradients, with a loop variable grad."),
    Variant("grads_tf_nn_cross_entropy_and_softmax", "many_to_one_grads",
            "    shifted = logits - tf.reduce_max(logits, axis=1, keepdims=True)\n"
            "    log_p = shifted - tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=1, keepdims=True))\n"
            "    Y = tf.one_hot(labels, tf.shape(W_hq)[1], dtype=dtype)\n"
            "    loss = -tf.reduce_sum(Y * log_p) / n\n"
            "    dlogits = (tf.exp(log_p) - Y) / n                                     # (n, C)\n",
            "    Y = tf.one_hot(labels, tf.shape(W_hq)[1], dtype=dtype)\n"
            "    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(\n"
            "        labels=tf.cast(labels, tf.int32), logits=logits))\n"
            "    dlogits = (tf.nn.softmax(logits, axis=1) - Y) / n\n",
            "The loss from tf.nn.sparse_softmax_cross_entropy_with_logits and p from tf.nn.softmax (no autodiff)."),
    Variant("model_gru", "build_sentiment_model",
            "keras.layers.SimpleRNN(units)", "keras.layers.GRU(units)", "A GRU instead of a SimpleRNN."),
    Variant("model_lstm", "build_sentiment_model",
            "keras.layers.SimpleRNN(units)", "keras.layers.LSTM(units)", "An LSTM instead of a SimpleRNN."),
    Variant("train_adam_without_clipping", "train_sentiment",
            "keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0)",
            "keras.optimizers.Adam(learning_rate)", "Adam without gradient clipping (the contract asks for Adam only)."),
    Variant("train_adam_clipnorm_per_tensor", "train_sentiment",
            "keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0)",
            "keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=1.0)",
            "Adam clipping each gradient tensor (clipnorm; the contract asks for Adam, clipping is free)."),
    Variant("train_keras_loss_function_and_accuracy_metric", "train_sentiment",
            "                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),\n"
            "                  metrics=[\"accuracy\"])",
            "                  loss=lambda y_true, y_pred: keras.losses.sparse_categorical_crossentropy(\n"
            "                      y_true, y_pred, from_logits=True),\n"
            "                  metrics=[keras.metrics.SparseCategoricalAccuracy(name=\"accuracy\")])",
            "keras.losses.sparse_categorical_crossentropy(from_logits=True) as a loss function and Keras's "
            "SparseCategoricalAccuracy metric."),
    Variant("train_hand_written_loop", "train_sentiment",
            "    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0),\n"
            "                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),\n"
            "                  metrics=[\"accuracy\"])\n"
            "    # model.fit(X, y, shuffle=True) would repeat one order every epoch once the global seed is set (TensorFlow\n"
            "    # backend): a dataset reshuffled on every pass shuffles anew each epoch, still repeatably from the seed\n"
            "    # (fit's own shuffle=False only says so, which silences Keras's warning that it cannot shuffle a dataset)\n"
            "    rows = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(len(X), seed=seed, reshuffle_each_iteration=True)\n"
            "    history = model.fit(rows.batch(batch_size), epochs=epochs, shuffle=False, verbose=0)\n"
            "    return {\"loss\": [float(v) for v in history.history[\"loss\"]],\n"
            "            \"accuracy\": [float(v) for v in history.history[\"accuracy\"]]}",
            "    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)\n"
            "    X, y = tf.constant(X), tf.cast(y, tf.int64)\n"
            "\n"
            "    @tf.function\n"
            "    def step(xb, yb):\n"
            "        with tf.GradientTape() as tape:\n"
            "            logits = model(xb, training=True)\n"
            "            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))\n"
            "        grads = tape.gradient(loss, model.trainable_variables)\n"
            "        optimizer.apply_gradients(zip(grads, model.trainable_variables))\n"
            "        return loss, tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == yb, tf.float32))\n"
            "\n"
            "    history = {\"loss\": [], \"accuracy\": []}\n"
            "    n = len(X)\n"
            "    for _ in range(epochs):\n"
            "        order = tf.random.shuffle(tf.range(n))\n"
            "        losses, right = [], 0.0\n"
            "        for start in range(0, n, batch_size):\n"
            "            rows = order[start:start + batch_size]\n"
            "            loss, hits = step(tf.gather(X, rows), tf.gather(y, rows))\n"
            "            losses.append(float(loss))\n"
            "            right += float(hits)\n"
            "        history[\"loss\"].append(sum(losses) / len(losses))  # the mean of the batch means\n"
            "        history[\"accuracy\"].append(right / n)\n"
            "    return history",
            "A hand-written tf.GradientTape loop with tf.random.shuffle, reporting the mean of its batch losses."),
    Variant("train_dataset_into_fit_with_its_default", "train_sentiment",
            "model.fit(rows.batch(batch_size), epochs=epochs, shuffle=False, verbose=0)",
            "model.fit(rows.batch(batch_size), epochs=epochs, verbose=0)",
            "The shuffled dataset into fit with fit's own default shuffle=True, which Keras ignores for a dataset "
            "(it only warns)."),
]
