"""Hostile submissions against the held-out data of Assignment 3 (issue 8, classes 2 and 3).

* An oracle that rebuilds the hidden training and held-out text with the public generators (``corpora.py`` is
  released beside the notebook) from anything its code is given, then answers with the held-out text it rebuilt:
  it must not get the points of the training check.
* A model that knows the held-out text (looks ahead) reaches a perplexity near 1, far below the floor of the
  source: the check must flag it for the instructor and score it 0, while a model as good as the source itself
  (the best possible without looking ahead) is not flagged.
* What the student's code is given (the grading seed, the seed passed to train_char_lm, the training text) does
  not let the public generators reproduce the hidden text.

Written to run on the main before the fix too (the suite's old path and the old results model), where each test
fails: see the module's history.
"""
import importlib
import inspect
import math

import numpy as np
import pytest

from autograder import project

A3 = "03_char_lm"
CORPORA = project.public_module(A3, "corpora")


def suite():
    for name in (f"autograder.hidden.{A3}.test_{A3}", f"autograder.suites.test_{A3}"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise RuntimeError("no hidden suite of assignment 3 found")


def hidden_problem(seed, hidden_seed):
    """The held-out problem exactly as the suite's ``hidden`` fixture makes it from the grader's seeds."""
    s = suite()
    fixture = getattr(s.hidden, "__pytest_wrapped__", None)
    params = inspect.signature(fixture.obj if fixture else s.hidden).parameters
    return s.hidden_problem(hidden_seed if "hidden_seed" in params else seed)


# ---------------------------------------------------------------------------------------------------- the oracle
# An answer cell for train_char_lm that trains nothing: it rebuilds the grader's text from the seed it is given
# (and a few other guesses), and if the training text matches, patches the model so that it predicts the rebuilt
# held-out text exactly. The rebuilt text is what a leak would give; without a leak it falls back to no training.
ORACLE = r'''
import numpy as np
import tensorflow as tf
import corpora

def _rebuild(corpus, seed):
    corpus = np.asarray(corpus)
    source_args = {"num_states": 16, "alphabet": "abcdefgh ", "branching": 3}
    for s in (seed, seed % 2**31, seed + 1, seed - 1, 0, 1, 2, 3):
        for rng_seed in ([s, 3], s, [s, 0], [s, 1], [s, 2]):
            try:
                source = corpora.random_automaton(seed=s, **source_args)
                rng = np.random.default_rng(rng_seed)
                train = source.sample_ids(len(corpus), seed=rng)
            except Exception:
                continue
            if np.array_equal(train, corpus):
                return source.sample_ids(16 + 160 + 1, seed=rng, num_streams=64)
    return None

def train_char_lm(model, corpus, *, batch_size, num_steps, learning_rate, theta, epochs, use_random_iter, seed):
    held_out = _rebuild(corpus, seed)
    if held_out is None:
        return [3.0] * epochs          # nothing rebuilt: the oracle has nothing to offer
    truth = tf.constant(held_out, tf.int32)
    units, vocab = model.units, model.vocab_size

    def call(self, X, state=None):
        t = 0 if state is None else int(np.asarray(state)[0, 0])
        n = tf.shape(X)[0]
        if X.shape[0] == truth.shape[0] and X.shape[1] == 1 and t + 1 < truth.shape[1]:
            logits = 30.0 * tf.one_hot(truth[:, t + 1], vocab, dtype=self.compute_dtype)[:, None, :]
        else:
            logits = tf.zeros((n, X.shape[1], vocab), self.compute_dtype)
        return logits, tf.fill((n, units), tf.cast(t + X.shape[1], self.compute_dtype))

    type(model).call = call
    return [2.0, 1.5, 1.01][:epochs] + [1.01] * max(0, epochs - 3)
'''


def outcome(results, test_name):
    """(passed, message) of one test of a submission's results, for the results model of any version."""
    tests = results.tests if hasattr(results, "tests") else results["tests"]
    for t in tests:
        name = t.name if hasattr(t, "name") else t["name"]
        doc = suite().__dict__[test_name].__doc__.strip().split("\n")[0]
        if test_name in name or doc[:40] in name or test_name[len("test_"):].replace("_", " ") in name:
            if hasattr(t, "passed"):
                return t.passed, t.message
            return t["score"] >= t["max_score"], t.get("output", "")
    raise AssertionError(f"no result for {test_name}: {[getattr(t, 'name', t) for t in tests]}")


def test_oracle_rebuilding_hidden_text_gets_no_training_points(built, level):
    from tests.conftest import grade_class
    course, answers = built
    cheat = {**answers[A3], "train_char_lm": ORACLE}
    results = grade_class(course, A3, {"oracle": cheat}, level, items={"oracle": ["train_char_lm"]})["oracle"]
    passed, message = outcome(results, "test_trained_perplexity")
    assert not passed, "an oracle that rebuilt the held-out text from what it was given got the training points"


# ---------------------------------------------------------------------------------------------------- below the floor
def filtered_logits(source, ids):
    """The source's own exact predictions (log-probabilities) of ids[:, t+1] from ids[:, :t+1], per stream."""
    S, Q = ids.shape[0], source.num_states
    belief = np.tile(source.stationary(), (S, 1))
    rows = []
    for t in range(ids.shape[1] - 1):
        a = ids[:, t]
        joint = belief * source.emission[:, a].T
        belief = np.zeros((S, Q))
        for s in range(S):
            np.add.at(belief[s], source.transition[:, a[s]], joint[s] / joint[s].sum())
        rows.append(np.log(np.clip(belief @ source.emission, 1e-300, None)))
    return rows


def stand_in(problem, mode):
    """A stand-in for student.call: '_lm_step' answers with a model that looks ahead (knows the held-out text) or
    with the source's exact predictions (the best a model can do without looking ahead)."""
    ids = problem["held_out"]
    exact = filtered_logits(problem["source"], ids) if mode == "exact" else None

    def call(fn, model, column, state=None):
        assert fn == "_lm_step"
        t = 0 if state is None else int(state)
        if mode == "look-ahead":
            logits = 30.0 * np.eye(problem["V"])[ids[:, t + 1]]
        else:
            logits = exact[t]
        return [logits.astype(np.float32), t + 1]
    return call


@pytest.mark.parametrize("hidden_seed", [11, 2**31 + 5])
def test_look_ahead_below_the_floor_is_flagged_and_the_best_model_is_not(hidden_seed):
    s = suite()
    problem = hidden_problem(12345, hidden_seed)
    ppl, bigram = s.held_out_perplexity(stand_in(problem, "look-ahead"), None, problem)
    assert ppl < 1.01 < problem["floor"]
    reason = s.verdict(problem, {"perplexity": ppl, "bigram": bigram, "history": [1.0] * 3})
    assert reason is not None, f"perplexity {ppl:.4f} against a floor of {problem['floor']:.4f} was accepted"
    assert "FLAGGED FOR THE INSTRUCTOR" in reason and "floor" in reason
    best, bigram = s.held_out_perplexity(stand_in(problem, "exact"), None, problem)
    assert s.verdict(problem, {"perplexity": best, "bigram": bigram, "history": [best] * 3}) is None
    assert abs(math.log(best / problem["floor"])) < 0.05


# ---------------------------------------------------------------------------------------------------- what the student sees
@pytest.mark.parametrize("seed,hidden_seed", [(7, 2_000_001), (123456789, 99), (2**31 + 17, 4_000_000_007)])
def test_public_generators_cannot_rebuild_the_hidden_text(seed, hidden_seed):
    """The student's code is given the grading seed (as the seed of train_char_lm and of the model's weights) and
    the training text: no public generator seeded with any of these reproduces the training or held-out text."""
    s = suite()
    problem = hidden_problem(seed, hidden_seed)
    train, held_out = problem["train"], problem["held_out"]
    given = {seed, seed % 2**31, int(seed) % 2**32, len(train)}
    for value in given:
        for source in (CORPORA.random_automaton(seed=value, **s.SOURCE), CORPORA.default_source(value % 2**31)):
            assert not np.allclose(source.emission, problem["source"].emission) or \
                not np.array_equal(source.transition, problem["source"].transition), \
                f"the hidden source is corpora.random_automaton(seed={value})"
            for rng_seed in (value, [value, 3], [value, 0], [value % 2**31, 3]):
                rng = np.random.default_rng(rng_seed)
                assert not np.array_equal(problem["source"].sample_ids(len(train), seed=rng), train)
                rng = np.random.default_rng(rng_seed)
                streams = problem["source"].sample_ids(held_out.shape[1], seed=rng, num_streams=held_out.shape[0])
                assert not np.array_equal(streams, held_out), "the held-out text is rebuilt from a seed the student has"
