"""Assignment 1: a backward pass computed by automatic differentiation earns none of its hand-derivation item's
points, in any of the forms the catalogue holds (a tape over the step, over the whole sequence, per step inside a
hand-written loop, inside @tf.function); correct derivations, however they are named or compiled, keep every point.

Graded in process (``bench/signatures.py``: the suite's own tests over the harness and a channel stand-in, as
``bench/miss_rates.py`` does), two grader seeds each.
"""
import os
import sys

import pytest

from autograder import project
from autograder.simulation import catalogue
from tests.conftest import assignments

sys.path.insert(0, os.path.join(project.ROOT, "bench"))
A1 = "01_rnn_cell"
pytestmark = pytest.mark.skipif(A1 not in assignments(), reason=f"{A1} not selected")

AUTODIFF_BUGS = ["bwd_gradient_tape", "bwd_tape_tf_function", "bptt_gradient_tape", "bptt_tape_per_step"]
BY_HAND = ["bwd_named_like_autodiff", "bwd_tf_function", "bptt_tensorarray_reversed"]
SEEDS = (0, 1)


def by_name(changes, name):
    return next(c for c in changes if c.name == name)


@pytest.mark.parametrize("name", AUTODIFF_BUGS)
def test_autodiff_loses_every_test_of_its_item(name):
    from signatures import grade_change
    bug = by_name(catalogue.catalogue(A1), name)
    for seed in SEEDS:
        records = grade_change(A1, bug, seed)
        assert len(records) >= 5 and {r["item"] for r in records} == {bug.cell}
        kept = [r["test"] for r in records if r["status"] == "passed"]
        assert not kept, f"{name} (seed {seed}) keeps {kept}"
        assert all("automatic differentiation computes the gradients" in r["message"] for r in records), \
            [r["message"][:120] for r in records]


@pytest.mark.parametrize("name", BY_HAND)
def test_a_derivation_by_hand_keeps_every_point(name):
    from signatures import grade_change
    variant = by_name(catalogue.variants(A1), name)
    for seed in SEEDS:
        failed = [(r["test"], r["message"][:200]) for r in grade_change(A1, variant, seed) if r["status"] != "passed"]
        assert not failed, f"{name} (seed {seed}): {failed}"
