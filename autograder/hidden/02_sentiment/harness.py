"""Runs inside the student's sandbox after their answer cells (Assignment 2). No verdicts and no labels of the data
a verdict is computed from: it builds a model (the student's, or a fixed one to check train_sentiment alone), trains
it with the student's train function on data the grader chose, and sends back logits for inputs whose labels stay
on the trusted side, and what it observed (weight shapes, optimizer steps, weight changes, autodiff calls)."""


def _dense(value):
    """A tape's gradient of a gather is IndexedSlices: every legitimate TensorFlow form becomes a dense tensor."""
    if isinstance(value, tf.IndexedSlices):
        return tf.convert_to_tensor(value)
    return value


def _grads_traced(ids, labels, params):
    """The student's many_to_one_grads, with every automatic differentiation API that runs during the call noted
    (behaviour, not names). In the sandbox the worker's observation answers (worker.OBSERVED: wrapped once before
    any cell ran, the same for every call); the patches below serve bench/calibration.py's in-process stand-in,
    which has no worker."""
    if "_observed" in globals():
        result = many_to_one_grads(ids, labels, params)
        if isinstance(result, (list, tuple)) and len(result) == 2 and isinstance(result[1], dict):
            result = (result[0], {k: _dense(v) for k, v in result[1].items()})
        return {"result": result, "autodiff": [label for label in _observed() if label.startswith("tf.")]}
    import tensorflow.python.eager.backprop as backprop
    used = []
    patched = []

    def note(owner, attribute, what):
        original = getattr(owner, attribute)

        def wrapper(*args, **kwargs):
            used.append(what)
            return original(*args, **kwargs)
        patched.append((owner, attribute, original))
        setattr(owner, attribute, wrapper)

    for attribute in ("__init__", "gradient", "jacobian", "batch_jacobian"):
        note(backprop.GradientTape, attribute, f"tf.GradientTape.{attribute.strip('_')}")
    note(tf.autodiff.ForwardAccumulator, "__init__", "tf.autodiff.ForwardAccumulator")
    note(tf, "gradients", "tf.gradients")
    try:
        result = many_to_one_grads(ids, labels, params)
    finally:
        for owner, attribute, original in reversed(patched):
            setattr(owner, attribute, original)
    if isinstance(result, (list, tuple)) and len(result) == 2 and isinstance(result[1], dict):
        result = (result[0], {k: _dense(v) for k, v in result[1].items()})
    return {"result": result, "autodiff": sorted(set(used))}


def _sentiment_build(vocab_size, embed_dim, units, num_classes, init_seed):
    """The student's model, built with seeded initial weights (a Ref on the trusted side). ``num_classes`` None:
    the default of build_sentiment_model."""
    keras.utils.set_random_seed(int(init_seed))
    if num_classes is None:
        return build_sentiment_model(int(vocab_size), int(embed_dim), int(units))
    return build_sentiment_model(int(vocab_size), int(embed_dim), int(units), int(num_classes))


def _sentiment_backward_readers(model):
    """The names of the model's layers that read their sequence from its end (``go_backwards=True``), nested models
    included; a Bidirectional wrapper reads both ways and is left out."""
    found, layers = [], list(getattr(model, "layers", []))
    while layers:
        layer = layers.pop(0)
        if isinstance(layer, keras.layers.Bidirectional):
            continue
        if getattr(layer, "go_backwards", False) is True:
            found.append(str(layer.name))
        layers.extend(getattr(layer, "layers", []))
    return found


def _sentiment_describe(model, ids):
    """The shapes of the model's weights (after a call on ``ids``, so that it is built) and of its outputs."""
    out = model(tf.cast(ids, tf.int32), training=False)
    return {"weights": [list(w.shape) for w in model.weights], "output": list(out.shape)}


class _TrainingRecorder(keras.layers.Layer):
    """Passes its input (and mask) through. On every call with training=True it counts the step, the rows and the
    largest batch, and (with ``capacity`` > 0) writes what it saw of each row to a buffer, in the order the rows
    came: the fingerprint of its ids, ``sum_t ids[t] * (1 + stride * t)`` (``kind='ids'``, exact in float64), or
    its logits (``kind='logits'``). That is what the trusted side reads to check batch_size, epochs, the shuffling
    of every epoch and the history's epoch means."""

    def __init__(self, kind, capacity=0, width=1, stride=0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.kind, self.capacity, self.stride = kind, int(capacity), float(stride)
        self.steps = self.add_weight(shape=(), initializer="zeros", dtype="int64", trainable=False, name="steps")
        self.rows = self.add_weight(shape=(), initializer="zeros", dtype="int64", trainable=False, name="rows")
        self.largest = self.add_weight(shape=(), initializer="zeros", dtype="int64", trainable=False,
                                       name="largest")
        if self.capacity:
            self.seen = self.add_weight(shape=(self.capacity, int(width)), initializer="zeros", dtype="float64",
                                        trainable=False, name="seen")

    def call(self, inputs, training=None, mask=None):
        if training:
            n = tf.cast(tf.shape(inputs)[0], "int64")
            if self.capacity:
                values = tf.cast(inputs, "float64")
                if self.kind == "ids":
                    stride = 1 + self.stride * tf.range(tf.shape(values)[1], dtype="float64")
                    values = tf.reduce_sum(values * stride, axis=1, keepdims=True)
                # past the capacity every row lands on the last slot: the row count tells the grader anyway
                where = tf.minimum(self.rows + tf.range(n, dtype="int64"), self.capacity - 1)
                self.seen.assign(tf.tensor_scatter_nd_update(self.seen, where[:, None], values))
            self.steps.assign_add(tf.constant(1, "int64"))
            self.rows.assign_add(n)
            self.largest.assign(tf.maximum(self.largest, n))
        return inputs

    def compute_mask(self, inputs, mask=None):
        return mask


def _sentiment_known_model(vocab_size, embed_dim, units, init_seed, capacity=0, stride=0):
    """A fixed embedding + SimpleRNN + dense model built here, not by the student: it checks train_sentiment on its
    own, whatever build_sentiment_model does. Recorders around it note what training fed it (``capacity`` rows)."""
    keras.utils.set_random_seed(int(init_seed))
    return keras.Sequential([keras.Input(shape=(None,), dtype="int32"),
                             _TrainingRecorder("ids", capacity, stride=stride, name="rnnkit_rows"),
                             keras.layers.Embedding(int(vocab_size), int(embed_dim), mask_zero=True),
                             keras.layers.SimpleRNN(int(units)), keras.layers.Dense(2),
                             _TrainingRecorder("logits", capacity, width=2, name="rnnkit_logits")])


def _sentiment_logits(model, ids):
    """The model's outputs for int ids (n, T), as a float array."""
    return np.asarray(model(tf.cast(ids, tf.int32), training=False), dtype=np.float64)


def _sentiment_batched_logits(model, ids):
    return np.concatenate([_sentiment_logits(model, ids[i:i + 500]) for i in range(0, len(ids), 500)])


def _sentiment_train_and_predict(train_ids, train_labels, test_ids, vocab_size, embed_dim, units, epochs,
                                 batch_size, learning_rate, seed, students_model=True):
    """Builds the student's model (or the fixed one), sends back its logits of ``test_ids`` before any training
    (a model that needs no training is flagged), trains it with train_sentiment, and sends back the history and
    the logits of ``test_ids`` again (whose labels the grader keeps)."""
    tf.config.experimental.enable_op_determinism()  # a regrade reproduces the run
    model = (_sentiment_build(vocab_size, embed_dim, units, 2, seed) if students_model
             else _sentiment_known_model(vocab_size, embed_dim, units, seed))
    untrained = _sentiment_batched_logits(model, test_ids)
    history = train_sentiment(model, train_ids, train_labels, epochs=int(epochs), batch_size=int(batch_size),
                              learning_rate=float(learning_rate), seed=int(seed))
    return {"history": history, "logits": _sentiment_batched_logits(model, test_ids), "untrained_logits": untrained}


def _sentiment_probe(train_ids, train_labels, vocab_size, epochs, batch_size, learning_rate, seed, noise_seed,
                     stride):
    """A short run of train_sentiment on the fixed model from fixed initial weights: its history, the optimizer
    steps and rows the model saw in training mode, the fingerprint and logits of each of those rows in the order
    they came, and how far each trainable weight moved (with its rank).

    ``noise_seed`` reseeds every generator between building and training, so that two runs agree only if
    train_sentiment seeds them itself. ``stride`` is the grader's fingerprint stride. A run of one step (one epoch,
    one batch) runs every tf.function eagerly (the same numbers): tracing the step would cost ten times the step."""
    tf.config.experimental.enable_op_determinism()
    capacity = len(train_ids) * int(epochs)
    model = _sentiment_known_model(vocab_size, 8, 16, 1, capacity, stride)
    before = [np.array(w.numpy()) for w in model.trainable_weights]
    keras.utils.set_random_seed(int(noise_seed))
    tf.config.run_functions_eagerly(int(epochs) == 1 and int(batch_size) >= len(train_ids))
    try:
        history = train_sentiment(model, train_ids, train_labels, epochs=int(epochs), batch_size=int(batch_size),
                                  learning_rate=float(learning_rate), seed=int(seed))
    finally:
        tf.config.run_functions_eagerly(False)
    after = [np.array(w.numpy()) for w in model.trainable_weights]
    rows, logits = model.get_layer("rnnkit_rows"), model.get_layer("rnnkit_logits")
    seen = min(int(rows.rows.numpy()), capacity)
    return {"history": history, "steps": int(rows.steps.numpy()), "rows": int(rows.rows.numpy()),
            "largest": int(rows.largest.numpy()), "order": rows.seen.numpy()[:seen, 0],
            "train_logits": logits.seen.numpy()[:seen],
            "moved": [float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(after, before)],
            "ranks": [a.ndim for a in after]}
