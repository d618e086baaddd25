"""Hidden suite of Assignment 3 (character-level language model). Trusted: every input is chosen here, every
expected value comes from solutions/char_lm.py, tf.clip_by_global_norm, finite differences or a statistical test
computed here, and every perplexity of the training check is computed here from logits the model sent for
held-out text it received one character at a time (the next character stays here until its probability came
back, so a model that looks ahead cannot profit).

Hidden data: the source of the training check, its training text and its held-out text all come from
``hidden_seed`` (never sent to the student's process), through generators keyed by a SeedSequence of it, so no
seed the student's code is given lets the public generators rebuild them. A held-out perplexity below the
source's own exact predictions on that text (minus a margin) is flagged for the instructor and scores 0.

One bug, one item: train_char_lm and generate are graded with the reference of the items they call (``uses``).

The budget and thresholds of the training check come from bench/calibrate_03_char_lm.py (results in
bench/results/03_char_lm.md)."""
import hashlib
import math
import weakref

import numpy as np
import pytest
import tensorflow as tf

from assignments.common.checklib import (CheckFailed, check_close, check_dtype, check_finite, check_gradient,
                                         check_shape, numeric_gradient_of_many, reshape_one_short, to_array,
                                         type_name, type_phrase)
from autograder import project
from autograder.sandbox.inside.channel import numpy_arg, rng_arg
from autograder.trusted.suite import Flagged, grading_settings, item
from solutions import char_lm as ref

CORPORA = project.public_module("03_char_lm", "corpora")

# The training check: the student's CharRNNLM, trained by the student's train_char_lm on text from a hidden random
# automaton (a new one per grading seed), then scored on held-out text of the same source.
SOURCE = {"num_states": 16, "alphabet": "abcdefgh ", "branching": 3}   # as corpora.default_source
BUDGET = {"train_chars": 40_000, "units": 64, "batch_size": 32, "num_steps": 16, "learning_rate": 2.0,
          "theta": 1.0, "epochs": 2, "use_random_iter": False}
# 10,240 scored characters, as 256 parallel streams of 40 after a warm-up of 16: the model answers 56 calls, one per
# column (bench/results/03_char_lm.md)
HELD_OUT = {"streams": 256, "burn_in": 16, "steps": 40}
# Calibrated on the reference over many grading seeds (bench/results/03_char_lm.md). On a log scale the held-out
# perplexity must close most of the gap between the bigram baseline (measured here on the same held-out text) and
# the floor exp(entropy rate): log(ppl / floor) <= MAX_SHARE_OF_GAP * log(bigram / floor). The reference leaves
# about a sixth of the gap open (a third on its worst seed); a model without memory leaves all of it.
MAX_SHARE_OF_GAP = 0.6
MIN_ALLOWANCE = 1.1           # never demand less than 1.1 x the floor (sources whose bigram is nearly optimal)
# On a few hidden problems the reference itself leaves more than MAX_SHARE_OF_GAP open (0.659 on one drawn by the
# validation, 2026-12-07, against 0.05-0.35 on 54 others): there a model also passes when its share is within
# REFERENCE_SLACK of what the reference reaches on the very same problem, trained here with the same seed.
REFERENCE_SLACK = 0.25
TRAIN_TIMEOUT = grading_settings().train_timeout   # seconds (c.Rnnkit.train_timeout); the reference needs 4-10 s
# The sampling check: a two-sided z test on the log-likelihood of the sampled characters under softmax(O / tau),
# with a model whose weights make softmax(O / tau) moderately spread (entropy about 1.1 nats), where the statistic
# is close to normal (the tails of peaked distributions would make rare draws dominate it).
SAMPLE_CHARS = 300
# Rare draws of unlikely characters give the statistic a long lower tail; the upper tail is short (a draw is at
# most as likely as the top choice). Bugs push z far down (too flat: -8 and below) or up (too sharp: +5 and above).
Z_RANGE = (-7.0, 4.5)         # bench: a correct sampler stayed inside in every simulated run
SAMPLING_MIN_SURPRISE = -30.0  # log P(a correct sampler writes the greedy text) on a sampling check's model
GENERATION_SPREAD = 3.0       # output weights ~ GENERATION_SPREAD * tau / sqrt(units)
# The held-out perplexity may not be below the source's own exact predictions on the same text (the floor of that
# very text) by more than FLOOR_MARGIN nats per character: a model that sees only the past does so with probability
# below exp(-FLOOR_MARGIN * 256 * 40) = exp(-31) (the likelihood ratio to the source is a martingale of mean 1);
# the reference stays above it by 0.048 nats or more over 30 grading seeds (bench/results/03_char_lm.md).
FLOOR_MARGIN = 0.003


# ---------------------------------------------------------------------------------------------------- helpers
RNG_NONE = "with rng=None, generate samples with a fresh generator, rng = np.random.default_rng()"
# A sequential stream one id too long leaves its labels one id short, and the reshape into streams fails; the public
# check says the same
STREAM_TOO_LONG = ("the labels are one id short of the streams: each stream holds (L - offset - 1) // n ids, one "
                   "fewer than (L - offset) // n whenever L - offset is a multiple of n, since the last id of a "
                   "stream needs the next id as its label")
def text_with_ties(rng, alphabet, length):
    """Text over ``alphabet`` with very unequal counts, where some counts tie (so the tie-break shows)."""
    weights = 1.0 / np.arange(1, len(alphabet) + 1) ** 0.8
    chars = list(rng.choice(list(alphabet), size=length, p=weights / weights.sum()))
    counts = {c: chars.count(c) for c in alphabet}
    # force a tie between two characters of equal count, in an order where code point and first sight disagree
    present = sorted((c for c in alphabet if counts[c] > 0), key=lambda c: -counts[c])
    if len(present) >= 3:
        a, b = sorted(present[1:3], key=ord, reverse=True)
        diff = counts[a] - counts[b]
        if diff > 0:
            chars += [b] * diff
        elif diff < 0:
            chars += [a] * (-diff)
        chars.insert(0, a)
        chars.append(b)
    return "".join(chars)


def vocab_of(result, what):
    if not (isinstance(result, list) and len(result) == 2 and isinstance(result[0], dict)
            and isinstance(result[1], list)):
        raise CheckFailed(f"{what}: build_char_vocab must return a pair (char_to_idx dict, idx_to_char list)")
    return result[0], result[1]


def compare_vocab(got, text, what):
    char_to_idx, idx_to_char = vocab_of(got, what)
    expected_c2i, expected_i2c = ref.build_char_vocab(text)
    if len(idx_to_char) != len(expected_i2c):
        raise CheckFailed(f"{what}: idx_to_char has {len(idx_to_char)} entries, the text has {len(expected_i2c)} "
                          "distinct characters")
    for index, (g, e) in enumerate(zip(idx_to_char, expected_i2c)):
        if g != e:
            raise CheckFailed(f"{what}: idx_to_char[{index}] should be {e!r} (count {text.count(e)}), got {g!r} "
                              f"(count {text.count(g) if isinstance(g, str) else '?'}); order: descending count, "
                              "ties by code point")
    for char, index in expected_c2i.items():
        if char_to_idx.get(char) != index:
            raise CheckFailed(f"{what}: char_to_idx[{char!r}] should be {index}, got {char_to_idx.get(char)!r}")
    if len(char_to_idx) != len(expected_c2i):
        raise CheckFailed(f"{what}: char_to_idx has {len(char_to_idx)} entries, expected {len(expected_c2i)}")


def shuffled_corpus(rng, length):
    """Distinct ids in random order: a row of ids tells where it was cut from, and ids are not positions."""
    return rng.permutation(length).astype(np.int64) + 3


def collect(student, name, corpus, batch_size, num_steps, seed):
    """One epoch of the student's iterator as (positions of the rows' first ids, X, Y), checked for shape and
    dtype, with Y checked to be the next ids of X."""
    try:
        collected = student.call("_lm_collect", name, numpy_arg(corpus), batch_size, num_steps, seed)
    except CheckFailed as err:
        if name == "seq_data_iter_sequential" and reshape_one_short(str(err)):
            raise CheckFailed(f"{name} failed for L={len(corpus)}, n={batch_size}, T={num_steps}: {STREAM_TOO_LONG}. "
                              f"What it raised: {err}") from None
        raise
    batches, kinds = collected["batches"], collected["kinds"]
    where = {int(v): i for i, v in enumerate(corpus)}
    starts, Xs = [], []
    for b, pair in enumerate(batches):
        if not isinstance(pair, list) or len(pair) != 2:
            raise CheckFailed(f"{name}: batch {b} is not a pair (X, Y)")
        for label, kind in zip("XY", kinds[b]):
            if kind != "tensor":
                raise CheckFailed(f"{name}: {label} of batch {b} is {type_phrase(kind)}, not a "
                                  "TensorFlow tensor: yield tf.constant(..., tf.int32) for X and Y, as the docstring "
                                  "says")
        X = check_shape(pair[0], (batch_size, num_steps), f"{name}: X of batch {b}")
        short = to_array(pair[1], f"{name}: Y of batch {b}").shape
        if len(short) == 2 and short[0] == batch_size and short[1] < num_steps:
            raise CheckFailed(f"{name}: Y of batch {b} has shape {short}, not {(batch_size, num_steps)}: a row of X "
                              "has too few tokens after it for its labels. Each subsequence needs one more token "
                              "after it, so there are (L - offset - 1) // T of them, not (L - offset) // T")
        Y = check_shape(pair[1], (batch_size, num_steps), f"{name}: Y of batch {b}")
        for label, value in (("X", pair[0]), ("Y", pair[1])):
            try:
                check_dtype(value, np.int32, f"{name}: {label} of batch {b}")
            except CheckFailed:
                raise CheckFailed(f"{name}: {label} of batch {b} is not int32: yield int32 tensors "
                                  "(tf.constant(..., tf.int32)) whatever the corpus's integer type (a NumPy array of "
                                  "ids is often int64)") from None
        row_starts = []
        for i in range(batch_size):
            s = where.get(int(X[i, 0]))
            if s is not None and s + num_steps < len(corpus) and not np.array_equal(X[i], corpus[s:s + num_steps]):
                gaps = np.unique(np.diff([where.get(int(v), -10**9) for v in X[i]]))
                if len(gaps) == 1 and gaps[0] == batch_size > 1:
                    raise CheckFailed(f"{name}: row {i} of X in batch {b} takes every {batch_size}th token of the "
                                      f"corpus, as when it is reshaped to (stream_length, {batch_size}) and "
                                      "transposed; reshape(batch_size, stream_length) gives each row one contiguous "
                                      "stream")
            if s is None or s + num_steps >= len(corpus) or not np.array_equal(X[i], corpus[s:s + num_steps]):
                raise CheckFailed(f"{name}: row {i} of X in batch {b} is not a stretch of {num_steps} consecutive "
                                  "tokens of the corpus (with one more token after it for Y)")
            if not np.array_equal(Y[i], corpus[s + 1:s + num_steps + 1]):
                if np.array_equal(Y[i], X[i]):
                    raise CheckFailed(f"{name}: Y equals X in batch {b}; Y must be X shifted by one token (the "
                                      "next token at every position)")
                raise CheckFailed(f"{name}: row {i} of Y in batch {b} is not the next token of each position of X "
                                  f"(expected corpus[s+1:s+{num_steps}+1] for X = corpus[s:s+{num_steps}])")
            row_starts.append(s)
        starts.append(row_starts)
        Xs.append(X)
    return np.array(starts, dtype=np.int64).reshape(len(batches), batch_size), Xs


def role_shapes(V, h):
    return {"W_xh": (V, h), "W_hh": (h, h), "b_h": (h,), "W_hq": (h, V), "b_q": (V,)}


def roles_of(shapes, V, h):
    """Which of the student's weights (in the model's order) is which, from their shapes (V != h)."""
    wanted = role_shapes(V, h)
    by_shape = {tuple(s): r for r, s in wanted.items()}
    roles = [by_shape.get(tuple(s)) for s in shapes]
    if sorted(map(tuple, shapes), key=str) != sorted(wanted.values(), key=str) or None in roles:
        raise CheckFailed(f"CharRNNLM({V}, {h}) should have exactly five trainable weights of shapes W_xh {(V, h)}, "
                          f"W_hh {(h, h)}, b_h {(h,)}, W_hq {(h, V)} and b_q {(V,)}; got shapes "
                          f"{[tuple(s) for s in shapes]}")
    return roles


def random_roles(rng, V, h, dtype=np.float64, scale=1.0):
    shapes = role_shapes(V, h)
    sd = {"W_xh": 0.8, "W_hh": 0.6 / math.sqrt(h), "b_h": 0.3, "W_hq": 1.2 / math.sqrt(h), "b_q": 0.3}
    return {r: (scale * sd[r] * rng.standard_normal(s)).astype(dtype) for r, s in shapes.items()}


def reference_forward(X, state, w):
    """The d2l RNN language model in NumPy (float64): logits (n, T, V) and the last state."""
    H = np.asarray(state, dtype=np.float64)
    outputs = []
    for t in range(X.shape[1]):
        H = np.tanh(w["W_xh"][X[:, t]] + H @ w["W_hh"] + w["b_h"])
        outputs.append(H @ w["W_hq"] + w["b_q"])
    return np.stack(outputs, axis=1), H


def built_model(student, V, h, dtype="float64", seed=0):
    """A student model with its weight roles: (Ref, roles in the model's order)."""
    model = student.call("_lm_build", V, h, seed, dtype)
    info = student.call("_lm_describe", model)
    return model, roles_of(info["shapes"], V, h)


def forward(student, model, X, state, weights):
    result = student.call("_lm_forward", model, X.astype(np.int32), state, weights)
    if not isinstance(result, list) or len(result) != 2:
        raise CheckFailed("CharRNNLM.call must return a pair (logits, state)")
    return result


def log_softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ---------------------------------------------------------------------------------------------------- vocabulary
@item("build_char_vocab", weight=2)
def test_vocab_order(student, rng):
    """ids by descending count, ties by code point, on English-like and accented text"""
    for alphabet in ("etaoin shrdlu", "aàâbcçeéèêë ,.\n"):
        text = text_with_ties(rng, alphabet, 400)
        compare_vocab(student.call("build_char_vocab", text), text, f"vocabulary of a {len(text)}-character text")


@item("build_char_vocab", weight=1)
def test_vocab_large_non_latin(student, rng):
    """works on a text of over a thousand distinct CJK characters"""
    pool = [chr(c) for c in rng.choice(np.arange(0x4E00, 0x9FFF), size=1500, replace=False)]
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 0.7
    text = "".join(rng.choice(pool, size=20_000, p=weights / weights.sum())) + "".join(pool)
    compare_vocab(student.call("build_char_vocab", text), text, "vocabulary of a text of 1,500 CJK characters")


@item("build_char_vocab", weight=1)
def test_vocab_case_and_punctuation(student, rng):
    """upper and lower case are different characters; punctuation, digits, spaces and line breaks are kept"""
    alphabet = "eEtTaA ,.;:!?'\"-()\n\t0123456789"
    text = text_with_ties(rng, alphabet, 600) + "".join(alphabet)
    got = student.call("build_char_vocab", text)
    char_to_idx, idx_to_char = vocab_of(got, "vocabulary of mixed-case text with punctuation")
    missing = sorted(set(text) - set(idx_to_char) if all(isinstance(c, str) for c in idx_to_char) else set(text))
    if missing:
        raise CheckFailed(f"build_char_vocab dropped or changed characters of the text: {missing} are missing from "
                          "idx_to_char. Every distinct character is its own id, exactly as it appears (no "
                          "lower-casing, no stripping of punctuation, digits, spaces or line breaks)")
    compare_vocab(got, text, f"vocabulary of a {len(text)}-character mixed-case text with punctuation")


# ---------------------------------------------------------------------------------------------------- iterators
@item("seq_data_iter_random", weight=2)
def test_random_batches(student, rng):
    """(n, T) int32 batches, Y = X shifted by one, disjoint rows, offset in [0, T), every full batch used"""
    for L, n, T in ((503, 4, 7), (1000, 3, 10)):
        corpus = shuffled_corpus(rng, L)
        seed = int(rng.integers(2**31))
        starts, _ = collect(student, "seq_data_iter_random", corpus, n, T, seed)
        if not len(starts):
            raise CheckFailed(f"seq_data_iter_random yielded no batch for a corpus of {L} tokens (n={n}, T={T})")
        flat = starts.ravel()
        offset = int(flat.min() % T)
        if len(set(flat.tolist())) != len(flat):
            raise CheckFailed("seq_data_iter_random: a subsequence appears twice in one epoch")
        if np.any(flat % T != offset):
            raise CheckFailed(f"seq_data_iter_random: rows start at positions {sorted(flat)[:6]}...; they should be "
                              f"offset + k*num_steps for one offset, so that subsequences never overlap")
        expected = (L - offset - 1) // T // n
        if len(starts) != expected:
            raise CheckFailed(f"seq_data_iter_random yielded {len(starts)} batches for L={L}, n={n}, T={T} and "
                              f"offset {offset}; (L - offset - 1) // T // n = {expected} full batches are expected")
    # One row per batch, two tokens per row: (L - offset) // T rows instead of (L - offset - 1) // T shows (a last
    # row with no label after it) whenever L - offset is a multiple of T, for half the offsets: 24 seeds miss it
    # with probability 2^-24 for an iterator that draws its offset uniformly.
    corpus = shuffled_corpus(rng, 21)
    for seed in rng.integers(2**31, size=24):
        starts, _ = collect(student, "seq_data_iter_random", corpus, 1, 2, int(seed))
        offset = int(starts.min() % 2) if len(starts) else 0
        if len(starts) != (21 - offset - 1) // 2:
            raise CheckFailed(f"seq_data_iter_random yielded {len(starts)} rows for L=21, n=1, T=2 and offset "
                              f"{offset}; each subsequence needs one more token after it for its labels, so there "
                              f"are (L - offset - 1) // T = {(21 - offset - 1) // 2}")


@item("seq_data_iter_random", weight=1)
def test_random_is_random_and_seeded(student, rng):
    """the given rng decides the offset and the order: random across seeds, repeatable with one seed"""
    corpus = shuffled_corpus(rng, 400)
    runs = [collect(student, "seq_data_iter_random", corpus, 2, 5, seed)[0] for seed in range(8)]
    again = collect(student, "seq_data_iter_random", corpus, 2, 5, 0)[0]
    if not np.array_equal(again, runs[0]):
        raise CheckFailed("seq_data_iter_random gave different batches for two generators with the same seed: use "
                          "the rng argument for every random choice")
    if len({int(r.min() % 5) for r in runs}) < 2:
        raise CheckFailed("seq_data_iter_random used the same offset for 8 different seeds: draw it with rng")
    if all(np.all(np.diff(r[:, 0]) > 0) for r in runs):
        raise CheckFailed("seq_data_iter_random yields the subsequences in corpus order: shuffle them with rng")


@item("seq_data_iter_random", weight=1)
def test_random_rows_shuffled(student, rng):
    """the whole order is random: rows of a batch are not neighbouring windows, and no row follows corpus order"""
    L, n, T = 2000, 4, 5
    for _ in range(2):
        corpus = shuffled_corpus(rng, L)
        starts, _ = collect(student, "seq_data_iter_random", corpus, n, T, int(rng.integers(2**31)))
        if len(starts) < 10:
            raise CheckFailed(f"seq_data_iter_random yielded {len(starts)} batches for L={L}, n={n}, T={T}")
        neighbours = int(np.sum(starts[:, 1:] == starts[:, :-1] + T))
        pairs = starts[:, 1:].size
        # a uniformly random order makes about pairs / (L / T) = 0.75 such pairs; 10% of pairs never happens by chance
        if neighbours > 0.1 * pairs:
            raise CheckFailed(f"seq_data_iter_random: in {neighbours} of {pairs} pairs of rows next to each other in "
                              "a batch, the lower row is the stretch of corpus right after the upper one: shuffle "
                              "all subsequences (one random order of all of them), not only the order of the batches")
        for i in range(n):
            if np.all(np.diff(starts[:, i]) > 0):
                raise CheckFailed(f"seq_data_iter_random: row {i} of the batches follows the corpus order from batch "
                                  "to batch: shuffle all subsequences, not only the rows inside each batch")


@item("seq_data_iter_sequential", weight=2)
def test_sequential_batches(student, rng):
    """(n, T) int32 batches, Y = X shifted by one, row j continues row j of the previous batch, no token twice"""
    for L, n, T in ((503, 4, 7), (1000, 3, 10)):
        corpus = shuffled_corpus(rng, L)
        starts, _ = collect(student, "seq_data_iter_sequential", corpus, n, T, int(rng.integers(2**31)))
        if not len(starts):
            raise CheckFailed(f"seq_data_iter_sequential yielded no batch for a corpus of {L} tokens (n={n}, T={T})")
        for b in range(1, len(starts)):
            if not np.array_equal(starts[b], starts[b - 1] + T):
                j = int(np.argmax(starts[b] != starts[b - 1] + T))
                raise CheckFailed(f"seq_data_iter_sequential: row {j} of batch {b} starts at corpus position "
                                  f"{starts[b][j]}, but row {j} of batch {b - 1} ended at {starts[b - 1][j] + T - 1}; "
                                  "each row must continue where the same row of the previous batch stopped")
        first = starts[0]
        offset = int(first.min())
        if offset >= T:
            raise CheckFailed(f"seq_data_iter_sequential: the first token used is at position {offset}; the offset "
                              f"should be below num_steps={T}")
        stream = (L - offset - 1) // n
        if not np.array_equal(np.sort(first), offset + stream * np.arange(n)):
            raise CheckFailed(f"seq_data_iter_sequential: the rows of the first batch start at {sorted(first)}; "
                              f"split corpus[offset:] into n={n} streams of (L - offset - 1) // n = {stream} tokens")
        if len(starts) != stream // T:
            raise CheckFailed(f"seq_data_iter_sequential yielded {len(starts)} batches; streams of {stream} tokens "
                              f"hold {stream // T} batches of num_steps={T}")
    # Streams one token too long show when L - offset is a multiple of n: always for n = 1, for one offset in n
    # otherwise; 16 seeds of each size miss an iterator that draws its offset uniformly with probability below 1e-3.
    corpus = shuffled_corpus(rng, 23)
    for n, T in ((1, 2), (2, 3)):
        for seed in rng.integers(2**31, size=16):
            starts, _ = collect(student, "seq_data_iter_sequential", corpus, n, T, int(seed))
            offset = int(starts[0].min()) if len(starts) else 0
            stream = (23 - offset - 1) // n
            if len(starts) != stream // T:
                raise CheckFailed(f"seq_data_iter_sequential yielded {len(starts)} batches for L=23, n={n}, T={T} "
                                  f"and offset {offset}; streams of (L - offset - 1) // n = {stream} tokens hold "
                                  f"{stream // T} batches")


@item("seq_data_iter_sequential", weight=1)
def test_sequential_offset_is_seeded(student, rng):
    """the given rng draws the offset: it varies across seeds and repeats with one seed"""
    corpus = shuffled_corpus(rng, 300)
    offsets = [int(collect(student, "seq_data_iter_sequential", corpus, 3, 6, seed)[0][0].min()) for seed in range(8)]
    again = int(collect(student, "seq_data_iter_sequential", corpus, 3, 6, 0)[0][0].min())
    repeated = [int(collect(student, "seq_data_iter_sequential", corpus, 3, 6, seed)[0][0].min()) for seed in range(8)]
    if again != offsets[0] or repeated != offsets:
        raise CheckFailed("seq_data_iter_sequential gave different offsets for two generators with the same seed: "
                          "draw the offset with the rng argument (rng.integers), not with np.random or random")
    if len(set(offsets)) < 2:
        raise CheckFailed("seq_data_iter_sequential used the same offset for 8 different seeds: draw it with rng")


# ---------------------------------------------------------------------------------------------------- clipping
def gradient_list(rng, dtype, scales):
    shapes = [(3, 4), (4,), (2, 5, 3)]
    return [(s * rng.standard_normal(shape) / math.sqrt(np.prod(shape))).astype(dtype)
            for s, shape in zip(scales, shapes)]


def check_clipped(got, grads, theta, what, norms=None):
    """``got`` is ``grads`` scaled by min(1, theta / norm) for the global norm, or for one of ``norms`` (other
    global norms TensorFlow's own functions legitimately give for these gradients)."""
    if not isinstance(got, list) or len(got) != len(grads):
        raise CheckFailed(f"{what}: clip_gradients must return a list of {len(grads)} tensors")
    expected, _ = tf.clip_by_global_norm([tf.constant(g) for g in grads], theta)
    for norm in norms or ():
        scale = min(1.0, theta / norm)
        if all(np.allclose(to_array(g, f"gradient {k}", np.float64), np.asarray(e, np.float64) * scale, rtol=1e-5,
                           atol=1e-7) for k, (g, e) in enumerate(zip(got, grads))):
            return
    for k, (g, e) in enumerate(zip(got, expected)):
        check_close(g, e.numpy(), f"{what}: gradient {k}", rtol=1e-5, atol=1e-7)


@item("clip_gradients", weight=2)
def test_clip_global_norm(student, rng):
    """matches tf.clip_by_global_norm when the global norm exceeds theta, though no single tensor does"""
    grads = gradient_list(rng, np.float64, (0.9, 0.8, 0.9))   # each norm about 0.9, global about 1.5
    check_clipped(student.call("clip_gradients", grads, 1.0), grads, 1.0, "global norm 1.5, theta 1")
    grads = gradient_list(rng, np.float64, (30.0, 5.0, 12.0))
    check_clipped(student.call("clip_gradients", grads, 2.5), grads, 2.5, "global norm 33, theta 2.5")


@item("clip_gradients", weight=1)
def test_clip_below_theta_and_dtype(student, rng):
    """leaves gradients below theta unchanged and keeps float32"""
    grads = gradient_list(rng, np.float64, (0.3, 0.2, 0.4))
    check_clipped(student.call("clip_gradients", grads, 1.0), grads, 1.0, "global norm 0.54, theta 1")
    grads = gradient_list(rng, np.float32, (3.0, 1.0, 2.0))
    got = student.call("clip_gradients", grads, 0.5)
    for k, g in enumerate(got if isinstance(got, list) else []):
        check_dtype(g, np.float32, f"clipped float32 gradient {k}")
    check_clipped(got, grads, 0.5, "float32 gradients")


@item("clip_gradients", weight=1)
def test_clip_indexed_slices(student, rng):
    """accepts tf.IndexedSlices (the tape's gradient of a tf.gather) as the dense gradient they stand for"""
    grads = gradient_list(rng, np.float32, (3.0, 1.0, 2.0))
    got = student.call("_lm_clip_sparse", grads, 1.0, [0])
    # The slices hold the first row twice (a quarter and three quarters of it, as _lm_clip_sparse builds them): the
    # dense tensor they stand for has the row once, while tf.linalg.global_norm and tf.clip_by_global_norm count
    # the slices' values. Both norms are TensorFlow's own answers; either is accepted.
    values_norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)
                            - (1 - 0.25 ** 2 - 0.75 ** 2) * float(np.sum(np.square(grads[0][0], dtype=np.float64))))
    check_clipped(got, grads, 1.0, "gradients of which the first is a tf.IndexedSlices (convert it with "
                  "tf.convert_to_tensor, or use tf.clip_by_global_norm)", norms=[values_norm])


# ---------------------------------------------------------------------------------------------------- perplexity
def scalar(value, what):
    array = to_array(value, what, np.float64)
    if array.size != 1:
        raise CheckFailed(f"{what}: perplexity must return one number, got an array of shape {array.shape}")
    return float(array.reshape(()))


@item("perplexity", weight=2)
def test_perplexity_values(student, rng):
    """exp(mean cross-entropy) on random logits (float64 and float32), V for uniform logits"""
    for dtype, rtol in ((np.float64, 1e-6), (np.float32, 1e-4)):
        logits = (2.0 * rng.standard_normal((4, 6, 9))).astype(dtype)
        Y = rng.integers(0, 9, (4, 6)).astype(np.int32)
        got = scalar(student.call("perplexity", logits, Y), f"perplexity of {np.dtype(dtype).name} logits")
        expected = ref.perplexity(logits, Y)
        if not np.isclose(got, expected, rtol=rtol, atol=0) and np.isclose(math.log(max(got, 1e-300)),
                                                                             Y.size * math.log(expected), rtol=1e-3):
            raise CheckFailed(f"perplexity of random {np.dtype(dtype).name} logits: expected {expected:.6g}, got "
                              f"{got:.6g} = exp of the SUM of the {Y.size} cross-entropies; take exp of their MEAN")
        check_close(got, expected, f"perplexity of random {np.dtype(dtype).name} logits",
                    rtol=rtol, atol=0)
    uniform = np.full((3, 5, 11), 0.7)
    got = scalar(student.call("perplexity", uniform, np.zeros((3, 5), np.int32)), "perplexity of uniform logits")
    check_close(got, 11.0, "perplexity of uniform logits over 11 characters (must be 11)", rtol=1e-6, atol=0)


@item("perplexity", weight=1)
def test_perplexity_extreme_logits(student, rng):
    """finite and right for logits in the thousands (log-softmax, not log of softmax)"""
    for dtype, scale in ((np.float64, 1000.0), (np.float32, 100.0)):
        logits = (scale * rng.standard_normal((4, 25, 6))).astype(dtype)
        Y = np.argmax(logits, axis=-1).astype(np.int32)
        Y[1, 3] = np.argmin(logits[1, 3])        # one hopeless prediction: its probability underflows to 0
        expected = ref.perplexity(logits, Y)
        got = scalar(student.call("perplexity", logits, Y), f"perplexity of {np.dtype(dtype).name} logits")
        if not np.isfinite(got):
            raise CheckFailed(f"perplexity is {got} for {np.dtype(dtype).name} logits of size ~{scale:g} where one "
                              f"prediction is hopeless (expected {expected:.4g}): compute log-probabilities with "
                              "log-softmax (log-sum-exp), not as the log of a softmax that underflows to 0")
        check_close(got, expected, f"perplexity of {np.dtype(dtype).name} logits of size ~{scale:g}", rtol=1e-3,
                    atol=0)


# ---------------------------------------------------------------------------------------------------- the model
@item("CharRNNLM", weight=1)
def test_model_interface(student):
    """five weights of the right shapes; begin_state gives zeros (n, units); float64 when asked"""
    for dtype in ("float32", "float64"):
        model = student.call("_lm_build", 7, 5, 0, dtype)
        info = student.call("_lm_describe", model, 3)
        roles_of(info["shapes"], 7, 5)
        if any(d != dtype for d in info["dtypes"]):
            raise CheckFailed(f"CharRNNLM(7, 5, dtype='{dtype}') should create {dtype} weights, got {info['dtypes']}:"
                              " pass **kwargs on to keras.Model.__init__ and create weights with add_weight")
        state = check_shape(info["state"], (3, 5), f"begin_state(3) of CharRNNLM(7, 5) ({dtype})")
        if np.any(state):
            raise CheckFailed("begin_state should return zeros")
        if info["state_dtype"] != dtype:
            raise CheckFailed(f"begin_state of a {dtype} model should be {dtype} (self.compute_dtype), got "
                              f"{info['state_dtype']}")


@item("CharRNNLM", weight=1)
def test_model_initial_weights(student, rng):
    """W_xh and W_hq Glorot-uniform, W_hh orthogonal, b_h and b_q zeros"""
    V, h = 40, 24
    model = student.call("_lm_build", V, h, int(rng.integers(2**31)), "float64")
    info = student.call("_lm_describe", model, 1)
    roles = roles_of(info["shapes"], V, h)
    w = dict(zip(roles, student.call("_lm_weights", model)))
    for role in ("b_h", "b_q"):
        if np.any(to_array(w[role], role, np.float64)):
            raise CheckFailed(f"the bias {role} of a new CharRNNLM should start at zeros")
    W_hh = to_array(w["W_hh"], "W_hh", np.float64)
    if not np.allclose(W_hh.T @ W_hh, np.eye(h), atol=1e-4):
        raise CheckFailed("W_hh of a new CharRNNLM should be orthogonal (W_hh^T W_hh = I): use the 'orthogonal' "
                          "initializer")
    for role, (fan_in, fan_out) in (("W_xh", (V, h)), ("W_hq", (h, V))):
        values = to_array(w[role], role, np.float64)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        spread = float(values.std()) / (limit / math.sqrt(3.0))
        if np.abs(values).max() > limit * (1 + 1e-6) or not 0.85 <= spread <= 1.15 or abs(values.mean()) > 0.1 * limit:
            raise CheckFailed(f"{role} of a new CharRNNLM({V}, {h}) should be Glorot-uniform: uniform in [-{limit:.4f}, "
                              f"{limit:.4f}] (sqrt(6 / (fan_in + fan_out))); its values range over "
                              f"[{values.min():.4f}, {values.max():.4f}] with standard deviation {values.std():.4f} "
                              f"(expected {limit / math.sqrt(3.0):.4f})")


@item("CharRNNLM", weight=3)
def test_model_values(student, rng):
    """logits and final state match H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h), O_t = H_t W_hq + b_q"""
    V, h = 6, 4
    model, roles = built_model(student, V, h)
    w = random_roles(rng, V, h)
    weights = [w[r] for r in roles]
    X = rng.integers(0, V, (3, 7))
    state = 0.5 * rng.standard_normal((3, h))
    logits, new_state = forward(student, model, X, state, weights)
    expected_logits, expected_state = reference_forward(X, state, w)
    check_dtype(logits, np.float64, "logits of a float64 model")
    check_close(logits, expected_logits, "logits (n, T, V) from a given state", rtol=1e-6, atol=1e-8)
    check_close(new_state, expected_state, "the returned state (H_T)", rtol=1e-6, atol=1e-8)
    logits, _ = forward(student, model, X, None, weights)
    check_close(logits, reference_forward(X, np.zeros((3, h)), w)[0], "logits with state=None (begin_state)",
                rtol=1e-6, atol=1e-8)


@item("CharRNNLM", weight=1)
def test_model_state_carrying(student, rng):
    """running X in two halves, passing the state on, gives the logits of running it whole"""
    V, h = 5, 8
    model, roles = built_model(student, V, h, dtype="float32")
    w = random_roles(rng, V, h, np.float32)
    weights = [w[r] for r in roles]
    X = rng.integers(0, V, (2, 9))
    whole, _ = forward(student, model, X, None, weights)
    first, state = forward(student, model, X[:, :4], None, weights)
    second, _ = forward(student, model, X[:, 4:], state, weights)
    check_close(np.concatenate([to_array(first), to_array(second)], axis=1), to_array(whole),
                "logits of X[:, :4] then X[:, 4:] (state passed on) vs X whole", rtol=1e-4, atol=1e-5)


@item("CharRNNLM", weight=2)
def test_model_gradients(student, rng):
    """GradientTape through the model matches centred finite differences (float64) for every weight and the state"""
    V, h, n, T = 4, 3, 2, 4
    model, roles = built_model(student, V, h)
    w = random_roles(rng, V, h)
    weights = [w[r] for r in roles]
    X = rng.integers(0, V, (n, T))
    state = 0.5 * rng.standard_normal((n, h))
    up_logits, up_state = rng.standard_normal((n, T, V)), rng.standard_normal((n, h))
    forward(student, model, X, state, weights)  # assigns the weights
    grads = student.call("_lm_vjp", model, X.astype(np.int32), state, up_logits, up_state)
    if not isinstance(grads, list) or len(grads) != len(weights) + 1:
        raise CheckFailed("could not take gradients through CharRNNLM")

    def objectives(cases):
        """The objective at each (weights, state) of ``cases``: the student's model runs them all in one call."""
        results = student.call("_lm_forward_many", model, X.astype(np.int32), [s for _, s in cases],
                               [ws for ws, _ in cases])
        if not isinstance(results, list) or not all(isinstance(r, list) and len(r) == 2 for r in results):
            raise CheckFailed("CharRNNLM.call must return a pair (logits, state)")
        return [np.sum(to_array(logits, "logits", np.float64) * up_logits) +
                np.sum(to_array(new_state, "state", np.float64) * up_state) for logits, new_state in results]

    for k, role in enumerate(roles):
        def f_many(points, k=k):
            return objectives([([x if j == k else v for j, v in enumerate(weights)], state) for x in points])
        expected = numeric_gradient_of_many(f_many, weights[k].copy(), np.float64(1.0))
        check_gradient(grads[k], expected, f"the gradient of the logits and state with respect to {role} (is every "
                       "step computed with TensorFlow operations, and is the gradient cut nowhere inside call?)",
                       tol=1e-6)
    expected = numeric_gradient_of_many(lambda points: objectives([(weights, s) for s in points]), state.copy(),
                                        np.float64(1.0))
    check_gradient(grads[-1], expected, "the gradient with respect to the initial state", tol=1e-6)


# ---------------------------------------------------------------------------------------------------- training
# train_char_lm is graded with the reference of every item it builds on (its own code is what is judged): the
# iterators, clip_gradients, perplexity and the model run as in solutions/char_lm.py during these tests.
TRAIN_USES = ("build_char_vocab", "seq_data_iter_random", "seq_data_iter_sequential", "clip_gradients",
              "perplexity", "CharRNNLM")
ROLES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")   # the reference model's weight order


def spy_corpus(rng, V=7, L=300):
    return rng.integers(0, V, L)


def spy_weights(rng, V=7, h=5):
    """Initial weights of the spied runs: large output weights, so that the batches' losses differ widely (a mean
    of per-batch perplexities, or the last batch's, is then far from exp of the epoch's mean cross-entropy)."""
    w = random_roles(rng, V, h, np.float32)
    w["W_hq"] = (4.0 * rng.standard_normal((h, V))).astype(np.float32)
    w["b_q"] = (1.0 * rng.standard_normal(V)).astype(np.float32)
    return [w[r] for r in ROLES]


def spy_run(student, corpus, settings, weights, init_seed=3, V=7, h=5):
    result = student.call("_lm_train_spy", V, h, numpy_arg(corpus), settings, init_seed, weights,
                          timeout=TRAIN_TIMEOUT)
    if not isinstance(result, dict) or "log" not in result:
        raise CheckFailed("train_char_lm could not be run on a small corpus")
    return result


def check_history(history, epochs, what):
    if not isinstance(history, list) or len(history) != epochs:
        raise CheckFailed(f"{what}: train_char_lm must return a list of {epochs} perplexities (one per epoch, "
                          f"epochs={epochs}), got " + (f"{history!r:.120}" if isinstance(history, (list, tuple, dict))
                                                       else type_phrase(type_name(history))))
    values = check_finite(to_array(history, "the returned perplexities", np.float64), "the returned perplexities")
    if np.any(values < 1.0 - 1e-6):
        raise CheckFailed(f"{what}: a perplexity is at least 1, got {values.tolist()}")
    return values


def expected_batches(corpus, settings):
    """The batches train_char_lm must feed, epoch by epoch: one np.random.default_rng(seed) for the whole run."""
    sampler = ref.seq_data_iter_random if settings["use_random_iter"] else ref.seq_data_iter_sequential
    rng = np.random.default_rng(settings["seed"])
    return [[(X.numpy(), Y.numpy()) for X, Y in sampler(corpus, settings["batch_size"], settings["num_steps"], rng)]
            for _ in range(settings["epochs"])]


def training_calls(run):
    """The model calls that an update followed (the weights changed before the next call or the end): the
    training steps. Other calls (an evaluation, a check of the student's own) are left aside."""
    log, steps = run["log"], []
    for k, entry in enumerate(log):
        after = log[k + 1]["weights"] if k + 1 < len(log) else run["final"]
        if not all(np.array_equal(a, b) for a, b in zip(entry["weights"], after)):
            steps.append(entry)
    return steps


def check_batches(steps, corpus, settings):
    """The training steps ran on exactly the contract's batches: the chosen iterator, batch size, number of steps,
    epochs, and one generator seeded with ``seed`` whose stream goes on across epochs."""
    epochs = expected_batches(corpus, settings)
    flat = [b for epoch in epochs for b in epoch]
    got = [to_array(s["X"], "X", np.int64) for s in steps]
    n, T = settings["batch_size"], settings["num_steps"]
    iterator = "seq_data_iter_random" if settings["use_random_iter"] else "seq_data_iter_sequential"
    where = (f"with batch_size={n}, num_steps={T}, epochs={settings['epochs']}, use_random_iter="
             f"{settings['use_random_iter']}, seed={settings['seed']}")
    shapes = {tuple(x.shape) for x in got}
    if shapes - {(n, T)}:
        raise CheckFailed(f"train_char_lm {where}: the model was trained on batches of shape {sorted(shapes)}; "
                          f"pass batch_size and num_steps on to the iterator ({n}, {T} expected)")
    if len(got) != len(flat):
        raise CheckFailed(f"train_char_lm {where}: {len(got)} update steps, expected {len(flat)} ({settings['epochs']}"
                          f" epochs of {[len(e) for e in epochs]} batches of {iterator}); one update per batch, "
                          "epochs passes over the corpus")
    for k, (x, (X, _)) in enumerate(zip(got, flat)):
        if not np.array_equal(x, X):
            epoch = next(e for e in range(len(epochs)) if k < sum(len(b) for b in epochs[:e + 1]))
            other = ref.seq_data_iter_sequential if settings["use_random_iter"] else ref.seq_data_iter_random
            alternative = [X.numpy() for X, _ in other(corpus, n, T, np.random.default_rng(settings["seed"]))]
            if len(alternative) > k and np.array_equal(x, alternative[k]):
                hint = f"it looks like the other iterator: use_random_iter={settings['use_random_iter']} asks for {iterator}"
            elif epoch > 0 and repeats_first_epoch(x, k, epochs, epoch):
                hint = ("epoch 2 repeated epoch 1's batches: create the generator once, np.random.default_rng(seed), "
                        "before the epoch loop, so that each epoch draws a new offset and order")
            else:
                hint = (f"create one generator np.random.default_rng(seed) before the epoch loop and give it to "
                        f"{iterator}(corpus, batch_size, num_steps, rng) in every epoch")
            raise CheckFailed(f"train_char_lm {where}: update step {k + 1} (epoch {epoch + 1}) ran on other batches "
                              f"than the contract's: {hint}")
    return epochs


def repeats_first_epoch(x, k, epochs, epoch):
    """Whether the batch of update step k (in ``epoch``) equals the batch at the same place of the first epoch."""
    i = k - sum(len(e) for e in epochs[:epoch])
    return i < len(epochs[0]) and np.array_equal(x, epochs[0][i][0])


def batch_nll(X, Y, state, weights):
    """Mean cross-entropy (float64, computed here) of the reference model with ``weights`` on one batch."""
    w = {r: np.asarray(v, np.float64) for r, v in zip(ROLES, weights)}
    state = np.zeros((X.shape[0], w["W_hh"].shape[0])) if state is None else state
    logits, _ = reference_forward(X, state, w)
    return float(-np.mean(log_softmax(logits)[np.arange(X.shape[0])[:, None], np.arange(X.shape[1]), Y]))


def check_updates(student, steps, batches, settings, V=7, h=5, count=3):
    """Each update is w <- w - lr * clip_gradients(grad of the mean cross-entropy, theta)."""
    model = student.call("_lm_build", V, h, 0, "float32")
    for k in range(min(count, len(steps) - 1)):
        before, after = steps[k], steps[k + 1]
        X, Y = batches[k]
        state = before["state"]
        logits, _ = forward(student, model, X, state, before["weights"])
        p = np.exp(log_softmax(to_array(logits, "logits", np.float64)))
        upstream = (p - np.eye(V)[Y]) / Y.size           # d mean cross-entropy / d logits
        zeros = np.zeros((X.shape[0], h), np.float32)
        grads = student.call("_lm_vjp", model, X.astype(np.int32), zeros if state is None else state,
                             upstream.astype(np.float32), zeros)[:-1]
        clipped = [g.numpy() for g in ref.clip_gradients([tf.constant(g, tf.float64) for g in grads],
                                                          settings["theta"])]
        for j, (w0, g, w1) in enumerate(zip(before["weights"], clipped, after["weights"])):
            expected = w0 - settings["learning_rate"] * g
            try:
                check_close(w1, expected, f"{ROLES[j]} after update {k + 1}", rtol=2e-3, atol=2e-5)
            except CheckFailed as err:
                raise CheckFailed(
                    f"{err}\nEach batch should update every weight by w <- w - learning_rate * g (learning_rate="
                    f"{settings['learning_rate']}), with g the gradients of the MEAN cross-entropy of the batch "
                    f"clipped by clip_gradients(grads, theta={settings['theta']})"
                    + ("; from the second batch on, the carried state must be cut with tf.stop_gradient when one "
                       "tape spans several batches, or the gradient reaches back into the batches before"
                       if k > 0 and not settings["use_random_iter"] else "")) from None


def check_epoch_perplexities(history, steps, epochs, what):
    """history[e] == exp(mean per-character cross-entropy over epoch e's batches, each at its update's weights)."""
    values = check_history(history, len(epochs), what)
    k = 0
    for e, batches in enumerate(epochs):
        nll, chars, last, ppls = 0.0, 0, 0.0, []
        for X, Y in batches:
            step = steps[k]
            last = batch_nll(X, Y, step["state"], step["weights"])
            nll, chars = nll + last * Y.size, chars + Y.size
            ppls.append(math.exp(last))
            k += 1
        expected = math.exp(nll / chars)
        if not abs(values[e] - expected) <= 2e-3 * expected:
            hint = ""
            if abs(values[e] - math.exp(last)) <= 2e-3 * math.exp(last):
                hint = " (that is the last batch's perplexity)"
            elif abs(values[e] - np.mean(ppls)) <= 2e-3 * np.mean(ppls):
                hint = " (that is the mean of the batches' perplexities)"
            raise CheckFailed(f"{what}: epoch {e + 1}'s perplexity should be exp(mean cross-entropy over every "
                              f"character of the epoch) = {expected:.4f}, computed from the losses of its "
                              f"{len(batches)} batches; train_char_lm returned {values[e]:.4f}{hint}")


SPY_SEQUENTIAL = {"batch_size": 4, "num_steps": 8, "learning_rate": 0.5, "theta": 1e3, "epochs": 2,
                  "use_random_iter": False}
SPY_RANDOM = {"batch_size": 3, "num_steps": 7, "learning_rate": 0.3, "theta": 0.05, "epochs": 2,
              "use_random_iter": True}


def spied(student, rng, settings):
    corpus = spy_corpus(rng)
    settings = {**settings, "seed": int(rng.integers(2**31))}
    run = spy_run(student, corpus, settings, spy_weights(rng))
    steps = training_calls(run)
    return corpus, settings, run, steps


SPIES = {"sequential": SPY_SEQUENTIAL, "random": SPY_RANDOM}
_spies = weakref.WeakKeyDictionary()   # student -> {(hidden_seed, kind): spied run}: one run of each kind per grading


def shared_spy(student, hidden_seed, kind):
    """The spied run of ``kind`` of this grading, shared by the mechanics check of its sampling and the
    reported-perplexity check (each spied run once per grading). Its corpus, weights and seed come from a SHA-256
    of ``hidden_seed`` (one-way: the run, which the student's code sees, tells nothing of the hidden seed)."""
    runs = _spies.setdefault(student, {})
    if (hidden_seed, kind) not in runs:
        digest = hashlib.sha256(f"rnnkit:03_char_lm:spy:{kind}:{int(hidden_seed)}".encode()).digest()
        runs[hidden_seed, kind] = spied(student, np.random.default_rng(int.from_bytes(digest[:16], "big")),
                                        SPIES[kind])
    return runs[hidden_seed, kind]


@item("train_char_lm", weight=1, uses=TRAIN_USES)
def test_train_sequential_mechanics(student, hidden_seed):
    """sequential sampling: the contract's batches (seeded generator, every argument honoured); the state starts
    fresh each epoch and is carried from batch to batch; SGD on the mean cross-entropy"""
    corpus, settings, run, steps = shared_spy(student, hidden_seed, "sequential")
    epochs = check_batches(steps, corpus, settings)
    check_history(run["history"], settings["epochs"], "sequential sampling")
    k = 0
    for e, batches in enumerate(epochs):
        for b in range(len(batches)):
            state = steps[k]["state"]
            if b == 0:
                if state is not None and np.any(to_array(state, "state")):
                    raise CheckFailed(f"with sequential sampling, epoch {e + 1} must start afresh from "
                                      "model.begin_state (or state=None): its first batch got the state left over "
                                      "from the epoch before")
            elif state is None or not np.allclose(to_array(state, "state"),
                                                  to_array(steps[k - 1]["new_state"], "state"), atol=1e-6):
                raise CheckFailed("with sequential sampling, each batch continues the rows of the previous one, so "
                                  "the model must start from the state the previous batch ended with (detached "
                                  "with tf.stop_gradient), not from begin_state")
            k += 1
    check_updates(student, steps, [b for e in epochs for b in e], settings)


@item("train_char_lm", weight=1, uses=TRAIN_USES)
def test_train_random_mechanics(student, hidden_seed):
    """random sampling: the contract's batches (the generator's stream goes on across epochs); a fresh state for
    every batch; the gradients are clipped with theta before the SGD step with learning_rate"""
    corpus, settings, run, steps = shared_spy(student, hidden_seed, "random")
    epochs = check_batches(steps, corpus, settings)
    check_history(run["history"], settings["epochs"], "random sampling")
    for entry in steps:
        if entry["state"] is not None and np.any(to_array(entry["state"], "state")):
            raise CheckFailed("with random sampling, neighbouring batches are unrelated, so every batch must start "
                              "from model.begin_state (or state=None), not from the previous batch's state")
    check_updates(student, steps, [b for e in epochs for b in e], settings)


@item("train_char_lm", weight=1, uses=TRAIN_USES)
def test_train_reported_perplexity(student, hidden_seed):
    """each epoch's reported perplexity is exp of the mean per-character cross-entropy over all its batches"""
    for kind in ("sequential", "random"):   # the runs of the two mechanics checks
        corpus, settings, run, steps = shared_spy(student, hidden_seed, kind)
        epochs = check_batches(steps, corpus, settings)
        check_epoch_perplexities(run["history"], steps, epochs, f"{kind} sampling")


def hidden_problem(hidden_seed):
    """The source, training text and held-out streams of a grading run, all from ``hidden_seed`` alone (never sent
    to the student's process, and not a seed of the public generators: the source and both texts come from
    generators keyed by a SeedSequence of it). The held-out streams never leave this process except one column
    at a time."""
    keys = np.random.SeedSequence([int(hidden_seed), 0x3C4A7]).spawn(3)
    source = CORPORA.random_automaton(seed=np.random.default_rng(keys[0]), **SOURCE)
    train = source.sample_ids(BUDGET["train_chars"], seed=np.random.default_rng(keys[1]))
    held_out = source.sample_ids(HELD_OUT["burn_in"] + HELD_OUT["steps"] + 1, seed=np.random.default_rng(keys[2]),
                                 num_streams=HELD_OUT["streams"])
    V = len(source.alphabet)
    counts = np.ones((V, V)) * 0.1   # add-0.1 bigram model of the training text: the baseline to beat
    np.add.at(counts, (train[:-1], train[1:]), 1)
    bigram = counts / counts.sum(axis=1, keepdims=True)
    return {"source": source, "train": train, "held_out": held_out, "V": V, "bigram": bigram,
            "floor": source.perplexity_floor(), "unigram": source.unigram_perplexity(),
            "bayes": bayes_perplexity(source, held_out, HELD_OUT["burn_in"])}


def bayes_perplexity(source, ids, burn):
    """Perplexity on the scored positions of ``ids`` (streams, length) of the best possible predictor: the source
    itself, its state tracked by exact filtering from the stationary distribution at each stream's start. The
    floor of this very text: a predictor that sees only the past beats it by delta nats per character with
    probability at most exp(-delta * scored characters) (the likelihood ratio is a martingale of mean 1)."""
    S, Q = ids.shape[0], source.num_states
    belief = np.tile(source.stationary(), (S, 1))
    nll = []
    for t in range(ids.shape[1]):
        a = ids[:, t]
        joint = belief * source.emission[:, a].T                       # (S, Q)
        p = joint.sum(axis=1)
        if t > burn:
            nll.append(-np.log(p))
        belief = np.zeros((S, Q))
        np.add.at(belief, (np.repeat(np.arange(S), Q), source.transition[np.tile(np.arange(Q), S), np.repeat(a, Q)]),
                  (joint / p[:, None]).ravel())
    return float(np.exp(np.mean(nll)))


def held_out_perplexity(call, model, problem):
    """Feeds the held-out streams to the model one column at a time and scores each prediction here."""
    ids, burn = problem["held_out"], HELD_OUT["burn_in"]
    state, nll, bigram_nll = None, [], []
    for t in range(ids.shape[1] - 1):
        result = call("_lm_step", model, ids[:, t].astype(np.int32), state)
        if not isinstance(result, list) or len(result) != 2:
            raise CheckFailed("the trained model did not return (logits, state) for one time step")
        logits = check_shape(result[0], (ids.shape[0], problem["V"]),
                             f"logits of one time step for {ids.shape[0]} streams")
        check_finite(logits, "the trained model's logits")
        state = result[1]
        if t >= burn:
            nll.append(-log_softmax(logits.astype(np.float64))[np.arange(ids.shape[0]), ids[:, t + 1]])
            bigram_nll.append(-np.log(problem["bigram"][ids[:, t], ids[:, t + 1]]))
    return float(np.exp(np.mean(nll))), float(np.exp(np.mean(bigram_nll)))


def train_hidden(call, problem, seed):
    """Builds the model (seeded with the public ``seed``), trains it with the student's train_char_lm on the hidden
    training text under the budget, and measures it on the held-out text. ``call`` is student.call, or a stand-in
    in the calibration."""
    model = call("_lm_build", problem["V"], BUDGET["units"], int(seed) % 2**31, "float32")
    settings = {k: BUDGET[k] for k in ("batch_size", "num_steps", "learning_rate", "theta", "epochs",
                                       "use_random_iter")}
    history = call("train_char_lm", model, numpy_arg(problem["train"]), **settings, seed=int(seed) % 2**31,
                   timeout=TRAIN_TIMEOUT)
    perplexity, bigram = held_out_perplexity(call, model, problem)
    return {"history": history, "perplexity": perplexity, "bigram": bigram}


def below_floor(problem, result):
    """The instructor's message if the held-out perplexity is below what any model that sees only the past can
    reach (the held-out text was known in advance, or the evaluation was subverted), else None."""
    ppl, bayes = result["perplexity"], problem["bayes"]
    if ppl < bayes * math.exp(-FLOOR_MARGIN):
        return (f"FLAGGED FOR THE INSTRUCTOR: the held-out perplexity is {ppl:.4f}, below {bayes:.4f}, the best any "
                f"model can reach on this text from its past alone (the source's own exact predictions; entropy-rate "
                f"floor {problem['floor']:.4f}). Beating it by more than {FLOOR_MARGIN} nats per character happens "
                f"by chance with probability below exp(-{FLOOR_MARGIN * HELD_OUT['streams'] * HELD_OUT['steps']:.0f})"
                ": the model had the held-out text some other way. This check scores 0; please review the "
                "submission.")
    return None


def verdict(problem, result):
    """None if the trained model is good enough, else the reason (for the student, or flagged for the
    instructor)."""
    flagged = below_floor(problem, result)
    if flagged:
        return flagged
    ppl, floor, bigram = result["perplexity"], problem["floor"], result["bigram"]
    limit = max(floor * (bigram / floor) ** MAX_SHARE_OF_GAP, MIN_ALLOWANCE * floor)
    if not ppl <= limit:
        return (f"after training with the grader's budget ({BUDGET['epochs']} epochs over {BUDGET['train_chars']:,} "
                f"characters, batch {BUDGET['batch_size']} x {BUDGET['num_steps']} steps, learning rate "
                f"{BUDGET['learning_rate']}, theta {BUDGET['theta']}, {BUDGET['units']} units, sequential "
                f"sampling), the perplexity on held-out text is {ppl:.3f}; at most {limit:.3f} is expected (the best "
                f"possible is {floor:.3f}, a bigram model reaches {bigram:.3f}, predicting character frequencies "
                f"{problem['unigram']:.3f})")
    return None


@pytest.fixture(scope="module")
def hidden(hidden_seed):
    return hidden_problem(hidden_seed)


@pytest.fixture(scope="module")
def trained(student, hidden, seed):
    # a module fixture is set up before the test's own item marker applies: say here what the calls are for
    student.current_item, student.uses = "train_char_lm", TRAIN_USES
    return train_hidden(student.call, hidden, seed)


def share_of_gap(problem, result):
    """log(ppl / floor) / log(bigram / floor): how much of the gap between the bigram baseline and the floor stays
    open."""
    floor = problem["floor"]
    return math.log(result["perplexity"] / floor) / math.log(result["bigram"] / floor)


def near_reference(problem, result, seed):
    """True when the reference, trained on the trusted side on the same problem with the same seed and budget,
    leaves at least ``share_of_gap(result) - REFERENCE_SLACK`` of the gap open: the problem is hard, not the loop
    wrong."""
    from autograder.trusted.reference import caller, harness_namespace
    reference = train_hidden(caller(harness_namespace("03_char_lm", ref)), problem, seed)
    return share_of_gap(problem, result) <= share_of_gap(problem, reference) + REFERENCE_SLACK


@item("train_char_lm", weight=3, uses=TRAIN_USES)
def test_trained_perplexity(trained, hidden, seed):
    """your train_char_lm trains the model on hidden text until it nears the best possible perplexity on new text"""
    flagged = below_floor(hidden, trained)
    if flagged:
        raise Flagged(flagged)
    reason = verdict(hidden, trained)
    if reason and not near_reference(hidden, trained, seed):
        raise CheckFailed(reason)


@item("train_char_lm", weight=1, uses=TRAIN_USES)
def test_trained_history(trained, hidden):
    """returns one training perplexity per epoch; they go down and end near the held-out perplexity"""
    values = check_history(trained["history"], BUDGET["epochs"], "the training run")
    if not values[-1] < values[0]:
        raise CheckFailed(f"the training perplexity did not go down: {np.round(values, 3).tolist()}")
    ratio = values[-1] / trained["perplexity"]
    if not 0.7 <= ratio <= 1.5:
        raise CheckFailed(f"the last epoch's training perplexity is {values[-1]:.3f}, but the trained model's "
                          f"perplexity on held-out text is {trained['perplexity']:.3f}: report exp(mean "
                          "cross-entropy over all characters of the epoch)")


# ---------------------------------------------------------------------------------------------------- generation
VOCAB = list("ab cdéfg.")


def generation_roles(seed, temperature, memory=0.5, V=None, h=16):
    """Weights by role for the generation checks: logits whose spread grows with the temperature, so that
    softmax(O / tau) is neither flat nor peaked, and a recurrent matrix of norm about ``memory`` (larger: the
    prediction depends more on characters further back)."""
    V = V or len(VOCAB)
    rng = np.random.default_rng(int(seed))
    spread = GENERATION_SPREAD * temperature
    roles = {"W_xh": rng.standard_normal((V, h)), "W_hh": memory / math.sqrt(h) * rng.standard_normal((h, h)),
             "b_h": 0.3 * rng.standard_normal(h), "W_hq": spread / math.sqrt(h) * rng.standard_normal((h, V)),
             "b_q": 0.3 * spread * rng.standard_normal(V)}
    return {r: w.astype(np.float32) for r, w in roles.items()}


def as_float64(roles):
    """The float32 weights a model is given, exactly, in float64: what the trusted side computes the model with."""
    return {r: v.astype(np.float64) for r, v in roles.items()}


def generation_model(student, seed, temperature=1.0, memory=0.5, h=16):
    """A model of the CharRNNLM class the generation checks use (the reference's, through ``uses``) with the weights
    of ``generation_roles``, and those weights by role in float64: (Ref, weights)."""
    model, roles = built_model(student, len(VOCAB), h, dtype="float32", seed=int(seed) % 2**31)
    w = generation_roles(seed, temperature, memory, h=h)
    student.call("_lm_set_weights", model, [w[r] for r in roles])
    return model, as_float64(w)


def generated_ids(text, prefix, num_chars, what):
    if not isinstance(text, str):
        raise CheckFailed(f"{what}: generate must return a str, got {type_phrase(type_name(text))}")
    if not text.startswith(prefix) or len(text) != len(prefix) + num_chars:
        raise CheckFailed(f"{what}: generate must return the prefix followed by {num_chars} new characters "
                          f"({len(prefix) + num_chars} in all); got {text!r:.80} ({len(text)} characters)")
    unknown = sorted(set(text) - set(VOCAB))
    if unknown:
        raise CheckFailed(f"{what}: generated characters outside the vocabulary: {unknown}")
    return np.array([VOCAB.index(c) for c in text], dtype=np.int32)


def replay(w, ids):
    """The model's logits after each id of ``ids[:-1]`` from the initial state, (len(ids) - 1, V): computed here in
    float64 from the weights the model was given (the generation checks run the reference CharRNNLM, so this is
    what it computes, up to float32 rounding, far below the checks' tolerances)."""
    return reference_forward(np.asarray(ids[:-1])[None, :], np.zeros((1, w["W_hh"].shape[0])), w)[0][0]


def informative_prefix(w, rng, length=8, tries=30, horizon=12):
    """A prefix whose greedy continuation shows how generate used the state (``None`` if ``tries`` draws found none):

    * the most likely first new character differs from the prediction after the last character alone and after the
      prefix with its last character repeated, so the output shows whether the state was warmed up on exactly the
      prefix;
    * within ``horizon`` steps, the greedy continuation differs from the one obtained when every step restarts from
      the state after the prefix, so the output shows whether each chosen character's new state was kept.

    Each difference clears 1e-3 on both sides, so that float rounding cannot hide it."""
    def after(ids):
        return replay(w, np.array(ids + [0], dtype=np.int32))[-1]

    def separates(right, wrong):
        good, bad = int(np.argmax(right)), int(np.argmax(wrong))
        return good != bad and right[good] - right[bad] > 1e-3 and wrong[bad] - wrong[good] > 1e-3

    for _ in range(tries):
        prefix = "".join(rng.choice(VOCAB, size=length))
        ids = [VOCAB.index(c) for c in prefix]
        full = after(ids)
        # the first new character comes from the last prefix step's logits: not from a restart on the last character,
        # not from the last character fed twice, not from the first step's logits
        if not (separates(full, after(ids[-1:])) and separates(full, after(ids + ids[-1:]))
                and separates(full, after(ids[:1]))):
            continue
        restarted, text = {}, list(ids)
        for _ in range(horizon):
            right = after(text)
            if text[-1] not in restarted:
                restarted[text[-1]] = after(ids[:-1] + text[-1:])
            if int(np.argmax(right)) != int(np.argmax(restarted[text[-1]])):
                if separates(right, restarted[text[-1]]):
                    return prefix
                break
            text.append(int(np.argmax(right)))
    return None


def greedy_case(student, rng, models=5):
    """A generation model and an informative prefix for it (a new model when one has none; a random prefix if, with
    vanishing probability, none of ``models`` has one)."""
    for _ in range(models):
        seed = int(rng.integers(2**31))
        prefix = informative_prefix(as_float64(generation_roles(seed, 1.0, 1.5)), rng)
        if prefix:
            break
    model, w = generation_model(student, seed, memory=1.5)
    return model, w, prefix or "".join(rng.choice(VOCAB, size=8))


@item("generate", weight=2, uses=("CharRNNLM",))
def test_greedy_generation(student, rng):
    """temperature 0 continues the prefix with the model's most likely character at every step"""
    model, w, prefix = greedy_case(student, rng)
    c2i = {c: i for i, c in enumerate(VOCAB)}
    for prefix, num_chars in ((prefix, 60), (VOCAB[int(rng.integers(len(VOCAB)))], 40)):
        what = f"generate(model, {prefix!r}, {num_chars}, temperature=0)"
        text = student.call("generate", model, prefix, num_chars, c2i, list(VOCAB), temperature=0.0)
        ids = generated_ids(text, prefix, num_chars, what)
        logits = replay(w, ids)
        for i in range(len(prefix) - 1, len(ids) - 1):
            chosen, best = int(ids[i + 1]), int(np.argmax(logits[i]))
            if logits[i, chosen] < logits[i, best] - 1e-4:
                raise CheckFailed(
                    f"{what}: after {text[:i + 1]!r} the model's most likely next character is {VOCAB[best]!r}, but "
                    f"generate produced {VOCAB[chosen]!r}. Warm the state up on the whole prefix (from "
                    f"begin_state(1)), then feed each chosen character back in.")


def sampling_statistic(logits, ids, start, temperature):
    """z of the log-likelihood of ids[start+1:] under softmax(logits / temperature) at each step: the sum of
    log p_t(id) + H(p_t) over the steps, divided by its standard deviation under a correct sampler."""
    logp = log_softmax(logits[start:] / temperature)
    p = np.exp(logp)
    chosen = ids[start + 1:]
    entropy = -np.sum(p * logp, axis=1)
    variance = np.sum(p * logp ** 2, axis=1) - entropy ** 2
    return float(np.sum(logp[np.arange(len(chosen)), chosen] + entropy) / math.sqrt(max(np.sum(variance), 1e-12)))


def greedy_log_probability(w, prefix_ids, num_chars, temperature):
    """log P(a correct sampler writes exactly the greedy continuation) under softmax(O / temperature), in NumPy
    from the weights by role: the most likely character's log-probability, summed along the greedy path."""
    logits, H = reference_forward(np.array([prefix_ids[:-1]]), np.zeros((1, w["W_hh"].shape[0])), w)
    total, last = 0.0, prefix_ids[-1]
    for _ in range(num_chars):
        logits, H = reference_forward(np.array([[last]]), H, w)
        logp = log_softmax(logits[0, -1] / temperature)
        last = int(np.argmax(logp))
        total += float(logp[last])
    return total


def sampling_model(student, rng, prefix_ids, temperature, models=10):
    """A generation model on which sampling is far from greedy: a correct sampler writes the greedy continuation
    of the prefix with probability below exp(SAMPLING_MIN_SURPRISE). Some weight draws fall into a character that
    predicts itself almost surely; there, sampling, argmax and an unseeded generator would all write the same text."""
    for _ in range(models):
        seed = int(rng.integers(2**31))
        w = as_float64(generation_roles(seed, temperature))
        if greedy_log_probability(w, prefix_ids, SAMPLE_CHARS, temperature) <= SAMPLING_MIN_SURPRISE:
            break
    return generation_model(student, seed, temperature)


@item("generate", weight=2, uses=("CharRNNLM",))
def test_sampling_follows_temperature(student, rng):
    """with temperature tau, characters follow softmax(O / tau) (a statistical test), drawn with the given rng"""
    c2i = {c: i for i, c in enumerate(VOCAB)}
    prefix = "".join(rng.choice(VOCAB, size=5))
    for temperature in (0.5, 1.6):
        model, w = sampling_model(student, rng, [c2i[c] for c in prefix], temperature)
        sample_seed = int(rng.integers(2**31))
        what = f"generate(model, {prefix!r}, {SAMPLE_CHARS}, temperature={temperature}, rng)"
        text = student.call("generate", model, prefix, SAMPLE_CHARS, c2i, list(VOCAB), temperature=temperature,
                            rng=rng_arg(sample_seed))
        ids = generated_ids(text, prefix, SAMPLE_CHARS, what)
        logits = replay(w, ids)
        start = len(prefix) - 1
        if np.array_equal(ids[start + 1:], np.argmax(logits[start:], axis=1)):
            raise CheckFailed(f"{what}: every character is the model's most likely one, as with temperature 0; with "
                              "a temperature above 0, draw each character from softmax(logits / temperature) with rng")
        z = sampling_statistic(logits, ids, start, temperature)
        if not Z_RANGE[0] <= z <= Z_RANGE[1]:
            raise CheckFailed(
                f"{what}: the sampled characters do not follow softmax(logits / {temperature}): they are "
                f"{'less' if z < 0 else 'more'} likely under it than chance allows (z = {z:.1f}; a correct sampler "
                f"stays within {Z_RANGE[0]} <= z <= {Z_RANGE[1]} except with a tiny probability). "
                f"{'They look drawn from a flatter distribution' if z < 0 else 'They look drawn from a sharper distribution'}"
                ": divide the logits by the temperature, then sample from the softmax with rng.")
    # rng=None (or left out) promises a fresh unseeded generator
    what_free = f"generate(model, {prefix!r}, 20, temperature=1.0) without an rng"
    try:
        free = student.call("generate", model, prefix, 20, c2i, list(VOCAB), temperature=1.0)
    except CheckFailed as err:
        raise CheckFailed(f"{what_free} failed: {RNG_NONE}. What it raised: {err}") from None
    generated_ids(free, prefix, 20, what_free)
    # the last text is 300 draws from a model screened to be far from greedy: a generate that ignores rng writes
    # it again only by rare chance (0 of 120 seeds for gen_rng_ignored, bench/results/miss_rates.md)
    again = student.call("generate", model, prefix, SAMPLE_CHARS, c2i, list(VOCAB), temperature=1.6,
                         rng=rng_arg(sample_seed))
    if again != text:
        raise CheckFailed(f"generate(model, {prefix!r}, {SAMPLE_CHARS}, temperature=1.6, rng): two calls with "
                          "generators of the same seed gave different text: draw every sample with the rng argument")
