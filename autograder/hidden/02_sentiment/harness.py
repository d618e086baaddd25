"""Runs inside the student's sandbox after their answer cells (Assignment 2). No verdicts and no labels of the data
a verdict is computed from: it builds a model (the student's, or a fixed one to check train_sentiment alone), trains
it with the student's train function on data the grader chose, and sends back logits for inputs whose labels stay
on the trusted side."""


def _sentiment_build(vocab_size, embed_dim, units, num_classes, init_seed):
    """The student's model, built with seeded initial weights (a Ref on the trusted side)."""
    keras.utils.set_random_seed(int(init_seed))
    return build_sentiment_model(int(vocab_size), int(embed_dim), int(units), int(num_classes))


def _sentiment_known_model(vocab_size, embed_dim, units, init_seed):
    """A fixed embedding + SimpleRNN + dense model built here, not by the student: it checks train_sentiment on its
    own, whatever build_sentiment_model does."""
    keras.utils.set_random_seed(int(init_seed))
    return keras.Sequential([keras.Input(shape=(None,), dtype="int32"),
                             keras.layers.Embedding(int(vocab_size), int(embed_dim), mask_zero=True),
                             keras.layers.SimpleRNN(int(units)), keras.layers.Dense(2)])


def _sentiment_logits(model, ids):
    """The model's outputs for int ids (n, T), as a float array."""
    return np.asarray(model(tf.cast(ids, tf.int32), training=False), dtype=np.float64)


def _sentiment_train_and_predict(train_ids, train_labels, test_ids, vocab_size, embed_dim, units, epochs,
                                 batch_size, learning_rate, seed, students_model=True):
    """Builds the student's model (or the fixed one), trains it with the student's train_sentiment, returns the
    history and the logits of ``test_ids`` (whose labels the grader keeps)."""
    tf.config.experimental.enable_op_determinism()  # a regrade reproduces the run
    model = (_sentiment_build(vocab_size, embed_dim, units, 2, seed) if students_model
             else _sentiment_known_model(vocab_size, embed_dim, units, seed))
    history = train_sentiment(model, train_ids, train_labels, epochs=int(epochs), batch_size=int(batch_size),
                              learning_rate=float(learning_rate), seed=int(seed))
    logits = np.concatenate([_sentiment_logits(model, test_ids[i:i + 500]) for i in range(0, len(test_ids), 500)])
    return {"history": history, "logits": logits}


def _sentiment_short_run(train_ids, train_labels, vocab_size, epochs, seed, noise_seed=0):
    """A short run of the fixed model from fixed initial weights: its history, for train_sentiment's contract.

    ``noise_seed`` reseeds every generator between building and training, so that two runs agree only if
    train_sentiment seeds them itself."""
    tf.config.experimental.enable_op_determinism()
    model = _sentiment_known_model(vocab_size, 8, 16, 1)
    keras.utils.set_random_seed(int(noise_seed))
    return train_sentiment(model, train_ids, train_labels, epochs=int(epochs), batch_size=32, learning_rate=0.01,
                           seed=int(seed))
