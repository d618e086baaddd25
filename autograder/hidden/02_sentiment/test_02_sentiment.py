"""Hidden suite of Assignment 2 (many-to-one sentiment classifier). Trusted: every input is chosen here, every
expected value comes from solutions/sentiment.py, autodiff or finite differences computed here, and every accuracy
is computed here from logits the student's model returned for sentences whose labels never left this process.

Held-out data: the sentences, their labels and the ids that stand for the words come from ``hidden_seed`` alone
(never sent to the sandbox); the public generator cannot rebuild them from anything the student's code is given.
A model that classifies the held-out sentences before any training is flagged (0 on that check).

One bug, one item: train_sentiment is checked on a fixed model the harness builds (its steps, batches, learning
rate, seed and the accuracy it reaches); the student's model is trained by the reference train_sentiment
(``uses``) for the checks of build_sentiment_model; many_to_one_grads may call the reference forward pass.

The budget and thresholds of the training checks come from bench/calibrate_02_sentiment.py (results in
bench/results/02_sentiment.md)."""
import hashlib
import math

import numpy as np
import pytest
import tensorflow as tf

from assignments.common.checklib import (CheckFailed, check_close, check_dtype, check_finite, check_gradient,
                                         check_gradients, check_shape, numeric_gradient, to_array, type_name,
                                         type_phrase)
from autograder import project
from autograder.trusted.suite import Flagged, grading_settings, item
from solutions import sentiment as ref

DATA = project.public_module("02_sentiment", "sentiment_data")

PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")

# The training check: the student's model, trained by the student's train_sentiment on a hidden generated split.
BUDGET = {"train": 2000, "test": 1000, "max_len": 20, "test_max_len": 40, "embed_dim": 16, "units": 32,
          "epochs": 4, "batch_size": 32, "learning_rate": 0.01}
# Calibrated on the reference over many seeds (bench/results/02_sentiment.md): the reference never came near them.
MIN_ACCURACY = 0.95          # on all test sentences (the reference: 1.000 on every seed)
MIN_HARD_ACCURACY = 0.93     # on the negated and contrasted ones, where a bag of words is at or below chance
MIN_MARGIN_OVER_BOW = 0.25   # and at least this much above the bag of words on those same sentences
# An untrained model is near chance (0.5) on the balanced held-out sentences; one at or above this, before
# train_sentiment ran, did not learn from the training call (bench/results/02_sentiment.md: untrained reference).
MAX_UNTRAINED_ACCURACY = 0.75
TRAIN_TIMEOUT = grading_settings().train_timeout   # seconds (c.Rnnkit.train_timeout); the reference needs 2-8 s


# ---------------------------------------------------------------------------------------------------- helpers
def random_token_lists(rng, n, words, max_tokens):
    """n sentences of words drawn with very unequal frequencies, so that counts tie and differ."""
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.1
    weights /= weights.sum()
    lengths = rng.integers(0, max_tokens + 1, n)
    return [[str(w) for w in rng.choice(words, size=k, p=weights)] for k in lengths]


def word_pool(rng, k):
    """k distinct made-up lower-case words, in random order (so alphabetical and first-seen orders differ)."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    pool = set()
    while len(pool) < k:
        pool.add("".join(rng.choice(letters, size=rng.integers(2, 7))))
    pool = sorted(pool)
    rng.shuffle(pool)
    return pool


def compare_vocab(got, expected, what):
    if not isinstance(got, dict):
        raise CheckFailed(f"{what}: build_vocab must return a dict, got {type_phrase(type_name(got))}")
    got = {str(k): v for k, v in got.items()}
    for token, index in expected.items():
        if token not in got:
            raise CheckFailed(f"{what}: '{token}' is missing (expected id {index}; it occurs often enough)")
        if not isinstance(got[token], (int, np.integer)) or int(got[token]) != index:
            raise CheckFailed(f"{what}: vocab['{token}'] should be {index}, got {got[token]!r} (ids 0 and 1 are "
                              "'<pad>' and '<unk>', then by descending count, ties alphabetical)")
    extra = sorted(set(got) - set(expected))
    if extra:
        raise CheckFailed(f"{what}: unexpected entries {extra[:5]} (a token needs a count >= min_freq)")


def random_ids(rng, n, T, V, lengths=None):
    """Rows of ids in 1..V-1 followed by padding; the lengths include 0 and T when n allows."""
    if lengths is None:
        lengths = rng.integers(1, T + 1, n)
        lengths[0], lengths[-1] = T, 0
    ids = np.zeros((n, T), dtype=np.int32)
    for i, length in enumerate(lengths):
        ids[i, :length] = rng.integers(1, V, length)
    return ids


def draw_params(rng, V, h, C, dtype=np.float64):
    """Random, non-square, non-symmetric parameters: transposes and swapped arguments show."""
    return {"W_xh": (0.8 * rng.standard_normal((V, h))).astype(dtype),
            "W_hh": (0.5 * rng.standard_normal((h, h))).astype(dtype),
            "b_h": (0.3 * rng.standard_normal(h)).astype(dtype),
            "W_hq": rng.standard_normal((h, C)).astype(dtype),
            "b_q": (0.5 * rng.standard_normal(C)).astype(dtype)}


def tensors(params):
    return {k: tf.constant(v) for k, v in params.items()}


def reference_loss(ids, labels, params):
    per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, ref.many_to_one_forward(tf.constant(ids), params))
    return tf.reduce_mean(per_row)


def student_grads(student, ids, labels, params):
    """The student's (loss, grads), called through the harness that notes any automatic differentiation run
    during the call (behaviour, not the names in the code) and makes IndexedSlices dense."""
    traced = student.call("_grads_traced", ids, labels, params)
    if not isinstance(traced, dict) or "result" not in traced:
        raise CheckFailed("many_to_one_grads returned nothing the grader can read")
    if traced.get("autodiff"):
        raise CheckFailed(f"many_to_one_grads ran automatic differentiation ({', '.join(traced['autodiff'])}) "
                          "while it computed the gradients: derive them by hand (backpropagation through time)")
    result = traced["result"]
    if not (isinstance(result, (list, tuple)) and len(result) == 2 and isinstance(result[1], dict)):
        raise CheckFailed("many_to_one_grads must return a pair (loss, grads) with grads a dict")
    loss, grads = result
    loss = to_array(loss, "loss")
    if loss.size != 1:
        raise CheckFailed(f"the loss must be a scalar (the mean over the batch), got shape {loss.shape}")
    loss = loss.reshape(())
    missing = [k for k in params if k not in grads]
    if missing:
        raise CheckFailed(f"grads has no entry for {missing} (it needs one per key of params)")
    return loss, grads


# ---------------------------------------------------------------------------------------------------- build_vocab
@item("build_vocab", weight=2)
def test_vocab_matches_reference(student, rng):
    """ids by descending count, ties alphabetical, after '<pad>' and '<unk>', for min_freq 1, 2 and 3"""
    words = word_pool(rng, 40)
    token_lists = random_token_lists(rng, 60, words, 9)
    for min_freq in (1, 2, 3):
        got = student.call("build_vocab", token_lists, min_freq=min_freq)
        compare_vocab(got, ref.build_vocab(token_lists, min_freq), f"build_vocab(..., min_freq={min_freq})")


@item("build_vocab", weight=1)
def test_vocab_ties_and_reserved_ids(student, rng):
    """equal counts are ordered alphabetically, whatever order the sentences come in"""
    words = word_pool(rng, 8)
    token_lists = [[w] for w in words] + [[words[0], words[3]]]
    rng.shuffle(token_lists)
    expected = ref.build_vocab(token_lists)
    compare_vocab(student.call("build_vocab", token_lists), expected, "build_vocab with tied counts")
    compare_vocab(student.call("build_vocab", token_lists[::-1]), expected,
                  "build_vocab of the same sentences in reverse order")


@item("build_vocab", weight=1)
def test_vocab_counts_every_occurrence(student, rng):
    """a token's count is how often it occurs, not in how many sentences"""
    often, twice, once = word_pool(rng, 3)
    token_lists = [[twice, often, often, often], [twice], [once]]   # counts 3, 2, 1; by sentences 1, 2, 1
    compare_vocab(student.call("build_vocab", token_lists), ref.build_vocab(token_lists),
                  "build_vocab of a sentence that repeats a word")


# ---------------------------------------------------------------------------------------------------- encode
@item("encode", weight=2)
def test_encode_matches_reference(student, rng):
    """int32 (n, max_len): first max_len ids, unknown tokens 1, padding 0 at the end"""
    words = word_pool(rng, 30)
    vocab = ref.build_vocab(random_token_lists(rng, 40, words[:20], 8))
    token_lists = random_token_lists(rng, 25, words, 12)  # words[20:] are unknown
    max_len = int(rng.integers(6, 10))
    got = student.call("encode", token_lists, vocab, max_len)
    expected = ref.encode(token_lists, vocab, max_len)
    array = check_shape(got, expected.shape, f"encode(25 sentences, max_len={max_len})")
    if array.dtype != np.int32:
        raise CheckFailed(f"encode must return an int32 array, got dtype {array.dtype}")
    bad = np.argwhere(array != expected)
    if len(bad):
        i = int(bad[0][0])
        raise CheckFailed(f"encode: row {i} (tokens {token_lists[i]}) should be {expected[i].tolist()}, "
                          f"got {array[i].tolist()}")


@item("encode", weight=1)
def test_encode_lengths_around_max_len(student, rng):
    """sentences of max_len - 1, max_len and max_len + 1 tokens, and an empty one"""
    words = word_pool(rng, 12)
    vocab = ref.build_vocab([words])
    max_len = 5
    token_lists = [list(rng.choice(words, size=k)) for k in (4, 5, 6, 0)]
    token_lists = [[str(t) for t in tokens] for tokens in token_lists]
    got = check_shape(student.call("encode", token_lists, vocab, max_len), (4, max_len), "encode(..., max_len=5)")
    expected = ref.encode(token_lists, vocab, max_len)
    for i, what in enumerate(("4 tokens", "5 tokens", "6 tokens (keep the first 5)", "no tokens")):
        if not np.array_equal(got[i], expected[i]):
            raise CheckFailed(f"encode of a sentence of {what} with max_len=5: expected {expected[i].tolist()}, "
                              f"got {np.asarray(got[i]).tolist()}")


@item("encode", weight=1)
def test_encode_width_is_max_len(student, rng):
    """the width is max_len even when every sentence is shorter (and when there is no token at all)"""
    words = word_pool(rng, 10)
    vocab = ref.build_vocab([words])
    token_lists = [[str(w) for w in rng.choice(words, size=k)] for k in (1, 3, 2, 0)]
    max_len = 7
    got = check_shape(student.call("encode", token_lists, vocab, max_len), (4, max_len),
                      "encode of sentences of at most 3 tokens with max_len=7 (the width is always max_len)")
    expected = ref.encode(token_lists, vocab, max_len)
    if not np.array_equal(got, expected):
        i = int(np.argwhere(got != expected)[0][0])
        raise CheckFailed(f"encode(..., max_len=7): row {i} should be {expected[i].tolist()}, got {got[i].tolist()}")
    check_shape(student.call("encode", [[], []], vocab, 4), (2, 4), "encode of two empty sentences, max_len=4")


# ---------------------------------------------------------------------------------------------------- forward
@item("many_to_one_forward", weight=2)
def test_forward_values(student, rng):
    """logits from the state after each row's last real id (float64, random sizes and lengths)"""
    n, T, V, h, C = 6, 7, 11, 5, 3
    ids, params = random_ids(rng, n, T, V), draw_params(rng, V, h, C)
    got = student.call("many_to_one_forward", ids, params)
    expected = ref.many_to_one_forward(tf.constant(ids), tensors(params))
    array = check_shape(got, (n, C), "logits")
    if not np.allclose(array[-1], params["b_q"], rtol=1e-6, atol=1e-8):
        raise CheckFailed(f"a row of padding only must give logits = b_q (H_0 = 0): expected {params['b_q']}, "
                          f"got {array[-1]}")
    check_close(array, expected, "logits", rtol=1e-6, atol=1e-8)


@item("many_to_one_forward", weight=1)
def test_forward_float32(student, rng):
    """float32 parameters give float32 logits of the same values"""
    n, T, V, h, C = 5, 6, 9, 4, 2
    ids, params = random_ids(rng, n, T, V), draw_params(rng, V, h, C, np.float32)
    got = student.call("many_to_one_forward", ids, params)
    check_dtype(got, np.float32, "logits for float32 params")
    check_close(got, ref.many_to_one_forward(tf.constant(ids), tensors(params)), "logits (float32)",
                rtol=1e-4, atol=1e-5)


@item("many_to_one_forward", weight=1)
def test_forward_padding_invariance(student, rng):
    """extra trailing padding leaves the logits unchanged"""
    n, T, V, h, C = 5, 5, 8, 6, 3
    ids, params = random_ids(rng, n, T, V), draw_params(rng, V, h, C)
    longer = np.concatenate([ids, np.zeros((n, 4), dtype=np.int32)], axis=1)
    short = check_shape(student.call("many_to_one_forward", ids, params), (n, C), "logits")
    check_close(student.call("many_to_one_forward", longer, params), short,
                "logits with 4 more padding columns (they must not change)", rtol=1e-6, atol=1e-8)
    check_close(short, ref.many_to_one_forward(tf.constant(ids), tensors(params)), "logits", rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------------- gradients
def grads_problem(rng, n=6, T=7, V=9, h=5, C=3, dtype=np.float64):
    ids = random_ids(rng, n, T, V)
    labels = rng.integers(0, C, n).astype(np.int32)
    return ids, labels, draw_params(rng, V, h, C, dtype)


@item("many_to_one_grads", uses=["many_to_one_forward"], weight=1)
def test_loss_value(student, rng):
    """the loss is the MEAN softmax cross-entropy over the batch"""
    ids, labels, params = grads_problem(rng)
    loss, _ = student_grads(student, ids, labels, params)
    check_close(loss, reference_loss(ids, labels, tensors(params)), "loss", rtol=1e-8, atol=1e-10)


@item("many_to_one_grads", uses=["many_to_one_forward"], weight=3)
def test_grads_match_autodiff(student, rng):
    """every gradient matches tf.GradientTape on the reference forward pass (float64)"""
    ids, labels, params = grads_problem(rng)
    _, grads = student_grads(student, ids, labels, params)
    variables = {k: tf.Variable(v) for k, v in params.items()}
    with tf.GradientTape() as tape:
        loss = reference_loss(ids, labels, variables)
    expected = {name: g.numpy() for name, g in tape.gradient(loss, variables).items()}
    try:   # every gradient at once, so that the pattern of the wrong ones shows (as in the public check)
        check_gradients({name: grads[name] for name in PARAM_NAMES}, {name: expected[name] for name in PARAM_NAMES},
                        tol=1e-7, against="tf.GradientTape", what="many_to_one_grads")
    except CheckFailed as failure:
        raise CheckFailed(f"{failure}.{gradient_pattern(failure.wrong, grads, expected, len(ids))}") from None


def gradient_pattern(wrong, grads, expected, n):
    """The sentence the public check says for a pattern of wrong gradients that shows its cause ('' otherwise)."""
    if wrong == set(PARAM_NAMES) and all(np.allclose(to_array(grads[k], k, np.float64), n * expected[k], rtol=1e-6,
                                                     atol=1e-9) for k in PARAM_NAMES):
        return (f" Every gradient is n = {n} times too large: they are the gradients of the SUM of the "
                f"cross-entropies; the loss is their MEAN, so dlogits = (p - Y) / n")
    if wrong == {"b_h"}:
        got = to_array(grads["b_h"], "grads['b_h']", np.float64)
        mean = " (it is the sum divided by the batch size: a mean over the rows)" if np.allclose(
            got * n, expected["b_h"], rtol=1e-6, atol=1e-9) else ""
        return (f" Only b_h is wrong{mean}: b_h is added to every row, so db_h += the SUM over the batch of dA, "
                "the same dA that dW_xh and dW_hh use")
    if wrong == {"W_hh"}:
        return (" Only W_hh is wrong: dW_hh += H[:, t-1]^T dA, the state step t started from (the zero state at "
                "t = 0), not the state it made, transposed on the left")
    return ""


@item("many_to_one_grads", uses=["many_to_one_forward"], weight=1)
def test_grads_match_finite_differences(student, rng):
    """every gradient matches centred finite differences of the loss (float64)"""
    ids, labels, params = grads_problem(rng, n=4, T=5, V=6, h=3, C=2)
    _, grads = student_grads(student, ids, labels, params)
    for name in PARAM_NAMES:
        def loss_of(x, name=name):
            return reference_loss(ids, labels, {**tensors(params), name: tf.constant(x)})
        numeric = numeric_gradient(loss_of, params[name].copy(), 1.0)
        check_gradient(grads[name], numeric, f"grads['{name}'] (vs finite differences)", tol=1e-6)


@item("many_to_one_grads", uses=["many_to_one_forward"], weight=1)
def test_grads_float32(student, rng):
    """float32 parameters give float32 gradients of the same values"""
    ids, labels, params = grads_problem(rng, dtype=np.float32)
    loss, grads = student_grads(student, ids, labels, params)
    check_dtype(loss, np.float32, "loss for float32 params")
    _, expected = ref.many_to_one_grads(tf.constant(ids), tf.constant(labels), tensors(params))
    for name in PARAM_NAMES:
        check_dtype(grads[name], np.float32, f"grads['{name}'] for float32 params")
        check_gradient(grads[name], expected[name].numpy(), f"grads['{name}'] (float32)", tol=1e-3)


# ---------------------------------------------------------------------------------------------------- Keras model
# The cause sentences the public check of the notebook prints too
NON_NEGATIVE_LOGITS = ("every logit is 0 or more ({zeros} of {size} exactly 0): the output layer has an activation (a "
                       "ReLU clips the negative scores to 0); give the last Dense layer none, so that the model "
                       "returns logits and the loss applies the softmax")
READS_BACKWARDS = ("the recurrent layer {layers} reads each sentence from its last word to its first (go_backwards="
                   "True): the model must read the words in order, first to last")
def built_model(student, V=40, C=3, seed=0):
    return student.call("_sentiment_build", V, 8, 16, C, seed)


@item("build_sentiment_model", weight=1)
def test_model_returns_logits(student, rng):
    """maps int ids (n, T) to logits (n, C), not to probabilities"""
    model = built_model(student, V=40, C=3)
    ids = random_ids(rng, 6, 9, 40)
    logits = check_shape(student.call("_sentiment_logits", model, ids), (6, 3), "model(ids) with num_classes=3")
    check_finite(logits, "model(ids)")
    if (logits >= 0).all() and np.allclose(logits.sum(axis=1), 1.0, atol=1e-4):
        raise CheckFailed("the model's outputs are probabilities (each row sums to 1): return logits, without "
                          "a softmax; the loss applies it")
    # many sentences: the logits of a model without an output activation are all >= 0 only by a vanishing chance
    many = to_array(student.call("_sentiment_logits", model, random_ids(rng, 40, 9, 40)), "model(ids)")
    if many.shape == (40, 3) and (many >= 0).all():
        raise CheckFailed(NON_NEGATIVE_LOGITS.format(zeros=int(np.sum(many == 0)), size=many.size))


@item("build_sentiment_model", weight=1)
def test_model_sizes(student, rng):
    """the embedding is (vocab_size, embed_dim), the recurrent layer has `units` units, num_classes logits (2 by
    default)"""
    V, d, u, C = 37, 7, 11, 3
    ids = random_ids(rng, 4, 6, V)
    ids[0, 0] = V - 1  # the largest id must be accepted
    model = student.call("_sentiment_build", V, d, u, C, 0)
    described = student.call("_sentiment_describe", model, ids)
    shapes = [tuple(int(k) for k in shape) for shape in described["weights"]]
    if (V, d) not in shapes:
        raise CheckFailed(f"build_sentiment_model({V}, {d}, {u}, {C}) has no embedding matrix of shape ({V}, {d}); "
                          f"its weights have shapes {shapes}")
    recurrent = [(u, g * u) for g in (1, 3, 4)]  # SimpleRNN, GRU, LSTM recurrent kernels
    if not any(shape in recurrent for shape in shapes):
        raise CheckFailed(f"build_sentiment_model({V}, {d}, {u}, {C}) has no recurrent layer of {u} units (no "
                          f"recurrent kernel of shape ({u}, {u}), ({u}, {3 * u}) or ({u}, {4 * u})); its weights "
                          f"have shapes {shapes}")
    if tuple(described["output"]) != (4, C):
        raise CheckFailed(f"with num_classes={C} the model maps 4 sentences to logits of shape {tuple(described['output'])}"
                          f", expected (4, {C})")
    default = student.call("_sentiment_describe", student.call("_sentiment_build", V, d, u, None, 0), ids)
    if tuple(default["output"]) != (4, 2):
        raise CheckFailed(f"without num_classes the model should give 2 logits per sentence (num_classes=2 by "
                          f"default), got shape {tuple(default['output'])}")


@item("build_sentiment_model", weight=1)
def test_model_ignores_trailing_padding(student, rng):
    """extra trailing padding never changes the logits (the padding is masked)"""
    model = built_model(student, V=30, C=2)
    ids = random_ids(rng, 6, 8, 30)
    logits = check_shape(student.call("_sentiment_logits", model, ids), (6, 2), "model(ids)")
    longer = np.concatenate([ids, np.zeros((6, 12), dtype=np.int32)], axis=1)
    check_close(student.call("_sentiment_logits", model, longer), logits,
                "logits after 12 more padding columns (is id 0 masked?)", rtol=1e-4, atol=1e-5)


@item("build_sentiment_model", weight=1)
def test_model_reads_word_order(student, rng):
    """reordering the words of a sentence changes its logits (the model is recurrent, not a bag of words)"""
    model = built_model(student, V=30, C=2)
    ids = random_ids(rng, 6, 8, 30, lengths=[8, 7, 6, 5, 8, 4])
    reordered = ids.copy()
    for i, length in enumerate([8, 7, 6, 5, 8, 4]):
        reordered[i, :length] = ids[i, :length][::-1]
    a = check_shape(student.call("_sentiment_logits", model, ids), (6, 2), "model(ids)")
    b = check_shape(student.call("_sentiment_logits", model, reordered), (6, 2), "model(reversed ids)")
    if np.allclose(a, b, rtol=1e-5, atol=1e-6):
        raise CheckFailed("reversing the sentences does not change any logits: the model ignores word order")
    backwards = student.call("_sentiment_backward_readers", model)
    if backwards:
        raise CheckFailed(READS_BACKWARDS.format(layers=", ".join(map(str, backwards))))


# ---------------------------------------------------------------------------------------------------- training
HELD_OUT_SIZES = {"train": BUDGET["train"], "test": BUDGET["test"]}


def held_out_key(hidden_seed):
    """The generator's seed for a grading run's held-out split: derived from hidden_seed alone (a secret of the
    trusted side), so no seed the student's code is given, nor any small number, regenerates it."""
    digest = hashlib.sha256(f"rnnkit:02_sentiment:held-out:{int(hidden_seed)}".encode()).digest()
    return int.from_bytes(digest[:16], "big")


def hidden_problem(hidden_seed):
    """The held-out split of a grading run: ids of the training and test sentences, and what only we keep."""
    key = held_out_key(hidden_seed)
    splits = DATA.make_splits(key, HELD_OUT_SIZES, shares=DATA.SHORT_KIND_SHARES)
    train, test = splits["train"], splits["test"]
    train_tokens = [DATA.tokenize(s) for s in train.sentences]
    test_tokens = [DATA.tokenize(s) for s in test.sentences]
    vocab = ref.build_vocab(train_tokens)
    # Shuffle which id stands for which word, so that no id means the same word in two grading runs.
    relabel = np.concatenate([[0, 1], np.random.default_rng([key % 2**63, 1]).permutation(len(vocab) - 2) + 2])
    bow = DATA.BagOfWords().fit(train_tokens, train.labels)
    return {"train_ids": relabel.astype(np.int32)[ref.encode(train_tokens, vocab, BUDGET["max_len"])],
            "train_labels": train.labels.astype(np.int32),
            # more trailing padding than in training: a masked model does not care, an unmasked one does
            "test_ids": relabel.astype(np.int32)[ref.encode(test_tokens, vocab, BUDGET["test_max_len"])],
            "test_labels": test.labels, "hard": np.array([k != "plain" for k in test.kinds]),
            "vocab_size": len(vocab), "bow_predictions": bow.predict(test_tokens)}


def train_and_predict(call, problem, seed, students_model=True):
    """Runs the harness (``call`` is student.call, or a stand-in in the calibration) and returns its result:
    train_sentiment (the student's, or the reference through ``uses``) on the student's model, or the student's
    train_sentiment on a fixed model built by the harness."""
    result = call("_sentiment_train_and_predict", problem["train_ids"], problem["train_labels"],
                  problem["test_ids"], problem["vocab_size"], BUDGET["embed_dim"], BUDGET["units"],
                  BUDGET["epochs"], BUDGET["batch_size"], BUDGET["learning_rate"], int(seed) % 2**31,
                  students_model, timeout=TRAIN_TIMEOUT)
    if not isinstance(result, dict) or "logits" not in result:
        raise CheckFailed("the training run returned nothing the grader can read")
    return result


def accuracies(problem, logits):
    """(overall, on the hard sentences, bag of words on the hard sentences) from logits the student sent."""
    logits = check_shape(logits, (len(problem["test_labels"]), 2), "the trained model's logits on the test ids")
    check_finite(logits, "the trained model's logits")
    right = np.argmax(logits, axis=1) == problem["test_labels"]
    bow_right = problem["bow_predictions"] == problem["test_labels"]
    hard = problem["hard"]
    return float(right.mean()), float(right[hard].mean()), float(bow_right[hard].mean())


def untrained_accuracy(problem, result):
    logits = np.asarray(to_array(result.get("untrained_logits"), "the untrained model's logits"), dtype=np.float64)
    if logits.shape != (len(problem["test_labels"]), 2) or not np.isfinite(logits).all():
        return 0.0
    return float(np.mean(np.argmax(logits, axis=1) == problem["test_labels"]))


def check_trained_without_help(problem, result, whose):
    """A model that already classifies the held-out sentences before train_sentiment ran learnt nothing from the
    training call: the check scores 0, and the message (also in the instructor's results) says why."""
    before = untrained_accuracy(problem, result)
    if before >= MAX_UNTRAINED_ACCURACY:
        raise Flagged(f"FLAGGED FOR THE INSTRUCTOR: {whose} classified {before:.3f} of the held-out sentences "
                          f"right before any training (an untrained model is near 0.5; at most "
                          f"{MAX_UNTRAINED_ACCURACY:.2f} is accepted). A model can only learn from the training "
                          "call; this check scores 0")


@pytest.fixture(scope="module")
def hidden(hidden_seed):
    return hidden_problem(hidden_seed)


FINGERPRINT_STRIDE = 131   # sent to the harness's recorder, which computes the same fingerprints


def fingerprints(ids):
    """What the harness's recorder notes of each row it is trained on: exact in float64, so the grader can tell
    which row came when."""
    ids = np.asarray(ids, dtype=np.float64)
    return ids @ (1 + FINGERPRINT_STRIDE * np.arange(ids.shape[1], dtype=np.float64))


def probe_rows(hidden):
    """A small slice of the held-out training split for the short runs of train_sentiment's contract: 300 rows
    that differ from each other, so that the order in which training saw them can be read back."""
    ids, labels = hidden["train_ids"], hidden["train_labels"]
    _, first = np.unique(fingerprints(ids), return_index=True)
    keep = np.sort(first)[:300]
    return ids[keep], labels[keep], hidden["vocab_size"]


@pytest.fixture(scope="module")
def probe_data(hidden):
    return probe_rows(hidden)


_probes = {}


def probe(student, probe_data, *, rows=300, epochs=2, batch_size=32, learning_rate=0.01, seed=5, noise_seed=0):
    """A short run of the student's train_sentiment on the harness's fixed model (each run once per grading)."""
    key = (rows, epochs, batch_size, learning_rate, seed, noise_seed)
    if key not in _probes:
        ids, labels, vocab_size = probe_data
        _probes[key] = student.call("_sentiment_probe", ids[:rows], labels[:rows], vocab_size, epochs, batch_size,
                                    learning_rate, seed, noise_seed, FINGERPRINT_STRIDE, timeout=TRAIN_TIMEOUT)
    result = _probes[key]
    if not isinstance(result, dict) or not isinstance(result.get("history"), dict):
        kind = type_name(result.get("history") if isinstance(result, dict) else result)
        raise CheckFailed(RETURNS_HISTORY if kind == "History" else
                          "train_sentiment must return a dict with keys 'loss' and 'accuracy', got "
                          f"{type_phrase(kind)}")
    return result


def epochs_seen(result, ids, epochs):
    """The row indices (into ``ids``) in the order training saw them, one array per epoch; fails if training did
    not see exactly ``epochs`` passes."""
    rows = len(ids)
    if result["rows"] != epochs * rows:
        raise CheckFailed(f"epochs={epochs} over {rows} rows should train on {epochs * rows} rows in all, the model "
                          f"was trained on {result['rows']}")
    where = {fp: i for i, fp in enumerate(fingerprints(ids))}
    seen = np.array([where.get(fp, -1) for fp in np.asarray(result["order"], dtype=np.float64)])
    return seen.reshape(epochs, rows)


def history_values(history, key, epochs):
    if key not in history:
        raise CheckFailed(f"train_sentiment must return a dict with keys 'loss' and 'accuracy', got keys "
                          f"{sorted(map(str, history))}")
    values = np.asarray(to_array(history[key], f"history['{key}']"), dtype=np.float64).reshape(-1)
    if values.shape != (epochs,):
        raise CheckFailed(f"history['{key}'] after epochs={epochs} should hold {epochs} values (one per epoch), "
                          f"got {values.size}")
    check_finite(values, f"history['{key}']")
    return values


_runs = {}


def training_run(student, hidden, seed, students_model):
    """One training run per grading, shared by the checks that read it. Called inside a test (not as a module
    fixture), so that the sandbox already runs the references of that test's ``uses``: the student's model is
    trained by the reference train_sentiment, the grader's model by the student's."""
    if students_model not in _runs:
        try:
            _runs[students_model] = train_and_predict(student.call, hidden, seed, students_model)
        except CheckFailed as err:
            _runs[students_model] = err
    if isinstance(_runs[students_model], CheckFailed):
        raise _runs[students_model]
    return _runs[students_model]


# The run that the checks of the history, batches, shuffling and seed share (one probe, see probe()): 100 rows in
# batches of 24, so that the last batch of an epoch is smaller.
ORDER_RUN = {"rows": 100, "epochs": 3, "batch_size": 24}


@item("train_sentiment", weight=1)
def test_history_contract(student, probe_data):
    """returns {'loss': [...], 'accuracy': [...]}: one finite value per epoch, accuracies in [0, 1], loss going down"""
    epochs = ORDER_RUN["epochs"]
    history = probe(student, probe_data, **ORDER_RUN)["history"]
    loss = history_values(history, "loss", epochs)
    accuracy = history_values(history, "accuracy", epochs)
    if accuracy.min() < 0 or accuracy.max() > 1:
        raise CheckFailed(f"history['accuracy'] should be fractions in [0, 1], got {accuracy.tolist()}")
    if not loss[-1] < loss[0]:
        raise CheckFailed(f"the training loss did not go down in {epochs} epochs: {loss.tolist()}")


@item("train_sentiment", weight=1)
def test_batches_and_epochs(student, probe_data):
    """every epoch passes over all n rows once, in steps of batch_size rows (the last one smaller)"""
    rows, epochs, batch_size = ORDER_RUN["rows"], ORDER_RUN["epochs"], ORDER_RUN["batch_size"]
    result = probe(student, probe_data, **ORDER_RUN)
    steps = epochs * math.ceil(rows / batch_size)
    if result["largest"] != batch_size:
        raise CheckFailed(f"with batch_size={batch_size} the model was trained on batches of up to "
                          f"{result['largest']} rows: is batch_size passed on to fit?")
    if result["rows"] != epochs * rows or result["steps"] != steps:
        raise CheckFailed(f"epochs={epochs} over {rows} rows with batch_size={batch_size} should take {steps} "
                          f"steps over {epochs * rows} rows; the model was trained in {result['steps']} steps over "
                          f"{result['rows']} rows (are epochs and batch_size passed on, and is the model called with "
                          "training=True?)")


@item("train_sentiment", weight=1)
def test_every_epoch_is_shuffled_anew(student, probe_data):
    """an epoch is one pass over the n rows, in an order shuffled anew every epoch"""
    ids = probe_data[0][:ORDER_RUN["rows"]]
    seen = epochs_seen(probe(student, probe_data, **ORDER_RUN), ids, ORDER_RUN["epochs"])
    for epoch, order in enumerate(seen, 1):
        if sorted(order) != list(range(len(ids))):
            raise CheckFailed(f"epoch {epoch} did not pass over each of the {len(ids)} rows exactly once: "
                              f"{len(ids) - len(set(order.tolist()) - {-1})} rows were missed or repeated")
    if (seen[0] == np.arange(len(ids))).all():
        raise CheckFailed("the first epoch saw the rows in the order they were given: shuffle them")
    if (seen[1] == seen[0]).all():
        raise CheckFailed("the second epoch saw the rows in the same order as the first: shuffle anew every epoch "
                          "(after keras.utils.set_random_seed, model.fit(X, y, shuffle=True) does not; a "
                          "tf.data.Dataset shuffled with reshuffle_each_iteration=True does)")
    for epoch, order in enumerate(seen, 1):
        mistake = shuffle_mistake(order)
        if mistake:
            raise CheckFailed(f"epoch {epoch}: {mistake}")


def shuffle_mistake(order):
    """What a shuffled epoch's ``order`` (row indices in the order they came) shows of a shuffle that does not mix
    every row with every other, or None. The public check of the notebook asks the same with the same sentences."""
    n = len(order)
    # a full shuffle puts a row right after the row before it in the data about once per epoch
    follows = float(np.mean(np.diff(order) == 1))
    if follows > 0.5:
        return SHUFFLED_BATCHES.format(share=follows)
    # Spearman's rank correlation of a row's place in the epoch with its place in the data: about N(0, 1/(n-1))
    # for a full shuffle (0.5 is 5 standard deviations at n = 100), near 1 for a buffer of a few batches
    rho = float(np.corrcoef(np.arange(n), order)[0, 1])
    if rho > 0.5:
        return SMALL_SHUFFLE_BUFFER.format(rho=rho)
    return None


RETURNS_HISTORY = ("train_sentiment returned the History object that model.fit returns; return a dict of plain "
                   "lists, {'loss': [...], 'accuracy': [...]}, taken from its .history")
SHUFFLED_BATCHES = ("{share:.0%} of the rows came right after the row before them in the data, in runs as long as "
                    "a batch: whole batches were shuffled, not the rows; shuffle the rows first, then "
                    ".batch(batch_size)")
SMALL_SHUFFLE_BUFFER = ("the rows came close to their given order (rank correlation {rho:.2f} between a row's place "
                        "in the data and in the epoch; a full shuffle gives about 0): the shuffle only mixes nearby "
                        "rows; give Dataset.shuffle a buffer of all n rows (len(X)), not of batch_size")


# float32 sums against float64 ones: the reference is within 1e-6 (bench/results/02_sentiment.md)
HISTORY_RTOL, HISTORY_ATOL_ACCURACY = 2e-3, 1e-4
ADAM_STEP_RUN, ADAM_STEP_RTOL = {"rows": 64, "learning_rate": 0.01}, 0.02  # one full-batch step; see the calibration


def epoch_means(result, ids, labels, *, rows, epochs, batch_size):
    """What the history of a probe should hold, from the logits the recorder saw in training (in float64): per
    epoch, the mean cross-entropy over its rows, the mean of its batch means (what a hand-written loop may
    average instead; also the epoch's mean loss) and the fraction of rows classified right."""
    ids, labels = ids[:rows], labels[:rows]
    seen = epochs_seen(result, ids, epochs)
    logits = np.asarray(result["train_logits"], dtype=np.float64).reshape(epochs, rows, 2)
    truth = labels[seen]
    log_p = logits - np.logaddexp(logits[..., 0], logits[..., 1])[..., None]
    nll = -np.take_along_axis(log_p, truth[..., None], axis=-1)[..., 0]
    batch_mean = np.array([np.mean([nll[e, i:i + batch_size].mean() for i in range(0, rows, batch_size)])
                           for e in range(epochs)])
    return nll.mean(axis=1), batch_mean, (np.argmax(logits, axis=-1) == truth).mean(axis=1)


@item("train_sentiment", weight=1)
def test_history_holds_the_epoch_means(student, probe_data):
    """history['loss'] and history['accuracy'] are the mean training loss and the training accuracy of each epoch"""
    result = probe(student, probe_data, **ORDER_RUN)
    row_mean, batch_mean, accuracy = epoch_means(result, *probe_data[:2], **ORDER_RUN)
    loss_got = history_values(result["history"], "loss", ORDER_RUN["epochs"])
    accuracy_got = history_values(result["history"], "accuracy", ORDER_RUN["epochs"])
    if not (np.allclose(loss_got, row_mean, rtol=HISTORY_RTOL, atol=1e-5)
            or np.allclose(loss_got, batch_mean, rtol=HISTORY_RTOL, atol=1e-5)):
        raise CheckFailed(f"history['loss'] should be the mean training loss of each epoch, over the batches it "
                          f"trained on: {np.round(row_mean, 4).tolist()} here, got {np.round(loss_got, 4).tolist()} "
                          "(not the loss after the epoch, nor of its last batch)")
    if not np.allclose(accuracy_got, accuracy, rtol=0, atol=HISTORY_ATOL_ACCURACY):
        raise CheckFailed(f"history['accuracy'] should be the fraction of rows classified right while each epoch "
                          f"trained: {np.round(accuracy, 4).tolist()} here, got {np.round(accuracy_got, 4).tolist()}")


def one_step(student, probe_data, learning_rate, seed=5, noise_seed=0):
    """One optimizer step over the probe's first ADAM_STEP_RUN["rows"] rows in one batch (the harness runs it eagerly,
    see ``_sentiment_probe``); the recorder still keeps the order in which the shuffled rows came."""
    rows = ADAM_STEP_RUN["rows"]
    return probe(student, probe_data, rows=rows, epochs=1, batch_size=rows, learning_rate=learning_rate, seed=seed,
                 noise_seed=noise_seed)


# The one-step run of the seed check with another seed, at learning_rate=0: it also checks that nothing then moves.
STILL_STEP = {"learning_rate": 0.0, "seed": 6}


@item("train_sentiment", weight=1)
def test_learning_rate_honoured(student, probe_data):
    """learning_rate=0 leaves every weight unchanged, and ten times the learning rate moves the weights further"""
    still = one_step(student, probe_data, **STILL_STEP)
    if max(still["moved"], default=0.0) > 1e-7:
        raise CheckFailed(f"with learning_rate=0 a weight moved by {max(still['moved']):.2e}: is learning_rate "
                          "passed to the optimizer?")
    rows = ADAM_STEP_RUN["rows"]
    small = max(one_step(student, probe_data, 0.001)["moved"], default=0.0)
    large = max(one_step(student, probe_data, ADAM_STEP_RUN["learning_rate"])["moved"], default=0.0)
    if not (small > 0 and 4 < large / small < 25):
        raise CheckFailed(f"over the same one-batch epoch of {rows} rows, learning_rate=0.001 moved the weights by at "
                          f"most {small:.2e} and learning_rate={ADAM_STEP_RUN['learning_rate']} by {large:.2e}; about "
                          "ten times further was expected (is learning_rate passed to the optimizer?)")


@item("train_sentiment", weight=1)
def test_optimizer_is_adam(student, probe_data):
    """the optimizer is Adam: its first step moves the largest-moving entry of every kernel by learning_rate"""
    rows, learning_rate = ADAM_STEP_RUN["rows"], ADAM_STEP_RUN["learning_rate"]
    step = one_step(student, probe_data, learning_rate)
    moved = adam_step_moves(step, learning_rate)
    if step["steps"] != 1 or not moved.size or not np.all(np.abs(moved - 1) < ADAM_STEP_RTOL):
        raise CheckFailed(f"one epoch of {rows} rows in batches of {rows} (one optimizer step) with learning_rate="
                          f"{learning_rate} took {step['steps']} step(s) and moved the kernels of the RNN and of the "
                          f"output layer by at most {np.round(moved, 3).tolist()} times learning_rate; Adam's first "
                          "step moves each of them by learning_rate (is the optimizer "
                          "keras.optimizers.Adam(learning_rate=learning_rate)?)")


def adam_step_moves(step, learning_rate):
    """The largest move of an entry of each kernel (input, recurrent, output) of the probe model in one step, over
    learning_rate.

    Adam's first step is learning_rate * g / (|g| + eps') for each entry, eps' about 3e-6 (bias correction cancels
    the running averages; gradient clipping only rescales g): 1 wherever g is not tiny, and a kernel's largest
    gradient entry never is. SGD gives |g|, RMSprop about 3.2. Left out: the biases, whose few entries can have
    gradients near eps', and the embedding, whose gradient is sparse (Keras's Adam sums the updates of a row that
    occurs several times in a batch, so its step is not learning_rate)."""
    moved, ranks = np.asarray(step["moved"], dtype=np.float64), list(step["ranks"])
    return moved[[i for i, rank in enumerate(ranks) if rank == 2][1:]] / learning_rate


@item("train_sentiment", weight=1)
def test_seed_decides_the_run(student, probe_data):
    """from the same initial weights, the same seed repeats a run and another seed changes it"""
    # one-step runs: the order of the shuffled rows, the loss and every weight's move must repeat exactly
    learning_rate, ids = ADAM_STEP_RUN["learning_rate"], probe_data[0][:ADAM_STEP_RUN["rows"]]
    first = one_step(student, probe_data, learning_rate)
    again = one_step(student, probe_data, learning_rate, noise_seed=1)
    what = "a second run with the same seed (call keras.utils.set_random_seed(seed) before training)"
    if not np.array_equal(epochs_seen(again, ids, 1), epochs_seen(first, ids, 1)):
        raise CheckFailed(f"{what} saw the rows in another order")
    check_close(history_values(again["history"], "loss", 1), history_values(first["history"], "loss", 1),
                f"the loss of {what}", rtol=1e-4, atol=1e-6)
    check_close(np.asarray(again["moved"], dtype=np.float64), np.asarray(first["moved"], dtype=np.float64),
                f"how far each weight moved in {what}", rtol=1e-4, atol=1e-7)
    other = one_step(student, probe_data, **STILL_STEP)
    if (epochs_seen(first, ids, 1) == np.arange(len(ids))).all():
        raise CheckFailed(f"one epoch in one batch of {len(ids)} rows saw them in their given order: the rows of a "
                          "batch must be shuffled too (shuffle the rows first, then .batch(batch_size))")
    if np.array_equal(epochs_seen(other, ids, 1), epochs_seen(first, ids, 1)):
        raise CheckFailed(f"a run with another seed (seed={STILL_STEP['seed']} instead of 5) saw the rows in exactly "
                          "the same order: is the seed argument used, and are the rows shuffled?")


def check_accuracy(result, hidden, whose):
    overall, _, _ = accuracies(hidden, result["logits"])
    if overall < MIN_ACCURACY:
        raise CheckFailed(f"{whose} reaches a test accuracy of {overall:.3f} with the grader's budget "
                          f"({BUDGET['epochs']} epochs of {BUDGET['train']} sentences, batch {BUDGET['batch_size']}, "
                          f"learning rate {BUDGET['learning_rate']}); at least {MIN_ACCURACY:.2f} is expected (a "
                          "correct solution reaches 0.99 or more)")


@item("train_sentiment", weight=2)
def test_trains_a_given_model(student, hidden, seed):
    """trains a given embedding + SimpleRNN model (built by the grader) to classify unseen sentences"""
    trained_fixed_model = training_run(student, hidden, seed, students_model=False)
    check_trained_without_help(hidden, trained_fixed_model, "the grader's model")
    check_accuracy(trained_fixed_model, hidden, "an embedding + SimpleRNN + dense model built by the grader, "
                   "trained by your train_sentiment,")


@item("build_sentiment_model", uses=["train_sentiment"], weight=1)
def test_trained_accuracy(student, hidden, seed):
    """your model, trained on hidden sentences (by the reference train_sentiment), classifies unseen ones"""
    trained = training_run(student, hidden, seed, students_model=True)
    check_trained_without_help(hidden, trained, "your model")
    check_accuracy(trained, hidden, "your model, trained by the reference train_sentiment,")


@item("build_sentiment_model", uses=["train_sentiment"], weight=2)
def test_beats_bag_of_words(student, hidden, seed):
    """on negated and contrasted sentences it beats a bag-of-words classifier by a wide margin"""
    trained = training_run(student, hidden, seed, students_model=True)
    check_trained_without_help(hidden, trained, "your model")
    overall, hard, bow = accuracies(hidden, trained["logits"])
    needed = max(MIN_HARD_ACCURACY, bow + MIN_MARGIN_OVER_BOW)
    if hard < needed:
        raise CheckFailed(f"on the negated and contrasted test sentences the accuracy is {hard:.3f} (bag of words: "
                          f"{bow:.3f}); at least {needed:.2f} is expected. Does the model read the words in order, "
                          "with the padding masked?")
