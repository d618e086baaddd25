# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 3 — A character-level language model
#
# A *language model* assigns a probability to the next token of a text given everything before it. Here the tokens
# are single characters and the model is the recurrent network of Assignment 1, now trained end to end. You will:
#
# 1. turn a text into integer ids (a vocabulary), and cut the ids into minibatches in two ways, *random* and
#    *sequential* sampling;
# 2. measure a language model by its *perplexity*, and compare it with counting models (unigram, bigram, trigram);
# 3. write the RNN language model as a Keras model, with one-hot inputs and a hidden state you can carry from one
#    call to the next;
# 4. train it with gradient clipping and truncated backpropagation through time, first on generated text whose
#    best possible perplexity is known exactly, then on real English;
# 5. generate text from a prefix, greedily and at several temperatures, and compare your network with Keras's
#    `SimpleRNN`, `GRU` and `LSTM` layers.
#
# **How this notebook is graded.** Each answer cell holds the signature and docstring of one function or class;
# write the body where it says `raise NotImplementedError()`. The cell after it runs *public checks*: they print
# a line starting with ✓ when your code passes, and otherwise a line starting with ✗ and one sentence that says
# what to look at; cells that need a part whose checks have not passed yet say so and skip. Your score comes
# from a hidden test suite that runs your code on other inputs: it trains *your* model with *your* training
# function on hidden generated text and measures it on text it has never seen, so passing the public
# checks is a good sign, not a guarantee. Do not rename the functions or change their signatures. Inside your
# functions use TensorFlow operations wherever gradients must flow (the model); NumPy is fine for the data
# pipeline and for sampling.
#
# **Symbols**, as in Assignments 1 and 2 and in *Dive into Deep Learning*: $\mathbf{W}_{xh}, \mathbf{W}_{hh},
# \mathbf{b}_h$ for the hidden state, $\mathbf{W}_{hq}, \mathbf{b}_q$ for the output layer, $\mathbf{O}$ for the
# logits and $\mathbf{Y}$ for the targets (the next characters).
#
# **Time.** The demonstration cells train small models. Run top to bottom with a correct solution, the whole
# notebook takes under three minutes on a 2-core CPU (measured with the reference solution: 135 s, of which about
# 90 s train the model on real text in Part 6; no GPU needed); on a machine busy with other work it takes longer.
# Set `LONG_RUN = True` in the set-up cell for training runs three to six times as long and better text (about
# five more minutes, estimated from the per-epoch times).

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import collections
import math
import time

from quiet import quiet_tensorflow
quiet_tensorflow()   # before TensorFlow is imported: hides its start-up log lines, which are not errors

import numpy as np
import tensorflow as tf
import keras
import matplotlib.pyplot as plt

from checklib import (CheckFailed, check_close, check_dtype, check_gradient, check_shape, likely_cause, numeric_gradient,
                      order_mistake, rel_error, reshape_one_short, type_phrase)
from corpora import default_source, letters_only, load_default_corpus, load_text, ngram_perplexity
from publiccheck import call, call_list, call_tf, passed, public_check, ready

keras.utils.set_random_seed(0)
LONG_RUN = False   # True: train the demonstration models several times longer

# %% [markdown]
# ## Part 1 — A corpus and its vocabulary (1 point)
#
# `corpora.py`, next to this notebook, gives you several corpora:
#
# * `load_text(path)` reads any UTF-8 text file: try a book of your own, in any language;
# * `load_time_machine()` downloads H. G. Wells' *The Time Machine* once, checks its SHA-1 and keeps it in a cache;
# * `load_stdlib_docs()` reads the English documentation text that every CPython installation carries;
# * `default_source()` is a *generated* source of text, a random automaton over 8 letters and the space, whose
#   best possible perplexity we know exactly (Part 6).
#
# `load_default_corpus()` takes *The Time Machine* when it can download it (or finds it in the cache) and the
# Python documentation otherwise, so this notebook also runs offline. As in the book *Dive into Deep Learning*,
# `letters_only` lower-cases the text and replaces every run of other characters by one space, leaving 27 symbols.

# %% nbgrader={"grade": false, "grade_id": "demo_corpus", "locked": true, "schema_version": 3, "solution": false, "task": false}
corpus_name, raw_text = load_default_corpus()
text = letters_only(raw_text)[:175_000]   # the length of The Time Machine, so run times do not depend on the choice
print(f"{corpus_name}: {len(raw_text):,} characters, {len(text):,} after letters_only")
print(repr(text[:300]))

# %% [markdown]
# A model reads integers, not characters. The vocabulary gives every distinct character an id. Frequent characters
# get small ids: order the characters by **descending count**, and break ties by **code point** (`ord`), so that
# the ids depend on the text alone and not on where a character first appears.

# %% nbgrader={"grade": false, "grade_id": "build_char_vocab", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution build_char_vocab


# %% nbgrader={"grade": true, "grade_id": "test_build_char_vocab", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
with public_check("build_char_vocab"):
    c2i, i2c = call(build_char_vocab, "banana bread")
    # counts: a 4, b 2, n 2, ' ' 1, d 1, e 1, r 1; ties by code point: b < n, then ' ' < d < e < r
    if i2c != ["a", "b", "n", " ", "d", "e", "r"]:
        why = order_mistake(i2c, collections.Counter("banana bread")) if sorted(i2c) == sorted(set("banana bread")) \
            else ""
        raise CheckFailed(f"build_char_vocab('banana bread'): {why + '. ' if why else ''}idx_to_char should be "
                          f"['a', 'b', 'n', ' ', 'd', 'e', 'r'] (descending count, ties by code point), got {i2c}")
    if c2i != {c: i for i, c in enumerate(i2c)}:
        raise CheckFailed(f"char_to_idx should map each character to its position in idx_to_char, got {c2i}")
    # Case, punctuation, digits, spaces and line breaks are characters like any other.
    mixed = "Tea? tea! TEA, 42 teas.\n\t(tea)"
    c2i, i2c = call(build_char_vocab, mixed)
    missing = sorted(set(mixed) - set(i2c))
    if missing or len(i2c) != len(set(mixed)):
        raise CheckFailed(f"build_char_vocab({mixed!r}): {len(i2c)} characters, the text has {len(set(mixed))} distinct "
                          f"ones{f' ({missing} are missing)' if missing else ''}: every distinct character is its own "
                          "id exactly as it appears (no lower-casing, no dropping of punctuation, digits, spaces or "
                          "line breaks)")
    # A text in another script: over a thousand distinct characters must work too.
    check_rng = np.random.default_rng(3)
    pool = [chr(c) for c in check_rng.choice(np.arange(0x4E00, 0x9FFF), size=1200, replace=False)]
    cjk = "".join(check_rng.choice(pool, size=5000)) + "".join(pool)
    c2i, i2c = call(build_char_vocab, cjk)
    counts = collections.Counter(cjk)
    if len(i2c) != 1200 or sorted(i2c) != sorted(pool):
        raise CheckFailed(f"a text of 1,200 distinct characters gave a vocabulary of {len(i2c)}")
    if any((-counts[a], ord(a)) > (-counts[b], ord(b)) for a, b in zip(i2c, i2c[1:])):
        raise CheckFailed("the vocabulary of the CJK text is not in descending count, ties by code point")

# %% nbgrader={"grade": false, "grade_id": "demo_vocab", "locked": true, "schema_version": 3, "solution": false, "task": false}
if ready("build_char_vocab"):
    char_to_idx, idx_to_char = build_char_vocab(text)
    ids = np.array([char_to_idx[c] for c in text], dtype=np.int32)
    cut = int(0.9 * len(ids))
    train_ids, valid_ids = ids[:cut], ids[cut:]   # the last 10 % for validation
    V = len(idx_to_char)
    print(f"{V} symbols; the ten most frequent: {idx_to_char[:10]}")
    print(f"'{text[:20]}' -> {ids[:20].tolist()}")

    freq = np.bincount(ids, minlength=V) / len(ids)
    fig, ax = plt.subplots(figsize=(9, 2.5))
    ax.bar(range(V), freq)
    ax.set_xticks(range(V), [repr(c)[1:-1] if c != " " else "␣" for c in idx_to_char])
    ax.set(ylabel="frequency", title=f"Characters of {corpus_name}, by id")
    plt.show()

# %% [markdown]
# ## Part 2 — Minibatches of subsequences (4 points)
#
# We train on fixed-length subsequences of `num_steps` = $T$ ids. A minibatch is a pair of int32 tensors
# `(X, Y)` of shape `(batch_size, num_steps)` where `Y` holds the *next* id at every position of `X`: if
# `X[i] = corpus[s : s+T]` then `Y[i] = corpus[s+1 : s+T+1]`. Both iterators below first drop a random number
# `offset` $\in [0, T)$ of leading ids, drawn with the `rng` argument (a `np.random.Generator`), so that each
# epoch cuts the corpus at different places.
#
# * **Random sampling.** Cut `corpus[offset:]` into consecutive, non-overlapping subsequences of $T$ ids (each
#   needs one more id after it for its labels), shuffle them with `rng`, and yield them `batch_size` at a time,
#   dropping those that do not fill a whole batch: `(L - offset - 1) // T // batch_size` batches for a corpus of
#   length $L$. The order is random, so neither the rows of a batch nor the same row of successive batches
#   follow each other in the corpus, except now and then by chance: no state may be carried between them.
# * **Sequential sampling.** Split `corpus[offset:]` into `batch_size` contiguous *streams* of equal length
#   `(L - offset - 1) // batch_size` (row $j$ reads stream $j$), and walk along all streams together, $T$ ids at
#   a time: `stream_length // T` batches. Row $j$ of a batch continues row $j$ of the previous one, so the hidden
#   state at the end of one batch is the right starting state for the next.
#
# Write them as generators (`yield`). `corpus` may be a list, a NumPy array or a tensor: `np.asarray` turns any of
# them into an array.

# %% nbgrader={"grade": false, "grade_id": "seq_data_iter_random", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution seq_data_iter_random


# %% nbgrader={"grade": true, "grade_id": "test_seq_data_iter_random", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_batches(batches, corpus, n, T, name):
    """Every batch: (n, T) int32, each row a stretch of the corpus, Y the next ids. Returns the rows' starts."""
    starts = []
    for b, (X, Y) in enumerate(batches):
        for label, value in (("X", X), ("Y", Y)):
            shape = tuple(np.shape(value))
            last = b == len(batches) - 1
            if label == "X" and last and len(shape) == 2 and shape[0] == n and 0 < shape[1] < T:
                raise CheckFailed(f"{name}: the last batch, batch {b}, has shape {shape}, not {(n, T)}: the streams' "
                                  f"remainder of {shape[1]} ids was yielded as a shorter batch. Yield only whole "
                                  "batches: stream_length // num_steps of them, the remainder dropped")
            if label == "X" and last and len(shape) == 2 and 0 < shape[0] < n and shape[1] == T:
                rows = f"{shape[0]} row{'s' if shape[0] > 1 else ''}"
                raise CheckFailed(f"{name}: the last batch, batch {b}, has {rows}, not batch_size = {n}: the "
                                  "subsequences left over were yielded as a smaller batch. Drop those that do not "
                                  "fill a whole batch: (L - offset - 1) // T // batch_size batches")
            if label == "Y" and len(shape) == 2 and shape[0] == n and shape[1] < T:
                raise CheckFailed(f"{name}: Y of batch {b} has shape {shape}, not {(n, T)}: a row of X has fewer than "
                                  f"{T} ids after it for its labels. Each subsequence needs one more id after it, so "
                                  "there are (L - offset - 1) // T of them, not (L - offset) // T")
            if not tf.is_tensor(value):
                raise CheckFailed(f"{name}: {label} of batch {b} is {type_phrase(type(value).__name__)}, not a "
                                  "TensorFlow tensor: yield tf.constant(..., tf.int32) for X and Y, as the docstring "
                                  "says")
            check_shape(value, (n, T), f"{label} of batch {b}")
            dtype = np.dtype(getattr(getattr(value, "dtype", None), "as_numpy_dtype", np.asarray(value).dtype))
            if dtype != np.int32:
                raise CheckFailed(f"{label} of batch {b} is {dtype.name}; yield int32 tensors "
                                  f"(tf.constant(..., tf.int32)) whatever the corpus's integer type (this check's "
                                  f"corpus, np.arange, is {np.asarray(corpus).dtype.name})")
        X, Y = np.asarray(X), np.asarray(Y)
        s = X[:, 0] - 1000   # the check corpus is 1000, 1001, ...: an id tells its position
        for i in range(n):
            if not np.array_equal(X[i], corpus[s[i]:s[i] + T]):
                steps = np.unique(np.diff(X[i]))
                hint = (f": its ids are {int(steps[0])} apart ({X[i].tolist()}), as when the corpus is reshaped to "
                        f"(stream_length, {n}) and transposed; reshape(batch_size, stream_length) gives each row one "
                        "contiguous stream" if len(steps) == 1 and steps[0] > 1 else "")
                raise CheckFailed(f"row {i} of X in batch {b} is not {T} consecutive ids of the corpus{hint}")
            if not np.array_equal(Y[i], corpus[s[i] + 1:s[i] + T + 1]):
                if np.array_equal(Y[i], X[i]):
                    raise CheckFailed(f"Y equals X in batch {b}: Y must be X shifted by one, the next id at every "
                                      "position (corpus[s+1:s+T+1] for X = corpus[s:s+T])")
                raise CheckFailed(f"row {i} of Y in batch {b} should be the ids that follow X[{i}] "
                                  f"(X shifted by one), got {Y[i]} for X[{i}] = {X[i]}")
        starts.append(s)
    return np.array(starts).reshape(len(starts), n)


with public_check("seq_data_iter_random") as check:
    check_corpus = np.arange(1000, 1100)   # 100 ids
    starts = check_batches(call_list(seq_data_iter_random, check_corpus, 3, 5, np.random.default_rng(0)),
                           check_corpus, 3, 5, "seq_data_iter_random")
    offset = starts.min() % 5
    ordered = np.sort(starts.ravel())
    close = np.flatnonzero(np.diff(ordered) < 5)
    if len(close):
        a, b = ordered[close[0]], ordered[close[0] + 1]
        raise CheckFailed(f"two rows start at corpus positions {a} and {b}, fewer than num_steps = 5 apart, so they "
                          "overlap: cut corpus[offset:] into consecutive, non-overlapping subsequences (starts "
                          "offset + k * num_steps) and shuffle their order with rng, instead of drawing start "
                          "positions at random")
    if len(set(starts.ravel())) != starts.size or np.any(starts % 5 != offset):
        raise CheckFailed(f"rows should start at offset + k * num_steps, each once; got starts "
                          f"{sorted(starts.ravel().tolist())}")
    if len(starts) != (100 - offset - 1) // 5 // 3:
        raise CheckFailed(f"{len(starts)} batches; (L - offset - 1) // T // n = "
                          f"{(100 - offset - 1) // 5 // 3} expected (offset {offset})")
    again = check_batches(call_list(seq_data_iter_random, check_corpus, 3, 5, np.random.default_rng(0)),
                          check_corpus, 3, 5, "seq_data_iter_random")
    if not np.array_equal(starts, again):
        raise CheckFailed("two generators with the same seed gave different batches; use rng")
    # one row per batch, two ids per row: one subsequence too many shows whenever L - offset is a multiple of T
    offsets = set()
    for s in range(24):
        rows = check_batches(call_list(seq_data_iter_random, check_corpus[:21], 1, 2, np.random.default_rng(s)),
                             check_corpus, 1, 2, "seq_data_iter_random")
        first = int(rows.min() % 2) if len(rows) else 0
        offsets.add(first)
        if len(rows) != (21 - first - 1) // 2:
            raise CheckFailed(f"{len(rows)} rows for a corpus of L=21 ids, batch_size=1, num_steps=2 and offset "
                              f"{first}; each subsequence needs one more id after it for its labels, so there are "
                              f"(L - offset - 1) // T = {(21 - first - 1) // 2}")
    if len(offsets) < 2:
        raise CheckFailed("the offset was the same for 24 seeds: draw it in [0, num_steps) with rng")
    # the whole order is random: not the batches alone, not the rows inside each batch alone
    long_corpus = np.arange(1000, 3000)
    order = check_batches(call_list(seq_data_iter_random, long_corpus, 4, 5, np.random.default_rng(2)), long_corpus,
                          4, 5, "seq_data_iter_random")
    if np.all(np.diff(order.ravel()) > 0):
        raise CheckFailed("the subsequences come in corpus order, batch after batch: shuffle them with rng")
    neighbours = int(np.sum(order[:, 1:] == order[:, :-1] + 5))
    if neighbours > 0.1 * order[:, 1:].size:
        raise CheckFailed(f"in {neighbours} of {order[:, 1:].size} pairs of neighbouring rows of a batch, the lower "
                          "row is the stretch right after the upper one: shuffle all the subsequences (one random "
                          "order of all of them), not only the order of the batches")
    if np.all(np.diff(order[:, 0]) > 0) or any(np.all(np.diff(order[:, i]) > 0) for i in range(4)):
        raise CheckFailed("a row of the batches follows the corpus order from batch to batch: shuffle all the "
                          "subsequences with rng, not only the rows inside each batch")
    check.note = f" ({len(starts)} batches, offset {offset})"

# %% nbgrader={"grade": false, "grade_id": "seq_data_iter_sequential", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution seq_data_iter_sequential


# %% nbgrader={"grade": true, "grade_id": "test_seq_data_iter_sequential", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check_corpus = np.arange(1000, 1100)   # 100 ids


def sequential_batches(corpus, n, T, seed):
    """check_batches of one epoch of seq_data_iter_sequential; a stream one id too long is named as such."""
    try:
        batches = call_list(seq_data_iter_sequential, corpus, n, T, np.random.default_rng(seed))
    except CheckFailed as err:
        if reshape_one_short(str(err)):
            raise CheckFailed(f"seq_data_iter_sequential failed for L={len(corpus)}, n={n}, T={T}: the labels are one "
                              "id short of the streams: each stream holds (L - offset - 1) // n ids, one fewer than "
                              "(L - offset) // n whenever L - offset is a multiple of n, since the last id of a "
                              f"stream needs the next id as its label. What it raised: {err}") from None
        raise
    return check_batches(batches, check_corpus, n, T, "seq_data_iter_sequential")


with public_check("seq_data_iter_sequential") as check:
    starts = sequential_batches(check_corpus, 3, 5, 1)
    offset = starts[0].min()
    stream = (100 - offset - 1) // 3
    for b in range(1, len(starts)):
        if not np.array_equal(starts[b], starts[b - 1] + 5):
            j = int(np.argmax(starts[b] != starts[b - 1] + 5))
            raise CheckFailed(f"row {j} of batch {b} starts at corpus position {starts[b][j]}, but row {j} of batch "
                              f"{b - 1} ended at {starts[b - 1][j] + 4}: each row must continue where the same row of "
                              "the previous batch stopped (walk along the streams num_steps ids at a time)")
    if offset >= 5:
        raise CheckFailed(f"the first id used is at position {offset}; the offset should be below num_steps")
    if not np.array_equal(starts[0], offset + stream * np.arange(3)):
        raise CheckFailed(f"the rows of the first batch start at positions {starts[0].tolist()}; split "
                          f"corpus[offset:] into n = 3 contiguous streams of (L - offset - 1) // n = {stream} ids, "
                          f"starting at {(offset + stream * np.arange(3)).tolist()} (offset {offset})")
    if len(starts) != stream // 5:
        raise CheckFailed(f"{len(starts)} batches; streams of {stream} ids hold {stream // 5} batches of num_steps = 5")
    # batch_size=1 and 2: streams one id too long show whenever L - offset is a multiple of n
    for n in (1, 2):
        for s in range(8):
            rows = sequential_batches(check_corpus[:23], n, 3, s)
            first = int(rows[0].min()) if len(rows) else 0
            if len(rows) != (23 - first - 1) // n // 3:
                raise CheckFailed(f"{len(rows)} batches for L=23, n={n}, T=3 and offset {first}; streams of "
                                  f"(L - offset - 1) // n = {(23 - first - 1) // n} ids hold "
                                  f"{(23 - first - 1) // n // 3} batches")

    def first_offset(seed):
        return int(next(seq_data_iter_sequential(check_corpus, 3, 5, np.random.default_rng(seed)))[0][0, 0]) - 1000

    offsets = [first_offset(s) for s in range(10)]
    if len(set(offsets)) < 2:
        raise CheckFailed("the offset was the same for 10 seeds; draw it with rng")
    if [first_offset(s) for s in range(10)] != offsets:
        raise CheckFailed("seq_data_iter_sequential gave different offsets for two generators with the same seed: "
                          "draw the offset with the rng argument (rng.integers), not with np.random or random")
    check.note = f" ({len(starts)} batches, offset {offset})"

# %% [markdown]
# The picture below shows where the rows of each batch come from, for a corpus of 64 ids, `batch_size=2` and
# `num_steps=5`. Each horizontal line is one batch; the two colours are its two rows. Random sampling scatters
# them; sequential sampling walks along two streams, so the next batch always continues the previous one. (With
# only 12 subsequences, a shuffled row quite often lands right after the row above it by chance; the cell picks
# the first seed for which none of the random rows does, so that the picture shows the typical case.)

# %% nbgrader={"grade": false, "grade_id": "demo_sampling_picture", "locked": true, "schema_version": 3, "solution": false, "task": false}
def continues_a_row(batches, T):
    """Whether some row starts right where another row of its batch, or its own row in the batch before, ends."""
    starts = [np.asarray(X)[:, 0] for X, _ in batches]
    for b, rows in enumerate(starts):
        if any(s + T in rows for s in rows) or (b > 0 and np.any(rows == starts[b - 1] + T)):
            return True
    return False


if ready("seq_data_iter_random", "seq_data_iter_sequential"):
    toy = np.arange(64)
    seed = next(s for s in range(1000)
                if not continues_a_row(list(seq_data_iter_random(toy, 2, 5, np.random.default_rng(s))), 5))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3), sharex=True)
    for ax, sampler in zip(axes, (seq_data_iter_random, seq_data_iter_sequential)):
        for b, (X, _) in enumerate(sampler(toy, 2, 5, np.random.default_rng(seed))):
            for j, row in enumerate(np.asarray(X)):
                ax.plot([row[0], row[-1] + 1], [b, b], lw=6, color=f"C{j}", solid_capstyle="butt")
        ax.set(title=f"{sampler.__name__} (seed {seed})", xlabel="position in the corpus", ylabel="batch",
               xlim=(0, 64))
        ax.invert_yaxis()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 3 — Perplexity (2 points)
#
# A language model predicts, at every position, a distribution over the $V$ characters: its *logits* $\mathbf{O}$,
# turned into probabilities by softmax. The cross-entropy of the true next character $y$ is
# $-\log \mathrm{softmax}(\mathbf{O})_y$, and the **perplexity** of $N$ predictions is
#
# $$\mathrm{PPL} = \exp\Big(-\frac{1}{N} \sum_{i=1}^{N} \log \mathrm{softmax}(\mathbf{O}_i)_{y_i}\Big).$$
#
# It is 1 for a model that is always certain and right, $V$ for one that spreads its bets evenly, and unbounded
# for one that is confidently wrong: think of it as the number of characters the model is still hesitating
# between. Compute $\log \mathrm{softmax}$ directly from the logits, as
# $O_y - \log \sum_k e^{O_k}$ with the maximum subtracted first (`tf.nn.log_softmax`,
# `tf.nn.sparse_softmax_cross_entropy_with_logits`), never as the logarithm of a softmax: for logits in the
# hundreds the softmax underflows to 0 and its logarithm is $-\infty$.

# %% nbgrader={"grade": false, "grade_id": "perplexity", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution perplexity


# %% nbgrader={"grade": true, "grade_id": "test_perplexity", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with public_check("perplexity"):
    uniform = call(perplexity, tf.zeros((2, 3, 7)), tf.zeros((2, 3), tf.int32))
    if np.size(uniform) == 1 and np.isclose(float(np.asarray(uniform)), 7.0 ** 6, rtol=1e-4):
        raise CheckFailed("uniform predictions over 7 characters at 2 x 3 = 6 positions gave 7**6 = 117649, not 7: "
                          "that is exp of the SUM of the 6 cross-entropies; perplexity is exp of their MEAN")
    if np.size(uniform) == 1 and np.isclose(float(np.asarray(uniform)), 2.0 ** np.log(7.0), rtol=1e-4):
        raise CheckFailed("uniform predictions over 7 characters gave 2**ln(7): the cross-entropy is in nats "
                          "(natural log), so perplexity is exp of it, not 2 to its power")
    check_close(uniform, 7.0, "perplexity of uniform predictions over 7 characters", causes={
        "that is ln(7), the mean cross-entropy itself: perplexity is exp of it": np.log(7.0)})
    if not isinstance(uniform, float):
        raise CheckFailed(f"perplexity should return a Python float, got {type(uniform).__name__}")
    check_rng = np.random.default_rng(5)
    logits = check_rng.standard_normal((3, 4, 6))
    Y = check_rng.integers(0, 6, (3, 4))
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    expected = np.exp(-np.mean(np.take_along_axis(log_p, Y[..., None], axis=-1)))
    cross_entropies = -np.take_along_axis(log_p, Y[..., None], axis=-1)
    probabilities = np.exp(log_p)
    log_q = probabilities - np.log(np.exp(probabilities).sum(axis=-1, keepdims=True))
    known = {"the mean of the per-position perplexities exp(cross-entropy), not exp of the mean cross-entropy":
             np.mean(np.exp(cross_entropies)),
             "what the loss gives when it is fed probabilities (a softmax) instead of logits: "
             "tf.nn.sparse_softmax_cross_entropy_with_logits and tf.nn.log_softmax take the logits as they are":
             np.exp(-np.mean(np.take_along_axis(log_q, Y[..., None], axis=-1)))}
    for dtype in (tf.float64, tf.float32):
        got = call(perplexity, tf.constant(logits, dtype), tf.constant(Y, tf.int32))
        if np.size(got) == 1 and not np.isclose(float(np.asarray(got)), expected, rtol=1e-4):
            for why, value in known.items():
                if np.isclose(float(np.asarray(got)), value, rtol=1e-4):
                    raise CheckFailed(f"perplexity of random {dtype.name} logits: expected {expected:.6g}, got "
                                      f"{float(np.asarray(got)):.6g}, which is {why}")
        check_close(got, expected, f"perplexity of random {dtype.name} logits", rtol=1e-4)
    # Large logits: every prediction right except one hopeless one, whose softmax probability underflows to 0.
    large = tf.constant([[[80.0, 0.0, -90.0], [0.0, 70.0, 0.0]]])
    got = call(perplexity, large, tf.constant([[2, 1]], tf.int32))
    if not np.isfinite(got):
        raise CheckFailed("perplexity is not finite for logits of size ~80 with one hopeless prediction: use "
                          "log-softmax, not the log of a softmax")
    check_close(got, np.exp(85.0), "perplexity of logits [[80, 0, -90], [0, 70, 0]] with labels [2, 1]: "
                "exp((170 + 0) / 2)", rtol=1e-3)

# %% [markdown]
# Before any network, how well do *counting* models do? An $n$-gram model predicts the next character from the
# $n - 1$ characters before it, with probabilities counted on the training text (plus a small pseudo-count, so
# that nothing unseen has probability 0). `ngram_perplexity` from `corpora.py` measures them on the validation
# text: these are the numbers your network has to beat. The trigram is the target of Part 6's default run; the
# 4-gram is a harder one (see the end of Part 6).

# %% nbgrader={"grade": false, "grade_id": "demo_ngram_baselines", "locked": true, "schema_version": 3, "solution": false, "task": false}
NGRAM_NAMES = {1: "unigram", 2: "bigram", 3: "trigram", 4: "4-gram"}
if ready("build_char_vocab"):
    baselines = {n: ngram_perplexity(train_ids, valid_ids, n, V) for n in (1, 2, 3, 4)}
    for n, ppl in baselines.items():
        print(f"{NGRAM_NAMES[n]:8s} validation perplexity {ppl:6.2f}")
    print(f"(uniform guessing: {V})")

# %% [markdown]
# ### Why not a larger $n$?
#
# Each step from bigram to trigram helped, so why stop? An $n$-gram model keeps a distribution over the $|V|$ next
# characters for every context of $n - 1$ characters: $|V|^{n-1}$ contexts, $|V|^n$ numbers in all. The table
# grows *exponentially* with the length of the memory it gives, while the training text stays the same size. The
# cell below counts, for $n$ up to 6, how many of the possible contexts occur in the training text at all, and how
# often a context that does occur is seen on average. Beyond $n = 4$ most contexts are never seen and the others
# only a handful of times: their probabilities cannot be estimated, and a context that first appears in the
# validation text gets nothing but the pseudo-count.
#
# A recurrent network escapes this by *summarising* the history instead of listing it: the hidden state
# $\mathbf{H}_t$ holds $h$ numbers, updated from $\mathbf{H}_{t-1}$ and the new character by the same weights at
# every step. Its size, $|V| h + h^2 + h + h |V| + |V|$ parameters, does not depend on how far back it can
# remember, and similar histories can share what they teach through similar states.

# %% nbgrader={"grade": false, "grade_id": "demo_ngram_contexts", "locked": true, "schema_version": 3, "solution": false, "task": false}
if ready("build_char_vocab"):
    print(f"{'n':>2} {'possible contexts |V|^(n-1)':>28} {'seen in training':>17} {'mean count of a seen one':>25}")
    for n in range(1, 7):
        k = n - 1   # context length
        codes = np.zeros(len(train_ids) - k, dtype=np.int64)
        for i in range(k):   # each context of k ids as one integer in base V
            codes = codes * V + train_ids[i:len(train_ids) - k + i]
        seen = len(np.unique(codes)) if k else 1
        print(f"{n:2d} {V ** k:28,d} {seen:17,d} {len(codes) / seen:25,.1f}")
    units = 128
    print(f"a recurrent network with h = {units}: {V * units + units * units + units + units * V + V:,} parameters, "
          "whatever the length of the history")

# %% [markdown]
# ## Part 4 — The recurrent language model (4 points)
#
# The model reads a batch of ids `X` of shape `(n, T)`. Each id becomes a **one-hot** vector of length $V$ (a 1 at
# its id, 0 elsewhere; `tf.one_hot`), so the inputs are `(n, T, V)`. Then, for $t = 1, \dots, T$, with row vectors
# as in Assignment 1:
#
# $$\mathbf{H}_t = \tanh(\mathbf{X}_t \mathbf{W}_{xh} + \mathbf{H}_{t-1} \mathbf{W}_{hh} + \mathbf{b}_h), \qquad
# \mathbf{O}_t = \mathbf{H}_t \mathbf{W}_{hq} + \mathbf{b}_q,$$
#
# where $\mathbf{O}_t$ `(n, V)` are the logits of the character that follows position $t$. A one-hot row times
# $\mathbf{W}_{xh}$ simply picks the row of $\mathbf{W}_{xh}$ of that character.

# %% nbgrader={"grade": false, "grade_id": "demo_one_hot", "locked": true, "schema_version": 3, "solution": false, "task": false}
X_demo = tf.constant([[0, 2, 1], [3, 3, 0]])
one_hot = tf.one_hot(X_demo, 4)
print(f"ids {X_demo.shape} -> one-hot {one_hot.shape}; the first row:\n{one_hot[0].numpy()}")

# %% [markdown]
# Write the model as a `keras.Model` so that `model.trainable_variables`, saving and dtype policies work:
#
# * `__init__(vocab_size, units, **kwargs)` passes `**kwargs` to `super().__init__` (so that
#   `CharRNNLM(V, h, dtype="float64")` gives a float64 model) and creates the five weights with
#   `self.add_weight(shape=..., initializer=..., name=...)`. Keras 3 ignores plain `tf.Variable` attributes of a
#   model: they would never be trained. Initialise them like `keras.layers.SimpleRNN` does — Glorot-uniform
#   `W_xh` and `W_hq`, an orthogonal `W_hh` (its products neither shrink nor blow up the state at first), zero
#   biases — the training budget of the hidden tests assumes it.
# * `begin_state(batch_size)` returns zeros of shape `(batch_size, units)` in `self.compute_dtype`.
# * `call(X, state=None)` returns `(logits, state)`: the logits `(n, T, V)` of every step and the last hidden state
#   $\mathbf{H}_T$ `(n, units)`. Given the state another call returned, it carries on from there: running `X` in
#   two halves, the second from the first's state, gives exactly the logits of running it whole. Make the one-hot
#   inputs in `self.compute_dtype`. A Python loop over the steps is fine. The five weights are created with
#   `add_weight` (or held by Keras layers that hold exactly these weights); write the recurrence yourself.

# %% nbgrader={"grade": false, "grade_id": "CharRNNLM", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution CharRNNLM


# %% nbgrader={"grade": true, "grade_id": "test_CharRNNLM", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
def weights_by_role(model, V, h):
    """The five weights, recognised by their shapes (V != h)."""
    wanted = {(V, h): "W_xh", (h, h): "W_hh", (h,): "b_h", (h, V): "W_hq", (V,): "b_q"}
    roles = {wanted.get(tuple(v.shape)): v for v in model.trainable_variables}
    if len(model.trainable_variables) != 5 or None in roles or len(roles) != 5:
        raise CheckFailed(f"CharRNNLM({V}, {h}) should have five trainable weights of shapes {list(wanted)}, got "
                          f"{[tuple(v.shape) for v in model.trainable_variables]} (create them with add_weight)")
    return roles


def numpy_char_rnn(w, X, activation=np.tanh, bias_outside=False):
    """The model's equations in NumPy from a zero state: logits (n, T, V) and the states of steps 0..T-1
    (``bias_outside``: b_h added after the activation, a known mistake)."""
    H, logits, states = np.zeros((len(X), len(w["b_h"]))), [], []
    for t in range(X.shape[1]):
        if bias_outside:
            H = activation(w["W_xh"][X[:, t]] + H @ w["W_hh"]) + w["b_h"]
        else:
            H = activation(w["W_xh"][X[:, t]] + H @ w["W_hh"] + w["b_h"])
        states.append(H)
        logits.append(H @ w["W_hq"] + w["b_q"])
    return np.stack(logits, axis=1), states


def relu(a):
    return np.maximum(a, 0)


with public_check("CharRNNLM"):
    keras.utils.set_random_seed(1)
    model = call(CharRNNLM, 6, 4)
    X_check = tf.constant(np.random.default_rng(6).integers(0, 6, (3, 5)), tf.int32)
    logits, state = call(model, X_check)
    w = {r: v.numpy().astype(np.float64) for r, v in weights_by_role(model, 6, 4).items()}
    if not np.allclose(w["W_hh"].T @ w["W_hh"], np.eye(4), atol=1e-5):
        raise CheckFailed("W_hh does not start orthogonal (W_hh^T W_hh is not the identity): initialise it with "
                          "initializer='orthogonal', as keras.layers.SimpleRNN does")
    nonzero = [name for name in ("b_h", "b_q") if np.any(w[name])]
    if nonzero:
        raise CheckFailed(f"{' and '.join(nonzero)} should start at zeros (initializer='zeros'), as in "
                          "keras.layers.SimpleRNN")
    state0 = call(model.begin_state, 3)
    check_shape(state0, (3, 4), "begin_state(3)")
    check_dtype(state0, np.float32, "begin_state of a float32 model")
    if np.any(state0):
        raise CheckFailed("begin_state(3) should be all zeros")
    check_shape(logits, (3, 5, 6), "logits")
    check_shape(state, (3, 4), "the returned state")
    check_dtype(logits, np.float32, "logits of a float32 model")

    # against the equations in NumPy, and what the usual mistakes give instead; random biases (zero initial biases
    # would hide a bias misplaced or left out)
    for role, variable in weights_by_role(model, 6, 4).items():
        if role in ("b_h", "b_q"):
            variable.assign(0.5 * np.random.default_rng(7).standard_normal(variable.shape))
    w = {r: v.numpy().astype(np.float64) for r, v in weights_by_role(model, 6, 4).items()}
    logits, state = call(model, X_check)
    expected, states = numpy_char_rnn(w, X_check.numpy())
    check_close(logits, expected, "logits", rtol=1e-4, atol=1e-5, causes={
        "these are the logits of a ReLU recurrence: use tanh": numpy_char_rnn(w, X_check.numpy(), relu)[0],
        "these are the logits of tanh(...) + b_h: b_h goes inside the tanh, H = tanh(X W_xh + H W_hh + b_h)":
            numpy_char_rnn(w, X_check.numpy(), bias_outside=True)[0],
        "these are the logits of a recurrence without b_h: add b_h inside the tanh":
            numpy_char_rnn({**w, "b_h": 0 * w["b_h"]}, X_check.numpy())[0],
        "these are the logits without b_q: add b_q after H W_hq": numpy_char_rnn(w, X_check.numpy())[0] - w["b_q"],
        "these are the logits of H[:, t-1] @ transpose(W_hh): multiply by W_hh itself (square, not symmetric)":
            numpy_char_rnn({**w, "W_hh": w["W_hh"].T}, X_check.numpy())[0]})
    check_close(state, states[-1], "the returned state (after the last step)", rtol=1e-4, atol=1e-5, causes={
        "that is the state after the first step: return the state after the last one": states[0]})

    # two halves, the state carried, give the logits of the whole
    first, mid_state = call(model, X_check[:, :2])
    second, _ = call(model, X_check[:, 2:], mid_state)
    check_close(tf.concat([first, second], axis=1), logits, "logits of X[:, :2] then X[:, 2:] (state carried)",
                rtol=1e-4, atol=1e-5, causes={
                    "the second call started from zeros: carry on from the state passed in (state=None alone means "
                    "begin_state)": np.concatenate([expected[:, :2], numpy_char_rnn(w, X_check.numpy()[:, 2:])[0]], 1)})

    # float64 model, and gradients by GradientTape against centred finite differences
    keras.utils.set_random_seed(2)
    model64 = call(CharRNNLM, 4, 3, dtype="float64")
    X64 = tf.constant([[0, 3, 1, 2], [2, 2, 0, 1]], tf.int32)
    upstream = np.random.default_rng(7).standard_normal((2, 4, 4))
    with tf.GradientTape() as tape:
        logits64, _ = call(model64, X64)
        objective = tf.reduce_sum(logits64 * upstream)
    check_dtype(logits64, np.float64, "logits of CharRNNLM(..., dtype='float64')")
    grads = tape.gradient(objective, model64.trainable_variables)
    for variable, grad in zip(model64.trainable_variables, grads):
        if grad is None:
            raise CheckFailed(f"no gradient reaches {variable.name}: is it used (H_t = tanh(X_t W_xh + H_(t-1) W_hh + "
                              "b_h), logits H_t W_hq + b_q)? If it is, some step left TensorFlow operations")
        start = variable.numpy()

        def forward_with(value, variable=variable):
            variable.assign(value)
            return model64(X64)[0]
        expected_grad = numeric_gradient(forward_with, start.copy(), upstream)
        variable.assign(start)
        try:
            check_gradient(grad, expected_grad, f"gradient of {variable.name}", tol=1e-6)
        except CheckFailed as failure:   # the logits are right (checked above), so the way back is not
            raise CheckFailed(f"{failure}. The logits are right and their gradient is not: between the steps "
                              "something cuts or changes the way back (tf.stop_gradient on the state, .numpy() "
                              "or tf.constant of H)") from None

# %% [markdown]
# ## Part 5 — Gradient clipping (2 points)
#
# Backpropagation through $T$ steps multiplies $T$ Jacobians. Assignment 1 showed that their product can blow up;
# one unlucky batch then takes a step so large that training never recovers. **Gradient clipping** bounds the step:
# if the *global* norm of all gradients together,
# $\|\mathbf{g}\| = \sqrt{\sum_k \|\mathbf{g}_k\|^2}$ over every weight $k$, exceeds $\theta$, every gradient is
# multiplied by $\theta / \|\mathbf{g}\|$. The direction of the step is kept; only its length shrinks. (Clipping
# each tensor separately would change the direction.)

# %% nbgrader={"grade": false, "grade_id": "clip_gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution clip_gradients


# %% nbgrader={"grade": true, "grade_id": "test_clip_gradients", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with public_check("clip_gradients"):
    grads = [tf.constant([[3.0, 0.0]]), tf.constant([0.0, 4.0, 0.0])]          # global norm 5, each below 5
    clipped = call(clip_gradients, grads, 1.0)
    if isinstance(clipped, (list, tuple)) and len(clipped) == 2 and isinstance(clipped[0], (list, tuple)):
        raise CheckFailed("clip_gradients returned a pair (gradients, norm), as tf.clip_by_global_norm does: return "
                          "only the list of clipped gradients")
    if not isinstance(clipped, (list, tuple)) or len(clipped) != 2:
        raise CheckFailed(f"clip_gradients should return a list of 2 gradients for 2 gradients, got "
                          f"{type(clipped).__name__}{'' if not hasattr(clipped, '__len__') else f' of {len(clipped)}'}"
                          " (tf.clip_by_global_norm returns a pair (gradients, norm): keep only the gradients)")
    if np.allclose(np.asarray(clipped[0]), [[1.0, 0.0]]) and np.allclose(np.asarray(clipped[1]), [0.0, 1.0, 0.0]):
        raise CheckFailed("with gradients [[3, 0]] and [0, 4, 0] (global norm 5) and theta = 1, each came back with "
                          "norm 1: that clips every tensor on its own (tf.clip_by_norm per tensor, or each tensor "
                          "scaled by theta / its own norm). Scale ALL of them by the same theta / global norm, where "
                          "global norm = sqrt(3**2 + 4**2) = 5: expected [[0.6, 0]] and [0, 0.8, 0]")
    first = np.asarray(clipped[0], np.float64)
    for scale, why in ((1 / 25, "theta / the SQUARED global norm (25): take the square root of the sum of squares"),
                       (1 / 7, "theta / the sum of the tensors' own norms (3 + 4 = 7): the global norm is "
                               "sqrt(3**2 + 4**2) = 5, the norm of all entries together")):
        if first.shape == (1, 2) and np.allclose(first, [[3.0 * scale, 0.0]], rtol=1e-4):
            raise CheckFailed(f"with gradients [[3, 0]] and [0, 4, 0] and theta = 1, the first came back as "
                              f"{np.round(first, 4).tolist()}, not [[0.6, 0]]: it was scaled by {why}")
    check_close(clipped[0], [[0.6, 0.0]], "first gradient clipped to global norm 1")
    check_close(clipped[1], [0.0, 0.8, 0.0], "second gradient clipped to global norm 1")
    unchanged = call(clip_gradients, grads, 10.0)
    if np.allclose(np.asarray(unchanged[0], np.float64), [[6.0, 0.0]], rtol=1e-4):
        raise CheckFailed("with theta = 10 and gradients of global norm 5, they came back scaled by theta / norm = 2: "
                          "clipping only ever shrinks, so scale by min(1, theta / norm) and leave gradients whose "
                          "norm is already below theta unchanged")
    for got, g in zip(unchanged, grads):
        check_close(got, g, "gradients below theta (must not change)")
    check_rng = np.random.default_rng(8)
    grads64 = [tf.constant(check_rng.standard_normal(s)) for s in ((3, 4), (4,), (2, 2, 2))]
    for got, expected in zip(call(clip_gradients, grads64, 0.5), tf.clip_by_global_norm(grads64, 0.5)[0]):
        check_dtype(got, np.float64, "clipped float64 gradients")
        check_close(got, expected, "against tf.clip_by_global_norm", rtol=1e-6)
    # The tape's gradient of a tf.gather is a tf.IndexedSlices; here its first row comes as two slices of index 0.
    dense = check_rng.standard_normal((3, 2)).astype(np.float32)
    sliced = tf.IndexedSlices(tf.constant(np.concatenate([0.25 * dense[:1], dense[1:], 0.75 * dense[:1]])),
                              tf.constant([0, 1, 2, 0], tf.int64), tf.constant([3, 2], tf.int64))
    other = check_rng.standard_normal(4).astype(np.float32)
    try:
        got = call(clip_gradients, [sliced, tf.constant(other)], 0.1)
    except CheckFailed as err:
        if "IndexedSlices" not in str(err):
            raise
        raise CheckFailed(f"{err}. The first gradient was a tf.IndexedSlices (the tape gives one for a tf.gather): "
                          "make every gradient dense with tf.convert_to_tensor before the arithmetic, or use "
                          "tf.clip_by_global_norm, which takes them as they are") from None
    got = [tf.convert_to_tensor(g).numpy() for g in got]
    # the norm of the dense tensor, or (as tf.clip_by_global_norm computes it) of the slices' values: both accepted
    dense_norm = np.sqrt(np.sum(dense ** 2) + np.sum(other ** 2))
    values_norm = float(tf.linalg.global_norm([sliced, tf.constant(other)]))
    if not any(np.allclose(got[0], dense * 0.1 / norm, rtol=1e-5, atol=1e-7)
               and np.allclose(got[1], other * 0.1 / norm, rtol=1e-5, atol=1e-7) for norm in (dense_norm, values_norm)):
        check_close(got[0], dense * 0.1 / dense_norm, "a tf.IndexedSlices gradient (the dense tensor it stands for; "
                    "tf.convert_to_tensor makes it) clipped", rtol=1e-5, atol=1e-7)
        check_close(got[1], other * 0.1 / dense_norm, "the gradient after a tf.IndexedSlices, clipped", rtol=1e-5,
                    atol=1e-7)

# %% [markdown]
# What clipping does during training: the cell below trains a model for one epoch over the first 20,000
# characters of the generated text of Part 6 (39 steps) with a large learning rate, with and without clipping at
# $\theta = 1$, and plots the global gradient norm (before clipping) and the loss at every step.

# %% nbgrader={"grade": false, "grade_id": "demo_clipping", "locked": true, "schema_version": 3, "solution": false, "task": false}
source = default_source()
gen_V = len(source.alphabet)
gen_train = source.sample_ids(40_000, seed=1)
gen_valid = source.sample_ids(10_000, seed=2)


def gradient_norms(theta, learning_rate=3.0):
    keras.utils.set_random_seed(1)
    model = CharRNNLM(gen_V, 64)
    norms, losses, state = [], [], None
    for X, Y in seq_data_iter_sequential(gen_train[:20_000], 32, 16, np.random.default_rng(0)):
        state = model.begin_state(32) if state is None else tf.stop_gradient(state)
        with tf.GradientTape() as tape:
            logits, state = model(X, state)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))
        grads = tape.gradient(loss, model.trainable_variables)
        norms.append(float(tf.linalg.global_norm(grads)))
        losses.append(float(loss))
        if theta is not None:
            grads = clip_gradients(grads, theta)
        for w, g in zip(model.trainable_variables, grads):
            w.assign_sub(learning_rate * g)
    return norms, losses


if ready("seq_data_iter_sequential", "CharRNNLM", "clip_gradients"):
    fig, (ax_norm, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.2))
    for theta, label in ((None, "no clipping"), (1.0, "clipped at θ = 1")):
        norms, losses = gradient_norms(theta)
        ax_norm.semilogy(norms, label=label)
        ax_loss.plot(losses, label=label)
    ax_norm.set(xlabel="step", ylabel="global gradient norm", title="Gradient norm before clipping")
    ax_loss.set(xlabel="step", ylabel="training loss (cross-entropy)", title="Loss")
    ax_loss.legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 6 — Training with truncated backpropagation through time (4 points)
#
# `train_char_lm` trains by minibatch SGD. For every batch `(X, Y)`: run the model, take the **mean**
# cross-entropy of its logits against `Y` over all $n \times T$ positions as the loss, compute its gradients with
# respect to `model.trainable_variables` under a `tf.GradientTape`, clip them with your `clip_gradients`, and
# update every weight `w.assign_sub(learning_rate * g)`.
#
# The hidden state follows the sampling:
#
# * with **random** sampling (`use_random_iter=True`) the batches are unrelated, so every batch starts from
#   `model.begin_state(batch_size)`;
# * with **sequential** sampling each epoch starts from `begin_state`, and every later batch starts from the state
#   the previous batch ended with, so the model sees the text as one long stream. Wrap that state in
#   `tf.stop_gradient`: the forward pass carries on, but backpropagation stops at the batch boundary. This is
#   **truncated backpropagation through time**: gradients flow through at most $T$ steps, which keeps a step cheap
#   and stable, at the price of not learning dependencies longer than $T$ from the gradient directly.
#
# What `tf.stop_gradient(state)` does: it returns the same values, marked as a constant for differentiation, so no
# gradient flows through it into whatever computed it. When does that matter? A `tf.GradientTape` records only the
# operations run inside its `with` block. With one tape per batch, as above, the previous batch's operations were
# never on the current tape, so in eager TensorFlow the gradient stops at the batch boundary even without
# `tf.stop_gradient`: the call changes nothing there. It matters as soon as one tape spans several batches (say, a
# persistent tape around an epoch, gradient accumulation over several batches, or a whole epoch compiled into one
# `tf.function` under one tape): then, without it, each batch's gradient reaches back through every batch before,
# and the cost and the product of Jacobians grow with the text read so far. In frameworks where a tensor keeps its
# graph (PyTorch's `.detach()` plays the same role), it always matters. Write it anyway: it states the intent, and
# the public check below fails a loop whose gradient reaches back into earlier batches.
#
# Create the iterator's generator once, with `np.random.default_rng(seed)` before the epoch loop, and give that same
# generator to the iterator every epoch: a run can be repeated, and each epoch draws a new order. Return one
# perplexity per epoch: $\exp$ of the mean cross-entropy over all positions of all its batches, using each batch's
# loss as computed for its update (no extra forward pass).

# %% nbgrader={"grade": false, "grade_id": "train_char_lm", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution train_char_lm


# %% nbgrader={"grade": true, "grade_id": "test_train_char_lm", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
small = default_source(seed=3).sample_ids(1800, seed=0)


def short_run(use_random_iter, seed=0):
    keras.utils.set_random_seed(1)   # the same initial weights for every run
    model = CharRNNLM(9, 16)
    return call(train_char_lm, model, small, batch_size=8, num_steps=10, learning_rate=1.0, theta=1.0, epochs=2,
                use_random_iter=use_random_iter, seed=seed)


def spied_run(settings, V=7, h=5):
    """train_char_lm on a recording CharRNNLM and recording iterators (your own, wrapped): what the model was
    called with (inputs, state, weights) and what each call of an iterator was given and yielded."""
    calls, iterations = [], []

    def record(given, X, state, new_state, logits, *weights):
        calls.append({"X": np.asarray(X), "state": np.asarray(state) if given else None,
                      "new_state": np.asarray(new_state), "logits": np.asarray(logits, np.float64),
                      "weights": [np.asarray(w) for w in weights]})
        return np.int32(0)

    class Recorder(CharRNNLM):
        recording = False

        def call(self, X, state=None):
            logits, new_state = super().call(X, state)
            if self.recording:
                given = state is not None
                inputs = [X, state if given else new_state, new_state, logits] + [
                    tf.convert_to_tensor(w) for w in self.trainable_variables]
                if tf.executing_eagerly():
                    record(given, *[np.asarray(x) for x in inputs])
                else:   # inside a tf.function: recorded when the graph runs, before the results are used
                    done = tf.py_function(lambda *a: record(given, *[x.numpy() for x in a]), inputs, Tout=tf.int32)
                    with tf.control_dependencies([done]):
                        logits, new_state = tf.identity(logits), tf.identity(new_state)
            return logits, new_state

    def recording(original):
        def iterator(corpus, batch_size, num_steps, rng):
            entry = {"name": original.__name__, "corpus": np.asarray(corpus), "n": batch_size, "T": num_steps,
                     "rng": rng, "rng_state": getattr(getattr(rng, "bit_generator", None), "state", None),
                     "batches": []}
            iterations.append(entry)
            for X, Y in original(corpus, batch_size, num_steps, rng):
                entry["batches"].append((np.asarray(X), np.asarray(Y)))
                yield X, Y
        iterator.__name__ = original.__name__
        return iterator

    spy_rng = np.random.default_rng(11)
    corpus = spy_rng.integers(0, V, 600)
    keras.utils.set_random_seed(3)
    model = Recorder(V, h)
    model(tf.zeros((1, 2), tf.int32))
    for w in model.trainable_variables:   # large output weights: the batches' losses differ widely
        scale = 4.0 if tuple(w.shape) == (h, V) else 0.5
        w.assign(scale * spy_rng.standard_normal(w.shape) / np.sqrt(w.shape[0]))
    where = train_char_lm.__globals__
    originals = {name: where[name] for name in ("seq_data_iter_random", "seq_data_iter_sequential")}
    where.update({name: recording(f) for name, f in originals.items()})
    model.recording = True
    try:
        history = call(train_char_lm, model, corpus, **settings)
    except CheckFailed as err:   # raised in your code: said after what the iterators were given, which may explain it
        history = err
    finally:
        where.update(originals)
    final = [w.numpy() for w in model.trainable_variables]
    steps = [c for k, c in enumerate(calls)   # the calls an update followed: the training steps
             if not all(np.array_equal(a, b) for a, b in zip(c["weights"], calls[k + 1]["weights"] if k + 1 < len(
                 calls) else final))]
    return corpus, history, steps, iterations


def mean_cross_entropy(logits, Y):
    logits = np.asarray(logits, np.float64)
    z = logits - logits.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-np.mean(np.take_along_axis(log_p, np.asarray(Y)[..., None], axis=-1)))


def check_spied_run(settings):
    kind = "random" if settings["use_random_iter"] else "sequential"
    what = (f"train_char_lm(batch_size={settings['batch_size']}, num_steps={settings['num_steps']}, learning_rate="
            f"{settings['learning_rate']}, theta={settings['theta']}, epochs={settings['epochs']}, use_random_iter="
            f"{settings['use_random_iter']}, seed={settings['seed']})")
    wanted = "seq_data_iter_random" if settings["use_random_iter"] else "seq_data_iter_sequential"
    corpus, history, steps, iterations = spied_run(settings)
    epochs = settings["epochs"]
    # the iterator: which one, its arguments, one per epoch, one generator for the whole run
    if not iterations and isinstance(history, CheckFailed):
        raise history
    if not iterations:
        raise CheckFailed(f"{what} never called {wanted}: take every epoch's batches from "
                          f"{wanted}(corpus, batch_size, num_steps, rng)")
    for e, it in enumerate(iterations):
        if it["name"] != wanted:
            raise CheckFailed(f"{what}: epoch {e + 1} took its batches from {it['name']}; use_random_iter="
                              f"{settings['use_random_iter']} asks for {wanted}")
        if (it["n"], it["T"]) != (settings["batch_size"], settings["num_steps"]):
            raise CheckFailed(f"{what}: the iterator was called with batch_size={it['n']}, num_steps={it['T']}: pass "
                              "batch_size and num_steps on as given")
        if not np.array_equal(it["corpus"], corpus):
            raise CheckFailed(f"{what}: the iterator was given another corpus than train_char_lm's")
    if isinstance(history, CheckFailed):
        raise history
    if len(iterations) != epochs:
        raise CheckFailed(f"{what}: {wanted} was called {len(iterations)} times for epochs={epochs}: one new iterator "
                          "per epoch, epochs passes over the corpus")
    if not isinstance(iterations[0]["rng"], np.random.Generator) or \
            iterations[0]["rng_state"] != np.random.default_rng(settings["seed"]).bit_generator.state:
        raise CheckFailed(f"{what}: the first epoch's iterator did not get a fresh np.random.default_rng(seed) "
                          f"(seed={settings['seed']}): the seed must decide the run, so that it can be repeated")
    if any(it["rng"] is not iterations[0]["rng"] for it in iterations[1:]):
        repeated = iterations[1]["rng_state"] == iterations[0]["rng_state"]
        raise CheckFailed(f"{what}: epoch 2 got another generator than epoch 1"
                          + (" (a new np.random.default_rng(seed), so it repeated epoch 1's offset and order)"
                             if repeated else "")
                          + ": create the generator once, before the epoch loop, and give that same one to the "
                          "iterator every epoch, so that each epoch draws a new offset and order")
    # one update per batch, on the batches the iterator yielded, in order
    batches = [b for it in iterations for b in it["batches"]]
    if len(steps) != len(batches):
        raise CheckFailed(f"{what}: {len(steps)} weight updates for the {len(batches)} batches the iterator yielded "
                          "over the epochs: one update per batch")
    for k, (step, (X, _)) in enumerate(zip(steps, batches)):
        if not np.array_equal(step["X"], X):
            raise CheckFailed(f"{what}: update {k + 1} ran the model on other inputs than batch {k + 1} of the "
                              "iterator: run the model on each batch X as it comes")
    # the state: fresh where the batches are unrelated, carried where they continue each other
    k = 0
    for e, it in enumerate(iterations):
        for b in range(len(it["batches"])):
            state = steps[k]["state"]
            fresh = state is None or not np.any(state)
            if settings["use_random_iter"] and not fresh:
                raise CheckFailed(f"{what}: batch {b + 1} of epoch {e + 1} started from the state of the batch "
                                  "before; with random sampling neighbouring batches are unrelated stretches of text, "
                                  "so every batch starts from model.begin_state(batch_size) (or state=None)")
            if not settings["use_random_iter"] and b == 0 and not fresh:
                raise CheckFailed(f"{what}: epoch {e + 1} started from the state left over from the epoch before; "
                                  "start every epoch afresh from model.begin_state(batch_size) (or state=None)")
            if not settings["use_random_iter"] and b > 0 and (
                    state is None or not np.allclose(state, steps[k - 1]["new_state"], atol=1e-6)):
                raise CheckFailed(f"{what}: batch {b + 1} of epoch {e + 1} did not start from the state batch {b} "
                                  "ended with; with sequential sampling row j continues row j of the batch before, "
                                  "so carry the state on (cut with tf.stop_gradient)")
            k += 1
    # the updates: w <- w - learning_rate * (the mean cross-entropy's gradients, clipped to global norm theta)
    probe = CharRNNLM(7, 5)
    probe(tf.zeros((1, 2), tf.int32))
    for k in range(min(3, len(steps) - 1)):
        X, Y = batches[k]
        for w, value in zip(probe.trainable_variables, steps[k]["weights"]):
            w.assign(value)
        state = None if steps[k]["state"] is None else tf.constant(steps[k]["state"])
        with tf.GradientTape() as tape:
            logits, _ = probe(tf.constant(X), state)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))
        grads = tape.gradient(loss, probe.trainable_variables)
        clipped, norm = tf.clip_by_global_norm(grads, settings["theta"])
        before, after = steps[k]["weights"], steps[k + 1]["weights"]

        def moved_by(gs, rate=settings["learning_rate"]):
            return all(np.allclose(a, w - rate * g.numpy(), rtol=2e-3, atol=2e-5) for a, w, g in zip(after, before, gs))
        if moved_by(clipped):
            continue
        hint = ""
        if moved_by([-g for g in clipped]):
            hint = " (the weights moved up the gradient: w -= learning_rate * g, not +=)"
        elif float(norm) > settings["theta"] and moved_by(grads):
            hint = (f" (they moved by the unclipped gradients, whose global norm {float(norm):.3g} is above "
                    f"theta={settings['theta']}: clip them with clip_gradients(grads, theta))")
        elif moved_by(tf.clip_by_global_norm(grads, 1.0)[0]) and settings["theta"] != 1.0:
            hint = f" (they look clipped at 1 instead of theta={settings['theta']})"
        elif moved_by(clipped, 1.0) or moved_by(clipped, 0.1):
            hint = f" (they moved by another learning rate than learning_rate={settings['learning_rate']})"
        elif moved_by([g * int(np.size(Y)) for g in grads]):
            hint = " (by the gradient of the SUM of the cross-entropies: take the mean over all n*T positions)"
        elif not settings["use_random_iter"] and k > 0:
            hint = (" (if one tape spans several batches, the carried state must be cut with tf.stop_gradient, "
                    "or the gradient reaches back into the batches before)")
        raise CheckFailed(f"{what}: update {k + 1} is not w <- w - learning_rate * g with g the gradients of the "
                          "batch's MEAN cross-entropy clipped to global norm theta (clip_gradients(grads, theta))"
                          + hint)
    # the history: exp of the mean cross-entropy over every position of the epoch, from the losses of its updates
    if not isinstance(history, list) or len(history) != epochs:
        raise CheckFailed(f"{what} should return a list of {epochs} perplexities (one per epoch), got {history!r:.100}")
    k = 0
    for e, it in enumerate(iterations):
        losses = [mean_cross_entropy(steps[k + b]["logits"], Y) for b, (_, Y) in enumerate(it["batches"])]
        k += len(losses)
        expected = math.exp(np.mean(losses))   # every batch has n*T positions
        got = float(history[e])
        if not abs(got - expected) <= 2e-3 * expected:
            hint = ""
            if abs(got - math.exp(losses[-1])) <= 2e-3 * math.exp(losses[-1]):
                hint = " (that is the last batch's perplexity)"
            elif abs(got - np.mean(np.exp(losses))) <= 2e-3 * np.mean(np.exp(losses)):
                hint = " (that is the mean of the batches' perplexities: take exp of the mean cross-entropy)"
            elif got > 0 and abs(math.log(got) - np.mean(np.exp(losses))) <= 2e-3:   # log of exp(mean(exp))
                hint = (" (that is exp of the mean of the batches' perplexities: add up the batches' cross-entropy "
                        "losses, not exp of them, and take exp once at the end)")
            elif abs(got - math.exp(np.sum(losses))) <= 2e-3 * math.exp(np.sum(losses)):
                hint = " (that is exp of the SUM of the batches' losses: divide by the number of batches)"
            raise CheckFailed(f"{what}: epoch {e + 1}'s perplexity should be exp(mean cross-entropy over all "
                              f"positions of its {len(losses)} batches) = {expected:.4f}, from the losses its "
                              f"updates used; got {got:.4f}{hint}")


with public_check("train_char_lm") as check:
    check.require("CharRNNLM", "clip_gradients", "seq_data_iter_random", "seq_data_iter_sequential")
    # spied runs: every argument, the state, the updates and the reported perplexities (no learning needed)
    check_spied_run({"batch_size": 4, "num_steps": 8, "learning_rate": 0.5, "theta": 1e3, "epochs": 2,
                     "use_random_iter": False, "seed": 7})
    check_spied_run({"batch_size": 3, "num_steps": 7, "learning_rate": 0.3, "theta": 0.05, "epochs": 2,
                     "use_random_iter": True, "seed": 8})
    # real runs: the perplexity goes down
    runs = {}
    for use_random_iter in (False, True):
        kind = "random" if use_random_iter else "sequential"
        history = runs[kind] = short_run(use_random_iter)
        if not isinstance(history, list) or len(history) != 2:
            raise CheckFailed(f"train_char_lm ({kind}) should return a list of 2 perplexities (epochs=2), got "
                              f"{history!r:.100}")
        if not all(np.isfinite(history)) or min(history) < 1:
            raise CheckFailed(f"train_char_lm ({kind}): perplexities must be finite and at least 1, got {history}")
        if not history[-1] < history[0]:
            raise CheckFailed(f"train_char_lm ({kind}): the perplexity did not go down in 2 epochs: {history}")
    check.note = "".join(f"; {kind} sampling: perplexity {h[0]:.2f} -> {h[-1]:.2f}" for kind, h in runs.items())

# %% [markdown]
# ### On generated text: how close to the best possible?
#
# The generated source is a random automaton with 16 hidden states: in each state it emits one of a few characters
# at random and moves to a state that depends on the character. Because we know its probabilities, we know its
# **entropy rate** $H$, the uncertainty about the next character that remains even for a model that knows the
# source perfectly and has read all the text before. No model can have a perplexity below $e^{H}$ on long text
# from it: that is the floor. Bigram and trigram models stop well above it, because the automaton's state depends
# on more than the last two characters; a recurrent network that tracks the state can come close.
#
# `fit` below calls your `train_char_lm` one epoch at a time, so that it can print, after every epoch, the training
# perplexity of the epoch just finished, and measure the held-out text after every epoch: `evaluate` reads it as
# 16 parallel streams, the state carried along. The plot shows both curves, per epoch.

# %% nbgrader={"grade": false, "grade_id": "demo_train_generated", "locked": true, "schema_version": 3, "solution": false, "task": false}
def evaluate(model, ids, streams=16, chunk=64):
    """Perplexity on ``ids`` read as ``streams`` contiguous streams, the state carried from chunk to chunk."""
    length = (len(ids) - 1) // streams
    X = np.asarray(ids[:streams * length]).reshape(streams, length)
    Y = np.asarray(ids[1:streams * length + 1]).reshape(streams, length)
    state, total = None, 0.0
    for t in range(0, length - chunk + 1, chunk):
        logits, state = model(tf.constant(X[:, t:t + chunk]), state)
        total += math.log(perplexity(logits, Y[:, t:t + chunk]))
    return math.exp(total / (length // chunk))


def fit(model, corpus, valid, epochs, **settings):
    """train_char_lm one epoch at a time; returns the training and the validation perplexity of every epoch."""
    train_curve, valid_curve, started = [], [], time.time()
    for epoch in range(epochs):
        train_curve += train_char_lm(model, corpus, epochs=1, seed=epoch, **settings)
        valid_curve.append(evaluate(model, valid))
        # one plain line per epoch: a progress bar's control characters show raw in a notebook run by nbconvert
        print(f"epoch {epoch + 1}/{epochs}: training perplexity {train_curve[-1]:.3f}, validation perplexity "
              f"{valid_curve[-1]:.3f} ({time.time() - started:.0f} s)", flush=True)
    return train_curve, valid_curve


def plot_curves(train_curve, valid_curve, baselines, title, floor=None):
    fig, ax = plt.subplots(figsize=(7, 3.5))
    epochs_axis = np.arange(1, len(train_curve) + 1)
    ax.plot(epochs_axis, train_curve, "o-", label="RNN, training (mean over the epoch)")
    ax.plot(epochs_axis, valid_curve, "s--", label="RNN, validation (at the end of the epoch)")
    for (n, ppl), style in zip(baselines.items(), (":", "-.", "--", (0, (1, 4)))):
        ax.axhline(ppl, ls=style, color="gray", label=f"{NGRAM_NAMES[n]} {ppl:.2f}")
    if floor is not None:
        ax.axhline(floor, color="black", label=f"floor exp(H) {floor:.2f}")
    ax.set(xlabel="epoch", ylabel="perplexity", xticks=epochs_axis, title=title)
    ax.legend(fontsize=8)
    plt.show()


if ready("seq_data_iter_sequential", "perplexity", "CharRNNLM", "clip_gradients", "train_char_lm"):
    floor = source.perplexity_floor()
    gen_baselines = {n: ngram_perplexity(gen_train, gen_valid, n, gen_V) for n in (1, 2, 3)}
    print(f"entropy rate {source.entropy_rate():.3f} nats per character: floor exp(H) = {floor:.3f}")
    keras.utils.set_random_seed(0)
    gen_model = CharRNNLM(gen_V, 64)
    started = time.time()
    gen_train_curve, gen_valid_curve = fit(gen_model, gen_train, gen_valid, 10 if LONG_RUN else 3, batch_size=32,
                                           num_steps=16, learning_rate=2.0, theta=1.0, use_random_iter=False)
    print(f"trained in {time.time() - started:.0f} s; held-out perplexity {gen_valid_curve[-1]:.3f} "
          f"({gen_valid_curve[-1] / floor:.3f} x the floor)")
    plot_curves(gen_train_curve, gen_valid_curve, gen_baselines, "Generated text: perplexity against the floor",
                floor)

# %% [markdown]
# ### On real text
#
# The same model, larger, on the corpus of Part 1 (90 % for training, 10 % for validation), against the n-gram
# models of Part 3. Plain SGD on a vanilla RNN learns slowly, so the default run (`TEXT_RUN` below) is tuned for
# about a minute and a half on a 2-core CPU: 128 units, 32 streams, windows of $T = 16$ characters (twice as many
# updates per epoch as $T = 32$ for about the same time per epoch; Part 8 shows that the gradient reaches little
# further back anyway), learning rate 1 and clipping at $\theta = 1$, 8 epochs. Larger steps do not help: with
# a learning rate of 2, or clipping at 5, this model diverges in its first epochs.
#
# Measured with the reference solution (`bench/results/char_lm_lesson.md`), the default run reaches a validation
# perplexity of 5.94 on *The Time Machine*, below the trigram's 6.38 (it passes it after 6 epochs), and 5.03 on
# the Python documentation, the offline corpus, below its trigram's 6.05 (after 4 epochs). A hidden state of 128
# numbers, learnt from the text, predicts better than a table of every two-character context: summarising the
# history beats counting it.
#
# The 4-gram (4.69 on *The Time Machine*, 4.06 on the documentation) is a harder target: it remembers three
# characters exactly, and about 156,000 characters of training text are enough to count most three-letter
# contexts of English. This vanilla RNN with plain SGD does not get there in any run of this notebook: `LONG_RUN = True`
# (24 epochs, about four and a half minutes) reaches 5.38 and 4.54, and 30 epochs 5.32 and 4.38, still improving
# slowly. What beats the 4-gram is a gated layer with an adaptive optimizer: the GRU of Part 9, trained with
# Adam, passes it after 5 epochs on *The Time Machine* (4.65) and 4 on the documentation (4.05), in about half a
# minute (`LONG_RUN = True` trains Part 9 for 6 epochs).

# %% nbgrader={"grade": false, "grade_id": "demo_train_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The default run, tuned to beat the trigram within a few minutes on a CPU (bench/char_lm_lesson.py measures it).
TEXT_RUN = {"units": 128, "batch_size": 32, "num_steps": 16, "learning_rate": 1.0, "theta": 1.0,
            "use_random_iter": False, "epochs": 8, "long_epochs": 24}
if ready("build_char_vocab", "seq_data_iter_sequential", "perplexity", "CharRNNLM", "clip_gradients",
         "train_char_lm"):
    keras.utils.set_random_seed(0)
    text_model = CharRNNLM(V, TEXT_RUN["units"])
    text_epochs = TEXT_RUN["long_epochs"] if LONG_RUN else TEXT_RUN["epochs"]
    text_settings = {k: v for k, v in TEXT_RUN.items() if k not in ("units", "epochs", "long_epochs")}
    started = time.time()
    text_train_curve, text_valid_curve = fit(text_model, train_ids, valid_ids, text_epochs, **text_settings)
    text_seconds = time.time() - started
    final = text_valid_curve[-1]
    beaten = [n for n, ppl in baselines.items() if final < ppl]
    print(f"trained in {text_seconds:.0f} s; validation perplexity {final:.2f} ("
          + ", ".join(f"{NGRAM_NAMES[n]} {ppl:.2f}" for n, ppl in baselines.items()) + "): "
          + (f"better than the {NGRAM_NAMES[max(beaten)]}" if beaten else "not better than any n-gram model")
          + ("" if 3 in beaten else "; the trigram is still ahead (see the text above)"))
    plot_curves(text_train_curve, text_valid_curve, baselines, corpus_name)

# %% [markdown]
# ## Part 7 — Generating text (3 points)
#
# To continue a prefix, first **warm up** the state: feed the prefix's characters in order, starting from
# `model.begin_state(1)`. The logits after the last prefix character predict the first new character; choose it,
# feed it back in, and repeat. A *temperature* $\tau$ decides how to choose:
#
# * $\tau = 0$: greedy, the most likely character, `argmax` of the logits;
# * $\tau > 0$: sample from $\mathrm{softmax}(\mathbf{O} / \tau)$ with the `rng` you are given; $\tau = 1$ is the
#   model's own distribution, $\tau < 1$ sharper (safer, more repetitive), $\tau > 1$ flatter (more surprising,
#   more mistakes).
#
# Compute the probabilities in float64 with the maximum subtracted (as for perplexity) and pass them to
# `rng.choice(V, p=p)`. Return the prefix followed by the new characters.
#
# The picture shows what the temperature does to one set of seven logits. Dividing by $\tau$ stretches (for
# $\tau < 1$) or squeezes (for $\tau > 1$) the differences between the logits before the softmax: as
# $\tau \to 0$ all the probability goes to the largest logit (greedy choice), as $\tau \to \infty$ the
# distribution becomes uniform. The order of the characters never changes.

# %% nbgrader={"grade": false, "grade_id": "demo_temperature", "locked": true, "schema_version": 3, "solution": false, "task": false}
o = np.array([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, -2.0])   # the logits of seven characters
temperatures = (0.25, 0.5, 1.0, 2.0, 4.0)
width = 0.8 / len(temperatures)
fig, ax = plt.subplots(figsize=(9, 3.2))
for k, tau in enumerate(temperatures):
    z = o / tau
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    ax.bar(np.arange(len(o)) + (k - (len(temperatures) - 1) / 2) * width, p, width, label=f"τ = {tau:g}")
ax.set(xticks=range(len(o)), xticklabels=[f"o = {v:g}" for v in o], ylabel="probability",
       title="softmax(o / τ) for one set of logits o")
ax.legend()
plt.show()

# %% nbgrader={"grade": false, "grade_id": "generate", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution generate


# %% nbgrader={"grade": true, "grade_id": "test_generate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with public_check("generate") as check:
    check.require("CharRNNLM")
    keras.utils.set_random_seed(4)
    tiny_vocab = list("abcd ")
    tiny_c2i = {c: i for i, c in enumerate(tiny_vocab)}
    tiny = CharRNNLM(5, 8)
    for w in tiny.trainable_variables:   # large random weights, so that the predictions differ from step to step
        w.assign(2.0 * np.random.default_rng(9).standard_normal(w.shape) / np.sqrt(w.shape[0]))
    greedy = call(generate, tiny, "ab c", 12, tiny_c2i, tiny_vocab)
    if not isinstance(greedy, str) or not greedy.startswith("ab c") or len(greedy) != 16:
        raise CheckFailed(f"generate(model, 'ab c', 12, ...) should return 'ab c' and 12 more characters, "
                          f"got {greedy!r}")
    # the greedy choice at every step, recomputed one character at a time
    state, expected_text = tiny.begin_state(1), "ab c"
    for i in range(len(greedy) - 1):
        logits, state = tiny(tf.constant([[tiny_c2i[greedy[i]]]]), state)
        if i >= 3:
            expected_text += tiny_vocab[int(np.argmax(logits[0, -1]))]
    if greedy[:5] != expected_text[:5]:
        raise CheckFailed(f"greedy generation gave {greedy!r}, but the model's most likely characters give "
                          f"{expected_text!r}: already the first new character is not the most likely one after the "
                          "whole prefix; it comes from the logits of the last step fed, the last prefix character "
                          "fed after all the others from begin_state(1)")
    if greedy != expected_text:
        raise CheckFailed(f"greedy generation gave {greedy!r}, but the model's most likely characters give "
                          f"{expected_text!r}: warm up on the whole prefix, then feed each new character back in")
    try:
        free = call(generate, tiny, "ab c", 10, tiny_c2i, tiny_vocab, temperature=1.0)
    except CheckFailed as err:
        raise CheckFailed(f"generate(model, 'ab c', 10, ..., temperature=1.0) without an rng failed: with rng=None, "
                          f"generate samples with a fresh generator, rng = np.random.default_rng(). What it raised: "
                          f"{err}") from None
    sampled = [call(generate, tiny, "ab c", 40, tiny_c2i, tiny_vocab, temperature=1.0, rng=np.random.default_rng(s))
               for s in (0, 0, 1)]
    greedy_40 = call(generate, tiny, "ab c", 40, tiny_c2i, tiny_vocab)
    if sampled[0] == greedy_40 and sampled[2] == greedy_40:
        raise CheckFailed("at temperature 1 every sampled character was the model's most likely one, as with "
                          "temperature 0: when temperature > 0, draw each character with rng.choice(V, p=p) from "
                          "p = softmax(logits / temperature), instead of taking the argmax")
    if sampled[0] != sampled[1]:
        raise CheckFailed("two calls with generators of the same seed gave different text: sample with rng")
    if sampled[0] == sampled[2]:
        raise CheckFailed("generators with different seeds gave the same text: sample with rng")
    if set(sampled[0]) - set(tiny_vocab) or len(sampled[0]) != 44:
        raise CheckFailed(f"sampled text should be the prefix and 40 characters of the vocabulary, got {sampled[0]!r}")
    cold = call(generate, tiny, "ab c", 12, tiny_c2i, tiny_vocab, temperature=1e-3,
                rng=np.random.default_rng(0))
    if cold != greedy:
        raise CheckFailed(f"at temperature 0.001 sampling should almost always pick the most likely character, but it "
                          f"gave {cold!r} instead of the greedy {greedy!r}: divide the logits by the temperature")

# %% nbgrader={"grade": false, "grade_id": "demo_generate", "locked": true, "schema_version": 3, "solution": false, "task": false}
TEXT_MODEL_READY = ("build_char_vocab", "seq_data_iter_sequential", "perplexity", "CharRNNLM", "clip_gradients",
                    "train_char_lm")
if ready(*TEXT_MODEL_READY, "generate"):
    prefix = "the time traveller " if corpus_name == "The Time Machine" else "the function returns "
    for temperature in (0.0, 0.5, 1.0, 1.5):
        sample = generate(text_model, prefix, 100, char_to_idx, idx_to_char, temperature=temperature,
                          rng=np.random.default_rng(0))
        print(f"tau = {temperature}: {sample!r}\n")

# %% [markdown]
# ### Teacher forcing and free-running generation
#
# In training, the model always reads the *true* previous characters, whatever it would have predicted itself:
# this is **teacher forcing**, and it is what makes training cheap (every position of a sequence is predicted in
# one pass, from the text itself). When it generates, the model runs **free**: it reads its own previous choices.
# It never saw its own mistakes during training, so after a wrong character it is in a situation the training
# text never put it in, and one error can lead to the next. This mismatch between the histories seen in training
# and in use is called **exposure bias**. Remedies train on the model's own predictions for part of the steps
# (*scheduled sampling*) or score whole generated sequences instead of single next characters.
#
# The cell below continues a passage of the validation text in both ways, greedily: with teacher forcing each
# character is predicted from the true text before it; free-running, from the model's own text before it. A `·`
# marks a character that differs from the true text.

# %% nbgrader={"grade": false, "grade_id": "demo_teacher_forcing", "locked": true, "schema_version": 3, "solution": false, "task": false}
if ready(*TEXT_MODEL_READY, "generate"):
    start, warm, length = 2000, 40, 60
    passage = valid_ids[start:start + warm + length]
    true_text = "".join(idx_to_char[i] for i in passage[warm:])
    logits, _ = text_model(tf.constant(passage[None, :-1]))   # the logits at position i predict character i + 1
    forced = "".join(idx_to_char[i] for i in np.argmax(logits[0, warm - 1:].numpy(), axis=-1))
    prefix = "".join(idx_to_char[i] for i in passage[:warm])
    free = generate(text_model, prefix, length, char_to_idx, idx_to_char)[warm:]

    def marked(guess):
        return "".join(g if g == t else "·" for g, t in zip(guess, true_text))

    print(f"context         {prefix!r}")
    print(f"true text       {true_text!r}")
    for name, guess in (("teacher forcing", forced), ("free-running", free)):
        share = np.mean([g == t for g, t in zip(guess, true_text)])
        print(f"{name:15s} {marked(guess)!r}  {share:.0%} right")

# %% [markdown]
# ## Part 8 — How far back does the gradient reach?
#
# Truncated BPTT cuts the gradient after $T$ steps. How much does the cut lose? The cell below measures, for the
# model trained on generated text, how strongly the loss at the last step of a sequence depends on the hidden state
# $k$ steps earlier: the norm of $\partial \ell_k / \partial \mathbf{H}_0$ for sequences of $k$ characters. It
# shrinks geometrically, as Assignment 1 predicted for a vanilla RNN: beyond some tens of steps the gradient
# carries almost nothing, so a longer $T$ would cost time and buy little. The forward pass, in contrast, carries
# the state across batch boundaries, which is why sequential sampling helps at all.

# %% nbgrader={"grade": false, "grade_id": "demo_bptt_reach", "locked": true, "schema_version": 3, "solution": false, "task": false}
if ready("seq_data_iter_sequential", "perplexity", "CharRNNLM", "clip_gradients", "train_char_lm"):
    reach_rng = np.random.default_rng(0)
    distances = np.arange(1, 41, 2)
    reach = []
    for k in distances:
        starts = reach_rng.integers(20, len(gen_valid) - k - 1, 64)
        # the state after 20 characters of real context, then k more characters read under the tape
        _, warm = gen_model(tf.constant(np.stack([gen_valid[s - 20:s] for s in starts]), tf.int32))
        X = tf.constant(np.stack([gen_valid[s:s + k] for s in starts]), tf.int32)
        Y = np.stack([gen_valid[s + k] for s in starts])
        with tf.GradientTape() as tape:
            tape.watch(warm)
            logits, _ = gen_model(X, warm)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits[:, -1]))
        reach.append(float(tf.norm(tape.gradient(loss, warm))))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.semilogy(distances, reach, marker=".")
    ax.set(xlabel="distance k (steps)", ylabel="‖∂ loss / ∂ H_0‖", title="How far back the gradient reaches")
    plt.show()

# %% [markdown]
# The carried state is wrapped in `tf.stop_gradient`. In which training loops would removing it change the
# gradients, and in which would it change nothing (see Part 6)? What would change if you trained with
# `num_steps=4` instead of 16 on the generated text? What can a model trained with truncated BPTT still learn about
# dependencies longer than `num_steps`, and why? (A few sentences.)

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_truncated_bptt", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# The carried state is the output of the previous batch's computation. With one `tf.GradientTape` per batch in
# eager TensorFlow, removing `tf.stop_gradient` changes nothing: the tape never recorded the earlier batches, so
# the gradient stops at the boundary anyway. It changes the gradients when one tape spans several batches (a
# persistent tape around an epoch, gradient accumulation, an epoch compiled into one `tf.function` under one tape),
# and in frameworks whose tensors keep their graph (PyTorch): then backpropagation runs through every earlier
# batch, so a step costs time and memory growing with the text read so far, and the product of ever more Jacobians
# vanishes or explodes. Cutting it makes each step cost O(T) and keeps the gradients of one batch about that batch
# (truncated BPTT). With `num_steps=4`, the gradient could only connect a prediction with the 4
# previous characters: the 16-state automaton needs longer memory, so the model would learn more slowly and end
# farther from the floor (and each epoch would have 4 times as many, cheaper, steps). Dependencies longer than T
# are still partly learnt: the forward pass carries the state across batches, so information from far back is in
# the state; the weights that write it are trained by shorter dependencies, and whatever regularities fall within
# T steps of each other shape a state that happens to keep useful information for longer. But the gradient never
# directly rewards keeping information for more than T steps.
# ### END SOLUTION

# %% [markdown]
# ### Optional: randomised truncation
#
# Cutting the gradient after exactly $T$ steps *biases* it: every term that reaches further back is dropped,
# always. Tallec and Ollivier (2017) proposed an unbiased alternative. Write the gradient as a sum of terms
# $g = a_1 + a_2 + \dots$, where $a_k$ travels $k$ steps back. Walk back one step at a time; after each step,
# stop with probability $1 - \pi$, and otherwise go on but divide everything that comes from further back by
# $\pi$. Term $a_k$ is then reached with probability $\pi^{k-1}$ and weighted by $\pi^{-(k-1)}$, so on average
# the estimate is exactly $g$. The price is noise: the rare long walks carry large weights. The cell below runs
# this on a made-up sequence of terms that shrink geometrically (as in Part 8) and compares it with plain
# truncation after $T = 10$ steps, whose expected walk has the same length when $\pi = 0.9$. In practice, as the
# book *Dive into Deep Learning* reports, the extra variance means it does not train much better than plain
# truncation; it is shown here because it makes the bias of plain truncation visible.

# %% nbgrader={"grade": false, "grade_id": "demo_randomized_truncation", "locked": true, "schema_version": 3, "solution": false, "task": false}
trunc_rng = np.random.default_rng(0)
k = np.arange(1, 61)
terms = 0.85 ** k * (1.0 + trunc_rng.random(k.size))   # a_k: what travels k steps back (made up, shrinking)
full, truncated = terms.sum(), terms[:10].sum()


def randomized_estimate(terms, pi, rng):
    """One randomised-truncation estimate of sum(terms): go on with probability pi, reweight by 1 / pi."""
    total, weight = 0.0, 1.0
    for a in terms:
        total += weight * a
        if rng.random() >= pi:
            break
        weight /= pi
    return total


estimates = np.array([randomized_estimate(terms, 0.9, trunc_rng) for _ in range(20_000)])
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.hist(estimates, bins=80, color="tab:blue", alpha=0.6, label="randomised truncation, π = 0.9 (one estimate each)")
ax.axvline(full, color="black", label=f"full gradient {full:.2f}")
ax.axvline(estimates.mean(), color="tab:blue", ls="--", label=f"mean of the estimates {estimates.mean():.2f}")
ax.axvline(truncated, color="tab:red", label=f"truncated after 10 steps {truncated:.2f} (biased)")
ax.set(xlabel="estimate of the gradient", ylabel="count", title="Unbiased but noisy, or biased but steady")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Part 9 — Keras's recurrent layers
#
# Keras has the same recurrence built in: `keras.layers.SimpleRNN` is your model's hidden layer, and
# `keras.layers.GRU` and `keras.layers.LSTM` add *gates* that decide what to keep in the state and what to
# overwrite, which lets gradients (and information) travel much further.
#
# To compare them fairly, the cell below trains four models **in exactly the same way**: your `CharRNNLM` and the
# three Keras layers (each wrapped in the same one-hot input and linear output), all with 128 units, Adam with the
# same learning rate and clipping, the same 32-character windows of the training text in the same shuffled order
# (`model.fit` shuffles them, as random sampling would), for the same number of epochs, all compiled by Keras.
# Each is then scored on the same windows of the validation text, each window read from a zero state (so the
# numbers are a little worse than with the state carried along, and not comparable with Part 6, which trained with
# your SGD loop). Your model and `SimpleRNN` compute the same function and should end up close. The gated layers
# learn faster: after the default single epoch the GRU is already clearly ahead, and with `LONG_RUN = True` (6
# epochs) the GRU passes the 4-gram of Part 3 (measured: 4.61 against 4.69 on *The Time Machine*, 3.98 against
# 4.06 on the Python documentation).

# %% nbgrader={"grade": false, "grade_id": "demo_keras_layers", "locked": true, "schema_version": 3, "solution": false, "task": false}
class KerasCharLM(keras.Model):
    """One-hot ids -> a Keras recurrent layer (all steps) -> logits."""

    def __init__(self, layer, vocab_size):
        super().__init__()
        self.vocab_size, self.rnn, self.head = vocab_size, layer, keras.layers.Dense(vocab_size)

    def call(self, X):
        return self.head(self.rnn(tf.one_hot(X, self.vocab_size)))


class LogitsOnly(keras.Model):
    """Your CharRNNLM as model.fit wants it: ids in, logits out (each window starts from the zero state)."""

    def __init__(self, language_model):
        super().__init__()
        self.language_model = language_model

    def call(self, X):
        return self.language_model(X)[0]


def windows(ids, offsets, T=32):
    """Non-overlapping (X, Y) windows of T ids, cut at each of the offsets."""
    X, Y = [], []
    for offset in offsets:
        count = (len(ids) - offset - 1) // T
        starts = offset + T * np.arange(count)
        X += [ids[s:s + T] for s in starts]
        Y += [ids[s + 1:s + T + 1] for s in starts]
    return np.stack(X), np.stack(Y)


if ready("build_char_vocab", "CharRNNLM"):
    X_train, Y_train = windows(train_ids, (0, 16))
    X_valid, Y_valid = windows(valid_ids, (0,))
    keras_epochs = 6 if LONG_RUN else 1
    print(f"{len(X_train):,} training windows; {keras_epochs} epoch(s) of {math.ceil(len(X_train) / 64)} steps each")
    rows = []
    makers = (("your CharRNNLM", lambda: LogitsOnly(CharRNNLM(V, 128))),
              ("SimpleRNN", lambda: KerasCharLM(keras.layers.SimpleRNN(128, return_sequences=True), V)),
              ("GRU", lambda: KerasCharLM(keras.layers.GRU(128, return_sequences=True), V)),
              ("LSTM", lambda: KerasCharLM(keras.layers.LSTM(128, return_sequences=True), V)))
    for name, make in makers:
        keras.utils.set_random_seed(0)   # the same shuffled order of the windows for every model
        lm = make()
        lm.compile(optimizer=keras.optimizers.Adam(0.005, global_clipnorm=1.0),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        started = time.time()
        try:
            lm.fit(X_train, Y_train, epochs=keras_epochs, batch_size=64, verbose=0)
        except Exception as err:   # e.g. a model that cannot be traced into a graph
            print(f"{name}: model.fit could not train it ({type(err).__name__}); left out of the table")
            continue
        rows.append((name, math.exp(lm.evaluate(X_valid, Y_valid, verbose=0)), time.time() - started))
    print(f"{'model':16s} {'validation perplexity':>22s} {'training time':>14s}")
    for name, ppl, seconds in rows:
        print(f"{name:16s} {ppl:22.2f} {seconds:13.0f}s")
