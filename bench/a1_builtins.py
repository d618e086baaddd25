"""Assignment 1: TensorFlow's and Keras's own functions are correct answers. False failures of built-ins.

    nice -n 10 .venv/bin/python bench/a1_builtins.py [--seeds 20] [--markdown bench/results/a1_builtins.md]

Each built-in way of writing an item (a Variant in the catalogue's form, listed here and in variants.py) is graded
in process on its own item's hidden tests over grader seeds 0..N-1 (``bench/signatures.py``), and run through its
item's public check (``bench/a1_messages.py``). Any failure is a false failure: the goal is none.
Where the docstring forbids a built-in (RNNCell may not run SimpleRNNCell/SimpleRNN; backward passes may not use
autodiff), it is a bug of the catalogue instead, and not listed here.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import a1_messages  # noqa: E402  (puts the repository on sys.path)
from autograder.simulation import catalogue  # noqa: E402
from autograder.simulation.catalogue import Variant  # noqa: E402

A1 = "01_rnn_cell"
# Written in variants.py (so that ``rnnkit validate`` proves them too): every variant named builtin_*.
BUILTINS = [v for v in catalogue.variants(A1) if v.name.startswith("builtin_")]
SEQ_BODY = ("    H_t = H0\n    states = []\n    for t in range(X.shape[1]):\n"
            "        H_t = rnn_cell_forward(X[:, t], H_t, W_xh, W_hh, b_h)\n        states.append(H_t)\n"
            "    return tf.stack(states, axis=1)")
# Built-ins the docstring rules out, with the sentence that does: measured all the same, expected to fail.
FORBIDDEN = [
    Variant("builtin_simple_rnn_layer", "rnn_forward", SEQ_BODY,
            "    layer = keras.layers.SimpleRNN(W_hh.shape[0], return_sequences=True, dtype=X.dtype.name)\n"
            "    layer.build(X.shape)\n"
            "    layer.cell.kernel.assign(W_xh)\n    layer.cell.recurrent_kernel.assign(W_hh)\n"
            "    layer.cell.bias.assign(b_h)\n"
            "    return layer(X, initial_state=[H0])",
            "keras.layers.SimpleRNN holding the given weights, started from H0 (the docstring of rnn_forward does "
            "not forbid a Keras layer)."),
]
FORBIDDEN_BY = {"builtin_simple_rnn_layer": "rnn_forward's docstring: gradients flow from H back to every argument "
                                           "(a layer holding copies of the weights cuts them; the public check says so)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    from signatures import grade_change
    known = {v.name for v in catalogue.variants(A1)}
    lines = ["# Assignment 1: false failures of TensorFlow's and Keras's own functions", "",
             f"Command: `nice -n 10 .venv/bin/python bench/a1_builtins.py --seeds {args.seeds} --markdown "
             "bench/results/a1_builtins.md` (in process: the hidden tests of the item over grader seeds "
             f"0..{args.seeds - 1}, and its public check).", "",
             "| built-in | item | hidden tests failed (gradings) | public check | in variants.py |",
             "| --- | --- | --- | --- | --- |"]
    total = 0
    for variant in BUILTINS + FORBIDDEN:
        failures = []
        for seed in range(args.seeds):
            failures += [(seed, r["test"], r["message"][:200]) for r in grade_change(A1, variant, seed)
                         if r["status"] != "passed"]
        said = a1_messages.verdict(variant.cell, variant)
        public_ok = said == [f"✓ {variant.cell} looks right"]
        if variant.name not in FORBIDDEN_BY:
            total += len(failures) + (not public_ok)
        detail = "0" if not failures else f"**{len(failures)}** (first: seed {failures[0][0]} {failures[0][1]}: " \
                                          f"{failures[0][2]})"
        lines.append(f"| `{variant.name}`: {variant.why} | {variant.cell} | {detail} | "
                     f"{'✓' if public_ok else '**' + ' / '.join(said) + '**'} | "
                     f"{'yes' if variant.name in known else 'no: ' + FORBIDDEN_BY.get(variant.name, '')} |")
        print(lines[-1], flush=True)
    lines += ["", f"False failures: **{total}** over {len(BUILTINS)} built-ins x {args.seeds} seeds and their public "
              f"checks (the {len(FORBIDDEN)} built-in(s) the docstrings rule out are listed, not counted)."]
    print("\n".join(lines))
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
