"""Reference solution of Assignment 2: a many-to-one RNN that classifies the sentiment of a sentence.

``rnnkit build`` writes each function into its answer cell; the release keeps the signature and the docstring
(written for students) and replaces the body. The bodies use only what the notebook's set-up cell imports (``np``,
``tf``, ``keras``); none calls another answer function, so a bug stays in its own item.
"""
import numpy as np
import tensorflow as tf
import keras


def build_vocab(token_lists, min_freq=1):
    """Maps every token seen at least ``min_freq`` times to an integer id.

    Ids 0 and 1 are reserved: ``'<pad>'`` (the padding after a short sentence) and ``'<unk>'`` (any token not in
    the vocabulary). Then come the tokens by descending count, ties in alphabetical order, so the vocabulary is
    the same whatever the order of the sentences.

    Args:
        token_lists: list of n lists of str tokens.
        min_freq: int, the smallest count a token needs to get its own id.

    Returns:
        dict str -> int with ``vocab['<pad>'] == 0``, ``vocab['<unk>'] == 1`` and ids 0..len(vocab)-1.
    """
    # rnnkit-canary: solution-only
    counts = {}
    for tokens in token_lists:
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
    vocab = {"<pad>": 0, "<unk>": 1}
    for token in sorted(counts, key=lambda token: (-counts[token], token)):
        if counts[token] >= min_freq and token not in vocab:
            vocab[token] = len(vocab)
    return vocab


def encode(token_lists, vocab, max_len):
    """Turns token lists into a padded matrix of ids.

    Row i holds the ids of the first ``max_len`` tokens of sentence i, then zeros (``'<pad>'``) up to
    ``max_len``. A token missing from ``vocab`` becomes 1 (``'<unk>'``).

    Args:
        token_lists: list of n lists of str tokens.
        vocab: dict str -> int, as made by ``build_vocab``.
        max_len: int, the number of columns T.

    Returns:
        np.ndarray of dtype int32 and shape (n, max_len), whatever the sentences' lengths (all shorter than
        ``max_len`` or not): shorter rows end in padding, longer sentences lose their last tokens.
    """
    ids = np.zeros((len(token_lists), max_len), dtype=np.int32)
    for i, tokens in enumerate(token_lists):
        row = [vocab.get(token, 1) for token in tokens[:max_len]]
        ids[i, :len(row)] = row
    return ids


def many_to_one_forward(ids, params):
    """Logits of a many-to-one RNN: read the whole sentence, classify from the last real hidden state.

    Time counts as in Python (and Assignment 1): step t = 0..T-1 reads X[:, t], the one-hot row (the row of
    the identity) of ids[:, t], and the state before step 0 is zeros:

        H[:, t] = tanh(X[:, t] W_xh + H[:, t-1] W_hh + b_h)      t = 0..T-1, with H[:, -1] = 0
        logits = H[:, L-1] W_hq + b_q                             L = number of non-padding ids of the row

    Padding (id 0) comes only at the end of a row, so H[:, L-1] is the state after its last real token; a row of
    padding only has L = 0 and uses the zero state from before step 0, so its logits are b_q.

    Args:
        ids: int tensor (n, T).
        params: dict of float tensors ``W_xh`` (V, h), ``W_hh`` (h, h), ``b_h`` (h,), ``W_hq`` (h, C),
            ``b_q`` (C,), all of one dtype.

    Returns:
        logits: tensor (n, C) of the params' dtype (float32 or float64). Looking the rows of W_xh up with
        ``tf.gather(W_xh, ids)`` instead of multiplying one-hot rows gives the same values.
    """
    ids = tf.convert_to_tensor(ids)
    W_xh, W_hh, b_h = params["W_xh"], params["W_hh"], params["b_h"]
    dtype, T = W_xh.dtype, ids.shape[1]
    X = tf.one_hot(ids, tf.shape(W_xh)[0], dtype=dtype)                  # (n, T, V)
    H = tf.zeros((tf.shape(ids)[0], tf.shape(W_hh)[0]), dtype=dtype)     # the state before step 0
    states = []
    for t in range(T):
        H = tf.tanh(X[:, t] @ W_xh + H @ W_hh + b_h)
        states.append(H)
    lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)         # (n,) real tokens per row
    # one_hot(L - 1) picks the state of step L - 1; for L = 0 it is all zeros, which gives the zero state
    pick = tf.one_hot(lengths - 1, T, dtype=dtype)                       # (n, T)
    H_last = tf.einsum("nt,nth->nh", pick, tf.stack(states, axis=1))     # (n, h)
    return H_last @ params["W_hq"] + params["b_q"]


def many_to_one_grads(ids, labels, params):
    """Mean softmax cross-entropy of ``many_to_one_forward`` and its gradients, by backpropagation through time.

    Forward as in ``many_to_one_forward``, then with p = softmax(logits) and Y the one-hot labels:

        loss = -(1/n) sum_i log p[i, labels_i]
        dlogits = (p - Y) / n
        dW_hq = H_last^T dlogits,  db_q = sum_i dlogits,  dH_last = dlogits W_hq^T    (H_last = H[:, L-1] per row)
        going back over t = T-1, ..., 0 (Python's counting, as in the forward pass), with dH the gradient reaching
        H[:, t] (dH_last in the rows whose last real token is at t, plus what comes back from step t+1):
            dA = dH * (1 - H[:, t]^2),  dW_xh += X[:, t]^T dA,  dW_hh += H[:, t-1]^T dA  (H[:, -1] = 0),
            db_h += sum_i dA,  gradient reaching H[:, t-1] = dA W_hh^T

    Args:
        ids: int tensor (n, T), padding 0 at the end of each row.
        labels: int tensor (n,) of classes 0..C-1.
        params: dict of float tensors as in ``many_to_one_forward``.

    Derive them by hand: no automatic differentiation (``tf.GradientTape``, ``tf.gradients``, ...) may run while
    this function computes them; the grader watches for it when it calls the function (what you name your
    variables does not matter). Calling your ``many_to_one_forward`` is allowed.

    Returns:
        ``(loss, grads)``: a scalar tensor (the mean over the n rows) and a dict with the keys of ``params``, each
        gradient a dense tensor of the shape and dtype of its parameter.
    """
    ids = tf.convert_to_tensor(ids)
    W_xh, W_hh, b_h, W_hq = params["W_xh"], params["W_hh"], params["b_h"], params["W_hq"]
    dtype, T = W_xh.dtype, ids.shape[1]
    n = tf.cast(tf.shape(ids)[0], dtype)
    X = tf.one_hot(ids, tf.shape(W_xh)[0], dtype=dtype)
    H = tf.zeros((tf.shape(ids)[0], tf.shape(W_hh)[0]), dtype=dtype)
    states = [H]                                   # the zero state, then the states of steps 0..T-1
    for t in range(T):
        H = tf.tanh(X[:, t] @ W_xh + H @ W_hh + b_h)
        states.append(H)
    lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
    pick = tf.one_hot(lengths - 1, T, dtype=dtype)                       # (n, T)
    H_last = tf.einsum("nt,nth->nh", pick, tf.stack(states[1:], axis=1))
    logits = H_last @ W_hq + params["b_q"]

    # softmax cross-entropy, shifted by the row maximum so exp never overflows
    shifted = logits - tf.reduce_max(logits, axis=1, keepdims=True)
    log_p = shifted - tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=1, keepdims=True))
    Y = tf.one_hot(labels, tf.shape(W_hq)[1], dtype=dtype)
    loss = -tf.reduce_sum(Y * log_p) / n
    dlogits = (tf.exp(log_p) - Y) / n                                     # (n, C)

    grads = {"W_hq": tf.transpose(H_last) @ dlogits, "b_q": tf.reduce_sum(dlogits, axis=0)}
    dH_last = dlogits @ tf.transpose(W_hq)                                # (n, h)
    dW_xh, dW_hh, db_h = tf.zeros_like(W_xh), tf.zeros_like(W_hh), tf.zeros_like(b_h)
    dH_next = tf.zeros_like(H)                                            # gradient from H_{t+1} into H_t
    for t in reversed(range(T)):
        dH = dH_next + pick[:, t:t + 1] * dH_last                         # only rows whose last token is t
        dA = dH * (1 - states[t + 1] ** 2)
        dW_xh += tf.transpose(X[:, t]) @ dA
        dW_hh += tf.transpose(states[t]) @ dA
        db_h += tf.reduce_sum(dA, axis=0)
        dH_next = dA @ tf.transpose(W_hh)
    grads.update(W_xh=dW_xh, W_hh=dW_hh, b_h=db_h)
    return loss, grads


def build_sentiment_model(vocab_size, embed_dim, units, num_classes=2):
    """A Keras many-to-one classifier: embedding, a recurrent layer, a dense output layer.

    The embedding matrix is (vocab_size, embed_dim); the recurrent layer (a SimpleRNN; a GRU or an LSTM also
    fits) has ``units`` units and returns its last state only; a Dense layer maps it to ``num_classes`` logits.
    ``Embedding(mask_zero=True)`` marks id 0 as padding, and the recurrent layer then carries its state over
    masked steps, so trailing padding never changes a prediction. The model reads the words in order: the same
    words in another order may be classified differently.

    Args:
        vocab_size: int V, ids are 0..V-1.
        embed_dim: int, the size of a word's embedding.
        units: int h, the size of the hidden state.
        num_classes: int C.

    Returns:
        keras.Model mapping int ids (n, T) to logits (n, C) (no softmax: the loss applies it).
    """
    return keras.Sequential([
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True),
        keras.layers.SimpleRNN(units),
        keras.layers.Dense(num_classes),
    ])


def train_sentiment(model, X, y, *, epochs, batch_size, learning_rate, seed):
    """Trains ``model`` with Adam on the mean softmax cross-entropy of its logits (model.compile + model.fit).

    An epoch is one pass over the n rows in an order shuffled anew every epoch (from ``seed``); each step calls
    the model with ``training=True`` on ``batch_size`` rows (the last batch of an epoch may be smaller) and takes
    one optimizer step whose size scales with ``learning_rate`` (with ``learning_rate=0`` no weight changes).
    Beware: once ``keras.utils.set_random_seed`` has run, ``model.fit(X, y, shuffle=True)`` repeats the same
    order every epoch; a ``tf.data.Dataset`` of the rows, shuffled with a buffer of all n rows and
    ``reshuffle_each_iteration=True``, then batched, does not (pass it to ``model.fit(..., shuffle=False)``: the
    dataset shuffles itself, and fit's default ``shuffle=True`` would only warn that it cannot).

    Args:
        model: a keras.Model from ``build_sentiment_model`` (or any Keras model mapping ids to logits).
        X: int ids (n, T).
        y: int labels (n,).
        epochs: int, passes over the data.
        batch_size: int, rows per step.
        learning_rate: float, Adam's step size (Adam's first step moves each weight entry whose gradient is not
            tiny by about ``learning_rate``, against the gradient; use ``keras.optimizers.Adam``).
        seed: int; ``keras.utils.set_random_seed(seed)`` first, so the shuffling (and anything else random) of
            a run can be repeated exactly with the same seed, and differs with another seed.

    Returns:
        dict with ``'loss'`` and ``'accuracy'``: lists of ``epochs`` floats, the mean training loss and the
        training accuracy (a fraction in [0, 1]) of each epoch, as measured on its batches while it trained (what
        ``model.fit`` reports), not after it.
    """
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    # model.fit(X, y, shuffle=True) would repeat one order every epoch once the global seed is set (TensorFlow
    # backend): a dataset reshuffled on every pass shuffles anew each epoch, still repeatably from the seed
    # (fit's own shuffle=False only says so, which silences Keras's warning that it cannot shuffle a dataset)
    rows = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
    history = model.fit(rows.batch(batch_size), epochs=epochs, shuffle=False, verbose=0)
    return {"loss": [float(v) for v in history.history["loss"]],
            "accuracy": [float(v) for v in history.history["accuracy"]]}
