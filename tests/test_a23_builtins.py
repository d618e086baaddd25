"""TensorFlow's own functions are correct answers in Assignments 2 and 3 (issue 19, item 1).

Every correct variant that leans on a TensorFlow or Keras built-in (``tf.clip_by_global_norm`` and
``tf.linalg.global_norm`` on a ``tf.IndexedSlices`` with a repeated index, an optimizer's ``global_clipnorm``,
``tf.nn``/``keras.losses`` cross-entropies, ``tf.nn.softmax``) passes every test of its own item that runs without
the hidden training fixtures, graded in process as ``bench/miss_rates.py`` does, under several grader seeds; and
the catalogued clipping bugs still fail, so accepting TensorFlow's semantics let no bug through.
``bench/builtin_variants.py`` runs the same over many seeds (``bench/results/builtin_variants.md``).
"""
import importlib
import os
import sys

import pytest

from autograder import project
from autograder.simulation import catalogue

sys.path.insert(0, os.path.join(project.ROOT, "bench"))
import calibration  # noqa: E402
import miss_rates  # noqa: E402

SEEDS = (0, 1, 2)
BUILTINS = {
    "02_sentiment": ["grads_tf_nn_cross_entropy_and_softmax"],   # the training variants: bench/builtin_variants.py
    "03_char_lm": ["clip_with_tf_clip_by_global_norm", "clip_tf_clip_by_global_norm_as_given",
                   "clip_tf_linalg_global_norm", "perplexity_keras_sparse_categorical_crossentropy",
                   "perplexity_keras_loss_object_tf_exp", "perplexity_one_hot_softmax_cross_entropy",
                   "generate_tf_softmax_float64", "train_sgd_global_clipnorm"],
}
CLIP_BUGS = ["clip_per_tensor", "clip_sum_of_norms", "clip_squared_norm", "clip_always", "clip_python_float_scale"]


def own_tests(assignment, item):
    """The suite's tests of ``item`` that run without the training fixtures (spied training runs included)."""
    return [t for t in miss_rates.suite_tests(assignment)
            if t[2] == item and not set(t[4]) & miss_rates.TRAINING_FIXTURES]


def grade(assignment, change, seeds):
    reference = importlib.import_module(f"solutions.{project.topic(assignment)}")
    namespace = calibration.changed_namespace(assignment, reference, change)
    tests = own_tests(assignment, change.cell)
    assert tests, change.name
    return [(seed, *failure) for seed in seeds for failure in
            miss_rates.run_seed(assignment, namespace, miss_rates.answer_sources(assignment), tests, seed,
                                stop_at_first=False)]


@pytest.mark.parametrize("assignment, name", [(a, n) for a, names in BUILTINS.items() for n in names])
def test_builtin_variant_gets_full_marks(assignment, name):
    variants = {v.name: v for v in catalogue.variants(assignment)}
    assert name in variants, f"{name} is not in {assignment}'s variants.py"
    assert grade(assignment, variants[name], SEEDS) == []


def test_tensorflow_clip_counts_indexed_slices_by_their_values():
    """The premise: with a repeated index the two norms differ (so the check must accept both)."""
    import numpy as np
    import tensorflow as tf
    g = np.arange(1.0, 7.0).reshape(3, 2)
    sliced = tf.IndexedSlices(tf.constant(np.concatenate([0.25 * g[:1], g[1:], 0.75 * g[:1]])),
                              tf.constant([0, 1, 2, 0], tf.int64), tf.constant([3, 2], tf.int64))
    assert abs(float(tf.linalg.global_norm([sliced])) - np.linalg.norm(g)) > 1e-2
    assert abs(float(tf.norm(tf.convert_to_tensor(sliced))) - np.linalg.norm(g)) < 1e-12


@pytest.mark.parametrize("name", CLIP_BUGS)
def test_clipping_bugs_still_fail(name):
    bug = {b.name: b for b in catalogue.catalogue("03_char_lm")}[name]
    failures = grade("03_char_lm", bug, SEEDS)
    assert {seed for seed, *_ in failures} == set(SEEDS), f"{name} slipped through on some seed: {failures}"
