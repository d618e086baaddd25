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
# # Assignment 2 — A many-to-one RNN that reads the sentiment of a sentence
#
# In Assignment 1 you built a recurrent cell and ran it over a sequence. Now the sequence is a sentence and the
# network has one job: read all of it, then say whether it is positive or negative. You will
#
# 1. turn sentences into rows of integer ids (a vocabulary, padding, unknown words);
# 2. write the forward pass of a many-to-one RNN from scratch, then its gradients by backpropagation through time;
# 3. build and train the same kind of classifier with Keras, where a *mask* makes padding harmless;
# 4. see why a classifier that ignores word order is stuck at chance on sentences such as
#    *"the plot was not good at all, but the acting was great"*, and watch the hidden state change its mind.
#
# **How this notebook is graded.** Each answer cell holds the signature and docstring of one function; write the
# body where it says `raise NotImplementedError()`. The cell after it runs *public checks*: they print a line
# starting with ✓ when your code passes, and otherwise a line starting with ✗ and one sentence that says what to
# look at; cells that need a part whose checks have not passed yet say so and skip. Your score comes from a
# hidden test suite that runs your functions on other inputs (and trains your model on sentences it has never
# shown you), so passing the public checks is a good sign, not a guarantee. Do not rename the functions
# or change their signatures. The from-scratch RNN functions use TensorFlow operations only and must return
# tensors of their parameters' dtype (`float32` or `float64`); no `tf.GradientTape` in `many_to_one_grads`.
#
# Labels: **1 is positive, 0 is negative**.
#
# **Symbols**, as in Assignment 1 and in *Dive into Deep Learning*: $\mathbf{W}_{xh}, \mathbf{W}_{hh},
# \mathbf{b}_h$ for the hidden state, $\mathbf{W}_{hq}, \mathbf{b}_q$ for the output layer, $\mathbf{O}$ for the
# logits and $\mathbf{Y}$ for the labels.
#
# **Time.** Run top to bottom with a correct solution, the whole notebook takes about a minute on a 2-core CPU
# (measured: 52 s of CPU time; no GPU needed). On a machine busy with other work it takes longer.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
from quiet import quiet_tensorflow
quiet_tensorflow()   # before TensorFlow is imported: hides its start-up log lines, which are not errors

import time

import numpy as np
import tensorflow as tf
import keras
import matplotlib.pyplot as plt

from checklib import (CheckFailed, check_close, check_dtype, check_gradient, check_gradients, check_shape,
                      likely_cause, numeric_gradient, order_mistake, rel_error)
from publiccheck import autodiff_watch, call, call_tf, passed, public_check, ready
from sentiment_data import BagOfWords, DatasetUnavailable, load_imdb, load_tsv, sentence_kind, tokenize

keras.utils.set_random_seed(0)
MAX_LEN = 20  # every generated sentence fits; longer ones would be truncated

train_sentences, train_labels = load_tsv("data/train.tsv")
valid_sentences, valid_labels = load_tsv("data/validation.tsv")
test_sentences, test_labels = load_tsv("data/test.tsv")

# %% [markdown]
# ## Many-to-one, among the other shapes of a recurrent network
#
# A recurrent network reads and writes sequences in a few typical shapes:
#
# | shape | reads | writes | example |
# | --- | --- | --- | --- |
# | one-to-many | one input (or just a start signal) | a sequence | generating text from a seed, describing an image |
# | many-to-many | a sequence | one output per step | tagging each word, predicting the next character (Assignment 3) |
# | **many-to-one** | a sequence | one output at the end | the sentiment of a sentence, the author of a text |
#
# Many-to-one runs the recurrence of Assignment 1 over the whole input and uses only the **last** hidden state:
#
# $$\mathbf{H}_t = \tanh(\mathbf{X}_t \mathbf{W}_{xh} + \mathbf{H}_{t-1} \mathbf{W}_{hh} + \mathbf{b}_h),
# \quad t = 1, \dots, L, \qquad \mathbf{O} = \mathbf{H}_L \mathbf{W}_{hq} + \mathbf{b}_q,$$
#
# where $L$ is the sentence's length and $\mathbf{O}$ holds the *logits*, one score per class; the softmax
# $p_c = e^{o_c} / \sum_k e^{o_k}$ turns them into probabilities. Whatever the network needs to remember about
# the beginning of the sentence has to survive, step after step, in $\mathbf{H}_t$.
#
# The equations count steps from 1, the code (and every docstring and message) as Python does, as in Assignment 1:
# step `t = 0..T-1` reads `ids[:, t]` and makes `H[:, t]`, so $\mathbf{X}_1$ is the one-hot of `ids[:, 0]` and
# $\mathbf{H}_L$ is `H[:, L-1]`, the state after the last real word.
#
# ## The data: sentences whose meaning depends on word order
#
# `data/` holds sentences generated from a small grammar (see `sentiment_data.py` and `data/DATASET.md`). They
# come in four kinds:
#
# * **plain**: *"The acting was really clever."* — the adjectives say it all;
# * **negated**: *"The plot was not bad at all and the cast was charming."* — "not", "never" or "hardly" flips
#   the adjective after it; the negated clause comes alone or with a second clause that agrees;
# * **contrast**: *"The film was delightful, but the ending was dreadful."* — after "but", the second clause decides.
# * **long**: *"The ending is not, after the late show, from where i was sitting, on the way home, good."* — a
#   negation (in half of them) and the adjective it flips, 12 to 16 words apart.
#
# The negated, contrasted and long sentences are built so that their *bag of words* (which words occur, not where)
# does not help: a contrast or a negated pair contains a positive and a negative adjective whatever its label, and
# the same words appear just as often in positive and in negative sentences; a lone negated clause (*"the plot was
# not good"*) even points to the wrong label. Only the order tells them apart. The long ones test memory: the
# network must carry one word across a dozen steps (the last part of this notebook comes back to them).

# %% nbgrader={"grade": false, "grade_id": "demo_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
kinds = np.array([sentence_kind(s) for s in train_sentences])
print(f"{len(train_sentences)} training, {len(valid_sentences)} validation, {len(test_sentences)} test sentences")
for kind in ("plain", "negated", "contrast", "long"):
    share = np.mean(kinds == kind)
    positive = np.mean(train_labels[kinds == kind])
    print(f"\n{kind}: {share:.0%} of the training set, {positive:.0%} positive")
    for i in np.flatnonzero(kinds == kind)[:3]:
        print(f"  {train_labels[i]}  {train_sentences[i]}")
print("\ntokenize:", tokenize(train_sentences[0]))

# %% [markdown]
# ## Part 1 — From words to ids (4 points)
#
# A network works on numbers, so every word gets an integer id from a *vocabulary*. Two ids are reserved:
#
# * `0` is `'<pad>'`: sentences have different lengths, but a minibatch is a rectangle, so short rows are filled
#   up with zeros **at the end**;
# * `1` is `'<unk>'`: a word the vocabulary does not know (seen too rarely in training, or never).
#
# The other words get ids `2, 3, ...` by descending count in the training sentences, ties in alphabetical order:
# the same data then always gives the same vocabulary, whatever order the sentences come in. With `min_freq`, a
# word needs at least that many occurrences to get its own id (rare words would only be memorised, not learned).

# %% nbgrader={"grade": false, "grade_id": "build_vocab", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution build_vocab


# %% nbgrader={"grade": true, "grade_id": "test_build_vocab", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def vocab_mistake(got, counts):
    """What is wrong with the vocabulary ``got`` (a dict) of words with ``counts``, in one sentence ('' if unknown)."""
    if got.get("<pad>") != 0 or got.get("<unk>") != 1:
        return "ids 0 and 1 are reserved for '<pad>' and '<unk>' (in that order), and the words start at 2"
    if sorted(got.values()) != list(range(len(got))):
        return f"the ids must be 0, 1, 2, ... with no gaps, got {sorted(got.values())}"
    order = [word for word in sorted(got, key=got.get) if word not in ("<pad>", "<unk>")]
    if set(order) != set(counts):
        dropped = sorted(set(counts) - set(order))
        if dropped and all(counts[word] == min(counts.values()) for word in dropped):
            return (f"the words seen least often ({', '.join(map(repr, dropped))}, {min(counts.values())} time(s)) are "
                    "missing: a word seen at least min_freq times (count >= min_freq) gets its own id")
        return f"expected the words {sorted(counts)}, got {sorted(order)}"
    return order_mistake(order, counts)


with public_check("build_vocab"):
    tiny = [["the", "film", "was", "good"], ["the", "plot", "was", "bad"], ["good", "good"]]
    # counts: good 3, the 2, was 2, then bad, film, plot once each (ties alphabetical)
    counts = {"good": 3, "the": 2, "was": 2, "bad": 1, "film": 1, "plot": 1}
    expected = {"<pad>": 0, "<unk>": 1, "good": 2, "the": 3, "was": 4, "bad": 5, "film": 6, "plot": 7}
    got = call(build_vocab, tiny)
    if not isinstance(got, dict):
        raise CheckFailed(f"build_vocab must return a dict, got {type(got).__name__}")
    if got != expected:
        raise CheckFailed(f"build_vocab(tiny): {vocab_mistake(got, counts) or 'not the vocabulary expected'}"
                          f"\n  expected {expected}\n  got      {got}")
    if build_vocab(tiny[::-1]) != expected:
        raise CheckFailed("the vocabulary changes with the order of the sentences: sort ties alphabetically")
    got = build_vocab(tiny, min_freq=2)
    if got != {"<pad>": 0, "<unk>": 1, "good": 2, "the": 3, "was": 4}:
        ignored = "min_freq=2 was ignored (every token kept): " if got == expected else ""
        raise CheckFailed(f"build_vocab(tiny, min_freq=2) should keep only the tokens seen at least twice: {ignored}got "
                          f"{got}")
    repeated = [["the", "end"], ["wow", "wow", "wow"]]
    got = build_vocab(repeated)
    if got != {"<pad>": 0, "<unk>": 1, "wow": 2, "end": 3, "the": 4}:
        raise CheckFailed(f"build_vocab({repeated}) should give 'wow' id 2, for it occurs 3 times (in one sentence), "
                          f"got {got}: count every occurrence of a token, not the sentences it appears in")
    if build_vocab([]) != {"<pad>": 0, "<unk>": 1}:
        raise CheckFailed("build_vocab([]) should hold just '<pad>' and '<unk>'")

# %% [markdown]
# `encode` makes the rectangle: one row per sentence, `max_len` columns, ids first, then padding. A sentence
# longer than `max_len` keeps its **first** `max_len` tokens.

# %% nbgrader={"grade": false, "grade_id": "encode", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution encode


# %% nbgrader={"grade": true, "grade_id": "test_encode", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def encode_mistake(got, expected):
    """What the rows ``got`` of the check below get wrong, in one sentence ('' if unknown)."""
    if got[1, -1] == 2 and not got[1, 0]:
        return "the padding must come after the words, not before them ([2, 0, 0, 0] for 'good')"
    if got[0, 3] != 1 and np.array_equal(got[0, :3], expected[0, :3]) and np.array_equal(got[1:], expected[1:]):
        given = "0, the padding" if got[0, 3] == 0 else f"{got[0, 3]}, an id of no token in the vocabulary"
        return f"'great' is not in the vocabulary, so its id is 1 ('<unk>'), not {given}"
    if np.array_equal(got[3, :3], expected[3, :3]) and got[3, 3] == 0:
        return "a sentence of exactly max_len tokens keeps all of them, but its last one was dropped: keep tokens[:max_len]"
    return ""


with public_check("encode"):
    vocab_tiny = {"<pad>": 0, "<unk>": 1, "good": 2, "the": 3, "was": 4, "bad": 5, "film": 6, "plot": 7}
    got = call(encode, [["the", "film", "was", "great"], ["good"], [], ["the", "plot", "was", "bad"]], vocab_tiny, 4)
    got = check_shape(got, (4, 4), "encode(...)")
    if got.dtype != np.int32:
        raise CheckFailed(f"encode must return int32 ids, got dtype {got.dtype}")
    expected = np.array([[3, 6, 4, 1],    # 'great' is unknown: 1
                         [2, 0, 0, 0],    # padding goes at the end
                         [0, 0, 0, 0],    # an empty sentence is all padding
                         [3, 7, 4, 5]])   # exactly max_len tokens: no padding
    if not np.array_equal(got, expected):
        raise CheckFailed(f"encode(...) with max_len=4: {encode_mistake(got, expected)}\n  expected\n{expected}\n"
                          f"  got\n{got}")
    got = call(encode, [["good"], ["the", "end"]], vocab_tiny, 6)
    if np.shape(got) != (2, 6):
        raise CheckFailed(f"encode([['good'], ['the', 'end']], vocab, max_len=6) should have shape (2, 6), got "
                          f"{np.shape(got)}: the width is always max_len, even when every sentence is shorter")
    got = encode([["the", "film", "was", "good", "the", "end"]], vocab_tiny, 3)
    if not np.array_equal(got, [[3, 6, 4]]):
        last = " (those are its last 3 tokens: cut the end off, tokens[:max_len])" if np.array_equal(got, [[2, 3, 1]]) \
            else ""
        raise CheckFailed(f"a sentence longer than max_len keeps its first max_len tokens: expected [[3 6 4]], "
                          f"got {got}{last}")

# %% [markdown]
# With both functions in place, the whole dataset becomes three matrices of ids. The vocabulary is built from the
# training sentences only: a word that appears only in the test set is unknown to the model, as it would be in
# real use.

# %% nbgrader={"grade": false, "grade_id": "prepare_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
train_tokens = [tokenize(s) for s in train_sentences]
valid_tokens = [tokenize(s) for s in valid_sentences]
test_tokens = [tokenize(s) for s in test_sentences]
if ready("build_vocab", "encode"):
    vocab = build_vocab(train_tokens)
    X_train = encode(train_tokens, vocab, MAX_LEN)
    X_valid = encode(valid_tokens, vocab, MAX_LEN)
    X_test = encode(test_tokens, vocab, MAX_LEN)
    words = {i: w for w, i in vocab.items()}
    print(f"vocabulary: {len(vocab)} ids; X_train {X_train.shape}, X_test {X_test.shape}")
    print(train_sentences[0])
    print(X_train[0], "->", " ".join(words[i] for i in X_train[0]))

# %% [markdown]
# ## Part 2 — The many-to-one forward pass from scratch (3 points)
#
# **One-hot or embedding?** The id $w$ of a word becomes the input vector $\mathbf{x} = \mathbf{e}_w$, the row of
# the $V \times V$ identity matrix with a single 1 in column $w$. Then
#
# $$\mathbf{e}_w \mathbf{W}_{xh} = \text{row } w \text{ of } \mathbf{W}_{xh}:$$
#
# multiplying by a one-hot vector just *looks up* a row. So $\mathbf{W}_{xh}$ ($V \times h$) holds one learned
# vector per word. A Keras `Embedding` layer does the same lookup directly (no $V$-wide vectors are built), usually
# into a smaller space of size $d$ that a recurrent layer then multiplies by its own $d \times h$ kernel: that is
# the factorisation $\mathbf{W}_{xh} = \mathbf{E}\,\mathbf{K}$, cheaper when $V$ is large, and the vector of a
# word can be shared or pre-trained.
#
# **Which hidden state?** A row such as `[12, 5, 3, 0, 0, 0]` holds a sentence of $L = 3$ words and three
# padding ids. The prediction must come from $\mathbf{H}_3$, the state after the last real word, not from
# $\mathbf{H}_6$: otherwise the padding changes the answer, and the same sentence would be classified differently
# depending on how long the other sentences of its batch are. A row of padding only ($L = 0$) uses
# $\mathbf{H}_0 = \mathbf{0}$, so its logits are $\mathbf{b}_q$.
#
# Hints: `tf.one_hot(ids, V, dtype=...)` makes the inputs; run the recurrence over all $T$ columns as in
# Assignment 1, keep every state, and pick each row's $\mathbf{H}_L$ (for instance with a one-hot mask over time,
# or `tf.gather(..., batch_dims=1)`). Padding sits only at the end of a row, so $L$ is the number of non-zero
# ids. Keep the params' dtype throughout.

# %% nbgrader={"grade": false, "grade_id": "many_to_one_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution many_to_one_forward


# %% nbgrader={"grade": true, "grade_id": "test_many_to_one_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def random_params(rng, V, h, C, dtype=np.float64):
    """Random, non-square, non-symmetric parameters: a transposed W_hh or swapped argument shows."""
    return {"W_xh": 0.8 * rng.standard_normal((V, h)), "W_hh": 0.5 * rng.standard_normal((h, h)),
            "b_h": 0.3 * rng.standard_normal(h), "W_hq": rng.standard_normal((h, C)),
            "b_q": rng.standard_normal(C)}


def as_tensors(params, dtype):
    return {k: tf.constant(v, dtype) for k, v in params.items()}


def numpy_logits(P, ids, act=np.tanh, H0=0.0, W_hh=None, last=lambda L, T: L):
    """The many-to-one forward pass in NumPy, over all T columns; ``last(L, T)`` is the index of the state each
    row is classified from, counting the zero state as 0 and the state of step t as t + 1. The defaults are the
    docstring's; the others make known mistakes."""
    W_hh = P["W_hh"] if W_hh is None else W_hh
    rows = []
    for row in ids:
        states = [np.full(len(P["b_h"]), H0)]
        for w in row:
            states.append(act(P["W_xh"][w] + states[-1] @ W_hh + P["b_h"]))
        pick = last(int((row != 0).sum()), len(row))
        rows.append((states[pick] if pick else np.zeros_like(P["b_h"])) @ P["W_hq"] + P["b_q"])
    return np.array(rows)


def forward_mistakes(P, ids):
    """What the usual mistakes of many_to_one_forward compute on ``ids``: cause -> logits."""
    right = numpy_logits(P, ids)
    softmax = np.exp(right - right.max(axis=1, keepdims=True))
    return {
        "the logits come from the state after the last column: the padding was read as words; classify each "
        "row from H[:, L-1], the state after its last real word": numpy_logits(P, ids, last=lambda L, T: T),
        "the logits come from H[:, 0], the state after the first word, in every row: classify each row from "
        "H[:, L-1], the state after its last real word": numpy_logits(P, ids, last=lambda L, T: 1),
        "the logits come from H[:, L], one step after the last real word (and from the zero state in a full row): "
        "a row of L words ends at step L - 1, as steps are numbered from 0":
            numpy_logits(P, ids, last=lambda L, T: L + 1 if L < T else 0),
        "these are probabilities (each row sums to 1): return the logits H[:, L-1] W_hq + b_q, without a softmax":
            softmax / softmax.sum(axis=1, keepdims=True),
        "these are the logits of a ReLU recurrence: use tanh, H[:, t] = tanh(X[:, t] W_xh + H[:, t-1] W_hh + b_h)":
            numpy_logits(P, ids, act=lambda a: np.maximum(a, 0)),
        "these are the logits of a recurrence started from ones: start from a zero state": numpy_logits(P, ids, H0=1.0),
        "these are the logits of H[:, t-1] @ transpose(W_hh): multiply by W_hh itself (a square matrix, "
        "not symmetric, so the transpose fits the shapes but not the values)": numpy_logits(P, ids, W_hh=P["W_hh"].T),
    }


with public_check("many_to_one_forward"):
    check_rng = np.random.default_rng(2)
    V, h, C = 9, 5, 3
    P = random_params(check_rng, V, h, C)
    ids = np.array([[4, 2, 7, 0, 0],     # three words, then padding
                    [8, 0, 0, 0, 0],     # one word
                    [0, 0, 0, 0, 0],     # padding only
                    [3, 1, 5, 6, 2]])    # no padding
    expected, mistakes = numpy_logits(P, ids), forward_mistakes(P, ids)
    for dtype in (np.float64, np.float32):
        got = call_tf(many_to_one_forward, tf.constant(ids), as_tensors(P, dtype))   # a tensor, with gradients
        got_array = check_shape(got, (4, C), f"logits ({np.dtype(dtype).name})")
        check_dtype(got, dtype, "logits")
        if likely_cause(got_array, mistakes, rtol=1e-4, atol=1e-5) is None:   # then: which row goes wrong first
            if not np.allclose(got_array[2], P["b_q"], rtol=1e-4, atol=1e-5):
                raise CheckFailed(f"a row of padding only must give logits = b_q = {P['b_q']} (the zero state), "
                                  f"got {got_array[2]}")
            check_close(got_array[1], expected[1], "logits of the one-word row [8, 0, 0, 0, 0] (the state after "
                        "its last real word is H[:, 0])", rtol=1e-4, atol=1e-5)
        check_close(got, expected, f"logits ({np.dtype(dtype).name})", rtol=1e-4, atol=1e-5, causes=mistakes)
    longer = np.concatenate([ids, np.zeros((4, 3), dtype=ids.dtype)], axis=1)
    check_close(call(many_to_one_forward, tf.constant(longer), as_tensors(P, np.float64)), expected,
                "logits with 3 more padding columns (padding must not change them)")

# %% [markdown]
# ## Part 3 — Backpropagation through time for many-to-one (5 points)
#
# Train with the mean cross-entropy over the $n$ sentences of a batch, where $c_i$ is the label of sentence $i$:
#
# $$\mathcal{L} = -\frac{1}{n} \sum_{i=1}^{n} \log p_{i, c_i}, \qquad
# \mathbf{P} = \operatorname{softmax}(\mathbf{O}) \text{ row by row}.$$
#
# **The output layer.** For one sentence, $\partial(-\log p_c)/\partial o_k = p_k - [k = c]$: the gradient of the
# logits is "predicted minus true". For the batch, with $\mathbf{Y}$ the one-hot labels ($n \times C$),
#
# $$\frac{\partial \mathcal{L}}{\partial \mathbf{O}} = \frac{1}{n}(\mathbf{P} - \mathbf{Y}),\qquad
# \frac{\partial \mathcal{L}}{\partial \mathbf{W}_{hq}} = \mathbf{H}_L^\top \frac{\partial \mathcal{L}}{\partial \mathbf{O}},\qquad
# \frac{\partial \mathcal{L}}{\partial \mathbf{b}_q} = \sum_{i} \Big(\frac{\partial \mathcal{L}}{\partial \mathbf{O}}\Big)_{i},\qquad
# \frac{\partial \mathcal{L}}{\partial \mathbf{H}_L} = \frac{\partial \mathcal{L}}{\partial \mathbf{O}} \mathbf{W}_{hq}^\top.$$
#
# (Subtract the row maximum from the logits before `exp`: the softmax does not change, and nothing overflows.)
#
# **Through time.** The loss sees only $\mathbf{H}_L$, but $\mathbf{H}_L$ depends on every earlier state. Write
# $\mathbf{A}_t = \mathbf{X}_t \mathbf{W}_{xh} + \mathbf{H}_{t-1} \mathbf{W}_{hh} + \mathbf{b}_h$, so that
# $\mathbf{H}_t = \tanh(\mathbf{A}_t)$ and $\tanh' = 1 - \tanh^2$. Going backwards, $t = T, \dots, 1$, with
# $\mathbf{G}_t$ the gradient that reaches $\mathbf{H}_t$ (from the output layer in the rows whose last word is at
# $t$, plus what comes back from step $t+1$):
#
# $$\mathbf{dA}_t = \mathbf{G}_t \odot (1 - \mathbf{H}_t^2),\qquad
# \mathbf{dW}_{xh} \mathrel{+}= \mathbf{X}_t^\top \mathbf{dA}_t,\quad
# \mathbf{dW}_{hh} \mathrel{+}= \mathbf{H}_{t-1}^\top \mathbf{dA}_t,\quad
# \mathbf{db}_h \mathrel{+}= \textstyle\sum_i (\mathbf{dA}_t)_i,\qquad
# \mathbf{G}_{t-1} \mathrel{+}= \mathbf{dA}_t \mathbf{W}_{hh}^\top .$$
#
# The weights are shared by all steps, so their gradients are **sums** over time. In a row of length $L$, the steps
# after $L$ (padding) receive no gradient from the output, so they contribute nothing. Note how the gradient that
# reaches an early word has been multiplied by $\mathbf{W}_{hh}^\top$ and a $(1 - \mathbf{H}_t^2)$ factor once per
# later word: Assignment 1's vanishing gradients are why a plain RNN finds long sentences hard.

# %% nbgrader={"grade": false, "grade_id": "many_to_one_grads", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution many_to_one_grads


# %% nbgrader={"grade": true, "grade_id": "test_many_to_one_grads", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check_rng = np.random.default_rng(3)
V, h, C = 8, 4, 3
P = random_params(check_rng, V, h, C)
ids = np.array([[5, 2, 7, 1, 0, 0], [3, 0, 0, 0, 0, 0], [6, 6, 2, 4, 3, 1], [2, 5, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0]], dtype=np.int32)
labels = np.array([2, 0, 1, 1, 2], dtype=np.int32)


def numpy_loss(params, ids=ids, labels=labels):
    """The mean cross-entropy written in NumPy (the truth for finite differences; it never calls your code)."""
    total = 0.0
    for row, label in zip(ids, labels):
        H_t = np.zeros(h)
        for w in row[row != 0]:
            H_t = np.tanh(params["W_xh"][w] + H_t @ params["W_hh"] + params["b_h"])
        O = H_t @ params["W_hq"] + params["b_q"]
        total += np.log(np.sum(np.exp(O - O.max()))) + O.max() - O[label]
    return total / len(ids)


def autodiff_ran(func, *args):
    """``call(func, *args)``, and whether TensorFlow's automatic differentiation ran meanwhile (a tape's gradient,
    tf.gradients, a forward accumulator): the hidden tests watch for it the same way and give a derivation done by
    it no points."""
    with autodiff_watch() as seen:
        result = call(func, *args)
    return result, sorted(set(seen))


def finite_differences(params, ids, labels):
    return {name: numeric_gradient(lambda x, name=name: numpy_loss({**params, name: x}, ids, labels),
                                   params[name].copy(), 1.0) for name in params}


def wrong_gradients(params, ids, labels):
    """The names of the gradients many_to_one_grads gets wrong on another problem (a probe of the pattern)."""
    _, got = call(many_to_one_grads, tf.constant(ids), tf.constant(labels), as_tensors(params, np.float64))
    truth = finite_differences(params, ids, labels)
    return {name for name in params if np.shape(got[name]) != truth[name].shape
            or rel_error(np.asarray(got[name]), truth[name]) > 1e-6}


def gradient_pattern(failure):
    """What the wrong gradients point at, from two probes: sentences of one word (nothing is carried back through
    time) and a symmetric W_hh (a missing transpose does not show)."""
    wrong = failure.wrong
    _, got = call(many_to_one_grads, tf.constant(ids), tf.constant(labels), as_tensors(P, np.float64))
    truth = finite_differences(P, ids, labels)
    if wrong == set(P) and all(np.allclose(np.asarray(got[k]), len(ids) * truth[k], rtol=1e-6, atol=1e-9) for k in P):
        return (f" Every gradient is n = {len(ids)} times too large: they are the gradients of the SUM of the "
                f"cross-entropies; the loss is their MEAN, so dlogits = (p - Y) / n")
    if wrong == {"W_xh"}:
        return (" Only W_xh is wrong: step t reads the word ids[:, t], so dW_xh += X[:, t]^T dA with X[:, t] the "
                "one-hot of that same column (check the time index of X)")
    if not wrong or not wrong <= {"W_xh", "W_hh", "b_h"}:
        return ""
    if wrong == {"b_h"}:
        mean = " (it is the sum divided by the batch size: a mean over the rows)" if np.allclose(
            np.asarray(got["b_h"]) * len(ids), truth["b_h"], rtol=1e-6, atol=1e-9) else ""
        return (f" Only b_h is wrong{mean}: b_h is added to every row, so db_h += the SUM over the batch of dA, "
                "the same dA that dW_xh and dW_hh use")
    if wrong == {"W_hh"}:
        return (" Only W_hh is wrong: dW_hh += H[:, t-1]^T dA, the state step t started from (the zero state at "
                "t = 0), not the state it made, transposed on the left")
    if not wrong_gradients(P, np.where(ids == 0, 2, ids).astype(ids.dtype), labels):
        return (" The gradients are right when no row has padding and wrong otherwise: the output's gradient dH_last "
                "reaches each row at its last real word (step L-1), not at the last column")
    one_word = np.where(np.arange(ids.shape[1]) == 0, np.maximum(ids[:, :1], 1), 0).astype(ids.dtype)
    if wrong_gradients(P, one_word, labels):
        return (" The output layer's gradients are right and the recurrent ones wrong even for sentences of one word, "
                "where nothing is carried back through time: look at dA = G * (1 - H[:, t]**2), with H[:, t] the "
                "state step t made (not H[:, t-1]), and the tanh' factor not left out")
    if not wrong_gradients({**P, "W_hh": (P["W_hh"] + P["W_hh"].T) / 2}, ids, labels):
        return (" The gradients are right for sentences of one word and for a symmetric W_hh, wrong otherwise: the "
                "gradient carried to the step before is dA W_hh^T, with W_hh transposed")
    return (" The gradients are right for sentences of one word and wrong for longer ones: carry the gradient back "
            "through every earlier step (dA W_hh^T to step t-1), down to each row's first word (not only through "
            "the last step)")


with public_check("many_to_one_grads"):
    result, autodiff = autodiff_ran(many_to_one_grads, tf.constant(ids), tf.constant(labels), as_tensors(P, np.float64))
    if autodiff:
        raise CheckFailed(f"many_to_one_grads ran {' and '.join(autodiff)}: this part is the derivation by hand, and "
                          "the hidden tests give it no points while automatic differentiation computes the gradients; "
                          "write each gradient with the chain rule of the docstring (dlogits = (p - Y) / n, then back "
                          "through the steps)")
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        raise CheckFailed("many_to_one_grads must return (loss, grads) with grads a dict")
    loss, grads = result
    if set(grads) != set(P):
        raise CheckFailed(f"grads must have the keys {sorted(P)}, got {sorted(grads)}")
    check_close(loss, numpy_loss(P), "loss (the MEAN cross-entropy over the batch)", rtol=1e-8,
                causes={f"that is the SUM of the {len(ids)} sentences' cross-entropies: divide by the batch size "
                        f"n = {len(ids)}": len(ids) * numpy_loss(P)})
    not_tensors = [name for name in P if not tf.is_tensor(grads[name])]
    if not_tensors:
        raise CheckFailed(f"grads {not_tensors} are not TensorFlow tensors: keep every step in TensorFlow operations")
    wrong_dtype = [f"{name} is {grads[name].dtype.name}" for name in P if grads[name].dtype != tf.float64]
    if wrong_dtype:
        raise CheckFailed(f"with float64 params every gradient must be float64, but {', '.join(wrong_dtype)}")

    # every gradient against centred finite differences of the loss written in NumPy, all reported at once
    try:
        errors = check_gradients({name: grads[name] for name in P}, finite_differences(P, ids, labels), tol=1e-6,
                                 what="many_to_one_grads", against="centred finite differences")
    except CheckFailed as failure:
        raise CheckFailed(f"{failure}.{gradient_pattern(failure)}") from None
    print("  norm-wise relative error vs finite differences: "
          + ", ".join(f"{name} {error:.0e}" for name, error in errors.items()))

    # float32 params: float32 gradients
    _, grads32 = call(many_to_one_grads, tf.constant(ids), tf.constant(labels), as_tensors(P, np.float32))
    wrong_dtype = [f"{name} is {getattr(grads32[name], 'dtype', type(grads32[name]).__name__)}" for name in P
                   if getattr(grads32[name], "dtype", None) != tf.float32]
    if wrong_dtype:
        raise CheckFailed(f"with float32 params every gradient must be float32, but {', '.join(wrong_dtype)}")

# %% [markdown]
# ### Your gradients can train a classifier
#
# Hand your gradients to an optimizer and the from-scratch RNN learns. The next cell runs Adam for 200 minibatches
# of 64 sentences (about ten seconds on a 2-core CPU) and reports the accuracy on the validation set.

# %% nbgrader={"grade": false, "grade_id": "demo_scratch_training", "locked": true, "schema_version": 3, "solution": false, "task": false}
if ready("build_vocab", "encode", "many_to_one_forward", "many_to_one_grads"):
    demo_rng = np.random.default_rng(0)
    h_scratch = 24
    scratch = {"W_xh": tf.Variable(demo_rng.normal(0, 0.3, (len(vocab), h_scratch)).astype("float32")),
               "W_hh": tf.Variable(np.linalg.qr(demo_rng.normal(size=(h_scratch, h_scratch)))[0].astype("float32")),
               "b_h": tf.Variable(np.zeros(h_scratch, "float32")),
               "W_hq": tf.Variable(demo_rng.normal(0, 0.3, (h_scratch, 2)).astype("float32")),
               "b_q": tf.Variable(np.zeros(2, "float32"))}
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    scratch_losses = []
    for step in range(200):
        batch = demo_rng.integers(0, len(X_train), 64)
        X_batch = X_train[batch]
        X_batch = X_batch[:, :max(1, int(np.count_nonzero(X_batch, axis=1).max()))]  # drop all-padding columns
        loss, grads = many_to_one_grads(tf.constant(X_batch), tf.constant(train_labels[batch]),
                                        {k: tf.convert_to_tensor(v) for k, v in scratch.items()})
        optimizer.apply_gradients([(grads[k], scratch[k]) for k in scratch])
        scratch_losses.append(float(loss))
    valid_logits = many_to_one_forward(tf.constant(X_valid), {k: tf.convert_to_tensor(v) for k, v in scratch.items()})
    print(f"from-scratch RNN: validation accuracy {np.mean(np.argmax(valid_logits, axis=1) == valid_labels):.3f}")
    plt.figure(figsize=(5, 3))
    plt.plot(scratch_losses)
    plt.xlabel("minibatch")
    plt.ylabel("training loss")
    plt.title("The from-scratch RNN, trained with your gradients")
    plt.show()

# %% [markdown]
# ## Part 4 — The same classifier in Keras (8 points)
#
# Keras provides the pieces: `keras.layers.Embedding(V, d)` looks up a learned $d$-vector per id,
# `keras.layers.SimpleRNN(h)` runs the recurrence and returns the last state, `keras.layers.Dense(C)` is the output
# layer. Return **logits** (no softmax): the loss applies it, which is faster and numerically safer.
#
# **Why padding needs a mask.** Without one, the recurrent layer reads the padding id like a word and keeps
# updating its state through all the trailing zeros: the prediction then comes from $\mathbf{H}_T$, not
# $\mathbf{H}_L$, and depends on how much padding a row received. Worse, the signal from the real words must
# survive ten or more extra steps before reaching the output. `Embedding(..., mask_zero=True)` marks id 0 as
# padding; the recurrent layer receives the mask and **carries its state unchanged** over masked steps, so the
# last state returned is $\mathbf{H}_L$ — exactly what your `many_to_one_forward` does by hand.

# %% nbgrader={"grade": false, "grade_id": "build_sentiment_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution build_sentiment_model


# %% nbgrader={"grade": true, "grade_id": "test_build_sentiment_model", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with public_check("build_sentiment_model") as check:
    keras.utils.set_random_seed(4)
    model = call(build_sentiment_model, 30, 8, 16, num_classes=3)
    if not isinstance(model, keras.Model):
        raise CheckFailed(f"build_sentiment_model must return a keras.Model, got {type(model).__name__}")
    ids = np.array([[5, 9, 2, 0, 0, 0], [7, 0, 0, 0, 0, 0], [29, 28, 3, 4, 11, 2]], dtype=np.int32)
    logits = check_shape(call(model, ids), (3, 3), "model(ids) for 3 sentences and num_classes=3 (is num_classes "
                         "the output layer's size?)")
    if np.allclose(logits.sum(axis=1), 1.0, atol=1e-4) and (logits >= 0).all():
        raise CheckFailed("the model's outputs are probabilities (rows sum to 1): return logits, without a softmax")
    empty = check_shape(call(model, np.zeros((2, 6), np.int32)), (2, 3), "model(ids) for rows of padding only")
    if not np.all(np.isfinite(empty)):
        raise CheckFailed("a row of padding only (every step masked) gives NaN or infinite logits: with every step "
                          "masked the recurrent layer returns its initial zero state, so the logits are finite; an "
                          "average over the real words divides by zero there (read the last state instead)")
    many = check_shape(call(model, np.random.default_rng(5).integers(1, 30, (40, 9)).astype(np.int32)), (40, 3),
                       "model(ids) for 40 sentences")
    if (many >= 0).all():   # logits with no activation are all >= 0 only by a vanishing chance
        raise CheckFailed(f"every logit is 0 or more ({int(np.sum(many == 0))} of {many.size} exactly 0): the output "
                          "layer has an activation (a ReLU clips the negative scores to 0); give the last Dense layer "
                          "none, so that the model returns logits and the loss applies the softmax")
    backwards = [layer.name for layer in model.layers if getattr(layer, "go_backwards", False) is True]
    if backwards:
        raise CheckFailed(f"the recurrent layer {', '.join(backwards)} reads each sentence from its last word to its "
                          "first (go_backwards=True): the model must read the words in order, first to last")
    longer = np.concatenate([ids, np.zeros((3, 5), np.int32)], axis=1)
    check_close(call(model, longer), logits, "logits after adding 5 padding columns (is the padding masked? Embedding(..., "
                "mask_zero=True))",
                rtol=1e-4, atol=1e-5)
    swapped = ids.copy()
    swapped[0, :3] = swapped[0, 2::-1]
    if np.allclose(check_shape(call(model, swapped), (3, 3), "model(ids)")[0], logits[0], atol=1e-6):
        raise CheckFailed("reversing a sentence does not change its logits: the model ignores word order")
    if not model.trainable_weights:
        raise CheckFailed("the model has no trainable weights")
    shapes = [tuple(w.shape) for w in model.weights]
    if (30, 8) not in shapes:
        swapped = ": there is one of (30, 16), units wide; make the embedding embed_dim wide" if (30, 16) in shapes \
            else ""
        raise CheckFailed(f"build_sentiment_model(30, 8, 16) has no embedding matrix of shape (vocab_size, embed_dim) = "
                          f"(30, 8){swapped} (its weights have shapes {shapes})")
    if not any(shape in shapes for shape in [(16, 16), (16, 48), (16, 64)]):   # SimpleRNN, GRU, LSTM
        raise CheckFailed(f"build_sentiment_model(30, 8, 16) has no recurrent layer of units = 16 (a recurrent kernel "
                          f"(16, 16), or (16, 48) for a GRU, (16, 64) for an LSTM); its weights have shapes {shapes}: "
                          f"give the recurrent layer `units` units, not embed_dim")
    default = call(build_sentiment_model, 30, 8, 16)
    check_shape(call(default, ids), (3, 2), "without num_classes, model(ids) (num_classes=2 by default)")
    check.note = f" ({model.count_params()} parameters)"

# %% [markdown]
# `train_sentiment` compiles the model (Adam with the given learning rate, the cross-entropy of logits, accuracy as
# a metric) and fits it. Call `keras.utils.set_random_seed(seed)` first: the shuffling of the minibatches then
# repeats exactly, and so does a run. Every epoch must see the rows in a new order, and here lies a trap of Keras 3
# on TensorFlow: once the global seed is set, `model.fit(X, y, shuffle=True)` draws the *same* order every epoch
# (each epoch's pass over the data restarts the same random stream). A `tf.data.Dataset` made with
# `.shuffle(n, seed=seed, reshuffle_each_iteration=True)` (a buffer of all `n` rows, shuffled before `.batch`)
# shuffles anew each epoch and still repeats from the seed; give it to `model.fit(dataset, epochs=epochs,
# shuffle=False)`: the dataset shuffles itself, and fit's default `shuffle=True` would only warn that it cannot;
# the check below trains a tiny model of its own with your function and looks at the order of the rows. Clipping
# the global norm of the gradients (`global_clipnorm=1.0`) is a cheap guard against the exploding gradients of
# Assignment 1.

# %% nbgrader={"grade": false, "grade_id": "train_sentiment", "locked": false, "schema_version": 3, "solution": true, "task": false}
# rnnkit: solution train_sentiment


# %% nbgrader={"grade": true, "grade_id": "test_train_sentiment", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# 400 training sentences as ids, with a vocabulary made here (so that this check does not depend on Part 1)
check_tokens = [tokenize(sentence) for sentence in train_sentences[:400]]
check_vocab = {w: i for i, w in enumerate(sorted({w for tokens in check_tokens for w in tokens}), start=2)}
check_ids = np.zeros((400, MAX_LEN), np.int32)
for i, tokens in enumerate(check_tokens):
    check_ids[i, :len(tokens[:MAX_LEN])] = [check_vocab[w] for w in tokens[:MAX_LEN]]


def short_run(seed):
    keras.utils.set_random_seed(1)  # the same initial weights for both runs
    small = build_sentiment_model(len(check_vocab) + 2, 8, 16)
    return call(train_sentiment, small, check_ids, train_labels[:400], epochs=3, batch_size=32, learning_rate=0.01,
                seed=seed)


rows_seen, batch_sizes, logits_seen = [], [], []   # what a tiny model saw in training, in order


class NoteRows(keras.layers.Layer):
    """Passes the ids through; in training, notes the first id of each row (here, each row's own number) and the
    size of each batch."""

    def call(self, ids, training=None):
        if training:
            def note(first):
                rows_seen.extend(first.numpy().tolist())
                batch_sizes.append(len(first))
                return 0
            tf.py_function(note, [ids[:, 0]], tf.int32)
        return ids


class NoteLogits(keras.layers.Layer):
    """Passes the logits through; in training, notes them."""

    def call(self, logits, training=None):
        if training:
            tf.py_function(lambda z: logits_seen.extend(z.numpy().astype(np.float64).tolist()) or 0, [logits], tf.int32)
        return logits


def epoch_orders(n=60, epochs=2, batch_size=16, seed=3, noise=1):
    """Trains a tiny model (not yours) with your train_sentiment on n rows, row r made of the id r + 2, after
    other random draws (``noise``); returns the rows each epoch saw, in order, and the history it returned."""
    rows_seen.clear(), batch_sizes.clear(), logits_seen.clear()
    keras.utils.set_random_seed(noise)
    tiny = keras.Sequential([keras.Input(shape=(None,), dtype="int32"), NoteRows(), keras.layers.Embedding(n + 2, 4),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2), NoteLogits()])
    ids = np.repeat(np.arange(2, n + 2, dtype=np.int32)[:, None], 5, axis=1)
    history = call(train_sentiment, tiny, ids, np.arange(n) % 2, epochs=epochs, batch_size=batch_size,
                   learning_rate=0.05, seed=seed)
    return [np.array(rows_seen[e * n:(e + 1) * n]) - 2 for e in range(epochs)], history


def check_epoch_means(history, orders, n=60, batch_size=16):
    """history['loss'] and ['accuracy']: per epoch, the mean cross-entropy (over the rows, or the mean of the batch
    means) and the fraction of rows right, from the logits the model gave in training (computed here in NumPy)."""
    logits = np.array(logits_seen).reshape(len(orders), n, 2)
    truth = np.array(orders) % 2
    log_p = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)   # log-softmax over the 2 classes
    nll = -np.where(truth[..., None] == np.arange(2), log_p, 0.0).sum(axis=-1)   # -log p(true class)
    row_mean = nll.mean(axis=1)
    batch_mean = np.array([np.mean([e[i:i + batch_size].mean() for i in range(0, n, batch_size)]) for e in nll])
    accuracy = (np.argmax(logits, axis=-1) == truth).mean(axis=1)
    loss_got = np.asarray(history["loss"], np.float64)
    if not (np.allclose(loss_got, row_mean, rtol=2e-3, atol=1e-5) or np.allclose(loss_got, batch_mean, rtol=2e-3,
                                                                                    atol=1e-5)):
        hint = ""
        if np.any(loss_got > row_mean + 0.05):
            hint = (" (a loss above the logits' own cross-entropy: the model returns logits, so the loss needs "
                    "from_logits=True)")
        elif np.all(loss_got < row_mean):
            hint = " (lower than while the epoch trained: is it measured after the epoch instead of during it?)"
        raise CheckFailed(f"history['loss'] should be each epoch's mean training loss, over the batches it trained "
                          f"on: {np.round(row_mean, 4).tolist()} from the logits the model gave in training, got "
                          f"{np.round(loss_got, 4).tolist()}{hint}")
    if not np.allclose(np.asarray(history["accuracy"], np.float64), accuracy, rtol=0, atol=1e-4):
        raise CheckFailed(f"history['accuracy'] should be the fraction of rows classified right while each epoch "
                          f"trained: {np.round(accuracy, 4).tolist()}, got {np.round(history['accuracy'], 4).tolist()}")


def largest_move(learning_rate, n=32):
    """The largest move of a weight entry of a tiny model (not yours) in one epoch of three batches."""
    keras.utils.set_random_seed(1)
    tiny = keras.Sequential([keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(n + 2, 4),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    before = [w.numpy() for w in tiny.trainable_variables]
    ids = np.repeat(np.arange(2, n + 2, dtype=np.int32)[:, None], 5, axis=1)
    call(train_sentiment, tiny, ids, np.arange(n) % 2, epochs=1, batch_size=11, learning_rate=learning_rate, seed=3)
    return max(float(np.max(np.abs(w.numpy() - b))) for w, b in zip(tiny.trainable_variables, before))


def first_step_move(n=32, learning_rate=0.01):
    """One epoch in one batch of n rows (one optimizer step) of your train_sentiment on a tiny model (not yours):
    the largest move of an entry of the output layer's kernel, over learning_rate."""
    keras.utils.set_random_seed(1)
    tiny = keras.Sequential([keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(n + 2, 4),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    kernel = tiny.layers[-1].kernel
    before = kernel.numpy()
    ids = np.repeat(np.arange(2, n + 2, dtype=np.int32)[:, None], 5, axis=1)
    call(train_sentiment, tiny, ids, np.arange(n) % 2, epochs=1, batch_size=n, learning_rate=learning_rate, seed=3)
    return float(np.max(np.abs(kernel.numpy() - before))) / learning_rate


with public_check("train_sentiment") as check:
    check.require("build_sentiment_model")
    history = short_run(seed=7)
    if type(history).__name__ == "History":
        raise CheckFailed("train_sentiment returned the History object that model.fit returns; return a dict of plain "
                          "lists, {'loss': [...], 'accuracy': [...]}, taken from its .history")
    if not isinstance(history, dict) or not {"loss", "accuracy"} <= set(history):
        raise CheckFailed(f"train_sentiment must return a dict with 'loss' and 'accuracy', got {history!r:.200}")
    for key in ("loss", "accuracy"):
        values = check_shape(history[key], (3,), f"history['{key}'] after 3 epochs (is epochs passed on to fit?)")
        if not np.all(np.isfinite(values)):
            raise CheckFailed(f"history['{key}'] has NaN or infinite values: {values}")
    if not history["loss"][-1] < history["loss"][0]:
        raise CheckFailed(f"the training loss did not go down in 3 epochs: {history['loss']}")
    if not 0 <= min(history["accuracy"]) <= max(history["accuracy"]) <= 1:
        raise CheckFailed(f"history['accuracy'] should be fractions between 0 and 1, got {history['accuracy']}")
    check_close(short_run(seed=7)["loss"], history["loss"], "the losses of a second run with the same seed",
                rtol=1e-4, atol=1e-6)
    (first, second), tiny_history = epoch_orders()
    if max(batch_sizes, default=0) != 16 or len(batch_sizes) != 2 * 4:
        raise CheckFailed(f"2 epochs over 60 rows with batch_size=16 should take 8 steps of at most 16 rows; the "
                          f"model was trained in {len(batch_sizes)} steps of up to {max(batch_sizes, default=0)} rows "
                          "(are epochs and batch_size passed on, and is the model called with training=True?)")
    if len(rows_seen) != 120 or sorted(first) != list(range(60)):
        raise CheckFailed(f"2 epochs over 60 rows should train on each row once per epoch (120 rows in all); the "
                          f"model trained on {len(rows_seen)} rows")
    if (first == np.arange(60)).all():
        raise CheckFailed("the first epoch saw the rows in the order they were given: shuffle them")
    if (first == second).all():
        raise CheckFailed("both epochs saw the rows in the same order: shuffle anew every epoch (after "
                          "keras.utils.set_random_seed, model.fit(X, y, shuffle=True) does not; see the docstring)")
    for epoch, order in enumerate((first, second), 1):
        follows = float(np.mean(np.diff(order) == 1))   # about once per epoch for a full shuffle
        if follows > 0.5:
            raise CheckFailed(f"epoch {epoch}: {follows:.0%} of the rows came right after the row before them in the "
                              "data, in runs as long as a batch: whole batches were shuffled, not the rows; shuffle "
                              "the rows first, then .batch(batch_size)")
        rho = float(np.corrcoef(np.arange(60), order)[0, 1])   # about N(0, 1/59) for a full shuffle
        if rho > 0.5:
            raise CheckFailed(f"epoch {epoch}: the rows came close to their given order (rank correlation {rho:.2f} "
                              "between a row's place in the data and in the epoch; a full shuffle gives about 0): the "
                              "shuffle only mixes nearby rows; give Dataset.shuffle a buffer of all n rows (len(X)), "
                              "not of batch_size")
    check_epoch_means(tiny_history, (first, second))
    again, _ = epoch_orders(noise=2)
    if not all((a == b).all() for a, b in zip(again, (first, second))):
        raise CheckFailed("the same seed gave another order of the rows after other random draws had run: call "
                          "keras.utils.set_random_seed(seed) first, so that the seed alone decides the run")
    other, _ = epoch_orders(seed=4)
    if all((a == b).all() for a, b in zip(other, (first, second))):
        raise CheckFailed("seeds 3 and 4 gave the same order of the rows: the seed must decide the shuffling")
    if largest_move(0.0) > 1e-7:
        raise CheckFailed(f"with learning_rate=0 a weight moved by {largest_move(0.0):.2e}: pass learning_rate to "
                          "the optimizer")
    move = first_step_move()
    if not abs(move - 1) < 0.02:
        raise CheckFailed(f"one optimizer step with learning_rate=0.01 moved the output layer's kernel by at most "
                          f"{move:.3f} times learning_rate; Adam's first step moves each entry by learning_rate: use "
                          "keras.optimizers.Adam(learning_rate=learning_rate)")
    check.note = f" (losses {np.round(history['loss'], 3)})"

# %% [markdown]
# ## Part 5 — What the trained network does
#
# Train on all 3,000 training sentences (the longest cell of this notebook). To see how the model does on
# sentences it does not train on, the cell calls your `train_sentiment` one epoch at a time (a new seed each
# epoch, so the shuffling changes) and measures the validation set after each epoch. Each call compiles the model
# afresh, which restarts Adam's running averages; on this data that costs little.
#
# Read the two curves together. The training values are averages over an epoch, taken while the weights were still
# moving; the validation values are measured once at the epoch's end. A validation loss that stops falling while
# the training loss keeps going down is the sign of *overfitting*: the model starts to memorise its training
# sentences instead of learning rules that carry over.

# %% nbgrader={"grade": false, "grade_id": "demo_training", "locked": true, "schema_version": 3, "solution": false, "task": false}
EPOCHS = 6
if ready("build_vocab", "encode", "build_sentiment_model", "train_sentiment"):
    keras.utils.set_random_seed(0)
    model = build_sentiment_model(len(vocab), embed_dim=16, units=32)
    curves = {"training": {"loss": [], "accuracy": []}, "validation": {"loss": [], "accuracy": []}}
    for epoch in range(EPOCHS):
        one_epoch = train_sentiment(model, X_train, train_labels, epochs=1, batch_size=32, learning_rate=0.01,
                                    seed=epoch)
        for key in ("loss", "accuracy"):
            curves["training"][key] += one_epoch[key]
        valid_logits = model(X_valid, training=False)
        curves["validation"]["loss"].append(float(tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(valid_labels, valid_logits))))
        curves["validation"]["accuracy"].append(float(np.mean(np.argmax(valid_logits, axis=1) == valid_labels)))
        print(f"epoch {epoch + 1}: training loss {curves['training']['loss'][-1]:.3f}, "
              f"validation loss {curves['validation']['loss'][-1]:.3f}")
    rnn_valid = np.argmax(model.predict(X_valid, verbose=0), axis=1)
    rnn_test = np.argmax(model.predict(X_test, verbose=0), axis=1)
    print(f"validation accuracy {np.mean(rnn_valid == valid_labels):.3f}, "
          f"test accuracy {np.mean(rnn_test == test_labels):.3f}")

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3))
    epochs = np.arange(1, EPOCHS + 1)
    for split, style in (("training", "o-"), ("validation", "s--")):
        ax_loss.plot(epochs, curves[split]["loss"], style, label=split)
        ax_acc.plot(epochs, curves[split]["accuracy"], style, label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0.4, 1.02))
    ax_loss.legend()
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ### Against a classifier that ignores order
#
# `BagOfWords` (in `sentiment_data.py`) is logistic regression on which words a sentence contains. It is strong on
# plain sentences and at chance (or worse) on the others. The RNN gets the negated and contrasted sentences right
# too; the long ones are another matter, which the last part of the notebook takes up.

# %% nbgrader={"grade": false, "grade_id": "demo_confusion", "locked": true, "schema_version": 3, "solution": false, "task": false}
if ready("build_vocab", "encode", "build_sentiment_model", "train_sentiment"):
    bow = BagOfWords().fit(train_tokens, train_labels)
    bow_test = bow.predict(test_tokens)
    test_kinds = np.array([sentence_kind(s) for s in test_sentences])
    print(f"{'kind':10s} {'count':>6s} {'bag of words':>13s} {'RNN':>6s}")
    for kind in ("plain", "negated", "contrast", "long", "all"):
        rows = test_kinds == kind if kind != "all" else np.ones(len(test_kinds), bool)
        print(f"{kind:10s} {rows.sum():6d} {np.mean(bow_test[rows] == test_labels[rows]):13.3f} "
              f"{np.mean(rnn_test[rows] == test_labels[rows]):6.3f}")

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
    for ax, (name, predicted) in zip(axes, [("bag of words", bow_test), ("RNN", rnn_test)]):
        confusion = np.zeros((2, 2), int)
        np.add.at(confusion, (test_labels, predicted), 1)
        ax.imshow(confusion, cmap="Blues", vmin=0, vmax=len(test_labels) / 2)
        for (i, j), count in np.ndenumerate(confusion):
            ax.text(j, i, count, ha="center", va="center", color="white" if count > len(test_labels) / 4 else "black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["negative", "positive"], yticklabels=["negative", "positive"],
               xlabel="predicted", ylabel="true", title=f"{name}: test confusion matrix")
    fig.tight_layout()
    plt.show()

    print("Sentences the bag of words gets wrong and the RNN gets right:")
    for i in np.flatnonzero((bow_test != test_labels) & (rnn_test == test_labels))[:8]:
        print(f"  {'positive' if test_labels[i] else 'negative':8s}  {test_sentences[i]}")

# %% [markdown]
# ### The hidden state changes its mind
#
# The Keras model holds the same computation as your from-scratch RNN: the one-hot input times
# $\mathbf{W}_{xh}$ is the embedding $\mathbf{E}$ times the recurrent layer's kernel $\mathbf{K}$, so
# $\mathbf{W}_{xh} = \mathbf{E}\mathbf{K}$. The next cell copies the trained weights into your
# `many_to_one_forward`, checks that both give the same logits, then follows the hidden state word by word:
# on the left its path projected on the two main directions of the final states of the test sentences (red
# negative, blue positive), on the right the probability of "positive" after each word. Only the prediction after
# the last word is ever trained, so the values after "the" or "was" mean little; watch what "not" does to the
# adjective after it, and what happens after "but".

# %% nbgrader={"grade": false, "grade_id": "demo_hidden_path", "locked": true, "schema_version": 3, "solution": false, "task": false}
def layer_of(model, kind):
    found = [layer for layer in model.layers if isinstance(layer, kind)]
    return found[0] if found else None


if not ready("build_vocab", "encode", "many_to_one_forward", "build_sentiment_model", "train_sentiment"):
    pass
elif None in [layer_of(model, k) for k in (keras.layers.Embedding, keras.layers.SimpleRNN, keras.layers.Dense)]:
    print("This demo expects Embedding + SimpleRNN + Dense layers; your model has:",
          [type(layer).__name__ for layer in model.layers])
else:
    embedding, recurrent, dense = (layer_of(model, k) for k in
                                   (keras.layers.Embedding, keras.layers.SimpleRNN, keras.layers.Dense))
    E = embedding.embeddings.numpy()
    K, R, b = (w.numpy() for w in recurrent.cell.weights)
    W_hq, b_q = (w.numpy() for w in dense.weights)
    trained = {"W_xh": E @ K, "W_hh": R, "b_h": b, "W_hq": W_hq, "b_q": b_q}
    from_scratch = many_to_one_forward(tf.constant(X_test[:200]), {k: tf.constant(v) for k, v in trained.items()})
    print("largest difference between your forward and the Keras model:",
          f"{np.max(np.abs(np.asarray(from_scratch) - model.predict(X_test[:200], verbose=0))):.1e}")

    def hidden_path(sentence):
        """The states H_1..H_L and P(positive) after each word, with the trained weights."""
        tokens = tokenize(sentence)
        H_t, states, p_positive = np.zeros(R.shape[0]), [], []
        for w in encode([tokens], vocab, len(tokens))[0]:
            H_t = np.tanh(trained["W_xh"][w] + H_t @ R + b)
            logits = H_t @ W_hq + b_q
            states.append(H_t)
            p_positive.append(np.exp(logits[1]) / np.exp(logits).sum())
        return tokens, np.array(states), np.array(p_positive)

    finals = np.array([hidden_path(s)[1][-1] for s in test_sentences[:300]])
    center = finals.mean(axis=0)
    _, _, directions = np.linalg.svd(finals - center, full_matrices=False)
    project = lambda states: (states - center) @ directions[:2].T

    fig, (ax_path, ax_prob) = plt.subplots(1, 2, figsize=(12, 4.5))
    cloud = project(finals)
    ax_path.scatter(cloud[:, 0], cloud[:, 1], s=6, alpha=0.3,
                    c=["tab:blue" if y else "tab:red" for y in test_labels[:300]])
    examples = ["the movie was good", "the movie was not good at all",
                "the plot was dull , but the acting was great"]
    for sentence, color in zip(examples, ["tab:green", "tab:purple", "tab:orange"]):
        tokens, states, p_positive = hidden_path(sentence)
        path = project(states)
        ax_path.plot(path[:, 0], path[:, 1], "-o", color=color, markersize=3, label=sentence)
        for (x, y), token in zip(path, tokens):
            ax_path.annotate(token, (x, y), fontsize=8, color=color)
        ax_prob.plot(range(1, len(tokens) + 1), p_positive, "-o", color=color, label=sentence)
        for x, (token, p) in enumerate(zip(tokens, p_positive), start=1):
            ax_prob.annotate(token, (x, p), xytext=(3, 3), textcoords="offset points", fontsize=7, color=color)
    ax_path.set(title="Hidden state, word by word", xlabel="direction 1", ylabel="direction 2")
    ax_path.legend(fontsize=8, loc="best")
    ax_prob.axhline(0.5, color="gray", lw=0.5)
    ax_prob.set(title="P(positive) after each word", xlabel="words read", ylabel="P(positive)", ylim=(-0.02, 1.02))
    fig.tight_layout()
    plt.show()
    tokens, _, p_positive = hidden_path("the movie was not good at all")
    print("  ".join(f"{t}:{p:.2f}" for t, p in zip(tokens, p_positive)))

# %% [markdown]
# ### Long sentences: where gates help
#
# In the long sentences the negation and the adjective it flips are 12 to 16 words apart, with asides in between
# that say nothing about the sentiment. To get them right, the state must keep "a negation was seen" through a dozen
# updates, and training must learn to do so from a gradient that has travelled back through as many steps:
# Assignment 1's vanishing gradients. A GRU has *gates* that let it leave parts of its state untouched, so that
# both the information and the gradient survive many steps.
#
# The cell below trains two models the same way, with your `train_sentiment`, the same data and seed, and the same
# sizes: the one your `build_sentiment_model` makes, and the same model with a `keras.layers.GRU` in place of the
# `SimpleRNN`. It then scores them on each kind of test sentence. Typically both are perfect or nearly so on the
# short kinds, while on the long ones the SimpleRNN stays near chance (0.5) and the GRU is close to 1 (with other
# seeds the SimpleRNN sometimes learns them too, more slowly).

# %% nbgrader={"grade": false, "grade_id": "demo_gru_long", "locked": true, "schema_version": 3, "solution": false, "task": false}
if ready("build_vocab", "encode", "build_sentiment_model", "train_sentiment"):
    keras.utils.set_random_seed(0)
    with_gru = keras.Sequential([keras.layers.Embedding(len(vocab), 16, mask_zero=True), keras.layers.GRU(32),
                                 keras.layers.Dense(2)])
    keras.utils.set_random_seed(0)
    layer_models = {"SimpleRNN": build_sentiment_model(len(vocab), embed_dim=16, units=32), "GRU": with_gru}
    predictions = {}
    for name, layer_model in layer_models.items():
        started = time.time()
        train_sentiment(layer_model, X_train, train_labels, epochs=4, batch_size=32, learning_rate=0.01, seed=0)
        predictions[name] = np.argmax(layer_model.predict(X_test, verbose=0), axis=1)
        print(f"{name}: trained for 4 epochs in {time.time() - started:.0f} s")
    test_kinds = np.array([sentence_kind(s) for s in test_sentences])
    print(f"\n{'kind':10s} {'count':>6s} " + " ".join(f"{name:>10s}" for name in predictions))
    for kind in ("plain", "negated", "contrast", "long", "all"):
        rows = test_kinds == kind if kind != "all" else np.ones(len(test_kinds), bool)
        print(f"{kind:10s} {rows.sum():6d} " + " ".join(f"{np.mean(p[rows] == test_labels[rows]):10.3f}"
                                                        for p in predictions.values()))

# %% [markdown]
# ## Your turn to explain (2 points)
#
# In two short paragraphs: (1) Why can no classifier that only sees *which* words a sentence contains do better
# than chance on the negated and contrasted sentences of this dataset, and what in the RNN's computation lets it
# do better? (2) What would go wrong, in training and in use, if the model read the trailing padding as words (no
# mask, and the prediction taken from $\mathbf{H}_T$)?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_word_order", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# (1) A contrast or a negated pair holds one positive and one negative adjective whatever its label, and each word
# appears equally often in positive and negative sentences of that kind: swapping the two clauses of "A, but B", or
# moving the negation to the other adjective, keeps the bag of words and flips the label. A function of the bag
# alone therefore gives the same answer to both versions and is right on only half of them (and a lone "not good"
# looks like "good" to it, so it is mostly wrong there). The RNN reads the words in
# order and its state after "not" differs from its state before it, so the same adjective moves the state in a
# different direction after a negation; after "but", the state can overwrite what it learned from the first
# clause. Its final state depends on the order, not only on the set of words.
#
# (2) The prediction would depend on the amount of padding, which depends on the batch (or on max_len), not on the
# sentence: the same sentence could be classified differently in two batches. In training, the gradient from the
# loss would have to flow back through every padding step before reaching the words, each step multiplying it by
# W_hh^T and a tanh' factor, so it vanishes for short sentences padded to a long length; the network wastes
# capacity on remembering through padding, and learns slowly or not at all.
# ### END SOLUTION

# %% [markdown]
# ## Going further: real sentences
#
# The same functions work on real text. `load_tsv(path)` reads any file of `sentence<TAB>label` lines (for
# instance a corpus of your course's own), and `load_imdb()` returns the 50,000 IMDB movie reviews of
# `keras.datasets.imdb` as text, downloaded once into the Keras cache (it needs the internet the first time; offline
# it says so and points back to `load_tsv`). Expect a lower accuracy than on the generated sentences: real reviews
# are longer, and their vocabulary is far larger than the training set can teach. Set `TRY_IMDB = True` to try.

# %% nbgrader={"grade": false, "grade_id": "demo_real_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
TRY_IMDB = False
if TRY_IMDB and ready("build_vocab", "encode", "build_sentiment_model", "train_sentiment"):
    try:
        (imdb_train, imdb_train_labels), (imdb_test, imdb_test_labels) = load_imdb(max_words=100, limit=5000)
    except DatasetUnavailable as err:
        print(err)
    else:
        imdb_train_tokens = [tokenize(t) for t in imdb_train]
        imdb_vocab = build_vocab(imdb_train_tokens, min_freq=3)
        X_imdb = encode(imdb_train_tokens, imdb_vocab, 100)
        X_imdb_test = encode([tokenize(t) for t in imdb_test], imdb_vocab, 100)
        keras.utils.set_random_seed(0)
        imdb_model = build_sentiment_model(len(imdb_vocab), embed_dim=32, units=32)
        train_sentiment(imdb_model, X_imdb, imdb_train_labels, epochs=3, batch_size=64, learning_rate=0.005, seed=0)
        imdb_accuracy = np.mean(np.argmax(imdb_model.predict(X_imdb_test, verbose=0), axis=1) == imdb_test_labels)
        print(f"IMDB, first 100 words of 5,000 reviews: test accuracy {imdb_accuracy:.3f}")
