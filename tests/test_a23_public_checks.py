"""The public checks of Assignments 2 and 3 see what the hidden suite grades, and say why (issue 21, items 1-2).

Each case puts one realistic mistake into the reference's answers and runs the notebook's own check cells in process
(``bench/public_checks.run_checks``: the set-up, the answers, the check cells up to the item; what a student runs
before submitting, without the demonstrations). The check of the mistake's own item must print ✗ with a sentence
that names the cause; the reference and correct variants (TensorFlow's own functions among them) must print ✓.
``bench/public_checks.py`` runs the whole catalogue (``bench/results/public_checks.md``).
"""
import os
import re
import sys

import pytest

from autograder import project
from autograder.simulation import catalogue
from tests.conftest import assignments

sys.path.insert(0, os.path.join(project.ROOT, "bench"))
import public_checks  # noqa: E402

A3 = "03_char_lm"


def selected(assignment):
    if assignment not in assignments():
        pytest.skip(f"{assignment} not selected")


def change(assignment, name):
    found = {c.name: c for c in catalogue.catalogue(assignment) + catalogue.variants(assignment)}
    return found[name]


# Not in the catalogue: graded through the grader's full training run, an epoch on one persistent tape costs time
# and memory that grow with the square of the batches (the hidden spied runs catch it: bench/results/public_checks.md)
LOCAL = {"train_one_tape_no_stop_gradient": catalogue.Bug("train_one_tape_no_stop_gradient", "train_char_lm",
    "        state, total, count = None, 0.0, 0\n"
    "        for X, Y in sampler(corpus, batch_size, num_steps, rng):\n"
    "            if use_random_iter or state is None:\n"
    "                state = model.begin_state(batch_size)\n"
    "            else:\n"
    "                state = tf.stop_gradient(state)\n"
    "            with tf.GradientTape() as tape:\n"
    "                logits, state = model(X, state)\n"
    "                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))\n"
    "            grads = clip_gradients(tape.gradient(loss, model.trainable_variables), theta)\n",
    "        state, total, count = None, 0.0, 0\n"
    "        with tf.GradientTape(persistent=True) as tape:   # one tape for the whole epoch\n"
    "          for X, Y in sampler(corpus, batch_size, num_steps, rng):\n"
    "            if use_random_iter or state is None:\n"
    "                state = model.begin_state(batch_size)\n"
    "            logits, state = model(X, state)\n"
    "            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))\n"
    "            grads = clip_gradients(tape.gradient(loss, model.trainable_variables), theta)\n",
    "Records a whole epoch on one tape and carries the state without tf.stop_gradient, so each batch's gradient "
    "reaches back through every batch before it (not truncated BPTT).")}


def verdict(assignment, name=None, item=None, answers=None):
    c = (LOCAL.get(name) or change(assignment, name)) if name else None
    item = item or c.cell
    return public_checks.run_checks(assignment, c, until=item, answers=answers)[item]


def assert_flagged(assignment, name, expected):
    """The check of the mistake's own item prints ✗, once prefixed with the item, and a sentence matching
    ``expected``."""
    selected(assignment)
    out = verdict(assignment, name)
    item = (LOCAL.get(name) or change(assignment, name)).cell
    assert out.startswith(f"✗ {item}: ") and f"{item}: {item}:" not in out and re.search(expected, out), out


# A whole epoch on one persistent tape: harmless when the carried state is cut with tf.stop_gradient, wrong when not
EPOCH_BODY = '''        state, total, count = None, 0.0, 0
        for X, Y in sampler(corpus, batch_size, num_steps, rng):
            if use_random_iter or state is None:
                state = model.begin_state(batch_size)
            else:
                state = tf.stop_gradient(state)
            with tf.GradientTape() as tape:
                logits, state = model(X, state)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))
            grads = clip_gradients(tape.gradient(loss, model.trainable_variables), theta)
'''
ONE_TAPE_CUT = '''        state, total, count = None, 0.0, 0
        with tf.GradientTape(persistent=True) as tape:
          for X, Y in sampler(corpus, batch_size, num_steps, rng):
            if use_random_iter or state is None:
                state = model.begin_state(batch_size)
            else:
                state = tf.stop_gradient(state)
            logits, state = model(X, state)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))
            grads = clip_gradients(tape.gradient(loss, model.trainable_variables), theta)
'''

# The six training-loop mistakes of issue 21 that the public check used to pass, with what it must now say.
TRAINING_MISTAKES = [
    ("train_state_kept_across_epochs", r"epoch 2 started from the state left over from the epoch before"),
    ("train_state_carried_across_random_batches", r"with random sampling neighbouring batches are unrelated"),
    ("train_history_last_batch", r"that is the last batch's perplexity"),
    ("train_history_mean_of_perplexities", r"exp\(mean cross-entropy over all positions"),
    ("train_rng_per_epoch", r"epoch 2 got another generator than epoch 1 \(a new np.random.default_rng\(seed\)"),
    ("train_one_tape_no_stop_gradient", r"the carried state must be cut with tf.stop_gradient"),
]


@pytest.mark.parametrize("name, expected", TRAINING_MISTAKES)
def test_a3_training_loop_mistakes_are_flagged_by_the_public_check(name, expected):
    assert_flagged(A3, name, expected)


@pytest.mark.parametrize("name, expected", [
    ("train_seed_ignored", r"did not get a fresh np.random.default_rng\(seed\)"),
    ("train_no_clipping", r"unclipped gradients"),
    ("train_theta_fixed", r"clipped at 1 instead of theta"),
    ("train_learning_rate_fixed", r"another learning rate"),
    ("train_loss_sum", r"SUM of the cross-entropies"),
    ("train_gradient_ascent", r"moved up the gradient"),
    ("train_iterators_swapped", r"use_random_iter=False asks for seq_data_iter_sequential"),
    ("train_batch_size_fixed", r"called with batch_size=32"),
    ("train_one_epoch", r"called 1 times for epochs=2"),
    ("train_state_never_carried", r"did not start from the state batch 1 ended with"),
])
def test_a3_every_argument_of_the_training_loop_is_checked_in_public(name, expected):
    assert_flagged(A3, name, expected)


@pytest.mark.parametrize("name", ["train_keras_sgd_tf_function", "train_assign_and_sum_of_nll",
                                  "train_sgd_global_clipnorm", None])
def test_a3_correct_training_loops_pass_the_public_check(name):
    selected(A3)
    out = verdict(A3, name, item="train_char_lm")
    assert out.startswith("✓ train_char_lm looks right"), out


def test_a3_one_tape_over_an_epoch_passes_when_the_state_is_cut():
    selected(A3)
    source = project.reference_source(A3, "train_char_lm")
    assert source.count(EPOCH_BODY) == 1
    out = verdict(A3, item="train_char_lm", answers={"train_char_lm": source.replace(EPOCH_BODY, ONE_TAPE_CUT)})
    assert out.startswith("✓ train_char_lm looks right"), out


@pytest.mark.parametrize("name, expected", [
    ("random_one_subsequence_too_many", r"^✗ seq_data_iter_random: .*\(L - offset - 1\) // T of them, not "
                                        r"\(L - offset\) // T"),
    ("random_int64_batches", r"^✗ seq_data_iter_random: X of batch 0 is int64; yield int32 tensors"),
    ("random_shuffles_within_batches_only", r"^✗ seq_data_iter_random: .*shuffle all the subsequences"),
    ("sequential_rows_interleaved", r"^✗ seq_data_iter_sequential: .*reshaped to \(stream_length, 3\) and "
                                    r"transposed"),
    ("perplexity_exp_of_sum", r"^✗ perplexity: .*exp of the SUM of the 6 cross-entropies"),
    ("clip_per_tensor", r"^✗ clip_gradients: .*clips every tensor on its own \(tf.clip_by_norm per tensor"),
    ("gen_argmax_when_sampling", r"^✗ generate: at temperature 1 every sampled character was the model's most "
                                 r"likely one"),
    ("random_keeps_partial_batch", r"the last batch, batch \d+, has 1 row, not batch_size = 3"),
    ("sequential_partial_last_batch", r"stream_length // num_steps of them"),
    ("clip_always", r"min\(1, theta / norm\)"),
    ("model_relu", r"^✗ CharRNNLM: logits: these are the logits of a ReLU recurrence"),
    ("model_transposed_W_hh", r"H\[:, t-1\] @ transpose\(W_hh\)"),
    ("model_returns_first_state", r"that is the state after the first step"),
    ("model_ignores_state", r"the second call started from zeros"),
    ("model_gradient_cut_every_step", r"The logits are right and their gradient is not"),
    ("model_W_hh_glorot", r"W_hh does not start orthogonal"),
    ("model_random_output_bias", r"b_q should start at zeros"),
    ("vocab_alphabetical", r"sorted by code point \(alphabetically\) only"),
    ("vocab_ascending_count", r"from the rarest to the most frequent"),
    ("vocab_ties_first_seen", r"the ties are not sorted by code point"),
    # round 4 (issue 29)
    ("random_yields_numpy", r"X of batch 0 is a NumPy array, not a TensorFlow tensor"),
    ("sequential_stream_one_too_long", r"the labels are one id short of the streams"),
    ("sequential_offset_from_global_random", r"draw the offset with the rng argument .*not with np.random"),
    ("gen_rng_none_crashes", r"with rng=None, generate samples with a fresh generator"),
    ("gen_first_char_from_first_step", r"already the first new character is not the most likely one"),
    ("model_no_hidden_bias", r"a recurrence without b_h"),
])
def test_a3_messages_name_the_cause(name, expected):
    assert_flagged(A3, name, expected)


def test_a3_reference_and_tensorflow_clipping_pass_every_public_check():
    selected(A3)
    results = public_checks.run_checks(A3)
    assert all(v.startswith("✓") for v in results.values()), results
    for name in ("clip_tf_clip_by_global_norm_as_given", "clip_tf_linalg_global_norm"):
        assert verdict(A3, name).startswith("✓ clip_gradients looks right")


A2 = "02_sentiment"


@pytest.mark.parametrize("name, expected", [
    ("train_from_logits_false", r"the loss needs from_logits=True"),
    ("train_seed_ignored", r"call keras.utils.set_random_seed\(seed\) first"),
    ("train_batch_size_ignored", r"the model was trained in 4 steps of up to 32 rows"),
    ("train_history_after_each_epoch", r"measured after the epoch instead of during it"),
    ("train_lr_ignored", r"with learning_rate=0 a weight moved"),
])
def test_a2_training_loop_mistakes_are_flagged_by_the_public_check(name, expected):
    assert_flagged(A2, name, expected)


@pytest.mark.parametrize("name", ["train_hand_written_loop", "train_keras_loss_function_and_accuracy_metric", None])
def test_a2_correct_training_loops_pass_the_public_check(name):
    selected(A2)
    out = verdict(A2, name, item="train_sentiment")
    assert out.startswith("✓ train_sentiment looks right"), out


def test_a2_autodiff_in_the_hand_derivation_is_named_before_submitting():
    selected(A2)
    out = verdict(A2, "grads_autodiff")
    assert out.startswith("✗ many_to_one_grads: many_to_one_grads ran tf.GradientTape: this part is the derivation "
                          "by hand"), out
    assert verdict(A2, "grads_tf_nn_cross_entropy_and_softmax").startswith("✓ many_to_one_grads looks right")


@pytest.mark.parametrize("name, expected", [
    ("vocab_counts_sentences", r"count every occurrence of a token, not the sentences it appears in"),
    ("vocab_ascending_counts", r"from the rarest to the most frequent"),
    ("vocab_ties_first_seen", r"the ties are not sorted by code point"),
    ("vocab_min_freq_strict", r"count >= min_freq"),
    ("vocab_no_reserved_ids", r"ids 0 and 1 are reserved"),
    ("vocab_ids_skip_one", r"with no gaps"),
    ("encode_width_of_longest", r"the width is always max_len"),
    ("encode_pads_front", r"the padding must come after the words"),
    ("encode_unknown_as_padding", r"its id is 1 \('<unk>'\)"),
    ("encode_truncates_one_short", r"keeps all of them, but its last one was dropped"),
    ("encode_keeps_last_tokens", r"those are its last 3 tokens"),
    ("fwd_padding_counted", r"come from the state after the last column"),
    ("fwd_first_state", r"come from H\[:, 0\], the state after the first word"),
    ("fwd_length_off_by_one", r"come from H\[:, L\], one step after the last real word"),
    ("fwd_softmax_output", r"these are probabilities"),
    ("fwd_relu", r"a ReLU recurrence"),
    ("fwd_H0_ones", r"started from ones"),
    ("fwd_transposed_W_hh", r"H\[:, t-1\] @ transpose\(W_hh\)"),
    ("grads_loss_summed", r"that is the SUM of the 5 sentences' cross-entropies"),
    ("grads_input_off_by_one", r"Only W_xh is wrong"),
    ("grads_no_tanh_derivative", r"wrong even for sentences of one word"),
    ("grads_tanh_derivative_of_previous_state", r"wrong even for sentences of one word"),
    ("grads_W_hh_not_transposed", r"right for sentences of one word and for a symmetric W_hh"),
    ("grads_one_step_only", r"carry the gradient back through every earlier step"),
    ("model_units_from_embed_dim", r"no recurrent layer of units = 16"),
    ("model_embedding_width_units", r"make the embedding embed_dim wide"),
    # round 4 (issue 29)
    ("model_reads_backwards", r"reads each sentence from its last word to its first \(go_backwards=True\)"),
    ("model_relu_logits", r"every logit is 0 or more .*a ReLU clips the negative scores"),
    ("train_shuffle_buffer_of_a_batch", r"the shuffle only mixes nearby rows"),
    ("train_batches_shuffled_whole", r"whole batches were shuffled, not the rows"),
    ("train_returns_fit_history", r"returned the History object that model.fit returns"),
    ("grads_db_h_mean", r"Only b_h is wrong \(it is the sum divided by the batch size"),
    ("grads_dW_hh_from_new_state", r"Only W_hh is wrong: dW_hh \+= H\[:, t-1\]\^T dA"),
])
def test_a2_messages_name_the_cause(name, expected):
    assert_flagged(A2, name, expected)


def test_a2_reference_and_keras_variants_pass_every_public_check():
    selected(A2)
    results = public_checks.run_checks(A2)
    assert all(v.startswith("✓") for v in results.values()), results
    for name in ("model_gru", "model_lstm", "encode_pad_sequences", "vocab_counter_and_sorted_items",
                 "fwd_gather_and_last_state_gather", "grads_tf_nn_cross_entropy_and_softmax"):
        assert verdict(A2, name).startswith("✓"), name


# Issue 29: the public check and the hidden suite agree, both ways, on every catalogued bug and variant. The mistakes
# added in round 4 always run; the whole catalogue with RNNKIT_SLOW=1 (minutes per assignment).
ROUND_4 = {"01_rnn_cell": ["fwd_numpy_step", "cell_state_returned_bare", "bptt_first_to_last"],
           "02_sentiment": ["model_reads_backwards", "model_relu_logits", "train_shuffle_buffer_of_a_batch",
                            "train_batches_shuffled_whole", "train_returns_fit_history", "grads_db_h_mean",
                            "grads_dW_hh_from_new_state"],
           "03_char_lm": ["random_yields_numpy", "sequential_stream_one_too_long",
                          "sequential_offset_from_global_random", "gen_rng_none_crashes",
                          "gen_first_char_from_first_step"]}


def assert_agree(assignment, name):
    selected(assignment)
    problems = public_checks.agreement(assignment, change(assignment, name))
    assert not problems, problems


@pytest.mark.parametrize("assignment, name", [(a, n) for a, names in ROUND_4.items() for n in names])
def test_round_4_mistakes_lose_points_on_their_own_item_in_public_and_hidden(assignment, name):
    assert_agree(assignment, name)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("RNNKIT_SLOW"), reason="minutes per assignment: set RNNKIT_SLOW=1")
@pytest.mark.parametrize("assignment", list(ROUND_4))
def test_public_check_and_hidden_suite_agree_on_the_whole_catalogue(assignment):
    selected(assignment)
    problems = {c.name: found for c in catalogue.catalogue(assignment) + catalogue.variants(assignment)
                if (found := public_checks.agreement(assignment, change(assignment, c.name)))}
    assert not problems, problems
