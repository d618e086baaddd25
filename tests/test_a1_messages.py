"""Assignment 1's public checks name the cause of 43 common mistakes (``bench/a1_messages.py``: each mistake's
✗ sentence against a pattern naming it), and pass the reference and every correct variant of the catalogue, so
that they are never weaker than, nor contradict, the hidden suite on the properties both check. A sentence that
names a cause is said for that cause only: no other catalogued bug of the item gets it."""
import os
import sys

import pytest

from autograder import project
from autograder.simulation import catalogue
from tests.conftest import assignments

sys.path.insert(0, os.path.join(project.ROOT, "bench"))
A1 = "01_rnn_cell"
pytestmark = pytest.mark.skipif(A1 not in assignments(), reason=f"{A1} not selected")
ITEMS = ["rnn_cell_forward", "rnn_forward", "output_layer", "rnn_cell_backward", "rnn_backward", "RNNCell"]


def test_every_listed_mistake_gets_a_sentence_that_names_its_cause():
    import a1_messages
    table = a1_messages.rows()
    assert len(table) == 43
    unnamed = [(r["mistake"], r["said"]) for r in table if not r["names_cause"]]
    assert not unnamed, unnamed


@pytest.mark.parametrize("change", [None] + [v.name for v in catalogue.variants(A1)])
def test_the_reference_and_every_variant_pass_the_public_checks(change):
    import a1_messages
    variant = next((v for v in catalogue.variants(A1) if v.name == change), None)
    for item in ITEMS if variant is None else [variant.cell]:
        assert a1_messages.verdict(item, variant) == [f"✓ {item} looks right"], (change, item)


@pytest.mark.parametrize("name", ["fwd_float32_detour", "seq_cast_float32", "out_cast_float32", "bwd_db_float64",
                                  "bptt_db_float64", "bwd_gradient_tape", "bptt_tape_per_step", "bwd_tape_tf_function"])
def test_what_the_hidden_suite_fails_on_dtype_precision_or_autodiff_the_public_check_fails_too(name):
    import a1_messages
    bug = next(b for b in catalogue.catalogue(A1) if b.name == name)
    said = a1_messages.verdict(bug.cell, bug)
    assert len(said) == 1 and said[0].startswith(f"✗ {bug.cell}:"), said


# The sentences the cause probes and the RNNCell contract checks add (issue 21), each with the one catalogued bug it
# names: every other bug of the same item must be flagged without it.
CAUSES = {
    "fwd_relu": "these are ReLU of the pre-activation X_t",
    "fwd_sigmoid": "these are the logistic sigmoid of the pre-activation",
    "fwd_transposed_W_hh": "W_hh is used transposed",
    "seq_reversed_time": "H is the recurrence run over X from the last step to the first",
    "seq_state_not_carried": "every step starts from H0",
    "cell_missing_bias": "without the bias: add self.bias",
    "cell_transposed_recurrent": "these are what the transposed recurrent_kernel gives",
    "cell_state_not_updated": "these are h_prev",
    "cell_kernel_glorot_normal": "a normal initialiser such as glorot_normal",
    "cell_config_units_only": "start get_config from super().get_config()",
    "cell_wraps_keras_cell": "RNNCell ran keras.layers.SimpleRNNCell",
    # round 4 (issue 29): the direction of the backward loop, named only when a loss on the first state gives later
    # inputs a gradient (a last-step-only or uncarried backward is not told to reverse its loop), and tanh' only
    # when one step alone is wrong too
    "bptt_first_to_last": "the gradient was carried forward in time",
    "cell_state_returned_bare": "its second value is the list of new states",
}
OTHER_PROBES = ["these are the pre-activation", "the bias belongs inside the tanh",
                "these are ReLU of the pre-activation:", "these are the sigmoid",
                "initial recurrent_kernel is the identity"]


@pytest.mark.parametrize("item", ["rnn_cell_forward", "rnn_forward", "RNNCell", "rnn_backward"])
def test_each_cause_is_named_for_its_own_bug_and_no_other(item):
    import a1_messages
    for bug in (b for b in catalogue.catalogue(A1) if b.cell == item):
        said = a1_messages.verdict(item, bug)
        assert len(said) == 1 and said[0].startswith(f"✗ {item}:"), (bug.name, said)
        for owner, sentence in CAUSES.items():
            assert (sentence in said[0]) == (owner == bug.name), (bug.name, owner, said[0])
        assert not [p for p in OTHER_PROBES if p in said[0]], (bug.name, said[0])


def test_a_backward_right_over_one_step_is_not_told_to_look_at_tanh_prime():
    import a1_messages
    for name in ("bptt_first_to_last", "bptt_last_step_only"):
        bug = next(b for b in catalogue.catalogue(A1) if b.name == name)
        said = a1_messages.verdict(bug.cell, bug)[0]
        assert said.startswith("✗ rnn_backward:") and "tanh' first" not in said, (name, said)
