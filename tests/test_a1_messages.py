"""Assignment 1's public checks name the cause of 18 common mistakes (``bench/a1_messages.py``: each mistake's
✗ sentence against a pattern naming it), and pass the reference and every correct variant of the catalogue, so
that they are never weaker than, nor contradict, the hidden suite on the properties both check."""
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
    assert len(table) == 18
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
