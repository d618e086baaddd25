"""Held-out data of Assignment 2 stays hidden (issue 8, class 2): a submission that regenerates the held-out split
from anything it is given (every number on the call stack, with the public generator released beside the
notebook) gains nothing, and a model that already classifies the held-out sentences before train_sentiment ran
(here: one that trains itself inside build_sentiment_model on data read from the caller's frame) scores 0 on
the accuracy checks, with a message for the instructor.

Both submissions reached full marks on these checks before the held-out split was derived from ``hidden_seed``
and the untrained model was evaluated (commit 8a7c970)."""
import pytest

from tests.conftest import grade_class

A2 = "02_sentiment"

FAKE_TRAINING = '''
def train_sentiment(model, X, y, *, epochs, batch_size, learning_rate, seed):
    """No training at all: a history that looks right."""
    return {"loss": [0.7 / (k + 1) for k in range(epochs)], "accuracy": [0.5 + 0.04 * k for k in range(epochs)]}
'''

REGENERATE = '''
import sys as _sys
import numpy as _np
import sentiment_data as _data   # the public generator, released beside the notebook

_SIZES = {"train": 2000, "test": 1000}


def _scopes():
    frame, scopes = _sys._getframe(1), []
    while frame is not None:
        scopes.append(dict(frame.f_locals))
        frame = frame.f_back
    return scopes


def _ints(scopes):
    found = []
    for scope in scopes:
        for value in scope.values():
            if isinstance(value, (int, _np.integer)) and not isinstance(value, bool) and 0 <= int(value) < 2**31:
                for seed in (int(value), int(value) + 2**31):  # a seed may have been reduced modulo 2**31
                    if seed not in found:
                        found.append(seed)
    return found[:60]


def _given(scopes, name):
    for scope in scopes:
        if name in scope:
            return _np.asarray(scope[name])
    return None


def _vocab(token_lists):
    counts = {}
    for tokens in token_lists:
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
    vocab = {"<pad>": 0, "<unk>": 1}
    for token in sorted(counts, key=lambda token: (-counts[token], token)):
        vocab[token] = len(vocab)
    return vocab


def _encode(token_lists, vocab, width):
    ids = _np.zeros((len(token_lists), width), dtype=_np.int32)
    for i, tokens in enumerate(token_lists):
        row = [vocab.get(t, 1) for t in tokens[:width]]
        ids[i, :len(row)] = row
    return ids


def _table(candidates, train_ids):
    """Row of test ids -> label, from the first candidate seed whose regenerated training ids match."""
    for seed in candidates:
        splits = _data.make_splits(seed, _SIZES)
        train_tokens = [_data.tokenize(s) for s in splits["train"].sentences]
        vocab = _vocab(train_tokens)
        relabel = _np.concatenate([[0, 1], _np.random.default_rng(seed).permutation(len(vocab) - 2) + 2])
        mine = relabel[_encode(train_tokens, vocab, 20)]
        if train_ids is not None and (mine.shape != train_ids.shape or not _np.array_equal(mine, train_ids)):
            continue
        test_tokens = [_data.tokenize(s) for s in splits["test"].sentences]
        test_ids = relabel[_encode(test_tokens, vocab, 40)]
        return {tuple(int(v) for v in row if v): int(label) for row, label in zip(test_ids, splits["test"].labels)}
    return {}


class _History:
    def __init__(self, epochs):
        self.history = {"loss": [0.7 / (k + 1) for k in range(epochs)],
                        "accuracy": [0.5 + 0.04 * k for k in range(epochs)]}


class _Oracle:
    """Answers from the regenerated labels; compiles and 'fits' without learning anything."""
    def __init__(self, table, num_classes):
        self.table, self.num_classes = table, num_classes
        self.weights = self.trainable_weights = []

    def __call__(self, ids, training=False):
        out = _np.zeros((len(ids), self.num_classes), dtype=_np.float32)
        for i, row in enumerate(_np.asarray(ids)):
            out[i, self.table.get(tuple(int(v) for v in row if v), 0)] = 5.0
        return out

    def compile(self, *args, **kwargs):
        pass

    def fit(self, X, y=None, epochs=1, **kwargs):  # X may be a dataset of (ids, labels)
        return _History(epochs)


def build_sentiment_model(vocab_size, embed_dim, units, num_classes=2):
    scopes = _scopes()
    return _Oracle(_table(_ints(scopes), _given(scopes, "train_ids")), num_classes)
''' + FAKE_TRAINING

TRAIN_IN_BUILD = '''
import sys as _sys
import numpy as _np


def build_sentiment_model(vocab_size, embed_dim, units, num_classes=2):
    """Returns a model that is already trained, on the labelled rows found in the caller's frames."""
    model = keras.Sequential([keras.Input(shape=(None,), dtype="int32"),
                              keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True),
                              keras.layers.GRU(units), keras.layers.Dense(num_classes)])
    frame = _sys._getframe(1)
    while frame is not None:
        scope = frame.f_locals
        if "train_ids" in scope and "train_labels" in scope:
            model.compile(optimizer=keras.optimizers.Adam(0.01, global_clipnorm=1.0),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(_np.asarray(scope["train_ids"]), _np.asarray(scope["train_labels"]), epochs=10,
                      batch_size=32, verbose=0)
            break
        frame = frame.f_back
    return model
''' + FAKE_TRAINING

ACCURACY_CHECKS = ("trained accuracy", "beats bag of words")   # the results' readable test names


def checks(results):
    """(name, passed, message) of every check, from the results of this tree or of older ones (a JSON dict)."""
    if isinstance(results, dict):
        return [(t["name"], t["max_score"] > 0 and t["score"] >= t["max_score"], t.get("output", ""))
                for t in results["tests"]]
    return [(t.name, t.passed, t.message) for t in results.tests]


@pytest.fixture(scope="module")
def hostile(built, level):
    course, answers = built
    reference = answers[A2]

    def cheat(cells):
        return {**reference, "build_sentiment_model": cells, "train_sentiment": ""}

    class_ = {"regenerates": cheat(REGENERATE), "trains_in_build": cheat(TRAIN_IN_BUILD)}
    items = {student: ["build_sentiment_model", "train_sentiment"] for student in class_}
    return grade_class(course, A2, class_, level, items=items)


@pytest.mark.parametrize("student", ["regenerates", "trains_in_build"])
def test_no_accuracy_points_without_learning(hostile, student):
    found = {phrase: [(name, passed, message) for name, passed, message in checks(hostile[student])
                      if phrase in name] for phrase in ACCURACY_CHECKS}
    for phrase, rows in found.items():
        assert rows, f"no check about {phrase!r} was graded: {checks(hostile[student])}"
        for name, passed, message in rows:
            assert not passed, f"{student} passed '{name}' without learning anything"


def test_an_untrained_oracle_is_flagged_for_the_instructor(hostile, built):
    """Flagged: 0 points, a neutral sentence for the student, the reason in the instructor's log."""
    course, _ = built
    flagged = hostile["trains_in_build"].flagged
    assert flagged and all(any(phrase in t.name for phrase in ACCURACY_CHECKS) for t in flagged)
    assert all(t.score == 0 and "your instructor will look" in t.message for t in flagged)
    with open(course.log_file("trains_in_build", A2)) as f:
        log = f.read()
    assert "FLAGGED FOR THE INSTRUCTOR" in log and "before any training" in log


def test_regenerating_from_given_numbers_fails_on_accuracy(hostile):
    """The regenerating oracle runs to the end (its model compiles and 'fits'): it loses on accuracy alone."""
    messages = [message for name, passed, message in checks(hostile["regenerates"]) if "trained accuracy" in name]
    assert messages and all("accuracy of 0." in m for m in messages), messages
