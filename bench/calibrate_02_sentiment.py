"""Calibrates the training checks of Assignment 2 and measures the baselines; writes bench/results/02_sentiment.md.

    .venv/bin/python bench/calibrate_02_sentiment.py [--seeds 20] [--variant-seeds 5] [--real-dir DIR]

1. The reference (solutions/sentiment.py) through the grader's own harness and budget, on the hidden split of
   many grading seeds: accuracy overall and on the negated/contrasted sentences, the bag-of-words baseline, time.
2. Other correct solutions (LSTM, GRU, no clipping) and broken ones (padding not masked, a bag-of-words model,
   softmax outputs, the learning rate ignored, RMSprop, ...), on fewer seeds: the thresholds must accept the first;
   the second are rejected by them or, where they train well (softmax outputs, RMSprop), by a contract check.
3. Real sentences (the 3,000 of Kotzias et al., if --real-dir holds them): bag of words vs the reference RNN.

Heavy: one training run at a time, 2 threads (the grader's setting). Timings on a shared machine are pessimistic.
"""
import argparse
import os
import statistics
import time

import calibration  # noqa: E402  (beside this script; puts the repository on sys.path)
from calibration import caller, summary  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from autograder import project  # noqa: E402
suite = __import__("importlib").import_module("autograder.hidden.02_sentiment.test_02_sentiment")  # noqa: E402
from solutions import sentiment as ref  # noqa: E402

DATA = suite.DATA
REAL_DIR = "/work/shared/data/sentiment_labelled_sentences"
L = keras.layers


# ---------------------------------------------------------------------------------------------------- variants
def _sequential(*layers):
    return keras.Sequential([keras.Input(shape=(None,), dtype="int32"), *layers])


def _compile_fit(model, X, y, epochs, batch_size, seed, optimizer, loss=None):
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=optimizer, metrics=["accuracy"],
                  loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # shuffled anew every epoch, as the contract asks (fit(shuffle=True) repeats one order after set_random_seed)
    rows = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
    history = model.fit(rows.batch(batch_size), epochs=epochs, shuffle=False, verbose=0)
    return {k: [float(v) for v in history.history[k]] for k in ("loss", "accuracy")}


# name -> (correct?, build_sentiment_model or None for the reference, train_sentiment or None)
VARIANTS = {
    "LSTM layer": (True, lambda V, d, u, C=2: _sequential(L.Embedding(V, d, mask_zero=True), L.LSTM(u), L.Dense(C)),
                   None),
    "GRU layer": (True, lambda V, d, u, C=2: _sequential(L.Embedding(V, d, mask_zero=True), L.GRU(u), L.Dense(C)),
                  None),
    "Adam without clipping": (True, None, lambda m, X, y, *, epochs, batch_size, learning_rate, seed: _compile_fit(
        m, X, y, epochs, batch_size, seed, keras.optimizers.Adam(learning_rate))),
    "RMSprop (not Adam: test_optimizer_is_adam fails it)": (
        False, None, lambda m, X, y, *, epochs, batch_size, learning_rate, seed: _compile_fit(
            m, X, y, epochs, batch_size, seed, keras.optimizers.RMSprop(learning_rate))),
    "padding not masked": (False, lambda V, d, u, C=2: _sequential(L.Embedding(V, d), L.SimpleRNN(u), L.Dense(C)),
                           None),
    "bag-of-words model (average of embeddings)": (False, lambda V, d, u, C=2: _sequential(
        L.Embedding(V, d, mask_zero=True), L.GlobalAveragePooling1D(), L.Dense(C)), None),
    "softmax on the outputs": (False, lambda V, d, u, C=2: _sequential(
        L.Embedding(V, d, mask_zero=True), L.SimpleRNN(u), L.Dense(C, activation="softmax")), None),
    "learning rate ignored (Adam's 0.001)": (False, None, lambda m, X, y, *, epochs, batch_size, learning_rate, seed:
                                             _compile_fit(m, X, y, epochs, batch_size, seed,
                                                          keras.optimizers.Adam(global_clipnorm=1.0))),
    "from_logits=False on logits": (False, None, lambda m, X, y, *, epochs, batch_size, learning_rate, seed:
                                    _compile_fit(m, X, y, epochs, batch_size, seed,
                                                 keras.optimizers.Adam(learning_rate, global_clipnorm=1.0),
                                                 keras.losses.SparseCategoricalCrossentropy())),
    "one epoch only": (False, None, lambda m, X, y, *, epochs, batch_size, learning_rate, seed: ref.train_sentiment(
        m, X, y, epochs=1, batch_size=batch_size, learning_rate=learning_rate, seed=seed)),
}



def harness_namespace(build=None, train=None):
    replacements = {"build_sentiment_model": build, "train_sentiment": train}
    return calibration.harness_namespace("02_sentiment", ref, **{k: v for k, v in replacements.items() if v})

def grading_run(seed, namespace, students_model=True):
    """One grading run as the suite makes it: the held-out split from a hidden seed (here ``seed`` plays it), the
    training seed the sandbox sees derived apart from it."""
    problem = suite.hidden_problem(seed)
    started = time.time()
    result = suite.train_and_predict(caller(namespace), problem, (seed * 7919 + 1) % 2**31, students_model)
    seconds = time.time() - started
    overall, hard, bow = suite.accuracies(problem, result["logits"])
    return {"seed": seed, "overall": overall, "hard": hard, "bow_hard": bow, "seconds": seconds,
            "untrained": suite.untrained_accuracy(problem, result),
            "bow_overall": float(np.mean(problem["bow_predictions"] == problem["test_labels"]))}


def verdict(run):
    return (run["overall"] >= suite.MIN_ACCURACY and run["untrained"] < suite.MAX_UNTRAINED_ACCURACY
            and run["hard"] >= max(suite.MIN_HARD_ACCURACY, run["bow_hard"] + suite.MIN_MARGIN_OVER_BOW))


# ---------------------------------------------------------------------------------------------------- real data
def real_sentences(directory, seed):
    sentences, labels = [], []
    for name in sorted(os.listdir(directory)):
        if name.endswith("_labelled.txt"):
            s, y = DATA.load_tsv(os.path.join(directory, name))
            sentences += s
            labels.append(y)
    labels = np.concatenate(labels)
    order = np.random.default_rng(seed).permutation(len(sentences))
    cut = int(0.8 * len(order))
    pick = lambda index: ([sentences[i] for i in index], labels[index])
    return pick(order[:cut]), pick(order[cut:])


def real_run(directory, seed):
    (train_s, train_y), (test_s, test_y) = real_sentences(directory, seed)
    train_tokens, test_tokens = [DATA.tokenize(s) for s in train_s], [DATA.tokenize(s) for s in test_s]
    bow = DATA.BagOfWords(steps=300).fit(train_tokens, train_y)
    bow_accuracy = float(np.mean(bow.predict(test_tokens) == test_y))
    vocab = ref.build_vocab(train_tokens)
    X_train, X_test = ref.encode(train_tokens, vocab, 40), ref.encode(test_tokens, vocab, 40)
    keras.utils.set_random_seed(seed)
    model = ref.build_sentiment_model(len(vocab), 32, 32)
    started = time.time()
    history = ref.train_sentiment(model, X_train, train_y, epochs=8, batch_size=32, learning_rate=0.003, seed=seed)
    seconds = time.time() - started
    rnn_accuracy = float(np.mean(np.argmax(model.predict(X_test, verbose=0), axis=1) == test_y))
    return {"seed": seed, "bow": bow_accuracy, "rnn": rnn_accuracy, "seconds": seconds, "vocab": len(vocab),
            "train_accuracy": history["accuracy"][-1], "n_train": len(train_s), "n_test": len(test_s)}


# ---------------------------------------------------------------------------------------------------- report
def generated_data_baselines():
    """Bag of words and the reference (notebook settings) on the committed data/02_sentiment files."""
    folder = os.path.join(project.DATA, "02_sentiment")
    (train_s, train_y), (test_s, test_y) = (DATA.load_tsv(os.path.join(folder, f"{n}.tsv")) for n in ("train", "test"))
    train_tokens, test_tokens = [DATA.tokenize(s) for s in train_s], [DATA.tokenize(s) for s in test_s]
    kinds = np.array([DATA.sentence_kind(s) for s in test_s])
    bow = DATA.BagOfWords().fit(train_tokens, train_y).predict(test_tokens)
    vocab = ref.build_vocab(train_tokens)
    keras.utils.set_random_seed(0)
    model = ref.build_sentiment_model(len(vocab), 16, 32)
    started = time.time()
    ref.train_sentiment(model, ref.encode(train_tokens, vocab, 20), train_y, epochs=10, batch_size=32,
                        learning_rate=0.01, seed=0)
    seconds = time.time() - started
    rnn = np.argmax(model.predict(ref.encode(test_tokens, vocab, 20), verbose=0), axis=1)
    rows = []
    for kind in ("plain", "negated", "contrast", "long", "all"):
        mask = kinds == kind if kind != "all" else np.ones(len(kinds), bool)
        rows.append((kind, int(mask.sum()), float(np.mean(bow[mask] == test_y[mask])),
                     float(np.mean(rnn[mask] == test_y[mask]))))
    return rows, seconds


def write_report(path, reference, variants, real, generated, seconds_generated, args):
    lines = ["# Assignment 2 — calibration of the training checks and baselines", "",
             f"Written by `bench/calibrate_02_sentiment.py --seeds {args.seeds} --variant-seeds "
             f"{args.variant_seeds}` on a machine with {os.cpu_count()} CPU cores shared with other jobs "
             "(timings are pessimistic), TensorFlow " + tf.__version__ + ", Keras " + keras.__version__ + ".", "",
             "## The budget of the hidden training check", "",
             "The trusted side generates a held-out split from `hidden_seed` alone (`sentiment_data.make_splits` "
             "keyed with a SHA-256 of it, plain/negated/contrast sentences only), builds the vocabulary, shuffles "
             "which id stands for which word, and sends the ids of the training sentences with their labels and the "
             "ids of the test sentences without theirs. Inside the sandbox the harness builds the student's model "
             "(seeded), sends its logits before any training (flagged at or above the untrained limit), and trains "
             "it with the reference `train_sentiment` (item build_sentiment_model); a second run trains a fixed "
             "embedding + SimpleRNN model (built by the harness) with the student's `train_sentiment` (item "
             "train_sentiment). Both runs use this budget:", "",
             "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in suite.BUDGET.items()]
    lines += ["", "## Thresholds and the distributions they come from", "",
              f"Reference through the grader's harness, {len(reference)} grading seeds "
              f"({', '.join(str(r['seed']) for r in reference)}):", "",
              "| measure | distribution over seeds |", "| --- | --- |",
              f"| accuracy, all test sentences | {summary([r['overall'] for r in reference])} |",
              f"| accuracy, negated + contrasted | {summary([r['hard'] for r in reference])} |",
              f"| bag of words, all test sentences | {summary([r['bow_overall'] for r in reference])} |",
              f"| bag of words, negated + contrasted | {summary([r['bow_hard'] for r in reference])} |",
              f"| reference margin over bag of words (hard) | "
              f"{summary([r['hard'] - r['bow_hard'] for r in reference])} |",
              f"| accuracy before training (untrained model) | {summary([r['untrained'] for r in reference])} |",
              f"| training time (s), in the harness | {summary([r['seconds'] for r in reference])} |", "",
              f"Thresholds in `autograder/hidden/02_sentiment/test_02_sentiment.py`: accuracy ≥ **{suite.MIN_ACCURACY}** overall, "
              f"and on the negated/contrasted sentences ≥ **max({suite.MIN_HARD_ACCURACY}, bag of words + "
              f"{suite.MIN_MARGIN_OVER_BOW})**; an untrained model at or above **{suite.MAX_UNTRAINED_ACCURACY}** is "
              f"flagged. The reference passed on "
              f"{sum(verdict(r) for r in reference)} of {len(reference)} seeds.", "",
              "Per seed (reference):", "", "| seed | overall | hard | bag of words (hard) | seconds |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['seed']} | {r['overall']:.3f} | {r['hard']:.3f} | {r['bow_hard']:.3f} | {r['seconds']:.1f} |"
              for r in reference]
    lines += ["", "## Other solutions: the thresholds accept the correct ones and reject the broken ones", "",
              "| variant | correct? | overall | hard | untrained | passes (seeds) |", "| --- | --- | --- | --- | --- | --- |"]
    for name, runs in variants.items():
        correct = VARIANTS[name][0]
        lines.append(f"| {name} | {'yes' if correct else 'no'} | {summary([r['overall'] for r in runs])} | "
                     f"{summary([r['hard'] for r in runs])} | {summary([r['untrained'] for r in runs])} | "
                     f"{sum(verdict(r) for r in runs)} of {len(runs)} |")
    lines += ["", "## The committed data (data/02_sentiment), notebook settings", "",
              f"Reference: embedding 16, SimpleRNN 32, 10 epochs of the 3,000 training sentences, batch 32, "
              f"learning rate 0.01, seed 0 ({seconds_generated:.1f} s). Bag of words: `sentiment_data.BagOfWords`.",
              "", "| test sentences | count | bag of words | reference RNN |", "| --- | --- | --- | --- |"]
    lines += [f"| {kind} | {count} | {bow:.3f} | {rnn:.3f} |" for kind, count, bow, rnn in generated]
    if real:
        lines += ["", "## Real sentences (Kotzias et al., 3,000 review sentences; measurement only)", "",
                  f"A seeded 80/20 split ({real[0]['n_train']} / {real[0]['n_test']}), vocabulary of the training "
                  f"part (~{real[0]['vocab']} ids), max_len 40. Reference: embedding 32, SimpleRNN 32, 8 epochs, "
                  "batch 32, learning rate 0.003.", "",
                  "| split seed | bag of words | reference RNN | RNN train accuracy | seconds |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['seed']} | {r['bow']:.3f} | {r['rnn']:.3f} | {r['train_accuracy']:.3f} | "
                  f"{r['seconds']:.1f} |" for r in real]
        lines += ["", f"Mean: bag of words {statistics.mean(r['bow'] for r in real):.3f}, reference RNN "
                  f"{statistics.mean(r['rnn'] for r in real):.3f}."]
    calibration.write_report(path, lines)


def contract_margins(seeds):
    """Margins of two contract checks on the reference, correct variants and the nearest wrong answers:
    the history check (test_history_holds_the_epoch_means: each answer's relative error against the nearer of the
    two accepted epoch means) and the optimizer check (test_optimizer_is_adam: how far the first step's largest
    move of each weight is from learning_rate, relatively)."""
    from autograder.simulation import catalogue
    names = {"history": ("train_hand_written_loop", "train_history_after_each_epoch"),
             "adam": ("train_hand_written_loop", "train_adam_without_clipping", "train_rmsprop", "train_sgd",
                      "train_lr_ignored")}
    namespaces = {"reference": harness_namespace()}
    for change in catalogue.variants("02_sentiment") + catalogue.catalogue("02_sentiment"):
        if change.name in names["history"] + names["adam"]:
            namespaces[change.name] = calibration.changed_namespace("02_sentiment", ref, change)
    errors = {name: {"loss": [], "accuracy": [], "down": []} for name in ("reference",) + names["history"]}
    steps = {name: [] for name in ("reference",) + names["adam"]}
    ratios = {name: [] for name in ("reference",) + names["adam"]}
    for seed in range(seeds):
        ids, labels, vocab_size = suite.probe_rows(suite.hidden_problem(seed))
        run = suite.ORDER_RUN
        for name in errors:
            result = caller(namespaces[name])("_sentiment_probe", ids[:run["rows"]], labels[:run["rows"]],
                                              vocab_size, run["epochs"], run["batch_size"], 0.01, seed, 0,
                                              suite.FINGERPRINT_STRIDE)
            row_mean, batch_mean, accuracy = suite.epoch_means(result, ids, labels, **run)
            loss = np.asarray(result["history"]["loss"])
            errors[name]["loss"].append(float(min(np.max(np.abs(loss / row_mean - 1)),
                                                  np.max(np.abs(loss / batch_mean - 1)))))
            errors[name]["accuracy"].append(float(np.max(np.abs(np.asarray(result["history"]["accuracy"])
                                                                - accuracy))))
            errors[name]["down"].append(float(loss[-1] / loss[0]))   # test_history_contract: below 1
        rows, learning_rate = suite.ADAM_STEP_RUN["rows"], suite.ADAM_STEP_RUN["learning_rate"]
        for name in steps:
            result = caller(namespaces[name])("_sentiment_probe", ids[:rows], labels[:rows], vocab_size, 1, rows,
                                              learning_rate, seed, 0, suite.FINGERPRINT_STRIDE)
            steps[name].append(float(np.max(np.abs(suite.adam_step_moves(result, learning_rate) - 1))))
            small = caller(namespaces[name])("_sentiment_probe", ids[:rows], labels[:rows], vocab_size, 1, rows,
                                             0.001, seed, 0, suite.FINGERPRINT_STRIDE)
            ratios[name].append(max(result["moved"]) / max(small["moved"]))   # test_learning_rate_honoured
    lines = ["## Margins of the history check (reference against the nearest wrong answer)", "",
             f"`--contract-seeds {seeds}`: one probe run per seed ({suite.ORDER_RUN}); the check accepts a relative "
             f"error of {suite.HISTORY_RTOL:g} on the loss (against the mean over the rows or the mean of the batch "
             f"means) and {suite.HISTORY_ATOL_ACCURACY:g} on the accuracy.", "",
             "| answer | loss: relative error | accuracy: absolute error | last epoch's loss / first's (< 1 asked) |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {summary(e['loss'], 6)} | {summary(e['accuracy'], 4)} | {summary(e['down'], 3)} |"
              for name, e in errors.items()]
    lines += ["", "## Margins of the optimizer check (Adam's first step)", "",
              f"`--contract-seeds {seeds}`: one full-batch step per seed ({suite.ADAM_STEP_RUN}); the check accepts "
              f"|largest move of a weight / learning_rate - 1| < {suite.ADAM_STEP_RTOL:g} for every kernel (input, "
              "recurrent, output).", "",
              "| answer | worst relative error over the kernels |", "| --- | --- |"]
    lines += [f"| {name} | {summary(e, 5)} |" for name, e in steps.items()]
    lines += ["", "## Margins of the learning-rate check (one full-batch step at 0.01 against one at 0.001)", "",
              f"`--contract-seeds {seeds}`: the largest move of a weight with learning_rate 0.01 over the largest with "
              "0.001, on the same rows from the same weights; the check accepts 4 to 25.", "",
              "| answer | ratio |", "| --- | --- |"]
    lines += [f"| {name} | {summary(e, 3)} |" for name, e in ratios.items()]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--variant-seeds", type=int, default=5)
    parser.add_argument("--variants", default="all", help="comma-separated names, or 'all' or 'none'")
    parser.add_argument("--real-dir", default=REAL_DIR)
    parser.add_argument("--real-seeds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(calibration.ROOT, "bench", "results", "02_sentiment.md"))
    parser.add_argument("--contract-seeds", type=int, default=0,
                        help="only measure the margins of the history and optimizer checks on this many seeds and print them")
    args = parser.parse_args()
    if args.contract_seeds:
        print("\n".join(contract_margins(args.contract_seeds)))
        return
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)

    generated, seconds_generated = generated_data_baselines()
    print("generated data:", generated, f"{seconds_generated:.1f} s", flush=True)
    seeds = [int(s) for s in np.random.default_rng(2024).integers(0, 2**31, args.seeds)]
    names = list(VARIANTS) if args.variants == "all" else [] if args.variants == "none" else args.variants.split(",")
    reference, variants = calibration.grading_runs(grading_run, harness_namespace, VARIANTS, names, seeds,
                                                   args.variant_seeds)
    real = []
    if args.real_dir and os.path.isdir(args.real_dir):
        for seed in range(args.real_seeds):
            real.append(real_run(args.real_dir, seed))
            print("real", real[-1], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write_report(args.out, reference, variants, real, generated, seconds_generated, args)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
