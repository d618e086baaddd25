"""Assignment 1: what the public checks say to common mistakes (43), and whether the sentence names the cause.

    nice -n 10 .venv/bin/python bench/a1_messages.py [--markdown bench/results/a1_messages.md]

Each mistake is a change to the reference answer of one item (most from the bug catalogue, the others written here
as a student would); the check cell of that item runs in process, in a namespace built as the notebook builds it
(the set-up cell, every reference answer, then the changed one), and its ✓/✗ line is compared with a pattern naming
the cause. ``tests/test_a1_messages.py`` asserts every row.
"""
import argparse
import contextlib
import io
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

from autograder import project  # noqa: E402
from autograder.simulation import catalogue  # noqa: E402

A1 = "01_rnn_cell"
FOLDER = os.path.join(project.ASSIGNMENTS, A1)
COMMON = os.path.join(project.ASSIGNMENTS, "common")


def bug(name):
    found = next(b for b in catalogue.catalogue(A1) if b.name == name)
    return found.cell, found


class Change:
    """A mistake written here (not in the catalogue), in the catalogue's form."""
    def __init__(self, name, cell, old, new, more=()):
        self.name, self.cell, self.old, self.new, self.more = name, cell, old, new, tuple(more)


# (mistake, (item, change), pattern the ✗ sentence must match to name the cause)
MISTAKES = [
    ("tf.GradientTape inside rnn_cell_backward", bug("bwd_gradient_tape"), r"ran tf\.GradientTape: this part is the derivation by hand"),
    ("tf.GradientTape inside rnn_backward", bug("bptt_gradient_tape"), r"ran tf\.GradientTape: this part is the derivation by hand"),
    ("dH_next not carried back", bug("bptt_no_carry"), r"The gradient from later steps is not carried back"),
    ("RNNCell.call returns h instead of (h, [h])",
     ("RNNCell", Change("call_returns_h", "RNNCell", "return h, [h]", "return h")), r"call must return two things, the output and the list of new states, \(h, \[h\]\)"),
    ("missing bias in rnn_cell_forward", bug("fwd_missing_bias"), r"rnn_cell_forward does not use b_h"),
    ("a Python list returned by rnn_forward",
     ("rnn_forward", Change("returns_list", "rnn_forward", "return tf.stack(states, axis=1)", "return states")), r"returned a Python list of 4 tensors: stack .*tf\.stack\(states, axis=1\)"),
    ("X[:, t - 1] at step t",
     ("rnn_forward", Change("x_late", "rnn_forward", "rnn_cell_forward(X[:, t], H_t", "rnn_cell_forward(X[:, t - 1], H_t")), r"step t reads X\[:, t - 1\]"),
    ("1 - tf.tanh(H_t)**2", bug("bwd_tanh_of_cache"), r"All five gradients are wrong.*look at tanh' first.*tanh\(H_t\) applies it twice"),
    ("tf.zeros defaulting to float32", bug("bptt_zeros_float32"), r"tf\.zeros, tf\.ones, tf\.constant and the tf\.random functions make float32 unless given dtype="),
    ("H[:, t - 1] at t = 0", bug("bptt_h_prev_wraps"), r"Only dW_hh is wrong.*H\[:, -1\] at t = 0 is the last state"),
    ("a float32 computation in rnn_cell_forward", bug("fwd_float32_detour"), r"H_t \(float64\).*size of float32 rounding"),
    ("states @ recurrent_kernel in RNNCell.call",
     ("RNNCell", Change("states_matmul", "RNNCell", "tf.matmul(h_prev, self.recurrent_kernel)", "tf.matmul(states, self.recurrent_kernel)")), r"use states\[0\], not states itself"),
    ("np.tanh in rnn_cell_forward",
     ("rnn_cell_forward", Change("np_tanh", "rnn_cell_forward", "return tf.tanh(A)", "return np.tanh(A)")), r"returned a NumPy array .*not a TensorFlow tensor.*np\.tanh"),
    ("X[t] instead of X[:, t]",
     ("rnn_forward", Change("x_batch_axis", "rnn_forward", "rnn_cell_forward(X[:, t], H_t", "rnn_cell_forward(X[t], H_t")), r"rnn_forward\(X=float32 tensor \(2, 4, 3\).*raised InvalidArgumentError in rnn_cell_forward.*Incompatible shapes"),
    ("dW_hh with its factors swapped", bug("bwd_dW_hh_transposed"), r"1 of 5 gradients .*Only dW_hh is wrong: it is H_prev\^T dA"),
    ("states stored before the update (H0 and the states before each step)", bug("seq_off_by_one"), r"H\[:, 0\] equals H0: H must hold the state after each step t = 0\.\.T-1"),
    ("db_h as a mean over the batch", bug("bwd_db_mean"), r"Only db_h is wrong: .*sum of dA over the batch"),
    ("states stacked time-major", bug("seq_time_major"), r"H: expected shape \(2, 4, 5\), got \(4, 2, 5\)"),
    # issue 21: the cause, not only the numbers, for wrong values; and the RNNCell contracts the check did not see
    ("tf.nn.relu as the activation", bug("fwd_relu"), r"tiny example: these are ReLU of the pre-activation .*: the activation is tanh \(tf\.tanh\), not ReLU\. In numbers: 2 of 2 values differ"),
    ("tf.sigmoid as the activation", bug("fwd_sigmoid"), r"tiny example: these are the logistic sigmoid of the pre-activation .*\. In numbers: 2 of 2 values differ"),
    ("no activation at all",
     ("rnn_cell_forward", Change("no_activation", "rnn_cell_forward", "return tf.tanh(A)", "return A")), r"these are the pre-activation .* itself: apply tf\.tanh to it\. In numbers"),
    ("H_prev @ tf.transpose(W_hh)", bug("fwd_transposed_W_hh"), r"tiny example: these are tanh\(X_t W_xh \+ H_prev W_hh\^T \+ b_h\): W_hh is used transposed.*H_prev @ W_hh\. In numbers"),
    ("matmul(H_prev, W_hh, transpose_b=True)",
     ("rnn_cell_forward", Change("transpose_b", "rnn_cell_forward", "H_prev @ W_hh", "tf.matmul(H_prev, W_hh, transpose_b=True)")), r"W_hh is used transposed"),
    ("the steps run from last to first", bug("seq_reversed_time"), r"H \(float32\): H is the recurrence run over X from the last step to the first.*reversed\(range\(T\)\)\?\)\. In numbers: 40 of 40 values differ"),
    ("reversed steps stored back in time order",
     ("rnn_forward", Change("reversed_inserted", "rnn_forward", "for t in range(X.shape[1]):", "for t in range(X.shape[1] - 1, -1, -1):",
                            more=(("        states.append(H_t)", "        states.insert(0, H_t)"),))), r"from the last step to the first, stored back in time order"),
    ("every step from H0", bug("seq_state_not_carried"), r"H \(float32\): every step starts from H0: step t must start from .*H\[:, t - 1\].*\. In numbers: 30 of 40 values differ"),
    ("RNNCell.call without the bias", bug("cell_missing_bias"), r"output of cell\(inputs, \[h_prev\]\): these are .* without the bias: add self\.bias.*\. In numbers: 15 of 15 values differ"),
    ("RNNCell.call adds the bias after tanh",
     ("RNNCell", Change("cell_bias_after", "RNNCell", "tf.matmul(h_prev, self.recurrent_kernel) + self.bias)", "tf.matmul(h_prev, self.recurrent_kernel)) + self.bias")), r"the bias belongs inside the tanh"),
    ("RNNCell.call with recurrent_kernel transposed", bug("cell_transposed_recurrent"), r"output of cell\(inputs, \[h_prev\]\): these are what the transposed recurrent_kernel gives"),
    ("RNNCell.call returns the incoming states", bug("cell_state_not_updated"), r"new state of cell.*: these are h_prev, the state the step was given: return the new h, as \(h, \[h\]\)"),
    ("kernel initialised glorot_normal", bug("cell_kernel_glorot_normal"), r"initial kernel .* should be glorot_uniform.*beyond the limit: a normal initialiser such as glorot_normal"),
    ("kernel initialised random_normal",
     ("RNNCell", Change("kernel_random_normal", "RNNCell", 'shape=(d, self.units), initializer="glorot_uniform"', 'shape=(d, self.units), initializer="random_normal"')), r"initial kernel .* should be glorot_uniform, as in SimpleRNNCell: uniform in ±0\.327"),
    ("recurrent_kernel initialised as the identity",
     ("RNNCell", Change("recurrent_identity", "RNNCell", 'initializer="orthogonal"', 'initializer="identity"')), r"initial recurrent_kernel is the identity: .*initializer='orthogonal'"),
    ("get_config returns only units", bug("cell_config_units_only"), r"from_config\(cell\.get_config\(\)\) should give back the same layer.*no 'name' and no 'dtype'.*super\(\)\.get_config\(\)"),
    ("get_config returns units and name only",
     ("RNNCell", Change("config_no_dtype", "RNNCell", 'return {**super().get_config(), "units": self.units}', 'return {"units": self.units, "name": self.name}')), r"with dtype float32 \(get_config\(\) has no 'dtype'\): start get_config from super\(\)\.get_config\(\)"),
    ("RNNCell delegates to keras.layers.SimpleRNNCell", bug("cell_wraps_keras_cell"), r"RNNCell ran keras\.layers\.SimpleRNNCell: it must compute the step itself"),
    ("tf.tensordot over axis 1 of H", bug("out_2d_only"), r"It works for the states of one step, \(n, h\), but not for a sequence, \(n, T, h\): contract the LAST axis"),
    ("only the last step's outputs", bug("out_last_step_only"), r"got \(2, 5\): only the last step's outputs"),
    ("the time axis merged into the batch", bug("out_flattened"), r"got \(6, 5\): the time axis was merged into the batch"),
    ("a scalar bias added to H before the product", bug("out_bias_through_weights"), r"O - H W_hq is the same vector in every row but not b_q .*O = H W_hq \+ b_q"),
    # round 4 (issue 29): a backward loop run forwards, a bare state from call, a whole step in NumPy
    ("the backward loop from the first step to the last", bug("bptt_first_to_last"), r"the gradient was carried forward in time.*reversed\(range\(T\)\)"),
    ("(h, h) from RNNCell.call", bug("cell_state_returned_bare"), r"call must return \(h, \[h\]\): its second value is the list of new states"),
    ("the whole step in NumPy", bug("fwd_numpy_step"), r"returned a NumPy array .*not a TensorFlow tensor"),
]


def cells():
    """{grade_id: source} of the authored notebook's code cells."""
    with open(os.path.join(FOLDER, f"{A1}.py"), encoding="utf-8") as f:
        text = f.read()
    found = {}
    for chunk in re.split(r"^# %%", text, flags=re.M)[1:]:
        header, _, body = chunk.partition("\n")
        match = re.search(r'"grade_id": "(\w+)"', header)
        if match and "[markdown]" not in header:
            found[match.group(1)] = body
    return found


def verdict(item, change):
    """The ✓/✗ lines the item's check cell prints with ``change`` applied to the reference answers."""
    for path in (COMMON, FOLDER):
        if path not in sys.path:
            sys.path.insert(0, path)
    import publiccheck
    publiccheck._passed.clear()
    publiccheck._failures.clear()
    source = cells()
    namespace = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source["setup"], "setup", "exec"), namespace)
        for name in project.top_level_definitions(open(project.solution_file(A1), encoding="utf-8").read()):
            text = project.reference_source(A1, name)
            if change is not None and name == change.cell:
                text = catalogue.substitute(text, change)
            exec(compile(text, f"<answer {name}>", "exec"), namespace)
        exec(compile(source[f"test_{item}"], f"<check {item}>", "exec"), namespace)
    return [line for line in out.getvalue().splitlines() if line.startswith(("✓", "✗"))]


def rows():
    table = []
    for mistake, (item, change), pattern in MISTAKES:
        lines = verdict(item, change)
        said = lines[0] if len(lines) == 1 else " / ".join(lines) or "(nothing)"
        table.append({"mistake": mistake, "item": item, "change": change.name, "said": said,
                      "names_cause": len(lines) == 1 and lines[0].startswith("✗") and bool(re.search(pattern, said))})
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown")
    args = parser.parse_args()
    table = rows()
    lines = [f"# Assignment 1: the public checks' sentence for {len(table)} common mistakes", "",
             "Command: `nice -n 10 .venv/bin/python bench/a1_messages.py --markdown bench/results/a1_messages.md`", "",
             f"Names the cause: **{sum(r['names_cause'] for r in table)} of {len(table)}** (the ✗ sentence matches "
             "the pattern in `bench/a1_messages.py`; asserted by `tests/test_a1_messages.py`).", "",
             "| mistake | item | change | names the cause | what the check says |", "| --- | --- | --- | --- | --- |"]
    for r in table:
        said = r["said"].replace("|", "\\|")
        lines.append(f"| {r['mistake']} | {r['item']} | `{r['change']}` | {'yes' if r['names_cause'] else '**no**'} | "
                     f"{said} |")
    print("\n".join(lines))
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
