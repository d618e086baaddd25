"""Calibrates the hidden checks of Assignment 3 and measures the baselines; writes bench/results/03_char_lm.md.

    .venv/bin/python bench/calibrate_03_char_lm.py [--seeds 20] [--variant-seeds 4] [--sampling-seeds 10000]
                                                   [--generate-seeds 60] [--timemachine PATH]

1. The training check: the reference (solutions/char_lm.py) through the grader's own harness, budget and held-out
   evaluation (``suite.hidden_problem``, ``suite.train_hidden``) on many grading seeds: the held-out perplexity
   against the entropy-rate floor, the bigram baseline and the unigram perplexity; the time.
2. Other solutions on fewer seeds: correct ones (a Dense output layer, Keras's SGD optimizer, a tf.function
   training step) must pass, broken ones (d2l's N(0, 0.01) initialisation, which only the initial-weights check
   sees, a model that ignores the state it is given, labels not shifted, the gradient cut at every step, the state
   reset every batch) show what the check rejects.
3. The generation checks: the null distribution of the sampling test's statistic, simulated with a NumPy copy of
   the model with the suite's weights over many seeds (false-failure rate), its power against temperature bugs,
   and the suite's own two generate tests run over many grading seeds on the reference (must pass) and on every
   catalogued bug of ``generate`` (must fail).
4. The Time Machine (measurement only, 90/10 split, letters only): unigram/bigram/trigram baselines and the
   reference RNN's validation perplexity and training time.
5. The generated default corpus of the notebook: the reference's perplexity against the floor.

Heavy: one training run at a time, 2 threads (the grader's setting). Timings on a shared machine are pessimistic.
"""
import argparse
import math
import os
import statistics
import time
import zlib

import calibration  # noqa: E402  (beside this script; puts the repository on sys.path)
from calibration import caller, summary  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

suite = __import__("importlib").import_module("autograder.hidden.03_char_lm.test_03_char_lm")  # noqa: E402
from solutions import char_lm as ref  # noqa: E402

CORPORA = suite.CORPORA
TIME_MACHINE = "/work/shared/data/timemachine.txt"


# ---------------------------------------------------------------------------------------------------- variants
class DenseOutputLM(ref.CharRNNLM):
    """Correct: the output layer is a keras.layers.Dense instead of two add_weight variables."""

    def __init__(self, vocab_size, units, **kwargs):
        keras.Model.__init__(self, **kwargs)
        self.vocab_size, self.units = vocab_size, units
        self.W_xh = self.add_weight(shape=(vocab_size, units), initializer="glorot_uniform", name="W_xh")
        self.W_hh = self.add_weight(shape=(units, units), initializer="orthogonal", name="W_hh")
        self.b_h = self.add_weight(shape=(units,), initializer="zeros", name="b_h")
        self.head = keras.layers.Dense(vocab_size, dtype=kwargs.get("dtype"))

    def call(self, X, state=None):
        inputs = tf.one_hot(X, self.vocab_size, dtype=self.compute_dtype)
        H = self.begin_state(tf.shape(X)[0]) if state is None else tf.cast(state, self.compute_dtype)
        outputs = []
        for t in range(inputs.shape[1]):
            H = tf.tanh(inputs[:, t] @ self.W_xh + H @ self.W_hh + self.b_h)
            outputs.append(self.head(H))
        return tf.stack(outputs, axis=1), H


class SmallInitLM(ref.CharRNNLM):
    """Correct but against the docstring's advice: every weight drawn from N(0, 0.01) as in d2l's scratch model."""

    def __init__(self, vocab_size, units, **kwargs):
        keras.Model.__init__(self, **kwargs)
        self.vocab_size, self.units = vocab_size, units
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.W_xh = self.add_weight(shape=(vocab_size, units), initializer=init, name="W_xh")
        self.W_hh = self.add_weight(shape=(units, units), initializer=init, name="W_hh")
        self.b_h = self.add_weight(shape=(units,), initializer="zeros", name="b_h")
        self.W_hq = self.add_weight(shape=(units, vocab_size), initializer=init, name="W_hq")
        self.b_q = self.add_weight(shape=(vocab_size,), initializer="zeros", name="b_q")


class StateIgnoredLM(ref.CharRNNLM):
    """Broken: starts every call from zeros."""

    def call(self, X, state=None):
        return super().call(X, None)


class GradientCutLM(ref.CharRNNLM):
    """Broken: tf.stop_gradient on the state at every step (backpropagation one step deep)."""

    def call(self, X, state=None):
        inputs = tf.one_hot(X, self.vocab_size, dtype=self.compute_dtype)
        H = self.begin_state(tf.shape(X)[0]) if state is None else tf.cast(state, self.compute_dtype)
        outputs = []
        for t in range(inputs.shape[1]):
            H = tf.tanh(inputs[:, t] @ self.W_xh + tf.stop_gradient(H) @ self.W_hh + self.b_h)
            outputs.append(H)
        return tf.stack(outputs, axis=1) @ self.W_hq + self.b_q, H


def keras_sgd_train(model, corpus, *, batch_size, num_steps, learning_rate, theta, epochs, use_random_iter, seed):
    """Correct: keras.optimizers.SGD with global_clipnorm and a tf.function step."""
    optimizer = keras.optimizers.SGD(learning_rate, global_clipnorm=theta)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(reduce_retracing=True)
    def step(X, Y, state):
        with tf.GradientTape() as tape:
            logits, state = model(X, state)
            loss = loss_fn(Y, logits)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss, state

    rng = np.random.default_rng(seed)
    sampler = ref.seq_data_iter_random if use_random_iter else ref.seq_data_iter_sequential
    history = []
    for _ in range(epochs):
        losses, state = [], model.begin_state(batch_size)
        for X, Y in sampler(corpus, batch_size, num_steps, rng):
            if use_random_iter:
                state = model.begin_state(batch_size)
            loss, state = step(X, Y, tf.stop_gradient(state))
            losses.append(float(loss))
        history.append(float(np.exp(np.mean(losses))))
    return history


def reset_every_batch_train(model, corpus, **kwargs):
    """Broken: sequential sampling, but a fresh state every batch."""
    return _train_with_sampler(model, corpus, ref.seq_data_iter_sequential, reset=True, **kwargs)


def _train_with_sampler(model, corpus, sampler, reset, *, batch_size, num_steps, learning_rate, theta, epochs,
                        use_random_iter, seed):
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        state, total, count = None, 0.0, 0
        for X, Y in sampler(corpus, batch_size, num_steps, rng):
            state = model.begin_state(batch_size) if (reset or state is None) else tf.stop_gradient(state)
            with tf.GradientTape() as tape:
                logits, state = model(X, state)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))
            grads = ref.clip_gradients(tape.gradient(loss, model.trainable_variables), theta)
            for w, g in zip(model.trainable_variables, grads):
                w.assign_sub(learning_rate * g)
            total, count = total + float(loss) * int(tf.size(Y)), count + int(tf.size(Y))
        history.append(float(np.exp(total / count)))
    return history


def unshifted_train(model, corpus, **kwargs):
    """Broken: an iterator whose labels are the inputs themselves."""
    def sampler(corpus, batch_size, num_steps, rng):
        for X, _ in ref.seq_data_iter_sequential(corpus, batch_size, num_steps, rng):
            yield X, X
    return _train_with_sampler(model, corpus, sampler, reset=False, **kwargs)


# name -> (correct?, CharRNNLM replacement or None, train_char_lm replacement or None)
VARIANTS = {
    "Dense output layer": (True, DenseOutputLM, None),
    "keras SGD(global_clipnorm) in a tf.function": (True, None, keras_sgd_train),
    # trains as well as the reference, but the contract asks for Glorot-uniform weights (test_model_initial_weights)
    "N(0, 0.01) initialisation (d2l scratch)": (False, SmallInitLM, None),
    "model ignores the state it is given": (False, StateIgnoredLM, None),
    "gradient cut at every step": (False, GradientCutLM, None),
    "state reset every batch (sequential)": (False, None, reset_every_batch_train),
    "labels not shifted": (False, None, unshifted_train),
}



def harness_namespace(model_class=None, train=None):
    replacements = {"CharRNNLM": model_class, "train_char_lm": train}
    return calibration.harness_namespace("03_char_lm", ref, **{k: v for k, v in replacements.items() if v})

def hidden_seed_of(seed):
    """A stand-in for the course-secret hidden seed of a grading run (independent of ``seed``)."""
    return int(np.random.default_rng([int(seed), 0x51DE]).integers(2**32))


def grading_run(seed, namespace):
    problem = suite.hidden_problem(hidden_seed_of(seed))
    started = time.time()
    result = suite.train_hidden(caller(namespace), problem, seed)
    seconds = time.time() - started
    return {"seed": seed, "perplexity": result["perplexity"], "bigram": result["bigram"], "floor": problem["floor"],
            "bayes": problem["bayes"], "below_bayes": math.log(result["perplexity"] / problem["bayes"]),
            "unigram": problem["unigram"], "ratio": result["perplexity"] / problem["floor"], "seconds": seconds,
            "last_train": result["history"][-1], "passed": suite.verdict(problem, result) is None,
            "limit": max(problem["floor"] * (result["bigram"] / problem["floor"]) ** suite.MAX_SHARE_OF_GAP,
                         suite.MIN_ALLOWANCE * problem["floor"])}


# ---------------------------------------------------------------------------------------------------- generation
def simulate_sampling(w, prefix_ids, num_chars, temperature, rng, mode="correct"):
    """Generation with a NumPy copy of the model (weights by role); ``mode`` says how the sampler treats tau."""
    H = np.zeros(w["W_hh"].shape[0])
    ids, rows = list(prefix_ids), []
    for i in range(len(prefix_ids) - 1 + num_chars):
        H = np.tanh(w["W_xh"][ids[i]] + H @ w["W_hh"] + w["b_h"])
        logits = H @ w["W_hq"] + w["b_q"]
        rows.append(logits)
        if i >= len(prefix_ids) - 1:
            z = {"correct": logits / temperature, "ignored": logits, "multiplied": logits * temperature,
                 "argmax": logits * 1e6}[mode]
            p = np.exp(z - z.max())
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return np.array(rows), np.array(ids)


def sampling_simulation(seeds):
    """z of the sampling test for a correct sampler (seeds runs per temperature) and for broken ones."""
    V, prefix_len, temperatures = len(suite.VOCAB), 5, (0.5, 1.6)
    null = {t: [] for t in temperatures}
    power = {(mode, t): [] for mode in ("ignored", "multiplied", "argmax") for t in temperatures}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        prefix = rng.integers(0, V, prefix_len)
        for t in temperatures:
            w = suite.as_float64(suite.generation_roles(seed, t))
            logits, ids = simulate_sampling(w, prefix, suite.SAMPLE_CHARS, t, rng)
            null[t].append(suite.sampling_statistic(logits, ids, prefix_len - 1, t))
            if seed < seeds // 20:
                for mode in ("ignored", "multiplied", "argmax"):
                    logits, ids = simulate_sampling(w, prefix, suite.SAMPLE_CHARS, t, rng, mode)
                    power[(mode, t)].append(suite.sampling_statistic(logits, ids, prefix_len - 1, t))
    return null, power


def generate_tests(seeds):
    """Passes of the suite's two generate tests over many grading seeds: the reference, then each catalogued bug
    of ``generate`` (which must fail)."""
    from assignments.common.checklib import CheckFailed
    from autograder.simulation import catalogue
    tests = (suite.test_greedy_generation, suite.test_sampling_follows_temperature)
    rows = []
    variants = [("reference", harness_namespace(), seeds)]
    variants += [(bug.name, calibration.changed_namespace("03_char_lm", ref, bug), max(seeds // 2, 10))
                 for bug in catalogue.catalogue("03_char_lm") if bug.cell == "generate"]
    for name, namespace, count in variants:
        student = calibration.Student("03_char_lm", namespace, {})
        passed = 0
        for seed in range(count):
            try:
                for test in tests:
                    nodeid = f"test_03_char_lm.py::{test.__name__}"   # the plugin's rng for that test
                    test(student, np.random.default_rng([seed, zlib.crc32(nodeid.encode())]))
                passed += 1
            except CheckFailed:
                pass
        rows.append((name, count, passed))
        print("generate tests", name, passed, "of", count, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------------- real text
def stream_perplexity(model, ids, streams=16, chunk=64):
    """Perplexity of a causal model on ``ids`` read as ``streams`` contiguous parallel streams, state carried."""
    length = (len(ids) - 1) // streams
    X = np.asarray(ids[:streams * length]).reshape(streams, length)
    Y = np.asarray(ids[1:streams * length + 1]).reshape(streams, length)
    state, total = None, 0.0
    for t in range(0, length, chunk):
        logits, state = model(tf.constant(X[:, t:t + chunk], tf.int32), state)
        total += float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(Y[:, t:t + chunk], logits)))
    return math.exp(total / Y.size)


def time_machine_run(path, settings, seed=0):
    text = CORPORA.letters_only(CORPORA.load_text(path))
    char_to_idx, idx_to_char = ref.build_char_vocab(text)
    ids = np.array([char_to_idx[c] for c in text], dtype=np.int32)
    cut = int(0.9 * len(ids))
    train, valid = ids[:cut], ids[cut:]
    V = len(idx_to_char)
    baselines = {n: CORPORA.ngram_perplexity(train, valid, n, V) for n in (1, 2, 3, 4)}
    keras.utils.set_random_seed(seed)
    model = ref.CharRNNLM(V, settings["units"])
    started = time.time()
    history = ref.train_char_lm(model, train, **{k: v for k, v in settings.items() if k != "units"}, seed=seed)
    seconds = time.time() - started
    sample = ref.generate(model, "the time traveller ", 80, char_to_idx, idx_to_char)
    return {"chars": len(ids), "train": len(train), "valid": len(valid), "V": V, "baselines": baselines,
            "perplexity": stream_perplexity(model, valid), "seconds": seconds, "history": history, "sample": sample}


def generated_corpus_run(settings, chars=40_000, seed=0):
    """The notebook's generated corpus (corpora.default_source) with the notebook's settings."""
    source = CORPORA.default_source()
    train = source.sample_ids(chars, seed=1)
    valid = source.sample_ids(20_000, seed=2)
    V = len(source.alphabet)
    keras.utils.set_random_seed(seed)
    model = ref.CharRNNLM(V, settings["units"])
    started = time.time()
    history = ref.train_char_lm(model, train, **{k: v for k, v in settings.items() if k != "units"}, seed=seed)
    seconds = time.time() - started
    return {"floor": source.perplexity_floor(), "unigram": source.unigram_perplexity(),
            "baselines": {n: CORPORA.ngram_perplexity(train, valid, n, V) for n in (1, 2, 3, 4)},
            "perplexity": stream_perplexity(model, valid), "seconds": seconds, "history": history}


# ---------------------------------------------------------------------------------------------------- report
def quantiles(values, qs=(0.5, 0.99, 0.999)):
    return " · ".join(f"q{q:g} {np.quantile(values, q):.2f}" for q in qs)


def write_report(path, args, reference, variants, null, power, gen_tests, tm, gen):
    ratios = [r["ratio"] for r in reference]
    shares = [math.log(r['perplexity'] / r['floor']) / math.log(r['bigram'] / r['floor']) for r in reference]
    lines = ["# Assignment 3 — calibration of the hidden checks and baselines", "",
             f"Written by `bench/calibrate_03_char_lm.py --seeds {args.seeds} --variant-seeds {args.variant_seeds} "
             f"--sampling-seeds {args.sampling_seeds} --generate-seeds {args.generate_seeds}` on a machine with "
             f"{os.cpu_count()} CPU cores shared with other jobs (timings are pessimistic), TensorFlow "
             f"{tf.__version__}, Keras {keras.__version__}.", "",
             "## The budget of the hidden training check", "",
             "The trusted side draws a random unifilar automaton from the hidden seed alone "
             f"(`corpora.random_automaton(seed=<generator keyed by SeedSequence([hidden_seed, tag])>, "
             f"**{suite.SOURCE})`; the training and held-out texts from two more generators spawned from it), samples {suite.BUDGET['train_chars']:,} "
             "training characters and, separately, held-out text "
             f"({suite.HELD_OUT['streams']} streams of {suite.HELD_OUT['burn_in']} warm-up + "
             f"{suite.HELD_OUT['steps']} scored characters). Inside the sandbox the harness builds the student's "
             "`CharRNNLM` (seeded) and trains it with the student's `train_char_lm`:", "",
             "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in suite.BUDGET.items()]
    lines += ["", "The held-out text is then fed one column at a time (`_lm_step`); the trusted side computes the "
              "cross-entropy of each prediction before the next column leaves it.", "",
              "## Thresholds and the distributions they come from", "",
              f"Reference through the grader's harness, {len(reference)} grading seeds:", "",
              "| measure | distribution over seeds |", "| --- | --- |",
              f"| held-out perplexity / floor exp(entropy rate) | {summary(ratios)} |",
              f"| floor exp(entropy rate) | {summary([r['floor'] for r in reference])} |",
              f"| reference held-out perplexity | {summary([r['perplexity'] for r in reference])} |",
              f"| bigram (add-0.1, on the same held-out text) | {summary([r['bigram'] for r in reference])} |",
              f"| unigram exp(H(symbol frequencies)) | {summary([r['unigram'] for r in reference])} |",
              f"| share of the log gap bigram → floor left open | {summary(shares)} |",
              f"| last epoch's training perplexity / held-out | "
              f"{summary([r['last_train'] / r['perplexity'] for r in reference])} |",
              f"| time of training + held-out evaluation (s) | {summary([r['seconds'] for r in reference], 1)} |",
              f"| Bayes perplexity of the held-out text (the source's exact predictions) / floor | "
              f"{summary([r['bayes'] / r['floor'] for r in reference])} |",
              f"| log(reference held-out perplexity / Bayes), nats per character | "
              f"{summary([r['below_bayes'] for r in reference], 4)} |", "",
              f"Sub-floor flag: held-out perplexity < Bayes × exp(-{suite.FLOOR_MARGIN}) is flagged for the instructor "
              f"and scores 0. A model that sees only the past beats the source's own predictions by "
              f"{suite.FLOOR_MARGIN} nats per character over the {suite.HELD_OUT['streams'] * suite.HELD_OUT['steps']:,} "
              f"scored characters with probability at most exp(-{suite.FLOOR_MARGIN * suite.HELD_OUT['streams'] * suite.HELD_OUT['steps']:.1f}) "
              f"(the likelihood ratio is a martingale of mean 1, Markov's inequality); the reference's smallest "
              f"log(ppl / Bayes) is {min(r['below_bayes'] for r in reference):.4f} (the flag would need "
              f"-{suite.FLOOR_MARGIN}); a look-ahead oracle reaches about -{math.log(statistics.median([r['bayes'] for r in reference])):.2f} "
              "(perplexity near 1, tests/test_hostile_data_03.py).", "",
              f"Threshold in `autograder/hidden/03_char_lm/test_03_char_lm.py`: held-out perplexity ≤ **max(floor × (bigram / "
              f"floor)^{suite.MAX_SHARE_OF_GAP}, {suite.MIN_ALLOWANCE} × floor)**: on a log scale, at most "
              f"{suite.MAX_SHARE_OF_GAP} of the gap between the bigram baseline and the floor may stay open. The "
              f"reference's worst share is {max(shares):.3f} ({suite.MAX_SHARE_OF_GAP / max(shares):.1f}× below the "
              f"threshold), its median {statistics.median(shares):.3f}. The reference passed on "
              f"{sum(r['passed'] for r in reference)} of {len(reference)} seeds.", "",
              "Per seed (reference):", "",
              "| seed | floor | unigram | bigram | reference | ratio | share of gap | limit | seconds |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['seed']} | {r['floor']:.3f} | {r['unigram']:.3f} | {r['bigram']:.3f} | {r['perplexity']:.3f} | "
              f"{r['ratio']:.3f} | {share:.3f} | {r['limit']:.3f} | {r['seconds']:.1f} |"
              for r, share in zip(reference, shares)]
    lines += ["", "## Other solutions under the same check", "",
              "| variant | correct? | ratio to floor | share of gap | passes (seeds) |", "| --- | --- | --- | --- | --- |"]
    for name, runs in variants.items():
        gap = [math.log(r["perplexity"] / r["floor"]) / math.log(r["bigram"] / r["floor"]) for r in runs]
        lines.append(f"| {name} | {'yes' if VARIANTS[name][0] else 'no'} | {summary([r['ratio'] for r in runs])} | "
                     f"{summary(gap)} | {sum(r['passed'] for r in runs)} of {len(runs)} |")
    lines += ["", "A broken model or trainer that the outcome check cannot see (it still learns) is caught by the "
              "mechanical checks of the suite instead (recorded states, weight updates, gradients).", "",
              "## The generation checks", "",
              f"Sampling: {suite.SAMPLE_CHARS} characters per temperature (0.5 and 1.6) from a 16-unit model with the "
              "weights of `suite.generation_roles` (output weights scaled with tau, so that softmax(O / tau) keeps "
              "about 1.1 nats of entropy: peaked distributions made rare draws dominate the statistic and gave "
              "false failures in an earlier design). Statistic: z of the log-likelihood of the sampled characters "
              f"under softmax(O / tau); the test fails if z is outside {suite.Z_RANGE}. Simulated with a NumPy copy of "
              "the model:", "",
              "| sampler | runs | z: min · median · max | failures |", "| --- | --- | --- | --- |"]
    for t, zs in null.items():
        lines.append(f"| correct, tau {t} | {len(zs)} | {min(zs):.2f} · {np.median(zs):.2f} · {max(zs):.2f} | "
                     f"{sum(not suite.Z_RANGE[0] <= z <= suite.Z_RANGE[1] for z in zs)} |")
    for (mode, t), zs in power.items():
        lines.append(f"| temperature {mode}, tau {t} | {len(zs)} | {min(zs):.1f} · {np.median(zs):.1f} · "
                     f"{max(zs):.1f} | {sum(not suite.Z_RANGE[0] <= z <= suite.Z_RANGE[1] for z in zs)} |")
    lines += ["", "A submission fails the test if either temperature fails. Through the suite's own tests "
              "(`test_greedy_generation` and `test_sampling_follows_temperature`, in process, one grading seed per "
              "run), the reference and the catalogued bugs of `generate`:", "",
              "| generate | grading seeds | both tests passed |", "| --- | --- | --- |"]
    lines += [f"| {name} | {count} | {passed} |" for name, count, passed in gen_tests]
    if tm:
        lines += ["", "## The Time Machine (measurement only; not a dependency of the kit)", "",
                  f"`corpora.letters_only` of the verified copy: {tm['chars']:,} characters, {tm['V']} symbols; the "
                  f"first 90 % ({tm['train']:,}) for training, the last 10 % ({tm['valid']:,}) for validation, read "
                  "as 16 parallel streams with the state carried. n-gram baselines: add-0.1 smoothing, counted on "
                  "the training part.", "",
                  "| model | validation perplexity | training time |", "| --- | --- | --- |"]
        lines += [f"| {['unigram', 'bigram', 'trigram', '4-gram'][n - 1]} | {p:.2f} | — |"
                  for n, p in tm["baselines"].items()]
        lines += [f"| reference CharRNNLM ({args.tm_units} units, {args.tm_epochs} epochs, batch {args.tm_batch} × 32 steps, "
                  f"lr {args.tm_lr}, theta 1, sequential) | {tm['perplexity']:.2f} | {tm['seconds']:.0f} s |", "",
                  f"Training perplexity per epoch: {', '.join(f'{h:.2f}' for h in tm['history'])}.", "",
                  f"Greedy continuation of 'the time traveller ': `{tm['sample']}`"]
    if gen:
        lines += ["", "## The generated corpus of the notebook (`corpora.default_source()`)", "",
                  f"Floor exp(entropy rate) **{gen['floor']:.3f}**, unigram {gen['unigram']:.3f}; n-gram baselines "
                  f"counted on the 40,000 training characters: "
                  + ", ".join(f"{n}-gram {p:.3f}" for n, p in gen["baselines"].items())
                  + f". Reference ({args.nb_units} units, {args.nb_epochs} epochs over 40,000 characters, batch 32 × 16 steps, lr 2, theta 1,"
                  f" sequential): held-out perplexity **{gen['perplexity']:.3f}** ({gen['perplexity'] / gen['floor']:.3f}"
                  f" × the floor) in {gen['seconds']:.0f} s."]
    calibration.write_report(path, lines)


def runs_from_log(path, names):
    """The reference and variant training runs printed by an earlier run of this script (one dict per line)."""
    import ast
    reference, variants = [], {name: [] for name in names}
    with open(path, encoding="utf-8") as f:
        for line in f:
            head, _, rest = line.partition(" {")
            if not rest or (head != "reference" and head not in variants):
                continue
            run = ast.literal_eval("{" + rest.strip())
            if head == "reference":
                reference.append(run)
            elif head in variants:
                variants[head].append(run)
    return reference, variants


def contract_margins(seeds):
    """Margins of the contract checks that have a threshold, on the reference and the nearest wrong answers:
    the reported-perplexity check (relative error of the reference against the gap of a mean of per-batch
    perplexities and of the last batch's), the shuffled-rows check (neighbouring windows inside batches) and the
    Glorot spread check (standard deviation over the uniform's)."""
    namespace = calibration.harness_namespace("03_char_lm", ref)
    call = caller(namespace)
    rows = {"reference error": [], "mean of perplexities": [], "last batch": []}
    for seed in range(seeds):
        rng = np.random.default_rng([seed, 77])
        for base in (suite.SPY_SEQUENTIAL, suite.SPY_RANDOM):
            corpus = suite.spy_corpus(rng)
            settings = {**base, "seed": int(rng.integers(2**31))}   # as the suite's shared spied runs
            run = call("_lm_train_spy", 7, 5, corpus, settings, 3, suite.spy_weights(rng))
            steps = suite.training_calls(run)
            epochs = suite.expected_batches(corpus, settings)
            k = 0
            for e, batches in enumerate(epochs):
                nll = []
                for X, Y in batches:
                    nll.append(suite.batch_nll(X, Y, steps[k]["state"], steps[k]["weights"]))
                    k += 1
                right = math.exp(np.mean(nll))
                rows["reference error"].append(abs(run["history"][e] / right - 1))
                rows["mean of perplexities"].append(abs(np.mean(np.exp(nll)) / right - 1))
                rows["last batch"].append(abs(math.exp(nll[-1]) / right - 1))
    neighbours = []
    for seed in range(2000):
        corpus = np.arange(2000) + 3
        starts = np.array([[int(x[0]) - 3 for x in X.numpy()] for X, _ in
                           ref.seq_data_iter_random(corpus, 4, 5, np.random.default_rng(seed))])
        neighbours.append(int(np.sum(starts[:, 1:] == starts[:, :-1] + 5)) / starts[:, 1:].size)
    spreads, means = [], []
    for seed in range(300):
        values = keras.initializers.GlorotUniform(seed=seed)((40, 24)).numpy().astype(np.float64)
        limit = math.sqrt(6.0 / 64)
        spreads.append(values.std() / (limit / math.sqrt(3.0)))
        means.append(abs(values.mean()) / limit)
    lines = ["## Margins of the contract checks (reference against the nearest wrong answers)", "",
             f"`--contract-seeds {seeds}`: the spied training runs of `test_train_reported_perplexity` "
             f"({2 * seeds} runs, {len(rows['reference error'])} epochs); the check allows a relative error of 2e-3.", "",
             "| \\|reported / exp(mean NLL of the epoch) − 1\\| | distribution |", "| --- | --- |"]
    lines += [f"| {name} | {summary(values, 5)} |" for name, values in rows.items()]
    lines += ["", f"`test_random_rows_shuffled` fails above 10% of neighbouring windows among the pairs of rows next "
              f"to each other in a batch (L=2000, n=4, T=5): the reference over 2,000 seeds "
              f"{summary(neighbours, 4)}; a batch of consecutive windows gives 100%.", "",
              f"`test_model_initial_weights` (Glorot-uniform, 40 × 24, 300 seeds): std / (limit/√3) "
              f"{summary(spreads)} (check 0.85-1.15); |mean| / limit {summary(means)} (check ≤ 0.1); "
              "N(0, 0.01) gives a spread of about 0.05, N(0, 0.05) about 0.3."]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--variant-seeds", type=int, default=4)
    parser.add_argument("--variants", default="all", help="comma-separated names, or 'all' or 'none'")
    parser.add_argument("--sampling-seeds", type=int, default=10000)
    parser.add_argument("--generate-seeds", type=int, default=60)
    parser.add_argument("--timemachine", default=TIME_MACHINE)
    parser.add_argument("--tm-units", type=int, default=128)
    parser.add_argument("--tm-batch", type=int, default=16)
    parser.add_argument("--tm-epochs", type=int, default=6)
    parser.add_argument("--tm-lr", type=float, default=1.0)
    parser.add_argument("--nb-units", type=int, default=64)
    parser.add_argument("--nb-epochs", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(calibration.ROOT, "bench", "results", "03_char_lm.md"))
    parser.add_argument("--reuse-log", help="take the training runs from the printed output of an earlier run")
    parser.add_argument("--contract-seeds", type=int, default=0,
                        help="only measure the margins of the contract checks on this many seeds and print them")
    args = parser.parse_args()
    if args.contract_seeds:
        print("\n".join(contract_margins(args.contract_seeds)))
        return
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.experimental.enable_op_determinism()

    seeds = [int(s) for s in np.random.default_rng(2025).integers(0, 2**31, args.seeds)]
    names = list(VARIANTS) if args.variants == "all" else [] if args.variants == "none" else args.variants.split(",")
    if args.reuse_log:
        reference, variants = runs_from_log(args.reuse_log, names)
    else:
        reference, variants = calibration.grading_runs(grading_run, harness_namespace, VARIANTS, names, seeds,
                                                       args.variant_seeds)
    null, power = sampling_simulation(args.sampling_seeds)
    print("sampling: failures", {t: sum(not suite.Z_RANGE[0] <= z <= suite.Z_RANGE[1] for z in zs) for t, zs in null.items()},
          "power", {k: sum(not suite.Z_RANGE[0] <= z <= suite.Z_RANGE[1] for z in zs) for k, zs in power.items()}, flush=True)
    gen_tests = generate_tests(args.generate_seeds)
    gen = generated_corpus_run({"units": args.nb_units, "batch_size": 32, "num_steps": 16, "learning_rate": 2.0,
                                "theta": 1.0, "epochs": args.nb_epochs, "use_random_iter": False})
    print("generated corpus", gen, flush=True)
    tm = None
    if args.timemachine and os.path.exists(args.timemachine):
        tm = time_machine_run(args.timemachine, {"units": args.tm_units, "batch_size": args.tm_batch, "num_steps": 32,
                                                 "learning_rate": args.tm_lr, "theta": 1.0, "epochs": args.tm_epochs,
                                                 "use_random_iter": False})
        print("time machine", tm, flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write_report(args.out, args, reference, variants, null, power, gen_tests, tm, gen)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
