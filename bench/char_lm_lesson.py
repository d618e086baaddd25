"""The lesson of Assignment 3 on real text (issue 21, item 4): does the notebook's default run beat counting?

    nice -n 5 .venv/bin/python bench/char_lm_lesson.py --cache DIR [--max-epochs 30] [--gru-epochs 6]
                                                       [--markdown bench/results/char_lm_lesson.md]

``--cache DIR`` is a folder holding ``timemachine.txt`` (or where it may be downloaded): The Time Machine is read by
the notebook's own loader, ``corpora.load_default_corpus(cache_dir=DIR)``, which checks its SHA-1. The offline
fallback is what the same loader gives with no network and an empty cache (``online=False``): what a student
without internet trains on. For each corpus, prepared as the notebook prepares it (``letters_only``, the first
175,000 characters, the last 10 % for validation):

1. the n-gram baselines, n = 1 to 5, on the validation text (``corpora.ngram_perplexity``, as Part 3 prints them);
2. the notebook's run of Part 6 with the reference solution: its settings (``TEXT_RUN``) and its ``evaluate`` are
   read from the notebook's source, so what is measured is what the notebook runs. Each epoch is a call of
   ``train_char_lm(..., epochs=1, seed=epoch)`` as the notebook's ``fit`` makes it, so the first epochs of a longer
   run are the default run itself: one run to ``--max-epochs`` gives the default run, ``LONG_RUN`` and the epoch
   at which the network passes the trigram and the 4-gram;
3. a GRU trained as Part 9 trains it (Keras, Adam 0.005 with global clipping at 1, 128 units, 32-character
   windows at offsets 0 and 16, batches of 64, each validation window read from a zero state), epoch by epoch.

Seeds: ``keras.utils.set_random_seed(0)`` before each model, as in the notebook. TensorFlow's default threads (the
machine's cores), as in a notebook. Wall and CPU seconds per epoch and the load average are recorded: on a machine
shared with other work the wall times are pessimistic, the CPU seconds less so.
"""
import argparse
import ast
import math
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(ROOT, "assignments", "03_char_lm")
NOTEBOOK = os.path.join(FOLDER, "03_char_lm.py")
sys.path[:0] = [ROOT, FOLDER, os.path.join(ROOT, "assignments", "common")]

from quiet import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

import corpora  # noqa: E402
from solutions import char_lm as reference  # noqa: E402

NAMES = {1: "unigram", 2: "bigram", 3: "trigram", 4: "4-gram", 5: "5-gram"}


NOTEBOOK_PARTS = ("evaluate", "windows", "KerasCharLM")


def notebook_parts():
    """From the notebook's source: the settings TEXT_RUN (a dict literal), the functions evaluate and windows and
    Part 9's KerasCharLM, defined over the reference solution: (settings, {name: object})."""
    with open(NOTEBOOK, encoding="utf-8") as f:
        source = f.read()
    tree = ast.parse(source)
    settings, namespace = None, {"np": np, "tf": tf, "keras": keras, "math": math}
    namespace.update({k: v for k, v in vars(reference).items() if not k.startswith("__")})
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TEXT_RUN" for t in node.targets):
            settings = ast.literal_eval(node.value)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in NOTEBOOK_PARTS:
            exec(compile(ast.Module([node], []), NOTEBOOK, "exec"), namespace)
    missing = [name for name in NOTEBOOK_PARTS if name not in namespace]
    if settings is None or missing:
        raise SystemExit(f"{NOTEBOOK}: {', '.join(['TEXT_RUN'] * (settings is None) + missing)} not found")
    return settings, {name: namespace[name] for name in NOTEBOOK_PARTS}


def prepared(raw_text):
    """As Part 1 of the notebook: letters only, the first 175,000 characters, ids, the last 10 % for validation."""
    text = corpora.letters_only(raw_text)[:175_000]
    char_to_idx, idx_to_char = reference.build_char_vocab(text)
    ids = np.array([char_to_idx[c] for c in text], dtype=np.int32)
    cut = int(0.9 * len(ids))
    return ids[:cut], ids[cut:], len(idx_to_char), len(text)


def rnn_run(train_ids, valid_ids, V, settings, evaluate, epochs, log):
    """The notebook's fit, epoch by epoch: [(epoch, training ppl, validation ppl, wall s, CPU s)] (cumulative)."""
    run = dict(settings)
    units = run.pop("units")
    for key in ("epochs", "long_epochs"):
        run.pop(key, None)
    keras.utils.set_random_seed(0)
    model = reference.CharRNNLM(V, units)
    rows, wall, cpu = [], time.time(), time.process_time()
    for epoch in range(epochs):
        train = reference.train_char_lm(model, train_ids, epochs=1, seed=epoch, **run)[0]
        valid = evaluate(model, valid_ids)
        rows.append((epoch + 1, train, valid, time.time() - wall, time.process_time() - cpu))
        log(f"  RNN epoch {epoch + 1}: training {train:.3f}, validation {valid:.3f} "
            f"({rows[-1][3]:.0f} s wall, {rows[-1][4]:.0f} s CPU, load {os.getloadavg()[0]:.1f})")
    return rows


def gru_run(train_ids, valid_ids, V, windows, KerasCharLM, epochs, log):
    """A GRU as Part 9 trains and scores it, epoch by epoch: [(epoch, validation ppl, wall s, CPU s)]."""
    X_train, Y_train = windows(train_ids, (0, 16))
    X_valid, Y_valid = windows(valid_ids, (0,))
    keras.utils.set_random_seed(0)
    model = KerasCharLM(keras.layers.GRU(128, return_sequences=True), V)
    model.compile(optimizer=keras.optimizers.Adam(0.005, global_clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rows, wall, cpu = [], time.time(), time.process_time()
    for epoch in range(epochs):
        model.fit(X_train, Y_train, epochs=epoch + 1, initial_epoch=epoch, batch_size=64, verbose=0)
        valid = math.exp(model.evaluate(X_valid, Y_valid, verbose=0))
        rows.append((epoch + 1, valid, time.time() - wall, time.process_time() - cpu))
        log(f"  GRU epoch {epoch + 1}: validation {valid:.3f} ({rows[-1][2]:.0f} s wall, {rows[-1][3]:.0f} s CPU)")
    return rows


def first_below(rows, column, level):
    """The first row whose ``column`` is below ``level``, or None."""
    return next((row for row in rows if row[column] < level), None)


def corpus_section(name, length, baselines, settings, rnn, gru):
    default, long = settings["epochs"], settings["long_epochs"]
    lines = ["", f"## {name}", "", f"{length:,} characters after `letters_only` (the first 175,000), 90 % for "
             "training, 10 % for validation.", "",
             "| baseline | validation perplexity |", "| --- | --- |"]
    lines += [f"| {NAMES[n]} | {ppl:.2f} |" for n, ppl in baselines.items()]
    lines += ["", f"The notebook's run of Part 6 (`TEXT_RUN`, reference solution; default {default} epochs, "
              f"`LONG_RUN` {long}):", "",
              "| epoch | training perplexity | validation perplexity | wall s | CPU s |", "| --- | --- | --- | --- | --- |"]
    for epoch, train, valid, wall, cpu in rnn:
        mark = " (default run)" if epoch == default else (" (`LONG_RUN`)" if epoch == long else "")
        lines.append(f"| {epoch}{mark} | {train:.3f} | {valid:.3f} | {wall:.0f} | {cpu:.0f} |")
    summary = []
    at_default = next((r for r in rnn if r[0] == default), None)
    if at_default:
        verdict = "below" if at_default[2] < baselines[3] else "**not below**"
        summary.append(f"- Default run ({default} epochs): validation perplexity {at_default[2]:.2f}, {verdict} the "
                       f"trigram's {baselines[3]:.2f} (margin {baselines[3] - at_default[2]:+.2f}), "
                       f"{at_default[3]:.0f} s wall, {at_default[4]:.0f} s CPU.")
    for n in (3, 4):
        row = first_below(rnn, 2, baselines[n])
        summary.append(f"- The RNN first passes the {NAMES[n]} ({baselines[n]:.2f}) "
                       + (f"after epoch {row[0]} ({row[2]:.2f}, {row[3]:.0f} s wall, {row[4]:.0f} s CPU)." if row
                          else f"in none of the {len(rnn)} epochs run (best {min(r[2] for r in rnn):.2f})."))
    if gru:
        lines += ["", "A GRU as Part 9 trains it (each validation window from a zero state):", "",
                  "| epoch | validation perplexity | wall s | CPU s |", "| --- | --- | --- | --- |"]
        lines += [f"| {e} | {v:.3f} | {w:.0f} | {c:.0f} |" for e, v, w, c in gru]
        row = first_below(gru, 1, baselines[4])
        summary.append(f"- The GRU first passes the 4-gram ({baselines[4]:.2f}) "
                       + (f"after epoch {row[0]} ({row[1]:.2f}, {row[2]:.0f} s wall, {row[3]:.0f} s CPU)." if row
                          else f"in none of the {len(gru)} epochs run (best {min(r[1] for r in gru):.2f})."))
    return lines + [""] + summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", required=True, help="folder with timemachine.txt (SHA-1 checked), or to fill")
    parser.add_argument("--max-epochs", type=int, default=30, help="epochs of the RNN run (at least LONG_RUN's)")
    parser.add_argument("--gru-epochs", type=int, default=6)
    parser.add_argument("--corpora", default="tm,offline", help="tm, offline or both")
    parser.add_argument("--markdown", help="write the report here (keeping the notes below the marker)")
    args = parser.parse_args()
    settings, parts = notebook_parts()
    evaluate, windows = parts["evaluate"], parts["windows"]
    epochs = max(args.max_epochs, settings["long_epochs"])
    started, load_before = time.time(), os.getloadavg()
    print(f"TEXT_RUN = {settings}; load average {load_before}", flush=True)
    sections = []
    for which in args.corpora.split(","):
        if which == "tm":
            name, raw = corpora.load_default_corpus(cache_dir=args.cache)
            if name != "The Time Machine":
                raise SystemExit(f"The Time Machine is not in {args.cache} and could not be downloaded")
        else:
            with tempfile.TemporaryDirectory() as empty:
                name, raw = corpora.load_default_corpus(online=False, cache_dir=empty)
            name = f"Offline fallback: {name}"
        train_ids, valid_ids, V, length = prepared(raw)
        baselines = {n: corpora.ngram_perplexity(train_ids, valid_ids, n, V) for n in NAMES}
        print(name, {NAMES[n]: round(p, 3) for n, p in baselines.items()}, flush=True)
        rnn = rnn_run(train_ids, valid_ids, V, settings, evaluate, epochs, print)
        gru = (gru_run(train_ids, valid_ids, V, windows, parts["KerasCharLM"], args.gru_epochs, print)
               if args.gru_epochs else [])
        sections += corpus_section(name, length, baselines, settings, rnn, gru)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    lines = ["# Assignment 3: the lesson on real text", "",
             f"Command: `nice -n 5 .venv/bin/python bench/char_lm_lesson.py --cache DIR --max-epochs {args.max_epochs} "
             f"--gru-epochs {args.gru_epochs} --markdown bench/results/char_lm_lesson.md` (DIR holding a verified "
             f"copy of timemachine.txt), at commit {commit}; {(time.time() - started) / 60:.0f} min.",
             f"Seeds: `keras.utils.set_random_seed(0)` before each model. TensorFlow {tf.__version__}, Keras "
             f"{keras.__version__}, {os.cpu_count()} cores. Load average (1, 5, 15 min) before "
             f"{', '.join(f'{x:.2f}' for x in load_before)}, after {', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
             "", f"`TEXT_RUN` as the notebook sets it: `{settings}`."] + sections
    print("\n".join(lines))
    if args.markdown:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import calibration
        calibration.write_report(args.markdown, lines)
        print("wrote", args.markdown)


if __name__ == "__main__":
    main()
