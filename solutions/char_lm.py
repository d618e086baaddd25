"""Reference solution of assignment 3: a character-level recurrent language model.

Reads a corpus, samples minibatches randomly or sequentially, trains a vanilla RNN language model with global
gradient clipping and truncated backpropagation through time, measures it by perplexity and generates text.
"""
import collections

import numpy as np
import tensorflow as tf
import keras


def build_char_vocab(text):
    """Builds the vocabulary of a text: one integer id per distinct character.

    Every distinct character is its own symbol, exactly as it appears: upper and lower case stay apart, and
    punctuation, digits, spaces and line breaks are characters like any other (nothing is lower-cased, stripped or
    dropped). Characters are ordered by descending count, ties by code point (``ord``), so the most frequent
    character gets id 0 and the result does not depend on where characters first appear.

    Args:
        text: a ``str`` (any language, any script).

    Returns:
        ``(char_to_idx, idx_to_char)``: a ``dict`` from character to id, and the ``list`` of characters by id
        (``idx_to_char[char_to_idx[c]] == c``).
    """
    counts = collections.Counter(text)
    idx_to_char = sorted(counts, key=lambda c: (-counts[c], ord(c)))
    char_to_idx = {c: i for i, c in enumerate(idx_to_char)}
    return char_to_idx, idx_to_char


def seq_data_iter_random(corpus, batch_size, num_steps, rng):
    """Yields minibatches of subsequences drawn at random positions (random sampling).

    Drops a random number ``offset`` in ``[0, num_steps)`` of leading tokens, cuts the rest into consecutive,
    non-overlapping subsequences of ``num_steps`` tokens (each needs one more token after it for its labels),
    shuffles them (one uniformly random order of all of them, drawn with ``rng``), and yields them ``batch_size``
    at a time; subsequences that do not fill a whole batch are dropped. Two rows of one epoch never overlap. Since
    the whole order is random, neither the batches nor the rows inside a batch follow the corpus: a row is only by
    chance the stretch of text right after the row above it (for each pair of adjacent rows, with probability about
    1 / the number of subsequences), so a state must not be carried from one row or batch to the next.

    Args:
        corpus: 1-D sequence of int token ids (list, NumPy array or tensor), length L.
        batch_size: n, rows per minibatch.
        num_steps: T, tokens per row.
        rng: ``np.random.Generator`` for the offset and the shuffling (the only randomness used).

    Yields:
        ``(X, Y)``, int32 tensors of shape (n, T): ``X[i]`` is ``corpus[s:s+T]`` for some start ``s`` and
        ``Y[i]`` is ``corpus[s+1:s+T+1]``, the next token at every position. ``(L - offset - 1) // T // n``
        batches in all.
    """
    corpus = np.asarray(corpus)
    offset = int(rng.integers(0, num_steps))
    num_subseqs = (len(corpus) - offset - 1) // num_steps
    starts = offset + num_steps * rng.permutation(num_subseqs)
    for b in range(num_subseqs // batch_size):
        batch = starts[b * batch_size:(b + 1) * batch_size]
        X = np.stack([corpus[s:s + num_steps] for s in batch])
        Y = np.stack([corpus[s + 1:s + num_steps + 1] for s in batch])
        yield tf.constant(X, tf.int32), tf.constant(Y, tf.int32)


def seq_data_iter_sequential(corpus, batch_size, num_steps, rng):
    """Yields minibatches in which row j of a batch continues row j of the previous batch (sequential sampling).

    Drops a random number ``offset`` in ``[0, num_steps)`` of leading tokens, splits the rest into ``batch_size``
    equally long contiguous streams (one per row, the remainder dropped), and walks along all streams together,
    ``num_steps`` tokens at a time. A hidden state can therefore be carried from one batch to the next.

    Args:
        corpus: 1-D sequence of int token ids (list, NumPy array or tensor), length L.
        batch_size: n, rows per minibatch (= number of streams).
        num_steps: T, tokens per row.
        rng: ``np.random.Generator`` for the offset.

    Yields:
        ``(X, Y)``, int32 tensors of shape (n, T) with ``Y`` the next token of every position of ``X``;
        ``X_next[j, 0]`` follows ``X[j, T-1]`` in the corpus. ``((L - offset - 1) // n) // T`` batches in all.
    """
    corpus = np.asarray(corpus)
    offset = int(rng.integers(0, num_steps))
    stream_len = (len(corpus) - offset - 1) // batch_size
    used = stream_len * batch_size
    Xs = corpus[offset:offset + used].reshape(batch_size, stream_len)
    Ys = corpus[offset + 1:offset + 1 + used].reshape(batch_size, stream_len)
    for t in range(0, (stream_len // num_steps) * num_steps, num_steps):
        X = Xs[:, t:t + num_steps]
        Y = Ys[:, t:t + num_steps]
        yield tf.constant(X, tf.int32), tf.constant(Y, tf.int32)


def clip_gradients(grads, theta):
    """Scales all gradients together so that their global L2 norm is at most ``theta``.

    ``norm = sqrt(sum_k ||g_k||^2)`` over every entry of every gradient; if ``norm > theta`` each ``g_k``
    becomes ``g_k * theta / norm`` (same direction, shorter step), otherwise the gradients are unchanged.

    Args:
        grads: list of gradients of any shapes (one per weight), all of one float dtype (float32 or float64):
            tensors, or ``tf.IndexedSlices`` as the tape gives for a ``tf.gather`` (``tf.convert_to_tensor``
            turns those into the dense tensor they stand for). Where the slices repeat an index, the norm of the
            dense tensor and the norm of the slices' values differ a little; either is accepted (the first is what
            ``tf.convert_to_tensor`` gives, the second what ``tf.clip_by_global_norm`` and
            ``tf.linalg.global_norm`` compute).
        theta: positive float, the largest norm allowed.

    Returns:
        A list of tensors of the same shapes and dtype, in the same order (dense tensors, or ``tf.IndexedSlices``
        where they were given, as ``tf.clip_by_global_norm`` returns them).
    """
    grads = [tf.convert_to_tensor(g) for g in grads]
    norm = tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in grads))
    scale = tf.minimum(tf.cast(1.0, norm.dtype), tf.cast(theta, norm.dtype) / norm)
    return [g * scale for g in grads]


class CharRNNLM(keras.Model):
    """A character-level language model: one-hot input, one tanh RNN layer, a linear output layer.

    For every time step t = 0..T-1 of a batch of id sequences X (n, T), counted as Python does (and Assignment 1),
    from the initial state H[:, -1] (zeros, or the state passed in):

        one-hot of X[:, t]                                       (n, V)
        H[:, t] = tanh(onehot(X[:, t]) W_xh + H[:, t-1] W_hh + b_h)   (n, units)
        O[:, t] = H[:, t] W_hq + b_q                             (n, V), the logits of the character after X[:, t]

    Weights: ``W_xh`` (V, units) and ``W_hq`` (units, V) Glorot-uniform, ``W_hh`` (units, units) orthogonal,
    ``b_h`` (units,) and ``b_q`` (V,) zeros, in the model's dtype; these five are the model's only trainable
    weights (in any order; ``add_weight`` or Keras layers that hold exactly these weights both do).
    """

    def __init__(self, vocab_size, units, **kwargs):
        """Creates the weights.

        Args:
            vocab_size: V, number of distinct characters.
            units: size of the hidden state.
            **kwargs: passed to ``keras.Model`` (e.g. ``dtype="float64"``).
        """
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.units = units
        self.W_xh = self.add_weight(shape=(vocab_size, units), initializer="glorot_uniform", name="W_xh")
        self.W_hh = self.add_weight(shape=(units, units), initializer="orthogonal", name="W_hh")
        self.b_h = self.add_weight(shape=(units,), initializer="zeros", name="b_h")
        self.W_hq = self.add_weight(shape=(units, vocab_size), initializer="glorot_uniform", name="W_hq")
        self.b_q = self.add_weight(shape=(vocab_size,), initializer="zeros", name="b_q")

    def begin_state(self, batch_size):
        """The initial hidden state: zeros.

        Args:
            batch_size: n.

        Returns:
            Tensor (n, units) of zeros in the model's compute dtype (``self.compute_dtype``).
        """
        return tf.zeros((batch_size, self.units), dtype=self.compute_dtype)

    def call(self, X, state=None):
        """Runs the RNN over a batch of sequences.

        Args:
            X: int tensor (n, T) of character ids.
            state: hidden state (n, units) from before the first step, or ``None`` for ``begin_state(n)``.

        Returns:
            ``(logits, state)``: logits (n, T, V) of the next character at every step, and the hidden state
            H[:, T-1] (n, units) after the last step, so that running X in two halves, passing the first half's state
            to the second, gives the same logits as running it whole.
        """
        inputs = tf.one_hot(X, self.vocab_size, dtype=self.compute_dtype)       # (n, T, V)
        H = self.begin_state(tf.shape(X)[0]) if state is None else tf.cast(state, self.compute_dtype)
        XW = tf.matmul(inputs, self.W_xh)                                        # (n, T, units): all steps at once
        outputs = []
        for t in range(inputs.shape[1]):
            H = tf.tanh(XW[:, t] + tf.matmul(H, self.W_hh) + self.b_h)
            outputs.append(H)
        logits = tf.matmul(tf.stack(outputs, axis=1), self.W_hq) + self.b_q     # (n, T, V)
        return logits, H


def perplexity(logits, Y):
    """Perplexity of predictions: ``exp(mean cross-entropy)``, computed stably from logits.

    ``exp(-(1/N) sum_i log softmax(logits_i)[Y_i])`` over all N positions. Uses log-softmax (log-sum-exp), never
    the log of a softmax, so logits in the thousands still give the right finite value.

    Args:
        logits: float tensor (n, T, V).
        Y: int tensor (n, T) of the true next ids.

    Returns:
        The perplexity as a Python float (1 for perfect predictions, V for uniform ones).
    """
    # rnnkit-canary: solution-only
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(Y, tf.int32), logits=logits)
    return float(np.exp(np.mean(losses.numpy(), dtype=np.float64)))


def train_char_lm(model, corpus, *, batch_size, num_steps, learning_rate, theta, epochs, use_random_iter, seed):
    """Trains ``model`` by minibatch SGD with global gradient clipping and truncated BPTT.

    One generator, ``np.random.default_rng(seed)``, is created once; each epoch makes a new iterator,
    ``seq_data_iter_random(corpus, batch_size, num_steps, rng)`` if ``use_random_iter`` else
    ``seq_data_iter_sequential(...)`` with the same arguments, so the random stream goes on from epoch to epoch
    (each epoch draws a new offset and, for random sampling, a new order). Every batch (X, Y): the model runs on X
    from a state; loss = mean cross-entropy of the logits against Y over all n*T positions; its gradients with
    respect to ``model.trainable_variables`` are clipped with ``clip_gradients(grads, theta)``; then every weight
    ``w -= learning_rate * g`` (plain SGD; ``keras.optimizers.SGD(learning_rate)`` does the same). Random sampling
    starts every batch from ``model.begin_state`` (or ``state=None``); sequential sampling starts each epoch
    afresh from it and carries the state from batch to batch within the epoch, cut from the gradient with
    ``tf.stop_gradient`` so that backpropagation stops at the batch boundary (truncated BPTT; with one tape per
    batch the tape already stops there, and the cut matters once a tape spans several batches). Every argument is
    used as given.

    Args:
        model: a ``CharRNNLM``.
        corpus: 1-D sequence of int ids.
        batch_size, num_steps: minibatch shape (n, T).
        learning_rate: SGD step size.
        theta: clipping threshold of the global gradient norm.
        epochs: number of passes over the corpus.
        use_random_iter: ``seq_data_iter_random`` if true, else ``seq_data_iter_sequential``.
        seed: int seed of the one ``np.random.Generator`` given to the iterator every epoch.

    Returns:
        List of ``epochs`` floats: each epoch's training perplexity, ``exp`` of the mean per-character
        cross-entropy over all positions of all its batches, each batch's loss taken as computed for its update
        (before the step). Not the last batch's, not a mean of per-batch perplexities.
    """
    rng = np.random.default_rng(seed)
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


def generate(model, prefix, num_chars, char_to_idx, idx_to_char, temperature=0.0, rng=None):
    """Continues ``prefix`` by ``num_chars`` characters, one at a time.

    The state is warmed up on the prefix (its characters fed in order from ``model.begin_state(1)``), then each
    new character is drawn from the logits O of the last step and fed back in. Temperature 0 picks
    ``argmax(O)`` (greedy); a temperature tau > 0 samples from ``softmax(O / tau)``: below 1 sharper, above 1
    flatter than the model's own distribution.

    Args:
        model: a trained ``CharRNNLM``.
        prefix: non-empty ``str`` of characters of the vocabulary.
        num_chars: number of characters to add.
        char_to_idx, idx_to_char: the vocabulary (from ``build_char_vocab``).
        temperature: float >= 0.
        rng: ``np.random.Generator`` used for sampling (a fresh unseeded one if ``None``).

    Returns:
        ``prefix`` followed by the ``num_chars`` generated characters (a ``str``).
    """
    rng = np.random.default_rng() if rng is None else rng
    ids = [char_to_idx[c] for c in prefix]
    state = model.begin_state(1)
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
    return "".join(idx_to_char[i] for i in ids)
